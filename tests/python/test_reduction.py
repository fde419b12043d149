"""Reductions (issue 4): sum, mean, nansum, prod, amax/amin, max/min, argmax/argmin, all/any,
var/std (+ mean), logsumexp, linalg_vector_norm, count_nonzero, aminmax; against float64
references, every dim combination of 1-4-d inputs, non-contiguous and empty inputs, NaN/inf,
dtype= and out=, and torch's errors."""

from __future__ import annotations

import contextlib
import itertools
import math

import pytest
import torch

import gemforge
from conftest import (BACKEND, BOOL, DEVICE, FLOATS, INTS, TOLERANCES, assert_same_error,
                      assert_same_values, check, make, quiet, raised, row_backends, served_count,
                      with_specials)

REAL = BOOL + INTS + FLOATS
NUMERIC = INTS + FLOATS
SHAPES = [(), (7,), (3, 5), (2, 3, 4), (2, 3, 1, 5)]
INF = float("inf")


@contextlib.contextmanager
def reduced_size(n):
    """Tolerances for a reduction of n elements: the error of an fp32 (fp16/bf16 results
    accumulate in fp32) or fp64 accumulation grows about like sqrt(n) times the values'
    magnitude (3 here), so atol grows with it; fp16/bf16 results also round once more."""
    saved = dict(TOLERANCES)
    grow = 4 * 3 * math.sqrt(max(n, 1))
    for dtype, (rtol, atol) in saved.items():
        eps = torch.finfo(torch.float64 if dtype in (torch.float64, torch.complex128)
                          else torch.float32).eps
        TOLERANCES[dtype] = (rtol, atol + grow * eps)
    try:
        yield
    finally:
        TOLERANCES.update(saved)


def dim_sets(ndim):
    """Every non-empty set of dims, each once with negative dims."""
    for k in range(1, ndim + 1):
        for dims in itertools.combinations(range(ndim), k):
            yield dims
            yield tuple(d - ndim for d in dims)


def numel_of(shape, dims):
    return math.prod(shape[d] for d in dims) if dims else math.prod(shape)


def check_many(calls, x, served, **kwargs):
    """Many reductions of x in one check (each check costs an enable/disable): their results
    flattened and concatenated; each result's shape, dtype and contiguity against torch's too."""
    calls = list(calls)
    expected = [fn(x) for fn in calls]
    with gemforge.use_gems():
        actual = [fn(x.clone()) for fn in calls]
    for fn, mine, theirs in zip(calls, actual, expected):
        assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
        assert mine.is_contiguous() or not theirs.is_contiguous()
    return check(lambda t: torch.cat([fn(t).reshape(-1) for fn in calls]), [x], served=served, **kwargs)


def pair(fn, args, served):
    """fn under torch and gemforge (tuple results): both results, or both errors compared."""
    expected_error = raised(fn, *args)
    gems_args = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    if expected_error is not None:
        with gemforge.use_gems():
            assert_same_error(expected_error, raised(fn, *gems_args))
        return None, None
    expected = fn(*args)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        actual = fn(*gems_args)
    if BACKEND in row_backends(served):   # a row for other backends leaves this one to torch
        assert served_count(counts, served) >= 1, f"gemforge did not serve {served}: {dict(counts)}"
    return expected, actual


# ---- sum, mean, nansum, prod ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", REAL, ids=str)
@pytest.mark.parametrize("shape", SHAPES[1:], ids=str)
def test_sum_every_dim_set(dtype, shape):
    x = make(shape, dtype)
    calls = [lambda t, dims=dims, k=k: torch.sum(t, dims, keepdim=k)
             for dims in dim_sets(len(shape)) for k in (False, True)]
    with reduced_size(math.prod(shape)):
        check_many(calls, x, served="sum.dim_IntList")


@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_sum_full(dtype):
    for shape in SHAPES:
        check(lambda t: torch.sum(t), [make(shape, dtype)], served="sum")


@pytest.mark.parametrize("src,dtype", [
    (torch.int32, torch.float32), (torch.float32, torch.float64), (torch.float16, torch.float32),
    (torch.bfloat16, torch.float32), (torch.float32, torch.float16), (torch.int32, torch.int32),
    (torch.bool, torch.int32), (torch.int64, torch.int8), (torch.float32, torch.int32)], ids=str)
def test_sum_dtype_arg(src, dtype):
    x = make((4, 33), src)
    check(lambda t: torch.sum(t, 1, dtype=dtype), [x], served="sum.dim_IntList")
    check(lambda t: torch.sum(t, dtype=dtype), [x], served="sum")


@pytest.mark.parametrize("dtype", [torch.int32, torch.float32, torch.bfloat16], ids=str)
def test_sum_out(dtype):
    x = make((5, 6), dtype)
    out_dtype = torch.int64 if dtype is torch.int32 else dtype
    check(lambda t, o: torch.sum(t, 1, out=o), [x, torch.empty(5, dtype=out_dtype, device=DEVICE)],
          served="sum.IntList_out")
    # an out= that is a transposed view: written through its strides
    out = torch.empty(6, 3, dtype=out_dtype, device=DEVICE).t()
    y = make((3, 4, 6), dtype)
    check(lambda t, o: torch.sum(t, 1, out=o), [y, out], served="sum.IntList_out")
    check(lambda t, o: torch.ops.aten.sum.out(t, out=o), [x, torch.empty((), dtype=out_dtype, device=DEVICE)],
          served="sum.out")
    # out's dtype picks the result's dtype; dtype= must agree with it
    check(lambda t, o: torch.sum(t, 0, out=o), [x, torch.empty(0, dtype=torch.float64, device=DEVICE)],
          served="sum.IntList_out")
    check(lambda t, o: torch.sum(t, 0, dtype=torch.float64, out=o),
          [x, torch.empty(0, dtype=torch.float32, device=DEVICE)])


def noncontiguous_inputs(dtype):
    base = make((6, 8, 10), dtype)
    return {
        "transposed": base.transpose(0, 2),
        "permuted": base.permute(1, 2, 0),
        "sliced": base[:, ::2, 1:],
        "expanded": make((1, 8, 1), dtype).expand(6, 8, 10),
        "inner-sliced": base[..., ::3],
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int32, torch.bool], ids=str)
@pytest.mark.parametrize("layout", ["transposed", "permuted", "sliced", "expanded", "inner-sliced"])
def test_noncontiguous(dtype, layout):
    x = noncontiguous_inputs(dtype)[layout]
    dims_list = list(dim_sets(3))
    with reduced_size(x.numel()):
        check_many([lambda t, d=d: torch.sum(t, d) for d in dims_list], x, served="sum.dim_IntList")
        check_many([lambda t, d=d: torch.amax(t, d) for d in dims_list], x, served="amax")
        if dtype.is_floating_point:
            check_many([lambda t, d=d: torch.mean(t, d, keepdim=True) for d in dims_list], x, served="mean.dim")
            check_many([lambda t, d=d: torch.var(t, d) for d in dims_list], x, served="var.correction")
    if dtype is not torch.bool:
        check_many([lambda t, d=d: torch.argmax(t, d) for d in range(3)] + [torch.argmax], x, served="argmax")


@pytest.mark.parametrize("op", ["sum", "mean", "prod", "nansum", "amax", "all", "any", "var",
                                "count_nonzero", "logsumexp", "norm"])
@pytest.mark.parametrize("shape,dims", [((0,), (0,)), ((0, 3), (0,)), ((0, 3), (1,)), ((3, 0), (1,)),
                                        ((2, 0, 3), (0, 2)), ((0,), None)], ids=str)
def test_empty(op, shape, dims):
    x = make(shape, torch.float32)
    d = list(dims) if dims is not None else None
    calls = {
        "sum": (lambda t: torch.sum(t, d), "sum.dim_IntList"),
        "mean": (lambda t: torch.mean(t, d), "mean.dim"),
        "prod": (lambda t: torch.prod(t, d[0]) if d else torch.prod(t), "prod"),
        "nansum": (lambda t: torch.nansum(t, d), "nansum"),
        "amax": (lambda t: torch.amax(t, d or []), None),
        "all": (lambda t: torch.all(t, d[0]) if d else torch.all(t), "all"),
        "any": (lambda t: torch.any(t, d[0]) if d else torch.any(t), "any"),
        "var": (lambda t: torch.var(t, d), "var.correction"),
        "count_nonzero": (lambda t: torch.count_nonzero(t, d or []), None),
        "logsumexp": (lambda t: torch.logsumexp(t, d or [0]), "logsumexp"),
        "norm": (lambda t: torch.linalg.vector_norm(t, 2, d), "linalg_vector_norm"),
    }
    fn, served = calls[op]
    if op == "prod" and d:
        served = "prod.dim_int"
    if op in ("all", "any") and d:
        served = op + ".dim"
    with quiet():
        check(fn, [x], served=served)


@pytest.mark.parametrize("dtype", FLOATS + [torch.int64], ids=str)
def test_mean(dtype):
    x = make((3, 4, 5), dtype)
    if dtype.is_floating_point:
        check_many([lambda t, d=d: torch.mean(t, d) for d in dim_sets(3)], x, served="mean.dim")
    check(lambda t: torch.mean(t), [x], served=None if not dtype.is_floating_point else "mean")
    check(lambda t: torch.mean(t, 1, dtype=torch.float64), [x], served="mean.dim")
    check(lambda t, o: torch.mean(t, 1, out=o), [x, torch.empty(0, dtype=torch.float64, device=DEVICE)],
          served=None if not dtype.is_floating_point else "mean.out")
    check(lambda t, o: torch.ops.aten.mean.dtype_out(t, dtype=torch.float32, out=o),
          [x, torch.empty((), device=DEVICE)], served="mean.dtype_out")


@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_nansum_prod(dtype):
    x = make((4, 6), dtype, low=-2, high=2)
    if dtype.is_floating_point:
        x = with_specials(x)
        x[2, :3] = float("nan")
    dims = (0, 1, -1)
    check_many([lambda t, d=d: torch.nansum(t, d) for d in dims], x, served="nansum")
    check_many([lambda t, d=d: torch.prod(t, d) for d in dims], x, served="prod.dim_int")
    check(lambda t: torch.prod(t, 1, keepdim=True, dtype=torch.float64), [x], served="prod.dim_int")
    check(lambda t: torch.nansum(t), [x], served="nansum")
    check(lambda t: torch.prod(t), [make((5,), dtype, low=-2, high=2)], served="prod")
    check(lambda t, o: torch.prod(t, 0, out=o), [x, torch.empty(0, dtype=torch.prod(x, 0).dtype, device=DEVICE)],
          served="prod.int_out")
    check(lambda t, o: torch.nansum(t, 0, out=o), [x, torch.empty(0, dtype=torch.nansum(x, 0).dtype, device=DEVICE)],
          served="nansum.out")


# ---- amax, amin, max, min, argmax, argmin, aminmax ------------------------------------------------

@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_amax_amin(dtype):
    x = make((3, 4, 5), dtype)
    dims_list = list(dim_sets(3)) + [()]
    check_many([lambda t, d=d: torch.amax(t, d) for d in dims_list], x, served="amax")
    check_many([lambda t, d=d: torch.amin(t, d, keepdim=True) for d in dims_list], x, served="amin")
    check(lambda t, o: torch.amax(t, 1, out=o), [x, torch.empty(0, dtype=dtype, device=DEVICE)], served="amax.out")
    check(lambda t, o: torch.amin(t, 1, out=o), [x, torch.empty(0, dtype=torch.float64, device=DEVICE)])
    check(lambda t: torch.max(t), [x], served="max")
    check(lambda t: torch.min(t), [x], served="min")
    check(lambda t, o: torch.max(t, out=o), [x, torch.empty((), dtype=dtype, device=DEVICE)], served="max.unary_out")


def ties(dtype, shape):
    """Values with many ties (first index wins) and, for floats, NaN and infinities."""
    x = make(shape, dtype, low=0, high=2)
    if dtype.is_floating_point:
        x = x.round()
        flat = x.view(-1)
        flat[1] = INF
        flat[5] = float("nan")
        flat[9] = float("nan")
        flat[12] = -INF
    return x


@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_max_min_dim(dtype):
    x = ties(dtype, (4, 5, 6))
    for op, served in ((torch.max, "max.dim"), (torch.min, "min.dim")):
        calls = [lambda t, d=d, k=k: op(t, d, k) for d in (0, 1, 2, -1) for k in (False, True)]
        expected = [fn(x) for fn in calls]
        with gemforge.use_gems(), gemforge.collect_stats() as counts:
            actual = [fn(x.clone()) for fn in calls]
        assert served_count(counts, served) == (len(calls) if BACKEND in row_backends(served) else 0)
        for mine, theirs in zip(actual, expected):
            assert_same_values(mine.values, theirs.values, exact=True)
            assert_same_values(mine.indices, theirs.indices, exact=True)
            assert mine.values.shape == theirs.values.shape
    values, indices = torch.empty(0, dtype=dtype, device=DEVICE), torch.empty(0, dtype=torch.long, device=DEVICE)
    expected, actual = pair(lambda t, v, i: torch.max(t, 1, out=(v, i)), [x, values, indices], "max.dim_max")
    assert_same_values(actual[1], expected[1], exact=True)
    expected, actual = pair(lambda t, v, i: torch.min(t, 1, out=(v, i)), [x, values, indices], "min.dim_min")
    assert_same_values(actual[0], expected[0], exact=True)


@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_argmax_argmin(dtype):
    x = ties(dtype, (4, 5, 6))
    served = dtype is not torch.bool  # torch's argmax raises for bool
    if served:
        dims = [(d, k) for d in (None, 0, 1, 2, -2) for k in (False, True)]
        check_many([lambda t, d=d, k=k: torch.argmax(t, d, k) for d, k in dims], x, served="argmax")
        check_many([lambda t, d=d, k=k: torch.argmin(t, d, k) for d, k in dims], x, served="argmin")
    else:
        check(lambda t: torch.argmax(t, 0), [x])
    check(lambda t: torch.argmax(t), [x.transpose(0, 2)], served="argmax" if served else None)
    check(lambda t, o: torch.argmax(t, 1, out=o), [x, torch.empty(0, dtype=torch.long, device=DEVICE)],
          served="argmax.out" if served else None)
    check(lambda t, o: torch.argmin(t, 1, out=o), [x, torch.empty(0, dtype=torch.int32, device=DEVICE)])
    check(lambda t: torch.argmax(t), [make((), dtype)], served="argmax" if served else None)


def arg_inputs(dtype):
    """(tensor, dim) pairs that reach each path of the cuda argmax kernels: short rows (a group of
    lanes per row, rows off a 16-byte boundary), long rows in a block and split over blocks,
    the whole tensor, columns of 16-byte vectors (split over R, several outer slices) and
    columns that are not (the generic kernels). Many ties (values 0..3), and for floats NaN,
    infinities and signed zeros placed across vectors, splits and threads."""
    def values(shape):
        x = make(shape, dtype, low=0, high=3)
        return x.round() if dtype.is_floating_point else x
    cases = [(values((37, n)), 1) for n in (1, 7, 8, 9, 33, 130)]
    cases.append((values((5 * 130 + 1,))[1:].view(5, 130), 1))  # misaligned rows
    cases += [(values((40, 3000)), 1), (values((2, 20000)), -1), (values((30001,)), 0),
              (values((300, 301)), None)]
    cases += [(values((1500, 64)), 0), (values((5, 300, 32)), 1), (values((130, 16)), 0),
              (values((64, 3, 64)), 1), (values((100, 5)), 0), (values((9, 4, 7)), 0),
              (values((1 + 40 * 64,))[1:].view(40, 64), 0)]  # columns off a 16-byte boundary
    if dtype.is_floating_point:
        nan, inf = float("nan"), float("inf")
        x = values((2, 20000))
        x[0, 5] = x[0, 17000] = 100           # ties across splits: the first
        x[0, 17] = x[0, 18000] = -100
        x[1, 9000] = x[1, 16000] = nan        # the first NaN, after an inf
        x[1, 3] = inf
        cases.append((x, 1))
        x = values((1500, 64))
        x[1300, 3] = x[1400, 3] = nan
        x[100, 5] = x[1000, 5] = 50
        x[7, 6] = x[1499, 6] = -50
        x[:, 9] = -inf
        x[:, 10] = inf
        cases.append((x, 0))
        x = torch.zeros(6, 200, dtype=dtype, device=DEVICE)
        x[0, ::2] = -0.0                      # -0 == +0: the first zero, its sign kept
        x[1, 1::3] = -0.0
        x[2] = -inf
        x[3] = inf
        x[4, 150] = nan
        x[5, 0] = nan
        cases += [(x, 1), (x.t().contiguous(), 0), (x.t(), 0)]
    return cases


@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_arg_kernel_paths(dtype):
    ops = [(torch.max, "max.dim"), (torch.min, "min.dim")]
    if dtype is not torch.bool:  # torch's argmax raises for bool
        ops += [(torch.argmax, "argmax"), (torch.argmin, "argmin")]
    cases = arg_inputs(dtype)
    calls = [(op, x, d) for x, d in cases for op, _ in ops if d is not None or op in (torch.argmax, torch.argmin)]
    expected = [op(x) if d is None else op(x, d) for op, x, d in calls]
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        actual = [op(x) if d is None else op(x, d) for op, x, d in calls]
    for _, name in ops:
        assert served_count(counts, name) >= 1 or BACKEND not in row_backends(name), name
    for (op, x, d), mine, theirs in zip(calls, actual, expected):
        if op in (torch.max, torch.min):
            assert_same_values(mine.indices, theirs.indices, exact=True)
            assert_same_values(mine.values, theirs.values, exact=True)
            if dtype.is_floating_point:
                assert torch.equal(torch.signbit(mine.values), torch.signbit(theirs.values))
        else:
            assert_same_values(mine, theirs, exact=True)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
def test_arg_large(dtype):
    # 2^20 elements: on the GPU the whole-tensor and the long-row splits (partials, then the
    # finish kernel) with the maximum in the last split and a tie in an earlier one
    x = make((1 << 20,), dtype, low=-1, high=1)
    x[(1 << 20) - 100] = 4
    x[1 << 19] = 3
    check(lambda t: torch.argmax(t), [x], served="argmax")
    x[12345] = 4
    check(lambda t: torch.argmax(t.view(8, -1), 1), [x], served="argmax")
    check(lambda t: torch.argmax(t), [x], served="argmax")
    check(lambda t: torch.argmin(t.view(-1, 256), 0), [x], served="argmin")


@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_aminmax(dtype):
    x = ties(dtype, (3, 7))
    calls = [lambda t, d=d, k=k: torch.aminmax(t, dim=d, keepdim=k) for d in (None, 0, 1) for k in (False, True)]
    expected = [fn(x) for fn in calls]
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        actual = [fn(x.clone()) for fn in calls]
    assert served_count(counts, "aminmax") == len(calls)
    for mine, theirs in zip(actual, expected):
        assert_same_values(mine.min, theirs.min, exact=True)
        assert_same_values(mine.max, theirs.max, exact=True)
        assert mine.min.shape == theirs.min.shape and mine.max.shape == theirs.max.shape
    check(lambda t, lo, hi: torch.aminmax(t, dim=1, out=(lo, hi))[0],
          [x, torch.empty(0, dtype=dtype, device=DEVICE), torch.empty(0, dtype=dtype, device=DEVICE)],
          served="aminmax.out")


# ---- all, any, count_nonzero ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_all_any(dtype):
    x = make((3, 4, 5), dtype, low=0, high=1)
    ones = torch.ones((3, 4), dtype=dtype, device=DEVICE)
    for op in ("all", "any"):
        fn = getattr(torch, op)
        check(lambda t: fn(t), [ones], served=op)
        check(lambda t: fn(t, (0, 1)), [x], served=op + ".dims")
        for t_in in (x, x.transpose(0, 2)):
            check_many([lambda t: fn(t)] + [lambda t, d=d: fn(t, d, keepdim=True)
                                            for d in range(-t_in.dim(), t_in.dim())],
                       t_in, served=op + ".dim")
    for op in ("all", "any"):
        fn = getattr(torch, op)
        for out_dtype in (torch.bool, torch.uint8):
            # a floating input into a uint8 out= is torch's own (its result is not the bool's)
            served = op + ".out" if out_dtype is torch.bool or not dtype.is_floating_point else None
            check(lambda t, o: fn(t, 0, out=o), [x, torch.empty(0, dtype=out_dtype, device=DEVICE)],
                  served=served)
        check(lambda t, o: getattr(torch.ops.aten, op).all_out(t, out=o),
              [x, torch.empty((), dtype=torch.bool, device=DEVICE)], served=op + ".all_out")
        check(lambda t, o: fn(t, 0, out=o), [x, torch.empty(0, dtype=torch.float32, device=DEVICE)])


@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_count_nonzero(dtype):
    x = make((3, 4, 5), dtype, low=-1, high=1)
    check(lambda t: torch.count_nonzero(t), [x], served="count_nonzero")
    check_many([lambda t, d=d: torch.count_nonzero(t, d) for d in dim_sets(3)], x,
               served="count_nonzero.dim_IntList")


# ---- var, std, var_mean, std_mean -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS + [torch.int32], ids=str)
@pytest.mark.parametrize("correction", [0, 1, 2.5])
def test_var_std(dtype, correction):
    x = make((3, 4, 5), dtype)
    served = dtype.is_floating_point
    dims = [(d, k) for d in list(dim_sets(3)) + [None] for k in (False, True)]
    if served:
        check_many([lambda t, d=d, k=k: torch.var(t, d, correction=correction, keepdim=k) for d, k in dims],
                   x, served="var.correction")
        check_many([lambda t, d=d: torch.std(t, d, correction=correction) for d, _ in dims],
                   x, served="std.correction")
    else:
        check(lambda t: torch.var(t, 0, correction=correction), [x])
    for op in ("var_mean", "std_mean"):
        expected, actual = pair(lambda t: getattr(torch, op)(t, 1, correction=correction), [x], op + ".correction")
        if expected is not None:
            ref = getattr(torch, op)(x.double().cpu(), 1, correction=correction)
            assert_same_values(actual[0], ref[0], tol_dtype=dtype)
            assert_same_values(actual[1], ref[1], tol_dtype=dtype)
    check(lambda t, o: torch.var(t, 1, out=o), [x, torch.empty(0, dtype=dtype, device=DEVICE)],
          served="var.correction_out" if served else None)
    check(lambda t, o: torch.std(t, 0, out=o), [x, torch.empty(0, dtype=dtype, device=DEVICE)],
          served="std.correction_out" if served else None)


def test_var_stable_and_specials():
    # a large offset: a one-pass sum of squares would lose every digit of the variance
    x = (torch.randn(4, 1000, dtype=torch.float64) + 1e6).to(DEVICE, torch.float32)
    check(lambda t: torch.var(t, 1), [x], served="var.correction")
    y = with_specials(make((3, 8), torch.float32))
    check(lambda t: torch.var(t, 1), [y], served="var.correction")
    check(lambda t: torch.std(t, 0), [y], served="std.correction")
    check(lambda t: torch.var(t, 1, correction=20), [y], served="var.correction")
    # the offset over the other kernel paths: a column reduction (inner > 1), rows split across
    # blocks (few long rows), a dim set gathered first; var_mean's mean keeps the offset
    z = (torch.randn(3, 40000, dtype=torch.float64) + 1e6).to(DEVICE, torch.float32)
    check(lambda t: torch.var(t, 1), [z], served="var.correction")
    check(lambda t: torch.var(t, 0), [x.t().contiguous()], served="var.correction")
    _, (var, mean) = pair(lambda t: torch.var_mean(t, 1), [x], "var_mean.correction")
    ref = torch.var_mean(x.double().cpu(), 1)
    assert_same_values(var, ref[0], tol_dtype=torch.float32)
    assert_same_values(mean, ref[1], tol_dtype=torch.float32)
    # a single inf: var NaN, mean inf (the shift is taken from finite values only)
    w = torch.tensor([[INF], [1.0], [-INF]], device=DEVICE)
    expected, actual = pair(lambda t: torch.var_mean(t, 1, correction=0), [w], "var_mean.correction")
    for mine, theirs in zip(actual, expected):
        assert_same_values(mine, theirs, exact=True)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.int64], ids=str)
def test_short_rows(dtype):
    # rows of 1..300 elements: on the GPU a group of 4, 8, 16 or 32 lanes reduces each row (several
    # rows per warp); row counts that leave a warp's last groups without a row; misaligned rows
    for n in (1, 3, 8, 33, 128, 300):
        x = make((37, n), dtype)
        with reduced_size(n):
            check(lambda t: torch.sum(t, 1), [x], served="sum.dim_IntList")
        check(lambda t: torch.amax(t, 1), [x], served="amax")
        check(lambda t: torch.argmax(t, 1), [x], served="argmax")
    x = make((5 * 130 + 1,), torch.bfloat16)[1:].view(5, 130)  # rows off a 16-byte boundary
    with reduced_size(130):
        check(lambda t: torch.sum(t, 1), [x], served="sum.dim_IntList")


# ---- logsumexp, norms ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS + [torch.int32, torch.bool], ids=str)
def test_logsumexp(dtype):
    x = make((3, 4, 5), dtype)
    with reduced_size(x.numel()):
        check_many([lambda t, d=d: torch.logsumexp(t, d) for d in dim_sets(3)], x, served="logsumexp")
    if dtype.is_floating_point:
        y = make((5, 4), dtype)
        y[0] = -INF
        y[1, 1] = INF
        y[2, 2] = float("nan")
        y[3, :2] = -INF
        check(lambda t: torch.logsumexp(t, 1), [y], served="logsumexp")
        check(lambda t: torch.logsumexp(t, 0, keepdim=True), [y], served="logsumexp")


def test_logsumexp_complex_and_out_dtypes():
    """Complex inputs and complex results are torch's (gemforge leaves them to it); an integer
    result raises torch's error."""
    x = make((3, 4), torch.complex64)
    check(lambda t: torch.logsumexp(t, 1), [x])
    check(lambda t, o: torch.logsumexp(t, 1, out=o), [x, torch.empty(3, dtype=torch.complex64, device=DEVICE)])
    y = make((3, 4), torch.float32)
    check(lambda t, o: torch.logsumexp(t, 1, out=o), [y, torch.empty(3, dtype=torch.int64, device=DEVICE)])


ORDS = [2, 1, 0, INF, -INF, 3, 0.5, -1]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_vector_norm(dtype):
    x = make((3, 4, 5), dtype)
    with reduced_size(x.numel()):
        for ord in ORDS:
            check_many([lambda t, d=d: torch.linalg.vector_norm(t, ord, d) for d in list(dim_sets(3)) + [None]],
                       x, served="linalg_vector_norm")
        check_many([lambda t, o=o: torch.linalg.vector_norm(t, o, 1, keepdim=True) for o in ORDS],
                   with_specials(x), served="linalg_vector_norm")
        check_many([lambda t, o=o: torch.linalg.vector_norm(t, o, dtype=torch.float64) for o in ORDS],
                   x, served="linalg_vector_norm")
    check(lambda t, o: torch.linalg.vector_norm(t, 3, 0, out=o), [x, torch.empty(0, dtype=dtype, device=DEVICE)],
          served="linalg_vector_norm.out")
    check(lambda t: torch.linalg.vector_norm(t.long()), [x])


@pytest.mark.parametrize("dtype", FLOATS + [torch.int32], ids=str)
def test_norm(dtype):
    """aten::norm's overloads (torch.norm itself now calls linalg_vector_norm)."""
    x = make((3, 4, 5), dtype)
    norm = torch.ops.aten.norm
    served = dtype.is_floating_point
    calls = [lambda t, p=p, d=d: norm.ScalarOpt_dim(t, p, d) for p in (2, 1, INF, 3, None)
             for d in ([0], [1, 2], [-1])]
    if served:
        with reduced_size(x.numel()):
            check_many(calls, x, served="norm.ScalarOpt_dim")
        check(lambda t: norm.ScalarOpt_dim_dtype(t, 2, [0, 1], True, dtype=torch.float64), [x],
              served="norm.ScalarOpt_dim_dtype")
        check(lambda t, o: norm.out(t, 2, [1], out=o), [x, torch.empty(0, dtype=dtype, device=DEVICE)],
              served="norm.out")
        check(lambda t, o: norm.dtype_out(t, 2, [1], False, dtype=torch.float64, out=o),
              [x, torch.empty(0, dtype=torch.float64, device=DEVICE)], served="norm.dtype_out")
    check(lambda t: norm.ScalarOpt_dim(t, 2, [1]), [x])
    check(lambda t: torch.norm(t), [x])


# ---- NaN and infinities -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_nan_inf_propagation(dtype):
    x = with_specials(make((4, 9), dtype))
    for dim in (0, 1):
        check(lambda t: torch.sum(t, dim), [x], served="sum.dim_IntList")
        check(lambda t: torch.mean(t, dim), [x], served="mean.dim")
        check(lambda t: torch.amax(t, dim), [x], served="amax")
        check(lambda t: torch.amin(t, dim), [x], served="amin")
        check(lambda t: torch.argmax(t, dim), [x], served="argmax")
        check(lambda t: torch.argmin(t, dim), [x], served="argmin")
    check(lambda t: torch.max(t), [x], served="max")
    check(lambda t: torch.argmax(t), [x], served="argmax")


# ---- errors --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda t: torch.sum(t, 5), lambda t: torch.sum(t, (0, 0)), lambda t: torch.mean(t.long()),
    lambda t: torch.amax(t, 3), lambda t: torch.max(t[:0]), lambda t: torch.max(t[:0], 0),
    lambda t: torch.argmax(t[:0]), lambda t: torch.amax(t[:0], 0), lambda t: torch.var(t.int()),
    lambda t: torch.linalg.vector_norm(t.long()), lambda t: torch.aminmax(t[:0]),
    lambda t: torch.linalg.vector_norm(t[:0], INF, 0), lambda t: torch.all(t, 0, out=torch.empty(0)),
    lambda t: torch.sum(t, 0, dtype=torch.float64, out=torch.empty(0, device=t.device)),
    lambda t: torch.argmax(t, 0, out=torch.empty(0, dtype=torch.int32, device=t.device)),
    lambda t: torch.linalg.vector_norm(t, dtype=torch.float16),
    lambda t: torch.amax(t, 0, out=torch.empty(0, dtype=torch.float64, device=t.device)),
    lambda t: torch.all(t, (0, 3)),
], ids=range(18))
def test_error_parity(call):
    x = make((3, 4), torch.float32)
    err = raised(call, x)
    assert err is not None
    with gemforge.use_gems():
        assert_same_error(err, raised(call, x.clone()))


# ---- large ---------------------------------------------------------------------------------------------

def test_large_reduction():
    """2**26 + 5 elements: the split-row and two-pass paths on the GPU. On the cpu an int8 input
    (exact int64 sum, 64 MB) keeps it cheap."""
    n = 2 ** 26 + 5
    if DEVICE == "cuda":
        x = torch.rand(n, device=DEVICE)
        with reduced_size(n):
            check(lambda t: torch.sum(t), [x], served="sum")
            check(lambda t: torch.sum(t.view(-1)[:n - 5].view(16, -1), 1), [x], served="sum.dim_IntList")
            check(lambda t: torch.sum(t.view(-1)[:n - 5].view(-1, 64), 0), [x], served="sum.dim_IntList")
        check(lambda t: torch.amax(t, 0), [x], served="amax")
        expected = torch.sum(x)
        with gemforge.use_gems():
            first, second = torch.sum(x), torch.sum(x)
        assert torch.equal(first, second), "a reduction changed from run to run"
        assert torch.allclose(first.double(), expected.double(), rtol=1e-5)
    else:
        x = torch.full((n,), 3, dtype=torch.int8)
        x[-1] = -7
        with gemforge.use_gems():
            total = torch.sum(x)
        assert total.item() == 3 * (n - 1) - 7
