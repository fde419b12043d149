// cuda kernels of the search family (backends/search.h), on the current stream.
//
// searchsorted: one thread per value, torch's binary search. With one row of boundaries, the
// top levels of the search tree (the midpoints the first L steps can visit: 2^L - 1 of them,
// at most 16 KiB) are gathered into shared memory by each block, so a value's first L steps
// read shared memory and only the last few (over a span of n / 2^L elements, one or two cache
// lines) read global memory. The path is torch's, step for step: results match torch even for
// unsorted rows and NaN.
// bincount, histc: a per-block histogram in shared memory (integer counts: exact), flushed to
// the output with global atomics; global atomics alone when the bins do not fit. histc's float
// and double outputs add whole counts: exact below 2^24 (float), the same on every run.
// unique_consecutive: run heads flagged, scanned into run ids (CUB), the run count read back
// (torch synchronises too), then each run's first element and length.
#include "backends/search.h"
#include "backends/cuda/launch.cuh"

#include <ATen/AccumulateType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>

#include <cub/device/device_scan.cuh>

#include <algorithm>
#include <type_traits>

namespace gemforge::search {
namespace {

using pw::cuda::launch_with_smem;
using pw::cuda::pdl_begin;

constexpr int kThreads = 256;
constexpr int kTreeBytes = 16 * 1024;

using pw::cuda::sm_count;

// Element mid of the boundaries (through the sorter when there is one); first: the row's start.
template <class T>
__device__ __forceinline__ T boundary(const T* __restrict__ bd, const int64_t* __restrict__ sorter,
                                      int64_t first, int64_t mid) {
  return sorter ? bd[first + sorter[mid]] : bd[mid];
}

// levels: the tree levels held in shared memory (0 for batched boundaries).
template <class T>
__global__ void __launch_bounds__(kThreads) search_kernel(Sorted s, int levels) {
  using C = opmath_t<T>;
  extern __shared__ __align__(16) unsigned char smem[];
  T* tree = reinterpret_cast<T*>(smem);  // (2^levels - 1) midpoints, heap order
  const T* __restrict__ bd = static_cast<const T*>(s.boundaries);
  const T* __restrict__ values = static_cast<const T*>(s.values);
  const int64_t* __restrict__ sorter = s.sorter;
  pdl_begin();

  // node j's path from the root: the bits of j + 1 below its leading one (1: right)
  const int nodes = (1 << levels) - 1;
  for (int j = threadIdx.x; j < nodes; j += kThreads) {
    const unsigned code = unsigned(j) + 1;
    const int depth = 31 - __clz(code);
    int64_t start = 0, end = s.bd_len;
    for (int t = depth - 1; t >= 0 && start < end; --t) {
      const int64_t mid = start + ((end - start) >> 1);
      if ((code >> t) & 1u) start = mid + 1;
      else end = mid;
    }
    if (start < end) tree[j] = boundary(bd, sorter, 0, start + ((end - start) >> 1));
  }
  if (levels > 0) __syncthreads();

  const int64_t stride = int64_t(gridDim.x) * kThreads;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < s.numel; i += stride) {
    const int64_t first = s.batched ? i / s.row_len * s.bd_len : 0;
    const C value = static_cast<C>(values[i]);
    int64_t start = first, end = first + s.bd_len;
    int level = 0, node = 0;
    while (start < end) {
      const int64_t mid = start + ((end - start) >> 1);
      const C v = static_cast<C>(level < levels ? tree[node] : boundary(bd, sorter, first, mid));
      const bool go_right = s.right ? !(v > value) : !(v >= value);
      if (go_right) start = mid + 1;
      else end = mid;
      if (level < levels) node = 2 * node + (go_right ? 2 : 1);
      ++level;
    }
    if (s.out_int32) static_cast<int32_t*>(s.out)[i] = static_cast<int32_t>(start - first);
    else static_cast<int64_t*>(s.out)[i] = start - first;
  }
}

template <class T> void launch_search(const Sorted& s) {
  const int64_t blocks_needed = (s.numel + kThreads - 1) / kThreads;
  const int blocks = int(std::min<int64_t>(blocks_needed, int64_t(sm_count()) * 8));
  int levels = 0;
  if (!s.batched && s.bd_len > 0) {
    // the tree's depth: the steps of a full search; its size: at most 16 KiB and about four
    // midpoints per value of a block (gathering a midpoint costs what a search step saves)
    int depth = 0;
    while (depth < 62 && (int64_t(1) << depth) <= s.bd_len) ++depth;
    const int64_t per_block = (s.numel + blocks - 1) / blocks;
    const int max_levels = sizeof(T) <= 4 ? 12 : 11;
    while (levels < std::min(depth, max_levels) && (int64_t(1) << (levels + 1)) <= 4 * per_block)
      ++levels;
  }
  const size_t smem = levels > 0 ? ((size_t(1) << levels) - 1) * sizeof(T) : 0;
  static_assert(((size_t(1) << 12) - 1) * 4 <= kTreeBytes && ((size_t(1) << 11) - 1) * 8 <= kTreeBytes);
  launch_with_smem(search_kernel<T>, dim3(blocks), dim3(kThreads), smem,
                   c10::cuda::getCurrentCUDAStream(), s, levels);
}

// ---- bincount --------------------------------------------------------------------------------
constexpr int kHistBytes = 32 * 1024;

// W: the output's type (int64 counts, float or double sums); S: a block's counter type.
template <class W> using counter_t = std::conditional_t<std::is_same_v<W, int64_t>, unsigned int, W>;

template <class W> __device__ __forceinline__ void add_global(W* out, W v) {
  if constexpr (std::is_same_v<W, int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(out), static_cast<unsigned long long>(v));
  } else {
    atomicAdd(out, v);
  }
}

template <class T, class W>
__device__ __forceinline__ W weight_of(const W* __restrict__ weights, int64_t i) {
  if constexpr (std::is_same_v<W, int64_t>) return 1;
  else return weights[i];
}

template <class T, class W>
__global__ void __launch_bounds__(kThreads) bincount_shared_kernel(Bincount b) {
  using S = counter_t<W>;
  extern __shared__ __align__(16) unsigned char smem[];
  S* hist = reinterpret_cast<S*>(smem);  // (nbins)
  const T* __restrict__ in = static_cast<const T*>(b.in);
  const W* __restrict__ weights = static_cast<const W*>(b.weights);
  const int nbins = int(b.nbins);
  for (int k = threadIdx.x; k < nbins; k += kThreads) hist[k] = S(0);
  pdl_begin();
  __syncthreads();
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < b.numel; i += stride) {
    const int bin = int(static_cast<int64_t>(in[i]));
    if constexpr (std::is_same_v<W, int64_t>) atomicAdd(&hist[bin], 1u);
    else atomicAdd(&hist[bin], weights[i]);
  }
  __syncthreads();
  W* out = static_cast<W*>(b.out);
  for (int k = threadIdx.x; k < nbins; k += kThreads) {
    const S c = hist[k];
    if (c != S(0)) add_global(out + k, static_cast<W>(c));
  }
}

template <class T, class W>
__global__ void __launch_bounds__(kThreads) bincount_global_kernel(Bincount b) {
  const T* __restrict__ in = static_cast<const T*>(b.in);
  const W* __restrict__ weights = static_cast<const W*>(b.weights);
  W* out = static_cast<W*>(b.out);
  pdl_begin();
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < b.numel; i += stride)
    add_global(out + static_cast<int64_t>(in[i]), weight_of<T, W>(weights, i));
}

template <class T, class W> void launch_bincount(const Bincount& b) {
  if (b.numel == 0) return;
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t max_blocks = int64_t(sm_count()) * 2;
  // a block takes at least 16 values a thread: its flush (nbins atomics) stays a small share
  const int64_t blocks = std::max<int64_t>(1, std::min(max_blocks, (b.numel + 16 * kThreads - 1) / (16 * kThreads)));
  const size_t smem = size_t(b.nbins) * sizeof(counter_t<W>);
  // a block's counters are 32-bit: each block must see fewer than 2^32 values
  const bool shared = smem <= size_t(kHistBytes) && (b.numel + blocks - 1) / blocks < (int64_t(1) << 31);
  if (shared) {
    launch_with_smem(bincount_shared_kernel<T, W>, dim3(unsigned(blocks)), dim3(kThreads), smem, stream, b);
  } else {
    const int64_t gblocks = std::min<int64_t>(int64_t(sm_count()) * 8, (b.numel + kThreads - 1) / kThreads);
    launch_with_smem(bincount_global_kernel<T, W>, dim3(unsigned(gblocks)), dim3(kThreads), 0, stream, b);
  }
}

// ---- histc ------------------------------------------------------------------------------------
// torch's cuda bin formula, in the accumulate type A: (int)((x - lo) * bins / (hi - lo)), the
// last bin closed; -1 outside [lo, hi] (NaN too).
template <class T, class A>
__device__ __forceinline__ int64_t histc_bin(T value, A lo, A hi, int64_t bins) {
  const A x = static_cast<A>(value);
  if (!(x >= lo && x <= hi)) return -1;
  int64_t bin = (int)((x - lo) * bins / (hi - lo));
  if (bin < 0 || bin >= bins) bin = bins - 1;
  return bin;
}

// W: the output's type (int64 counts, or in's float / double); integer counts per block in
// shared memory, so the result is exact and the same on every run.
template <class T, class W, bool Shared>
__global__ void __launch_bounds__(kThreads) histc_kernel(Histc h, at::acc_type<T, true> lo,
                                                         at::acc_type<T, true> hi) {
  extern __shared__ __align__(16) unsigned char smem[];
  unsigned int* hist = reinterpret_cast<unsigned int*>(smem);  // (bins) when Shared
  const T* __restrict__ in = static_cast<const T*>(h.in);
  W* out = static_cast<W*>(h.out);
  if constexpr (Shared) {
    for (int64_t k = threadIdx.x; k < h.bins; k += kThreads) hist[k] = 0u;
  }
  pdl_begin();
  if constexpr (Shared) __syncthreads();
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < h.numel; i += stride) {
    const int64_t bin = histc_bin(in[i], lo, hi, h.bins);
    if (bin < 0) continue;
    if constexpr (Shared) atomicAdd(&hist[bin], 1u);
    else add_global(out + bin, W(1));
  }
  if constexpr (Shared) {
    __syncthreads();
    for (int64_t k = threadIdx.x; k < h.bins; k += kThreads) {
      const unsigned int c = hist[k];
      if (c != 0u) add_global(out + k, static_cast<W>(c));
    }
  }
}

template <class T, class W> void launch_histc(const Histc& h) {
  if (h.numel == 0) return;
  using A = at::acc_type<T, true>;
  A lo, hi;
  if constexpr (std::is_integral_v<T>) {
    lo = static_cast<A>(h.ilo);
    hi = static_cast<A>(h.ihi);
  } else {
    lo = static_cast<A>(h.lo);
    hi = static_cast<A>(h.hi);
  }
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t blocks = std::max<int64_t>(
      1, std::min<int64_t>(int64_t(sm_count()) * 2, (h.numel + 16 * kThreads - 1) / (16 * kThreads)));
  const size_t smem = size_t(h.bins) * sizeof(unsigned int);
  if (smem <= size_t(kHistBytes) && (h.numel + blocks - 1) / blocks < (int64_t(1) << 31)) {
    launch_with_smem(histc_kernel<T, W, true>, dim3(unsigned(blocks)), dim3(kThreads), smem, stream, h, lo, hi);
  } else {
    const int64_t gblocks = std::min<int64_t>(int64_t(sm_count()) * 8, (h.numel + kThreads - 1) / kThreads);
    launch_with_smem(histc_kernel<T, W, false>, dim3(unsigned(gblocks)), dim3(kThreads), 0, stream, h, lo, hi);
  }
}

// ---- unique_consecutive ------------------------------------------------------------------------
// ids[i] = 1 where element i starts a run (i > 0), else 0; an inclusive scan makes them run ids.
template <class T>
__global__ void __launch_bounds__(kThreads) run_heads_kernel(const T* __restrict__ in, int64_t n,
                                                             int64_t* __restrict__ ids) {
  using C = opmath_t<T>;
  pdl_begin();
  const int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (i < n) ids[i] = i > 0 && static_cast<C>(in[i]) != static_cast<C>(in[i - 1]) ? 1 : 0;
}

// The first element of each run into unique[run], its start into starts[run].
template <class T>
__global__ void __launch_bounds__(kThreads) run_firsts_kernel(const T* __restrict__ in, int64_t n,
                                                              const int64_t* __restrict__ ids,
                                                              T* __restrict__ unique,
                                                              int64_t* __restrict__ starts) {
  pdl_begin();
  const int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= n || (i > 0 && ids[i] == ids[i - 1])) return;
  unique[ids[i]] = in[i];
  if (starts) starts[ids[i]] = i;
}

// counts[r] = starts[r + 1] - starts[r] (the last run: n - starts[r]).
__global__ void __launch_bounds__(kThreads) run_lengths_kernel(const int64_t* __restrict__ starts,
                                                               int64_t runs, int64_t n,
                                                               int64_t* __restrict__ counts) {
  pdl_begin();
  const int64_t r = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (r < runs) counts[r] = (r + 1 < runs ? starts[r + 1] : n) - starts[r];
}

unsigned blocks_for(int64_t n) { return unsigned((n + kThreads - 1) / kThreads); }

}  // namespace

int64_t consecutive_ids_cuda(const Consecutive& c) {
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const bool ok = dispatch_dtype<kConsecutiveTypes>(c.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_with_smem(run_heads_kernel<T>, dim3(blocks_for(c.numel)), dim3(kThreads), 0, stream,
                     static_cast<const T*>(c.in), c.numel, c.ids);
  });
  TORCH_INTERNAL_ASSERT(ok, "consecutive_ids_cuda: unserved dtype");
  size_t bytes = 0;
  C10_CUDA_CHECK(cub::DeviceScan::InclusiveSum(nullptr, bytes, c.ids, c.ids, c.numel, stream));
  c10::DataPtr temp = c10::cuda::CUDACachingAllocator::get()->allocate(bytes);
  C10_CUDA_CHECK(cub::DeviceScan::InclusiveSum(temp.get(), bytes, c.ids, c.ids, c.numel, stream));
  int64_t last = 0;
  C10_CUDA_CHECK(cudaMemcpyAsync(&last, c.ids + c.numel - 1, sizeof(int64_t), cudaMemcpyDeviceToHost, stream));
  C10_CUDA_CHECK(cudaStreamSynchronize(stream));
  return last + 1;
}

void consecutive_fill_cuda(const Consecutive& c, int64_t runs) {
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  c10::DataPtr starts;
  if (c.counts) starts = c10::cuda::CUDACachingAllocator::get()->allocate(size_t(runs) * sizeof(int64_t));
  int64_t* starts_ptr = static_cast<int64_t*>(starts.get());
  const bool ok = dispatch_dtype<kConsecutiveTypes>(c.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_with_smem(run_firsts_kernel<T>, dim3(blocks_for(c.numel)), dim3(kThreads), 0, stream,
                     static_cast<const T*>(c.in), c.numel, static_cast<const int64_t*>(c.ids),
                     static_cast<T*>(c.unique), starts_ptr);
  });
  TORCH_INTERNAL_ASSERT(ok, "consecutive_fill_cuda: unserved dtype");
  if (c.counts) {
    launch_with_smem(run_lengths_kernel, dim3(blocks_for(runs)), dim3(kThreads), 0, stream,
                     static_cast<const int64_t*>(starts_ptr), runs, c.numel, c.counts);
  }
}

void searchsorted_cuda(const Sorted& s) {
  if (s.numel == 0) return;
  const bool ok = dispatch_dtype<kSearchTypes>(s.dtype, [&](auto tag) {
    launch_search<typename decltype(tag)::type>(s);
  });
  TORCH_INTERNAL_ASSERT(ok, "searchsorted_cuda: unserved dtype");
}

void bincount_cuda(const Bincount& b) {
  const bool ok = dispatch_dtype<kBincountTypes>(b.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (!b.weights) launch_bincount<T, int64_t>(b);
    else if (b.weight_dtype == ScalarType::Float) launch_bincount<T, float>(b);
    else launch_bincount<T, double>(b);
  });
  TORCH_INTERNAL_ASSERT(ok, "bincount_cuda: unserved dtype");
}

void histc_cuda(const Histc& h) {
  const bool ok = dispatch_dtype<kHistcTypesCuda>(h.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T>) {
      if (!h.out_counts) {
        launch_histc<T, T>(h);
        return;
      }
    }
    launch_histc<T, int64_t>(h);
  });
  TORCH_INTERNAL_ASSERT(ok, "histc_cuda: unserved dtype");
}

}  // namespace gemforge::search
