// cuda pointwise kernels of the select family (ops/pointwise/kernels/select.h).
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/select.h"

namespace gemforge::pw {
GF_KERNELS_SELECT(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw
