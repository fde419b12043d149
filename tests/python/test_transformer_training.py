"""End to end: a two-layer pre-norm transformer (layer_norm in one block, rms_norm in the other,
softmax attention, a GELU MLP, cross_entropy over a vocabulary) trained for two AdamW steps in
float32, once with torch's kernels and once under gemforge.use_gems(). Each step's loss and every
parameter's gradient must agree, and gemforge must have served the normalization, softmax,
reduction and loss ops forward and backward.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

import gemforge
from conftest import DEVICE, served_count

VOCAB, DIM, HEADS, SEQ, BATCH = 97, 32, 4, 12, 3


class Block(nn.Module):
    def __init__(self, norm: str):
        super().__init__()
        make_norm = {"layer": lambda: nn.LayerNorm(DIM), "rms": lambda: nn.RMSNorm(DIM)}[norm]
        self.norm1, self.norm2 = make_norm(), make_norm()
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)
        self.up = nn.Linear(DIM, 4 * DIM)
        self.down = nn.Linear(4 * DIM, DIM)

    def forward(self, x):
        b, s, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, s, 3, HEADS, DIM // HEADS).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))                   # (b, heads, s, d)
        scores = q @ k.transpose(-1, -2) / (DIM // HEADS) ** 0.5
        causal = torch.ones(s, s, dtype=torch.bool, device=x.device).triu(1)
        attn = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, s, DIM))
        return x + self.down(F.gelu(self.up(self.norm2(x))))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.blocks = nn.ModuleList([Block("layer"), Block("rms")])
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def forward(self, tokens):
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def train(model, batches):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses, grads = [], []
    for tokens in batches:
        opt.zero_grad()
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), tokens[:, 1:].reshape(-1))
        loss.backward()
        losses.append(loss.detach().clone())
        grads.append({name: p.grad.detach().clone() for name, p in model.named_parameters()})
        opt.step()
    return losses, grads


def test_transformer_two_adamw_steps():
    torch.manual_seed(0)
    model = TinyLM().to(DEVICE)
    gems_model = copy.deepcopy(model)
    batches = [torch.randint(0, VOCAB, (BATCH, SEQ + 1), device=DEVICE) for _ in range(2)]

    losses, grads = train(model, batches)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        gems_losses, gems_grads = train(gems_model, batches)

    for step in range(2):
        torch.testing.assert_close(gems_losses[step], losses[step], rtol=1e-5, atol=1e-5)
        for name, grad in grads[step].items():
            torch.testing.assert_close(gems_grads[step][name], grad, rtol=1e-4, atol=1e-5,
                                       msg=lambda m, n=name: f"step {step} grad of {n}: {m}")
    for overload in ("native_layer_norm", "native_layer_norm_backward", "_fused_rms_norm",
                     "_fused_rms_norm_backward", "_softmax", "_softmax_backward_data",
                     "_log_softmax", "_log_softmax_backward_data", "nll_loss_forward",
                     "nll_loss_backward", "gelu_backward", "sum.dim_IntList"):
        assert served_count(counts, overload) >= 1, f"gemforge did not serve {overload}"
