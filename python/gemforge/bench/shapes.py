"""The shapes every benchmark family draws from, in one place.

A family asks for shapes by the device it runs on: the GPU sizes fill an H100/H200 and its
50 MB L2 many times over; the CPU sizes only keep the smoke run short (CPU numbers are not
a performance claim).
"""

from __future__ import annotations

# The 2-d operand of the memory-bound families (pointwise; reductions and normalizations
# reuse it): rows x columns, 16 Mi elements on the GPU.
MATRIX = {"cuda": (4096, 4096), "cpu": (256, 256)}

# LLM activations as (tokens, hidden) for the families that follow (reductions, norms,
# softmax, fused LLM ops): decode, small batch, prefill.
TOKENS_HIDDEN = {
    "cuda": [(1, 4096), (16, 4096), (4096, 4096), (4096, 11008), (16384, 4096)],
    "cpu": [(1, 256), (16, 256), (256, 256)],
}

# Elements of the "tiny" tensor whose per-call host cost the overhead family measures.
TINY = 16

# Bytes of the device-to-device copy that sets the bandwidth ceiling.
COPY_CEILING_BYTES = {"cuda": 1 << 30, "cpu": 64 << 20}


def matrix(device: str) -> tuple:
    return MATRIX[device]


def tokens_hidden(device: str) -> list:
    return TOKENS_HIDDEN[device]


def fmt(shape) -> str:
    """(4096, 4096) -> '4096x4096'."""
    return "x".join(str(n) for n in shape)
