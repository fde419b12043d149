"""_convert_weight_to_int4pack (the quantization family; cuda only, as torch): int4 weights, two a
byte, into the B-operand layout of torch's tinygemm kernel, _weight_int4pack_mm.

The layout must be torch's bit for bit, so every result is compared with torch.equal: against
torch's own cuda kernel and against int4pack_reference below, which spells the permutation out.
Shapes: each innerKTiles (2, 4, 8), k from one super-tile up to Llama's 11008, n down to 1 and off
a multiple of 8 (torch's cuda kernel pads the last n-tile with zero rows rather than refusing it),
n = 0. End to end: weights quantized to int4 with per-group scales and zeros, packed by gemforge,
multiplied by torch's _weight_int4pack_mm, against the same product in float64. torch's
exception types for the calls it refuses, and torch's kernel for the cases gemforge leaves to it.

_dyn_quant_pack_4bit_weight (cpu): torch's reference packing where it has no KleidiAI (a float32
concatenation), exact against torch and a reference written here, with torch's errors.
"""

from __future__ import annotations

import pytest
import torch

import gemforge
from conftest import DEVICE, assert_same_error, raised, served_count

OP = "_convert_weight_to_int4pack"
INNER_K_TILES = (2, 4, 8)


def int4pack_reference(w: torch.Tensor, inner_k_tiles: int) -> torch.Tensor:
    """torch's tinygemm B layout, on the cpu. w: uint8 [n][k / 2]; element (row, 2c) of the int4
    matrix is the high nibble of w[row][c], (row, 2c + 1) the low one. Result: int32
    [ceil(n / 8)][k / (inner_k_tiles * 16)][32][inner_k_tiles / 2].

    Word [nt][kt][t][j] is what lane t of an mma m16n8k16 holds of B for column n = nt * 8 + t / 4
    (zero past n) and the two k-tiles kt * inner_k_tiles + 2j and + 1: in each, the B fragment's
    k = 2q, 2q + 1 and 2q + 8, 2q + 9 (q = t % 4). Its nibbles, low to high, are
        nibble m (m = 0..3):      element e_m      e_m = (k-tile 2j + m // 2) * 16 + 2q + 8 * (m % 2)
        nibble m + 4:             element e_m + 1
    (the kernel turns nibbles (m, m + 4) into one bf16 pair, the k-adjacent elements of a register).
    """
    n, half = w.shape
    k = 2 * half
    h = inner_k_tiles // 2
    n_tiles, k_super = -(-n // 8), k // (inner_k_tiles * 16)
    values = torch.zeros(n_tiles * 8, k, dtype=torch.int64)
    values[:n, 0::2] = (w.cpu().to(torch.int64) >> 4) & 0xF
    values[:n, 1::2] = w.cpu().to(torch.int64) & 0xF
    values = values.view(n_tiles, 8, k)

    kt = torch.arange(k_super).view(-1, 1, 1, 1)
    t = torch.arange(32).view(1, -1, 1, 1)
    j = torch.arange(h).view(1, 1, -1, 1)
    m = torch.arange(4).view(1, 1, 1, -1)
    e = (kt * inner_k_tiles + 2 * j + m // 2) * 16 + 2 * (t % 4) + 8 * (m % 2)  # (k_super, 32, h, 4)
    row = (t // 4).expand_as(e)
    even, odd = values[:, row, e], values[:, row, e + 1]                          # (n_tiles, k_super, 32, h, 4)
    word = ((even << (4 * m)) | (odd << (16 + 4 * m))).sum(-1)                    # the nibbles do not overlap
    return torch.where(word >= 2**31, word - 2**32, word).to(torch.int32)


def pack_both(w, inner_k_tiles, *, served=True):
    """torch's kernel's result and gemforge's, which must have served the call (or left it to
    torch, served=False)."""
    expected = torch._convert_weight_to_int4pack(w, inner_k_tiles)
    before = gemforge.fallbacks().get(OP, 0)
    with gemforge.use_gems(backends=["cuda"]), gemforge.collect_stats() as counts:
        got = torch._convert_weight_to_int4pack(w, inner_k_tiles)
    if served:
        assert served_count(counts, OP) == 1, f"not served: {dict(counts)}"
    else:
        assert served_count(counts, OP) == 0 and gemforge.fallbacks().get(OP, 0) > before, dict(counts)
    assert got.dtype == torch.int32 and got.device == w.device and got.is_contiguous()
    assert got.shape == expected.shape, f"shape {tuple(got.shape)}, torch gives {tuple(expected.shape)}"
    return expected, got


def random_weight(n, k):
    return torch.randint(0, 256, (n, k // 2), dtype=torch.uint8, device=DEVICE)


def test_reference_documents_the_layout():
    """One word spelled out: n-tile 0, super-tile 0, lane t = 5 (row 1, q = 1), j = 0."""
    w = torch.zeros(8, 16, dtype=torch.uint8)
    row = 1
    # the bytes lane 5 reads: k-tile 0 bytes 1 and 5 (k = 2, 3 and 10, 11), k-tile 1 bytes 9 and 13
    w[row, 1], w[row, 5], w[row, 9], w[row, 13] = 0x21, 0x43, 0x65, 0x87
    word = int(int4pack_reference(w, 2)[0, 0, 5, 0]) & 0xFFFFFFFF
    assert word == 0x75318642  # low to high: the high nibbles 2 4 6 8, then the low ones 1 3 5 7
    assert int4pack_reference(w, 2)[0, 0, [0, 4, 6, 31], 0].eq(0).all()


@pytest.mark.cuda
@pytest.mark.parametrize("inner_k_tiles", INNER_K_TILES)
@pytest.mark.parametrize("nk", [(8, 256), (1, 256), (12, 128), (33, 512), (64, 96 * 16), (200, 4096),
                                (4096, 4096), (11008, 4096), (4096, 11008)], ids=str)
def test_pack_matches_torch(inner_k_tiles, nk):
    n, k = nk
    if k % (inner_k_tiles * 16):
        pytest.skip("torch refuses k off a multiple of innerKTiles * 16 (test_errors)")
    w = random_weight(n, k)
    expected, got = pack_both(w, inner_k_tiles)
    assert torch.equal(got, expected)
    if n * k <= 512 * 4096:  # the reference builds n * k int64s, twice
        assert torch.equal(got.cpu(), int4pack_reference(w, inner_k_tiles))


@pytest.mark.cuda
@pytest.mark.parametrize("inner_k_tiles", INNER_K_TILES)
def test_pack_every_k(inner_k_tiles):
    """Each k from one super-tile to 40: the warp covers 64 bytes a row, so k / 2 % 64 is the
    part of the last segment that is packed."""
    for supers in range(1, 41):
        k = supers * inner_k_tiles * 16
        w = random_weight(21, k)
        expected, got = pack_both(w, inner_k_tiles)
        assert torch.equal(got, expected), f"k = {k}"
        assert torch.equal(got.cpu(), int4pack_reference(w, inner_k_tiles)), f"k = {k}"


@pytest.mark.cuda
def test_pack_extreme_bytes():
    """All-ones and all-zero nibbles: the sign bit of the int32 words."""
    for value in (0x00, 0xFF, 0xF0, 0x0F, 0x80, 0x08):
        w = torch.full((16, 256), value, dtype=torch.uint8, device=DEVICE)
        for inner_k_tiles in INNER_K_TILES:
            expected, got = pack_both(w, inner_k_tiles)
            assert torch.equal(got, expected)
            assert torch.equal(got.cpu(), int4pack_reference(w, inner_k_tiles))


@pytest.mark.cuda
def test_pack_no_rows():
    """n = 0: the empty result. (Not compared with torch's kernel: it launches an empty grid and
    leaves the launch error behind for the next kernel check.)"""
    w = torch.empty((0, 128), dtype=torch.uint8, device=DEVICE)
    with gemforge.use_gems(backends=["cuda"]):
        got = torch._convert_weight_to_int4pack(w, 8)
    assert got.shape == (0, 2, 32, 4) and got.dtype == torch.int32
    torch.cuda.synchronize()


@pytest.mark.cuda
def test_pack_views_and_torch_cases():
    """A contiguous view at a row offset is served; one 1 byte off 16-byte alignment runs torch's
    kernel; both give torch's result."""
    w = random_weight(24, 512)
    expected, got = pack_both(w[8:], 4)  # rows start 256 bytes apart
    assert torch.equal(got, expected)
    flat = torch.randint(0, 256, (24 * 256 + 1,), dtype=torch.uint8, device=DEVICE)
    expected, got = pack_both(flat[1:].view(24, 256), 4, served=False)
    assert torch.equal(got, expected)


@pytest.mark.cuda
def test_pack_on_a_side_stream():
    w = random_weight(256, 4096)
    expected = torch._convert_weight_to_int4pack(w, 8)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), gemforge.use_gems(backends=["cuda"]):
        got = torch._convert_weight_to_int4pack(w, 8)
    torch.cuda.current_stream().wait_stream(stream)
    assert torch.equal(got, expected)


@pytest.mark.cuda
def test_errors():
    """torch's exception types (RuntimeError from its TORCH_CHECKs) for what it refuses."""
    w = random_weight(16, 256)
    cases = [
        lambda: torch._convert_weight_to_int4pack(w, 1),                          # innerKTiles
        lambda: torch._convert_weight_to_int4pack(w, 3),
        lambda: torch._convert_weight_to_int4pack(w, 16),
        lambda: torch._convert_weight_to_int4pack(w, 0),
        lambda: torch._convert_weight_to_int4pack(w.to(torch.int8), 2),           # dtype
        lambda: torch._convert_weight_to_int4pack(w.to(torch.int32), 2),
        lambda: torch._convert_weight_to_int4pack(w[:, :24], 2),                  # k = 48: off 32, non-contiguous
        lambda: torch._convert_weight_to_int4pack(w[:, :24].contiguous(), 2),     # k = 48: off 32
        lambda: torch._convert_weight_to_int4pack(w[:, :32].contiguous(), 8),     # k = 64 < 128
        lambda: torch._convert_weight_to_int4pack(w[:, :0].contiguous(), 2),      # k = 0
        lambda: torch._convert_weight_to_int4pack(w.t().contiguous().t(), 2),     # transposed
        lambda: torch._convert_weight_to_int4pack(w[::2], 2),                     # every other row
        lambda: torch._convert_weight_to_int4pack(w[0], 2),                       # 1-d
        lambda: torch._convert_weight_to_int4pack(w.view(2, 8, 128), 2),          # 3-d
    ]
    refused = 0
    for fn in cases:
        torch_error = raised(fn)
        with gemforge.use_gems(backends=["cuda"]):
            gems_error = raised(fn)
        if torch_error is None:
            assert gems_error is None
            continue
        refused += 1
        assert isinstance(torch_error, RuntimeError), repr(torch_error)
        assert_same_error(torch_error, gems_error)
    assert refused >= 12, "torch accepted most of these calls: the cases no longer test errors"


# ---- end to end: gemforge's packing feeds torch's _weight_int4pack_mm ----------------------------

def quantized_weight(n, k, group):
    """int4 values q (n, k) in [0, 15], packed two a byte, and per-group bf16 scales and zeros in
    tinygemm's qScaleAndZeros [k / group][n][2]: weight = (q - 8) * scale + zero."""
    q = torch.randint(0, 16, (n, k), dtype=torch.int32, device=DEVICE)
    packed = ((q[:, 0::2] << 4) | q[:, 1::2]).to(torch.uint8)
    scales = (torch.rand(k // group, n, device=DEVICE) * 0.02 + 0.005).to(torch.bfloat16)
    zeros = (torch.randn(k // group, n, device=DEVICE) * 0.02).to(torch.bfloat16)
    return q, packed, torch.stack([scales, zeros], dim=2).contiguous()


def dequantized(q, scale_and_zeros, group):
    """The weight (n, k) that tinygemm multiplies: (q - 8) * scale + zero, exact in float64, then
    rounded once to bf16 as its fma.rn.bf16x2 does."""
    scale = scale_and_zeros[..., 0].double().t().repeat_interleave(group, dim=1)  # (n, k)
    zero = scale_and_zeros[..., 1].double().t().repeat_interleave(group, dim=1)
    return ((q.double() - 8) * scale + zero).to(torch.bfloat16).double()


@pytest.mark.cuda
@pytest.mark.parametrize("inner_k_tiles", INNER_K_TILES)
@pytest.mark.parametrize("group", [32, 64, 128])
@pytest.mark.parametrize("mnk", [(1, 256, 1024), (16, 4096, 4096), (37, 512, 768)], ids=str)
def test_weight_int4pack_mm_end_to_end(inner_k_tiles, group, mnk):
    m, n, k = mnk
    if k % (inner_k_tiles * 16) or k % group:
        pytest.skip("k off the packing's or the groups' multiple")
    q, packed, scale_and_zeros = quantized_weight(n, k, group)
    x = torch.randn(m, k, device=DEVICE).to(torch.bfloat16)
    with gemforge.use_gems(backends=["cuda"]), gemforge.collect_stats() as counts:
        b = torch._convert_weight_to_int4pack(packed, inner_k_tiles)
    assert served_count(counts, OP) == 1, dict(counts)
    out = torch._weight_int4pack_mm(x, b, group, scale_and_zeros)
    assert torch.equal(out, torch._weight_int4pack_mm(x, torch._convert_weight_to_int4pack(packed, inner_k_tiles),
                                                      group, scale_and_zeros))

    w = dequantized(q, scale_and_zeros, group).cpu()
    ref = x.double().cpu() @ w.t()
    # bf16 rounding of the result, and fp32 accumulation over k (well inside 1e-5 of sum |x w|)
    atol = 1e-5 * float((x.double().abs().cpu() @ w.abs().t()).max())
    torch.testing.assert_close(out.double().cpu(), ref, rtol=2**-8, atol=atol)


# ---- _dyn_quant_pack_4bit_weight (cpu) -----------------------------------------------------------

DYN = "_dyn_quant_pack_4bit_weight"


def dyn_pack_both(*args):
    expected = torch.ops.aten._dyn_quant_pack_4bit_weight(*args)
    with gemforge.use_gems(backends=["cpu"]), gemforge.collect_stats() as counts:
        got = torch.ops.aten._dyn_quant_pack_4bit_weight(*args)
    assert served_count(counts, DYN) == 1, f"not served: {dict(counts)}"
    return expected, got


@pytest.mark.skipif(torch.backends.kleidiai.is_available(), reason="torch packs for KleidiAI there")
@pytest.mark.parametrize("scale_dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64], ids=str)
@pytest.mark.parametrize("with_bias", [False, True])
def test_dyn_quant_pack(scale_dtype, with_bias):
    """torch's reference packing (no KleidiAI): the weight bytes, scales/zeros and bias flattened
    into one float32 vector, exactly; transposed and 3-d operands are flattened in logical order."""
    n, k, block = 24, 128, 32
    w = torch.randint(0, 256, (n, k // 2), dtype=torch.uint8)
    scales_zeros = (torch.randn(n, k // block, 2) * 1e3).to(scale_dtype)
    bias = torch.randn(n) if with_bias else None
    for args in [(w, scales_zeros, bias, block, k, n), (w, scales_zeros, bias, k, k, n),
                 (w.t(), scales_zeros.transpose(0, 1), bias, 64, k, n), (w.view(n, 2, -1), scales_zeros, bias, block, k, n)]:
        expected, got = dyn_pack_both(*args)
        reference = torch.cat([args[0].reshape(-1).double(), args[1].reshape(-1).double()]
                              + ([bias.double()] if with_bias else [])).float()
        assert got.dtype == torch.float32 and got.is_contiguous()
        assert torch.equal(got, expected) and torch.equal(got, reference)


@pytest.mark.skipif(torch.backends.kleidiai.is_available(), reason="torch packs for KleidiAI there")
def test_dyn_quant_pack_edges_and_errors():
    w = torch.randint(0, 256, (8, 32), dtype=torch.uint8)
    scales_zeros = torch.randn(8, 2, 2)
    for args in [(w[:0], scales_zeros[:0], None, 32, 64, 0), (w, scales_zeros, None, 32, 0, 8),
                 (torch.tensor(7, dtype=torch.uint8), torch.tensor(0.5), torch.randn(1, 1), 32, 64, 8)]:
        expected, got = dyn_pack_both(*args)
        assert torch.equal(got, expected)
    for bad in [(w.to(torch.int8), scales_zeros, None, 32, 64, 8), (w.float(), scales_zeros, None, 32, 64, 8),
                (w, scales_zeros, None, 128, 64, 8), (w, scales_zeros, None, 48, 96, 8)]:
        torch_error = raised(torch.ops.aten._dyn_quant_pack_4bit_weight, *bad)
        with gemforge.use_gems(backends=["cpu"]):
            gems_error = raised(torch.ops.aten._dyn_quant_pack_4bit_weight, *bad)
        assert_same_error(torch_error, gems_error)
        assert str(gems_error).split("\n")[0] == str(torch_error).split("\n")[0]
    # a block size of 0 makes torch's kernel divide by zero (the process dies): gemforge raises
    with gemforge.use_gems(backends=["cpu"]):
        with pytest.raises(RuntimeError, match="Group size should be multiple of 32"):
            torch.ops.aten._dyn_quant_pack_4bit_weight(w, scales_zeros, None, 0, 64, 8)
