"""Random sampling and dropout: uniform_, normal_, bernoulli_ (in place), randint (random_.from),
exponential_, native_dropout and its backward, on a large square and a small tensor.
bytes = each input read once + each output written once (native_dropout: input read, output
and bool mask written)."""

from __future__ import annotations

import torch

from .harness import DTYPES, Case, Family
from .report import bandwidth_line

FAMILY_NAME = "random"


def _sizes(device, quick):
    if device == "cuda" and not quick:
        return {"big": (4096, 4096), "small": (64, 1024)}
    return {"big": (512, 512), "small": (64, 128)}


def cases(setup):
    dev = setup.device
    s = _sizes(dev, setup.quick)

    def label(shape):
        return "x".join(str(d) for d in shape)

    def fill_case(op, name, fn, dtype, shape, asked="fp32"):
        # int32 is no choice of --dtypes: randint's case runs with the fp32 ones
        if not setup.wants_dtype(dtype if dtype in ("fp32", "bf16", "fp16") else asked) or not setup.wants_op(op):
            return None
        dt = DTYPES[dtype]
        n = shape[0] * shape[1]
        elem = torch.empty((), dtype=dt).element_size()
        return Case(family=FAMILY_NAME, op=op, name=name, dtype=dtype, shape=label(shape),
                    make_inputs=lambda: (torch.empty(shape, device=dev, dtype=dt),),
                    run=lambda x: fn(x[0]), bytes=n * elem)

    def dropout_case(dtype, shape, p=0.1):
        if not setup.wants_dtype(dtype) or not setup.wants_op("native_dropout"):
            return None
        dt = DTYPES[dtype]
        n = shape[0] * shape[1]
        elem = torch.empty((), dtype=dt).element_size()
        return Case(family=FAMILY_NAME, op="native_dropout", name=f"p{p}", dtype=dtype, shape=label(shape),
                    make_inputs=lambda: (torch.randn(shape, device=dev).to(dt),),
                    run=lambda x: torch.native_dropout(x[0], p, True), bytes=n * (2 * elem + 1))

    def dropout_backward_case(dtype, shape, scale=1 / 0.9):
        if not setup.wants_dtype(dtype) or not setup.wants_op("native_dropout_backward"):
            return None
        dt = DTYPES[dtype]
        n = shape[0] * shape[1]
        elem = torch.empty((), dtype=dt).element_size()

        def make():
            return (torch.randn(shape, device=dev).to(dt), torch.rand(shape, device=dev) < 0.9)

        return Case(family=FAMILY_NAME, op="native_dropout_backward", name="", dtype=dtype,
                    shape=label(shape), make_inputs=make,
                    run=lambda x: torch.ops.aten.native_dropout_backward(x[0], x[1], scale),
                    bytes=n * (2 * elem + 1))

    found = []
    for shape in (s["big"], s["small"]):
        for dtype in ("fp32", "bf16"):
            found += [
                fill_case("uniform_", "", lambda t: t.uniform_(), dtype, shape),
                fill_case("normal_", "", lambda t: t.normal_(), dtype, shape),
                fill_case("bernoulli_", "p0.5", lambda t: t.bernoulli_(0.5), dtype, shape),
                fill_case("exponential_", "", lambda t: t.exponential_(), dtype, shape),
                dropout_case(dtype, shape),
                dropout_backward_case(dtype, shape),
            ]
        found.append(fill_case("random_", "randint 0..1000", lambda t: t.random_(0, 1000), "int32", shape))
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
