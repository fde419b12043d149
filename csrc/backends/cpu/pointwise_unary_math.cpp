// cpu pointwise kernels of the unary_math family (ops/pointwise/kernels/unary_math.h).
#include "backends/cpu/pointwise.h"
#include "ops/pointwise/kernels/unary_math.h"

namespace gemforge::pw {
GF_KERNELS_UNARY_MATH(GF_INSTANTIATE_CPU)
}  // namespace gemforge::pw
