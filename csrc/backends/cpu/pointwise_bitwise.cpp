// cpu pointwise kernels of the bitwise family (ops/pointwise/kernels/bitwise.h).
#include "backends/cpu/pointwise.h"
#include "ops/pointwise/kernels/bitwise.h"

namespace gemforge::pw {
GF_KERNELS_BITWISE(GF_INSTANTIATE_CPU)
}  // namespace gemforge::pw
