// A minimal torch extension around the attention backward kernels alone, so that the GPU
// machine can compile and try them in under a minute (scripts/dev/attention_bwd_probe.py).
#include "backends/attention_bwd.h"

#include <torch/extension.h>

namespace att = gemforge::attention;

static att::Operand operand(const at::Tensor& t) {
  return {t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)};
}

// dq, dk, dv of attention(q, k, v) given out, its natural-log logsumexp [B, Hq, >= Sq] and dout.
std::vector<at::Tensor> backward(at::Tensor dout, at::Tensor q, at::Tensor k, at::Tensor v, at::Tensor out,
                                 at::Tensor lse, bool causal, int64_t offset, double scale) {
  auto dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v);
  att::Backward p{};
  p.dtype = q.scalar_type();
  p.q = operand(q); p.k = operand(k); p.v = operand(v); p.out = operand(out); p.grad_out = operand(dout);
  p.grad_q = operand(dq); p.grad_k = operand(dk); p.grad_v = operand(dv);
  p.dq_wanted = true;
  p.batch = q.size(0); p.heads_q = q.size(1); p.heads_kv = k.size(1);
  p.seq_q = q.size(2); p.seq_k = k.size(2); p.head_dim = q.size(3);
  p.scale = static_cast<float>(scale);
  p.causal = causal; p.causal_offset = offset;
  p.lse = lse.data_ptr<float>();
  p.lse_batch_stride = lse.stride(0); p.lse_head_stride = lse.stride(1);
  auto ws = at::empty({att::cuda::workspace_floats(p)}, q.options().dtype(at::kFloat));
  p.workspace = ws.data_ptr<float>();
  TORCH_CHECK(att::cuda::supported(p), "attention_bwd_probe: unsupported problem");
  att::cuda::backward(p);
  return {dq, dk, dv};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("backward", &backward); }
