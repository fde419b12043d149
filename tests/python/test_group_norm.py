"""Group norm (native_group_norm and native_group_norm_backward) against float64: every floating
dtype, 2-d to 5-d inputs with odd sizes, one and many channels per group, affine or not, the
mean / rstd torch returns ((N, G), the input's dtype), non-contiguous inputs, torch's mixed case
(served by torch), empty inputs, errors as torch's, and gradients through autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import FLOATS, check, make
from rows_helpers import check_grads

aten = torch.ops.aten

# (shape, groups): C = 6 in 3 groups over HxW = 5 or 7, 2-d (HxW = 1), one channel per group,
# one group, a 5-d input, and HxW = 16 (the cuda vector path)
CASES = [((2, 6, 5), 3), ((3, 4), 2), ((2, 6, 7, 1), 3), ((1, 8, 3, 3), 4), ((2, 4, 2, 3, 2), 2), ((3, 5, 4), 5),
         ((2, 6, 3), 1), ((2, 8, 4, 4), 2)]
AFFINE = ["none", "weight", "both"]


def _params(c, dtype, affine):
    w = make((c,), dtype, low=0.5, high=1.5) if affine != "none" else None
    b = make((c,), dtype) if affine == "both" else None
    return w, b


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape,groups", CASES, ids=str)
@pytest.mark.parametrize("affine", AFFINE)
def test_forward(dtype, shape, groups, affine):
    w, b = _params(shape[1], dtype, affine)
    check(lambda x, w_, b_: F.group_norm(x, groups, w_, b_, eps=1e-5), [make(shape, dtype), w, b],
          served="native_group_norm")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("index", [1, 2])
def test_stats(dtype, index):
    x = make((3, 6, 10), dtype)
    w, b = _params(6, dtype, "both")
    check(lambda t, w_, b_: aten.native_group_norm(t, w_, b_, 3, 6, 10, 2, 1e-3)[index], [x, w, b],
          served="native_group_norm")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_noncontiguous(dtype):
    x = make((6, 4, 5), dtype)
    w, b = _params(6, dtype, "both")
    check(lambda t, w_, b_: F.group_norm(t.transpose(0, 1), 3, w_, b_), [x, w, b], served="native_group_norm")
    check(lambda t: F.group_norm(t[:, :, ::2], 2), [make((3, 4, 9), dtype)], served="native_group_norm")
    wide = make((12,), dtype)
    check(lambda t, w_: F.group_norm(t, 3, w_[::2]), [make((2, 6, 5), dtype), wide], served="native_group_norm")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_mixed_dtype(dtype):
    # a reduced-precision input with Float weight: torch's kernel serves it
    w, b = _params(6, torch.float32, "both")
    check(lambda x, w_, b_: F.group_norm(x, 3, w_, b_), [make((2, 6, 5), dtype), w, b])


def test_channels_last():
    x = make((2, 6, 3, 4), torch.float32).to(memory_format=torch.channels_last)
    check(lambda t: F.group_norm(t, 3), [x])


def test_empty():
    check(lambda x: F.group_norm(x, 3), [make((0, 6, 5), torch.float32)])
    check(lambda x: F.group_norm(x, 3), [make((2, 6, 0), torch.float32)])
    check(lambda x: aten.native_group_norm(x, None, None, 0, 6, 5, 3, 1e-5)[1], [make((0, 6, 5), torch.float32)])


def test_errors():
    x = make((2, 6, 5), torch.float32)
    check(lambda t: F.group_norm(t, 4), [x])  # C % G != 0
    check(lambda t, w_: F.group_norm(t, 3, w_), [x, make((5,), torch.float32)])  # weight of the wrong size
    check(lambda t: aten.native_group_norm(t, None, None, 2, 6, 6, 3, 1e-5)[0], [x])  # N * C * HxW != numel
    check(lambda t: aten.native_group_norm(t, None, None, 2, 6, 5, 4, 1e-5)[0], [x])
    check(lambda t, w_: F.group_norm(t, 3, w_), [make((2, 6, 5), torch.float64), make((6,), torch.float32)])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape,groups", [((2, 6, 5), 3), ((3, 12), 2), ((2, 8, 4, 4), 2), ((2, 4, 2, 3, 2), 4)],
                         ids=str)
@pytest.mark.parametrize("affine", ["none", "both"])
def test_backward(dtype, shape, groups, affine):
    # (groups of 2 values have gradients of ~0, all rounding: not a useful case)
    params = list(_params(shape[1], dtype, affine)) if affine == "both" else []
    fn = lambda x, *p: F.group_norm(x, groups, *p)
    check_grads(fn, [make(shape, dtype), *params], ["native_group_norm", "native_group_norm_backward"])


@pytest.mark.parametrize("mask", [(True, False, False), (False, True, True), (False, False, True)], ids=str)
@pytest.mark.parametrize("index", [0, 1, 2])
def test_backward_mask(mask, index):
    if not mask[index]:
        return
    dtype = torch.float32

    def fn(g, x, w):
        _, mean, rstd = aten.native_group_norm(x, w, None, 2, 6, 5, 3, 1e-5)
        return aten.native_group_norm_backward(g, x, mean, rstd, w, 2, 6, 5, 3, list(mask))[index]

    check(fn, [make((2, 6, 5), dtype), make((2, 6, 5), dtype), make((6,), dtype, low=0.5, high=1.5)],
          served="native_group_norm_backward")
