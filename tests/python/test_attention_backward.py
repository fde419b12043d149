"""The attention backward on cuda: `_scaled_dot_product_efficient_attention_backward` (what
autograd calls after `_scaled_dot_product_efficient_attention`) served by gemforge's
FlashAttention-2-style kernel (fp16/bf16, no dropout, no bias; head dims up to 256 in steps of
8; causal top-left; query and key lengths that differ and are not tile multiples; strided
layouts), gradients against float64 autograd; grad_input_mask; the cases gemforge leaves to
torch (bias, dropout) still give torch's gradients. Torch has no cpu kernel for these ops: the
module skips on cpu.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

import gemforge
from conftest import DEVICE, served_count

pytestmark = pytest.mark.skipif(DEVICE != "cuda", reason="the fused attention ops are cuda-only in torch")

FWD = "_scaled_dot_product_efficient_attention"
BWD = "_scaled_dot_product_efficient_attention_backward"
# Largest |error| over the largest |gradient|: the kernel rounds P and dS to the input dtype.
TOL = {torch.bfloat16: 3e-2, torch.float16: 6e-3, torch.float32: 1e-4}  # fp32: 3xTF32, fp32-level


def qkv(b, h, sq, sk, d, dtype, *, bshd=True):
    """q, k, v requiring grad; bshd: [B, S, H, D] memory viewed as [B, H, S, D] (SDPA's usual)."""
    def one(s):
        t = torch.randn(b, s, h, d, device=DEVICE, dtype=dtype).transpose(1, 2) if bshd else \
            torch.randn(b, h, s, d, device=DEVICE, dtype=dtype)
        return t.requires_grad_()
    return one(sq), one(sk), one(sk)


def reference_grads(q, k, v, grad, causal, scale, bias=None):
    q, k, v = (t.detach().double().requires_grad_() for t in (q, k, v))
    s = q @ k.transpose(-1, -2) * scale
    if bias is not None:
        s = s + bias.double()
    if causal:
        i = torch.arange(q.shape[-2], device=q.device)[:, None]
        j = torch.arange(k.shape[-2], device=q.device)[None, :]
        s = s.masked_fill(j > i, -math.inf)
    (torch.softmax(s, -1) @ v).backward(grad.double())
    return q.grad, k.grad, v.grad


def assert_grads(ours, refs, dtype):
    # Errors relative to the largest gradient of the three: one can be ~0 (with a single key,
    # dS and so dq vanish up to rounding), and its rounding noise is not an error.
    scale = max(max(r.abs().max().item() for r in refs), 1e-6)
    for name, g, r in zip("qkv", ours, refs):
        assert g is not None and g.shape == r.shape and g.isfinite().all(), name
        err = (g.double() - r).abs().max().item() / scale
        assert err < TOL[dtype], f"d{name}: relative error {err:.3g}"


def train(q, k, v, grad, causal, *, bias=None, dropout=0.0, scale=None):
    """Forward and backward through the efficient op's autograd, under gemforge."""
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        out = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, bias, True, dropout, causal, scale=scale)
        out[0].backward(grad)
    return counts


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("d", [64, 128, 256])
@pytest.mark.parametrize("sq,sk", [(1, 1), (100, 77), (77, 300), (257, 130)])
@pytest.mark.parametrize("causal", [False, True])
def test_backward(dtype, d, sq, sk, causal):
    torch.manual_seed(sq * 1000 + sk + d)
    q, k, v = qkv(2, 3, sq, sk, d, dtype)
    grad = torch.randn(2, 3, sq, d, device=DEVICE, dtype=dtype)
    counts = train(q, k, v, grad, causal)
    assert served_count(counts, FWD) == 1 and served_count(counts, BWD) == 1
    assert_grads((q.grad, k.grad, v.grad), reference_grads(q, k, v, grad, causal, d ** -0.5), dtype)


@pytest.mark.parametrize("d,scale", [(40, 0.3), (8, None), (200, None)])
def test_odd_head_dims_contiguous_scale(d, scale):
    """Head dims that are not tile widths, [B, H, S, D] contiguous operands, a custom scale."""
    torch.manual_seed(d)
    q, k, v = qkv(1, 4, 150, 90, d, torch.float16, bshd=False)
    grad = torch.randn(1, 4, 150, d, device=DEVICE, dtype=torch.float16)
    counts = train(q, k, v, grad, True, scale=scale)
    assert served_count(counts, BWD) == 1
    ref = reference_grads(q, k, v, grad, True, scale if scale is not None else d ** -0.5)
    assert_grads((q.grad, k.grad, v.grad), ref, torch.float16)


def test_long_and_expanded_grad():
    """An unchanged user call (F.scaled_dot_product_attention) with 1000 rows (many key and
    query blocks, dQ summed by atomics); out.sum()'s gradient arrives expanded (stride 0)."""
    torch.manual_seed(7)
    q, k, v = qkv(1, 2, 1000, 1000, 128, torch.bfloat16)
    with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION]):
        with gemforge.use_gems(), gemforge.collect_stats() as counts:
            F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()
    assert served_count(counts, BWD) == 1
    ref = reference_grads(q, k, v, torch.ones(1, 2, 1000, 128, device=DEVICE), True, 128 ** -0.5)
    assert_grads((q.grad, k.grad, v.grad), ref, torch.bfloat16)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
@pytest.mark.parametrize("mask", [(True, False, False), (False, True, True), (False, False, True)])
def test_grad_input_mask(mask, dtype):
    torch.manual_seed(8)
    q, k, v = (t.detach() for t in qkv(2, 2, 70, 96, 64, dtype))
    grad = torch.randn(2, 2, 70, 64, device=DEVICE, dtype=dtype)
    out, lse, seed, offset = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, None, True, 0.0, False)
    args = (grad, q, k, v, None, out, lse, seed, offset, 0.0, list(mask) + [False], False)
    op = torch.ops.aten._scaled_dot_product_efficient_attention_backward
    expected = op(*args)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        got = op(*args)
    assert served_count(counts, BWD) == 1
    # dQ, and dK with dV, are computed when asked for; what is not comes back undefined, as
    # from torch's meta kernel
    wanted = (mask[0], mask[1] or mask[2], mask[1] or mask[2])
    for want, g, e in zip(wanted, got, expected):
        if want:
            assert g.shape == e.shape
            assert (g.double() - e.double()).abs().max() < TOL[dtype] * e.double().abs().max()
        else:
            assert g is None
    assert got[3] is None


def test_torch_keeps_bias_and_dropout():
    torch.manual_seed(9)
    q, k, v = qkv(2, 2, 70, 96, 64, torch.bfloat16)
    bias = torch.randn(2, 2, 70, 96, device=DEVICE, dtype=torch.bfloat16)
    grad = torch.randn(2, 2, 70, 64, device=DEVICE, dtype=torch.bfloat16)
    counts = train(q, k, v, grad, False, bias=bias)
    assert served_count(counts, BWD) == 0
    assert_grads((q.grad, k.grad, v.grad), reference_grads(q, k, v, grad, False, 0.125, bias), torch.bfloat16)
    q.grad = k.grad = v.grad = None
    counts = train(q, k, v, grad, False, dropout=0.5)
    assert served_count(counts, BWD) == 0 and q.grad.shape == q.shape


@pytest.mark.parametrize("d", [64, 40, 4, 128])
@pytest.mark.parametrize("sq,sk", [(1, 1), (100, 77), (77, 300), (257, 130)])
@pytest.mark.parametrize("causal", [False, True])
def test_fp32_backward(d, sq, sk, causal):
    """float32 (3xTF32): served at head dims up to 64, as the forward; 128 stays torch's."""
    torch.manual_seed(sq * 1000 + sk + d + 1)
    q, k, v = qkv(2, 3, sq, sk, d, torch.float32)
    grad = torch.randn(2, 3, sq, d, device=DEVICE)
    counts = train(q, k, v, grad, causal)
    assert served_count(counts, FWD) == served_count(counts, BWD) == (1 if d <= 64 else 0)
    assert_grads((q.grad, k.grad, v.grad), reference_grads(q, k, v, grad, causal, d ** -0.5), torch.float32)


def test_fp32_deterministic_goes_to_torch():
    """float32's dQ adds across key blocks with atomics, in an order that varies run to run: under
    torch.use_deterministic_algorithms the backward is torch's (the forward stays ours)."""
    torch.manual_seed(4)
    q, k, v = qkv(2, 3, 100, 77, 64, torch.float32)
    grad = torch.randn(2, 3, 100, 64, device=DEVICE)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        counts = train(q, k, v, grad, False)
    finally:
        torch.use_deterministic_algorithms(False)
    assert served_count(counts, FWD) == 1 and served_count(counts, BWD) == 0
    assert_grads((q.grad, k.grad, v.grad), reference_grads(q, k, v, grad, False, 64 ** -0.5), torch.float32)
