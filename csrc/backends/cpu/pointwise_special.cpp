// cpu pointwise kernels of the special family (ops/pointwise/kernels/special.h).
#include "backends/cpu/pointwise.h"
#include "ops/pointwise/kernels/special.h"

namespace gemforge::pw {
GF_KERNELS_SPECIAL(GF_INSTANTIATE_CPU)
}  // namespace gemforge::pw
