// Attention forward for Hopper (sm_90a), FlashAttention-3's structure: warp-specialized, with
// the tensor-memory accelerator (TMA) feeding the tensor cores.
//
// A block of a producer warpgroup and two consumer warpgroups (three at head dim 64) works on
// tiles of 64 query rows a consumer of one (batch, head); without a causal mask it is persistent
// (one block an SM, looping over tiles, the next tile's loads overlapping the last one's end),
// with one the blocks draw tiles from a counter:
// - the producer warpgroup (one thread of it, really) issues TMA copies: a tile's Q once, then
//   the K and V tiles of each key block into a ring (kStagesOf); each copy completes on an
//   mbarrier ("full"), and the consumers hand a stage back through another ("empty");
// - the consumer warpgroups, 64 rows each, compute S = Q K^T (wgmma from shared memory), the
//   online softmax in registers and O += P V (wgmma, P from registers). Within a warpgroup the
//   softmax of key block j overlaps the P V product of block j - 1: S_j is issued, then
//   P_{j-1} V_{j-1}; the softmax waits for S_j only, and O is rescaled once P V has landed.
// The producer gives its registers to the consumers (setmaxnreg): 40 against 232 a thread (32
// against 160 with three consumers).
//
// TMA loads the tiles in wgmma's 128-byte-swizzled layout (64 head-dim columns, 128 bytes, a
// box) and zero-fills rows past the sequence ends, so tails need no special loads. Head dims
// 64, 128 and 256 only (a box is 64 columns); attention_fwd.cu serves the rest.
//
// An additive bias (torch's float attn_mask, broadcast through zero strides) becomes the S
// product's starting value: S = bias / scale + Q K^T, so that the softmax, which scales S, sees
// S scale + bias and needs no registers of its own for it. The producer warpgroup's other three
// warps copy each key block's bias tile (128 query rows, or the one row of a padding mask, by
// the block's keys) into a two-stage ring in shared memory with cp.async, ahead of the
// consumers, which read their fragment from there (16-byte chunks XOR-swizzled by row: no bank
// conflicts).
#include "backends/attention.h"
#include "backends/cuda/launch.cuh"
#include "backends/cuda/mma_sync.cuh"
#include "backends/cuda/tma.cuh"
#include "backends/cuda/wgmma.cuh"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda.h>
#include <cudaTypedefs.h>

#include <cmath>
#include <cstdint>

namespace gemforge::attention::cuda {
namespace {

using namespace gemforge::cuda_mma;
using namespace gemforge::cuda_tma;
using namespace gemforge::cuda_wgmma;

// Consumer warpgroups (C), 64 query rows each: 2, or at head dim 64, where the softmax weighs
// most against the products, 3 (FlashAttention-3's 192-row tiles: each warpgroup's softmax
// hides behind two others' products; consumers_at_64 says when).
template <int C> constexpr int kThreadsOf = 128 * (1 + C);  // plus the producer warpgroup
constexpr int kMaxBlockM = 192;
// Stages of the key/value ring: 3 at head dim 64 (1-4% faster than 2 on an H100 at S512-4096,
// up to 9% causal on an H200) unless a bias ring of 192 rows leaves no room, 2 above, where a
// third leaves no room (scripts/dev/attention_probe.py builds others to compare).
#ifndef GEMFORGE_ATTENTION_STAGES
template <int D, bool kBias, int C> constexpr int kStagesOf = D <= 64 ? (kBias && C == 3 ? 2 : 3) : 2;
#else
template <int D, bool kBias, int C> constexpr int kStagesOf = D <= 128 ? GEMFORGE_ATTENTION_STAGES : 2;
#endif
// Key rows of a tile: 128, or 64 at head dim 256 where O alone takes 128 registers a thread.
template <int D> constexpr int kBlockN = D <= 128 ? 128 : 64;
constexpr float kLog2e = 1.4426950408889634f;
// The running max a row's P is taken against moves only when a new score exceeds it by more
// than this (log2 domain: P up to 2^8, which fp32 sums and bf16/fp16 P hold as well as P <= 1),
// so that O is rescaled, DT * 4 multiplies a thread, only in the few key blocks that raise a
// row's max that far, not in every one (FlashAttention-4's lazy rescaling). The softmax's FP32
// work is what bounds these kernels at short sequences. 0: rescale whenever the max moves.
#ifndef GEMFORGE_ATTENTION_LAZY_RESCALE  // scripts/dev/attention_probe.py builds 0 to compare
#define GEMFORGE_ATTENTION_LAZY_RESCALE 1
#endif
constexpr float kMaxSlack = GEMFORGE_ATTENTION_LAZY_RESCALE ? 8.f : 0.f;
constexpr int kBiasLoaders = 96;  // the producer warpgroup's warps 1-3

// Named barriers 1 and 2 (0 is __syncthreads) over both consumer warpgroups.
__device__ __forceinline__ void bar_sync(int id) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "n"(256) : "memory"); }
__device__ __forceinline__ void bar_arrive(int id) { asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "n"(256) : "memory"); }

template <class T, int D, bool kBias, int C>
__global__ void __launch_bounds__(kThreadsOf<C>, 1)
    forward_sm90_kernel(const __grid_constant__ CUtensorMap tq, const __grid_constant__ CUtensorMap tk,
                        const __grid_constant__ CUtensorMap tv, const Forward p, int* tile_counter) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int BN = kBlockN<D>;
  constexpr int KB = D / 64;  // 64-column boxes of a tile row
  constexpr int NT = BN / 8;  // n8 tiles of S
  constexpr int DT = D / 8;   // n8 tiles of O
  constexpr int kStages = kStagesOf<D, kBias, C>;
  constexpr int kConsumers = C, kBlockM = 64 * C;
  constexpr uint32_t kQBytes = kBlockM * D * sizeof(T), kTileBytes = BN * D * sizeof(T);
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  const uint32_t base = smem_addr(smem_raw);
  const uint32_t aQ = base + ((1024 - (base & 1023)) & 1023);  // swizzle atoms: 1024-byte aligned
  constexpr uint32_t kBiasBytes = kBlockM * BN * sizeof(T);  // a stage of the bias ring
  const uint32_t aK = aQ + kQBytes, aV = aK + kStages * kTileBytes;
  const uint32_t aB = aV + kStages * kTileBytes;  // kBias: the bias ring
  const uint32_t bars = aB + (kBias ? 2 * kBiasBytes : 0);
  const uint32_t q_full = bars;
  auto k_full = [&](int s) { return bars + 8 + 8 * s; };
  auto v_full = [&](int s) { return bars + 8 + 8 * kStages + 8 * s; };
  auto k_empty = [&](int s) { return bars + 8 + 16 * kStages + 8 * s; };
  auto v_empty = [&](int s) { return bars + 8 + 24 * kStages + 8 * s; };

  const uint32_t q_empty = bars + 8 + 32 * kStages;
  auto bias_full = [&](int s) { return q_empty + 8 + 8 * s; };
  auto bias_empty = [&](int s) { return q_empty + 24 + 8 * s; };
  // The producer announces each tile it loads here (an index, or -1 for the end), before the
  // tile's Q arrives on q_full: the consumers (and the bias loaders) read it once that barrier
  // completes.
  volatile int64_t* tile_slot = reinterpret_cast<volatile int64_t*>(smem_raw + (q_empty + 40 - base));

  // Persistent: block i takes tiles i, i + gridDim.x, ...; a tile is 128 query rows of one
  // (batch, head). Tiles of one head are consecutive, so the blocks running at any time share
  // the key and value tiles of a few heads through L2 (ordered by query block first, they would
  // stream 132 heads' keys from memory at once: 35% slower at S4096). Within a head the last
  // query block goes first: with a causal mask it sees the most keys.
  const int64_t num_m = (p.seq_q + kBlockM - 1) / kBlockM;
  const int64_t bh = p.batch * p.heads_q;
  const int64_t num_tiles = num_m * bh;
  // A tile's rows: q rows q_start + m0 .., keys k_start .. k_start + len_k (packed sequences:
  // the sequence's span; dense: the head's, starting at 0). Tiles past a packed sequence's end
  // are skipped by every warpgroup alike.
  struct Tile {
    int64_t m0, len_q, len_k, offset;
    int q_start, k_start, b, h, hk, num_n;
    int tb;  // the batch coordinate of the tensor maps: 0 for packed sequences
    bool skip;
  };
  auto tile_at = [&](int64_t i) {
    Tile tl;
    const int64_t mr = i % num_m, r = i / num_m;
    tl.m0 = (p.causal ? num_m - 1 - mr : mr) * kBlockM;
    tl.b = static_cast<int>(r / p.heads_q);
    tl.h = static_cast<int>(r % p.heads_q);
    tl.hk = static_cast<int>(tl.h / (p.heads_q / p.heads_kv));
    tl.tb = p.cu_seqlens_q != nullptr ? 0 : tl.b;
    if (p.cu_seqlens_q != nullptr) {
      tl.q_start = p.cu_seqlens_q[tl.b];
      tl.k_start = p.cu_seqlens_k[tl.b];
      tl.len_q = p.cu_seqlens_q[tl.b + 1] - tl.q_start;
      tl.len_k = p.cu_seqlens_k[tl.b + 1] - tl.k_start;
      tl.offset = tl.len_k - tl.len_q;
      tl.skip = tl.m0 >= tl.len_q;
      // num_m counts tiles of the longest sequence: a causal schedule starts a sequence at ITS
      // last tile
      if (p.causal) {
        const int64_t own = (tl.len_q + kBlockM - 1) / kBlockM;
        tl.m0 = mr < own ? (own - 1 - mr) * kBlockM : tl.len_q;
        tl.skip = mr >= own;
      }
    } else {
      tl.q_start = tl.k_start = 0;
      tl.len_q = p.seq_q;
      tl.len_k = p.seq_k;
      tl.offset = p.causal_offset;
      tl.skip = false;
    }
    int64_t kv_end = tl.len_k;
    if (p.causal) {  // keys up to the last row's limit
      const int64_t last_row = (tl.m0 + kBlockM < tl.len_q ? tl.m0 + kBlockM : tl.len_q) - 1;
      const int64_t lim = last_row + tl.offset + 1;
      kv_end = lim < kv_end ? lim : kv_end;
    }
    tl.num_n = !tl.skip && kv_end > 0 ? static_cast<int>((kv_end + BN - 1) / BN) : 0;
    return tl;
  };
  // The next tile the producer announced (read once q_full's phase n completes, n counting the
  // announcements); false at the end. The consumers and the bias loaders walk the tiles so.
  auto next_tile = [&](int& n, Tile& tl) {
    mbar_wait(q_full, n & 1);
    ++n;
    const int64_t i = *tile_slot;
    if (i < 0) return false;
    tl = tile_at(i);
    return true;
  };

  if (threadIdx.x == 0) {
    mbar_init(q_full, 1);
    mbar_init(q_empty, 4 * kConsumers);  // one arrival a consumer warp
    for (int s = 0; s < kStages; ++s) {
      mbar_init(k_full(s), 1);
      mbar_init(v_full(s), 1);
      mbar_init(k_empty(s), 4 * kConsumers);
      mbar_init(v_empty(s), 4 * kConsumers);
    }
    for (int s = 0; s < 2; ++s) {
      mbar_init(bias_full(s), kBiasLoaders);  // each loader's copies (cp.async ... arrive.noinc)
      mbar_init(bias_empty(s), 4 * kConsumers);
    }
    mbar_init_fence();
  }
  __syncthreads();

  if (threadIdx.x < 128) {
    // Producer: Q of each tile once its predecessor's last S = Q K^T is done, then the key and
    // value tiles through the ring (`it` counts them over all tiles: stage it % kStages).
    if constexpr (kConsumers == 3) asm volatile("setmaxnreg.dec.sync.aligned.u32 32;\n");
    else asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    if (threadIdx.x == 0) {
      // Tiles: blockIdx.x first, then the next one a global counter hands out (whichever block
      // is free takes it), or (no counter) every gridDim.x-th.
      int it = 0, n = 0;
      for (int64_t i = blockIdx.x;; i = tile_counter ? gridDim.x + atomicAdd(tile_counter, 1) : i + gridDim.x) {
        if (i >= num_tiles) {
          mbar_wait(q_empty, (n & 1) ^ 1);
          *tile_slot = -1;
          mbar_arrive(q_full);
          break;
        }
        const Tile tl = tile_at(i);
        if (tl.skip) continue;
        mbar_wait(q_empty, (n & 1) ^ 1);
        ++n;
        *tile_slot = i;
        mbar_expect_tx(q_full, kQBytes);
#pragma unroll
        for (int kb = 0; kb < KB; ++kb)
          tma_load(aQ + kb * kBlockM * 128, &tq, q_full, kb * 64, int(tl.q_start + tl.m0), tl.h, tl.tb);
        for (int j = 0; j < tl.num_n; ++j, ++it) {
          const int s = it % kStages;
          const uint32_t ph = (it / kStages) & 1;
          mbar_wait(k_empty(s), ph ^ 1);
          mbar_expect_tx(k_full(s), kTileBytes);
#pragma unroll
          for (int kb = 0; kb < KB; ++kb)
            tma_load(aK + s * kTileBytes + kb * BN * 128, &tk, k_full(s), kb * 64, tl.k_start + j * BN, tl.hk,
                     tl.tb);
          mbar_wait(v_empty(s), ph ^ 1);
          mbar_expect_tx(v_full(s), kTileBytes);
#pragma unroll
          for (int kb = 0; kb < KB; ++kb)
            tma_load(aV + s * kTileBytes + kb * BN * 128, &tv, v_full(s), kb * 64, tl.k_start + j * BN, tl.hk,
                     tl.tb);
        }
      }
    }
    if constexpr (kBias) {
      if (threadIdx.x >= 128 - kBiasLoaders) {
        // Bias loaders: each tile thread 0 announces (q_full's phase n), then its key blocks'
        // bias tiles through the ring (`bt` counts them over all tiles, as the consumers' `it`).
        // Row r of a stage holds query row m0 + r (or the padding mask's row), BN / 8 chunks of
        // 16 bytes, chunk c at c ^ (r % 8); chunks past the keys or rows past the queries are
        // zero-filled.
        constexpr int64_t es = sizeof(T);
        constexpr int CH = BN / 8;
        const int lt = threadIdx.x - (128 - kBiasLoaders);
        const bool one_row = p.bias_row_stride == 0;
        const int rows = one_row ? 1 : kBlockM;
        int bt = 0, n = 0;
        for (Tile tl; next_tile(n, tl);) {
          const char* plane = static_cast<const char*>(p.bias) +
                              (int64_t(tl.b) * p.bias_batch_stride + int64_t(tl.h) * p.bias_head_stride) * es;
          for (int j = 0; j < tl.num_n; ++j, ++bt) {
            const int st = bt % 2;
            mbar_wait(bias_empty(st), ((bt / 2) & 1) ^ 1);
            const int64_t n0 = int64_t(j) * BN;
            for (int c = lt; c < rows * CH; c += kBiasLoaders) {
              const int r = c / CH, ch = c % CH;
              const int64_t qrow = tl.m0 + r, col = n0 + ch * 8, left = tl.len_k - col;
              const int bytes = (one_row || qrow < tl.len_q) ? (left >= 8 ? 16 : left > 0 ? int(left) * 2 : 0) : 0;
              const char* src = bytes > 0 ? plane + (qrow * p.bias_row_stride + col) * es : plane;
              const uint32_t dst = aB + st * kBiasBytes + r * (BN * 2) + ((ch ^ (r & 7)) * 16);
              asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes)
                           : "memory");
            }
            asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bias_full(st)) : "memory");
          }
        }
        asm volatile("cp.async.wait_all;\n" ::: "memory");
      }
    }
    return;
  }

  // Consumers.
  if constexpr (kConsumers == 3) asm volatile("setmaxnreg.inc.sync.aligned.u32 160;\n");
  else asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
  const int cw = threadIdx.x / 128 - 1;
  const int warp = (threadIdx.x / 32) % 4, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const uint32_t qa = aQ + cw * 64 * 128;
  const float scale_log2 = p.scale * kLog2e;

  float o[DT][4];
  float s[NT][4];
  uint32_t pa[BN / 16][4];
  float row_max[2], row_sum[2];
  int64_t m0 = 0, row0 = 0;  // the tile's first row; this thread's rows: row0 and row0 + 8
  int64_t len_k = 0, offset = 0;

  // S = Q K^T, or bias / scale + Q K^T: S starts as the bias (fill_bias).
  auto issue_qk = [&](int stage) {
    const uint32_t kt = aK + stage * kTileBytes;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)  // without a bias the first step overwrites S
      WgmmaSS<T, BN>::run(&s[0][0], kmajor_desc(qa + (kk / 4) * (kBlockM * 128) + (kk % 4) * 32),
                          kmajor_desc(kt + (kk / 4) * (BN * 128) + (kk % 4) * 32), kBias || kk > 0);
    wgmma_commit();
  };
  auto issue_pv = [&](int stage) {
    const uint32_t vt = aV + stage * kTileBytes;
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) WgmmaRS<T, D>::run(&o[0][0], pa[kk], mnmajor_desc(vt + kk * 16 * 128, BN * 128));
    wgmma_commit();
  };
  // A stage (or Q) is free once every consumer warp's products that read it have completed.
  auto release = [&](uint32_t bar) {
    __syncwarp();  // every lane is done with it (the tile slot included)
    if (lane == 0) mbar_arrive(bar);
  };
  auto fence_s = [&] {
#pragma unroll
    for (int i = 0; i < NT; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) fence_operand(s[i][e]);
  };
  auto fence_o = [&] {
#pragma unroll
    for (int i = 0; i < DT; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) fence_operand(o[i][e]);
  };
  // S = bias / scale of key block number bt (counted over all tiles) from the bias ring, which
  // stage is handed back once read. Called before the warpgroup's turn: the wait stays off the
  // tensor cores' schedule.
  const float inv_scale = 1.f / p.scale;
  auto fill_bias = [&](int bt) {
    if constexpr (kBias) {
      const int st = bt % 2;
      mbar_wait(bias_full(st), (bt / 2) & 1);
      const bool one_row = p.bias_row_stride == 0;
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int lr = one_row ? 0 : cw * 64 + warp * 16 + g + r * 8;
        const uint32_t row = aB + st * kBiasBytes + lr * (BN * 2) + 4 * t;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          uint32_t v;
          asm volatile("ld.shared.b32 %0, [%1];\n" : "=r"(v) : "r"(row + ((nt ^ (lr & 7)) * 16)));
          const float2 b = Mma<T>::unpack(v);
          s[nt][2 * r] = b.x * inv_scale;
          s[nt][2 * r + 1] = b.y * inv_scale;
        }
      }
      release(bias_empty(st));
    }
  };
  // Masks S_j, turns it into P_j = 2^(S - max) in place; alpha: the rescale of what came before.
  // Returns whether any row of the warp has alpha != 1 (O needs the rescale).
  auto softmax = [&](int j, float (&alpha)[2]) {
    const int64_t n0 = int64_t(j) * BN;
    const bool tail = n0 + BN > len_k;
    const bool diag = p.causal && n0 + BN - 1 > m0 + cw * 64 + offset;
    const int kv_left = static_cast<int>(len_k - n0 < BN ? len_k - n0 : BN);
    int limit[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int64_t l = row0 + r * 8 + offset - n0;
      limit[r] = static_cast<int>(l < -1 ? -1 : (l > BN ? BN : l));
    }
    if (tail || diag) {  // the same for the whole warpgroup: no divergence
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int jj = nt * 8 + 2 * t + (e % 2);
          if ((tail && jj >= kv_left) || (diag && jj > limit[e / 2])) s[nt][e] = -INFINITY;
        }
    }
    // Maxima of the raw scores (scale > 0, see forward_sm90), then P = 2^(S scale log2(e) - max)
    // in one fused multiply-add an element; row_max is kept in the scaled log2 domain.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      mx = fmaxf(row_max[r], mx * scale_log2);
      if (!(mx > row_max[r] + kMaxSlack)) mx = row_max[r];  // within the slack: the max stays
      const float base_r = mx == -INFINITY ? 0.f : mx;  // a row with no key yet stays at zero
      alpha[r] = mx == row_max[r] ? 1.f : fast_exp2(row_max[r] - base_r);
      row_max[r] = mx;
      float sum = 0.f;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        s[nt][2 * r] = fast_exp2(fmaf(s[nt][2 * r], scale_log2, -base_r));
        s[nt][2 * r + 1] = fast_exp2(fmaf(s[nt][2 * r + 1], scale_log2, -base_r));
        sum += s[nt][2 * r] + s[nt][2 * r + 1];
      }
      row_sum[r] = row_sum[r] * alpha[r] + sum;  // this thread's columns; the quad adds up at the end
    }
    return __any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f);
  };
  auto pack_p = [&] {
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      pa[kk][0] = Mma<T>::pack(s[2 * kk][0], s[2 * kk][1]);
      pa[kk][1] = Mma<T>::pack(s[2 * kk][2], s[2 * kk][3]);
      pa[kk][2] = Mma<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      pa[kk][3] = Mma<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
    }
  };

  // The consumer warpgroups take turns to issue their products (FlashAttention-3's ping-pong):
  // while one runs its softmax on the SFU, the others' products keep the tensor cores busy. Turn
  // k of warpgroup c + 1 follows turn k of warpgroup c, and turn k + 1 of warpgroup 0 follows
  // turn k of the last: each waits on its own named barrier, which its predecessor's arrive
  // completes. Warpgroup 0 skips the wait of its first turn and makes it up at the end, so that
  // every arrive is matched.
  const int my_bar = 1 + cw, next_bar = 1 + (cw + 1) % kConsumers;
  int turn = 0;
  auto begin_turn = [&] {
    if (cw != 0 || turn > 0) bar_sync(my_bar);
  };
  auto end_turn = [&] {
    bar_arrive(next_bar);
    ++turn;
  };

  int it = 0, n = 0;
  for (Tile tl; next_tile(n, tl);) {
    const int num_n = tl.num_n;
    m0 = tl.m0;
    len_k = tl.len_k;
    offset = tl.offset;
    row0 = m0 + cw * 64 + warp * 16 + g;
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.f;
    row_max[0] = row_max[1] = -INFINITY;
    row_sum[0] = row_sum[1] = 0.f;
    if (num_n == 0) release(q_empty);
    if (num_n > 0) {
      float alpha[2];
      int sj = it % kStages;
      mbar_wait(k_full(sj), (it / kStages) & 1);
      fill_bias(it);
      begin_turn();
      issue_qk(sj);
      end_turn();
      wgmma_wait<0>();
      fence_s();
      release(k_empty(sj));
      if (num_n == 1) release(q_empty);
      softmax(0, alpha);  // O is still zero: nothing to rescale
      pack_p();
      for (int j = 1; j < num_n; ++j) {
        const int sp = sj;
        const uint32_t pph = (it / kStages) & 1;
        ++it;
        sj = it % kStages;
        mbar_wait(k_full(sj), (it / kStages) & 1);
        mbar_wait(v_full(sp), pph);
        fill_bias(it);
        begin_turn();
        issue_qk(sj);
        issue_pv(sp);
        end_turn();
        wgmma_wait<1>();  // S_j has landed; P_{j-1} V_{j-1} may still run
        fence_s();
        release(k_empty(sj));
        if (j == num_n - 1) release(q_empty);  // the tile's last read of Q
        const bool rescale = softmax(j, alpha);
        wgmma_wait<0>();
        fence_o();
        fence_s();
        release(v_empty(sp));
        if (rescale) {
#pragma unroll
          for (int dt = 0; dt < DT; ++dt) {
            o[dt][0] *= alpha[0];
            o[dt][1] *= alpha[0];
            o[dt][2] *= alpha[1];
            o[dt][3] *= alpha[1];
          }
        }
        pack_p();
      }
      mbar_wait(v_full(sj), (it / kStages) & 1);
      begin_turn();
      wgmma_fence();
      issue_pv(sj);
      end_turn();
      wgmma_wait<0>();
      fence_o();
      release(v_empty(sj));
      ++it;
    }
    // out = O / sum; lse = ln(sum) + max.
    constexpr int64_t es = sizeof(T);
    char* out = static_cast<char*>(p.out.data) +
                (int64_t(tl.b) * p.out.batch_stride + int64_t(tl.h) * p.out.head_stride + tl.q_start * p.out.row_stride) * es;
    float* lse = p.lse != nullptr ? p.lse + int64_t(tl.b) * p.lse_batch_stride + int64_t(tl.h) * p.lse_head_stride : nullptr;
    store_out_lse<T>(o, row_max, row_sum, row0, t, tl.len_q, p.lse_rows, out, p.out.row_stride, D, lse != nullptr,
                     [&](int64_t row) -> float& { return lse[row]; });
  }
  if (cw == 0 && turn > 0) bar_sync(my_bar);  // the arrive of the last warpgroup's last turn
#endif
}

// A [batch, heads, seq, head_dim] operand as a 4-d tensor map (innermost first), boxes of 64
// head-dim columns by `rows` rows, 128-byte swizzle; rows past seq read as zeros.
CUtensorMap tensor_map(const Operand& o, ScalarType dtype, int64_t batch, int64_t heads, int64_t seq, int64_t head_dim,
                       int rows) {
  CUtensorMap map;
  const cuuint64_t dims[4] = {cuuint64_t(head_dim), cuuint64_t(seq), cuuint64_t(heads), cuuint64_t(batch)};
  const cuuint64_t strides[3] = {cuuint64_t(o.row_stride * 2), cuuint64_t(o.head_stride * 2),
                                 cuuint64_t(o.batch_stride * 2)};
  const cuuint32_t box[4] = {64, cuuint32_t(rows), 1, 1};
  const cuuint32_t elem[4] = {1, 1, 1, 1};
  const CUresult r = encode_tiled()(
      &map, dtype == ScalarType::BFloat16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 4,
      o.data, dims, strides, box, elem, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  TORCH_CHECK(r == CUDA_SUCCESS, "gemforge attention: cuTensorMapEncodeTiled failed (", int(r), ")");
  return map;
}

template <class T, int D, bool kBias, int C>
void launch(const Forward& p) {
  constexpr int BN = kBlockN<D>, kStages = kStagesOf<D, kBias, C>, kBlockM = 64 * C;
  const size_t smem = size_t(kBlockM + 2 * kStages * BN) * D * sizeof(T) + (kBias ? 2 * kBlockM * BN * sizeof(T) : 0) +
                      8 * (7 + 4 * kStages) + 1024;
  // Packed sequences: one "batch" of all the rows (tiles address rows by cu_seqlens).
  const bool packed = p.cu_seqlens_q != nullptr;
  const int64_t map_batch = packed ? 1 : p.batch;
  const CUtensorMap tq = tensor_map(p.q, p.dtype, map_batch, p.heads_q, packed ? p.total_q : p.seq_q, p.head_dim, kBlockM);
  const CUtensorMap tk = tensor_map(p.k, p.dtype, map_batch, p.heads_kv, packed ? p.total_k : p.seq_k, p.head_dim, BN);
  const CUtensorMap tv = tensor_map(p.v, p.dtype, map_batch, p.heads_kv, packed ? p.total_k : p.seq_k, p.head_dim, BN);
  auto kernel = forward_sm90_kernel<T, D, kBias, C>;
  pw::cuda::raise_smem_limit(reinterpret_cast<const void*>(kernel), smem);
  // Persistent: one block an SM, a block's next tile loading while it finishes the last one.
  // Under a causal mask tiles differ in length: a counter hands them out, so that blocks that
  // drew short ones take more (5-10% faster than a static split at S4096, for a zeroed counter
  // a call); without one, every block takes every gridDim.x-th tile.
  const int64_t tiles = (p.seq_q + kBlockM - 1) / kBlockM * p.heads_q * p.batch;
  const int64_t sms = pw::cuda::sm_count();
#ifndef GEMFORGE_ATTENTION_PERSISTENT  // scripts/dev/attention_probe.py builds all three to compare
  const int kSchedule = p.causal ? 2 : 1;
#else
  constexpr int kSchedule = GEMFORGE_ATTENTION_PERSISTENT;  // 0: a block a tile, 1: static, 2: counter
#endif
  const unsigned grid = static_cast<unsigned>(kSchedule > 0 && sms < tiles ? sms : tiles);
  if (grid == 0) return;
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  at::Tensor counter;
  if (kSchedule == 2 && grid < tiles) {
    counter = at::empty({1}, at::TensorOptions().dtype(at::kInt).device(at::kCUDA, at::cuda::current_device()));
    C10_CUDA_CHECK(cudaMemsetAsync(counter.data_ptr(), 0, sizeof(int), stream));
  }
  kernel<<<grid, kThreadsOf<C>, smem, stream>>>(tq, tk, tv, p, counter.defined() ? counter.data_ptr<int>() : nullptr);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Consumer warpgroups at head dim 64 (H100, bf16, scripts/dev/attention_probe.py): three are
// 9-22% faster from S1024 (S2048 causal), two 3-9% faster causal at S1024, where 192-row tiles
// leave more masked work on the diagonal and fewer tiles to spread.
#ifndef GEMFORGE_ATTENTION_CONSUMERS_D64  // the probe builds 2 and 3 to compare; 0: by the problem
#define GEMFORGE_ATTENTION_CONSUMERS_D64 0
#endif
int consumers_at_64(const Forward& p) {
  if (GEMFORGE_ATTENTION_CONSUMERS_D64 != 0) return GEMFORGE_ATTENTION_CONSUMERS_D64;
  return p.causal && p.seq_q <= 1536 ? 2 : 3;
}

template <class T, bool kBias>
void launch_dim(const Forward& p) {
  if (p.head_dim == 64) consumers_at_64(p) == 3 ? launch<T, 64, kBias, 3>(p) : launch<T, 64, kBias, 2>(p);
  else if (p.head_dim == 128) launch<T, 128, kBias, 2>(p);
  else launch<T, 256, kBias, 2>(p);
}

// The bias as the loaders copy it: rows of contiguous columns in 16-byte chunks, 16-byte aligned.
bool bias_in_chunks(const Forward& p) {
  return p.bias_col_stride == 1 && reinterpret_cast<uintptr_t>(p.bias) % 16 == 0 && p.bias_row_stride % 8 == 0 &&
         p.bias_head_stride % 8 == 0 && p.bias_batch_stride % 8 == 0;
}

}  // namespace

// Hopper, a positive scale (the softmax takes maxima before scaling), head dim 64/128/256,
// 16-byte aligned strides (TMA's rule), a bias only in chunks (bias_in_chunks) and not with packed
// sequences, the rest in supported()'s limits (checked by the caller).
bool sm90_takes(const Forward& p) {
  if (p.dtype != ScalarType::Half && p.dtype != ScalarType::BFloat16) return false;
  if (!(p.scale > 0.f) || (p.head_dim != 64 && p.head_dim != 128 && p.head_dim != 256)) return false;
  if (p.bias != nullptr && (p.cu_seqlens_q != nullptr || !bias_in_chunks(p))) return false;
  if (at::cuda::getCurrentDeviceProperties()->major != 9) return false;
  return p.seq_q < (int64_t(1) << 31) - kMaxBlockM && p.seq_k < (int64_t(1) << 31) - 256;
}

bool forward_sm90(const Forward& p) {
  if (!sm90_takes(p)) return false;
  const bool bias = p.bias != nullptr;
  if (p.dtype == ScalarType::BFloat16) bias ? launch_dim<__nv_bfloat16, true>(p) : launch_dim<__nv_bfloat16, false>(p);
  else bias ? launch_dim<__half, true>(p) : launch_dim<__half, false>(p);
  return true;
}

}  // namespace gemforge::attention::cuda
