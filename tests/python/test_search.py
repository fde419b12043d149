"""The search family: searchsorted (Tensor and Scalar values, out=, right= / side=, sorter=,
out_int32=, 1-d and batched boundaries), bucketize (Tensor and Scalar, out=) and bincount
(weights=, minlength=, out=): every dtype torch takes (and its error for the rest), mixed dtypes
(promoted as torch does), 0-d, empty and non-contiguous inputs, ties, NaN in values and in
boundaries (torch's search path, step for step), rows long enough for the cuda kernel's
shared-memory tree, and torch's errors. histc: every dtype (torch's cpu kernel takes floating
dtypes, its cuda kernel integers, float and double), the data's range when min == max, values
on bin edges, outside the range, NaN / inf, many bins, out=, and torch's errors.
unique_consecutive (dim=None; a dim goes to torch): every dtype, 0-d, empty, runs, NaN (a run
of its own), -0.0 == 0.0, non-contiguous input, the inverse and counts flags, out=.

Positions and counts are integers: compared exactly with torch (histc's counts too: its bin
formula is torch's, in the input's dtype on the cpu, so a float64 reference could bin edge values
differently). Weighted bincount sums in the weights' dtype; float32 sums compare within float32's
tolerance.
"""

from __future__ import annotations

import pytest
import torch

import gemforge
from conftest import (BOOL, COMPLEX, DEVICE, FLOATS, INTS, assert_same_error, assert_same_values,
                      check, make, quiet, raised, served_count)

REAL = INTS + FLOATS


def sorted_values(shape, dtype, low=-20, high=20):
    """Sorted rows (along the last dim) of values in [low, high]: ties for narrow dtypes."""
    return make(shape, dtype, low=low, high=high).sort(dim=-1).values


def search_variants(fn):
    """fn's results for left, right, side='left' / 'right' and out_int32, joined (int64)."""
    def run(bd, v):
        results = [fn(bd, v), fn(bd, v, right=True), fn(bd, v, side="left"),
                   fn(bd, v, side="right", right=True), fn(bd, v, out_int32=True)]
        return torch.cat([r.reshape(-1).long() for r in results])
    return run


# ---- searchsorted ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", REAL, ids=str)
@pytest.mark.parametrize("values_shape", [(), (0,), (7,), (2, 3, 4)], ids=str)
def test_searchsorted_1d(dtype, values_shape):
    bd = sorted_values((9,), dtype)
    v = make(values_shape, dtype, low=-25, high=25)
    check(search_variants(torch.searchsorted), [bd, v], served="searchsorted.Tensor")


@pytest.mark.parametrize("dtype", REAL, ids=str)
@pytest.mark.parametrize("shapes", [((3, 8), (3, 5)), ((2, 3, 6), (2, 3, 4)), ((4, 1), (4, 3)),
                                    ((2, 0), (2, 3)), ((3, 5), (3, 0))], ids=str)
def test_searchsorted_batched(dtype, shapes):
    bd = sorted_values(shapes[0], dtype)
    v = make(shapes[1], dtype, low=-25, high=25)
    check(search_variants(torch.searchsorted), [bd, v], served="searchsorted.Tensor")


@pytest.mark.parametrize("dtype", REAL, ids=str)
@pytest.mark.parametrize("bd_shape", [(9,), (3, 7)], ids=str)
def test_searchsorted_sorter(dtype, bd_shape):
    unsorted = make(bd_shape, dtype, low=-20, high=20)
    sorter = unsorted.argsort(dim=-1, stable=True)
    v = make(bd_shape[:-1] + (5,), dtype, low=-25, high=25)
    check(lambda b, x, s: torch.cat([torch.searchsorted(b, x, sorter=s),
                                     torch.searchsorted(b, x, sorter=s, side="right")]),
          [unsorted, v, sorter], served="searchsorted.Tensor")


@pytest.mark.parametrize("bd_dtype,v_dtype", [(torch.int32, torch.float32), (torch.float32, torch.int64),
                                              (torch.uint8, torch.int8), (torch.float16, torch.bfloat16),
                                              (torch.float64, torch.float16)], ids=str)
def test_searchsorted_mixed_dtypes(bd_dtype, v_dtype):
    bd = sorted_values((11,), bd_dtype, low=0, high=30)
    v = make((4, 6), v_dtype, low=-2, high=33)
    check(search_variants(torch.searchsorted), [bd, v], served="searchsorted.Tensor")


def test_searchsorted_non_contiguous():
    bd = sorted_values((6, 7), torch.float32).t().contiguous().t()   # (6, 7) column-major, sorted rows
    v = make((5, 6), torch.float32, low=-25, high=25).t()             # (6, 5), transposed
    check(search_variants(torch.searchsorted), [bd, v], served="searchsorted.Tensor")
    check(search_variants(torch.searchsorted), [sorted_values((20,), torch.int64)[::2], v[:, ::2]],
          served="searchsorted.Tensor")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_searchsorted_nan_inf(dtype):
    bd = torch.tensor([-float("inf"), -1.0, 0.0, 0.0, 2.5, float("inf"), float("nan"), float("nan")],
                      dtype=dtype, device=DEVICE)
    v = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 2.5, 3.0, -7.0],
                     dtype=dtype, device=DEVICE)
    check(search_variants(torch.searchsorted), [bd, v], served="searchsorted.Tensor")
    # NaN amid the row: not sorted, but torch's answer is its search path's; ours follows it
    unsorted = torch.tensor([1.0, float("nan"), 3.0, 4.0, float("nan"), 6.0, 7.0], dtype=dtype,
                            device=DEVICE)
    check(search_variants(torch.searchsorted), [unsorted, make((40,), dtype, low=0, high=8)],
          served="searchsorted.Tensor")


@pytest.mark.parametrize("dtype", [torch.int16, torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("n", [1, 4095, 4097, 70000], ids=str)
def test_searchsorted_long_row(dtype, n):
    """Rows long enough for the cuda kernel's tree of midpoints (and unsorted ones: same path)."""
    low, high = (-30000, 30000) if dtype is torch.int16 else (-1e4, 1e4)
    count = 20000 if DEVICE == "cuda" else 3000
    bd = sorted_values((n,), dtype, low=low, high=high)
    v = make((count,), dtype, low=low * 1.1 if dtype.is_floating_point else low, high=high)
    hits = min(n, count // 2)
    v[:hits] = bd[:hits]  # exact hits
    check(search_variants(torch.searchsorted), [bd, v], served="searchsorted.Tensor")
    shuffled = bd[torch.randperm(n, device=DEVICE)]
    check(lambda b, x: torch.searchsorted(b, x), [shuffled, v], served="searchsorted.Tensor")


def test_searchsorted_out():
    bd = sorted_values((9,), torch.float32)
    v = make((3, 4), torch.float32, low=-25, high=25)
    out = torch.empty(0, dtype=torch.int64, device=DEVICE)
    check(lambda b, x, o: torch.searchsorted(b, x, out=o), [bd, v, out],
          served="searchsorted.Tensor_out")
    out32 = torch.empty(12, dtype=torch.int32, device=DEVICE)
    check(lambda b, x, o: torch.searchsorted(b, x, out_int32=True, right=True, out=o),
          [bd, v, out32], served="searchsorted.Tensor_out")
    strided = torch.empty(4, 3, dtype=torch.int64, device=DEVICE).t()
    check(lambda b, x, o: torch.searchsorted(b, x, out=o), [bd, v, strided],
          served="searchsorted.Tensor_out")
    for dtype, int32 in [(torch.int32, False), (torch.int64, True), (torch.float32, False)]:
        wrong = torch.empty(12, dtype=dtype, device=DEVICE)
        check(lambda b, x, o: torch.searchsorted(b, x, out_int32=int32, out=o), [bd, v, wrong])


@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_searchsorted_scalar(dtype):
    bd = sorted_values((9,), dtype)
    for value in [-30, 0, 3, 2.5, 100, True]:
        check(lambda b: torch.cat([torch.searchsorted(b, value).reshape(1),
                                   torch.searchsorted(b, value, right=True).reshape(1)]),
              [bd], served="searchsorted.Scalar")
    out = torch.empty((), dtype=torch.int32, device=DEVICE)
    check(lambda b, o: torch.searchsorted(b, 3, out_int32=True, side="right", out=o), [bd, out],
          served="searchsorted.Scalar_out")


@pytest.mark.parametrize("dtype", BOOL + COMPLEX, ids=str)
def test_searchsorted_unsupported_dtype(dtype):
    bd = make((5,), dtype)
    check(lambda b, x: torch.searchsorted(b, x), [bd, make((3,), dtype)])
    check(lambda b: torch.searchsorted(b, 1), [bd])


@pytest.mark.parametrize("case", [
    "bad_side", "opposite_side", "sorter_size", "sorter_dtype", "sorter_range", "sorter_negative",
    "bd_0d", "scalar_batched", "leading_dims", "leading_rank", "out_dtype", "bool_values",
])
def test_searchsorted_errors(case):
    bd = sorted_values((5,), torch.float32)
    v = make((3,), torch.float32)
    idx = torch.arange(5, device=DEVICE)
    calls = {
        "bad_side": lambda: torch.searchsorted(bd, v, side="middle"),
        "opposite_side": lambda: torch.searchsorted(bd, v, side="left", right=True),
        "sorter_size": lambda: torch.searchsorted(bd, v, sorter=idx[:4]),
        "sorter_dtype": lambda: torch.searchsorted(bd, v, sorter=idx.int()),
        "sorter_range": lambda: torch.searchsorted(bd, v, sorter=idx + 1),
        "sorter_negative": lambda: torch.searchsorted(bd, v, sorter=idx - 1),
        "bd_0d": lambda: torch.searchsorted(bd[0], v),
        "scalar_batched": lambda: torch.searchsorted(bd.view(1, 5), v[0]),
        "leading_dims": lambda: torch.searchsorted(bd.view(1, 5).expand(2, 5), v.view(3, 1)),
        "leading_rank": lambda: torch.searchsorted(bd.view(1, 1, 5), v.view(1, 3)),
        "out_dtype": lambda: torch.searchsorted(bd, v, out=torch.empty(3, device=DEVICE)),
        "bool_values": lambda: torch.searchsorted(bd.bool(), v.bool()),
    }
    check(lambda: calls[case](), [])


# ---- bucketize -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", REAL, ids=str)
@pytest.mark.parametrize("values_shape", [(), (0,), (3, 5)], ids=str)
def test_bucketize(dtype, values_shape):
    bd = sorted_values((9,), dtype)
    v = make(values_shape, dtype, low=-25, high=25)
    check(lambda x, b: torch.cat([torch.bucketize(x, b).reshape(-1),
                                  torch.bucketize(x, b, right=True).reshape(-1),
                                  torch.bucketize(x, b, out_int32=True).reshape(-1).long()]),
          [v, bd], served="bucketize.Tensor")


def test_bucketize_forms():
    bd = sorted_values((9,), torch.float64)
    v = make((2, 7), torch.float32, low=-25, high=25).t()
    out = torch.empty(0, dtype=torch.int32, device=DEVICE)
    check(lambda x, b, o: torch.bucketize(x, b, out_int32=True, out=o), [v, bd, out],
          served="bucketize.Tensor_out")
    check(lambda b: torch.bucketize(2.5, b, right=True), [bd], served="bucketize.Scalar")
    with quiet():
        for dtype in [torch.int64, torch.float32, torch.int32]:  # only the result's dtype: torch raises
            out = torch.empty(3, dtype=dtype, device=DEVICE)
            check(lambda b, o: torch.ops.aten.bucketize.Scalar_out(4, b, out=o), [bd, out],
                  served="bucketize.Scalar_out")


def test_bucketize_errors():
    bd = sorted_values((2, 5), torch.float32)
    check(lambda b: torch.bucketize(make((3,), torch.float32), b), [bd])
    check(lambda b: torch.bucketize(1.0, b), [bd])
    check(lambda b: torch.bucketize(make((3,), torch.bool), b), [bd[0].bool()])
    out = torch.empty(3, dtype=torch.int32, device=DEVICE)
    check(lambda b, o: torch.bucketize(make((3,), torch.float32), b, out=o), [bd[0], out])


# ---- bincount --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", INTS, ids=str)
@pytest.mark.parametrize("n", [0, 7, 1000], ids=str)
@pytest.mark.parametrize("minlength", [0, 50], ids=str)
def test_bincount(dtype, n, minlength):
    x = make((n,), dtype, low=0, high=40)
    check(lambda t: torch.bincount(t, minlength=minlength), [x], served="bincount")


@pytest.mark.parametrize("wdtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16,
                                    torch.int32, torch.bool], ids=str)
def test_bincount_weights(wdtype):
    x = make((300,), torch.int64, low=0, high=20)
    w = make((300,), wdtype, low=-2, high=2)
    served = None if DEVICE == "cuda" else "bincount"  # weighted counts on cuda: torch's (ops/search.cpp)
    check(lambda t, u: torch.bincount(t, u, minlength=25), [x, w], served=served)
    check(lambda t, u: torch.bincount(t, u), [x[::2], w[1::2]], served=served)


def test_bincount_large_bins():
    x = make((2000,), torch.int32, low=0, high=30000)
    x[0] = 30000
    check(lambda t: torch.bincount(t), [x], served="bincount")
    check(lambda t, u: torch.bincount(t, u), [x, make((2000,), torch.float64)],
          served=None if DEVICE == "cuda" else "bincount")  # weighted counts on cuda: torch's


def test_bincount_out():
    x = make((50,), torch.uint8, low=0, high=9)
    for dtype in [torch.int64, torch.float32]:
        out = torch.empty(0, dtype=dtype, device=DEVICE)
        check(lambda t, o: torch.ops.aten.bincount.out(t, minlength=12, out=o), [x, out],
              served="bincount.out")


@pytest.mark.parametrize("case", ["negative", "two_d", "empty_two_d", "float", "bool", "minlength",
                                  "weights_len", "weights_2d", "complex_weights"])
def test_bincount_errors(case):
    x = make((6,), torch.int64, low=0, high=5)
    calls = {
        "negative": lambda: torch.bincount(x - 3),
        "two_d": lambda: torch.bincount(x.view(2, 3)),
        "empty_two_d": lambda: torch.bincount(x[:0].view(0, 1)),
        "float": lambda: torch.bincount(x.float()),
        "bool": lambda: torch.bincount(x.bool()),
        "minlength": lambda: torch.bincount(x, minlength=-1),
        "weights_len": lambda: torch.bincount(x, torch.ones(5, device=DEVICE)),
        "weights_2d": lambda: torch.bincount(x, torch.ones(2, 3, device=DEVICE)),
        "complex_weights": lambda: torch.bincount(x, torch.ones(6, dtype=torch.complex64, device=DEVICE)),
    }
    with quiet():
        check(lambda: calls[case](), [])


# ---- histc ------------------------------------------------------------------------------------

HISTC_DTYPES = FLOATS if DEVICE == "cpu" else [t for t in INTS if t != torch.uint8] + FLOATS


@pytest.mark.parametrize("dtype", REAL, ids=str)
@pytest.mark.parametrize("shape", [(0,), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("bins,lo,hi", [(10, 0, 0), (7, -2, 2), (1, -3, 3), (4, 1, 1), (5, 2.5, 2.75)],
                         ids=str)
def test_histc(dtype, shape, bins, lo, hi):
    """Counts stay small (fp16 / bf16 counts are exact). Dtypes torch rejects raise the same."""
    x = make(shape, dtype, low=-3, high=3)
    served = "histc" if dtype in HISTC_DTYPES else None
    check(lambda t: torch.histc(t, bins=bins, min=lo, max=hi), [x], served=served, reference="exact")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
def test_histc_edges_and_specials(dtype):
    """Values on the bin edges, at min and max (max closes the last bin), outside the range,
    NaN and inf (skipped), a non-contiguous input, many bins (past the shared-memory path)."""
    edges = torch.linspace(-1, 1, 9, dtype=torch.float64).to(dtype)
    x = torch.cat([edges, torch.tensor([-1.5, 1.5, float("nan"), float("inf"), -float("inf")],
                                       dtype=dtype), make((60,), dtype, low=-1.2, high=1.2).cpu()]).to(DEVICE)
    exact = dict(served="histc", reference="exact")
    check(lambda t: torch.histc(t, bins=8, min=-1, max=1), [x], **exact)
    check(lambda t: torch.histc(t, bins=3, min=-1, max=1), [x.view(2, -1).t()], **exact)
    check(lambda t: torch.histc(t, bins=20000, min=-1, max=1), [x[::3]], **exact)
    check(lambda t: torch.histc(t), [x.nan_to_num(0, 0, 0)], **exact)


def test_histc_out():
    x = make((5, 7), torch.float32)
    out = torch.empty(0, device=DEVICE)
    check(lambda t, o: torch.histc(t, bins=6, min=-3, max=3, out=o), [x, out], served="histc.out",
          reference="exact")
    strided = torch.empty(12, device=DEVICE)[::2]
    check(lambda t, o: torch.histc(t, bins=6, out=o), [x, strided], served="histc.out", reference="exact")
    wrong = torch.empty(6, dtype=torch.float64, device=DEVICE)
    check(lambda t, o: torch.histc(t, bins=6, out=o), [x, wrong], reference="exact")


@pytest.mark.parametrize("case", ["bins", "reversed", "inf", "nan_data", "nan_range", "int_input"])
def test_histc_errors(case):
    x = make((6,), torch.float32)
    calls = {
        "bins": lambda: torch.histc(x, bins=0),
        "reversed": lambda: torch.histc(x, bins=4, min=2, max=1),
        "inf": lambda: torch.histc(x, bins=4, min=0, max=float("inf")),
        "nan_data": lambda: torch.histc(torch.tensor([float("nan"), 1.0], device=DEVICE), bins=4),
        "nan_range": lambda: torch.histc(x, bins=4, min=float("nan"), max=1),
        "int_input": lambda: torch.histc(x.int(), bins=4),
    }
    check(lambda: calls[case](), [])


# ---- unique_consecutive -----------------------------------------------------------------------

def check_unique_consecutive(x, *flags, served="unique_consecutive", **kwargs):
    """torch's three results against gemforge's, exactly (values, inverse, counts)."""
    expected = torch.unique_consecutive(x, *flags, **kwargs)
    with gemforge.use_gems(backends=[DEVICE]), gemforge.collect_stats() as counts:
        actual = torch.unique_consecutive(x.clone(), *flags, **kwargs)
    if served:
        assert served_count(counts, served) >= 1, dict(counts)
    expected = expected if isinstance(expected, tuple) else (expected,)
    actual = actual if isinstance(actual, tuple) else (actual,)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.dtype == e.dtype and a.shape == e.shape and a.device == e.device
        assert_same_values(a, e, exact=True)


@pytest.mark.parametrize("dtype", BOOL + REAL, ids=str)
@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 0), (40,), (3, 5, 4)], ids=str)
def test_unique_consecutive(dtype, shape):
    x = make(shape, dtype, low=0, high=2)  # few values: long runs
    for inverse, counts in [(False, False), (True, False), (False, True), (True, True)]:
        check_unique_consecutive(x, return_inverse=inverse, return_counts=counts)


def test_unique_consecutive_specials_and_layout():
    x = torch.tensor([float("nan"), float("nan"), 0.0, -0.0, 1.0, 1.0, float("inf"), float("inf")],
                     device=DEVICE)
    check_unique_consecutive(x, return_inverse=True, return_counts=True)
    y = make((6, 50), torch.int64, low=0, high=1).t()  # non-contiguous: runs of the flattened copy
    check_unique_consecutive(y, return_inverse=True, return_counts=True)
    check_unique_consecutive(make((4000,), torch.int32, low=0, high=1), return_counts=True)


def test_unique_consecutive_dim_and_unserved():
    x = make((4, 3), torch.int64, low=0, high=1)
    check_unique_consecutive(x, return_counts=True, dim=0, served=None)
    check(lambda t: torch.unique_consecutive(t), [make((5,), torch.complex64)])


def test_unique_consecutive_out():
    x = make((30,), torch.float32, low=0, high=2).round()
    outs = [torch.empty(0, device=DEVICE), torch.empty(0, dtype=torch.int64, device=DEVICE),
            torch.empty(0, dtype=torch.int64, device=DEVICE)]
    with gemforge.use_gems(backends=[DEVICE]), gemforge.collect_stats() as counts:
        torch.ops.aten.unique_consecutive.out(x, True, True, out0=outs[0], out1=outs[1], out2=outs[2])
    assert served_count(counts, "unique_consecutive.out") >= 1
    expected = torch.unique_consecutive(x, return_inverse=True, return_counts=True)
    for a, e in zip(outs, expected):
        assert_same_values(a, e, exact=True)
    wrong = torch.empty(0, dtype=torch.int32, device=DEVICE)
    err = raised(torch.ops.aten.unique_consecutive.out, x, True, True, out0=outs[0], out1=wrong, out2=outs[2])
    with gemforge.use_gems(backends=[DEVICE]):
        gems_err = raised(torch.ops.aten.unique_consecutive.out, x, True, True, out0=outs[0],
                          out1=wrong, out2=outs[2])
    if err is not None:
        assert_same_error(err, gems_err)


# ---- _unique2 (torch.unique without dim) ---------------------------------------------------------
# Compared exactly with torch's cpu results (sorted values, NaNs each their own entry, last).

def check_unique2(x, sorted=True, served="_unique2"):
    for inverse, counts in [(False, False), (True, False), (False, True), (True, True)]:
        expected = torch.ops.aten._unique2(x.cpu(), sorted, inverse, counts)
        with gemforge.use_gems(backends=[DEVICE]), gemforge.collect_stats() as stats:
            actual = torch.unique(x, sorted=sorted, return_inverse=inverse, return_counts=counts)
        if served:
            assert served_count(stats, served) >= 1, dict(stats)
        actual = actual if isinstance(actual, tuple) else (actual,)
        wanted = [expected[0]] + ([expected[1]] if inverse else []) + ([expected[2]] if counts else [])
        assert len(actual) == len(wanted)
        for a, e in zip(actual, wanted):
            assert a.dtype == e.dtype and a.shape == e.shape and a.device == x.device
            assert_same_values(a.cpu(), e, exact=True)


@pytest.mark.parametrize("dtype", BOOL + REAL, ids=str)
@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 0), (40,), (3, 5, 4), (3000,)], ids=str)
def test_unique2(dtype, shape):
    check_unique2(make(shape, dtype, low=-5, high=5))


def test_unique2_specials_and_layout():
    x = torch.tensor([float("nan"), 2.0, float("nan"), 0.0, -0.0, 1.0, float("inf"), -float("inf"), 1.0],
                     device=DEVICE)
    check_unique2(x)
    check_unique2(make((6, 50), torch.int64, low=0, high=9).t())  # non-contiguous
    check_unique2(make((500,), torch.float32, low=-3, high=3).round(), sorted=False)
    z = make((10,), torch.complex64)  # torch's kernel: its error for complex
    err = raised(torch.unique, z)
    with gemforge.use_gems(backends=[DEVICE]):
        assert_same_error(err, raised(torch.unique, z))


# ---- unique_dim (torch.unique with a dim) --------------------------------------------------------
# Compared exactly with torch's cpu results: rows (slices along dim) sorted lexicographically,
# the inverse and the counts.

def check_unique_dim(x, dim, served=True):
    for inverse, counts in [(False, False), (True, True), (False, True)]:
        expected = torch.unique(x.cpu(), dim=dim, return_inverse=inverse, return_counts=counts)
        with gemforge.use_gems(backends=[DEVICE]), gemforge.collect_stats() as stats:
            actual = torch.unique(x, dim=dim, return_inverse=inverse, return_counts=counts)
        if served:
            assert served_count(stats, "unique_dim") == 1, dict(stats)
        actual = actual if isinstance(actual, tuple) else (actual,)
        expected = expected if isinstance(expected, tuple) else (expected,)
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert a.dtype == e.dtype and a.shape == e.shape and a.device == x.device
            assert_same_values(a.cpu(), e, exact=True)


@pytest.mark.parametrize("dtype", BOOL + REAL, ids=str)
def test_unique_dim(dtype):
    # few distinct values: many repeated rows; rows of 1, 2, 3 and 16 elements
    check_unique_dim(make((50, 2), dtype, low=0, high=2), 0)
    check_unique_dim(make((3, 40), dtype, low=0, high=2), 1)
    check_unique_dim(make((2, 30, 8), dtype, low=-1, high=1), 1)
    check_unique_dim(make((300,), dtype, low=-4, high=4), 0)
    check_unique_dim(make((1, 5), dtype, low=0, high=2), 0)
    check_unique_dim(make((5, 12), dtype, low=0, high=1), -1)
    check_unique_dim(make((7, 2, 3), dtype, low=0, high=1).transpose(0, 2), 0)  # non-contiguous


def test_unique_dim_goes_to_torch():
    """Rows longer than 16 elements, empty inputs and complex stay torch's (its errors too)."""
    check_unique_dim(make((40, 17), torch.int64, low=0, high=1), 0, served=False)
    check_unique_dim(torch.empty(0, 3, device=DEVICE), 0, served=False)
    for x, dim in [(torch.empty(0, 0, 2, device=DEVICE), 0), (make((3,), torch.float32), 1),
                   (make((4, 2), torch.complex64), 0)]:
        err = raised(torch.unique, x, dim=dim)
        with gemforge.use_gems(backends=[DEVICE]):
            assert_same_error(err, raised(torch.unique, x, dim=dim))


def test_unique2_out():
    x = make((30,), torch.float32, low=0, high=3).round()
    outs = [torch.empty(0, device=DEVICE), torch.empty(0, dtype=torch.int64, device=DEVICE),
            torch.empty(0, dtype=torch.int64, device=DEVICE)]
    with gemforge.use_gems(backends=[DEVICE]), gemforge.collect_stats() as counts:
        torch.ops.aten._unique2.out(x, True, True, True, out0=outs[0], out1=outs[1], out2=outs[2])
    assert served_count(counts, "_unique2") >= 1
    expected = torch.ops.aten._unique2(x, True, True, True)
    for a, e in zip(outs, expected):
        assert_same_values(a, e, exact=True)
