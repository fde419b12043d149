// cuda kernels of the sort/select family (backends/sort.h), on the current stream, positions
// in 32 bits (the ops send at most 2^31 - 1 elements).
//   sort, rows up to 4096: one block per row, cub::BlockRadixSort of (key, position) in
//     registers and shared memory; values are then read back by position (their bits kept).
//   sort, longer rows: one cub::DeviceRadixSort over the whole tensor, the row number in the
//     key's high bits (keys of 8 bytes: a second stable pass by row).
//   selection (kthvalue, median, nanmedian, topk): one block per row, radix select: 8-bit
//     digits from the top, a shared histogram per pass narrows the rank down to one key;
//     the row's keys are staged in shared memory when they fit. topk then gathers the k
//     winners in index order and sorts them with the block sort.
#include "backends/sort.h"

#include <cub/block/block_radix_sort.cuh>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

namespace gemforge::sorting {
namespace {

cudaStream_t stream() { return c10::cuda::getCurrentCUDAStream(); }

template <class K> constexpr K kTop = K(~K(0));

// ---- block sort: one row of at most Threads * Items elements per block ----------------------
// in and values may be the same rows (topk sorts its winners in place): every read of a row
// happens before the block's first write. in_idx, when given, maps positions to the indices
// written (topk's winners carry theirs).
template <class K, int Threads, int Items>
__global__ void __launch_bounds__(Threads)
block_sort_kernel(const K* in, const int64_t* in_idx, K* values, int64_t* indices, int n,
                  Codec<K> codec) {
  using Sorter = cub::BlockRadixSort<K, Threads, Items, int>;
  __shared__ typename Sorter::TempStorage temp;
  const int64_t offset = int64_t(blockIdx.x) * n;
  const K* src = in + offset;
  K keys[Items];
  int pos[Items];
#pragma unroll
  for (int i = 0; i < Items; ++i) {  // blocked: the sort is stable in this order
    const int p = int(threadIdx.x) * Items + i;
    pos[i] = p;
    keys[i] = p < n ? order_key(src[p], codec) : kTop<K>;  // padding sorts after every element
  }
  Sorter(temp).SortBlockedToStriped(keys, pos);
  K v[Items];
  int64_t ix[Items];
#pragma unroll
  for (int i = 0; i < Items; ++i) {
    const int rank = i * Threads + int(threadIdx.x);
    if (rank < n) {
      v[i] = src[pos[i]];
      ix[i] = in_idx ? in_idx[offset + pos[i]] : int64_t(pos[i]);
    }
  }
  __syncthreads();
#pragma unroll
  for (int i = 0; i < Items; ++i) {
    const int rank = i * Threads + int(threadIdx.x);
    if (rank < n) {
      values[offset + rank] = v[i];
      indices[offset + rank] = ix[i];
    }
  }
}

constexpr int kBlockSortMax = 4096;

template <class K>
void block_sort(const K* in, const int64_t* in_idx, K* values, int64_t* indices, int64_t rows,
                int n, Codec<K> codec) {
  const unsigned grid = unsigned(rows);
  if (n <= 512) {
    block_sort_kernel<K, 128, 4><<<grid, 128, 0, stream()>>>(in, in_idx, values, indices, n, codec);
  } else if (n <= 2048) {
    block_sort_kernel<K, 256, 8><<<grid, 256, 0, stream()>>>(in, in_idx, values, indices, n, codec);
  } else {
    block_sort_kernel<K, 512, 8><<<grid, 512, 0, stream()>>>(in, in_idx, values, indices, n, codec);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ---- device-wide sort of long rows ------------------------------------------------------------
constexpr int kThreads = 256;

unsigned grid_for(int64_t count) {
  return unsigned(std::min<int64_t>((count + kThreads - 1) / kThreads, 132 * 32));
}

// keys[i] = (row << row_shift) | key of element i (row_shift 64: the key alone); order[i] = i.
template <class K>
__global__ void __launch_bounds__(kThreads)
make_keys_kernel(const K* in, int64_t count, int64_t n, int row_shift, Codec<K> codec,
                 uint64_t* keys, int* order) {
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * kThreads) {
    uint64_t key = order_key(in[i], codec);
    if (row_shift < 64) key |= uint64_t(i / n) << row_shift;
    keys[i] = key;
    order[i] = int(i);
  }
}

// keys[j] = the row of element order[j]: the second, stable pass of 8-byte keys.
__global__ void __launch_bounds__(kThreads)
row_keys_kernel(const int* order, int64_t count, int64_t n, uint64_t* keys) {
  for (int64_t j = int64_t(blockIdx.x) * kThreads + threadIdx.x; j < count;
       j += int64_t(gridDim.x) * kThreads) {
    keys[j] = uint64_t(order[j] / n);
  }
}

template <class K>
__global__ void __launch_bounds__(kThreads)
gather_sorted_kernel(const K* in, const int* order, int64_t count, int64_t n, K* values,
                     int64_t* indices) {
  for (int64_t j = int64_t(blockIdx.x) * kThreads + threadIdx.x; j < count;
       j += int64_t(gridDim.x) * kThreads) {
    const int64_t p = order[j];
    values[j] = in[p];
    indices[j] = p - (j / n) * n;
  }
}

struct Scratch {  // device memory from torch's caching allocator, freed in stream order
  c10::DataPtr data;
  char* next;
  explicit Scratch(size_t bytes)
      : data(c10::cuda::CUDACachingAllocator::get()->allocate(bytes)),
        next(static_cast<char*>(data.get())) {}
  template <class T> T* take(size_t count) {
    T* p = reinterpret_cast<T*>(next);
    next += (count * sizeof(T) + 255) / 256 * 256;
    return p;
  }
};

size_t padded(size_t bytes) { return (bytes + 255) / 256 * 256; }

template <class K>
void device_sort(const K* in, int64_t rows, int64_t n, Codec<K> codec, K* values,
                 int64_t* indices) {
  const int64_t count = rows * n;
  const int key_bits = 8 * int(sizeof(K));
  const int row_bits = rows > 1 ? 64 - __builtin_clzll(uint64_t(rows - 1)) : 0;
  const bool one_pass = key_bits + row_bits <= 64;
  const int end_bit = one_pass ? key_bits + row_bits : 64;

  cub::DoubleBuffer<uint64_t> keys(nullptr, nullptr);
  cub::DoubleBuffer<int> order(nullptr, nullptr);
  size_t temp_bytes = 0, row_temp_bytes = 0;
  C10_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys, order, int(count), 0,
                                                 end_bit, stream()));
  if (!one_pass) {
    C10_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, row_temp_bytes, keys, order,
                                                   int(count), 0, row_bits, stream()));
    temp_bytes = std::max(temp_bytes, row_temp_bytes);
  }
  Scratch scratch(2 * padded(count * sizeof(uint64_t)) + 2 * padded(count * sizeof(int)) +
                  padded(temp_bytes));
  keys = cub::DoubleBuffer<uint64_t>(scratch.take<uint64_t>(count), scratch.take<uint64_t>(count));
  order = cub::DoubleBuffer<int>(scratch.take<int>(count), scratch.take<int>(count));
  void* temp = scratch.take<char>(temp_bytes);

  make_keys_kernel<K><<<grid_for(count), kThreads, 0, stream()>>>(
      in, count, n, one_pass && rows > 1 ? key_bits : 64, codec, keys.Current(), order.Current());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  C10_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys, order, int(count), 0,
                                                 end_bit, stream()));
  if (!one_pass) {
    row_keys_kernel<<<grid_for(count), kThreads, 0, stream()>>>(order.Current(), count, n,
                                                                 keys.Current());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    C10_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys, order, int(count), 0,
                                                   row_bits, stream()));
  }
  gather_sorted_kernel<K><<<grid_for(count), kThreads, 0, stream()>>>(
      in, order.Current(), count, n, values, indices);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <class K>
void sort_rows(const K* in, int64_t rows, int64_t n, Codec<K> codec, K* values, int64_t* indices) {
  if (n <= kBlockSortMax) block_sort<K>(in, nullptr, values, indices, rows, int(n), codec);
  else device_sort<K>(in, rows, n, codec, values, indices);
}

// ---- radix select: one block per row -----------------------------------------------------------
constexpr int kSelectThreads = 512;
constexpr int kScanItems = 8;  // elements per thread per tile in the ordered passes
constexpr size_t kStageBytes = 44 * 1024;  // with the static shared memory, under 48 KiB

enum class Mode { kth, median, nanmedian, topk };

template <class K> struct SelectArgs {
  const K* in;
  int n;
  int k;  // kth, topk: the rank (0-based) / the count
  Mode mode;
  Codec<K> codec;
  K* values;        // one per row; topk: k per row
  int64_t* indices;
};

template <class K, bool Staged>
__global__ void __launch_bounds__(kSelectThreads) select_kernel(SelectArgs<K> a) {
  using Scan = cub::BlockScan<long long, kSelectThreads>;
  extern __shared__ __align__(16) unsigned char staged_raw[];
  __shared__ typename Scan::TempStorage scan_temp;
  __shared__ int hist[256];
  __shared__ int nan_count, digit, rank_left;
  K* staged = reinterpret_cast<K*>(staged_raw);  // the row's keys (Staged)

  const unsigned n = unsigned(a.n), tid = threadIdx.x;
  const K* src = a.in + int64_t(blockIdx.x) * a.n;
  auto key_at = [&](unsigned i) -> K { return Staged ? staged[i] : order_key(src[i], a.codec); };

  if (tid == 0) nan_count = 0;
  __syncthreads();
  const bool count_nan = a.mode == Mode::median || a.mode == Mode::nanmedian;
  if (Staged || count_nan) {
    int nans = 0;
    for (unsigned i = tid; i < n; i += kSelectThreads) {
      const K key = order_key(src[i], a.codec);
      if (Staged) staged[i] = key;
      nans += key == kTop<K>;
    }
    if (count_nan && a.codec.kind == 2 && nans) atomicAdd(&nan_count, nans);
  }
  __syncthreads();

  int rank = a.mode == Mode::topk ? a.k - 1 : a.k;
  if (a.mode == Mode::median) rank = nan_count > 0 ? a.n - nan_count : (a.n - 1) / 2;
  if (a.mode == Mode::nanmedian) rank = nan_count < a.n ? (a.n - nan_count - 1) / 2 : 0;

  // the key at `rank`: one 8-bit digit per pass, from the top
  K prefix = 0, mask = 0;
#pragma unroll 1
  for (int shift = 8 * int(sizeof(K)) - 8; shift >= 0; shift -= 8) {
    for (unsigned b = tid; b < 256; b += kSelectThreads) hist[b] = 0;
    __syncthreads();
    // whole warps per step: lanes with the same digit add once (the top digits of real data
    // crowd into a few bins, where lane-by-lane atomics would serialize)
    for (unsigned base = 0; base < n; base += kSelectThreads) {
      const unsigned i = base + tid;
      int bin = -1;
      if (i < n) {
        const K key = key_at(i);
        if ((key & mask) == prefix) bin = int((key >> shift) & 0xFF);
      }
      const unsigned peers = __match_any_sync(0xFFFFFFFFu, bin);
      if (bin >= 0 && (tid & 31) == unsigned(__ffs(int(peers)) - 1)) atomicAdd(&hist[bin], __popc(peers));
    }
    __syncthreads();
    if (tid < 32) {  // warp 0: lane l holds bins [8l, 8l + 8)
      int counts[8], sum = 0;
#pragma unroll
      for (int j = 0; j < 8; ++j) sum += counts[j] = hist[tid * 8 + j];
      int inclusive = sum;
#pragma unroll
      for (int d = 1; d < 32; d <<= 1) {
        const int up = __shfl_up_sync(0xFFFFFFFFu, inclusive, d);
        if (int(tid) >= d) inclusive += up;
      }
      const unsigned holders = __ballot_sync(0xFFFFFFFFu, rank < inclusive);
      if (int(tid) == __ffs(int(holders)) - 1) {
        int before = inclusive - sum;
        for (int j = 0; j < 8; ++j) {
          if (rank < before + counts[j]) {
            digit = int(tid) * 8 + j;
            rank_left = rank - before;
            break;
          }
          before += counts[j];
        }
      }
    }
    __syncthreads();
    prefix |= K(K(digit) << shift);
    mask |= K(K(0xFF) << shift);
    rank = rank_left;
  }
  const K kth = prefix;  // `rank` elements equal to it come before it (index order)

  const int64_t row = blockIdx.x;
  if (a.mode != Mode::topk) {
    // the position of the rank-th element equal to kth, in index order
    long long seen = 0;
    for (unsigned base = 0; base < n; base += kSelectThreads * kScanItems) {
      const unsigned first = base + tid * kScanItems;
      long long mine = 0;
#pragma unroll
      for (int j = 0; j < kScanItems; ++j) {
        if (first + j < n && key_at(first + j) == kth) ++mine;
      }
      long long before, total;
      Scan(scan_temp).ExclusiveSum(mine, before, total);
      long long need = rank - seen - before;
      if (need >= 0 && need < mine) {
        for (int j = 0; j < kScanItems; ++j) {
          if (first + j < n && key_at(first + j) == kth && need-- == 0) {
            a.values[row] = src[first + j];
            a.indices[row] = first + j;
          }
        }
      }
      seen += total;
      if (seen > rank) break;
      __syncthreads();  // scan_temp is reused
    }
    return;
  }

  // topk: every element below kth, then the first rank + 1 equal to it, each group in index
  // order; counts packed (below << 32 | equal) into one scan
  const long long below_count = a.k - 1 - rank, equal_count = rank + 1;
  K* out_values = a.values + row * a.k;
  int64_t* out_indices = a.indices + row * a.k;
  long long seen_below = 0, seen_equal = 0;
  for (unsigned base = 0; base < n; base += kSelectThreads * kScanItems) {
    const unsigned first = base + tid * kScanItems;
    long long below = 0, equal = 0;
#pragma unroll
    for (int j = 0; j < kScanItems; ++j) {
      if (first + j < n) {
        const K key = key_at(first + j);
        below += key < kth;
        equal += key == kth;
      }
    }
    long long before, total;
    Scan(scan_temp).ExclusiveSum((below << 32) | equal, before, total);
    long long at_below = seen_below + (before >> 32), at_equal = seen_equal + (before & 0xFFFFFFFFll);
    for (int j = 0; j < kScanItems && (below | equal); ++j) {
      if (first + j >= n) break;
      const K key = key_at(first + j);
      long long slot = -1;
      if (key < kth) slot = at_below++;
      else if (key == kth && at_equal < equal_count) slot = below_count + at_equal++;
      else if (key == kth) at_equal++;
      if (slot >= 0) {
        out_values[slot] = src[first + j];
        out_indices[slot] = first + j;
      }
    }
    seen_below += total >> 32;
    seen_equal += total & 0xFFFFFFFFll;
    if (seen_below >= below_count && seen_equal >= equal_count) break;
    __syncthreads();  // scan_temp is reused
  }
}

template <class K> void select_rows(const SelectArgs<K>& a, int64_t rows) {
  const size_t bytes = size_t(a.n) * sizeof(K);
  if (bytes <= kStageBytes) {
    select_kernel<K, true><<<unsigned(rows), kSelectThreads, bytes, stream()>>>(a);
  } else {
    select_kernel<K, false><<<unsigned(rows), kSelectThreads, 0, stream()>>>(a);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ---- mode: the longest run of equal keys in each sorted row ------------------------------------
constexpr int kModeThreads = 256, kModeItems = 8;

struct MaxInt {
  __device__ int operator()(int a, int b) const { return a > b ? a : b; }
};
struct MaxLong {
  __device__ long long operator()(long long a, long long b) const { return a > b ? a : b; }
};

// One block a row, tiles of kModeThreads x kModeItems elements (a thread's items consecutive).
// A run's start comes from a max-scan of the positions where runs start (carried across
// tiles); at each run's end the thread weighs (length, earliest end) as one 64-bit number.
template <class K>
__global__ void __launch_bounds__(kModeThreads)
mode_kernel(const K* sorted, const int64_t* positions, int n, Codec<K> codec, K* values, int64_t* indices) {
  using Scan = cub::BlockScan<int, kModeThreads>;
  using Reduce = cub::BlockReduce<long long, kModeThreads>;
  __shared__ typename Scan::TempStorage scan_temp;
  __shared__ typename Reduce::TempStorage reduce_temp;
  __shared__ int carry;
  const int64_t row = blockIdx.x;
  const K* in = sorted + row * n;
  auto key_at = [&](int i) { return order_key(in[i], codec); };
  if (threadIdx.x == 0) carry = -1;
  __syncthreads();
  long long best = -1;  // (length << 32) | (2^32 - 1 - end)
  for (int base = 0; base < n; base += kModeThreads * kModeItems) {
    const int first = base + int(threadIdx.x) * kModeItems;
    int starts[kModeItems];
#pragma unroll
    for (int e = 0; e < kModeItems; ++e) {
      const int i = first + e;
      starts[e] = i < n && (i == 0 || key_at(i) != key_at(i - 1)) ? i : -1;
    }
    int aggregate;
    Scan(scan_temp).InclusiveScan(starts, starts, MaxInt(), aggregate);
    const int before = carry;
#pragma unroll
    for (int e = 0; e < kModeItems; ++e) {
      const int i = first + e;
      if (i < n && (i + 1 == n || key_at(i + 1) != key_at(i))) {
        const int start = starts[e] > before ? starts[e] : before;
        const long long w = (static_cast<long long>(i - start + 1) << 32) | (0xFFFFFFFFll - i);
        if (w > best) best = w;
      }
    }
    __syncthreads();  // every thread has read carry and the scan storage
    if (threadIdx.x == 0 && aggregate > carry) carry = aggregate;
    __syncthreads();
  }
  const long long top = Reduce(reduce_temp).Reduce(best, MaxLong());
  if (threadIdx.x == 0) {
    const int end = int(0xFFFFFFFFll - (top & 0xFFFFFFFFll));
    values[row] = in[end];
    indices[row] = positions[row * n + end];
  }
}

}  // namespace

void mode_cuda(const Rows& sorted, const int64_t* positions, void* values, int64_t* indices) {
  dispatch_key(sorted.dtype, [&](auto tag) {
    using K = typename decltype(tag)::type;
    mode_kernel<K><<<unsigned(sorted.rows), kModeThreads, 0, stream()>>>(
        static_cast<const K*>(sorted.data), positions, int(sorted.n), codec_for<K>(sorted.dtype, false),
        static_cast<K*>(values), indices);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

void sort_cuda(const Rows& in, bool descending, void* values, int64_t* indices) {
  dispatch_key(in.dtype, [&](auto tag) {
    using K = typename decltype(tag)::type;
    sort_rows<K>(static_cast<const K*>(in.data), in.rows, in.n, codec_for<K>(in.dtype, descending),
                 static_cast<K*>(values), indices);
  });
}

void topk_cuda(const Rows& in, int64_t k, bool largest, void* values, int64_t* indices) {
  if (k == 0) return;
  dispatch_key(in.dtype, [&](auto tag) {
    using K = typename decltype(tag)::type;
    const Codec<K> codec = codec_for<K>(in.dtype, largest);
    const K* src = static_cast<const K*>(in.data);
    K* out = static_cast<K*>(values);
    if (k > kBlockSortMax) {  // a full sort, its first k columns
      Scratch sorted(padded(in.rows * in.n * sizeof(K)) + padded(in.rows * in.n * sizeof(int64_t)));
      K* all_values = sorted.take<K>(in.rows * in.n);
      int64_t* all_indices = sorted.take<int64_t>(in.rows * in.n);
      sort_rows<K>(src, in.rows, in.n, codec, all_values, all_indices);
      C10_CUDA_CHECK(cudaMemcpy2DAsync(out, k * sizeof(K), all_values, in.n * sizeof(K),
                                       k * sizeof(K), in.rows, cudaMemcpyDeviceToDevice, stream()));
      C10_CUDA_CHECK(cudaMemcpy2DAsync(indices, k * sizeof(int64_t), all_indices,
                                       in.n * sizeof(int64_t), k * sizeof(int64_t), in.rows,
                                       cudaMemcpyDeviceToDevice, stream()));
      return;
    }
    select_rows<K>(SelectArgs<K>{src, int(in.n), int(k), Mode::topk, codec, out, indices}, in.rows);
    if (k > 1) block_sort<K>(out, indices, out, indices, in.rows, int(k), codec);
  });
}

void select_cuda(const Rows& in, Pick pick, int64_t k, void* values, int64_t* indices) {
  dispatch_key(in.dtype, [&](auto tag) {
    using K = typename decltype(tag)::type;
    const Mode mode = pick == Pick::kth ? Mode::kth : pick == Pick::median ? Mode::median : Mode::nanmedian;
    select_rows<K>(SelectArgs<K>{static_cast<const K*>(in.data), int(in.n), int(k), mode,
                                 codec_for<K>(in.dtype, false), static_cast<K*>(values), indices},
                   in.rows);
  });
}

}  // namespace gemforge::sorting
