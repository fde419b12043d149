// The scan engine's cuda kernels alone, as a small extension (scripts/dev/scan_probe.py).
#include "engine/scan.h"

#include <ATen/ATen.h>
#include <torch/extension.h>

namespace scan = gemforge::scan;

std::vector<at::Tensor> run(const at::Tensor& x, int64_t op) {
  TORCH_CHECK(x.is_contiguous() && x.dim() == 2);
  at::Tensor out = at::empty_like(x);
  at::Tensor idx;
  const auto o = static_cast<scan::Op>(op);
  if (o == scan::Op::max || o == scan::Op::min) idx = at::empty(x.sizes(), x.options().dtype(at::kLong));
  scan::Problem p{o, x.scalar_type(), x.data_ptr(), out.data_ptr(), idx.defined() ? idx.data_ptr<int64_t>() : nullptr,
                  x.size(0), x.size(1), 1};
  scan::scan_cuda(p);
  if (idx.defined()) return {out, idx};
  return {out};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("run", &run); }
