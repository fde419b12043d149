// cuda pointwise kernels: addition and subtraction. One small file per group so that builds run in parallel.
#include "backends/cuda/pointwise.cuh"

namespace gemforge::pw {
GF_INSTANTIATE_CUDA(add)
GF_INSTANTIATE_CUDA(sub)
}  // namespace gemforge::pw
