// cuda pointwise kernels: trigonometric and sigmoid functions. One small file per group so that builds run in parallel.
#include "backends/cuda/pointwise.cuh"

namespace gemforge::pw {
GF_INSTANTIATE_CUDA(sin)
GF_INSTANTIATE_CUDA(cos)
GF_INSTANTIATE_CUDA(tanh)
GF_INSTANTIATE_CUDA(sigmoid)
}  // namespace gemforge::pw
