"""Advanced indexing and masks: masked_fill, masked_scatter, masked_select, nonzero, index.Tensor,
index_put (accumulate too) and the view scatters (select/slice backward and scatter,
diagonal_scatter, as_strided_scatter).

Every case goes through conftest.check with exact comparison where the op only moves data (the
result must be torch's bit for bit), and gemforge must have served the overload. Where torch
raises, gemforge must raise the same exception type.
"""

from __future__ import annotations

import pytest
import torch

import gemforge
from conftest import ALL_DTYPES, BACKEND, DEVICE, FLOATS, INTS, check, make, served_count

aten = torch.ops.aten

# dtypes of data movement (every dtype torch indexes); SIZES: one or two of each element size,
# for the ops that move elements by size alone
DTYPES = ALL_DTYPES
SIZES = [torch.bool, torch.int8, torch.bfloat16, torch.float16, torch.float32, torch.int64, torch.complex128]


def fill_value(dtype):
    if dtype is torch.bool:
        return True
    if dtype.is_complex:
        return complex(1.5, -2.0)
    if dtype.is_floating_point:
        return 1.5
    return 7


def mask_of(shape, p=0.5):
    return torch.rand(shape, device=DEVICE) < p


def transposed(t):
    return t.t().contiguous().t() if t.dim() == 2 else t


# ---- masked_fill ------------------------------------------------------------------------------

MASK_SHAPES = [((3, 5), (5,)), ((), ()), ((2, 3, 4, 5), (3, 1, 5)), ((33, 65), (33, 65))]


def _fill_served(overload, dtype, shape, mshape):
    """On cuda a mask broadcast over 1- and 2-byte elements goes to torch's kernel (ops/advanced_index.cpp)."""
    broadcast = tuple(torch.broadcast_shapes(shape, mshape)) != tuple(mshape)
    return None if DEVICE == "cuda" and dtype.itemsize <= 2 and broadcast else overload


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", MASK_SHAPES)
def test_masked_fill_scalar(dtype, shapes):
    shape, mshape = shapes
    x, m, v = make(shape, dtype), mask_of(mshape), fill_value(dtype)
    served = {name: _fill_served(name, dtype, shape, mshape) for name in ("masked_fill.Scalar", "masked_fill_.Scalar")}
    check(lambda x, m: torch.masked_fill(x, m, v), [x, m], served=served["masked_fill.Scalar"], reference="exact")
    check(lambda x, m: x.masked_fill_(m, v), [x, m], served=served["masked_fill_.Scalar"], reference="exact")


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_fill_tensor_and_out(dtype):
    x, m = make((5, 6), dtype), mask_of((5, 6))
    v = torch.tensor(fill_value(dtype), dtype=dtype)
    check(lambda x, m, v: torch.masked_fill(x, m, v), [x, m, v], served="masked_fill.Tensor", reference="exact")
    check(lambda x, m, v: x.masked_fill_(m, v), [x, m, v], served="masked_fill_.Tensor", reference="exact")
    out = torch.empty(0, dtype=dtype, device=DEVICE)
    check(lambda x, m, o: aten.masked_fill.Scalar_out(x, m, fill_value(dtype), out=o), [x, m, out],
          served="masked_fill.Scalar_out", reference="exact")
    check(lambda x, m, v, o: aten.masked_fill.Tensor_out(x, m, v, out=o), [x, m, v, out],
          served="masked_fill.Tensor_out", reference="exact")


@pytest.mark.parametrize("layout", ["transposed", "sliced", "broadcast_self"])
def test_masked_fill_layouts(layout):
    dtype = torch.float32
    if layout == "transposed":
        x, m = transposed(make((9, 7), dtype)), transposed(mask_of((9, 7)))
    elif layout == "sliced":
        x, m = make((9, 14), dtype)[:, ::2], mask_of((9, 21))[:, ::3]
    else:  # the functional form broadcasts self to the mask's shape
        x, m = make((7,), dtype), mask_of((4, 7))
    check(lambda x, m: torch.masked_fill(x, m, -2.0), [x, m], served="masked_fill.Scalar", reference="exact")
    if layout != "broadcast_self":
        check(lambda x, m: x.masked_fill_(m, float("nan")), [x, m], served="masked_fill_.Scalar", reference="exact")


def test_masked_fill_value_conversion():
    m = mask_of((8,))
    # a float value truncates into an integer tensor, as torch does
    check(lambda x, m: x.masked_fill_(m, 2.7), [make((8,), torch.int32), m], served="masked_fill_.Scalar")
    check(lambda x, m: x.masked_fill(m, torch.tensor(1.5, dtype=torch.float64)), [make((8,), torch.float16), m],
          served="masked_fill.Tensor", reference="exact")


@pytest.mark.parametrize("case", ["byte_mask", "value_dims", "overflow", "complex_into_real", "grow_self"])
def test_masked_fill_errors(case):
    x = make((3, 4), torch.float32)
    if case == "byte_mask":
        args, fn = [x, torch.ones(3, 4, dtype=torch.uint8, device=DEVICE)], lambda x, m: x.masked_fill_(m, 1.0)
    elif case == "value_dims":
        args, fn = [x, mask_of((3, 4))], lambda x, m: x.masked_fill_(m, torch.ones(2, device=DEVICE))
    elif case == "overflow":
        args, fn = [make((3,), torch.int8), mask_of((3,))], lambda x, m: x.masked_fill_(m, 1000)
    elif case == "complex_into_real":
        args, fn = [x, mask_of((3, 4))], lambda x, m: x.masked_fill_(m, 1 + 2j)
    else:
        args, fn = [x, mask_of((2, 3, 4))], lambda x, m: x.masked_fill_(m, 1.0)
    check(fn, args, served="masked_fill_.Scalar")


# ---- nonzero and masked_select ------------------------------------------------------------------

NONZERO_SHAPES = [(), (0,), (2, 1, 3, 5), (5000,)]


def sparse(shape, dtype):
    """Values with many zeros (and -0.0, NaN in floating dtypes)."""
    x = make(shape, dtype, low=-1, high=1)
    if dtype.is_floating_point and x.numel() >= 3:
        flat = x.reshape(-1)
        flat[0], flat[1], flat[2] = float("nan"), -0.0, 0.0
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", NONZERO_SHAPES)
def test_nonzero(dtype, shape):
    x = sparse(shape, dtype)
    check(torch.nonzero, [x], served="nonzero")


def test_nonzero_layouts_and_out():
    x = transposed(sparse((6, 9), torch.float32))
    check(torch.nonzero, [x], served="nonzero")
    check(torch.nonzero, [sparse((6, 9), torch.int64)[:, ::2]], served="nonzero")
    check(lambda x, o: torch.nonzero(x, out=o), [x, torch.empty(0, dtype=torch.int64, device=DEVICE)],
          served="nonzero.out")
    check(torch.nonzero, [torch.zeros(3, 4, device=DEVICE)], served="nonzero")
    check(lambda x, o: torch.nonzero(x, out=o), [x, torch.empty(3, 2, dtype=torch.int64, device=DEVICE)],
          served="nonzero.out")
    check(lambda x, o: torch.nonzero(x, out=o), [x, torch.empty(0, dtype=torch.int32, device=DEVICE)],
          served="nonzero.out")
    check(lambda x: torch.nonzero(x, as_tuple=True)[1], [x], served="nonzero")  # nonzero_numpy


@pytest.mark.parametrize("dtype", [torch.bool, torch.int32, torch.float16, torch.float64])
@pytest.mark.parametrize("size", [0, 3, 40, 200])
def test_nonzero_static(dtype, size):
    x = sparse((7, 11), dtype)
    check(lambda x: torch.nonzero_static(x, size=size, fill_value=-5), [x], served="nonzero_static")
    check(lambda x, o: aten.nonzero_static.out(x, size=size, fill_value=9, out=o),
          [x, torch.empty(0, dtype=torch.int64, device=DEVICE)], served="nonzero_static.out" if DEVICE == "cpu" else None)  # cuda: torch's


def test_nonzero_static_errors():
    check(lambda x: torch.nonzero_static(x, size=-1), [make((3,), torch.float32)], served="nonzero_static")


@pytest.mark.parametrize("dtype", SIZES)
@pytest.mark.parametrize("shapes", [((5,), (4, 5)), ((), ()), ((3000,), (3000,))])
def test_masked_select(dtype, shapes):
    shape, mshape = shapes
    check(torch.masked_select, [make(shape, dtype), mask_of(mshape)], served="masked_select", reference="exact")


def test_masked_select_out_and_errors():
    x, m = transposed(make((6, 8), torch.bfloat16)), mask_of((6, 8))
    check(lambda x, m, o: torch.masked_select(x, m, out=o), [x, m, torch.empty(0, dtype=x.dtype, device=DEVICE)],
          served="masked_select.out", reference="exact")
    check(torch.masked_select, [x, torch.ones(6, 8, dtype=torch.uint8, device=DEVICE)], served="masked_select")


# ---- masked_scatter ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", SIZES)
@pytest.mark.parametrize("shapes", [((3, 5), (3, 5)), ((5,), (4, 5)), ((), ())])
def test_masked_scatter(dtype, shapes):
    shape, mshape = shapes
    full = torch.broadcast_shapes(shape, mshape)
    source = make((max(1, torch.Size(full).numel()) + 2,), dtype)
    m = mask_of(mshape)
    check(torch.masked_scatter, [make(shape, dtype), m, source], served="masked_scatter", reference="exact")
    if torch.Size(full) == torch.Size(shape):
        check(lambda x, m, s: x.masked_scatter_(m, s), [make(shape, dtype), m, source], served="masked_scatter_",
              reference="exact")


def test_masked_scatter_layouts_and_errors():
    x = transposed(make((5, 7), torch.float32))
    check(lambda x, m, s: x.masked_scatter_(m, s), [x, mask_of((5, 7)), make((35,), torch.float32)],
          served="masked_scatter_", reference="exact")
    check(lambda x, m, s: x.masked_scatter_(m, s), [x, mask_of((5, 7)), make((35,), torch.float64)],
          served="masked_scatter_")
    if DEVICE == "cpu":  # cuda: torch checks asynchronously; gemforge leaves the surplus alone
        check(lambda x, m, s: x.masked_scatter_(m, s), [x, torch.ones(5, 7, dtype=torch.bool), make((3,), torch.float32)],
              served="masked_scatter_")


def test_masked_scatter_backward():
    g, m = make((4, 6), torch.float32), mask_of((4, 6))
    check(lambda g, m: aten.masked_scatter_backward(g, m, [30]), [g, m], served="masked_scatter_backward",
          reference="exact")
    check(lambda g, m: aten.masked_scatter_backward(g, m, [2, 3, 4]), [g, torch.ones(4, 6, dtype=torch.bool,
                                                                                         device=DEVICE)],
          served="masked_scatter_backward", reference="exact")


# ---- index.Tensor ---------------------------------------------------------------------------------

def long_index(values, dtype=torch.int64):
    return torch.tensor(values, dtype=dtype, device=DEVICE)


# (self shape, index builder): each builder returns the indices list for aten.index
INDEX_CASES = {
    "rows": ((6, 5), lambda: [long_index([0, 5, 2, 2, -1])]),
    "rows_3d": ((6, 4, 3), lambda: [long_index([[1, 0], [5, -6]])]),
    "dim1": ((4, 7), lambda: [None, long_index([6, 0, 3])]),
    "adjacent_pair": ((4, 5, 6), lambda: [None, long_index([1, 4]), long_index([0, 5])]),
    "apart": ((4, 5, 6, 3), lambda: [long_index([1, 3]), None, long_index([[0], [5]])]),
    "broadcast": ((5, 6), lambda: [long_index([[0], [4]]), long_index([1, 2, 5])]),
    "int32": ((5, 6), lambda: [long_index([4, 1], torch.int32)]),
    "bool_mask": ((4, 5), lambda: [mask_of((4, 5))]),
    "bool_rows": ((4, 5, 2), lambda: [mask_of((4,))]),
    "bool_and_long": ((4, 5, 3), lambda: [None, mask_of((5,)), long_index([2])]),
    "cpu_index": ((6, 5), lambda: [torch.tensor([3, 1])]),
    "empty_index": ((6, 5), lambda: [long_index([])]),
    "empty_self": ((0, 5), lambda: [None, long_index([1, 2])]),
    "scalar_index": ((6, 5), lambda: [long_index(3)]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["rows", "apart"])
def test_index_dtypes(dtype, case):
    shape, build = INDEX_CASES[case]
    check(lambda x, i: aten.index.Tensor(x, i), [make(shape, dtype), build()], served="index.Tensor",
          reference="exact")


@pytest.mark.parametrize("case", list(INDEX_CASES))
@pytest.mark.parametrize("layout", ["contiguous", "permuted"])
def test_index_patterns(case, layout):
    shape, build = INDEX_CASES[case]
    x = make(shape, torch.float32)
    if layout == "permuted":
        x = x.permute(*reversed(range(x.dim()))).contiguous().permute(*reversed(range(x.dim())))
    check(lambda x, i: aten.index.Tensor(x, i), [x, build()], served="index.Tensor", reference="exact")


def test_index_row_gather_wide_rows():
    # whole dense rows of every width: 16-, 8-, 4-, 2- and 1-byte words on cuda
    for cols, dtype in [(64, torch.bfloat16), (12, torch.float16), (6, torch.float16), (3, torch.int16),
                        (5, torch.uint8), (1000, torch.float32)]:
        x, i = make((50, cols), dtype), torch.randint(-50, 50, (70,), device=DEVICE)
        check(lambda x, i: x[i], [x, i], served="index.Tensor", reference="exact")
    x = make((40, 9), torch.float32)[:, 1:]  # rows not dense: the general kernel
    check(lambda x, i: x[i], [x, long_index([3, 0, 39])], served="index.Tensor", reference="exact")


def test_index_out():
    x = make((6, 5), torch.float64)
    check(lambda x, o: aten.index.Tensor_out(x, [long_index([1, 1, 4])], out=o),
          [x, torch.empty(0, dtype=torch.float64, device=DEVICE)], served="index.Tensor_out", reference="exact")


@pytest.mark.parametrize("case", ["out_of_range", "negative_out_of_range", "float_index", "shape_mismatch",
                                  "too_many", "mask_shape"])
def test_index_errors(case):
    if DEVICE == "cuda" and case in ("out_of_range", "negative_out_of_range"):
        pytest.skip("torch raises a device-side assert on cuda")
    x = make((3, 4), torch.float32)
    indices = {
        "out_of_range": [None, long_index([4])],
        "negative_out_of_range": [long_index([-4])],
        "float_index": [torch.tensor([0.5], device=DEVICE)],
        "shape_mismatch": [long_index([0, 1]), long_index([0, 1, 2])],
        "too_many": [long_index([0]), long_index([0]), long_index([0])],
        "mask_shape": [mask_of((3, 3))],
    }[case]
    check(lambda x, i: aten.index.Tensor(x, i), [x, indices], served="index.Tensor")


# ---- index_put ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", SIZES)
def test_index_put(dtype):
    x = make((6, 5), dtype)
    check(lambda x, v: aten.index_put_(x, [long_index([4, 0, -1])], v), [x, make((3, 5), dtype)],
          served="index_put_", reference="exact")
    check(lambda x, v: aten.index_put(x, [None, long_index([[3], [1]])], v), [x, make((6, 2, 1), dtype)],
          served="index_put", reference="exact")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int32,
                                   torch.int64, torch.int8, torch.bool, torch.complex64])
def test_index_put_accumulate_duplicates(dtype):
    # cuda: atomics for fp32, fp64, int32 and int64; torch's sorted kernel for the rest
    atomics = DEVICE == "cpu" or dtype in (torch.float32, torch.float64, torch.int32, torch.int64)
    x = make((7, 4), dtype)
    i = long_index([0, 3, 3, 6, 0, 0, -1])
    check(lambda x, v: aten.index_put_(x, [i], v, True), [x, make((7, 4), dtype)],
          served="index_put_" if atomics else None)
    check(lambda x, v: aten._index_put_impl_(x, [None, long_index([1, 1, 2])], v, True),
          [make((3, 4), dtype), make((3,), dtype)], served="_index_put_impl_" if atomics else None)


@pytest.mark.parametrize("case", ["mask_scalar", "mask_tensor", "apart", "broadcast_value", "transposed_self",
                                  "scalar_value_other_dtype"])
def test_index_put_patterns(case):
    x = make((4, 5, 3), torch.float32)
    if case == "mask_scalar":  # torch's masked_fill road
        args = [x, [mask_of((4, 5))], torch.tensor(2.5)]
    elif case == "mask_tensor":
        m = mask_of((4, 5))
        args = [x, [m], make((int(m.sum()), 3), torch.float32)]
    elif case == "apart":
        args = [x, [long_index([0, 3]), None, long_index([2, 0])], make((2, 5), torch.float32)]
    elif case == "broadcast_value":
        args = [x, [None, long_index([4, 1])], make((3,), torch.float32)]
    elif case == "transposed_self":
        x = make((5, 4), torch.float32).t()
        args = [x, [long_index([1, 2]), long_index([0, 4])], make((2,), torch.float32)]
    else:
        args = [x, [mask_of((4,))], torch.tensor(7.0, dtype=torch.float64)]
    check(lambda x, i, v: aten.index_put_(x, i, v), args, served="index_put_", reference="exact")


@pytest.mark.parametrize("case", ["out_of_range", "dtype_mismatch", "shape_mismatch", "float_index"])
def test_index_put_errors(case):
    if DEVICE == "cuda" and case == "out_of_range":
        pytest.skip("torch raises a device-side assert on cuda")
    x = make((3, 4), torch.float32)
    i, v = {
        "out_of_range": ([long_index([3])], make((4,), torch.float32)),
        "dtype_mismatch": ([long_index([0])], make((4,), torch.float64)),
        "shape_mismatch": ([long_index([0, 1])], make((3, 3), torch.float32)),
        "float_index": ([torch.tensor([1.0], device=DEVICE)], make((4,), torch.float32)),
    }[case]
    check(lambda x, v: aten.index_put_(x, i, v, case == "out_of_range"), [x, v], served="index_put_")


# ---- inductor's masked gather and its backward ------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.bool, torch.int32, torch.bfloat16, torch.float32])
def test_unsafe_masked_index(dtype):
    x = make((5, 6), dtype)
    i = long_index([[-7, 0, 4, 9]])  # out of range only where the mask is off
    m = torch.tensor([[False, True, True, False]], device=DEVICE)
    check(lambda x, m, i: aten._unsafe_masked_index(x, m, [None, i], fill_value(dtype)), [x, m, i],
          served="_unsafe_masked_index", reference="exact")
    check(lambda x, m, i: aten._unsafe_masked_index(x, m, [i.t().clamp(0, 4), None], 0), [x, m.t(), i],
          served="_unsafe_masked_index", reference="exact")
    check(lambda x, m, i: aten._unsafe_masked_index(x, m, [None, i], 0), [make((5, 0), dtype), m, i],
          served="_unsafe_masked_index", reference="exact")


def test_unsafe_masked_index_put_accumulate():
    x, v = make((5, 6), torch.float32), make((5, 4), torch.float32)
    i = long_index([-7, 2, 2, 9])
    m = torch.tensor([False, True, True, False], device=DEVICE)
    check(lambda x, m, i, v: aten._unsafe_masked_index_put_accumulate(x, m, [None, i], v), [x, m, i, v],
          served="_unsafe_masked_index_put_accumulate")
    check(lambda x, m, i, v: aten._unsafe_masked_index_put_accumulate(x, m, [None, i], v),
          [x, m, i.float(), v], served="_unsafe_masked_index_put_accumulate")


# ---- view scatters -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.bool, torch.int64, torch.bfloat16, torch.float32, torch.complex64])
def test_view_backward(dtype):
    g = make((4, 6), dtype)
    check(lambda g: aten.select_backward(g, [4, 5, 6], 1, -2), [g], served="select_backward", reference="exact")
    check(lambda g: aten.slice_backward(g, [4, 13], 1, 1, 13, 2), [g], served="slice_backward", reference="exact")
    check(lambda g: aten.slice_backward(g, [9, 6], 0, 2, 6, 1), [g], served="slice_backward", reference="exact")


@pytest.mark.parametrize("dtype", [torch.bool, torch.int32, torch.float16, torch.float64])
def test_view_scatters(dtype):
    x = make((5, 6), dtype)
    check(lambda x, s: torch.select_scatter(x, s, 0, -1), [x, make((6,), dtype)], served="select_scatter",
          reference="exact")
    check(lambda x, s: torch.slice_scatter(x, s, 1, 1, None, 2), [x, make((5, 3), dtype)], served="slice_scatter",
          reference="exact")
    check(lambda x, s: torch.diagonal_scatter(x, s, 1), [x, make((5,), dtype)], served="diagonal_scatter",
          reference="exact")
    check(lambda x, s: torch.as_strided_scatter(x, s, (2, 3), (6, 2), 1), [x, make((2, 3), dtype)],
          served="as_strided_scatter", reference="exact")
    check(lambda x, s: torch.select_scatter(transposed(x), s, 1, 2), [x, make((5,), dtype)], served="select_scatter",
          reference="exact")


def test_view_scatters_keep_the_layout():
    """Torch's view scatters clone self's whole storage and view it as self: the result has self's
    strides and storage offset, and as_strided_scatter's window addresses that storage (gaps and
    offset included), so its values depend on self's layout too."""
    base = make((4, 6), torch.float32)
    scatters = {
        "select_scatter": lambda x, s: torch.select_scatter(x, s, 0, 0),
        "slice_scatter": lambda x, s: torch.slice_scatter(x, s, 0, 0, 1),
        "diagonal_scatter": lambda x, s: torch.diagonal_scatter(x, s),
        "as_strided_scatter": lambda x, s: torch.as_strided_scatter(x, s, (2,), (1,), 7),
    }
    windows = {"select_scatter": lambda x: x[0], "slice_scatter": lambda x: x[0:1],
               "diagonal_scatter": lambda x: x.diagonal(), "as_strided_scatter": lambda x: x.as_strided((2,), (1,), 7)}
    # rows and every other column past the first row; a transposed view; the leading rows of a
    # larger storage (contiguous, the storage longer than the view); one that overlaps itself
    views = [lambda b: b[1:, ::2], lambda b: b.t()[::2], lambda b: b[:2], lambda b: b[0].expand(3, 6)]
    for view in views:
        x = view(base)
        for name, fn in scatters.items():
            src = make(tuple(windows[name](x).shape), torch.float32)
            expected = fn(x, src)
            with gemforge.use_gems(backends=[BACKEND]), gemforge.collect_stats() as counts:
                got = fn(x, src)
            assert served_count(counts, name) == 1, name
            assert torch.equal(got, expected), name
            assert (got.stride(), got.storage_offset()) == (expected.stride(), expected.storage_offset()), name
            assert torch.equal(x, view(base)), name  # self untouched


def test_view_scatter_errors():
    x = make((5, 6), torch.float32)
    check(lambda x, s: torch.select_scatter(x, s, 0, 0), [x, make((5,), torch.float32)], served="select_scatter")
    check(lambda x, s: torch.slice_scatter(x, s, 0, 0, 2), [x, make((3, 6), torch.float32)], served="slice_scatter")
    check(lambda x, s: torch.diagonal_scatter(x, s), [x, make((6,), torch.float32)], served="diagonal_scatter")
