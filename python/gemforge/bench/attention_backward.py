"""Attention backward: `_scaled_dot_product_efficient_attention_backward` (the op autograd calls
after torch's efficient forward), torch's kernel against gemforge's FlashAttention-2-style one,
bf16, B4 H32 D128 (also D64, and D256 at H16), S 1k-8k, causal and not; fp32 at the sample
models' shapes (BERT, CLIP, Llama) and S4096 D64 causal.

- `efficient`: the same op on both sides.
- `vs_flash`: torch runs its flash backward (`_scaled_dot_product_flash_attention_backward`,
  FlashAttention-2), gemforge the efficient op: the stretch bar.
flops = 2.5 x the forward's 4 B H Sq Sk D (halved when causal)."""

from __future__ import annotations

import gemforge
import torch

from .harness import Case, Family, tflops_line

FAMILY_NAME = "attention_backward"
_MASK = [True, True, True, False]


def _inputs(b, h, s, d, causal, dev, dtype=torch.bfloat16):
    aten = torch.ops.aten
    q, k, v, dout = (torch.randn(b, s, h, d, device=dev, dtype=dtype).transpose(1, 2) for _ in range(4))
    out, lse, seed, offset = aten._scaled_dot_product_efficient_attention(q, k, v, None, True, 0.0, causal)
    return (dout, q, k, v, out, lse, seed, offset)


def _efficient(x, causal):
    dout, q, k, v, out, lse, seed, offset = x
    return torch.ops.aten._scaled_dot_product_efficient_attention_backward(
        dout, q, k, v, None, out, lse, seed, offset, 0.0, _MASK, causal)


def _flash(x, causal):
    aten = torch.ops.aten
    dout, q, k, v = x[:4]
    fo = x[8]
    return aten._scaled_dot_product_flash_attention_backward(
        dout, q, k, v, fo[0], fo[1], fo[2], fo[3], fo[4], fo[5], 0.0, causal, fo[6], fo[7])


def cases(setup):
    dev = setup.device
    if dev != "cuda":
        return
    if setup.wants_dtype("fp32") and setup.wants_op("efficient"):
        yield from fp32_cases(setup)
    if not setup.wants_dtype("bf16"):
        return
    seqs = (256,) if setup.quick else (1024, 2048, 4096, 8192)
    for d in (64, 128, 256):
        b, h = (4, 32) if d <= 128 else (4, 16)
        for s in seqs:
            if d != 128 and s not in (256, 4096):
                continue
            for causal in (False, True):
                flops = int(2.5 * 4 * b * h * s * s * d) // (2 if causal else 1)
                shape = f"B{b} H{h} S{s} D{d}{' causal' if causal else ''}"
                nbytes = 9 * b * h * s * d * 2  # q, k, v, out, dout read; dq, dk, dv written
                if setup.wants_op("efficient"):
                    yield Case(family=FAMILY_NAME, op="efficient", name="bwd", dtype="bf16", shape=shape,
                               make_inputs=lambda b=b, h=h, s=s, d=d, c=causal: _inputs(b, h, s, d, c, dev),
                               run=lambda x, c=causal: _efficient(x, c), flops=flops, bytes=nbytes)
                if setup.wants_op("vs_flash"):
                    def make(b=b, h=h, s=s, d=d, c=causal):
                        x = _inputs(b, h, s, d, c, dev)
                        fo = torch.ops.aten._scaled_dot_product_flash_attention(x[1], x[2], x[3], 0.0, c)
                        return x + (fo,)

                    def run(x, c=causal):
                        return _efficient(x[:8], c) if gemforge.is_enabled() else _flash(x, c)

                    yield Case(family=FAMILY_NAME, op="vs_flash", name="bwd", dtype="bf16", shape=shape,
                               make_inputs=make, run=run, flops=flops, bytes=nbytes)


def fp32_cases(setup):
    shapes = ((2, 4, 256, 64, False),) if setup.quick else (
        (8, 12, 512, 64, False), (2, 16, 577, 64, False), (4, 32, 4096, 64, True), (4, 32, 1024, 128, True))
    for b, h, s, d, causal in shapes:
        yield Case(family=FAMILY_NAME, op="efficient", name="bwd", dtype="fp32",
                   shape=f"B{b} H{h} S{s} D{d}{' causal' if causal else ''}",
                   make_inputs=lambda b=b, h=h, s=s, d=d, c=causal: _inputs(b, h, s, d, c, setup.device, torch.float32),
                   run=lambda x, c=causal: _efficient(x, c), flops=int(2.5 * 4 * b * h * s * s * d) // (2 if causal else 1),
                   bytes=9 * b * h * s * d * 4)


def summarize(results, setup):
    lines = []
    for r in results:
        if r.speedup and r.tflops and ("S4096 D128" in r.case.shape or r.case.dtype == "fp32"):
            lines.append((f"attention backward {r.case.op} {r.case.shape}",
                          tflops_line(r)))
    return lines


FAMILY = Family(FAMILY_NAME, cases, summarize)
