// The cuda backend of the pointwise engine: two kernels and the launcher that picks one.
//   vectorized_kernel  every operand dense and of the functor's own dtype: 16-byte accesses,
//                      all loads of a thread issued before the first store, 64-bit indexing
//   strided_kernel     any strides, broadcasting, CPU scalars and (with Cast) any dtypes;
//                      32-bit offsets, the host splits larger iterations
// run_cuda<Op> is instantiated per op by the pointwise_*.cu files.
#pragma once

#include "engine/dtypes.h"
#include "engine/fast_div.h"
#include "engine/pointwise_launch.h"
#include "ops/pointwise/kernels.h"

#include <c10/core/DynamicCast.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/TypeCast.h>
#include <cuda/std/tuple>

#include <cstring>
#include <utility>

namespace gemforge::pw::cuda {

constexpr int kThreads = 256;
constexpr int kVecsPerThread = 2;   // independent 16-byte loads in flight per input per thread
constexpr int kStridedUnroll = 4;   // elements per thread in the strided kernel

template <class T> constexpr ScalarType dtype_of = c10::CppTypeToScalarType<T>::value;

template <class T, int N> struct alignas(sizeof(T) * N) vec { T v[N]; };
template <class T, int V> struct tile { vec<T, V> v[kVecsPerThread]; };

template <class... T> constexpr int max_size() {
  int m = 1;
  ((m = sizeof(T) > m ? int(sizeof(T)) : m), ...);
  return m;
}

// ---- vectorized: contiguous operands of the functor's own dtypes -----------------------------
template <int V, class F, class OutS, class... InS, size_t... I>
__device__ __forceinline__ void vectorized_body(const F& f, int64_t n, OutS* __restrict__ out,
                                                const ::cuda::std::tuple<const InS*...>& in,
                                                std::index_sequence<I...>) {
  using traits = fn_traits<F>;
  constexpr int64_t kPerBlock = int64_t(kThreads) * kVecsPerThread * V;
  const int64_t start = int64_t(blockIdx.x) * kPerBlock;
  if (start + kPerBlock > n) {  // the last, partial block: one element at a time
    for (int64_t i = start + threadIdx.x; i < n; i += kThreads)
      out[i] = c10::convert<OutS>(
          f(static_cast<typename traits::template arg<I>>(::cuda::std::get<I>(in)[i])...));
    return;
  }
  ::cuda::std::tuple<tile<InS, V>...> regs;  // (n_inputs, kVecsPerThread, V)
#pragma unroll
  for (int j = 0; j < kVecsPerThread; ++j) {
    const int64_t i = start + (int64_t(j) * kThreads + threadIdx.x) * V;
    ((::cuda::std::get<I>(regs).v[j] =
          *reinterpret_cast<const vec<InS, V>*>(::cuda::std::get<I>(in) + i)), ...);
  }
#pragma unroll
  for (int j = 0; j < kVecsPerThread; ++j) {
    const int64_t i = start + (int64_t(j) * kThreads + threadIdx.x) * V;
    vec<OutS, V> result;
#pragma unroll
    for (int k = 0; k < V; ++k)
      result.v[k] = c10::convert<OutS>(
          f(static_cast<typename traits::template arg<I>>(::cuda::std::get<I>(regs).v[j].v[k])...));
    *reinterpret_cast<vec<OutS, V>*>(out + i) = result;
  }
}

template <int V, class F, class OutS, class... InS>
__global__ void __launch_bounds__(kThreads)
vectorized_kernel(F f, int64_t n, OutS* out, ::cuda::std::tuple<const InS*...> in) {
  vectorized_body<V>(f, n, out, in, std::index_sequence_for<InS...>{});
}

template <class F, class OutS, class... InS>
void launch_vectorized(const F& f, const Launch& L, cudaStream_t stream) {
  constexpr int V = 16 / max_size<OutS, InS...>();
  constexpr int64_t kPerBlock = int64_t(kThreads) * kVecsPerThread * V;
  const int64_t blocks = (L.numel + kPerBlock - 1) / kPerBlock;
  int k = 1;
  ::cuda::std::tuple<const InS*...> in{reinterpret_cast<const InS*>(L.data[k++])...};
  vectorized_kernel<V><<<blocks, kThreads, 0, stream>>>(
      f, L.numel, reinterpret_cast<OutS*>(L.data[0]), in);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ---- strided: any layout, CPU scalars, and dynamic casts ---------------------------------
struct StridedParams {
  int ndim;
  uint32_t scalar_mask;                     // bit k: operand k is a constant from the host
  fast_div size[kMaxDims];
  uint32_t stride[kMaxOperands][kMaxDims];  // bytes
  char* data[kMaxOperands];
  ScalarType dtype[kMaxOperands];
  alignas(16) unsigned char constant[kMaxOperands][16];  // already in the functor's arg type
};

template <bool Cast, class C, class S, class F, size_t... I>
__global__ void __launch_bounds__(kThreads)
strided_kernel(F f, StridedParams p, uint32_t n, std::index_sequence<I...>) {
  using traits = fn_traits<F>;
  using R = typename traits::result;
  using OutS = storage_of<R, C, S>;
  constexpr int nt = sizeof...(I) + 1;
  uint32_t idx = blockIdx.x * (kThreads * kStridedUnroll) + threadIdx.x;
#pragma unroll
  for (int u = 0; u < kStridedUnroll; ++u, idx += kThreads) {
    if (idx >= n) return;
    uint32_t offset[nt] = {};
    uint32_t rest = idx;
    for (int d = 0; d < p.ndim; ++d) {
      const uint32_t q = p.size[d].div(rest);
      const uint32_t r = rest - q * p.size[d].divisor;
      rest = q;
#pragma unroll
      for (int k = 0; k < nt; ++k) offset[k] += r * p.stride[k][d];
    }
    auto load = [&](auto index) {
      constexpr int i = decltype(index)::value;
      using A = typename traits::template arg<i>;
      A v;
      if (p.scalar_mask & (1u << (i + 1))) {
        memcpy(&v, p.constant[i + 1], sizeof(A));
      } else if constexpr (Cast) {
        v = c10::fetch_and_cast<A>(p.dtype[i + 1], p.data[i + 1] + offset[i + 1]);
      } else {
        v = static_cast<A>(*reinterpret_cast<const storage_of<A, C, S>*>(p.data[i + 1] + offset[i + 1]));
      }
      return v;
    };
    const R r = f(load(std::integral_constant<int, int(I)>{})...);
    if constexpr (Cast) c10::cast_and_store<R>(p.dtype[0], p.data[0] + offset[0], r);
    else *reinterpret_cast<OutS*>(p.data[0] + offset[0]) = c10::convert<OutS>(r);
  }
}

template <bool Cast, class C, class S, class F, size_t... I>
void launch_strided(const F& f, const Launch& L, cudaStream_t stream, std::index_sequence<I...> seq) {
  using traits = fn_traits<F>;
  StridedParams p;
  p.ndim = L.ndim;
  p.scalar_mask = 0;
  for (int d = 0; d < L.ndim; ++d) {
    p.size[d] = fast_div(uint32_t(L.sizes[d]));
    for (int k = 0; k < L.ntensors; ++k) p.stride[k][d] = uint32_t(L.strides[k][d]);
  }
  for (int k = 0; k < L.ntensors; ++k) {
    p.data[k] = L.data[k];
    p.dtype[k] = L.dtype[k];
  }
  auto bind_constant = [&](auto index) {
    constexpr int i = decltype(index)::value;
    using A = typename traits::template arg<i>;
    if (!L.cpu_scalar[i + 1]) return;
    const A v = c10::fetch_and_cast<A>(L.dtype[i + 1], L.data[i + 1]);
    memcpy(p.constant[i + 1], &v, sizeof(A));
    p.scalar_mask |= 1u << (i + 1);
  };
  (bind_constant(std::integral_constant<int, int(I)>{}), ...);

  // A contiguous launch past 2^31 elements arrives here only when it needs casts: walk it in
  // chunks whose byte offsets fit 32 bits.
  constexpr int64_t kChunk = int64_t(1) << 26;
  for (int64_t begin = 0; begin < L.numel; begin += kChunk) {
    const int64_t n = std::min(kChunk, L.numel - begin);
    if (begin > 0) {
      for (int k = 0; k < L.ntensors; ++k)
        if (!(p.scalar_mask & (1u << k))) p.data[k] = L.data[k] + begin * L.strides[k][0];
    }
    const int64_t per_block = int64_t(kThreads) * kStridedUnroll;
    strided_kernel<Cast, C, S><<<(n + per_block - 1) / per_block, kThreads, 0, stream>>>(
        f, p, uint32_t(n), seq);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    if (L.numel <= kChunk) break;
  }
}

template <class Op> constexpr TypeSet cast_targets() {
  if constexpr (std::is_same_v<Op, kernels::copy>) return Op::cast_to;
  else return 0;
}

template <class Op, class S, class C, class F, size_t... I>
void launch_functor(const F& f, const Launch& L, std::index_sequence<I...> seq) {
  using traits = fn_traits<F>;
  using R = typename traits::result;
  using OutS = storage_of<R, C, S>;
  if (L.numel == 0) return;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();

  bool inputs_typed = true, any_scalar = false;
  ((inputs_typed &= L.cpu_scalar[I + 1] ||
                    L.dtype[I + 1] == dtype_of<storage_of<typename traits::template arg<I>, C, S>>),
   ...);
  ((any_scalar |= L.cpu_scalar[I + 1]), ...);
  const bool out_typed = L.dtype[0] == dtype_of<OutS>;

  bool aligned = true;
  for (int k = 0; k < L.ntensors; ++k) aligned &= reinterpret_cast<uintptr_t>(L.data[k]) % 16 == 0;

  if (L.contiguous && aligned && !any_scalar && inputs_typed) {
    if (out_typed) {
      launch_vectorized<F, OutS, storage_of<typename traits::template arg<I>, C, S>...>(f, L, stream);
      return;
    }
    constexpr TypeSet targets = cast_targets<Op>();
    if constexpr (targets != 0) {
      const bool done = dispatch_dtype<targets>(L.dtype[0], [&](auto tag) {
        using D = typename decltype(tag)::type;
        launch_vectorized<F, D, storage_of<typename traits::template arg<I>, C, S>...>(f, L, stream);
      });
      if (done) return;
    }
  }
  if (inputs_typed && out_typed) launch_strided<false, C, S>(f, L, stream, seq);
  else launch_strided<true, C, S>(f, L, stream, seq);
}

}  // namespace gemforge::pw::cuda

namespace gemforge::pw {

template <class Op>
void run_cuda(const Launch& L, const Args& args) {
  const bool known = dispatch_dtype<Op::types>(L.compute, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using C = opmath_t<S>;
    const auto f = Op::template make<C>(args);
    cuda::launch_functor<Op, S, C>(f, L, std::make_index_sequence<fn_traits<decltype(f)>::arity>{});
  });
  TORCH_INTERNAL_ASSERT(known, "gemforge: no cuda kernel for dtype ", L.compute);
}

#define GF_INSTANTIATE_CUDA(op) template void run_cuda<kernels::op>(const Launch&, const Args&);

}  // namespace gemforge::pw
