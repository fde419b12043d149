"""Losses: mse_loss, smooth_l1_loss, huber_loss (forward, out=, backward), nll_loss and
nll_loss2d (forward, out=, backward), and the composites torch builds on them (nll_loss,
cross_entropy). Every floating dtype, reductions none / mean / sum, 0-d, empty, broadcast and
non-contiguous operands, values at each loss's thresholds, NaN / inf, weights, ignore_index,
autograd, and torch's errors.

A mean or sum over many elements is compared with a tolerance that grows with the count in
fp16/bf16 (tol_dtype float32 is too tight for a rounded fp16 result of a long sum).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import gemforge
from conftest import (DEVICE, FLOATS, INTS, assert_same_error, check, make, quiet, raised,
                      served_count, tolerance, with_specials)

aten = torch.ops.aten
REDUCTIONS = [0, 1, 2]  # none, mean, sum
SHAPES = [(), (0,), (1,), (7,), (3, 5), (2, 3, 4, 5), (1023,)]

POINTWISE = {
    "mse_loss": {},
    "smooth_l1_loss": {"beta": 0.5},
    "huber_loss": {"delta": 0.7},
}
BACKWARD = {
    "mse_loss": ("mse_loss_backward", "mse_loss_backward"),
    "smooth_l1_loss": ("smooth_l1_loss_backward", "smooth_l1_loss_backward.grad_input"),
    "huber_loss": ("huber_loss_backward", "huber_loss_backward.out"),
}


def _call(name, kwargs):
    op = getattr(aten, name)
    return lambda x, y, r: op(x, y, r, *kwargs.values())


@pytest.mark.parametrize("name", list(POINTWISE))
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_loss(name, dtype, shape, reduction):
    fn = _call(name, POINTWISE[name])
    x, y = make(shape, dtype), make(shape, dtype)
    check(lambda a, b: fn(a, b, reduction), [x, y], served=name)


@pytest.mark.parametrize("name", list(POINTWISE))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_loss_layouts(name, reduction):
    fn = _call(name, POINTWISE[name])
    x = make((6, 8), torch.float32)
    y = make((8, 6), torch.float32)
    check(lambda a, b: fn(a, b.t(), reduction), [x, y], served=name)            # transposed
    check(lambda a, b: fn(a[:, ::2], b.t()[:, 1::2], reduction), [x, y], served=name)  # sliced
    check(lambda a, b: fn(a, b[0, :8].reshape(8)[:8], reduction), [x, y], served=name)  # broadcast
    # mixed dtypes: torch's kernel (its result dtype differs from loss to loss)
    check(lambda a, b: fn(a, b.t().double(), reduction), [x, y])


@pytest.mark.parametrize("name", list(POINTWISE))
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_pointwise_loss_special(name, dtype):
    fn = _call(name, POINTWISE[name])
    x = with_specials(make((4, 8), dtype))
    # differences right at and beside the thresholds
    y = x.clone()
    flat = y.reshape(-1)
    for i, d in enumerate((0.5, -0.5, 0.7, -0.7, 0.5001, 0.6999, 0.0, 2.0)):
        flat[8 + i] = flat[8 + i] - d
    for reduction in REDUCTIONS:
        check(lambda a, b, r=reduction: fn(a, b, r), [x, y], served=name, reference="torch")


@pytest.mark.parametrize("name", list(POINTWISE))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
def test_pointwise_loss_long(name, dtype):
    fn = _call(name, POINTWISE[name])
    n = 300_000 if DEVICE == "cuda" else 100_000
    x, y = make((n,), dtype), make((n,), dtype)
    # fp16 sums of 1e5 squares overflow (torch's too): mean only
    for reduction in (1,) if dtype is torch.float16 else (1, 2):
        with gemforge.use_gems(), gemforge.collect_stats() as counts:
            actual = fn(x, y, reduction)
        assert served_count(counts, name) >= 1
        expected = fn(x.double().cpu(), y.double().cpu(), reduction)
        rtol = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2}.get(dtype, 1e-5)
        torch.testing.assert_close(actual.double().cpu(), expected, rtol=rtol, atol=1e-5)
    # runs give the same bits
    with gemforge.use_gems():
        first, second = fn(x, y, 1), fn(x, y, 1)
    assert torch.equal(first, second)


@pytest.mark.parametrize("name", list(POINTWISE))
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_pointwise_loss_out(name, dtype):
    op = getattr(aten, name).out
    kwargs = POINTWISE[name]
    x, y = make((3, 5), dtype), make((3, 5), dtype)
    with quiet():
        for reduction in REDUCTIONS:
            check(lambda a, b, o, r=reduction: op(a, b, r, *kwargs.values(), out=o),
                  [x, y, torch.empty(0, dtype=dtype, device=DEVICE)], served=f"{name}.out")
        # another out dtype: torch's error (or its cast), torch's kernel
        check(lambda a, b, o: op(a, b, 1, *kwargs.values(), out=o),
              [x, y, torch.empty(0, dtype=torch.float64 if dtype != torch.float64 else torch.float32,
                                 device=DEVICE)], reference="torch", tol_dtype=dtype)
        # mixed input dtypes: torch's kernel
        check(lambda a, b: getattr(aten, name)(a, b, 1, *kwargs.values()), [x, y.double()])


@pytest.mark.parametrize("name", list(POINTWISE))
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_loss_backward(name, dtype, reduction):
    kwargs = POINTWISE[name]
    functional, served = BACKWARD[name]
    x, y = make((4, 6), dtype), make((4, 6), dtype)
    grad = make((4, 6) if reduction == 0 else (), dtype)
    op = getattr(aten, functional)
    check(lambda g, a, b: op(g, a, b, reduction, *kwargs.values()), [grad, x, y], served=served)
    # through autograd
    loss = getattr(F, name)

    def through_autograd(a, b, g):
        a = a.detach().requires_grad_()
        loss(a, b, reduction=["none", "mean", "sum"][reduction], **kwargs).backward(g)
        return a.grad

    check(through_autograd, [x, y, grad], served=served)


@pytest.mark.parametrize("name", list(POINTWISE))
def test_pointwise_loss_backward_out(name):
    kwargs = POINTWISE[name]
    op = {"mse_loss": aten.mse_loss_backward.grad_input,
          "smooth_l1_loss": aten.smooth_l1_loss_backward.grad_input,
          "huber_loss": aten.huber_loss_backward.out}[name]
    served = {"mse_loss": "mse_loss_backward.grad_input"}.get(name, BACKWARD[name][1])
    x, y, g = make((4, 6), torch.float32), make((4, 6), torch.float32), make((), torch.float32)
    with quiet():
        check(lambda gr, a, b, o: op(gr, a, b, 1, *kwargs.values(), grad_input=o),
              [g, x, y, torch.empty(0, device=DEVICE)], served=served)
        check(lambda gr, a, b, o: op(gr, a, b, 2, *kwargs.values(), grad_input=o),
              [g, x, y, torch.empty(6, 4, device=DEVICE).t()], served=served)


def test_pointwise_loss_errors():
    x, y = make((3, 4), torch.float32), make((3, 4), torch.float32)
    check(lambda a, b: aten.smooth_l1_loss(a, b, 1, -1.0), [x, y])
    check(lambda a, b: aten.huber_loss(a, b, 1, 0.0), [x, y])
    check(lambda a, b: aten.huber_loss(a, b, 1, -2.0), [x, y])
    check(lambda a, b: aten.mse_loss(a, b, 1), [x, make((5,), torch.float32)])
    for dtype in INTS:
        check(lambda a, b: aten.mse_loss(a, b, 1), [make((3,), dtype), make((3,), dtype)])
    # beta 0: torch's l1 road
    check(lambda a, b: aten.smooth_l1_loss(a, b, 1, 0.0), [x, y])


# ---- nll_loss -------------------------------------------------------------------------------------

def nll_check(fn, x, t, w, served):
    """fn(x, t, w) under gemforge against fn on float64 copies (conftest.check would widen the
    int64 targets too). fp16/bf16: the sum of the picked values rounds once; torch's own rounds
    more often, so the tolerance is the dtype's, doubled."""
    expected_error = raised(fn, x, t, w)
    if expected_error is not None:
        with gemforge.use_gems():
            assert_same_error(expected_error, raised(fn, x, t, w))
        return
    native = fn(x, t, w)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        actual = fn(x, t, w)
    assert served_count(counts, served) >= 1, dict(counts)
    assert actual.dtype == native.dtype and actual.shape == native.shape
    ref = fn(x.double().cpu(), t.cpu(), None if w is None else w.double().cpu())
    rtol, atol = tolerance(x.dtype)
    torch.testing.assert_close(actual.double().cpu(), ref, rtol=2 * rtol, atol=max(atol, 2 * rtol),
                               equal_nan=True)


def _targets(n, c, ignore=None, shape=None):
    t = torch.randint(0, c, shape or (n,), device=DEVICE)
    if ignore is not None and t.numel() > 2:
        t.view(-1)[1] = ignore
    return t


# (9000, 3): the cuda mean/sum kernel takes 8192 targets a round (fp64: 4096): a last, partial round
NLL_CASES = [(1, 1), (7, 5), (3, 1000), (0, 4), (9000, 3)]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("n,c", NLL_CASES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(dtype, n, c, reduction, weighted):
    x = make((n, c), dtype)
    w = make((c,), dtype, low=0.1, high=2.0) if weighted else None
    for ignore in (-100, 0):
        t = _targets(n, c, ignore if ignore >= 0 else None)
        nll_check(lambda a, tt, ww: aten.nll_loss_forward(a, tt, ww, reduction, ignore)[0], x, t, w,
                  "nll_loss_forward")
        if reduction:  # total_weight; with reduction 'none' torch's cuda kernel leaves it unset
            nll_check(lambda a, tt, ww: aten.nll_loss_forward(a, tt, ww, reduction, ignore)[1], x, t,
                      w, "nll_loss_forward")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_unbatched_and_functional(dtype, reduction):
    x = make((6,), dtype)
    t = torch.tensor(3, device=DEVICE)
    check(lambda a, tt: aten.nll_loss_forward(a, tt, None, reduction, -100)[0], [x, t],
          served="nll_loss_forward")
    red = ["none", "mean", "sum"][reduction]
    x2 = make((5, 7), dtype).t()  # non-contiguous
    t2 = _targets(7, 5)
    check(lambda a, tt: F.nll_loss(a, tt, reduction=red), [x2, t2], served="nll_loss_forward")
    # all targets ignored: mean is 0/0
    t3 = torch.full((7,), -100, device=DEVICE)
    check(lambda a, tt: F.nll_loss(a, tt, reduction=red), [x2, t3], served="nll_loss_forward")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_backward(dtype, reduction, weighted):
    n, c = 6, 9
    x = make((n, c), dtype)
    w = make((c,), dtype, low=0.1, high=2.0) if weighted else None
    t = _targets(n, c, 4)
    red = ["none", "mean", "sum"][reduction]
    g = make((n,) if reduction == 0 else (), dtype)

    def through_autograd(a, tt, ww, gg):
        a = a.detach().requires_grad_()
        F.nll_loss(a, tt, weight=ww, reduction=red, ignore_index=4).backward(gg)
        return a.grad

    check(through_autograd, [x, t, w, g], served="nll_loss_backward")
    tw = aten.nll_loss_forward(x, t, w, reduction, 4)[1]
    with quiet():
        check(lambda gg, a, tt, ww, o: aten.nll_loss_backward.grad_input(gg, a, tt, ww, reduction, 4, tw,
                                                                         grad_input=o),
              [g, x, t, w, torch.empty(0, dtype=dtype, device=DEVICE)],
              served="nll_loss_backward.grad_input")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss2d(dtype, reduction):
    x = make((2, 4, 3, 5), dtype)
    w = make((4,), dtype, low=0.1, high=2.0)
    t = _targets(0, 4, 1, shape=(2, 3, 5))
    for ww in (None, w):
        nll_check(lambda a, tt, wt: aten.nll_loss2d_forward(a, tt, wt, reduction, 1)[0], x, t, ww,
                  "nll_loss2d_forward")
    red = ["none", "mean", "sum"][reduction]
    g = make((2, 3, 5) if reduction == 0 else (), dtype)

    def through_autograd(a, tt, gg):
        a = a.detach().requires_grad_()
        F.nll_loss(a, tt, reduction=red, ignore_index=1).backward(gg)
        return a.grad

    check(through_autograd, [x, t, g], served="nll_loss2d_backward")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
def test_cross_entropy(dtype):
    x = make((16, 40), dtype)
    t = _targets(16, 40, 3)
    check(lambda a, tt: F.cross_entropy(a, tt, ignore_index=3), [x, t], served="nll_loss_forward")

    def step(a, tt):
        a = a.detach().requires_grad_()
        F.cross_entropy(a, tt).backward()
        return a.grad

    if dtype is not torch.bfloat16:
        check(step, [x, t], served="nll_loss_backward")
        return
    # In bf16 the log_softmax output is rounded before its backward exponentiates it, so torch's
    # own gradient is several bf16 steps off the float64 one: gemforge's may be off by no more
    # than twice torch's.
    expected = step(x.double().cpu(), t.cpu())
    torch_error = (step(x, t).double().cpu() - expected).abs().max()
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        gems_error = (step(x, t).double().cpu() - expected).abs().max()
    assert served_count(counts, "nll_loss_backward") >= 1
    assert gems_error <= 2 * torch_error + 1e-6, (gems_error, torch_error)


def test_nll_loss_errors():
    x = make((4, 5), torch.float32)
    t = _targets(4, 5)
    check(lambda a, tt: aten.nll_loss_forward(a, tt, None, 1, -100)[0], [make((2, 3, 4), torch.float32), t])
    check(lambda a, tt: aten.nll_loss_forward(a, tt, None, 1, -100)[0], [x, _targets(3, 5)])
    check(lambda a, tt: aten.nll_loss_forward(a, tt, None, 1, -100)[0], [x, t.reshape(2, 2)])
    check(lambda a, tt, w: aten.nll_loss_forward(a, tt, w, 1, -100)[0], [x, t, make((4,), torch.float32)])
    check(lambda a, tt: aten.nll_loss_forward(a, tt, None, 1, -100)[0], [x, t.float()])
    check(lambda a, tt: aten.nll_loss2d_forward(a, tt, None, 1, -100)[0], [x, t])
    check(lambda g, a, tt: aten.nll_loss_backward(g, a, tt, None, 0, -100, torch.tensor(1.0))[0],
          [make((3,), torch.float32), x, t])
    if DEVICE == "cpu":  # on cuda torch's kernels and ours assert on the device
        bad = t.clone()
        bad[2] = 5
        check(lambda a, tt: aten.nll_loss_forward(a, tt, None, 1, -100)[0], [x, bad])
        bad[2] = -1
        check(lambda a, tt: aten.nll_loss_forward(a, tt, None, 1, -100)[0], [x, bad])
