"""The GEMM family's own kernels: addr (memory-bound: GB/s, bytes = self read + out written +
the two vectors) at 4096 x 4096 in bf16 and fp32, with a full self and a broadcast row; and bf16
_grouped_mm in the MoE layouts against torch's (CUTLASS on sm_90): 2-d x 3-d (tokens x K times
G experts' K x N, offsets over tokens; the experts' weights stored (G, N, K) as nn.Linear keeps
them, and (G, K, N)), 3-d x 3-d (tokens split evenly), 2-d x 2-d (the weight gradient: offsets
over K) and 3-d x 2-d, with 8 experts of Mixtral's sizes (4096 x 14336, 14336 x 4096) and 64
experts of a fine-grained split (4096 x 1792), 4096 to 16384 tokens routed at random (uneven
groups, seeded). flops = 2 x tokens x K x N. _scaled_grouped_mm: the 2-d x 3-d layout in row-wise
e4m3 (fp32 scales a token and an expert's output column, bf16 out) with use_fast_accum, the
case gemforge's kernel takes. _weight_int8pack_mm (bf16 activations, int8
weights (N, K), per-channel scales) at M 1, 16 and 128 for (N, K) 4096 x 4096, 11008 x 4096 and
4096 x 11008: bytes = the weight, x and the result (memory-bound at decode sizes)."""

from __future__ import annotations

import torch

from . import shapes
from .harness import DTYPES, Case, Family
from .report import errors_line, slowest_line

FAMILY_NAME = "gemm_ext"

ADDR = {"cuda": 4096, "cpu": 512}
# (experts, K, N) and token counts
MOE = {"cuda": [(8, 4096, 14336), (8, 14336, 4096), (64, 4096, 1792)], "cpu": []}
TOKENS = {"cuda": [4096, 16384], "cpu": []}


def _addr_cases(setup):
    dev = setup.device
    n = ADDR[dev]
    for dtype_name in ("bf16", "fp32"):
        if not setup.wants_dtype(dtype_name):
            continue
        dtype = DTYPES[dtype_name]
        es = torch.tensor([], dtype=dtype).element_size()
        for name, self_shape in (("full self", (n, n)), ("row self", (n,))):
            def make(self_shape=self_shape, dtype=dtype):
                return (torch.randn(self_shape, device=dev).to(dtype), torch.randn(n, device=dev).to(dtype),
                        torch.randn(n, device=dev).to(dtype))
            read = (n * n if len(self_shape) == 2 else n) + 2 * n
            yield Case(family=FAMILY_NAME, op="addr", name=name, dtype=dtype_name, shape=shapes.fmt((n, n)),
                       make_inputs=make, run=lambda v: torch.addr(v[0], v[1], v[2], beta=0.5, alpha=2),
                       bytes=(read + n * n) * es)


def _routing(dev, tokens, experts, seed, align=1):
    """int32 cumulative group ends of `tokens` routed at random (uneven, some experts idle),
    rounded down to multiples of `align` (torch's kernel asserts on the device unless the groups
    along a contiguous output dim are 16-byte multiples)."""
    gen = torch.Generator().manual_seed(seed)
    weights = torch.rand(experts, generator=gen) ** 2
    counts = torch.bincount(torch.multinomial(weights, tokens, replacement=True, generator=gen),
                            minlength=experts)
    ends = torch.cumsum(counts, 0) // align * align
    ends[-1] = tokens
    return ends.to(torch.int32).to(dev)


def _bf16(dev, *shape):
    return torch.randn(shape, device=dev, dtype=torch.bfloat16)


def _grouped_case(name, shape, make, flops, nbytes):
    return Case(family=FAMILY_NAME, op="_grouped_mm", name=name, dtype="bf16", shape=shapes.fmt(shape),
                make_inputs=make, run=lambda v: torch._grouped_mm(*v), flops=flops, bytes=nbytes)


def _grouped_cases(setup):
    dev = setup.device
    if dev != "cuda" or not setup.wants_dtype("bf16") or torch.cuda.get_device_capability()[0] < 9:
        return
    for g, k, n in MOE[dev]:
        for t in TOKENS[dev]:
            flops = 2 * t * k * n
            nbytes = 2 * (t * k + g * k * n + t * n)
            # 2-d x 3-d: weights as nn.Linear stores them ((G, N, K), read K-major) and row-major
            yield _grouped_case("2dx3d w(G,N,K)", (g, t, k, n),
                                lambda g=g, t=t, k=k, n=n: (_bf16(dev, t, k), _bf16(dev, g, n, k).transpose(-2, -1),
                                                            _routing(dev, t, g, t + g)), flops, nbytes)
            if t == TOKENS[dev][0]:
                yield _grouped_case("2dx3d w(G,K,N)", (g, t, k, n),
                                    lambda g=g, t=t, k=k, n=n: (_bf16(dev, t, k), _bf16(dev, g, k, n),
                                                                _routing(dev, t, g, t + g)), flops, nbytes)
            # the weight gradient: grad_out^T (N, tokens) x x (tokens, K), offsets over tokens
            yield _grouped_case("2dx2d wgrad", (g, t, n, k),
                                lambda g=g, t=t, k=k, n=n: (_bf16(dev, t, n).t(), _bf16(dev, t, k),
                                                            _routing(dev, t, g, t + g)),
                                flops, 2 * (t * n + t * k + g * n * k))
        t = TOKENS[dev][-1]
        if g == 8:
            yield _grouped_case("3dx3d even", (g, t // g, k, n),
                                lambda g=g, t=t, k=k, n=n: (_bf16(dev, g, t // g, k), _bf16(dev, g, n, k).transpose(-2, -1),
                                                            None), 2 * t * k * n, 2 * (t * k + g * k * n + t * n))
            m = t // g
            yield _grouped_case("3dx2d", (g, m, k, n),
                                lambda g=g, m=m, k=k, n=n: (_bf16(dev, g, m, k), _bf16(dev, n * g, k).t(),
                                                            _routing(dev, n * g, g, n, align=16)),
                                2 * m * k * n * g, 2 * (g * m * k + k * n * g + m * n * g))


def _scaled_grouped_cases(setup):
    dev = setup.device
    if dev != "cuda" or torch.cuda.get_device_capability()[0] != 9:
        return
    e4m3 = torch.float8_e4m3fn
    for g, k, n in MOE[dev]:
        for t in TOKENS[dev]:
            def make(g=g, t=t, k=k, n=n):
                a = (torch.randn(t, k, device=dev) / 4).to(e4m3)
                b = (torch.randn(g, n, k, device=dev) / 4).to(e4m3).transpose(-2, -1)  # column-major, as torch wants
                return (a, b, torch.rand(t, device=dev) + 0.5, torch.rand(g, n, device=dev) + 0.5,
                        _routing(dev, t, g, t + g, align=16))
            yield Case(family=FAMILY_NAME, op="_scaled_grouped_mm", name="2dx3d row-wise fast_accum", dtype="fp8",
                       shape=shapes.fmt((g, t, k, n)), make_inputs=make,
                       run=lambda v: torch._scaled_grouped_mm(*v, out_dtype=torch.bfloat16, use_fast_accum=True),
                       flops=2 * t * k * n, bytes=t * k + g * k * n + 2 * t * n)


INT8 = {"cuda": [(4096, 4096), (11008, 4096), (4096, 11008)], "cpu": [(256, 256)]}


def _int8_cases(setup):
    dev = setup.device
    if dev != "cuda" or not setup.wants_dtype("bf16"):
        return  # gemforge serves it on cuda only
    for n, k in INT8[dev]:
        for m in (1, 16, 128):
            def make(m=m, n=n, k=k):
                return (torch.randn(m, k, device=dev, dtype=torch.bfloat16),
                        torch.randint(-128, 128, (n, k), dtype=torch.int8, device=dev),
                        torch.rand(n, device=dev, dtype=torch.bfloat16) / 128)
            yield Case(family=FAMILY_NAME, op="_weight_int8pack_mm", name="decode" if m <= 16 else "prefill (8-row passes)",
                       dtype="bf16", shape=shapes.fmt((m, n, k)), make_inputs=make,
                       run=lambda v: torch._weight_int8pack_mm(*v), flops=2 * m * n * k,
                       bytes=n * k + 2 * (m * k + m * n + n))


def _cuda_dtypes(setup):
    """(name, dtype) of bf16 and fp32 where wanted, on cuda only (where gemforge serves the op)."""
    if setup.device != "cuda":
        return
    for dtype in ("bf16", "fp32"):
        if setup.wants_dtype(dtype):
            yield dtype, DTYPES[dtype]


def _combination_cases(setup):
    """_compute_linear_combination as torch.linalg.matrix_exp calls it (up to 18 powers of a batch
    of matrices), and a wide one: out (m, R) = coefficients (m, n) @ input (n, R)."""
    dev = setup.device
    for dtype, dt in _cuda_dtypes(setup):
        for m, n, rest in ((6, 18, (64, 128, 128)), (16, 16, (4096, 1024))):
            def make(m=m, n=n, rest=rest, dt=dt):
                return (torch.randn(n, *rest, device=dev, dtype=dt), torch.randn(m, n, device=dev, dtype=dt))
            r = 1
            for d in rest:
                r *= d
            elem = torch.empty((), dtype=dt).element_size()
            yield Case(family=FAMILY_NAME, op="_compute_linear_combination", name=f"{m} of {n}", dtype=dtype,
                       shape=shapes.fmt((n,) + rest), make_inputs=make,
                       run=lambda v: torch._compute_linear_combination(*v), flops=2 * m * n * r,
                       bytes=(n + m) * r * elem)


def _bilinear_cases(setup):
    """F.bilinear (aten _trilinear): out[b, o] = x1[b] W[o] x2[b], batch 4096, 64 to 256 features."""
    dev = setup.device
    for dtype, dt in _cuda_dtypes(setup):
        for b, o, i, j in ((4096, 64, 64, 64), (4096, 256, 256, 128)):
            def make(b=b, o=o, i=i, j=j, dt=dt):
                return (torch.randn(b, i, device=dev, dtype=dt), torch.randn(b, j, device=dev, dtype=dt),
                        torch.randn(o, i, j, device=dev, dtype=dt) / (i * j) ** 0.5)
            elem = torch.empty((), dtype=dt).element_size()
            yield Case(family=FAMILY_NAME, op="_trilinear", name="bilinear", dtype=dtype,
                       shape=shapes.fmt((b, o, i, j)), make_inputs=make,
                       run=lambda v: torch.nn.functional.bilinear(*v), flops=2 * b * o * i * (j + 1),
                       bytes=(b * (i + j + o) + o * i * j) * elem)


def cases(setup):
    if setup.wants_op("_trilinear"):
        yield from _bilinear_cases(setup)
    if setup.wants_op("_compute_linear_combination"):
        yield from _combination_cases(setup)
    if setup.wants_op("addr"):
        yield from _addr_cases(setup)
    if setup.wants_op("_grouped_mm"):
        yield from _grouped_cases(setup)
    if setup.wants_op("_scaled_grouped_mm"):
        yield from _scaled_grouped_cases(setup)
    if setup.wants_op("_weight_int8pack_mm"):
        yield from _int8_cases(setup)


def summarize(results, setup):
    lines = []
    for r in results:
        c = r.case
        if c.op in ("_grouped_mm", "_scaled_grouped_mm") and r.tflops and r.speedup:
            # a layout gemforge's kernel does not take runs torch's (ops/gemm_ext.cpp)
            who = "" if r.served else " (not served: torch's kernel both times)"
            lines.append((f"{c.op} {c.name} {c.shape}",
                          f"{r.tflops:.0f} TFLOP/s (torch {r.torch_tflops or 0:.0f}), {r.speedup:.2f}x torch{who}"))
    return lines + slowest_line(results, "slowest gemm_ext case") + errors_line(results)


FAMILY = Family(FAMILY_NAME, cases, summarize)
