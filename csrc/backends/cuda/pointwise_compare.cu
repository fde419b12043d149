// cuda pointwise kernels of the compare family (ops/pointwise/kernels/compare.h).
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/compare.h"

namespace gemforge::pw {
GF_KERNELS_COMPARE(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw
