"""Helpers shared by test_softmax.py and test_norm.py: gradients through autograd under gemforge
against float64 gradients, no worse than torch's own kernels in the same dtype."""

from __future__ import annotations

import torch

import gemforge
from conftest import DEVICE, make, served_count

# An absolute slack per dtype, relative to the largest reference value.
_SLACK = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float32: 2e-6, torch.float64: 1e-12}


def _grads(fn, inputs, grad_out):
    leaves = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    out = fn(*leaves)
    out.backward(grad_out.to(out.dtype))
    return out, [t.grad for t in leaves if t.requires_grad]


def check_grads(fn, inputs, served):
    """fn(*inputs) -> one tensor; its gradients w.r.t. the floating inputs under gemforge against
    float64 on the cpu: the error is at most twice torch's own error (plus a small slack).
    `served`: overloads gemforge must have served (forward and backward)."""
    ref_inputs = [t.detach().to("cpu", torch.float64) if t.is_floating_point() else t.cpu() for t in inputs]
    ref_out = fn(*ref_inputs)
    grad_out = make(ref_out.shape, torch.float64, "cpu")
    ref_out, ref_grads = _grads(fn, ref_inputs, grad_out)
    _, torch_grads = _grads(fn, inputs, grad_out.to(DEVICE))
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        out, gems_grads = _grads(fn, inputs, grad_out.to(DEVICE))
    for name in served:
        assert served_count(counts, name) >= 1, f"gemforge did not serve {name}: {dict(counts)}"
    dtype = inputs[0].dtype
    for mine, theirs, ref in zip(gems_grads, torch_grads, ref_grads):
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
        scale = max(1.0, ref.abs().max().item()) if ref.numel() else 1.0
        err_gems = (mine.cpu().double() - ref).abs().max().item() if ref.numel() else 0.0
        err_torch = (theirs.cpu().double() - ref).abs().max().item() if ref.numel() else 0.0
        assert err_gems <= 2 * err_torch + _SLACK[dtype] * scale, (err_gems, err_torch)
    return out
