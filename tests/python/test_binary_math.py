"""More binary math: atan2, copysign, maximum, minimum, fmax, fmin, fmod, remainder, floor_divide,
gcd, lcm, heaviside, hypot, logaddexp, logaddexp2, nextafter, rsub, lerp, addcmul, addcdiv,
clamp_min, clamp_max, and the composite aliases that decompose into served overloads.

Each case goes through conftest.check (float64 reference for floating results, exact for integers
and bool; where torch raises, gemforge must raise the same type) and names the overload gemforge
must have served.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Optional

import pytest
import torch

import gemforge
from conftest import (quiet, result_dtype, ALL_DTYPES, DEVICE, FLOATS, INTS, aten_op, check, make, with_specials)


def transposed(t):
    return t.t().contiguous().t()


def real_only(dtype):
    """served= for ops whose complex form is torch's kernel (lerp, addcmul, addcdiv)."""
    return lambda overload: None if dtype.is_complex else overload


# ---- Tensor-Tensor binary ops -------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    name: str
    tensor: str = "default"               # overload names of name / name_
    out: str = "out"
    inplace: Optional[str] = "default"    # None: torch has no in-place form
    scalar: bool = False                  # Scalar, Scalar_out and _.Scalar overloads
    a_range: tuple = (-3.0, 3.0)
    b_range: tuple = (-3.0, 3.0)
    nonzero_b: bool = False
    reference: str = "float64"

    def served(self, variant, dtype):
        """The overload gemforge must serve; complex inputs are torch's kernels' (logaddexp's
        complex kernel; the others raise)."""
        return None if dtype.is_complex else self.overload(variant)

    def overload(self, variant):
        return {"tensor": f"{self.name}.{self.tensor}", "out": f"{self.name}.{self.out}",
                "inplace": f"{self.name}_.{self.inplace}", "scalar": f"{self.name}.Scalar",
                "scalar_out": f"{self.name}.Scalar_out",
                "scalar_inplace": f"{self.name}_.Scalar"}[variant]

    def call(self, variant="tensor"):
        op = aten_op(self.overload(variant))
        if variant.endswith("out"):
            return lambda a, b, o: op(a, b, out=o)
        return lambda a, b: op(a, b)

    def inputs(self, shape_a, shape_b, dtype_a, dtype_b=None):
        a = make(shape_a, dtype_a, DEVICE, *self.a_range)
        b = make(shape_b, dtype_b or dtype_a, DEVICE, *self.b_range, nonzero=self.nonzero_b)
        return a, b


SPECS = [
    Spec("atan2"),
    Spec("copysign", tensor="Tensor", inplace="Tensor", scalar=True),
    Spec("maximum", inplace=None),
    Spec("minimum", inplace=None),
    Spec("fmax", inplace=None),
    Spec("fmin", inplace=None),
    Spec("fmod", tensor="Tensor", out="Tensor_out", inplace="Tensor", scalar=True, nonzero_b=True),
    Spec("remainder", tensor="Tensor", out="Tensor_out", inplace="Tensor", scalar=True,
         nonzero_b=True),
    Spec("floor_divide", inplace="Tensor", scalar=True, nonzero_b=True),
    Spec("gcd", a_range=(-40, 40), b_range=(-40, 40)),
    Spec("lcm", a_range=(-12, 12), b_range=(-12, 12)),
    Spec("heaviside"),
    Spec("hypot"),
    Spec("logaddexp", inplace=None, a_range=(-6, 6), b_range=(-6, 6)),
    Spec("logaddexp2", inplace=None, a_range=(-6, 6), b_range=(-6, 6)),
    # One ulp away from a: the float64 reference would say nothing; torch's result is exact.
    Spec("nextafter", reference="exact"),
]
IDS = [s.name for s in SPECS]
SCALAR_SPECS = [s for s in SPECS if s.scalar]
INPLACE_SPECS = [s for s in SPECS if s.inplace]
SHAPES = [(), (0,), (7,), (2, 3, 5, 7)]
BROADCASTS = [((3, 1, 5), (4, 5)), ((33, 65), ()), ((), (2, 3)), ((0, 3), (1, 3))]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_binary(spec, dtype, shape):
    check(spec.call(), spec.inputs(shape, shape, dtype), served=spec.served("tensor", dtype),
          reference=spec.reference)


@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
@pytest.mark.parametrize("dtype", [torch.bool, torch.int32, torch.bfloat16, torch.float32],
                         ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_binary_broadcast(spec, dtype, shapes):
    check(spec.call(), spec.inputs(*shapes, dtype), served=spec.overload("tensor"),
          reference=spec.reference)


@pytest.mark.parametrize("dtype", [torch.int64, torch.float32], ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_binary_layouts(spec, dtype):
    a, b = spec.inputs((6, 9), (6, 9), dtype)
    check(spec.call(), [transposed(a), b], served=spec.overload("tensor"), reference=spec.reference)
    check(spec.call(), [a[:, ::2], transposed(b)[:, 1::2]], served=spec.overload("tensor"),
          reference=spec.reference)


@pytest.mark.parametrize("dtype", [torch.int16, torch.float16], ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_binary_zero_dim_operand(spec, dtype):
    """A 0-d tensor, and a 0-d tensor on the CPU (allowed beside a device tensor)."""
    big, small = spec.inputs((5, 7), (), dtype)
    for s in (small, small.cpu()):
        check(spec.call(), [big, s], served=spec.overload("tensor"), reference=spec.reference)
        check(spec.call(), [s, big], served=spec.overload("tensor"), reference=spec.reference)


MIXED = [(torch.float16, torch.float32), (torch.bfloat16, torch.float16), (torch.int32, torch.float32),
         (torch.uint8, torch.int8), (torch.bool, torch.int32), (torch.int64, torch.float64)]


@pytest.mark.parametrize("dtypes", MIXED, ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_binary_mixed_dtypes(spec, dtypes):
    a, b = spec.inputs((5, 7), (5, 7), *dtypes)
    served = None if spec.name == "heaviside" else spec.overload("tensor")  # torch raises
    check(spec.call(), [a, b], served=served, reference=spec.reference)
    check(spec.call(), [b, a], served=served, reference=spec.reference)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_binary_out(spec, dtype):
    a, b = spec.inputs((6, 9), (6, 9), dtype)
    out_dtype = result_dtype(spec.call(), a, b) or dtype
    with quiet():
        check(spec.call("out"), [a, b, torch.empty(0, dtype=out_dtype, device=DEVICE)],
              served=spec.served("out", dtype), reference=spec.reference)
        check(spec.call("out"), [a, b, make((9, 6), out_dtype, DEVICE).t()],
              served=spec.served("out", dtype), reference=spec.reference)


@pytest.mark.parametrize("out_dtype", [torch.bool, torch.int32, torch.float64], ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_binary_out_other_dtype(spec, out_dtype):
    """A float result into an integer out= raises; into a wider floating one it is cast."""
    a, b = spec.inputs((4, 6), (4, 6), torch.float32)
    served = None if spec.name == "heaviside" and out_dtype is not torch.float32 else \
        spec.overload("out")
    check(spec.call("out"), [a, b, torch.empty(0, dtype=out_dtype, device=DEVICE)],
          served=served, tol_dtype=torch.float32, reference="torch")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("spec", INPLACE_SPECS, ids=[s.name for s in INPLACE_SPECS])
def test_binary_inplace(spec, dtype):
    """Every dtype, including those whose result torch refuses to write back (atan2_ of ints)."""
    a, b = spec.inputs((6, 9), (6, 9), dtype)
    check(spec.call("inplace"), [a, b], served=spec.served("inplace", dtype),
          reference=spec.reference)
    check(spec.call("inplace"), [transposed(a), b[:1]], served=spec.served("inplace", dtype),
          reference=spec.reference)


@pytest.mark.parametrize("dtypes", [(torch.float32, torch.float16), (torch.float64, torch.int32),
                                    (torch.int64, torch.int8), (torch.int32, torch.float32)],
                         ids=str)
@pytest.mark.parametrize("spec", INPLACE_SPECS, ids=[s.name for s in INPLACE_SPECS])
def test_binary_inplace_mixed(spec, dtypes):
    a, b = spec.inputs((5, 7), (7,), *dtypes)
    served = None if spec.name == "heaviside" else spec.overload("inplace")
    check(spec.call("inplace"), [a, b], served=served, reference=spec.reference)


@pytest.mark.parametrize("variant", ["scalar", "scalar_out", "scalar_inplace"])
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("spec", SCALAR_SPECS, ids=[s.name for s in SCALAR_SPECS])
def test_binary_scalar_overloads(spec, dtype, variant):
    a, _ = spec.inputs((5, 7), (5, 7), dtype)
    for scalar in (3, -2.5, True):
        call = spec.call(variant)
        if variant == "scalar_out":
            out_dtype = result_dtype(spec.call("scalar"), a, scalar) or dtype
            check(lambda x, o: call(x, scalar, o), [a, torch.empty(0, dtype=out_dtype, device=DEVICE)],
                  served=spec.served(variant, dtype))
        else:
            check(lambda x: call(x, scalar), [a], served=spec.served(variant, dtype))


def test_python_operators():
    a = make((5, 7), torch.float32, DEVICE, nonzero=True)
    b = make((5, 7), torch.float32, DEVICE, nonzero=True)
    check(lambda x, y: x % y, [a, b], served="remainder.Tensor")
    check(lambda x, y: x // y, [a, b], served="floor_divide")
    check(lambda x: 2.5 % x, [b], served="remainder.Scalar_Tensor")
    check(lambda x: 1 - x, [a], served="rsub.Scalar")
    i = make((5, 7), torch.int32, DEVICE, nonzero=True)
    check(lambda x: 7 % x, [i], served="remainder.Scalar_Tensor")
    check(lambda x: torch.remainder(7, x, out=torch.empty_like(x)), [i],
          served="remainder.Scalar_Tensor_out")


# ---- special values -------------------------------------------------------------------------------

FLOAT_SPECS = [s for s in SPECS if s.name not in ("gcd", "lcm")]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("spec", FLOAT_SPECS, ids=[s.name for s in FLOAT_SPECS])
def test_binary_special_values(spec, dtype):
    """NaN, +-inf, +-0 and +-1 on each side, against each other (an 8 x 8 grid)."""
    specials = with_specials(make((8,), dtype, DEVICE))
    a, b = specials[:, None].expand(8, 8), specials[None, :].expand(8, 8)
    check(spec.call(), [a, b], served=spec.overload("tensor"),
          reference="exact" if spec.reference == "exact" else "torch")
    check(spec.call(), [with_specials(make((64,), dtype, DEVICE)), make((64,), dtype, DEVICE)],
          served=spec.overload("tensor"), reference="exact" if spec.reference == "exact" else "torch")


def test_signed_zeros_and_nan_propagation():
    """copysign reads the sign of -0; maximum/minimum propagate NaN, fmax/fmin drop it."""
    nan, inf = float("nan"), float("inf")
    a = torch.tensor([nan, 1.0, nan, -0.0, 0.0, -inf, 2.0], device=DEVICE)
    b = torch.tensor([1.0, nan, nan, 0.0, -0.0, inf, -2.0], device=DEVICE)
    for name in ("maximum", "minimum", "fmax", "fmin"):
        result = check(getattr(torch, name), [a, b], served=name, reference="exact")
        assert result[:2].isnan().all() == (name in ("maximum", "minimum"))
    result = check(torch.copysign, [torch.ones(4, device=DEVICE),
                                    torch.tensor([-0.0, 0.0, -nan, -inf], device=DEVICE)],
                   served="copysign.Tensor", reference="exact")
    assert result[0].item() == -1.0 and result[1].item() == 1.0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64],
                         ids=str)
def test_nextafter_steps_one_ulp(dtype):
    """From 0, from the largest finite, across -0/+0 and towards itself, in the dtype's own bits."""
    info = torch.finfo(dtype)
    a = torch.tensor([0.0, 0.0, info.max, 1.0, 1.0, -0.0, 0.0, info.tiny, -1.0], dtype=dtype,
                     device=DEVICE)
    b = torch.tensor([1.0, -1.0, float("inf"), 2.0, 0.0, 0.0, -0.0, 0.0, 1.0], dtype=dtype,
                     device=DEVICE)
    result = check(torch.nextafter, [a, b], served="nextafter", reference="exact")
    assert result[3].item() == 1.0 + info.eps


# ---- integer division by zero --------------------------------------------------------------------

@pytest.mark.parametrize("dtype", INTS, ids=str)
@pytest.mark.parametrize("name", ["fmod", "remainder", "floor_divide"])
def test_integer_division_by_zero(name, dtype):
    """torch raises ZeroDivisionError (a RuntimeError) on the cpu; on the GPU it returns what the
    hardware gives, which check compares exactly."""
    a = make((4, 5), dtype, DEVICE, -9, 9)
    b = make((4, 5), dtype, DEVICE, -3, 3)
    b[0, 0] = 0
    op = getattr(torch, name)
    served = {"fmod": "fmod.Tensor", "remainder": "remainder.Tensor"}.get(name, name)
    check(op, [a, b], served=served if DEVICE != "cpu" else None)
    check(lambda x: op(x, 0), [a], served=None)
    if DEVICE == "cpu":
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            with gemforge.use_gems():
                op(a, b)


@pytest.mark.parametrize("dtype", [torch.int8, torch.int32, torch.uint8], ids=str)
def test_integer_signs(dtype):
    """fmod takes the dividend's sign, remainder the divisor's, floor_divide rounds down."""
    a = torch.arange(-8, 8, dtype=torch.int64).clamp(min=0 if dtype is torch.uint8 else -8)
    a = a.to(dtype).to(DEVICE)
    b = torch.tensor([3, -3, 5, -5] * 4, dtype=torch.int64)
    b = (b.abs() if dtype is torch.uint8 else b).to(dtype).to(DEVICE)
    check(torch.fmod, [a, b], served="fmod.Tensor")
    check(torch.remainder, [a, b], served="remainder.Tensor")
    check(torch.floor_divide, [a, b], served="floor_divide")
    check(torch.gcd, [a, b], served="gcd")
    check(torch.lcm, [a, b], served="lcm")


def test_gcd_lcm_extremes():
    a = torch.tensor([0, 0, -128, 127, -128, 12], dtype=torch.int8, device=DEVICE)
    b = torch.tensor([0, 5, 4, -1, -128, -18], dtype=torch.int8, device=DEVICE)
    check(torch.gcd, [a, b], served="gcd")
    check(torch.lcm, [a, b], served="lcm")
    big = torch.tensor([2**62, -(2**40), 0], dtype=torch.int64, device=DEVICE)
    other = torch.tensor([2**31, 3 * 2**20, -7], dtype=torch.int64, device=DEVICE)
    check(torch.gcd, [big, other], served="gcd")


# ---- rsub -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [1, 2, 0.5], ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_rsub(dtype, alpha):
    a, b = make((5, 7), dtype, DEVICE), make((7,), dtype, DEVICE)
    check(lambda x, y: torch.rsub(x, y, alpha=alpha), [a, b], served="rsub.Tensor")
    check(lambda x: torch.rsub(x, 2, alpha=alpha), [a], served="rsub.Scalar")
    out_dtype = result_dtype(lambda x, y: torch.rsub(x, y, alpha=alpha), a, b) or dtype
    with quiet():
        check(lambda x, y, o: torch.ops.aten.rsub.Tensor_out(x, y, alpha=alpha, out=o),
              [a, b, torch.empty(0, dtype=out_dtype, device=DEVICE)], served="rsub.Tensor_out")
        check(lambda x, o: torch.ops.aten.rsub.Scalar_out(x, 2, alpha, out=o),
              [a, torch.empty(0, dtype=out_dtype, device=DEVICE)], served="rsub.Scalar_out")


def test_rsub_out_dtype():
    """rsub's out= is torch's generic composite: out must have the result's dtype exactly (even a
    wider float raises); a wrong shape is resized."""
    a, b = make((4, 6), torch.float32, DEVICE), make((4, 6), torch.float32, DEVICE)
    for out_dtype in (torch.int32, torch.float64):
        check(lambda x, y, o: torch.ops.aten.rsub.Tensor_out(x, y, out=o),
              [a, b, torch.empty(0, dtype=out_dtype, device=DEVICE)], served=None)
    with quiet():
        check(lambda x, y, o: torch.ops.aten.rsub.Tensor_out(x, y, alpha=3, out=o),
              [a, b, make((2, 2), torch.float32, DEVICE)], served="rsub.Tensor_out")


# ---- lerp, addcmul, addcdiv ------------------------------------------------------------------------

@pytest.mark.parametrize("weight", [0.25, 0.75, -1.5, 2], ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_lerp_scalar(dtype, weight):
    a, b = make((6, 9), dtype, DEVICE), make((9,), dtype, DEVICE)
    served = real_only(dtype)
    check(lambda x, y: torch.lerp(x, y, weight), [a, b], served=served("lerp.Scalar"))
    out_dtype = result_dtype(lambda x, y: torch.lerp(x, y, weight), a, b) or dtype
    check(lambda x, y, o: torch.lerp(x, y, weight, out=o),
          [a, b, torch.empty(0, dtype=out_dtype, device=DEVICE)], served=served("lerp.Scalar_out"))
    check(lambda x, y: x.lerp_(y, weight), [transposed(a), b], served=served("lerp_.Scalar"))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_lerp_tensor(dtype):
    a, b = make((6, 9), dtype, DEVICE), make((6, 9), dtype, DEVICE)
    w = make((6, 1), dtype, DEVICE, -1, 2)
    served = real_only(dtype)
    check(torch.lerp, [a, b, w], served=served("lerp.Tensor"))
    check(torch.lerp, [a, b, make((6, 9), dtype, DEVICE, -1, 2)], served=served("lerp.Tensor"))
    out_dtype = result_dtype(torch.lerp, a, b, w) or dtype
    check(lambda x, y, z, o: torch.lerp(x, y, z, out=o),
          [a, b, w, torch.empty(0, dtype=out_dtype, device=DEVICE)],
          served=served("lerp.Tensor_out"))
    check(lambda x, y, z: x.lerp_(y, z), [transposed(a), b, w], served=served("lerp_.Tensor"))


def test_lerp_dtype_rules():
    """end must have self's dtype; weight too, unless it is 0-d (then it is promoted)."""
    a, b = make((4, 5), torch.float32, DEVICE), make((4, 5), torch.float32, DEVICE)
    w0 = torch.tensor(0.3, dtype=torch.float64, device=DEVICE)
    check(torch.lerp, [a, b, w0], served="lerp.Tensor")
    check(torch.lerp, [a, b, w0.cpu()], served="lerp.Tensor")
    # The weight is rounded to fp16 before use, as torch does: its own result is the reference.
    check(torch.lerp, [a.half(), b.half(), w0], served="lerp.Tensor", reference="torch")
    check(torch.lerp, [a, b, make((4, 5), torch.float64, DEVICE)], served=None)  # raises
    check(torch.lerp, [a, b.double(), 0.5], served=None)  # raises
    check(lambda x, y: x.lerp_(y, 0.5), [a, b.half()], served=None)  # raises


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64], ids=str)
def test_lerp_special_values(dtype):
    a = with_specials(make((64,), dtype, DEVICE))
    b = make((64,), dtype, DEVICE)
    for w in (0.25, 0.75):
        check(lambda x, y: torch.lerp(x, y, w), [a, b], served="lerp.Scalar", reference="torch")
    check(torch.lerp, [b, a, with_specials(make((64,), dtype, DEVICE)).flip(0)],
          served="lerp.Tensor", reference="torch")


@pytest.mark.parametrize("value", [1, -2, 0.5], ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", ["addcmul", "addcdiv"])
def test_addc(name, dtype, value):
    op = getattr(torch, name)
    s, t1 = make((6, 9), dtype, DEVICE), make((9,), dtype, DEVICE)
    t2 = make((6, 1), dtype, DEVICE, nonzero=True)
    served = real_only(dtype)
    check(lambda a, b, c: op(a, b, c, value=value), [s, t1, t2], served=served(name))
    check(lambda a, b, c: op(a, b, c, value=value),
          [transposed(s), make((6, 9), dtype, DEVICE), make((6, 9), dtype, DEVICE, nonzero=True)],
          served=served(name))
    out_dtype = result_dtype(lambda a, b, c: op(a, b, c, value=value), s, t1, t2) or dtype
    check(lambda a, b, c, o: op(a, b, c, value=value, out=o),
          [s, t1, t2, torch.empty(0, dtype=out_dtype, device=DEVICE)], served=served(f"{name}.out"))
    check(lambda a, b, c: getattr(a, name + "_")(b, c, value=value), [transposed(s), t1, t2],
          served=served(f"{name}_"))


@pytest.mark.parametrize("name", ["addcmul", "addcdiv"])
def test_addc_promotion_and_errors(name):
    """Mixed dtypes promote; addcdiv of two integer tensors raises, even into a float self."""
    op = getattr(torch, name)
    f, h = make((4, 5), torch.float32, DEVICE), make((4, 5), torch.float16, DEVICE, nonzero=True)
    i = make((4, 5), torch.int32, DEVICE, nonzero=True)
    check(op, [h, f, h], served=name)
    check(op, [i, i, f.abs() + 1], served=name)
    check(op, [f, i, i], served=None if name == "addcdiv" else name)
    check(op, [f, f, torch.tensor(2.0, dtype=torch.float64, device=DEVICE)], served=name)
    check(lambda a, b, c: a.__getattribute__(name + "_")(b, c), [i, f, f], served=None)  # raises
    check(lambda a, b, c: op(a, b, c, value=1e300), [h, h, h], served=None)  # overflow raises


# ---- clamp_min, clamp_max ----------------------------------------------------------------------

@pytest.mark.parametrize("bound", [-1, 0.5, True], ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", ["clamp_min", "clamp_max"])
def test_clamp_side_scalar(name, dtype, bound):
    """The bound takes part in type promotion (an int tensor clamped at 0.5 is float; in place,
    torch raises). Complex, and bool clamped by a bool, are torch's kernels' (complex raises)."""
    a = make((6, 9), dtype, DEVICE)
    op = getattr(torch, name)

    def served(overload):
        return None if dtype.is_complex or (dtype is torch.bool and bound is True) else overload

    check(lambda x: op(x, bound), [a], served=served(name))
    out_dtype = result_dtype(lambda x: op(x, bound), a) or dtype
    check(lambda x, o: op(x, bound, out=o), [a, torch.empty(0, dtype=out_dtype, device=DEVICE)],
          served=served(f"{name}.out"))
    check(lambda x: getattr(x, name + "_")(bound), [transposed(a)], served=served(f"{name}_"))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", ["clamp_min", "clamp_max"])
def test_clamp_side_tensor(name, dtype):
    a, bound = make((6, 9), dtype, DEVICE), make((9,), dtype, DEVICE, -1, 1)
    op = getattr(torch, name)
    served = lambda o: None if dtype is torch.bool else o  # noqa: E731 (torch's kernel, by design)
    check(op, [a, bound], served=served(f"{name}.Tensor"))
    check(op, [a, make((9,), torch.float32, DEVICE, -1, 1)], served=served(f"{name}.Tensor"))
    out_dtype = result_dtype(op, a, bound) or dtype
    check(lambda x, y, o: op(x, y, out=o), [a, bound, torch.empty(0, dtype=out_dtype, device=DEVICE)],
          served=served(f"{name}.Tensor_out"))
    check(lambda x, y: getattr(x, name + "_")(y), [transposed(a), bound],
          served=served(f"{name}_.Tensor"))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", ["clamp_min", "clamp_max"])
def test_clamp_side_special_values(name, dtype):
    a = with_specials(make((64,), dtype, DEVICE))
    op = getattr(torch, name)
    check(lambda x: op(x, 0.5), [a], served=name, reference="torch")
    check(op, [a, with_specials(make((64,), dtype, DEVICE)).flip(0)], served=f"{name}.Tensor",
          reference="torch")


# ---- composite aliases: served by the overload they decompose into ---------------------------------

ALIASES = [
    ("arctan2", lambda a, b: torch.arctan2(a, b), "atan2"),
    ("arctan2_", lambda a, b: a.arctan2_(b), "atan2_"),
    ("arctan2.out", lambda a, b: torch.arctan2(a, b, out=torch.empty_like(a)), "atan2.out"),
    ("clip", lambda a, b: torch.clip(a, -1, 1), "clamp"),
    ("clip_", lambda a, b: a.clip_(max=1), "clamp_"),
    ("clip.out", lambda a, b: torch.clip(a, -1, 1, out=torch.empty_like(a)), "clamp.out"),
    ("clip.Tensor", lambda a, b: torch.clip(a, b), "clamp.Tensor"),
    ("clip_.Tensor", lambda a, b: a.clip_(b, b + 1), "clamp_.Tensor"),
    ("clip.Tensor_out", lambda a, b: torch.clip(a, b, out=torch.empty_like(a)), "clamp.Tensor_out"),
    ("divide", lambda a, b: torch.divide(a, b), "div.Tensor"),
    ("divide_mode", lambda a, b: torch.divide(a, b, rounding_mode="floor"), "div.Tensor_mode"),
    ("divide_.Scalar", lambda a, b: torch.ops.aten.divide_.Scalar(a, 2), "div_.Scalar"),
    ("divide.out", lambda a, b: torch.divide(a, b, out=torch.empty_like(a)), "div.out"),
    ("true_divide", lambda a, b: torch.true_divide(a, b), "div.Tensor"),
    ("true_divide_", lambda a, b: a.true_divide_(b), "div_.Tensor"),
    ("multiply", lambda a, b: torch.multiply(a, b), "mul.Tensor"),
    ("multiply_", lambda a, b: a.multiply_(b), "mul_.Tensor"),
    ("multiply.out", lambda a, b: torch.multiply(a, b, out=torch.empty_like(a)), "mul.out"),
    ("subtract", lambda a, b: torch.subtract(a, b, alpha=2), "sub.Tensor"),
    ("subtract_", lambda a, b: a.subtract_(b), "sub_.Tensor"),
    ("float_power", lambda a, b: torch.float_power(a.abs(), b), "pow.Tensor_Tensor"),
    ("float_power.Tensor_Scalar", lambda a, b: torch.float_power(a, 2), "pow.Tensor_Scalar"),
    ("float_power.Scalar", lambda a, b: torch.float_power(2, b), "pow.Scalar"),
    ("float_power_", lambda a, b: a.to(torch.float64, copy=True).float_power_(2), "pow_.Scalar"),
]


@pytest.mark.parametrize("case", ALIASES, ids=[c[0] for c in ALIASES])
def test_alias_served_by_target(case):
    _, call, target = case
    a = make((5, 7), torch.float32, DEVICE)
    b = make((5, 7), torch.float32, DEVICE, nonzero=True)
    check(call, [a, b], served=target)


def test_aliases_are_composite_rows():
    rows = {row.overload: row for row in gemforge.registered_ops()}
    for alias, target in [("arctan2", "atan2"), ("clip.Tensor", "clamp.Tensor"),
                          ("true_divide.Scalar", "div.Scalar"), ("float_power_.Tensor", "pow_.Tensor"),
                          ("special_round", "round.decimals")]:
        assert rows[alias].via == target
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{alias}",
                                                              "CompositeImplicitAutograd")
        assert not torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{alias}", "CUDA")


# ---- frexp: mantissa and int32 exponent, both from one launch -----------------------------------

FREXP_SHAPES = [(), (0,), (7,), (33, 65), (2, 3, 5, 7), (4099,)]


def check_frexp(x, served="frexp.Tensor", *, out=None):
    """Both outputs of torch.frexp(x[, out=]) bitwise against torch's (the decomposition is exact)."""
    if out is None:
        call = torch.frexp
        args = [x]
    else:
        def call(t, m, e):
            result = torch.frexp(t, out=(m, e))
            assert result[0] is m and result[1] is e
            return result
        args = [x, *out]
    for part in (0, 1):
        check(lambda *a, p=part: call(*a)[p], args, served=served, reference="exact")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", FREXP_SHAPES, ids=str)
def test_frexp(dtype, shape):
    check_frexp(make(shape, dtype, DEVICE, -1e3, 1e3))


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int32, torch.int64, torch.complex64], ids=str)
def test_frexp_unsupported_dtypes_raise(dtype):
    x = make((5,), dtype)
    check(lambda t: torch.frexp(t)[0], [x])
    check(lambda t: torch.frexp(t, out=(torch.empty(0, device=DEVICE),
                                        torch.empty(0, dtype=torch.int32, device=DEVICE)))[0], [x])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_frexp_special_values(dtype):
    """Zeros, infinities and NaN give (x, 0); denormals (of float and double) normalize."""
    values = [0.0, -0.0, float("inf"), -float("inf"), float("nan"), 1.0, -1.0, 0.5, 3.0, -7.25,
              1e-40, -3e-42, 1e-310, -5e-324, 6e-8, 65504.0, 1e30, -1e38, 2.0 ** -126, 2.0 ** -149]
    x = torch.tensor(values, dtype=torch.float64).to(dtype).to(DEVICE)
    check_frexp(x)
    m, e = torch.frexp(x)
    nonzero = (x != 0) & x.isfinite()
    assert ((m[nonzero].abs() >= 0.5) & (m[nonzero].abs() < 1)).all()
    assert (e[~nonzero] == 0).all()


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
def test_frexp_layouts(layout):
    base = make((9, 12), torch.float32, DEVICE, -50, 50)
    x = base.t().contiguous().t() if layout == "transposed" else base[:, ::2]
    check_frexp(x)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float64], ids=str)
def test_frexp_out(dtype):
    x = make((6, 9), dtype, DEVICE, -100, 100)
    empty = (torch.empty(0, dtype=dtype, device=DEVICE), torch.empty(0, dtype=torch.int32, device=DEVICE))
    check_frexp(x, "frexp.Tensor_out", out=empty)
    # outputs of other layouts: transposed, and a slice of a wider tensor
    strided = (make((9, 6), dtype).t(), torch.zeros((6, 18), dtype=torch.int32, device=DEVICE)[:, ::2])
    check_frexp(x, "frexp.Tensor_out", out=strided)
    # wrong output dtypes: torch raises
    for m_dtype, e_dtype in [(torch.float16 if dtype != torch.float16 else torch.float32, torch.int32),
                             (dtype, torch.int64), (dtype, torch.float32)]:
        outs = [torch.empty(0, dtype=m_dtype, device=DEVICE), torch.empty(0, dtype=e_dtype, device=DEVICE)]
        check(lambda t, m, e: torch.frexp(t, out=(m, e))[0], [x, *outs])


def test_frexp_out_overlap_raises():
    x = make((16,), torch.float32)
    check(lambda t: torch.frexp(t, out=(t, torch.empty(16, dtype=torch.int32, device=DEVICE)))[0], [x])


def test_frexp_autograd():
    """frexp keeps torch's derivative (grad / 2^exponent for the mantissa)."""
    x = make((7, 5), torch.float64, DEVICE, -20, 20).requires_grad_()
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        m, e = torch.frexp(x)
        (m * torch.arange(5, device=DEVICE)).sum().backward()
    assert counts.get("frexp.Tensor", 0) >= 1 or counts.get("frexp.Tensor_out", 0) >= 1, dict(counts)
    expected = torch.arange(5, device=DEVICE, dtype=torch.float64) / torch.exp2(e.double())
    torch.testing.assert_close(x.grad, expected)
