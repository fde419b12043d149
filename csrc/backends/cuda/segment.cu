// cuda kernels of segment_reduce and its backward (backends/segment.h), on the current stream.
// The forward over rows of one element (inner == 1, a 1-d input or a reduction over the last dim):
// a warp per segment, its lanes reading consecutive elements and combining through shuffles.
// Otherwise, and for every backward (the op leaves one-element rows to torch there), a thread per
// output element, adjacent threads on adjacent inner positions (coalesced), each walking its
// segment.
#include "backends/segment.h"
#include "backends/cuda/launch.cuh"

#include <c10/cuda/CUDAStream.h>

#include <algorithm>

namespace gemforge::segment {
namespace {

using pw::cuda::launch;
using pw::cuda::pdl_begin;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int64_t kGridCap = 132 * 32;

template <class M> __device__ __forceinline__ M warp_combine(Kind kind, M v) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v = combine(kind, v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// inner == 1: warp w handles segment w of the (outer * segments) flattened.
template <class T>
__global__ void __launch_bounds__(kThreads) forward_warp_kernel(Forward f) {
  pdl_begin();
  using M = opmath_t<T>;
  const int lane = threadIdx.x % 32;
  const int64_t total = f.outer * f.segments;
  for (int64_t w = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32; w < total; w += int64_t(gridDim.x) * kWarps) {
    const int64_t o = w / f.segments, s = w % f.segments;
    int64_t begin, end;
    bounds(f.offsets, f.segments, f.size, o, s, begin, end);
    const T* row = static_cast<const T*>(f.data) + o * f.size;
    // every lane starts from the identity; the initial value joins once, at the end
    M acc = start_value<M>(f.kind, false, 0.0);
    for (int64_t j = begin + lane; j < end; j += 32) acc = combine(f.kind, acc, static_cast<M>(row[j]));
    acc = warp_combine(f.kind, acc);
    if (f.has_initial) acc = combine(f.kind, start_value<M>(f.kind, true, f.initial), acc);
    if (lane == 0) static_cast<T*>(f.out)[w] = static_cast<T>(finish(f.kind, acc, end - begin, f.has_initial, f.initial));
  }
}

// Output element e of (outer, segments, inner): its column of the data and its segment's bounds.
struct Output {
  int64_t column;  // the data offset of element 0 of its (o, i) column
  int64_t begin, end;
};
__device__ __forceinline__ Output output_at(const int64_t* offsets, int64_t segments, int64_t size, int64_t inner,
                                            int64_t e) {
  const int64_t i = e % inner, os = e / inner, o = os / segments, s = os % segments;
  Output r;
  r.column = o * size * inner + i;
  bounds(offsets, segments, size, o, s, r.begin, r.end);
  return r;
}

template <class T>
__global__ void __launch_bounds__(kThreads) forward_thread_kernel(Forward f) {
  pdl_begin();
  using M = opmath_t<T>;
  const int64_t total = f.outer * f.segments * f.inner;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < total; e += int64_t(gridDim.x) * kThreads) {
    const Output at = output_at(f.offsets, f.segments, f.size, f.inner, e);
    const T* col = static_cast<const T*>(f.data) + at.column;
    M acc = start_value<M>(f.kind, f.has_initial, f.initial);
    for (int64_t j = at.begin; j < at.end; ++j) acc = combine(f.kind, acc, static_cast<M>(col[j * f.inner]));
    static_cast<T*>(f.out)[e] = static_cast<T>(finish(f.kind, acc, at.end - at.begin, f.has_initial, f.initial));
  }
}

// inner a multiple of V (16 bytes of T): a thread per V adjacent output elements, one vector load
// a row, kUnroll rows in flight (a thread per element, one 2-byte load at a time, left too few
// bytes in flight: bf16 4096x4096 in segments of 64 rows ran at 0.90x torch on an H200). Each
// element still adds its rows in order: the scalar kernel's results, bit for bit.
template <class T, int V> struct alignas(sizeof(T) * V) Pack { T v[V]; };
constexpr int kUnroll = 8;

template <class T, int V, Kind K>
__global__ void __launch_bounds__(kThreads) forward_vector_kernel(Forward f) {
  pdl_begin();
  using M = opmath_t<T>;
  const int64_t packs = f.inner / V;
  const int64_t total = f.outer * f.segments * packs;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < total; e += int64_t(gridDim.x) * kThreads) {
    const Output at = output_at(f.offsets, f.segments, f.size, packs, e);  // in packs of V
    const Pack<T, V>* col = reinterpret_cast<const Pack<T, V>*>(f.data) + at.column;
    M acc[V];
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = start_value<M>(K, f.has_initial, f.initial);
    int64_t j = at.begin;
    for (; j + kUnroll <= at.end; j += kUnroll) {
      Pack<T, V> rows[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) rows[u] = col[(j + u) * packs];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] = combine(K, acc[k], static_cast<M>(rows[u].v[k]));
    }
    for (; j < at.end; ++j) {
      const Pack<T, V> row = col[j * packs];
#pragma unroll
      for (int k = 0; k < V; ++k) acc[k] = combine(K, acc[k], static_cast<M>(row.v[k]));
    }
    Pack<T, V> out;
#pragma unroll
    for (int k = 0; k < V; ++k)
      out.v[k] = static_cast<T>(finish(K, acc[k], at.end - at.begin, f.has_initial, f.initial));
    reinterpret_cast<Pack<T, V>*>(f.out)[e] = out;
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads) backward_thread_kernel(Backward b) {
  pdl_begin();
  using M = opmath_t<T>;
  const M init_prod = b.has_initial ? static_cast<M>(b.initial) : M(1);
  const int64_t total = b.outer * b.segments * b.inner;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < total; e += int64_t(gridDim.x) * kThreads) {
    const Output at = output_at(b.offsets, b.segments, b.size, b.inner, e);
    const int64_t begin = at.begin, end = at.end;
    const T* col = static_cast<const T*>(b.data) + at.column;
    const M g = static_cast<M>(static_cast<const T*>(b.grad)[e]);
    const M out = static_cast<M>(static_cast<const T*>(b.output)[e]);
    int64_t tied = 0;
    if (b.kind == Kind::Max || b.kind == Kind::Min)
      for (int64_t j = begin; j < end; ++j) tied += ties(static_cast<M>(col[j * b.inner]), out);
    T* gi = static_cast<T*>(b.grad_input) + at.column;
    for (int64_t j = begin; j < end; ++j)
      gi[j * b.inner] = static_cast<T>(element_grad<T, M>(b.kind, g, out, static_cast<M>(col[j * b.inner]),
                                                          end - begin, tied, col, begin, end, b.inner, j, init_prod));
  }
}

unsigned grid_for(int64_t units, int per_block) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((units + per_block - 1) / per_block, kGridCap)));
}

}  // namespace

void forward_cuda(const Forward& f) {
  if (f.outer * f.segments * f.inner == 0) return;
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  dispatch_dtype<kSegmentTypes>(f.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int V = 16 / int(sizeof(T));
    const bool vectors = f.inner % V == 0 && reinterpret_cast<uintptr_t>(f.data) % 16 == 0 &&
                         reinterpret_cast<uintptr_t>(f.out) % 16 == 0;
    const dim3 grid = grid_for(f.outer * f.segments * f.inner / V, kThreads);
    if (f.inner == 1) {
      launch(forward_warp_kernel<T>, dim3(grid_for(f.outer * f.segments, kWarps)), dim3(kThreads), stream, f);
    } else if (vectors) {
      switch (f.kind) {
        case Kind::Mean: launch(forward_vector_kernel<T, V, Kind::Mean>, grid, dim3(kThreads), stream, f); break;
        case Kind::Max: launch(forward_vector_kernel<T, V, Kind::Max>, grid, dim3(kThreads), stream, f); break;
        case Kind::Min: launch(forward_vector_kernel<T, V, Kind::Min>, grid, dim3(kThreads), stream, f); break;
        case Kind::Prod: launch(forward_vector_kernel<T, V, Kind::Prod>, grid, dim3(kThreads), stream, f); break;
        default: launch(forward_vector_kernel<T, V, Kind::Sum>, grid, dim3(kThreads), stream, f); break;
      }
    } else {
      launch(forward_thread_kernel<T>, dim3(grid_for(f.outer * f.segments * f.inner, kThreads)), dim3(kThreads),
             stream, f);
    }
  });
}

void backward_cuda(const Backward& b) {
  if (b.outer * b.segments * b.inner == 0) return;
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  dispatch_dtype<kSegmentTypes>(b.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch(backward_thread_kernel<T>, dim3(grid_for(b.outer * b.segments * b.inner, kThreads)), dim3(kThreads), stream, b);
  });
}

}  // namespace gemforge::segment
