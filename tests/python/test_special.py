"""Special functions: erf family, gamma family, Bessel functions, xlogy / xlog1py, orthogonal
polynomials; every overload, every dtype torch supports for each, odd shapes, layouts, out= and
in-place forms, Scalar operands, special values, argument errors, and the special_* aliases.

Each case goes through conftest.check (float64 reference unless said otherwise) and gemforge must
have served the overload. Where torch raises for a dtype (complex; fp16/bf16 for the ops torch
has only float/double kernels of), gemforge hands the call to torch and raises the same error.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

import gemforge
from conftest import DEVICE, FLOATS, aten_op, check, make, served_count

SHAPES = [(), (0,), (7,), (33, 65), (2, 3, 5, 7)]
# every dtype class torch has: bool, unsigned, signed, each float, complex
DTYPES = [torch.bool, torch.uint8, torch.int32, torch.int64, *FLOATS, torch.complex64]


def laid_out(layout, t):
    """t (2-d) in another memory layout with the same values."""
    if layout == "transposed":
        return t.t().contiguous().t()
    if layout == "sliced":
        wide = torch.zeros((t.shape[0], 2 * t.shape[1]), dtype=t.dtype, device=t.device)
        wide[:, ::2] = t
        return wide[:, ::2]
    return t.clone()


# ---- unary ops -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unary:
    name: str            # aten base name; overloads name, name.out and (inplace) name_
    low: float
    high: float
    inplace: bool = False
    # torch's own float64 kernel is less accurate than the float64 tolerance (its Cephes j0, j1,
    # y0, y1 are off by up to 4e-7 around |x| = 5; libm's, CUDA's and mpmath agree): float64
    # results are compared within float32's tolerance here, and against mpmath in
    # test_bessel_jy_accuracy.
    loose_f64: bool = False
    # torch's own results at the special values are the reference there (else: a test of its own)
    torch_special_values: bool = True

    def tol(self, dtype):
        return torch.float32 if self.loose_f64 and dtype is torch.float64 else None

    def op(self, variant="default"):
        return aten_op(f"{self.name}_.default" if variant == "inplace" else f"{self.name}.{variant}")

    def input(self, shape, dtype):
        return make(shape, dtype, DEVICE, self.low, self.high)


UNARY = [
    Unary("erf", -3, 3, inplace=True),
    Unary("erfc", -3, 5, inplace=True),
    Unary("erfinv", -0.999, 0.999, inplace=True),
    Unary("lgamma", 0.05, 12, inplace=True),
    Unary("digamma", 0.05, 12, inplace=True),
    Unary("i0", -12, 12, inplace=True),  # i0(12) fits fp16; larger in the special values
    Unary("special_i0e", -40, 40),
    Unary("special_i1", -12, 12),
    Unary("special_i1e", -40, 40),
    Unary("special_ndtri", 0.001, 0.999),
    Unary("special_erfcx", -5, 40),
    Unary("special_bessel_j0", -30, 30, loose_f64=True),
    Unary("special_bessel_j1", -30, 30, loose_f64=True),
    Unary("special_bessel_y0", 0.05, 30, loose_f64=True),
    Unary("special_bessel_y1", 0.05, 30, loose_f64=True),
    Unary("special_modified_bessel_i0", -30, 30),
    Unary("special_modified_bessel_i1", -30, 30),
    Unary("special_spherical_bessel_j0", -12, 12),
    Unary("special_modified_bessel_k0", 0.01, 40),
    Unary("special_modified_bessel_k1", 0.01, 40),
    Unary("special_scaled_modified_bessel_k0", 0.01, 60),
    Unary("special_scaled_modified_bessel_k1", 0.01, 60),
    # torch's float64 Ai is off by up to 3e-6 near x = -2.1 (mpmath and gemforge agree to 1e-14),
    # its float Ai loses the phase below x = -100: test_airy_ai_accuracy compares with mpmath
    Unary("special_airy_ai", -12, 12, loose_f64=True, torch_special_values=False),
]
UNARY_IDS = [u.name for u in UNARY]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_unary(u, dtype):
    check(u.op(), [u.input((33, 65), dtype)], served=u.name, tol_dtype=u.tol(dtype))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_unary_shapes(u, shape):
    check(u.op(), [u.input(shape, torch.float32)], served=u.name)


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_unary_layouts(u, layout):
    a = laid_out(layout, u.input((6, 9), torch.float32))
    check(u.op(), [a], served=u.name)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.int32], ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_unary_out(u, dtype):
    a = u.input((6, 9), dtype)
    out_dtype = torch.float32 if dtype is torch.int32 else dtype
    check(lambda x, o: u.op("out")(x, out=o), [a, torch.empty(0, dtype=out_dtype, device=DEVICE)],
          served=f"{u.name}.out", tol_dtype=u.tol(dtype))


@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_unary_out_other_dtypes(u):
    a = u.input((5, 7), torch.float32)
    # a wider out: computed in float32, then widened
    check(lambda x, o: u.op("out")(x, out=o), [a, torch.empty(0, dtype=torch.float64, device=DEVICE)],
          served=f"{u.name}.out", tol_dtype=torch.float32)
    # a transposed out
    check(lambda x, o: u.op("out")(x, out=o), [a, make((7, 5), torch.float32).t()],
          served=f"{u.name}.out")
    # an integer out: torch raises
    check(lambda x, o: u.op("out")(x, out=o), [a, torch.empty(0, dtype=torch.int64, device=DEVICE)])


@pytest.mark.parametrize("layout", ["contiguous", "sliced"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float64, torch.int64], ids=str)
@pytest.mark.parametrize("u", [u for u in UNARY if u.inplace], ids=lambda u: u.name)
def test_unary_inplace(u, dtype, layout):
    a = laid_out(layout, u.input((6, 9), dtype))
    check(u.op("inplace"), [a], served=f"{u.name}_")


def specials(dtype, values):
    return torch.tensor(values, dtype=torch.float64).to(dtype).to(DEVICE)


INF, NAN = float("inf"), float("nan")
# (80, not 90: torch's float i0 and i1 overflow in exp(x) before the result does)
SPECIAL_VALUES = [NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.5, 1e-30, 1e-7, 7.0,
                  19.9, 20.1, 25.0, 80.0, 100.0, -100.0, 1e4, -1e4]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("u", UNARY, ids=UNARY_IDS)
def test_unary_special_values(u, dtype):
    """NaN, infinities, signed zeros, poles, domain edges and large arguments: torch's own
    result is the reference (its conventions there, e.g. i0(inf) = NaN and j0(inf) = NaN, are
    what is compared; fp16/bf16 overflow where float64 does not)."""
    if not u.torch_special_values:
        pytest.skip(f"{u.name}: its own special-values test")
    values = list(SPECIAL_VALUES)
    if u.name in ("erfinv", "special_ndtri"):
        values += [0.999999, -0.999999, 1e-300, 0.25, 0.75, 0.9, 1 - 1e-12, 1e-10]
    check(u.op(), [specials(dtype, values)], served=u.name, reference="torch")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_inverse_erf_tails(dtype):
    """erfinv and ndtri keep full precision in the tails and near 0.5 (float64 reference)."""
    tails = [1e-300, 1e-100, 1e-30, 1e-12, 1e-5, 0.01, 0.2, 0.26, 0.49, 0.5, 0.51, 0.74, 0.76,
             0.99, 1 - 1e-7, 1 - 1e-9]
    if dtype is torch.float32:
        tails = [v for v in tails if v == 0 or 1e-37 < v < 1 - 1e-7]
    p = specials(dtype, tails)
    check(torch.special.ndtri, [p], served="special_ndtri")
    check(torch.erfinv, [p * 2 - 1], served="erfinv")
    check(torch.erfinv, [1 - p], served="erfinv")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", ["lgamma", "digamma"])
def test_gamma_negative_arguments(name, dtype):
    """Left of 0, between the poles. Near a pole the result's precision is the compute type's
    (float for fp16/bf16/float32): torch's own result is the reference there."""
    x = make((200,), dtype, DEVICE, -6, -0.05)
    check(aten_op(name), [x], served=name, reference="torch" if dtype is not torch.float64 else "float64")


def test_float64_precision():
    """Double results agree with torch's to ~1e-12 relative across the ranges (j0, j1, y0, y1:
    test_bessel_jy_accuracy)."""
    x = torch.cat([torch.linspace(0.01, 60, 3001, dtype=torch.float64),
                   -torch.linspace(0.013, 40.7, 997, dtype=torch.float64)]).to(DEVICE)
    y = x.abs()
    cases = [(torch.erf, x), (torch.erfc, y), (torch.lgamma, x), (torch.digamma, x),
             (torch.i0, x), (torch.special.i0e, x), (torch.special.i1, x), (torch.special.i1e, x),
             (torch.special.erfcx, x), (torch.special.modified_bessel_i0, x), (torch.special.modified_bessel_i1, x),
             (torch.special.spherical_bessel_j0, x), (torch.special.modified_bessel_k0, y),
             (torch.special.modified_bessel_k1, y), (torch.special.scaled_modified_bessel_k0, y),
             (torch.special.scaled_modified_bessel_k1, y), (torch.erfinv, torch.tanh(x / 20)),
             (torch.special.ndtri, torch.sigmoid(x / 3))]
    # Near the zeros of oscillating functions (and digamma's root) precision is absolute.
    absolute = (torch.special.spherical_bessel_j0, torch.digamma, torch.lgamma)
    for fn, arg in cases:
        expected = fn(arg)
        with gemforge.use_gems():
            actual = fn(arg)
        torch.testing.assert_close(actual, expected, rtol=1e-12,
                                   atol=1e-15 if fn in absolute else 1e-300, equal_nan=True,
                                   msg=lambda m: f"{fn.__name__}: {m}")
    a = torch.linspace(0.05, 30, 97, dtype=torch.float64, device=DEVICE)[:, None]
    z = torch.linspace(0.01, 45, 89, dtype=torch.float64, device=DEVICE)[None, :]
    # torch's own double igamma and trigamma are accurate to ~1e-9 / 1e-10 relative (checked
    # against mpmath, which agrees with gemforge's to ~1e-14 on these grids)
    for fn, rtol in ((torch.igamma, 1e-8), (torch.igammac, 1e-8),
                     (lambda t, u: torch.polygamma(1, u), 1e-9),
                     (lambda t, u: torch.polygamma(3, u - 7), 1e-12)):
        expected = fn(a, z)
        with gemforge.use_gems():
            actual = fn(a, z)
        torch.testing.assert_close(actual, expected, rtol=rtol, atol=1e-300, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_bessel_jy_accuracy(dtype):
    """j0, j1, y0, y1 against mpmath (torch's own float64 results are off by up to 4e-7)."""
    mpmath = pytest.importorskip("mpmath")
    x = torch.cat([torch.linspace(0.05, 40, 157, dtype=torch.float64),
                   torch.tensor([4.99, 5.0, 5.003758038650286, 5.05, 7.9, 8.1, 25.1, 1e-5])])
    x = x.to(dtype).to(torch.float64)
    rtol, atol = (1e-13, 1e-15) if dtype is torch.float64 else (1.3e-6, 3e-6)
    if dtype is torch.float64 and DEVICE == "cuda":
        rtol, atol = 1e-12, 1e-12   # CUDA's j0/j1/y0/y1: within ~1e-13 absolute of mpmath
    for name, order, kind, sign in (("bessel_j0", 0, mpmath.besselj, -1),
                                    ("bessel_j1", 1, mpmath.besselj, -1),
                                    ("bessel_y0", 0, mpmath.bessely, 1),
                                    ("bessel_y1", 1, mpmath.bessely, 1)):
        arg = torch.cat([x, sign * x]) if sign < 0 else x
        expected = torch.tensor([float(kind(order, v)) for v in arg.tolist()], dtype=torch.float64)
        with gemforge.use_gems(), gemforge.collect_stats() as counts:
            actual = getattr(torch.special, name)(arg.to(dtype).to(DEVICE))
        assert served_count(counts, f"special_{name}") >= 1
        torch.testing.assert_close(actual.cpu().double(), expected, rtol=rtol, atol=atol,
                                   msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_airy_ai_accuracy(dtype):
    """Ai against mpmath across its three regions (Taylor series about the integers, the two
    asymptotic expansions) and their edges (5.25 for float, 9 for double); torch's conventions at
    infinities (NaN). Where Ai oscillates (x < 0) the error is measured against its envelope."""
    mpmath = pytest.importorskip("mpmath")
    grid = torch.cat([torch.linspace(-30, 30, 601, dtype=torch.float64),
                      torch.tensor([-1e6, -1e4, -1000, -100.5, -9.0001, -9, -8.9999, -5.2501, -5.25,
                                    -5.2499, -4.5, -2.5, -2.1, -1e-30, 0.0, -0.0, 1e-30, 0.5,
                                    5.2499, 5.2501, 8.9999, 9.0001, 25.0, 80.0, 100.0, 103.0])])
    x = grid.to(dtype).to(torch.float64)  # the values the kernel sees
    expected = torch.tensor([float(mpmath.airyai(v)) for v in x.tolist()], dtype=torch.float64)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        actual = torch.special.airy_ai(x.to(dtype).to(DEVICE))
    assert served_count(counts, "special_airy_ai") >= 1
    actual = actual.cpu().double()
    envelope = torch.where(x < 0, x.abs().clamp(min=1) ** -0.25 / torch.pi ** 0.5, expected.abs())
    # Ai's condition number grows as z = 2/3 |x|^(3/2) (exp(-z), or the phase z): the rounding of
    # z in double alone moves the result by ~eps z relative, in mpmath's double input too.
    zeta = 2 / 3 * x.abs() ** 1.5
    rtol = (1e-13 if dtype is torch.float64 else 2e-7) + 4 * 2.2e-16 * zeta
    # float: the result's rounding and, for the tiny values of large x, float's denormals
    floor = 1e-300 if dtype is torch.float64 else 1.5e-44
    err = (actual - expected).abs()
    bad = err > rtol * envelope + floor
    assert not bad.any(), f"x={x[bad][:5].tolist()}: got {actual[bad][:5].tolist()}, want {expected[bad][:5].tolist()}"
    special = torch.tensor([float("nan"), float("inf"), -float("inf")], dtype=dtype, device=DEVICE)
    check(torch.special.airy_ai, [special], served="special_airy_ai", reference="torch")


# ---- polygamma, mvlgamma ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 3, 6])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_polygamma(dtype, n):
    x = make((7, 9), dtype, DEVICE, 0.6, 8)  # polygamma(6, x) fits fp16 from 0.6 on
    # trigamma (n = 1) on cuda is torch's kernel (faster there)
    check(lambda a: torch.polygamma(n, a), [x], served=None if DEVICE == "cuda" and n == 1 else "polygamma")


@pytest.mark.parametrize("n", [0, 1, 2, 3])
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_polygamma_forms(dtype, n):
    # trigamma (n = 1) on cuda is torch's kernel (faster there, see ops/pointwise/special.cpp)
    own = DEVICE != "cuda" or n != 1

    def served(name):
        return name if own else None

    x = make((6, 9), dtype, DEVICE, 0.6, 8)
    out = torch.empty(0, dtype=dtype, device=DEVICE)
    check(lambda a, o: torch.polygamma(n, a, out=o), [x, out], served=served("polygamma.out"))
    check(lambda a: a.polygamma_(n), [laid_out("transposed", x)], served=served("polygamma_"))
    # left of 0: zeta's terms cancel and trigamma reflects through sin(pi x); orders >= 1 are
    # computed in double on the cpu, so the float64 reference holds for float32 (digamma: absolute error,
    # see atol). fp16/bf16 results near the poles overflow where float64's do not: torch's own.
    neg = make((64,), dtype, DEVICE, -5, -0.05)
    # (on cuda float32 is computed in float, as torch's cuda kernel does: torch's own there)
    exact_enough = dtype is torch.float64 or (n >= 1 and dtype is torch.float32 and DEVICE == "cpu")
    check(lambda a: torch.polygamma(n, a), [neg], served=served("polygamma"),
          reference="float64" if exact_enough else "torch")
    values = [v for v in SPECIAL_VALUES if not (n == 1 and v in (-1.0, -2.0, -100.0, -1e4))]
    check(lambda a: torch.polygamma(n, a), [specials(dtype, values)], served=served("polygamma"),
          reference="torch")


def test_polygamma_errors():
    x = make((4,), torch.float32, DEVICE, 0.5, 3)
    check(lambda a: torch.polygamma(-1, a), [x])
    check(lambda a: a.polygamma_(-2), [x])
    check(lambda a: torch.polygamma(2, a), [make((4,), torch.complex64, DEVICE)])
    check(lambda a: a.polygamma_(1), [make((4,), torch.int32, DEVICE, 1, 5)])


@pytest.mark.parametrize("p", [1, 3])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, *FLOATS], ids=str)
def test_mvlgamma(dtype, p):
    x = make((5, 7), dtype, DEVICE, 3, 9)
    check(lambda a: torch.mvlgamma(a, p), [x], served="mvlgamma")
    if dtype.is_floating_point:
        out = torch.empty(0, dtype=dtype, device=DEVICE)
        check(lambda a, o: torch.mvlgamma(a, p, out=o), [x, out], served="mvlgamma.out")
        check(lambda a: a.mvlgamma_(p), [laid_out("sliced", x)], served="mvlgamma_")


def test_mvlgamma_errors():
    x = make((4,), torch.float32, DEVICE, 3, 5)
    for p in (0, -3):
        check(lambda a: torch.mvlgamma(a, p), [x])
        check(lambda a: a.mvlgamma_(p), [x])
        check(lambda a, o: torch.mvlgamma(a, p, out=o), [x, torch.empty_like(x)])
    check(lambda a: torch.mvlgamma(a, 2), [make((4,), torch.bool, DEVICE)])
    check(lambda a: a.mvlgamma_(2), [make((4,), torch.int64, DEVICE, 3, 5)])
    check(lambda a, o: torch.mvlgamma(a, 2, out=o), [x, torch.empty(4, dtype=torch.int64, device=DEVICE)])
    check(lambda a: torch.mvlgamma(a, 2), [make((4,), torch.complex64, DEVICE)])


# ---- binary ops: xlogy, xlog1py, polynomials --------------------------------------------------------

@dataclass(frozen=True)
class Binary:
    name: str
    self_scalar: str     # overload names of the Scalar forms
    other_scalar: str
    out: str
    x_range: tuple
    y_range: tuple
    integer_y: bool = False  # the second operand is a polynomial degree

    def overload(self, form):
        return {"tensor": self.tensor_overload, "out": f"{self.name}.{self.out}",
                "self_scalar": f"{self.name}.{self.self_scalar}",
                "other_scalar": f"{self.name}.{self.other_scalar}",
                "self_scalar_out": f"{self.name}.{self.self_scalar}_out" if self.name != "xlogy"
                else "xlogy.OutScalar_Self",
                "other_scalar_out": f"{self.name}.{self.other_scalar}_out" if self.name != "xlogy"
                else "xlogy.OutScalar_Other"}[form]

    @property
    def reference(self):
        """The polynomials evaluate float in float on cuda, as torch's cuda kernels do (double on
        the cpu, where float64 is the reference): there torch's own result is the reference."""
        return "torch" if self.integer_y and DEVICE == "cuda" else "float64"

    @property
    def tensor_overload(self):
        return "xlogy.Tensor" if self.name == "xlogy" else self.name

    def inputs(self, shape_x, shape_y, dtype_x, dtype_y=None):
        x = make(shape_x, dtype_x, DEVICE, *self.x_range)
        dtype_y = dtype_y or dtype_x
        if self.integer_y:  # (no negative degrees where they would wrap around)
            low = 0 if dtype_y in (torch.bool, torch.uint8) else int(self.y_range[0])
            y = torch.randint(low, int(self.y_range[1]) + 1, shape_y, device=DEVICE).to(dtype_y)
        else:
            y = make(shape_y, dtype_y, DEVICE, *self.y_range)
        return x, y


def _poly(name, x_range=(-1.3, 1.3), n_max=12):
    return Binary(name, "x_scalar", "n_scalar", "out", x_range, (-1, n_max), integer_y=True)


BINARY = [
    Binary("xlogy", "Scalar_Self", "Scalar_Other", "OutTensor", (-3, 3), (0.05, 5)),
    Binary("special_xlog1py", "self_scalar", "other_scalar", "out", (-3, 3), (-0.95, 5)),
    _poly("special_chebyshev_polynomial_t"),
    _poly("special_chebyshev_polynomial_u"),
    _poly("special_chebyshev_polynomial_v"),
    _poly("special_chebyshev_polynomial_w"),
    _poly("special_shifted_chebyshev_polynomial_t", (-0.2, 1.2)),
    _poly("special_shifted_chebyshev_polynomial_u", (-0.2, 1.2)),
    _poly("special_shifted_chebyshev_polynomial_v", (-0.2, 1.2)),
    _poly("special_shifted_chebyshev_polynomial_w", (-0.2, 1.2)),
    _poly("special_hermite_polynomial_h", (-2, 2), 10),
    _poly("special_hermite_polynomial_he", (-3, 3), 10),
    _poly("special_laguerre_polynomial_l", (-2, 4)),
    _poly("special_legendre_polynomial_p"),
]
BINARY_IDS = [b.name for b in BINARY]


def call(b, form):
    op = aten_op(b.overload(form))
    if form.endswith("out"):
        return lambda x, y, o: op(x, y, out=o)
    return op


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("b", BINARY, ids=BINARY_IDS)
def test_binary(b, dtype):
    x, y = b.inputs((33, 65), (33, 65), dtype)
    check(call(b, "tensor"), [x, y], served=b.tensor_overload, reference=b.reference)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("b", BINARY, ids=BINARY_IDS)
def test_binary_shapes(b, shape):
    x, y = b.inputs(shape, shape, torch.float32)
    check(call(b, "tensor"), [x, y], served=b.tensor_overload, reference=b.reference)


@pytest.mark.parametrize("shapes", [((3, 1, 5), (4, 5)), ((33, 65), ()), ((), (2, 3))], ids=str)
@pytest.mark.parametrize("dtypes", [(torch.float64, torch.int64), (torch.int32, torch.float32),
                                    (torch.float16, torch.float32)], ids=str)
@pytest.mark.parametrize("b", BINARY, ids=BINARY_IDS)
def test_binary_broadcast_mixed(b, dtypes, shapes):
    x, y = b.inputs(*shapes, *dtypes)
    check(call(b, "tensor"), [x, y], served=b.tensor_overload, reference=b.reference)


@pytest.mark.parametrize("layouts", [("transposed", "contiguous"), ("sliced", "transposed")], ids=str)
@pytest.mark.parametrize("b", BINARY, ids=BINARY_IDS)
def test_binary_layouts(b, layouts):
    x, y = b.inputs((6, 9), (6, 9), torch.float32)
    check(call(b, "tensor"), [laid_out(layouts[0], x), laid_out(layouts[1], y)],
          served=b.tensor_overload, reference=b.reference)


@pytest.mark.parametrize("dtype", FLOATS + [torch.int32], ids=str)
@pytest.mark.parametrize("b", BINARY, ids=BINARY_IDS)
def test_binary_scalars(b, dtype):
    x, y = b.inputs((6, 9), (6, 9), dtype)
    x_scalar, y_scalar = (0.75, 3) if b.integer_y else (1.5, 2.5)
    check(lambda t: call(b, "other_scalar")(t, y_scalar), [x], served=b.overload("other_scalar"),
          reference=b.reference)
    check(lambda t: call(b, "self_scalar")(x_scalar, t), [y], served=b.overload("self_scalar"),
          reference=b.reference)
    out_dtype = torch.float32 if dtype is torch.int32 else dtype
    out = torch.empty(0, dtype=out_dtype, device=DEVICE)
    check(lambda t, o: call(b, "other_scalar_out")(t, y_scalar, o), [x, out],
          served=b.overload("other_scalar_out"), reference=b.reference)
    check(lambda t, o: call(b, "self_scalar_out")(x_scalar, t, o), [y, out],
          served=b.overload("self_scalar_out"), reference=b.reference)


@pytest.mark.cuda
@pytest.mark.parametrize("b", BINARY, ids=BINARY_IDS)
def test_binary_cpu_zero_dim_with_cuda_tensor(b):
    x, y = b.inputs((5, 7), (), torch.float32)
    check(call(b, "tensor"), [x, y.cpu()], served=b.tensor_overload, reference=b.reference)


@pytest.mark.parametrize("out_case, dtype", [("empty", torch.float16), ("empty", torch.bfloat16),
                                             ("empty", torch.float64), ("empty", torch.int32),
                                             ("same", torch.float32),
                                             ("transposed", torch.float32),
                                             ("float64", torch.float32), ("int64", torch.float32)],
                         ids=str)
@pytest.mark.parametrize("b", BINARY, ids=BINARY_IDS)
def test_binary_out(b, dtype, out_case):
    x, y = b.inputs((6, 9), (6, 9), dtype)
    res = torch.float32 if dtype is torch.int32 else dtype
    out = {"empty": lambda: torch.empty(0, dtype=res, device=DEVICE),
           "same": lambda: make((6, 9), res, DEVICE),
           "transposed": lambda: make((9, 6), res, DEVICE).t(),
           "float64": lambda: torch.empty(0, dtype=torch.float64, device=DEVICE),
           "int64": lambda: torch.empty(0, dtype=torch.int64, device=DEVICE)}[out_case]()
    served = None if out_case == "int64" else b.overload("out")  # torch raises for int64
    check(call(b, "out"), [x, y, out], served=served,
          tol_dtype=res if out_case == "float64" else None, reference=b.reference)


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("dtype", FLOATS + [torch.int64], ids=str)
def test_xlogy_inplace(dtype, layout):
    b = BINARY[0]
    x, y = b.inputs((6, 9), (6, 9), dtype)
    check(lambda s, o: s.xlogy_(o), [laid_out(layout, x), y], served="xlogy_.Tensor")
    check(lambda s, o: s.xlogy_(o), [laid_out(layout, x), y[:1]], served="xlogy_.Tensor")
    check(lambda s: s.xlogy_(2.5), [laid_out(layout, x)], served="xlogy_.Scalar_Other")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", ["xlogy", "special_xlog1py"])
def test_xlogy_special_values(name, dtype):
    """x == 0 gives 0 unless y is NaN; NaN in x propagates; log of 0, negatives and -1 (log1p)."""
    xs = [0.0, 0.0, 0.0, 0.0, NAN, 1.0, -2.0, 3.0, 0.0, INF, 2.0, -0.0]
    ys = [NAN, 0.0, -1.0, INF, 1.0, 0.0, -1.0, -2.0, -INF, 2.0, INF, 5.0]
    x, y = specials(dtype, xs), specials(dtype, ys)
    fn = torch.xlogy if name == "xlogy" else torch.special.xlog1py
    check(fn, [x, y], served="xlogy.Tensor" if name == "xlogy" else name, reference="torch")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("b", BINARY[2:], ids=BINARY_IDS[2:])
def test_polynomial_edges(b, dtype):
    """|x| = 1 (x = 0 and 1 for the shifted ones), negative, large and non-integer degrees,
    NaN and infinite x."""
    # (NaN x only with n <= 1: above, torch's recurrences return an uninitialized value)
    xs = [1.0, -1.0, 0.0, 0.5, -0.5, 1.0, -1.0, 0.0, NAN, INF, -INF, 0.3, 0.999, -0.999, 2.0]
    ns = [5.0, 5.0, 4.0, -1.0, 3.7, 20.0, 21.0, 9.0, 1.0, 2.0, 3.0, 30.0, 25.0, 26.0, 0.0]
    x, n = specials(dtype, xs), specials(dtype, ns)
    check(call(b, "tensor"), [x, n], served=b.tensor_overload, reference=b.reference)


@pytest.mark.parametrize("name", ["special_hermite_polynomial_h", "special_hermite_polynomial_he"])
def test_hermite_degree_limit(name):
    """Past degree 128 (float) / 512 (double) torch returns NaN; NaN and inf degrees give 0 (h).
    (Float degrees near 128 are left out: there torch's float recurrence overflows into NaN.)"""
    for dtype, degrees in ((torch.float32, [20, 129, 200, 300, NAN, INF]),
                           (torch.float64, [128, 129, 512, 513, NAN, INF])):
        x = specials(dtype, [0.5] * 6)
        n = specials(dtype, degrees)
        check(aten_op(name), [x, n], served=name, reference="torch")


# ---- igamma, igammac: float/double kernels on both devices in torch (the cpu also has fp16/bf16
# ones: those calls go to torch's kernel) ------------------------------------------------------------

def served_igamma(overload, dtype):
    return overload if dtype in (torch.float32, torch.float64) else None


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", ["igamma", "igammac"])
def test_igamma(name, dtype):
    a = make((33, 65), dtype, DEVICE, 0.05, 12)
    x = make((33, 65), dtype, DEVICE, 0.01, 20)
    check(aten_op(name), [a, x], served=served_igamma(name, dtype))
    if dtype is torch.float32:
        for shape in SHAPES:
            a, x = make(shape, dtype, DEVICE, 0.05, 12), make(shape, dtype, DEVICE, 0.01, 20)
            check(aten_op(name), [a, x], served=name)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", ["igamma", "igammac"])
def test_igamma_forms(name, dtype):
    a = make((6, 9), dtype, DEVICE, 0.05, 12)
    x = make((6, 9), dtype, DEVICE, 0.01, 20)
    out = torch.empty(0, dtype=dtype, device=DEVICE)
    check(lambda p, q, o: aten_op(f"{name}.out")(p, q, out=o), [a, x, out],
          served=served_igamma(f"{name}.out", dtype))
    check(lambda p, q: aten_op(f"{name}_")(p, q), [laid_out("transposed", a), x[:1]],
          served=served_igamma(f"{name}_", dtype))
    check(aten_op(name), [a[:, :1], x.t().contiguous().t()], served=served_igamma(name, dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("name", ["igamma", "igammac"])
def test_igamma_edges(name, dtype):
    """Torch's conventions: negative a or x, a = 0, x = 0, infinities, NaN; large arguments."""
    a_values = [-1.0, 1.0, 0.0, 0.0, 2.0, INF, INF, 3.0, NAN, 1.0, 100.0, 100.0, 1e-3, 30.0]
    x_values = [1.0, -1.0, 1.0, 0.0, 0.0, 1.0, INF, INF, 1.0, NAN, 90.0, 110.0, 1e-3, 1e-5]
    check(aten_op(name), [specials(dtype, a_values), specials(dtype, x_values)], served=name,
          reference="torch")


# ---- aliases: CompositeImplicitAutograd overloads, served by what they decompose into -------------

ALIASES = [
    ("special_erf", "erf", lambda x: torch.special.erf(x)),
    ("special_erfc", "erfc", lambda x: torch.special.erfc(x)),
    ("special_erfinv", "erfinv", lambda x: torch.special.erfinv(x.clamp(-0.9, 0.9))),
    ("special_gammaln", "lgamma", lambda x: torch.special.gammaln(x)),
    ("special_digamma", "digamma", lambda x: torch.special.digamma(x)),
    ("special_psi", "digamma", lambda x: torch.special.psi(x)),
    ("special_multigammaln", "mvlgamma", lambda x: torch.special.multigammaln(x + 3, 2)),
    ("special_polygamma", "polygamma", lambda x: torch.special.polygamma(2, x)),
    ("special_i0", "i0", lambda x: torch.special.i0(x)),
    ("special_ndtr", "erf", lambda x: torch.special.ndtr(x)),
    ("special_gammainc", "igamma", lambda x: torch.special.gammainc(x, x + 0.5)),
    ("special_gammaincc", "igammac", lambda x: torch.special.gammaincc(x, x + 0.5)),
    ("special_logsumexp", "logsumexp", lambda x: torch.special.logsumexp(x, 1)),
]


@pytest.mark.parametrize("alias, target, fn", ALIASES, ids=[a[0] for a in ALIASES])
def test_alias(alias, target, fn):
    rows = {row.overload: row for row in gemforge.registered_ops()}
    assert alias in rows and rows[alias].via == target
    assert torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{alias}", "CompositeImplicitAutograd")
    assert not torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{alias}", "CUDA")
    x = make((5, 7), torch.float32, DEVICE, 0.2, 3)
    check(fn, [x], served=target)


@pytest.mark.parametrize("alias, target", [("special_erf", "erf"), ("special_gammaln", "lgamma"),
                                           ("special_psi", "digamma"), ("special_i0", "i0"),
                                           ("special_erfinv", "erfinv")])
def test_alias_out(alias, target):
    rows = {row.overload: row for row in gemforge.registered_ops()}
    assert rows[f"{alias}.out"].via == f"{target}.out"
    op = aten_op(f"{alias}.out")
    x = make((5, 7), torch.float32, DEVICE, 0.2, 0.9)
    check(lambda a, o: op(a, out=o), [x, torch.empty(0, device=DEVICE)], served=f"{target}.out")


def test_autograd_still_works():
    """Served overloads keep torch's derivative formulas (the alias rows are not registered)."""
    x = make((9,), torch.float64, DEVICE, 0.5, 2).requires_grad_()
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        (torch.special.gammaln(x).sum() + torch.special.erf(x).sum()).backward()
    expected = torch.digamma(x.detach()) + 2 / torch.pi ** 0.5 * torch.exp(-x.detach() ** 2)
    torch.testing.assert_close(x.grad, expected)
    assert served_count(counts, "lgamma") >= 1 and served_count(counts, "erf") >= 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64], ids=str)
def test_special_logsumexp_out(dtype):
    """special_logsumexp.out is torch's composite of logsumexp.out, served by the reduction
    engine: dims, keepdim, a resized out; an integer out or another floating out dtype as torch."""
    rows = {row.overload: row for row in gemforge.registered_ops()}
    assert rows["special_logsumexp.out"].via == "logsumexp.out"
    x = make((4, 5, 6), dtype, DEVICE, -4, 4)
    result = torch.float32 if dtype is torch.int64 else dtype
    for dims, keepdim in [((1,), False), ((0, 2), True), ((-1,), False)]:
        check(lambda t, o, d=dims, k=keepdim: torch.special.logsumexp(t, d, k, out=o),
              [x, torch.empty(0, dtype=result, device=DEVICE)], served="logsumexp.out")
        check(lambda t, o, d=dims, k=keepdim: torch.logsumexp(t, d, k, out=o),
              [x, torch.empty(0, dtype=result, device=DEVICE)], served="logsumexp.out")
    # infinities and NaN in the rows
    y = make((3, 8), torch.float32, DEVICE)
    y[0] = -INF
    y[1, 2] = INF
    y[2, 3] = NAN
    check(lambda t, o: torch.logsumexp(t, 1, out=o), [y, torch.empty(3, device=DEVICE)],
          served="logsumexp.out")
    # an integer out: torch raises; a wider out: torch's kernel
    check(lambda t, o: torch.logsumexp(t, 1, out=o), [y, torch.empty(0, dtype=torch.int64, device=DEVICE)])
    check(lambda t, o: torch.logsumexp(t, 1, out=o), [y, torch.empty(0, dtype=torch.float64, device=DEVICE)])
