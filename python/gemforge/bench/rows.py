"""Softmax and the norms (the row engine): softmax and log_softmax forward and backward over the
last dim at (tokens, hidden) 4096x4096, many short rows, a few huge rows, and over dim 0;
layer_norm (weight and bias) and rms_norm (weight) forward and backward at hidden 4096. bytes =
every input read once + every output written once (weights and statistics included)."""

from __future__ import annotations

import torch

from . import shapes
from .harness import DTYPES, Case, Family
from .report import bandwidth_line, errors_line, slowest_line

aten = torch.ops.aten

# (rows, cols) per device: the matrix, many short rows, a few huge rows
SOFTMAX_SHAPES = {
    "cuda": [(4096, 4096), (65536, 128), (16, 262144)],
    "cpu": [(256, 256), (2048, 32), (4, 16384)],
}


def _shape(device):
    return shapes.matrix(device)


def _softmax_cases(setup, dtype_name):
    dtype = DTYPES[dtype_name]
    es = torch.tensor([], dtype=dtype).element_size()
    dev = setup.device
    for op, fwd, bwd in (("softmax", aten._softmax, aten._softmax_backward_data),
                         ("log_softmax", aten._log_softmax, aten._log_softmax_backward_data)):
        for rows, cols in SOFTMAX_SHAPES[dev]:
            if op == "log_softmax" and (rows, cols) != _shape(dev):
                continue
            numel = rows * cols
            shape = shapes.fmt((rows, cols))

            def make_x(rows=rows, cols=cols):
                return (torch.randn(rows, cols, dtype=dtype, device=dev),)

            def make_gy(rows=rows, cols=cols, fwd=fwd):
                y = fwd(torch.randn(rows, cols, dtype=dtype, device=dev), -1, False)
                return torch.randn(rows, cols, dtype=dtype, device=dev), y

            yield Case(family="softmax_norm", op=op, name="fwd", dtype=dtype_name, shape=shape,
                       make_inputs=make_x, run=lambda v, fwd=fwd: fwd(v[0], -1, False), bytes=2 * numel * es)
            yield Case(family="softmax_norm", op=op, name="bwd", dtype=dtype_name, shape=shape,
                       make_inputs=make_gy, run=lambda v, bwd=bwd: bwd(v[0], v[1], -1, dtype),
                       bytes=3 * numel * es)
    rows, cols = _shape(dev)
    numel = rows * cols
    yield Case(family="softmax_norm", op="softmax", name="fwd dim0", dtype=dtype_name,
               shape=shapes.fmt((rows, cols)),
               make_inputs=lambda: (torch.randn(rows, cols, dtype=dtype, device=dev),),
               run=lambda v: aten._softmax(v[0], 0, False), bytes=2 * numel * es)
    yield Case(family="softmax_norm", op="softmax", name="bwd dim0", dtype=dtype_name,
               shape=shapes.fmt((rows, cols)),
               make_inputs=lambda: (torch.randn(rows, cols, dtype=dtype, device=dev),
                                    aten._softmax(torch.randn(rows, cols, dtype=dtype, device=dev), 0, False)),
               run=lambda v: aten._softmax_backward_data(v[0], v[1], 0, dtype), bytes=3 * numel * es)


def _norm_cases(setup, dtype_name):
    dtype = DTYPES[dtype_name]
    es = torch.tensor([], dtype=dtype).element_size()
    dev = setup.device
    rows, hidden = _shape(dev)
    numel = rows * hidden
    shape = shapes.fmt((rows, hidden))

    def params():
        return (torch.randn(rows, hidden, dtype=dtype, device=dev),
                torch.rand(hidden, dtype=dtype, device=dev) + 0.5,
                torch.randn(hidden, dtype=dtype, device=dev))

    def ln_bwd_inputs():
        x, w, b = params()
        _, mean, rstd = aten.native_layer_norm(x, [hidden], w, b, 1e-5)
        return torch.randn_like(x), x, mean, rstd, w, b

    def rms_bwd_inputs():
        x, w, _ = params()
        _, rstd = aten._fused_rms_norm(x, [hidden], w, 1e-6)
        return torch.randn_like(x), x, rstd, w

    stats = rows * 4
    yield Case(family="softmax_norm", op="layer_norm", name="fwd", dtype=dtype_name, shape=shape,
               make_inputs=params, run=lambda v: aten.native_layer_norm(v[0], [hidden], v[1], v[2], 1e-5),
               bytes=2 * numel * es + 2 * hidden * es + 2 * stats)
    yield Case(family="softmax_norm", op="layer_norm", name="bwd", dtype=dtype_name, shape=shape,
               make_inputs=ln_bwd_inputs,
               run=lambda v: aten.native_layer_norm_backward(v[0], v[1], [hidden], v[2], v[3], v[4], v[5],
                                                             [True, True, True]),
               bytes=3 * numel * es + 3 * hidden * es + 2 * stats)
    yield Case(family="softmax_norm", op="rms_norm", name="fwd", dtype=dtype_name, shape=shape,
               make_inputs=params, run=lambda v: aten._fused_rms_norm(v[0], [hidden], v[1], 1e-6),
               bytes=2 * numel * es + hidden * es + stats)
    if dev == "cpu":  # torch has no cpu _fused_rms_norm_backward to time against
        return
    yield Case(family="softmax_norm", op="rms_norm", name="bwd", dtype=dtype_name, shape=shape,
               make_inputs=rms_bwd_inputs,
               run=lambda v: aten._fused_rms_norm_backward(v[0], v[1], [hidden], v[2], v[3], [True, True]),
               bytes=3 * numel * es + 2 * hidden * es + stats)


def cases(setup):
    for dtype_name in ("bf16", "fp32"):
        if not setup.wants_dtype(dtype_name):
            continue
        for case in _softmax_cases(setup, dtype_name):
            if setup.wants_op(case.op):
                yield case
        if dtype_name == "bf16" or setup.device == "cpu":
            for case in _norm_cases(setup, dtype_name):
                if setup.wants_op(case.op):
                    yield case


# The targets on an H200 (GB/s): torch, FlagGems.
TARGETS = {"softmax": (1167, 2567), "layer_norm": (1937, 2819), "rms_norm": (2500, 3044)}


def summarize(results, setup):
    lines = []
    rows, cols = _shape(setup.device)
    for r in results:
        c = r.case
        if c.dtype == "bf16" and c.shape == shapes.fmt((rows, cols)) and c.name == "fwd" and r.gbps:
            target = TARGETS.get(c.op)
            note = f", targets torch {target[0]} / FlagGems {target[1]} (H200)" if target else ""
            lines.append((f"{c.op} fwd bf16 {c.shape}", bandwidth_line(r, note)))
    return lines + slowest_line(results, "min speedup (served cases)") + errors_line(results)


FAMILY = Family("softmax_norm", cases, summarize)
