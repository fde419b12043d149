// The inference attention ops' work descriptions (reshape_and_cache, paged_decode_attention,
// varlen_attention; semantics in ops/attention_inference.h) and their launchers, one per backend
// (backends/cpu/attention_inference.cpp, backends/cuda/attention_inference.cu). The entry points
// have checked every shape, dtype and alignment; pointers here are to dense tensors unless a
// stride says otherwise. No ATen: c10 types only.
#pragma once

#include "engine/dtypes.h"

#include <cstdint>

namespace gemforge::attn_inf {

// Head dims the attention kernels serve.
inline bool head_dim_served(int64_t d) { return d == 64 || d == 128 || d == 256; }

// Tokens of one split-KV partition of paged decode (one cuda block each).
constexpr int kDecodePartition = 256;

// key/value rows [num_tokens, row] (row = num_kv_heads * head_dim elements, dense; tokens
// `src_stride` elements apart) written to cache row slot[t] of [num_slots, row] caches (dense).
// A negative slot skips its token; a slot >= num_slots raises on the cpu and is skipped on cuda.
struct CacheWrite {
  int elem_size;
  const char* key;
  const char* value;
  char* key_cache;
  char* value_cache;
  const int64_t* slots;
  int64_t num_tokens, row, num_slots;
  int64_t key_stride, value_stride;  // elements between tokens
};

// One query token per sequence: out[s][h] = softmax(scale * q[s][h] . K_s^T) V_s over the
// context_lens[s] first tokens of sequence s, whose token t lives at cache row
// block_tables[s][t / block_size] * block_size + t % block_size. q/out [seqs, heads, dim];
// caches [blocks, block_size, kv_heads, dim]; block_tables [seqs, max_blocks] (int32,
// row stride `table_stride`); head h reads kv head h / (heads / kv_heads).
struct PagedDecode {
  ScalarType dtype;  // Half or BFloat16
  const void* query;
  const void* key_cache;
  const void* value_cache;
  const int32_t* block_tables;
  const int32_t* context_lens;
  void* out;
  int64_t num_seqs, num_heads, num_kv_heads, head_dim;
  int64_t num_blocks, block_size, max_blocks, table_stride;
  int64_t max_context;  // an upper bound of context_lens (sizes the split-KV grid)
  float scale;
  // cuda scratch (fp32) for split-KV: partial outputs [seqs, heads, parts, dim] and per-partition
  // (max, sum) [seqs, heads, parts, 2]; null when a single partition covers max_context.
  float* partial_out;
  float* partial_ml;
  int64_t num_parts;
};

// Packed sequences: q [total_q, heads, dim], k/v [total_k, kv_heads, dim], out like q (all dense);
// sequence b owns q rows cu_q[b]..cu_q[b+1] and k/v rows cu_k[b]..cu_k[b+1]. With `causal`,
// query i of a sequence sees keys j <= i + (len_k - len_q) (aligned bottom-right); a query row
// that sees no key gives zeros.
struct Varlen {
  ScalarType dtype;  // Half or BFloat16
  const void* q;
  const void* k;
  const void* v;
  void* out;
  const int32_t* cu_q;
  const int32_t* cu_k;
  int64_t batch, num_heads, num_kv_heads, head_dim;
  int64_t total_q, total_k;
  int64_t max_seqlen_q, max_seqlen_k;
  float scale;
  bool causal;
};

#define GF_ATTN_INF_LAUNCHERS(dev)                 \
  void reshape_and_cache_##dev(const CacheWrite& w); \
  void paged_decode_##dev(const PagedDecode& p);     \
  void varlen_##dev(const Varlen& v);
GF_ATTN_INF_LAUNCHERS(cpu)
GF_ATTN_INF_LAUNCHERS(cuda)
#undef GF_ATTN_INF_LAUNCHERS

}  // namespace gemforge::attn_inf
