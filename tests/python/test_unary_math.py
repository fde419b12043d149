"""More unary math: inverse trigonometric and hyperbolic functions, tan, exp2, expm1, log10,
log1p, log2, reciprocal, deg2rad, rad2deg, sinc and angle; every overload, every dtype torch
supports (integers and bool promote to float), odd shapes, layouts, out= and in-place forms,
inputs in and out of each op's domain, special values, and torch's composite spellings
(arccos, absolute, square, special_log1p, ...) served through the overloads they decompose into.

Each case goes through conftest.check against a float64 reference; gemforge must have served
the overload, except where it hands a dtype to torch by design (`served_for`).
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import pytest
import torch

import gemforge
from conftest import (quiet, result_dtype, ALL_DTYPES, COMPLEX, DEVICE, FLOATS, SHAPES, aten_op, check, make,
                      served_count, with_specials)


@dataclass(frozen=True)
class Unary:
    name: str             # aten base name: name, name.out, name_ (no name_ for angle)
    low: float            # inputs drawn from [low, high]: for domain-restricted ops the range
    high: float           # reaches out of the domain, where the result is NaN (or -inf at 0)
    complex_served: bool  # gemforge computes complex inputs itself
    inplace: bool = True

    def op(self, variant="default"):
        if variant == "inplace":
            return aten_op(f"{self.name}_.default")
        return aten_op(f"{self.name}.{variant}")


UNARY = [
    Unary("acos", -1.5, 1.5, True),
    Unary("asin", -1.5, 1.5, True),
    Unary("atan", -4, 4, True),
    Unary("acosh", 0, 4, True),
    Unary("asinh", -4, 4, True),
    Unary("atanh", -1.5, 1.5, True),
    Unary("cosh", -5, 5, True),
    Unary("sinh", -5, 5, True),
    Unary("tan", -3, 3, True),
    Unary("exp2", -6, 6, False),
    Unary("expm1", -3, 3, True),
    Unary("log10", -1, 5, True),
    Unary("log1p", -2, 4, True),
    Unary("log2", -1, 5, False),
    Unary("reciprocal", -3, 3, False),
    Unary("deg2rad", -400, 400, False),
    Unary("rad2deg", -7, 7, False),
    Unary("sinc", -3, 3, True),
    Unary("angle", -3, 3, False, inplace=False),
]
UNARY_IDS = [u.name for u in UNARY]
INPLACE = [u for u in UNARY if u.inplace]


def served_for(u, dtype, overload):
    """The overload gemforge must serve for inputs of dtype, or None where torch's kernel runs
    by design (complex inputs of the ops without a complex functor; deg2rad / rad2deg raise)."""
    if dtype.is_complex and not u.complex_served:
        return None
    return overload


def inputs(u, shape, dtype):
    return make(shape, dtype, DEVICE, u.low, u.high)


# ---- functional form ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_dtypes(u, dtype):
    check(u.op(), [inputs(u, (33, 65), dtype)], served=served_for(u, dtype, u.name))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_shapes(u, shape):
    check(u.op(), [inputs(u, shape, torch.float32)], served=u.name)
    check(u.op(), [inputs(u, shape, torch.int64)], served=u.name)


LAYOUT_CASES = ([(dtype, layout) for dtype in [torch.float16, torch.float32]
                 for layout in ["transposed", "sliced", "expanded"]]
                + [(torch.int32, "transposed")])


@pytest.mark.parametrize("dtype, layout", LAYOUT_CASES, ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_layouts(u, dtype, layout):
    a = inputs(u, (9, 14), dtype)
    if layout == "transposed":
        a = a.t()
    elif layout == "sliced":
        a = a[1::2, ::3]
    else:
        a = a[:1].expand(9, 14)
    check(u.op(), [a], served=u.name)


@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_default_float_dtype(u):
    """Integer inputs promote to the default float dtype, whatever it is."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        result = check(u.op(), [inputs(u, (5, 6), torch.int16)], served=u.name)
    finally:
        torch.set_default_dtype(previous)
    assert result.dtype == torch.float64


# ---- out= ---------------------------------------------------------------------------------------

OUT_CASES = ([(torch.float32, shape) for shape in [(0,), (6, 9), (4,)]]
             + [(dtype, (6, 9)) for dtype in [torch.bool, torch.int32, torch.bfloat16,
                                               torch.float64, torch.complex64]])


@pytest.mark.parametrize("dtype, out_shape", OUT_CASES, ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_out(u, dtype, out_shape):
    a = inputs(u, (6, 9), dtype)
    try:
        out_dtype = u.op()(a).dtype
    except RuntimeError:  # deg2rad / rad2deg of complex: check expects the same error
        out_dtype = dtype
    out = make(out_shape, out_dtype, DEVICE)  # wrong non-empty shapes are resized, with a warning
    with quiet():
        check(lambda x, o: u.op("out")(x, out=o), [a, out],
              served=served_for(u, dtype, f"{u.name}.out"))


@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_out_wider_dtype(u):
    """out= of a wider dtype than the result: computed in the input's dtype, then widened."""
    a = inputs(u, (5, 7), torch.float16)
    out = torch.empty(0, dtype=torch.float32, device=DEVICE)
    check(lambda x, o: u.op("out")(x, out=o), [a, out], served=f"{u.name}.out",
          tol_dtype=torch.float16)


@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_out_noncontiguous(u):
    a = inputs(u, (6, 9), torch.float32)
    out = make((9, 6), torch.float32, DEVICE).t()
    check(lambda x, o: u.op("out")(x, out=o), [a, out], served=f"{u.name}.out")


@pytest.mark.parametrize("out_dtype", [torch.int64, torch.bool, torch.float16], ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_out_wrong_dtype(u, out_dtype):
    """A float result into an integer out= raises as in torch; into a narrower float it is cast."""
    a = inputs(u, (4, 5), torch.float32)
    out = torch.empty((4, 5), dtype=out_dtype, device=DEVICE)
    check(lambda x, o: u.op("out")(x, out=o), [a, out], served=f"{u.name}.out",
          tol_dtype=torch.float16)


# ---- in place -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("u", INPLACE, ids=[u.name for u in INPLACE])
def test_inplace(u, dtype):
    """Integer and bool tensors cannot hold the float result: torch raises, so must gemforge."""
    check(u.op("inplace"), [inputs(u, (6, 10), dtype)], served=served_for(u, dtype, f"{u.name}_"))


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("u", INPLACE, ids=[u.name for u in INPLACE])
def test_inplace_layouts(u, dtype, layout):
    if layout == "transposed":
        a = inputs(u, (10, 6), dtype).t()
    else:
        a = inputs(u, (6, 20), dtype)[:, ::2]
    check(u.op("inplace"), [a], served=f"{u.name}_")


def test_angle_has_no_inplace_form():
    assert not hasattr(torch.ops.aten, "angle_")


# ---- special values and domains -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_special_values(u, dtype):
    """NaN, +-inf, +-0, +-1 and 1e4. Against torch's own result: where the result dtype
    overflows to inf (rad2deg(1e4) in fp16, cosh(710) in fp32) the float64 reference does not."""
    a = with_specials(inputs(u, (64,), dtype))
    check(u.op(), [a], served=u.name, reference="torch")
    if u.inplace:
        check(u.op("inplace"), [a], served=f"{u.name}_", reference="torch")


DOMAIN_EDGES = {  # inputs at, inside and outside the edges of each restricted domain
    "acos": [-1.0, 1.0, -1.0001, 1.0001, 2.0, -2.0, 0.999, -0.999],
    "asin": [-1.0, 1.0, -1.0001, 1.0001, 2.0, -2.0, 0.999, -0.999],
    "acosh": [1.0, 0.9999, 0.0, -1.0, 1.0001, 2.0, 1e30, float("inf")],
    "atanh": [1.0, -1.0, 1.0001, -1.0001, 0.9999, -0.9999, 2.0, 0.0],
    "log10": [0.0, -0.0, -1e-30, 1e-30, -1.0, 1.0, 10.0, 1e30],
    "log2": [0.0, -0.0, -1e-30, 1e-30, -1.0, 1.0, 8.0, 1e30],
    "log1p": [-1.0, -1.0001, -2.0, -0.9999, 1e-10, -1e-10, 0.0, 1e30],
    "expm1": [1e-10, -1e-10, 88.0, 89.0, 709.0, 710.0, -100.0, 0.0],
    "exp2": [127.0, 128.0, -149.0, -150.0, 1023.0, 1024.0, -1e-10, 0.5],
    # (torch's cpu cosh / sinh overflow early, past 709.78: 709 and 711 are on each side)
    "cosh": [88.0, 89.0, 709.0, 711.0, -89.0, -711.0, 1e-10, 0.0],
    "sinh": [88.0, 89.0, 709.0, 711.0, -89.0, -711.0, 1e-10, 0.0],
    "reciprocal": [0.0, -0.0, 1e-30, -1e-30, 1e30, 3.0, -7.0, 1e-40],
    "sinc": [0.0, -0.0, 1.0, -2.0, 1e-10, 0.5, 1e30, 3.0],
    "angle": [-0.0, 0.0, -1e-30, 1e-30, -5.0, 5.0, -float("inf"), float("nan")],
}


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", sorted(DOMAIN_EDGES))
def test_domain_edges(name, dtype):
    """NaN and inf exactly where torch gives them (torch's result: overflow, as above)."""
    a = torch.tensor(DOMAIN_EDGES[name], dtype=torch.float64).to(dtype).to(DEVICE)
    check(aten_op(name), [a], served=name, reference="torch")


COMPLEX_SERVED = [u.name for u in UNARY if u.complex_served]


@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
@pytest.mark.parametrize("name", COMPLEX_SERVED)
def test_complex_special_values(name, dtype):
    """Non-finite and branch-cut inputs: compared with torch's own complex kernel of the same
    dtype (the float64 reference takes other branches and signs of zero at these points)."""
    inf, nan = float("inf"), float("nan")
    values = [complex(inf, 0), complex(-inf, 0), complex(nan, 0), complex(0, nan), complex(0, 0),
              complex(1, 1), complex(-2, 0.5), complex(2, 0), complex(-2, 0), complex(0, -1.5)]
    a = torch.tensor(values, dtype=dtype, device=DEVICE)
    check(aten_op(name), [a], served=name, reference="torch")


# ---- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["deg2rad", "rad2deg"])
def test_complex_angle_units_raise(name):
    a = make((3, 4), torch.complex64, DEVICE)
    out = torch.empty((3, 4), dtype=torch.complex64, device=DEVICE)
    check(aten_op(name), [a])
    check(aten_op(f"{name}_"), [a])
    check(lambda x, o: aten_op(f"{name}.out")(x, out=o), [a, out])


def test_angle_of_complex_is_torch_s():
    """A complex input has a real result: torch's kernel computes it, out= included."""
    a = make((5, 6), torch.complex64, DEVICE)
    check(torch.angle, [a])
    out = torch.empty(0, dtype=torch.float32, device=DEVICE)
    check(lambda x, o: torch.angle(x, out=o), [a, out])


def test_inplace_overlap_error():
    a = make((8,), torch.float32, DEVICE)
    check(lambda x: torch.sinh(x[:4], out=x[2:6]), [a])


# ---- composite spellings ------------------------------------------------------------------------

def _pow2(x):
    return torch.ops.aten.pow.Tensor_Scalar(x, 2)


# (alias, the overload it decomposes into, how to call each form)
ALIASES = [
    ("absolute", "abs"), ("negative", "neg"), ("arccos", "acos"), ("arcsin", "asin"),
    ("arctan", "atan"), ("arccosh", "acosh"), ("arcsinh", "asinh"), ("arctanh", "atanh"),
    ("special_exp2", "exp2"), ("special_log1p", "log1p"), ("special_sinc", "sinc"),
    ("special_expit", "sigmoid"),
]
ALIAS_ROWS = {
    "square": "pow.Tensor_Scalar", "square.out": "pow.Tensor_Scalar_out", "square_": "pow_.Scalar",
}
for _alias, _target in ALIASES:
    ALIAS_ROWS[_alias] = _target
    ALIAS_ROWS[f"{_alias}.out"] = f"{_target}.out"
    if not _alias.startswith("special_"):
        ALIAS_ROWS[f"{_alias}_"] = f"{_target}_"


def test_alias_rows():
    """Each alias is a row of the table that names its target, and torch implements it only as
    a composite (an entry point of ours would cut it off from autograd)."""
    rows = {row.overload: row for row in gemforge.registered_ops()}
    for alias, target in ALIAS_ROWS.items():
        assert alias in rows, f"{alias} is not in the table"
        assert rows[alias].via == target, rows[alias]
        assert target in rows and not rows[target].via, f"{target} is not served"
        qualified = "aten::" + alias
        assert torch._C._dispatch_has_kernel_for_dispatch_key(qualified, "CompositeImplicitAutograd")
        assert not torch._C._dispatch_has_kernel_for_dispatch_key(qualified, "CUDA")
        assert not torch._C._dispatch_has_kernel_for_dispatch_key(qualified, "CPU")


@pytest.mark.parametrize("alias, target", ALIASES + [("square", "pow")], ids=str)
def test_alias_served_by_target(alias, target):
    low, high = (0.2, 0.8) if alias in ("arccos", "arcsin", "arctanh") else (1.2, 3.0)
    a = make((7, 9), torch.float32, DEVICE, low, high)
    forms = [(aten_op(alias), [a], ALIAS_ROWS[alias]),
             (lambda x, o: aten_op(f"{alias}.out")(x, out=o),
              [a, torch.empty(0, device=DEVICE)], ALIAS_ROWS[f"{alias}.out"])]
    if f"{alias}_" in ALIAS_ROWS:
        forms.append((aten_op(f"{alias}_"), [a], ALIAS_ROWS[f"{alias}_"]))
    for fn, args, served in forms:
        check(fn, args, served=served)


def test_alias_keeps_autograd():
    """arccos under gemforge still differentiates (the composite dispatches to acos)."""
    a = make((6,), torch.float64, DEVICE, -0.9, 0.9).requires_grad_()
    with gemforge.use_gems(backends=[DEVICE]), gemforge.collect_stats() as counts:
        torch.arccos(a).sum().backward()
    assert served_count(counts, "acos") == 1, dict(counts)
    torch.testing.assert_close(a.grad, -1 / torch.sqrt(1 - a.detach() ** 2))
