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

#include <cstdlib>
#include <cstring>
#include <utility>

namespace gemforge::pw::cuda {

constexpr int kThreads = 256;
constexpr int kStridedUnroll = 4;   // elements per thread in the strided kernel

template <class T> constexpr ScalarType dtype_of = c10::CppTypeToScalarType<T>::value;

template <class T, int N> struct alignas(sizeof(T) * N) vec { T v[N]; };
template <class T, int V, int Vecs> struct tile { vec<T, V> v[Vecs]; };

template <class... T> constexpr int max_size() {
  int m = 1;
  ((m = sizeof(T) > m ? int(sizeof(T)) : m), ...);
  return m;
}

// A vector access, optionally with the streaming (evict-first) cache hint: the data is touched
// once, so it need not displace what the L2 holds for others.
template <bool Streaming, class T, int V>
__device__ __forceinline__ vec<T, V> load_vec(const T* p) {
  using raw = std::conditional_t<sizeof(vec<T, V>) == 16, uint4,
              std::conditional_t<sizeof(vec<T, V>) == 8, uint2,
              std::conditional_t<sizeof(vec<T, V>) == 4, unsigned, unsigned short>>>;
  vec<T, V> out;
  if constexpr (Streaming && sizeof(vec<T, V>) >= 2) {
    const raw r = __ldcs(reinterpret_cast<const raw*>(p));
    memcpy(&out, &r, sizeof(out));
  } else {
    out = *reinterpret_cast<const vec<T, V>*>(p);
  }
  return out;
}
template <bool Streaming, class T, int V>
__device__ __forceinline__ void store_vec(T* p, const vec<T, V>& value) {
  using raw = std::conditional_t<sizeof(vec<T, V>) == 16, uint4,
              std::conditional_t<sizeof(vec<T, V>) == 8, uint2,
              std::conditional_t<sizeof(vec<T, V>) == 4, unsigned, unsigned short>>>;
  if constexpr (Streaming && sizeof(vec<T, V>) >= 2) {
    raw r;
    memcpy(&r, &value, sizeof(r));
    __stcs(reinterpret_cast<raw*>(p), r);
  } else {
    *reinterpret_cast<vec<T, V>*>(p) = value;
  }
}

// ---- vectorized: contiguous operands of the functor's own dtypes -----------------------------
// A block owns kThreads * Vecs * V consecutive elements; a thread issues all its loads (Vecs
// vectors per input) before its first store, which may alias an input (in-place ops).
template <int V, int Vecs, bool Streaming, class F, class OutS, class... InS, size_t... I>
__device__ __forceinline__ void vectorized_body(const F& f, int64_t n, OutS* out,
                                                const ::cuda::std::tuple<const InS*...>& in,
                                                std::index_sequence<I...>) {
  using traits = fn_traits<F>;
  constexpr int64_t kPerBlock = int64_t(kThreads) * Vecs * V;
  const int64_t start = int64_t(blockIdx.x) * kPerBlock;
  if (start + kPerBlock > n) {  // the last, partial block: one element at a time
    for (int64_t i = start + threadIdx.x; i < n; i += kThreads)
      out[i] = c10::convert<OutS>(
          f(static_cast<typename traits::template arg<I>>(::cuda::std::get<I>(in)[i])...));
    return;
  }
  ::cuda::std::tuple<tile<InS, V, Vecs>...> regs;  // (inputs, Vecs, V)
#pragma unroll
  for (int j = 0; j < Vecs; ++j) {
    const int64_t i = start + (int64_t(j) * kThreads + threadIdx.x) * V;
    ((::cuda::std::get<I>(regs).v[j] = load_vec<Streaming, InS, V>(::cuda::std::get<I>(in) + i)), ...);
  }
#pragma unroll
  for (int j = 0; j < Vecs; ++j) {
    const int64_t i = start + (int64_t(j) * kThreads + threadIdx.x) * V;
    vec<OutS, V> result;
#pragma unroll
    for (int k = 0; k < V; ++k)
      result.v[k] = c10::convert<OutS>(
          f(static_cast<typename traits::template arg<I>>(::cuda::std::get<I>(regs).v[j].v[k])...));
    store_vec<Streaming, OutS, V>(out + i, result);
  }
}

template <int V, int Vecs, bool Streaming, class F, class OutS, class... InS>
__global__ void __launch_bounds__(kThreads)
vectorized_kernel(F f, int64_t n, OutS* out, ::cuda::std::tuple<const InS*...> in) {
  vectorized_body<V, Vecs, Streaming>(f, n, out, in, std::index_sequence_for<InS...>{});
}

// EXPERIMENT: GEMFORGE_PW_VARIANT picks the vectorized kernel's shape (0: 2 vectors a thread,
// 1: 4 vectors, 2: 4 vectors with streaming hints).
inline int pw_variant() {
  static const int v = [] {
    const char* e = std::getenv("GEMFORGE_PW_VARIANT");
    return e ? std::atoi(e) : 0;
  }();
  return v;
}

template <class F, class OutS, class... InS>
void launch_vectorized(const F& f, const Launch& L, cudaStream_t stream) {
  constexpr int V = 16 / max_size<OutS, InS...>();
  int k = 1;
  ::cuda::std::tuple<const InS*...> in{reinterpret_cast<const InS*>(L.data[k++])...};
  OutS* out = reinterpret_cast<OutS*>(L.data[0]);
  auto go = [&](auto vecs, auto streaming) {
    constexpr int Vecs = decltype(vecs)::value;
    constexpr bool S = decltype(streaming)::value;
    constexpr int64_t kPerBlock = int64_t(kThreads) * Vecs * V;
    const int64_t blocks = (L.numel + kPerBlock - 1) / kPerBlock;
    vectorized_kernel<V, Vecs, S><<<blocks, kThreads, 0, stream>>>(f, L.numel, out, in);
  };
  switch (pw_variant()) {
    case 1: go(std::integral_constant<int, 4>{}, std::false_type{}); break;
    case 2: go(std::integral_constant<int, 4>{}, std::true_type{}); break;
    default: go(std::integral_constant<int, 2>{}, std::false_type{}); break;
  }
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

// Each thread takes kStridedUnroll elements kThreads apart: it computes their offsets and
// issues every load first, then computes and stores (a store may alias a later load's address
// only in place, element for element, so the order within a thread is kept).
template <bool Cast, class C, class S, class F, size_t... I>
__global__ void __launch_bounds__(kThreads)
strided_kernel(F f, StridedParams p, uint32_t n, std::index_sequence<I...>) {
  using traits = fn_traits<F>;
  using R = typename traits::result;
  using OutS = storage_of<R, C, S>;
  constexpr int nt = sizeof...(I) + 1;
  const uint32_t first = blockIdx.x * (kThreads * kStridedUnroll) + threadIdx.x;

  uint32_t offset[kStridedUnroll][nt];
#pragma unroll
  for (int u = 0; u < kStridedUnroll; ++u) {
#pragma unroll
    for (int k = 0; k < nt; ++k) offset[u][k] = 0;
    uint32_t rest = first + u * kThreads;
    for (int d = 0; d < p.ndim; ++d) {
      const uint32_t q = p.size[d].div(rest);
      const uint32_t r = rest - q * p.size[d].divisor;
      rest = q;
#pragma unroll
      for (int k = 0; k < nt; ++k) offset[u][k] += r * p.stride[k][d];
    }
  }

  auto load = [&](auto index, int u) {
    constexpr int i = decltype(index)::value;
    using A = typename traits::template arg<i>;
    A v{};
    if (p.scalar_mask & (1u << (i + 1))) {
      memcpy(&v, p.constant[i + 1], sizeof(A));
    } else if (first + u * kThreads < n) {
      const char* ptr = p.data[i + 1] + offset[u][i + 1];
      if constexpr (Cast) v = c10::fetch_and_cast<A>(p.dtype[i + 1], ptr);
      else v = static_cast<A>(*reinterpret_cast<const storage_of<A, C, S>*>(ptr));
    }
    return v;
  };
  ::cuda::std::tuple<typename traits::template arg<I>...> args[kStridedUnroll];
#pragma unroll
  for (int u = 0; u < kStridedUnroll; ++u)
    args[u] = ::cuda::std::make_tuple(load(std::integral_constant<int, int(I)>{}, u)...);

#pragma unroll
  for (int u = 0; u < kStridedUnroll; ++u) {
    if (first + u * kThreads >= n) return;
    const R r = f(::cuda::std::get<I>(args[u])...);
    char* dst = p.data[0] + offset[u][0];
    if constexpr (Cast) c10::cast_and_store<R>(p.dtype[0], dst, r);
    else *reinterpret_cast<OutS*>(dst) = c10::convert<OutS>(r);
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
