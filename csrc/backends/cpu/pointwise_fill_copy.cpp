// cpu pointwise kernels of the fill_copy family (ops/pointwise/kernels/fill_copy.h).
#include "backends/cpu/pointwise.h"
#include "ops/pointwise/kernels/fill_copy.h"

namespace gemforge::pw {
GF_KERNELS_FILL_COPY(GF_INSTANTIATE_CPU)
}  // namespace gemforge::pw
