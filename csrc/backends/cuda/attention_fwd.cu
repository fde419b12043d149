// Attention forward on tensor cores, FlashAttention-2's scheme. A block of 4 warps (one
// warpgroup) owns 64 query rows (16 a warp) of one (batch, head) and walks the key/value tiles:
// S = Q K^T on tensor cores, the online softmax in registers (running max and sum per row),
// O += P V with P taken straight from S's registers. Q, K and V tiles come through shared
// memory with cp.async, K and V double-buffered (tile j+1 loads while tile j is used).
//
// On Hopper, attention_fwd_sm90.cu's warp-specialized TMA kernel takes head dims 64/128/256
// (with a bias in 16-byte aligned rows; forward_sm90); this file serves the rest. Two
// instruction paths, picked by the card: on Hopper wgmma (S from Q and K in shared memory, P V
// with P from registers and V read transposed), tiles in wgmma's 128-byte-swizzled layout;
// elsewhere mma.sync m16n8k16 with ldmatrix, tiles XOR-swizzled by row so that ldmatrix reads
// hit 8 different bank groups. Both wait for each product before the softmax.
//
// Head dims up to 256 run in one of three tile widths (64, 128, 256 columns); columns past the
// real head dim are zero-filled on load, so they add nothing to Q K^T and are never stored.
#include "backends/attention.h"
#include "backends/cuda/launch.cuh"
#include "backends/cuda/mma_sync.cuh"
#include "backends/cuda/wgmma.cuh"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

namespace gemforge::attention::cuda {
namespace {

using namespace gemforge::cuda_mma;
using namespace gemforge::cuda_wgmma;

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kBlockM = 16 * kWarps;  // query rows of a block
// Key rows of a tile: 64, or 32 at head dim 256 where O alone takes 128 registers a thread.
template <int D> constexpr int kBlockN = D <= 128 ? 64 : 32;
constexpr float kLog2e = 1.4426950408889634f;

// The same rows in wgmma's canonical K-major layout with 128-byte swizzle: the head dim split
// into blocks of 64 columns (128 bytes), each block R rows of 128 bytes, chunk c of row r at
// c ^ (r & 7) within its row. Tiles start 1024-byte aligned.
template <int R, int CH>
__device__ __forceinline__ void load_tile_kmajor(uint32_t dst, const char* src, int64_t stride, int rows_valid,
                                                 int chunks_valid, const void* base) {
  static_assert((R * CH) % kThreads == 0, "tile chunks must spread evenly over the threads");
#pragma unroll
  for (int k = 0; k < R * CH / kThreads; ++k) {
    const int i = threadIdx.x + k * kThreads;
    const int r = i / CH, c = i % CH;
    const bool ok = r < rows_valid && c < chunks_valid;
    cp_async16(dst + (c / 8) * (R * 128) + r * 128 + (((c % 8) ^ (r & 7)) * 16),
               ok ? static_cast<const void*>(src + r * stride + c * 16) : base, ok ? 16 : 0);
  }
}

// kWg: S = Q K^T with wgmma (sm_90a) from Q and K tiles in wgmma's layout; else mma.sync.
template <class T, int D, bool kBias, bool kWg>
__global__ void __launch_bounds__(kThreads) forward_kernel(const Forward p) {
  constexpr int BN = kBlockN<D>;
  constexpr int CH = D / 8;         // 16-byte chunks a row
  constexpr int KD = D / 16;        // k16 steps over the head dim
  constexpr int NT = BN / 8;        // n8 tiles of S
  constexpr int DT = D / 8;         // n8 tiles of O
  constexpr bool kQInRegs = D <= 128 && !kWg;
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  // wgmma's swizzle atoms must start 1024-byte aligned (the launch adds 1024 bytes of slack).
  unsigned char* smem = smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023);
  T* sQ = reinterpret_cast<T*>(smem);
  T* sK = sQ + kBlockM * D;  // two K tiles, then two V tiles: tile j+1 loads while j is used
  T* sV = sK + 2 * BN * D;
  const uint32_t aQ = smem_addr(sQ), aK = smem_addr(sK), aV = smem_addr(sV);
  constexpr uint32_t kTileBytes = BN * D * sizeof(T);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const QueryBlock block = query_block<kBlockM, BN>(p.seq_q, p.seq_k, p.causal, p.causal_offset);
  const int64_t m0 = block.m0;
  const int num_n = block.num_n;
  const int64_t b = blockIdx.z, h = blockIdx.y;
  const int64_t hk = h / (p.heads_q / p.heads_kv);
  const int chunks_valid = static_cast<int>(p.head_dim / 8);
  constexpr int64_t es = sizeof(T);

  const char* q = static_cast<const char*>(p.q.data) + (b * p.q.batch_stride + h * p.q.head_stride + m0 * p.q.row_stride) * es;
  const char* k = static_cast<const char*>(p.k.data) + (b * p.k.batch_stride + hk * p.k.head_stride) * es;
  const char* v = static_cast<const char*>(p.v.data) + (b * p.v.batch_stride + hk * p.v.head_stride) * es;

  // Key and value tile jb into buffer jb % 2.
  auto load_kv = [&](int jb) {
    const int64_t n0 = int64_t(jb) * BN;
    const int rows_valid = static_cast<int>(p.seq_k - n0);
    const uint32_t buf = (jb & 1) * kTileBytes;
    if constexpr (kWg) {
      load_tile_kmajor<BN, CH>(aK + buf, k + n0 * p.k.row_stride * es, p.k.row_stride * es, rows_valid,
                               chunks_valid, p.k.data);
      load_tile_kmajor<BN, CH>(aV + buf, v + n0 * p.v.row_stride * es, p.v.row_stride * es, rows_valid,
                               chunks_valid, p.v.data);
    } else {
      load_tile<BN, CH, kThreads>(aK + buf, k + n0 * p.k.row_stride * es, p.k.row_stride * es, rows_valid, chunks_valid,
                        p.k.data);
      load_tile<BN, CH, kThreads>(aV + buf, v + n0 * p.v.row_stride * es, p.v.row_stride * es, rows_valid, chunks_valid,
                        p.v.data);
    }
  };
  if constexpr (kWg)
    load_tile_kmajor<kBlockM, CH>(aQ, q, p.q.row_stride * es, static_cast<int>(p.seq_q - m0), chunks_valid, p.q.data);
  else
    load_tile<kBlockM, CH, kThreads>(aQ, q, p.q.row_stride * es, static_cast<int>(p.seq_q - m0), chunks_valid, p.q.data);
  if (num_n > 0) load_kv(0);
  cp_async_commit();

  float o[DT][4];
#pragma unroll
  for (int i = 0; i < DT; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};
  uint32_t qf[kQInRegs ? KD : 1][4];
  const float scale_log2 = p.scale * kLog2e;
  const int64_t row0 = m0 + warp * 16 + g;  // this thread's rows: row0 and row0 + 8
  const char* bias_plane =
      kBias ? static_cast<const char*>(p.bias) + (b * p.bias_batch_stride + h * p.bias_head_stride) * es : nullptr;

  // ldmatrix addresses. Every row a lane addresses is lane % 8 modulo 8, so the swizzle XORs
  // chunk indices with x = lane % 8: chunk c sits at (c & ~7) | ((c & 7) ^ x). Per thread that
  // leaves 4 distinct low parts for each operand, kept in registers; the rest are immediates.
  const int x = lane % 8, mat = lane / 8;
  const uint32_t q_base = aQ + (warp * 16 + lane % 16) * CH * 16;
  const uint32_t k_base = aK + ((mat / 2) * 8 + x) * CH * 16;
  const uint32_t v_base = aV + ((mat % 2) * 8 + x) * CH * 16;
  uint32_t q_lo[4], k_lo[4], v_lo[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    q_lo[j] = ((2 * j + lane / 16) ^ x) * 16;
    k_lo[j] = ((2 * j + mat % 2) ^ x) * 16;
    v_lo[j] = ((2 * j + mat / 2) ^ x) * 16;
  }
  // Q fragment (A operand) of k16 step kk from shared memory.
  auto load_q = [&](int kk, uint32_t (&a)[4]) {
    ldsm(q_base + (kk / 4) * 128 + q_lo[kk % 4], a);
  };

  for (int jb = 0; jb < num_n; ++jb) {
    const int64_t n0 = int64_t(jb) * BN;
    const uint32_t buf = (jb & 1) * kTileBytes;
    if (jb + 1 < num_n) load_kv(jb + 1);  // into the buffer the previous tile used
    cp_async_commit();   // (possibly empty: keeps the group count uniform)
    cp_async_wait<1>();  // Q and this K and V tile have landed
    if constexpr (kWg) fence_async_smem();  // cp.async's writes, visible to wgmma's reads
    __syncthreads();
    if (kQInRegs && jb == 0) {
#pragma unroll
      for (int kk = 0; kk < (kQInRegs ? KD : 0); ++kk) load_q(kk, qf[kk]);
    }

    // S = Q K^T for this warp's 16 rows and the tile's keys.
    float s[NT][4];
#pragma unroll
    for (int i = 0; i < NT; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
    if constexpr (kWg) {
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < KD; ++kk)
        WgmmaSS<T, BN>::run(&s[0][0], kmajor_desc(aQ + (kk / 4) * (kBlockM * 128) + (kk % 4) * 32),
                          kmajor_desc(aK + buf + (kk / 4) * (BN * 128) + (kk % 4) * 32));
      wgmma_commit();
      wgmma_wait<0>();
    } else {
#pragma unroll
      for (int kk = 0; kk < KD; ++kk) {
        uint32_t a[4];
        if constexpr (kQInRegs) {
          a[0] = qf[kk][0]; a[1] = qf[kk][1]; a[2] = qf[kk][2]; a[3] = qf[kk][3];
        } else {
          load_q(kk, a);
        }
#pragma unroll
        for (int nt = 0; nt < NT; nt += 2) {
          uint32_t b[4];  // keys nt*8 .. nt*8+15, head dims kk*16 .. kk*16+15
          ldsm(k_base + buf + nt * 8 * CH * 16 + (kk / 4) * 128 + k_lo[kk % 4], b);
          Mma<T>::run(s[nt], a, b[0], b[1]);
          Mma<T>::run(s[nt + 1], a, b[2], b[3]);
        }
      }
    }

    // Scores into the log2 domain, bias and masks applied; the online softmax step.
    scores_log2<kBias, BN>(s, scale_log2, t, row0, m0, n0, p.seq_k, p.causal, p.causal_offset, [&](int r, int jj) {
      const int64_t i = row0 + r * 8;
      return i < p.seq_q
                 ? Mma<T>::load(bias_plane + (i * p.bias_row_stride + (n0 + jj) * p.bias_col_stride) * es) * kLog2e
                 : 0.f;
    });
    online_softmax(s, o, row_max, row_sum, [](float x) { return fast_exp2(x); });

    // O += P V: P's A fragments are S's accumulators, two n8 tiles per k16 step.
    uint32_t pa[BN / 16][4];
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      pa[kk][0] = Mma<T>::pack(s[2 * kk][0], s[2 * kk][1]);
      pa[kk][1] = Mma<T>::pack(s[2 * kk][2], s[2 * kk][3]);
      pa[kk][2] = Mma<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      pa[kk][3] = Mma<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
    }
    if constexpr (kWg) {
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < BN / 16; ++kk)
        WgmmaRS<T, D>::run(&o[0][0], pa[kk], mnmajor_desc(aV + buf + kk * 16 * 128, BN * 128));
      wgmma_commit();
      wgmma_wait<0>();
    } else {
#pragma unroll
      for (int kk = 0; kk < BN / 16; ++kk) {
#pragma unroll
        for (int dt = 0; dt < DT; dt += 2) {
          uint32_t b[4];  // keys kk*16 .. kk*16+15, head dims dt*8 .. dt*8+15
          ldsm_t(v_base + buf + kk * 16 * CH * 16 + (dt / 8) * 128 + v_lo[(dt % 8) / 2], b);
          Mma<T>::run(o[dt], pa[kk], b[0], b[1]);
          Mma<T>::run(o[dt + 1], pa[kk], b[2], b[3]);
        }
      }
    }
    __syncthreads();  // every warp is done with buffer jb % 2 before tile jb + 2 loads into it
  }
  cp_async_wait<0>();

  // out = O / sum; lse = ln(sum) + max.
  char* out = static_cast<char*>(p.out.data) + (b * p.out.batch_stride + h * p.out.head_stride) * es;
  store_out_lse<T>(o, row_max, row_sum, row0, t, p.seq_q, p.lse_rows, out, p.out.row_stride, p.head_dim,
                   p.lse != nullptr, [&](int64_t i) -> float& {
                     return p.lse[b * p.lse_batch_stride + h * p.lse_head_stride + i];
                   });
}

template <class T, int D, bool kWg>
void launch(const Forward& p) {
  const size_t smem = size_t(kBlockM + 4 * kBlockN<D>) * D * sizeof(T) + (kWg ? 1024 : 0);
  auto kernel = p.bias != nullptr ? forward_kernel<T, D, true, kWg> : forward_kernel<T, D, false, kWg>;
  if (smem > 48 * 1024) pw::cuda::raise_smem_limit(reinterpret_cast<const void*>(kernel), smem);
  const dim3 grid(static_cast<unsigned>((p.seq_q + kBlockM - 1) / kBlockM), static_cast<unsigned>(p.heads_q),
                  static_cast<unsigned>(p.batch));
  kernel<<<grid, kThreads, smem, c10::cuda::getCurrentCUDAStream()>>>(p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <class T, bool kWg>
void launch_dim(const Forward& p) {
  if (p.head_dim <= 64) launch<T, 64, kWg>(p);
  else if (p.head_dim <= 128) launch<T, 128, kWg>(p);
  else launch<T, 256, kWg>(p);
}

// wgmma on Hopper (1.2-1.3x the mma.sync kernel there); mma.sync elsewhere.
template <class T>
void launch_arch(const Forward& p) {
  if (forward_sm90(p)) return;  // warp-specialized TMA kernel (attention_fwd_sm90.cu)
  if (at::cuda::getCurrentDeviceProperties()->major == 9) launch_dim<T, true>(p);
  else launch_dim<T, false>(p);
}

}  // namespace

bool supported(const Forward& p) {
  if (p.dtype == ScalarType::Float) return fp32_supported(p);
  if (p.dtype != ScalarType::Half && p.dtype != ScalarType::BFloat16) return false;
  if (p.head_dim <= 0 || p.head_dim > 256 || p.head_dim % 8 != 0) return false;
  if (p.heads_kv <= 0 || p.heads_q % p.heads_kv != 0) return false;
  if (p.batch > 65535 || p.heads_q > 65535 || (p.seq_q + kBlockM - 1) / kBlockM > INT32_MAX) return false;
  if (p.seq_q >= (int64_t(1) << 31) || p.seq_k >= (int64_t(1) << 31)) return false;
  for (const Operand* o : {&p.q, &p.k, &p.v, &p.out})
    if (!rows_in_16_byte_chunks(*o, 2)) return false;
  return true;
}

void forward(const Forward& p) {
  if (p.dtype == ScalarType::Float) return forward_fp32(p);
  if (p.batch == 0 || p.heads_q == 0 || p.seq_q == 0) return;
  if (p.dtype == ScalarType::BFloat16) launch_arch<__nv_bfloat16>(p);
  else launch_arch<__half>(p);
}

}  // namespace gemforge::attention::cuda
