// cpu pointwise kernels of the creation family (ops/pointwise/kernels/creation.h).
#include "backends/cpu/pointwise.h"
#include "ops/pointwise/kernels/creation.h"

namespace gemforge::pw {
GF_KERNELS_CREATION(GF_INSTANTIATE_CPU)
}  // namespace gemforge::pw
