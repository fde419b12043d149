// cuda pointwise kernels of the activations' backward ops (ops/pointwise/kernels/activation_backward.h).
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/activation_backward.h"

namespace gemforge::pw {
GF_KERNELS_ACTIVATION_BACKWARD(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw
