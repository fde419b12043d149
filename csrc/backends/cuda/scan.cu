// cuda kernels of the scan engine (engine/scan.h), on the current stream.
//
// Along the last dim (inner == 1), a group of threads scans a row tile by tile: each thread
// holds ITEMS elements as 16-byte vectors, each warp a run of them, lanes striped so that a
// warp's accesses are whole 512-byte runs. A thread scans each vector in registers, the warp
// scans the vectors' totals (warp shuffles), the group the warps' totals (shared memory), and
// a running carry joins the tiles. Short rows: one warp per row; longer rows: 4-16 warps per
// row. Few long rows: each row is cut into segments; a first pass reduces every segment, a
// second rescans each segment starting from the combine of the segments before it (three-phase
// scan; the totals are combined in a fixed order, so results do not change from run to run).
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

// Elements per thread. A warp per row: 32 bytes of them (at most 16), their states in at most
// 64 bytes of registers. A group of warps: 64 bytes of them (at most 32), states in at most 128
// bytes (fp32: 16, bf16: 32, cummax fp32: 8), so that a block has 16 KB of loads in flight per
// tile, plus the next tile's (memory latency, not the scan, bounds these kernels).
template <class Op, int WARPS> constexpr int items_per_thread() {
  constexpr int elem_bytes = WARPS == 1 ? 32 : 64, cap = WARPS == 1 ? 16 : 32;
  constexpr int state_bytes = WARPS == 1 ? 64 : 128;
  constexpr int by_elem = elem_bytes / sizeof(typename Op::elem) < cap
                              ? elem_bytes / sizeof(typename Op::elem) : cap;
  constexpr int by_state = state_bytes / sizeof(typename Op::state);
  return by_elem < by_state ? by_elem : by_state;
}

// Blocks per SM the register budget is sized for (cummax/cummin's wide states get more):
// 64 registers a thread, 128 for the indexed states.
template <class Op, int WARPS> constexpr int min_blocks() {
  return WARPS == 1 ? 8 / (Op::kIndexed ? 2 : 1) : (Op::kIndexed ? 1 : 2) * 16 / WARPS;
}

// Warps of a row group at most. A row that fits one tile of them is read by a single round of
// loads (8192 fp32: 512 threads of 16), so a block never waits on a second tile's latency;
// longer rows go tile by tile.
constexpr int kRowWarps = 16;

// The warp-striped layout of row_scan (below), but for logcumsumexp.
template <class Op> struct is_logcumsumexp : std::false_type {};
template <class T> struct is_logcumsumexp<LogSumExpOp<T, true>> : std::true_type {};
template <class Op> constexpr bool striped() { return !is_logcumsumexp<Op>::value; }

// Raw storage of one load or store: `bytes` of them (4, 8 or 16).
template <int bytes> struct raw_of;
template <> struct raw_of<4> { using type = unsigned; };
template <> struct raw_of<8> { using type = uint2; };
template <> struct raw_of<16> { using type = uint4; };

// WARPS == 1: four independent warps per block, a row segment each; WARPS > 1: the block is one
// group of blockDim.x / 32 <= WARPS warps. REDUCE: only the segment totals (into partials),
// nothing stored. The second pass of a split scan (segs > 1, !REDUCE) walks the segments in
// reverse order: the first pass read them last, so they are likeliest still in L2.
template <int WARPS> constexpr int row_threads() { return WARPS == 1 ? 128 : WARPS * 32; }

template <class Op, int WARPS, bool REDUCE>
__global__ void __launch_bounds__(row_threads<WARPS>(), min_blocks<Op, WARPS>())
row_scan(Rows<typename Op::state> g) {
  using T = typename Op::elem;
  using S = typename Op::state;
  constexpr int ITEMS = items_per_thread<Op, WARPS>();
  constexpr int BYTES = ITEMS * sizeof(T) < 16 ? ITEMS * sizeof(T) : 16, VEC = BYTES / sizeof(T);
  constexpr int GROUPS = WARPS == 1 ? 4 : 1;
  const int warps = WARPS == 1 ? 1 : int(blockDim.x >> 5);  // warps of a group
  const int64_t TILE = int64_t(warps) * 32 * ITEMS;
  using Raw = typename raw_of<BYTES>::type;
  static_assert(ITEMS % VEC == 0 && BYTES % sizeof(T) == 0, "a thread's items are whole vectors");
  __shared__ S warp_total[2][WARPS];

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int rank = WARPS == 1 ? lane : threadIdx.x;  // rank in the group
  const int group = WARPS == 1 ? warp : 0;
  int parity = 0;
  const int64_t segments = g.rows * g.segs, stride = int64_t(gridDim.x) * GROUPS;

  // Segment `it` of this group's walk (it += stride): its row, place and pointers.
  struct Seg {
    int64_t row, seg, start, len;
    const T* in;  // (len)
    T* out;       // (len)
    bool vec;     // 16-byte aligned (whole vectors may be loaded and stored)
  };
  auto seg_at = [&](int64_t it) {
    Seg q;
    const int64_t s = !REDUCE && g.segs > 1 ? segments - 1 - it : it;
    q.row = s / g.segs;
    q.seg = s % g.segs;
    q.start = q.seg * g.seg_len;
    q.len = min(g.seg_len, g.n - q.start);
    q.in = static_cast<const T*>(g.in) + q.row * g.n + q.start;
    q.out = static_cast<T*>(g.out) + q.row * g.n + q.start;
    q.vec = reinterpret_cast<uintptr_t>(q.in) % BYTES == 0 &&
            (REDUCE || reinterpret_cast<uintptr_t>(q.out) % BYTES == 0);
    return q;
  };
  // A thread's NV vectors, and the CH chunks of CI items it scans before the warp does:
  // - striped (CH = NV, a chunk a vector): warp w holds elements [w, w + 1) * NV * 32 * VEC of
  //   the tile as NV runs of 32 consecutive vectors, lane l holding vector l of each, so a warp's
  //   loads and stores are whole 512-byte runs. A thread's ITEMS consecutive elements made each
  //   16-byte access land 64 bytes from its neighbour's, half-sector traffic that bound the scan
  //   on L2 (ncu: L2 69% busy, DRAM 30%, fp32 cumsum 1024x8192, H200); striped, 1.36x there.
  // - blocked (CH = 1): a thread's ITEMS consecutive elements, one warp scan instead of NV. For
  //   logcumsumexp, whose combine (an exp and a log) outweighs the memory traffic: striped was
  //   0.78x there (H200, scripts/dev/scan_probe.py).
  constexpr int NV = ITEMS / VEC;
  constexpr int CH = striped<Op>() ? NV : 1, CI = ITEMS / CH;
  const int group_warp = WARPS == 1 ? 0 : warp;
  auto pos = [&](int v) {  // the tile offset of this thread's vector v
    return striped<Op>() ? int64_t((group_warp * NV + v) * 32 + lane) * VEC : int64_t(rank) * ITEMS + v * VEC;
  };
  // A thread's whole vectors of the tile at `base` of segment q, loaded into raw; false (nothing
  // loaded) where they run past the segment's end or the row is not aligned.
  auto load_whole = [&](const Seg& q, int64_t base, Raw* raw) {
    if (!q.vec || base + pos(NV - 1) + VEC > q.len) return false;
#pragma unroll
    for (int v = 0; v < NV; ++v) raw[v] = *reinterpret_cast<const Raw*>(q.in + base + pos(v));
    return true;
  };

  // The next tile's loads fly while this one is scanned: the next tile of the segment, or the
  // first of the group's next segment (a block walks several rows when the grid is one wave).
  int64_t it = int64_t(blockIdx.x) * GROUPS + group;
  Seg cur = seg_at(it < segments ? it : 0);
  Raw buf[NV];
  bool whole = it < segments && load_whole(cur, 0, buf);
  for (; it < segments; it += stride) {
    const int64_t row = cur.row, seg = cur.seg, start = cur.start, len = cur.len;
    const T* in = cur.in;
    T* out = cur.out;
    S carry = Op::identity();
    if constexpr (!REDUCE) {
      for (int64_t k = 0; k < seg; ++k) carry = Op::combine(carry, g.partials[row * g.segs + k]);
    }

    for (int64_t base = 0; base < len; base += TILE) {
      S item[ITEMS];
      if (whole) {
#pragma unroll
        for (int v = 0; v < NV; ++v) {
          T x[VEC];
          memcpy(x, &buf[v], BYTES);
#pragma unroll
          for (int e = 0; e < VEC; ++e) item[v * VEC + e] = Op::make(x[e], start + base + pos(v) + e);
        }
      } else {
#pragma unroll
        for (int v = 0; v < NV; ++v)
#pragma unroll
          for (int e = 0; e < VEC; ++e) {
            const int64_t i = base + pos(v) + e;
            item[v * VEC + e] = i < len ? Op::make(in[i], start + i) : Op::identity();
          }
      }
      // (other addresses than this tile's stores: safe in place)
      const bool this_whole = whole;
      whole = base + TILE < len ? load_whole(cur, base + TILE, buf)
                                : it + stride < segments && load_whole(seg_at(it + stride), 0, buf);
      // each chunk scanned in the thread, then across the warp (the CH warp scans are
      // independent, so their shuffles overlap); prefix[c]: the warp's chunks before c
      S excl[CH], prefix[CH];
      S warp_sum = Op::identity();
#pragma unroll
      for (int c = 0; c < CH; ++c) {
#pragma unroll
        for (int k = 1; k < CI; ++k) item[c * CI + k] = Op::combine(item[c * CI + k - 1], item[c * CI + k]);
        const S incl = warp_inclusive<Op>(item[c * CI + CI - 1], lane);
        excl[c] = shfl_up(incl, 1);  // (lane 0: its own, unused)
        prefix[c] = warp_sum;
        warp_sum = Op::combine(warp_sum, shfl(incl, 31));
      }
      S before = Op::identity(), total;
      if constexpr (WARPS == 1) {
        total = warp_sum;
      } else {
        // the warps' totals; two buffers, so one barrier per tile keeps the next tile's writes
        // away from this tile's reads
        if (lane == 31) warp_total[parity][warp] = warp_sum;
        __syncthreads();
        for (int k = 0; k < warp; ++k) before = Op::combine(before, warp_total[parity][k]);
        total = before;
        for (int k = warp; k < warps; ++k) total = Op::combine(total, warp_total[parity][k]);
        parity ^= 1;
      }

      if constexpr (!REDUCE) {
        const S head = Op::combine(carry, before);
        const bool idx_vec = Op::kIndexed && this_whole &&
                             reinterpret_cast<uintptr_t>(g.indices + row * g.n + start + base) % 16 == 0;
        S p;  // what precedes the current chunk
#pragma unroll
        for (int v = 0; v < NV; ++v) {
          // a vector's items finished and stored before the next's (fewer live registers)
#pragma unroll
          for (int e = 0; e < VEC; ++e) {
            const int i = v * VEC + e, c = i / CI;
            if (i % CI == 0) {
              p = Op::combine(head, prefix[c]);
              if (lane != 0) p = Op::combine(p, excl[c]);
            }
            item[i] = Op::combine(p, item[i]);
          }
          T* o = out + base + pos(v);
          if (this_whole) {
            T x[VEC];
#pragma unroll
            for (int e = 0; e < VEC; ++e) x[e] = Op::value(item[v * VEC + e]);
            Raw raw;
            memcpy(&raw, x, BYTES);
            *reinterpret_cast<Raw*>(o) = raw;
          } else {
#pragma unroll
            for (int e = 0; e < VEC; ++e)
              if (base + pos(v) + e < len) o[e] = Op::value(item[v * VEC + e]);
          }
          if constexpr (Op::kIndexed) {
            static_assert(VEC % 2 == 0, "indices stored in pairs");
            int64_t* idx = g.indices + row * g.n + start + base + pos(v);
            if (idx_vec) {
#pragma unroll
              for (int e = 0; e < VEC; e += 2)  // 16-byte stores
                reinterpret_cast<longlong2*>(idx)[e / 2] =
                    make_longlong2(static_cast<long long>(item[v * VEC + e].i),
                                   static_cast<long long>(item[v * VEC + e + 1].i));
            } else {
#pragma unroll
              for (int e = 0; e < VEC; ++e)
                if (base + pos(v) + e < len) idx[e] = item[v * VEC + e].i;
            }
          }
        }
      }
      carry = Op::combine(carry, total);
    }
    if constexpr (REDUCE) {
      if (rank == 0) g.partials[it] = carry;  // the first pass walks segments in order
    }
    if (it + stride < segments) cur = seg_at(it + stride);  // (computed again: fewer live registers)
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

// Rows a thread loads back to back: 16-byte vectors 16 (256 bytes in flight a thread, since a
// split column scan has few threads), single values 8.
constexpr int column_unroll(int vec) { return vec > 1 ? 16 : 8; }

// A thread owns VEC adjacent columns: VEC > 1 (16 bytes of a row; inner a multiple of VEC, the
// rows 16-byte aligned; not for cummax/cummin) or 1, and walks its segment of n with U loads in
// flight. The second pass of a split scan takes the segments in reverse order (blockIdx.y): the
// first pass read the last ones last, so they are likeliest still in L2.
template <class Op, int VEC, bool REDUCE>
__global__ void __launch_bounds__(kColumnThreads) column_scan(Columns<typename Op::state> c) {
  using T = typename Op::elem;
  using S = typename Op::state;
  static_assert(VEC == 1 || (VEC * sizeof(T) == 16 && !Op::kIndexed), "16-byte vectors of values");
  constexpr int U = column_unroll(VEC);  // loads in flight per thread
  const int64_t cols = c.outer * c.inner;
  const int64_t col = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * VEC;  // the first one
  if (col >= cols) return;
  const int64_t seg = REDUCE ? int64_t(blockIdx.y) : c.segs - 1 - int64_t(blockIdx.y);
  const int64_t start = seg * c.seg_len;
  const int64_t len = min(c.seg_len, c.n - start);
  const int64_t o = col / c.inner, j = col % c.inner;  // VEC > 1: the VEC columns share o
  const int64_t offset = (o * c.n + start) * c.inner + j;
  const T* in = static_cast<const T*>(c.in) + offset;  // (len, VEC) with stride inner
  T* out = static_cast<T*>(c.out) + offset;
  int64_t* idx = Op::kIndexed ? c.indices + offset : nullptr;
  const int64_t step = c.inner;

  S carry[VEC];
#pragma unroll
  for (int v = 0; v < VEC; ++v) carry[v] = Op::identity();
  if constexpr (!REDUCE) {
    for (int64_t k = 0; k < seg; ++k) {
#pragma unroll
      for (int v = 0; v < VEC; ++v) carry[v] = Op::combine(carry[v], c.partials[k * cols + col + v]);
    }
  }
  auto load = [&](int64_t k, T* x) {  // row k's VEC values
    if constexpr (VEC == 1) {
      x[0] = in[k * step];
    } else {
      const uint4 raw = *reinterpret_cast<const uint4*>(in + k * step);
      memcpy(x, &raw, 16);
    }
  };
  auto advance = [&](int64_t k, const T* x) {  // row k joins the carry (and is stored)
    T y[VEC];
#pragma unroll
    for (int v = 0; v < VEC; ++v) {
      carry[v] = Op::combine(carry[v], Op::make(x[v], start + k));
      y[v] = Op::value(carry[v]);
    }
    if constexpr (!REDUCE) {
      if constexpr (VEC == 1) {
        out[k * step] = y[0];
        if constexpr (Op::kIndexed) idx[k * step] = carry[0].i;
      } else {
        uint4 raw;
        memcpy(&raw, y, 16);
        *reinterpret_cast<uint4*>(out + k * step) = raw;
      }
    }
  };
  for (int64_t k = 0; k < len; k += U) {  // the last batch may be partial: predicated
    T x[U][VEC];
#pragma unroll
    for (int u = 0; u < U; ++u)
      if (k + u < len) load(k + u, x[u]);
#pragma unroll
    for (int u = 0; u < U; ++u)
      if (k + u < len) advance(k + u, x[u]);
  }
  if constexpr (REDUCE) {
#pragma unroll
    for (int v = 0; v < VEC; ++v) c.partials[seg * cols + col + v] = carry[v];
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks of `threads` threads of row_scan kernel `Kernel` resident at once on the GPU: the grid
// of one wave, whose blocks walk several rows with the next row's loads in flight. Against a
// block a row: 1.37-1.44x at 4096x4096 and 1024x8192 fp32 cumsum/cumprod, 1.2-1.3x at 8192x1000
// and 16x262144, cummax 1.06-1.21x, logcumsumexp even (H100, scripts/dev/scan_probe.py). Cached
// per kernel (a template argument: kernels of one signature must not share a cache) and block
// size (128, 256 or 512 threads).
template <auto Kernel> int64_t one_wave(int threads, int64_t sms) {
  static int cached[3] = {};
  const int slot = threads >= 512 ? 2 : threads >= 256 ? 1 : 0;
  if (cached[slot] == 0) {
    int per_sm = 0;
    C10_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, Kernel, threads, 0));
    cached[slot] = per_sm > 0 ? per_sm : 1;
  }
  return sms * cached[slot];
}

template <class Op> void launch(const Problem& p) {
  using T = typename Op::elem;
  using S = typename Op::state;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const int64_t sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  auto workspace = [&](int64_t states) {
    return c10::cuda::CUDACachingAllocator::get()->allocate(states * sizeof(S));
  };

  if (p.inner == 1) {
    constexpr int ITEMS = items_per_thread<Op, kRowWarps>();
    Rows<S> g{p.in, p.out, p.indices, p.outer, p.n, p.n, 1, nullptr};
    if (p.n <= 2 * 32 * items_per_thread<Op, 1>()) {  // a warp per row
      // a warp a row (not one wave: on rows this short, the walk's index arithmetic costs more
      // than the overlap gains, 65536x128 fp32 16% slower on the H100)
      const int64_t blocks = std::min(ceil_div(p.outer, 4), sms * 64);
      row_scan<Op, 1, false><<<unsigned(blocks), row_threads<1>(), 0, stream>>>(g);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      return;
    }
    // the fewest warps (at least 4) whose tile covers the row, else kRowWarps
    int threads = 128;
    while (threads < row_threads<kRowWarps>() && int64_t(threads) * ITEMS < p.n) threads *= 2;
    const int64_t TILE = int64_t(threads) * ITEMS;
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
      const int64_t blocks = std::min(p.outer * g.segs, one_wave<row_scan<Op, kRowWarps, true>>(threads, sms));
      row_scan<Op, kRowWarps, true><<<unsigned(blocks), threads, 0, stream>>>(g);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    const int64_t blocks = std::min(p.outer * g.segs, one_wave<row_scan<Op, kRowWarps, false>>(threads, sms));
    row_scan<Op, kRowWarps, false><<<unsigned(blocks), threads, 0, stream>>>(g);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return;
  }

  Columns<S> c{p.in, p.out, p.indices, p.outer, p.n, p.inner, p.n, 1, nullptr};
  constexpr int VEC = 16 / sizeof(T);
  const bool vec = !Op::kIndexed && VEC > 1 && p.inner % VEC == 0 &&
                   reinterpret_cast<uintptr_t>(p.in) % 16 == 0 && reinterpret_cast<uintptr_t>(p.out) % 16 == 0;
  const int64_t cols = p.outer * p.inner, threads = vec ? cols / VEC : cols;
  const int64_t want = sms * 1024;  // threads that fill the GPU
  c10::DataPtr partials;
  if (threads < want && p.n >= 64) {
    // Each thread of the second pass reads the partials of the segments before its own: about
    // segs^2 / 2 states a column against n values; segs <= sqrt(n * sizeof(T) / sizeof(S))
    // keeps those (L2) reads under half the data.
    int64_t cap = 1;
    while ((cap + 1) * (cap + 1) * int64_t(sizeof(S)) <= p.n * int64_t(sizeof(T))) ++cap;
    const int64_t segs = std::min<int64_t>({ceil_div(want, threads), p.n / 16, cap, 65535});
    const int64_t unroll = vec ? column_unroll(VEC) : column_unroll(1);
    c.seg_len = ceil_div(ceil_div(p.n, segs), unroll) * unroll;  // whole batches of loads
    c.segs = ceil_div(p.n, c.seg_len);
  }
  // 128-thread blocks: a column split in few segments still spreads over every SM
  const unsigned block = vec ? 128 : kColumnThreads;
  const dim3 grid(unsigned(ceil_div(threads, block)), unsigned(c.segs));
  auto run = [&](auto vec_tag) {
    constexpr int V = decltype(vec_tag)::value;
    if (c.segs > 1) {
      partials = workspace(c.segs * cols);
      c.partials = static_cast<S*>(partials.get());
      column_scan<Op, V, true><<<grid, block, 0, stream>>>(c);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    column_scan<Op, V, false><<<grid, block, 0, stream>>>(c);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  };
  if constexpr (!Op::kIndexed && VEC > 1) {
    if (vec) return run(std::integral_constant<int, VEC>{});
  }
  run(std::integral_constant<int, 1>{});
}

}  // namespace

void scan_cuda(const Problem& p) {
  if (p.outer * p.n * p.inner == 0) return;
  dispatch_op<true>(p, [&](auto op) { launch<typename decltype(op)::type>(p); });
}

}  // namespace gemforge::scan
