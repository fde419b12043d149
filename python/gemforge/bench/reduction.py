"""Reductions: sum over the last dim and over the first, many short rows, few huge rows, a full
sum, and amax, mean, var, argmax, logsumexp over rows, in bf16 and fp32; argmax, argmin and
max.dim (value and index) over rows, columns, short rows, huge rows and the whole tensor.
bytes = the input read once plus the result written once.

Issue 4's target: sum(dim=-1) bf16 4096^2 above 1846 GB/s and 85% of the copy ceiling, and at
least 0.97x torch on every shape.
"""

from __future__ import annotations

import math

import torch

from . import shapes
from .harness import DTYPES, Case, Family
from .report import bandwidth_line, errors_line, slowest_line

# (op, call, shape on cuda, shape on cpu, dtypes)
_ROWS = {"cuda": (4096, 4096), "cpu": (256, 256)}
_CASES = [
    ("sum", "dim=-1", lambda x: x.sum(-1), _ROWS, ("bf16", "fp32")),
    ("sum", "dim=0", lambda x: x.sum(0), _ROWS, ("bf16", "fp32")),
    ("sum", "short_rows", lambda x: x.sum(-1), {"cuda": (65536, 128), "cpu": (4096, 128)}, ("fp32", "bf16")),
    ("sum", "huge_rows", lambda x: x.sum(-1), {"cuda": (16, 262144), "cpu": (4, 16384)}, ("fp32", "bf16")),
    ("sum", "full", lambda x: x.sum(), {"cuda": (1 << 26,), "cpu": (1 << 20,)}, ("fp32", "bf16")),
    ("amax", "dim=-1", lambda x: x.amax(-1), _ROWS, ("bf16", "fp32")),
    ("mean", "dim=-1", lambda x: x.mean(-1), _ROWS, ("bf16", "fp32")),
    ("var", "dim=-1", lambda x: x.var(-1), _ROWS, ("bf16", "fp32")),
    ("argmax", "dim=-1", lambda x: x.argmax(-1), _ROWS, ("bf16", "fp32")),
    ("argmax", "dim=0", lambda x: x.argmax(0), _ROWS, ("bf16", "fp32")),
    ("argmax", "short_rows", lambda x: x.argmax(-1), {"cuda": (65536, 128), "cpu": (4096, 128)}, ("bf16", "fp32")),
    ("argmax", "huge_rows", lambda x: x.argmax(-1), {"cuda": (16, 262144), "cpu": (4, 16384)}, ("bf16", "fp32")),
    ("argmax", "full", lambda x: x.argmax(), {"cuda": (1 << 26,), "cpu": (1 << 20,)}, ("bf16", "fp32")),
    ("argmin", "dim=-1", lambda x: x.argmin(-1), _ROWS, ("bf16", "fp32")),
    ("max.dim", "dim=-1", lambda x: x.max(-1), _ROWS, ("bf16", "fp32")),
    ("max.dim", "dim=0", lambda x: x.max(0), _ROWS, ("bf16", "fp32")),
    ("logsumexp", "dim=-1", lambda x: torch.logsumexp(x, -1), _ROWS, ("bf16", "fp32")),
]


def _case(op, name, call, shape, dtype_name, device):
    dtype = DTYPES[dtype_name]
    numel = math.prod(shape)
    reduced = {"dim=-1": shape[-1], "dim=0": shape[0]}.get(name, shape[-1])
    if name == "full":
        reduced = numel
    es = torch.empty((), dtype=dtype).element_size()
    # argmax writes int64 indices; max.dim writes values and indices
    out_elem = {"argmax": 8, "argmin": 8, "max.dim": es + 8}.get(op, es)
    moved = numel * torch.empty((), dtype=dtype).element_size() + numel // reduced * out_elem
    return Case(family="reduction", op=op, name=name, dtype=dtype_name, shape=shapes.fmt(shape),
                make_inputs=lambda: (torch.randn(shape, dtype=dtype, device=device),),
                run=lambda values: call(*values), bytes=moved)


def cases(setup):
    for op, name, call, sizes, dtypes in _CASES:
        if not setup.wants_op(op):
            continue
        for dtype_name in dtypes:
            if setup.wants_dtype(dtype_name):
                yield _case(op, name, call, sizes[setup.device], dtype_name, setup.device)


def summarize(results, setup):
    lines = [(f"sum(dim=-1) bf16 {r.case.shape}", bandwidth_line(r)) for r in results
             if (r.case.op, r.case.name, r.case.dtype) == ("sum", "dim=-1", "bf16") and r.gbps]
    return lines + slowest_line(results, "min speedup (reductions)") + errors_line(results)


FAMILY = Family("reduction", cases, summarize)
