"""Inference attention ops (torch.ops.gemforge.*): paged decode attention, the KV-cache write
and varlen prefill. These are custom ops, not aten overrides: a case's run() calls gemforge's op
while gemforge is enabled (inside the harness's use_gems()) and the same math in plain torch ops
otherwise, so "served" stays empty for them.

- decode: one query token per sequence, 32 heads over 8 kv heads (GQA 4), head_dim 128, block
  size 16 with shuffled block tables, batch 1/16/64, contexts 4k/16k/32k. torch: the pages
  gathered per sequence (k_cache[block_tables]) and one SDPA call whose "query positions" are
  the 4 query heads of each kv head (the same math, no GQA expansion). bytes = the K and V
  bytes the op must read + q + out, so GB/s compares with the copy ceiling.
- reshape_and_cache: 64 decode tokens and 8192 prefill tokens into a cache; torch: index_copy_
  of the rows into the flattened caches. bytes = key and value read + written.
- varlen: 8 sequences of 1024 tokens (and 2048), causal, 32 heads, hd128; torch: SDPA over the
  same sequences as one padded batch (equal lengths). flops = 4 * S^2 * D * heads * batch / 2.
"""

from __future__ import annotations

import torch

import gemforge

from .harness import DTYPES, Case, Family
from .report import bandwidth_line

FAMILY_NAME = "attention_inference"

HEADS, KV_HEADS, DIM, BLOCK = 32, 8, 128, 16


def _decode_shapes(device, quick):
    if device == "cuda" and not quick:
        return [(b, c) for b in (1, 16, 64) for c in (4096, 16384, 32768)]
    if device == "cuda":
        return [(1, 4096), (16, 4096), (64, 4096)]
    return [(1, 256), (4, 128)]


def _paged_inputs(dev, dt, batch, ctx):
    blocks_per_seq = -(-ctx // BLOCK)
    num_blocks = batch * blocks_per_seq
    key_cache = torch.randn(num_blocks, BLOCK, KV_HEADS, DIM, device=dev, dtype=dt)
    value_cache = torch.randn(num_blocks, BLOCK, KV_HEADS, DIM, device=dev, dtype=dt)
    tables = torch.randperm(num_blocks, device=dev).to(torch.int32).view(batch, blocks_per_seq)
    lens = torch.full((batch,), ctx, dtype=torch.int32, device=dev)
    query = torch.randn(batch, HEADS, DIM, device=dev, dtype=dt)
    return query, key_cache, value_cache, tables, lens, ctx


def _decode_torch(x):
    query, key_cache, value_cache, tables, lens, ctx = x
    batch = query.shape[0]
    k = key_cache[tables].flatten(1, 2)[:, :ctx].transpose(1, 2)  # [B, KVH, ctx, D]
    v = value_cache[tables].flatten(1, 2)[:, :ctx].transpose(1, 2)
    q = query.view(batch, KV_HEADS, HEADS // KV_HEADS, DIM)      # the group's heads as positions
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=DIM ** -0.5)
    return out.reshape(batch, HEADS, DIM)


def _decode_run(x):
    if not gemforge.is_enabled():
        return _decode_torch(x)
    query, key_cache, value_cache, tables, lens, ctx = x
    return torch.ops.gemforge.paged_decode_attention(query, key_cache, value_cache, tables, lens,
                                                     DIM ** -0.5, ctx)


def _cache_run(x):
    key, value, key_cache, value_cache, slots = x
    if gemforge.is_enabled():
        torch.ops.gemforge.reshape_and_cache(key, value, key_cache, value_cache, slots)
    else:
        key_cache.view(-1, KV_HEADS, DIM).index_copy_(0, slots, key)
        value_cache.view(-1, KV_HEADS, DIM).index_copy_(0, slots, value)
    return key_cache[:1], value_cache[:1]


def _varlen_run(x):
    q, k, v, cu, seq = x
    batch = (q.shape[0]) // seq
    if gemforge.is_enabled():
        return torch.ops.gemforge.varlen_attention(q, k, v, cu, cu, seq, seq, DIM ** -0.5, True)
    qb = q.view(batch, seq, HEADS, DIM).transpose(1, 2)
    kb = k.view(batch, seq, KV_HEADS, DIM).transpose(1, 2)
    vb = v.view(batch, seq, KV_HEADS, DIM).transpose(1, 2)
    out = torch.nn.functional.scaled_dot_product_attention(qb, kb, vb, is_causal=True, scale=DIM ** -0.5,
                                                           enable_gqa=True)
    return out.transpose(1, 2).reshape(q.shape)


def cases(setup):
    dev = setup.device
    for dtype in ("bf16", "fp16"):
        if not setup.wants_dtype(dtype):
            continue
        dt = DTYPES[dtype]
        es = 2
        if setup.wants_op("paged_decode_attention"):
            for batch, ctx in _decode_shapes(dev, setup.quick):
                kv_bytes = 2 * batch * ctx * KV_HEADS * DIM * es
                yield Case(family=FAMILY_NAME, op="paged_decode_attention", name=f"gqa{HEADS // KV_HEADS}",
                           dtype=dtype, shape=f"b{batch} ctx{ctx} h{HEADS}/{KV_HEADS} d{DIM}",
                           make_inputs=lambda dt=dt, b=batch, c=ctx: _paged_inputs(dev, dt, b, c),
                           run=_decode_run, bytes=kv_bytes + 2 * batch * HEADS * DIM * es)
        if setup.wants_op("reshape_and_cache"):
            for tokens in ((64, 8192) if dev == "cuda" else (16, 256)):
                slots_total = 4 * tokens

                def make(dt=dt, tokens=tokens, slots_total=slots_total):
                    key = torch.randn(tokens, KV_HEADS, DIM, device=dev, dtype=dt)
                    value = torch.randn(tokens, KV_HEADS, DIM, device=dev, dtype=dt)
                    cache = torch.zeros(slots_total // BLOCK, BLOCK, KV_HEADS, DIM, device=dev, dtype=dt)
                    slots = torch.randperm(slots_total, device=dev)[:tokens]
                    return key, value, cache, cache.clone(), slots

                yield Case(family=FAMILY_NAME, op="reshape_and_cache", name="", dtype=dtype,
                           shape=f"{tokens} tokens h{KV_HEADS} d{DIM}", make_inputs=make, run=_cache_run,
                           bytes=2 * 2 * tokens * KV_HEADS * DIM * es + tokens * 8)
        if setup.wants_op("varlen_attention"):
            for batch, seq in ([(8, 1024), (4, 2048)] if dev == "cuda" and not setup.quick else [(2, 64)]):
                def make(dt=dt, batch=batch, seq=seq):
                    q = torch.randn(batch * seq, HEADS, DIM, device=dev, dtype=dt)
                    k = torch.randn(batch * seq, KV_HEADS, DIM, device=dev, dtype=dt)
                    v = torch.randn(batch * seq, KV_HEADS, DIM, device=dev, dtype=dt)
                    cu = torch.arange(0, (batch + 1) * seq, seq, device=dev, dtype=torch.int32)
                    return q, k, v, cu, seq

                yield Case(family=FAMILY_NAME, op="varlen_attention", name="causal", dtype=dtype,
                           shape=f"b{batch} s{seq} h{HEADS}/{KV_HEADS} d{DIM}", make_inputs=make,
                           run=_varlen_run, flops=2 * batch * HEADS * seq * seq * DIM)


def summarize(results, setup):
    lines = []
    for r in results:
        if not r.speedup:
            continue
        if r.case.flops:
            lines.append((f"{r.case.op} {r.case.dtype} {r.case.shape}",
                          f"{r.tflops or 0:.1f} TFLOP/s (torch {r.torch_tflops or 0:.1f}), "
                          f"{r.speedup:.2f}x torch"))
        else:
            lines.append((f"{r.case.op} {r.case.dtype} {r.case.shape}", bandwidth_line(r)))
    return lines


FAMILY = Family(FAMILY_NAME, cases, summarize)
