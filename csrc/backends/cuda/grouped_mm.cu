// _grouped_mm on cuda (sm_90a): bf16 products of many groups in one launch (backends/gemm_ext.h),
// built as a Hopper GEMM: TMA feeds wgmma through a ring of shared-memory stages. The structure
// is that of the CUTLASS kernel torch runs (warp-specialized, cooperative, persistent, 128 x 256
// x 64 tiles, clusters of two along m), measured against it by scripts/dev/grouped_mm_probe.py.
//
// A block computes 128 x 256 tiles of the groups' outputs, one after another, with three
// warpgroups:
// - the producer (one thread of warpgroup 0) issues the TMA copies of each 64-deep k step, A's
//   128 x 64 and B's 256 x 64 tiles, into a ring of kStages stages; each stage completes on its
//   "full" mbarrier by bytes, and the consumers hand it back through its "empty" one. It runs
//   ahead into the next tile while the consumers store the last one;
// - two consumer warpgroups, 64 output rows each, run wgmma m64n256k16 from shared memory into
//   128 fp32 accumulators a thread, one k step in flight behind the one being issued, then
//   store the tile: each warp stages its rows in 64-column slabs and TMA writes them out while
//   the warp moves on.
// The producer gives its registers to the consumers (setmaxnreg 40 / 232). The two blocks of a
// cluster compute the tiles above one another (the cluster's tile is 256 x 256) and each loads
// half of their common B tile into both (TMA multicast): B crosses from L2 once for the pair.
//
// Tiles are stored as TMA writes them, 128-byte swizzled boxes of 64 elements along the
// operand's contiguous dimension: a k-major operand (k contiguous) is one box of 64 k by its
// rows; an mn-major one (m or n contiguous) is 64-column boxes of 64 k rows, read by wgmma
// transposed. TMA zero-fills what lies past the tensor's end, so tails need no special loads.
//
// Groups: a tile never spans two groups' outputs. Along a grouped m or n the tile starts at the
// group's first row; rows it reads past the group's end are the next group's and are not
// stored (nor multiplied, where a warpgroup has none of its own). A grouped k (2-d x 2-d) cannot
// read past the group's end unnoticed: the consumers zero the k rows of the last, partial step
// before using it. The offsets stay on the device: each warp finds its tile's group by a warp
// scan of the groups' tile counts; the linear tiles past the last one (the grid of tiles is
// sized for the worst case, every group ending in a partial tile) are skipped.
#include "backends/cuda/launch.cuh"
#include "backends/cuda/mma_sync.cuh"
#include "backends/cuda/tma.cuh"
#include "backends/cuda/wgmma.cuh"
#include "backends/gemm_ext.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace gemforge::gemm {
namespace {

using namespace gemforge::cuda_tma;
using namespace gemforge::cuda_wgmma;
using cuda_mma::smem_addr;
using pw::cuda::pdl_begin;

constexpr int kBM = 128, kBN = 256;
// A k step is one 128-byte row of every operand row: 64 bf16 or 128 e4m3 elements.
template <bool kFp8> constexpr int kBKOf = kFp8 ? 128 : 64;
constexpr int kBK = 64;  // bf16's, for the mn-major boxes (bf16 only)
// CTAs of a cluster, along m: they compute tiles of 128 rows above one another, and each loads
// its share of their common B tile into all of them (TMA multicast), so that B crosses from L2
// once for the pair (torch's CUTLASS kernel does the same).
#ifndef GEMFORGE_GROUPED_CLUSTER  // scripts/dev/grouped_mm_probe.py builds 1 to compare
#define GEMFORGE_GROUPED_CLUSTER 2
#endif
constexpr int kCluster = GEMFORGE_GROUPED_CLUSTER;
constexpr int kTileM = kBM * kCluster;                // rows of a cluster's tile
constexpr int kStages = 4;
constexpr int kThreads = 384;                         // producer warpgroup + 2 consumer warpgroups
constexpr uint32_t kABytes = kBM * 128;               // 16 KiB
constexpr uint32_t kBBytes = kBN * 128;               // 32 KiB
constexpr uint32_t kStageBytes = kABytes + kBBytes;
constexpr uint32_t kBoxBytes = 64 * kBK * 2;          // an mn-major box: 64 columns x 64 k rows
constexpr uint32_t kWarpSlabBytes = 16 * 64 * 2;     // an epilogue slab: a warp's 16 rows x 64 columns
constexpr int kPanel = 16;                            // m tiles swept together along n (L2 reuse)
// The ring, then two epilogue slabs for each consumer warp, + alignment of the ring.
constexpr size_t kSmemBytes = size_t(kStages) * kStageBytes + 8 * 2 * kWarpSlabBytes + 1024;

// Named barrier 1 (0 is __syncthreads) over both consumer warpgroups.
__device__ __forceinline__ void consumers_sync() { asm volatile("bar.sync 1, 256;\n" ::: "memory"); }

// The tile this block computes: group g, rows [m_lo, m_hi), columns [n_lo, n_hi), k in [k_lo, k_hi).
struct Work {
  int g;
  int64_t m_lo, m_hi, n_lo, n_hi, k_lo, k_hi;
};

// (t_m, t_n) of linear tile r in a tm x tn grid, swept in panels of kPanel rows.
__device__ __forceinline__ void panel_order(int64_t r, int64_t tm, int64_t tn, int64_t& t_m, int64_t& t_n) {
  const int64_t panel = r / (kPanel * tn);
  const int64_t first = panel * kPanel;
  const int64_t rows = tm - first < kPanel ? tm - first : kPanel;
  const int64_t local = r - panel * kPanel * tn;
  t_m = first + local % rows;
  t_n = local / rows;
}

// Group g's range [start, end) of a grouped dimension of `total`: offsets clamped into range
// (offsets out of order give empty or overlapping groups, never an access out of bounds).
__device__ __forceinline__ void group_range(const int* offs, int g, int64_t total, int64_t& start, int64_t& end) {
  const int64_t s = g == 0 ? 0 : offs[g - 1];
  start = s < 0 ? 0 : s > total ? total : s;
  const int64_t e = offs[g];
  end = e < start ? start : e > total ? total : e;
}

// Grouped m or n (tiles of `tile` along it): which group holds tile t of the grouped dimension
// (tiles counted group after group), and its rows there; false past the last tile. Every lane of
// the calling warp takes part and gets the answer (each warp that needs a tile finds it itself:
// the roles of a block never wait for one another to learn their tile).
__device__ bool find_group(const int* offs, int groups, int64_t total, int64_t t, int tile, int& g_out,
                           int64_t& lo_out, int64_t& hi_out) {
  const int lane = threadIdx.x & 31;
  int64_t carry = 0;
  for (int base = 0; base < groups; base += 32) {
    const int g = base + lane;
    int64_t start = 0, end = 0;
    if (g < groups) group_range(offs, g, total, start, end);
    const int64_t tiles = (end - start + tile - 1) / tile;
    int64_t incl = tiles;
#pragma unroll
    for (int d = 1; d < 32; d *= 2) {
      const int64_t v = __shfl_up_sync(0xffffffffu, incl, d);
      if (lane >= d) incl += v;
    }
    const unsigned hit = __ballot_sync(0xffffffffu, t < carry + incl);
    if (hit) {
      const int l = __ffs(hit) - 1;
      const int64_t before = __shfl_sync(0xffffffffu, carry + incl - tiles, l);  // tiles ahead of group l
      const int64_t lo = __shfl_sync(0xffffffffu, start, l);
      const int64_t hi = __shfl_sync(0xffffffffu, end, l);
      g_out = base + l;
      lo_out = lo + (t - before) * tile;
      hi_out = lo_out + tile < hi ? lo_out + tile : hi;
      return true;
    }
    carry += __shfl_sync(0xffffffffu, incl, 31);
  }
  return false;
}

// The cluster's tile of linear index i (called by whole warps); false when it has none (past the
// last tile of a grouped m or n: the grid of tiles is sized for the worst case).
__device__ bool find_cluster_work(const GroupedMm& p, int64_t i, int64_t tm, int64_t tn, const int* offs,
                                  Work& w) {
  const int64_t n_total = p.n, m_total = p.m;
  w.k_lo = 0;
  w.k_hi = p.k;
  if (out_has_groups(p.mode)) {  // a grid of tiles a group
    const int64_t per_group = tm * tn;
    w.g = int(i / per_group);
    int64_t t_m, t_n;
    panel_order(i - w.g * per_group, tm, tn, t_m, t_n);
    w.m_lo = t_m * kTileM;
    w.m_hi = w.m_lo + kTileM < m_total ? w.m_lo + kTileM : m_total;
    w.n_lo = t_n * kBN;
    w.n_hi = w.n_lo + kBN < n_total ? w.n_lo + kBN : n_total;
    if (p.mode == GroupMode::kGroupK) group_range(offs, w.g, p.k, w.k_lo, w.k_hi);
    return true;
  }
  int64_t t_m, t_n;
  panel_order(i, tm, tn, t_m, t_n);
  if (p.mode == GroupMode::kGroupM) {
    w.n_lo = t_n * kBN;
    w.n_hi = w.n_lo + kBN < n_total ? w.n_lo + kBN : n_total;
    return find_group(offs, int(p.groups), m_total, t_m, kTileM, w.g, w.m_lo, w.m_hi);
  }
  w.m_lo = t_m * kTileM;
  w.m_hi = w.m_lo + kTileM < m_total ? w.m_lo + kTileM : m_total;
  return find_group(offs, int(p.groups), n_total, t_n, kBN, w.g, w.n_lo, w.n_hi);
}

// This CTA's part of the cluster's tile i: the rank-th 128 of its rows (none, past a group's
// end: the CTA still loads its share of B for the others).
__device__ bool find_work(const GroupedMm& p, int64_t i, int64_t tm, int64_t tn, const int* offs, int rank,
                          Work& w) {
  if (!find_cluster_work(p, i, tm, tn, offs, w)) return false;
  const int64_t hi = w.m_hi;
  w.m_lo += int64_t(rank) * kBM;
  w.m_hi = w.m_lo + kBM < hi ? w.m_lo + kBM : hi;
  if (w.m_hi < w.m_lo) w.m_hi = w.m_lo;
  return true;
}

// AK / BK: A / B k-major (k contiguous), else mn-major. Tensor maps (innermost first): a k-major
// operand (k, rows, group), an mn-major one (rows, k, group); the group coordinate is 0 for a
// 2-d operand. Persistent: cluster c takes linear tiles c, c + clusters, ... (`tiles` of them);
// the producer runs ahead into the next tile while the consumers store the last one.
template <bool kFp8, bool AK, bool BK, bool kPromote>
__global__ void __launch_bounds__(kThreads, 1)
    grouped_mm_kernel(const __grid_constant__ CUtensorMap ta, const __grid_constant__ CUtensorMap tb,
                      const __grid_constant__ CUtensorMap tout, const GroupedMm p, int64_t tm, int64_t tn,
                      int64_t tiles) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(16) unsigned char smem_raw[];  // the ring aligns itself (below)
  __shared__ __align__(8) uint64_t s_bars[2 * kStages];
  pdl_begin();

  const uint32_t base = smem_addr(smem_raw);
  const uint32_t ring = base + ((1024 - (base & 1023)) & 1023);  // swizzle atoms: 1024-byte aligned
  const uint32_t bars = smem_addr(s_bars);
  auto full = [&](int s) { return bars + 8 * s; };
  auto empty = [&](int s) { return bars + 8 * (kStages + s); };
  const int* offs = p.offs;  // read where needed (through L1): shared memory is all the ring's
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(full(s), 1);
      mbar_init(empty(s), 8 * kCluster);  // one arrival a consumer warp of each CTA writing here
    }
    mbar_init_fence();
  }
  // Every CTA's barriers are ready before any copy or arrival of the cluster reaches them.
  if constexpr (kCluster > 1) cluster_sync();
  else __syncthreads();
  const int rank = kCluster > 1 ? int(cluster_rank()) : 0;
  const int64_t first = blockIdx.x / kCluster, step = gridDim.x / kCluster;

  const bool a_grouped = a_has_groups(p.mode), b_grouped = b_has_groups(p.mode);
  constexpr int kStepK = kBKOf<kFp8>;
  auto steps_of = [](const Work& w) { return int((w.k_hi - w.k_lo + kStepK - 1) / kStepK); };
  if (threadIdx.x < 128) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    if (threadIdx.x < 32) {  // warp 0 finds the tiles, its first thread loads them
      int it = 0;  // k steps loaded over all tiles: stage it % kStages
      for (int64_t i = first; i < tiles; i += step) {
        Work w;
        if (!find_work(p, i, tm, tn, offs, rank, w)) continue;
        const int k_steps = steps_of(w);
        const int ga = a_grouped ? w.g : 0, gb = b_grouped ? w.g : 0;
        const int m0 = int(w.m_lo), n0 = int(w.n_lo);
        for (int kt = 0; kt < k_steps && threadIdx.x == 0; ++kt) {
          const int it_k = it + kt;
          const int s = it_k % kStages;
          mbar_wait(empty(s), ((it_k / kStages) & 1) ^ 1);  // in every CTA this stage's B reaches
          mbar_expect_tx(full(s), kStageBytes);
          const uint32_t sa = ring + s * kStageBytes, sb = sa + kABytes;
          const int k0 = int(w.k_lo) + kt * kStepK;
          if constexpr (AK) {
            tma_load(sa, &ta, full(s), k0, m0, ga);
          } else {
#pragma unroll
            for (int j = 0; j < kBM / 64; ++j) tma_load(sa + j * kBoxBytes, &ta, full(s), m0 + 64 * j, k0, ga);
          }
          // B: this CTA's share (kBN / kCluster rows, or 64-column boxes) into every CTA
          constexpr int kShare = kBN / kCluster;
          constexpr uint16_t kAll = (1u << kCluster) - 1;
          if constexpr (BK) {
            if constexpr (kCluster == 1) tma_load(sb, &tb, full(s), k0, n0, gb);
            else tma_load_multicast(sb + rank * kShare * 128, &tb, full(s), k0, n0 + rank * kShare, gb, kAll);
          } else {
#pragma unroll
            for (int jj = 0; jj < kShare / 64; ++jj) {
              const int j = rank * (kShare / 64) + jj;
              if constexpr (kCluster == 1) tma_load(sb + j * kBoxBytes, &tb, full(s), n0 + 64 * j, k0, gb);
              else tma_load_multicast(sb + j * kBoxBytes, &tb, full(s), n0 + 64 * j, k0, gb, kAll);
            }
          }
        }
        it += k_steps;
        __syncwarp();
      }
    }
  } else {
    // ---- consumers ----
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int cw = threadIdx.x / 128 - 1;  // this warpgroup's 64 rows: cw * 64 ..
    const int ct = threadIdx.x - 128;      // 0 .. 255 over both consumer warpgroups
    const int lane = threadIdx.x % 32, warp = (threadIdx.x / 32) % 4, g = lane / 4, t = lane % 4;
    auto release = [&](int s) {  // in every CTA whose producer writes this stage (its B share)
      __syncwarp();
      if (lane == 0) {
        mbar_arrive(empty(s));
#pragma unroll
        for (int r = 1; r < kCluster; ++r) mbar_arrive_cluster(empty(s), (rank + r) % kCluster);
      }
    };
    using raw = uint16_t;
    int slab_count = 0;  // slabs this warp staged: buffer slab_count % 2
    const uint32_t wslabs = ring + kStages * kStageBytes + (cw * 4 + warp) * 2 * kWarpSlabBytes;  // the warp's two
    unsigned char* wslabs_ptr = smem_raw + (wslabs - base);
    float acc[kBN / 2];
    float part[kBN / 4] = {};  // kPromote: one 128-k step's sums of half the columns
    int it = 0;
    for (int64_t i = first; i < tiles; i += step) {
      Work w;
      if (!find_work(p, i, tm, tn, offs, rank, w)) continue;
      const int k_steps = steps_of(w);
      // A warpgroup whose rows all lie past the group's end (a small group's tile) skips the
      // products, leaving the tensor cores to the other: it still takes part in the ring.
      const bool busy = w.m_lo + cw * 64 < w.m_hi;
#pragma unroll
      for (int e = 0; e < kBN / 2; ++e) acc[e] = 0.f;
      for (int kt = 0; kt < k_steps; ++kt, ++it) {
        const int s = it % kStages;
        mbar_wait(full(s), (it / kStages) & 1);
        const uint32_t sa = ring + s * kStageBytes, sb = sa + kABytes;
        if constexpr (!kFp8 && !AK && !BK) {  // the only layout a grouped k comes in (ops/gemm_ext.cpp)
          const int64_t valid = w.k_hi - (w.k_lo + int64_t(kt) * kBK);
          if (valid < kBK && p.mode == GroupMode::kGroupK) {
            // The step runs into the next group's k: zero those k rows of both tiles (mn-major:
            // one 128-byte row a k, so the swizzle does not matter). Every consumer takes it.
            constexpr int kRowsA = kBM / 64 * 64, kRows = kRowsA + kBN / 64 * 64;  // box rows, A then B
            for (int r = ct; r < kRows * 8; r += 256) {
              const int row = r / 8, chunk = r % 8;
              if (row % 64 < valid) continue;
              const uint32_t at = (row < kRowsA ? sa : sb - kRowsA * 128) + row * 128 + chunk * 16;
              asm volatile("st.shared.v4.u32 [%0], {%1, %1, %1, %1};\n" ::"r"(at), "r"(0) : "memory");
            }
            fence_async_smem();
            consumers_sync();
          }
        }
        if constexpr (kPromote) {
          // torch's default accumulation (use_fast_accum=False): the tensor cores' own sums of one
          // 128-k step (four k32 products: CUTLASS's promotion interval) are added into the fp32
          // accumulators, half the columns at a time (a second full set of 128 would not fit
          // the registers). The step's stage goes back at once.
          if (busy) {
#pragma unroll
            for (int half = 0; half < 2; ++half) {
#pragma unroll
              for (int e = 0; e < kBN / 4; ++e) fence_operand(part[e]);
              wgmma_fence();
#pragma unroll
              for (int kk = 0; kk < 4; ++kk) {
                const uint64_t da = kmajor_desc(sa + cw * 64 * 128 + kk * 32);
                const uint64_t db = kmajor_desc(sb + half * (kBN / 2) * 128 + kk * 32);
                if (kk == 0) WgmmaSS8<kBN / 2>::run<0>(part, da, db);  // overwrites the last step's
                else WgmmaSS8<kBN / 2>::run(part, da, db);
              }
              wgmma_commit();
              wgmma_wait<0>();
#pragma unroll
              for (int e = 0; e < kBN / 4; ++e) {
                fence_operand(part[e]);
                acc[half * (kBN / 4) + e] += part[e];  // the half's m16n8 fragments, in order
              }
            }
          }
          release(s);
        } else {
#pragma unroll
          for (int e = 0; e < kBN / 2; ++e) fence_operand(acc[e]);
          if (busy) {
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) {  // the four 32-byte k slices of the 128-byte rows
              const uint64_t da = AK ? kmajor_desc(sa + cw * 64 * 128 + kk * 32)
                                     : mnmajor_desc(sa + cw * kBoxBytes + kk * 16 * 128, kBoxBytes);
              const uint64_t db = BK ? kmajor_desc(sb + kk * 32) : mnmajor_desc(sb + kk * 16 * 128, kBoxBytes);
              if constexpr (kFp8) WgmmaSS8<kBN>::run(acc, da, db);  // k32 a step: the same 32 bytes
              else WgmmaSST<__nv_bfloat16, kBN>::run<AK ? 0 : 1, BK ? 0 : 1>(acc, da, db);
            }
            wgmma_commit();
          }
          wgmma_wait<1>();  // the previous step's products are done: its stage goes back
#pragma unroll
          for (int e = 0; e < kBN / 2; ++e) fence_operand(acc[e]);
          if (kt > 0) release((it - 1) % kStages);
        }
      }
      if constexpr (!kPromote) {
        wgmma_wait<0>();
#pragma unroll
        for (int e = 0; e < kBN / 2; ++e) fence_operand(acc[e]);
        if (k_steps > 0) release((it - 1) % kStages);
      }

      // ---- epilogue: each warp stages its 16 rows in 64-column slabs (the ring is the producer's
      // again: it is loading the next tile meanwhile) laid out as a TMA box, and its first thread
      // stores each slab with TMA while the warp goes on: to the next slab, then to the next tile's
      // products; no warp waits for another. A slab TMA cannot store whole (its rows or columns run
      // past the group's end but not the tensor's, where TMA would clip, or it starts off 16 bytes)
      // is stored by the warp's threads. A warp's two slab buffers alternate; a buffer is refilled
      // once its last store has read it. ----
      const int64_t m_warp = w.m_lo + cw * 64 + warp * 16;  // the warp's first row
      const bool rows_whole = m_warp + 16 <= w.m_hi || w.m_hi == p.m;
      const int out_g = out_has_groups(p.mode) ? w.g : 0;
#ifdef GEMFORGE_GROUPED_NO_STORE  // scripts/dev/grouped_mm_probe.py: what the epilogue costs
      if (w.m_lo >= 0) continue;
#endif
      if (m_warp >= w.m_hi) continue;  // no rows here (past a group's end)
      float row_scale[2] = {1.f, 1.f};  // _scaled_grouped_mm: this thread's rows' scales
      const float* col_scale = nullptr;
      if constexpr (kFp8) {
        const int ga = a_grouped ? w.g : 0, gb = b_grouped ? w.g : 0;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int64_t m = m_warp + g + 8 * h;
          row_scale[h] = m < w.m_hi ? __ldg(p.scale_a + int64_t(ga) * p.sa_gs + m) : 0.f;
        }
        col_scale = p.scale_b + int64_t(gb) * p.sb_gs;
      }
#pragma unroll
      for (int slab = 0; slab < kBN / 64; ++slab) {
        const int64_t n_slab = w.n_lo + slab * 64;
        if (n_slab >= w.n_hi) break;
        const uint32_t buf = wslabs + (slab_count % 2) * kWarpSlabBytes;
        unsigned char* buf_ptr = wslabs_ptr + (slab_count % 2) * kWarpSlabBytes;
        ++slab_count;
        if (lane == 0) tma_store_wait_read<1>();  // this buffer's previous store has read it
        __syncwarp();
        // row r's 16-byte chunk c at r * 128 + ((c ^ (r % 8)) * 16): TMA's 128-byte swizzle, and
        // no bank conflicts for the fragments' writes
#pragma unroll
        for (int jj = 0; jj < 8; ++jj) {
          const int j = slab * 8 + jj;
          float cs[2] = {1.f, 1.f};
          if constexpr (kFp8) {
            const int64_t n = n_slab + jj * 8 + 2 * t;
            cs[0] = n < w.n_hi ? __ldg(col_scale + n) : 0.f;
            cs[1] = n + 1 < w.n_hi ? __ldg(col_scale + n + 1) : 0.f;
          }
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int row = g + 8 * h;
            const uint32_t at = buf + row * 128 + ((jj ^ g) * 16) + 4 * t;
            const __nv_bfloat162 v = kFp8 ? __floats2bfloat162_rn(acc[4 * j + 2 * h] * row_scale[h] * cs[0],
                                                                  acc[4 * j + 2 * h + 1] * row_scale[h] * cs[1])
                                          : __floats2bfloat162_rn(acc[4 * j + 2 * h], acc[4 * j + 2 * h + 1]);
            asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(at), "r"(*reinterpret_cast<const uint32_t*>(&v)) : "memory");
          }
        }
        fence_async_smem();  // the writes, visible to TMA
        __syncwarp();
        // TMA's box starts on 16 bytes along the contiguous dimension (a grouped n's group may not)
        if (rows_whole && (n_slab + 64 <= w.n_hi || w.n_hi == p.n) && n_slab % 8 == 0) {
          if (lane == 0) {
            tma_store(&tout, buf, int(n_slab), int(m_warp), out_g);
            tma_store_commit();
          }
        } else {
          raw* out = static_cast<raw*>(p.out) + int64_t(out_g) * p.out_bs;
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            const int idx = lane + q * 32, r = idx / 8, c = idx % 8;
            const int64_t m = m_warp + r, n = n_slab + c * 8;
            if (m >= w.m_hi || n >= w.n_hi) continue;
            raw* dst = out + m * p.out_ld + n;
            const raw* src = reinterpret_cast<const raw*>(buf_ptr + r * 128 + ((c ^ (r % 8)) * 16));
            if (n + 8 <= w.n_hi && reinterpret_cast<uintptr_t>(dst) % 16 == 0) {
              *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
            } else {  // the row's end, or a group of a grouped n starting off 16 bytes
              for (int e = 0; e < 8 && n + e < w.n_hi; ++e) dst[e] = src[e];
            }
          }
          __syncwarp();  // read before the buffer is refilled
        }
      }
    }
    if (lane == 0) tma_store_wait<0>();  // the stores have left shared memory before the block does
  }
  // No CTA leaves while another may still arrive on its barriers.
  if constexpr (kCluster > 1) cluster_sync();
#endif
}

// An operand as a 3-d tensor map, innermost first: (contiguous extent, other extent, groups),
// element (inner i, outer o, group g) at i + o * ld + g * bs; boxes of 64 inner by `box_outer`.
CUtensorMap tensor_map(const void* data, int64_t inner, int64_t outer, int64_t groups, int64_t ld, int64_t bs,
                       int box_outer, bool fp8 = false) {
  const int64_t es = fp8 ? 1 : 2;  // bytes an element; boxes are 128 bytes wide either way
  CUtensorMap map;
  inner = std::max<int64_t>(inner, 1), outer = std::max<int64_t>(outer, 1), groups = std::max<int64_t>(groups, 1);
  // A 2-d operand's group stride is never used (its coordinate is always 0); TMA still wants a
  // valid one, a multiple of 16 bytes.
  const int64_t group_stride = bs != 0 ? bs : ld * outer;
  const cuuint64_t dims[3] = {cuuint64_t(inner), cuuint64_t(outer), cuuint64_t(groups)};
  const cuuint64_t strides[2] = {cuuint64_t(ld * es), cuuint64_t(group_stride * es)};
  const cuuint32_t box[3] = {cuuint32_t(128 / es), cuuint32_t(box_outer), 1};
  const cuuint32_t elem[3] = {1, 1, 1};
  const auto type = fp8 ? CU_TENSOR_MAP_DATA_TYPE_UINT8 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const CUresult r = encode_tiled()(&map, type, 3, const_cast<void*>(data), dims, strides, box,
                                    elem, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                    CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  TORCH_CHECK(r == CUDA_SUCCESS, "gemforge _grouped_mm: cuTensorMapEncodeTiled failed (", int(r), ")");
  return map;
}

template <bool kFp8, bool AK, bool BK, bool kPromote = false>
void run(const GroupedMm& p, int64_t tiles, int64_t tm, int64_t tn, cudaStream_t stream) {
  const bool a_grouped = a_has_groups(p.mode), b_grouped = b_has_groups(p.mode);
  const int64_t ga = a_grouped ? p.groups : 1, gb = b_grouped ? p.groups : 1;
  const CUtensorMap ta = AK ? tensor_map(p.a, p.k, p.m, ga, p.a_ld, p.a_bs, kBM, kFp8)
                            : tensor_map(p.a, p.m, p.k, ga, p.a_ld, p.a_bs, kBK);
  const bool out_grouped = out_has_groups(p.mode);
  const CUtensorMap tout = tensor_map(p.out, p.n, p.m, out_grouped ? p.groups : 1, p.out_ld, p.out_bs, 16);
  const CUtensorMap tb = BK ? tensor_map(p.b, p.k, p.n, gb, p.b_ld, p.b_bs, kBN / kCluster, kFp8)
                            : tensor_map(p.b, p.n, p.k, gb, p.b_ld, p.b_bs, kBK);
  // Persistent: a cluster an SM pair at most (tiles are cluster tiles).
  const int64_t clusters = std::min<int64_t>(tiles, pw::cuda::sm_count() / kCluster);
  auto kernel = grouped_mm_kernel<kFp8, AK, BK, kPromote>;
  pw::cuda::raise_smem_limit(reinterpret_cast<const void*>(kernel), kSmemBytes);
  cudaLaunchAttribute attr[2];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = kCluster;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  attr[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[1].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(unsigned(clusters * kCluster));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = kSmemBytes;
  config.stream = stream;
  config.attrs = attr;
  config.numAttrs = pw::cuda::pdl_enabled() ? 2 : 1;
  C10_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, ta, tb, tout, p, tm, tn, tiles));
}

}  // namespace

bool grouped_mm_device(int device) {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> major[kMaxDevices] = {};  // 0: not looked up yet
  if (device < 0 || device >= kMaxDevices) return false;
  int value = major[device].load(std::memory_order_relaxed);
  if (value == 0) {
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&value, cudaDevAttrComputeCapabilityMajor, device));
    major[device].store(value, std::memory_order_relaxed);
  }
  return value == 9;
}

void grouped_mm_cuda(const GroupedMm& p) {
  const int64_t tiles_m = (p.m + kTileM - 1) / kTileM, tiles_n = (p.n + kBN - 1) / kBN;
  int64_t tm = tiles_m, tn = tiles_n, tiles = 0;  // cluster tiles
  switch (p.mode) {
    case GroupMode::kBatched:
    case GroupMode::kGroupK:
      tiles = p.groups * tm * tn;
      break;
    case GroupMode::kGroupM:  // every group may end in a partial tile
      tm = tiles_m + p.groups;
      tiles = tm * tn;
      break;
    case GroupMode::kGroupN:
      tn = tiles_n + p.groups;
      tiles = tm * tn;
      break;
  }
  if (tiles == 0) return;
  TORCH_CHECK(tiles <= INT32_MAX && p.groups <= kGroupedMaxGroups, "_grouped_mm: problem too large for the kernel");
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();
  if (p.fp8) {
    TORCH_CHECK(p.a_k_major && p.b_k_major && p.mode != GroupMode::kGroupK,
                "_scaled_grouped_mm: gemforge's kernel takes k-major operands, k not grouped");
    if (p.fp8_promote) run<true, true, true, true>(p, tiles, tm, tn, stream);
    else run<true, true, true>(p, tiles, tm, tn, stream);
  } else if (p.a_k_major) {
    p.b_k_major ? run<false, true, true>(p, tiles, tm, tn, stream) : run<false, true, false>(p, tiles, tm, tn, stream);
  } else {
    p.b_k_major ? run<false, false, true>(p, tiles, tm, tn, stream) : run<false, false, false>(p, tiles, tm, tn, stream);
  }
}

}  // namespace gemforge::gemm
