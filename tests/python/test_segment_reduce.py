"""segment_reduce (+out) and its backward (_segment_reduce_backward, +out): every reduction
(sum, mean, max/amax, min/amin, prod), lengths and offsets (int32 and int64), 1-d data and a
3-d input reduced over its middle and last dims (per-row lengths), empty segments, the initial
value, NaN, ties and zeros (max/min split the gradient among ties; prod's gradient at a zero is
the product of the others), non-contiguous data, unsafe=True, and torch's errors. Values against
torch in float64; gradients through autograd against torch's in float64.
"""

from __future__ import annotations

import pytest
import torch

import gemforge
from conftest import DEVICE, FLOATS, assert_same_error, check, make, raised, served_count

REDUCES = ["sum", "mean", "max", "min", "prod", "amax", "amin"]
# sums and products of a few 2-byte terms, each rounded: a few of their units in the last place
GRAD_TOLERANCES = {torch.float16: (1e-2, 1e-2), torch.bfloat16: (6e-2, 6e-2),
                   torch.float32: (1e-5, 1e-5), torch.float64: (1e-10, 1e-10)}


def lengths_of(rows, dtype=torch.int64):
    return torch.tensor(rows, dtype=dtype, device=DEVICE)


def offsets_from(lengths):
    return torch.nn.functional.pad(lengths.cumsum(-1), (1, 0)).to(lengths.dtype)


def tied_data(shape, dtype):
    """Values from a few distinct ones (ties for max/min), a zero among them (prod's special case)."""
    return (torch.randint(-2, 3, shape, device=DEVICE).to(dtype) * 0.75).to(dtype)


# (data shape, axis, lengths rows): 1-d with an empty segment, the middle dim of a 3-d input with
# per-row lengths, the last dim (one element a row: the warp-per-segment kernel on cuda), rows of
# 16 elements
LAYOUTS = [((9,), 0, [2, 0, 3, 4]),
           ((3, 7, 5), 1, [[2, 0, 5], [7, 0, 0], [1, 3, 3]]),
           ((2, 3, 40), 2, [[[10, 0, 30], [40, 0, 0], [1, 1, 38]], [[20, 20, 0], [0, 0, 40], [5, 5, 30]]]),
           # 16 columns a row, segments longer and shorter than 8 rows: cuda's vector kernel
           ((2, 37, 16), 1, [[20, 0, 17], [9, 28, 0]])]


def check_reduce(data, reduce, served="segment_reduce", **kw):
    """segment_reduce under gemforge against torch's on the float64 data (bounds as given: torch
    has no floating lengths, which conftest.check's float64 reference would make of them). torch's
    own 2-byte kernels add in their dtype; ours add in float, as the reference."""
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        got = torch.segment_reduce(data, reduce, **kw)
    assert served_count(counts, served) == 1, dict(counts)
    # the exact result in the dtype (a product of 30 fp16 values may overflow to inf, as torch's)
    ref = torch.segment_reduce(data.double(), reduce, **kw).to(data.dtype).double()
    assert got.dtype == data.dtype and got.shape == ref.shape
    rtol, atol = GRAD_TOLERANCES[data.dtype]
    torch.testing.assert_close(got.double(), ref, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce(dtype, reduce):
    for shape, axis, rows in LAYOUTS:
        data = make(shape, dtype)
        for index_dtype in (torch.int64, torch.int32):
            lengths = lengths_of(rows, index_dtype)
            check_reduce(data, reduce, lengths=lengths, axis=axis)
            check_reduce(data, reduce, offsets=offsets_from(lengths), axis=axis)
        check_reduce(data, reduce, lengths=lengths_of(rows), axis=axis, initial=1.5)
        check_reduce(data, reduce, lengths=lengths_of(rows), axis=axis, unsafe=True)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "prod"])
def test_segment_reduce_special(reduce):
    nan, inf = float("nan"), float("inf")
    data = torch.tensor([1.0, nan, 3.0, -inf, 2.0, 0.0, -0.0, 5.0, inf], device=DEVICE)
    lengths = lengths_of([3, 2, 0, 2, 2])
    check(lambda d, n: torch.segment_reduce(d, reduce, lengths=n), [data, lengths], served="segment_reduce",
          reference="torch")
    check(lambda d, n: torch.segment_reduce(d, reduce, lengths=n, initial=0.1), [data.bfloat16(), lengths],
          served="segment_reduce", reference="torch")  # the initial value rounded to bf16, as torch
    # non-contiguous data, a long segment (many lanes), out=
    check_reduce(make((2, 301), torch.float32)[:, ::2], reduce, lengths=lengths_of([[100, 51]] * 2), axis=1)
    check(lambda d, n, o: torch.ops.aten.segment_reduce.out(d, reduce, lengths=n, out=o),
          [data[:4], lengths_of([1, 3]), torch.empty(0, device=DEVICE)], served="segment_reduce.out",
          reference="torch")
    check(lambda d, n, o: torch.ops.aten.segment_reduce.out(d, reduce, lengths=n, out=o),
          [data[:4], lengths_of([1, 3]), torch.empty(0, device=DEVICE, dtype=torch.float64)])  # torch's error


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "prod"])
def test_segment_reduce_backward(dtype, reduce):
    for shape, axis, rows in LAYOUTS:
        data = tied_data(shape, dtype)
        for initial in (None, 2.0):
            for by_offsets in (False, True):
                lengths = lengths_of(rows)
                bound = dict(offsets=offsets_from(lengths)) if by_offsets else dict(lengths=lengths)

                def grads(d, up):
                    d = d.detach().requires_grad_()
                    torch.segment_reduce(d, reduce, axis=axis, initial=initial, **bound).backward(up.to(d.dtype))
                    return d.grad

                # the incoming gradient drawn outside gemforge (its cpu backend has its own generator)
                up = torch.rand(torch.segment_reduce(data, "sum", axis=axis, **bound).shape, dtype=torch.float64,
                                device=DEVICE)
                with gemforge.use_gems(), gemforge.collect_stats() as counts:
                    got = grads(data, up)
                # on cuda, one-element rows and 4- and 8-byte dtypes are torch's (ops/segment.cpp)
                torchs = axis == len(shape) - 1 or dtype.itemsize >= 4
                served = 0 if DEVICE == "cuda" and torchs else 1
                assert served_count(counts, "_segment_reduce_backward") == served, dict(counts)
                ref = grads(data.double(), up)
                rtol, atol = GRAD_TOLERANCES[dtype]
                assert got.dtype == dtype
                torch.testing.assert_close(got.double(), ref, rtol=rtol, atol=atol, equal_nan=True)


def test_segment_reduce_backward_special():
    # NaN ties NaN in max; prod's gradient at 0 and NaN is the product of the others; out=.
    # Two bf16 columns (rows of two 2-byte elements: gemforge's on every device)
    column = torch.tensor([1.0, float("nan"), 3.0, 0.0, 2.0, 0.0, 4.0, 5.0], device=DEVICE)
    data = torch.stack([column, column.flip(0)], dim=1).bfloat16()
    lengths = lengths_of([3, 2, 3])
    for reduce in ("max", "prod"):
        out = torch.segment_reduce(data, reduce, lengths=lengths)
        grad = make(out.shape, torch.bfloat16)
        call = lambda g, o, d: torch.ops.aten._segment_reduce_backward(g, o, d, reduce, lengths=lengths)
        check(call, [grad, out, data], served="_segment_reduce_backward", reference="torch")
    out = torch.segment_reduce(data, "sum", lengths=lengths)
    check(lambda g, o, d, r: torch.ops.aten._segment_reduce_backward.out(g, o, d, "sum", lengths=lengths, out=r),
          [out, out, data, torch.empty(0, device=DEVICE, dtype=torch.bfloat16)],
          served="_segment_reduce_backward.out", reference="torch")
    check(lambda g, o, d, r: torch.ops.aten._segment_reduce_backward.out(g, o, d, "sum", lengths=lengths, out=r),
          [out, out, data, torch.empty(0, device=DEVICE)])  # out of another dtype: torch's error


def test_segment_reduce_errors():
    data = make((6,), torch.float32)
    lengths = lengths_of([2, 4])
    calls = [
        lambda: torch.segment_reduce(data, "sum", lengths=lengths, indices=lengths),   # indices
        lambda: torch.segment_reduce(data, "sum"),                                     # no bounds
        lambda: torch.segment_reduce(data, "median", lengths=lengths),                 # reduce
        lambda: torch.segment_reduce(data, "sum", lengths=lengths_of([-1, 7])),        # negative
        lambda: torch.segment_reduce(data, "sum", lengths=lengths_of([2, 3])),         # sums to 5
        lambda: torch.segment_reduce(data, "sum", lengths=lengths_of([[2, 4]])),       # axis
        lambda: torch.segment_reduce(data.int(), "sum", lengths=lengths),              # dtype
        lambda: torch.segment_reduce(data, "sum", lengths=lengths.float()),            # lengths dtype
        lambda: torch.ops.aten._segment_reduce_backward(data[:2], data[:2], data, "sum"),  # no bounds
    ]
    for call in calls:
        err = raised(call)
        assert err is not None
        with gemforge.use_gems():
            assert_same_error(err, raised(call))
