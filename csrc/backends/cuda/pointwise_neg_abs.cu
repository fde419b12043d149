// cuda pointwise kernels: negation and absolute value. One small file per group so that builds run in parallel.
#include "backends/cuda/pointwise.cuh"

namespace gemforge::pw {
GF_INSTANTIATE_CUDA(neg)
GF_INSTANTIATE_CUDA(abs)
}  // namespace gemforge::pw
