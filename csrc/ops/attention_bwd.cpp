// The backward of `_scaled_dot_product_efficient_attention`: the op autograd calls for it in
// torch 2.11 (derivatives.yaml: `_scaled_dot_product_efficient_attention_backward`, not the
// lower `_efficient_attention_backward`), served by gemforge's FlashAttention-2-style kernel
// (backends/cuda/attention_bwd.cu) for the cases the forward serves: no bias, no dropout,
// fp16/bf16, equal heads, equal head dims up to 256; and float32 at head dims up to 64
// (attention_fp32_bwd.cu, 3xTF32) unless deterministic algorithms are asked for. Everything else
// goes to torch's kernel.
//
// Layouts as torch's: the gradients are [B, S, H, D] in memory viewed as [B, H, S, D]. Where
// grad_input_mask asks for neither dQ, or neither dK nor dV, those come back undefined (as
// from torch's meta kernel; autograd reads them as zero) and dQ is not computed.
#include "ops/attention_bwd.h"

#include "backends/attention_bwd.h"
#include "registry/calls.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include <cmath>

#ifdef GEMFORGE_WITH_CUDA
#include <ATen/ops/_scaled_dot_product_efficient_attention_backward_cuda_dispatch.h>
#endif

namespace gemforge::ops {
namespace {

attention::Operand operand(const Tensor& t) {
  return {t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)};
}

// [B, S, H, D] memory viewed as [B, H, S, D], like `like`'s shape.
Tensor bshd_like(const Tensor& like) {
  return at::empty({like.size(0), like.size(2), like.size(1), like.size(3)}, like.options()).transpose(1, 2);
}

}  // namespace

std::tuple<Tensor, Tensor, Tensor, Tensor> scaled_dot_product_efficient_attention_backward(
    const Tensor& grad_out_, const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& attn_bias,
    const Tensor& out, const Tensor& logsumexp, const Tensor& philox_seed, const Tensor& philox_offset,
    double dropout_p, std::array<bool, 4> grad_input_mask, bool is_causal, std::optional<double> scale) {
#ifdef GEMFORGE_WITH_CUDA
  // Torch's kernel checks the arguments and raises for what neither of us takes; we take the
  // plain case only (the one our forward serves).
  const auto same = [&](const Tensor& t) {
    return t.defined() && t.dim() == 4 && t.is_cuda() && t.device() == query.device() &&
           t.scalar_type() == query.scalar_type();
  };
  // float32 adds dQ with atomics (its order varies run to run): not under
  // torch.use_deterministic_algorithms.
  const bool fp32 = query.scalar_type() == at::kFloat && !at::globalContext().deterministicAlgorithms();
  const bool plain = grad_out_.defined() && dropout_p == 0.0 && !attn_bias.defined() &&
      (query.scalar_type() == at::kHalf || query.scalar_type() == at::kBFloat16 || fp32) &&
      same(query) && same(key) &&
      same(value) && same(out) && same(grad_out_) && key.size(0) == query.size(0) && value.size(0) == query.size(0) &&
      key.size(1) == query.size(1) && value.size(1) == query.size(1) && value.size(2) == key.size(2) &&
      key.size(3) == query.size(3) && value.size(3) == query.size(3) && out.sizes() == query.sizes() &&
      grad_out_.sizes() == query.sizes() && query.stride(3) == 1 && key.stride(3) == 1 && value.stride(3) == 1 &&
      out.stride(3) == 1 && logsumexp.defined() && logsumexp.is_cuda() && logsumexp.device() == query.device() &&
      logsumexp.scalar_type() == at::kFloat && logsumexp.dim() == 3 && logsumexp.size(0) == query.size(0) &&
      logsumexp.size(1) == query.size(1) && logsumexp.size(2) >= query.size(2) && logsumexp.stride(2) == 1;
  if (plain && query.size(2) > 0 && key.size(2) > 0) {
    // dK and dV come together (as torch's meta kernel gives them): one kernel computes both.
    const bool want_q = grad_input_mask[0], want_kv = grad_input_mask[1] || grad_input_mask[2];
    if (!want_q && !want_kv) return {Tensor(), Tensor(), Tensor(), Tensor()};
    c10::DeviceGuard guard(query.device());
    // The gradient of a sum arrives expanded (stride 0): the kernel reads 16-byte rows.
    const Tensor grad_out = grad_out_.stride(3) == 1 ? grad_out_ : grad_out_.contiguous();
    const int64_t B = query.size(0), H = query.size(1), D = query.size(3);
    attention::Backward p{};
    p.dtype = query.scalar_type();
    p.q = operand(query);
    p.k = operand(key);
    p.v = operand(value);
    p.out = operand(out);
    p.grad_out = operand(grad_out);
    p.batch = B;
    p.heads_q = p.heads_kv = H;
    p.seq_q = query.size(2);
    p.seq_k = key.size(2);
    p.head_dim = D;
    p.scale = static_cast<float>(scale ? *scale : 1.0 / std::sqrt(static_cast<double>(D)));
    p.causal = is_causal;
    p.causal_offset = 0;  // torch's efficient kernel aligns the causal mask top-left
    p.lse = logsumexp.data_ptr<float>();
    p.lse_batch_stride = logsumexp.stride(0);
    p.lse_head_stride = logsumexp.stride(1);
    Tensor grad_q = want_q ? bshd_like(query) : Tensor();
    Tensor grad_k = bshd_like(key), grad_v = bshd_like(value);
    p.dq_wanted = want_q;
    if (want_q) p.grad_q = operand(grad_q);
    p.grad_k = operand(grad_k);
    p.grad_v = operand(grad_v);
    Tensor workspace = at::empty({attention::cuda::workspace_floats(p)}, query.options().dtype(at::kFloat));
    p.workspace = workspace.data_ptr<float>();
    if (attention::cuda::supported(p)) {
      attention::cuda::backward(p);
      return {grad_q, want_kv ? grad_k : Tensor(), want_kv ? grad_v : Tensor(), Tensor()};
    }
  }
  reg::note_fallback();
  return at::cuda::_scaled_dot_product_efficient_attention_backward(grad_out_, query, key, value, attn_bias, out,
                                                                    logsumexp, philox_seed, philox_offset, dropout_p,
                                                                    grad_input_mask, is_causal, scale);
#else
  TORCH_CHECK(false, "_scaled_dot_product_efficient_attention_backward: gemforge was built without cuda");
#endif
}

}  // namespace gemforge::ops
