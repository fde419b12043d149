"""Search: searchsorted (1M values into 1K and 64K sorted values, int64 and fp32, right=, a batch
of rows), bucketize, bincount (few and many bins, weights), histc, unique_consecutive
(runs of 8), unique_dim (rows of 2 and 8 int64). bytes = values read + positions
(int64) written + the sorted sequence read once; bincount: input (and weights) read + bins
written. bincount and unique_consecutive read a size back to the host, as torch does."""

from __future__ import annotations

import torch

from .harness import Case, Family
from .report import bandwidth_line

FAMILY_NAME = "search"


def _sizes(device, quick):
    if device == "cuda" and not quick:
        return {"values": 1 << 20, "long": 1 << 16, "short": 1 << 10, "rows": (1024, 1024),
                "count": 1 << 24}
    return {"values": 1 << 14, "long": 1 << 12, "short": 1 << 8, "rows": (64, 256), "count": 1 << 16}


def cases(setup):
    dev = setup.device
    s = _sizes(dev, setup.quick)
    n = s["values"]

    def sorted_seq(shape, dtype):
        if dtype.is_floating_point:
            x = torch.randn(shape, device=dev, dtype=dtype)
        else:
            x = torch.randint(-(1 << 30), 1 << 30, shape, device=dev, dtype=dtype)
        return x.sort(dim=-1).values

    def search_case(op, name, dtype, bd_shape, v_shape, run):
        if not setup.wants_op(op):
            return None
        dt = {"fp32": torch.float32, "int64": torch.int64, "bf16": torch.bfloat16}[dtype]
        if dtype not in ("int64",) and not setup.wants_dtype(dtype):
            return None

        def make():
            values = sorted_seq(v_shape, dt)[..., torch.randperm(v_shape[-1], device=dev)]
            return sorted_seq(bd_shape, dt), values

        elem = torch.empty((), dtype=dt).element_size()
        nv = 1
        for d in v_shape:
            nv *= d
        nb = 1
        for d in bd_shape:
            nb *= d
        return Case(family=FAMILY_NAME, op=op, name=name, dtype=dtype,
                    shape=f"{'x'.join(map(str, v_shape))} in {'x'.join(map(str, bd_shape))}",
                    make_inputs=make, run=run, bytes=nv * (elem + 8) + nb * elem)

    def left(x):
        return torch.searchsorted(x[0], x[1])

    def right(x):
        return torch.searchsorted(x[0], x[1], right=True)

    found = [
        search_case("searchsorted", "left", "fp32", (s["long"],), (n,), left),
        search_case("searchsorted", "right", "fp32", (s["long"],), (n,), right),
        search_case("searchsorted", "left", "fp32", (s["short"],), (n,), left),
        search_case("searchsorted", "left", "int64", (s["long"],), (n,), left),
        search_case("searchsorted", "left", "bf16", (s["long"],), (n,), left),
        search_case("searchsorted", "batched", "fp32", s["rows"], s["rows"], left),
        search_case("bucketize", "left", "fp32", (s["short"],), (n,),
                    lambda x: torch.bucketize(x[1], x[0])),
    ]
    yield from (c for c in found if c is not None)

    if setup.wants_op("bincount"):
        count = s["count"]
        for bins, weighted in [(1000, False), (100000, False), (1000, True)]:
            def make(bins=bins, weighted=weighted):
                x = torch.randint(0, bins, (count,), device=dev)
                return (x, torch.rand(count, device=dev)) if weighted else (x,)

            yield Case(family=FAMILY_NAME, op="bincount", name="weights" if weighted else "counts",
                       dtype="fp32" if weighted else "int64", shape=f"{count} into {bins}",
                       make_inputs=make,
                       run=lambda x: torch.bincount(*x),
                       bytes=count * (8 + (4 if weighted else 0)) + bins * 8)

    if setup.wants_op("histc") and setup.wants_dtype("fp32"):
        count = s["count"]
        yield Case(family=FAMILY_NAME, op="histc", name="100 bins", dtype="fp32", shape=f"{count}",
                   make_inputs=lambda: (torch.randn(count, device=dev),),
                   run=lambda x: torch.histc(x[0], bins=100, min=-3, max=3), bytes=count * 4 + 400)

    if setup.wants_op("unique_consecutive"):
        count = s["count"]

        def make_runs():
            return (torch.randint(0, 1000, (count // 8,), device=dev).repeat_interleave(8),)

        yield Case(family=FAMILY_NAME, op="unique_consecutive", name="inverse counts", dtype="int64",
                   shape=f"{count} runs of 8", make_inputs=make_runs,
                   run=lambda x: torch.unique_consecutive(x[0], return_inverse=True, return_counts=True),
                   bytes=count * (8 + 8) + (count // 8) * 16)


    if setup.wants_op("unique_dim"):
        count = s["count"] // 16
        for width in (2, 8):
            def make_rows(width=width):
                return (torch.randint(0, 64, (count, width), device=dev),)

            yield Case(family=FAMILY_NAME, op="unique_dim", name=f"rows of {width} inverse counts", dtype="int64",
                       shape=f"{count}x{width}", make_inputs=make_rows,
                       run=lambda x: torch.unique(x[0], dim=0, return_inverse=True, return_counts=True),
                       bytes=count * width * 8 * 2 + count * 8)


def summarize(results, setup):
    return [(f"{r.case.op} {r.case.name} {r.case.dtype} {r.case.shape}", bandwidth_line(r))
            for r in results if r.speedup]


FAMILY = Family(FAMILY_NAME, cases, summarize)
