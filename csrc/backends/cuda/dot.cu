// dot on cuda: the sum of x[i] * y[i] over a dense or strided pair of vectors.
//   dot_partial  a grid of G blocks, each thread summing a fixed share of the products
//                (16-byte vector loads on dense aligned vectors, kUnroll in flight), each
//                block its threads in a fixed tree; G == 1 writes the result directly
//   dot_finish   one block adds the G partial sums in a fixed order
// G depends on n and the device only, so a run gives the same bits as the last (torch's
// cuBLAS dot is deterministic too). fp16/bf16 accumulate in fp32, double in double.
#include "backends/cuda/launch.cuh"
#include "backends/gemm.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace gemforge::gemm {
namespace {

using pw::cuda::launch;
using pw::cuda::pdl_begin;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kUnroll = 4;         // 16-byte vectors of each input in flight per thread
constexpr int kBlocksPerSm = 4;
constexpr int64_t kElemsPerThread = 8;  // at least this many elements per thread of the grid

template <class T> using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <class T> struct alignas(16) vec16 {
  static constexpr int n = 16 / sizeof(T);
  T v[n];
};

// Thread 0 gets the block's sum (a fixed tree: deterministic).
template <class A> __device__ __forceinline__ A block_sum(A a) {
  __shared__ A partial[kWarps];
#pragma unroll
  for (int d = 16; d > 0; d /= 2) a += __shfl_down_sync(0xffffffffu, a, d);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) partial[warp] = a;
  __syncthreads();
  if (warp == 0) {
    a = lane < kWarps ? partial[lane] : A(0);
#pragma unroll
    for (int d = 16; d > 0; d /= 2) a += __shfl_down_sync(0xffffffffu, a, d);
  }
  return a;
}

// Dense: incx == incy == 1 and both pointers 16-byte aligned.
template <class T, bool Dense>
__global__ void __launch_bounds__(kThreads)
dot_partial(const T* __restrict__ x, int64_t incx, const T* __restrict__ y, int64_t incy, int64_t n,
            acc_t<T>* __restrict__ partials, T* __restrict__ out) {
  using A = acc_t<T>;
  pdl_begin();
  const int64_t g = int64_t(blockIdx.x) * kThreads + threadIdx.x;  // this thread's index in the grid
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  A a = 0;
  if constexpr (Dense) {
    using V = vec16<T>;
    const int64_t nv = n / V::n;  // whole vectors; the rest is the tail below
    const V* xv = reinterpret_cast<const V*>(x);
    const V* yv = reinterpret_cast<const V*>(y);
    int64_t i = g;
    for (; i + (kUnroll - 1) * stride < nv; i += kUnroll * stride) {
      V xs[kUnroll], ys[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        xs[u] = xv[i + u * stride];
        ys[u] = yv[i + u * stride];
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
#pragma unroll
        for (int e = 0; e < V::n; ++e) a += A(xs[u].v[e]) * A(ys[u].v[e]);
    }
    for (; i < nv; i += stride) {
      const V xs = xv[i], ys = yv[i];
#pragma unroll
      for (int e = 0; e < V::n; ++e) a += A(xs.v[e]) * A(ys.v[e]);
    }
    const int64_t tail = nv * V::n + g;  // fewer than V::n elements, one per thread
    if (tail < n) a += A(x[tail]) * A(y[tail]);
  } else {
    for (int64_t i = g; i < n; i += stride) a += A(x[i * incx]) * A(y[i * incy]);
  }
  a = block_sum(a);
  if (threadIdx.x == 0) {
    if (partials) partials[blockIdx.x] = a;
    else *out = static_cast<T>(a);
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
dot_finish(const acc_t<T>* __restrict__ partials, int64_t count, T* __restrict__ out) {
  using A = acc_t<T>;
  pdl_begin();
  A a = 0;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) a += partials[i];
  a = block_sum(a);
  if (threadIdx.x == 0) *out = static_cast<T>(a);
}

using pw::cuda::sm_count;

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <class T> void run(const Dot& d) {
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();
  const T* x = static_cast<const T*>(d.x);
  const T* y = static_cast<const T*>(d.y);
  T* out = static_cast<T*>(d.out);
  auto* partials = static_cast<acc_t<T>*>(d.partials);
  const int64_t blocks = partials ? dot_partials(d.n) : 1;
  const bool dense = d.incx == 1 && d.incy == 1 && aligned16(x) && aligned16(y);
  launch(dense ? dot_partial<T, true> : dot_partial<T, false>, dim3(unsigned(blocks)), dim3(kThreads),
         stream, x, d.incx, y, d.incy, d.n, partials, out);
  if (partials) launch(dot_finish<T>, dim3(1), dim3(kThreads), stream, partials, blocks, out);
}

}  // namespace

int64_t dot_partials(int64_t n) {
  const int64_t by_size = (n + kThreads * kElemsPerThread - 1) / (kThreads * kElemsPerThread);
  return std::max<int64_t>(1, std::min<int64_t>(int64_t(sm_count()) * kBlocksPerSm, by_size));
}

void dot_cuda(const Dot& d) {
  switch (d.dtype) {
    case ScalarType::Half: return run<c10::Half>(d);
    case ScalarType::BFloat16: return run<c10::BFloat16>(d);
    case ScalarType::Float: return run<float>(d);
    case ScalarType::Double: return run<double>(d);
    default: TORCH_INTERNAL_ASSERT(false, "dot_cuda: unsupported dtype ", d.dtype);
  }
}

}  // namespace gemforge::gemm
