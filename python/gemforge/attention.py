"""Fake (meta) kernels of the inference attention ops, so that torch.compile can trace them.

The ops themselves (torch.ops.gemforge.reshape_and_cache, paged_decode_attention,
varlen_attention) are defined in the compiled library whenever it is loaded; their semantics
are documented in csrc/ops/attention_inference.h. They do not depend on enable().
"""

from __future__ import annotations

import torch

from . import _C  # noqa: F401  (loads the library that defines the ops)

__all__ = ["reshape_and_cache", "paged_decode_attention", "varlen_attention"]


@torch.library.register_fake("gemforge::reshape_and_cache")
def _reshape_and_cache_fake(key, value, key_cache, value_cache, slot_mapping):
    return None


@torch.library.register_fake("gemforge::paged_decode_attention")
def _paged_decode_attention_fake(query, key_cache, value_cache, block_tables, context_lens, scale,
                                 max_context_len=None):
    torch._check(query.dim() == 3, lambda: "paged_decode_attention: query must be 3-d")
    return query.new_empty(query.shape)


@torch.library.register_fake("gemforge::varlen_attention")
def _varlen_attention_fake(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, scale,
                           causal=False):
    torch._check(q.dim() == 3, lambda: "varlen_attention: q must be 3-d")
    return q.new_empty(q.shape)


def reshape_and_cache(key, value, key_cache, value_cache, slot_mapping) -> None:
    """Write key/value [tokens, kv_heads, head_dim] into the paged caches at slot_mapping."""
    torch.ops.gemforge.reshape_and_cache(key, value, key_cache, value_cache, slot_mapping)


def paged_decode_attention(query, key_cache, value_cache, block_tables, context_lens, scale=None,
                           max_context_len=None):
    """One query token per sequence against its paged KV cache; scale defaults to head_dim**-0.5."""
    if scale is None:
        scale = query.shape[-1] ** -0.5
    return torch.ops.gemforge.paged_decode_attention(query, key_cache, value_cache, block_tables,
                                                     context_lens, float(scale), max_context_len)


def varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, scale=None,
                     causal=False):
    """Attention over packed sequences (causal aligned bottom-right); scale defaults to head_dim**-0.5."""
    if scale is None:
        scale = q.shape[-1] ** -0.5
    return torch.ops.gemforge.varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, int(max_seqlen_q),
                                               int(max_seqlen_k), float(scale), bool(causal))
