// cuda pointwise kernels of the special family, its binary ops: xlogy, xlog1py, igamma, igammac
// and the polynomials (ops/pointwise/kernels/special.h).
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/special.h"

namespace gemforge::pw {
GF_KERNELS_SPECIAL_BINARY(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw
