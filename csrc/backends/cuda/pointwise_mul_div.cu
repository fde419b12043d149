// cuda pointwise kernels: multiplication and true division. One small file per group so that builds run in parallel.
#include "backends/cuda/pointwise.cuh"

namespace gemforge::pw {
GF_INSTANTIATE_CUDA(mul)
GF_INSTANTIATE_CUDA(div_true)
}  // namespace gemforge::pw
