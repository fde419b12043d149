// cuda kernel of frexp (ops/pointwise/kernels/frexp.h): operands mantissa (S), exponent (int32),
// x (S); the op checked their dtypes, so no casts. Dense operands take 16-byte loads of x and
// stores of the mantissa (the exponents in 16-byte pieces too); any other layout runs the
// strided kernel on 32-bit offsets (the host splits larger iterations, 1-d ones are chunked).
#include "backends/cuda/pointwise.cuh"
#include "ops/pointwise/kernels/frexp.h"

namespace gemforge::pw {
namespace cuda {
namespace {

constexpr int kFrexpThreads = 256;

// A block owns kFrexpThreads * V consecutive elements, a thread one vector of V.
template <class S, int V>
__global__ void __launch_bounds__(kFrexpThreads)
frexp_dense_kernel(int64_t n, S* mantissa, int32_t* exponent, const S* x) {
  using C = opmath_t<S>;
  constexpr int64_t kPerBlock = int64_t(kFrexpThreads) * V;
  const int64_t start = int64_t(blockIdx.x) * kPerBlock;
  pdl_begin();
  if (start + kPerBlock > n) {  // the last, partial block: one element at a time
    for (int64_t i = start + threadIdx.x; i < n; i += kFrexpThreads)
      mantissa[i] = S(kernels::frexp_of(C(x[i]), exponent[i]));
    return;
  }
  const int64_t i = start + int64_t(threadIdx.x) * V;
  const vec<S, V> in = *reinterpret_cast<const vec<S, V>*>(x + i);  // (V)
  vec<S, V> m;
  vec<int32_t, V> e;  // 16 bytes (fp32), 32 (fp16/bf16) or 8 (fp64)
#pragma unroll
  for (int k = 0; k < V; ++k) m.v[k] = S(kernels::frexp_of(C(in.v[k]), e.v[k]));
  *reinterpret_cast<vec<S, V>*>(mantissa + i) = m;
  *reinterpret_cast<vec<int32_t, V>*>(exponent + i) = e;
}

template <class S>
__global__ void __launch_bounds__(kThreads)
frexp_strided_kernel(StridedParams p, uint32_t n) {
  using C = opmath_t<S>;
  uint32_t idx = blockIdx.x * (kThreads * kStridedUnroll) + threadIdx.x;
  pdl_begin();
#pragma unroll
  for (int u = 0; u < kStridedUnroll; ++u, idx += kThreads) {
    if (idx >= n) return;
    uint32_t offset[3] = {};
    add_offsets<3>(p, p.ndim, idx, offset);
    int32_t e;
    const S m = S(kernels::frexp_of(C(*reinterpret_cast<const S*>(p.data[2] + offset[2])), e));
    *reinterpret_cast<S*>(p.data[0] + offset[0]) = m;
    *reinterpret_cast<int32_t*>(p.data[1] + offset[1]) = e;
  }
}

template <class S>
void launch_frexp(const Launch& L, cudaStream_t stream) {
  constexpr int V = 16 / int(sizeof(S));
  const bool aligned = reinterpret_cast<uintptr_t>(L.data[0]) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(L.data[2]) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(L.data[1]) % (sizeof(int32_t) * V) == 0;
  if (L.contiguous && aligned && !L.cpu_scalar[2]) {
    constexpr int64_t kPerBlock = int64_t(kFrexpThreads) * V;
    const int64_t blocks = (L.numel + kPerBlock - 1) / kPerBlock;  // < 2^31: numel < 2^40
    launch(frexp_dense_kernel<S, V>, dim3(unsigned(blocks)), dim3(kFrexpThreads), stream, L.numel,
           reinterpret_cast<S*>(L.data[0]), reinterpret_cast<int32_t*>(L.data[1]),
           reinterpret_cast<const S*>(L.data[2]));
    return;
  }
  StridedParams p;
  p.ndim = L.ndim;
  p.scalar_mask = 0;
  for (int d = 0; d < L.ndim; ++d) {
    p.size[d] = fast_div(uint32_t(L.sizes[d]));
    for (int k = 0; k < 3; ++k) p.stride[k][d] = uint32_t(L.strides[k][d]);
  }
  for (int k = 0; k < 3; ++k) p.data[k] = L.data[k];
  const int64_t per_block = int64_t(kThreads) * kStridedUnroll;
  if (L.ndim > 1) {  // the host split the iteration: every offset fits 32 bits
    launch(frexp_strided_kernel<S>, dim3(unsigned((L.numel + per_block - 1) / per_block)), dim3(kThreads),
           stream, p, uint32_t(L.numel));
    return;
  }
  // One dimension (the host does not split those): chunks whose byte offsets fit 32 bits.
  int64_t max_stride = 1;
  for (int k = 0; k < 3; ++k) max_stride = std::max(max_stride, L.strides[k][0]);
  const int64_t chunk = std::min(int64_t(1) << 30, ((int64_t(1) << 31) - 1) / max_stride);
  for (int64_t begin = 0; begin < L.numel; begin += chunk) {
    const int64_t n = std::min(chunk, L.numel - begin);
    for (int k = 0; k < 3; ++k) p.data[k] = L.data[k] + begin * L.strides[k][0];
    launch(frexp_strided_kernel<S>, dim3(unsigned((n + per_block - 1) / per_block)), dim3(kThreads), stream,
           p, uint32_t(n));
  }
}

}  // namespace
}  // namespace cuda

template <>
void run_cuda<kernels::frexp>(const Launch& L, const Args&) {
  if (L.numel == 0) return;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const bool known = dispatch_dtype<kernels::frexp::types>(L.compute, [&](auto tag) {
    cuda::launch_frexp<typename decltype(tag)::type>(L, stream);
  });
  TORCH_INTERNAL_ASSERT(known, "gemforge: no cuda frexp kernel for dtype ", L.compute);
}

}  // namespace gemforge::pw
