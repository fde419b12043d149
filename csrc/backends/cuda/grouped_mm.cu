// _grouped_mm on cuda: bf16 tensor-core GEMM over many groups in one launch (backends/gemm_ext.h).
//
// Each block computes one 128x128 tile of one group's output, with 8 warps (2 along M x 4
// along N, 64x32 each) issuing mma.sync m16n8k16 (bf16 in, fp32 accumulate) on fragments read
// by ldmatrix from a 4-stage cp.async pipeline of 128x32 (A) and 32x128 (B) tiles. A tile never
// crosses a group's edge: rows/columns/k past it are zero-filled by cp.async (src-size) and not
// stored. The group offsets stay on the device: a block of the grouped-M (grouped-N) layout
// finds its group and tile by a warp scan of the offsets' tile counts, and blocks past the last
// tile (the grid is sized for the worst case, ceil(total / 128) + G tiles) exit at once.
//
// Shared-memory tiles, bf16, XOR-swizzled in 16-byte chunks so that ldmatrix and cp.async are
// free of bank conflicts:
//   k-major  [128 rows][32 k]   chunk c (0..3) of row r at c ^ ((r >> 1) & 3)
//   mn-major [32 k][128 rows]   chunk c (0..15) of row k at c ^ (k & 7)
// A k-major operand is read with ldmatrix, an mn-major one with ldmatrix.trans.
#include "backends/cuda/launch.cuh"
#include "backends/gemm_ext.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_bf16.h>

#include <atomic>
#include <cstdint>

namespace gemforge::gemm {
namespace {

using pw::cuda::launch_with_smem;
using pw::cuda::pdl_begin;

constexpr int kBM = 128, kBN = 128, kBK = 32;
constexpr int kStages = 4;
constexpr int kThreads = 256;               // 8 warps: 2 (M) x 4 (N)
constexpr int kWarpM = 64, kWarpN = 32;
constexpr int kTileElems = kBM * kBK;       // one operand's stage (== kBK * kBN)
constexpr int kStageElems = 2 * kTileElems; // A then B
constexpr int kSmemBytes = kStages * kStageElems * 2;
constexpr int kPanel = 16;                  // M tiles swept together along N (L2 reuse)
constexpr int kOutPitch = kBN + 8;          // the epilogue's staging row, elements
constexpr int kMaxGroups = int(kGroupedMaxGroups);
static_assert(kBM == kBN && kTileElems == kBK * kBN, "square tiles: one tile size for A and B");
static_assert(kBM * kOutPitch * 2 <= kSmemBytes, "the epilogue stages the tile in the pipeline's memory");
static_assert((kBM * kBK / 8) % kThreads == 0, "whole 16-byte chunks per thread");

using bf16_raw = uint16_t;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes from src to dst; bytes < 16 zero-fill the rest (0: all zeros, src is not read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ int kmajor_at(int row, int chunk) {  // element offset in a k-major tile
  return row * kBK + ((chunk ^ ((row >> 1) & 3)) << 3);
}
__device__ __forceinline__ int mnmajor_at(int krow, int chunk) {  // element offset in an mn-major tile
  return krow * kBM + ((chunk ^ (krow & 7)) << 3);
}

__device__ __forceinline__ int clamp_bytes(int64_t elems) {
  return elems <= 0 ? 0 : elems >= 8 ? 16 : int(elems) * 2;
}

// One operand's 128 (rows: m of A, n of B) x 32 (k) tile into shared memory. x(r, k) is at
// base + r * r_stride + k * k_stride (one of them 1, as KMajor says); rows r_lo.. < r_hi and
// k k0.. < k_hi are real, the rest zeros.
template <bool KMajor>
__device__ __forceinline__ void load_tile(bf16_raw* tile, const bf16_raw* base, int64_t ld, int64_t r_lo,
                                          int64_t r_hi, int64_t k0, int64_t k_hi, int tid) {
#pragma unroll
  for (int i = 0; i < kBM * kBK / 8 / kThreads; ++i) {
    const int q = tid + i * kThreads;
    if constexpr (KMajor) {
      const int row = q >> 2, c = q & 3;
      const int64_t r = r_lo + row, k = k0 + c * 8;
      const int bytes = r < r_hi ? clamp_bytes(k_hi - k) : 0;
      cp_async16(tile + kmajor_at(row, c), bytes ? base + r * ld + k : base, bytes);
    } else {
      const int kr = q >> 4, c = q & 15;
      const int64_t k = k0 + kr, r = r_lo + c * 8;
      const int bytes = k < k_hi ? clamp_bytes(r_hi - r) : 0;
      cp_async16(tile + mnmajor_at(kr, c), bytes ? base + k * ld + r : base, bytes);
    }
  }
}

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

// Grouped M/N: which group holds tile t of the grouped dimension (tiles counted group after
// group), and its first row there. Warp 0 scans; false (every thread) past the last tile.
__device__ bool find_group(const int* s_offs, int groups, int64_t total, int64_t t, int& g_out,
                           int64_t& lo_out, int64_t& hi_out, int64_t* s_info) {
  const int lane = threadIdx.x & 31;
  if (threadIdx.x < 32) {
    int64_t carry = 0, found_g = -1, found_lo = 0, found_hi = 0;
    for (int base = 0; base < groups; base += 32) {
      const int g = base + lane;
      int64_t start = 0, end = 0;
      if (g < groups) group_range(s_offs, g, total, start, end);
      const int64_t tiles = (end - start + kBM - 1) / kBM;
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
        found_g = base + l;
        found_lo = lo + (t - before) * kBM;
        found_hi = found_lo + kBM < hi ? found_lo + kBM : hi;
        break;
      }
      carry += __shfl_sync(0xffffffffu, incl, 31);
    }
    if (lane == 0) {
      s_info[0] = found_g;
      s_info[1] = found_lo;
      s_info[2] = found_hi;
    }
  }
  __syncthreads();
  g_out = int(s_info[0]);
  lo_out = s_info[1];
  hi_out = s_info[2];
  return g_out >= 0;
}

template <bool AK, bool BK>
__global__ void __launch_bounds__(kThreads, 2) grouped_mm_kernel(GroupedMm p, int64_t tm, int64_t tn) {
  extern __shared__ __align__(128) bf16_raw smem[];
  __shared__ int s_offs[kMaxGroups];
  __shared__ int64_t s_info[3];
  pdl_begin();
  const int tid = threadIdx.x;
  const int groups = int(p.groups);

  // ---- which tile: (group, rows, columns, k range) ----
  Work w;
  if (p.mode == GroupMode::kBatched || p.mode == GroupMode::kGroupK) {
    const int64_t per_group = tm * tn;
    w.g = int(blockIdx.x / per_group);
    int64_t t_m, t_n;
    panel_order(blockIdx.x - w.g * per_group, tm, tn, t_m, t_n);
    w.m_lo = t_m * kBM;
    w.m_hi = w.m_lo + kBM < p.m ? w.m_lo + kBM : p.m;
    w.n_lo = t_n * kBN;
    w.n_hi = w.n_lo + kBN < p.n ? w.n_lo + kBN : p.n;
    w.k_lo = 0;
    w.k_hi = p.k;
    if (p.mode == GroupMode::kGroupK) {
      if (tid == 0) {
        int64_t s, e;
        const int* offs = p.offs;
        const int64_t prev = w.g == 0 ? 0 : offs[w.g - 1];
        s = prev < 0 ? 0 : prev > p.k ? p.k : prev;
        const int64_t end = offs[w.g];
        e = end < s ? s : end > p.k ? p.k : end;
        s_info[0] = s;
        s_info[1] = e;
      }
      __syncthreads();
      w.k_lo = s_info[0];
      w.k_hi = s_info[1];
    }
  } else {
    for (int i = tid; i < groups; i += kThreads) s_offs[i] = p.offs[i];
    __syncthreads();
    int64_t t_m, t_n;
    panel_order(blockIdx.x, tm, tn, t_m, t_n);
    w.k_lo = 0;
    w.k_hi = p.k;
    if (p.mode == GroupMode::kGroupM) {
      if (!find_group(s_offs, groups, p.m, t_m, w.g, w.m_lo, w.m_hi, s_info)) return;
      w.n_lo = t_n * kBN;
      w.n_hi = w.n_lo + kBN < p.n ? w.n_lo + kBN : p.n;
    } else {
      if (!find_group(s_offs, groups, p.n, t_n, w.g, w.n_lo, w.n_hi, s_info)) return;
      w.m_lo = t_m * kBM;
      w.m_hi = w.m_lo + kBM < p.m ? w.m_lo + kBM : p.m;
    }
  }

  // ---- operands of group g ----
  const bf16_raw* a = static_cast<const bf16_raw*>(p.a) + (p.mode == GroupMode::kGroupM || p.mode == GroupMode::kGroupK ? 0 : int64_t(w.g) * p.a_bs);
  const bf16_raw* b = static_cast<const bf16_raw*>(p.b) + (p.mode == GroupMode::kGroupN || p.mode == GroupMode::kGroupK ? 0 : int64_t(w.g) * p.b_bs);
  bf16_raw* out = static_cast<bf16_raw*>(p.out) + (p.mode == GroupMode::kBatched || p.mode == GroupMode::kGroupK ? int64_t(w.g) * p.out_bs : 0);

  const int lane = tid & 31, warp = tid >> 5;
  const int wm = warp >> 2, wn = warp & 3;  // this warp's 64x32 piece: rows wm*64, cols wn*32
  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

  const int k_tiles = int((w.k_hi - w.k_lo + kBK - 1) / kBK);
  auto load_stage = [&](int kt) {
    bf16_raw* sa = smem + (kt % kStages) * kStageElems;
    bf16_raw* sb = sa + kTileElems;
    const int64_t k0 = w.k_lo + kt * kBK;
    load_tile<AK>(sa, a, p.a_ld, w.m_lo, w.m_hi, k0, w.k_hi, tid);
    load_tile<BK>(sb, b, p.b_ld, w.n_lo, w.n_hi, k0, w.k_hi, tid);
  };

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < k_tiles) load_stage(s);
    cp_async_commit();
  }

  for (int kt = 0; kt < k_tiles; ++kt) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // stage kt landed for every thread; stage kt-1 is free again
    if (kt + kStages - 1 < k_tiles) load_stage(kt + kStages - 1);
    cp_async_commit();

    const bf16_raw* sa = smem + (kt % kStages) * kStageElems;
    const bf16_raw* sb = sa + kTileElems;
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      uint32_t af[4][4], bfr[4][2];
#pragma unroll
      for (int mi = 0; mi < 4; ++mi) {
        const int r0 = wm * kWarpM + mi * 16;
        if constexpr (AK) {
          const int row = r0 + (lane & 7) + ((lane >> 3) & 1) * 8;
          ldmatrix_x4(af[mi], sa + kmajor_at(row, kk * 2 + (lane >> 4)));
        } else {
          const int krow = kk * 16 + (lane & 7) + (lane >> 4) * 8;
          ldmatrix_x4_trans(af[mi], sa + mnmajor_at(krow, (r0 >> 3) + ((lane >> 3) & 1)));
        }
      }
#pragma unroll
      for (int pr = 0; pr < 2; ++pr) {
        const int n0 = wn * kWarpN + pr * 16;
        uint32_t r[4];
        if constexpr (BK) {
          const int row = n0 + (lane & 7) + (lane >> 4) * 8;
          ldmatrix_x4(r, sb + kmajor_at(row, kk * 2 + ((lane >> 3) & 1)));
        } else {
          const int krow = kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
          ldmatrix_x4_trans(r, sb + mnmajor_at(krow, (n0 >> 3) + (lane >> 4)));
        }
        bfr[2 * pr][0] = r[0];
        bfr[2 * pr][1] = r[1];
        bfr[2 * pr + 1][0] = r[2];
        bfr[2 * pr + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) mma_bf16(acc[mi][ni], af[mi], bfr[ni][0], bfr[ni][1]);
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // the pipeline's memory becomes the epilogue's staging tile

  // ---- epilogue: bf16 tile in shared memory, then 16-byte stores of the rows in range ----
  const int gid = lane >> 2, tig = lane & 3;
#pragma unroll
  for (int mi = 0; mi < 4; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      const int row = wm * kWarpM + mi * 16 + gid, col = wn * kWarpN + ni * 8 + tig * 2;
      __nv_bfloat162 lo = __floats2bfloat162_rn(acc[mi][ni][0], acc[mi][ni][1]);
      __nv_bfloat162 hi = __floats2bfloat162_rn(acc[mi][ni][2], acc[mi][ni][3]);
      *reinterpret_cast<__nv_bfloat162*>(smem + row * kOutPitch + col) = lo;
      *reinterpret_cast<__nv_bfloat162*>(smem + (row + 8) * kOutPitch + col) = hi;
    }
  __syncthreads();
#pragma unroll
  for (int i = 0; i < kBM * kBN / 8 / kThreads; ++i) {
    const int q = tid + i * kThreads;
    const int r = q >> 4, c = q & 15;
    const int64_t m = w.m_lo + r, n = w.n_lo + c * 8;
    if (m >= w.m_hi || n >= w.n_hi) continue;
    bf16_raw* dst = out + m * p.out_ld + n;
    const bf16_raw* src = smem + r * kOutPitch + c * 8;
    if (n + 8 <= w.n_hi && reinterpret_cast<uintptr_t>(dst) % 16 == 0) {
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
    } else {
      for (int e = 0; e < 8 && n + e < w.n_hi; ++e) dst[e] = src[e];
    }
  }
}

template <bool AK, bool BK>
void run(const GroupedMm& p, int64_t blocks, int64_t tm, int64_t tn, cudaStream_t stream) {
  launch_with_smem(grouped_mm_kernel<AK, BK>, dim3(unsigned(blocks)), dim3(kThreads), size_t(kSmemBytes), stream,
                   p, tm, tn);
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
