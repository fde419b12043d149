"""softmax and log_softmax (forward, backward, out=), _safe_softmax, on the row engine: every
floating dtype against float64, every dim (negative too) of 0-4-d inputs, rows of 1 and odd
lengths, a non-last dim, transposed and sliced inputs, rows of -inf and NaN, out= (resized,
non-contiguous, wrong dtype), the dtype= argument, errors as torch's, and autograd's gradients
against float64 ones."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import FLOATS, INTS, DEVICE, check, make, quiet, with_specials
from rows_helpers import check_grads

aten = torch.ops.aten

FWD = [("softmax", torch.softmax, "_softmax"), ("log_softmax", torch.log_softmax, "_log_softmax")]
SHAPES_DIMS = [((), 0), ((), -1), ((1,), 0), ((7,), 0), ((33,), -1), ((4, 1000), 1), ((3, 4097), -1),
               ((5, 1), 1), ((2, 3, 5, 7), 3), ((2, 3, 5, 7), 1), ((2, 3, 5, 7), 0), ((2, 3, 5, 7), -2),
               ((9, 16), 0), ((3, 0), 1), ((0, 4), 1)]


@pytest.mark.parametrize("name,fn,served", FWD, ids=[f[0] for f in FWD])
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape,dim", SHAPES_DIMS, ids=str)
def test_forward(name, fn, served, dtype, shape, dim):
    x = make(shape, dtype, low=-8, high=8)
    check(lambda t: fn(t, dim), [x], served=served if x.numel() else None)


@pytest.mark.parametrize("name,fn,served", FWD, ids=[f[0] for f in FWD])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_noncontiguous(name, fn, served, dtype):
    x = make((40, 33), dtype)
    check(lambda t: fn(t.t(), -1), [x], served=served)
    check(lambda t: fn(t[:, 1:30:2], 1), [x], served=served)
    check(lambda t: fn(t.t(), 0), [x], served=served)


@pytest.mark.parametrize("name,fn,served", FWD, ids=[f[0] for f in FWD])
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("dim", [0, 1])
def test_special_values(name, fn, served, dtype, dim):
    x = make((6, 9), dtype)
    x[2] = -float("inf")          # a row of -inf (NaN, as torch)
    x[3, :4] = -float("inf")      # some -inf
    x[4, 3] = float("nan")
    x[5, 1] = float("inf")
    check(lambda t: fn(t, dim), [x], served=served)
    check(lambda t: fn(t, 1 - dim), [with_specials(make((5, 7), dtype))], served=served)


@pytest.mark.parametrize("name,fn,served", FWD, ids=[f[0] for f in FWD])
@pytest.mark.parametrize("shape,dtype", [((3, 40000), torch.float32), ((3, 20000), torch.float32),
                                         ((2, 32000), torch.bfloat16), ((2, 20001), torch.float16)], ids=str)
def test_large_rows(name, fn, served, shape, dtype):
    # past the register path of the cuda kernels: the shared-memory path (rows up to 96 KiB),
    # then the split path (40000 float32)
    x = make(shape, dtype, low=-20, high=20)
    check(lambda t: fn(t, 1), [x], served=served)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_dtype_argument(dtype):
    x = make((4, 9), torch.float16)
    check(lambda t: torch.softmax(t, 1, dtype=dtype), [x])
    check(lambda t: F.log_softmax(t, 0, dtype=dtype), [x])


@pytest.mark.parametrize("op", ["_softmax", "_log_softmax"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_out(op, dtype):
    fn = getattr(aten, op).out
    x = make((5, 12), dtype)
    check(lambda t, o: fn(t, 1, False, out=o), [x, torch.empty((5, 12), dtype=dtype, device=DEVICE)],
          served=f"{op}.out")
    with quiet():
        check(lambda t, o: fn(t, 0, False, out=o), [x, torch.empty((3,), dtype=dtype, device=DEVICE)],
              served=f"{op}.out")
    # a non-contiguous out: torch's kernel serves it (the cpu's writes it as if contiguous)
    check(lambda t, o: fn(t, 1, False, out=o.t()), [x, torch.empty((12, 5), dtype=dtype, device=DEVICE)])
    # an out of another dtype: torch's error
    check(lambda t, o: fn(t, 1, False, out=o), [x, torch.empty((5, 12), dtype=torch.float64, device=DEVICE)])


@pytest.mark.parametrize("op", ["_softmax", "_log_softmax"])
def test_half_to_float(op):
    # the cuda kernel's fp16 -> fp32 form; torch's cpu raises
    x = make((4, 64), torch.float16)
    check(lambda t: getattr(aten, op)(t, 1, True), [x],
          served=op if DEVICE == "cuda" else None)
    check(lambda t: getattr(aten, op)(t, 1, True), [make((4, 64), torch.float32)])


@pytest.mark.parametrize("op", ["_softmax", "_log_softmax"])
@pytest.mark.parametrize("dtype", INTS + [torch.complex64, torch.bool], ids=str)
def test_unsupported_dtypes_raise_as_torch(op, dtype):
    check(lambda t: getattr(aten, op)(t, 0, False), [make((3, 4), dtype)])


@pytest.mark.parametrize("dim", [2, -3, 5])
def test_dim_out_of_range(dim):
    x = make((3, 4), torch.float32)
    check(lambda t: torch.softmax(t, dim), [x])
    check(lambda t: aten._log_softmax(t, dim, False), [x])
    check(lambda g, y: aten._softmax_backward_data(g, y, dim, torch.float32), [x, x])


# ---- backward ops --------------------------------------------------------------------------------

@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape,dim", [((1,), 0), ((7, 33), 1), ((7, 33), 0), ((2, 3, 1000), -1),
                                       ((2, 4097), 1), ((2, 5, 3), 1), ((0, 3), 1)], ids=str)
def test_backward_data(log, dtype, shape, dim):
    name = "_log_softmax_backward_data" if log else "_softmax_backward_data"
    x = make(shape, dtype)
    y = (torch.log_softmax if log else torch.softmax)(x.double(), dim).to(dtype)
    g = make(shape, dtype)
    check(lambda g_, y_: getattr(aten, name)(g_, y_, dim, dtype), [g, y],
          served=name if x.numel() else None)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_backward_data_out(log, dtype):
    name = "_log_softmax_backward_data" if log else "_softmax_backward_data"
    g, y = make((6, 10), dtype), torch.softmax(make((6, 10), dtype), 1)
    check(lambda g_, y_, o: getattr(aten, name).out(g_, y_, 1, dtype, out=o),
          [g, y, torch.empty((6, 10), dtype=dtype, device=DEVICE)], served=f"{name}.out")
    check(lambda g_, y_, o: getattr(aten, name).out(g_, y_, 1, dtype, out=o.t()),
          [g, y, torch.empty((10, 6), dtype=dtype, device=DEVICE)])
    check(lambda g_, y_, o: getattr(aten, name).out(g_, y_, 1, dtype, out=o),
          [g, y, torch.empty((6, 10), dtype=torch.float16, device=DEVICE)])


def test_backward_mismatched_shapes_raise_as_torch():
    check(lambda g, y: aten._softmax_backward_data(g, y, 1, torch.float32),
          [make((3, 4), torch.float32), make((3, 5), torch.float32)])


@pytest.mark.parametrize("fn", [torch.softmax, torch.log_softmax], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape,dim", [((5, 33), 1), ((4, 7), 0), ((2, 3, 64), -1)], ids=str)
def test_autograd(fn, dtype, shape, dim):
    base = "_log_softmax" if fn is torch.log_softmax else "_softmax"
    check_grads(lambda t: fn(t, dim), [make(shape, dtype)], [base, base + "_backward_data"])


# ---- _safe_softmax -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_safe_softmax(dtype, dim):
    x = make((6, 8), dtype)
    x[1] = -float("inf")
    x[:, 2] = -float("inf")
    x[3, 4] = -float("inf")
    out = check(lambda t: aten._safe_softmax(t, dim), [x], served="_safe_softmax")
    full_row = out[1] if dim in (1, -1) else out[:, 2]
    assert (full_row == 0).all()


def test_safe_softmax_dtype():
    x = make((4, 9), torch.float16)
    x[0] = -float("inf")
    check(lambda t: aten._safe_softmax(t, 1, torch.float32), [x], served="_safe_softmax")
