// cuda reduction kernels: all, any, var/std (Welford), logsumexp.
#include "backends/cuda/reduction.cuh"

namespace gemforge::red::cuda {
bool launch_stats(const Plan& p) {
  return launch_kinds<Kind::kAll, Kind::kAny, Kind::kVar, Kind::kLogSumExp>(p);
}
}  // namespace gemforge::red::cuda
