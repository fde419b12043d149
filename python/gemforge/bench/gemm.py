"""Dense GEMM (cuBLASLt behind mm, addmm, bmm): bf16 squares, the projection shapes of
Llama-2-7B and Llama-3-8B at decode-to-prefill token counts, attention-like bmm, addmm with a
bias, fp32 with TF32, and the host cost of one call at 384^3. fp8 _scaled_mm (e4m3, bf16
result) with tensor-wise and row-wise scales on squares and the Llama projections; addmm with
an fp32 result from bf16 inputs (addmm.dtype); dot over 16M elements (memory-bound: GB/s). Throughput is TFLOP/s with
flops = 2 m n k per batch; bytes (each operand read once, the result written once) are kept
so that skinny, memory-bound shapes read as GB/s too."""

from __future__ import annotations

import math

import torch

from . import shapes
from .harness import DTYPES, HOST_CLOCK, Case, Family, tflops_line
from .report import errors_line, slowest_line

SQUARES = {"cuda": [256, 384, 1024, 2048, 4096, 8192], "cpu": [64, 128]}
# (k, n) of the projections: attention q/o (4096, 4096), Llama-2 MLP up/down (4096, 11008) and
# (11008, 4096), Llama-3 MLP (4096, 14336) and (14336, 4096), Llama-3 k/v with GQA (4096, 1024)
PROJECTIONS = {"cuda": [(4096, 4096), (4096, 11008), (11008, 4096), (4096, 14336), (14336, 4096),
                        (4096, 1024)],
               "cpu": [(256, 256)]}
TOKENS = {"cuda": [1, 16, 128, 1024, 4096], "cpu": [1, 16]}
# (batch * heads, m, k, n): scores q k^T (head dim 128) and the weighted sum p v
ATTENTION = {"cuda": [(32, 1024, 128, 1024), (32, 1024, 1024, 128), (64, 2048, 128, 2048)],
             "cpu": [(2, 64, 32, 64)]}
HOST_SIZE = 384


def _case(op, name, dtype_name, shape, make_inputs, run, batch, m, k, n, clock=None):
    es = torch.tensor([], dtype=DTYPES[dtype_name]).element_size()
    if clock == HOST_CLOCK:  # host time per call: no throughput
        return Case(family="gemm", op=op, name=name, dtype=dtype_name, shape=shapes.fmt(shape),
                    make_inputs=make_inputs, run=run, clock=clock)
    return Case(family="gemm", op=op, name=name, dtype=dtype_name, shape=shapes.fmt(shape),
                make_inputs=make_inputs, run=run, flops=2 * batch * m * n * k,
                bytes=batch * (m * k + k * n + m * n) * es)


def _inputs(dev, dtype, *sizes):
    """make_inputs for a case: fresh normal tensors of these sizes."""
    return lambda: tuple(torch.randn(*size, dtype=dtype, device=dev) for size in sizes)


def _tf32(run):
    """run with TF32 allowed for cuBLAS, torch's switch restored afterwards."""
    def wrapped(v):
        before = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            return run(v)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = before
    return wrapped


def _fp8_inputs(dev, m, k, n, rowwise):
    """make_inputs of a _scaled_mm case: e4m3 a (m, k) row-major and b (k, n) column-major, and
    fp32 scales (single values, or (m, 1) and (1, n))."""
    def make():
        a = torch.randn(m, k, device=dev).clamp_(-4, 4).to(torch.float8_e4m3fn)
        b = torch.randn(n, k, device=dev).clamp_(-4, 4).to(torch.float8_e4m3fn).t()
        if rowwise:
            return a, b, torch.rand(m, 1, device=dev) + 0.5, torch.rand(1, n, device=dev) + 0.5
        return a, b, torch.tensor(0.5, device=dev), torch.tensor(2.0, device=dev)
    return make


def _scaled_mm(v):
    return torch._scaled_mm(v[0], v[1], v[2], v[3], out_dtype=torch.bfloat16)


def _fp8_case(name, dev, m, k, n, rowwise):
    return Case(family="gemm", op="_scaled_mm", name=name, dtype="e4m3>bf16", shape=shapes.fmt((m, k, n)),
                make_inputs=_fp8_inputs(dev, m, k, n, rowwise), run=_scaled_mm, flops=2 * m * n * k,
                bytes=m * k + k * n + 2 * m * n)


def _fp8_cases(setup):
    dev = setup.device
    if dev != "cuda" or torch.cuda.get_device_capability()[0] < 9:
        return  # torch's fp8 GEMM needs sm_89+; gemforge serves sm_90
    for rowwise in (False, True):
        scaling = "row-wise" if rowwise else "tensor-wise"
        for s in (4096, 8192):
            yield _fp8_case(f"square {scaling}", dev, s, s, s, rowwise)
        for k, n in PROJECTIONS[dev]:
            for m in (16, 128, 1024, 4096, 8192):
                yield _fp8_case(f"linear {scaling}", dev, m, k, n, rowwise)


def cases(setup):
    dev = setup.device
    if setup.wants_op("_scaled_mm") and setup.wants_dtype("bf16"):
        yield from _fp8_cases(setup)
    if setup.wants_op("addmm.dtype") and setup.wants_dtype("bf16") and dev == "cuda":  # torch: cuda only
        for m in TOKENS[dev][::2]:
            k = n = PROJECTIONS[dev][0][0]
            yield Case(family="gemm", op="addmm.dtype", name="bf16 in, fp32 out", dtype="bf16>fp32",
                       shape=shapes.fmt((m, k, n)),
                       make_inputs=_inputs(dev, torch.bfloat16, (n,), (m, k), (n, k)),
                       run=lambda v: torch.addmm(v[0], v[1], v[2].t(), out_dtype=torch.float32),
                       flops=2 * m * n * k, bytes=(m * k + k * n) * 2 + m * n * 4)
    if setup.wants_op("dot"):
        n = (1 << 24) if dev == "cuda" else (1 << 16)
        for dtype_name in ("bf16", "fp32"):
            if setup.wants_dtype(dtype_name):
                dtype = DTYPES[dtype_name]
                es = torch.tensor([], dtype=dtype).element_size()
                for size in (n, 4096):  # memory-bound, and host cost of a small call
                    yield Case(family="gemm", op="dot", name="vector", dtype=dtype_name, shape=shapes.fmt((size,)),
                               make_inputs=_inputs(dev, dtype, (size,), (size,)),
                               run=lambda v: torch.dot(v[0], v[1]), bytes=2 * size * es)
    mm = lambda v: torch.mm(v[0], v[1])  # noqa: E731
    linear = lambda v: torch.mm(v[0], v[1].t())  # noqa: E731  (nn.Linear's weight is (n, k))
    for dtype_name in ("bf16", "fp16"):
        if not setup.wants_dtype(dtype_name):
            continue
        dtype = DTYPES[dtype_name]
        if setup.wants_op("mm"):
            for s in SQUARES[dev] if dtype_name == "bf16" else SQUARES[dev][-2:-1]:
                yield _case("mm", "square", dtype_name, (s, s, s),
                            _inputs(dev, dtype, (s, s), (s, s)), mm, 1, s, s, s)
            if dtype_name == "bf16":
                for k, n in PROJECTIONS[dev]:
                    for m in TOKENS[dev]:
                        yield _case("mm", "linear", dtype_name, (m, k, n),
                                    _inputs(dev, dtype, (m, k), (n, k)), linear, 1, m, k, n)
        if setup.wants_op("bmm") and dtype_name == "bf16":
            for b, m, k, n in ATTENTION[dev]:
                yield _case("bmm", "attention", dtype_name, (b, m, k, n),
                            _inputs(dev, dtype, (b, m, k), (b, k, n)),
                            lambda v: torch.bmm(v[0], v[1]), b, m, k, n)
        if setup.wants_op("addmm") and dtype_name == "bf16":
            for m in TOKENS[dev][::2]:
                k = n = PROJECTIONS[dev][0][0]
                yield _case("addmm", "linear+bias", dtype_name, (m, k, n),
                            _inputs(dev, dtype, (n,), (m, k), (n, k)),
                            lambda v: torch.addmm(v[0], v[1], v[2].t()), 1, m, k, n)
        if setup.wants_op("mv") and dtype_name == "bf16":
            for k, n in PROJECTIONS[dev][:3]:  # a decode step's matrix-vector products
                yield _case("mv", "decode", dtype_name, (n, k, 1),
                            _inputs(dev, dtype, (n, k), (k,)), lambda v: torch.mv(v[0], v[1]), 1, n, k, 1)
        if setup.wants_op("mm") and dtype_name == "bf16":
            s = HOST_SIZE
            yield _case("mm", "host per call", dtype_name, (s, s, s),
                        _inputs(dev, dtype, (s, s), (s, s)), mm, 1, s, s, s, clock=HOST_CLOCK)
    if setup.wants_op("mm") and setup.wants_dtype("fp32"):
        s = SQUARES[dev][-2]
        yield _case("mm", "square tf32", "fp32", (s, s, s),
                    _inputs(dev, torch.float32, (s, s), (s, s)),
                    _tf32(mm), 1, s, s, s)


def summarize(results, setup):
    device = [r for r in results if r.case.clock != HOST_CLOCK and r.speedup and r.served]
    lines = []
    if device:
        geomean = math.exp(sum(math.log(r.speedup) for r in device) / len(device))
        lines.append(("gemm geometric mean speedup", f"{geomean:.2f}x torch over {len(device)} cases"))
    for r in results:
        c = r.case
        big = c.shape in ("4096x4096x4096", "8192x8192x8192")
        if c.op == "mm" and c.name == "square" and c.dtype == "bf16" and big and r.tflops:
            lines.append((f"bf16 mm {c.shape}",
                          tflops_line(r)))
        if c.op == "_scaled_mm" and c.name.startswith("square") and r.tflops:
            lines.append((f"fp8 _scaled_mm {c.name.split()[1]} {c.shape}",
                          tflops_line(r)))
        if c.clock == HOST_CLOCK and r.torch_ms:
            value = f"torch {r.torch_ms * 1e3:.1f} us"
            if r.gemforge_ms is not None:
                value += f", gemforge {r.gemforge_ms * 1e3:.1f} us ({r.speedup:.2f}x)"
            lines.append((f"bf16 mm {c.shape} host time per call", value))
    return lines + slowest_line(results, "slowest gemm case") + errors_line(results)


FAMILY = Family("gemm", cases, summarize)
