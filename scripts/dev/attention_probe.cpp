// A minimal torch extension around the attention kernels alone, so that the GPU machine can
// compile and try them in a minute instead of building all of gemforge (scripts/dev/attention_probe.py).
#include "backends/attention.h"

#include <torch/extension.h>

namespace att = gemforge::attention;

static att::Operand operand(const at::Tensor& t) {
  return {t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)};
}

std::vector<at::Tensor> forward(at::Tensor q, at::Tensor k, at::Tensor v, std::optional<at::Tensor> bias,
                                bool causal, int64_t offset, double scale) {
  auto out = at::empty_like(q);
  auto lse = at::empty({q.size(0), q.size(1), q.size(2)}, q.options().dtype(at::kFloat));
  att::Forward p{};
  p.dtype = q.scalar_type();
  p.q = operand(q); p.k = operand(k); p.v = operand(v); p.out = operand(out);
  p.batch = q.size(0); p.heads_q = q.size(1); p.heads_kv = k.size(1);
  p.seq_q = q.size(2); p.seq_k = k.size(2); p.head_dim = q.size(3);
  p.scale = static_cast<float>(scale);
  p.causal = causal; p.causal_offset = offset;
  if (bias) {
    auto b = bias->expand({q.size(0), q.size(1), q.size(2), k.size(2)});
    p.bias = b.data_ptr();
    p.bias_batch_stride = b.stride(0); p.bias_head_stride = b.stride(1);
    p.bias_row_stride = b.stride(2); p.bias_col_stride = b.stride(3);
  }
  p.lse = lse.data_ptr<float>();
  p.lse_batch_stride = lse.stride(0); p.lse_head_stride = lse.stride(1);
  TORCH_CHECK(att::cuda::supported(p), "attention_probe: unsupported problem");
  att::cuda::forward(p);
  return {out, lse};
}

// Packed sequences q [total_q, H, D], k/v [total_k, Hk, D], int32 cu_seqlens (Hopper kernel only).
at::Tensor forward_varlen(at::Tensor q, at::Tensor k, at::Tensor v, at::Tensor cu_q, at::Tensor cu_k, int64_t max_q,
                          int64_t max_k, bool causal, double scale) {
  auto out = at::zeros_like(q);
  auto packed = [](const at::Tensor& t) { return att::Operand{t.data_ptr(), 0, t.stride(1), t.stride(0)}; };
  att::Forward p{};
  p.dtype = q.scalar_type();
  p.q = packed(q); p.k = packed(k); p.v = packed(v); p.out = packed(out);
  p.batch = cu_q.size(0) - 1; p.heads_q = q.size(1); p.heads_kv = k.size(1);
  p.seq_q = max_q; p.seq_k = max_k; p.head_dim = q.size(2);
  p.scale = static_cast<float>(scale);
  p.causal = causal;
  p.cu_seqlens_q = cu_q.data_ptr<int32_t>(); p.cu_seqlens_k = cu_k.data_ptr<int32_t>();
  p.total_q = q.size(0); p.total_k = k.size(0);
  TORCH_CHECK(att::cuda::supported(p) && att::cuda::forward_sm90(p), "attention_probe: varlen not taken");
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward);
  m.def("forward_varlen", &forward_varlen);
}
