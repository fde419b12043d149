// _grouped_mm on cuda (sm_90a): bf16 products of many groups in one launch (backends/gemm_ext.h),
// built as a Hopper GEMM: TMA feeds wgmma through a ring of shared-memory stages.
//
// A block computes one 128 x 256 tile of one group's output with three warpgroups:
// - the producer (one thread of warpgroup 0) issues the TMA copies of each 64-deep k step, A's
//   128 x 64 and B's 256 x 64 tiles, into a ring of kStages stages; each stage completes on its
//   "full" mbarrier by bytes, and the consumers hand it back through its "empty" one;
// - two consumer warpgroups, 64 output rows each, run wgmma m64n256k16 from shared memory into
//   128 fp32 accumulators a thread, one k step in flight behind the one being issued.
// The producer gives its registers to the consumers (setmaxnreg 40 / 232).
//
// Tiles are stored as TMA writes them, 128-byte swizzled boxes of 64 elements along the
// operand's contiguous dimension: a k-major operand (k contiguous) is one box of 64 k by its
// rows; an mn-major one (m or n contiguous) is 64-column boxes of 64 k rows, read by wgmma
// transposed. TMA zero-fills what lies past the tensor's end, so tails need no special loads.
//
// Groups: a tile never spans two groups' outputs. Along a grouped m or n the tile starts at the
// group's first row; rows it reads past the group's end are the next group's and are not
// stored. A grouped k (2-d x 2-d) cannot read past the group's end unnoticed: the consumers zero
// the k rows of the last, partial step before using it. The offsets stay on the device: a block
// finds its group by a warp scan of the groups' tile counts, and blocks past the last tile (the
// grid is sized for the worst case, every group ending in a partial tile) exit at once.
#include "backends/cuda/launch.cuh"
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
using pw::cuda::pdl_begin;

constexpr int kBM = 128, kBN = 256, kBK = 64;
constexpr int kStages = 4;
constexpr int kThreads = 384;                         // producer warpgroup + 2 consumer warpgroups
constexpr uint32_t kABytes = kBM * kBK * 2;           // 16 KiB
constexpr uint32_t kBBytes = kBN * kBK * 2;           // 32 KiB
constexpr uint32_t kStageBytes = kABytes + kBBytes;
constexpr uint32_t kBoxBytes = 64 * kBK * 2;          // an mn-major box: 64 columns x 64 k rows
constexpr int kSlabPitch = 64 + 8;                    // epilogue staging row, elements (no bank conflicts)
constexpr int kPanel = 16;                            // m tiles swept together along n (L2 reuse)
constexpr int kMaxGroups = int(kGroupedMaxGroups);
// The ring, then each consumer warpgroup's epilogue slab (64 rows), + alignment of the ring.
constexpr size_t kSmemBytes = size_t(kStages) * kStageBytes + 2 * 64 * kSlabPitch * 2 + 1024;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Named barriers (0 is __syncthreads): 1 over both consumer warpgroups, 2 + w over warpgroup w.
__device__ __forceinline__ void consumers_sync() { asm volatile("bar.sync 1, 256;\n" ::: "memory"); }
__device__ __forceinline__ void warpgroup_sync(int w) { asm volatile("bar.sync %0, 128;\n" ::"r"(2 + w) : "memory"); }

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
__device__ bool find_group(const int* s_offs, int groups, int64_t total, int64_t t, int tile, int& g_out,
                           int64_t& lo_out, int64_t& hi_out) {
  const int lane = threadIdx.x & 31;
  int64_t carry = 0;
  for (int base = 0; base < groups; base += 32) {
    const int g = base + lane;
    int64_t start = 0, end = 0;
    if (g < groups) group_range(s_offs, g, total, start, end);
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

// Linear tile i's work (called by whole warps); false when it has none (past the last tile of a
// grouped m or n: the grid of tiles is sized for the worst case).
__device__ bool find_work(const GroupedMm& p, int64_t i, int64_t tm, int64_t tn, const int* s_offs, Work& w) {
  const int64_t n_total = p.n, m_total = p.m;
  w.k_lo = 0;
  w.k_hi = p.k;
  if (p.mode == GroupMode::kBatched || p.mode == GroupMode::kGroupK) {
    const int64_t per_group = tm * tn;
    w.g = int(i / per_group);
    int64_t t_m, t_n;
    panel_order(i - w.g * per_group, tm, tn, t_m, t_n);
    w.m_lo = t_m * kBM;
    w.m_hi = w.m_lo + kBM < m_total ? w.m_lo + kBM : m_total;
    w.n_lo = t_n * kBN;
    w.n_hi = w.n_lo + kBN < n_total ? w.n_lo + kBN : n_total;
    if (p.mode == GroupMode::kGroupK) group_range(s_offs, w.g, p.k, w.k_lo, w.k_hi);
    return true;
  }
  int64_t t_m, t_n;
  panel_order(i, tm, tn, t_m, t_n);
  if (p.mode == GroupMode::kGroupM) {
    w.n_lo = t_n * kBN;
    w.n_hi = w.n_lo + kBN < n_total ? w.n_lo + kBN : n_total;
    return find_group(s_offs, int(p.groups), m_total, t_m, kBM, w.g, w.m_lo, w.m_hi);
  }
  w.m_lo = t_m * kBM;
  w.m_hi = w.m_lo + kBM < m_total ? w.m_lo + kBM : m_total;
  return find_group(s_offs, int(p.groups), n_total, t_n, kBN, w.g, w.n_lo, w.n_hi);
}

// AK / BK: A / B k-major (k contiguous), else mn-major. Tensor maps (innermost first): a k-major
// operand (k, rows, group), an mn-major one (rows, k, group); the group coordinate is 0 for a
// 2-d operand. Persistent: block b takes linear tiles b, b + gridDim.x, ... (`tiles` of them);
// the producer runs ahead into the next tile while the consumers store the last one.
template <bool AK, bool BK>
__global__ void __launch_bounds__(kThreads, 1)
    grouped_mm_kernel(const __grid_constant__ CUtensorMap ta, const __grid_constant__ CUtensorMap tb,
                      const GroupedMm p, int64_t tm, int64_t tn, int64_t tiles) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  __shared__ int s_offs[kMaxGroups];
  __shared__ __align__(8) uint64_t s_bars[2 * kStages];
  pdl_begin();

  const uint32_t base = smem_addr(smem_raw);
  const uint32_t ring = base + ((1024 - (base & 1023)) & 1023);  // swizzle atoms: 1024-byte aligned
  const uint32_t bars = smem_addr(s_bars);
  auto full = [&](int s) { return bars + 8 * s; };
  auto empty = [&](int s) { return bars + 8 * (kStages + s); };
  if (p.offs != nullptr)
    for (int i = threadIdx.x; i < int(p.groups); i += kThreads) s_offs[i] = p.offs[i];
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(full(s), 1);
      mbar_init(empty(s), 8);  // one arrival a consumer warp
    }
    mbar_init_fence();
  }
  __syncthreads();

  const bool a_grouped = p.mode == GroupMode::kBatched || p.mode == GroupMode::kGroupN;
  const bool b_grouped = p.mode == GroupMode::kBatched || p.mode == GroupMode::kGroupM;
  auto steps_of = [](const Work& w) { return int((w.k_hi - w.k_lo + kBK - 1) / kBK); };
  if (threadIdx.x < 128) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    if (threadIdx.x < 32) {  // warp 0 finds the tiles, its first thread loads them
      int it = 0;  // k steps loaded over all tiles: stage it % kStages
      for (int64_t i = blockIdx.x; i < tiles; i += gridDim.x) {
        Work w;
        if (!find_work(p, i, tm, tn, s_offs, w)) continue;
        const int k_steps = steps_of(w);
        const int ga = a_grouped ? w.g : 0, gb = b_grouped ? w.g : 0;
        const int m0 = int(w.m_lo), n0 = int(w.n_lo);
        for (int kt = 0; kt < k_steps && threadIdx.x == 0; ++kt) {
          const int it_k = it + kt;
          const int s = it_k % kStages;
          mbar_wait(empty(s), ((it_k / kStages) & 1) ^ 1);
          mbar_expect_tx(full(s), kStageBytes);
          const uint32_t sa = ring + s * kStageBytes, sb = sa + kABytes;
          const int k0 = int(w.k_lo) + kt * kBK;
          if constexpr (AK) {
            tma_load(sa, &ta, full(s), k0, m0, ga);
          } else {
#pragma unroll
            for (int j = 0; j < kBM / 64; ++j) tma_load(sa + j * kBoxBytes, &ta, full(s), m0 + 64 * j, k0, ga);
          }
          if constexpr (BK) {
            tma_load(sb, &tb, full(s), k0, n0, gb);
          } else {
#pragma unroll
            for (int j = 0; j < kBN / 64; ++j) tma_load(sb + j * kBoxBytes, &tb, full(s), n0 + 64 * j, k0, gb);
          }
        }
        it += k_steps;
        __syncwarp();
      }
    }
    return;
  }

  // ---- consumers ----
  asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
  const int cw = threadIdx.x / 128 - 1;  // this warpgroup's 64 rows: cw * 64 ..
  const int ct = threadIdx.x - 128;      // 0 .. 255 over both consumer warpgroups
  const int lane = threadIdx.x % 32, warp = (threadIdx.x / 32) % 4, g = lane / 4, t = lane % 4;
  auto release = [&](int s) {
    __syncwarp();
    if (lane == 0) mbar_arrive(empty(s));
  };
  using raw = uint16_t;
  __nv_bfloat16* stage = reinterpret_cast<__nv_bfloat16*>(smem_raw + (ring - base) + kStages * kStageBytes) +
                         cw * 64 * kSlabPitch;
  float acc[kBN / 2];
  int it = 0;
  for (int64_t i = blockIdx.x; i < tiles; i += gridDim.x) {
    Work w;
    if (!find_work(p, i, tm, tn, s_offs, w)) continue;
    const int k_steps = steps_of(w);
#pragma unroll
    for (int e = 0; e < kBN / 2; ++e) acc[e] = 0.f;
    for (int kt = 0; kt < k_steps; ++kt, ++it) {
      const int s = it % kStages;
      mbar_wait(full(s), (it / kStages) & 1);
      const uint32_t sa = ring + s * kStageBytes, sb = sa + kABytes;
      if constexpr (!AK && !BK) {  // the only layout a grouped k comes in (ops/gemm_ext.cpp)
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
#pragma unroll
      for (int e = 0; e < kBN / 2; ++e) fence_operand(acc[e]);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < kBK / 16; ++kk) {
        const uint64_t da = AK ? kmajor_desc(sa + cw * 64 * 128 + kk * 32)
                               : mnmajor_desc(sa + cw * kBoxBytes + kk * 16 * 128, kBoxBytes);
        const uint64_t db = BK ? kmajor_desc(sb + kk * 32) : mnmajor_desc(sb + kk * 16 * 128, kBoxBytes);
        WgmmaSST<__nv_bfloat16, kBN>::run<AK ? 0 : 1, BK ? 0 : 1>(acc, da, db);
      }
      wgmma_commit();
      wgmma_wait<1>();  // the previous step's products are done: its stage goes back
#pragma unroll
      for (int e = 0; e < kBN / 2; ++e) fence_operand(acc[e]);
      if (kt > 0) release((it - 1) % kStages);
    }
    wgmma_wait<0>();
#pragma unroll
    for (int e = 0; e < kBN / 2; ++e) fence_operand(acc[e]);
    if (k_steps > 0) release((it - 1) % kStages);

    // ---- epilogue: each warpgroup stages its 64 rows in 64-column slabs in its own buffer (the
    // ring is the producer's again: it is loading the next tile meanwhile), then stores whole
    // 128-byte row pieces of the rows and columns in range. Straight from the accumulators, a
    // warp's store would touch eight rows at 16 bytes each: 4x the store instructions, and the
    // tensor cores idle through all of them. ----
    raw* out = static_cast<raw*>(p.out) +
               (p.mode == GroupMode::kBatched || p.mode == GroupMode::kGroupK ? int64_t(w.g) * p.out_bs : 0);
    const int wt = threadIdx.x % 128;
#pragma unroll
    for (int slab = 0; slab < kBN / 64; ++slab) {
      if (w.n_lo + slab * 64 >= w.n_hi) break;  // the same for the whole warpgroup
#pragma unroll
      for (int jj = 0; jj < 8; ++jj) {
        const int j = slab * 8 + jj, row = warp * 16 + g, col = jj * 8 + 2 * t;
        *reinterpret_cast<__nv_bfloat162*>(stage + row * kSlabPitch + col) =
            __floats2bfloat162_rn(acc[4 * j], acc[4 * j + 1]);
        *reinterpret_cast<__nv_bfloat162*>(stage + (row + 8) * kSlabPitch + col) =
            __floats2bfloat162_rn(acc[4 * j + 2], acc[4 * j + 3]);
      }
      warpgroup_sync(cw);
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const int idx = wt + q * 128, r = idx / 8, c = idx % 8;
        const int64_t m = w.m_lo + cw * 64 + r, n = w.n_lo + slab * 64 + c * 8;
        if (m >= w.m_hi || n >= w.n_hi) continue;
        raw* dst = out + m * p.out_ld + n;
        const raw* src = reinterpret_cast<const raw*>(stage) + r * kSlabPitch + c * 8;
        if (n + 8 <= w.n_hi && reinterpret_cast<uintptr_t>(dst) % 16 == 0) {
          *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
        } else {  // the row's end, or a group of a grouped n starting off 16 bytes
          for (int e = 0; e < 8 && n + e < w.n_hi; ++e) dst[e] = src[e];
        }
      }
      warpgroup_sync(cw);  // the slab is read before the next one overwrites it
    }
  }
#endif
}

// An operand as a 3-d tensor map, innermost first: (contiguous extent, other extent, groups),
// element (inner i, outer o, group g) at i + o * ld + g * bs; boxes of 64 inner by `box_outer`.
CUtensorMap tensor_map(const void* data, int64_t inner, int64_t outer, int64_t groups, int64_t ld, int64_t bs,
                       int box_outer) {
  CUtensorMap map;
  inner = std::max<int64_t>(inner, 1), outer = std::max<int64_t>(outer, 1), groups = std::max<int64_t>(groups, 1);
  // A 2-d operand's group stride is never used (its coordinate is always 0); TMA still wants a
  // valid one, a multiple of 16 bytes.
  const int64_t group_stride = bs != 0 ? bs : ld * outer;
  const cuuint64_t dims[3] = {cuuint64_t(inner), cuuint64_t(outer), cuuint64_t(groups)};
  const cuuint64_t strides[2] = {cuuint64_t(ld * 2), cuuint64_t(group_stride * 2)};
  const cuuint32_t box[3] = {64, cuuint32_t(box_outer), 1};
  const cuuint32_t elem[3] = {1, 1, 1};
  const CUresult r = encode_tiled()(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<void*>(data), dims, strides,
                                    box, elem, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                    CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  TORCH_CHECK(r == CUDA_SUCCESS, "gemforge _grouped_mm: cuTensorMapEncodeTiled failed (", int(r), ")");
  return map;
}

template <bool AK, bool BK>
void run(const GroupedMm& p, int64_t blocks, int64_t tm, int64_t tn, cudaStream_t stream) {
  const bool a_grouped = p.mode == GroupMode::kBatched || p.mode == GroupMode::kGroupN;
  const bool b_grouped = p.mode == GroupMode::kBatched || p.mode == GroupMode::kGroupM;
  const int64_t ga = a_grouped ? p.groups : 1, gb = b_grouped ? p.groups : 1;
  const CUtensorMap ta = AK ? tensor_map(p.a, p.k, p.m, ga, p.a_ld, p.a_bs, kBM)
                            : tensor_map(p.a, p.m, p.k, ga, p.a_ld, p.a_bs, kBK);
  const CUtensorMap tb = BK ? tensor_map(p.b, p.k, p.n, gb, p.b_ld, p.b_bs, kBN)
                            : tensor_map(p.b, p.n, p.k, gb, p.b_ld, p.b_bs, kBK);
  const int64_t grid = std::min<int64_t>(blocks, pw::cuda::sm_count());
  pw::cuda::launch_with_smem(grouped_mm_kernel<AK, BK>, dim3(unsigned(grid)), dim3(kThreads), kSmemBytes, stream,
                             ta, tb, p, tm, tn, blocks);
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
  const int64_t tiles_m = (p.m + kBM - 1) / kBM, tiles_n = (p.n + kBN - 1) / kBN;
  int64_t tm = tiles_m, tn = tiles_n, blocks = 0;
  switch (p.mode) {
    case GroupMode::kBatched:
    case GroupMode::kGroupK:
      blocks = p.groups * tm * tn;
      break;
    case GroupMode::kGroupM:  // every group may end in a partial tile
      tm = tiles_m + p.groups;
      blocks = tm * tn;
      break;
    case GroupMode::kGroupN:
      tn = tiles_n + p.groups;
      blocks = tm * tn;
      break;
  }
  if (blocks == 0) return;
  TORCH_CHECK(blocks <= INT32_MAX && p.groups <= kGroupedMaxGroups, "_grouped_mm: problem too large for the kernel");
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();
  if (p.a_k_major) {
    p.b_k_major ? run<true, true>(p, blocks, tm, tn, stream) : run<true, false>(p, blocks, tm, tn, stream);
  } else {
    p.b_k_major ? run<false, true>(p, blocks, tm, tn, stream) : run<false, false>(p, blocks, tm, tn, stream);
  }
}

}  // namespace gemforge::gemm
