"""The attention family on cuda: `_scaled_dot_product_efficient_attention`,
`_scaled_dot_product_flash_attention` and `_flash_attention_forward` served by gemforge's
FlashAttention-style kernel (fp16/bf16, no dropout; head dims up to 256 in steps of 8;
causal top-left as torch's kernel; query and key lengths that differ and are not tile multiples;
non-contiguous [B, S, H, D] layouts; custom scale), against a float64 math reference: the output,
the logsumexp rows (natural log, padded to 32 with +inf), and torch's result layout. Training
through F.scaled_dot_product_attention: torch's backward takes our forward's outputs, gradients
against float64 autograd. An additive mask (attn_bias) on Hopper, through the efficient op and
`_scaled_dot_product_cudnn_attention` (torch's default pick there), which is served with one, and
without one where ours is ahead of cudnn (key lengths off 128 multiples, short queries).
The cases gemforge leaves to torch (unaligned bias rows, dropout, unequal heads) still give
torch's results and errors. float32 through the efficient op (torch's pick for fp32): served at
head dims up to 64 (3xTF32), with and without a bias, within fp32-level tolerances; head dims up to
128 on grids of six waves of the card or more, torch's below. Torch has no cpu kernel for these ops: the module skips on cpu.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

import gemforge
from conftest import DEVICE, same_outcome, served_count

pytestmark = pytest.mark.skipif(DEVICE != "cuda", reason="the fused attention ops are cuda-only in torch")

OP = "_scaled_dot_product_efficient_attention"
TOL = {torch.bfloat16: 2e-2, torch.float16: 4e-3}


def qkv(b, h, sq, sk, d, dtype, *, hk=None, requires_grad=False):
    """q, k, v as SDPA usually sees them: [B, S, H, D] memory viewed as [B, H, S, D]."""
    hk = hk or h
    q = torch.randn(b, sq, h, d, device=DEVICE, dtype=dtype).transpose(1, 2)
    k = torch.randn(b, sk, hk, d, device=DEVICE, dtype=dtype).transpose(1, 2)
    v = torch.randn(b, sk, hk, d, device=DEVICE, dtype=dtype).transpose(1, 2)
    return [t.detach().requires_grad_(requires_grad) for t in (q, k, v)]


def reference(q, k, v, causal, scale, bias=None, offset=0):
    """out and natural-log logsumexp in float64; a row that sees no key gives 0 and -inf.
    Causal: query i sees key j <= i + offset (0: top-left; sk - sq: bottom-right). GQA: the
    key/value heads repeat over their query heads."""
    q, k, v = q.double(), k.double(), v.double()
    if k.shape[1] != q.shape[1]:
        k, v = (t.repeat_interleave(q.shape[1] // k.shape[1], 1) for t in (k, v))
    s = q @ k.transpose(-1, -2) * scale
    if bias is not None:
        s = s + bias.double()
    if causal:
        i = torch.arange(q.shape[-2], device=q.device)[:, None]
        j = torch.arange(k.shape[-2], device=q.device)[None, :]
        s = s.masked_fill(j > i + offset, -math.inf)
    lse = torch.logsumexp(s, -1)
    p = torch.exp(s - lse[..., None].masked_fill(torch.isinf(lse[..., None]), 0))
    p = torch.where(torch.isinf(lse[..., None]), torch.zeros_like(p), p)
    return p @ v, lse


def check_training(out, grad, q, k, v, causal, scale, bias=None):
    """out (gradient `grad` flowed back) and the gradients of q, k, v against float64 autograd;
    returns the tolerance used (a float mask's gradient is checked by the caller)."""
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    ref, _ = reference(q64, k64, v64, causal, scale, bias)
    ref.backward(grad.double())
    tol = 3e-2 if q.dtype == torch.bfloat16 else 5e-3
    torch.testing.assert_close(out.double(), ref, atol=tol, rtol=tol)
    for ours, theirs in ((q.grad, q64.grad), (k.grad, k64.grad), (v.grad, v64.grad)):
        torch.testing.assert_close(ours.double(), theirs, atol=4 * tol, rtol=4 * tol)
    return tol


def run_gems(fn, *args, op=OP):
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        result = fn(*args)
    return result, served_count(counts, op)


def efficient(q, k, v, bias, lse, dropout, causal, scale):
    return torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, bias, lse, dropout, causal, scale=scale)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("d", [64, 128, 256, 40, 8])
@pytest.mark.parametrize("sq,sk", [(1, 1), (64, 64), (100, 77), (77, 300), (257, 130), (128, 1), (0, 5)])
@pytest.mark.parametrize("causal", [False, True])
def test_forward(dtype, d, sq, sk, causal):
    torch.manual_seed(sq * 1000 + sk + d)
    q, k, v = qkv(2, 3, sq, sk, d, dtype)
    scale = 0.3 if d == 40 else None  # a custom scale too
    (out, lse, seed, offset), served = run_gems(efficient, q, k, v, None, True, 0.0, causal, scale)
    assert served == 1
    ref_out, ref_lse = reference(q, k, v, causal, scale if scale is not None else d ** -0.5)
    torch.testing.assert_close(out.double(), ref_out, atol=TOL[dtype], rtol=TOL[dtype])
    assert lse.shape == (2, 3, (sq + 31) // 32 * 32) and lse.dtype == torch.float32
    torch.testing.assert_close(lse[..., :sq].double(), ref_lse, atol=1e-3, rtol=1e-4)
    assert torch.isposinf(lse[..., sq:]).all()
    # torch's own result has the same layout
    t_out, t_lse, t_seed, t_offset = efficient(q, k, v, None, True, 0.0, causal, scale)
    assert out.stride() == t_out.stride() and out.dtype == t_out.dtype
    assert (seed.shape, seed.dtype, offset.shape) == (t_seed.shape, t_seed.dtype, t_offset.shape)


@pytest.mark.parametrize("layout", ["contiguous", "bshd", "sliced"])
def test_layouts(layout):
    torch.manual_seed(1)
    b, h, s, d = 2, 4, 150, 64
    if layout == "contiguous":
        q, k, v = (torch.randn(b, h, s, d, device=DEVICE, dtype=torch.bfloat16) for _ in range(3))
    elif layout == "bshd":
        q, k, v = qkv(b, h, s, s, d, torch.bfloat16)
    else:  # rows 7.. of longer sequences
        q, k, v = (t[:, :, 7:] for t in qkv(b, h, s + 7, s + 7, d, torch.bfloat16))
    (out, lse, _, _), served = run_gems(efficient, q, k, v, None, False, 0.0, True, None)
    assert served == 1
    ref_out, _ = reference(q, k, v, True, d ** -0.5)
    torch.testing.assert_close(out.double(), ref_out, atol=2e-2, rtol=2e-2)
    assert lse.shape == (b, h, 0)


def test_large_batch_and_long_sequence():
    torch.manual_seed(2)
    q, k, v = qkv(1, 2, 4096, 4096, 128, torch.bfloat16)
    (out, lse, _, _), served = run_gems(efficient, q, k, v, None, True, 0.0, True, None)
    assert served == 1
    ref_out, ref_lse = reference(q, k, v, True, 128 ** -0.5)
    torch.testing.assert_close(out.double(), ref_out, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(lse[..., :4096].double(), ref_lse, atol=1e-3, rtol=1e-4)
    q, k, v = qkv(64, 4, 33, 33, 64, torch.float16)
    (out, _, _, _), served = run_gems(efficient, q, k, v, None, False, 0.0, False, None)
    torch.testing.assert_close(out.double(), reference(q, k, v, False, 0.125)[0], atol=4e-3, rtol=4e-3)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_training(dtype, causal):
    """Forward by gemforge, backward by torch's efficient kernel on our logsumexp."""
    torch.manual_seed(3)
    q, k, v = qkv(2, 4, 190, 190, 64, dtype, requires_grad=True)
    grad = torch.randn(2, 4, 190, 64, device=DEVICE, dtype=dtype)
    with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION]):
        with gemforge.use_gems(), gemforge.collect_stats() as counts:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            out.backward(grad)
    assert served_count(counts, OP) == 1
    check_training(out, grad, q, k, v, causal, 64 ** -0.5)


HOPPER = DEVICE == "cuda" and torch.cuda.get_device_capability()[0] == 9
CUDNN = "_scaled_dot_product_cudnn_attention"


def cudnn(q, k, v, bias, lse, dropout, causal, scale):
    return torch.ops.aten._scaled_dot_product_cudnn_attention(q, k, v, bias, lse, dropout, causal, False,
                                                              scale=scale)


def padded_bias(shape, dtype, *, fully_masked_row=None):
    """A random additive mask, rows padded to 16 elements as torch's SDPA pads them (the view
    keeps the logical shape), -inf in a tenth of it; fully_masked_row: a query row all -inf."""
    *lead, sk = shape
    bias = torch.randn(*lead, (sk + 15) // 16 * 16, device=DEVICE, dtype=dtype)[..., :sk]
    bias.masked_fill_(torch.rand(bias.shape, device=DEVICE) < 0.1, -math.inf)  # in place: the padding stays
    if fully_masked_row is not None:
        bias[..., fully_masked_row, :] = -math.inf
    return bias


# bias shapes: full [B, H, Sq, Sk], one mask for every head, a padding mask (one row), a 2-d one
BIAS_SHAPES = {"full": lambda b, h, sq, sk: (b, h, sq, sk), "heads": lambda b, h, sq, sk: (b, 1, sq, sk),
               "padding": lambda b, h, sq, sk: (b, 1, 1, sk), "2d": lambda b, h, sq, sk: (sq, sk)}


@pytest.mark.parametrize("op", ["efficient", "cudnn"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("d", [64, 128, 256])
@pytest.mark.parametrize("kind", list(BIAS_SHAPES))
@pytest.mark.parametrize("sq,sk,causal", [(100, 77, False), (257, 300, True), (130, 1000, False), (1, 40, False)])
def test_bias(op, dtype, d, kind, sq, sk, causal):
    """An additive mask (torch's attn_bias): served on Hopper by the efficient op and the cudnn op,
    with torch's layouts; causal (top-left) on top of it."""
    torch.manual_seed(sq + sk + d)
    b, h = 2, 3
    q, k, v = qkv(b, h, sq, sk, d, dtype)
    # expanded to 4-d, broadcast dims with stride 0, as F.scaled_dot_product_attention passes it
    bias = padded_bias(BIAS_SHAPES[kind](b, h, sq, sk), dtype).expand(b, h, sq, sk)
    fn, name = (efficient, OP) if op == "efficient" else (cudnn, CUDNN)
    result, served = run_gems(fn, q, k, v, bias, True, 0.0, causal, None, op=name)
    assert served == (1 if HOPPER else 0)
    ref_out, ref_lse = reference(q, k, v, causal, d ** -0.5, bias)
    out, lse = result[0], result[1]
    torch.testing.assert_close(out.double(), ref_out, atol=TOL[dtype], rtol=TOL[dtype])
    lse = lse[..., :sq] if op == "efficient" else lse[..., 0]
    finite = torch.isfinite(ref_lse)
    assert torch.equal(torch.isfinite(lse), finite)
    torch.testing.assert_close(lse[finite].double(), ref_lse[finite], atol=1e-3, rtol=1e-4)
    theirs = fn(q, k, v, bias, True, 0.0, causal, None)
    assert out.stride() == theirs[0].stride() and result[1].shape == theirs[1].shape
    assert result[1].stride() == theirs[1].stride()
    if op == "cudnn":
        assert (result[4], result[5]) == (theirs[4], theirs[5]) == (sq, sk)


@pytest.mark.parametrize("op", ["efficient", "cudnn"])
def test_bias_fully_masked_row(op):
    """A query row whose keys are all masked: no NaN where torch's kernel gives none."""
    torch.manual_seed(7)
    q, k, v = qkv(2, 4, 64, 96, 64, torch.bfloat16)
    bias = padded_bias((2, 4, 64, 96), torch.bfloat16, fully_masked_row=5)
    fn, name = (efficient, OP) if op == "efficient" else (cudnn, CUDNN)
    (out, *_), served = run_gems(fn, q, k, v, bias, False, 0.0, False, None, op=name)
    assert served == (1 if HOPPER else 0)
    theirs = fn(q, k, v, bias, False, 0.0, False, None)[0]
    assert not (out.isnan() & ~theirs.isnan()).any()
    live = torch.ones(64, dtype=torch.bool)
    live[5] = False
    ref_out, _ = reference(q, k, v, False, 0.125, bias)
    torch.testing.assert_close(out[:, :, live].double(), ref_out[:, :, live], atol=2e-2, rtol=2e-2)
    # the masked row: zeros (the reference's), or torch's value where torch's is a number
    row, their_row = out[:, :, 5].double(), theirs[:, :, 5].double()
    expect = torch.where(their_row.isnan(), torch.zeros_like(row), their_row)
    torch.testing.assert_close(row, expect, atol=1e-3, rtol=0)


def test_bias_torch_keeps():
    """What gemforge leaves to torch: dropout, and the cudnn op without a bias. Results are
    torch's own."""
    torch.manual_seed(4)
    q, k, v = qkv(2, 2, 70, 96, 64, torch.bfloat16)
    (out, _, _, _), served = run_gems(efficient, q, k, v, None, False, 0.5, False, None)
    assert served == 0 and out.shape == q.shape
    # without a bias, at lengths where cudnn leads (128-multiple keys, many queries), the cudnn op
    # stays torch's
    q, k, v = qkv(2, 2, 256, 512, 64, torch.bfloat16)
    result, served = run_gems(cudnn, q, k, v, None, True, 0.0, False, None, op=CUDNN)
    assert served == 0
    torch.testing.assert_close(result[0], cudnn(q, k, v, None, True, 0.0, False, None)[0], atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("sq,sk,d,causal,served", [
    (577, 577, 64, False, True),     # CLIP's patches: keys off a 128 multiple
    (300, 832, 64, False, True),     # fewer queries than keys
    (128, 128, 128, True, True),     # a short prompt
    (1, 136, 128, False, True),      # one decode step over a short cache
    (16, 2048, 128, False, True),
    (70, 96, 128, True, True),       # top-left causal
    (577, 577, 128, False, False),   # cudnn leads or ties: head dim 128 with many queries,
    (577, 577, 64, True, False),     # causal at head dim 64,
    (200, 200, 64, False, False),    # short keys,
    (512, 512, 64, False, False),    # BERT's (multiples of 128),
    (1, 4096, 128, False, False),    # one query over a long cache (ours has no split over keys),
    (1, 136, 64, False, False),      # short queries at head dim 64 (not timed)
])
def test_cudnn_without_bias(dtype, sq, sk, d, causal, served):
    """The cudnn op without a bias: ours where it is ahead, with torch's layouts (logsumexp
    [B, H, Sq, 1]); torch's kernel elsewhere."""
    torch.manual_seed(sq + sk + d)
    q, k, v = qkv(2, 3, sq, sk, d, dtype)
    result, n = run_gems(cudnn, q, k, v, None, True, 0.0, causal, None, op=CUDNN)
    assert n == (1 if HOPPER and served else 0)
    ref_out, ref_lse = reference(q, k, v, causal, d ** -0.5)
    torch.testing.assert_close(result[0].double(), ref_out, atol=TOL[dtype], rtol=TOL[dtype])
    theirs = cudnn(q, k, v, None, True, 0.0, causal, None)
    assert result[0].stride() == theirs[0].stride() and result[1].shape == theirs[1].shape == (2, 3, sq, 1)
    assert (result[4], result[5]) == (theirs[4], theirs[5]) == (sq, sk)
    finite = torch.isfinite(ref_lse)
    torch.testing.assert_close(result[1][..., 0][finite].double(), ref_lse[finite], atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cudnn_without_bias_training(dtype):
    """F.scaled_dot_product_attention on torch's default backend at CLIP's length: forward by
    gemforge (on Hopper), backward by torch's cudnn kernel on our output and logsumexp."""
    torch.manual_seed(9)
    q, k, v = qkv(2, 4, 577, 577, 64, dtype, requires_grad=True)
    grad = torch.randn(2, 4, 577, 64, device=DEVICE, dtype=dtype)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        out = F.scaled_dot_product_attention(q, k, v)
        out.backward(grad)
    if HOPPER:
        assert served_count(counts, CUDNN) + served_count(counts, OP) + served_count(counts, FLASH) == 1
    check_training(out, grad, q, k, v, False, 64 ** -0.5)


@pytest.mark.parametrize("case", ["unaligned_rows", "dtype", "shape"])
def test_bias_errors(case):
    """Biases torch's efficient kernel refuses (rows not a multiple of 8 elements, another dtype,
    a shape that does not broadcast): the same error type under gemforge. (Torch's cudnn op
    crashes the process on these instead of raising, so it cannot be the reference; gemforge
    hands them to it as well, and F.scaled_dot_product_attention never passes them.)"""
    q, k, v = qkv(2, 2, 70, 100, 64, torch.bfloat16)
    if case == "unaligned_rows":
        bias = torch.randn(2, 2, 70, 100, device=DEVICE, dtype=torch.bfloat16)
    elif case == "dtype":
        bias = torch.randn(2, 2, 70, 112, device=DEVICE)[..., :100]
    else:
        bias = torch.randn(2, 3, 70, 112, device=DEVICE, dtype=torch.bfloat16)[..., :100]
    same_outcome(efficient, q, k, v, bias, True, 0.0, False, None)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("mask", ["bool", "float"])
def test_masked_sdpa_training(dtype, mask):
    """F.scaled_dot_product_attention with attn_mask on torch's default backend (cudnn for
    fp16/bf16 on Hopper): forward by gemforge, backward by torch's kernel on our output and
    logsumexp; gradients of q, k, v (and of a float mask) against float64 autograd."""
    torch.manual_seed(8)
    q, k, v = qkv(2, 4, 190, 208, 64, dtype, requires_grad=True)
    keep = torch.rand(2, 1, 190, 208, device=DEVICE) > 0.2
    if mask == "bool":
        attn_mask = keep
        bias = torch.zeros(keep.shape, device=DEVICE, dtype=torch.float64).masked_fill(~keep, -math.inf)
    else:
        attn_mask = torch.randn(2, 1, 190, 208, device=DEVICE, dtype=dtype).masked_fill(~keep, -math.inf)
        attn_mask.requires_grad_()
        bias = attn_mask.detach().double().requires_grad_()
    grad = torch.randn(2, 4, 190, 64, device=DEVICE, dtype=dtype)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        out.backward(grad)
    if HOPPER:
        assert served_count(counts, CUDNN) + served_count(counts, OP) == 1
    tol = check_training(out, grad, q, k, v, False, 64 ** -0.5, bias)
    if mask == "float":
        finite = keep.expand_as(attn_mask)
        torch.testing.assert_close(attn_mask.grad[finite].double(), bias.grad[finite], atol=4 * tol, rtol=4 * tol)


@pytest.mark.parametrize("case", ["heads", "dtype", "dims", "head_dim", "strided_head_dim"])
def test_errors(case):
    q, k, v = qkv(2, 4, 16, 16, 64, torch.bfloat16)
    if case == "heads":
        k, v = k[:, :2], v[:, :2]
    elif case == "dtype":
        k = k.half()
    elif case == "dims":
        q = q[0]
    elif case == "head_dim":
        v = torch.randn(2, 4, 16, 32, device=DEVICE, dtype=torch.bfloat16)
    else:  # every other element of a wider buffer
        q = torch.randn(2, 4, 16, 128, device=DEVICE, dtype=torch.bfloat16)[..., ::2]
    same_outcome(efficient, q, k, v, None, False, 0.0, False, None)


FLASH = "_scaled_dot_product_flash_attention"


def flash(q, k, v, causal, scale):
    return torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, causal, False, scale=scale)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("d", [64, 128, 256, 96])
@pytest.mark.parametrize("sq,sk,h,hk", [(1, 1, 2, 2), (100, 77, 4, 4), (77, 300, 8, 2), (700, 700, 4, 1),
                                        (300, 1000, 2, 2)])
@pytest.mark.parametrize("causal", [False, True])
def test_flash_forward(dtype, d, sq, sk, h, hk, causal):
    """The flash op: causal aligned bottom-right, GQA, logsumexp [B, H, Sq], torch's layouts."""
    torch.manual_seed(sq + sk + d)
    q, k, v = qkv(2, h, sq, sk, d, dtype, hk=hk)
    scale = 0.2 if d == 96 else None
    result, served = run_gems(flash, q, k, v, causal, scale, op=FLASH)
    assert served == 1
    out, lse = result[0], result[1]
    ref_out, ref_lse = reference(q, k, v, causal, scale if scale is not None else d ** -0.5, offset=sk - sq)
    torch.testing.assert_close(out.double(), ref_out, atol=TOL[dtype], rtol=TOL[dtype])
    finite = torch.isfinite(ref_lse)
    assert torch.equal(torch.isfinite(lse), finite)
    torch.testing.assert_close(lse[finite].double(), ref_lse[finite], atol=1e-3, rtol=1e-4)
    theirs = flash(q, k, v, causal, scale)
    assert out.stride() == theirs[0].stride() and lse.shape == theirs[1].shape
    assert (result[4], result[5]) == (theirs[4], theirs[5]) == (sq, sk)
    for ours_t, torch_t in zip(result[6:8], theirs[6:8]):
        assert ours_t.shape == torch_t.shape and ours_t.dtype == torch_t.dtype


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("d", [64, 128])
def test_flash_training(dtype, causal, d):
    """F.scaled_dot_product_attention on the flash backend: forward by gemforge, backward by
    torch's flash kernel on our output and logsumexp."""
    torch.manual_seed(5)
    q, k, v = qkv(2, 4, 333, 333, d, dtype, requires_grad=True)
    grad = torch.randn(2, 4, 333, d, device=DEVICE, dtype=dtype)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        with gemforge.use_gems(), gemforge.collect_stats() as counts:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            out.backward(grad)
    assert served_count(counts, FLASH) == 1
    check_training(out, grad, q, k, v, causal, d ** -0.5)


def test_flash_attention_forward_lower_op():
    """`_flash_attention_forward` takes [B, S, H, D]; packed sequences stay torch's."""
    torch.manual_seed(6)
    b, sq, sk, h, d = 2, 200, 260, 4, 128
    q = torch.randn(b, sq, h, d, device=DEVICE, dtype=torch.bfloat16)
    k, v = (torch.randn(b, sk, h, d, device=DEVICE, dtype=torch.bfloat16) for _ in range(2))

    def fwd(q, k, v):
        return torch.ops.aten._flash_attention_forward(q, k, v, None, None, sq, sk, 0.0, True, False)

    result, served = run_gems(fwd, q, k, v, op="_flash_attention_forward")
    assert served == 1
    ref_out, ref_lse = reference(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), True, d ** -0.5,
                                 offset=sk - sq)
    torch.testing.assert_close(result[0].transpose(1, 2).double(), ref_out, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(result[1].double(), ref_lse, atol=1e-3, rtol=1e-4)
    assert result[0].stride() == fwd(q, k, v)[0].stride()
    # packed sequences: torch's kernel
    qp, kp, vp = (t.reshape(-1, h, d) for t in (q, k, v[:, :sq]))
    cu = torch.tensor([0, sq, 2 * sq], device=DEVICE, dtype=torch.int32)

    def varlen(q, k, v):
        return torch.ops.aten._flash_attention_forward(q, k, v, cu, cu, sq, sq, 0.0, False, False)

    result, served = run_gems(varlen, qp, kp[: 2 * sq], vp, op="_flash_attention_forward")
    assert served == 0
    torch.testing.assert_close(result[0], varlen(qp, kp[: 2 * sq], vp)[0], atol=0, rtol=0)


@pytest.mark.parametrize("case", ["heads", "dtype", "head_dim", "odd_head_dim"])
def test_flash_errors(case):
    q, k, v = qkv(2, 4, 16, 16, 64, torch.bfloat16)
    if case == "heads":
        k, v = k[:, :3], v[:, :3]
    elif case == "dtype":
        k = k.half()
    elif case == "head_dim":
        v = torch.randn(2, 4, 16, 32, device=DEVICE, dtype=torch.bfloat16)
    else:
        q, k, v = qkv(2, 4, 16, 16, 20, torch.bfloat16)
    same_outcome(flash, q, k, v, False, None)


# float32: the 3xTF32 kernel keeps fp32's accuracy (about 5e-6 relative against float64); one
# pass of tf32 would miss these tolerances by an order of magnitude.
FP32_TOL = 1e-4


@pytest.mark.parametrize("d", [64, 40, 4, 128])
@pytest.mark.parametrize("sq,sk", [(1, 1), (64, 64), (100, 77), (77, 300), (257, 130), (0, 5)])
@pytest.mark.parametrize("causal", [False, True])
def test_fp32_forward(d, sq, sk, causal):
    """The efficient op in float32: served at head dims up to 64, torch's at 128 on this small
    grid; out and the logsumexp rows against float64, torch's layouts."""
    torch.manual_seed(sq * 1000 + sk + d + 5)
    q, k, v = qkv(2, 3, sq, sk, d, torch.float32)
    scale = 0.3 if d == 40 else None
    (out, lse, seed, offset), served = run_gems(efficient, q, k, v, None, True, 0.0, causal, scale)
    assert served == (1 if d <= 64 else 0)
    ref_out, ref_lse = reference(q, k, v, causal, scale if scale is not None else d ** -0.5)
    torch.testing.assert_close(out.double(), ref_out, atol=FP32_TOL, rtol=FP32_TOL)
    assert lse.shape == (2, 3, (sq + 31) // 32 * 32) and lse.dtype == torch.float32
    torch.testing.assert_close(lse[..., :sq].double(), ref_lse, atol=FP32_TOL, rtol=FP32_TOL)
    assert torch.isposinf(lse[..., sq:]).all()
    t_out, t_lse, t_seed, t_offset = efficient(q, k, v, None, True, 0.0, causal, scale)
    assert out.stride() == t_out.stride() and out.dtype == t_out.dtype
    assert (seed.shape, seed.dtype, offset.shape) == (t_seed.shape, t_seed.dtype, t_offset.shape)


@pytest.mark.parametrize("d", [128, 96, 68])
@pytest.mark.parametrize("causal,bias", [(False, False), (True, False), (False, True)])
def test_fp32_forward_wide_heads(d, causal, bias):
    """Head dims 68-128 in float32: served on a grid of six waves of the card (one 128-row block
    of queries for each of 6 x SMs heads), torch's one head fewer; out and logsumexp against
    float64."""
    torch.manual_seed(d + causal + 2 * bias)
    heads, sq, sk = 6 * torch.cuda.get_device_properties(DEVICE).multi_processor_count, 100, 77
    q, k, v = qkv(1, heads, sq, sk, d, torch.float32)
    mask = padded_bias((1, heads, sq, sk), torch.float32, fully_masked_row=None) if bias else None
    (out, lse, _, _), served = run_gems(efficient, q, k, v, mask, True, 0.0, causal, None)
    assert served == 1
    ref_out, ref_lse = reference(q, k, v, causal, d ** -0.5, mask)
    torch.testing.assert_close(out.double(), ref_out, atol=FP32_TOL, rtol=FP32_TOL)
    torch.testing.assert_close(lse[..., :sq].double(), ref_lse, atol=FP32_TOL, rtol=FP32_TOL)
    fewer = [t[:, 1:] for t in (q, k, v)]
    (out, _, _, _), served = run_gems(efficient, *fewer, None if mask is None else mask[:, 1:], True, 0.0, causal, None)
    assert served == 0


@pytest.mark.parametrize("kind", list(BIAS_SHAPES))
@pytest.mark.parametrize("sq,sk,causal", [(100, 77, False), (257, 300, True), (1, 40, False)])
def test_fp32_bias(kind, sq, sk, causal):
    """A float32 additive mask in 16-byte aligned rows (as SDPA pads it), -inf in places and one
    fully masked query row (zeros and -inf, as torch's kernel)."""
    torch.manual_seed(sq + sk + 11)
    b, h, d = 2, 3, 64
    q, k, v = qkv(b, h, sq, sk, d, torch.float32)
    shape = BIAS_SHAPES[kind](b, h, sq, sk)
    bias = padded_bias(shape, torch.float32, fully_masked_row=0 if shape[-2] > 1 else None).expand(b, h, sq, sk)
    (out, lse, _, _), served = run_gems(efficient, q, k, v, bias, True, 0.0, causal, None)
    assert served == 1
    ref_out, ref_lse = reference(q, k, v, causal, d ** -0.5, bias)
    torch.testing.assert_close(out.double(), ref_out, atol=FP32_TOL, rtol=FP32_TOL)
    finite = torch.isfinite(ref_lse)
    assert torch.equal(torch.isfinite(lse[..., :sq]), finite)
    torch.testing.assert_close(lse[..., :sq][finite].double(), ref_lse[finite], atol=FP32_TOL, rtol=FP32_TOL)
    theirs = efficient(q, k, v, bias, True, 0.0, causal, None)[0]
    assert not (out.isnan() & ~theirs.isnan()).any()


def test_fp32_bias_torch_keeps():
    """A float32 bias in rows torch's kernel refuses (not 16-byte aligned): torch's error; a
    bf16 bias with fp32 q: torch's error."""
    q, k, v = qkv(2, 2, 70, 102, 64, torch.float32)
    same_outcome(efficient, q, k, v, torch.randn(2, 2, 70, 102, device=DEVICE), True, 0.0, False, None)
    same_outcome(efficient, q, k, v, torch.randn(2, 2, 70, 104, device=DEVICE, dtype=torch.bfloat16)[..., :102],
                 True, 0.0, False, None)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_fp32_sdpa_training(causal, masked):
    """F.scaled_dot_product_attention in float32 (torch picks the efficient op): forward by
    gemforge, backward by torch's kernel on our output and logsumexp; gradients of q, k, v
    against float64 autograd."""
    torch.manual_seed(9)
    q, k, v = qkv(2, 4, 190, 190, 64, torch.float32, requires_grad=True)
    grad = torch.randn(2, 4, 190, 64, device=DEVICE)
    mask = (torch.rand(2, 1, 190, 190, device=DEVICE) > 0.2) if masked else None
    bias = None if mask is None else torch.zeros(mask.shape, device=DEVICE, dtype=torch.float64).masked_fill(
        ~mask, -math.inf)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and not masked)
        out.backward(grad)
    assert served_count(counts, OP) == 1
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    ref, _ = reference(q64, k64, v64, causal and not masked, 64 ** -0.5, bias)
    ref.backward(grad.double())
    torch.testing.assert_close(out.double(), ref, atol=FP32_TOL, rtol=FP32_TOL)
    for ours, theirs in ((q.grad, q64.grad), (k.grad, k64.grad), (v.grad, v64.grad)):
        torch.testing.assert_close(ours.double(), theirs, atol=4 * FP32_TOL, rtol=4 * FP32_TOL)
