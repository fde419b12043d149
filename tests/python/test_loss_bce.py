"""binary_cross_entropy (forward, out=, backward), binary_cross_entropy_with_logits (forward, out=),
soft_margin_loss (forward, out=, backward) and the composites torch builds on the served ops
(margin_ranking_loss, kl_div). Every floating dtype, reductions none / mean / sum, weights and
pos_weight (broadcast), empty and 0-d operands, non-contiguous operands, log clamped at -100,
NaN / inf, autograd, and torch's errors.

A mean or sum over many elements is compared with a tolerance that grows with the count in
fp16/bf16 (tol_dtype float32 is too tight for a rounded fp16 result of a long sum).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import gemforge
from conftest import DEVICE, FLOATS, INTS, check, make, quiet, served_count

aten = torch.ops.aten
REDUCTIONS = [0, 1, 2]  # none, mean, sum
RED_NAMES = ["none", "mean", "sum"]
SHAPES = [(), (0,), (7,), (3, 5), (2, 3, 4, 5)]


def probs(shape, dtype):
    """Probabilities in (0, 1), away from the ends where fp16 rounds to 0 or 1."""
    return make(shape, dtype, low=0.02, high=0.98)


# ---- binary_cross_entropy -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce(dtype, shape, reduction):
    x, y = probs(shape, dtype), probs(shape, dtype)
    check(lambda a, b: aten.binary_cross_entropy(a, b, None, reduction), [x, y],
          served="binary_cross_entropy")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_weight(dtype, reduction):
    x, y = probs((4, 6), dtype), probs((4, 6), dtype)
    for w in (make((4, 6), dtype, low=0.1, high=2.0), make((6,), dtype, low=0.1, high=2.0),
              make((4, 1), dtype, low=0.1, high=2.0), make((), dtype, low=0.1, high=2.0)):
        check(lambda a, b, ww: aten.binary_cross_entropy(a, b, ww, reduction), [x, y, w],
              served="binary_cross_entropy")
    # a weight of another dtype: torch's kernel (which rounds twice: compared with itself)
    check(lambda a, b, ww: aten.binary_cross_entropy(a, b, ww, reduction),
          [x, y, make((6,), torch.float64 if dtype != torch.float64 else torch.float32, low=0.1)],
          reference="torch")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_layouts_and_ends(reduction):
    x, y = probs((6, 8), torch.float32), probs((8, 6), torch.float32)
    check(lambda a, b: aten.binary_cross_entropy(a, b.t(), None, reduction), [x, y],
          served="binary_cross_entropy")
    check(lambda a, b: aten.binary_cross_entropy(a[:, ::2], b.t()[:, 1::2], None, reduction), [x, y],
          served="binary_cross_entropy")
    # 0 and 1 exactly: log clamped at -100 (finite losses), against torch's own result
    e = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5, 1e-30, 1 - 1e-7], device=DEVICE)
    t = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.5, 1.0, 0.0], device=DEVICE)
    for dtype in FLOATS:
        check(lambda a, b: aten.binary_cross_entropy(a, b, None, reduction), [e.to(dtype), t.to(dtype)],
              served="binary_cross_entropy", reference="torch")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
def test_bce_long(dtype):
    n = 300_000 if DEVICE == "cuda" else 100_000
    x, y = probs((n,), dtype), probs((n,), dtype)
    for reduction in (1, 2) if dtype is not torch.float16 else (1,):
        with gemforge.use_gems(), gemforge.collect_stats() as counts:
            actual = aten.binary_cross_entropy(x, y, None, reduction)
        assert served_count(counts, "binary_cross_entropy") >= 1
        expected = aten.binary_cross_entropy(x.double().cpu(), y.double().cpu(), None, reduction)
        rtol = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2}.get(dtype, 1e-5)
        torch.testing.assert_close(actual.double().cpu(), expected, rtol=rtol, atol=1e-5)
    with gemforge.use_gems():
        first, second = aten.binary_cross_entropy(x, y), aten.binary_cross_entropy(x, y)
    assert torch.equal(first, second)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_bce_out(dtype):
    x, y = probs((3, 5), dtype), probs((3, 5), dtype)
    with quiet():
        for reduction in REDUCTIONS:
            check(lambda a, b, o, r=reduction: aten.binary_cross_entropy.out(a, b, None, r, out=o),
                  [x, y, torch.empty(3, 5, dtype=dtype, device=DEVICE)], served="binary_cross_entropy.out")
        # torch's out= quirks (an out of another shape is squeezed): torch's kernel
        check(lambda a, b, o: aten.binary_cross_entropy.out(a, b, None, 0, out=o),
              [x, y, torch.empty(0, dtype=dtype, device=DEVICE)])
        other = torch.float64 if dtype != torch.float64 else torch.float32
        check(lambda a, b, o: aten.binary_cross_entropy.out(a, b, None, 1, out=o),
              [x, y, torch.empty(3, 5, dtype=other, device=DEVICE)])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_backward(dtype, reduction, weighted):
    x, y = probs((4, 6), dtype), probs((4, 6), dtype)
    w = make((6,), dtype, low=0.1, high=2.0) if weighted else None
    g = make((4, 6) if reduction == 0 else (), dtype)
    check(lambda gg, a, b, ww: aten.binary_cross_entropy_backward(gg, a, b, ww, reduction), [g, x, y, w],
          served="binary_cross_entropy_backward")

    def through_autograd(a, b, ww, gg):
        a = a.detach().requires_grad_()
        F.binary_cross_entropy(a, b, weight=ww, reduction=RED_NAMES[reduction]).backward(gg)
        return a.grad

    check(through_autograd, [x, y, w, g], served="binary_cross_entropy_backward")
    with quiet():
        check(lambda gg, a, b, ww, o: aten.binary_cross_entropy_backward.grad_input(
                  gg, a, b, ww, reduction, grad_input=o),
              [g, x, y, w, torch.empty(6, 4, dtype=dtype, device=DEVICE).t()],
              served="binary_cross_entropy_backward.grad_input")


def test_bce_backward_ends():
    # (1 - x) x below 1e-12: torch's epsilon; grad broadcast from one row with reduction 'none'
    x = torch.tensor([[0.0, 1.0, 0.3, 1e-13]], device=DEVICE).expand(3, 4).contiguous()
    y = torch.tensor([[0.2, 0.6, 0.3, 1.0]], device=DEVICE).expand(3, 4).contiguous()
    for g, r in ((torch.ones((), device=DEVICE), 1), (make((4,), torch.float32), 0)):
        check(lambda gg, a, b: aten.binary_cross_entropy_backward(gg, a, b, None, r), [g, x, y],
              served="binary_cross_entropy_backward", reference="torch")


def test_bce_errors():
    x, y = probs((3, 4), torch.float32), probs((3, 4), torch.float32)
    check(lambda a, b: aten.binary_cross_entropy(a, b), [x, y.double()])       # dtypes differ
    check(lambda a, b: aten.binary_cross_entropy(a, b), [x, y[:, :1]])         # torch squeezes
    check(lambda a, b: aten.binary_cross_entropy(a, b), [x, y[:, 0].clone()])
    check(lambda a, b, w: aten.binary_cross_entropy(a, b, w), [x, y, make((5,), torch.float32)])
    check(lambda a, b, w: aten.binary_cross_entropy(a, b, w), [x, y, make((2, 3, 4), torch.float32)])
    for dtype in INTS[-1:]:
        check(lambda a, b: aten.binary_cross_entropy(a, b), [x.to(dtype), y.to(dtype)])
    check(lambda g, a, b: aten.binary_cross_entropy_backward(g, a, b), [make((), torch.float64), x, y])
    check(lambda g, a, b: aten.binary_cross_entropy_backward(g, a, b, None, 0),
          [make((5,), torch.float32), x, y])
    if DEVICE == "cpu":  # torch's cuda kernel asserts on the device
        bad = x.clone()
        bad[1, 2] = 1.5
        check(lambda a, b: aten.binary_cross_entropy(a, b), [bad, y])
        bad[1, 2] = float("nan")
        check(lambda a, b: aten.binary_cross_entropy(a, b), [bad, y])
        check(lambda a, b: aten.binary_cross_entropy(a, b), [x, bad])
        bad[1, 2] = -0.5
        check(lambda a, b: aten.binary_cross_entropy(a, b), [x, bad])


# ---- binary_cross_entropy_with_logits -----------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_logits(dtype, shape, reduction):
    x, y = make(shape, dtype, low=-8, high=8), probs(shape, dtype)
    check(lambda a, b: aten.binary_cross_entropy_with_logits(a, b, None, None, reduction), [x, y],
          served="binary_cross_entropy_with_logits")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_logits_weights(dtype, reduction):
    x, y = make((4, 6), dtype, low=-8, high=8), probs((4, 6), dtype)
    w = make((4, 1), dtype, low=0.1, high=2.0)
    pw = make((6,), dtype, low=0.1, high=3.0)
    for ww, pp in ((w, None), (None, pw), (w, pw), (make((4, 6), dtype, low=0.1), make((), dtype, low=0.1))):
        check(lambda a, b, c, d: aten.binary_cross_entropy_with_logits(a, b, c, d, reduction),
              [x, y, ww, pp], served="binary_cross_entropy_with_logits")
    # weights of another dtype: torch's composite
    check(lambda a, b, c: aten.binary_cross_entropy_with_logits(a, b, None, c, reduction),
          [x, y, pw.double() if dtype != torch.float64 else pw.float()])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_logits_layouts_specials(reduction):
    x, y = make((6, 8), torch.float32, low=-5, high=5), probs((8, 6), torch.float32)
    check(lambda a, b: aten.binary_cross_entropy_with_logits(a, b.t(), None, None, reduction), [x, y],
          served="binary_cross_entropy_with_logits")
    check(lambda a, b: aten.binary_cross_entropy_with_logits(a[::2], b.t()[1::2], None, None, reduction),
          [x, y], served="binary_cross_entropy_with_logits")
    # large logits (log_sigmoid stays finite), inf and NaN
    e = torch.tensor([100.0, -100.0, 1e4, -1e4, float("inf"), float("-inf"), float("nan"), 0.0],
                     device=DEVICE)
    t = torch.tensor([0.0, 1.0, 0.3, 0.7, 0.0, 1.0, 0.5, 0.5], device=DEVICE)
    for dtype in FLOATS:
        check(lambda a, b: aten.binary_cross_entropy_with_logits(a, b, None, None, reduction),
              [e.to(dtype), t.to(dtype)], served="binary_cross_entropy_with_logits", reference="torch")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_logits_out_and_autograd(dtype, reduction):
    x, y = make((3, 5), dtype, low=-4, high=4), probs((3, 5), dtype)
    pw = make((5,), dtype, low=0.5, high=2.0)
    with quiet():
        check(lambda a, b, o: aten.binary_cross_entropy_with_logits.out(a, b, None, None, reduction, out=o),
              [x, y, torch.empty(0, dtype=dtype, device=DEVICE)],
              served="binary_cross_entropy_with_logits.out")
        other = torch.float64 if dtype != torch.float64 else torch.float32
        check(lambda a, b, o: aten.binary_cross_entropy_with_logits.out(a, b, None, None, reduction, out=o),
              [x, y, torch.empty(0, dtype=other, device=DEVICE)])

    def through_autograd(a, b, p):
        a = a.detach().requires_grad_()
        loss = F.binary_cross_entropy_with_logits(a, b, pos_weight=p, reduction=RED_NAMES[reduction])
        loss.backward(torch.ones_like(loss))
        return a.grad

    # its gradient is torch's composite formula, rounded op by op in bf16: compared with torch's
    check(through_autograd, [x, y, pw], served="binary_cross_entropy_with_logits",
          reference="torch" if dtype is torch.bfloat16 else "float64")


def test_bce_logits_errors():
    x, y = make((3, 4), torch.float32), probs((3, 4), torch.float32)
    check(lambda a, b: aten.binary_cross_entropy_with_logits(a, b), [x, y[:, :1]])
    check(lambda a, b: aten.binary_cross_entropy_with_logits(a[:, :1], b), [x, y])
    check(lambda a, b, w: aten.binary_cross_entropy_with_logits(a, b, w), [x, y, make((5,), torch.float32)])
    check(lambda a, b, w: aten.binary_cross_entropy_with_logits(a, b, None, w),
          [x, y, make((2, 3, 4), torch.float32)])
    check(lambda a, b: aten.binary_cross_entropy_with_logits(a, b), [x.int(), y.int()])


# ---- soft_margin_loss ---------------------------------------------------------------------------

def signs(shape, dtype):
    t = make(shape, dtype)
    return torch.where(t >= 0, 1.0, -1.0).to(dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin(dtype, shape, reduction):
    x, y = make(shape, dtype), signs(shape, dtype)
    check(lambda a, b: aten.soft_margin_loss(a, b, reduction), [x, y], served="soft_margin_loss")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_layouts_specials(reduction):
    x, y = make((6, 8), torch.float32), signs((8, 6), torch.float32)
    check(lambda a, b: aten.soft_margin_loss(a, b.t(), reduction), [x, y], served="soft_margin_loss")
    check(lambda a, b: aten.soft_margin_loss(a, b[0, :8], reduction), [x, y], served="soft_margin_loss")
    check(lambda a, b: aten.soft_margin_loss(a[:, 1::2], b.t()[:, ::2], reduction), [x, y],
          served="soft_margin_loss")
    e = torch.tensor([100.0, -100.0, float("inf"), float("nan"), 0.0, 3.0], device=DEVICE)
    t = torch.tensor([-1.0, 1.0, 1.0, 1.0, -1.0, 0.5], device=DEVICE)
    for dtype in FLOATS:
        check(lambda a, b: aten.soft_margin_loss(a, b, reduction), [e.to(dtype), t.to(dtype)],
              served="soft_margin_loss", reference="torch")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_out_backward(dtype, reduction):
    x, y = make((4, 6), dtype), signs((4, 6), dtype)
    with quiet():
        check(lambda a, b, o: aten.soft_margin_loss.out(a, b, reduction, out=o),
              [x, y, torch.empty(0, dtype=dtype, device=DEVICE)], served="soft_margin_loss.out")
    g = make((4, 6) if reduction == 0 else (), dtype)
    check(lambda gg, a, b: aten.soft_margin_loss_backward(gg, a, b, reduction), [g, x, y],
          served="soft_margin_loss_backward")
    with quiet():
        check(lambda gg, a, b, o: aten.soft_margin_loss_backward.grad_input(gg, a, b, reduction, grad_input=o),
              [g, x, y, torch.empty(0, dtype=dtype, device=DEVICE)],
              served="soft_margin_loss_backward.grad_input")

    def through_autograd(a, b, gg):
        a = a.detach().requires_grad_()
        F.soft_margin_loss(a, b, reduction=RED_NAMES[reduction]).backward(gg)
        return a.grad

    check(through_autograd, [x, y, g], served="soft_margin_loss_backward")


def test_soft_margin_errors():
    x, y = make((3, 4), torch.float32), signs((3, 4), torch.float32)
    check(lambda a, b: aten.soft_margin_loss(a, b), [x, make((5,), torch.float32)])
    check(lambda a, b: aten.soft_margin_loss(a[:, :1], b), [x, y])   # target larger: torch's error
    check(lambda a, b: aten.soft_margin_loss(a, b), [x, y.double()])  # torch's kernel
    check(lambda a, b: aten.soft_margin_loss(a, b), [x.int(), y.int()])
    with quiet():
        check(lambda a, b, o: aten.soft_margin_loss.out(a, b, 1, out=o),
              [x, y, torch.empty(0, dtype=torch.float64, device=DEVICE)])
    check(lambda g, a, b: aten.soft_margin_loss_backward(g, a, b, 1), [make((), torch.float64), x, y])


# ---- composites on served ops -------------------------------------------------------------------

@pytest.mark.parametrize("reduction", RED_NAMES)
def test_composites(reduction):
    a, b, t = make((5, 7), torch.float32), make((5, 7), torch.float32), signs((5, 7), torch.float32)
    check(lambda p, q, s: F.margin_ranking_loss(p, q, s, margin=0.3, reduction=reduction), [a, b, t],
          served="clamp_min_")
    logp = torch.log_softmax(make((5, 7), torch.float32), -1)
    q = torch.softmax(make((5, 7), torch.float32), -1)
    with quiet():  # kl_div's 'mean' warning
        check(lambda p, r: F.kl_div(p, r, reduction=reduction), [logp, q], served="xlogy.Tensor")
