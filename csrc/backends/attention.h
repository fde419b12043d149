// Scaled dot-product attention kernels (FlashAttention-style: online softmax over key tiles,
// no score matrix in memory). Plain descriptions of strided [batch, heads, seq, head_dim]
// operands whose head_dim is contiguous; no ATen.
#pragma once

#include "engine/dtypes.h"

#include <cstdint>

namespace gemforge::attention {

// One strided 4-d operand, [batch, heads, seq, head_dim], head_dim contiguous. Strides in
// elements.
struct Operand {
  void* data;
  int64_t batch_stride, head_stride, row_stride;
};

// Whether o's rows are read in whole 16-byte chunks (the kernels' vector loads): a 16-byte
// aligned base, and strides that are whole chunks of element_bytes-byte elements.
inline bool rows_in_16_byte_chunks(const Operand& o, int element_bytes) {
  const int64_t chunk = 16 / element_bytes;
  return reinterpret_cast<uintptr_t>(o.data) % 16 == 0 && o.batch_stride % chunk == 0 &&
         o.head_stride % chunk == 0 && o.row_stride % chunk == 0;
}

// out = softmax(q k^T * scale + bias + causal mask) v, per (batch, query head); the key and
// value head of query head h is h / (heads_q / heads_kv) (GQA/MQA).
struct Forward {
  ScalarType dtype;          // Half, BFloat16 or Float: q, k, v, out (and bias)
  Operand q, k, v, out;
  int64_t batch, heads_q, heads_kv, seq_q, seq_k, head_dim;
  float scale;
  // Causal: query i sees key j only when j <= i + causal_offset (0: torch's top-left
  // alignment; seq_k - seq_q: bottom-right).
  bool causal;
  int64_t causal_offset;
  // Additive bias (a float mask), in dtype, broadcast through zero strides; null for none.
  const void* bias;
  int64_t bias_batch_stride, bias_head_stride, bias_row_stride, bias_col_stride;
  // Natural-log logsumexp of each score row, float, [batch, heads_q, seq_q] at these strides;
  // null for none. A row that sees no key gets -inf there and zeros in out. Rows seq_q ..
  // lse_rows - 1 (padding that torch's layouts keep) get +inf.
  float* lse;
  int64_t lse_batch_stride, lse_head_stride, lse_rows;
  // Packed sequences (null for dense operands): sequence b is rows cu_seqlens_q[b] ..
  // cu_seqlens_q[b + 1] of q and out and the same span of cu_seqlens_k in k and v, whose batch
  // strides are then 0; seq_q and seq_k are the longest lengths, and the causal mask aligns
  // each sequence bottom-right (causal_offset unused). Only forward_sm90 takes them, without lse.
  const int32_t* cu_seqlens_q;
  const int32_t* cu_seqlens_k;
  int64_t total_q, total_k;  // rows of q and of k (packed sequences only)
};

#ifdef GEMFORGE_WITH_CUDA
namespace cuda {
// Whether the kernel takes this problem: Half/BFloat16, head_dim a multiple of 8 up to 256,
// 16-byte aligned rows, grid dimensions within limits; Float as fp32_supported.
bool supported(const Forward& p);
void forward(const Forward& p);  // on the current stream
// The float32 kernel (attention_fp32.cu, 3xTF32 on tensor cores), used by supported() and
// forward() for Float: head_dim a multiple of 4 up to 128 (beyond 64 only for grids of 6 waves
// of the card or more; torch's kernel is faster on fewer), 16-byte aligned rows, dense operands
// (no packed sequences).
bool fp32_supported(const Forward& p);
void forward_fp32(const Forward& p);
// The Hopper kernel (attention_fwd_sm90.cu), used by forward(): false where it does not apply
// (another card, head dims other than 64/128/256, a bias not in 16-byte aligned rows or with
// packed sequences), having launched nothing. The only path for packed sequences.
bool forward_sm90(const Forward& p);
// Whether forward_sm90 takes p. With a bias only it is faster than torch's kernels (1.1-2x
// cudnn's); the other kernel's bias path runs at a third of theirs.
bool sm90_takes(const Forward& p);
}  // namespace cuda
#endif

}  // namespace gemforge::attention
