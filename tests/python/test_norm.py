"""layer_norm and rms_norm (native_layer_norm, _fused_rms_norm and their backward ops) on the row
engine: every floating dtype against float64, 1-d and 2-d normalized shapes, rows of 1 and odd
lengths, with and without weight and bias, non-contiguous inputs, empty inputs, NaN rows, eps,
the statistics torch returns (mean, rstd: dtype and shape), errors as torch's, and autograd's
gradients (input, weight, bias) against float64 ones."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import FLOATS, DEVICE, check, make
from rows_helpers import check_grads

aten = torch.ops.aten

# (input shape, normalized shape)
# (2, 4097) float64 and (2, 8200) float32/float64: past the cuda register path (loop kernels)
SHAPES = [((4, 1), (1,)), ((3, 7), (7,)), ((2, 3, 33), (33,)), ((5, 1000), (1000,)), ((2, 4097), (4097,)),
          ((2, 8200), (8200,)),
          ((2, 3, 5), (3, 5)), ((7,), (7,)), ((1, 64), (64,))]
AFFINE = ["none", "weight", "bias", "both"]


def _params(norm, dtype, affine):
    n = 1
    for s in norm:
        n *= s
    w = make(norm, dtype, low=0.5, high=1.5) if affine in ("weight", "both") else None
    b = make(norm, dtype) if affine in ("bias", "both") else None
    return w, b


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape,norm", SHAPES, ids=str)
@pytest.mark.parametrize("affine", AFFINE)
def test_layer_norm(dtype, shape, norm, affine):
    x = make(shape, dtype)
    w, b = _params(norm, dtype, affine)
    check(lambda t, w_, b_: F.layer_norm(t, norm, w_, b_, eps=1e-5), [x, w, b], served="native_layer_norm")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("index", [1, 2])
def test_layer_norm_stats(dtype, index):
    # mean and rstd: torch's dtype (the cpu keeps the input's, cuda the compute type) and shape
    x = make((3, 4, 10), dtype)
    check(lambda t: aten.native_layer_norm(t, [10], None, None, 1e-5)[index], [x], served="native_layer_norm")
    check(lambda t: aten.native_layer_norm(t, [4, 10], None, None, 1e-3)[index], [x], served="native_layer_norm")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_layer_norm_noncontiguous(dtype):
    x = make((20, 12), dtype)
    w, b = _params((20,), dtype, "both")
    check(lambda t, w_, b_: F.layer_norm(t.t(), (20,), w_, b_), [x, w, b], served="native_layer_norm")
    check(lambda t: F.layer_norm(t[:, 1:9:2], (4,)), [x], served="native_layer_norm")
    wide = make((40,), dtype)
    check(lambda t, w_: F.layer_norm(t, (12,), w_[::2][:12]), [x, wide], served="native_layer_norm")


def test_layer_norm_empty_and_special():
    check(lambda t: F.layer_norm(t, (8,)), [make((0, 8), torch.float32)])
    x = make((4, 8), torch.float32)
    x[1, 3] = float("nan")
    x[2, 0] = float("inf")
    x[3] = 5.0  # a constant row: zero variance
    check(lambda t: F.layer_norm(t, (8,)), [x], served="native_layer_norm", reference="torch")


@pytest.mark.parametrize("args", [
    ((3, 4), [5], None, None),
    ((3, 4), [], None, None),
    ((3, 4), [4], (5,), None),
    ((3, 4), [4], None, (3,)),
    ((4,), [3, 4], None, None),
], ids=str)
def test_layer_norm_errors(args):
    shape, norm, wshape, bshape = args
    x = make(shape, torch.float32)
    w = make(wshape, torch.float32) if wshape else None
    b = make(bshape, torch.float32) if bshape else None
    check(lambda t, w_, b_: aten.native_layer_norm(t, norm, w_, b_, 1e-5)[0], [x, w, b])


def test_layer_norm_mixed_dtypes_go_to_torch():
    x = make((3, 8), torch.bfloat16)
    w = make((8,), torch.float32)
    check(lambda t, w_: aten.native_layer_norm(t, [8], w_, w_, 1e-5)[0], [x, w])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape,norm", [((6, 33), (33,)), ((3, 4, 8), (4, 8)), ((2, 1000), (1000,)),
                                        ((130, 16), (16,)), ((3, 8200), (8200,))], ids=str)
@pytest.mark.parametrize("affine", AFFINE)
def test_layer_norm_autograd(dtype, shape, norm, affine):
    x = make(shape, dtype)
    w, b = _params(norm, dtype, affine)
    inputs = [x] + [t for t in (w, b) if t is not None]

    def fn(t, *wb):  # the affine tensors present, in order (a bias may come without a weight)
        given = iter(wb)
        w_ = next(given) if w is not None else None
        b_ = next(given) if b is not None else None
        return F.layer_norm(t, norm, w_, b_)
    check_grads(fn, inputs, ["native_layer_norm", "native_layer_norm_backward"])


@pytest.mark.parametrize("mask", [(True, False, False), (False, True, True), (True, True, False)], ids=str)
def test_layer_norm_backward_mask(mask):
    x, g = make((5, 12), torch.float32), make((5, 12), torch.float32)
    w, b = _params((12,), torch.float32, "both")
    _, mean, rstd = aten.native_layer_norm(x, [12], w, b, 1e-5)
    for i in range(3):
        if mask[i]:
            check(lambda g_, x_, m_, r_, w_, b_: aten.native_layer_norm_backward(
                g_, x_, [12], m_, r_, w_, b_, list(mask))[i],
                [g, x, mean, rstd, w, b], served="native_layer_norm_backward", reference="torch")
    out = aten.native_layer_norm_backward(g, x, [12], mean, rstd, w, b, list(mask))
    assert [o is not None for o in out] == list(mask)


def test_layer_norm_backward_empty():
    x = make((0, 6), torch.float32)
    w, b = _params((6,), torch.float32, "both")
    check_grads(lambda t, w_, b_: F.layer_norm(t, (6,), w_, b_), [x, w, b], [])


# ---- rms_norm ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape,norm", SHAPES, ids=str)
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("eps", [None, 1e-5])
def test_rms_norm(dtype, shape, norm, weight, eps):
    x = make(shape, dtype)
    w = make(norm, dtype, low=0.5, high=1.5) if weight else None
    # eps=None is the epsilon of the compute type (float's for half/bfloat16/float): a float64
    # reference would use double's, which differs by ~eps / x^2 on rows of 1 with a small x; so
    # that case is checked against torch's own kernel on the same device.
    check(lambda t, w_: F.rms_norm(t, norm, w_, eps), [x, w], served="_fused_rms_norm",
          reference="float64" if eps is not None or dtype is torch.float64 else "torch")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_rms_norm_rstd(dtype):
    x = make((3, 4, 10), dtype)
    check(lambda t: aten._fused_rms_norm(t, [10], None, None)[1], [x], served="_fused_rms_norm")
    check(lambda t: aten._fused_rms_norm(t, [4, 10], None, 1e-2)[1], [x], served="_fused_rms_norm")


def test_rms_norm_noncontiguous_and_empty():
    x = make((16, 10), torch.float32)
    check(lambda t: F.rms_norm(t.t(), (16,)), [x], served="_fused_rms_norm")
    check(lambda t: F.rms_norm(t, (8,)), [make((0, 8), torch.float32)])


@pytest.mark.parametrize("args", [((3, 4), [5], None), ((3, 4), [4], (5,))], ids=str)
def test_rms_norm_errors(args):
    shape, norm, wshape = args
    x = make(shape, torch.float32)
    w = make(wshape, torch.float32) if wshape else None
    check(lambda t, w_: F.rms_norm(t, norm, w_), [x, w])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape,norm", [((6, 33), (33,)), ((3, 4, 8), (4, 8)), ((2, 1000), (1000,)),
                                        ((130, 16), (16,)), ((3, 8200), (8200,))], ids=str)
@pytest.mark.parametrize("weight", [False, True])
def test_rms_norm_autograd(dtype, shape, norm, weight):
    x = make(shape, dtype)
    inputs = [x] + ([make(norm, dtype, low=0.5, high=1.5)] if weight else [])
    check_grads(lambda t, *w: F.rms_norm(t, norm, w[0] if w else None), inputs,
                ["_fused_rms_norm", "_fused_rms_norm_backward"])


def test_deterministic_weight_grads():
    x, g = make((300, 64), torch.float32), make((300, 64), torch.float32)
    w, b = _params((64,), torch.float32, "both")
    import gemforge
    with gemforge.use_gems():
        _, mean, rstd = aten.native_layer_norm(x, [64], w, b, 1e-5)
        first = aten.native_layer_norm_backward(g, x, [64], mean, rstd, w, b, [True, True, True])
        for _ in range(3):
            again = aten.native_layer_norm_backward(g, x, [64], mean, rstd, w, b, [True, True, True])
            for a, b_ in zip(first, again):
                assert torch.equal(a, b_)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_attention_block_gradients(dtype):
    # layer_norm -> softmax attention -> rms_norm: every row op forward and backward in one graph
    x = make((2, 8, 32), dtype)
    w1, b1 = _params((32,), dtype, "both")
    w2 = make((32,), dtype, low=0.5, high=1.5)

    def block(t, w1_, b1_, w2_):
        h = F.layer_norm(t, (32,), w1_, b1_)
        att = torch.softmax(h @ h.transpose(-1, -2) / 32 ** 0.5, dim=-1)
        return F.rms_norm(t + att @ h, (32,), w2_)
    check_grads(block, [x, w1, b1, w2], ["native_layer_norm", "native_layer_norm_backward", "_softmax",
                                         "_softmax_backward_data", "_fused_rms_norm",
                                         "_fused_rms_norm_backward"])
