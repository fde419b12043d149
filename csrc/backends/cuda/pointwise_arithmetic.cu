// cuda kernels of the pointwise engine, part 1 of 4 (split so that builds run in parallel).
#include "backends/cuda/pointwise.cuh"
namespace gemforge::pw {
GF_INSTANTIATE_CUDA(add) GF_INSTANTIATE_CUDA(sub) GF_INSTANTIATE_CUDA(mul)
GF_INSTANTIATE_CUDA(div_true) GF_INSTANTIATE_CUDA(div_trunc) GF_INSTANTIATE_CUDA(div_floor)
GF_INSTANTIATE_CUDA(neg) GF_INSTANTIATE_CUDA(abs)
GF_INSTANTIATE_CUDA(pow_tensor) GF_INSTANTIATE_CUDA(pow_scalar_exp) GF_INSTANTIATE_CUDA(pow_scalar_base)
}  // namespace gemforge::pw
