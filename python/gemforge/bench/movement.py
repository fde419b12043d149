"""Data movement: cat and stack, casts (_to_copy), clone and contiguous, roll, flip, repeat,
split_with_sizes_copy and _chunk_cat on a 4096 x 4096
matrix (cuda; 256 x 256 on the cpu), each read once and written once; and the host cost of
tiny calls (16 elements). At large sizes these should run at the copy ceiling."""

from __future__ import annotations

import torch

from . import shapes
from .harness import DTYPES, HOST_CLOCK, Case, Family


def _nbytes(shape, dtype):
    n = 1
    for s in shape:
        n *= s
    return n * torch.empty((), dtype=dtype).element_size()


def _matrix_cases(setup, dtype_name):
    dtype = DTYPES[dtype_name]
    rows, cols = shapes.MATRIX[setup.device]
    device = setup.device
    total = _nbytes((rows, cols), dtype)

    def randn(*shape, dt=dtype):
        return torch.randn(shape, device=device).to(dt)

    for n in (2, 4, 8):
        for dim in (0, 1):
            part = (rows // n, cols) if dim == 0 else (rows, cols // n)
            yield ("cat", f"cat{n}_dim{dim}", f"{n}x{part[0]}x{part[1]}",
                   lambda p=part, n=n: tuple(randn(*p) for _ in range(n)),
                   lambda xs, d=dim: torch.cat(xs, d), 2 * total)
    yield ("stack", "stack4_dim0", f"4x{rows // 4}x{cols}",
           lambda: tuple(randn(rows // 4, cols) for _ in range(4)), lambda xs: torch.stack(xs, 0), 2 * total)
    other = torch.float32 if dtype != torch.float32 else torch.bfloat16
    other_bytes = _nbytes((rows, cols), other)
    yield ("_to_copy", f"to_{str(other).split('.')[-1]}", f"{rows}x{cols}",
           lambda: (randn(rows, cols),), lambda xs: xs[0].to(other), total + other_bytes)
    yield ("_to_copy", f"from_{str(other).split('.')[-1]}", f"{rows}x{cols}",
           lambda: (randn(rows, cols, dt=other),), lambda xs: xs[0].to(dtype), total + other_bytes)
    yield ("clone", "clone", f"{rows}x{cols}", lambda: (randn(rows, cols),), lambda xs: xs[0].clone(),
           2 * total)
    yield ("clone", "contiguous_of_t", f"{rows}x{cols}", lambda: (randn(rows, cols).t(),),
           lambda xs: xs[0].contiguous(), 2 * total)
    yield ("roll", "roll_dim0", f"{rows}x{cols}", lambda: (randn(rows, cols),),
           lambda xs: torch.roll(xs[0], 17, 0), 2 * total)
    yield ("roll", "roll_dim1", f"{rows}x{cols}", lambda: (randn(rows, cols),),
           lambda xs: torch.roll(xs[0], 8, 1), 2 * total)
    for dim in (0, 1):
        yield ("flip", f"flip_dim{dim}", f"{rows}x{cols}", lambda: (randn(rows, cols),),
               lambda xs, d=dim: torch.flip(xs[0], (d,)), 2 * total)
    # the output is rows x cols: half of it read, all of it written
    yield ("repeat", "repeat_2x1", f"{rows // 2}x{cols}", lambda: (randn(rows // 2, cols),),
           lambda xs: xs[0].repeat(2, 1), total + total // 2)
    yield ("repeat", "repeat_1x2", f"{rows}x{cols // 2}", lambda: (randn(rows, cols // 2),),
           lambda xs: xs[0].repeat(1, 2), total + total // 2)
    yield ("split_with_sizes_copy", "split4_dim1", f"{rows}x{cols}", lambda: (randn(rows, cols),),
           lambda xs: torch.ops.aten.split_with_sizes_copy(xs[0], [cols // 4] * 4, 1), 2 * total)
    yield ("_chunk_cat", "chunk_cat2_c8", f"2x{rows // 2}x{cols}",
           lambda: (randn(rows // 2, cols), randn(rows // 2, cols)),
           lambda xs: torch.ops.aten._chunk_cat(list(xs), 0, 8), 2 * total)


TINY_OPS = {
    "cat": lambda xs: torch.cat([xs[0], xs[1]]),
    "stack": lambda xs: torch.stack([xs[0], xs[1]]),
    "_to_copy": lambda xs: xs[0].to(torch.float16),
    "clone": lambda xs: xs[0].clone(),
    "roll": lambda xs: torch.roll(xs[0], 1, 0),
    "flip": lambda xs: torch.flip(xs[0], (0,)),
    "repeat": lambda xs: xs[0].repeat(2),
}


def cases(setup):
    for dtype_name in ("bf16", "fp32"):
        if not setup.wants_dtype(dtype_name):
            continue
        for op, name, shape, make_inputs, run, nbytes in _matrix_cases(setup, dtype_name):
            if setup.wants_op(op):
                yield Case(family="movement", op=op, name=name, dtype=dtype_name, shape=shape,
                           make_inputs=make_inputs, run=run, bytes=nbytes)
    for op, run in TINY_OPS.items():
        if not setup.wants_op(op):
            continue

        def make_inputs():
            return tuple(torch.randn(shapes.TINY, device=setup.device) for _ in range(2))

        yield Case(family="movement", op=op, name="tiny", dtype="fp32", shape=str(shapes.TINY),
                   make_inputs=make_inputs, run=run, clock=HOST_CLOCK)


def summarize(results, setup):
    lines = []
    for r in results:
        if r.torch_ms is None or r.gemforge_ms is None:
            continue
        if r.case.clock == HOST_CLOCK:
            value = f"torch {r.torch_ms * 1e3:.1f} us, gemforge {r.gemforge_ms * 1e3:.1f} us"
        else:
            value = f"{r.gbps:.0f} GB/s, {r.speedup:.2f}x torch" if r.gbps else f"{r.speedup:.2f}x torch"
        if not r.served:
            value += " [not served]"
        lines.append((f"{r.case.name} {r.case.dtype} {r.case.shape}", value))
    return lines


FAMILY = Family("movement", cases, summarize)
