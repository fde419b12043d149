"""Scans along one dim: cumsum, cumprod (functional, out=, in place, dtype=), cummax / cummin
(values and indices through torch's _cummax_helper / _cummin_helper), logcumsumexp (through
_logcumsumexp): every dtype torch takes, every dim of 1-4-d inputs, negative dims, 0-d, empty and
size-1 dims, transposed and sliced inputs, NaN / inf, ties, long rows (several tiles, and on cuda
rows cut into segments), autograd, and torch's errors.

Small shapes go through conftest.check (float64 reference, each dtype's tolerance). Long rows
compare against float64 with an absolute tolerance that grows with the row (a running sum of n
terms carries about n roundings of its accumulate type).
"""

from __future__ import annotations

import pytest
import torch

import gemforge
from conftest import (BOOL, DEVICE, FLOATS, INTS, COMPLEX, assert_same_values, check, make,
                      quiet, registered_names, served_count, with_specials)

REAL = INTS + FLOATS
SCAN_SHAPES = [(), (1,), (0,), (7,), (3, 5), (1, 33), (4, 0, 3), (2, 3, 5), (2, 3, 4, 5)]


def dims_of(shape):
    return list(range(-len(shape), len(shape))) if shape else [0, -1]


def every_dim(fn, shape):
    """fn(t, dim) for every dim of shape, flattened and joined: one gemforge call set per shape."""
    return lambda t: torch.cat([fn(t, d).reshape(-1) for d in dims_of(shape)])


# ---- cumsum, cumprod ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dtype", BOOL + REAL, ids=str)
@pytest.mark.parametrize("shape", SCAN_SHAPES, ids=str)
def test_cum_dims(name, dtype, shape):
    low, high = (-3, 3) if name == "cumsum" else (0.5, 1.5)
    x = make(shape, dtype, low=low, high=high)
    if name == "cumprod" and not dtype.is_floating_point:
        x = make(shape, dtype, low=-2, high=2)
    check(every_dim(getattr(torch, name), shape), [x], served=name)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dtype", [torch.int32, torch.float16, torch.float32, torch.float64],
                         ids=str)
@pytest.mark.parametrize("to", [torch.int64, torch.int32, torch.bfloat16, torch.float32,
                                torch.float64], ids=str)
def test_cum_dtype_arg(name, dtype, to):
    x = make((4, 9), dtype, low=0.5, high=1.5) if name == "cumprod" else make((4, 9), dtype)
    fn = getattr(torch, name)
    check(lambda t: fn(t, 1, dtype=to), [x], served=name)
    check(lambda t: fn(t, 0, dtype=to), [x], served=name)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dtype", [torch.bool, torch.int16, torch.bfloat16, torch.float32], ids=str)
def test_cum_out(name, dtype):
    x = make((5, 6), dtype)
    fn = getattr(torch, name)
    result = torch.int64 if not dtype.is_floating_point else dtype
    with quiet():
        check(lambda t, o: fn(t, 1, out=o), [x, torch.empty(0, dtype=result, device=DEVICE)],
              served=f"{name}.out")
        # without dtype=, out's dtype is the result's
        check(lambda t, o: fn(t, 0, out=o), [x, torch.empty(5, 6, dtype=torch.float64, device=DEVICE)],
              served=f"{name}.out")
        check(lambda t, o: fn(t, 0, dtype=torch.float64, out=o),
              [x, torch.empty(5, 6, dtype=torch.float64, device=DEVICE)], served=f"{name}.out")
        # a transposed out
        check(lambda t, o: fn(t, 1, out=o),
              [x, torch.empty(6, 5, dtype=result, device=DEVICE).t()], served=f"{name}.out")


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dtype", [torch.int32, torch.float16, torch.float32], ids=str)
def test_cum_inplace(name, dtype):
    x = make((3, 4, 5), dtype, low=0.5, high=1.5) if name == "cumprod" else make((3, 4, 5), dtype)
    method = name + "_"
    for dim in (0, 1, 2, -1):
        check(lambda t, d=dim: getattr(t, method)(d), [x], served=method)
    # in place on a transposed view: the view's own layout
    check(lambda t: getattr(t.transpose(0, 2), method)(1), [x], served=method)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dtype", [torch.int64, torch.float16, torch.float32], ids=str)
def test_cum_non_contiguous(name, dtype):
    x = make((6, 8, 10), dtype, low=0.5, high=1.5)
    fn = getattr(torch, name)
    for view in (lambda t: t.transpose(0, 2), lambda t: t[::2, :, 1::3], lambda t: t.permute(1, 2, 0)):
        for dim in (0, 1, 2):
            check(lambda t, d=dim, v=view: fn(v(t), d), [x], served=name)


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp"])
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_special_values(name, dtype):
    x = with_specials(make((3, 17), dtype)).reshape(3, 17)
    x[1, 5] = float("nan")
    x[2, 3] = float("-inf")
    fn = getattr(torch, name)
    served = "_logcumsumexp" if name == "logcumsumexp" else name
    check(lambda t: fn(t, 1), [x], served=served, reference="torch")
    check(lambda t: fn(t, 0), [x], served=served, reference="torch")


def _long_check(fn, x, dim, served, scale):
    """fn(x, dim) under gemforge against float64; atol grows with the scanned length."""
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        actual = fn(x, dim)
    assert served_count(counts, served) >= 1, dict(counts)
    expected = fn(x.double().cpu(), dim)
    n = x.shape[dim]
    acc = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    rtol = {torch.float16: 1e-3, torch.bfloat16: 8e-3}.get(x.dtype, 1e-5)
    atol = torch.finfo(acc).eps * n * scale
    torch.testing.assert_close(actual.double().cpu(), expected, rtol=rtol, atol=atol, equal_nan=True)


LONG_SHAPES = [(3, 3000), (2, 4099), (5000, 3), (2, 1000, 5)]
if DEVICE == "cuda":
    # (3, 1000), (4, 1500): rows of a 128-thread block (fp64 / fp32); (2, 3000, 8): columns in
    # 16-byte vectors, cut into segments
    LONG_SHAPES += [(4, 300000), (1, 1 << 20), (2048, 2048), (300000, 2), (8, 40000, 3),
                    (3, 1000), (4, 1500), (2, 3000, 8)]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("shape", LONG_SHAPES, ids=str)
def test_long_scans(dtype, shape):
    x = make(shape, dtype)
    for dim in range(len(shape)):
        if shape[dim] < 1000:
            continue
        _long_check(torch.cumsum, x, dim, "cumsum", 12.0)
        y = make(shape, dtype, low=0.999, high=1.001)
        _long_check(torch.cumprod, y, dim, "cumprod", 12.0)
        _long_check(torch.logcumsumexp, x, dim, "_logcumsumexp", 4.0)
        # max / min with ties: integer values
        z = make(shape, dtype, low=-50, high=50).round()
        for name, helper in (("cummax", "_cummax_helper"), ("cummin", "_cummin_helper")):
            with gemforge.use_gems(), gemforge.collect_stats() as counts:
                values, indices = getattr(torch, name)(z, dim)
            assert served_count(counts, helper) >= 1
            expected = getattr(torch, name)(z, dim)
            assert_same_values(values, expected.values, exact=True)
            assert_same_values(indices, expected.indices, exact=True)


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.uint8], ids=str)
def test_narrow_integer_columns(dtype):
    """dtype= keeps the scan in a narrow type: on cuda 16 / 8 columns a 16-byte vector (inner a
    multiple of it), else a column a thread (inner 20); wraps around as torch's does."""
    for shape in ((70, 64), (3, 70, 20)):
        x = make(shape, dtype, low=0, high=100)
        for dim in (0, -2):
            check(lambda t, d=dim: torch.cumsum(t, d, dtype=dtype), [x], served="cumsum")


# Row lengths around the cuda layouts' edges: a warp a row (<= 512 fp32), a block whose tile
# covers the row (8192 fp32), partial last vectors and tiles, several tiles, and rows cut into
# segments (few long rows); odd lengths and a storage offset of one element start rows off a
# 16-byte boundary.
ROW_LENGTHS = [100, 257, 513, 1000, 4096, 8192, 8200, 40000]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64, torch.int32, torch.int64,
                                   torch.uint8], ids=str)
@pytest.mark.parametrize("n", ROW_LENGTHS)
def test_row_layouts(dtype, n):
    rows = max(1, 40000 // n)
    flat = make((rows * n + 1,), dtype, low=-50 if dtype != torch.uint8 else 0, high=50).round()
    for x in (flat[:-1].view(rows, n), flat[1:].view(rows, n)):  # the second starts off 16 bytes
        if dtype.is_floating_point:
            _long_check(torch.cumsum, x, 1, "cumsum", 12.0)
            if dtype != torch.bfloat16:
                _long_check(torch.logcumsumexp, x / 10, 1, "_logcumsumexp", 4.0)
        else:
            check(lambda t: torch.cumsum(t, 1), [x], served="cumsum")
        z = x.clone()
        if dtype.is_floating_point:
            z[:, n // 3] = float("nan")  # the latest NaN's index wins from there on
            z[:, (2 * n) // 3] = float("nan")
        for name, helper in (("cummax", "_cummax_helper"), ("cummin", "_cummin_helper")):
            with gemforge.use_gems(), gemforge.collect_stats() as counts:
                values, indices = getattr(torch, name)(z, 1)
            assert served_count(counts, helper) >= 1
            expected = getattr(torch, name)(z.cpu(), 1)
            assert_same_values(values.cpu(), expected.values, exact=True)
            assert_same_values(indices.cpu(), expected.indices, exact=True)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool], ids=str)
def test_long_integer_cumsum(dtype):
    x = make((3, 5000), dtype, low=-100, high=100)
    for dim in (0, 1):
        check(lambda t, d=dim: torch.cumsum(t, d), [x], served="cumsum")
    # wraps around as torch's does
    big = torch.full((2, 3000), 2**40, dtype=torch.int64, device=DEVICE)
    check(lambda t: torch.cumsum(t, 1, dtype=torch.int32), [big], served="cumsum")


# ---- cummax, cummin -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("dtype", BOOL + REAL, ids=str)
@pytest.mark.parametrize("shape", [(1,), (3, 5), (1, 33), (2, 3, 4, 5)], ids=str)
def test_cumextreme(name, dtype, shape):
    x = make(shape, dtype, low=-3, high=3)
    if dtype.is_floating_point:
        x = x.round()  # ties: the later index wins
    fn = getattr(torch, name)
    helper = f"_{name}_helper"
    check(every_dim(lambda t, d: fn(t, d).values, shape), [x], served=helper)
    check(every_dim(lambda t, d: fn(t, d).indices, shape), [x], served=helper)


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_cumextreme_special(name, dtype):
    x = with_specials(make((3, 20), dtype)).reshape(3, 20)
    x[1, 2] = x[1, 7] = float("nan")
    x[2, 4] = float("inf")
    x[2, 9] = float("-inf")
    fn = getattr(torch, name)
    helper = f"_{name}_helper"
    for dim in (0, 1):
        check(lambda t, d=dim: fn(t, d).values, [x], served=helper, reference="torch")
        check(lambda t, d=dim: fn(t, d).indices, [x], served=helper)


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cumextreme_forms(name):
    fn = getattr(torch, name)
    helper = f"_{name}_helper"
    x = make((4, 6, 5), torch.float32).round()
    check(lambda t: fn(t.transpose(0, 2), 1).indices, [x], served=helper)
    check(lambda t: fn(t[:, ::2], -1).values, [x], served=helper)
    values = torch.empty(0, device=DEVICE)
    indices = torch.empty(0, dtype=torch.long, device=DEVICE)
    check(lambda t, v, i: fn(t, 1, out=(v, i))[1], [x, values, indices], served=helper)
    # 0-d and empty: torch's composite answers without a scan
    check(lambda t: fn(t, 0).values, [make((), torch.float32)])
    check(lambda t: fn(t, 1).indices, [make((2, 0), torch.float32)])
    # wrong out dtypes: torch's error
    check(lambda t, v, i: fn(t, 1, out=(v, i))[0],
          [x, torch.empty(0, dtype=torch.float64, device=DEVICE), indices])
    check(lambda t, v, i: fn(t, 1, out=(v, i))[0],
          [x, values, torch.empty(0, dtype=torch.int32, device=DEVICE)])


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_cumextreme_backward(name, dtype):
    """cummaxmin_backward is torch's composite: zeros, then scatter_add_ of the gradient at the
    kept indices (ties: several outputs add into one input), served by scatter_add_."""
    rows = {row.overload: row for row in gemforge.registered_ops()}
    assert rows["cummaxmin_backward"].via == "scatter_add_"
    assert torch._C._dispatch_has_kernel_for_dispatch_key("aten::cummaxmin_backward",
                                                          "CompositeImplicitAutograd")
    fn = getattr(torch, name)
    for shape, dim in [((7,), 0), ((4, 9), 1), ((4, 9), 0), ((2, 3, 5), -2)]:
        x = make(shape, dtype, low=-3, high=3).round()
        weights = make(shape, dtype)

        def grad(t):
            t = t.detach().requires_grad_()
            (fn(t, dim).values * weights).sum().backward()
            return t.grad

        check(grad, [x], served="scatter_add_")
    # an empty input: the composite returns the input itself
    empty = make((0, 3), dtype).requires_grad_()
    with gemforge.use_gems():
        fn(empty, 1).values.sum().backward()
    assert empty.grad.shape == (0, 3)


# ---- logcumsumexp ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", SCAN_SHAPES, ids=str)
def test_logcumsumexp(dtype, shape):
    check(every_dim(torch.logcumsumexp, shape), [make(shape, dtype)], served="_logcumsumexp")


def test_logcumsumexp_forms():
    x = make((5, 7, 3), torch.float32)
    check(lambda t: torch.logcumsumexp(t.transpose(0, 1), 0), [x], served="_logcumsumexp")
    with quiet():
        check(lambda t, o: torch.logcumsumexp(t, 1, out=o), [x, torch.empty(0, device=DEVICE)],
              served="_logcumsumexp.out")
        check(lambda t, o: torch.logcumsumexp(t, 1, out=o),
              [x, torch.empty(0, dtype=torch.float64, device=DEVICE)])
    # large magnitudes: no overflow
    big = make((3, 40), torch.float32, low=-200, high=200) * 10
    check(lambda t: torch.logcumsumexp(t, 1), [big], served="_logcumsumexp")


@pytest.mark.parametrize("dtype", INTS + BOOL + COMPLEX, ids=str)
def test_logcumsumexp_other_dtypes(dtype):
    # integers and bool: torch raises; complex: torch's own kernel
    check(lambda t: torch.logcumsumexp(t, 0), [make((6,), dtype)])


# ---- errors, fallbacks, autograd ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_cum_errors(name):
    fn = getattr(torch, name)
    x = make((3, 4), torch.float32)
    check(lambda t: fn(t, 2), [x])
    check(lambda t: fn(t, -3), [x])
    check(lambda t: fn(t, 0, dtype=torch.bool), [x])
    check(lambda t, o: fn(t, 1, dtype=torch.float64, out=o), [x, torch.empty(3, 4, device=DEVICE)])
    check(lambda t: getattr(t, name + "_")(1, dtype=torch.float64), [x])
    check(lambda t: fn(t, 1), [make((3, 4), torch.complex64)])  # complex: torch's kernel
    check(lambda t: torch.cummax(t, 2).values, [x])


def test_cum_dimname_alias():
    names = registered_names()
    for overload in ("cumsum.dimname", "cumprod.dimname", "cummax.default", "logcumsumexp.default"):
        assert overload in names or overload.replace(".default", "") in names.values()
    x = make((3, 4), torch.float32).refine_names("a", "b")
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        with quiet():
            y = torch.cumsum(x, "b")
    assert served_count(counts, "cumsum") >= 1
    assert_same_values(y.rename(None), torch.cumsum(x.rename(None), 1))


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp"])
def test_autograd(name):
    fn = getattr(torch, name)
    x = make((4, 9), torch.float32, low=0.5, high=1.5)
    g = make((4, 9), torch.float32)

    def grad(t, gr):
        t = t.detach().requires_grad_()
        fn(t, 1).backward(gr)
        return t.grad

    served = "_logcumsumexp" if name == "logcumsumexp" else name
    check(grad, [x, g], served=served)
