// cuda kernels of the index family (backends/index.h), on the current stream, launched with PDL.
// Whole rows move as 16-byte units where alignment allows; an index out of range reads as a zero
// row / element (gathers) or is skipped (adds): torch raises a device-side assert there, and a
// kernel here must never touch memory outside its tensors.
#include "backends/cuda/launch.cuh"
#include "backends/index.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <cub/cub.cuh>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <type_traits>

namespace gemforge::index {
namespace {

using pw::cuda::launch;
using pw::cuda::pdl_begin;

cudaStream_t stream() { return c10::cuda::getCurrentCUDAStream(); }

template <class I> __device__ __forceinline__ int64_t index_at(const void* data, int64_t k) {
  return static_cast<int64_t>(static_cast<const I*>(data)[k]);
}

template <class F> void dispatch_index(bool is32, F&& f) {
  if (is32) f(type_tag<int32_t>{});
  else f(type_tag<int64_t>{});
}

// Calls f(type_tag<U>{}) for the storage type U of `bytes` bytes (one load, one store).
template <class F> void dispatch_bytes(int bytes, F&& f) {
  switch (bytes) {
    case 1: f(type_tag<uint8_t>{}); break;
    case 2: f(type_tag<uint16_t>{}); break;
    case 4: f(type_tag<uint32_t>{}); break;
    case 8: f(type_tag<uint2>{}); break;
    default: f(type_tag<uint4>{}); break;
  }
}

// ---- rows (index_select, embedding) ------------------------------------------------------------
// Rows in units of U: out is dense (row r of outer*k at r*units), src rows at o*src_outer +
// index*src_dim.
struct UnitRows {
  void* out;
  const void* src;
  const void* index;
  int64_t index_stride;
  int64_t outer, n, k, units;
  int64_t src_outer, src_dim;
};

constexpr int kRowThreads = 128;
constexpr int kFlatThreads = 256;
constexpr int kUnroll = 4;

// One block per row (grid-stride over rows), each thread kUnroll units in flight.
template <class U, class I>
__global__ void __launch_bounds__(kRowThreads) rows_kernel(UnitRows r) {
  pdl_begin();
  const int64_t rows = r.outer * r.k;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t o = row / r.k, kk = row - o * r.k;
    const int64_t i = index_at<I>(r.index, kk * r.index_stride);
    const bool ok = i >= 0 && i < r.n;
    const U* src = static_cast<const U*>(r.src) + o * r.src_outer + (ok ? i : 0) * r.src_dim;
    U* out = static_cast<U*>(r.out) + row * r.units;
    for (int64_t u0 = threadIdx.x; u0 < r.units; u0 += kRowThreads * kUnroll) {
      U v[kUnroll];
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) {
        const int64_t u = u0 + j * kRowThreads;
        if (u < r.units) v[j] = ok ? src[u] : U{};
      }
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) {
        const int64_t u = u0 + j * kRowThreads;
        if (u < r.units) out[u] = v[j];
      }
    }
  }
}

// Short rows: one unit per thread, kUnroll per thread, 32-bit coordinates (total < 2^31).
template <class U, class I>
__global__ void __launch_bounds__(kFlatThreads) rows_flat_kernel(UnitRows r, uint32_t total) {
  pdl_begin();
  const uint32_t base = blockIdx.x * (kFlatThreads * kUnroll) + threadIdx.x;
  const uint32_t units = uint32_t(r.units), k = uint32_t(r.k);
  U v[kUnroll];
#pragma unroll
  for (int j = 0; j < kUnroll; ++j) {
    const uint32_t t = base + j * kFlatThreads;
    if (t < total) {
      const uint32_t row = t / units, u = t - row * units;
      const uint32_t o = row / k, kk = row - o * k;
      const int64_t i = index_at<I>(r.index, int64_t(kk) * r.index_stride);
      v[j] = i >= 0 && i < r.n
                 ? static_cast<const U*>(r.src)[int64_t(o) * r.src_outer + i * r.src_dim + u]
                 : U{};
    }
  }
#pragma unroll
  for (int j = 0; j < kUnroll; ++j) {
    const uint32_t t = base + j * kFlatThreads;
    if (t < total) static_cast<U*>(r.out)[t] = v[j];
  }
}

// ---- elements along a dim (gather, scatter_add) --------------------------------------------------
// Offsets of the iteration coordinate n in index, plain and picked (picked without its dim).
template <bool Small>
__device__ __forceinline__ void elem_offsets(const Elems& e, int64_t n, int64_t& io, int64_t& po,
                                             int64_t& qo) {
  io = po = qo = 0;
#pragma unroll
  for (int d = kMaxDims - 1; d >= 0; --d) {
    if (d >= e.ndim) continue;
    int64_t c;
    if (d == 0) {
      c = n;
    } else if (Small) {
      const uint32_t s = uint32_t(e.size[d]), q = uint32_t(n) / s;
      c = uint32_t(n) - q * s;
      n = q;
    } else {
      const int64_t q = n / e.size[d];
      c = n - q * e.size[d];
      n = q;
    }
    io += c * e.index_stride[d];
    po += c * e.plain_stride[d];
    qo += c * e.picked_stride[d];
  }
}

template <class E, class I, bool Small>
__global__ void __launch_bounds__(kFlatThreads) gather_elems_kernel(Elems e) {
  pdl_begin();
  const int64_t stride = int64_t(gridDim.x) * kFlatThreads;
  for (int64_t base = int64_t(blockIdx.x) * kFlatThreads + threadIdx.x; base < e.numel;
       base += stride * kUnroll) {
    int64_t from[kUnroll], to[kUnroll];
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      const int64_t n = base + j * stride;
      to[j] = -1;
      from[j] = -1;
      if (n < e.numel) {
        int64_t io, po, qo;
        elem_offsets<Small>(e, n, io, po, qo);
        const int64_t i = index_at<I>(e.index, io);
        to[j] = po;
        if (i >= 0 && i < e.picked_dim_size) from[j] = qo + i * e.picked_dim_stride;
      }
    }
    E v[kUnroll];
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) v[j] = from[j] >= 0 ? reinterpret_cast<const E*>(e.picked)[from[j]] : E{};
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      if (to[j] >= 0) reinterpret_cast<E*>(e.plain)[to[j]] = v[j];
    }
  }
}

// The value of `E` whose bytes are lo (first 8) and hi (last 8), little-endian.
template <class E> __device__ __forceinline__ E from_bits(uint64_t lo, uint64_t hi) {
  if constexpr (std::is_same_v<E, uint4>) {
    return make_uint4(uint32_t(lo), uint32_t(lo >> 32), uint32_t(hi), uint32_t(hi >> 32));
  } else if constexpr (std::is_same_v<E, uint2>) {
    return make_uint2(uint32_t(lo), uint32_t(lo >> 32));
  } else {
    return static_cast<E>(lo);
  }
}

// Writes to picked at the index; duplicates write in any order (torch's cuda kernel too). The
// value (from_value) comes as its bits, lo and hi: no address of the parameter block is taken.
template <class E, class I, bool Small>
__global__ void __launch_bounds__(kFlatThreads) scatter_elems_kernel(Elems e, uint64_t lo, uint64_t hi) {
  pdl_begin();
  const E value = from_bits<E>(lo, hi);
  const int64_t stride = int64_t(gridDim.x) * kFlatThreads;
  for (int64_t n = int64_t(blockIdx.x) * kFlatThreads + threadIdx.x; n < e.numel; n += stride) {
    int64_t io, po, qo;
    elem_offsets<Small>(e, n, io, po, qo);
    const int64_t i = index_at<I>(e.index, io);
    if (i < 0 || i >= e.picked_dim_size) continue;
    reinterpret_cast<E*>(e.picked)[qo + i * e.picked_dim_stride] =
        e.from_value ? value : reinterpret_cast<const E*>(e.plain)[po];
  }
}

// ---- atomic adds (torch's scatter_add / index_add use atomics too) ---------------------------------
template <class T> __device__ __forceinline__ void atomic_add(T* p, T v) {
  if constexpr (std::is_same_v<T, c10::Half>) {
    atomicAdd(reinterpret_cast<__half*>(p), __float2half_rn(static_cast<float>(v)));
  } else if constexpr (std::is_same_v<T, c10::BFloat16>) {
    atomicAdd(reinterpret_cast<__nv_bfloat16*>(p), __float2bfloat16_rn(static_cast<float>(v)));
  } else if constexpr (std::is_same_v<T, int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
  } else {
    atomicAdd(p, v);  // int, float, double
  }
}

template <class T, class I, bool Small>
__global__ void __launch_bounds__(kFlatThreads) scatter_add_kernel(Elems e) {
  pdl_begin();
  const int64_t stride = int64_t(gridDim.x) * kFlatThreads;
  for (int64_t n = int64_t(blockIdx.x) * kFlatThreads + threadIdx.x; n < e.numel; n += stride) {
    int64_t io, po, qo;
    elem_offsets<Small>(e, n, io, po, qo);
    const int64_t i = index_at<I>(e.index, io);
    if (i < 0 || i >= e.picked_dim_size) continue;
    atomic_add(reinterpret_cast<T*>(e.picked) + qo + i * e.picked_dim_stride,
               reinterpret_cast<const T*>(e.plain)[po]);
  }
}

struct AddRows {
  void* dst;
  const void* src;
  const void* index;
  int64_t index_stride;
  int64_t outer, n, k, inner;
  int64_t dst_outer, dst_dim, src_outer, src_dim;
};

template <class T, class I>
__global__ void __launch_bounds__(kFlatThreads) add_rows_kernel(AddRows r, opmath_t<T> alpha) {
  pdl_begin();
  using M = opmath_t<T>;
  const int64_t total = r.outer * r.k * r.inner, stride = int64_t(gridDim.x) * kFlatThreads;
  for (int64_t t = int64_t(blockIdx.x) * kFlatThreads + threadIdx.x; t < total; t += stride) {
    const int64_t row = t / r.inner, j = t - row * r.inner;
    const int64_t o = row / r.k, kk = row - o * r.k;
    const int64_t i = index_at<I>(r.index, kk * r.index_stride);
    if (i < 0 || i >= r.n) continue;
    const T v = static_cast<const T*>(r.src)[o * r.src_outer + kk * r.src_dim + j];
    atomic_add(static_cast<T*>(r.dst) + o * r.dst_outer + i * r.dst_dim + j,
               static_cast<T>(static_cast<M>(v) * alpha));
  }
}

// Long rows: one block per (o, k) row (grid-stride over rows), threads along the row.
template <class T, class I>
__global__ void __launch_bounds__(kRowThreads) add_long_rows_kernel(AddRows r, opmath_t<T> alpha) {
  pdl_begin();
  using M = opmath_t<T>;
  const int64_t rows = r.outer * r.k;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t o = row / r.k, kk = row - o * r.k;
    const int64_t i = index_at<I>(r.index, kk * r.index_stride);
    if (i < 0 || i >= r.n) continue;
    const T* src = static_cast<const T*>(r.src) + o * r.src_outer + kk * r.src_dim;
    T* dst = static_cast<T*>(r.dst) + o * r.dst_outer + i * r.dst_dim;
    for (int64_t j = threadIdx.x; j < r.inner; j += kRowThreads) {
      atomic_add(dst + j, static_cast<T>(static_cast<M>(src[j]) * alpha));
    }
  }
}

int blocks_for(int64_t n, int threads, int64_t cap) {
  return int(std::max<int64_t>(1, std::min<int64_t>((n + threads - 1) / threads, cap)));
}
constexpr int64_t kGridCap = 132 * 64;  // enough waves to fill any current GPU

// ---- embedding_dense_backward ----------------------------------------------------------------------
// key[p] = index[p] where it names a row to write, else num_weights (sorted last, skipped).
template <class I>
__global__ void __launch_bounds__(kFlatThreads)
embedding_keys_kernel(const void* index, int64_t index_stride, int64_t n, int64_t num_weights,
                      int64_t padding_idx, uint32_t* keys, int32_t* positions) {
  pdl_begin();
  const int64_t p = int64_t(blockIdx.x) * kFlatThreads + threadIdx.x;
  if (p >= n) return;
  const int64_t i = index_at<I>(index, p * index_stride);
  const bool keep = i >= 0 && i < num_weights && i != padding_idx;
  keys[p] = uint32_t(keep ? i : num_weights);
  positions[p] = int32_t(p);
}

struct EmbeddingRuns {
  void* grad_weight;
  const void* grad;
  const uint32_t* keys;       // (runs) the row of each run
  const int32_t* counts;      // (runs) its length
  const int32_t* offsets;     // (runs) its first entry in positions
  const int32_t* positions;   // (n) grad rows, sorted by key, in order within a key
  const int32_t* num_runs;
  int64_t num_weights, dim;
  bool scale_by_freq;
  const int32_t* bag;                  // embedding_bag: as EmbeddingBackward's
  const void* per_sample_weights;
  const int32_t* bag_size;
};

// An entry's grad row and its factor: the entry's own row for embedding; for embedding_bag its
// bag's, times its per-sample weight, over its bag's size (mean).
template <class T, bool Bag>
__device__ __forceinline__ int64_t entry_row(const EmbeddingRuns& a, int32_t p, opmath_t<T>& w) {
  if constexpr (!Bag) {
    return p;
  } else {
    const int32_t row = a.bag[p];
    if (a.per_sample_weights) w *= static_cast<opmath_t<T>>(static_cast<const T*>(a.per_sample_weights)[p]);
    if (a.bag_size) w /= static_cast<opmath_t<T>>(a.bag_size[row]);
    return row;
  }
}

// One thread per V columns of one run: the run's grad rows summed in order (deterministic).
template <class T, int V, bool Bag>
__global__ void __launch_bounds__(kRowThreads) embedding_runs_kernel(EmbeddingRuns a) {
  pdl_begin();
  using M = opmath_t<T>;
  struct alignas(sizeof(T) * V) Vec { T v[V]; };
  const int64_t col = (int64_t(blockIdx.x) * kRowThreads + threadIdx.x) * V;
  if (col >= a.dim) return;
  const int runs = *a.num_runs;
  const T* grad = static_cast<const T*>(a.grad);
  for (int r = blockIdx.y; r < runs; r += gridDim.y) {
    const uint32_t key = a.keys[r];
    if (key >= a.num_weights) continue;
    const int start = a.offsets[r], count = a.counts[r];
    const M scale = a.scale_by_freq ? M(1) / static_cast<M>(count) : M(1);
    M acc[V];
#pragma unroll
    for (int c = 0; c < V; ++c) acc[c] = M(0);
    int j = 0;
    for (; j + kUnroll <= count; j += kUnroll) {
      Vec v[kUnroll];
      M w[kUnroll];
#pragma unroll
      for (int q = 0; q < kUnroll; ++q) {
        w[q] = scale;
        const int64_t row = entry_row<T, Bag>(a, a.positions[start + j + q], w[q]);
        v[q] = *reinterpret_cast<const Vec*>(grad + row * a.dim + col);
      }
#pragma unroll
      for (int q = 0; q < kUnroll; ++q) {
#pragma unroll
        for (int c = 0; c < V; ++c) acc[c] += static_cast<M>(v[q].v[c]) * w[q];
      }
    }
    for (; j < count; ++j) {
      M w = scale;
      const int64_t row = entry_row<T, Bag>(a, a.positions[start + j], w);
      const Vec v = *reinterpret_cast<const Vec*>(grad + row * a.dim + col);
#pragma unroll
      for (int c = 0; c < V; ++c) acc[c] += static_cast<M>(v.v[c]) * w;
    }
    Vec out;
#pragma unroll
    for (int c = 0; c < V; ++c) out.v[c] = static_cast<T>(acc[c]);
    *reinterpret_cast<Vec*>(static_cast<T*>(a.grad_weight) + int64_t(key) * a.dim + col) = out;
  }
}


// ---- embedding_bag's max mode and per-sample weights ---------------------------------------------
// One thread an element of grad (bags, dim): an atomic add into the row its bag's max came from.
template <class T, class I>
__global__ void __launch_bounds__(kFlatThreads) embedding_bag_max_kernel(EmbeddingBagMax e) {
  pdl_begin();
  const int64_t n = e.bags * e.dim;
  for (int64_t p = int64_t(blockIdx.x) * kFlatThreads + threadIdx.x; p < n; p += int64_t(gridDim.x) * kFlatThreads) {
    const int64_t i = index_at<I>(e.max_indices.data, p);
    if (i < 0 || i >= e.num_weights || i == e.padding_idx) continue;
    atomic_add(reinterpret_cast<T*>(e.grad_weight) + i * e.dim + p % e.dim, reinterpret_cast<const T*>(e.grad)[p]);
  }
}

// One warp an entry: the dot product of its bag's grad row and its weight row, lanes striding the
// columns, then a shuffle sum.
template <class T, class I>
__global__ void __launch_bounds__(kFlatThreads) embedding_bag_weights_kernel(EmbeddingBagWeights e) {
  pdl_begin();
  using M = opmath_t<T>;
  constexpr int kWarps = kFlatThreads / 32;
  const int lane = threadIdx.x % 32;
  const T* grad = reinterpret_cast<const T*>(e.grad);
  const T* weight = reinterpret_cast<const T*>(e.weight);
  for (int64_t p = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32; p < e.index.numel;
       p += int64_t(gridDim.x) * kWarps) {
    const int64_t i = index_at<I>(e.index.data, p * e.index.stride);
    M acc = M(0);
    if (i != e.padding_idx && i >= 0 && i < e.num_weights) {
      const T* g = grad + int64_t(e.bag[p]) * e.dim;
      const T* w = weight + i * e.dim;
      for (int64_t j = lane; j < e.dim; j += 32) acc += static_cast<M>(g[j]) * static_cast<M>(w[j]);
    }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (lane == 0) reinterpret_cast<T*>(e.out)[p] = static_cast<T>(acc);
  }
}

// ---- reductions at an index (scatter reduce=, scatter_reduce, index_reduce) ----------------------
// *p = f(*p) as one atomic step: a compare-and-swap loop on the word holding *p (a 16-bit value
// swaps its aligned 32-bit word; the caching allocator rounds every block to 512 bytes, so that word
// stays inside it). Returns without a write when f leaves the value's bits unchanged: the reductions
// here only move a value one way (max, min) or keep a fixed point (prod by 1, 0 or NaN), so a stale
// first read that f keeps is still the answer.
template <class T, class F> __device__ __forceinline__ void atomic_update(T* p, F f) {
  static_assert(sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8, "16, 32 or 64-bit values");
  if constexpr (sizeof(T) == 2) {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
    unsigned int* word = reinterpret_cast<unsigned int*>(addr & ~uintptr_t(3));
    const unsigned int shift = (addr & 2) ? 16u : 0u;
    unsigned int old = *word, assumed;
    do {
      assumed = old;
      const uint16_t bits = uint16_t(assumed >> shift);
      T cur;
      memcpy(&cur, &bits, 2);
      const T next = f(cur);
      uint16_t nbits;
      memcpy(&nbits, &next, 2);
      if (nbits == bits) return;
      const unsigned int repl = (assumed & ~(0xffffu << shift)) | (unsigned int)(nbits) << shift;
      old = atomicCAS(word, assumed, repl);
    } while (old != assumed);
  } else {
    using W = std::conditional_t<sizeof(T) == 4, unsigned int, unsigned long long>;
    W* word = reinterpret_cast<W*>(p);
    W old = *word, assumed;
    do {
      assumed = old;
      T cur;
      memcpy(&cur, &assumed, sizeof(T));
      const T next = f(cur);
      W nbits;
      memcpy(&nbits, &next, sizeof(T));
      if (nbits == assumed) return;
      old = atomicCAS(word, assumed, nbits);
    } while (old != assumed);
  }
}

template <class M> __device__ __forceinline__ bool is_nan(M v) {
  if constexpr (std::is_floating_point_v<M>) return v != v;
  else return false;
}

// dst op= v (NaN propagates through max and min, as on the cpu)
template <class T> __device__ __forceinline__ void atomic_reduce(Reduce op, T* dst, T v) {
  using M = opmath_t<T>;
  const M mv = static_cast<M>(v);
  switch (op) {
    case Reduce::Sum:
      atomic_add(dst, v);
      return;
    case Reduce::Prod:
      atomic_update(dst, [mv](T cur) { return static_cast<T>(static_cast<M>(cur) * mv); });
      return;
    case Reduce::Max:
      if constexpr (std::is_same_v<T, int32_t>) {
        atomicMax(dst, v);
      } else if constexpr (std::is_same_v<T, int64_t>) {
        atomicMax(reinterpret_cast<long long*>(dst), static_cast<long long>(v));
      } else {
        atomic_update(dst, [mv, v](T cur) {
          const M c = static_cast<M>(cur);
          return is_nan(c) || !(is_nan(mv) || mv > c) ? cur : v;
        });
      }
      return;
    case Reduce::Min:
      if constexpr (std::is_same_v<T, int32_t>) {
        atomicMin(dst, v);
      } else if constexpr (std::is_same_v<T, int64_t>) {
        atomicMin(reinterpret_cast<long long*>(dst), static_cast<long long>(v));
      } else {
        atomic_update(dst, [mv, v](T cur) {
          const M c = static_cast<M>(cur);
          return is_nan(c) || !(is_nan(mv) || mv < c) ? cur : v;
        });
      }
      return;
  }
}

template <class T, class I, bool Small>
__global__ void __launch_bounds__(kFlatThreads) scatter_reduce_kernel(Elems e, Reduce op, T value) {
  pdl_begin();
  const int64_t stride = int64_t(gridDim.x) * kFlatThreads;
  for (int64_t n = int64_t(blockIdx.x) * kFlatThreads + threadIdx.x; n < e.numel; n += stride) {
    int64_t io, po, qo;
    elem_offsets<Small>(e, n, io, po, qo);
    const int64_t i = index_at<I>(e.index, io);
    if (i < 0 || i >= e.picked_dim_size) continue;
    const T v = e.from_value ? value : reinterpret_cast<const T*>(e.plain)[po];
    atomic_reduce(op, reinterpret_cast<T*>(e.picked) + qo + i * e.picked_dim_stride, v);
  }
}

// ---- rows written at an index (index_copy, index_fill) ---------------------------------------------
// Rows in units of U: dst rows at o*dst_outer + index*dst_dim, src rows (or the value) at
// o*src_outer + k*src_dim.
struct UnitPut {
  void* dst;
  const void* src;  // null: the value
  const void* index;
  int64_t index_stride;
  int64_t outer, n, k, units;
  int64_t dst_outer, dst_dim, src_outer, src_dim;
  bool wrap;
};

template <class I> __device__ __forceinline__ int64_t put_index(const UnitPut& r, int64_t kk) {
  int64_t i = index_at<I>(r.index, kk * r.index_stride);
  if (r.wrap && i < 0) i += r.n;
  return i;
}

// One block per row (grid-stride over rows), each thread kUnroll units in flight.
template <class U, class I>
__global__ void __launch_bounds__(kRowThreads) put_rows_kernel(UnitPut r, uint64_t lo, uint64_t hi) {
  pdl_begin();
  const U value = from_bits<U>(lo, hi);
  const int64_t rows = r.outer * r.k;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t o = row / r.k, kk = row - o * r.k;
    const int64_t i = put_index<I>(r, kk);
    if (i < 0 || i >= r.n) continue;
    U* dst = static_cast<U*>(r.dst) + o * r.dst_outer + i * r.dst_dim;
    const U* src = r.src ? static_cast<const U*>(r.src) + o * r.src_outer + kk * r.src_dim : nullptr;
    for (int64_t u0 = threadIdx.x; u0 < r.units; u0 += kRowThreads * kUnroll) {
      U v[kUnroll];
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) {
        const int64_t u = u0 + j * kRowThreads;
        if (u < r.units) v[j] = src ? src[u] : value;
      }
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) {
        const int64_t u = u0 + j * kRowThreads;
        if (u < r.units) dst[u] = v[j];
      }
    }
  }
}

// Short rows: one unit per thread, kUnroll per thread, 32-bit coordinates (total < 2^31).
template <class U, class I>
__global__ void __launch_bounds__(kFlatThreads) put_rows_flat_kernel(UnitPut r, uint32_t total, uint64_t lo,
                                                                     uint64_t hi) {
  pdl_begin();
  const U value = from_bits<U>(lo, hi);
  const uint32_t base = blockIdx.x * (kFlatThreads * kUnroll) + threadIdx.x;
  const uint32_t units = uint32_t(r.units), k = uint32_t(r.k);
  U v[kUnroll];
  int64_t to[kUnroll];
#pragma unroll
  for (int j = 0; j < kUnroll; ++j) {
    const uint32_t t = base + j * kFlatThreads;
    to[j] = -1;
    if (t < total) {
      const uint32_t row = t / units, u = t - row * units;
      const uint32_t o = row / k, kk = row - o * k;
      const int64_t i = put_index<I>(r, kk);
      if (i >= 0 && i < r.n) {
        to[j] = int64_t(o) * r.dst_outer + i * r.dst_dim + u;
        v[j] = r.src ? static_cast<const U*>(r.src)[int64_t(o) * r.src_outer + int64_t(kk) * r.src_dim + u] : value;
      }
    }
  }
#pragma unroll
  for (int j = 0; j < kUnroll; ++j) {
    if (to[j] >= 0) static_cast<U*>(r.dst)[to[j]] = v[j];
  }
}

// ---- take -------------------------------------------------------------------------------------------
template <class E, class I>
__global__ void __launch_bounds__(kFlatThreads) take_kernel(E* out, const E* src, const I* index, int64_t n,
                                                            int64_t src_numel) {
  pdl_begin();
  const int64_t stride = int64_t(gridDim.x) * kFlatThreads;
  for (int64_t base = int64_t(blockIdx.x) * kFlatThreads + threadIdx.x; base < n; base += stride * kUnroll) {
    E v[kUnroll];
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      const int64_t k = base + j * stride;
      v[j] = E{};
      if (k < n) {
        int64_t i = static_cast<int64_t>(index[k]);
        if (i < 0) i += src_numel;
        if (i >= 0 && i < src_numel) v[j] = src[i];
      }
    }
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      const int64_t k = base + j * stride;
      if (k < n) out[k] = v[j];
    }
  }
}

// ---- isin -------------------------------------------------------------------------------------------
// Up to kIsInDirect test elements a block keeps them in shared memory and each element is compared
// with all of them (up to kIsInDirectLarge when the elements are few: the sort's three launches
// cost more there); past it the tests are sorted once (as ordered keys) and binary-searched.
constexpr int kIsInDirect = 64;
constexpr int kIsInDirectLarge = 16;
constexpr int64_t kIsInLarge = int64_t(1) << 20;

template <class T>
__global__ void __launch_bounds__(kFlatThreads) isin_direct_kernel(IsIn s) {
  pdl_begin();
  using M = opmath_t<T>;
  __shared__ M tests[kIsInDirect];
  const int m = int(s.m);
  for (int j = threadIdx.x; j < m; j += kFlatThreads) tests[j] = static_cast<M>(static_cast<const T*>(s.tests)[j]);
  __syncthreads();
  const T* el = static_cast<const T*>(s.elements);
  const int64_t stride = int64_t(gridDim.x) * kFlatThreads;
  for (int64_t k = int64_t(blockIdx.x) * kFlatThreads + threadIdx.x; k < s.n; k += stride) {
    const M v = static_cast<M>(el[k]);
    bool found = false;
    for (int j = 0; j < m; ++j) found |= tests[j] == v;
    s.out[k] = found != s.invert;
  }
}

template <class T>
__global__ void __launch_bounds__(kFlatThreads) isin_keys_kernel(const T* tests, int64_t m, key_t<T>* keys) {
  pdl_begin();
  const int64_t j = int64_t(blockIdx.x) * kFlatThreads + threadIdx.x;
  if (j < m) keys[j] = ordered_key<key_t<T>>(tests[j]);
}

template <class T>
__global__ void __launch_bounds__(kFlatThreads) isin_search_kernel(IsIn s, const key_t<T>* keys) {
  pdl_begin();
  using M = opmath_t<T>;
  using K = key_t<T>;
  const T* el = static_cast<const T*>(s.elements);
  const int64_t stride = int64_t(gridDim.x) * kFlatThreads;
  for (int64_t k = int64_t(blockIdx.x) * kFlatThreads + threadIdx.x; k < s.n; k += stride) {
    const T x = el[k];
    bool found = false;
    if (!is_nan(static_cast<M>(x))) {
      const K key = ordered_key<K>(x);
      int64_t lo = 0, hi = s.m;  // first position whose key is not below `key`
      while (lo < hi) {
        const int64_t mid = lo + ((hi - lo) >> 1);
        if (keys[mid] < key) lo = mid + 1;
        else hi = mid;
      }
      found = lo < s.m && keys[lo] == key;
    }
    s.out[k] = found != s.invert;
  }
}

size_t align_up(size_t x) { return (x + 255) & ~size_t(255); }

}  // namespace

void gather_rows_cuda(const Rows& r) {
  const int64_t k = r.index.numel, rows = r.outer * k;
  if (rows == 0 || r.inner == 0) return;
  const int64_t es = r.elem_size, row_bytes = r.inner * es;
  const auto fits = [&](int64_t v) {
    return row_bytes % v == 0 && reinterpret_cast<uintptr_t>(r.out) % v == 0 &&
           reinterpret_cast<uintptr_t>(r.src) % v == 0 && (r.src_outer * es) % v == 0 &&
           (r.src_dim * es) % v == 0;
  };
  int64_t unit = 16;
  while (unit > 1 && !fits(unit)) unit /= 2;
  const int64_t units = row_bytes / unit;
  UnitRows u{r.out, r.src, r.index.data, r.index.stride, r.outer, r.n, k, units,
             r.src_outer * es / unit, r.src_dim * es / unit};
  const int64_t total = rows * units;
  dispatch_bytes(int(unit), [&](auto utag) {
    using U = typename decltype(utag)::type;
    dispatch_index(r.index.is32, [&](auto itag) {
      using I = typename decltype(itag)::type;
      if (units >= kRowThreads || total >= INT32_MAX) {
        launch(rows_kernel<U, I>, dim3(unsigned(std::min<int64_t>(rows, INT32_MAX))), dim3(kRowThreads),
               stream(), u);
      } else {
        const int64_t blocks = (total + kFlatThreads * kUnroll - 1) / (kFlatThreads * kUnroll);
        launch(rows_flat_kernel<U, I>, dim3(unsigned(blocks)), dim3(kFlatThreads), stream(), u,
               uint32_t(total));
      }
    });
  });
}

void gather_elems_cuda(const Elems& e) {
  if (e.numel == 0) return;
  const int blocks = blocks_for(e.numel, kFlatThreads, kGridCap);
  dispatch_bytes(e.elem_size, [&](auto etag) {
    using E = typename decltype(etag)::type;
    dispatch_index(e.index32, [&](auto itag) {
      using I = typename decltype(itag)::type;
      if (e.numel < INT32_MAX) launch(gather_elems_kernel<E, I, true>, dim3(blocks), dim3(kFlatThreads), stream(), e);
      else launch(gather_elems_kernel<E, I, false>, dim3(blocks), dim3(kFlatThreads), stream(), e);
    });
  });
}

void scatter_elems_cuda(const Elems& e) {
  if (e.numel == 0) return;
  const int blocks = blocks_for(e.numel, kFlatThreads, kGridCap);
  uint64_t bits[2];
  std::memcpy(bits, e.value, sizeof(bits));
  dispatch_bytes(e.elem_size, [&](auto etag) {
    using E = typename decltype(etag)::type;
    dispatch_index(e.index32, [&](auto itag) {
      using I = typename decltype(itag)::type;
      if (e.numel < INT32_MAX) {
        launch(scatter_elems_kernel<E, I, true>, dim3(blocks), dim3(kFlatThreads), stream(), e, bits[0], bits[1]);
      } else {
        launch(scatter_elems_kernel<E, I, false>, dim3(blocks), dim3(kFlatThreads), stream(), e, bits[0], bits[1]);
      }
    });
  });
}

void scatter_add_elems_cuda(const Elems& e) {
  if (e.numel == 0) return;
  const int blocks = blocks_for(e.numel, kFlatThreads, kGridCap);
  dispatch_dtype<kAddTypesCuda>(e.dtype, [&](auto ttag) {
    using T = typename decltype(ttag)::type;
    dispatch_index(e.index32, [&](auto itag) {
      using I = typename decltype(itag)::type;
      if (e.numel < INT32_MAX) launch(scatter_add_kernel<T, I, true>, dim3(blocks), dim3(kFlatThreads), stream(), e);
      else launch(scatter_add_kernel<T, I, false>, dim3(blocks), dim3(kFlatThreads), stream(), e);
    });
  });
}

void add_rows_cuda(const RowsAdd& r) {
  const int64_t total = r.outer * r.index.numel * r.inner;
  if (total == 0) return;
  const AddRows a{r.dst, r.src, r.index.data, r.index.stride, r.outer, r.n, r.index.numel, r.inner,
                  r.dst_outer, r.dst_dim, r.src_outer, r.src_dim};
  const int blocks = blocks_for(total, kFlatThreads, kGridCap);
  dispatch_dtype<kAddTypesCuda>(r.dtype, [&](auto ttag) {
    using T = typename decltype(ttag)::type;
    dispatch_index(r.index.is32, [&](auto itag) {
      using I = typename decltype(itag)::type;
      const auto alpha = r.alpha.to<opmath_t<T>>();
      const int64_t rows = r.outer * r.index.numel;
      if (r.inner >= kRowThreads) {
        launch(add_long_rows_kernel<T, I>, dim3(unsigned(std::min<int64_t>(rows, INT32_MAX))),
               dim3(kRowThreads), stream(), a, alpha);
      } else {
        launch(add_rows_kernel<T, I>, dim3(blocks), dim3(kFlatThreads), stream(), a, alpha);
      }
    });
  });
}

void embedding_backward_cuda(const EmbeddingBackward& e) {
  const int64_t n = e.index.numel;
  if (n == 0 || e.dim == 0 || e.num_weights == 0) return;
  const int ni = int(n);
  int end_bit = 1;
  while (end_bit < 32 && (uint64_t(1) << end_bit) <= uint64_t(e.num_weights)) ++end_bit;
  const cudaStream_t s = stream();

  uint32_t *keys_in = nullptr, *keys_out = nullptr, *run_keys = nullptr;
  int32_t *pos_in = nullptr, *pos_out = nullptr, *counts = nullptr, *offsets = nullptr, *num_runs = nullptr;
  size_t sort_bytes = 0, encode_bytes = 0, scan_bytes = 0;
  C10_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, keys_in, keys_out, pos_in, pos_out,
                                                 ni, 0, end_bit, s));
  C10_CUDA_CHECK(cub::DeviceRunLengthEncode::Encode(nullptr, encode_bytes, keys_out, run_keys, counts,
                                                    num_runs, ni, s));
  C10_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, counts, offsets, ni, s));
  size_t temp_bytes = std::max({sort_bytes, encode_bytes, scan_bytes});
  const size_t array = align_up(size_t(n) * 4);
  const size_t total = 7 * array + align_up(4) + align_up(temp_bytes);
  c10::DataPtr workspace = c10::cuda::CUDACachingAllocator::get()->allocate(total);
  char* base = static_cast<char*>(workspace.get());
  keys_in = reinterpret_cast<uint32_t*>(base);
  keys_out = reinterpret_cast<uint32_t*>(base + array);
  run_keys = reinterpret_cast<uint32_t*>(base + 2 * array);
  pos_in = reinterpret_cast<int32_t*>(base + 3 * array);
  pos_out = reinterpret_cast<int32_t*>(base + 4 * array);
  counts = reinterpret_cast<int32_t*>(base + 5 * array);
  offsets = reinterpret_cast<int32_t*>(base + 6 * array);
  num_runs = reinterpret_cast<int32_t*>(base + 7 * array);
  void* temp = base + 7 * array + align_up(4);

  dispatch_index(e.index.is32, [&](auto itag) {
    using I = typename decltype(itag)::type;
    launch(embedding_keys_kernel<I>, dim3(unsigned((n + kFlatThreads - 1) / kFlatThreads)),
           dim3(kFlatThreads), s, e.index.data, e.index.stride, n, e.num_weights, e.padding_idx,
           keys_in, pos_in);
  });
  C10_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys_out, pos_in, pos_out,
                                                 ni, 0, end_bit, s));
  C10_CUDA_CHECK(cub::DeviceRunLengthEncode::Encode(temp, temp_bytes, keys_out, run_keys, counts,
                                                    num_runs, ni, s));
  C10_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(temp, temp_bytes, counts, offsets, ni, s));

  const EmbeddingRuns a{e.grad_weight, e.grad, run_keys, counts, offsets, pos_out, num_runs,
                        e.num_weights, e.dim, e.scale_by_freq, e.bag, e.per_sample_weights, e.bag_size};
  dispatch_dtype<kEmbeddingBackwardTypes>(e.dtype, [&](auto ttag) {
    using T = typename decltype(ttag)::type;
    constexpr int V = 16 / sizeof(T);
    const bool vec = (e.dim * int64_t(sizeof(T))) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(e.grad) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(e.grad_weight) % 16 == 0;
    const int64_t per_block = int64_t(kRowThreads) * (vec ? V : 1);
    const dim3 grid(unsigned((e.dim + per_block - 1) / per_block), unsigned(std::min<int64_t>(n, 8192)));
    if (e.bag) {
      if (vec) launch(embedding_runs_kernel<T, V, true>, grid, dim3(kRowThreads), s, a);
      else launch(embedding_runs_kernel<T, 1, true>, grid, dim3(kRowThreads), s, a);
    } else {
      if (vec) launch(embedding_runs_kernel<T, V, false>, grid, dim3(kRowThreads), s, a);
      else launch(embedding_runs_kernel<T, 1, false>, grid, dim3(kRowThreads), s, a);
    }
  });
}

void embedding_bag_max_backward_cuda(const EmbeddingBagMax& e) {
  const int64_t n = e.bags * e.dim;
  if (n == 0) return;
  dispatch_dtype<kEmbeddingBackwardTypes>(e.dtype, [&](auto ttag) {
    using T = typename decltype(ttag)::type;
    dispatch_index(e.max_indices.is32, [&](auto itag) {
      using I = typename decltype(itag)::type;
      launch(embedding_bag_max_kernel<T, I>, dim3(blocks_for(n, kFlatThreads, kGridCap)), dim3(kFlatThreads),
             stream(), e);
    });
  });
}

void embedding_bag_weights_backward_cuda(const EmbeddingBagWeights& e) {
  const int64_t n = e.index.numel;
  if (n == 0) return;
  constexpr int kWarps = kFlatThreads / 32;
  dispatch_dtype<kEmbeddingBackwardTypes>(e.dtype, [&](auto ttag) {
    using T = typename decltype(ttag)::type;
    dispatch_index(e.index.is32, [&](auto itag) {
      using I = typename decltype(itag)::type;
      launch(embedding_bag_weights_kernel<T, I>, dim3(unsigned(std::min<int64_t>((n + kWarps - 1) / kWarps, kGridCap))),
             dim3(kFlatThreads), stream(), e);
    });
  });
}

void scatter_reduce_elems_cuda(const Elems& e, Reduce op) {
  if (e.numel == 0) return;
  const int blocks = blocks_for(e.numel, kFlatThreads, kGridCap);
  dispatch_dtype<kReduceTypesCuda>(e.dtype, [&](auto ttag) {
    using T = typename decltype(ttag)::type;
    T value;
    std::memcpy(&value, e.value, sizeof(T));
    dispatch_index(e.index32, [&](auto itag) {
      using I = typename decltype(itag)::type;
      if (e.numel < INT32_MAX) {
        launch(scatter_reduce_kernel<T, I, true>, dim3(blocks), dim3(kFlatThreads), stream(), e, op, value);
      } else {
        launch(scatter_reduce_kernel<T, I, false>, dim3(blocks), dim3(kFlatThreads), stream(), e, op, value);
      }
    });
  });
}

void put_rows_cuda(const RowsPut& r) {
  const int64_t k = r.index.numel, rows = r.outer * k;
  if (rows == 0 || r.inner == 0) return;
  const int64_t es = r.elem_size, row_bytes = r.inner * es;
  const auto fits = [&](int64_t v) {
    bool ok = row_bytes % v == 0 && reinterpret_cast<uintptr_t>(r.dst) % v == 0 && (r.dst_outer * es) % v == 0 &&
              (r.dst_dim * es) % v == 0;
    if (r.src) {
      ok = ok && reinterpret_cast<uintptr_t>(r.src) % v == 0 && (r.src_outer * es) % v == 0 &&
           (r.src_dim * es) % v == 0;
    }
    return ok;
  };
  int64_t unit = 16;
  while (unit > 1 && !fits(unit)) unit /= 2;
  // a value repeats every element: a unit must hold whole elements (dst is aligned to its element,
  // so the search stops at es at the latest)
  TORCH_INTERNAL_ASSERT(r.src || unit >= std::min<int64_t>(es, 16));
  const int64_t units = row_bytes / unit;
  const UnitPut u{r.dst, r.src, r.index.data, r.index.stride, r.outer, r.n, k, units,
                  r.dst_outer * es / unit, r.dst_dim * es / unit,
                  r.src ? r.src_outer * es / unit : 0, r.src ? r.src_dim * es / unit : 0, r.wrap};
  uint64_t bits[2];
  std::memcpy(bits, r.value, sizeof(bits));
  const int64_t total = rows * units;
  TORCH_INTERNAL_ASSERT(!r.index.is32);  // index_copy and index_fill take int64 indices only
  using I = int64_t;
  dispatch_bytes(int(unit), [&](auto utag) {
    using U = typename decltype(utag)::type;
    if (units >= kRowThreads || total >= INT32_MAX) {
      launch(put_rows_kernel<U, I>, dim3(unsigned(std::min<int64_t>(rows, INT32_MAX))), dim3(kRowThreads),
             stream(), u, bits[0], bits[1]);
    } else {
      const int64_t blocks = (total + kFlatThreads * kUnroll - 1) / (kFlatThreads * kUnroll);
      launch(put_rows_flat_kernel<U, I>, dim3(unsigned(blocks)), dim3(kFlatThreads), stream(), u,
             uint32_t(total), bits[0], bits[1]);
    }
  });
}

void take_cuda(const Take& t) {
  const int64_t n = t.index.numel;
  if (n == 0) return;
  const int blocks = blocks_for((n + kUnroll - 1) / kUnroll, kFlatThreads, kGridCap);
  TORCH_INTERNAL_ASSERT(!t.index.is32 && t.index.stride == 1);  // take's index: int64, contiguous
  dispatch_bytes(t.elem_size, [&](auto etag) {
    using E = typename decltype(etag)::type;
    launch(take_kernel<E, int64_t>, dim3(blocks), dim3(kFlatThreads), stream(), reinterpret_cast<E*>(t.out),
           reinterpret_cast<const E*>(t.src), static_cast<const int64_t*>(t.index.data), n, t.src_numel);
  });
}

void isin_cuda(const IsIn& s) {
  if (s.n == 0) return;
  const cudaStream_t st = stream();
  const int blocks = blocks_for(s.n, kFlatThreads, kGridCap);
  dispatch_dtype<kIsInTypes>(s.dtype, [&](auto ttag) {
    using T = typename decltype(ttag)::type;
    using K = key_t<T>;
    if (s.m <= (s.n < kIsInLarge ? kIsInDirect : kIsInDirectLarge)) {
      launch(isin_direct_kernel<T>, dim3(blocks), dim3(kFlatThreads), st, s);
      return;
    }
    const int m = int(s.m);  // the op serves fewer than 2^31 tests
    size_t sort_bytes = 0;
    C10_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(nullptr, sort_bytes, static_cast<const K*>(nullptr),
                                                  static_cast<K*>(nullptr), m, 0, int(sizeof(K) * 8), st));
    const size_t array = align_up(size_t(m) * sizeof(K));
    c10::DataPtr workspace = c10::cuda::CUDACachingAllocator::get()->allocate(2 * array + align_up(sort_bytes));
    char* base = static_cast<char*>(workspace.get());
    K* keys_in = reinterpret_cast<K*>(base);
    K* keys_out = reinterpret_cast<K*>(base + array);
    launch(isin_keys_kernel<T>, dim3(unsigned((s.m + kFlatThreads - 1) / kFlatThreads)), dim3(kFlatThreads), st,
           static_cast<const T*>(s.tests), s.m, keys_in);
    C10_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(base + 2 * array, sort_bytes, keys_in, keys_out, m, 0,
                                                  int(sizeof(K) * 8), st));
    launch(isin_search_kernel<T>, dim3(blocks), dim3(kFlatThreads), st, s, static_cast<const K*>(keys_out));
  });
}

}  // namespace gemforge::index
