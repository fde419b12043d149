"""Host overhead: microseconds per call of tiny ops (16 elements), torch against gemforge,
on a host clock over many calls. The device work is negligible; what is left is the cost of
the call path (dispatcher, argument checks, output allocation, launch)."""

from __future__ import annotations

import torch

from . import shapes
from .harness import HOST_CLOCK, Case, Family

OPS = {
    "add": lambda xy: torch.add(xy[0], xy[1]),
    "mul": lambda xy: torch.mul(xy[0], xy[1]),
    "relu": lambda xy: torch.relu(xy[0]),
}


def cases(setup):
    for name, run in OPS.items():
        if not setup.wants_op(name):
            continue

        def make_inputs():
            return tuple(torch.randn(shapes.TINY, device=setup.device) for _ in range(2))

        yield Case(family="overhead", op=name, name="tiny", dtype="fp32", shape=str(shapes.TINY),
                   make_inputs=make_inputs, run=run, clock=HOST_CLOCK)


def summarize(results, setup):
    lines = []
    for r in results:
        if r.torch_ms is None:
            continue
        value = f"torch {r.torch_ms * 1e3:.1f} us"
        if r.gemforge_ms is not None:
            value += f", gemforge {r.gemforge_ms * 1e3:.1f} us ({r.speedup:.2f}x)"
            if not r.served:
                value += " [not served]"
        lines.append((f"{r.case.op} {r.case.shape} elems, {setup.device}", value))
    return lines


FAMILY = Family("overhead", cases, summarize)
