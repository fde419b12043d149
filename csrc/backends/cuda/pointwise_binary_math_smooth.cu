// cuda pointwise kernels of the binary_math family (ops/pointwise/kernels/binary_math.h), smooth part.
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/binary_math.h"

namespace gemforge::pw {
GF_KERNELS_BINARY_MATH_SMOOTH(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw
