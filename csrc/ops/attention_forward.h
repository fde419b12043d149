// The attention forward kernel's problem (backends/attention.h) built from tensors, shared by
// the fused SDPA ops (ops/attention.cpp) and varlen_attention (ops/attention_inference.cpp).
#pragma once

#include "backends/attention.h"
#include "ops/ops.h"

#include <cstdint>
#include <optional>

namespace gemforge::ops {

#ifdef GEMFORGE_WITH_CUDA
// Packed sequences: sequence b is rows cu_seqlens_q[b] .. cu_seqlens_q[b + 1] of q and out and
// the same span of cu_seqlens_k in k and v (int32 device pointers, batch + 1 entries each).
struct PackedSeqs {
  const int32_t* cu_seqlens_q;
  const int32_t* cu_seqlens_k;
  int64_t batch, max_seqlen_q, max_seqlen_k;
};

// Fills f with out = softmax(q k^T * scale) v (scale: 1/sqrt(head_dim) when absent) and returns
// whether the kernel takes it (attention::cuda::supported); false, f unspecified, otherwise.
// - dense (packed null): [batch, heads, seq, head_dim] views; false unless fp16/bf16/fp32 on one cuda
//   device, head dims equal and contiguous, query heads a multiple of the key/value heads, at
//   least one key. lse: float [batch, heads, rows >= seq_q] (rows past seq_q get +inf), or
//   undefined. The causal mask aligns query i with key i + causal_offset.
// - packed: [tokens, heads, head_dim] rows the caller has checked; no lse, the causal mask
//   aligns each sequence bottom-right.
bool attention_forward_problem(attention::Forward& f, const Tensor& q, const Tensor& k, const Tensor& v,
                               const Tensor& out, const Tensor& lse, std::optional<double> scale, bool causal,
                               int64_t causal_offset, const PackedSeqs* packed = nullptr);
#endif

}  // namespace gemforge::ops
