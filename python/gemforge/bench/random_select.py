"""randperm, multinomial, poisson, rrelu_with_noise (training), mode and unique (_unique2).
bytes = each input read once + each output written once (randperm: its int64 output;
multinomial: the probabilities read; unique: input read, values + inverse written)."""

from __future__ import annotations

import torch

from .harness import DTYPES, Case, Family
from .report import bandwidth_line

FAMILY_NAME = "random_select"


def _sizes(device, quick):
    if device == "cuda" and not quick:
        return {"perm": (1 << 20, 1 << 24), "rows": (1024, 32000), "square": (4096, 4096),
                "mode": (1024, 8192), "unique": (1 << 20, 1 << 24)}
    return {"perm": (1000, 100_000), "rows": (64, 2000), "square": (256, 256), "mode": (64, 512),
            "unique": (1000, 100_000)}


def cases(setup):
    dev = setup.device
    s = _sizes(dev, setup.quick)

    def case(op, name, dtype, shape, make, run, nbytes):
        if not setup.wants_dtype(dtype) or not setup.wants_op(op):
            return None
        return Case(family=FAMILY_NAME, op=op, name=name, dtype=dtype, shape=shape, make_inputs=make, run=run,
                    bytes=nbytes)

    found = []
    for n in s["perm"]:
        found.append(case("randperm", "", "fp32", str(n), lambda: (), lambda _x, n=n: torch.randperm(n, device=dev),
                          8 * n))
    rows, cats = s["rows"]
    for dtype in ("fp32", "bf16"):
        dt = DTYPES[dtype]
        elem = torch.empty((), dtype=dt).element_size()
        for k in (1, 8):
            found.append(case("multinomial", f"k{k}", dtype, f"{rows}x{cats}",
                              lambda dt=dt: (torch.rand(rows, cats, device=dev).to(dt),),
                              lambda x, k=k: torch.multinomial(x[0], k), rows * cats * elem))
        sq = s["square"]
        n = sq[0] * sq[1]
        found.append(case("rrelu_with_noise", "training", dtype, f"{sq[0]}x{sq[1]}",
                          lambda dt=dt: (torch.randn(sq, device=dev).to(dt), torch.empty(sq, device=dev, dtype=dt)),
                          lambda x: torch.ops.aten.rrelu_with_noise(x[0], x[1], 0.125, 1 / 3, True), 3 * n * elem))
    sq = s["square"]
    found.append(case("poisson", "rate 5", "fp32", f"{sq[0]}x{sq[1]}",
                      lambda: (torch.full(sq, 5.0, device=dev),), lambda x: torch.poisson(x[0]),
                      2 * 4 * sq[0] * sq[1]))
    mr, mn = s["mode"]
    found.append(case("mode", "dim=-1", "fp32", f"{mr}x{mn}",
                      lambda: (torch.randint(0, 100, (mr, mn), device=dev).float(),),
                      lambda x: torch.mode(x[0], -1), 4 * mr * mn))
    for n in s["unique"]:
        found.append(case("_unique2", "inverse", "fp32", str(n),
                          lambda n=n: (torch.randint(0, n // 4, (n,), device=dev).float(),),
                          lambda x: torch.unique(x[0], return_inverse=True), 4 * n + 8 * n + 4 * n))
    yield from (c for c in found if c is not None)


def summarize(results, setup):
    lines = []
    for r in results:
        c = r.case
        if not r.speedup:
            continue
        lines.append((f"{c.op} {c.name} {c.dtype} {c.shape}".replace("  ", " "), bandwidth_line(r)))
    return lines


FAMILY = Family(FAMILY_NAME, cases, summarize)
