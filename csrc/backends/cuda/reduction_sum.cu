// cuda reduction kernels: sum (mean, nansum), prod, count_nonzero, vector norms.
#include "backends/cuda/reduction.cuh"

namespace gemforge::red::cuda {
bool launch_sum(const Plan& p) {
  return launch_kinds<Kind::kSum, Kind::kProd, Kind::kCountNonzero, Kind::kNorm>(p);
}
}  // namespace gemforge::red::cuda
