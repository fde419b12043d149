// cpu pointwise kernels of the binary_math family (ops/pointwise/kernels/binary_math.h).
#include "backends/cpu/pointwise.h"
#include "ops/pointwise/kernels/binary_math.h"

namespace gemforge::pw {
GF_KERNELS_BINARY_MATH(GF_INSTANTIATE_CPU)
}  // namespace gemforge::pw
