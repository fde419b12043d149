"""Inference attention ops (torch.ops.gemforge.*, issue 6): reshape_and_cache,
paged_decode_attention and varlen_attention, against float64 math references built from the
same inputs (pages gathered per sequence, sequences cut out of the packed tensors).

They are custom ops, not aten overrides: they run without enable(), on the cpu through the
reference loops and on cuda through the kernels. Covered: float16/bfloat16, head dims 64/128/256,
GQA ratios 1/4/8, block sizes 16/32 with shuffled block tables, contexts that are not multiples
of the block size nor of the cuda split-KV partition (256 tokens), context 1 and 0, batch 1 and
64, causal masks aligned bottom-right (len_q < len_k, len_q > len_k: rows that see no key give
zeros), empty sequences, strided key/value for the cache write, skipped (-1) slots, error checks,
and torch.library.opcheck (schema, fake kernels, aot dispatch).

Tolerance: the result is a convex combination of value rows, rounded once to the output dtype;
the dtype's rtol plus an atol of a few output ulps (scores and sums are fp32).
"""

from __future__ import annotations

import math

import pytest
import torch

import gemforge  # noqa: F401  (loads the ops)
from conftest import DEVICE

HALF = [torch.float16, torch.bfloat16]
ATOL = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2}
RTOL = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2}

ops = torch.ops.gemforge


def rand(shape, dtype, gen):
    return torch.randn(shape, generator=gen, dtype=torch.float32).to(dtype).to(DEVICE)


def assert_close(actual, expected):
    assert actual.dtype in HALF and actual.device.type == DEVICE
    torch.testing.assert_close(actual.double().cpu(), expected, rtol=RTOL[actual.dtype],
                               atol=ATOL[actual.dtype])


def attention_ref(q, k, v, scale, visible):
    """q [lq, H, D], k/v [lk, KVH, D] (float64); visible [lq, lk] bool; rows without a visible
    key give zeros."""
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    scores = torch.einsum("qhd,khd->hqk", q, k) * scale
    scores = scores.masked_fill(~visible, -math.inf)
    probs = torch.softmax(scores, dim=-1).nan_to_num(0.0)
    return torch.einsum("hqk,khd->qhd", probs, v)


# ---- paged decode ------------------------------------------------------------------------------

def paged_case(dtype, seqs, heads, kv_heads, dim, block_size, context_lens, seed=0, spare_blocks=3):
    """A paged cache holding each sequence's context in shuffled blocks, and its query."""
    gen = torch.Generator().manual_seed(seed)
    blocks_per_seq = [max(1, -(-c // block_size)) for c in context_lens]
    max_blocks = max(blocks_per_seq) + 1  # a spare column: tables wider than needed
    num_blocks = sum(blocks_per_seq) + spare_blocks
    order = torch.randperm(num_blocks, generator=gen)
    tables = torch.zeros(seqs, max_blocks, dtype=torch.int32)
    used = 0
    for s, n in enumerate(blocks_per_seq):
        tables[s, :n] = order[used:used + n].to(torch.int32)
        used += n
    key_cache = rand((num_blocks, block_size, kv_heads, dim), dtype, gen)
    value_cache = rand((num_blocks, block_size, kv_heads, dim), dtype, gen)
    query = rand((seqs, heads, dim), dtype, gen)
    lens = torch.tensor(context_lens, dtype=torch.int32)
    return query, key_cache, value_cache, tables.to(DEVICE), lens.to(DEVICE)


def paged_ref(query, key_cache, value_cache, tables, lens, scale):
    q = query.double().cpu()
    kc = key_cache.double().cpu().flatten(0, 1)  # [slots, KVH, D]
    vc = value_cache.double().cpu().flatten(0, 1)
    block_size = key_cache.shape[1]
    tables, lens = tables.cpu().long(), lens.cpu().long()
    out = torch.zeros_like(q)
    for s in range(q.shape[0]):
        ctx = int(lens[s])
        t = torch.arange(ctx)
        rows = tables[s, t // block_size] * block_size + t % block_size
        visible = torch.ones(1, ctx, dtype=torch.bool)
        out[s] = attention_ref(q[s:s + 1], kc[rows], vc[rows], scale, visible)[0]
    return out


def run_paged(*case, scale=None, max_context_len=None):
    query = case[0]
    scale = query.shape[-1] ** -0.5 if scale is None else scale
    out = ops.paged_decode_attention(*case, scale, max_context_len)
    assert out.shape == query.shape and out.dtype == query.dtype
    assert_close(out, paged_ref(*case, scale))
    return out


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("group", [1, 4, 8])
@pytest.mark.parametrize("block_size", [16, 32])
def test_paged_decode_gqa(dtype, group, block_size):
    # contexts: 1, shorter than a block, not a multiple of the block nor of the 256-token partition
    lens = [1, 7, block_size, 3 * block_size + 5, 300, 529]
    run_paged(*paged_case(dtype, len(lens), 2 * group, 2, 64, block_size, lens, seed=group))


@pytest.mark.parametrize("dim", [64, 128, 256])
def test_paged_decode_head_dims(dim):
    lens = [1, 45, 260]
    run_paged(*paged_case(torch.bfloat16, len(lens), 8, 2, dim, 16, lens, seed=dim), scale=0.3)


def test_paged_decode_mqa():
    # 16 query heads on one kv head: more than the 8 heads a cuda thread sums at a time
    run_paged(*paged_case(torch.float16, 2, 16, 1, 64, 16, [3, 300], seed=4))


def test_paged_decode_batch1_long():
    # several split-KV partitions, the last one partly filled
    run_paged(*paged_case(torch.float16, 1, 8, 1, 128, 32, [1500], seed=5))


def test_paged_decode_batch64():
    gen = torch.Generator().manual_seed(6)
    lens = torch.randint(1, 90, (64,), generator=gen).tolist()
    lens[0], lens[1], lens[2] = 1, 257, 0  # 257: two partitions on cuda; 0: zeros
    run_paged(*paged_case(torch.bfloat16, 64, 4, 1, 64, 16, lens, seed=6))


def test_paged_decode_empty_context_and_bound():
    case = paged_case(torch.float16, 3, 4, 2, 64, 16, [0, 20, 33], seed=7)
    out = run_paged(*case, max_context_len=33)
    assert out[0].abs().max().item() == 0
    assert not out.isnan().any()


def test_paged_decode_noncontiguous_query():
    query, kc, vc, tables, lens = paged_case(torch.bfloat16, 4, 4, 4, 64, 16, [5, 17, 40, 2], seed=8)
    wide = torch.cat([query, query], dim=-1)[..., :64]  # last dim dense, rows strided
    assert not wide.is_contiguous()
    run_paged(wide, kc, vc, tables, lens)


def test_paged_decode_errors():
    query, kc, vc, tables, lens = paged_case(torch.float16, 2, 4, 2, 64, 16, [5, 9])
    scale = 0.125
    with pytest.raises(TypeError, match="float16 or bfloat16"):
        ops.paged_decode_attention(query.float(), kc.float(), vc.float(), tables, lens, scale)
    with pytest.raises(TypeError, match="caches of query's dtype"):
        ops.paged_decode_attention(query, kc.bfloat16(), vc, tables, lens, scale)
    with pytest.raises(TypeError, match="block_tables"):
        ops.paged_decode_attention(query, kc, vc, tables.long(), lens, scale)
    with pytest.raises(TypeError, match="context_lens"):
        ops.paged_decode_attention(query, kc, vc, tables, lens.long(), scale)
    with pytest.raises(RuntimeError, match="head_dim must be 64, 128 or 256"):
        ops.paged_decode_attention(query[..., :48], kc[..., :48].contiguous(), vc[..., :48].contiguous(),
                                   tables, lens, scale)
    with pytest.raises(RuntimeError, match="multiple of num_kv_heads"):
        ops.paged_decode_attention(query[:, :3], kc, vc, tables, lens, scale)
    with pytest.raises(RuntimeError, match="does not match"):
        ops.paged_decode_attention(query, kc[..., :32], vc[..., :32], tables, lens, scale)
    with pytest.raises(RuntimeError, match="rows of block_tables"):
        ops.paged_decode_attention(query, kc, vc, tables[:1], lens, scale)
    with pytest.raises(RuntimeError, match="value_cache of key_cache's shape"):
        ops.paged_decode_attention(query, kc, vc[:1], tables, lens, scale)
    with pytest.raises(RuntimeError, match="contiguous"):
        ops.paged_decode_attention(query, kc.transpose(1, 2).contiguous().transpose(1, 2), vc, tables,
                                   lens, scale)
    if DEVICE == "cpu":
        with pytest.raises(RuntimeError, match="context_lens"):
            ops.paged_decode_attention(query, kc, vc, tables, lens, scale, 6)
        bad = tables.clone()
        bad[0, 0] = kc.shape[0]
        with pytest.raises(IndexError, match="out of range"):
            ops.paged_decode_attention(query, kc, vc, bad, lens, scale)


# ---- reshape_and_cache -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", HALF + [torch.float32])
@pytest.mark.parametrize("block_size", [16, 32])
def test_reshape_and_cache(dtype, block_size):
    gen = torch.Generator().manual_seed(block_size)
    tokens, kv_heads, dim, num_blocks = 37, 2, 64, 5
    # key and value as slices of a fused projection: tokens strided, each token's row dense
    qkv = rand((tokens, 3, kv_heads, dim), dtype, gen)
    key, value = qkv[:, 1], qkv[:, 2]
    assert not key.is_contiguous()
    key_cache = rand((num_blocks, block_size, kv_heads, dim), dtype, gen)
    value_cache = rand((num_blocks, block_size, kv_heads, dim), dtype, gen)
    slots = torch.randperm(num_blocks * block_size, generator=gen)[:tokens]
    slots[[0, 5, 36]] = -1  # padding tokens: skipped
    expected_k, expected_v = key_cache.clone(), value_cache.clone()
    keep = slots >= 0
    expected_k.flatten(0, 1)[slots[keep].to(DEVICE)] = key[keep.to(DEVICE)]
    expected_v.flatten(0, 1)[slots[keep].to(DEVICE)] = value[keep.to(DEVICE)]
    result = ops.reshape_and_cache(key, value, key_cache, value_cache, slots.to(DEVICE))
    assert result is None
    assert torch.equal(key_cache, expected_k)
    assert torch.equal(value_cache, expected_v)


def test_reshape_and_cache_errors():
    key = torch.zeros(4, 2, 64, dtype=torch.float16, device=DEVICE)
    cache = torch.zeros(2, 16, 2, 64, dtype=torch.float16, device=DEVICE)
    slots = torch.arange(4, device=DEVICE)
    with pytest.raises(TypeError, match="slot_mapping"):
        ops.reshape_and_cache(key, key, cache, cache.clone(), slots.int())
    with pytest.raises(TypeError, match="one dtype"):
        ops.reshape_and_cache(key, key, cache.bfloat16(), cache.bfloat16(), slots)
    with pytest.raises(RuntimeError, match="do not match"):
        ops.reshape_and_cache(key[:, :1], key[:, :1], cache, cache.clone(), slots)
    with pytest.raises(RuntimeError, match="tokens"):
        ops.reshape_and_cache(key, key, cache, cache.clone(), slots[:3])
    with pytest.raises(RuntimeError, match="contiguous"):
        ops.reshape_and_cache(key, key, cache.transpose(0, 1), cache.clone().transpose(0, 1), slots)
    if DEVICE == "cpu":
        with pytest.raises(IndexError, match="out of range"):
            ops.reshape_and_cache(key, key, cache, cache.clone(), slots + 30)


# ---- varlen ------------------------------------------------------------------------------------

def varlen_case(dtype, lens_q, lens_k, heads, kv_heads, dim, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q = rand((sum(lens_q), heads, dim), dtype, gen)
    k = rand((sum(lens_k), kv_heads, dim), dtype, gen)
    v = rand((sum(lens_k), kv_heads, dim), dtype, gen)
    cu_q = torch.tensor([0] + lens_q, dtype=torch.int64).cumsum(0).int().to(DEVICE)
    cu_k = torch.tensor([0] + lens_k, dtype=torch.int64).cumsum(0).int().to(DEVICE)
    return q, k, v, cu_q, cu_k


def varlen_ref(q, k, v, cu_q, cu_k, scale, causal):
    q, k, v = q.double().cpu(), k.double().cpu(), v.double().cpu()
    cu_q, cu_k = cu_q.cpu().tolist(), cu_k.cpu().tolist()
    out = torch.zeros_like(q)
    for b in range(len(cu_q) - 1):
        q0, q1, k0, k1 = cu_q[b], cu_q[b + 1], cu_k[b], cu_k[b + 1]
        lq, lk = q1 - q0, k1 - k0
        i = torch.arange(lq)[:, None]
        j = torch.arange(lk)[None, :]
        visible = (j <= i + (lk - lq)) if causal else torch.ones(lq, lk, dtype=torch.bool)
        out[q0:q1] = attention_ref(q[q0:q1], k[k0:k1], v[k0:k1], scale, visible)
    return out


def run_varlen(lens_q, lens_k, causal, dtype=torch.bfloat16, heads=4, kv_heads=4, dim=64, scale=None,
               seed=0):
    q, k, v, cu_q, cu_k = varlen_case(dtype, lens_q, lens_k, heads, kv_heads, dim, seed)
    scale = dim ** -0.5 if scale is None else scale
    out = ops.varlen_attention(q, k, v, cu_q, cu_k, max(lens_q), max(lens_k), scale, causal)
    assert out.shape == q.shape and out.dtype == q.dtype
    expected = varlen_ref(q, k, v, cu_q, cu_k, scale, causal)
    assert_close(out, expected)
    return out


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("group", [1, 4, 8])
def test_varlen(dtype, causal, group):
    # prefill (len_q == len_k), chunked prefill (len_q < len_k), single tokens, an empty sequence,
    # lengths that are not multiples of any tile
    lens_q = [37, 1, 0, 20, 70]
    lens_k = [37, 1, 0, 53, 70]
    run_varlen(lens_q, lens_k, causal, dtype, heads=2 * group, kv_heads=2, seed=group)


@pytest.mark.parametrize("dim", [64, 128, 256])
def test_varlen_head_dims(dim):
    run_varlen([19, 40], [19, 77], True, torch.float16, heads=2, kv_heads=1, dim=dim, scale=0.2, seed=dim)


@pytest.mark.parametrize("causal", [False, True])
def test_varlen_long(causal):
    # sequences of several 128-row tiles (the Hopper kernel's key ring wraps), one shorter than
    # its keys, one longer
    run_varlen([300, 129, 513], [300, 200, 700], causal, torch.bfloat16, heads=4, kv_heads=2, dim=128,
               seed=int(causal))


def test_varlen_fully_masked_rows():
    # len_q > len_k with a causal mask: the first len_q - len_k rows see no key -> zeros, no NaN;
    # len_k == 0: every row zeros
    out = run_varlen([10, 4], [6, 0], True)
    assert not out.isnan().any()
    assert out[:4].abs().max().item() == 0 and out[10:].abs().max().item() == 0
    assert out[4:10].abs().max().item() > 0


def test_varlen_errors():
    q, k, v, cu_q, cu_k = varlen_case(torch.float16, [5, 3], [5, 3], 4, 2, 64)
    with pytest.raises(TypeError, match="float16 or bfloat16"):
        ops.varlen_attention(q.float(), k.float(), v.float(), cu_q, cu_k, 5, 5, 0.1, False)
    with pytest.raises(TypeError, match="k and v of q's dtype"):
        ops.varlen_attention(q, k.bfloat16(), v, cu_q, cu_k, 5, 5, 0.1, False)
    with pytest.raises(TypeError, match="cu_seqlens_q"):
        ops.varlen_attention(q, k, v, cu_q.long(), cu_k, 5, 5, 0.1, False)
    with pytest.raises(RuntimeError, match="batch \\+ 1"):
        ops.varlen_attention(q, k, v, cu_q, cu_k[:2], 5, 5, 0.1, False)
    with pytest.raises(RuntimeError, match="multiple of num_kv_heads"):
        ops.varlen_attention(q[:, :3], k, v, cu_q, cu_k, 5, 5, 0.1, False)
    with pytest.raises(RuntimeError, match="head_dim must be 64, 128 or 256"):
        ops.varlen_attention(q[..., :32], k[..., :32], v[..., :32], cu_q, cu_k, 5, 5, 0.1, False)
    with pytest.raises(RuntimeError, match="v of k's shape"):
        ops.varlen_attention(q, k, v[:4], cu_q, cu_k, 5, 5, 0.1, False)
    if DEVICE == "cpu":
        with pytest.raises(RuntimeError, match="max_seqlen"):
            ops.varlen_attention(q, k, v, cu_q, cu_k, 4, 5, 0.1, False)
        with pytest.raises(RuntimeError, match="non-decreasing"):
            ops.varlen_attention(q, k, v, cu_q[[0, 2, 1]], cu_k, 8, 8, 0.1, False)


# ---- opcheck: schemas, fake kernels, aot dispatch ----------------------------------------------

def test_opcheck_paged_decode():
    case = paged_case(torch.bfloat16, 3, 4, 2, 64, 16, [1, 20, 40], seed=9)
    torch.library.opcheck(ops.paged_decode_attention, (*case, 0.125, None))


def test_opcheck_varlen():
    q, k, v, cu_q, cu_k = varlen_case(torch.float16, [5, 9], [7, 9], 4, 2, 64, seed=10)
    torch.library.opcheck(ops.varlen_attention, (q, k, v, cu_q, cu_k, 9, 9, 0.125, True))


def test_opcheck_reshape_and_cache():
    key = torch.randn(6, 2, 64, device=DEVICE).half()
    cache = torch.zeros(2, 16, 2, 64, dtype=torch.float16, device=DEVICE)
    slots = torch.tensor([3, -1, 0, 31, 17, 8], device=DEVICE)
    torch.library.opcheck(ops.reshape_and_cache, (key, key * 2, cache, cache.clone(), slots))


def test_python_wrappers():
    case = paged_case(torch.float16, 2, 4, 4, 64, 16, [3, 30], seed=11)
    out = gemforge.attention.paged_decode_attention(*case)
    assert_close(out, paged_ref(*case, 64 ** -0.5))
    q, k, v, cu_q, cu_k = varlen_case(torch.float16, [5, 9], [7, 9], 4, 2, 64, seed=12)
    out = gemforge.attention.varlen_attention(q, k, v, cu_q, cu_k, 9, 9, causal=True)
    assert_close(out, varlen_ref(q, k, v, cu_q, cu_k, 64 ** -0.5, True))
