// cuda kernels of the pointwise engine, part 3 of 4: comparisons and logic.
#include "backends/cuda/pointwise.cuh"
namespace gemforge::pw {
GF_INSTANTIATE_CUDA(eq) GF_INSTANTIATE_CUDA(ne) GF_INSTANTIATE_CUDA(lt) GF_INSTANTIATE_CUDA(le)
GF_INSTANTIATE_CUDA(gt) GF_INSTANTIATE_CUDA(ge)
GF_INSTANTIATE_CUDA(logical_and) GF_INSTANTIATE_CUDA(logical_or) GF_INSTANTIATE_CUDA(logical_not)
}  // namespace gemforge::pw
