"""Sort and selection: sort (stable or not, ascending or descending, out=), argsort / msort /
quantile / nanquantile (torch's composites of sort), topk, kthvalue, median and nanmedian (full
and along a dim, keepdim, out=): every dtype torch takes, every dim of 0-4-d inputs, negative
dims, empty and size-1 dims, transposed and sliced inputs, NaN / inf / -0.0, ties, rows long
enough for every kernel path (block sort up to 4096, device-wide sort past it, 8-byte keys in
two passes, shared-memory staging of the selection or not), and torch's errors.

Values are checked against float64 (they are selections: exact up to the dtype's rounding).
Indices: a stable sort fixes them, and torch's cpu median / nanmedian pick the element a
stable sort puts at the median's rank (ties by index); gemforge does the same, so those compare
exactly. Elsewhere torch's choice among equal values is unspecified (its cpu topk/kthvalue use
partial sorts, its cuda median/kthvalue race): the indices must then point at the values, and
compare exactly where a row has no ties.
"""

from __future__ import annotations

import itertools

import pytest
import torch

import gemforge
from conftest import (BOOL, DEVICE, FLOATS, INTS, check, make, quiet, registered_names,
                      served_count)

REAL = INTS + FLOATS
SHAPES = [(), (1,), (0,), (7,), (3, 5), (1, 33), (4, 0, 3), (2, 3, 5), (2, 3, 4, 5)]


def dims_of(shape):
    return list(range(-len(shape), len(shape))) if shape else [0, -1]


def sample(shape, dtype):
    """Values with ties (small integers for integer dtypes, halves for floats) and, for floats
    with room, NaN, +-inf and +-0 spread over the tensor."""
    if dtype is torch.bool:
        return make(shape, dtype)
    if not dtype.is_floating_point:
        return make(shape, dtype, low=-4 if dtype is not torch.uint8 else 0, high=4)
    x = (make(shape, torch.float64, low=-4, high=4) * 2).round() / 2
    flat = x.reshape(-1)
    specials = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0]
    if flat.numel() >= 12:
        step = flat.numel() // len(specials)
        for i, s in enumerate(specials):
            flat[i * step + 1] = s
    return x.to(dtype)


def distinct(shape, dtype):
    """Row values without ties (a random permutation of small integers per tensor)."""
    n = max(1, int(torch.Size(shape).numel()))
    perm = torch.randperm(n, device=DEVICE)
    limit = 100 if dtype in (torch.int8, torch.uint8) else n
    return (perm % limit).to(dtype).reshape(shape)


def joined(fn, shape, part):
    """fn(t, dim)[part] for every dim of shape, flattened and joined (float64 for values so
    that the float64 reference joins the same way)."""
    def run(t):
        outs = [fn(t, d)[part].reshape(-1) for d in dims_of(shape)]
        return torch.cat(outs)
    return run


# torch's cpu sort is stable and its cuda sort is not (and orders -0.0 before +0.0): indices
# among equal values are compared with torch's on the cpu only; on cuda they must point at the
# values, and a stable sort must keep equal values in index order.
EXACT_TIES = DEVICE == "cpu"


def assert_stable(values, indices):
    """Along the last dim, equal neighbours (NaN equal to NaN) have increasing indices."""
    v, i = values.cpu(), indices.cpu()
    same = (v[..., 1:] == v[..., :-1]) | (v[..., 1:].isnan() & v[..., :-1].isnan())
    assert bool((i[..., 1:] > i[..., :-1])[same].all()), "equal values out of index order"


def gathered(x, dim, indices):
    """x's elements at indices along dim (0-d x: x)."""
    if x.dim() == 0:
        return x.reshape(())
    return x.gather(dim, indices)


def assert_points_at(x, dim, values, indices, keepdim=True):
    """indices select values from x along dim (NaN matches NaN)."""
    if x.dim() > 0 and not keepdim:
        values, indices = values.unsqueeze(dim), indices.unsqueeze(dim)
    picked = gathered(x, dim, indices)
    torch.testing.assert_close(picked.cpu().double(), values.cpu().double(), rtol=0, atol=0,
                               equal_nan=True)


def gems(fn, *args):
    with gemforge.use_gems(backends=[DEVICE]):
        return fn(*args)


# ---- sort ---------------------------------------------------------------------------------------
# One check per dtype: every shape, dim and direction joined into one result (each check
# installs gemforge once; the cpu CI has 2 cores).

def each(xs, shapes, fn, part, **cases):
    """fn(x, d, **case)[part] flattened and joined over the inputs xs, their dims, and the
    product of the keyword lists in cases (callables of x and d give per-input lists)."""
    outs = []
    for x, shape in zip(xs, shapes):
        for d in dims_of(shape):
            lists = {k: (v(x, d) if callable(v) else v) for k, v in cases.items()}
            for combo in itertools.product(*lists.values()):
                result = fn(x, d, **dict(zip(lists.keys(), combo)))
                outs.append(result[part].reshape(-1).to(torch.float64 if part == 0 else torch.int64))
    return torch.cat(outs) if outs else torch.zeros(0)


@pytest.mark.parametrize("dtype", BOOL + REAL, ids=str)
def test_sort_stable(dtype):
    xs = [sample(shape, dtype) for shape in SHAPES]
    fn = lambda t, d, desc: torch.sort(t, dim=d, descending=desc, stable=True)  # noqa: E731
    check(lambda xs: each(xs, SHAPES, fn, 0, desc=[False, True]), [xs], served="sort.stable")
    check(lambda xs: each(xs, SHAPES, fn, 1, desc=[False, True]), [xs], served="sort.stable")


@pytest.mark.parametrize("dtype", [torch.bool, torch.int16, torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_default(dtype, descending):
    x = sample((6, 40), dtype)
    for d in (0, 1):
        check(lambda t: torch.sort(t, d, descending).values, [x], served="sort")
        values, indices = gems(torch.sort, x, d, descending)
        assert_points_at(x, d, values, indices)
        assert torch.equal(indices.sort(d).values.cpu(),
                           torch.arange(x.shape[d]).expand_as(x.movedim(d, -1)).movedim(-1, d))


def test_sort_special_values():
    x = torch.tensor([0.0, -0.0, float("nan"), -float("nan"), 1.0, float("inf"), -float("inf"),
                      -0.0, 2.0, float("nan")], device=DEVICE)
    for descending in (False, True):
        fn = lambda t: torch.sort(t, stable=True, descending=descending)  # noqa: E731
        if EXACT_TIES:
            check(lambda t: fn(t).indices, [x], served="sort.stable")
            values = gems(lambda t: fn(t).values, x)
            assert torch.equal(values.signbit(), fn(x).values.signbit())  # -0.0 keeps its sign
        else:  # torch's cuda sort orders -0.0 before +0.0; ours keeps them tied, stable
            values, indices = gems(fn, x)
            assert_points_at(x, 0, values, indices)
            assert_stable(values, indices)


LONG_SHAPES = [(3, 600), (2, 4096), (3, 4097), (1, 20000), (70, 300)]


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.int64, torch.bfloat16,
                                   torch.float32, torch.float64], ids=str)
def test_sort_long_rows(dtype):
    # 4096: the largest block sort; past it the device-wide sort (row number in the key, or a
    # second pass by row for 8-byte keys)
    xs = [sample(shape, dtype) for shape in LONG_SHAPES]

    def run(xs, part):
        return torch.cat([torch.sort(x, stable=True, descending=desc)[part].reshape(-1).to(
            torch.float64 if part == 0 else torch.int64) for x in xs for desc in (False, True)])
    check(lambda xs: run(xs, 0), [xs], served="sort.stable")
    check(lambda xs: run(xs, 1), [xs], served="sort.stable")


def test_sort_layouts():
    x = sample((6, 7, 5), torch.float32)
    fn = lambda t, d: torch.sort(t, dim=d, stable=True)  # noqa: E731
    for view in (lambda t: t.transpose(0, 2), lambda t: t[:, 1::2, ::2], lambda t: t.permute(1, 2, 0)):
        for d in (0, 1, -1):
            check(lambda t: fn(view(t), d).indices, [x], served="sort.stable")
            check(lambda t: fn(view(t), d).values, [x], served="sort.stable")
    # the result keeps a dense input's strides, as torch's
    t = x.transpose(0, 2)
    assert gems(fn, t, 1).values.stride() == fn(t, 1).values.stride()
    # expanded (overlapping) input
    e = make((1, 9), torch.float32).expand(4, 9)
    check(lambda t: fn(t, 0).indices, [e], served="sort.stable")


@pytest.mark.parametrize("dtype", [torch.int32, torch.float32], ids=str)
def test_sort_out(dtype):
    x = sample((5, 8), dtype)
    v = torch.empty(0, dtype=dtype, device=DEVICE)
    i = torch.empty(0, dtype=torch.long, device=DEVICE)
    with quiet():
        if EXACT_TIES:  # ties: torch's cuda order of their indices (in the out= tensor) is its own
            check(lambda t, a, b: torch.sort(t, 1, out=(a, b))[1], [x, v, i], served="sort.values")
        check(lambda t, a, b: torch.sort(t, stable=True, dim=0, descending=True, out=(a, b))[0],
              [x, v, i], served="sort.values_stable")
        # outs with their own layout
        vt = torch.empty(8, 5, dtype=dtype, device=DEVICE).t()
        it = torch.empty(8, 5, dtype=torch.long, device=DEVICE).t()
        check(lambda t, a, b: torch.sort(t, stable=True, dim=1, out=(a, b))[1], [x, vt, it],
              served="sort.values_stable")
        # in place on the input
        check(lambda t, b: torch.sort(t, stable=True, dim=1, out=(t, b))[0], [x.clone(), i],
              served="sort.values_stable")
        # wrong dtypes: torch's errors
        check(lambda t, a, b: torch.sort(t, 1, out=(a, b))[0],
              [x, torch.empty(0, dtype=torch.float64, device=DEVICE), i])
        check(lambda t, a, b: torch.sort(t, 1, out=(a, b))[0],
              [x, v, torch.empty(0, dtype=torch.int32, device=DEVICE)])


def test_sort_errors():
    x = make((3, 4), torch.float32)
    check(lambda t: torch.sort(t, 2).values, [x])
    check(lambda t: torch.sort(t, -3).values, [x])
    check(lambda t: torch.sort(t).values, [make((3,), torch.complex64)])


def test_sort_composites():
    x = sample((5, 9), torch.float32)
    if EXACT_TIES:
        check(lambda t: torch.argsort(t, dim=0), [x], served="sort")
    else:  # ties: the values the indices pick
        check(lambda t: t.gather(0, torch.argsort(t, dim=0)), [x], served="sort")
    check(lambda t: torch.argsort(t, dim=1, descending=True, stable=True), [x], served="sort.stable")
    check(lambda t, o: torch.argsort(t, stable=True, dim=1, out=o),
          [x, torch.empty(0, dtype=torch.long, device=DEVICE)], served="sort.values_stable")
    check(lambda t: torch.msort(t), [x], served="sort")
    check(lambda t, o: torch.msort(t, out=o), [x, torch.empty(0, device=DEVICE)], served="sort.values")
    y = make((6, 11), torch.float32)
    y[2, 3] = float("nan")
    q = torch.tensor([0.0, 0.3, 0.5, 1.0], device=DEVICE)
    for fn in (torch.quantile, torch.nanquantile):
        check(lambda t, q: fn(t, q, dim=1), [y, q], served="sort")
        check(lambda t: fn(t, 0.25, dim=0, keepdim=True), [y], served="sort")
        check(lambda t: fn(t, 0.5), [y], served="sort")
        check(lambda t, q, o: fn(t, q, dim=1, out=o), [y, q, torch.empty(0, device=DEVICE)],
              served="sort")


# ---- topk -----------------------------------------------------------------------------------------

def topk_ks(x, d):
    n = x.shape[d] if x.dim() else 1
    return sorted({0, min(1, n), n // 2, n})


@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_topk(dtype):
    xs = [sample(shape, dtype) for shape in SHAPES]
    fn = lambda t, d, k, largest: torch.topk(t, k, d, largest)  # noqa: E731
    cases = dict(k=topk_ks, largest=[True, False])
    check(lambda xs: each(xs, SHAPES, fn, 0, **cases), [xs], served="topk")
    with gemforge.use_gems(backends=[DEVICE]):
        results = [(x, d, fn(x, d, k, largest)) for x in xs for d in dims_of(x.shape)
                   for k in topk_ks(x, d) for largest in (True, False)]
    for x, d, (values, indices) in results:
        assert_points_at(x, d, values, indices)


@pytest.mark.parametrize("dtype", [torch.int8, torch.int64, torch.float16, torch.float32,
                                   torch.float64], ids=str)
@pytest.mark.parametrize("shape,k", [((4, 50), 7), ((3, 9000), 8), ((2, 3000), 2000),
                                     ((2, 6000), 4500), ((1, 20000), 100)], ids=str)
def test_topk_rows(dtype, shape, k):
    # no ties: torch's indices are fixed. Rows past the shared-memory staging, k past the
    # block sort (a full sort), k of a few
    x = distinct(shape, dtype) if dtype.is_floating_point or shape[1] <= 100 else None
    if x is None:
        x = sample(shape, dtype)
    for largest in (True, False):
        fn = lambda t: torch.topk(t, k, 1, largest)  # noqa: E731
        check(lambda t: fn(t).values, [x], served="topk")
        if x.unique().numel() == x.numel():
            check(lambda t: fn(t).indices, [x], served="topk")
        else:
            values, indices = gems(fn, x)
            assert_points_at(x, 1, values, indices)


def test_topk_forms():
    x = distinct((7, 12), torch.float32)
    # not sorted: the same set
    values = gems(lambda t: torch.topk(t, 5, sorted=False).values, x)
    assert torch.equal(values.sort(1).values.cpu().nan_to_num(), torch.topk(x, 5).values.sort(1).values.cpu().nan_to_num())
    # out=, a transposed input
    v = torch.empty(0, device=DEVICE)
    i = torch.empty(0, dtype=torch.long, device=DEVICE)
    with quiet():
        check(lambda t, a, b: torch.topk(t, 3, 0, out=(a, b))[0], [x, v, i], served="topk.values")
        check(lambda t, a, b: torch.topk(t.t(), 4, 0, False, out=(a, b))[0], [x, v, i],
              served="topk.values")
        check(lambda t, a, b: torch.topk(t, 3, 0, out=(a, b))[0],
              [x, torch.empty(0, dtype=torch.float64, device=DEVICE), i])
    check(lambda t: torch.topk(t, 13).values, [x])  # k out of range
    check(lambda t: torch.topk(t, -1).values, [x])
    check(lambda t: torch.topk(t, 1, 2).values, [x])
    check(lambda t: torch.topk(t, 1).values, [make((4,), torch.bool)])  # torch's kernel


EXACT_MEDIAN_INDICES = DEVICE == "cpu"  # torch's cuda kernel picks among ties nondeterministically


# ---- kthvalue -----------------------------------------------------------------------------------

NONEMPTY = [s for s in SHAPES if 0 not in s]


def kth_ks(x, d):
    n = x.shape[d] if x.dim() else 1
    return sorted({1, (n + 1) // 2, n})


@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_kthvalue(dtype):
    xs = [sample(shape, dtype) for shape in NONEMPTY]
    fn = lambda t, d, k, keepdim: torch.kthvalue(t, k, d, keepdim)  # noqa: E731
    cases = dict(k=kth_ks, keepdim=[False, True])
    check(lambda xs: each(xs, NONEMPTY, fn, 0, **cases), [xs], served="kthvalue")
    with gemforge.use_gems(backends=[DEVICE]):
        results = [(x, d, keepdim, fn(x, d, k, keepdim)) for x in xs for d in dims_of(x.shape)
                   for k in kth_ks(x, d) for keepdim in (False, True)]
    for x, d, keepdim, (values, indices) in results:
        assert_points_at(x, d, values, indices, keepdim)


def test_kthvalue_forms():
    x = distinct((6, 700), torch.float32)
    check(lambda t: torch.kthvalue(t, 300, 1).indices, [x], served="kthvalue")
    check(lambda t: torch.kthvalue(t, 2, 0).indices, [x], served="kthvalue")
    check(lambda t: torch.kthvalue(t.t()[:, ::2], 3, 1).values, [x], served="kthvalue")
    y = distinct((3, 12000), torch.float64)  # not staged in shared memory
    check(lambda t: torch.kthvalue(t, 5000).indices, [y], served="kthvalue")
    v = torch.empty(0, device=DEVICE)
    i = torch.empty(0, dtype=torch.long, device=DEVICE)
    with quiet():
        check(lambda t, a, b: torch.kthvalue(t, 4, 1, True, out=(a, b))[0], [x, v, i],
              served="kthvalue.values")
    check(lambda t: torch.kthvalue(t, 701, 1).values, [x])
    check(lambda t: torch.kthvalue(t, 0, 1).values, [x])
    check(lambda t: torch.kthvalue(t, 1, 1).values, [make((3, 0), torch.float32)])
    check(lambda t: torch.kthvalue(t, 1).values, [make((3,), torch.bool)])


# ---- median, nanmedian ----------------------------------------------------------------------------



@pytest.mark.parametrize("name", ["median", "nanmedian"])
@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_median_dim(name, dtype):
    op = getattr(torch, name)
    shapes = NONEMPTY + [(4, 0, 3)]  # (4, 0, 3): empty results along dims 0 and 2
    shapes_ok = [(s, d) for s in shapes for d in dims_of(s) if not (s and s[d] == 0)]
    xs = [sample(s, dtype) for s, _ in shapes_ok]
    dims = [d for _, d in shapes_ok]

    def run(xs, part):
        return torch.cat([op(x, d, keepdim)[part].reshape(-1).to(torch.float64 if part == 0 else torch.int64)
                          for x, d in zip(xs, dims) for keepdim in (False, True)])
    check(lambda xs: run(xs, 0), [xs], served=f"{name}.dim")
    if EXACT_MEDIAN_INDICES:
        check(lambda xs: run(xs, 1), [xs], served=f"{name}.dim")
    with gemforge.use_gems(backends=[DEVICE]):
        results = [(x, d, op(x, d, True)) for x, d in zip(xs, dims)]
    for x, d, (values, indices) in results:
        assert_points_at(x, d, values, indices)
    check(lambda t: op(t, 1).values, [make((3, 0, 2), dtype)])  # torch's error


@pytest.mark.parametrize("name", ["median", "nanmedian"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64], ids=str)
def test_median_nan_rows(name, dtype):
    fn = getattr(torch, name)
    nan = float("nan")
    x = torch.tensor([[1.0, nan, 3.0, 2.0, nan], [nan, nan, nan, nan, nan], [4.0, 1.0, 1.0, 2.0, 9.0],
                      [nan, 2.0, 2.0, 2.0, -0.0]], device=DEVICE).to(dtype)
    check(lambda t: fn(t, 1).values, [x], served=f"{name}.dim")
    # an all-NaN row: torch's cpu nanmedian index there is whatever std::nth_element leaves
    check(lambda t: fn(t, 1).indices[[0, 2, 3]], [x], served=f"{name}.dim")
    values, indices = gems(fn, x, 1)
    assert_points_at(x, 1, values, indices, keepdim=False)
    check(lambda t: fn(t), [x], served=name)
    check(lambda t: fn(t[2:]), [x], served=name)


@pytest.mark.parametrize("name", ["median", "nanmedian"])
@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_median_all(name, dtype):
    op = getattr(torch, name)
    shapes = [(), (1,), (8,), (3, 5), (2, 3, 4), (5000,)]
    xs = [sample(s, dtype) for s in shapes]
    check(lambda xs: torch.stack([op(x) for x in xs] + [op(xs[3].t())]), [xs], served=name)


def test_median_forms():
    x = sample((6, 9), torch.float32)
    v = torch.empty(0, device=DEVICE)
    i = torch.empty(0, dtype=torch.long, device=DEVICE)
    y = distinct((4, 15000), torch.float32)  # long rows: not staged in shared memory
    with quiet():
        for name in ("median", "nanmedian"):
            fn = getattr(torch, name)
            if EXACT_MEDIAN_INDICES:  # the indices land in the out= tensor: ties pick torch's own on cuda
                check(lambda t, a, b: fn(t, 0, out=(a, b))[1], [x, v, i], served=f"{name}.dim_values")
            # values without ties: the indices in the out= tensor are fixed on every device
            check(lambda t, a, b: fn(t.t(), 1, True, out=(a, b))[0], [distinct((6, 9), torch.float32), v, i],
                  served=f"{name}.dim_values")
            check(lambda t, o: fn(t, out=o), [x, torch.empty(0, device=DEVICE)], served=f"{name}.out")
            check(lambda t, o: fn(t, out=o), [x, torch.empty(3, dtype=torch.float64, device=DEVICE)],
                  served=f"{name}.out")
            check(lambda t: fn(t, 1).indices, [y], served=f"{name}.dim")
            check(lambda t: fn(t, 1).values, [y.double()], served=f"{name}.dim")
            check(lambda t, a, b: fn(t, 0, out=(a, b))[0],
                  [x, torch.empty(0, dtype=torch.float64, device=DEVICE), i])
            check(lambda t: fn(t), [make((0,), torch.float32)])
            check(lambda t: fn(t, 1).values, [make((3,), torch.bool)])
            check(lambda t: fn(t), [make((3,), torch.bool)])
            check(lambda t: fn(t, 2).values, [x])


def test_autograd():
    x = make((4, 6), torch.float32).requires_grad_()
    ref = None
    for enabled in (False, True):
        y = x.detach().clone().requires_grad_()
        if enabled:
            with gemforge.use_gems(backends=[DEVICE]):
                loss = (torch.sort(y, 1).values * torch.arange(6, device=DEVICE)).sum() + \
                    torch.topk(y, 2).values.sum() + torch.median(y, 0).values.sum()
                loss.backward()
        else:
            loss = (torch.sort(y, 1).values * torch.arange(6, device=DEVICE)).sum() + \
                torch.topk(y, 2).values.sum() + torch.median(y, 0).values.sum()
            loss.backward()
        if ref is None:
            ref = y.grad
        else:
            torch.testing.assert_close(y.grad, ref)


def test_rows_registered():
    names = registered_names()
    for overload in ("sort.default", "sort.stable", "sort.values", "sort.values_stable",
                     "topk.default", "topk.values", "kthvalue.default", "kthvalue.values",
                     "median.default", "median.out", "median.dim", "median.dim_values",
                     "nanmedian.default", "nanmedian.out", "nanmedian.dim", "nanmedian.dim_values"):
        assert overload in names, overload


# ---- mode ---------------------------------------------------------------------------------------
# gemforge picks, among the most frequent values, the smallest (torch's cpu kernel's choice: the
# values compare exactly with torch's cpu mode; inputs without NaN, whose order torch's cpu leaves
# unspecified) and the largest index holding it (torch's index among equal values is
# unspecified: its cpu kernel sorts without a tie-break), so indices must point at the value.

def mode_sample(shape, dtype):
    if dtype is torch.bool:
        return make(shape, dtype)
    x = make(shape, torch.float64, low=-3, high=3).round()
    if dtype.is_floating_point and x.numel() >= 6:
        flat = x.reshape(-1)
        flat[1], flat[4] = -0.0, float("inf")
    return x.to(dtype)


@pytest.mark.parametrize("dtype", REAL + BOOL)
def test_mode(dtype):
    cases = []
    for shape in [(1,), (7,), (3, 5), (1, 33), (2, 3, 4, 5), (2, 1500)]:
        x = mode_sample(shape, dtype)
        for dim in list(range(len(shape))) + [-1]:
            for keepdim in (False, True):
                cases.append((x, dim, keepdim, torch.mode(x.cpu(), dim, keepdim)))
    with gemforge.use_gems(backends=[DEVICE]), gemforge.collect_stats() as counts:
        results = [torch.mode(x, dim, keepdim) for x, dim, keepdim, _ in cases]
    assert served_count(counts, "mode") == len(cases)
    for (x, dim, keepdim, want), got in zip(cases, results):
        shape = tuple(x.shape)
        assert got.values.shape == want.values.shape and got.values.dtype == dtype
        assert torch.equal(got.values.cpu(), want.values), (shape, dim, keepdim)
        d = dim % x.dim()
        idx = got.indices.cpu() if keepdim else got.indices.cpu().unsqueeze(d)
        assert torch.equal(x.cpu().gather(d, idx), want.values if keepdim else want.values.unsqueeze(d))
        # the largest index holding the mode
        holders = x.cpu() == (want.values if keepdim else want.values.unsqueeze(d))
        positions = torch.arange(x.shape[d]).view([-1] + [1] * (x.dim() - 1 - d))
        last = torch.where(holders, positions, -1).amax(d, keepdim=keepdim)
        assert torch.equal(got.indices.cpu(), last), (shape, dim, keepdim)


def test_mode_forms():
    x = mode_sample((40, 6), torch.float32)
    xt = x.t()  # the reduced dim strided
    got = gems(torch.mode, xt, 1)
    want = torch.mode(xt.cpu(), 1)
    assert torch.equal(got.values.cpu(), want.values)
    assert torch.equal(xt.cpu().gather(1, got.indices.cpu()[:, None])[:, 0], want.values)
    values, indices = torch.empty(0, device=DEVICE), torch.empty(0, dtype=torch.long, device=DEVICE)
    with gemforge.use_gems(backends=[DEVICE]), gemforge.collect_stats() as counts:
        torch.mode(x, 0, out=(values, indices))
    assert served_count(counts, "mode.values") >= 1
    want = torch.mode(x.cpu(), 0)
    assert torch.equal(values.cpu(), want.values) and torch.equal(x.cpu().gather(0, indices.cpu()[None])[0], want.values)
    # a run longer than one tile of the cuda kernel (2048) and crossing tiles
    y = torch.cat([torch.arange(3000.0), torch.full((2500,), 7.0), torch.arange(3000.0, 5000.0)]).to(DEVICE)
    got = gems(torch.mode, y, 0)
    assert got.values.item() == 7.0 and got.indices.item() == 5499
    # empty, 0-d and bad dims: torch's
    for args in [(torch.ones(0, 3, device=DEVICE), 0), (torch.ones(2, 0, device=DEVICE), 0),
                 (torch.tensor(5.0, device=DEVICE), 0), (torch.ones(3, device=DEVICE), 2)]:
        with quiet():
            try:
                want = torch.mode(*args)
                error = None
            except Exception as err:  # noqa: BLE001
                error = err
        try:
            got = gems(torch.mode, *args)
        except Exception as err:  # noqa: BLE001
            assert error is not None and type(err) is type(error)
            continue
        assert error is None and torch.equal(got.values, want.values)
