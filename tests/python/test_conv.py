"""Convolutions whose windows do not overlap (stride equal to the kernel, no padding, dilation 1,
one group: a vision transformer's patch embedding; not 1x1), served on cuda as one GEMM
over the patches, forward (`convolution`) and backward (`convolution_backward`), against a float64
reference: fp32/fp16/bf16, with and without bias, NCHW and channels-last inputs, pixels past the
last whole window, an empty batch; torch's layouts. Other convolutions stay torch's, with its
results and errors. And `_local_scalar_dense` (Tensor.item()) on cuda. cuda-only: the module
skips on cpu.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import gemforge
from conftest import DEVICE, assert_same_error, raised, served_count

pytestmark = pytest.mark.skipif(DEVICE != "cuda", reason="gemforge serves these on cuda only")

# relative to the reference's largest magnitude: fp32 runs on TF32 tensor cores where
# torch.backends.cudnn.allow_tf32 lets cuDNN (its default)
TOL = {torch.float32: 2e-3, torch.float16: 4e-3, torch.bfloat16: 2e-2}


def close(ours, ref, dtype):
    scale = ref.abs().max().item() if ref.numel() else 1.0
    torch.testing.assert_close(ours.double(), ref, atol=TOL[dtype] * scale, rtol=TOL[dtype])


def inputs(n, c, h, w, o, kh, kw, dtype, *, bias=True, channels_last=False, requires_grad=False):
    x = torch.randn(n, c, h, w, device=DEVICE, dtype=dtype)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    weight = torch.randn(o, c, kh, kw, device=DEVICE, dtype=dtype) / (c * kh * kw) ** 0.5
    b = torch.randn(o, device=DEVICE, dtype=dtype) if bias else None
    return [t.requires_grad_(requires_grad) if t is not None else None for t in (x, weight, b)]


# (n, c, h, w, o, kh, kw): CLIP ViT's patch embedding scaled down, windows that leave pixels out,
# 2x1 windows, one image, an empty batch
SHAPES = [(2, 3, 56, 56, 64, 14, 14), (3, 5, 30, 31, 16, 7, 5), (2, 16, 9, 9, 24, 2, 1), (1, 3, 42, 28, 32, 14, 14),
          (0, 3, 28, 28, 8, 14, 14)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_patch_conv_forward(dtype, shape, bias, channels_last):
    torch.manual_seed(sum(shape))
    n, c, h, w, o, kh, kw = shape
    x, weight, b = inputs(n, c, h, w, o, kh, kw, dtype, bias=bias, channels_last=channels_last)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        out = F.conv2d(x, weight, b, stride=(kh, kw))
    assert served_count(counts, "convolution") == 1
    ref = F.conv2d(x.double(), weight.double(), b.double() if bias else None, stride=(kh, kw))
    close(out, ref, dtype)
    theirs = F.conv2d(x, weight, b, stride=(kh, kw))
    assert out.shape == theirs.shape and out.dtype == theirs.dtype
    if out.numel():
        assert out.stride() == theirs.stride()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", SHAPES[:4])
@pytest.mark.parametrize("channels_last", [False, True])
def test_patch_conv_backward(dtype, shape, channels_last):
    """Gradients of the input, the weight and the bias against float64 autograd; torch's layouts."""
    torch.manual_seed(sum(shape) + 1)
    n, c, h, w, o, kh, kw = shape
    x, weight, b = inputs(n, c, h, w, o, kh, kw, dtype, channels_last=channels_last, requires_grad=True)
    grad = torch.randn(n, o, h // kh, w // kw, device=DEVICE, dtype=dtype)
    if channels_last:
        grad = grad.to(memory_format=torch.channels_last)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        F.conv2d(x, weight, b, stride=(kh, kw)).backward(grad)
    assert served_count(counts, "convolution_backward") == 1
    x64, w64, b64 = (t.detach().double().requires_grad_() for t in (x, weight, b))
    F.conv2d(x64, w64, b64, stride=(kh, kw)).backward(grad.double())
    for ours, ref in ((x.grad, x64.grad), (weight.grad, w64.grad), (b.grad, b64.grad)):
        close(ours, ref, dtype)
    # pixels past the last whole window get exactly zero
    assert (x.grad[:, :, (h // kh) * kh:] == 0).all() and (x.grad[..., (w // kw) * kw:] == 0).all()
    xt, wt, bt = (t.detach().clone().requires_grad_() for t in (x, weight, b))
    F.conv2d(xt, wt, bt, stride=(kh, kw)).backward(grad)
    assert x.grad.stride() == xt.grad.stride() and weight.grad.stride() == wt.grad.stride()


def test_patch_conv_backward_weight_only():
    """A frozen input (pixel values): only the weight's gradient is asked for."""
    torch.manual_seed(9)
    x, weight, _ = inputs(2, 3, 56, 56, 64, 14, 14, torch.float32, bias=False)
    weight.requires_grad_()
    grad = torch.randn(2, 64, 4, 4, device=DEVICE)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        F.conv2d(x, weight, stride=14).backward(grad)
    assert served_count(counts, "convolution_backward") == 1
    w64 = weight.detach().double().requires_grad_()
    F.conv2d(x.double(), w64, stride=14).backward(grad.double())
    close(weight.grad, w64.grad, torch.float32)


@pytest.mark.parametrize("case", ["padding", "overlap", "dilation", "groups", "conv1d", "transposed", "float64",
                                  "1x1"])
def test_other_convolutions_stay_torch(case):
    torch.manual_seed(10)
    dtype = torch.float64 if case == "float64" else torch.float32
    x = torch.randn(2, 4, 28, 28, device=DEVICE, dtype=dtype)
    weight = torch.randn(8, 4, 7, 7, device=DEVICE, dtype=dtype)
    fn = {
        "padding": lambda: F.conv2d(x, weight, stride=7, padding=1),
        "overlap": lambda: F.conv2d(x, weight, stride=3),
        "dilation": lambda: F.conv2d(x, weight, stride=7, dilation=2),
        "groups": lambda: F.conv2d(x, weight[:, :2], stride=7, groups=2),
        "conv1d": lambda: F.conv1d(x[:, :, 0], weight[:, :, 0], stride=7),
        "transposed": lambda: F.conv_transpose2d(x, weight.transpose(0, 1), stride=7),
        "float64": lambda: F.conv2d(x, weight, stride=7),
        "1x1": lambda: F.conv2d(x, weight[..., :1, :1]),
    }[case]
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        out = fn()
    assert served_count(counts, "convolution") == 0
    torch.testing.assert_close(out, fn(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("case", ["channels", "dtype", "bias_size", "too_small", "weight_dims"])
def test_conv_errors(case):
    x = torch.randn(2, 3, 28, 28, device=DEVICE)
    weight = torch.randn(8, 3, 14, 14, device=DEVICE)
    bias = None
    if case == "channels":
        weight = weight[:, :2]
    elif case == "dtype":
        weight = weight.half()
    elif case == "bias_size":
        bias = torch.randn(7, device=DEVICE)
    elif case == "too_small":
        x = x[..., :10, :10]
    else:
        weight = weight[0]
    torch_error = raised(F.conv2d, x, weight, bias, 14)
    with gemforge.use_gems():
        gems_error = raised(F.conv2d, x, weight, bias, 14)
    assert_same_error(torch_error, gems_error)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64,
                                   torch.int8, torch.uint8, torch.bool, torch.complex64])
def test_local_scalar_dense(dtype):
    torch.manual_seed(11)
    value = (torch.randn(3, dtype=torch.complex64 if dtype.is_complex else torch.float32) * 100).to(dtype)
    t = value.to(DEVICE)[1]  # a 0-d view at an offset
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        got = t.item()
    assert served_count(counts, "_local_scalar_dense") == 1
    assert got == value[1].item() and type(got) is type(value[1].item())
    many = value.to(DEVICE)
    torch_error = raised(lambda: many.item())
    with gemforge.use_gems():
        gems_error = raised(lambda: many.item())
    assert_same_error(torch_error, gems_error)
