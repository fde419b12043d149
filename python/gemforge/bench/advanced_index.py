"""Advanced indexing and masks: masked_fill (functional and in place), masked_select, nonzero,
masked_scatter_, index.Tensor (row gather on dim 0, a column index, a bool mask) and index_put_
(plain and accumulate). bytes = each input read once + each output written once (in-place
masked_fill: the mask read and the whole tensor written, an upper bound)."""

from __future__ import annotations

import torch

from .harness import DTYPES, Case, Family
from .report import bandwidth_lines

FAMILY_NAME = "advanced_index"


def _sizes(device, quick):
    if device == "cuda" and not quick:
        return {"big": (4096, 4096), "table": (32768, 4096), "rows": 8192, "cols": 1024}
    return {"big": (512, 512), "table": (2048, 256), "rows": 512, "cols": 64}


def cases(setup):
    dev = setup.device
    s = _sizes(dev, setup.quick)
    big = s["big"]
    n = big[0] * big[1]
    label = "x".join(str(d) for d in big)

    def case(op, name, dtype, shape, make, run, bytes_):
        if not setup.wants_dtype(dtype) or not setup.wants_op(op):
            return None
        return Case(family=FAMILY_NAME, op=op, name=name, dtype=dtype, shape=shape, make_inputs=make, run=run,
                    bytes=bytes_)

    found = []
    for dtype in ("bf16", "fp32"):
        dt = DTYPES[dtype]
        elem = torch.empty((), dtype=dt).element_size()

        def make_masked(dt=dt):
            return (torch.randn(big, device=dev).to(dt), torch.rand(big, device=dev) < 0.5)

        found += [
            case("masked_fill", "functional", dtype, label, make_masked,
                 lambda x: torch.masked_fill(x[0], x[1], 0.0), n * (2 * elem + 1)),
            case("masked_fill_", "in place", dtype, label, make_masked,
                 lambda x: x[0].masked_fill_(x[1], 0.0), n * (elem + 1)),
            case("masked_fill", "row mask", dtype, label,
                 lambda dt=dt: (torch.randn(big, device=dev).to(dt), torch.rand(big[1], device=dev) < 0.5),
                 lambda x: torch.masked_fill(x[0], x[1], float("-inf")), n * 2 * elem),
            case("masked_select", "half set", dtype, label, make_masked,
                 lambda x: torch.masked_select(x[0], x[1]), n * (elem + 1) + n // 2 * elem),
            case("masked_scatter_", "half set", dtype, label,
                 lambda dt=dt: make_masked(dt) + (torch.randn(n, device=dev).to(dt),),
                 lambda x: x[0].masked_scatter_(x[1], x[2]), n * (1 + elem)),
        ]

    found.append(case("nonzero", "half set", "bool", label, lambda: (torch.rand(big, device=dev) < 0.5,),
                      lambda x: torch.nonzero(x[0]), n + n // 2 * 16))

    rows, width = s["table"]
    gathered = s["rows"]
    for dtype in ("bf16", "fp32"):
        dt = DTYPES[dtype]
        elem = torch.empty((), dtype=dt).element_size()
        row_bytes = width * elem

        def make_rows(dt=dt):
            return (torch.randn(rows, width, device=dev).to(dt), torch.randint(0, rows, (gathered,), device=dev))

        def make_put(dt=dt):
            return (torch.randn(rows, width, device=dev).to(dt), torch.randint(0, rows, (gathered,), device=dev),
                    torch.randn(gathered, width, device=dev).to(dt))

        found += [
            case("index", "rows dim0", dtype, f"{rows}x{width}[{gathered}]", make_rows, lambda x: x[0][x[1]],
                 2 * gathered * row_bytes + gathered * 8),
            case("index", "cols dim1", dtype, f"{rows}x{width}[:,{s['cols']}]",
                 lambda dt=dt: (torch.randn(rows, width, device=dev).to(dt),
                                torch.randint(0, width, (s["cols"],), device=dev)),
                 lambda x: x[0][:, x[1]], 2 * rows * s["cols"] * elem),
            case("index", "bool mask", dtype, label, make_masked, lambda x: x[0][x[1]],
                 n * (elem + 1) + n // 2 * elem),
            case("index_put_", "rows", dtype, f"{rows}x{width}[{gathered}]", make_put,
                 lambda x: x[0].index_put_((x[1],), x[2]), 2 * gathered * row_bytes + gathered * 8),
            case("index_put_", "rows accumulate", dtype, f"{rows}x{width}[{gathered}]", make_put,
                 lambda x: x[0].index_put_((x[1],), x[2], accumulate=True), 3 * gathered * row_bytes + gathered * 8),
        ]
    yield from (c for c in found if c is not None)


FAMILY = Family(FAMILY_NAME, cases, bandwidth_lines)
