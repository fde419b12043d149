// cpu pointwise kernels of the compare family (ops/pointwise/kernels/compare.h).
#include "backends/cpu/pointwise.h"
#include "ops/pointwise/kernels/compare.h"

namespace gemforge::pw {
GF_KERNELS_COMPARE(GF_INSTANTIATE_CPU)
}  // namespace gemforge::pw
