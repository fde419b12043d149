"""Attention: torch's fused SDPA ops against gemforge's FlashAttention-style kernel, bf16,
H32 (H16 at head dim 256), S 512 to 16k with 16k tokens a batch (B4 at S4096), head dims
64/128/256, causal and not.

- `flash`: `_scaled_dot_product_flash_attention` (served): torch's flash kernel against ours.
- `efficient`: `_scaled_dot_product_efficient_attention` (served): torch's memory-efficient
  kernel against ours.
- `vs default`: torch's default pick for F.scaled_dot_product_attention (cudnn on Hopper)
  against gemforge's kernel, the bar gemforge must pass before it serves the default path.
- `masked`: F.scaled_dot_product_attention with a boolean attn_mask (a random one per query
  row, or a padding mask of the last 100 keys), as a user calls it: torch's default pick
  (cudnn) against the same call with gemforge enabled (the cudnn op served by our kernel).
- fp32 (`efficient`, `masked`): float32 SDPA, which torch runs on its memory-efficient kernel:
  the sample models' shapes (BERT and CLIP at head dim 64, Llama and Llava's text model at 128,
  the last left to torch: too few blocks), long ones at both head dims, a padding mask.
flops = 4 B H Sq Sk D (halved when causal)."""

from __future__ import annotations

import gemforge
import torch
import torch.nn.functional as F

from .harness import Case, Family, tflops_line

FAMILY_NAME = "attention"


def _efficient(x, causal):
    return torch.ops.aten._scaled_dot_product_efficient_attention(x[0], x[1], x[2], None, False, 0.0, causal)


def _flash(x, causal):
    return torch.ops.aten._scaled_dot_product_flash_attention(x[0], x[1], x[2], 0.0, causal)


def cases(setup):
    dev = setup.device
    if dev != "cuda":
        return
    if setup.wants_dtype("fp32"):
        yield from fp32_cases(setup)
    if not setup.wants_dtype("bf16"):
        return
    seqs = (256,) if setup.quick else (512, 1024, 2048, 4096, 8192, 16384)
    for d in (64, 128, 256):
        h = 32 if d <= 128 else 16
        for s in seqs:
            b = max(1, 16384 // s)
            for causal in (False, True):
                def make(b=b, h=h, s=s, d=d):
                    return tuple(torch.randn(b, s, h, d, device=dev, dtype=torch.bfloat16).transpose(1, 2)
                                 for _ in range(3))

                flops = 4 * b * h * s * s * d // (2 if causal else 1)
                shape = f"B{b} H{h} S{s} D{d}{' causal' if causal else ''}"
                nbytes = 4 * b * h * s * d * 2
                if setup.wants_op("flash"):
                    yield Case(family=FAMILY_NAME, op="flash", name="fwd", dtype="bf16", shape=shape,
                               make_inputs=make, run=lambda x, c=causal: _flash(x, c), flops=flops, bytes=nbytes)
                if setup.wants_op("efficient"):
                    yield Case(family=FAMILY_NAME, op="efficient", name="fwd", dtype="bf16", shape=shape,
                               make_inputs=make, run=lambda x, c=causal: _efficient(x, c), flops=flops,
                               bytes=nbytes)
                if setup.wants_op("vs_default"):
                    # torch: its default SDPA pick; gemforge: our kernel through the flash op.
                    def run(x, c=causal):
                        if gemforge.is_enabled():
                            return _flash(x, c)
                        return F.scaled_dot_product_attention(x[0], x[1], x[2], is_causal=c)

                    yield Case(family=FAMILY_NAME, op="vs_default", name="fwd", dtype="bf16", shape=shape,
                               make_inputs=make, run=run, flops=flops, bytes=nbytes)


    if setup.wants_op("masked"):
        quick = ((2, 8, 256, 64, "padding"),)
        full = ((4, 32, 2048, 128, "full"), (4, 32, 2048, 128, "padding"), (4, 32, 4096, 128, "full"),
                (16, 16, 512, 64, "padding"), (4, 16, 2048, 256, "full"))
        for b, h, s, d, kind in quick if setup.quick else full:
            def make(b=b, h=h, s=s, d=d, kind=kind):
                q, k, v = (torch.randn(b, s, h, d, device=dev, dtype=torch.bfloat16).transpose(1, 2)
                           for _ in range(3))
                if kind == "full":
                    mask = torch.rand(b, 1, s, s, device=dev) > 0.1
                else:
                    mask = torch.ones(b, 1, 1, s, device=dev, dtype=torch.bool)
                    mask[..., s - 100:] = False
                return q, k, v, mask

            yield Case(family=FAMILY_NAME, op="masked", name=f"{kind} mask", dtype="bf16",
                       shape=f"B{b} H{h} S{s} D{d}", make_inputs=make,
                       run=lambda x: F.scaled_dot_product_attention(x[0], x[1], x[2], attn_mask=x[3]),
                       flops=4 * b * h * s * s * d, bytes=4 * b * h * s * d * 2)


def fp32_cases(setup):
    dev = setup.device
    shapes = ((2, 4, 256, 64, False),) if setup.quick else (
        (8, 12, 512, 64, False), (2, 16, 577, 64, False), (4, 32, 4096, 64, True), (4, 32, 1024, 128, True),
        (2, 32, 832, 128, True), (4, 32, 4096, 128, False))
    for b, h, s, d, causal in shapes:
        def make(b=b, h=h, s=s, d=d):
            return tuple(torch.randn(b, s, h, d, device=dev).transpose(1, 2) for _ in range(3))

        shape = f"B{b} H{h} S{s} D{d}{' causal' if causal else ''}"
        if setup.wants_op("efficient"):
            yield Case(family=FAMILY_NAME, op="efficient", name="fwd", dtype="fp32", shape=shape, make_inputs=make,
                       run=lambda x, c=causal: _efficient(x, c), flops=4 * b * h * s * s * d // (2 if causal else 1),
                       bytes=4 * b * h * s * d * 4)
    if setup.wants_op("masked") and not setup.quick:
        b, h, s, d = 8, 12, 512, 64

        def make_masked():
            q, k, v = (torch.randn(b, s, h, d, device=dev).transpose(1, 2) for _ in range(3))
            mask = torch.ones(b, 1, 1, s, device=dev, dtype=torch.bool)
            mask[..., s - 100:] = False
            return q, k, v, mask

        yield Case(family=FAMILY_NAME, op="masked", name="padding mask", dtype="fp32", shape=f"B{b} H{h} S{s} D{d}",
                   make_inputs=make_masked,
                   run=lambda x: F.scaled_dot_product_attention(x[0], x[1], x[2], attn_mask=x[3]),
                   flops=4 * b * h * s * s * d, bytes=4 * b * h * s * d * 4)


def summarize(results, setup):
    lines = []
    for r in results:
        if r.speedup and r.tflops and ("S4096 D128" in r.case.shape or r.case.op == "masked"
                                       or r.case.dtype == "fp32"):
            lines.append((f"attention {r.case.op} {r.case.shape}",
                          tflops_line(r)))
    return lines


FAMILY = Family(FAMILY_NAME, cases, summarize)
