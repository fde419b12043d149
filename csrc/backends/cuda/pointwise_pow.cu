// cuda pointwise kernels: powers. One small file per group so that builds run in parallel.
#include "backends/cuda/pointwise.cuh"

namespace gemforge::pw {
GF_INSTANTIATE_CUDA(pow_tensor)
GF_INSTANTIATE_CUDA(pow_scalar_exp)
GF_INSTANTIATE_CUDA(pow_scalar_base)
}  // namespace gemforge::pw
