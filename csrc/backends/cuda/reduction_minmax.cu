// cuda reduction kernels: amax/amin (max(), min()), argmax/argmin (max.dim, min.dim), aminmax.
#include "backends/cuda/reduction.cuh"

namespace gemforge::red::cuda {
bool launch_minmax(const Plan& p) {
  return launch_kinds<Kind::kMax, Kind::kMin, Kind::kArgMax, Kind::kArgMin, Kind::kMinMax>(p);
}
}  // namespace gemforge::red::cuda
