"""Rounding and sign: ceil, floor, round (and round.decimals), trunc, frac, sign, sgn, nan_to_num,
and the composite aliases fix and special_round.

Each case goes through conftest.check (float64 reference for floating results, exact for integers
and bool; where torch raises, gemforge must raise the same type) and names the overload gemforge
must have served. Rounding an integer tensor is a copy in torch, and so it is here.
"""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

from conftest import quiet, result_dtype, ALL_DTYPES, DEVICE, FLOATS, SHAPES, aten_op, check, make, with_specials

NAMES = ["ceil", "floor", "round", "trunc", "frac", "sign", "sgn"]


def served(name, dtype, overload):
    """sgn of a complex tensor is torch's kernel (the other ops raise for complex)."""
    return None if dtype.is_complex else overload


def grid(shape, dtype, low=-4.0, high=4.0):
    """Values on a grid of 0.25 (ties of round, exact integers) plus random ones."""
    t = make(shape, dtype, DEVICE, low, high)
    if dtype.is_floating_point and t.numel():
        flat = t.reshape(-1)
        flat[::2] = (flat[::2].double() * 4).round().div(4).to(dtype)
    return t


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_unary(name, dtype, shape):
    check(aten_op(name), [grid(shape, dtype)], served=served(name, dtype, name))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_out_and_inplace(name, dtype):
    a = grid((6, 9), dtype)
    out_dtype = result_dtype(aten_op(name), a) or dtype
    with quiet():
        check(lambda x, o: aten_op(f"{name}.out")(x, out=o),
              [a, torch.empty(0, dtype=out_dtype, device=DEVICE)], served=served(name, dtype, f"{name}.out"))
        check(lambda x, o: aten_op(f"{name}.out")(x, out=o),
              [a, make((9, 6), out_dtype, DEVICE).t()], served=served(name, dtype, f"{name}.out"))
    check(lambda x: aten_op(f"{name}_")(x), [a.t().contiguous().t()],
          served=served(name, dtype, f"{name}_"))
    check(lambda x: aten_op(f"{name}_")(x), [a[:, ::2]], served=served(name, dtype, f"{name}_"))


@pytest.mark.parametrize("name", NAMES)
def test_out_wrong_dtype(name):
    """torch's unary iterator wants out= of the input's dtype: a float64 out of a float32 input
    and an int out of a float input raise; so does an int out of an int input for frac."""
    a = grid((4, 5), torch.float32)
    for out_dtype in (torch.float64, torch.int32):
        check(lambda x, o: aten_op(f"{name}.out")(x, out=o),
              [a, torch.empty(0, dtype=out_dtype, device=DEVICE)], served=None)
    i = grid((4, 5), torch.int32)
    check(lambda x, o: aten_op(f"{name}.out")(x, out=o),
          [i, torch.empty(0, dtype=torch.float32, device=DEVICE)], served=None)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_special_values(name, dtype):
    """NaN, +-inf, +-0, +-1 and halves (round to even)."""
    a = with_specials(make((64,), dtype, DEVICE, -5, 5))
    a[8:16] = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, -3.75], dtype=dtype)
    check(aten_op(name), [a], served=name, reference="exact")
    check(aten_op(f"{name}_"), [a], served=f"{name}_", reference="exact")


def test_rounding_keeps_signed_zero():
    """ceil(-0.5) is -0, trunc(-0.5) is -0, round(-0.4) is -0: the bits, not only the values."""
    a = torch.tensor([-0.5, -0.4, -0.0, 0.3], device=DEVICE)
    for name in ("ceil", "trunc", "round"):
        result = check(aten_op(name), [a], served=name, reference="exact")
        assert torch.equal(torch.signbit(result.cpu()), torch.signbit(aten_op(name)(a).cpu()))


@pytest.mark.parametrize("decimals", [0, 1, 3, -1, -2], ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_round_decimals(dtype, decimals):
    """Floating only in torch, even for 0 decimals (integers raise). Compared with torch's own
    result: x * 10**d is rounded in the compute dtype (float for fp16/bf16/fp32) before it is
    rounded to an integer, so a float64 reference lands on the other side of a tie now and then."""
    a = make((6, 9), dtype, DEVICE, -300, 300)
    s = served("round", dtype, "round.decimals")
    check(lambda x: torch.round(x, decimals=decimals), [a], served=s, reference="torch")
    check(lambda x, o: torch.round(x, decimals=decimals, out=o),
          [a, torch.empty(0, dtype=dtype, device=DEVICE)],
          served=served("round", dtype, "round.decimals_out"), reference="torch")
    check(lambda x: x.round_(decimals=decimals), [a.t().contiguous().t()],
          served=served("round", dtype, "round_.decimals"), reference="torch")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_round_decimals_special_values(dtype):
    a = with_specials(make((32,), dtype, DEVICE, -50, 50))
    for decimals in (2, -1):
        check(lambda x: torch.round(x, decimals=decimals), [a], served="round.decimals",
              reference="torch")


# ---- nan_to_num -------------------------------------------------------------------------------------

REPLACEMENTS = [{}, {"nan": 2.0}, {"posinf": 7.5, "neginf": -7.5}, {"nan": -1.0, "posinf": 1e30},
                {"neginf": 3.0}]


@pytest.mark.parametrize("kwargs", REPLACEMENTS, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_nan_to_num(dtype, kwargs):
    """The defaults are the dtype's largest and lowest finite values (fp16 and bf16 their own);
    a replacement too large for the dtype is its inf."""
    a = make((64,), dtype, DEVICE)
    if dtype.is_floating_point:
        a = with_specials(a)
    s = served("nan_to_num", dtype, "nan_to_num")
    check(lambda x: torch.nan_to_num(x, **kwargs), [a], served=s, reference="exact")
    check(lambda x, o: torch.nan_to_num(x, out=o, **kwargs),
          [a, torch.empty(0, dtype=dtype, device=DEVICE)],
          served=served("nan_to_num", dtype, "nan_to_num.out"), reference="exact")
    check(lambda x: x.nan_to_num_(**kwargs), [a.reshape(8, 8).t()],
          served=served("nan_to_num", dtype, "nan_to_num_"), reference="exact")


def test_nan_to_num_out_wrong_dtype():
    a = with_specials(make((16,), torch.float32, DEVICE))
    for out_dtype in (torch.float64, torch.int32):
        check(lambda x, o: torch.nan_to_num(x, out=o), [a, torch.empty(0, dtype=out_dtype,
                                                                       device=DEVICE)],
              served=None)
    check(lambda x, o: torch.nan_to_num(x, out=o),
          [make((4,), torch.int64, DEVICE), torch.empty(0, dtype=torch.float32, device=DEVICE)],
          served=None)


# ---- composite aliases ---------------------------------------------------------------------------

ALIASES = [
    ("fix", lambda a: torch.fix(a), "trunc"),
    ("fix_", lambda a: a.fix_(), "trunc_"),
    ("fix.out", lambda a: torch.fix(a, out=torch.empty_like(a)), "trunc.out"),
    ("special_round", lambda a: torch.special.round(a), "round.decimals"),
    ("special_round_decimals", lambda a: torch.special.round(a, decimals=2), "round.decimals"),
    ("special_round.out", lambda a: torch.special.round(a, out=torch.empty_like(a)),
     "round.decimals_out"),
]


@pytest.mark.parametrize("case", ALIASES, ids=[c[0] for c in ALIASES])
def test_alias_served_by_target(case):
    _, call, target = case
    check(call, [grid((5, 7), torch.float32)], served=target)
