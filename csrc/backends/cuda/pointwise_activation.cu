// cuda pointwise kernels: activations. One small file per group so that builds run in parallel.
#include "backends/cuda/pointwise.cuh"

namespace gemforge::pw {
GF_INSTANTIATE_CUDA(relu)
GF_INSTANTIATE_CUDA(silu)
GF_INSTANTIATE_CUDA(gelu)
}  // namespace gemforge::pw
