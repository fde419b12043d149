// The cuda backend of the pointwise engine: four kernels and the launcher that picks one.
//   vectorized_kernel  every operand dense and of the functor's own dtype: 16-byte accesses,
//                      all loads of a thread issued before the first store, 64-bit indexing
//   inner_kernel       the innermost dimension dense or broadcast in every operand (bias adds,
//                      row/column scales): the same 16-byte accesses, outer dims by offset
//   tiled_kernel       2-d (or batched) iterations with operands dense along different
//                      dimensions (transposes): 32 x 32 tiles turned in shared memory
//   strided_kernel     any strides, CPU scalars and (with Cast) any dtypes, one element at a
//                      time; 32-bit offsets, the host splits larger iterations
// run_cuda<Op> is instantiated per family by the pointwise_<family>.cu files.
#pragma once

#include "backends/cuda/launch.cuh"
#include "backends/cuda/pointwise_table.cuh"
#include "engine/dtypes.h"
#include "engine/fast_div.h"
#include "engine/pointwise_launch.h"
#include "ops/pointwise/kernels/base.h"
#include "ops/pointwise/kernels/fill_copy.h"  // copy: a dense same-dtype copy is a memcpy

#include <c10/core/DynamicCast.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/TypeCast.h>
#include <cuda/std/tuple>

#include <cstring>
#include <utility>

namespace gemforge::pw::cuda {

constexpr int kThreads = 256;
constexpr int kVecsPerThread = 2;  // 16-byte vectors per input per thread, inner-dense kernel
constexpr int kStridedUnroll = 4;   // elements per thread in the strided kernel

template <class T> constexpr ScalarType dtype_of = c10::CppTypeToScalarType<T>::value;

template <class T, int N> struct alignas(sizeof(T) * N) vec { T v[N]; };
template <class T, int V> struct tile { vec<T, V> v[kVecsPerThread]; };
template <class T, int V, int Vecs> struct vec_tile { vec<T, V> v[Vecs]; };

template <class... T> constexpr int max_size() {
  int m = 1;
  ((m = sizeof(T) > m ? int(sizeof(T)) : m), ...);
  return m;
}

// ---- vectorized: contiguous operands of the functor's own dtypes -----------------------------
// A block owns Threads * Vecs * V consecutive elements; a thread issues all its loads before
// its first store, which may alias an input (in-place ops).
template <int V, int Threads, int Vecs, class F, class OutS, class... InS, size_t... I>
__device__ __forceinline__ void vectorized_body(const F& f, int64_t n, OutS* out,
                                                const ::cuda::std::tuple<const InS*...>& in,
                                                std::index_sequence<I...>) {
  using traits = fn_traits<F>;
  constexpr int64_t kPerBlock = int64_t(Threads) * Vecs * V;
  const int64_t start = int64_t(blockIdx.x) * kPerBlock;
  pdl_begin();
  if (start + kPerBlock > n) {  // the last, partial block: one element at a time
    for (int64_t i = start + threadIdx.x; i < n; i += Threads)
      out[i] = c10::convert<OutS>(
          f(static_cast<typename traits::template arg<I>>(::cuda::std::get<I>(in)[i])...));
    return;
  }
  ::cuda::std::tuple<vec_tile<InS, V, Vecs>...> regs;  // (inputs, Vecs, V)
#pragma unroll
  for (int j = 0; j < Vecs; ++j) {
    const int64_t i = start + (int64_t(j) * Threads + threadIdx.x) * V;
    ((::cuda::std::get<I>(regs).v[j] =
          *reinterpret_cast<const vec<InS, V>*>(::cuda::std::get<I>(in) + i)), ...);
  }
#pragma unroll
  for (int j = 0; j < Vecs; ++j) {
    const int64_t i = start + (int64_t(j) * Threads + threadIdx.x) * V;
    vec<OutS, V> result;
#pragma unroll
    for (int k = 0; k < V; ++k)
      result.v[k] = c10::convert<OutS>(
          f(static_cast<typename traits::template arg<I>>(::cuda::std::get<I>(regs).v[j].v[k])...));
    *reinterpret_cast<vec<OutS, V>*>(out + i) = result;
  }
}

template <int V, int Threads, int Vecs, class F, class OutS, class... InS>
__global__ void __launch_bounds__(Threads)
vectorized_kernel(F f, int64_t n, OutS* out, ::cuda::std::tuple<const InS*...> in) {
  vectorized_body<V, Threads, Vecs>(f, n, out, in, std::index_sequence_for<InS...>{});
}

template <int Vecs, class F, class OutS, class... InS>
void launch_vectorized(const F& f, const Launch& L, cudaStream_t stream) {
  constexpr int V = 16 / max_size<OutS, InS...>();
  constexpr int64_t kPerBlock = int64_t(kThreads) * Vecs * V;
  const int64_t blocks = (L.numel + kPerBlock - 1) / kPerBlock;
  int k = 1;
  ::cuda::std::tuple<const InS*...> in{reinterpret_cast<const InS*>(L.data[k++])...};
  launch(vectorized_kernel<V, kThreads, Vecs, F, OutS, InS...>, dim3(unsigned(blocks)), dim3(kThreads), stream, f, L.numel,
         reinterpret_cast<OutS*>(L.data[0]), in);
}

// Adds to offset[k] the byte offset, in operand k, of element `linear` of an iteration over
// `ndim` dimensions (p.size, fastest first; p.stride[k], bytes).
template <int NT, class Params>
__device__ __forceinline__ void add_offsets(const Params& p, int ndim, uint32_t linear,
                                            uint32_t (&offset)[NT]) {
#pragma unroll
  for (int d = 0; d < kMaxDims; ++d) {
    if (d == ndim) break;
    const uint32_t q = p.size[d].div(linear);
    const uint32_t r = linear - q * p.size[d].divisor;
    linear = q;
#pragma unroll
    for (int k = 0; k < NT; ++k) offset[k] += r * p.stride[k][d];
  }
}

// ---- inner-dense: the innermost dimension dense or broadcast in every operand -------------------
// Bias adds, per-row or per-column scales, masks: a thread takes vectors of V inner elements;
// an operand broadcast along the inner dimension (stride 0) loads one element and repeats it.
struct InnerParams {
  int outer_ndim;
  uint32_t inner_vecs;                            // inner size / V
  fast_div by_inner_vecs;
  fast_div size[kMaxDims];                        // outer dimensions
  uint32_t stride[kMaxOperands][kMaxDims];        // outer strides, bytes
  uint32_t inner_stride[kMaxOperands];            // bytes: the element size, or 0 (broadcast)
  char* data[kMaxOperands];
};

template <int V, class T>
__device__ __forceinline__ vec<T, V> load_inner(const char* p, uint32_t inner_stride) {
  if (inner_stride == 0) {
    vec<T, V> v;
    const T x = *reinterpret_cast<const T*>(p);
#pragma unroll
    for (int k = 0; k < V; ++k) v.v[k] = x;
    return v;
  }
  return *reinterpret_cast<const vec<T, V>*>(p);
}

// (A __global__ template takes one pack: the inputs' storage types come as a tuple type.)
template <int V, class F, class OutS, class InTypes, size_t... I>
__global__ void __launch_bounds__(kThreads)
inner_kernel(F f, InnerParams p, uint32_t nvecs, std::index_sequence<I...>) {
  using traits = fn_traits<F>;
  constexpr int nt = sizeof...(I) + 1;
  pdl_begin();
  uint32_t offset[kVecsPerThread][nt];
#pragma unroll
  for (int j = 0; j < kVecsPerThread; ++j) {
    const uint32_t vi = (blockIdx.x * kVecsPerThread + j) * kThreads + threadIdx.x;
    const uint32_t outer = p.by_inner_vecs.div(vi);
    const uint32_t inner = (vi - outer * p.inner_vecs) * V;
#pragma unroll
    for (int k = 0; k < nt; ++k) offset[j][k] = inner * p.inner_stride[k];
    add_offsets<nt>(p, p.outer_ndim, outer, offset[j]);
  }
  ::cuda::std::tuple<tile<::cuda::std::tuple_element_t<I, InTypes>, V>...> regs;  // (inputs, kVecsPerThread, V)
#pragma unroll
  for (int j = 0; j < kVecsPerThread; ++j) {
    if ((blockIdx.x * kVecsPerThread + j) * kThreads + threadIdx.x >= nvecs) break;
    ((::cuda::std::get<I>(regs).v[j] = load_inner<V, ::cuda::std::tuple_element_t<I, InTypes>>(
          p.data[I + 1] + offset[j][I + 1], p.inner_stride[I + 1])), ...);
  }
#pragma unroll
  for (int j = 0; j < kVecsPerThread; ++j) {
    if ((blockIdx.x * kVecsPerThread + j) * kThreads + threadIdx.x >= nvecs) return;
    vec<OutS, V> result;
#pragma unroll
    for (int k = 0; k < V; ++k)
      result.v[k] = c10::convert<OutS>(
          f(static_cast<typename traits::template arg<I>>(::cuda::std::get<I>(regs).v[j].v[k])...));
    *reinterpret_cast<vec<OutS, V>*>(p.data[0] + offset[j][0]) = result;
  }
}

// Launches inner_kernel when the layout allows it; false otherwise.
template <class F, class OutS, class... InS, size_t... I>
bool launch_inner(const F& f, const Launch& L, cudaStream_t stream, std::index_sequence<I...> seq) {
  constexpr int V = 16 / max_size<OutS, InS...>();
  constexpr int kSize[] = {int(sizeof(OutS)), int(sizeof(InS))...};
  if (L.sizes[0] % V != 0 || L.numel / V >= (int64_t(1) << 31)) return false;
  InnerParams p;
  for (int k = 0; k < L.ntensors; ++k) {
    const int64_t inner = L.strides[k][0];
    const int64_t align = int64_t(V) * kSize[k];  // a vector access must be aligned
    if (inner != kSize[k] && !(k > 0 && inner == 0)) return false;
    if (inner != 0 && reinterpret_cast<uintptr_t>(L.data[k]) % align != 0) return false;
    int64_t max_offset = (L.sizes[0] - 1) * inner;  // offsets are 32-bit
    for (int d = 1; d < L.ndim; ++d) max_offset += (L.sizes[d] - 1) * L.strides[k][d];
    if (max_offset >= (int64_t(1) << 31)) return false;
    for (int d = 1; d < L.ndim; ++d) {
      if (inner != 0 && L.strides[k][d] % align != 0) return false;
      p.stride[k][d - 1] = uint32_t(L.strides[k][d]);
    }
    p.inner_stride[k] = uint32_t(inner);
    p.data[k] = L.data[k];
  }
  p.outer_ndim = L.ndim - 1;
  p.inner_vecs = uint32_t(L.sizes[0] / V);
  p.by_inner_vecs = fast_div(p.inner_vecs);
  for (int d = 1; d < L.ndim; ++d) p.size[d - 1] = fast_div(uint32_t(L.sizes[d]));
  const uint32_t nvecs = uint32_t(L.numel / V);
  const uint32_t per_block = kThreads * kVecsPerThread;
  launch(inner_kernel<V, F, OutS, ::cuda::std::tuple<InS...>, I...>, dim3((nvecs + per_block - 1) / per_block),
         dim3(kThreads), stream, f, p, nvecs, seq);
  return true;
}

// ---- tiled: 2-d iterations whose operands are dense along different dimensions ----------------
// A transpose (x.t() + y, x.t().contiguous(), a transposed mask) read element by element costs a
// 32-byte sector per element. A block instead takes a kTile x kTile tile: each operand dense
// along the output's dense dimension is read directly, every other one is read along its own
// dense dimension into shared memory and taken from there turned, and the output is written
// along its dense dimension. A third (batch) dimension runs over blockIdx.z.
constexpr int kTile = 32;
constexpr int kTileRows = 8;  // a block is kTile x kTileRows threads; a thread takes kTile / kTileRows

struct TiledParams {
  int64_t size[3];                   // dim 0, dim 1, batch
  int64_t stride[kMaxOperands][3];   // bytes
  uint32_t turned;                   // bit k: input k is dense along the other dimension than the output
  bool out_dense1;                   // the output is dense along dim 1 (else dim 0)
  char* data[kMaxOperands];
};

template <class... T> constexpr int tile_bytes() { return (0 + ... + int(sizeof(T) * kTile * (kTile + 1))); }

template <class F, class OutS, class InTypes, size_t... I>
__global__ void __launch_bounds__(kTile * kTileRows)
tiled_kernel(F f, TiledParams p, std::index_sequence<I...>) {
  using traits = fn_traits<F>;
  using Tiles = ::cuda::std::tuple<::cuda::std::tuple_element_t<I, InTypes>...>;
  constexpr int kBytes = tile_bytes<::cuda::std::tuple_element_t<I, InTypes>...>();
  __shared__ alignas(16) unsigned char smem[kBytes > 0 ? kBytes : 1];
  constexpr int kOffset[] = {0, tile_bytes<::cuda::std::tuple_element_t<I, InTypes>>()...};
  pdl_begin();
  const int64_t t0 = int64_t(blockIdx.x) * kTile, t1 = int64_t(blockIdx.y) * kTile;
  char* base[kMaxOperands];
#pragma unroll
  for (int k = 0; k < int(sizeof...(I)) + 1; ++k)
    base[k] = p.data[k] + t0 * p.stride[k][0] + t1 * p.stride[k][1] + int64_t(blockIdx.z) * p.stride[k][2];
  const int64_t n0 = p.size[0] - t0, n1 = p.size[1] - t1;  // the tile's extent, clipped
  auto tile_of = [&](auto index) {
    constexpr int i = decltype(index)::value;
    int offset = 0;
#pragma unroll
    for (int j = 0; j < i; ++j) offset += kOffset[j + 1];
    return reinterpret_cast<::cuda::std::tuple_element_t<i, Tiles>(*)[kTile + 1]>(smem + offset);
  };
  // Turned inputs into shared memory, read along their own dense dimension (dim 1).
  auto stage = [&](auto index) {
    constexpr int i = decltype(index)::value;
    using T = ::cuda::std::tuple_element_t<i, Tiles>;
    if (!(p.turned & (1u << i))) return;
    auto tile = tile_of(index);
    const int64_t s0 = p.stride[i + 1][0], s1 = p.stride[i + 1][1];
    const bool dense1 = !p.out_dense1;  // turned: dense along the dimension the output is not
#pragma unroll
    for (int r = 0; r < kTile / kTileRows; ++r) {
      const int a = threadIdx.x, b = threadIdx.y + r * kTileRows;
      const int e0 = dense1 ? b : a, e1 = dense1 ? a : b;
      if (e0 < n0 && e1 < n1) tile[e1][e0] = *reinterpret_cast<const T*>(base[i + 1] + e0 * s0 + e1 * s1);
    }
  };
  (stage(std::integral_constant<int, int(I)>{}), ...);
  if (p.turned) __syncthreads();
#pragma unroll
  for (int r = 0; r < kTile / kTileRows; ++r) {
    const int a = threadIdx.x, b = threadIdx.y + r * kTileRows;
    const int e0 = p.out_dense1 ? b : a, e1 = p.out_dense1 ? a : b;
    if (e0 >= n0 || e1 >= n1) continue;
    auto load = [&](auto index) {
      constexpr int i = decltype(index)::value;
      using T = ::cuda::std::tuple_element_t<i, Tiles>;
      const T v = (p.turned & (1u << i))
                      ? tile_of(index)[e1][e0]
                      : *reinterpret_cast<const T*>(base[i + 1] + e0 * p.stride[i + 1][0] + e1 * p.stride[i + 1][1]);
      return static_cast<typename traits::template arg<i>>(v);
    };
    *reinterpret_cast<OutS*>(base[0] + e0 * p.stride[0][0] + e1 * p.stride[0][1]) =
        c10::convert<OutS>(f(load(std::integral_constant<int, int(I)>{})...));
  }
}

// Launches tiled_kernel when the iteration is 2-d (or batched 2-d), every operand is dense along
// one of the two dimensions (or broadcast), and some input is dense along the other dimension
// than the output; false otherwise.
template <class F, class OutS, class... InS, size_t... I>
bool launch_tiled(const F& f, const Launch& L, cudaStream_t stream, std::index_sequence<I...> seq) {
  constexpr int64_t kSize[] = {int64_t(sizeof(OutS)), int64_t(sizeof(InS))...};
  if (L.ndim < 2 || L.ndim > 3) return false;
  const int64_t batch = L.ndim == 3 ? L.sizes[2] : 1;
  if (L.sizes[0] < kTile || L.sizes[1] < kTile || batch > 65535 ||
      (L.sizes[1] + kTile - 1) / kTile > 65535)
    return false;
  TiledParams p;
  p.turned = 0;
  for (int k = 0; k < L.ntensors; ++k) {
    const int64_t s0 = L.strides[k][0], s1 = L.strides[k][1];
    bool dense1;
    if (s0 == kSize[k]) dense1 = false;
    else if (s1 == kSize[k]) dense1 = true;
    else if (k > 0 && s0 == 0 && s1 == 0) dense1 = p.out_dense1;  // one element, broadcast
    else return false;
    if (k == 0) p.out_dense1 = dense1;
    else if (dense1 != p.out_dense1) p.turned |= 1u << (k - 1);
    p.data[k] = L.data[k];
    p.stride[k][0] = s0;
    p.stride[k][1] = s1;
    p.stride[k][2] = L.ndim == 3 ? L.strides[k][2] : 0;
  }
  if (p.turned == 0) return false;
  p.size[0] = L.sizes[0];
  p.size[1] = L.sizes[1];
  p.size[2] = batch;
  const dim3 grid(unsigned((L.sizes[0] + kTile - 1) / kTile), unsigned((L.sizes[1] + kTile - 1) / kTile),
                  unsigned(batch));
  launch(tiled_kernel<F, OutS, ::cuda::std::tuple<InS...>, I...>, grid, dim3(kTile, kTileRows), stream, f,
         p, seq);
  return true;
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

// Each thread takes kStridedUnroll elements kThreads apart, one after the other.
template <bool Cast, class C, class S, class F, size_t... I>
__global__ void __launch_bounds__(kThreads)
strided_kernel(F f, StridedParams p, uint32_t n, std::index_sequence<I...>) {
  using traits = fn_traits<F>;
  using R = typename traits::result;
  using OutS = storage_of<R, C, S>;
  constexpr int nt = sizeof...(I) + 1;
  uint32_t idx = blockIdx.x * (kThreads * kStridedUnroll) + threadIdx.x;
  pdl_begin();
#pragma unroll
  for (int u = 0; u < kStridedUnroll; ++u, idx += kThreads) {
    if (idx >= n) return;
    uint32_t offset[nt] = {};
    add_offsets<nt>(p, p.ndim, idx, offset);
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

  const int64_t per_block = int64_t(kThreads) * kStridedUnroll;
  if (L.ndim > 1) {  // the host split the iteration: every offset fits 32 bits
    launch(strided_kernel<Cast, C, S, F, I...>, dim3(unsigned((L.numel + per_block - 1) / per_block)), dim3(kThreads), stream,
           f, p, uint32_t(L.numel), seq);
    return;
  }
  // One dimension (the host does not split those): chunks whose byte offsets fit 32 bits.
  int64_t max_stride = 1;
  for (int k = 0; k < L.ntensors; ++k) max_stride = std::max(max_stride, L.strides[k][0]);
  const int64_t chunk = std::min(int64_t(1) << 30, ((int64_t(1) << 31) - 1) / max_stride);
  for (int64_t begin = 0; begin < L.numel; begin += chunk) {
    const int64_t n = std::min(chunk, L.numel - begin);
    for (int k = 0; k < L.ntensors; ++k)
      if (!(p.scalar_mask & (1u << k))) p.data[k] = L.data[k] + begin * L.strides[k][0];
    launch(strided_kernel<Cast, C, S, F, I...>, dim3(unsigned((n + per_block - 1) / per_block)), dim3(kThreads), stream, f, p,
           uint32_t(n), seq);
  }
}

// How many 16-byte vectors a thread of the dense kernel takes (measured on an H200, see
// benchmarks/NOTES.md): one for 1-, 4- and 8-byte types, where more, smaller blocks stream
// best; two for 2-byte types (8 elements a vector: their math wants the extra independent
// work), compute-bound ops (Op::heavy) and fills (no loads: one store a thread is too little
// work for a block; fp32 fill_ 22.2 against 17.2 us).
template <class Op, class OutS, class... InS> constexpr int dense_vecs() {
  return (max_size<OutS, InS...>() == 2 || Op::heavy || sizeof...(InS) == 0) ? 2 : 1;
}

// The dtypes whose ops get the vector and tiled kernels. The others (int8, int16, complex: rare
// in models) run on the strided kernels alone, which keeps the build small.
constexpr TypeSet kVectorTypes = kBool | bit(ScalarType::Byte) | bit(ScalarType::Int) |
                                 bit(ScalarType::Long) | kFloating;

// The vector kernels over L, whose operands are all of the storage types OutS, InS...: the dense
// kernel for a contiguous, 16-byte aligned iteration, else the inner-dense or the tiled kernel;
// false where none takes the layout (the strided kernel then runs).
template <class Op, class F, class OutS, class... InS, size_t... I>
bool launch_vector_kernels(const F& f, const Launch& L, cudaStream_t stream, std::index_sequence<I...> seq) {
  bool aligned = true;
  for (int k = 0; k < L.ntensors; ++k) aligned &= reinterpret_cast<uintptr_t>(L.data[k]) % 16 == 0;
  if (L.contiguous && aligned) {
    launch_vectorized<dense_vecs<Op, OutS, InS...>(), F, OutS, InS...>(f, L, stream);
    return true;
  }
  return L.ndim <= kMaxDims && (launch_inner<F, OutS, InS...>(f, L, stream, seq) ||
                                launch_tiled<F, OutS, InS...>(f, L, stream, seq));
}

// A binary functor whose second operand is a CPU scalar (x * 0.5, x != inf), as a unary functor
// of the first: torch's gpu_kernel_with_scalars does the same, so that the dense, inner and
// tiled kernels serve it where the strided kernel reads one element a thread (0.44-0.87x torch
// on a transposed or broadcast bf16 input, H100).
template <class F, class B> struct bound_second {
  F f;
  B b;
  using traits = fn_traits<F>;
  GF_HD typename traits::result operator()(typename traits::template arg<0> a) const { return f(a, b); }
};

// Launches f over L with its operand 2 (a CPU scalar) bound; false where neither the dense nor
// the inner or tiled kernels take the layout (the strided kernel then runs the binary functor).
template <class Op, class S, class C, class F>
bool launch_bound_second(const F& f, const Launch& L, cudaStream_t stream) {
  using traits = fn_traits<F>;
  using B = typename traits::template arg<1>;
  using OutS = storage_of<typename traits::result, C, S>;
  using InS = storage_of<typename traits::template arg<0>, C, S>;
  const bound_second<F, B> g{f, c10::fetch_and_cast<B>(L.dtype[2], L.data[2])};
  Launch U;
  U.ntensors = 2;
  U.ndim = L.ndim;
  U.numel = L.numel;
  U.compute = L.compute;
  for (int k = 0; k < 2; ++k) {
    U.dtype[k] = L.dtype[k];
    U.data[k] = L.data[k];
    for (int d = 0; d < L.ndim; ++d) U.strides[k][d] = L.strides[k][d];
  }
  for (int d = 0; d < L.ndim; ++d) U.sizes[d] = L.sizes[d];
  // (the iterator's own test counted the scalar's zero stride against it)
  U.contiguous = U.numel == 1 || (U.ndim == 1 && U.strides[0][0] == int64_t(sizeof(OutS)) &&
                                  U.strides[1][0] == int64_t(sizeof(InS)));
  return launch_vector_kernels<Op, decltype(g), OutS, InS>(g, U, stream, std::make_index_sequence<1>{});
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

  // A dense copy without a cast is a memcpy.
  if constexpr (std::is_same_v<Op, kernels::copy>) {
    if (L.contiguous && L.dtype[0] == L.dtype[1]) {
      C10_CUDA_CHECK(cudaMemcpyAsync(L.data[0], L.data[1], L.numel * c10::elementSize(L.dtype[0]),
                                     cudaMemcpyDeviceToDevice, stream));
      return;
    }
  }

  // The vector kernels, when the inputs are of the functor's dtypes and the output is too (or,
  // for copy, one of its cast targets).
  auto vector_kernels = [&](auto out_tag) {
    using D = typename decltype(out_tag)::type;
    return launch_vector_kernels<Op, F, D, storage_of<typename traits::template arg<I>, C, S>...>(
        f, L, stream, seq);
  };
  const bool out_typed = L.dtype[0] == dtype_of<OutS>;
  if constexpr (has(kVectorTypes, dtype_of<S>)) {
    if (inputs_typed && !any_scalar) {
      if (out_typed && vector_kernels(type_tag<OutS>{})) return;
      constexpr TypeSet targets = Op::cast_to;
      if constexpr (targets != 0) {
        bool done = false;
        dispatch_dtype<targets>(L.dtype[0], [&](auto tag) { done = vector_kernels(tag); });
        if (done) return;
      }
    }
  }
  if constexpr (sizeof...(I) == 2 && has(kVectorTypes, dtype_of<S>)) {
    if (inputs_typed && out_typed && L.cpu_scalar[2] && !L.cpu_scalar[1] &&
        launch_bound_second<Op, S, C>(f, L, stream))
      return;
  }
  if (inputs_typed && out_typed) launch_strided<false, C, S>(f, L, stream, seq);
  else launch_strided<true, C, S>(f, L, stream, seq);
}

}  // namespace gemforge::pw::cuda

namespace gemforge::pw {

// Op's functor for storage S, computing in C, launched over L.
template <class Op, class S, class C> void run_cuda_as(const Launch& L, const Args& args) {
  if constexpr (sizeof(S) == 2 && std::is_same_v<C, float> && Op::by_table) {
    if (Op::table_args(args) && cuda::launch_by_table<Op, S>(Op::template make<C>(args), L, args)) return;
  }
  if constexpr (sizeof(S) == 2 && std::is_same_v<C, float> && kernels::has_lowp<Op, C>::value) {
    const auto f = Op::template make_lowp<C>(args);  // stored in fp16 / bf16: lowp math
    cuda::launch_functor<Op, S, C>(f, L, std::make_index_sequence<fn_traits<decltype(f)>::arity>{});
  } else {
    const auto f = Op::template make<C>(args);
    cuda::launch_functor<Op, S, C>(f, L, std::make_index_sequence<fn_traits<decltype(f)>::arity>{});
  }
}

template <class Op>
void run_cuda(const Launch& L, const Args& args) {
  const bool known = dispatch_dtype<Op::types>(L.compute, [&](auto tag) {
    using S = typename decltype(tag)::type;
    run_cuda_as<Op, S, opmath_t<S>>(L, args);
  });
  TORCH_INTERNAL_ASSERT(known, "gemforge: no cuda kernel for dtype ", L.compute);
}

#define GF_INSTANTIATE_CUDA(op) template void run_cuda<kernels::op>(const Launch&, const Args&);

}  // namespace gemforge::pw
