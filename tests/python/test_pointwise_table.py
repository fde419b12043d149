"""2-byte unary ops by table (backends/cuda/pointwise_table.cuh): large dense fp16 / bf16 inputs
of the math-heavy unary ops are looked up in a table of the op's accurate float functor at all
65536 bit patterns.

The input holds every bit pattern (NaNs, infinities, denormals, both zeros), repeated past the
table path's size threshold with a tail that is not a whole tile. Its result must be, bit for bit,
the op computed in float32 by gemforge and rounded to the dtype (the same functor, element by
element); close to torch's own result in the dtype; and close to torch's float64 result. In-place
and out= forms take the same path; a non-contiguous input does not, and must agree as well.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import gemforge
from conftest import DEVICE

pytestmark = pytest.mark.skipif(DEVICE != "cuda", reason="the table path is the cuda backend's")

PATTERNS = 1 << 16
N = 64 * PATTERNS + 777  # above the 2^22-element threshold; the tail is not a whole tile

# (id, call, the aten base name gemforge serves)
# round(decimals) computes as torch's cuda kernel does, scaling in the 2-byte type (its float
# functor is not the fp32 op's, and the float64 result is not torch's); mvlgamma is a composite
# in torch, whose fp16 terms are rounded one by one: compared with float64 only.
SAME_DTYPE_FUNCTOR = {"round2"}
NOT_TORCH = {"mvlgamma3"}
OPS = [
    ("sin", torch.sin, "sin"), ("cos", torch.cos, "cos"), ("tan", torch.tan, "tan"),
    ("asin", torch.asin, "asin"), ("acos", torch.acos, "acos"), ("atan", torch.atan, "atan"),
    ("asinh", torch.asinh, "asinh"), ("acosh", torch.acosh, "acosh"), ("atanh", torch.atanh, "atanh"),
    ("sinh", torch.sinh, "sinh"),
    ("log", torch.log, "log"), ("log2", torch.log2, "log2"), ("log10", torch.log10, "log10"),
    ("log1p", torch.log1p, "log1p"), ("expm1", torch.expm1, "expm1"), ("sinc", torch.sinc, "sinc"),
    ("erf", torch.erf, "erf"), ("erfc", torch.erfc, "erfc"), ("erfinv", torch.erfinv, "erfinv"),
    ("lgamma", torch.lgamma, "lgamma"), ("digamma", torch.digamma, "digamma"),
    ("polygamma2", lambda x: torch.polygamma(2, x), "polygamma"),
    ("mvlgamma3", lambda x: torch.mvlgamma(x.nan_to_num(2.0).clamp(min=1.5), 3), "mvlgamma"),
    ("i0", torch.i0, "i0"), ("i0e", torch.special.i0e, "special_i0e"),
    ("i1", torch.special.i1, "special_i1"), ("i1e", torch.special.i1e, "special_i1e"),
    ("gelu", F.gelu, "gelu"), ("elu", F.elu, "elu"),
    ("selu", F.selu, "elu"), ("softplus", lambda x: F.softplus(x, beta=2.0, threshold=10.0), "softplus"),
    ("logsigmoid", F.logsigmoid, "log_sigmoid"),
    ("logit", torch.logit, "logit"), ("logit_eps", lambda x: torch.logit(x, eps=1e-3), "logit"),
    ("round2", lambda x: torch.round(x, decimals=2), "round"),
]
IDS = [op[0] for op in OPS]


def every_pattern(dtype):
    one = (torch.arange(PATTERNS, dtype=torch.int32, device=DEVICE) - 32768).to(torch.int16).view(dtype)
    return one.repeat(N // PATTERNS + 1)[:N].contiguous()


def served_names(counts, base):
    """Calls of any overload of aten base name `base` in a stats Counter."""
    return sum(n for name, n in counts.items() if name.split(".")[0].startswith(base))


def bits_equal(a, b):
    return torch.equal(a.view(torch.int16), b.view(torch.int16))


def close_in_dtype(got, expected, dtype):
    """Within one unit in the last place of the dtype (or 1e-3 absolute, for results near a zero of
    the function that a float32 computation places differently), NaN where the other is NaN."""
    g, e = got.double(), expected.double()
    ulp = 2.0 ** (-7 if dtype is torch.bfloat16 else -10)
    same = (g == e) | (g.isnan() & e.isnan())
    near = (g - e).abs() <= torch.maximum(e.abs() * ulp * 1.01, torch.full_like(e, 1e-3))
    bad = ~(same | near)
    assert not bad.any(), f"{int(bad.sum())} differ, e.g. got {g[bad][:4].tolist()} expected {e[bad][:4].tolist()}"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("name, fn, overload", OPS, ids=IDS)
def test_table_is_the_float_functor(name, fn, overload, dtype):
    x = every_pattern(dtype)
    with torch.no_grad():
        expected = fn(x)
        with gemforge.use_gems(), gemforge.collect_stats() as counts:
            got = fn(x)
            if name in SAME_DTYPE_FUNCTOR:  # element by element in the dtype: a transposed view
                per_element = fn(x[:PATTERNS].view(256, 256).t()).t().reshape(-1)
            else:  # gemforge in float32, then rounded
                per_element = fn(x[:PATTERNS].float()).to(dtype)
    assert served_names(counts, overload) >= 1, dict(counts)
    assert got.dtype == dtype and got.shape == x.shape
    first = got[:PATTERNS]
    assert bits_equal(first, per_element), f"{int((first.view(torch.int16) != per_element.view(torch.int16)).sum())} of 65536 differ"
    repeats = N // PATTERNS
    assert bits_equal(got[: repeats * PATTERNS].view(repeats, PATTERNS), first.expand(repeats, PATTERNS))
    assert bits_equal(got[repeats * PATTERNS:], first[: N - repeats * PATTERNS])
    if name in SAME_DTYPE_FUNCTOR:
        torch.testing.assert_close(first, expected[:PATTERNS], rtol=0, atol=0, equal_nan=True)
        return
    if name not in NOT_TORCH:
        close_in_dtype(first, expected[:PATTERNS], dtype)
    finite = x[:PATTERNS].float().isfinite() & (x[:PATTERNS].float().abs() < 1e4)
    reference = fn(x[:PATTERNS].double().cpu()).to(dtype).to(DEVICE)
    close_in_dtype(first[finite], reference[finite], dtype)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_table_inplace_out_and_layouts(dtype):
    x = every_pattern(dtype)
    with gemforge.use_gems():
        expected = torch.asinh(x)
        y = x.clone()
        torch.asinh_(y)
        assert bits_equal(y, expected)
        out = torch.empty_like(x)
        torch.asinh(x, out=out)
        assert bits_equal(out, expected)
        # a transposed view (the tiled kernel) and a view off 16-byte alignment (the strided one)
        # compute element by element with the same functor (acosh has no lowp form)
        table = torch.acosh(x)
        m = x[: 2048 * 2048].view(2048, 2048)
        assert bits_equal(torch.acosh(m.t()).t(), table[: 2048 * 2048].view(2048, 2048))
        assert bits_equal(torch.acosh(x[1:]), table[1:])
        # another argument, another table: both cached side by side
        a, b = torch.logit(x, eps=0.25), torch.logit(x, eps=0.125)
        assert bits_equal(a, torch.logit(x.float(), eps=0.25).to(dtype))
        assert bits_equal(b, torch.logit(x.float(), eps=0.125).to(dtype))
