"""Fake quantization (quantization-aware training): per-tensor with float/int qparams, the
tensor-qparams form torch.ao's FakeQuantize calls, per-channel (int32 zero points over the rows
of a weight), the learnable per-tensor forward and backward. 4096x4096 on cuda.
bytes = x read + out written + the bool mask written (1 byte an element); the backward reads x
and grad and writes grad_x.

_convert_weight_to_int4pack (cuda): Llama-7B's weights (n x k: attention 4096x4096, MLP
11008x4096) as int4 pairs in uint8, packed into tinygemm's layout with innerKTiles 8 (what
gpt-fast and torchao use) and 2; bytes = the n * k / 2 read + the n * k / 2 written."""

from __future__ import annotations

import torch

from .harness import Case, Family
from .report import bandwidth_line

FAMILY_NAME = "quantize"
A = torch.ops.aten
INT4PACK = [(4096, 4096), (11008, 4096)]  # (n, k) of the weight


def cases(setup):
    dev = setup.device
    rows, cols = (4096, 4096) if dev == "cuda" and not setup.quick else (256, 256)
    shape = f"{rows}x{cols}"
    n = rows * cols
    for dtype in ("bf16", "fp32"):
        if not setup.wants_dtype(dtype):
            continue
        dt = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
        elem = torch.empty((), dtype=dt).element_size()

        def x_only(dt=dt):
            return (torch.randn(rows, cols, device=dev, dtype=dt) * 4,)

        def tensor_qparams(dt=dt):
            return (torch.randn(rows, cols, device=dev, dtype=dt) * 4, torch.tensor([0.05], device=dev),
                    torch.tensor([3], dtype=torch.int32, device=dev), torch.tensor([1], device=dev))

        def channel_qparams(dt=dt):
            return (torch.randn(rows, cols, device=dev, dtype=dt) * 4, torch.rand(rows, device=dev) * 0.1 + 0.01,
                    torch.randint(-10, 10, (rows,), dtype=torch.int32, device=dev))

        def learnable(dt=dt):
            return (torch.randn(rows, cols, device=dev, dtype=dt) * 4, torch.tensor([0.05], device=dev),
                    torch.tensor([2.6], device=dev))

        found = [
            ("fake_quantize_per_tensor_affine_cachemask", "values", x_only,
             lambda x: A.fake_quantize_per_tensor_affine_cachemask(x[0], 0.05, 3, -128, 127), n * (2 * elem + 1)),
            ("_fake_quantize_per_tensor_affine_cachemask_tensor_qparams", "tensors", tensor_qparams,
             lambda x: A._fake_quantize_per_tensor_affine_cachemask_tensor_qparams(*x, 0, 255), n * (2 * elem + 1)),
            ("fake_quantize_per_channel_affine_cachemask", "rows", channel_qparams,
             lambda x: A.fake_quantize_per_channel_affine_cachemask(*x, 0, -128, 127), n * (2 * elem + 1)),
            ("_fake_quantize_learnable_per_tensor_affine", "forward", learnable,
             lambda x: A._fake_quantize_learnable_per_tensor_affine(*x, -128, 127, 1.0), n * 2 * elem),
        ]
        for op, name, make, run, nbytes in found:
            if setup.wants_op(op):
                yield Case(family=FAMILY_NAME, op=op, name=name, dtype=dtype, shape=shape, make_inputs=make,
                           run=run, bytes=nbytes)

    if setup.wants_op("_fake_quantize_learnable_per_tensor_affine_backward") and setup.wants_dtype("fp32"):
        def backward_inputs():
            return (torch.randn(rows, cols, device=dev), torch.randn(rows, cols, device=dev) * 4,
                    torch.tensor([0.05], device=dev), torch.tensor([2.6], device=dev))

        yield Case(family=FAMILY_NAME, op="_fake_quantize_learnable_per_tensor_affine_backward", name="backward",
                   dtype="fp32", shape=shape, make_inputs=backward_inputs,
                   run=lambda x: A._fake_quantize_learnable_per_tensor_affine_backward(*x, -128, 127, 1.0),
                   bytes=n * 3 * 4)

    if dev == "cuda" and setup.wants_op("_convert_weight_to_int4pack"):  # torch: cuda only
        for n_rows, k in INT4PACK:
            for inner_k_tiles in (8, 2):
                def int4_weight(n_rows=n_rows, k=k):
                    return (torch.randint(0, 256, (n_rows, k // 2), dtype=torch.uint8, device=dev),)

                yield Case(family=FAMILY_NAME, op="_convert_weight_to_int4pack", name=f"innerKTiles {inner_k_tiles}",
                           dtype="uint8", shape=f"{n_rows}x{k}", make_inputs=int4_weight,
                           run=lambda x, t=inner_k_tiles: A._convert_weight_to_int4pack(x[0], t), bytes=n_rows * k)


def summarize(results, setup):
    return [(f"{r.case.op} {r.case.name} {r.case.dtype} {r.case.shape}", bandwidth_line(r))
            for r in results if r.speedup]


FAMILY = Family(FAMILY_NAME, cases, summarize)
