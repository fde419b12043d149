"""The copy ceiling: a large device-to-device copy through PyTorch alone, counting bytes read
plus bytes written. Every memory-bound result is reported as a fraction of it."""

from __future__ import annotations

import torch

from . import shapes
from .harness import Case, Family


def cases(setup):
    size = shapes.COPY_CEILING_BYTES[setup.device]

    def make_inputs():
        src = torch.randint(0, 256, (size,), dtype=torch.uint8, device=setup.device)
        return torch.empty_like(src), src

    label = f"{size >> 30}GiB" if size >= 1 << 30 else f"{size >> 20}MiB"
    yield Case(family="ceiling", op="copy_", name="copy", dtype="u8", shape=label,
               make_inputs=make_inputs, run=lambda io: io[0].copy_(io[1]), bytes=2 * size,
               with_gems=False)


def summarize(results, setup):
    return [(f"copy ceiling ({r.case.shape} {r.case.op}, read+write)", f"{r.torch_gbps:.0f} GB/s")
            for r in results if r.torch_gbps]


FAMILY = Family("ceiling", cases, summarize)
