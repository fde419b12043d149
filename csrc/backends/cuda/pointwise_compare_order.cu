// cuda pointwise kernels: ordering, part 2. One small file per group so that builds run in parallel.
#include "backends/cuda/pointwise.cuh"

namespace gemforge::pw {
GF_INSTANTIATE_CUDA(le)
GF_INSTANTIATE_CUDA(gt)
GF_INSTANTIATE_CUDA(ge)
}  // namespace gemforge::pw
