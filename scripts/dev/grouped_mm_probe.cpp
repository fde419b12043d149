// The grouped GEMM kernel alone, as a small extension (scripts/dev/grouped_mm_probe.py). The plan
// below reads the operands as ops/gemm_ext.cpp's grouped_plan does, without its fallbacks.
#include "backends/gemm_ext.h"

#include <ATen/ATen.h>
#include <torch/extension.h>

namespace gemforge::pw::cuda {
bool pdl_enabled() { return true; }  // the probe runs on sm_90
}  // namespace gemforge::pw::cuda

namespace gemm = gemforge::gemm;

static bool transposed(const at::Tensor& x) {
  const int64_t d = x.dim();
  return x.stride(d - 2) == 1 && x.stride(d - 1) >= std::max<int64_t>(1, x.size(d - 2));
}

static gemm::GroupedMm plan(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& offs,
                            at::Tensor& out) {
  using gemm::GroupMode;
  gemm::GroupedMm g{};
  const bool a2 = a.dim() == 2, b2 = b.dim() == 2;
  g.mode = a2 ? (b2 ? GroupMode::kGroupK : GroupMode::kGroupM) : (b2 ? GroupMode::kGroupN : GroupMode::kBatched);
  g.groups = offs ? offs->size(0) : a.size(0);
  g.a_k_major = !transposed(a);
  g.a_ld = g.a_k_major ? a.stride(-2) : a.stride(-1);
  g.b_k_major = transposed(b);
  g.b_ld = g.b_k_major ? b.stride(-1) : b.stride(-2);
  g.a_bs = a2 ? 0 : a.stride(0);
  g.b_bs = b2 ? 0 : b.stride(0);
  switch (g.mode) {
    case GroupMode::kBatched: g.m = a.size(1), g.k = a.size(2), g.n = b.size(2); break;
    case GroupMode::kGroupM: g.m = a.size(0), g.k = a.size(1), g.n = b.size(2); break;
    case GroupMode::kGroupN: g.m = a.size(1), g.k = a.size(2), g.n = b.size(1); break;
    case GroupMode::kGroupK: g.m = a.size(0), g.k = a.size(1), g.n = b.size(1); break;
  }
  g.a = a.data_ptr();
  g.b = b.data_ptr();
  g.offs = offs ? offs->data_ptr<int32_t>() : nullptr;
  g.out = out.data_ptr();
  g.out_ld = out.stride(-2);
  g.out_bs = out.dim() == 3 ? out.stride(0) : 0;
  return g;
}

void run(const at::Tensor& a, const at::Tensor& b, const std::optional<at::Tensor>& offs, at::Tensor& out) {
  gemm::grouped_mm_cuda(plan(a, b, offs, out));
}

// _scaled_grouped_mm's row-wise case: e4m3 operands, fp32 scales (a 2-d operand's (rows,), a
// 3-d one's (G, rows)); fast: torch's use_fast_accum, else its promoted fp32 sums.
void run_scaled(const at::Tensor& a, const at::Tensor& b, const at::Tensor& scale_a, const at::Tensor& scale_b,
                const std::optional<at::Tensor>& offs, at::Tensor& out, bool fast) {
  gemm::GroupedMm g = plan(a, b, offs, out);
  g.fp8 = true;
  g.fp8_promote = !fast;
  g.scale_a = scale_a.data_ptr<float>();
  g.sa_gs = scale_a.dim() == 2 ? scale_a.stride(0) : 0;
  g.scale_b = scale_b.data_ptr<float>();
  g.sb_gs = scale_b.dim() == 2 ? scale_b.stride(0) : 0;
  gemm::grouped_mm_cuda(g);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("run", &run);
  m.def("run_scaled", &run_scaled);
}
