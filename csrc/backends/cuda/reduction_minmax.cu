// cuda reduction kernels: amax/amin (max(), min()), argmax/argmin (max.dim, min.dim), aminmax.
#include "backends/cuda/reduction.cuh"

namespace gemforge::red::cuda {
bool launch_arg(const Plan& p);  // reduction_arg.cu: argmax, argmin; false: not a plan it takes

bool launch_minmax(const Plan& p) {
  if (launch_arg(p)) return true;  // argmax / argmin: their own kernels (reduction_arg.cu)
  return launch_kinds<Kind::kMax, Kind::kMin, Kind::kArgMax, Kind::kArgMin, Kind::kMinMax>(p);
}
}  // namespace gemforge::red::cuda
