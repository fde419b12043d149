// cuda kernels of the scan engine (engine/scan.h), on the current stream.
//
// Along the last dim (inner == 1), a group of threads scans a row tile by tile: each thread
// holds ITEMS consecutive elements (16-byte loads), scans them in registers, the group scans the
// threads' totals (warp shuffles, then the warps' totals through shared memory) and a running
// carry joins the tiles. Short rows: one warp per row; longer rows: 8 warps per row. Few long
// rows: each row is cut into segments; a first pass reduces every segment, a second rescans each
// segment starting from the combine of the segments before it (three-phase scan; the totals are
// combined in a fixed order, so results do not change from run to run).
// Along another dim (inner > 1): a thread per column (contiguous across threads), a loop along
// n; cut along n the same way when there are too few columns to fill the GPU.
#include "backends/scan_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>

#include <algorithm>
#include <cstring>

namespace gemforge::scan {
namespace {

// ---- warp shuffles of a state -------------------------------------------------------------------
template <class S> __device__ __forceinline__ S shfl_up(S v, unsigned d) {
  if constexpr (std::is_same_v<S, int64_t>)
    return static_cast<int64_t>(__shfl_up_sync(0xffffffffu, static_cast<long long>(v), d));
  else return __shfl_up_sync(0xffffffffu, v, d);
}
template <class V> __device__ __forceinline__ ValueIndex<V> shfl_up(ValueIndex<V> v, unsigned d) {
  return {shfl_up(v.v, d), shfl_up(v.i, d)};
}
template <class S> __device__ __forceinline__ S shfl(S v, int lane) {
  if constexpr (std::is_same_v<S, int64_t>)
    return static_cast<int64_t>(__shfl_sync(0xffffffffu, static_cast<long long>(v), lane));
  else return __shfl_sync(0xffffffffu, v, lane);
}
template <class V> __device__ __forceinline__ ValueIndex<V> shfl(ValueIndex<V> v, int lane) {
  return {shfl(v.v, lane), shfl(v.i, lane)};
}

template <class Op, class S> __device__ __forceinline__ S warp_inclusive(S v, int lane) {
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const S y = shfl_up(v, d);
    if (lane >= d) v = Op::combine(y, v);
  }
  return v;
}

// ---- along the last dim -------------------------------------------------------------------------
template <class S> struct Rows {
  const void* in;
  void* out;
  int64_t* indices;
  int64_t rows, n;        // [rows, n], dense
  int64_t seg_len, segs;  // each row cut into segs segments of seg_len elements (the last shorter)
  S* partials;            // [rows, segs] segment totals; null when segs == 1
};

// Elements per thread: 32 bytes of them (at most 16), their states in at most 64 bytes of
// registers (cummax/cummin: 4 states of value and index).
template <class Op> constexpr int items_per_thread() {
  constexpr int by_elem = 32 / sizeof(typename Op::elem) < 16 ? 32 / sizeof(typename Op::elem) : 16;
  constexpr int by_state = 64 / sizeof(typename Op::state);
  return by_elem < by_state ? by_elem : by_state;
}

// Blocks per SM the register budget is sized for (cummax/cummin's wide states get more).
template <class Op, int WARPS> constexpr int min_blocks() {
  return (WARPS == 1 ? 8 : 4) / (Op::kIndexed ? 2 : 1);
}

// Raw storage of one load or store: `bytes` of them (4, 8 or 16).
template <int bytes> struct raw_of;
template <> struct raw_of<4> { using type = unsigned; };
template <> struct raw_of<8> { using type = uint2; };
template <> struct raw_of<16> { using type = uint4; };

// WARPS == 1: four independent warps per block, a row segment each; WARPS > 1: the block is one
// group of WARPS warps. REDUCE: only the segment totals (into partials), nothing stored.
template <int WARPS> constexpr int row_threads() { return WARPS == 1 ? 128 : WARPS * 32; }

template <class Op, int WARPS, bool REDUCE>
__global__ void __launch_bounds__(row_threads<WARPS>(), min_blocks<Op, WARPS>())
row_scan(Rows<typename Op::state> g) {
  using T = typename Op::elem;
  using S = typename Op::state;
  constexpr int ITEMS = items_per_thread<Op>();
  constexpr int BYTES = ITEMS * sizeof(T) < 16 ? ITEMS * sizeof(T) : 16, VEC = BYTES / sizeof(T);
  constexpr int GROUP = WARPS * 32, TILE = GROUP * ITEMS, GROUPS = WARPS == 1 ? 4 : 1;
  using Raw = typename raw_of<BYTES>::type;
  static_assert(ITEMS % VEC == 0 && BYTES % sizeof(T) == 0, "a thread's items are whole vectors");
  __shared__ S warp_total[2][WARPS];

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int rank = WARPS == 1 ? lane : threadIdx.x;  // rank in the group
  const int group = WARPS == 1 ? warp : 0;
  int parity = 0;
  const int64_t segments = g.rows * g.segs;
  for (int64_t s = int64_t(blockIdx.x) * GROUPS + group; s < segments;
       s += int64_t(gridDim.x) * GROUPS) {
    const int64_t row = s / g.segs, seg = s % g.segs;
    const int64_t start = seg * g.seg_len;
    const int64_t len = min(g.seg_len, g.n - start);
    const T* in = static_cast<const T*>(g.in) + row * g.n + start;  // (len)
    T* out = static_cast<T*>(g.out) + row * g.n + start;            // (len)
    S carry = Op::identity();
    if constexpr (!REDUCE) {
      for (int64_t k = 0; k < seg; ++k) carry = Op::combine(carry, g.partials[row * g.segs + k]);
    }
    const bool vec = reinterpret_cast<uintptr_t>(in) % BYTES == 0 &&
                     (REDUCE || reinterpret_cast<uintptr_t>(out) % BYTES == 0);

    // A thread's whole vectors of the tile at `base`, loaded into raw; false (nothing loaded)
    // where they run past the segment's end or the row is not aligned.
    constexpr int NV = ITEMS / VEC;
    auto load_whole = [&](int64_t base, Raw* raw) {
      const int64_t first = base + int64_t(rank) * ITEMS;
      if (!vec || first + ITEMS > len) return false;
#pragma unroll
      for (int v = 0; v < NV; ++v) raw[v] = reinterpret_cast<const Raw*>(in + first)[v];
      return true;
    };
    Raw buf[NV];
    bool whole = load_whole(0, buf);
    for (int64_t base = 0; base < len; base += TILE) {
      const int64_t first = base + int64_t(rank) * ITEMS;  // this thread's first element
      S item[ITEMS];
      if (whole) {
#pragma unroll
        for (int v = 0; v < NV; ++v) {
          T x[VEC];
          memcpy(x, &buf[v], BYTES);
#pragma unroll
          for (int e = 0; e < VEC; ++e) item[v * VEC + e] = Op::make(x[e], start + first + v * VEC + e);
        }
      } else {
#pragma unroll
        for (int i = 0; i < ITEMS; ++i)
          item[i] = first + i < len ? Op::make(in[first + i], start + first + i) : Op::identity();
      }
      // the next tile's loads fly while this one is scanned (other addresses: safe in place)
      const bool this_whole = whole;
      whole = base + TILE < len && load_whole(base + TILE, buf);
#pragma unroll
      for (int i = 1; i < ITEMS; ++i) item[i] = Op::combine(item[i - 1], item[i]);

      const S incl = warp_inclusive<Op>(item[ITEMS - 1], lane);
      S excl = shfl_up(incl, 1);
      if (lane == 0) excl = Op::identity();
      S total;
      if constexpr (WARPS == 1) {
        total = shfl(incl, 31);
      } else {
        // the warps' totals; two buffers, so one barrier per tile keeps the next tile's writes
        // away from this tile's reads
        if (lane == 31) warp_total[parity][warp] = incl;
        __syncthreads();
        S before = Op::identity();
        for (int k = 0; k < warp; ++k) before = Op::combine(before, warp_total[parity][k]);
        total = before;
        for (int k = warp; k < WARPS; ++k) total = Op::combine(total, warp_total[parity][k]);
        excl = Op::combine(before, excl);
        parity ^= 1;
      }

      if constexpr (!REDUCE) {
        const S prefix = Op::combine(carry, excl);
#pragma unroll
        for (int i = 0; i < ITEMS; ++i) item[i] = Op::combine(prefix, item[i]);
        if (this_whole) {
#pragma unroll
          for (int v = 0; v < NV; ++v) {
            T x[VEC];
#pragma unroll
            for (int e = 0; e < VEC; ++e) x[e] = Op::value(item[v * VEC + e]);
            Raw raw;
            memcpy(&raw, x, BYTES);
            reinterpret_cast<Raw*>(out + first)[v] = raw;
          }
        } else {
#pragma unroll
          for (int i = 0; i < ITEMS; ++i)
            if (first + i < len) out[first + i] = Op::value(item[i]);
        }
        if constexpr (Op::kIndexed) {
          int64_t* idx = g.indices + row * g.n + start;
#pragma unroll
          for (int i = 0; i < ITEMS; ++i)
            if (first + i < len) idx[first + i] = item[i].i;
        }
      }
      carry = Op::combine(carry, total);
    }
    if constexpr (REDUCE) {
      if (rank == 0) g.partials[s] = carry;
    }
  }
}

// ---- along another dim ----------------------------------------------------------------------------
constexpr int kColumnThreads = 256;

template <class S> struct Columns {
  const void* in;
  void* out;
  int64_t* indices;
  int64_t outer, n, inner;  // [outer, n, inner], dense; a column is one (outer, inner) pair
  int64_t seg_len, segs;    // n cut into segs segments (blockIdx.y)
  S* partials;              // [segs, outer * inner]; null when segs == 1
};

template <class Op, bool REDUCE>
__global__ void __launch_bounds__(kColumnThreads) column_scan(Columns<typename Op::state> c) {
  using T = typename Op::elem;
  using S = typename Op::state;
  const int64_t cols = c.outer * c.inner;
  const int64_t col = int64_t(blockIdx.x) * kColumnThreads + threadIdx.x;
  if (col >= cols) return;
  const int64_t seg = blockIdx.y, start = seg * c.seg_len;
  const int64_t len = min(c.seg_len, c.n - start);
  const int64_t o = col / c.inner, j = col % c.inner;
  const int64_t offset = (o * c.n + start) * c.inner + j;
  const T* in = static_cast<const T*>(c.in) + offset;  // (len) with stride inner
  T* out = static_cast<T*>(c.out) + offset;
  int64_t* idx = Op::kIndexed ? c.indices + offset : nullptr;
  const int64_t step = c.inner;

  S carry = Op::identity();
  if constexpr (!REDUCE) {
    for (int64_t k = 0; k < seg; ++k) carry = Op::combine(carry, c.partials[k * cols + col]);
  }
  constexpr int U = 4;  // loads in flight per thread
  int64_t k = 0;
  for (; k + U <= len; k += U) {
    T x[U];
#pragma unroll
    for (int u = 0; u < U; ++u) x[u] = in[(k + u) * step];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      carry = Op::combine(carry, Op::make(x[u], start + k + u));
      if constexpr (!REDUCE) {
        out[(k + u) * step] = Op::value(carry);
        if constexpr (Op::kIndexed) idx[(k + u) * step] = carry.i;
      }
    }
  }
  for (; k < len; ++k) {
    carry = Op::combine(carry, Op::make(in[k * step], start + k));
    if constexpr (!REDUCE) {
      out[k * step] = Op::value(carry);
      if constexpr (Op::kIndexed) idx[k * step] = carry.i;
    }
  }
  if constexpr (REDUCE) c.partials[seg * cols + col] = carry;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <class Op> void launch(const Problem& p) {
  using T = typename Op::elem;
  using S = typename Op::state;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const int64_t sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  auto workspace = [&](int64_t states) {
    return c10::cuda::CUDACachingAllocator::get()->allocate(states * sizeof(S));
  };

  if (p.inner == 1) {
    constexpr int ITEMS = items_per_thread<Op>();
    Rows<S> g{p.in, p.out, p.indices, p.outer, p.n, p.n, 1, nullptr};
    if (p.n <= 2 * 32 * ITEMS) {  // a warp per row
      const int64_t blocks = std::min(ceil_div(p.outer, 4), sms * 64);
      row_scan<Op, 1, false><<<unsigned(blocks), row_threads<1>(), 0, stream>>>(g);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      return;
    }
    constexpr int64_t TILE = 8 * 32 * ITEMS;
    const int64_t want = 4 * sms;  // blocks that fill the GPU
    c10::DataPtr partials;
    if (p.outer < want / 2 && p.n >= 4 * TILE) {
      const int64_t segs = ceil_div(want, p.outer);
      g.seg_len = ceil_div(ceil_div(p.n, segs), TILE) * TILE;
      g.segs = ceil_div(p.n, g.seg_len);
    }
    if (g.segs > 1) {
      partials = workspace(p.outer * g.segs);
      g.partials = static_cast<S*>(partials.get());
      const int64_t blocks = std::min(p.outer * g.segs, sms * 64);
      row_scan<Op, 8, true><<<unsigned(blocks), row_threads<8>(), 0, stream>>>(g);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    const int64_t blocks = std::min(p.outer * g.segs, sms * 64);
    row_scan<Op, 8, false><<<unsigned(blocks), row_threads<8>(), 0, stream>>>(g);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return;
  }

  Columns<S> c{p.in, p.out, p.indices, p.outer, p.n, p.inner, p.n, 1, nullptr};
  const int64_t cols = p.outer * p.inner, want = sms * 1024;  // threads that fill the GPU
  c10::DataPtr partials;
  if (cols < want && p.n >= 64) {
    const int64_t segs = std::min<int64_t>({ceil_div(want, cols), p.n / 16, 65535});
    c.seg_len = ceil_div(p.n, segs);
    c.segs = ceil_div(p.n, c.seg_len);
  }
  const dim3 grid(unsigned(ceil_div(cols, kColumnThreads)), unsigned(c.segs));
  if (c.segs > 1) {
    partials = workspace(c.segs * cols);
    c.partials = static_cast<S*>(partials.get());
    column_scan<Op, true><<<grid, kColumnThreads, 0, stream>>>(c);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  column_scan<Op, false><<<grid, kColumnThreads, 0, stream>>>(c);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

void scan_cuda(const Problem& p) {
  if (p.outer * p.n * p.inner == 0) return;
  dispatch_op<true>(p, [&](auto op) { launch<typename decltype(op)::type>(p); });
}

}  // namespace gemforge::scan
