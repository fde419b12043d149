"""The dense GEMM family on cuda (mm, addmm, bmm, baddbmm, addbmm with out= and in-place forms,
and the torch composites that land on them: linear, matmul): bf16/fp16/fp32 (TF32 on and off)
against float64, transposed, offset (not 16-byte aligned) and non-contiguous operands, size-1
and odd sizes, K = 0 and empty results, out= of every layout, alpha/beta values, bias
broadcasts, the fallback dtypes, and errors as torch's.

gemforge serves these on cuda only (torch's cpu kernels stay): on the cpu every test is
collected and skipped, because the op's row does not serve the cpu backend.

Tolerance: inputs lie in [-1, 1] and the reference is the same call in float64. The result's
rounding gives a relative error of about eps of its dtype; the sum over K, accumulated in fp32
(and, with torch's default reduced-precision reduction, split-K partial sums rounded to the
output dtype), adds an absolute error growing like sqrt(K); the fp32 accumulator's own
rounding grows like K 2^-24 (running sums of size ~sqrt(K) rounded K times). We allow
rtol = 2 eps and atol = 2 eps (sqrt(K) + 2) + K 2^-23, eps = 2^-8 for bf16, 2^-11 for fp16 and
TF32, 2^-21 for fp32. With fp32 and TF32 off, a TF32 result (error ~ 2^-11 sqrt(K)) fails this.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import gemforge
from conftest import (BACKEND, DEVICE, _bases, _shares_memory, assert_same_error, full_name, quiet,
                      raised, replicate, row_backends, served_count, to_reference)

aten = torch.ops.aten

DTYPES = [torch.bfloat16, torch.float16, torch.float32]
EPS = {torch.bfloat16: 2.0 ** -8, torch.float16: 2.0 ** -11}


def make(shape, dtype):
    return torch.empty(shape, dtype=torch.float64, device=DEVICE).uniform_(-1, 1).to(dtype)


def _eps(dtype):
    if dtype == torch.float32:
        return 2.0 ** -11 if torch.backends.cuda.matmul.allow_tf32 else 2.0 ** -21
    return EPS.get(dtype, 1e-12)


def _assert_close(actual, expected, k):
    eps = _eps(actual.dtype)
    actual = actual.detach().cpu().to(torch.float64)
    expected = expected.detach().cpu().to(torch.float64)
    atol = 2 * eps * (math.sqrt(k) + 2) + k * 2.0 ** -23
    torch.testing.assert_close(actual, expected, rtol=2 * eps, atol=atol, equal_nan=True)


def check_gemm(fn, args, *, served, k):
    """fn(*args) under gemforge against fn on float64 CPU copies (K-scaled tolerance, see the
    module docstring); dtype, shape, contiguity and aliasing as torch's; gemforge must serve
    `served`. When torch raises, gemforge must raise the same exception type."""
    if BACKEND not in row_backends(served):
        pytest.skip(f"gemforge serves {served} on {row_backends(served)} only")
    args = replicate(args)  # the caller's tensors stay as they are (in-place and out= calls)
    ref_source = replicate(args)
    gems_args = replicate(args)
    torch_error = None
    try:
        with quiet():
            expected = fn(*args)
    except Exception as err:  # noqa: BLE001  (whatever torch raises is the expectation)
        torch_error = err
    if torch_error is not None:
        with gemforge.use_gems(backends=[BACKEND]), quiet():
            assert_same_error(torch_error, raised(fn, *gems_args))
        return None

    with gemforge.use_gems(backends=[BACKEND]), gemforge.collect_stats() as counts, quiet():
        actual = fn(*gems_args)
    assert served_count(counts, served) >= 1, f"gemforge did not serve {served}; it served {dict(counts)}"
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape, f"shape {actual.shape}, torch gives {expected.shape}"
    assert actual.device == expected.device
    if expected.is_contiguous():
        assert actual.is_contiguous(), f"strides {actual.stride()}, torch gives {expected.stride()}"
    for given, given_gems in zip(_bases(args), _bases(gems_args)):
        if expected.numel() and _shares_memory(expected, given):
            assert _shares_memory(actual, given_gems), "result does not alias its in/out argument"

    ref_args = to_reference(ref_source)
    with quiet():
        ref = fn(*ref_args)
    _assert_close(actual, ref, k)
    for mine, theirs in zip(_bases(gems_args), _bases(ref_args)):
        _assert_close(mine, theirs, k)
    return actual


@pytest.fixture
def tf32():
    """Sets torch's TF32 switch for cuBLAS for one test."""
    before = torch.backends.cuda.matmul.allow_tf32
    yield lambda on: setattr(torch.backends.cuda.matmul, "allow_tf32", on)
    torch.backends.cuda.matmul.allow_tf32 = before


# (m, k, n): size 1, odd sizes, K = 0, empty results, skinny and wide
MM_SHAPES = [(1, 1, 1), (17, 33, 65), (64, 128, 32), (1, 256, 64), (128, 64, 1), (3, 1, 5),
             (5, 0, 7), (0, 5, 7), (5, 7, 0), (16, 4096, 8)]


# ---- mm ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("mkn", MM_SHAPES, ids=str)
def test_mm(dtype, mkn):
    m, k, n = mkn
    check_gemm(torch.mm, [make((m, k), dtype), make((k, n), dtype)], served="mm", k=k)


@pytest.mark.parametrize("allow", [False, True])
def test_mm_fp32_tf32(tf32, allow):
    tf32(allow)
    check_gemm(torch.mm, [make((33, 200), torch.float32), make((200, 47), torch.float32)], served="mm", k=200)


@pytest.mark.parametrize("allow", [False, True])
def test_mm_tf32_switch(tf32, allow):
    # 1 + 2^-12 is exact in fp32 and rounds to 1 in TF32 (10 mantissa bits): 256 such products
    # sum to 256 + 2^-4 in fp32 (every partial sum exact, in any order) and to 256 with TF32.
    if BACKEND not in row_backends("mm"):
        pytest.skip(f"gemforge serves mm on {row_backends('mm')} only")
    tf32(allow)
    a = torch.full((128, 256), 1 + 2.0 ** -12, device=DEVICE)
    b = torch.ones(256, 128, device=DEVICE)
    with gemforge.use_gems(backends=[BACKEND]), gemforge.collect_stats() as counts:
        got = torch.mm(a, b)
    assert counts["mm"] >= 1
    want = 256.0 if allow else 256.0 + 2.0 ** -4
    assert torch.all(got == want), got[0, :4]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_mm_layouts(dtype):
    # transposed views (no copy), offset views (pointers not 16-byte aligned, ld > width),
    # strided views (copied), broadcast (stride 0) operands, size-1 dims with odd strides
    a = make((40, 70), dtype)
    b = make((70, 30), dtype)
    at_, bt = make((70, 40), dtype), make((30, 70), dtype)
    cases = [
        (lambda x, y: torch.mm(x.t(), y), [at_, b]),
        (lambda x, y: torch.mm(x, y.t()), [a, bt]),
        (lambda x, y: torch.mm(x.t(), y.t()), [at_, bt]),
        (lambda x, y: torch.mm(x[:, 1:], y[1:, 3:]), [a, b]),
        (lambda x, y: torch.mm(x[1:, 1:], y[1:, :]), [a, b]),
        (lambda x, y: torch.mm(x.t()[1:, :], y[:, 1:]), [at_, b]),
        (lambda x, y: torch.mm(x[:, ::2], y[::2, :]), [a, b]),
        (lambda x, y: torch.mm(x[::3], y), [a, b]),
        (lambda x, y: torch.mm(x[:, :1], y[:1, :]), [a, b]),
        (lambda x, y: torch.mm(x[:1, :], y), [a, b]),
        (lambda x, y: torch.mm(x, y[:, 5:6]), [a, b]),
        (lambda x, y: torch.mm(x[0:1].expand(9, 70), y), [a, b]),
        (lambda x, y: torch.mm(x, y[:, 0:1].expand(70, 9)), [a, b]),
    ]
    for fn, args in cases:
        check_gemm(fn, args, served="mm", k=70)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_mm_out(dtype):
    a, b = make((17, 33), dtype), make((33, 65), dtype)
    outs = [
        torch.empty(17, 65, dtype=dtype, device=DEVICE),            # row-major
        torch.empty(65, 17, dtype=dtype, device=DEVICE).t(),        # column-major
        torch.empty(17, 130, dtype=dtype, device=DEVICE)[:, ::2],   # neither: a temporary
        torch.empty(17, 70, dtype=dtype, device=DEVICE)[:, 3:68],   # offset, ld > n
        torch.empty(0, dtype=dtype, device=DEVICE),                 # resized
        torch.empty(4, 4, dtype=dtype, device=DEVICE),              # resized, with a warning
    ]
    for out in outs:
        check_gemm(lambda x, y, o: torch.mm(x, y, out=o), [a, b, out], served="mm.out", k=33)


def test_mm_out_errors():
    a, b = make((5, 6), torch.bfloat16), make((6, 7), torch.bfloat16)
    wrong = torch.empty(5, 7, dtype=torch.float32, device=DEVICE)
    check_gemm(lambda x, y, o: torch.mm(x, y, out=o), [a, b, wrong], served="mm.out", k=6)


# ---- addmm -------------------------------------------------------------------------------------

BETA_ALPHA = [(1, 1), (0, 1), (0.5, -2), (1, 0.5), (-2, 1), (1, 0)]
# self shapes for an (m, n) result: the bias vector, its (1, n) form, a column, full, a scalar
SELF_SHAPES = ["n", "1n", "m1", "mn", "scalar", "1"]


def _self(kind, m, n, dtype):
    shape = {"n": (n,), "1n": (1, n), "m1": (m, 1), "mn": (m, n), "scalar": (), "1": (1,)}[kind]
    return make(shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("beta,alpha", BETA_ALPHA, ids=str)
@pytest.mark.parametrize("kind", SELF_SHAPES)
def test_addmm(dtype, beta, alpha, kind):
    m, k, n = 17, 33, 65
    self = _self(kind, m, n, dtype)
    check_gemm(lambda s, x, y: torch.addmm(s, x, y, beta=beta, alpha=alpha),
               [self, make((m, k), dtype), make((k, n), dtype)], served="addmm", k=k)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("mkn", MM_SHAPES, ids=str)
def test_addmm_shapes(dtype, mkn):
    m, k, n = mkn
    check_gemm(lambda s, x, y: torch.addmm(s, x, y, beta=0.5),
               [make((n,), dtype), make((m, k), dtype), make((k, n), dtype)], served="addmm", k=k)
    check_gemm(lambda s, x, y: torch.addmm(s, x, y),
               [make((m, n), dtype), make((m, k), dtype), make((k, n), dtype)], served="addmm", k=k)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_addmm_bias_epilogue(dtype):
    # beta == 1 with a dense bias of n: cuBLASLt's bias epilogue, whatever the operands' layout
    # and alpha; a bias at an odd offset; a (1, n) bias
    m, k, n = 48, 72, 40
    x, w, wt = make((m, k), dtype), make((k, n), dtype), make((n, k), dtype)
    bias, wide = make((n,), dtype), make((n + 1,), dtype)
    check_gemm(lambda b, p, q: torch.addmm(b, p, q), [bias, x, w], served="addmm", k=k)
    check_gemm(lambda b, p, q: torch.addmm(b, p, q.t(), alpha=0.5), [bias, x, wt], served="addmm", k=k)
    check_gemm(lambda b, p, q: torch.addmm(b[1:], p, q), [wide, x, w], served="addmm", k=k)
    check_gemm(lambda b, p, q: torch.addmm(b[None], p.t().contiguous().t(), q), [bias, x, w],
               served="addmm", k=k)
    check_gemm(lambda b, p, q: torch.addmm(b[::2], p, q), [make((2 * n,), dtype), x, w],
               served="addmm", k=k)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_addmm_beta_zero_ignores_nan(dtype):
    m, k, n = 9, 16, 12
    self = torch.full((m, n), float("nan"), dtype=dtype, device=DEVICE)
    got = check_gemm(lambda s, x, y: torch.addmm(s, x, y, beta=0),
                     [self, make((m, k), dtype), make((k, n), dtype)], served="addmm", k=k)
    if got is not None:
        assert not got.isnan().any()
    check_gemm(lambda s, x, y: torch.addmm(s, x, y, beta=0),
               [self, make((m, 0), dtype), make((0, n), dtype)], served="addmm", k=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("beta,alpha", BETA_ALPHA, ids=str)
def test_addmm_inplace(dtype, beta, alpha):
    m, k, n = 17, 33, 65
    x, y = make((m, k), dtype), make((k, n), dtype)
    selves = [make((m, n), dtype), make((n, m), dtype).t(), make((m, 2 * n), dtype)[:, ::2],
              make((m, n + 3), dtype)[:, 3:]]
    for self in selves:
        check_gemm(lambda s, p, q: s.addmm_(p, q, beta=beta, alpha=alpha), [self, x, y],
                   served="addmm_", k=k)
    check_gemm(lambda s, p, q: s.addmm_(p, q, beta=beta, alpha=alpha),
               [make((m, n), dtype), make((m, 0), dtype), make((0, n), dtype)], served="addmm_", k=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_addmm_out(dtype):
    m, k, n = 17, 33, 65
    x, y, bias, full = make((m, k), dtype), make((k, n), dtype), make((n,), dtype), make((m, n), dtype)
    for self in (bias, full):
        for out in (torch.empty(m, n, dtype=dtype, device=DEVICE),
                    torch.empty(n, m, dtype=dtype, device=DEVICE).t(),
                    torch.empty(m, 2 * n, dtype=dtype, device=DEVICE)[:, ::2],
                    torch.empty(0, dtype=dtype, device=DEVICE)):
            check_gemm(lambda s, p, q, o: torch.addmm(s, p, q, beta=0.5, alpha=2, out=o),
                       [self, x, y, out], served="addmm.out", k=k)
            check_gemm(lambda s, p, q, o: torch.addmm(s, p, q, out=o), [self, x, y, out],
                       served="addmm.out", k=k)
    wrong = torch.empty(m, n, dtype=torch.float64, device=DEVICE)
    check_gemm(lambda s, p, q, o: torch.addmm(s, p, q, out=o), [full, x, y, wrong], served="addmm.out", k=k)


# ---- bmm and baddbmm -----------------------------------------------------------------------------

# (b, m, k, n)
BMM_SHAPES = [(1, 1, 1, 1), (3, 17, 33, 65), (2, 64, 128, 32), (4, 1, 64, 9), (5, 8, 1, 3),
              (2, 5, 0, 7), (0, 3, 4, 5), (2, 0, 4, 5), (3, 4, 5, 0)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("bmkn", BMM_SHAPES, ids=str)
def test_bmm(dtype, bmkn):
    b, m, k, n = bmkn
    check_gemm(torch.bmm, [make((b, m, k), dtype), make((b, k, n), dtype)], served="bmm", k=k)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_bmm_layouts(dtype):
    b, m, k, n = 3, 20, 36, 28
    x, y = make((b, m, k), dtype), make((b, k, n), dtype)
    xt, yt = make((b, k, m), dtype), make((b, n, k), dtype)
    cases = [
        (lambda p, q: torch.bmm(p.transpose(1, 2), q), [xt, y]),
        (lambda p, q: torch.bmm(p, q.transpose(1, 2)), [x, yt]),
        (lambda p, q: torch.bmm(p.transpose(1, 2), q.transpose(1, 2)), [xt, yt]),
        (lambda p, q: torch.bmm(p.permute(1, 0, 2), q), [make((m, b, k), dtype), y]),
        (lambda p, q: torch.bmm(p[:, :, 1:], q[:, 1:, :]), [x, y]),
        (lambda p, q: torch.bmm(p[:, ::2, :], q), [make((b, 2 * m, k), dtype), y]),
        (lambda p, q: torch.bmm(p[:1].expand(b, m, k), q), [x, y]),  # batch stride 0
        (lambda p, q: torch.bmm(p, q[:1].expand(b, k, n)), [x, y]),
        (lambda p, q: torch.bmm(p, q[:, :, :1]), [x, y]),
    ]
    for fn, args in cases:
        check_gemm(fn, args, served="bmm", k=k)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_bmm_out(dtype):
    b, m, k, n = 3, 17, 33, 65
    x, y = make((b, m, k), dtype), make((b, k, n), dtype)
    outs = [torch.empty(b, m, n, dtype=dtype, device=DEVICE),
            torch.empty(b, n, m, dtype=dtype, device=DEVICE).transpose(1, 2),
            torch.empty(m, b, n, dtype=dtype, device=DEVICE).transpose(0, 1),
            torch.empty(b, m, 2 * n, dtype=dtype, device=DEVICE)[:, :, ::2],
            torch.empty(0, dtype=dtype, device=DEVICE)]
    for out in outs:
        check_gemm(lambda p, q, o: torch.bmm(p, q, out=o), [x, y, out], served="bmm.out", k=k)
    wrong = torch.empty(b, m, n, dtype=torch.float64, device=DEVICE)
    check_gemm(lambda p, q, o: torch.bmm(p, q, out=o), [x, y, wrong], served="bmm.out", k=k)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("beta,alpha", BETA_ALPHA, ids=str)
@pytest.mark.parametrize("self_shape", [(65,), (1, 1, 65), (3, 17, 65), (17, 1), (1, 17, 65), ()], ids=str)
def test_baddbmm(dtype, beta, alpha, self_shape):
    b, m, k, n = 3, 17, 33, 65
    check_gemm(lambda s, p, q: torch.baddbmm(s, p, q, beta=beta, alpha=alpha),
               [make(self_shape, dtype), make((b, m, k), dtype), make((b, k, n), dtype)],
               served="baddbmm", k=k)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("bmkn", BMM_SHAPES, ids=str)
def test_baddbmm_shapes(dtype, bmkn):
    b, m, k, n = bmkn
    check_gemm(lambda s, p, q: torch.baddbmm(s, p, q, beta=-2, alpha=0.5),
               [make((b, m, n), dtype), make((b, m, k), dtype), make((b, k, n), dtype)],
               served="baddbmm", k=k)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0, 1), (0.5, -2)], ids=str)
def test_baddbmm_inplace_and_out(dtype, beta, alpha):
    b, m, k, n = 3, 17, 33, 65
    x, y = make((b, m, k), dtype), make((b, k, n), dtype)
    for self in (make((b, m, n), dtype), make((b, n, m), dtype).transpose(1, 2),
                 make((b, m, 2 * n), dtype)[:, :, ::2]):
        check_gemm(lambda s, p, q: s.baddbmm_(p, q, beta=beta, alpha=alpha), [self, x, y],
                   served="baddbmm_", k=k)
    for out in (torch.empty(b, m, n, dtype=dtype, device=DEVICE), torch.empty(0, dtype=dtype, device=DEVICE)):
        check_gemm(lambda s, p, q, o: torch.baddbmm(s, p, q, beta=beta, alpha=alpha, out=o),
                   [make((n,), dtype), x, y, out], served="baddbmm.out", k=k)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0, 1), (0.5, -2)], ids=str)
def test_addbmm(dtype, beta, alpha):
    # one product with K = batches * k: the tolerance grows with that K
    b, m, k, n = 4, 17, 33, 65
    x, y = make((b, m, k), dtype), make((b, k, n), dtype)
    for self in (make((n,), dtype), make((m, n), dtype), make((m, 1), dtype)):
        check_gemm(lambda s, p, q: torch.addbmm(s, p, q, beta=beta, alpha=alpha), [self, x, y],
                   served="addbmm", k=b * k)
    check_gemm(lambda s, p, q: torch.addbmm(s, p.transpose(1, 2), q.permute(1, 0, 2)),
               [make((m, n), dtype), make((b, k, m), dtype), make((k, b, n), dtype)],
               served="addbmm", k=b * k)
    for self in (make((m, n), dtype), make((n, m), dtype).t()):
        check_gemm(lambda s, p, q: s.addbmm_(p, q, beta=beta, alpha=alpha), [self, x, y],
                   served="addbmm_", k=b * k)
    for out in (torch.empty(m, n, dtype=dtype, device=DEVICE), torch.empty(0, dtype=dtype, device=DEVICE)):
        check_gemm(lambda s, p, q, o: torch.addbmm(s, p, q, beta=beta, alpha=alpha, out=o),
                   [make((n,), dtype), x, y, out], served="addbmm.out", k=b * k)
    check_gemm(lambda s, p, q: torch.addbmm(s, p, q, beta=beta, alpha=alpha),
               [make((m, n), dtype), make((0, m, k), dtype), make((0, k, n), dtype)],
               served="addbmm", k=0)
    check_gemm(lambda s, p, q: torch.addbmm(s, p, q, beta=beta, alpha=alpha),
               [make((m, n), dtype), make((3, m, 0), dtype), make((3, 0, n), dtype)],
               served="addbmm", k=0)


def test_addbmm_errors():
    f32, bf16 = torch.float32, torch.bfloat16
    check_gemm(torch.addbmm, [make((3, 5), f32), make((3, 4), f32), make((4, 5), f32)], served="addbmm", k=4)
    check_gemm(torch.addbmm, [make((3, 5), f32), make((2, 3, 4), f32), make((3, 4, 5), f32)],
               served="addbmm", k=4)
    check_gemm(torch.addbmm, [make((3, 5), f32), make((2, 3, 4), f32), make((2, 5, 5), f32)],
               served="addbmm", k=4)
    check_gemm(torch.addbmm, [make((4, 5), f32), make((2, 3, 4), f32), make((2, 4, 5), f32)],
               served="addbmm", k=4)
    check_gemm(torch.addbmm, [make((3, 5), bf16), make((2, 3, 4), f32), make((2, 4, 5), f32)],
               served="addbmm", k=4)
    # an in-place self of another shape: torch's cpu kernel raises, its cuda kernel resizes self;
    # gemforge leaves that case to torch's kernel (not served), so only the cpu's error is compared
    if DEVICE == "cpu":
        check_gemm(lambda s, p, q: s.addbmm_(p, q), [make((5,), f32), make((2, 3, 4), f32),
                                                     make((2, 4, 5), f32)], served="addbmm_", k=4)


# ---- the composites that land here ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_linear_and_matmul(dtype):
    x2, x3 = make((24, 40), dtype), make((2, 12, 40), dtype)
    w, bias = make((56, 40), dtype), make((56,), dtype)
    check_gemm(lambda a, b, c: F.linear(a, b, c), [x2, w, bias], served="addmm", k=40)
    check_gemm(lambda a, b: F.linear(a, b), [x2, w], served="mm", k=40)
    check_gemm(lambda a, b: F.linear(a, b), [x3, w], served="mm", k=40)
    check_gemm(lambda a, b: torch.matmul(a, b.t()), [x2, w], served="mm", k=40)
    check_gemm(lambda a, b: torch.matmul(a, b), [x3, make((2, 40, 8), dtype)], served="bmm", k=40)


def test_linear_backward():
    # autograd's linear backward is mm (grad_input, grad_weight) on the same rows
    if BACKEND not in row_backends("mm"):
        pytest.skip(f"gemforge serves mm on {row_backends('mm')} only")
    x = make((16, 32), torch.float32).requires_grad_()
    w = make((24, 32), torch.float32).requires_grad_()
    b = make((24,), torch.float32).requires_grad_()
    F.linear(x, w, b).square().sum().backward()
    want = [t.grad.clone() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    with gemforge.use_gems(backends=[BACKEND]), gemforge.collect_stats() as counts:
        F.linear(x, w, b).square().sum().backward()
    assert counts["mm"] >= 2 and counts["addmm"] >= 1, dict(counts)
    for t, expected in zip((x, w, b), want):
        torch.testing.assert_close(t.grad, expected, rtol=1e-5, atol=1e-5)


# ---- what gemforge hands to torch ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float64, torch.complex64, torch.int32], ids=str)
def test_fallback_dtypes(dtype):
    if BACKEND not in row_backends("mm"):
        pytest.skip(f"gemforge serves mm on {row_backends('mm')} only")
    a = torch.randn(7, 9, device=DEVICE).to(dtype)
    b = torch.randn(9, 5, device=DEVICE).to(dtype)
    torch_error = raised(torch.mm, a, b)
    before = gemforge.fallbacks().get("mm", 0)
    with gemforge.use_gems(backends=[BACKEND]), gemforge.collect_stats():
        if torch_error is not None:
            assert_same_error(torch_error, raised(torch.mm, a, b))
            return
        got = torch.mm(a, b)
    assert gemforge.fallbacks().get("mm", 0) > before
    torch.testing.assert_close(got, torch.mm(a, b), rtol=0, atol=0)


# ---- errors ----------------------------------------------------------------------------------------

def test_errors():
    f32, bf16 = torch.float32, torch.bfloat16
    check_gemm(torch.mm, [make((3, 4), f32), make((4,), f32)], served="mm", k=4)
    check_gemm(torch.mm, [make((4,), f32), make((4, 3), f32)], served="mm", k=4)
    check_gemm(torch.mm, [make((3, 4), f32), make((5, 6), f32)], served="mm", k=4)
    check_gemm(torch.mm, [make((3, 4), f32), make((4, 6), bf16)], served="mm", k=4)
    check_gemm(torch.addmm, [make((6,), f32), make((3, 4), f32), make((4, 6), bf16)], served="addmm", k=4)
    check_gemm(torch.addmm, [make((6,), bf16), make((3, 4), f32), make((4, 6), f32)], served="addmm", k=4)
    check_gemm(torch.addmm, [make((5,), f32), make((3, 4), f32), make((4, 6), f32)], served="addmm", k=4)
    check_gemm(torch.addmm, [make((2, 3, 6), f32), make((3, 4), f32), make((4, 6), f32)], served="addmm", k=4)
    check_gemm(torch.addmm, [make((6,), f32), make((3,), f32), make((4, 6), f32)], served="addmm", k=4)
    check_gemm(lambda s, x, y: s.addmm_(x, y), [make((6,), f32), make((3, 4), f32), make((4, 6), f32)],
               served="addmm_", k=4)
    check_gemm(torch.bmm, [make((3, 4), f32), make((2, 4, 5), f32)], served="bmm", k=4)
    check_gemm(torch.bmm, [make((2, 3, 4), f32), make((3, 4, 5), f32)], served="bmm", k=4)
    check_gemm(torch.bmm, [make((2, 3, 4), f32), make((2, 5, 5), f32)], served="bmm", k=4)
    check_gemm(torch.bmm, [make((2, 3, 4), f32), make((2, 4, 5), bf16)], served="bmm", k=4)
    check_gemm(torch.baddbmm, [make((3, 5), f32), make((3, 4), f32), make((4, 5), f32)],
               served="baddbmm", k=4)
    check_gemm(torch.baddbmm, [make((2, 3, 5), bf16), make((2, 3, 4), f32), make((2, 4, 5), f32)],
               served="baddbmm", k=4)
    check_gemm(torch.baddbmm, [make((4, 3, 5), f32), make((2, 3, 4), f32), make((2, 4, 5), f32)],
               served="baddbmm", k=4)
    check_gemm(lambda s, x, y: s.baddbmm_(x, y), [make((1, 3, 5), f32), make((2, 3, 4), f32),
                                                  make((2, 4, 5), f32)], served="baddbmm_", k=4)


def test_device_mismatch():
    if BACKEND not in row_backends("mm"):
        pytest.skip(f"gemforge serves mm on {row_backends('mm')} only")
    a, b = make((3, 4), torch.float32), torch.randn(4, 5)
    with gemforge.use_gems(backends=[BACKEND]):
        gems_error = raised(torch.mm, a, b)
    assert_same_error(raised(torch.mm, a, b), gems_error)


def test_rows():
    served = {full_name(r.overload): r for r in gemforge.registered_ops()}
    for name in ["mm", "mm.out", "addmm", "addmm.out", "addmm_", "bmm", "bmm.out", "baddbmm",
                 "baddbmm.out", "baddbmm_", "addbmm", "addbmm.out", "addbmm_"]:
        row = served[full_name(name)]
        assert row.family == "matmul_blas" and list(row.backends) == ["cuda"], (name, row.backends)
    for composite, target in [("linear", "addmm"), ("matmul", "mm")]:
        assert served[full_name(composite)].via == target


# ---- runtime selection: tuning tables ---------------------------------------------------------

@pytest.mark.skipif(DEVICE != "cuda", reason="GEMM tuning picks among cuBLASLt's algorithms (cuda)")
def test_tuning_writes_a_table_and_keeps_results_exact(tmp_path):
    """With tuning on, a new problem's first call times the candidates into scratch memory: the
    result (also of an in-place addmm_, whose output is its input) stays right, and the cache
    file gets the problem."""
    a = make((96, 200), torch.bfloat16)
    b = make((200, 72), torch.bfloat16)
    c = make((96, 72), torch.bfloat16)
    gemforge._C.set_gemm_table_dirs([], str(tmp_path))
    gemforge.gemm_tuning(True)
    try:
        with gemforge.use_gems():
            a2, b2 = a[:, :199], b[:199]  # a problem no earlier call planned
            tuned = torch.mm(a2, b2)
            inplace = c.clone()
            inplace.addmm_(a[:, :199], b[:199], beta=0.5)
        _assert_close(tuned, torch.mm(a2.double(), b2.double()), k=199)
        _assert_close(inplace, 0.5 * c.double() + a[:, :199].double() @ b[:199].double(), k=199)
    finally:
        gemforge.gemm_tuning(False)
        gemforge._C.set_gemm_table_dirs([], str(gemforge.gemm_cache_dir()))
    name = f"gemm-{gemforge._C.device_slug(torch.cuda.get_device_name())}.txt"
    lines = (tmp_path / name).read_text().splitlines()
    assert lines[0].startswith("# gemforge gemm table, cublasLt ")
    entries = [line.split() for line in lines[1:]]
    assert entries and all(len(e) == 13 and 0 <= int(e[-1]) < 8 for e in entries)
    assert any(e[1:4] == ["72", "96", "199"] for e in entries), entries  # D^T = B^T A^T: m=72, n=96


def test_device_slug():
    assert gemforge._C.device_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert gemforge._C.device_slug("  NVIDIA  H200 ") == "nvidia-h200"


# ---- addmv, mv ------------------------------------------------------------------------------

MV_SHAPES = [(1, 1), (17, 33), (64, 1), (1, 64), (300, 129), (5, 0), (0, 5)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("mk", MV_SHAPES, ids=str)
def test_mv(dtype, mk):
    m, k = mk
    check_gemm(lambda a, v: torch.mv(a, v), [make((m, k), dtype), make((k,), dtype)], served="addmv_", k=k)
    check_gemm(lambda a, v: a @ v, [make((m, k), dtype), make((k,), dtype)], served="addmv_", k=k)
    out = make((m,), dtype)
    check_gemm(lambda a, v, o: torch.mv(a, v, out=o), [make((m, k), dtype), make((k,), dtype), out],
               served="addmv.out", k=k)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("beta,alpha", BETA_ALPHA, ids=str)
@pytest.mark.parametrize("self_shape", ["full", "one", "scalar"])
def test_addmv(dtype, beta, alpha, self_shape):
    m, k = 37, 70
    self = make({"full": (m,), "one": (1,), "scalar": ()}[self_shape], dtype)
    args = [self, make((m, k), dtype), make((k,), dtype)]
    check_gemm(lambda s, a, v: torch.addmv(s, a, v, beta=beta, alpha=alpha), args, served="addmv", k=k)
    check_gemm(lambda s, a, v, o: torch.addmv(s, a, v, beta=beta, alpha=alpha, out=o),
               args + [make((3,), dtype)], served="addmv.out", k=k)  # out resized
    if self_shape == "full":
        check_gemm(lambda s, a, v: s.addmv_(a, v, beta=beta, alpha=alpha), args, served="addmv_", k=k)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_addmv_layouts(dtype):
    # transposed and strided matrices, a strided vector, a strided in-place self, beta 0 ignoring NaN
    m, k = 40, 24
    mt = make((k, m), dtype).t()
    wide = make((m, 2 * k), dtype)[:, ::2]
    vec2 = make((2 * k,), dtype)[::2]
    check_gemm(lambda a, v: torch.mv(a, v), [mt, make((k,), dtype)], served="addmv_", k=k)
    check_gemm(lambda a, v: torch.mv(a, v), [wide, vec2], served="addmv_", k=k)
    check_gemm(lambda s, a, v: s.addmv_(a, v), [make((2 * m,), dtype)[::2], mt, vec2], served="addmv_", k=k)
    nan = torch.full((m,), float("nan"), dtype=dtype, device=DEVICE)
    got = check_gemm(lambda s, a, v: torch.addmv(s, a, v, beta=0), [nan, mt, vec2], served="addmv", k=k)
    if got is not None:
        assert not got.isnan().any()


def test_addmv_errors():
    dtype = torch.float32
    cases = [
        lambda: torch.addmv(make((5,), dtype), make((5, 4), dtype), make((3,), dtype)),
        lambda: torch.addmv(make((5, 1), dtype), make((5, 4), dtype), make((4,), dtype)),
        lambda: torch.mv(make((5, 4), dtype), make((4,), torch.float16)),
        lambda: torch.mv(make((5,), dtype), make((5,), dtype)),
        lambda: make((4,), dtype).addmv_(make((5, 4), dtype), make((4,), dtype)),
    ]
    for fn in cases:
        err = raised(fn)
        assert err is not None
        with gemforge.use_gems(backends=[BACKEND]), quiet():
            assert_same_error(err, raised(fn))


# ---- addmm.dtype: fp16/bf16 inputs, an fp32 result ------------------------------------------------
# torch has no cpu kernel for addmm.dtype: the reference is beta * self + alpha * mat1 @ mat2 in
# float64, and errors are compared with torch's own cuda kernel.

def check_addmm_dtype(self_, mat1, mat2, *, beta=1, alpha=1, out=None, out_dtype=torch.float32):
    served = "addmm.dtype" if out is None else "addmm.dtype_out"
    if BACKEND not in row_backends(served):
        pytest.skip(f"gemforge serves {served} on {row_backends(served)} only")
    kwargs = dict(out_dtype=out_dtype, beta=beta, alpha=alpha)
    gems_out = None if out is None else out.clone()
    with quiet():
        torch_error = raised(torch.addmm, self_, mat1, mat2, **kwargs, **({} if out is None else {"out": out}))
    fallbacks_before = gemforge.fallbacks().get(served, 0)
    with gemforge.use_gems(backends=[BACKEND]), gemforge.collect_stats() as counts, quiet():
        if torch_error is not None:
            kw = {} if out is None else {"out": gems_out}
            assert_same_error(torch_error, raised(torch.addmm, self_, mat1, mat2, **kwargs, **kw))
            return None
        got = torch.addmm(self_, mat1, mat2, **kwargs) if out is None else \
            torch.addmm(self_, mat1, mat2, **kwargs, out=gems_out)
    # served, or handed to torch by gemforge's entry point (stats count only served calls)
    assert served_count(counts, served) + gemforge.fallbacks().get(served, 0) - fallbacks_before >= 1, dict(counts)
    assert got.dtype == out_dtype and got.shape == (mat1.shape[0], mat2.shape[1])
    if out is not None:
        assert got.data_ptr() == gems_out.data_ptr() or gems_out.numel() == 0
    ref = alpha * (mat1.double().cpu() @ mat2.double().cpu())
    if beta != 0:
        ref = ref + beta * self_.double().cpu()
    _assert_close(got, ref, mat1.shape[1])
    return got


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("self_shape", ["bias", "full", "row"])
@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, 2), (0, 1)])
def test_addmm_dtype(dtype, self_shape, beta, alpha):
    m, k, n = 37, 96, 52
    self_ = make({"bias": (n,), "full": (m, n), "row": (1, n)}[self_shape], dtype)
    check_addmm_dtype(self_, make((m, k), dtype), make((k, n), dtype), beta=beta, alpha=alpha)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_addmm_dtype_fp32_beats_rounding(dtype):
    # the fp32 result is not rounded to dtype: 64 products of (1 + 2^-7)^2 need more bits than
    # dtype has
    a = torch.full((16, 64), 1 + 2.0 ** -7, device=DEVICE, dtype=dtype)
    b = torch.full((64, 16), 1 + 2.0 ** -7, device=DEVICE, dtype=dtype)
    got = check_addmm_dtype(torch.zeros(16, dtype=dtype, device=DEVICE), a, b)
    want = 64 * (1 + 2.0 ** -7) ** 2
    torch.testing.assert_close(got, torch.full_like(got, want), rtol=2.0 ** -20, atol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_addmm_dtype_layouts_and_out(dtype):
    m, k, n = 24, 40, 33
    a, b = make((k, m), dtype).t(), make((n, k), dtype).t()  # transposed operands
    check_addmm_dtype(make((n,), dtype), a, b)
    check_addmm_dtype(make((m, n), dtype), a, b, out_dtype=dtype)  # the same dtype: plain addmm
    for out in [torch.empty(0, device=DEVICE), torch.empty(m, n, device=DEVICE),
                torch.empty(n, m, device=DEVICE).t()]:
        check_addmm_dtype(make((m, n), dtype), a, b, out=out, beta=0.5)


def test_addmm_dtype_errors():
    f32, bf16 = torch.float32, torch.bfloat16
    check_addmm_dtype(make((6,), bf16), make((3, 4), bf16), make((4, 6), bf16), out_dtype=torch.float16)
    check_addmm_dtype(make((6,), f32), make((3, 4), bf16), make((4, 6), bf16))
    check_addmm_dtype(make((6,), bf16), make((3, 5), bf16), make((4, 6), bf16))
    check_addmm_dtype(make((6,), bf16), make((3,), bf16), make((4, 6), bf16))
    check_addmm_dtype(make((6,), bf16), make((3, 4), torch.float16), make((4, 6), bf16))
    check_addmm_dtype(make((6,), bf16), make((3, 4), bf16), make((4, 6), bf16),
                      out=torch.empty(3, 6, device=DEVICE, dtype=bf16))


# ---- dot, vdot -----------------------------------------------------------------------------------
# Tolerance: K = n products summed in fp32 (double for float64), as for the GEMMs above.

DOT_DTYPES = [torch.bfloat16, torch.float16, torch.float32, torch.float64]
DOT_SIZES = [0, 1, 7, 1000, 16384, 16385, 100003, (1 << 20) + 3]


@pytest.mark.parametrize("op", ["dot", "vdot"])
@pytest.mark.parametrize("dtype", DOT_DTYPES, ids=str)
@pytest.mark.parametrize("n", DOT_SIZES)
def test_dot(op, dtype, n):
    fn = getattr(torch, op)
    check_gemm(fn, [make((n,), dtype), make((n,), dtype)], served=op, k=n)


@pytest.mark.parametrize("op", ["dot", "vdot"])
@pytest.mark.parametrize("dtype", DOT_DTYPES, ids=str)
def test_dot_layouts(op, dtype):
    fn = getattr(torch, op)
    n = 50001
    x, y = make((3 * n,), dtype), make((n + 1,), dtype)
    check_gemm(fn, [x[::3], y[1:]], served=op, k=n)          # strided, and not 16-byte aligned
    check_gemm(fn, [x[1:n + 1], y[:n]], served=op, k=n)      # dense, x not aligned
    check_gemm(fn, [make((1,), dtype).expand(n), y[:n]], served=op, k=n)  # stride 0
    check_gemm(fn, [make((4, n), dtype)[:, 5], make((4,), dtype)], served=op, k=4)


@pytest.mark.parametrize("op", ["dot", "vdot"])
@pytest.mark.parametrize("dtype", DOT_DTYPES, ids=str)
def test_dot_out(op, dtype):
    fn = getattr(torch, op)
    for out in [torch.empty((), dtype=dtype, device=DEVICE), torch.empty(0, dtype=dtype, device=DEVICE),
                torch.empty(3, dtype=dtype, device=DEVICE)]:
        check_gemm(lambda x, y, o: fn(x, y, out=o), [make((20000,), dtype), make((20000,), dtype), out],
                   served=f"{op}.out", k=20000)


@pytest.mark.parametrize("op", ["dot", "vdot"])
def test_dot_specials_and_determinism(op):
    if BACKEND not in row_backends(op):
        pytest.skip(f"gemforge serves {op} on {row_backends(op)} only")
    fn = getattr(torch, op)
    x = make((1 << 20,), torch.float32)
    y = make((1 << 20,), torch.float32)
    with gemforge.use_gems(backends=[BACKEND]):
        runs = [fn(x, y) for _ in range(3)]
        assert all(torch.equal(r, runs[0]) for r in runs)  # the same bits every run
        x[12345] = float("nan")
        assert torch.isnan(fn(x, y))
        x[12345], y[7] = float("inf"), float("inf")
        assert not torch.isfinite(fn(x, y))
        assert torch.isnan(fn(torch.tensor([float("inf"), 1.0], device=DEVICE),
                              torch.tensor([0.0, 1.0], device=DEVICE)))


@pytest.mark.parametrize("op", ["dot", "vdot"])
def test_dot_fallbacks_and_errors(op):
    fn = getattr(torch, op)
    f32 = torch.float32
    check_gemm(fn, [make((5,), f32).conj(), make((5,), f32)], served=op, k=5)
    check_gemm(fn, [make((5,), torch.int32), make((5,), torch.int32)], served=op, k=5)
    check_gemm(fn, [make((5,), f32), make((6,), f32)], served=op, k=5)
    check_gemm(fn, [make((5,), f32), make((5,), torch.float64)], served=op, k=5)
    check_gemm(fn, [make((2, 5), f32), make((5,), f32)], served=op, k=5)
    check_gemm(fn, [make((), f32), make((), f32)], served=op, k=1)
    out = lambda x, y, o: fn(x, y, out=o)  # noqa: E731
    check_gemm(out, [make((5,), f32), make((5,), f32), torch.empty((), dtype=torch.float64, device=DEVICE)],
               served=f"{op}.out", k=5)
    if DEVICE == "cuda":
        check_gemm(fn, [make((5,), f32), torch.randn(5)], served=op, k=5)
        check_gemm(out, [make((5,), f32), make((5,), f32), torch.empty(())], served=f"{op}.out", k=5)


@pytest.mark.parametrize("op", ["dot", "vdot"])
def test_dot_complex_goes_to_torch(op):
    if BACKEND not in row_backends(op):
        pytest.skip(f"gemforge serves {op} on {row_backends(op)} only")
    x = torch.randn(33, dtype=torch.complex64, device=DEVICE)
    y = torch.randn(33, dtype=torch.complex64, device=DEVICE)
    fn = getattr(torch, op)
    before = gemforge.fallbacks().get(op, 0)
    with gemforge.use_gems(backends=[BACKEND]), gemforge.collect_stats() as counts:
        got = fn(x, y)
    assert served_count(counts, op) == 0 and gemforge.fallbacks().get(op, 0) == before + 1
    torch.testing.assert_close(got, fn(x, y), rtol=0, atol=0)


def test_blas5_rows():
    served = {full_name(r.overload): r for r in gemforge.registered_ops()}
    for name in ["_scaled_mm", "_scaled_mm.out", "addmm.dtype", "addmm.dtype_out", "dot", "dot.out", "vdot",
                 "vdot.out"]:
        row = served[full_name(name)]
        assert row.family == "matmul_blas" and list(row.backends) == ["cuda"], (name, row.backends)
    assert served[full_name("kron")].via == "mul.Tensor" and served[full_name("kron.out")].via == "mul.out"


def test_kron_lands_on_mul():
    a = make((2, 3), torch.float32)
    b = make((4, 5), torch.float32)
    with gemforge.use_gems(backends=[BACKEND]), gemforge.collect_stats() as counts:
        got = torch.kron(a, b)
        out = torch.empty(8, 15, device=DEVICE)
        torch.kron(a, b, out=out)
    assert served_count(counts, "mul.Tensor") >= 1 and served_count(counts, "mul.out") >= 1, dict(counts)
    want = torch.kron(a, b)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(out, want, rtol=0, atol=0)


# ---- linear_backward: torch has kernels only for mkldnn and nested tensors (autograd uses mm for
# dense ones); gemforge's is grad_output W, grad_output^T input and a sum, through its GEMM --------

@pytest.mark.parametrize("mask", [(True, True, True), (True, False, False), (False, True, False),
                                  (False, False, True)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_linear_backward(dtype, mask):
    if BACKEND not in row_backends("linear_backward"):
        pytest.skip(f"gemforge serves linear_backward on {row_backends('linear_backward')} only")
    x = make((5, 3, 24), dtype).transpose(0, 1)  # non-contiguous: batch dims flattened by a copy
    go, w = make((3, 5, 40), dtype), make((40, 24), dtype)
    with pytest.raises(NotImplementedError):
        aten.linear_backward(x, go, w, list(mask))  # torch's own: no dense kernel
    with gemforge.use_gems(backends=[BACKEND]), gemforge.collect_stats() as counts:
        got = aten.linear_backward(x, go, w, list(mask))
    assert served_count(counts, "linear_backward") == 1, dict(counts)
    x64, go64, w64 = (t.detach().cpu().double() for t in (x, go, w))
    go2 = go64.reshape(-1, 40)
    wanted = [(go64 @ w64, 40), (go2.t() @ x64.reshape(-1, 24), 15), (go2.sum(0), 15)]
    for on, result, (want, k) in zip(mask, got, wanted):
        if not on:
            assert result is None
            continue
        assert result.dtype == dtype and result.shape == want.shape and result.device == x.device
        _assert_close(result, want, k)


def test_linear_backward_errors():
    if BACKEND not in row_backends("linear_backward"):
        pytest.skip(f"gemforge serves linear_backward on {row_backends('linear_backward')} only")
    x, go, w = make((4, 24), torch.float32), make((4, 40), torch.float32), make((40, 24), torch.float32)
    for args in ((x, go, w[:, :20]), (x, go[:, :30], w), (x, go, w[0])):
        with gemforge.use_gems(backends=[BACKEND]), pytest.raises(RuntimeError, match="linear_backward"):
            aten.linear_backward(*args, [True, True, True])
