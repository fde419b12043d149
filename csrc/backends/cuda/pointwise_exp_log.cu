// cuda pointwise kernels: exponentials, logarithms and roots. One small file per group so that builds run in parallel.
#include "backends/cuda/pointwise.cuh"

namespace gemforge::pw {
GF_INSTANTIATE_CUDA(exp)
GF_INSTANTIATE_CUDA(log)
GF_INSTANTIATE_CUDA(sqrt)
GF_INSTANTIATE_CUDA(rsqrt)
}  // namespace gemforge::pw
