"""Pointwise ops: every overload, every dtype torch supports for it, odd shapes, broadcasting,
strides, scalars, type promotion, out= and in-place variants, special values.

Each case goes through conftest.check: torch's result (float64 reference for floating results,
exact for integers and bool) against gemforge's, and gemforge must have served the overload.
Where torch raises for a dtype, gemforge must raise the same exception type.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field
from typing import Optional

import pytest
import torch
import torch.nn.functional as F

import gemforge
from conftest import (quiet, result_dtype, ALL_DTYPES, COMPLEX, DEVICE, FLOATS, INTS, POINTWISE_OVERLOADS, SHAPES,
                      aten_op, base_name, check, full_name, make, with_specials)


def coarse(t: torch.Tensor) -> torch.Tensor:
    """Values on a grid of 0.5, so that comparisons see ties and logical ops see zeros."""
    if t.dtype.is_complex:
        return torch.complex(coarse(t.real), coarse(t.imag)).to(t.dtype)
    if t.dtype.is_floating_point:
        return (t.double() * 2).round().div(2).to(t.dtype)
    return t


LAYOUTS = ["contiguous", "transposed", "sliced", "expanded"]


def relayout(t: torch.Tensor, layout: str) -> torch.Tensor:
    """t's values (2-d t) in another memory layout; 'expanded' repeats t's first row."""
    if layout == "contiguous":
        return t.clone()
    if layout == "transposed":
        return t.t().contiguous().t()
    if layout == "sliced":
        rows, cols = t.shape
        wide = make((rows, 2 * cols + 1), t.dtype, t.device)
        wide[:, 1::2] = t
        return wide[:, 1::2]
    if layout == "expanded":
        return t[:1].expand_as(t)
    raise ValueError(layout)


def laid_out(layout, shape, dtype, low=-3.0, high=3.0):
    return relayout(make(shape, dtype, DEVICE, low, high), layout)


# ---- unary ops ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unary:
    id: str
    name: str        # aten base name; overloads name, name.out, name_
    public: object   # the torch / torch.nn.functional call users write
    low: float
    high: float
    kwargs: dict = field(default_factory=dict)

    def op(self, variant="default"):
        if variant == "inplace":
            return aten_op(f"{self.name}_.default")
        return aten_op(f"{self.name}.{variant}")

    def input(self, shape, dtype):
        values = make(shape, dtype, DEVICE, self.low, self.high)
        return coarse(values) if self.name == "logical_not" else values


UNARY = [
    Unary("neg", "neg", torch.neg, -4, 4),
    Unary("exp", "exp", torch.exp, -3, 3),
    Unary("log", "log", torch.log, 0.1, 5),
    Unary("sqrt", "sqrt", torch.sqrt, 0.1, 5),
    Unary("rsqrt", "rsqrt", torch.rsqrt, 0.1, 5),
    Unary("sin", "sin", torch.sin, -5, 5),
    Unary("cos", "cos", torch.cos, -5, 5),
    Unary("tanh", "tanh", torch.tanh, -4, 4),
    Unary("sigmoid", "sigmoid", torch.sigmoid, -6, 6),
    Unary("silu", "silu", F.silu, -6, 6),
    Unary("abs", "abs", torch.abs, -4, 4),
    Unary("relu", "relu", torch.relu, -4, 4),
    Unary("gelu", "gelu", F.gelu, -4, 4, {"approximate": "none"}),
    Unary("gelu_tanh", "gelu", lambda a: F.gelu(a, approximate="tanh"), -4, 4,
          {"approximate": "tanh"}),
    Unary("logical_not", "logical_not", torch.logical_not, -1, 1),
]
UNARY_IDS = [u.id for u in UNARY]


def served_unary(u, dtype, overload):
    """The overload gemforge must serve, or None where it hands the case to torch by design:
    abs of a complex tensor (a real result, computed by torch's kernel) and of a bool tensor
    (torch's cuda kernel is the identity, its cpu kernel raises)."""
    if u.name == "abs" and (dtype.is_complex or dtype is torch.bool):
        return None
    return overload


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_unary(u, dtype, shape):
    check(u.public, [u.input(shape, dtype)], served=served_unary(u, dtype, u.name))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.int32], ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_unary_layouts(u, dtype, layout):
    a = laid_out(layout, (6, 9), dtype, u.low, u.high)
    check(lambda x: u.op()(x, **u.kwargs), [a], served=u.name)


@pytest.mark.parametrize("out_shape", [(0,), (6, 9), (4,)], ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_unary_out(u, dtype, out_shape):
    a = u.input((6, 9), dtype)
    out_dtype = result_dtype(lambda x: u.op()(x, **u.kwargs), a) or dtype
    out = make(out_shape, out_dtype, DEVICE)  # wrong non-empty shapes are resized, with a warning
    with quiet():
        check(lambda x, o: u.op("out")(x, out=o, **u.kwargs), [a, out],
              served=served_unary(u, dtype, f"{u.name}.out"))


@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_unary_out_wider_dtype(u):
    """out= of a wider dtype than the result: computed in the inputs' dtype, then widened."""
    a = u.input((5, 7), torch.float16)
    out_dtype = torch.bool if u.name == "logical_not" else torch.float32
    out = torch.empty(0, dtype=out_dtype, device=DEVICE)
    check(lambda x, o: u.op("out")(x, out=o, **u.kwargs), [a, out],
          served=f"{u.name}.out", tol_dtype=torch.float16)


@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_unary_out_noncontiguous(u):
    a = u.input((6, 9), torch.float32)
    out_dtype = torch.bool if u.name == "logical_not" else torch.float32
    out = make((9, 6), out_dtype, DEVICE).t()
    check(lambda x, o: u.op("out")(x, out=o, **u.kwargs), [a, out],
          served=f"{u.name}.out")


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced"])
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_unary_inplace(u, dtype, layout):
    a = laid_out(layout, (6, 9), dtype, u.low, u.high)
    check(lambda x: u.op("inplace")(x, **u.kwargs), [a], served=served_unary(u, dtype, f"{u.name}_"))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_unary_special_values(u, dtype):
    a = with_specials(make((64,), dtype, DEVICE, -5, 5))
    check(lambda x: u.op()(x, **u.kwargs), [a], served=u.name, reference="torch")
    check(lambda x: u.op("inplace")(x, **u.kwargs), [a], served=f"{u.name}_",
          reference="torch")


@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "tanh", "sigmoid"])
def test_unary_complex_special_values(name, dtype):
    inf, nan = float("inf"), float("nan")
    values = [complex(inf, 0), complex(-inf, 0), complex(nan, 0), complex(0, nan), complex(0, 0),
              complex(1, 1), complex(-2, 0.5)]
    a = torch.tensor(values, dtype=dtype, device=DEVICE)
    check(aten_op(name), [a], served=name, reference="torch")


# ---- binary ops ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Binary:
    id: str
    name: str
    tensor: str                   # the Tensor-Tensor overload
    out: str
    inplace: str                  # overload of name_
    scalar: Optional[str] = None  # the Tensor-Scalar overloads, where aten has them
    scalar_out: Optional[str] = None
    scalar_inplace: Optional[str] = None
    kwargs: dict = field(default_factory=dict)
    a_range: tuple = (-3.0, 3.0)
    b_range: tuple = (-3.0, 3.0)
    nonzero_b: bool = False
    coarse: bool = False
    scalars: tuple = (2, -1.5)

    def overload(self, variant):
        """variant: tensor, out, inplace, scalar, scalar_out or scalar_inplace."""
        op_name = f"{self.name}_" if variant.endswith("inplace") else self.name
        return f"{op_name}.{getattr(self, variant)}"

    def op(self, variant="tensor"):
        return aten_op(self.overload(variant))

    def inputs(self, shape_a, shape_b, dtype_a, dtype_b=None):
        a = make(shape_a, dtype_a, DEVICE, *self.a_range)
        b = make(shape_b, dtype_b or dtype_a, DEVICE, *self.b_range, nonzero=self.nonzero_b)
        if self.coarse:
            a, b = coarse(a), coarse(b)
            if a.shape == b.shape and a.dtype == b.dtype and a.numel():
                b = torch.where(torch.rand(a.shape, device=DEVICE) < 0.3, a, b)
        return a, b


def _arith(id, name, **kw):
    return Binary(id, name, "Tensor", "out", "Tensor", "Scalar", "Scalar_out", "Scalar", **kw)


def _div_mode(id, mode):
    return Binary(id, "div", "Tensor_mode", "out_mode", "Tensor_mode", "Scalar_mode",
                  "Scalar_mode_out", "Scalar_mode", kwargs={"rounding_mode": mode},
                  nonzero_b=True)


def _compare(name):
    return Binary(name, name, "Tensor", "Tensor_out", "Tensor", "Scalar", "Scalar_out", "Scalar",
                  coarse=True)


def _logical(name):
    return Binary(name, name, "default", "out", "default", coarse=True,
                  a_range=(-1, 1), b_range=(-1, 1))


BINARY = [
    _arith("add", "add"),
    _arith("add_alpha", "add", kwargs={"alpha": 3}),
    _arith("sub", "sub"),
    _arith("sub_alpha", "sub", kwargs={"alpha": 0.5}),
    _arith("mul", "mul"),
    _arith("div", "div", nonzero_b=True),
    _div_mode("div_none", None),
    _div_mode("div_trunc", "trunc"),
    _div_mode("div_floor", "floor"),
    Binary("pow", "pow", "Tensor_Tensor", "Tensor_Tensor_out", "Tensor", "Tensor_Scalar",
           "Tensor_Scalar_out", "Scalar", a_range=(0.5, 2.0), b_range=(-2.0, 2.0),
           scalars=(2, 0.5)),
    *[_compare(name) for name in ("eq", "ne", "lt", "le", "gt", "ge")],
    _logical("logical_and"),
    _logical("logical_or"),
]
BINARY_IDS = [b.id for b in BINARY]


def binary_call(spec: Binary, variant="tensor"):
    op, kw = spec.op(variant), spec.kwargs
    if variant in ("out", "scalar_out"):
        return lambda a, b, o: op(a, b, out=o, **kw)
    return lambda a, b: op(a, b, **kw)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("spec", BINARY, ids=BINARY_IDS)
def test_binary(spec, dtype, shape):
    check(binary_call(spec), spec.inputs(shape, shape, dtype),
          served=spec.overload("tensor"))


BROADCASTS = [((3, 1, 5), (4, 5)), ((4, 5), (3, 1, 5)), ((33, 65), ()), ((), (2, 3)),
              ((5, 1), (1, 6)), ((1,), (7,)), ((0, 3), (1, 3))]


@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("spec", BINARY, ids=BINARY_IDS)
def test_binary_broadcast(spec, dtype, shapes):
    check(binary_call(spec), spec.inputs(*shapes, dtype),
          served=spec.overload("tensor"))


@pytest.mark.parametrize("layouts", [("transposed", "transposed"), ("transposed", "contiguous"),
                                     ("sliced", "contiguous"), ("contiguous", "expanded"),
                                     ("expanded", "sliced")], ids=str)
@pytest.mark.parametrize("dtype", [torch.bool, torch.int32, torch.float16, torch.float32,
                                   torch.complex64], ids=str)
@pytest.mark.parametrize("spec", BINARY, ids=BINARY_IDS)
def test_binary_layouts(spec, dtype, layouts):
    a, b = spec.inputs((6, 9), (6, 9), dtype)
    a, b = relayout(a, layouts[0]), relayout(b, layouts[1])
    check(binary_call(spec), [a, b], served=spec.overload("tensor"))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("spec", BINARY, ids=BINARY_IDS)
def test_binary_zero_dim_with_big(spec, dtype):
    big, small = spec.inputs((33, 65), (), dtype)
    check(binary_call(spec), [big, small], served=spec.overload("tensor"))
    check(binary_call(spec), [small, big], served=spec.overload("tensor"))


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.int32, torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("spec", BINARY, ids=BINARY_IDS)
def test_binary_cpu_zero_dim_with_cuda_tensor(spec, dtype):
    """A 0-d CPU tensor (not a wrapped number) may join CUDA tensors, as in torch."""
    big, small = spec.inputs((33, 65), (), dtype)
    small = small.cpu()
    check(binary_call(spec), [big, small], served=spec.overload("tensor"))
    check(binary_call(spec), [small, big], served=spec.overload("tensor"))


MIXED = [(torch.float16, torch.float32), (torch.bfloat16, torch.float32),
         (torch.float16, torch.bfloat16), (torch.float32, torch.float64),
         (torch.int32, torch.float32), (torch.int64, torch.float16), (torch.uint8, torch.int8),
         (torch.int32, torch.int64), (torch.bool, torch.int32), (torch.bool, torch.float32),
         (torch.float32, torch.complex64), (torch.int64, torch.complex128),
         (torch.float64, torch.complex64)]


@pytest.mark.parametrize("dtypes", MIXED, ids=str)
@pytest.mark.parametrize("spec", BINARY, ids=BINARY_IDS)
def test_binary_mixed_dtypes(spec, dtypes):
    a, b = spec.inputs((5, 7), (5, 7), *dtypes)
    check(binary_call(spec), [a, b], served=spec.overload("tensor"))
    check(binary_call(spec), [b, a], served=spec.overload("tensor"))


@pytest.mark.parametrize("dtypes", [(torch.float16, torch.float64), (torch.bfloat16, torch.float32),
                                    (torch.int32, torch.int64), (torch.int16, torch.float64),
                                    (torch.float32, torch.complex128)], ids=str)
@pytest.mark.parametrize("spec", BINARY, ids=BINARY_IDS)
def test_binary_zero_dim_does_not_promote(spec, dtypes):
    """A 0-d tensor of a wider dtype of the same kind leaves the result's dtype alone."""
    big, _ = spec.inputs((4, 6), (), dtypes[0])
    small = coarse(make((), dtypes[1], DEVICE, 0.5, 2))
    check(binary_call(spec), [big, small], served=spec.overload("tensor"))


@pytest.mark.parametrize("out_case", ["empty", "same", "wrong_shape", "transposed"])
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("spec", BINARY, ids=BINARY_IDS)
def test_binary_out(spec, dtype, out_case):
    a, b = spec.inputs((6, 9), (6, 9), dtype)
    out_dtype = result_dtype(binary_call(spec), a, b) or dtype
    out = {"empty": lambda: torch.empty(0, dtype=out_dtype, device=DEVICE),
           "same": lambda: make((6, 9), out_dtype, DEVICE),
           "wrong_shape": lambda: make((2, 3), out_dtype, DEVICE),
           "transposed": lambda: make((9, 6), out_dtype, DEVICE).t()}[out_case]()
    with quiet():
        check(binary_call(spec, "out"), [a, b, out], served=spec.overload("out"))


@pytest.mark.parametrize("spec", BINARY, ids=BINARY_IDS)
def test_binary_out_other_dtype(spec):
    """out= of a different dtype the result can be cast to."""
    a, b = spec.inputs((4, 6), (4, 6), torch.float32)
    out_dtype = torch.float32 if result_dtype(binary_call(spec), a, b) is torch.bool \
        else torch.float64
    out = torch.empty(0, dtype=out_dtype, device=DEVICE)
    check(binary_call(spec, "out"), [a, b, out], served=spec.overload("out"),
          tol_dtype=torch.float32)
    ints = spec.inputs((4, 6), (4, 6), torch.int32)
    out = torch.empty(0, dtype=torch.float32, device=DEVICE)
    # Integer results are computed in int32 and then converted: compare with torch itself.
    check(binary_call(spec, "out"), [*ints, out], served=spec.overload("out"),
          reference="torch")


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced"])
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("spec", BINARY, ids=BINARY_IDS)
def test_binary_inplace(spec, dtype, layout):
    a, b = spec.inputs((6, 9), (6, 9), dtype)
    a = relayout(a, layout)
    check(binary_call(spec, "inplace"), [a, b], served=spec.overload("inplace"))


@pytest.mark.parametrize("other_shape", [(9,), (1, 9), (6, 1), ()], ids=str)
@pytest.mark.parametrize("dtype", [torch.int64, torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("spec", BINARY, ids=BINARY_IDS)
def test_binary_inplace_broadcast_other(spec, dtype, other_shape):
    a, b = spec.inputs((6, 9), other_shape, dtype)
    check(binary_call(spec, "inplace"), [a, b], served=spec.overload("inplace"))


@pytest.mark.parametrize("dtypes", [(torch.float16, torch.float32), (torch.float32, torch.float16),
                                    (torch.float64, torch.int32), (torch.int64, torch.int8),
                                    (torch.bfloat16, torch.float64)], ids=str)
@pytest.mark.parametrize("spec", BINARY, ids=BINARY_IDS)
def test_binary_inplace_mixed_dtypes(spec, dtypes):
    a, b = spec.inputs((5, 7), (5, 7), *dtypes)
    check(binary_call(spec, "inplace"), [a, b],
          served=spec.overload("inplace"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.int32], ids=str)
@pytest.mark.parametrize("spec", BINARY, ids=BINARY_IDS)
def test_binary_inplace_self_as_other(spec, dtype):
    a, _ = spec.inputs((5, 7), (5, 7), dtype)
    check(lambda x: binary_call(spec, "inplace")(x, x), [a],
          served=spec.overload("inplace"))


SCALAR_SPECS = [s for s in BINARY if s.scalar]


@pytest.mark.parametrize("variant", ["scalar", "scalar_out", "scalar_inplace"])
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("spec", SCALAR_SPECS, ids=[s.id for s in SCALAR_SPECS])
def test_binary_scalar_overloads(spec, dtype, variant):
    a, _ = spec.inputs((5, 7), (5, 7), dtype)
    for scalar in spec.scalars:
        call = binary_call(spec, variant)
        if variant == "scalar_out":
            out_dtype = result_dtype(binary_call(spec, "scalar"), a, scalar) or dtype
            out = torch.empty(0, dtype=out_dtype, device=DEVICE)
            check(lambda x, o: call(x, scalar, o), [a, out],
                  served=spec.overload(variant))
        else:
            check(lambda x: call(x, scalar), [a], served=spec.overload(variant))


# ---- a Scalar operand as a constant of a unary kernel (ops/pointwise/constant.h) -------------
# float32/float64: any real scalar in range; fp16/bf16: values the dtype holds exactly (others,
# and non-dense inputs, take the wrapped-number road). Checked against torch's own result: a
# scalar the dtype does not hold (or one past its range) gives other results in float64.
CONSTANTS = [0.5, 3, -2, float("inf"), -float("inf"), -0.0, 0.1, 1e-5, 70000.0, 1e39]
CONSTANT_CALLS = [("mul.Scalar", lambda x, c: torch.ops.aten.mul.Scalar(x, c)),
                  ("add.Scalar", lambda x, c: torch.ops.aten.add.Scalar(x, c)),
                  ("sub.Scalar", lambda x, c: torch.ops.aten.sub.Scalar(x, c)),
                  ("eq.Scalar", torch.eq), ("ne.Scalar", torch.ne), ("lt.Scalar", torch.lt),
                  ("le.Scalar", torch.le), ("gt.Scalar", torch.gt), ("ge.Scalar", torch.ge)]


def _constant_served(overload, dtype, c):
    """On cuda, a 2-byte float compared with a Scalar its dtype does not hold goes to torch's
    kernel (ops/pointwise/compare.cpp: torch compares in float)."""
    compare = overload.split(".")[0] in ("eq", "ne", "lt", "le", "gt", "ge")
    held = not math.isfinite(c) or torch.tensor(c, dtype=torch.float64).to(dtype).double().item() == c
    return None if DEVICE == "cuda" and dtype.itemsize == 2 and compare and not held else overload


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_scalar_constants(dtype):
    x = with_specials(make((33, 64), dtype))
    reference = "torch"
    for overload, fn in CONSTANT_CALLS:
        for c in CONSTANTS:
            check(lambda t: fn(t, c), [x], served=_constant_served(overload, dtype, c), reference=reference)
        check(lambda t: fn(t, 0.5), [x.t()], served=overload, reference=reference)
        check(lambda t: fn(t, 2), [x[:, ::2]], served=overload, reference=reference)
        check(lambda t: fn(t, -1.5), [make((), dtype)], served=overload, reference=reference)
        check(lambda t: fn(t, 4), [make((0, 3), dtype)], served=overload, reference=reference)
    check(lambda t: torch.ops.aten.add.Scalar(t, 3, alpha=2), [x], served="add.Scalar")


# ---- the Python operators ---------------------------------------------------------------------

PYTHON_CALLS = [
    ("a + b", lambda a, b: a + b, "add.Tensor"),
    ("a - b", lambda a, b: a - b, "sub.Tensor"),
    ("a * b", lambda a, b: a * b, "mul.Tensor"),
    ("a / b", lambda a, b: a / b, "div.Tensor"),
    ("a ** b", lambda a, b: a ** b, "pow.Tensor_Tensor"),
    ("a == b", lambda a, b: a == b, "eq.Tensor"),
    ("a != b", lambda a, b: a != b, "ne.Tensor"),
    ("a < b", lambda a, b: a < b, "lt.Tensor"),
    ("a <= b", lambda a, b: a <= b, "le.Tensor"),
    ("a > b", lambda a, b: a > b, "gt.Tensor"),
    ("a >= b", lambda a, b: a >= b, "ge.Tensor"),
    ("a + 2.5", lambda a, b: a + 2.5, "add.Tensor"),
    ("a + 3", lambda a, b: a + 3, "add.Tensor"),
    ("2 * a", lambda a, b: 2 * a, "mul.Tensor"),
    ("a * -1.5", lambda a, b: a * -1.5, "mul.Tensor"),
    ("a - 1", lambda a, b: a - 1, "sub.Tensor"),
    ("a / 2", lambda a, b: a / 2, "div.Tensor"),
    ("a ** 2", lambda a, b: a ** 2, "pow.Tensor_Scalar"),
    ("a ** 0.5", lambda a, b: a ** 0.5, "pow.Tensor_Scalar"),
    ("2 ** a", lambda a, b: 2 ** a, "pow.Scalar"),
    ("a == 1", lambda a, b: a == 1, "eq.Scalar"),
    ("a > 0.5", lambda a, b: a > 0.5, "gt.Scalar"),
    ("-a", lambda a, b: -a, "neg"),
    ("abs(a)", lambda a, b: abs(a), "abs"),
    ("torch.add(a, b, alpha=2)", lambda a, b: torch.add(a, b, alpha=2), "add.Tensor"),
    ("torch.where(a > b, a, b)", lambda a, b: torch.where(a > b, a, b), "where.self"),
    ("torch.where(a > b, a, 2.0)", lambda a, b: torch.where(a > b, a, 2.0), "where.self"),
    ("a.clamp(min=0.5)", lambda a, b: a.clamp(min=0.5), "clamp"),
    ("a.clamp(b)", lambda a, b: a.clamp(b), "clamp.Tensor"),
    ("a.to(float64)", lambda a, b: a.to(torch.float64), "copy_"),
    ("a.clone()", lambda a, b: a.clone(), "copy_"),
]


@pytest.mark.parametrize("dtype", [torch.int64, torch.float16, torch.bfloat16, torch.float32],
                         ids=str)
@pytest.mark.parametrize("case", PYTHON_CALLS, ids=[c[0] for c in PYTHON_CALLS])
def test_python_operators(case, dtype):
    _, call, overload = case
    a = make((5, 7), dtype, DEVICE, 1, 3)
    b = make((5, 7), dtype, DEVICE, 1, 3, nonzero=True)
    check(call, [a, b], served=overload)


PYTHON_INPLACE = [
    ("a += b", lambda a, b: a.__iadd__(b), "add_.Tensor"),
    ("a -= 1", lambda a, b: a.__isub__(1), "sub_.Tensor"),
    ("a *= b", lambda a, b: a.__imul__(b), "mul_.Tensor"),
    ("a *= 2", lambda a, b: a.__imul__(2), "mul_.Tensor"),
    ("a /= b", lambda a, b: a.__itruediv__(b), "div_.Tensor"),
    ("a **= 2", lambda a, b: a.__ipow__(2), "pow_.Scalar"),
    ("a.relu_()", lambda a, b: a.relu_(), "relu_"),
    ("F.silu(inplace)", lambda a, b: F.silu(a, inplace=True), "silu_"),
    ("a.fill_(1.5)", lambda a, b: a.fill_(1.5), "fill_.Scalar"),
    ("a.copy_(b)", lambda a, b: a.copy_(b), "copy_"),
]


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("case", PYTHON_INPLACE, ids=[c[0] for c in PYTHON_INPLACE])
def test_python_inplace_operators(case, dtype):
    _, call, overload = case
    a = make((5, 7), dtype, DEVICE, 1, 3)
    b = make((5, 7), dtype, DEVICE, 1, 3, nonzero=True)
    check(call, [a, b], served=overload)


# ---- clamp --------------------------------------------------------------------------------------

CLAMP_BOUNDS = {"min": (-1.5, None), "max": (None, 1.5), "both": (-1.5, 1.5),
                "min_above_max": (1.5, -1.5), "int_both": (-1, 2)}


@pytest.mark.parametrize("bounds", list(CLAMP_BOUNDS), ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_clamp_scalar(dtype, bounds):
    lo, hi = CLAMP_BOUNDS[bounds]
    a = make((6, 9), dtype, DEVICE)
    check(lambda x: torch.clamp(x, min=lo, max=hi), [a], served="clamp")
    out_dtype = result_dtype(lambda x: torch.clamp(x, min=lo, max=hi), a) or dtype
    check(lambda x, o: torch.clamp(x, min=lo, max=hi, out=o),
          [a, torch.empty(0, dtype=out_dtype, device=DEVICE)], served="clamp.out")
    check(lambda x: x.clamp_(min=lo, max=hi), [laid_out("sliced", (6, 9), dtype)],
          served="clamp_")


@pytest.mark.parametrize("bounds", ["min", "max", "both", "min_above_max"])
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_clamp_tensor(dtype, bounds):
    a = make((6, 9), dtype, DEVICE)
    lo = make((9,), dtype, DEVICE, -2, 0)
    hi = make((6, 1), dtype, DEVICE, 0, 2)
    if bounds == "min_above_max":
        lo, hi = make((9,), dtype, DEVICE, 3, 4), make((6, 1), dtype, DEVICE, 1, 2)
    lo = None if bounds == "max" else lo
    hi = None if bounds == "min" else hi

    def served(overload):  # bool bounds: torch's kernel serves them, by design
        return None if dtype is torch.bool else overload

    check(lambda x, l, h: torch.clamp(x, l, h), [a, lo, hi], served=served("clamp.Tensor"))
    out_dtype = result_dtype(lambda x: torch.clamp(x, lo, hi), a) or dtype
    check(lambda x, l, h, o: torch.clamp(x, l, h, out=o),
          [a, lo, hi, torch.empty(0, dtype=out_dtype, device=DEVICE)],
          served=served("clamp.Tensor_out"))
    check(lambda x, l, h: x.clamp_(l, h), [laid_out("transposed", (6, 9), dtype), lo, hi],
          served=served("clamp_.Tensor"))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_clamp_special_values(dtype):
    a = with_specials(make((64,), dtype, DEVICE))
    check(lambda x: torch.clamp(x, -1.5, 1.5), [a], served="clamp",
          reference="torch")
    check(lambda x: torch.clamp(x, min=0.5), [a], served="clamp", reference="torch")
    lo = with_specials(make((64,), dtype, DEVICE, -2, -1)).flip(0)
    hi = make((64,), dtype, DEVICE, 1, 2)
    check(lambda x, l, h: torch.clamp(x, l, h), [a, lo, hi], served="clamp.Tensor",
          reference="torch")
    check(lambda x, l: torch.clamp(x, max=l), [a, lo], served="clamp.Tensor",
          reference="torch")


@pytest.mark.parametrize("dtype", [torch.int32, torch.float16], ids=str)
def test_clamp_promotes_like_torch(dtype):
    a = make((5, 7), dtype, DEVICE)
    check(lambda x: torch.clamp(x, min=0.5), [a], served="clamp")
    lo = make((7,), torch.float32, DEVICE, -1, 0)
    check(lambda x, l: torch.clamp(x, min=l), [a, lo], served="clamp.Tensor")


# ---- pow ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("exponent", [2, 3, 0, 1, -1, -2, 0.5, -0.5, 1.7, -2.5], ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_pow_tensor_scalar(dtype, exponent):
    """Integer powers (including the squares and roots torch special-cases) of a tensor."""
    if float(exponent).is_integer():
        base = make((6, 9), dtype, DEVICE, -3, 3, nonzero=exponent < 0)
    else:
        base = make((6, 9), dtype, DEVICE, 0.25, 3)
    check(lambda x: torch.pow(x, exponent), [base], served="pow.Tensor_Scalar")
    out_dtype = result_dtype(lambda x: torch.pow(x, exponent), base) or dtype
    check(lambda x, o: torch.pow(x, exponent, out=o),
          [base, torch.empty(0, dtype=out_dtype, device=DEVICE)],
          served="pow.Tensor_Scalar_out")
    check(lambda x: x.pow_(exponent), [base], served="pow_.Scalar")


@pytest.mark.parametrize("base", [2, 3, 0.5, -2, 1.5], ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_pow_scalar_base(dtype, base):
    """Scalar ** Tensor (`2 ** t`), pow.Scalar."""
    integral = not (dtype.is_floating_point or dtype.is_complex)
    exponent = make((6, 9), dtype, DEVICE, *((0, 5) if integral else (-2, 2)))
    check(lambda e: torch.pow(base, e), [exponent], served="pow.Scalar")
    out_dtype = result_dtype(lambda e: torch.pow(base, e), exponent) or dtype
    check(lambda e, o: torch.pow(base, e, out=o),
          [exponent, torch.empty(0, dtype=out_dtype, device=DEVICE)],
          served="pow.Scalar_out")


@pytest.mark.parametrize("dtype", INTS, ids=str)
def test_pow_integer_tensors(dtype):
    base = make((6, 9), dtype, DEVICE, -3, 3)
    exponent = make((6, 9), dtype, DEVICE, 0, 4)
    check(torch.pow, [base, exponent], served="pow.Tensor_Tensor")
    check(lambda b, e: b.pow_(e), [base, exponent], served="pow_.Tensor")
    check(lambda b, e: torch.pow(b, e, out=torch.empty_like(b)), [base, exponent],
          served="pow.Tensor_Tensor_out")
    if dtype is not torch.uint8:
        negative = make((6, 9), dtype, DEVICE, -3, -1)  # torch defines these (0, 1 or -1)
        check(torch.pow, [base, negative], served="pow.Tensor_Tensor")


# ---- where --------------------------------------------------------------------------------------

WHERE_SHAPES = [((6, 9), (6, 9), (6, 9)), ((3, 1, 5), (4, 5), (1,)), ((), (4, 5), (4, 5)),
                ((4, 1), (), (1, 5)), ((0,), (0,), (1,)), ((33, 65), (33, 65), ())]


@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_where(dtype, shapes):
    cond = make(shapes[0], torch.bool, DEVICE)
    a, b = make(shapes[1], dtype, DEVICE), make(shapes[2], dtype, DEVICE)
    check(torch.where, [cond, a, b], served="where.self")
    out_dtype = torch.where(cond, a, b).dtype
    check(lambda c, x, y, o: torch.where(c, x, y, out=o),
          [cond, a, b, torch.empty(0, dtype=out_dtype, device=DEVICE)],
          served="where.self_out")


@pytest.mark.parametrize("dtypes", MIXED, ids=str)
def test_where_mixed_dtypes(dtypes):
    cond = make((5, 7), torch.bool, DEVICE)
    a, b = make((5, 7), dtypes[0], DEVICE), make((5, 7), dtypes[1], DEVICE)
    check(torch.where, [cond, a, b], served="where.self")


@pytest.mark.parametrize("layout", ["transposed", "sliced", "expanded"])
def test_where_layouts(layout):
    cond = laid_out(layout, (6, 9), torch.bool)
    a = laid_out("transposed", (6, 9), torch.float32)
    b = laid_out(layout, (6, 9), torch.float32)
    check(torch.where, [cond, a, b], served="where.self")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_where_special_values(dtype):
    cond = make((64,), torch.bool, DEVICE)
    a = with_specials(make((64,), dtype, DEVICE))
    b = with_specials(make((64,), dtype, DEVICE)).flip(0)
    check(torch.where, [cond, a, b], served="where.self", reference="torch")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_comparisons_special_values(dtype):
    a = with_specials(make((64,), dtype, DEVICE))
    b = torch.cat([a[:32], with_specials(make((32,), dtype, DEVICE)).flip(0)])
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        check(aten_op(f"{name}.Tensor"), [a, b], served=f"{name}.Tensor")
        check(lambda x: aten_op(f"{name}.Scalar")(x, float("inf")), [a], served=f"{name}.Scalar")
        check(lambda x: aten_op(f"{name}.Scalar")(x, float("nan")), [a], served=f"{name}.Scalar")


# ---- fill_ --------------------------------------------------------------------------------------

FILL_VALUES = [3, -2, 2.5, True, False, 0, 1e10, complex(1.5, -2)]


FILL_TARGETS = {
    "contiguous": lambda dtype: make((6, 9), dtype, DEVICE),
    "sliced": lambda dtype: laid_out("sliced", (6, 9), dtype),
    "0-d": lambda dtype: make((), dtype, DEVICE),
    "empty": lambda dtype: make((0, 4), dtype, DEVICE),
    "long": lambda dtype: make((1023,), dtype, DEVICE),
}


@pytest.mark.parametrize("target", list(FILL_TARGETS))
@pytest.mark.parametrize("value", FILL_VALUES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_fill_scalar(dtype, value, target):
    """Values out of the dtype's range raise in torch (also for an empty tensor)."""
    check(lambda t: t.fill_(value), [FILL_TARGETS[target](dtype)], served="fill_.Scalar",
          reference="exact")


@pytest.mark.parametrize("value_dtype", [torch.float32, torch.int64, torch.bool, torch.float16],
                         ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_fill_tensor(dtype, value_dtype):
    value = make((), value_dtype, DEVICE, 1, 3)
    for target in (make((6, 9), dtype, DEVICE), laid_out("transposed", (6, 9), dtype),
                   make((), dtype, DEVICE)):
        check(lambda t, v: t.fill_(v), [target, value], served="fill_.Tensor",
              reference="exact")
    check(lambda t, v: t.fill_(v), [make((6, 9), dtype, DEVICE), value.cpu()],
          served="fill_.Tensor", reference="exact")


@pytest.mark.parametrize("value", [1000, -129, 3.75, complex(1.5, -2), True], ids=str)
@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int8, torch.int32, torch.float16,
                                   torch.float32, torch.complex64], ids=str)
def test_fill_tensor_converts_like_copy(dtype, value):
    """fill_.Tensor converts its value the way a copy does (wrapping, truncating, dropping the
    imaginary part), where fill_.Scalar would check for overflow."""
    value = torch.tensor(value, device=DEVICE)
    with quiet():
        check(lambda t, v: t.fill_(v), [make((4, 5), dtype, DEVICE), value],
              served="fill_.Tensor", reference="exact")


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int32], ids=str)
def test_fill_tensor_with_cuda_value(dtype):
    value = make((), torch.float32, "cuda", 1, 3)
    check(lambda t, v: t.fill_(v), [make((33, 65), dtype, "cuda"), value],
          served="fill_.Tensor", reference="exact")


def test_fill_tensor_value_must_be_zero_dim():
    check(lambda t, v: t.fill_(v), [make((4,), torch.float32, DEVICE),
                                     make((2,), torch.float32, DEVICE)])


# ---- copy_ --------------------------------------------------------------------------------------

def copy_source(shape, src_dtype, dst_dtype):
    """Values every dtype pair converts without overflow (no negatives into uint8), with zeros
    and fractions, so that float->int truncation and x->bool are exercised."""
    low = 0 if dst_dtype is torch.uint8 or src_dtype is torch.uint8 else -100
    src = make(shape, src_dtype, DEVICE, low, 100)
    keep = make(shape, torch.bool, DEVICE)
    return torch.where(keep, src, torch.zeros((), dtype=src_dtype, device=DEVICE))


@pytest.mark.parametrize("dst_dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("src_dtype", ALL_DTYPES, ids=str)
def test_copy_casts(src_dtype, dst_dtype):
    src = copy_source((33, 65), src_dtype, dst_dtype)
    with quiet():  # complex -> real warns that the imaginary part is discarded
        check(lambda d, s: d.copy_(s), [make((33, 65), dst_dtype, DEVICE), src],
              served="copy_", reference="exact")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_copy_shapes(dtype, shape):
    check(lambda d, s: d.copy_(s), [make(shape, dtype, DEVICE), make(shape, dtype, DEVICE)],
          served="copy_", reference="exact")


@pytest.mark.parametrize("src_shape", [(9,), (1, 9), (6, 1), ()], ids=str)
@pytest.mark.parametrize("dtypes", [(torch.float32, torch.float32), (torch.float16, torch.float32),
                                    (torch.int64, torch.bfloat16)], ids=str)
def test_copy_broadcasts_source(dtypes, src_shape):
    dst = make((6, 9), dtypes[0], DEVICE)
    src = make(src_shape, dtypes[1], DEVICE)
    check(lambda d, s: d.copy_(s), [dst, src], served="copy_", reference="exact")


@pytest.mark.parametrize("layouts", [("sliced", "contiguous"), ("transposed", "contiguous"),
                                     ("contiguous", "transposed"), ("sliced", "expanded"),
                                     ("transposed", "sliced")], ids=str)
@pytest.mark.parametrize("dtypes", [(torch.float32, torch.float32), (torch.bfloat16, torch.float32),
                                    (torch.int8, torch.float64), (torch.bool, torch.int32)],
                         ids=str)
def test_copy_layouts(dtypes, layouts):
    dst = laid_out(layouts[0], (6, 9), dtypes[0])
    src = laid_out(layouts[1], (6, 9), dtypes[1], -100, 100)
    check(lambda d, s: d.copy_(s), [dst, src], served="copy_", reference="exact")


def test_copy_onto_itself():
    a = make((6, 9), torch.float32, DEVICE)
    check(lambda x: x.copy_(x), [a], reference="exact")


@pytest.mark.parametrize("dtype", [torch.float16, torch.int32, torch.bool, torch.complex64],
                         ids=str)
def test_to_dtype_goes_through_copy(dtype):
    a = make((6, 9), torch.float32, DEVICE, 0, 100)
    with quiet():
        check(lambda x: x.to(dtype), [a], served="copy_",
              reference="exact")
        check(lambda x: x.t().contiguous(), [a], served="copy_",
              reference="exact")


def synchronized(result):
    torch.cuda.synchronize()
    return result


@pytest.mark.cuda
@pytest.mark.parametrize("dtypes", [(torch.float32, torch.float32), (torch.float16, torch.float32),
                                    (torch.int64, torch.int32), (torch.bfloat16, torch.bool)],
                         ids=str)
@pytest.mark.parametrize("direction", ["cpu_to_cuda", "cuda_to_cpu"])
def test_copy_across_devices(direction, dtypes):
    """A fallback path (torch copies between devices); the result must still be right."""
    dst_device, src_device = ("cuda", "cpu") if direction == "cpu_to_cuda" else ("cpu", "cuda")
    for dst, src in [(make((33, 65), dtypes[0], dst_device), make((33, 65), dtypes[1], src_device)),
                     (make((65, 33), dtypes[0], dst_device).t(),
                      make((33, 65), dtypes[1], src_device)),
                     (make((33, 65), dtypes[0], dst_device), make((65,), dtypes[1], src_device))]:
        check(lambda d, s: d.copy_(s), [dst, src], reference="exact")
        check(lambda d, s: synchronized(d.copy_(s, non_blocking=True)), [dst, src],
              reference="exact")
    moved = make((33, 65), dtypes[1], src_device)
    check(lambda s: s.to(dst_device, dtypes[0]), [moved], reference="exact")


def test_copy_cpu_backend_to_cpu():
    """The cpu backend with plain CPU tensors, on any machine."""
    dst = make((6, 9), torch.float16, "cpu")
    src = make((6, 9), torch.float32, "cpu")
    check(lambda d, s: d.copy_(s), [dst, src], served="copy_", reference="exact",
          backends=["cpu"])


# ---- every row of the table, from its schema --------------------------------------------------

def _functional_of(overload):
    """The functional overload with the same inputs as an out= or in-place overload."""
    packet_name, _, _ = full_name(overload).partition(".")
    schema = aten_op(overload)._schema
    inputs = [(a.name, str(a.type)) for a in schema.arguments if not a.is_out]
    packet = getattr(torch.ops.aten, packet_name.rstrip("_"))
    for name in packet.overloads():
        candidate = getattr(packet, name)._schema
        if any(a.is_out for a in candidate.arguments):
            continue
        if [(a.name, str(a.type)) for a in candidate.arguments] == inputs:
            return getattr(packet, name)
    return None


def _argument(arg, dtype):
    kind = str(arg.type)
    floating = dtype.is_floating_point or dtype.is_complex
    low, high = (0.5, 2.0) if floating else (1, 3)
    if arg.name == "condition":
        return make((3, 5), torch.bool, DEVICE)
    if arg.name in ("min", "max"):
        bound = (0.75 if floating else 1) if arg.name == "min" else (1.5 if floating else 2)
        if kind.endswith("Tensor]") or kind == "Tensor":
            return make((5,), dtype, DEVICE, bound, bound)
        return bound
    if kind == "Tensor":
        if arg.name == "value":
            return make((), dtype, DEVICE, low, high)
        return make((3, 5), dtype, DEVICE, low, high)
    if arg.has_default_value():
        return None
    if kind == "number":
        return 2
    if kind == "Optional[str]":
        return "floor"
    raise AssertionError(f"no test argument for {arg}")


_POINTWISE_BASES = {base_name(name).rstrip("_") for name in POINTWISE_OVERLOADS}
ROWS = sorted(row.overload for row in gemforge.registered_ops()
              if base_name(full_name(row.overload)).rstrip("_") in _POINTWISE_BASES and not row.via)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64], ids=str)
@pytest.mark.parametrize("overload", ROWS)
def test_every_registered_overload(overload, dtype):
    op = aten_op(overload)
    names, values, out_name = [], [], None
    for arg in op._schema.arguments:
        if arg.is_out:
            out_name = arg.name
            continue
        value = _argument(arg, dtype)
        if value is not None:
            names.append(arg.name)
            values.append(value)
    if out_name is not None:
        functional = _functional_of(overload)
        assert functional is not None, f"no functional overload for {overload}"
        out_dtype = result_dtype(lambda *v: functional(**dict(zip(names, v))), *values) or dtype
        names.append(out_name)
        values.append(torch.empty(0, dtype=out_dtype, device=DEVICE))
    check(lambda *v: op(**dict(zip(names, v))), values, served=overload)


# ---- transposes big enough for the tiled kernel (32 x 32 tiles; edges not tile multiples) ------

TILED_SHAPES = [(33, 65), (64, 96), (100, 37), (4, 40, 70)]


def turned(t: torch.Tensor) -> torch.Tensor:
    """t's values with its last two dimensions stored the other way round."""
    return t.transpose(-1, -2).contiguous().transpose(-1, -2)


@pytest.mark.parametrize("shape", TILED_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [torch.bool, torch.int64, torch.bfloat16, torch.float32,
                                   torch.float64, torch.complex64], ids=str)
def test_tiled_transposed_operands(dtype, shape):
    a, b = make(shape, dtype, DEVICE), make(shape, dtype, DEVICE)
    check(torch.add, [turned(a), b], served="add.Tensor")
    check(torch.add, [a, turned(b)], served="add.Tensor")
    check(torch.eq, [turned(a), b], served="eq.Tensor")
    cond = make(shape, torch.bool, DEVICE)
    check(torch.where, [turned(cond), a, b], served="where.self")
    check(torch.where, [cond, turned(a), b], served="where.self")
    check(lambda x, y: x.add_(y), [a.clone(), turned(b)], served="add_.Tensor")
    out = turned(torch.empty(shape, dtype=dtype, device=DEVICE))
    check(lambda x, y, o: torch.add(x, y, out=o), [a, b, out], served="add.out")


@pytest.mark.parametrize("shape", TILED_SHAPES, ids=str)
@pytest.mark.parametrize("dtypes", [(torch.float32, torch.float32), (torch.bfloat16, torch.float32),
                                    (torch.int8, torch.float64), (torch.bool, torch.bool)], ids=str)
def test_tiled_transposing_copy(dtypes, shape):
    src = make(shape, dtypes[1], DEVICE, -100, 100)
    check(lambda d, s: d.copy_(s), [make(shape, dtypes[0], DEVICE), turned(src)], served="copy_",
          reference="exact")
    check(lambda s: s.transpose(-1, -2).contiguous(), [src], served="copy_", reference="exact")


@pytest.mark.parametrize("shape", TILED_SHAPES, ids=str)
def test_tiled_with_broadcast_and_scalar(shape):
    a = make(shape, torch.float32, DEVICE)
    row = make(shape[:-2] + (1, shape[-1]), torch.float32, DEVICE)
    check(torch.mul, [turned(a), row], served="mul.Tensor")
    check(lambda x: torch.mul(x, 2.5), [turned(a)], served="mul.Tensor")
    check(lambda x, y: x + y, [turned(a), make((), torch.float32, DEVICE)], served="add.Tensor")


# ---- a Python number as the second operand, on every layout ------------------------------------
# The number reaches the binary op as a CPU scalar; the cuda engine binds it into a unary kernel
# (dense, inner or tiled) where the layout allows, else runs the strided binary kernel.
TENSOR_SCALAR = {
    "add": lambda x: x + 0.5,
    "sub": lambda x: x - 3,
    "mul": lambda x: x * 1e-5,
    "div": lambda x: x / 3.0,
    "ne": lambda x: x != 1.0,
    "lt": lambda x: x < 0.25,
    # a 0-d CPU tensor operand is a CPU scalar too
    "maximum": lambda x: torch.maximum(x, torch.tensor(0.5 if x.is_floating_point() else 1, dtype=x.dtype)),
}


@pytest.mark.parametrize("layout", ["contig", "transposed", "expanded", "sliced", "odd"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.int32], ids=str)
@pytest.mark.parametrize("name", list(TENSOR_SCALAR))
def test_tensor_scalar_layouts(name, dtype, layout):
    fn = TENSOR_SCALAR[name]
    base = make((48, 40), dtype, DEVICE)
    x = {"contig": base, "transposed": base.t(), "expanded": base[:1].expand(48, 40),
         "sliced": base[:, 1:33], "odd": make((7, 3, 5), dtype, DEVICE)}[layout]
    check(fn, [x])


@pytest.mark.parametrize("layout", ["contig", "transposed", "sliced"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_mul_number_unrounded(dtype, layout):
    """torch's mul kernels multiply a fp16/bf16 tensor by a Python number taken in float, not
    rounded to the tensor's dtype first: gemforge's results are torch's bit for bit, in every
    form (1e-5 is not a bf16 value: rounding it first changes about a quarter of the results)."""
    base = make((48, 40), dtype, DEVICE)
    x = {"contig": base, "transposed": base.t(), "sliced": base[:, 1:33]}[layout]
    check(lambda a: a * 1e-5, [x], served="mul.Tensor", reference="exact")
    check(lambda a: torch.ops.aten.mul.Scalar(a, 1e-5), [x], served="mul.Scalar",
          reference="exact")
    check(lambda a: a.mul_(1e-5), [x.clone()], served="mul_.Tensor", reference="exact")
    # (torch's cpu mul_.Scalar does round the number: it passes it as mul.out's first operand)
    check(lambda a: torch.ops.aten.mul_.Scalar(a, 1e-5), [x.clone()], served="mul_.Scalar",
          reference="exact")
    check(lambda a, o: torch.mul(a, 1e-5, out=o), [x, make(x.shape, dtype, DEVICE)],
          served="mul.out", reference="exact")
    # a 0-d float32 tensor is taken unrounded too (torch's is_scalar operand)
    check(lambda a: a * torch.tensor(1e-5), [x], served="mul.Tensor", reference="exact")


@pytest.mark.parametrize("layout", ["contig", "transposed", "sliced"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=str)
def test_div_number_as_torch(dtype, layout):
    """A number divisor as torch's kernels take it: on the cpu, of a fp16/bf16 tensor, unrounded
    (0.3 is not a bf16 value: rounding it first changed 556 of 3072 bf16 quotients); on cuda, true
    division as a product with the reciprocal. Bit for bit with torch: every form on the cpu, true
    division on cuda."""
    base = make((48, 40), dtype, DEVICE)
    x = {"contig": base, "transposed": base.t(), "sliced": base[:, 1:33]}[layout]
    check(lambda a: a / 0.3, [x], served="div.Tensor", reference="exact")
    check(lambda a: a / torch.tensor(0.3), [x], served="div.Tensor", reference="exact")
    check(lambda a: torch.ops.aten.div.Scalar(a, 0.3), [x], served="div.Scalar", reference="exact")
    check(lambda a: a.div_(0.3), [x.clone()], served="div_.Tensor", reference="exact")
    check(lambda a, o: torch.div(a, 0.3, out=o), [x, make(x.shape, dtype, DEVICE)], served="div.out",
          reference="exact")
    if DEVICE == "cpu":
        # (on cuda torch rounds a * (1 / b) with its own fix-ups, which gemforge's a / b does not
        # follow: a quotient within rounding of an integer can land a step apart from it, and from
        # float64; the rounded modes' cuda tests are in the binary op tables)
        for mode in ("trunc", "floor"):
            check(lambda a, m=mode: torch.div(a, -0.3, rounding_mode=m), [x], served="div.Tensor_mode",
                  reference="exact")
            check(lambda a, m=mode: a.div_(0.3, rounding_mode=m), [x.clone()], served="div_.Tensor_mode",
                  reference="exact")
        check(lambda a: torch.floor_divide(a, 0.3), [x], served="floor_divide", reference="exact")
        check(lambda a: a.floor_divide_(-0.3), [x.clone()], served="floor_divide_.Tensor", reference="exact")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_pow_number_exponent_as_torch(dtype):
    """torch's cpu pow of a fp16/bf16 tensor rounds a number exponent to the tensor's dtype first
    (1.3 is not a bf16 value): gemforge's results are torch's bit for bit there; on cuda against
    float64. An exponent beyond the dtype's range raises torch's error on the cpu."""
    x = make((48, 40), dtype, DEVICE, low=0.1, high=4)
    reference = "exact" if DEVICE == "cpu" else "float64"
    check(lambda a: a ** 1.3, [x], served="pow.Tensor_Scalar", reference=reference)
    check(lambda a: a.pow_(1.3), [x.clone()], served="pow_.Scalar", reference=reference)
    check(lambda a, o: torch.pow(a, 1.3, out=o), [x, make(x.shape, dtype, DEVICE)],
          served="pow.Tensor_Scalar_out", reference=reference)
    check(lambda a: a ** 1e40, [x])  # the same outcome: torch's error on the cpu, inf on cuda
