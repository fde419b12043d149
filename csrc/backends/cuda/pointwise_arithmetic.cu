// cuda pointwise kernels of the arithmetic family (ops/pointwise/kernels/arithmetic.h).
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/arithmetic.h"

namespace gemforge::pw {
GF_KERNELS_ARITHMETIC(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw
