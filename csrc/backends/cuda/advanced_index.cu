// cuda kernels of advanced indexing and masks (backends/advanced_index.h), 64-bit indices, on the
// current stream. Data moves by element size; only the nonzero predicate and accumulate's adds
// see the dtype.
#include "backends/advanced_index.h"

#include <ATen/cuda/Atomic.cuh>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_scan.cuh>

#include <algorithm>
#include <cstring>

namespace gemforge::adv {
namespace {

constexpr int kThreads = 256;

cudaStream_t stream() { return c10::cuda::getCurrentCUDAStream(); }

unsigned blocks_for(int64_t n, int64_t per_block = kThreads) {
  return unsigned(std::min<int64_t>((n + per_block - 1) / per_block, INT32_MAX));
}

// Byte offsets of N operands at linear index i of a space (innermost first); I: the index type
// of the divisions (32-bit where the space allows, several times cheaper).
template <class I, int N> __device__ __forceinline__ void offsets_of(const Space<N>& s, I i, int64_t (&off)[N]) {
#pragma unroll
  for (int a = 0; a < N; ++a) off[a] = 0;
  for (int d = 0; d < s.ndim; ++d) {
    const I size = I(s.sizes[d]);
    const I q = i / size;
    const I c = i - q * size;
    i = q;
#pragma unroll
    for (int a = 0; a < N; ++a) off[a] += int64_t(c) * s.strides[a][d];
  }
}

// ---- masked_fill ------------------------------------------------------------------------------
template <class E> struct alignas(16) Vec16 {
  static constexpr int n = 16 / sizeof(E);
  E e[n];
};
template <int V> struct alignas(V) MaskBytes {
  uint8_t b[V];
};

// Dense operands: V = 16 / sizeof(E) elements per thread, 16-byte loads and stores.
template <class E, bool Inplace>
__global__ void __launch_bounds__(kThreads)
masked_fill_dense_kernel(E* out, const E* in, const uint8_t* mask, int64_t n, E value) {
  constexpr int V = Vec16<E>::n;
  const int64_t nvec = n / V;
  const int64_t v = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (v < nvec) {
    const MaskBytes<V> m = reinterpret_cast<const MaskBytes<V>*>(mask)[v];
    if constexpr (Inplace) {
      bool all = true, any = false;
#pragma unroll
      for (int j = 0; j < V; ++j) {
        all = all && m.b[j];
        any = any || m.b[j];
      }
      if (all) {
        Vec16<E> d;
#pragma unroll
        for (int j = 0; j < V; ++j) d.e[j] = value;
        reinterpret_cast<Vec16<E>*>(out)[v] = d;
      } else if (any) {  // whole-vector stores: no partial sectors to merge in memory
        Vec16<E> d = reinterpret_cast<const Vec16<E>*>(out)[v];
#pragma unroll
        for (int j = 0; j < V; ++j)
          if (m.b[j]) d.e[j] = value;
        reinterpret_cast<Vec16<E>*>(out)[v] = d;
      }
    } else {
      Vec16<E> d = reinterpret_cast<const Vec16<E>*>(in)[v];
#pragma unroll
      for (int j = 0; j < V; ++j)
        if (m.b[j]) d.e[j] = value;
      reinterpret_cast<Vec16<E>*>(out)[v] = d;
    }
  }
  // the tail past the last whole vector: one element per thread of the first block
  if (blockIdx.x == 0) {
    const int64_t i = nvec * V + threadIdx.x;
    if (threadIdx.x < V && i < n) {
      if (mask[i]) out[i] = value;
      else if (!Inplace) out[i] = in[i];
    }
  }
}

template <class E, class I>
__global__ void __launch_bounds__(kThreads) masked_fill_strided_kernel(MaskedFill m, E value) {
  const int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= m.s.numel) return;
  int64_t off[3];
  offsets_of<I>(m.s, I(i), off);
  E* out = reinterpret_cast<E*>(m.s.data[0] + off[0]);
  if (*reinterpret_cast<const bool*>(m.s.data[2] + off[2])) *out = value;
  else if (!m.inplace) *out = *reinterpret_cast<const E*>(m.s.data[1] + off[1]);
}

bool aligned(const void* p, int64_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

// ---- advanced indexing --------------------------------------------------------------------------
template <class T> __device__ __forceinline__ void accumulate_into(T* dst, T v) { gpuAtomicAdd(dst, v); }

// Kind: 0 gather, 1 put, 2 accumulate (E is then the dtype itself).
template <class E, int Kind, class I>
__global__ void __launch_bounds__(kThreads) index_kernel(Indexing ix) {
  const int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= ix.s.numel) return;
  int64_t off[2];
  int64_t index_off[kMaxIndices];  // unrolled loops over kMaxIndices keep it in registers
#pragma unroll
  for (int k = 0; k < kMaxIndices; ++k) index_off[k] = 0;
  off[0] = off[1] = 0;
  I rest = I(i);
  for (int d = 0; d < ix.s.ndim; ++d) {
    const I size = I(ix.s.sizes[d]);
    const I q = rest / size;
    const int64_t c = rest - q * size;
    rest = q;
    off[0] += c * ix.s.strides[0][d];
    off[1] += c * ix.s.strides[1][d];
#pragma unroll
    for (int k = 0; k < kMaxIndices; ++k)
      if (k < ix.nidx) index_off[k] += c * ix.index_strides[k][d];
  }
  bool in_range = true;
#pragma unroll
  for (int k = 0; k < kMaxIndices; ++k) {
    if (k >= ix.nidx) break;
    int64_t v = ix.index[k][index_off[k]];
    const int64_t size = ix.indexed_size[k];
    in_range = in_range && v >= -size && v < size;
    if (v < 0) v += size;
    off[1] += v * ix.indexed_stride[k];
  }
  E* dense = reinterpret_cast<E*>(ix.s.data[0] + off[0]);
  E* at = reinterpret_cast<E*>(ix.s.data[1] + off[1]);
  if constexpr (Kind == 0) {
    *dense = in_range ? *at : E{};
  } else if (in_range) {
    if constexpr (Kind == 1) *at = *dense;
    else accumulate_into(at, *dense);
  }
}

// Whole rows in W-byte words, 1 << lane_shift lanes per row; accumulate: W is the dtype.
template <class W, RowsKind Kind>
__global__ void __launch_bounds__(kThreads) rows_kernel(Rows g, int lane_shift) {
  const int lanes = 1 << lane_shift;
  const int64_t r = int64_t(blockIdx.x) * (kThreads >> lane_shift) + (threadIdx.x >> lane_shift);
  if (r >= g.rows) return;
  const int lane = threadIdx.x & (lanes - 1);
  const int64_t nw = g.row_bytes / int64_t(sizeof(W));
  W* dense = reinterpret_cast<W*>(g.dense + r * g.row_bytes);
  int64_t idx = g.index[r];
  const bool in_range = idx >= -g.size && idx < g.size;
  if (!in_range) {
    if constexpr (Kind == RowsKind::gather) {
      for (int64_t w = lane; w < nw; w += lanes) dense[w] = W{};
    }
    return;
  }
  if (idx < 0) idx += g.size;
  W* row = reinterpret_cast<W*>(g.indexed + idx * g.indexed_row_stride);
  if constexpr (Kind == RowsKind::accumulate) {
    for (int64_t w = lane; w < nw; w += lanes) gpuAtomicAdd(row + w, dense[w]);
  } else {
    W* dst = Kind == RowsKind::gather ? dense : row;
    const W* src = Kind == RowsKind::gather ? row : dense;
    int64_t w = lane;
    for (; w + 3 * lanes < nw; w += 4 * lanes) {  // four words in flight per lane
      const W a = src[w], b = src[w + lanes], c = src[w + 2 * lanes], d = src[w + 3 * lanes];
      dst[w] = a;
      dst[w + lanes] = b;
      dst[w + 2 * lanes] = c;
      dst[w + 3 * lanes] = d;
    }
    for (; w < nw; w += lanes) dst[w] = src[w];
  }
}

// ---- compaction -----------------------------------------------------------------------------------
template <class T> __device__ __forceinline__ bool is_nonzero(const T& v) {
  if constexpr (c10::is_complex<T>::value) {
    return v.real() != 0 || v.imag() != 0;
  } else if constexpr (std::is_same_v<T, c10::Half> || std::is_same_v<T, c10::BFloat16>) {
    return static_cast<float>(v) != 0.f;
  } else {
    return v != T(0);
  }
}

using BlockScan = cub::BlockScan<int, kSelectThreads>;
using BlockReduce = cub::BlockReduce<int, kSelectThreads>;

// A thread's kSelectItems consecutive elements (blocked arrangement), loaded as one vector.
template <class T> struct alignas(sizeof(T) * kSelectItems < 16 ? sizeof(T) * kSelectItems : 16) Items {
  T v[kSelectItems];
};

// Bit j: element base + j is selected.
template <class T> __device__ __forceinline__ unsigned selected_bits(const T* p, int64_t n, int64_t base) {
  unsigned bits = 0;
  if (base + kSelectItems <= n && reinterpret_cast<uintptr_t>(p) % alignof(Items<T>) == 0) {
    const Items<T> items = *reinterpret_cast<const Items<T>*>(p + base);
#pragma unroll
    for (int j = 0; j < kSelectItems; ++j) bits |= unsigned(is_nonzero(items.v[j])) << j;
  } else {
#pragma unroll
    for (int j = 0; j < kSelectItems; ++j) {
      if (base + j < n && is_nonzero(p[base + j])) bits |= 1u << j;
    }
  }
  return bits;
}

template <class T>
__global__ void __launch_bounds__(kSelectThreads) count_kernel(const T* p, int64_t n, int64_t* counts) {
  __shared__ typename BlockReduce::TempStorage tmp;
  const int64_t base = int64_t(blockIdx.x) * kTile + int64_t(threadIdx.x) * kSelectItems;
  const int total = BlockReduce(tmp).Sum(__popc(selected_bits(p, n, base)));
  if (threadIdx.x == 0) counts[blockIdx.x] = total;
}

// f(element, output row) for each selected element of this block, rows from offsets.
template <class T, class F>
__device__ __forceinline__ void each_selected(const T* p, int64_t n, const int64_t* offsets, F&& f) {
  __shared__ typename BlockScan::TempStorage tmp;
  const int64_t base = int64_t(blockIdx.x) * kTile + int64_t(threadIdx.x) * kSelectItems;
  const unsigned bits = selected_bits(p, n, base);
  int prefix;
  BlockScan(tmp).ExclusiveSum(__popc(bits), prefix);
  int64_t row = offsets[blockIdx.x] + prefix;
#pragma unroll
  for (int j = 0; j < kSelectItems; ++j) {
    if (bits & (1u << j)) f(base + j, row++);
  }
}

template <class T>
__global__ void __launch_bounds__(kSelectThreads)
nonzero_kernel(Selection sel, const int64_t* offsets, int64_t* out, int64_t rows, int64_t row_stride,
               int64_t dim_stride) {
  each_selected(static_cast<const T*>(sel.pred), sel.numel, offsets, [&](int64_t i, int64_t row) {
    if (row >= rows) return;
    int64_t* o = out + row * row_stride;
    for (int d = sel.ndim - 1; d >= 0; --d) {
      const int64_t q = i / sel.sizes[d];
      o[d * dim_stride] = i - q * sel.sizes[d];
      i = q;
    }
  });
}

// Rows from the count (at *total) up to rows get fill.
__global__ void __launch_bounds__(kThreads)
fill_rows_kernel(int64_t* out, int64_t rows, int ndim, const int64_t* total, int64_t fill, int64_t row_stride,
                 int64_t dim_stride) {
  const int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (e >= rows * ndim) return;
  const int64_t r = e / ndim, d = e - r * ndim;
  if (r >= *total) out[r * row_stride + d * dim_stride] = fill;
}

template <class E>
__global__ void __launch_bounds__(kSelectThreads)
masked_select_kernel(Selection mask, const int64_t* offsets, const E* src, E* out) {
  each_selected(static_cast<const bool*>(mask.pred), mask.numel, offsets,
                [&](int64_t i, int64_t row) { out[row] = src[i]; });
}

template <class E>
__global__ void __launch_bounds__(kSelectThreads)
masked_scatter_kernel(Selection mask, const int64_t* offsets, Strided dst, const E* source, int64_t source_numel) {
  each_selected(static_cast<const bool*>(mask.pred), mask.numel, offsets, [&](int64_t i, int64_t row) {
    if (row >= source_numel) return;
    int64_t off = 0;
    for (int d = dst.ndim - 1; d >= 0; --d) {
      const int64_t q = i / dst.sizes[d];
      off += (i - q * dst.sizes[d]) * dst.strides[d];
      i = q;
    }
    *reinterpret_cast<E*>(dst.data + off) = source[row];
  });
}

}  // namespace

void masked_fill_cuda(const MaskedFill& m) {
  if (m.s.numel == 0) return;
  dispatch_size(m.elem_size, [&](auto tag) {
    using E = typename decltype(tag)::type;
    E value;
    memcpy(&value, &m.value, sizeof(E));
    const int64_t E_ = sizeof(E);
    constexpr int V = Vec16<E>::n;
    const bool dense = m.s.ndim == 1 && m.s.strides[0][0] == E_ && m.s.strides[2][0] == 1 &&
                       (m.inplace || m.s.strides[1][0] == E_) && aligned(m.s.data[0], 16) &&
                       aligned(m.s.data[1], 16) && aligned(m.s.data[2], V);
    if (dense) {
      const int64_t nvec = m.s.numel / V;
      const unsigned blocks = std::max(1u, blocks_for(nvec));
      E* out = reinterpret_cast<E*>(m.s.data[0]);
      const E* in = reinterpret_cast<const E*>(m.s.data[1]);
      const uint8_t* mask = reinterpret_cast<const uint8_t*>(m.s.data[2]);
      if (m.inplace) {
        masked_fill_dense_kernel<E, true><<<blocks, kThreads, 0, stream()>>>(out, in, mask, m.s.numel, value);
      } else {
        masked_fill_dense_kernel<E, false><<<blocks, kThreads, 0, stream()>>>(out, in, mask, m.s.numel, value);
      }
    } else {
      if (m.s.numel <= INT32_MAX) {
        masked_fill_strided_kernel<E, uint32_t><<<blocks_for(m.s.numel), kThreads, 0, stream()>>>(m, value);
      } else {
        masked_fill_strided_kernel<E, int64_t><<<blocks_for(m.s.numel), kThreads, 0, stream()>>>(m, value);
      }
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

void index_cuda(const Indexing& ix, bool put, bool accumulate) {
  if (ix.s.numel == 0) return;
  const unsigned blocks = blocks_for(ix.s.numel);
  TORCH_CHECK(int64_t(blocks) * kThreads >= ix.s.numel, "index: too many elements for one launch");
  auto launch = [&](auto index_type) {
    using I = decltype(index_type);
    if (put && accumulate) {
      dispatch_dtype<kAccumulateTypesCuda>(ix.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        index_kernel<T, 2, I><<<blocks, kThreads, 0, stream()>>>(ix);
      });
    } else {
      dispatch_size(ix.elem_size, [&](auto tag) {
        using E = typename decltype(tag)::type;
        if (put) index_kernel<E, 1, I><<<blocks, kThreads, 0, stream()>>>(ix);
        else index_kernel<E, 0, I><<<blocks, kThreads, 0, stream()>>>(ix);
      });
    }
  };
  if (ix.s.numel <= INT32_MAX) launch(uint32_t{});
  else launch(int64_t{});
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void rows_cuda(const Rows& g, RowsKind kind, ScalarType dtype) {
  if (g.rows == 0 || g.row_bytes == 0) return;
  int width = 16;
  if (kind == RowsKind::accumulate) {
    width = int(c10::elementSize(dtype));
  } else {
    while (width > 1 && (g.row_bytes % width || g.indexed_row_stride % width || !aligned(g.dense, width) ||
                         !aligned(g.indexed, width))) {
      width /= 2;
    }
  }
  const int64_t words = g.row_bytes / width;
  int lane_shift = 0;
  while (lane_shift < 5 && (int64_t(1) << lane_shift) < words) ++lane_shift;
  const unsigned blocks = blocks_for(g.rows, kThreads >> lane_shift);
  TORCH_CHECK(int64_t(blocks) * (kThreads >> lane_shift) >= g.rows, "index: too many rows for one launch");
  auto launch = [&](auto word) {
    using W = decltype(word);
    if (kind == RowsKind::gather) rows_kernel<W, RowsKind::gather><<<blocks, kThreads, 0, stream()>>>(g, lane_shift);
    else rows_kernel<W, RowsKind::put><<<blocks, kThreads, 0, stream()>>>(g, lane_shift);
  };
  if (kind == RowsKind::accumulate) {
    dispatch_dtype<kAccumulateTypesCuda>(dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      rows_kernel<T, RowsKind::accumulate><<<blocks, kThreads, 0, stream()>>>(g, lane_shift);
    });
  } else {
    switch (width) {
      case 16: launch(uint4{}); break;
      case 8: launch(uint2{}); break;
      case 4: launch(uint32_t{}); break;
      case 2: launch(uint16_t{}); break;
      default: launch(uint8_t{}); break;
    }
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void select_offsets_cuda(const Selection& sel, int64_t* offsets) {
  const int64_t nb = select_blocks(sel.numel);
  auto& allocator = *c10::cuda::CUDACachingAllocator::get();
  c10::DataPtr counts = allocator.allocate((nb + 1) * sizeof(int64_t));
  int64_t* c = static_cast<int64_t*>(counts.get());
  C10_CUDA_CHECK(cudaMemsetAsync(c + nb, 0, sizeof(int64_t), stream()));
  if (nb > 0) {
    dispatch_dtype<kNonzeroTypes>(sel.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      count_kernel<T><<<unsigned(nb), kSelectThreads, 0, stream()>>>(static_cast<const T*>(sel.pred), sel.numel, c);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  size_t bytes = 0;
  C10_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, bytes, c, offsets, nb + 1, stream()));
  c10::DataPtr temp = allocator.allocate(std::max<size_t>(bytes, 1));
  C10_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(temp.get(), bytes, c, offsets, nb + 1, stream()));
}

int64_t read_total_cuda(const int64_t* total) {
  int64_t host = 0;
  C10_CUDA_CHECK(cudaMemcpyAsync(&host, total, sizeof(int64_t), cudaMemcpyDeviceToHost, stream()));
  C10_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return host;
}

void nonzero_cuda(const Selection& sel, const int64_t* offsets, int64_t* out, int64_t rows, int64_t fill,
                  int64_t row_stride, int64_t dim_stride) {
  const int64_t nb = select_blocks(sel.numel);
  if (rows == 0 || sel.ndim == 0) return;
  if (nb > 0) {
    dispatch_dtype<kNonzeroTypes>(sel.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      nonzero_kernel<T><<<unsigned(nb), kSelectThreads, 0, stream()>>>(sel, offsets, out, rows, row_stride,
                                                                       dim_stride);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  fill_rows_kernel<<<blocks_for(rows * sel.ndim), kThreads, 0, stream()>>>(out, rows, sel.ndim, offsets + nb, fill,
                                                                         row_stride, dim_stride);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void masked_select_cuda(const Selection& mask, const int64_t* offsets, const char* src, int elem_size, char* out) {
  const int64_t nb = select_blocks(mask.numel);
  if (nb == 0) return;
  dispatch_size(elem_size, [&](auto tag) {
    using E = typename decltype(tag)::type;
    masked_select_kernel<E><<<unsigned(nb), kSelectThreads, 0, stream()>>>(
        mask, offsets, reinterpret_cast<const E*>(src), reinterpret_cast<E*>(out));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void masked_scatter_cuda(const Selection& mask, const int64_t* offsets, const Strided& dst, const char* source,
                         int64_t source_numel, int elem_size) {
  const int64_t nb = select_blocks(mask.numel);
  if (nb == 0) return;
  dispatch_size(elem_size, [&](auto tag) {
    using E = typename decltype(tag)::type;
    masked_scatter_kernel<E><<<unsigned(nb), kSelectThreads, 0, stream()>>>(
        mask, offsets, dst, reinterpret_cast<const E*>(source), source_numel);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace gemforge::adv
