"""addr (cpu and cuda), _grouped_mm and _weight_int8pack_mm (cuda) against float64 references.

addr: every dtype torch supports (bool and integers exactly as torch, floating within one
rounding of the result's dtype, complex through torch's kernel), self of every broadcast shape,
strided and transposed operands, beta == 0 dropping self's NaNs, in-place and out= (out = self,
transposed out, a wider out and an overlapping one through torch), and torch's errors.

_grouped_mm (bf16, gemforge's kernel on sm_90 cuda only; skipped on the cpu): by default ours
serves small groups and torch's CUTLASS kernel the rest (ops/gemm_ext.cpp; checked); the other
tests force ours (GEMFORGE_GROUPED_MM=own) to keep it correct on every layout. The four MoE layouts
(2-d x 3-d with offsets over M, 3-d x 3-d, 2-d x 2-d with offsets over K, 3-d x 2-d with offsets
over N) in every operand order torch accepts, offsets with empty groups and groups ending off
a tile edge, odd sizes, K = 0 groups (zeros), and torch's errors. Tolerance as test_gemm.py's:
inputs in [-1, 1], rtol = 2 eps, atol = 2 eps (sqrt(K) + 2) + K 2^-23 with eps = 2^-8 (the sum
over K in fp32, rounded once to bf16). Rows (columns) past the last offset are not compared:
torch leaves them unwritten too.

_weight_int8pack_mm (cuda only; skipped on the cpu): x fp16/bf16/fp32 with 1 to 128 rows, k up to
11008, scales of every float dtype and strided, the layouts that go to torch's kernel, errors.
"""

from __future__ import annotations

import math

import pytest
import torch

import gemforge
from conftest import (BOOL, DEVICE, FLOATS, INTS, assert_same_error, check, make, quiet, raised, replicate,
                      served_count, with_specials)

ADDR_DTYPES = BOOL + INTS + FLOATS


def _vec(n, dtype, step=1):
    return make((n * step,), dtype)[::step] if step > 1 else make((n,), dtype)


def _scalars(dtype):
    """(beta, alpha) pairs torch takes for dtype."""
    if dtype is torch.bool:
        return [(True, True), (False, True), (True, False)]
    if not dtype.is_floating_point:
        return [(1, 1), (0, 3), (-2, 5)]
    return [(1, 1), (0, 2), (0.5, -1.5), (2, 0)]


# ---- addr ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ADDR_DTYPES, ids=str)
@pytest.mark.parametrize("nm", [(5, 7), (1, 1), (33, 65), (3, 1), (0, 4), (4, 0)], ids=str)
def test_addr(dtype, nm):
    n, m = nm
    pairs = _scalars(dtype) if nm in ((5, 7), (33, 65)) else _scalars(dtype)[:1]  # every pair on two shapes
    for beta, alpha in pairs:
        check(lambda s, a, b: torch.addr(s, a, b, beta=beta, alpha=alpha),
              [make((n, m), dtype), make((n,), dtype), make((m,), dtype)], served="addr")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int32, torch.bool], ids=str)
@pytest.mark.parametrize("self_shape", [(), (1,), (9,), (6, 1), (1, 9), (6, 9)], ids=str)
def test_addr_broadcast_self(dtype, self_shape):
    check(torch.addr, [make(self_shape, dtype), make((6,), dtype), make((9,), dtype)], served="addr")


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.int8, torch.uint8], ids=str)
def test_addr_strided(dtype):
    # transposed self, vectors with steps, a sliced self; 16-element rows and odd ones
    for n, m in ((16, 32), (7, 13)):
        check(torch.addr, [make((m, n), dtype).t(), _vec(n, dtype, 2), _vec(m, dtype, 3)], served="addr")
        check(torch.addr, [make((n, 2 * m), dtype)[:, ::2], _vec(n, dtype), _vec(m, dtype)], served="addr")
        check(torch.addr, [make((n, m + 3), dtype)[:, 1:m + 1], _vec(n, dtype), make((m + 1,), dtype)[1:]],
              served="addr")


def test_addr_integer_wraps():
    big = torch.tensor([100, -128, 127], dtype=torch.int8, device=DEVICE)
    check(lambda s, a, b: torch.addr(s, a, b, beta=3, alpha=7),
          [torch.full((3, 3), 120, dtype=torch.int8, device=DEVICE), big, big.flip(0)], served="addr")
    huge = torch.tensor([2 ** 40, -(2 ** 33)], dtype=torch.int64, device=DEVICE)
    check(torch.addr, [huge[:1], huge, huge], served="addr")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_addr_specials(dtype):
    s = with_specials(make((4, 6), dtype))
    v1, v2 = make((4,), dtype), with_specials(make((6,), dtype))
    # beta == 0: self's NaN and inf do not reach the result (torch ignores self)
    out = check(lambda s, a, b: torch.addr(s, a, b, beta=0), [s, v1, make((6,), dtype)], served="addr")
    assert torch.isfinite(out).all()
    check(torch.addr, [s, v1, v2], served="addr")  # NaN/inf propagate through the products
    check(lambda s, a, b: torch.addr(s, a, b, alpha=0), [s, v1, v2], served="addr")  # 0 * inf = NaN


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64, torch.bool], ids=str)
def test_addr_out(dtype):
    n, m = 8, 24
    args = lambda: [make((n, m), dtype), make((n,), dtype), make((m,), dtype)]  # noqa: E731
    check(lambda s, a, b, o: torch.addr(s, a, b, out=o), args() + [torch.empty(n, m, dtype=dtype, device=DEVICE)],
          served="addr.out")
    with quiet():  # resized out
        check(lambda s, a, b, o: torch.addr(s, a, b, out=o), args() + [torch.empty(3, dtype=dtype, device=DEVICE)],
              served="addr.out")
    check(lambda s, a, b, o: torch.addr(s, a, b, out=o),
          args() + [torch.empty(m, n, dtype=dtype, device=DEVICE).t()], served="addr.out")  # transposed out
    # out is self
    check(lambda s, a, b: torch.addr(s, a, b, beta=1, alpha=1, out=s), args(), served="addr.out")


def test_addr_out_fallbacks():
    n, m = 5, 6
    s, a, b = make((n, m), torch.float32), make((n,), torch.float32), make((m,), torch.float32)
    # a wider out (torch casts), an out overlapping an input, mixed input dtypes: torch's kernel
    check(lambda s, a, b, o: torch.addr(s, a, b, out=o), [s, a, b, torch.empty(n, m, dtype=torch.float64, device=DEVICE)])
    check(torch.addr, [s, a.double(), b])
    x = make((n, n), torch.float32)
    check(lambda x: torch.addr(x, x[0], x[1], out=x.t()), [x])  # torch raises: partial overlap
    check(lambda s, a, b, o: torch.addr(s, a, b, out=o), [s, a, b, torch.empty(n, m, dtype=torch.int32, device=DEVICE)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.int16, torch.bool], ids=str)
def test_addr_inplace(dtype):
    n, m = 9, 17
    for beta, alpha in _scalars(dtype)[:2]:
        check(lambda s, a, b: s.addr_(a, b, beta=beta, alpha=alpha),
              [make((n, m), dtype), make((n,), dtype), make((m,), dtype)], served="addr_")
    check(lambda s, a, b: s.addr_(a, b), [make((m, n), dtype).t(), make((n,), dtype), make((m,), dtype)],
          served="addr_")
    # an expanded self cannot be written in place: torch's error
    check(lambda s, a, b: s.addr_(a, b), [make((n, 1), dtype).expand(n, m), make((n,), dtype), make((m,), dtype)])


def test_addr_errors():
    f, i = torch.float32, torch.int32
    cases = [
        (torch.addr, [make((3, 4), f), make((3, 1), f), make((4,), f)]),          # 2-d vec1
        (torch.addr, [make((3, 4), f), make((3,), f), make((4, 1), f)]),          # 2-d vec2
        (torch.addr, [make((2, 4), f), make((3,), f), make((4,), f)]),            # self not expandable
        (torch.addr, [make((2, 3, 4), f), make((3,), f), make((4,), f)]),
        (lambda s, a, b: torch.addr(s, a, b, beta=1.5), [make((3, 4), i), make((3,), i), make((4,), i)]),
        (lambda s, a, b: torch.addr(s, a, b, alpha=0.5), [make((3, 4), i), make((3,), i), make((4,), i)]),
        (lambda s, a, b: torch.addr(s, a, b, beta=True), [make((3, 4), f), make((3,), f), make((4,), f)]),
        (lambda s, a, b: torch.addr(s, a, b, alpha=1e6), [make((3, 4), torch.float16), make((3,), torch.float16),
                                                         make((4,), torch.float16)]),  # overflows fp16
        (lambda s, a, b: torch.addr(s, a, b, beta=300), [make((3, 4), torch.int8), make((3,), torch.int8),
                                                        make((4,), torch.int8)]),
        (lambda s, a, b: s.addr_(a, b), [make((4,), f), make((4,), f), make((4,), f)]),   # 1-d self in place
        (lambda s, a, b: s.addr_(a, b), [make((3, 5), f), make((3,), f), make((4,), f)]),  # size mismatch
        (lambda s, a, b: s.addr_(a, b), [make((3, 4), i), make((3,), f), make((4,), f)]),  # float into int
        (torch.addr, [make((3, 4), torch.uint16 if hasattr(torch, "uint16") else f), make((3,), f), make((4,), f)]),
    ]
    for fn, args in cases:
        torch_error = raised(fn, *replicate(args))
        if torch_error is None:
            continue  # torch takes it (the uint16 row on some builds): nothing to compare
        with gemforge.use_gems(backends=[DEVICE]):
            assert_same_error(torch_error, raised(fn, *replicate(args)))


def test_addr_complex_falls_back():
    c = torch.complex64
    check(torch.addr, [make((3, 4), c), make((3,), c), make((4,), c)])


# ---- _grouped_mm ---------------------------------------------------------------------------------

BF16 = torch.bfloat16
EPS = 2.0 ** -8


def _rand(*shape):
    return torch.empty(shape, dtype=torch.float64, device=DEVICE).uniform_(-1, 1).to(BF16)


def _grouped_ref(a, b, offs):
    """float64 reference on the cpu; None marks output rows/cols past the last offset."""
    a, b = a.double().cpu(), b.double().cpu()
    offs = offs.tolist() if offs is not None else None
    if a.dim() == 3 and b.dim() == 3:
        return a @ b
    if a.dim() == 2 and b.dim() == 3:
        out = torch.full((a.shape[0], b.shape[-1]), float("nan"), dtype=torch.float64)
        start = 0
        for g, end in enumerate(offs):
            out[start:end] = a[start:end] @ b[g]
            start = end
        return out
    if a.dim() == 3 and b.dim() == 2:
        out = torch.full((a.shape[1], b.shape[-1]), float("nan"), dtype=torch.float64)
        start = 0
        for g, end in enumerate(offs):
            out[:, start:end] = a[g] @ b[:, start:end]
            start = end
        return out
    out = torch.empty((len(offs), a.shape[0], b.shape[1]), dtype=torch.float64)
    start = 0
    for g, end in enumerate(offs):
        out[g] = a[:, start:end] @ b[start:end]
        start = end
    return out


def _assert_grouped(actual, ref, k):
    actual = actual.detach().cpu().double()
    keep = ~torch.isnan(ref)
    atol = 2 * EPS * (math.sqrt(k) + 2) + k * 2.0 ** -23
    torch.testing.assert_close(actual[keep], ref[keep], rtol=2 * EPS, atol=atol)


def _offs(*ends):
    return torch.tensor(ends, dtype=torch.int32, device=DEVICE)


def _cm(*shape):
    """A bf16 tensor of `shape` whose last two dims are stored column-major (torch's transposed)."""
    return _rand(*shape[:-2], shape[-1], shape[-2]).transpose(-2, -1)


def check_grouped(a, b, offs, k, *, served=True):
    # Torch's kernel asserts on the device (poisoning the process) when a group's size along the
    # grouped output dim is not a multiple of 16 bytes; its host checks, and the output's shape
    # and strides, do not depend on the offsets' values: torch is called with offsets rounded
    # down to multiples of 16 rows.
    torch_offs = None if offs is None else offs // 16 * 16
    torch_error = raised(torch._grouped_mm, a, b, torch_offs)
    if torch_error is not None:  # a layout torch refuses: the same error
        with gemforge.use_gems(backends=["cuda"]):
            assert_same_error(torch_error, raised(torch._grouped_mm, a, b, offs))
        return
    expected = torch._grouped_mm(a, b, torch_offs)
    ref = _grouped_ref(a, b, offs)
    with gemforge.use_gems(backends=["cuda"]), gemforge.collect_stats() as counts:
        out = torch._grouped_mm(a, b, offs)
    if served:
        assert served_count(counts, "_grouped_mm") >= 1, f"gemforge did not serve _grouped_mm: {dict(counts)}"
    assert out.dtype == expected.dtype and out.shape == expected.shape and out.stride() == expected.stride()
    _assert_grouped(out, ref, k)
    # twice: the same bits (no atomics)
    with gemforge.use_gems(backends=["cuda"]):
        again = torch._grouped_mm(a, b, offs)
    keep = ~torch.isnan(ref)
    assert torch.equal(out.cpu()[keep], again.cpu()[keep])


def _sm90():
    return DEVICE == "cuda" and torch.cuda.get_device_capability()[0] == 9


grouped = pytest.mark.skipif(not _sm90(), reason="gemforge serves _grouped_mm on sm_90 cuda")


@pytest.fixture(autouse=True)
def _own_grouped_kernel(monkeypatch):
    """By default our kernel serves only small groups (torch's leads on larger ones): the tests
    run it on every layout it takes (GEMFORGE_GROUPED_MM=own)."""
    monkeypatch.setenv("GEMFORGE_GROUPED_MM", "own")


@pytest.mark.cuda
@grouped
def test_grouped_default_routing(monkeypatch):
    small = _rand(256, 64), _rand(4, 64, 128), _offs(64, 128, 192, 256)   # 64 rows an expert
    large = _rand(1024, 64), _rand(2, 64, 128), _offs(512, 1024)          # 512 rows an expert
    for env, inputs, served in ((None, small, 1), (None, large, 0), ("torch", small, 0), ("own", large, 1)):
        if env:
            monkeypatch.setenv("GEMFORGE_GROUPED_MM", env)
        else:
            monkeypatch.delenv("GEMFORGE_GROUPED_MM", raising=False)
        with gemforge.use_gems(backends=["cuda"]), gemforge.collect_stats() as counts:
            out = torch._grouped_mm(*inputs)
        assert served_count(counts, "_grouped_mm") == served, f"GEMFORGE_GROUPED_MM={env}: {dict(counts)}"
        _assert_grouped(out, _grouped_ref(*inputs), 64)


@pytest.mark.cuda
@grouped
@pytest.mark.parametrize("b_major", ["row", "col"])
@pytest.mark.parametrize("case", [
    (300, 40, 72, (0, 50, 50, 173, 290)),      # empty first and third groups, rows past the last
    (1024, 512, 256, (128, 256, 384, 512, 640, 768, 896, 1024)),
    (1000, 136, 392, (1, 2, 3, 500, 999)),     # tiny groups
    (640, 104, 520, (0, 17, 17, 300, 301, 640)),  # k and n tails across 256-column tiles
    (2048, 64, 256, tuple(range(64, 2049, 64))),  # 64-row groups: half a tile each
    (77, 8, 8, (77,)),
    (64, 0, 16, (20, 64)),                      # K = 0: zeros
], ids=str)
def test_grouped_2d_3d(case, b_major):
    m, k, n, ends = case
    a = _rand(m, max(k, 8))[:, :k]  # K = 0 too: rows 16 bytes apart, as torch wants
    b = _rand(len(ends), k, n) if b_major == "row" else _cm(len(ends), k, n)
    check_grouped(a, b, _offs(*ends), k)


@pytest.mark.cuda
@grouped
@pytest.mark.parametrize("majors", [("row", "row"), ("row", "col"), ("col", "row"), ("col", "col")], ids=str)
@pytest.mark.parametrize("gmkn", [(3, 100, 72, 136), (1, 128, 256, 128), (4, 1, 8, 8), (2, 257, 520, 300)], ids=str)
def test_grouped_3d_3d(gmkn, majors):
    g, m, k, n = gmkn
    if majors[0] == "col" and m % 8:
        pytest.skip("torch wants 16-byte strides: a column-major mat_a needs m % 8 == 0")
    if majors[1] == "row" and n % 8 or majors[1] == "col" and k % 8 or majors[0] == "row" and k % 8:
        pytest.skip("torch wants 16-byte strides")
    a = _rand(g, m, k) if majors[0] == "row" else _cm(g, m, k)
    b = _rand(g, k, n) if majors[1] == "row" else _cm(g, k, n)
    check_grouped(a, b, None, k)


@pytest.mark.cuda
@grouped
@pytest.mark.parametrize("case", [
    (72, 210, 40, (0, 37, 37, 150, 200)),       # K = 0 groups give zeros, k past the last offset unused
    (128, 4096, 256, (512, 1024, 2000, 2048, 4096)),
    (8, 33, 8, (33,)),
    (264, 1000, 296, (0, 1, 63, 64, 200, 777, 1000)),  # groups ending mid-step, tiles past 256
], ids=str)
def test_grouped_2d_2d(case):
    m, kt, n, ends = case
    a = _cm(m, kt)          # (m, Kt) with m contiguous: the weight-gradient layout (grad_out^T)
    b = _rand(kt, n)        # (Kt, n) row-major
    check_grouped(a, b, _offs(*ends), max(e - s for s, e in zip((0,) + ends, ends)))
    # the other operand orders run torch's kernel, which asserts on the device unless every
    # group's k is a multiple of 16 bytes
    if kt % 8 == 0 and all(e % 8 == 0 for e in ends):
        check_grouped(_rand(m, kt), _cm(kt, n), _offs(*ends), kt, served=False)


@pytest.mark.cuda
@grouped
@pytest.mark.parametrize("case", [(40, 64, 140, (10, 10, 77, 130)), (128, 256, 512, (128, 256, 384, 512)),
                                  (40, 64, 700, (0, 251, 700))],  # a group starting at an odd column
                         ids=str)
def test_grouped_3d_2d(case):
    m, k, nt, ends = case
    a = _rand(len(ends), m, k)
    check_grouped(a, _cm(k, nt), _offs(*ends), k)


@pytest.mark.cuda
@grouped
def test_grouped_moe_random_routing():
    g, tokens, k, n = 8, 2048, 256, 384
    counts = torch.bincount(torch.randint(0, g - 2, (tokens,)), minlength=g)  # two empty experts
    ends = tuple(torch.cumsum(counts, 0).tolist())
    check_grouped(_rand(tokens, k), _cm(g, k, n), _offs(*ends), k)


@pytest.mark.cuda
@grouped
def test_grouped_unaligned_operand_goes_to_torch():
    # mat_a starting 8 bytes into its storage: TMA cannot read it, torch's kernel serves (or
    # raises torch's error)
    a = _rand(256, 72)[:, 4:68]
    check_grouped(a, _cm(2, 64, 128), _offs(100, 256), 64, served=False)


@pytest.mark.cuda
def test_grouped_errors():
    f = torch.float32
    cases = [
        lambda: torch._grouped_mm(_rand(16, 8), _rand(2, 8, 16)),                              # no offs
        lambda: torch._grouped_mm(_rand(2, 16, 8), _rand(2, 8, 16), _offs(8, 16)),             # offs with 3d x 3d
        lambda: torch._grouped_mm(_rand(16, 8), _rand(2, 8, 16), _offs(8, 16).long()),         # int64 offs
        lambda: torch._grouped_mm(_rand(16, 8), _rand(3, 8, 16), _offs(8, 16)),                # batch mismatch
        lambda: torch._grouped_mm(_rand(16, 8), _rand(2, 16, 16), _offs(8, 16)),               # K mismatch
        lambda: torch._grouped_mm(_rand(16, 8), _rand(2, 8, 16), _offs(8, 16), out_dtype=f),   # fp32 out
        lambda: torch._grouped_mm(_rand(16, 8).int(), _rand(2, 8, 16), _offs(8, 16)),          # int input
        lambda: torch._grouped_mm(_rand(16, 12)[:, :10], _rand(2, 10, 16), _offs(8, 16)),     # strides not 16 B
        lambda: torch._grouped_mm(_rand(16), _rand(2, 8, 16), _offs(8, 16)),                   # 1-d
        lambda: torch._grouped_mm(_rand(16, 8), _rand(2, 8, 16), _offs(8, 16), bias=_rand(16)),
        lambda: torch._grouped_mm(_rand(16, 8), _rand(2, 8, 16), _offs(8, 16).reshape(2, 1)),  # 2-d offs
    ]
    for fn in cases:
        torch_error = raised(fn)
        if torch_error is None:
            continue
        with gemforge.use_gems(backends=["cuda"]):
            assert_same_error(torch_error, raised(fn))


# ---- _scaled_grouped_mm --------------------------------------------------------------------------
# Row-wise fp8 (e4m3, fp32 scales) with use_fast_accum: gemforge's kernel accumulates at the tensor
# cores' fp8 precision, as torch's fast path does; the bound is torch's own error against float64
# (twice it) plus a bf16 rounding of the result. Torch's default accumulation, 2-d x 2-d and every
# invalid call run torch's kernel.

E4M3 = torch.float8_e4m3fn


def _fp8(*shape):
    return (torch.randn(shape, device=DEVICE) * 2).to(E4M3)


def _fp8_cm(*shape):
    """torch's mat_b: the last two dims stored column-major."""
    return _fp8(*shape[:-2], shape[-1], shape[-2]).transpose(-2, -1)


def _scales(*shape):
    return torch.rand(shape, device=DEVICE) + 0.5


def _scaled_ref(a, b, sa, sb, offs):
    a, b, sa, sb = a.double().cpu(), b.double().cpu(), sa.double().cpu(), sb.double().cpu()
    if a.dim() == 3 and b.dim() == 3:
        return (a @ b) * sa[:, :, None] * sb[:, None, :]
    ends = offs.tolist()
    if a.dim() == 2 and b.dim() == 2:  # groups along k, a scale a row (column) of each group's out
        m, n = a.shape[0], b.shape[1]
        out = torch.zeros((len(ends), m, n), dtype=torch.float64)
        start = 0
        for g, end in enumerate(ends):
            out[g] = (a[:, start:end] @ b[start:end]) * sa[g * m:(g + 1) * m, None] * sb[None, g * n:(g + 1) * n]
            start = end
        return out
    if a.dim() == 2:
        out = torch.full((a.shape[0], b.shape[-1]), float("nan"), dtype=torch.float64)
        start = 0
        for g, end in enumerate(ends):
            out[start:end] = (a[start:end] @ b[g]) * sa[start:end, None] * sb[g][None, :]
            start = end
        return out
    out = torch.full((a.shape[1], b.shape[-1]), float("nan"), dtype=torch.float64)
    start = 0
    for g, end in enumerate(ends):
        out[:, start:end] = (a[g] @ b[:, start:end]) * sa[g][:, None] * sb[None, start:end]
        start = end
    return out


def check_scaled(a, b, sa, sb, offs, *, served=True, fast=True, **extra):
    kwargs = dict(offs=offs, out_dtype=torch.bfloat16, use_fast_accum=fast, **extra)
    torch_error = raised(torch._scaled_grouped_mm, a, b, sa, sb, **kwargs)
    if torch_error is not None:
        with gemforge.use_gems(backends=["cuda"]):
            assert_same_error(torch_error, raised(torch._scaled_grouped_mm, a, b, sa, sb, **kwargs))
        return
    expected = torch._scaled_grouped_mm(a, b, sa, sb, **kwargs)
    with gemforge.use_gems(backends=["cuda"]), gemforge.collect_stats() as counts:
        out = torch._scaled_grouped_mm(a, b, sa, sb, **kwargs)
    assert served_count(counts, "_scaled_grouped_mm") == int(served), dict(counts)
    assert out.dtype == expected.dtype and out.shape == expected.shape and out.stride() == expected.stride()
    ref = _scaled_ref(a, b, sa, sb, offs)
    keep = ~torch.isnan(ref)
    ref = ref[keep]
    got, theirs = out.cpu().double()[keep], expected.cpu().double()[keep]
    bound = 2 * 2.0 ** -8 * ref.abs().max().item() + 2 * (theirs - ref).abs().max().item()
    assert (got - ref).abs().max().item() <= bound
    if not served:
        assert torch.equal(got, theirs)


scaled = pytest.mark.skipif(not _sm90() or not hasattr(torch, "_scaled_grouped_mm"),
                            reason="gemforge serves _scaled_grouped_mm on sm_90 cuda")


@pytest.mark.cuda
@scaled
@pytest.mark.parametrize("fast", [True, False], ids=["fast_accum", "promoted"])
@pytest.mark.parametrize("kn", [(128, 256), (64, 512), (4096, 1024), (16, 48), (400, 272)], ids=str)
def test_scaled_grouped_2d_3d(kn, fast):
    k, n = kn
    ends = (0, 48, 48, 320, 336, 640)  # empty groups, groups ending off a tile
    check_scaled(_fp8(640, k), _fp8_cm(len(ends), k, n), _scales(640), _scales(len(ends), n), _offs(*ends),
                 fast=fast)


@pytest.mark.cuda
@scaled
@pytest.mark.parametrize("fast", [True, False], ids=["fast_accum", "promoted"])
def test_scaled_grouped_3d_3d_and_3d_2d(fast):
    check_scaled(_fp8(3, 200, 256), _fp8_cm(3, 256, 272), _scales(3, 200), _scales(3, 272), None, fast=fast)
    check_scaled(_fp8(3, 144, 128), _fp8_cm(128, 704), _scales(3, 144), _scales(704), _offs(0, 256, 704),
                 fast=fast)


@pytest.mark.cuda
@scaled
def test_scaled_grouped_goes_to_torch():
    # 2-d x 2-d (offsets over k)
    check_scaled(_fp8(64, 256), _fp8_cm(256, 128), _scales(64 * 2), _scales(128 * 2), _offs(128, 256), served=False)


@pytest.mark.cuda
@scaled
def test_scaled_grouped_default_routing(monkeypatch):
    """Unforced, ours serves the fast accumulation of deep products (K > 8192), and the promoted
    one over many experts (32 or more) with at least 256 rows each."""
    monkeypatch.delenv("GEMFORGE_GROUPED_MM", raising=False)
    ends = (100, 256)
    for k, fast, served in ((128, True, False), (8448, True, True), (8448, False, False)):
        check_scaled(_fp8(256, k), _fp8_cm(2, k, 256), _scales(256), _scales(2, 256), _offs(*ends), fast=fast,
                     served=served)
    for groups, rows, served in ((32, 256, True), (32, 240, False), (16, 512, False)):
        ends = [rows * (g + 1) for g in range(groups)]
        check_scaled(_fp8(ends[-1], 128), _fp8_cm(groups, 128, 64), _scales(ends[-1]), _scales(groups, 64),
                     _offs(*ends), fast=False, served=served)


@pytest.mark.cuda
@scaled
def test_scaled_grouped_errors():
    a, b, sa, sb, offs = _fp8(256, 128), _fp8_cm(2, 128, 256), _scales(256), _scales(2, 256), _offs(100, 256)
    bad = [
        (a.t().contiguous().t(), b, sa, sb, offs, {}),                       # mat_a transposed
        (_fp8(256, 256)[:, ::2], b, sa, sb, offs, {}),                       # mat_a k not contiguous
        (a, b.contiguous(), sa, sb, offs, {}),                               # mat_b not transposed
        (a[:, :120], b[:, :120], sa, sb, offs, {}),                          # k not a multiple of 16
        (a.to(torch.bfloat16), b, sa, sb, offs, {}),                         # not fp8
        (a, b, sa[:200], sb, offs, {}),                                      # scale_a length
        (a, b, sa, sb[:, :128], offs, {}),                                   # scale_b shape
        (a, b, sa.double(), sb, offs, {}),                                   # fp64 scale
        (a, b, sa, sb, offs.long(), {}),                                     # int64 offsets
        (a, b, sa, sb, None, {}),                                            # 2-d without offsets
        (a, b, sa, sb, offs, {"bias": torch.zeros(256, device=DEVICE, dtype=torch.bfloat16)}),
    ]
    raising = 0
    for a_, b_, sa_, sb_, offs_, extra in bad:
        kwargs = dict(offs=offs_, out_dtype=torch.bfloat16, use_fast_accum=True, **extra)
        torch_error = raised(torch._scaled_grouped_mm, a_, b_, sa_, sb_, **kwargs)
        if torch_error is None:
            continue
        raising += 1
        with gemforge.use_gems(backends=["cuda"]):
            assert_same_error(torch_error, raised(torch._scaled_grouped_mm, a_, b_, sa_, sb_, **kwargs))
    assert raising >= 8, "torch accepted most of these calls: the cases no longer test errors"


# ---- _weight_int8pack_mm -------------------------------------------------------------------------
# (x (m, k) @ w (n, k)^T) * scales, served on cuda for m <= 256. Weights in [-128, 127] with scales
# near 1/128 keep w * scale in [-1, 1]: the tolerance of test_gemm.py's (the sum in fp32, one
# rounding to x's dtype).

INT8_EPS = {torch.bfloat16: 2.0 ** -8, torch.float16: 2.0 ** -11, torch.float32: 2.0 ** -21}


def _int8_inputs(m, k, n, dtype, scale_dtype=None):
    x = torch.empty((m, k), dtype=torch.float64, device=DEVICE).uniform_(-1, 1).to(dtype)
    w = torch.randint(-128, 128, (n, k), dtype=torch.int8, device=DEVICE)
    scales = (torch.rand(n, dtype=torch.float64, device=DEVICE) * 0.5 + 0.5) / 128
    return x, w, scales.to(scale_dtype or dtype)


def check_int8(x, w, scales, *, served=True):
    k = x.shape[1]
    ref = (x.double().cpu() @ w.double().cpu().t()) * scales.double().cpu()
    expected = torch._weight_int8pack_mm(x, w, scales)
    with gemforge.use_gems(backends=["cuda"]), gemforge.collect_stats() as counts:
        out = torch._weight_int8pack_mm(x, w, scales)
    if served:
        assert served_count(counts, "_weight_int8pack_mm") >= 1, f"not served: {dict(counts)}"
    assert out.dtype == expected.dtype and out.shape == expected.shape and out.is_contiguous()
    eps = INT8_EPS[x.dtype]
    atol = 2 * eps * (math.sqrt(k) + 2) + k * 2.0 ** -23
    torch.testing.assert_close(out.cpu().double(), ref, rtol=2 * eps, atol=atol)
    with gemforge.use_gems(backends=["cuda"]):
        assert torch.equal(out, torch._weight_int8pack_mm(x, w, scales))  # deterministic


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("mkn", [(1, 16, 1), (1, 4096, 256), (3, 64, 5), (8, 1008, 37), (16, 4096, 130),
                                 (9, 11008, 8), (2, 0, 4), (128, 4096, 64)], ids=str)
def test_int8pack_mm(dtype, mkn):
    # k = 0 never reaches the cuda kernel's registration (torch answers it before dispatch)
    check_int8(*_int8_inputs(*mkn, dtype), served=mkn[1] > 0)


@pytest.mark.cuda
@pytest.mark.parametrize("scale_dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_int8pack_mm_scale_dtypes(scale_dtype):
    x, w, s = _int8_inputs(4, 512, 64, torch.bfloat16, scale_dtype)
    check_int8(x, w, s)
    check_int8(x, w, s.repeat_interleave(2)[::2])  # strided scales


@pytest.mark.cuda
def test_int8pack_mm_layouts():
    x, w, s = _int8_inputs(6, 256, 48, torch.bfloat16)
    check_int8(torch.cat([x, x], 1)[:, 256:], w, s)            # rows 512 apart, offset by 256
    check_int8(x, w, s, served=True)
    check_int8(x[:1], w, s)                                    # m = 1
    # a transposed x or weight: made dense first (torch's kernel reads them as row-major and
    # gets them wrong)
    check_int8(x.t().contiguous().t(), w, s)
    check_int8(x, w.t().contiguous().t(), s)
    # torch's kernel: more rows, k off 16, an unaligned x
    check_int8(*_int8_inputs(257, 64, 8, torch.bfloat16), served=False)
    check_int8(*_int8_inputs(2, 24, 8, torch.float32), served=False)
    check_int8(torch.cat([x.flatten(), x.flatten()[:1]])[1:].view(6, 256), w, s, served=False)


@pytest.mark.cuda
def test_int8pack_mm_errors():
    x, w, s = _int8_inputs(2, 32, 8, torch.bfloat16)
    cases = [
        lambda: torch._weight_int8pack_mm(x[0], w, s),                 # 1-d x
        lambda: torch._weight_int8pack_mm(x, w[0], s),                 # 1-d w
        lambda: torch._weight_int8pack_mm(x, w, s[None]),              # 2-d scales
        lambda: torch._weight_int8pack_mm(x[:, :16], w, s),            # k mismatch
        lambda: torch._weight_int8pack_mm(x, w, s[:4]),                # n mismatch
        lambda: torch._weight_int8pack_mm(x, w.to(torch.int16), s),    # not int8
        lambda: torch._weight_int8pack_mm(x, w, s.cpu()),              # scales on the cpu
    ]
    for fn in cases:
        torch_error = raised(fn)
        if torch_error is None:
            continue
        with gemforge.use_gems(backends=["cuda"]):
            assert_same_error(torch_error, raised(fn))


# ---- _compute_linear_combination (cuda: a GEMM over the input's first dim) ----------------------

COMBINATION_TOL = {torch.bfloat16: (2e-2, 2e-2), torch.float16: (2e-3, 2e-3), torch.float32: (1e-5, 1e-5)}


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("shapes", [((3, 4), (2, 3)), ((5, 6, 7), (9, 5)), ((1, 33), (1, 1)), ((18, 64, 64), (6, 18))],
                         ids=str)
def test_compute_linear_combination(dtype, shapes):
    input_shape, coefficient_shape = shapes
    x, c = make(input_shape, dtype), make(coefficient_shape, dtype)
    ref = torch.einsum("ij,j...->i...", c.double().cpu(), x.double().cpu())
    with gemforge.use_gems(backends=["cuda"]), gemforge.collect_stats() as counts:
        got = torch._compute_linear_combination(x, c)
    assert served_count(counts, "_compute_linear_combination") == 1
    assert got.dtype == dtype and got.shape == ref.shape
    rtol, atol = COMBINATION_TOL[dtype]
    torch.testing.assert_close(got.double().cpu(), ref, rtol=rtol, atol=atol * input_shape[0] ** 0.5)
    # out= adds to what out holds, as torch's does; a transposed input is read through a copy
    out = make(ref.shape, dtype)
    start = out.double().cpu()
    with gemforge.use_gems(backends=["cuda"]), gemforge.collect_stats() as counts:
        torch.ops.aten._compute_linear_combination.out(x, c, out=out)
    assert served_count(counts, "_compute_linear_combination.out") == 1
    torch.testing.assert_close(out.double().cpu(), start + ref, rtol=rtol, atol=atol * input_shape[0] ** 0.5)
    if x.dim() == 3:
        xt = x.transpose(1, 2)
        with gemforge.use_gems(backends=["cuda"]):
            got = torch._compute_linear_combination(xt, c)
        torch.testing.assert_close(got.double().cpu(), ref.transpose(1, 2), rtol=rtol, atol=atol * input_shape[0] ** 0.5)


@pytest.mark.cuda
def test_compute_linear_combination_goes_to_torch():
    """Integers, mixed dtypes and an empty input are torch's (its error for the empty one)."""
    x, c = make((3, 4), torch.int64, low=-5, high=5), make((2, 3), torch.int64, low=-5, high=5)
    with gemforge.use_gems(backends=["cuda"]):
        assert torch.equal(torch._compute_linear_combination(x, c).cpu(), c.cpu() @ x.cpu())  # no cuda int mm
    # mixed dtypes: whatever torch's kernel does (a result or its error), gemforge does
    torch_error = raised(torch._compute_linear_combination, x.float(), c.double())
    with gemforge.use_gems(backends=["cuda"]):
        gems_error = raised(torch._compute_linear_combination, x.float(), c.double())
    if torch_error is None:
        assert gems_error is None
    else:
        assert_same_error(torch_error, gems_error)
    empty = torch.empty(0, 4, device=DEVICE)
    torch_error = raised(torch._compute_linear_combination, empty, c.float()[:, :0])
    with gemforge.use_gems(backends=["cuda"]):
        assert_same_error(torch_error, raised(torch._compute_linear_combination, empty, c.float()[:, :0]))


# ---- _trilinear in bilinear's form (cuda: two GEMMs) -------------------------------------------

@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("shapes", [((5, 7), (3, 7, 4)), ((2, 9, 16), (33, 16, 24)), ((1, 1), (1, 1, 1))], ids=str)
def test_bilinear(dtype, shapes):
    x1_shape, w_shape = shapes
    x1 = make(x1_shape, dtype)
    x2 = make(x1_shape[:-1] + (w_shape[2],), dtype)
    w, bias = make(w_shape, dtype), make((w_shape[0],), dtype)
    ref = torch.einsum("...i,oij,...j->...o", x1.double().cpu(), w.double().cpu(), x2.double().cpu())
    rtol, atol = COMBINATION_TOL[dtype]
    atol *= (w_shape[1] * w_shape[2]) ** 0.5 * 2
    for b in (None, bias):
        with gemforge.use_gems(backends=["cuda"]), gemforge.collect_stats() as counts:
            got = torch.nn.functional.bilinear(x1, x2, w, b)
        assert served_count(counts, "_trilinear") == 1, dict(counts)
        expected = ref + (b.double().cpu() if b is not None else 0)
        assert got.dtype == dtype and got.shape == expected.shape
        torch.testing.assert_close(got.double().cpu(), expected, rtol=rtol, atol=atol)


@pytest.mark.cuda
def test_bilinear_gradients():
    """nn.Bilinear's backward (torch's composites of _trilinear in other forms) matches torch's."""
    layer = torch.nn.Bilinear(12, 10, 6).to(DEVICE)
    x1, x2 = make((8, 12), torch.float32), make((8, 10), torch.float32)

    def grads():
        layer.zero_grad()
        a, b = x1.clone().requires_grad_(), x2.clone().requires_grad_()
        layer(a, b).square().sum().backward()
        return a.grad, b.grad, layer.weight.grad, layer.bias.grad

    expected = grads()
    with gemforge.use_gems(backends=["cuda"]), gemforge.collect_stats() as counts:
        got = grads()
    assert served_count(counts, "_trilinear") >= 1
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)
