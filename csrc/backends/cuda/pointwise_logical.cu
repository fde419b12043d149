// cuda pointwise kernels: logical ops. One small file per group so that builds run in parallel.
#include "backends/cuda/pointwise.cuh"

namespace gemforge::pw {
GF_INSTANTIATE_CUDA(logical_and)
GF_INSTANTIATE_CUDA(logical_or)
GF_INSTANTIATE_CUDA(logical_not)
}  // namespace gemforge::pw
