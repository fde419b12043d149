// cuda pointwise kernels of the rounding family (ops/pointwise/kernels/rounding.h).
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/rounding.h"

namespace gemforge::pw {
GF_KERNELS_ROUNDING(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw
