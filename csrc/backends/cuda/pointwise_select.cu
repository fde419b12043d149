// cuda pointwise kernels: selection and clamping. One small file per group so that builds run in parallel.
#include "backends/cuda/pointwise.cuh"

namespace gemforge::pw {
GF_INSTANTIATE_CUDA(where)
GF_INSTANTIATE_CUDA(clamp_scalar)
GF_INSTANTIATE_CUDA(clamp_tensor)
GF_INSTANTIATE_CUDA(clamp_min_tensor)
GF_INSTANTIATE_CUDA(clamp_max_tensor)
}  // namespace gemforge::pw
