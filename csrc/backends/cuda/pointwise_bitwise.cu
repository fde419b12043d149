// cuda pointwise kernels of the bitwise family (ops/pointwise/kernels/bitwise.h).
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/bitwise.h"

namespace gemforge::pw {
GF_KERNELS_BITWISE(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw
