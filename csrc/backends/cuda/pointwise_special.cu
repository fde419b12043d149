// cuda pointwise kernels of the special family, its unary ops (ops/pointwise/kernels/special.h;
// the binary ones are in pointwise_special_binary.cu: one file would take nvcc twice as long).
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/special.h"

namespace gemforge::pw {
GF_KERNELS_SPECIAL_UNARY(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw
