// cuda pointwise kernels: equality and ordering, part 1. One small file per group so that builds run in parallel.
#include "backends/cuda/pointwise.cuh"

namespace gemforge::pw {
GF_INSTANTIATE_CUDA(eq)
GF_INSTANTIATE_CUDA(ne)
GF_INSTANTIATE_CUDA(lt)
}  // namespace gemforge::pw
