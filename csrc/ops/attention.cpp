// The attention family: torch's fused SDPA ops served by gemforge's FlashAttention-style kernel
// (backends/cuda/attention_fwd.cu) where it is faster than torch's, torch's own kernel elsewhere.
//
// What is served, and why only that (H100, bf16, B4 H32 S4096 D128; benchmarks/results/h100/):
// - `_scaled_dot_product_efficient_attention` without dropout or bias: our kernel (wgmma on
//   Hopper) runs at 243 TFLOP/s against 177 for torch's memory-efficient kernel (1.2-1.5x over
//   the shapes benchmarked). With a bias ours reads it element by element (94 TFLOP/s at
//   S2048, torch 304): torch keeps it.
// - Not the flash and cudnn ops: torch's cudnn kernel (its default pick for fp16/bf16 on
//   Hopper) reaches 650 TFLOP/s and its flash kernel 320. Passing them takes FlashAttention-3's
//   structure (TMA, warp specialization, softmax overlapped with the products): issue 6.
// The backward ops stay torch's; the forward's outputs have exactly the layout and meaning of
// torch's (natural-log logsumexp rows), so torch's backward takes them.
#include "ops/attention.h"

#include "backends/attention.h"
#include "registry/calls.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include <cmath>

#ifdef GEMFORGE_WITH_CUDA
#include <ATen/ops/_scaled_dot_product_efficient_attention_cuda_dispatch.h>
#endif

namespace gemforge::ops {
namespace {

attention::Operand operand(const Tensor& t) {
  return {t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)};
}

}  // namespace

std::tuple<Tensor, Tensor, Tensor, Tensor> scaled_dot_product_efficient_attention(
    const Tensor& query, const Tensor& key, const Tensor& value, const std::optional<Tensor>& attn_bias,
    bool compute_log_sumexp, double dropout_p, bool is_causal, std::optional<double> scale) {
#ifdef GEMFORGE_WITH_CUDA
  // Torch's kernel checks the arguments and raises for what neither of us takes; we take the
  // plain case only: dense 4-d fp16/bf16 on one device, equal heads, equal head dims.
  const bool plain = dropout_p == 0.0 && !(attn_bias && attn_bias->defined()) && query.dim() == 4 &&
      key.dim() == 4 && value.dim() == 4 && query.is_cuda() && key.device() == query.device() &&
      value.device() == query.device() && key.scalar_type() == query.scalar_type() &&
      value.scalar_type() == query.scalar_type() && key.size(0) == query.size(0) &&
      value.size(0) == query.size(0) && key.size(1) == query.size(1) && value.size(1) == query.size(1) &&
      value.size(2) == key.size(2) && key.size(3) == query.size(3) && value.size(3) == query.size(3) &&
      query.stride(3) == 1 && key.stride(3) == 1 && value.stride(3) == 1;
  if (plain) {
    const int64_t B = query.size(0), H = query.size(1), Sq = query.size(2), Sk = key.size(2), D = query.size(3);
    attention::Forward p{};
    p.dtype = query.scalar_type();
    p.q = operand(query);
    p.k = operand(key);
    p.v = operand(value);
    p.batch = B;
    p.heads_q = p.heads_kv = H;
    p.seq_q = Sq;
    p.seq_k = Sk;
    p.head_dim = D;
    p.scale = static_cast<float>(scale ? *scale : 1.0 / std::sqrt(static_cast<double>(D)));
    p.causal = is_causal;
    p.causal_offset = 0;  // torch's efficient kernel aligns the causal mask top-left
    // Torch's layouts: out is [B, Sq, H, D] in memory; logsumexp rows padded to 32.
    Tensor out = at::empty({B, Sq, H, D}, query.options()).transpose(1, 2);
    p.out = operand(out);
    if (Sk > 0 && attention::cuda::supported(p)) {
      Tensor lse = at::empty({B, H, compute_log_sumexp ? (Sq + 31) / 32 * 32 : 0}, query.options().dtype(at::kFloat));
      if (compute_log_sumexp) {
        p.lse = lse.data_ptr<float>();
        p.lse_batch_stride = lse.stride(0);
        p.lse_head_stride = lse.stride(1);
        p.lse_rows = lse.size(2);
      }
      c10::DeviceGuard guard(query.device());
      attention::cuda::forward(p);
      // Torch's seed and offset when there is no dropout: unused 0-d cpu tensors.
      return {out, lse, at::empty({}, at::kLong), at::empty({}, at::kLong)};
    }
  }
  reg::note_fallback();
  return at::cuda::_scaled_dot_product_efficient_attention(query, key, value, attn_bias, compute_log_sumexp,
                                                           dropout_p, is_causal, scale);
#else
  TORCH_CHECK(false, "_scaled_dot_product_efficient_attention: gemforge was built without cuda");
#endif
}

}  // namespace gemforge::ops
