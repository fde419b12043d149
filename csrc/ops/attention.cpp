// The attention family: torch's fused SDPA ops served by gemforge's FlashAttention-style
// kernels (backends/cuda/attention_fwd_sm90.cu on Hopper, attention_fwd.cu elsewhere) where they
// are faster than torch's, torch's own kernels elsewhere.
//
// What is served, and why only that (bf16, 16k tokens a batch, kernels timed in turns;
// scripts/dev/attention_probe.py and benchmarks/results/):
// - `_scaled_dot_product_flash_attention` and `_flash_attention_forward` without dropout,
//   windows, packed sequences or alibi: 617-643 TFLOP/s at head dims 128/256 and S4096 on the
//   H100, about 2x torch's flash kernel.
// - `_scaled_dot_product_efficient_attention` without dropout: 3.5-4x torch's memory-efficient
//   kernel; with an additive mask (attn_bias) where the Hopper kernel takes it (rows 16-byte
//   aligned, as torch's own padding leaves them), 2.8-4.2x (H200, S512-4096). In float32
//   (attention_fp32.cu): head dims up to 64 1.4-1.55x, with a padding mask 1.2x; up to 128 on
//   grids of 6 waves of the card or more, 1.13-1.21x.
// - The cudnn op, torch's default pick for fp16/bf16 on Hopper, with an attn_bias: there ours is
//   1.1-2x cudnn's (H200, S512-4096: the bias tile is staged through shared memory by the
//   producer warpgroup). Without a bias, only where ours is ahead (cudnn_loses_to_ours).
#include "ops/attention.h"
#include "ops/attention_forward.h"

#include "backends/attention.h"
#include "registry/calls.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include <array>
#include <cmath>

#ifdef GEMFORGE_WITH_CUDA
#include <ATen/ops/_flash_attention_forward_cuda_dispatch.h>
#include <ATen/ops/_scaled_dot_product_cudnn_attention_cuda_dispatch.h>
#include <ATen/ops/_scaled_dot_product_efficient_attention_cuda_dispatch.h>
#include <ATen/ops/_scaled_dot_product_flash_attention_cuda_dispatch.h>
#endif

namespace gemforge::ops {
namespace {

#ifdef GEMFORGE_WITH_CUDA
// A [batch, heads, seq, head_dim] view, or (packed) [tokens, heads, head_dim] rows with batch
// stride 0.
attention::Operand operand(const Tensor& t) {
  return {t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)};
}
attention::Operand packed_operand(const Tensor& t) {
  return {t.data_ptr(), 0, t.stride(1), t.stride(0)};
}

// Runs gemforge's kernel on [batch, heads, seq, head_dim] views when it takes the problem
// (attention_forward_problem). False, having launched nothing, otherwise.
// An additive mask (bias: undefined for none) is taken in q's dtype, broadcastable to
// [batch, heads, seq_q, seq_k]: in fp16/bf16 only where the Hopper kernel reads it (sm90_takes;
// the other kernel's bias path is slower than torch's), in float32 in the rows torch's kernel
// takes (fp32_supported). fp32: whether float32 is taken at all (the efficient op's; torch's
// flash and cudnn ops raise for it).
bool run_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                 bool causal, int64_t causal_offset, std::optional<double> scale, const Tensor& bias = {},
                 bool fp32 = false) {
  if (q.scalar_type() == at::kFloat && !fp32) return false;
  attention::Forward p;
  if (!attention_forward_problem(p, q, k, v, out, lse, scale, causal, causal_offset)) return false;
  if (bias.defined()) {
    const std::array<int64_t, 4> shape = {q.size(0), q.size(1), q.size(2), k.size(2)};
    if (bias.scalar_type() != q.scalar_type() || bias.device() != q.device() || bias.dim() > 4 ||
        !at::is_expandable_to(bias.sizes(), shape))
      return false;
    const Tensor b = bias.expand(shape);  // a view: zero strides where bias broadcasts
    p.bias = b.data_ptr();
    p.bias_batch_stride = b.stride(0);
    p.bias_head_stride = b.stride(1);
    p.bias_row_stride = b.stride(2);
    p.bias_col_stride = b.stride(3);
    if (p.dtype == ScalarType::Float ? !attention::cuda::fp32_supported(p) : !attention::cuda::sm90_takes(p))
      return false;
  }
  c10::DeviceGuard guard(q.device());
  attention::cuda::forward(p);
  return true;
}

// Without a bias, where ours is ahead of cudnn (H100 stop 23, scripts/dev/attention_models_probe.py
// --sweep, bf16, forward; benchmarks/results/h100/stop23/attention_cudnn_sweep.md):
// - short queries (up to 128) over up to 2048 keys at head dim 128: 1.07-1.53x (a decode step,
//   a prompt). Beyond, ours has no split over keys: 0.99-1.08x at 4096-16384.
// - head dim 64, not causal, 512 keys or more off a multiple of 128, where cudnn pads its last
//   tile: 1.02-1.42x (CLIP's 577 patches: 1.08x at batch 14, 1.70x at batch 2).
// Elsewhere cudnn leads or ties: multiples of 128 (0.85-1.0x, except 1.10-1.19x at head dim 64
// and 512 or 2048 keys, but 0.94x at BERT's 12 heads), causal at head dim 64 (0.82-1.13x), head
// dim 128 with long queries (0.94-1.03x), and 200 keys (0.76-0.96x).
bool cudnn_loses_to_ours(int64_t seq_q, int64_t seq_k, int64_t head_dim, bool causal) {
  if (seq_q <= 128) return head_dim == 128 && seq_k <= 2048;
  return head_dim == 64 && !causal && seq_k >= 512 && seq_k % 128 != 0;
}

// The flash ops' random-number state when there is no dropout: torch returns these shapes.
std::tuple<Tensor, Tensor> no_rng_state(const Tensor& q) {
  const auto u64 = q.options().dtype(at::kUInt64);
  return {at::empty({2}, u64), at::empty({}, u64)};
}
#endif

}  // namespace

#ifdef GEMFORGE_WITH_CUDA
bool attention_forward_problem(attention::Forward& f, const Tensor& q, const Tensor& k, const Tensor& v,
                               const Tensor& out, const Tensor& lse, std::optional<double> scale, bool causal,
                               int64_t causal_offset, const PackedSeqs* packed) {
  if (packed == nullptr) {
    if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4 || !q.is_cuda()) return false;
    if (q.scalar_type() != at::kHalf && q.scalar_type() != at::kBFloat16 && q.scalar_type() != at::kFloat)
      return false;
    if (k.scalar_type() != q.scalar_type() || v.scalar_type() != q.scalar_type()) return false;
    if (k.device() != q.device() || v.device() != q.device()) return false;
    const int64_t B = q.size(0), H = q.size(1), Sk = k.size(2), D = q.size(3);
    if (k.size(0) != B || v.size(0) != B || v.size(1) != k.size(1) || v.size(2) != Sk || k.size(3) != D ||
        v.size(3) != D || k.size(1) == 0 || H % k.size(1) != 0 || Sk == 0)
      return false;
    if (q.stride(3) != 1 || k.stride(3) != 1 || v.stride(3) != 1 || out.stride(3) != 1) return false;
  }
  auto as_operand = packed ? packed_operand : operand;
  const int64_t D = q.size(q.dim() - 1);
  f = attention::Forward{};
  f.dtype = q.scalar_type();
  f.q = as_operand(q);
  f.k = as_operand(k);
  f.v = as_operand(v);
  f.out = as_operand(out);
  f.heads_q = q.size(1);
  f.heads_kv = k.size(1);
  f.head_dim = D;
  f.scale = static_cast<float>(scale ? *scale : 1.0 / std::sqrt(static_cast<double>(D)));
  f.causal = causal;
  f.causal_offset = causal_offset;
  if (packed != nullptr) {
    f.batch = packed->batch;
    f.seq_q = packed->max_seqlen_q;
    f.seq_k = packed->max_seqlen_k;
    f.cu_seqlens_q = packed->cu_seqlens_q;
    f.cu_seqlens_k = packed->cu_seqlens_k;
    f.total_q = q.size(0);
    f.total_k = k.size(0);
  } else {
    f.batch = q.size(0);
    f.seq_q = q.size(2);
    f.seq_k = k.size(2);
  }
  if (lse.defined()) {
    f.lse = lse.data_ptr<float>();
    f.lse_batch_stride = lse.stride(0);
    f.lse_head_stride = lse.stride(1);
    f.lse_rows = lse.size(2);
  }
  return attention::cuda::supported(f);
}
#endif

std::tuple<Tensor, Tensor, Tensor, Tensor> scaled_dot_product_efficient_attention(
    const Tensor& query, const Tensor& key, const Tensor& value, const std::optional<Tensor>& attn_bias,
    bool compute_log_sumexp, double dropout_p, bool is_causal, std::optional<double> scale) {
#ifdef GEMFORGE_WITH_CUDA
  // Torch's kernel checks the arguments and raises for what neither of us takes; we take no
  // dropout and equal heads (torch's efficient op has no GQA).
  if (dropout_p == 0.0 && query.dim() == 4 && key.dim() == 4 && value.dim() == 4 && key.size(1) == query.size(1) &&
      query.is_cuda()) {
    const int64_t B = query.size(0), H = query.size(1), Sq = query.size(2), D = query.size(3);
    // Torch's layouts: out is [B, Sq, H, D] in memory; logsumexp rows padded to 32.
    Tensor out = at::empty({B, Sq, H, D}, query.options()).transpose(1, 2);
    Tensor lse = at::empty({B, H, compute_log_sumexp ? (Sq + 31) / 32 * 32 : 0}, query.options().dtype(at::kFloat));
    // top-left causal alignment, as torch's efficient kernel
    if (run_forward(query, key, value, out, compute_log_sumexp ? lse : Tensor(), is_causal, 0, scale,
                    attn_bias.value_or(Tensor()), /*fp32=*/true))
      // Torch's seed and offset when there is no dropout: unused 0-d cpu tensors.
      return {out, lse, at::empty({}, at::kLong), at::empty({}, at::kLong)};
  }
  reg::note_fallback();
  return at::cuda::_scaled_dot_product_efficient_attention(query, key, value, attn_bias, compute_log_sumexp,
                                                           dropout_p, is_causal, scale);
#else
  TORCH_CHECK(false, "_scaled_dot_product_efficient_attention: gemforge was built without cuda");
#endif
}

std::tuple<Tensor, Tensor, Tensor, Tensor, c10::SymInt, c10::SymInt, Tensor, Tensor, Tensor>
scaled_dot_product_flash_attention(const Tensor& query, const Tensor& key, const Tensor& value, double dropout_p,
                                   bool is_causal, bool return_debug_mask, std::optional<double> scale) {
#ifdef GEMFORGE_WITH_CUDA
  if (dropout_p == 0.0 && !return_debug_mask && query.dim() == 4 && key.dim() == 4 && query.is_cuda()) {
    const int64_t B = query.size(0), H = query.size(1), Sq = query.size(2), Sk = key.size(2);
    Tensor out = at::empty_like(query);  // torch's flash kernel gives out the layout of the query
    Tensor lse = at::empty({B, H, Sq}, query.options().dtype(at::kFloat));
    // bottom-right causal alignment, as torch's flash kernel
    if (run_forward(query, key, value, out, lse, is_causal, Sk - Sq, scale)) {
      auto [rng_state, unused] = no_rng_state(query);
      return {out, lse, Tensor(), Tensor(), c10::SymInt(Sq), c10::SymInt(Sk), rng_state, unused,
              at::empty({0}, query.options())};
    }
  }
  reg::note_fallback();
  return at::cuda::_scaled_dot_product_flash_attention(query, key, value, dropout_p, is_causal, return_debug_mask,
                                                       scale);
#else
  TORCH_CHECK(false, "_scaled_dot_product_flash_attention: gemforge was built without cuda");
#endif
}

std::tuple<Tensor, Tensor, Tensor, Tensor, c10::SymInt, c10::SymInt, Tensor, Tensor, Tensor>
scaled_dot_product_cudnn_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const std::optional<Tensor>& attn_bias, bool compute_log_sumexp, double dropout_p,
                                   bool is_causal, bool return_debug_mask, std::optional<double> scale) {
#ifdef GEMFORGE_WITH_CUDA
  // With a bias, or where ours is ahead without one (see the top of this file).
  const bool biased = attn_bias && attn_bias->defined();
  if (dropout_p == 0.0 && !return_debug_mask && query.dim() == 4 && key.dim() == 4 && value.dim() == 4 &&
      query.is_cuda() &&
      (biased || (key.size(1) == query.size(1) &&
                  cudnn_loses_to_ours(query.size(2), key.size(2), query.size(3), is_causal)))) {
    const int64_t B = query.size(0), H = query.size(1), Sq = query.size(2), Sk = key.size(2);
    // Torch's layouts: out as the query's, logsumexp [B, H, Sq, 1] (natural log), which its
    // backward takes. The logsumexp is written even when not asked for: torch's backward needs
    // it, and it costs a float a row.
    Tensor out = at::empty_like(query);
    Tensor lse = at::empty({B, H, Sq, 1}, query.options().dtype(at::kFloat));
    // top-left causal alignment, as torch's cudnn kernel
    if (run_forward(query, key, value, out, lse.select(3, 0), is_causal, 0, scale, biased ? *attn_bias : Tensor())) {
      // Torch's seed and offset when there is no dropout: unused 0-d tensors on the device,
      // where its backward checks they are.
      const auto i64 = query.options().dtype(at::kLong);
      return {out, lse, Tensor(), Tensor(), c10::SymInt(Sq), c10::SymInt(Sk), at::empty({}, i64), at::empty({}, i64),
              Tensor()};
    }
  }
  reg::note_fallback();
  return at::cuda::_scaled_dot_product_cudnn_attention(query, key, value, attn_bias, compute_log_sumexp, dropout_p,
                                                       is_causal, return_debug_mask, scale);
#else
  TORCH_CHECK(false, "_scaled_dot_product_cudnn_attention: gemforge was built without cuda");
#endif
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> flash_attention_forward(
    const Tensor& query, const Tensor& key, const Tensor& value, const std::optional<Tensor>& cum_seq_q,
    const std::optional<Tensor>& cum_seq_k, c10::SymInt max_q, c10::SymInt max_k, double dropout_p, bool is_causal,
    bool return_debug_mask, std::optional<double> scale, std::optional<c10::SymInt> window_size_left,
    std::optional<c10::SymInt> window_size_right, const std::optional<Tensor>& seqused_k,
    const std::optional<Tensor>& alibi_slopes) {
#ifdef GEMFORGE_WITH_CUDA
  // Dense [batch, seq, heads, head_dim] operands only: no packed sequences, windows or alibi.
  const bool plain = dropout_p == 0.0 && !return_debug_mask && !(cum_seq_q && cum_seq_q->defined()) &&
      !(cum_seq_k && cum_seq_k->defined()) && !window_size_left && !window_size_right &&
      !(seqused_k && seqused_k->defined()) && !(alibi_slopes && alibi_slopes->defined()) && query.dim() == 4 &&
      key.dim() == 4 && value.dim() == 4 && query.is_cuda();
  if (plain) {
    const int64_t B = query.size(0), Sq = query.size(1), H = query.size(2), Sk = key.size(1);
    Tensor out = at::empty_like(query);
    Tensor lse = at::empty({B, H, Sq}, query.options().dtype(at::kFloat));
    if (run_forward(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), out.transpose(1, 2), lse,
                    is_causal, Sk - Sq, scale)) {
      auto [rng_state, unused] = no_rng_state(query);
      return {out, lse, rng_state, unused, at::empty({0}, query.options())};
    }
  }
  reg::note_fallback();
  return at::cuda::_flash_attention_forward_symint(query, key, value, cum_seq_q, cum_seq_k, std::move(max_q),
                                                   std::move(max_k), dropout_p, is_causal, return_debug_mask, scale,
                                                   std::move(window_size_left), std::move(window_size_right),
                                                   seqused_k, alibi_slopes);
#else
  TORCH_CHECK(false, "_flash_attention_forward: gemforge was built without cuda");
#endif
}

}  // namespace gemforge::ops
