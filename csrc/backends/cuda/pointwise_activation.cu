// cuda pointwise kernels of the activation family (ops/pointwise/kernels/activation.h).
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/activation.h"

namespace gemforge::pw {
GF_KERNELS_ACTIVATION(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw
