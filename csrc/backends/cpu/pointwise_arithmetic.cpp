// cpu pointwise kernels of the arithmetic family (ops/pointwise/kernels/arithmetic.h).
#include "backends/cpu/pointwise.h"
#include "ops/pointwise/kernels/arithmetic.h"

namespace gemforge::pw {
GF_KERNELS_ARITHMETIC(GF_INSTANTIATE_CPU)
}  // namespace gemforge::pw
