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

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward); }
