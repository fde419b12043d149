// The cuda reduction backend's entry: a plan goes to the unit that holds its kind's kernels.
#include "backends/cuda/reduction.cuh"

namespace gemforge::red {

void reduce_cuda(const Plan& p) {
  if (p.outer * p.inner == 0) return;
  const bool done = cuda::launch_sum(p) || cuda::launch_minmax(p) || cuda::launch_stats(p);
  TORCH_CHECK(done, "gemforge reduction: no cuda kernel for this dtype pair");
}

}  // namespace gemforge::red
