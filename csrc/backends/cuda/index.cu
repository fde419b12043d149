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
};

// One thread per V columns of one run: the run's grad rows summed in order (deterministic).
template <class T, int V>
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
#pragma unroll
      for (int q = 0; q < kUnroll; ++q) {
        v[q] = *reinterpret_cast<const Vec*>(grad + int64_t(a.positions[start + j + q]) * a.dim + col);
      }
#pragma unroll
      for (int q = 0; q < kUnroll; ++q) {
#pragma unroll
        for (int c = 0; c < V; ++c) acc[c] += static_cast<M>(v[q].v[c]) * scale;
      }
    }
    for (; j < count; ++j) {
      const Vec v = *reinterpret_cast<const Vec*>(grad + int64_t(a.positions[start + j]) * a.dim + col);
#pragma unroll
      for (int c = 0; c < V; ++c) acc[c] += static_cast<M>(v.v[c]) * scale;
    }
    Vec out;
#pragma unroll
    for (int c = 0; c < V; ++c) out.v[c] = static_cast<T>(acc[c]);
    *reinterpret_cast<Vec*>(static_cast<T*>(a.grad_weight) + int64_t(key) * a.dim + col) = out;
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
                        e.num_weights, e.dim, e.scale_by_freq};
  dispatch_dtype<kEmbeddingBackwardTypes>(e.dtype, [&](auto ttag) {
    using T = typename decltype(ttag)::type;
    constexpr int V = 16 / sizeof(T);
    const bool vec = (e.dim * int64_t(sizeof(T))) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(e.grad) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(e.grad_weight) % 16 == 0;
    const int64_t per_block = int64_t(kRowThreads) * (vec ? V : 1);
    const dim3 grid(unsigned((e.dim + per_block - 1) / per_block), unsigned(std::min<int64_t>(n, 8192)));
    if (vec) launch(embedding_runs_kernel<T, V>, grid, dim3(kRowThreads), s, a);
    else launch(embedding_runs_kernel<T, 1>, grid, dim3(kRowThreads), s, a);
  });
}

}  // namespace gemforge::index
