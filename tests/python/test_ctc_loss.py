"""The CTC loss on gemforge's cpu backend: _ctc_loss and _ctc_loss_backward (lengths as lists or
tensors), reached through torch.nn.functional.ctc_loss.

float32 and float64; padded (2-d) and concatenated (1-d) targets, int32 and int64; every
reduction; repeated labels (the no-skip rule), empty targets and inputs, alignments that cannot
exist (infinite loss) with and without zero_infinity, a blank other than 0. Losses against a
float64 dynamic program written here and against torch's float64 kernel; gradients through
autograd against torch's in float64; torch's errors for bad arguments.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import gemforge
from conftest import assert_same_error, raised, served_count

CPU = "cpu"
TOL = {torch.float32: (1e-4, 1e-4), torch.float64: (1e-10, 1e-10)}


def reference_nll(log_probs, target, blank):
    """-log p(target | log_probs) for one entry (log_probs (T, C) float64): the forward algorithm
    over the extended labels, in plain Python."""
    ext = [blank]
    for label in target:
        ext += [label, blank]
    T, S = log_probs.shape[0], len(ext)
    if T == 0:
        return 0.0 if not target else math.inf
    alpha = [-math.inf] * S
    alpha[0] = log_probs[0, blank].item()
    if S > 1:
        alpha[1] = log_probs[0, ext[1]].item()

    def lse(*xs):
        m = max(xs)
        return m if m == -math.inf else m + math.log(sum(math.exp(x - m) for x in xs))

    for t in range(1, T):
        nxt = []
        for s in range(S):
            terms = [alpha[s]] + ([alpha[s - 1]] if s > 0 else [])
            if s > 1 and ext[s] != ext[s - 2]:
                terms.append(alpha[s - 2])
            nxt.append(lse(*terms) + log_probs[t, ext[s]].item())
        alpha = nxt
    return -(alpha[-1] if S == 1 else lse(alpha[-1], alpha[-2]))


def case(T=12, B=4, C=6, S=5, dtype=torch.float32, blank=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    log_probs = torch.randn(T, B, C, generator=g, dtype=torch.float64).log_softmax(2).to(dtype)
    labels = [c for c in range(C) if c != blank]
    targets = torch.tensor(labels)[torch.randint(0, len(labels), (B, S), generator=g)]
    targets[0, 1] = targets[0, 0]  # a repeated label: the path must pass a blank between them
    input_lengths = [T, T - 1, T - 5, 4][:B]
    target_lengths = [S, S - 2, 0, 3][:B]
    return log_probs, targets, input_lengths, target_lengths


def run(fn, *args):
    expected = fn(*args)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        got = fn(*args)
    return expected, got, counts


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
def test_ctc_loss(dtype, reduction, layout):
    log_probs, targets, il, tl = case(dtype=dtype)
    if layout == "concatenated":
        targets = torch.cat([targets[b, :tl[b]] for b in range(len(tl))]).to(torch.int32)

    def loss(lp):
        return F.ctc_loss(lp, targets, il, tl, reduction=reduction)

    expected, got, counts = run(loss, log_probs)
    assert served_count(counts, "_ctc_loss") == 1, dict(counts)
    assert got.dtype == dtype and got.shape == expected.shape
    ref = loss(log_probs.double())
    torch.testing.assert_close(got.double(), ref, rtol=TOL[dtype][0], atol=TOL[dtype][1])
    if reduction == "none":  # the dynamic program above, entry by entry
        offsets = [0] + list(torch.tensor(tl).cumsum(0))
        for b in range(len(il)):
            target = (targets[b, :tl[b]] if layout == "padded" else targets[offsets[b]:offsets[b + 1]]).tolist()
            nll = reference_nll(log_probs.double()[: il[b], b], target, 0)
            assert math.isclose(got[b].item(), nll, rel_tol=TOL[dtype][0], abs_tol=TOL[dtype][1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_loss_gradients(dtype, zero_infinity):
    log_probs, targets, il, tl = case(dtype=dtype, blank=2, seed=1)
    il[3] = 2  # three labels in two steps: no alignment, an infinite loss

    def grads(lp, lengths_as_tensors):
        lp = lp.detach().requires_grad_()
        lengths = (torch.tensor(il), torch.tensor(tl)) if lengths_as_tensors else (il, tl)
        loss = F.ctc_loss(lp, targets, *lengths, blank=2, reduction="sum", zero_infinity=zero_infinity)
        # a finite upstream even where the loss is infinite: the sum's gradient reaches every entry
        loss.backward()
        return loss.detach(), lp.grad

    ref_loss, ref_grad = grads(log_probs.double(), False)
    for as_tensors in (False, True):
        with gemforge.use_gems(), gemforge.collect_stats() as counts:
            loss, grad = grads(log_probs, as_tensors)
        # F.ctc_loss turns tensor lengths into lists before _ctc_loss: the list overloads serve both
        assert served_count(counts, "_ctc_loss") == 1, dict(counts)
        assert served_count(counts, "_ctc_loss_backward") == 1, dict(counts)
        torch.testing.assert_close(loss.double(), ref_loss, rtol=TOL[dtype][0], atol=TOL[dtype][1])
        assert grad.dtype == dtype
        torch.testing.assert_close(grad.double(), ref_grad, rtol=TOL[dtype][0], atol=TOL[dtype][1], equal_nan=True)


def test_ctc_loss_empty_input_and_target():
    log_probs = torch.randn(5, 3, 4, dtype=torch.float64).log_softmax(2).requires_grad_()
    targets = torch.tensor([[1, 2], [3, 1], [2, 2]])
    args = (targets, [5, 0, 0], [2, 0, 2], 0, False)
    expected = torch.ops.aten._ctc_loss(log_probs, *args)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        got = torch.ops.aten._ctc_loss(log_probs, *args)
    assert served_count(counts, "_ctc_loss") == 1
    torch.testing.assert_close(got[0], expected[0])  # 0 and inf for the empty inputs, as torch's
    assert math.copysign(1, got[0][1].item()) == math.copysign(1, expected[0][1].item())
    grad_args = (torch.ones(3, dtype=torch.float64), log_probs, targets, [5, 0, 0], [2, 0, 2])
    ref = torch.ops.aten._ctc_loss_backward(*grad_args, expected[0], expected[1], 0, False)
    with gemforge.use_gems():
        out = torch.ops.aten._ctc_loss_backward(*grad_args, got[0], got[1], 0, False)
    torch.testing.assert_close(out, ref)


def test_ctc_loss_tensor_overloads():
    """The .Tensor overloads, called directly (torch.compile's decompositions do): lengths read back
    from int32 tensors, the same results as the list overloads."""
    log_probs, targets, il, tl = case(dtype=torch.float64, seed=2)
    lengths = (torch.tensor(il, dtype=torch.int32), torch.tensor(tl, dtype=torch.int32))
    expected, got, counts = run(torch.ops.aten._ctc_loss.Tensor, log_probs, targets, *lengths, 0, False)
    assert served_count(counts, "_ctc_loss.Tensor") == 1, dict(counts)
    torch.testing.assert_close(got[0], expected[0], rtol=1e-10, atol=1e-10)
    grad = torch.rand(len(il), dtype=torch.float64)
    expected_grad, got_grad, counts = run(torch.ops.aten._ctc_loss_backward.Tensor, grad, log_probs, targets,
                                          *lengths, expected[0], expected[1], 0, False)
    assert served_count(counts, "_ctc_loss_backward.Tensor") == 1, dict(counts)
    torch.testing.assert_close(got_grad, expected_grad, rtol=1e-10, atol=1e-10)
    torch_error = raised(torch.ops.aten._ctc_loss.Tensor, log_probs, targets, lengths[0].float(), lengths[1], 0,
                         False)
    with gemforge.use_gems():
        assert_same_error(torch_error, raised(torch.ops.aten._ctc_loss.Tensor, log_probs, targets,
                                              lengths[0].float(), lengths[1], 0, False))


def test_ctc_loss_errors():
    log_probs, targets, il, tl = case()
    cases = [
        (log_probs, targets, il, tl, 6),                  # blank out of range
        (log_probs, targets, il[:3], tl[:3], 0),          # a length missing
        (log_probs, targets, [13] + il[1:], tl, 0),       # an input longer than T
        (log_probs, targets, il, [6] + tl[1:], 0),        # a target longer than its row
        (log_probs[:, 0], targets, il, tl, 0),            # 2-d log_probs
    ]
    for lp, tg, i, t, blank in cases:
        torch_error = raised(torch.ops.aten._ctc_loss, lp, tg, i, t, blank, False)
        with gemforge.use_gems():
            gems_error = raised(torch.ops.aten._ctc_loss, lp, tg, i, t, blank, False)
        assert_same_error(torch_error, gems_error)
