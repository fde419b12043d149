"""End to end: a small MLP with GELU, SiLU, Tanh and Sigmoid trained for two SGD steps in float32,
once with torch's kernels and once under gemforge.use_gems(). Each step's loss and every
parameter's gradient must agree, and gemforge must have served the activations' backward ops.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

import gemforge
from conftest import DEVICE, served_count


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 32)
        self.fc2 = nn.Linear(32, 32)
        self.gate = nn.Linear(32, 32)
        self.fc3 = nn.Linear(32, 3)

    def forward(self, x):
        h = F.gelu(self.fc1(x))
        h = F.silu(self.fc2(h))
        h = h + torch.tanh(self.gate(h)) * torch.sigmoid(h)  # a gated branch
        return self.fc3(h)


def train(model, batches, targets):
    """Two SGD steps; returns each step's loss and each step's gradients."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses, grads = [], []
    for x, y in zip(batches, targets):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        losses.append(loss.detach().clone())
        grads.append({name: p.grad.detach().clone() for name, p in model.named_parameters()})
        opt.step()
    return losses, grads


def test_mlp_two_sgd_steps():
    torch.manual_seed(0)
    model = MLP().to(DEVICE)
    gems_model = copy.deepcopy(model)
    batches = [torch.randn(16, 12, device=DEVICE) for _ in range(2)]
    targets = [torch.randn(16, 3, device=DEVICE) for _ in range(2)]

    losses, grads = train(model, batches, targets)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        gems_losses, gems_grads = train(gems_model, batches, targets)

    for step in range(2):
        torch.testing.assert_close(gems_losses[step], losses[step], rtol=1e-5, atol=1e-6)
        for name, grad in grads[step].items():
            torch.testing.assert_close(gems_grads[step][name], grad, rtol=1e-4, atol=1e-6,
                                       msg=lambda m: f"step {step}, grad of {name}: {m}")
    for p, q in zip(model.parameters(), gems_model.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6)

    for overload in ("gelu", "silu", "tanh", "sigmoid", "gelu_backward", "silu_backward",
                     "tanh_backward", "sigmoid_backward"):
        assert served_count(counts, overload) >= 2, f"{overload} not served: {dict(counts)}"
