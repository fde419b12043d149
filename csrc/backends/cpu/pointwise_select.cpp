// cpu pointwise kernels of the select family (ops/pointwise/kernels/select.h).
#include "backends/cpu/pointwise.h"
#include "ops/pointwise/kernels/select.h"

namespace gemforge::pw {
GF_KERNELS_SELECT(GF_INSTANTIATE_CPU)
}  // namespace gemforge::pw
