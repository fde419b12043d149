// cuda pointwise kernels of the unary_math family (ops/pointwise/kernels/unary_math.h), exp and log part.
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/unary_math.h"

namespace gemforge::pw {
GF_KERNELS_UNARY_MATH_EXP_LOG(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw
