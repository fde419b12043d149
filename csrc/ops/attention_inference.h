// Inference attention ops in the gemforge namespace (torch.ops.gemforge.*), defined in
// ops/attention_inference.cpp whenever the library is loaded (they are not aten overrides, so
// enable()/disable() do not touch them). cpu (reference loops) and cuda kernels; fake kernels
// for torch.compile in python/gemforge/attention.py. Semantics follow vLLM's ops:
//
// reshape_and_cache(Tensor key, Tensor value, Tensor(a!) key_cache, Tensor(b!) value_cache,
//                   Tensor slot_mapping) -> ()
//   key, value     [num_tokens, num_kv_heads, head_dim] (token stride free, the rest dense)
//   key_cache,
//   value_cache    [num_blocks, block_size, num_kv_heads, head_dim], contiguous, key's dtype
//   slot_mapping   int64 [num_tokens]: slot = block * block_size + offset; token t is written to
//                  cache[slot / block_size][slot % block_size]. A negative slot skips the token
//                  (padding). A slot >= num_blocks * block_size raises IndexError on the cpu and
//                  is skipped on cuda (no host sync to raise there).
//
// paged_decode_attention(Tensor query, Tensor key_cache, Tensor value_cache, Tensor block_tables,
//                        Tensor context_lens, float scale, int? max_context_len=None) -> Tensor
//   query          [num_seqs, num_heads, head_dim]: one query token per sequence
//   key_cache,
//   value_cache    [num_blocks, block_size, num_kv_heads, head_dim], contiguous
//   block_tables   int32 [num_seqs, max_blocks]: the cache blocks of each sequence, in order
//   context_lens   int32 [num_seqs]: sequence s attends to its first context_lens[s] tokens,
//                  token t at key_cache[block_tables[s][t / block_size]][t % block_size]
//   scale          multiplies q.k before the softmax (usually head_dim ** -0.5)
//   max_context_len  optional upper bound of context_lens (sizes the cuda grid without reading
//                  context_lens on the host; default max_blocks * block_size). A context beyond
//                  it raises on the cpu and is cut to it on cuda.
//   -> out [num_seqs, num_heads, head_dim], query's dtype. GQA/MQA: num_heads a multiple of
//   num_kv_heads, head h reads kv head h / (num_heads / num_kv_heads). float16/bfloat16,
//   head_dim 64, 128 or 256; fp32 accumulation. A context of 0 tokens gives zeros.
//   cuda: split-KV (flash-decoding): partitions of 256 tokens run in separate blocks (all query
//   heads of one kv head together, so each K/V load serves the whole group), a second kernel
//   combines them through each partition's max and sum.
//
// varlen_attention(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q, Tensor cu_seqlens_k,
//                  int max_seqlen_q, int max_seqlen_k, float scale, bool causal) -> Tensor
//   q              [total_q, num_heads, head_dim], packed sequences
//   k, v           [total_k, num_kv_heads, head_dim] (GQA as above)
//   cu_seqlens_q,
//   cu_seqlens_k   int32 [batch + 1], non-decreasing from 0: sequence b owns q rows
//                  cu_seqlens_q[b] .. cu_seqlens_q[b+1] and k/v rows cu_seqlens_k[b] .. [b+1]
//   max_seqlen_q,
//   max_seqlen_k   upper bounds of the sequence lengths (size the cuda grid; a longer sequence
//                  raises on the cpu and is cut to it on cuda)
//   causal         query i of a sequence (0-based) sees keys j <= i + (len_k - len_q): the mask
//                  is aligned to the bottom-right corner, as FlashAttention's varlen does, so
//                  the last query sees every key; with len_q > len_k the first len_q - len_k
//                  queries see no key.
//   -> out like q. A query row that sees no key (causal as above, or len_k = 0) gives zeros.
//   float16/bfloat16, head_dim 64, 128 or 256; fp32 accumulation. cuda: tensor cores (mma.sync
//   m16n8k16, 64-query tiles, online softmax), the probabilities rounded to the input dtype
//   before P.V as FlashAttention does; GEMFORGE_VARLEN_SIMT=1 picks a CUDA-core kernel instead.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

namespace gemforge::ops {

using at::Tensor;

void reshape_and_cache(const Tensor& key, const Tensor& value, const Tensor& key_cache,
                       const Tensor& value_cache, const Tensor& slot_mapping);

Tensor paged_decode_attention(const Tensor& query, const Tensor& key_cache, const Tensor& value_cache,
                              const Tensor& block_tables, const Tensor& context_lens, double scale,
                              std::optional<int64_t> max_context_len);

Tensor varlen_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu_seqlens_q,
                        const Tensor& cu_seqlens_k, int64_t max_seqlen_q, int64_t max_seqlen_k,
                        double scale, bool causal);

}  // namespace gemforge::ops
