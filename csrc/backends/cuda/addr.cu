// addr on cuda: out = beta * self + alpha * outer(vec1, vec2) in one pass over out.
// A block of 256 threads covers R rows x C column chunks (C a power of two, at least the
// chunks of one row up to 256): each thread writes one chunk of V elements of a row, V = 16
// bytes' worth when out and vec2 are dense and 16-byte aligned (vector loads and stores), else
// 1 (any strides). self is read with vector loads when its rows are dense too, element by
// element otherwise (broadcasts), and not at all when beta is zero.
#include "backends/cuda/launch.cuh"
#include "backends/gemm_ext.h"
#include "engine/dtypes.h"

#include <c10/cuda/CUDAException.h>
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
constexpr int64_t kMaxRowBlocks = 65535;

template <class T> struct alignas(16) chunk16 {
  static constexpr int n = 16 / sizeof(T);
  T v[n];
};

// One element: T's arithmetic as torch's addr kernel does it (see Addr).
template <class T> struct addr_op {
  using acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
  acc alpha, beta;
  __device__ __forceinline__ T operator()(T s, T x, T y, bool use_self) const {
    const acc p = alpha * static_cast<acc>(x) * static_cast<acc>(y);
    return static_cast<T>(use_self ? beta * static_cast<acc>(s) + p : p);
  }
};
template <> struct addr_op<bool> {
  bool alpha, beta;
  __device__ __forceinline__ bool operator()(bool s, bool x, bool y, bool use_self) const {
    return (use_self && beta && s) || (alpha && x && y);
  }
};
// Integers: wrapping arithmetic in uint64, which agrees with T's own modulo its width.
template <class T> struct addr_int_op {
  uint64_t alpha, beta;
  __device__ __forceinline__ T operator()(T s, T x, T y, bool use_self) const {
    const uint64_t p = alpha * uint64_t(int64_t(x)) * uint64_t(int64_t(y));
    return static_cast<T>(use_self ? beta * uint64_t(int64_t(s)) + p : p);
  }
};
template <class T> using op_for =
    std::conditional_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, addr_int_op<T>, addr_op<T>>;

template <class T> op_for<T> make_op(const Addr& a) {
  op_for<T> op;
  if constexpr (std::is_same_v<T, bool>) {
    op.alpha = a.ialpha != 0;
    op.beta = a.ibeta != 0;
  } else if constexpr (std::is_integral_v<T>) {
    op.alpha = uint64_t(a.ialpha);
    op.beta = uint64_t(a.ibeta);
  } else {
    using acc = typename op_for<T>::acc;
    op.alpha = static_cast<acc>(a.falpha);
    op.beta = static_cast<acc>(a.fbeta);
  }
  return op;
}

// V > 1: out rows and vec2 dense and 16-byte aligned, cols % V == 0, out_s0 % V == 0;
// self_dense: self's rows too (self_s1 == 1, self_s0 % V == 0, aligned).
template <class T, int V>
__global__ void __launch_bounds__(kThreads)
addr_kernel(Addr p, op_for<T> op, int log2_c, bool self_dense) {
  pdl_begin();
  const int c_mask = (1 << log2_c) - 1;
  const int rows_per_block = kThreads >> log2_c;
  const int64_t chunks = p.cols / V;
  const int64_t chunk = int64_t(blockIdx.x) * (c_mask + 1) + (threadIdx.x & c_mask);
  if (chunk >= chunks) return;
  const int64_t j = chunk * V;
  T* __restrict__ out = static_cast<T*>(p.out);
  const T* __restrict__ self = static_cast<const T*>(p.self);
  const T* __restrict__ vec1 = static_cast<const T*>(p.vec1);
  const T* __restrict__ vec2 = static_cast<const T*>(p.vec2);
  const bool use_self = self != nullptr;

  T y[V];
  if constexpr (V > 1) {
    const auto yc = *reinterpret_cast<const chunk16<T>*>(vec2 + j);
#pragma unroll
    for (int u = 0; u < V; ++u) y[u] = yc.v[u];
  } else {
    y[0] = vec2[j * p.inc2];
  }
  const int64_t row_step = int64_t(gridDim.y) * rows_per_block;
  for (int64_t i = int64_t(blockIdx.y) * rows_per_block + (threadIdx.x >> log2_c); i < p.rows; i += row_step) {
    const T x = vec1[i * p.inc1];
    T s[V];
    if (use_self) {
      if (V > 1 && self_dense) {
        const auto sc = *reinterpret_cast<const chunk16<T>*>(self + i * p.self_s0 + j);
#pragma unroll
        for (int u = 0; u < V; ++u) s[u] = sc.v[u];
      } else {
#pragma unroll
        for (int u = 0; u < V; ++u) s[u] = self[i * p.self_s0 + (j + u) * p.self_s1];
      }
    } else {
#pragma unroll
      for (int u = 0; u < V; ++u) s[u] = T(0);
    }
    if constexpr (V > 1) {
      chunk16<T> oc;
#pragma unroll
      for (int u = 0; u < V; ++u) oc.v[u] = op(s[u], x, y[u], use_self);
      *reinterpret_cast<chunk16<T>*>(out + i * p.out_s0 + j) = oc;
    } else {
      out[i * p.out_s0 + j * p.out_s1] = op(s[0], x, y[0], use_self);
    }
  }
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

template <class T, int V>
void run(const Addr& a, cudaStream_t stream) {
  const int64_t chunks = a.cols / V;
  int log2_c = 0;
  while ((int64_t(1) << log2_c) < chunks && log2_c < 8) ++log2_c;  // C = min(pow2 >= chunks, 256)
  const int64_t c = int64_t(1) << log2_c;
  const int64_t rows_per_block = kThreads / c;
  const int64_t col_blocks = (chunks + c - 1) / c;
  const int64_t row_blocks = std::min((a.rows + rows_per_block - 1) / rows_per_block, kMaxRowBlocks);
  bool self_dense = false;
  if constexpr (V > 1)
    self_dense = a.self && a.self_s1 == 1 && a.self_s0 % V == 0 && aligned16(a.self);
  launch(addr_kernel<T, V>, dim3(unsigned(col_blocks), unsigned(row_blocks)), dim3(kThreads), stream, a,
         make_op<T>(a), log2_c, self_dense);
}

}  // namespace

void addr_cuda(const Addr& a) {
  if (a.rows == 0 || a.cols == 0) return;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();
  constexpr TypeSet kTypes = kReal | kBool;
  const bool ok = dispatch_dtype<kTypes>(a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int V = int(16 / sizeof(T));
    const bool vec = a.out_s1 == 1 && a.out_s0 % V == 0 && a.cols % V == 0 && aligned16(a.out) &&
                     a.inc2 == 1 && aligned16(a.vec2) && (a.cols / V) <= int64_t(UINT32_MAX) * kThreads;
    if (vec) {
      run<T, V>(a, stream);
    } else {
      run<T, 1>(a, stream);
    }
  });
  TORCH_CHECK(ok, "addr: no cuda kernel for ", a.dtype);
}

}  // namespace gemforge::gemm
