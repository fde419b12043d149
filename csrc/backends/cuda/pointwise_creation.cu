// cuda pointwise kernels of the creation family (ops/pointwise/kernels/creation.h).
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/creation.h"

namespace gemforge::pw {
GF_KERNELS_CREATION(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw
