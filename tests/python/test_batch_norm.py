"""Batch norm (native_batch_norm, _native_batch_norm_legit, _batch_norm_with_update and the
backward ops) against float64: training and eval, momentum and the running stats' new values
(running_var takes the unbiased variance), affine or not, with and without running stats, 2-d to
5-d inputs with odd sizes, every floating dtype and torch's mixed case (Half/BFloat16 input with
Float parameters), the saved stats torch returns, out=, non-contiguous and channels_last inputs,
N=1, empty inputs, errors as torch's, gradients through autograd, and a small model's training
step."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import gemforge
from conftest import DEVICE, FLOATS, assert_same_values, check, make, served_count
from rows_helpers import check_grads

aten = torch.ops.aten


@pytest.fixture(autouse=True)
def _native_path():
    # with cudnn on, F.batch_norm on cuda goes to cudnn_batch_norm (cudnn's kernels, not served)
    with torch.backends.cudnn.flags(enabled=False):
        yield

# C = 3 and spatial sizes 7 and 20 are odd; (6, 40) and (2, 40, 33) take the cuda column and plane
# layouts with several splits


def _served(shape, overload="native_batch_norm"):
    """The overload gemforge serves for an input of `shape`: on cuda, (N, C) inputs (one element a
    channel a sample) stay torch's (ops/batch_norm.cpp: ours was slower)."""
    one_per_channel = math.prod(shape[2:]) == 1
    return None if DEVICE == "cuda" and one_per_channel else overload
SHAPES = [(4, 3), (6, 40), (5, 3, 7), (2, 40, 33), (2, 3, 4, 5), (2, 3, 2, 3, 4), (1, 3, 7)]
AFFINE = ["none", "both"]  # weight without bias: test_backward_mask, test_no_update


def _params(c, dtype, affine, stats, device=DEVICE):
    w = make((c,), dtype, device, 0.5, 1.5) if affine != "none" else None
    b = make((c,), dtype, device) if affine == "both" else None
    rm = make((c,), dtype, device, -0.5, 0.5) if stats else None
    rv = make((c,), dtype, device, 0.5, 2.0) if stats else None
    return w, b, rm, rv


def _bn(training, momentum=0.1, eps=1e-5):
    return lambda x, w, b, rm, rv: F.batch_norm(x, rm, rv, w, b, training=training, momentum=momentum, eps=eps)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("affine", AFFINE)
def test_training(dtype, shape, affine):
    w, b, rm, rv = _params(shape[1], dtype, affine, stats=True)
    check(_bn(True), [make(shape, dtype), w, b, rm, rv], served=_served(shape))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_eval(dtype, shape):
    w, b, rm, rv = _params(shape[1], dtype, "both", stats=True)
    check(_bn(False, eps=1e-3), [make(shape, dtype), w, b, rm, rv], served=_served(shape))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("index", [3, 4])
@pytest.mark.parametrize("momentum", [0.1, 0.7])
def test_running_stats(dtype, index, momentum):
    # the running stats after one training step: momentum and running_var's N / (N - 1)
    def fn(x, rm, rv):
        F.batch_norm(x, rm, rv, training=True, momentum=momentum)
        return (x, None, None, rm, rv)[index]

    _, _, rm, rv = _params(3, dtype, "none", stats=True)
    check(fn, [make((4, 3, 5), dtype), rm, rv], served="native_batch_norm")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("index", [1, 2])
@pytest.mark.parametrize("training", [True, False])
def test_saved_stats(dtype, index, training):
    # save_mean / save_invstd: torch's dtype (cpu: the parameters', cuda: the compute type) and
    # size (eval: none on the cpu, the running stats on cuda): in eval against torch's own result
    # on this device (the float64 reference runs on the cpu)
    w, b, rm, rv = _params(3, dtype, "both", stats=True)
    fn = lambda x, w_, b_, m, v: aten.native_batch_norm(x, w_, b_, m, v, training, 0.1, 1e-5)[index]
    check(fn, [make((4, 3, 6), dtype), w, b, rm, rv], served="native_batch_norm",
          reference="float64" if training else "torch")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("index", [0, 1, 2])
def test_mixed_dtype(dtype, training, index):
    # a reduced-precision input with Float weight, bias and running stats (autocast's case)
    w, b, rm, rv = _params(5, torch.float32, "both", stats=True)
    fn = lambda x, w_, b_, m, v: aten.native_batch_norm(x, w_, b_, m, v, training, 0.1, 1e-5)[index]
    check(fn, [make((4, 5, 9), dtype), w, b, rm, rv], served="native_batch_norm",
          reference="float64" if training or index == 0 else "torch")  # eval's saved stats: per device
    check(_bn(training), [make((4, 5, 9), dtype), w, b, rm, rv], served="native_batch_norm")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_no_running_stats(dtype):
    w, b, _, _ = _params(3, dtype, "both", stats=False)
    check(_bn(True), [make((4, 3, 5), dtype), w, b, None, None], served="native_batch_norm")
    fn = lambda x: aten._native_batch_norm_legit.no_stats(x, None, None, True, 0.1, 1e-5)[0]
    check(fn, [make((4, 3, 5), dtype)], served="_native_batch_norm_legit.no_stats")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_legit(dtype, training):
    w, b, rm, rv = _params(4, dtype, "both", stats=True)

    def fn(x, w_, b_, m, v):
        y = aten._native_batch_norm_legit(x, w_, b_, m, v, training, 0.2, 1e-5)[0]
        return torch.cat([y.flatten(), m, v])

    check(fn, [make((3, 4, 5), dtype), w, b, rm, rv], served="_native_batch_norm_legit")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_with_update(dtype):
    w, b, rm, rv = _params(4, dtype, "both", stats=True)

    def fn(x, w_, b_, m, v):
        y, mean, invstd, reserve = aten._batch_norm_with_update(x, w_, b_, m, v, 0.1, 1e-5)
        assert reserve.dtype == torch.uint8
        return torch.cat([y.flatten(), m, v])

    check(fn, [make((3, 4, 5), dtype), w, b, rm, rv], served="_batch_norm_with_update")


@pytest.mark.parametrize("overload", ["native_batch_norm.out", "_native_batch_norm_legit.out",
                                      "_native_batch_norm_legit.no_stats_out", "_batch_norm_with_update.out"])
@pytest.mark.parametrize("index", [0, 1, 2])
def test_out(overload, index):
    dtype = torch.float32

    def fn(x, w_, b_, m, v):
        outs = [torch.empty(0, dtype=dtype, device=x.device) for _ in range(3)]
        if overload == "native_batch_norm.out":
            aten.native_batch_norm.out(x, w_, b_, m, v, True, 0.1, 1e-5, out=outs[0], save_mean=outs[1],
                                       save_invstd=outs[2])
        elif overload == "_native_batch_norm_legit.out":
            aten._native_batch_norm_legit.out(x, w_, b_, m, v, True, 0.1, 1e-5, out=outs[0], save_mean=outs[1],
                                              save_invstd=outs[2])
        elif overload == "_native_batch_norm_legit.no_stats_out":
            aten._native_batch_norm_legit.no_stats_out(x, w_, b_, True, 0.1, 1e-5, out=outs[0],
                                                       save_mean=outs[1], save_invstd=outs[2])
        else:
            reserve = torch.empty(0, dtype=torch.uint8, device=x.device)
            aten._batch_norm_with_update.out(x, w_, b_, m, v, 0.1, 1e-5, out=outs[0], save_mean=outs[1],
                                             save_invstd=outs[2], reserve=reserve)
        return outs[index]

    w, b, rm, rv = _params(3, dtype, "both", stats=True)
    check(fn, [make((4, 3, 5), dtype), w, b, rm, rv], served=overload)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_noncontiguous(dtype):
    w, b, rm, rv = _params(4, dtype, "both", stats=True)
    x = make((4, 6, 5), dtype)
    check(lambda t, *p: _bn(True)(t.transpose(0, 1), *p), [x, w, b, rm, rv], served="native_batch_norm")
    check(lambda t, *p: _bn(True)(t[:, :4, ::2], *p), [make((3, 5, 7), dtype), w, b, rm, rv],
          served="native_batch_norm")


@pytest.mark.parametrize("training", [True, False])
def test_channels_last(training):
    # torch's kernel serves channels_last (gemforge reads NCHW only); the values must agree
    dtype = torch.float32
    w, b, rm, rv = _params(3, dtype, "both", stats=True)
    x = make((2, 3, 4, 5), dtype).to(memory_format=torch.channels_last)
    check(_bn(training), [x, w, b, rm, rv])


def test_single_value_per_channel():
    # F.batch_norm refuses it in training; native_batch_norm computes it: running_var gets NaN
    x = make((1, 3), torch.float32)
    check(_bn(True), [x, None, None, None, None])
    _, _, rm, rv = _params(3, torch.float32, "none", stats=True)

    def fn(t, m, v):
        aten.native_batch_norm(t, None, None, m, v, True, 0.1, 1e-5)
        return v

    check(fn, [x, rm, rv], served=_served(x.shape))


def test_empty():
    dtype = torch.float32
    w, b, rm, rv = _params(3, dtype, "both", stats=True)
    check(lambda x, *p: aten.native_batch_norm(x, *p, True, 0.1, 1e-5)[0], [make((0, 3, 4), dtype), w, b, rm, rv])
    check(_bn(False), [make((0, 3, 4), dtype), w, b, rm, rv])


def test_errors():
    x = make((4, 3, 5), torch.float32)
    w, b, rm, rv = _params(3, torch.float32, "both", stats=True)
    # (eval without running stats crashes torch's own cpu kernel: not tested)
    check(lambda t: aten.native_batch_norm(t, None, None, None, None, True, 0.1, 1e-5)[0], [make((5,), torch.float32)])
    check(lambda t, m: F.batch_norm(t, m, None, training=True), [x, rm])
    check(lambda t, w_: F.batch_norm(t, None, None, w_, training=True), [make((4, 3, 5), torch.float64), w])
    check(lambda t: F.batch_norm(t, None, None, training=True), [make((1, 3), torch.float32)])  # one value
    check(lambda t: F.batch_norm(t, None, None, training=True), [make((1, 3, 1, 1), torch.float32)])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", [(6, 3), (2, 40, 33), (2, 3, 4, 5)], ids=str)
@pytest.mark.parametrize("affine", ["none", "both"])
@pytest.mark.parametrize("training", [True, False])
def test_backward(dtype, shape, affine, training):
    c = shape[1]

    def fn(x, *params):
        w, b = (params + (None, None))[:2]
        rm = torch.linspace(-0.5, 0.5, c, dtype=x.dtype, device=x.device)
        rv = torch.linspace(0.5, 2.0, c, dtype=x.dtype, device=x.device)
        return F.batch_norm(x, rm, rv, w, b, training=training)

    params = [make((c,), dtype, low=0.5, high=1.5), make((c,), dtype)] if affine == "both" else []
    check_grads(fn, [make(shape, dtype), *params],
                [] if _served(shape) is None else ["native_batch_norm", "native_batch_norm_backward"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_backward_with_update(dtype):
    # _batch_norm_with_update's autograd formula calls batch_norm_backward
    def fn(x, w, b):
        rm = torch.zeros(4, dtype=x.dtype, device=x.device)
        rv = torch.ones(4, dtype=x.dtype, device=x.device)
        return aten._batch_norm_with_update(x, w, b, rm, rv, 0.1, 1e-5)[0]

    inputs = [make((3, 4, 5), dtype), make((4,), dtype, low=0.5, high=1.5), make((4,), dtype)]
    check_grads(fn, inputs, ["_batch_norm_with_update", "batch_norm_backward"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_no_update(dtype):
    # eval through _batch_norm_no_update; its autograd formula calls batch_norm_backward (update false)
    def fn(x, w, b):
        rm = torch.linspace(-0.5, 0.5, 4, dtype=x.dtype, device=x.device)
        rv = torch.linspace(0.5, 2.0, 4, dtype=x.dtype, device=x.device)
        return aten._batch_norm_no_update(x, w, b, rm, rv, 0.1, 1e-5)[0]

    inputs = [make((3, 4, 5), dtype), make((4,), dtype, low=0.5, high=1.5), make((4,), dtype)]
    if DEVICE != "cpu":
        # torch's own _batch_norm_no_update reaches batch_norm_cpu and raises for cuda tensors
        # (F.batch_norm never calls it there); gemforge serves it: against the cpu's result
        with gemforge.use_gems():
            got = fn(*inputs)
        expected = fn(*[t.cpu().double() for t in inputs])
        assert_same_values(got.cpu(), expected.to(got.dtype), tol_dtype=dtype)
        return
    check(fn, inputs, served="_batch_norm_no_update")
    check_grads(fn, inputs, ["_batch_norm_no_update", "batch_norm_backward"])


@pytest.mark.parametrize("mask", [(True, False, False), (False, True, True), (True, True, False)], ids=str)
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("index", [0, 1, 2])
def test_backward_mask(mask, train, index):
    if not mask[index]:
        return
    dtype = torch.float32
    x, g = make((4, 3, 5), dtype), make((4, 3, 5), dtype)
    w, _, rm, rv = _params(3, dtype, "weight", stats=True)

    def fn(g_, x_, w_, m, v):
        _, sm, si = aten.native_batch_norm(x_, w_, None, m.clone(), v.clone(), True, 0.1, 1e-5)
        return aten.native_batch_norm_backward(g_, x_, w_, m, v, sm, si, train, 1e-5, list(mask))[index]

    check(fn, [g, x, w, rm, rv], served="native_batch_norm_backward")


class Tiny(nn.Module):
    """Conv-free CNN-like: Linear -> (N, C, H, W) -> BatchNorm2d -> ReLU -> GroupNorm -> Linear."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 6 * 3 * 5)
        self.bn = nn.BatchNorm2d(6)
        self.gn = nn.GroupNorm(3, 6)
        self.head = nn.Linear(6 * 3 * 5, 4)

    def forward(self, x):
        h = self.fc(x).reshape(-1, 6, 3, 5)
        h = self.gn(torch.relu(self.bn(h)))
        return self.head(h.flatten(1))


def test_training_step():
    torch.manual_seed(0)
    model = Tiny().to(DEVICE).double()
    x, y = make((8, 10), torch.float64), make((8, 4), torch.float64)

    def step(m):
        loss = F.mse_loss(m(x), y)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in m.parameters()], [m.bn.running_mean.clone(), m.bn.running_var.clone()]

    ref = step(copy.deepcopy(model))
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        mine = step(copy.deepcopy(model))
    for name in ["native_batch_norm", "native_batch_norm_backward", "native_group_norm", "native_group_norm_backward"]:
        assert served_count(counts, name) >= 1, f"gemforge did not serve {name}: {dict(counts)}"
    torch.testing.assert_close(mine[0], ref[0])
    for a, b in zip(mine[1] + mine[2], ref[1] + ref[2]):
        torch.testing.assert_close(a, b)


# ---- cudnn_batch_norm: F.batch_norm on cuda with cudnn on (torch's default) -------------------

@pytest.mark.skipif(DEVICE != "cuda", reason="cudnn_batch_norm is a cuda op")
@pytest.mark.parametrize("dtype,param_dtype", [(torch.float32, torch.float32), (torch.float16, torch.float32)],
                         ids=["fp32", "fp16-fp32"])
@pytest.mark.parametrize("shape", [(5, 3, 7), (2, 40, 33), (2, 3, 4, 5), (2, 3, 2, 3, 4)], ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_cudnn_path(dtype, param_dtype, shape, training):
    with torch.backends.cudnn.flags(enabled=True):
        w, b, rm, rv = _params(shape[1], param_dtype, "both", stats=True)
        x = make(shape, dtype)
        check(_bn(training), [x, w, b, rm, rv], served="cudnn_batch_norm")
        rm2, rv2 = rm.clone(), rv.clone()
        inputs = [x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()]
        fn = lambda x, w, b: F.batch_norm(x, rm2.to(x.device) if x.is_cuda else rm2.cpu().double(),  # noqa: E731
                                          rv2.to(x.device) if x.is_cuda else rv2.cpu().double(), w, b,
                                          training=training)
        served = ["cudnn_batch_norm", "cudnn_batch_norm_backward"] if training else \
            ["cudnn_batch_norm", "native_batch_norm_backward"]
        check_grads(fn, inputs, served=served)


@pytest.mark.skipif(DEVICE != "cuda", reason="cudnn_batch_norm is a cuda op")
def test_cudnn_channels_last_goes_to_cudnn_and_back():
    # channels_last is cudnn's own case: forward and backward both stay torch's, consistently
    with torch.backends.cudnn.flags(enabled=True):
        x = make((2, 8, 5, 5), torch.float32).to(memory_format=torch.channels_last).requires_grad_()
        bn = nn.BatchNorm2d(8).to(DEVICE)
        ref_bn = copy.deepcopy(bn)
        with gemforge.use_gems():
            y = bn(x)
            y.square().sum().backward()
        g = x.grad.clone()
        x.grad = None
        y_ref = ref_bn(x)
        y_ref.square().sum().backward()
        torch.testing.assert_close(y, y_ref)
        torch.testing.assert_close(g, x.grad)
