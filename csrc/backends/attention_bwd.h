// Scaled dot-product attention backward (FlashAttention-2's scheme: recompute the scores per
// key block, no score matrix in memory). Plain descriptions, no ATen; operands as in
// backends/attention.h: strided [batch, heads, seq, head_dim] with head_dim contiguous.
#pragma once

#include "backends/attention.h"

#include <cstdint>

namespace gemforge::attention {

// Gradients of out = softmax(q k^T * scale + causal mask) v, per (batch, query head); the key
// and value head of query head h is h / (heads_q / heads_kv) (GQA/MQA), so grad_k and
// grad_v of a kv head sum over the query heads of its group.
struct Backward {
  ScalarType dtype;  // Half, BFloat16 or Float: every operand below
  Operand q, k, v, out, grad_out;
  Operand grad_q;          // [batch, heads_q, seq_q, head_dim]; ignored when dq_wanted is false
  Operand grad_k, grad_v;  // [batch, heads_kv, seq_k, head_dim]
  bool dq_wanted;
  int64_t batch, heads_q, heads_kv, seq_q, seq_k, head_dim;
  float scale;
  // Causal: query i sees key j only when j <= i + causal_offset (0: top-left, torch's
  // efficient kernel).
  bool causal;
  int64_t causal_offset;
  // The forward's natural-log logsumexp rows, float, [batch, heads_q, >= seq_q] at these strides
  // (a row that saw no key holds -inf).
  const float* lse;
  int64_t lse_batch_stride, lse_head_stride;
  // fp32 scratch of workspace_floats(*this) floats, 16-byte aligned (per-row statistics and
  // the dQ accumulator); the kernels initialise it.
  float* workspace;
};

#ifdef GEMFORGE_WITH_CUDA
namespace cuda {
// Floats of scratch that backward() needs.
int64_t workspace_floats(const Backward& p);
// Whether the kernels take this problem: non-empty, Half/BFloat16, head_dim a multiple of 8 up to 256
// (when the card has the shared memory for it), 16-byte aligned rows, grid within limits,
// a card of compute capability 8.0 or newer; Float as fp32_supported.
bool supported(const Backward& p);
void backward(const Backward& p);  // on the current stream
// The float32 kernels (attention_fp32_bwd.cu, 3xTF32), used by the three above for Float: head
// dims a multiple of 4 up to 64, equal heads, 16-byte aligned rows.
int64_t fp32_workspace_floats(const Backward& p);
bool fp32_supported(const Backward& p);
void backward_fp32(const Backward& p);
}  // namespace cuda
#endif

}  // namespace gemforge::attention
