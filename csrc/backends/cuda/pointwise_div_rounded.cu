// cuda pointwise kernels: rounded division. One small file per group so that builds run in parallel.
#include "backends/cuda/pointwise.cuh"

namespace gemforge::pw {
GF_INSTANTIATE_CUDA(div_trunc)
GF_INSTANTIATE_CUDA(div_floor)
}  // namespace gemforge::pw
