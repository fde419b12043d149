// cuda kernels of the pointwise engine, part 4 of 4: selection, clamping, fill and copy.
#include "backends/cuda/pointwise.cuh"
namespace gemforge::pw {
GF_INSTANTIATE_CUDA(where) GF_INSTANTIATE_CUDA(clamp_scalar) GF_INSTANTIATE_CUDA(clamp_tensor)
GF_INSTANTIATE_CUDA(clamp_min_tensor) GF_INSTANTIATE_CUDA(clamp_max_tensor)
GF_INSTANTIATE_CUDA(fill) GF_INSTANTIATE_CUDA(copy)
}  // namespace gemforge::pw
