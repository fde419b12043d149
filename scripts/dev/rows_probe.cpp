// The row engine's cuda kernels (softmax, layer_norm, rms_norm forward) as a small extension, to
// compile and time variants in a minute instead of building all of gemforge
// (scripts/dev/rows_probe.py).
#include "engine/rows.h"

#include <ATen/ATen.h>
#include <torch/extension.h>

namespace gemforge::pw::cuda {
bool pdl_enabled() { return true; }  // the probe runs on sm_90
}  // namespace gemforge::pw::cuda

namespace rows = gemforge::rows;

at::Tensor softmax(const at::Tensor& x, bool log) {
  TORCH_CHECK(x.is_contiguous() && x.dim() == 2);
  at::Tensor out = at::empty_like(x);
  rows::SoftmaxFwd p{x.scalar_type(), x.scalar_type(), x.data_ptr(), out.data_ptr(), x.size(0), x.size(1), 1,
                     log, false};
  rows::softmax_fwd_cuda(p);
  return out;
}

at::Tensor norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, bool rms, double eps) {
  TORCH_CHECK(x.is_contiguous() && x.dim() == 2);
  at::Tensor y = at::empty_like(x);
  at::Tensor mean = at::empty({x.size(0)}, x.options().dtype(at::kFloat));
  at::Tensor rstd = at::empty({x.size(0)}, x.options().dtype(at::kFloat));
  rows::NormFwd p{x.scalar_type(), at::kFloat, x.data_ptr(), w.data_ptr(), rms ? nullptr : b.data_ptr(),
                  y.data_ptr(), rms ? nullptr : mean.data_ptr(), rstd.data_ptr(), x.size(0), x.size(1), eps, rms};
  rows::norm_fwd_cuda(p);
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("softmax", &softmax);
  m.def("norm", &norm);
}
