"""Sort and selection: sort along rows (fp32, bf16) and along columns, argsort, topk (k of a
few and k of a thousand, many rows and few long rows), kthvalue, median and nanmedian along
the last dim, full median. bytes = the input read once + values and int64 indices written once
(argsort: indices only)."""

from __future__ import annotations

import torch

from .harness import DTYPES, Case, Family
from .report import bandwidth_line

FAMILY_NAME = "sort"


def _sizes(device, quick):
    if device == "cuda" and not quick:
        return {"square": (4096, 4096), "rows": (1024, 8192), "long": (64, 131072), "flat": (65536,)}
    return {"square": (512, 512), "rows": (128, 1024), "long": (4, 16384), "flat": (8192,)}


def _label(shape):
    return "x".join(str(d) for d in shape)


def cases(setup):
    dev = setup.device
    s = _sizes(dev, setup.quick)

    def case(op, name, dtype, shape, fn, out_elems, index_out=True, value_out=True):
        if not setup.wants_dtype(dtype) or not setup.wants_op(op):
            return None
        dt = DTYPES[dtype]
        elem = torch.empty((), dtype=dt).element_size()

        def make():
            return (torch.randn(shape, device=dev).to(dt),)

        n = 1
        for d in shape:
            n *= d
        written = out_elems * ((elem if value_out else 0) + (8 if index_out else 0))
        return Case(family=FAMILY_NAME, op=op, name=name, dtype=dtype, shape=_label(shape),
                    make_inputs=make, run=lambda x: fn(x[0]), bytes=n * elem + written)

    sq, rows, long_, flat = s["square"], s["rows"], s["long"], s["flat"]
    r_sq = sq[0] * sq[1]
    found = [
        case("sort", "dim-1", "fp32", sq, lambda x: torch.sort(x, -1), r_sq),
        case("sort", "dim-1", "bf16", sq, lambda x: torch.sort(x, -1), r_sq),
        case("sort", "dim-1 stable desc", "fp32", sq,
             lambda x: torch.sort(x, dim=-1, stable=True, descending=True), r_sq),
        case("sort", "dim0", "fp32", sq, lambda x: torch.sort(x, 0), r_sq),
        case("sort", "dim-1", "fp32", long_, lambda x: torch.sort(x, -1), long_[0] * long_[1]),
        case("argsort", "dim-1", "fp32", sq, lambda x: torch.argsort(x, -1), r_sq, value_out=False),
    ]
    for shape in (rows, long_):
        for k in (8, 1024):
            found.append(case("topk", f"k={k}", "fp32", shape, lambda x, k=k: torch.topk(x, k),
                              shape[0] * k))
        found.append(case("topk", "k=8", "bf16", shape, lambda x: torch.topk(x, 8), shape[0] * 8))
    found += [
        case("kthvalue", "k=n/4", "fp32", rows, lambda x: torch.kthvalue(x, rows[1] // 4), rows[0]),
        case("median", "dim-1", "fp32", rows, lambda x: torch.median(x, -1), rows[0]),
        case("nanmedian", "dim-1", "fp32", rows, lambda x: torch.nanmedian(x, -1), rows[0]),
        case("nanmedian", "dim-1", "bf16", rows, lambda x: torch.nanmedian(x, -1), rows[0]),
        case("median", "all", "fp32", flat, lambda x: torch.median(x), 1, index_out=False),
    ]
    yield from (c for c in found if c is not None)


def summarize(results, setup):
    return [(f"{r.case.op} {r.case.name} {r.case.dtype} {r.case.shape}", bandwidth_line(r))
            for r in results if r.speedup]


FAMILY = Family(FAMILY_NAME, cases, summarize)
