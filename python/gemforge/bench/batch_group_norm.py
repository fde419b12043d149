"""Batch norm and group norm: batch norm training forward and backward (native_batch_norm,
native_batch_norm_backward) at (32, 256, 56, 56), (256, 64, 32, 32) and (8192, 1024), eval forward,
group norm forward and backward at (32, 256, 56, 56) with 32 groups. bf16 inputs take Float
parameters and running stats (torch's mixed case, as under autocast). torch's side is its native
kernel (the aten op called directly: F.batch_norm on cuda would take cudnn_batch_norm, which
gemforge does not serve). bytes = every input read once + every output written once."""

from __future__ import annotations

import torch

from . import shapes
from .harness import DTYPES, Case, Family
from .report import bandwidth_line, errors_line, slowest_line

aten = torch.ops.aten

BATCH_SHAPES = {
    "cuda": [(32, 256, 56, 56), (256, 64, 32, 32), (8192, 1024)],
    "cpu": [(8, 32, 16, 16), (32, 16, 8, 8), (1024, 256)],
}
GROUP_SHAPES = {"cuda": [((32, 256, 56, 56), 32)], "cpu": [((4, 64, 16, 16), 8)]}
EPS = 1e-5


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _batch_cases(setup, dtype_name):
    dtype = DTYPES[dtype_name]
    es = torch.tensor([], dtype=dtype).element_size()
    dev = setup.device
    for shape in BATCH_SHAPES[dev]:
        c, numel = shape[1], _numel(shape)
        label = shapes.fmt(shape)
        params_bytes = 4 * c * 4  # weight, bias, running mean and var (Float)

        def inputs(shape=shape, c=c):
            x = torch.randn(shape, dtype=dtype, device=dev)
            w = torch.rand(c, device=dev) + 0.5
            return x, w, torch.randn(c, device=dev), torch.zeros(c, device=dev), torch.ones(c, device=dev)

        def bwd_inputs(inputs=inputs):
            x, w, b, rm, rv = inputs()
            _, mean, invstd = aten.native_batch_norm(x, w, b, rm, rv, True, 0.1, EPS)
            return torch.randn_like(x), x, w, rm, rv, mean, invstd

        yield Case(family="batch_group_norm", op="batch_norm", name="train fwd", dtype=dtype_name, shape=label,
                   make_inputs=inputs, run=lambda v: aten.native_batch_norm(*v, True, 0.1, EPS),
                   bytes=2 * numel * es + params_bytes + 2 * c * 4)
        yield Case(family="batch_group_norm", op="batch_norm", name="train bwd", dtype=dtype_name, shape=label,
                   make_inputs=bwd_inputs,
                   run=lambda v: aten.native_batch_norm_backward(*v, True, EPS, [True, True, True]),
                   bytes=3 * numel * es + 5 * c * 4)
        yield Case(family="batch_group_norm", op="batch_norm", name="eval fwd", dtype=dtype_name, shape=label,
                   make_inputs=inputs, run=lambda v: aten.native_batch_norm(*v, False, 0.1, EPS),
                   bytes=2 * numel * es + params_bytes)


def _group_cases(setup, dtype_name):
    dtype = DTYPES[dtype_name]
    es = torch.tensor([], dtype=dtype).element_size()
    dev = setup.device
    for shape, groups in GROUP_SHAPES[dev]:
        n, c = shape[0], shape[1]
        hw, numel = _numel(shape[2:]), _numel(shape)
        label = f"{shapes.fmt(shape)} G={groups}"
        stats = 2 * n * groups * es

        def inputs(shape=shape, c=c):
            return (torch.randn(shape, dtype=dtype, device=dev), torch.rand(c, dtype=dtype, device=dev) + 0.5,
                    torch.randn(c, dtype=dtype, device=dev))

        def bwd_inputs(inputs=inputs, n=n, c=c, hw=hw, groups=groups):
            x, w, b = inputs()
            _, mean, rstd = aten.native_group_norm(x, w, b, n, c, hw, groups, EPS)
            return torch.randn_like(x), x, mean, rstd, w

        yield Case(family="batch_group_norm", op="group_norm", name="fwd", dtype=dtype_name, shape=label,
                   make_inputs=inputs,
                   run=lambda v, n=n, c=c, hw=hw, groups=groups: aten.native_group_norm(*v, n, c, hw, groups, EPS),
                   bytes=2 * numel * es + 2 * c * es + stats)
        yield Case(family="batch_group_norm", op="group_norm", name="bwd", dtype=dtype_name, shape=label,
                   make_inputs=bwd_inputs,
                   run=lambda v, n=n, c=c, hw=hw, groups=groups: aten.native_group_norm_backward(
                       *v, n, c, hw, groups, [True, True, True]),
                   bytes=3 * numel * es + 3 * c * es + stats)


def cases(setup):
    for dtype_name in ("bf16", "fp32"):
        if not setup.wants_dtype(dtype_name):
            continue
        for case in list(_batch_cases(setup, dtype_name)) + list(_group_cases(setup, dtype_name)):
            if setup.wants_op(case.op):
                yield case


def summarize(results, setup):
    lines = []
    for r in results:
        c = r.case
        if c.dtype == "bf16" and r.gbps and c.name in ("train fwd", "fwd"):
            lines.append((f"{c.op} {c.name} bf16 {c.shape}", bandwidth_line(r, "")))
    return lines + slowest_line(results, "min speedup (served cases)") + errors_line(results)


FAMILY = Family("batch_group_norm", cases, summarize)
