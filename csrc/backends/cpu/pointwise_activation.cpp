// cpu pointwise kernels of the activation family (ops/pointwise/kernels/activation.h).
#include "backends/cpu/pointwise.h"
#include "ops/pointwise/kernels/activation.h"

namespace gemforge::pw {
GF_KERNELS_ACTIVATION(GF_INSTANTIATE_CPU)
}  // namespace gemforge::pw
