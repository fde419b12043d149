"""fp8 _scaled_mm on cuda (cuBLASLt): e4m3/e5m2 operands, tensor-wise and row-wise scales,
optional bf16/fp16 bias, bf16/fp16/fp32 results and an fp8 result with scale_result,
use_fast_accum, out=, and error parity with torch (gemforge hands every call it does not
serve, the invalid ones included, to torch's kernel).

gemforge serves _scaled_mm on cuda only and only on sm_90 (where torch runs it through cuBLASLt
too): on the cpu, or on a GPU without fp8 GEMMs, these tests skip.

Reference: the dequantized product in float64, scale_a[i] * scale_b[j] * sum_l a[i, l] b[l, j]
(+ bias[j]), from the same fp8 inputs. The fp8 products are exact; Hopper's fp8 tensor cores
add them with about 14 mantissa bits and cuBLASLt promotes the partial sums to fp32 every few
k-blocks (use_fast_accum: never), so the sum's error grows like sqrt(K) 2^-9 |a||b| (K-blocked
promotion) or sqrt(K) 2^-6 |a||b| (fast accumulation); the result's rounding adds eps of its
dtype. Tolerance: rtol = 2 eps(out), atol = that bound times max|scale_a| max|scale_b| plus
2 eps(out) sqrt(K). A wrong scale, operand or transpose is off by far more."""

from __future__ import annotations

import math

import pytest
import torch

import gemforge
from conftest import BACKEND, DEVICE, assert_same_error, quiet, raised, row_backends, served_count

E4M3, E5M2 = torch.float8_e4m3fn, torch.float8_e5m2
EPS = {torch.bfloat16: 2.0 ** -8, torch.float16: 2.0 ** -11, torch.float32: 2.0 ** -23, E4M3: 2.0 ** -3,
       E5M2: 2.0 ** -2}


def _fp8_device():
    return DEVICE == "cuda" and torch.cuda.get_device_capability()[0] == 9


pytestmark = pytest.mark.skipif(
    BACKEND not in row_backends("_scaled_mm") or not _fp8_device(),
    reason="gemforge serves fp8 _scaled_mm on cuda sm_90 only (torch's cpu kernel stays)")


def fp8(shape, dtype, scale=2.0):
    return (torch.rand(shape, device=DEVICE, dtype=torch.float32) * 2 - 1).mul_(scale).to(dtype)


def operands(m, k, n, ta=E4M3, tb=E4M3):
    a = fp8((m, k), ta)
    b = fp8((n, k), tb).t()  # column-major, as torch requires
    return a, b


def reference(a, b, scale_a, scale_b, bias=None):
    ref = (a.double() * scale_a.double().reshape(-1, 1) if scale_a.numel() > 1 else a.double() * scale_a.double().item())
    ref = ref @ b.double()
    ref = ref * (scale_b.double().reshape(1, -1) if scale_b.numel() > 1 else scale_b.double().item())
    if bias is not None:
        ref = ref + bias.double()
    return ref


def assert_close_ref(actual, ref, k, fast, scale_mag, out_dtype):
    eps = EPS[out_dtype]
    got = actual.double()
    acc = math.sqrt(max(k, 1)) * (2.0 ** -6 if fast else 2.0 ** -9) * scale_mag * 4.0  # |a|, |b| <= 2
    atol = acc + 2 * eps * math.sqrt(max(k, 1)) * scale_mag
    torch.testing.assert_close(got.cpu(), ref.cpu(), rtol=2 * eps, atol=atol)


def run_both(fn, *args, **kwargs):
    """fn under torch and under gemforge: (torch's result, gemforge's result, fallbacks taken).
    Where torch raises, gemforge must raise the same error, and the test ends there."""
    with quiet():
        torch_error = raised(fn, *args, **kwargs)
    if torch_error is not None:
        with gemforge.use_gems(backends=[BACKEND]), quiet():
            assert_same_error(torch_error, raised(fn, *args, **kwargs))
        pytest.skip(f"torch raises here: {torch_error}")
    with quiet():
        expected = fn(*args, **kwargs)
    before = gemforge.fallbacks().get("_scaled_mm", 0) + gemforge.fallbacks().get("_scaled_mm.out", 0)
    with gemforge.use_gems(backends=[BACKEND]), gemforge.collect_stats() as counts, quiet():
        actual = fn(*args, **kwargs)
    after = gemforge.fallbacks().get("_scaled_mm", 0) + gemforge.fallbacks().get("_scaled_mm.out", 0)
    # gemforge's entry point ran: it served the call or handed it to torch (stats count only
    # the calls it served)
    assert served_count(counts, "_scaled_mm") + served_count(counts, "_scaled_mm.out") + after - before >= 1, \
        dict(counts)
    return expected, actual, after - before


SHAPES = [(16, 16, 16), (1, 32, 16), (33, 64, 48), (128, 256, 512), (200, 4096, 96)]


@pytest.mark.parametrize("mkn", SHAPES, ids=str)
@pytest.mark.parametrize("types", [(E4M3, E4M3), (E4M3, E5M2), (E5M2, E4M3)], ids=str)
@pytest.mark.parametrize("out_dtype", [torch.bfloat16, torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("fast", [False, True])
def test_tensorwise(mkn, types, out_dtype, fast):
    m, k, n = mkn
    a, b = operands(m, k, n, *types)
    sa = torch.tensor(0.75, device=DEVICE)
    sb = torch.tensor([1.5], device=DEVICE)
    expected, actual, fallbacks = run_both(torch._scaled_mm, a, b, sa, sb, out_dtype=out_dtype, use_fast_accum=fast)
    assert fallbacks == 0, "gemforge handed a served call to torch"
    assert actual.dtype == expected.dtype and actual.shape == expected.shape and actual.is_contiguous()
    ref = reference(a, b, sa, sb)
    assert_close_ref(actual, ref, k, fast, 0.75 * 1.5, out_dtype)
    assert_close_ref(expected, ref, k, fast, 0.75 * 1.5, out_dtype)


@pytest.mark.parametrize("mkn", SHAPES, ids=str)
@pytest.mark.parametrize("out_dtype", [torch.bfloat16, torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("fast", [False, True])
def test_rowwise(mkn, out_dtype, fast):
    m, k, n = mkn
    a, b = operands(m, k, n)
    sa = torch.rand(m, 1, device=DEVICE) + 0.5
    sb = torch.rand(1, n, device=DEVICE) + 0.5
    expected, actual, fallbacks = run_both(torch._scaled_mm, a, b, sa, sb, out_dtype=out_dtype, use_fast_accum=fast)
    assert fallbacks == 0, "gemforge handed a served call to torch"
    ref = reference(a, b, sa, sb)
    assert_close_ref(actual, ref, k, fast, 1.5 * 1.5, out_dtype)
    assert_close_ref(expected, ref, k, fast, 1.5 * 1.5, out_dtype)


@pytest.mark.parametrize("rowwise", [False, True])
@pytest.mark.parametrize("out_dtype", [torch.bfloat16, torch.float16], ids=str)
def test_bias(rowwise, out_dtype):
    m, k, n = 64, 128, 80
    a, b = operands(m, k, n)
    sa = torch.rand(m, 1, device=DEVICE) + 0.5 if rowwise else torch.tensor(0.5, device=DEVICE)
    sb = torch.rand(1, n, device=DEVICE) + 0.5 if rowwise else torch.tensor(2.0, device=DEVICE)
    bias = torch.randn(n, device=DEVICE).to(out_dtype)
    expected, actual, fallbacks = run_both(torch._scaled_mm, a, b, sa, sb, bias=bias, out_dtype=out_dtype)
    assert fallbacks == 0
    ref = reference(a, b, sa, sb, bias)
    assert_close_ref(actual, ref, k, False, 2.25, out_dtype)


@pytest.mark.parametrize("out_dtype", [E4M3, E5M2], ids=str)
@pytest.mark.parametrize("with_scale", [False, True])
def test_fp8_result(out_dtype, with_scale):
    m, k, n = 48, 64, 32
    a, b = operands(m, k, n)
    sa, sb = torch.tensor(0.5, device=DEVICE), torch.tensor(0.25, device=DEVICE)
    scale_result = torch.tensor(0.125, device=DEVICE) if with_scale else None
    bias = torch.randn(n, device=DEVICE).to(torch.bfloat16)
    expected, actual, fallbacks = run_both(torch._scaled_mm, a, b, sa, sb, bias=bias, scale_result=scale_result,
                                           out_dtype=out_dtype)
    assert fallbacks == 1  # fp8 results stay torch's (see scaled_served in ops/gemm.cpp)
    assert actual.dtype == out_dtype
    torch.testing.assert_close(actual.float(), expected.float(), rtol=EPS[out_dtype], atol=0.05)
    if not with_scale:
        assert_close_ref(actual, reference(a, b, sa, sb, bias), k, False, 0.125, out_dtype)


def test_default_out_dtype_is_fp8():
    a, b = operands(32, 32, 32)
    one = torch.tensor(1.0, device=DEVICE)
    expected, actual, _ = run_both(torch._scaled_mm, a, b, one, one)
    assert actual.dtype == expected.dtype == E4M3
    torch.testing.assert_close(actual.float(), expected.float(), rtol=EPS[E4M3], atol=0.05)


@pytest.mark.parametrize("rowwise", [False, True])
def test_out(rowwise):
    m, k, n = 40, 64, 48
    a, b = operands(m, k, n)
    sa = torch.rand(m, 1, device=DEVICE) + 0.5 if rowwise else torch.tensor(0.5, device=DEVICE)
    sb = torch.rand(1, n, device=DEVICE) + 0.5 if rowwise else torch.tensor(2.0, device=DEVICE)
    for shape in [(0,), (m, n), (5, 5)]:  # (5, 5): resized (torch warns), handed to torch
        outs = [torch.empty(shape, device=DEVICE, dtype=torch.bfloat16) for _ in range(3)]
        expected, actual, _ = run_both(
            lambda: torch._scaled_mm(a, b, sa, sb, out_dtype=torch.bfloat16, out=outs.pop()))
        assert_close_ref(actual, reference(a, b, sa, sb), k, False, 2.25, torch.bfloat16)
        assert expected.shape == actual.shape and expected.stride() == actual.stride()


def test_strided_operands():
    # mat1 with a row stride past K, mat2 with a column stride past K: both read in place
    m, k, n = 32, 64, 48
    big_a = fp8((m, k + 32), E4M3)
    big_b = fp8((n, k + 16), E4M3)
    a, b = big_a[:, :k], big_b[:, :k].t()
    s = torch.tensor(1.0, device=DEVICE)
    expected, actual, fallbacks = run_both(torch._scaled_mm, a, b, s, s, out_dtype=torch.bfloat16)
    assert_close_ref(actual, reference(a, b, s, s), k, False, 1.0, torch.bfloat16)


@pytest.mark.parametrize("mkn", [(0, 16, 16), (16, 0, 16), (16, 16, 0)], ids=str)
def test_empty(mkn):
    m, k, n = mkn
    a, b = operands(m, k, n)
    s = torch.tensor(1.0, device=DEVICE)
    expected, actual, _ = run_both(torch._scaled_mm, a, b, s, s, out_dtype=torch.float32)
    assert actual.shape == expected.shape
    assert torch.equal(actual, expected)


def _errors():
    f32 = torch.float32
    a, b = operands(32, 64, 48)
    s = torch.tensor(1.0, device=DEVICE)
    sa_row = torch.ones(32, 1, device=DEVICE)
    sb_row = torch.ones(1, 48, device=DEVICE)
    yield "not fp8", (a.float(), b, s, s), {}
    yield "both e5m2", (a.to(E5M2), b.to(E5M2), s, s), {"out_dtype": torch.bfloat16}
    yield "K % 16", operands(32, 24, 48) + (s, s), {}
    yield "N % 16", operands(32, 64, 40) + (s, s), {}
    yield "shapes", (a, operands(32, 32, 48)[1], s, s), {}
    yield "1-d", (a[0], b, s, s), {}
    yield "mat2 row-major", (a, b.contiguous(), s, s), {"out_dtype": torch.bfloat16}
    yield "mat1 column-major", (a.t().contiguous().t(), b, s, s), {"out_dtype": torch.bfloat16}
    yield "scale dtype", (a, b, s.double(), s), {}
    yield "scale shapes", (a, b, torch.ones(2, device=DEVICE), s), {}
    yield "row-wise b shape", (a, b, sa_row, torch.ones(48, 1, device=DEVICE)), {"out_dtype": torch.bfloat16}
    yield "row-wise fp8 out", (a, b, sa_row, sb_row), {}
    yield "bias size", (a, b, s, s), {"bias": torch.zeros(47, device=DEVICE, dtype=torch.bfloat16),
                                       "out_dtype": torch.bfloat16}
    yield "bias dtype", (a, b, s, s), {"bias": torch.zeros(48, device=DEVICE), "out_dtype": torch.bfloat16}
    yield "bias fp16 for bf16", (a, b, s, s), {"bias": torch.zeros(48, device=DEVICE, dtype=torch.float16),
                                               "out_dtype": torch.bfloat16}
    yield "bias with fp32 out", (a, b, s, s), {"bias": torch.zeros(48, device=DEVICE, dtype=torch.bfloat16),
                                               "out_dtype": f32}
    yield "scale_result", (a, b, s, s), {"scale_result": torch.ones(2, device=DEVICE)}
    yield "scale on cpu", (a, b, torch.tensor(1.0), s), {}
    yield "out dtype", (a, b, s, s), {"out_dtype": torch.bfloat16, "out": torch.empty(32, 48, device=DEVICE)}


@pytest.mark.parametrize("case", list(_errors()), ids=lambda c: c[0])
def test_errors(case):
    _, args, kwargs = case
    torch_error = raised(torch._scaled_mm, *args, **kwargs)
    with gemforge.use_gems(backends=[BACKEND]), quiet():
        gems_error = raised(torch._scaled_mm, *args, **kwargs)
    if torch_error is None:
        assert gems_error is None, gems_error
        return
    assert_same_error(torch_error, gems_error)
    assert str(gems_error) == str(torch_error)  # torch's own check raised it


def test_deterministic():
    a, b = operands(256, 1024, 256)
    sa, sb = torch.rand(256, 1, device=DEVICE) + 0.5, torch.rand(1, 256, device=DEVICE) + 0.5
    with gemforge.use_gems(backends=[BACKEND]):
        first = torch._scaled_mm(a, b, sa, sb, out_dtype=torch.bfloat16)
        second = torch._scaled_mm(a, b, sa, sb, out_dtype=torch.bfloat16)
    assert torch.equal(first, second)
