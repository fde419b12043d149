// cuda kernels of the pointwise engine, part 2 of 4: transcendental functions and activations.
#include "backends/cuda/pointwise.cuh"
namespace gemforge::pw {
GF_INSTANTIATE_CUDA(exp) GF_INSTANTIATE_CUDA(log) GF_INSTANTIATE_CUDA(sqrt) GF_INSTANTIATE_CUDA(rsqrt)
GF_INSTANTIATE_CUDA(sin) GF_INSTANTIATE_CUDA(cos) GF_INSTANTIATE_CUDA(tanh) GF_INSTANTIATE_CUDA(sigmoid)
GF_INSTANTIATE_CUDA(relu) GF_INSTANTIATE_CUDA(silu) GF_INSTANTIATE_CUDA(gelu)
}  // namespace gemforge::pw
