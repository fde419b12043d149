// cuda pointwise kernels of the fill_copy family (ops/pointwise/kernels/fill_copy.h).
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/fill_copy.h"

namespace gemforge::pw {
GF_KERNELS_FILL_COPY(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw
