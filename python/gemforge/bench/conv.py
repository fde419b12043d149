"""Convolutions whose windows do not overlap, the ones gemforge serves: CLIP ViT-L/14's patch
embedding at 336 px (3 -> 1024 channels, 14x14 windows, stride 14, Llava's vision tower) at
batch 1 and 8, and ViT-B/16's at 224 px, forward and the weight gradient of a training step (the
pixels need none); bf16 and fp32 (TF32 where cuDNN's default allows it). torch runs cuDNN.
flops = 2 N OH OW O C kh kw a product."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .harness import Case, Family, tflops_line

FAMILY_NAME = "conv"
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def _forward(x):
    return F.conv2d(x[0], x[1], stride=x[1].shape[-1])


def _weight_grad(x):
    # the backward of a conv whose input needs no gradient: convolution_backward, weight only
    return torch.autograd.grad(F.conv2d(x[0], x[1], stride=x[1].shape[-1]), x[1], x[2])


def cases(setup):
    dev = setup.device
    if dev != "cuda":
        return
    # (n, c, hw, o, k)
    shapes = ((1, 3, 56, 64, 14),) if setup.quick else ((1, 3, 336, 1024, 14), (8, 3, 336, 1024, 14),
                                                        (8, 3, 224, 768, 16))
    for dtype_name, dtype in DTYPES.items():
        if not setup.wants_dtype(dtype_name):
            continue
        for n, c, hw, o, k in shapes:
            oh = hw // k
            flops = 2 * n * oh * oh * o * c * k * k
            esize = torch.empty((), dtype=dtype).element_size()
            nbytes = (n * c * hw * hw + o * c * k * k + n * o * oh * oh) * esize
            shape = f"N{n} C{c} {hw}x{hw} O{o} k{k}"

            def make(n=n, c=c, hw=hw, o=o, k=k, oh=oh, dtype=dtype):
                x = torch.randn(n, c, hw, hw, device=dev, dtype=dtype)
                w = (torch.randn(o, c, k, k, device=dev, dtype=dtype) / (c * k * k) ** 0.5).requires_grad_()
                return x, w, torch.randn(n, o, oh, oh, device=dev, dtype=dtype)

            if setup.wants_op("convolution"):
                yield Case(family=FAMILY_NAME, op="convolution", name="fwd", dtype=dtype_name, shape=shape,
                           make_inputs=make, run=_forward, flops=flops, bytes=nbytes)
            if setup.wants_op("convolution_backward"):
                yield Case(family=FAMILY_NAME, op="convolution_backward", name="weight grad", dtype=dtype_name,
                           shape=shape, make_inputs=make, run=_weight_grad, flops=flops, bytes=nbytes)


def summarize(results, setup):
    lines = []
    for r in results:
        if r.speedup and r.tflops and "O1024" in r.case.shape:
            lines.append((f"conv {r.case.op} {r.case.name} {r.case.dtype} {r.case.shape}",
                          tflops_line(r, 1)))
    return lines


FAMILY = Family(FAMILY_NAME, cases, summarize)
