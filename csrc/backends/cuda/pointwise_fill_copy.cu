// cuda pointwise kernels: fill and copy. One small file per group so that builds run in parallel.
#include "backends/cuda/pointwise.cuh"

namespace gemforge::pw {
GF_INSTANTIATE_CUDA(fill)
GF_INSTANTIATE_CUDA(copy)
}  // namespace gemforge::pw
