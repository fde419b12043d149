"""Scans and losses: cumsum (rows and columns, many rows and few long rows), cumprod, cummax,
logcumsumexp; nll_loss forward and backward, cross_entropy end to end, mse_loss forward and
backward; binary_cross_entropy (forward, backward), binary_cross_entropy_with_logits (forward,
forward + autograd backward), soft_margin_loss, renorm, trace; ctc_loss (forward, forward +
autograd backward). bytes = each input read once + each output written once (cross_entropy: its input
read and its log_softmax written, the least an unfused composite moves)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .harness import DTYPES, Case, Family
from .report import bandwidth_lines

FAMILY_NAME = "scan_loss"


def _size(t):
    return t.numel() * t.element_size()


def _sizes(device, quick):
    if device == "cuda" and not quick:
        return {"big": (4096, 4096), "rows": (1024, 8192), "long": (16, 262144), "vocab": (8192, 32000),
                "pair": (8192, 4096)}
    return {"big": (512, 512), "rows": (128, 1024), "long": (4, 32768), "vocab": (256, 4000),
            "pair": (512, 256)}


def cases(setup):
    dev = setup.device
    s = _sizes(dev, setup.quick)

    def label(shape):
        return "x".join(str(d) for d in shape)

    def scan_case(op, fn, dtype, shape, dim, out_bytes_per_elem=None, low=-1.0, high=1.0):
        if not setup.wants_dtype(dtype) or not setup.wants_op(op):
            return None
        dt = DTYPES[dtype]

        def make():
            return (torch.empty(shape, device=dev).uniform_(low, high).to(dt),)

        elem = torch.empty((), dtype=dt).element_size()
        n = shape[0] * shape[1]
        out_bytes = out_bytes_per_elem if out_bytes_per_elem is not None else elem
        return Case(family=FAMILY_NAME, op=op, name=f"dim{dim}", dtype=dtype, shape=label(shape),
                    make_inputs=make, run=lambda x: fn(x[0], dim), bytes=n * (elem + out_bytes))

    found = [
        scan_case("cumsum", torch.cumsum, "fp32", s["rows"], -1),
        scan_case("cumsum", torch.cumsum, "fp32", s["big"], -1),
        scan_case("cumsum", torch.cumsum, "fp32", s["big"], 0),
        scan_case("cumsum", torch.cumsum, "fp32", s["long"], -1),
        scan_case("cumsum", torch.cumsum, "bf16", s["big"], -1),
        scan_case("cumsum", torch.cumsum, "bf16", s["big"], 0),
        scan_case("cumprod", torch.cumprod, "fp32", s["big"], -1, low=0.999, high=1.001),
        scan_case("cummax", torch.cummax, "fp32", s["big"], -1, out_bytes_per_elem=4 + 8),
        scan_case("cummax", torch.cummax, "bf16", s["big"], -1, out_bytes_per_elem=2 + 8),
        scan_case("logcumsumexp", torch.logcumsumexp, "fp32", s["big"], -1),
        scan_case("logcumsumexp", torch.logcumsumexp, "bf16", s["big"], -1),
    ]
    yield from (c for c in found if c is not None)

    n, c = s["vocab"]
    if setup.wants_dtype("bf16"):
        def make_logp():
            x = torch.randn(n, c, device=dev, dtype=torch.bfloat16)
            return (torch.log_softmax(x.float(), -1).bfloat16(),
                    torch.randint(0, c, (n,), device=dev))

        if setup.wants_op("nll_loss"):
            yield Case(family=FAMILY_NAME, op="nll_loss", name="forward mean", dtype="bf16",
                       shape=f"{n}x{c}", make_inputs=make_logp,
                       run=lambda x: F.nll_loss(x[0], x[1]), bytes=n * (2 + 8))

            def make_backward():
                logp, target = make_logp()
                return logp, target, torch.tensor(1.0, device=dev, dtype=torch.bfloat16)

            yield Case(family=FAMILY_NAME, op="nll_loss_backward", name="mean", dtype="bf16",
                       shape=f"{n}x{c}", make_inputs=make_backward,
                       run=lambda x: torch.ops.aten.nll_loss_backward(x[2], x[0], x[1], None, 1, -100,
                                                                      torch.tensor(float(n), device=dev,
                                                                                   dtype=torch.bfloat16)),
                       bytes=n * c * 2 + n * 8)

        if setup.wants_op("cross_entropy"):
            def make_logits():
                return (torch.randn(n, c, device=dev, dtype=torch.bfloat16),
                        torch.randint(0, c, (n,), device=dev))

            yield Case(family=FAMILY_NAME, op="cross_entropy", name="forward mean", dtype="bf16",
                       shape=f"{n}x{c}", make_inputs=make_logits,
                       run=lambda x: F.cross_entropy(x[0], x[1]), bytes=2 * n * c * 2)

    if setup.wants_dtype("fp32") and setup.wants_op("mse_loss"):
        shape = s["big"]

        def make_pair():
            return (torch.randn(shape, device=dev), torch.randn(shape, device=dev))

        elems = shape[0] * shape[1]
        yield Case(family=FAMILY_NAME, op="mse_loss", name="mean", dtype="fp32", shape=label(shape),
                   make_inputs=make_pair, run=lambda x: F.mse_loss(x[0], x[1]), bytes=2 * elems * 4)

        def make_backward():
            a, b = make_pair()
            return a, b, torch.tensor(1.0, device=dev)

        yield Case(family=FAMILY_NAME, op="mse_loss_backward", name="mean", dtype="fp32",
                   shape=label(shape), make_inputs=make_backward,
                   run=lambda x: torch.ops.aten.mse_loss_backward(x[2], x[0], x[1], 1),
                   bytes=3 * elems * 4)

    yield from _logistic_cases(setup, s, label)
    yield from _ctc_cases(setup)


def _logistic_cases(setup, s, label):
    """binary_cross_entropy (+ with_logits), soft_margin_loss at s["pair"]; renorm and trace at
    s["big"]. A mean reads both operands; a backward also writes the gradient."""
    dev = setup.device
    aten = torch.ops.aten
    shape = s["pair"]
    elems = shape[0] * shape[1]
    for dtype in ("bf16", "fp32"):
        if not setup.wants_dtype(dtype):
            continue
        dt = DTYPES[dtype]
        size = torch.empty((), dtype=dt).element_size()

        def make_probs(dt=dt):
            return (torch.empty(shape, device=dev).uniform_(0.01, 0.99).to(dt),
                    torch.empty(shape, device=dev).uniform_(0.0, 1.0).to(dt),
                    torch.tensor(1.0, device=dev, dtype=dt))

        def make_logits(dt=dt):
            return (torch.randn(shape, device=dev).to(dt),
                    torch.empty(shape, device=dev).uniform_(0.0, 1.0).to(dt))

        if setup.wants_op("binary_cross_entropy"):
            yield Case(family=FAMILY_NAME, op="binary_cross_entropy", name="mean", dtype=dtype,
                       shape=label(shape), make_inputs=make_probs,
                       run=lambda x: F.binary_cross_entropy(x[0], x[1]), bytes=2 * elems * size)
            yield Case(family=FAMILY_NAME, op="binary_cross_entropy_backward", name="mean", dtype=dtype,
                       shape=label(shape), make_inputs=make_probs,
                       run=lambda x: aten.binary_cross_entropy_backward(x[2], x[0], x[1], None, 1),
                       bytes=3 * elems * size)
        if setup.wants_op("binary_cross_entropy_with_logits"):
            yield Case(family=FAMILY_NAME, op="binary_cross_entropy_with_logits", name="mean", dtype=dtype,
                       shape=label(shape), make_inputs=make_logits,
                       run=lambda x: F.binary_cross_entropy_with_logits(x[0], x[1]), bytes=2 * elems * size)

            def fwd_bwd(x):
                a = x[0].detach().requires_grad_()
                F.binary_cross_entropy_with_logits(a, x[1]).backward()
                return a.grad

            # the backward is torch's composite: at least one more read of both and a write
            yield Case(family=FAMILY_NAME, op="binary_cross_entropy_with_logits", name="mean fwd+bwd",
                       dtype=dtype, shape=label(shape), make_inputs=make_logits, run=fwd_bwd,
                       bytes=5 * elems * size)
        if setup.wants_op("soft_margin_loss"):
            yield Case(family=FAMILY_NAME, op="soft_margin_loss", name="mean", dtype=dtype,
                       shape=label(shape), make_inputs=make_logits,
                       run=lambda x: F.soft_margin_loss(x[0], x[1]), bytes=2 * elems * size)

    big = s["big"]
    n = big[0] * big[1]
    if setup.wants_dtype("fp32") and setup.wants_op("renorm"):
        # the norms read self once, the scaling reads it again and writes the result
        yield Case(family=FAMILY_NAME, op="renorm", name="p2 dim0", dtype="fp32", shape=label(big),
                   make_inputs=lambda: (torch.randn(big, device=dev),),
                   run=lambda x: torch.renorm(x[0], 2, 0, 1.0), bytes=3 * n * 4)
    if setup.wants_dtype("fp32") and setup.wants_op("trace"):
        yield Case(family=FAMILY_NAME, op="trace", name="", dtype="fp32", shape=label(big),
                   make_inputs=lambda: (torch.randn(big, device=dev),),
                   run=lambda x: torch.trace(x[0]), bytes=big[0] * 4)


def _ctc_cases(setup):
    """F.ctc_loss (mean) of T steps, B entries, C labels and targets of L labels (every length
    full), forward and forward + autograd backward. The targets are padded int64 on the device:
    torch's cudnn path (int32 targets on the host) stays out. bytes: log_probs read and the alpha
    table (B, T, 2L + 1) written; the backward reads both again and writes the gradient."""
    dev = setup.device
    if not setup.wants_dtype("fp32") or not setup.wants_op("ctc_loss"):
        return
    full = dev == "cuda" and not setup.quick
    T, B, L = (500, 32, 100) if full else (100, 8, 20)
    lengths = ([T] * B, [L] * B)

    def fwd_bwd(x):
        lp = x[0].detach().requires_grad_()
        F.ctc_loss(lp, x[1], *lengths).backward()
        return lp.grad

    for C in (64, 4096) if full else (64,):
        def make(C=C):
            return (torch.randn(T, B, C, device=dev).log_softmax(2), torch.randint(1, C, (B, L), device=dev))

        elems, alpha = T * B * C, B * T * (2 * L + 1)
        shape = f"T{T} B{B} C{C} L{L}"
        yield Case(family=FAMILY_NAME, op="ctc_loss", name="mean", dtype="fp32", shape=shape, make_inputs=make,
                   run=lambda x: F.ctc_loss(x[0], x[1], *lengths), bytes=4 * (elems + alpha))
        yield Case(family=FAMILY_NAME, op="ctc_loss", name="mean fwd+bwd", dtype="fp32", shape=shape,
                   make_inputs=make, run=fwd_bwd, bytes=4 * (3 * elems + 2 * alpha))


FAMILY = Family(FAMILY_NAME, cases, bandwidth_lines)
