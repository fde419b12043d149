"""The CTC loss on gemforge's cpu and cuda backends: _ctc_loss and _ctc_loss_backward (lengths as
lists or tensors), reached through torch.nn.functional.ctc_loss.

float32 and float64; padded (2-d) and concatenated (1-d) targets, int32 and int64; every
reduction; repeated labels (the no-skip rule), empty targets and inputs, alignments that cannot
exist (infinite loss) with and without zero_infinity, a blank other than 0; targets longer than a
cuda block's states and long inputs. Losses against a float64 dynamic program written here and
against torch's float64 cpu kernel, and against torch's own kernel on the same device and dtype;
the alpha table where a path reaches; gradients through autograd the same ways; torch's errors
for bad arguments. Each case runs on the cpu and, with a GPU, on cuda.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import gemforge
from conftest import assert_same_error, raised, served_count

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
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


def case(T=12, B=4, C=6, S=5, dtype=torch.float32, blank=0, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    log_probs = torch.randn(T, B, C, generator=g, dtype=torch.float64).log_softmax(2).to(dtype)
    labels = [c for c in range(C) if c != blank]
    targets = torch.tensor(labels)[torch.randint(0, len(labels), (B, S), generator=g)]
    targets[0, 1] = targets[0, 0]  # a repeated label: the path must pass a blank between them
    input_lengths = [T, T - 1, T - 5, 4][:B]
    target_lengths = [S, S - 2, 0, 3][:B]
    return log_probs.to(device), targets.to(device), input_lengths, target_lengths


def run(fn, *args, device):
    """fn under torch's kernels, then under gemforge's for `device`; the stats of the second."""
    expected = fn(*args)
    with gemforge.use_gems(backends=[device]), gemforge.collect_stats() as counts:
        got = fn(*args)
    return expected, got, counts


def assert_close(got, expected, dtype, **kw):
    """got (any device) against expected, in float64 on the cpu, within dtype's tolerance."""
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(got.detach().cpu().double(), expected.detach().cpu().double(), rtol=rtol, atol=atol,
                               **kw)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
def test_ctc_loss(device, dtype, reduction, layout):
    log_probs, targets, il, tl = case(dtype=dtype, device=device)
    if layout == "concatenated":
        targets = torch.cat([targets[b, :tl[b]] for b in range(len(tl))]).to(torch.int32)

    def loss(lp, tg):
        return F.ctc_loss(lp, tg, il, tl, reduction=reduction)

    expected, got, counts = run(loss, log_probs, targets, device=device)
    assert served_count(counts, "_ctc_loss") == 1, dict(counts)
    assert got.dtype == dtype and got.shape == expected.shape and got.device == expected.device
    assert_close(got, loss(log_probs.double().cpu(), targets.cpu()), dtype)
    assert_close(got, expected, dtype)  # torch's kernel on the device, in dtype
    if reduction == "none":  # the dynamic program above, entry by entry
        offsets = [0] + list(torch.tensor(tl).cumsum(0))
        for b in range(len(il)):
            target = (targets[b, :tl[b]] if layout == "padded" else targets[offsets[b]:offsets[b + 1]]).tolist()
            nll = reference_nll(log_probs.double().cpu()[: il[b], b], target, 0)
            assert math.isclose(got[b].item(), nll, rel_tol=TOL[dtype][0], abs_tol=TOL[dtype][1])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_loss_gradients(device, dtype, zero_infinity):
    log_probs, targets, il, tl = case(dtype=dtype, blank=2, seed=1, device=device)
    il[3] = 2  # three labels in two steps: no alignment, an infinite loss

    def grads(lp, tg, lengths_as_tensors):
        lp = lp.detach().requires_grad_()
        lengths = (torch.tensor(il, device=lp.device), torch.tensor(tl, device=lp.device)) if lengths_as_tensors \
            else (il, tl)
        loss = F.ctc_loss(lp, tg, *lengths, blank=2, reduction="sum", zero_infinity=zero_infinity)
        # a finite upstream even where the loss is infinite: the sum's gradient reaches every entry
        loss.backward()
        return loss.detach(), lp.grad

    ref_loss, ref_grad = grads(log_probs.double().cpu(), targets.cpu(), False)
    torch_loss, torch_grad = grads(log_probs, targets, False)  # torch's kernel on the device, in dtype
    for as_tensors in (False, True):
        with gemforge.use_gems(backends=[device]), gemforge.collect_stats() as counts:
            loss, grad = grads(log_probs, targets, as_tensors)
        # F.ctc_loss turns tensor lengths into lists before _ctc_loss: the list overloads serve both
        assert served_count(counts, "_ctc_loss") == 1, dict(counts)
        assert served_count(counts, "_ctc_loss_backward") == 1, dict(counts)
        assert grad.dtype == dtype and grad.device == log_probs.device
        assert_close(loss, ref_loss, dtype)
        assert_close(grad, ref_grad, dtype, equal_nan=True)
        assert_close(loss, torch_loss, dtype)
        assert_close(grad, torch_grad, dtype, equal_nan=True)


@pytest.mark.parametrize("device", DEVICES)
def test_ctc_loss_empty_input_and_target(device):
    """Against torch's cpu kernel: torch's cuda kernel reads (and its backward writes) the alpha and
    beta rows before the first step for an empty input."""
    log_probs = torch.randn(5, 3, 4, dtype=torch.float64).log_softmax(2)
    targets = torch.tensor([[1, 2], [3, 1], [2, 2]])
    args = (targets, [5, 0, 0], [2, 0, 2], 0, False)
    expected = torch.ops.aten._ctc_loss(log_probs, *args)
    on_device = (log_probs.to(device), targets.to(device)) + args[1:]
    with gemforge.use_gems(backends=[device]), gemforge.collect_stats() as counts:
        got = torch.ops.aten._ctc_loss(*on_device)
    assert served_count(counts, "_ctc_loss") == 1
    torch.testing.assert_close(got[0].cpu(), expected[0])  # 0 and inf for the empty inputs, as torch's
    assert math.copysign(1, got[0][1].item()) == math.copysign(1, expected[0][1].item())
    grad = torch.ones(3, dtype=torch.float64)
    ref = torch.ops.aten._ctc_loss_backward(grad, log_probs, targets, [5, 0, 0], [2, 0, 2], expected[0], expected[1],
                                            0, False)
    with gemforge.use_gems(backends=[device]), gemforge.collect_stats() as counts:
        out = torch.ops.aten._ctc_loss_backward(grad.to(device), on_device[0], on_device[1], [5, 0, 0], [2, 0, 2],
                                                got[0], got[1], 0, False)
    assert served_count(counts, "_ctc_loss_backward") == 1
    torch.testing.assert_close(out.cpu(), ref)


@pytest.mark.parametrize("device", DEVICES)
def test_ctc_loss_tensor_overloads(device):
    """The .Tensor overloads, called directly (torch.compile's decompositions do): lengths read back
    from int32 tensors on the device, the same results as torch's."""
    log_probs, targets, il, tl = case(dtype=torch.float64, seed=2, device=device)
    lengths = (torch.tensor(il, dtype=torch.int32, device=device), torch.tensor(tl, dtype=torch.int32, device=device))
    expected, got, counts = run(torch.ops.aten._ctc_loss.Tensor, log_probs, targets, *lengths, 0, False,
                                device=device)
    assert served_count(counts, "_ctc_loss.Tensor") == 1, dict(counts)
    torch.testing.assert_close(got[0], expected[0], rtol=1e-10, atol=1e-10)
    grad = torch.rand(len(il), dtype=torch.float64, device=device)
    expected_grad, got_grad, counts = run(torch.ops.aten._ctc_loss_backward.Tensor, grad, log_probs, targets,
                                          *lengths, expected[0], expected[1], 0, False, device=device)
    assert served_count(counts, "_ctc_loss_backward.Tensor") == 1, dict(counts)
    torch.testing.assert_close(got_grad, expected_grad, rtol=1e-10, atol=1e-10)
    torch_error = raised(torch.ops.aten._ctc_loss.Tensor, log_probs, targets, lengths[0].float(), lengths[1], 0,
                         False)
    with gemforge.use_gems(backends=[device]):
        assert_same_error(torch_error, raised(torch.ops.aten._ctc_loss.Tensor, log_probs, targets,
                                              lengths[0].float(), lengths[1], 0, False))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_ctc_loss_alpha(device, dtype):
    """log_alpha: torch's shape (2 * the longest target + 1 states, not the padded width) and
    torch's values where a path reaches; -inf elsewhere (torch's cpu kernel leaves that memory
    unwritten)."""
    log_probs, targets, il, tl = case(T=10, S=7, dtype=dtype, seed=3, device=device)
    tl = [4, 2, 0, 3]  # padded to 7 labels
    expected = torch.ops.aten._ctc_loss(log_probs.double().cpu(), targets.cpu(), il, tl, 0, False)
    with gemforge.use_gems(backends=[device]), gemforge.collect_stats() as counts:
        nll, alpha = torch.ops.aten._ctc_loss(log_probs, targets, il, tl, 0, False)
    assert served_count(counts, "_ctc_loss") == 1, dict(counts)
    assert alpha.shape == expected[1].shape == (4, 10, 9) and alpha.dtype == dtype
    assert_close(nll, expected[0], dtype)
    for b in range(4):
        reached = (slice(0, il[b]), slice(0, 2 * tl[b] + 1))
        assert_close(alpha[b][reached], expected[1][b][reached], dtype)
        assert (alpha[b, il[b]:] == -math.inf).all() and (alpha[b, :, 2 * tl[b] + 1:] == -math.inf).all()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("label_count", [300, 1100], ids=["600 states", "2200 states"])
def test_ctc_loss_long(device, label_count):
    """Targets longer than a cuda block's threads (a block's states in several chunks past 2048)
    and inputs of thousands of steps; few labels, so every target repeats labels."""
    T, C = 2 * label_count + 100, 5
    g = torch.Generator().manual_seed(label_count)
    log_probs = torch.randn(T, 2, C, generator=g, dtype=torch.float64).log_softmax(2)
    targets = torch.randint(1, C, (2, label_count), generator=g)
    il, tl = [T, T - 37], [label_count, label_count - 5]

    def grads(lp, tg):
        lp = lp.detach().requires_grad_()
        loss = F.ctc_loss(lp, tg, il, tl, reduction="none")
        loss.sum().backward()
        return loss.detach(), lp.grad

    ref_loss, ref_grad = grads(log_probs, targets)
    with gemforge.use_gems(backends=[device]), gemforge.collect_stats() as counts:
        loss, grad = grads(log_probs.to(device), targets.to(device))
    assert served_count(counts, "_ctc_loss") == 1, dict(counts)
    assert served_count(counts, "_ctc_loss_backward") == 1, dict(counts)
    assert torch.isfinite(ref_loss).all()
    torch.testing.assert_close(loss.cpu(), ref_loss, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(grad.cpu(), ref_grad, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("T, B, S", [(1, 1, 0), (6, 3, 0), (1, 2, 1), (7, 1, 3)], ids=str)
def test_ctc_loss_small_shapes(device, T, B, S):
    """One step, one entry, only empty targets (one state)."""
    g = torch.Generator().manual_seed(T * 100 + B * 10 + S)
    log_probs = torch.randn(T, B, 4, generator=g, dtype=torch.float64).log_softmax(2)
    targets = torch.randint(1, 4, (B, S), generator=g)
    il, tl = [T] * B, [S] * B
    grad = torch.rand(B, generator=g, dtype=torch.float64)
    nll, alpha = torch.ops.aten._ctc_loss(log_probs, targets, il, tl, 0, False)
    ref = torch.ops.aten._ctc_loss_backward(grad, log_probs, targets, il, tl, nll, alpha, 0, True)
    lp, tg = log_probs.to(device), targets.to(device)
    with gemforge.use_gems(backends=[device]), gemforge.collect_stats() as counts:
        got_nll, got_alpha = torch.ops.aten._ctc_loss(lp, tg, il, tl, 0, False)
        got = torch.ops.aten._ctc_loss_backward(grad.to(device), lp, tg, il, tl, got_nll, got_alpha, 0, True)
    assert served_count(counts, "_ctc_loss") == 1 and served_count(counts, "_ctc_loss_backward") == 1, dict(counts)
    torch.testing.assert_close(got_nll.cpu(), nll, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(got.cpu(), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_ctc_loss_errors(device):
    log_probs, targets, il, tl = case(device=device)
    cases = [
        (log_probs, targets, il, tl, 6),                  # blank out of range
        (log_probs, targets, il[:3], tl[:3], 0),          # a length missing
        (log_probs, targets, [13] + il[1:], tl, 0),       # an input longer than T
        (log_probs, targets, il, [6] + tl[1:], 0),        # a target longer than its row
        (log_probs[:, 0], targets, il, tl, 0),            # 2-d log_probs
    ]
    for lp, tg, i, t, blank in cases:
        torch_error = raised(torch.ops.aten._ctc_loss, lp, tg, i, t, blank, False)
        with gemforge.use_gems(backends=[device]):
            gems_error = raised(torch.ops.aten._ctc_loss, lp, tg, i, t, blank, False)
        assert_same_error(torch_error, gems_error)
