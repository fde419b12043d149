// cpu pointwise kernels of the rounding family (ops/pointwise/kernels/rounding.h).
#include "backends/cpu/pointwise.h"
#include "ops/pointwise/kernels/rounding.h"

namespace gemforge::pw {
GF_KERNELS_ROUNDING(GF_INSTANTIATE_CPU)
}  // namespace gemforge::pw
