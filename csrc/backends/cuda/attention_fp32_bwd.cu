// Attention backward in float32: the backward of torch's efficient op for fp32 inputs, where
// gemforge's fp32 forward serves it (attention_fp32.cu: head dims up to 64; here no bias, no
// dropout, equal heads), in 3xTF32 (backends/cuda/tf32x3.cuh).
//  1. preprocess, a warp per query row (padding rows included): delta = rowsum(dO * O), and the
//     logsumexp in the log2 domain (+inf where the row contributes nothing: padding rows and rows
//     that saw no key, whose P is then 0); dQ's rows zeroed;
//  2. dK, dV and dQ: a block per block of keys (16 a warp) walks the query tiles: S^T = K Q^T,
//     P^T = 2^(S^T scale log2e - lse2), dV += P^T dO, dP^T = V dO^T, dS^T = P^T (dP^T - delta),
//     dK += dS^T Q; the tile's dS goes through shared memory into dQ += dS K over the block's
//     keys, added into dQ with atomics (FlashAttention-2's scheme: 5 products). dK and dV are
//     written once, times scale at the end.
// Where dQ is not wanted, the same kernel without its dQ half. Deterministic results are left to
// torch (ops/attention_bwd.cpp). A separate dQ kernel (a block per block of query rows walking
// the key tiles, no atomics) was measured and dropped: it recomputes S and dP, 7 products, and
// ran 0.93x torch at BERT's shape against the fused kernel's 1.17x (H200, stop 29).
//
// Each tile an operand of a product's B side is split once by the whole block (by column pairs
// where the product reads it as X^T, by row pairs where it reads X); the A sides are the block's
// own rows (Q, dO, K, V, read in column pairs and split on the fly), the accumulators P and dS
// straight from registers, or dS split by its writers.
#include "backends/attention_bwd.h"
#include "backends/cuda/launch.cuh"
#include "backends/cuda/mma_sync.cuh"
#include "backends/cuda/tf32x3.cuh"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>

#include <cmath>
#include <cstdint>

namespace gemforge::attention::cuda {
namespace {

using namespace gemforge::cuda_mma;
using namespace gemforge::cuda_tf32x3;

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kD = 64;           // head dims up to 64, as the forward
constexpr int kRowsPadded = 128;  // statistics rows: a multiple of every query block and tile

int64_t padded_rows(int64_t seq_q) { return (seq_q + kRowsPadded - 1) / kRowsPadded * kRowsPadded; }

// One warp per query row of (batch, head), padding rows included: the row's log2-domain
// logsumexp (+inf for padding rows and rows that saw no key) and delta = rowsum(dO * O).
__global__ void __launch_bounds__(256) preprocess_kernel(const Backward p, int64_t rows, float* lse2, float* delta,
                                                         bool zero_dq) {
  const int64_t row = (int64_t(blockIdx.x) * 256 + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= p.batch * p.heads_q * rows) return;
  const int64_t i = row % rows, bh = row / rows;
  const int64_t b = bh / p.heads_q, h = bh % p.heads_q;
  float d = 0.f, l = INFINITY;
  if (i < p.seq_q) {
    const float* o = static_cast<const float*>(p.out.data) + b * p.out.batch_stride + h * p.out.head_stride +
                     i * p.out.row_stride;
    const float* go = static_cast<const float*>(p.grad_out.data) + b * p.grad_out.batch_stride +
                      h * p.grad_out.head_stride + i * p.grad_out.row_stride;
    for (int c = lane; c < p.head_dim; c += 32) d += o[c] * go[c];
#pragma unroll
    for (int m = 16; m > 0; m /= 2) d += __shfl_xor_sync(0xffffffffu, d, m);
    if (zero_dq) {  // the fused kernel adds into dQ
      float* dq = static_cast<float*>(p.grad_q.data) + b * p.grad_q.batch_stride + h * p.grad_q.head_stride +
                  i * p.grad_q.row_stride;
      for (int c = lane; c < p.head_dim; c += 32) dq[c] = 0.f;
    }
    const float lse = p.lse[b * p.lse_batch_stride + h * p.lse_head_stride + i];
    l = lse == -INFINITY ? INFINITY : lse * kLog2e;
  }
  if (lane == 0) {
    lse2[row] = l;
    delta[row] = d;
  }
}

// *at += (x, y), atomically (one 8-byte atomic on Hopper).
__device__ __forceinline__ void add_pair(float* at, float x, float y) {
#if __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(at), make_float2(x, y));
#else
  atomicAdd(at, x);
  atomicAdd(at + 1, y);
#endif
}

// The A fragment of this warp's rows (row g and g + 8 of `rows`, pitch kPairPitch) for k8 step
// kk, columns read in pairs.
__device__ __forceinline__ SplitA pair_fragment(const float* rows, int kk) {
  constexpr int P = kPairPitch<kD>;
  const float2 top = *reinterpret_cast<const float2*>(rows + kk * 8);
  const float2 bottom = *reinterpret_cast<const float2*>(rows + 8 * P + kk * 8);
  return SplitA(top.x, bottom.x, top.y, bottom.y);
}

// A block of Warps * 16 keys walking query tiles of BQ rows: dK and dV; FuseDQ: dQ too, each
// tile's dS (all the block's keys) through shared memory into dQ += dS K, added into dQ (zeroed
// by the preprocess) with atomics: 5 products instead of 7, in an order that varies run to run.
template <int Warps, int BQ, bool FuseDQ>
__global__ void __launch_bounds__(Warps * 32) dkdv_kernel(const Backward p, int64_t rows, const float* lse2_all,
                                                          const float* delta_all) {
  constexpr int D = kD, kThreads = Warps * 32, BK = Warps * 16;
  constexpr int PR = kPairPitch<D>, PC = kColumnPairPitch<D>, PP = kRowPairPitch<D>;
  constexpr int NT = BQ / 8, DT = D / 8;
  extern __shared__ __align__(16) float smem[];
  float* sK = smem;                // the block's keys, raw: BK x PR
  float* sV = sK + BK * PR;        // likewise (FuseDQ: none, V's fragments live in registers)
  float* sRaw = sV + (FuseDQ ? 0 : BK * PR);  // Q then dO tile as loaded: 2 x BQ x D
  float* sQc = sRaw + 2 * BQ * D;  // Q by column pairs: BQ x PC
  float* sQr = sQc + BQ * PC;      // Q by row pairs: BQ / 2 x PP
  float* sOc = sQr + BQ / 2 * PP;  // dO by column pairs
  float* sOr = sOc + BQ * PC;      // dO by row pairs
  float* sL = sOr + BQ / 2 * PP;   // the tile's lse2 (BQ), then its delta (BQ)
  float* sDelta = sL + BQ;
  constexpr int PS = kColumnPairPitch<BK>;  // FuseDQ: dS rows split by column pairs
  float* sKr = sDelta + BQ;          // FuseDQ: K by row pairs, BK / 2 x PP (the B of dQ += dS K)
  float* sdS = sKr + BK / 2 * PP;    // FuseDQ: the tile's dS split, BQ x PS
  const uint32_t aRaw = smem_addr(sRaw);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int64_t b = blockIdx.z, h = blockIdx.y, k0 = int64_t(blockIdx.x) * BK;
  const int chunks_valid = static_cast<int>(p.head_dim / 4);
  constexpr int64_t es = sizeof(float);
  const char* q = static_cast<const char*>(p.q.data) + (b * p.q.batch_stride + h * p.q.head_stride) * es;
  const char* go = static_cast<const char*>(p.grad_out.data) + (b * p.grad_out.batch_stride + h * p.grad_out.head_stride) * es;
  const char* k = static_cast<const char*>(p.k.data) + (b * p.k.batch_stride + h * p.k.head_stride + k0 * p.k.row_stride) * es;
  const char* v = static_cast<const char*>(p.v.data) + (b * p.v.batch_stride + h * p.v.head_stride + k0 * p.v.row_stride) * es;
  const float* lse2 = lse2_all + (b * p.heads_q + h) * rows;
  const float* delta = delta_all + (b * p.heads_q + h) * rows;

  // Causal: query i sees key j when j <= i + causal_offset, so the tiles before the one holding
  // row k0 - causal_offset see none of this block's keys.
  const int64_t num_q = (p.seq_q + BQ - 1) / BQ;
  int64_t q_first = 0;
  if (p.causal && k0 - p.causal_offset > 0) q_first = (k0 - p.causal_offset) / BQ;

  const int keys_valid = static_cast<int>(p.seq_k - k0 < BK ? p.seq_k - k0 : BK);
  load_rows<BK, D, kThreads, PR>(smem_addr(sK), k, p.k.row_stride * es, keys_valid, chunks_valid, p.k.data);
  if (!FuseDQ) load_rows<BK, D, kThreads, PR>(smem_addr(sV), v, p.v.row_stride * es, keys_valid, chunks_valid, p.v.data);
  auto load_tile = [&](int64_t qt) {
    const int64_t q0 = qt * BQ;
    const int valid = static_cast<int>(p.seq_q - q0 < BQ ? p.seq_q - q0 : BQ);
    load_rows<BQ, D, kThreads, D>(aRaw, q + q0 * p.q.row_stride * es, p.q.row_stride * es, valid, chunks_valid, p.q.data);
    load_rows<BQ, D, kThreads, D>(aRaw + BQ * D * 4, go + q0 * p.grad_out.row_stride * es, p.grad_out.row_stride * es,
                                  valid, chunks_valid, p.grad_out.data);
  };
  if (q_first < num_q) load_tile(q_first);
  cp_async_commit();

  float dk[DT][4], dv[DT][4];
#pragma unroll
  for (int i = 0; i < DT; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[i][e] = dv[i][e] = 0.f;
  const float scale_log2 = p.scale * kLog2e;
  const int64_t key0 = k0 + warp * 16 + g;  // this thread's keys: key0 and key0 + 8
  const float* kf = sK + (warp * 16 + g) * PR + 2 * t;
  const float* vf = sV + (warp * 16 + g) * PR + 2 * t;
  // FuseDQ: the A fragments of dP^T = V dO^T (this warp's 16 rows of V) in registers, as
  // pair_fragment reads them, which frees V's shared rows for dS and K's split.
  float vr[FuseDQ ? DT : 1][4];
  if constexpr (FuseDQ) {
#pragma unroll
    for (int kk = 0; kk < DT; ++kk)
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = warp * 16 + g + r * 8, col = kk * 8 + 2 * t;
        float2 x = make_float2(0.f, 0.f);
        if (k0 + row < p.seq_k && col < p.head_dim)
          x = *reinterpret_cast<const float2*>(v + (row * p.v.row_stride + col) * es);
        vr[kk][r] = x.x;
        vr[kk][2 + r] = x.y;
      }
  }
  const float* qc = sQc + g * PC + 4 * t;  // B of S^T: query g, column pair t (of each 8)
  const float* oc = sOc + g * PC + 4 * t;  // B of dP^T
  const float* qr = sQr + t * PP + 4 * g;  // B of dK: queries 2t, 2t + 1 (of each 8), column g
  const float* orow = sOr + t * PP + 4 * g;  // B of dV

  for (int64_t qt = q_first; qt < num_q; ++qt) {
    const int64_t q0 = qt * BQ;
    cp_async_wait<0>();
    __syncthreads();  // the raw tile has landed; every warp is done with the last split tiles
    if (FuseDQ && qt == q_first) split_by_row_pairs<BK, D, kThreads, PR>(sK, sKr);
    split_by_column_pairs<BQ, D, kThreads>(sRaw, sQc);
    split_by_row_pairs<BQ, D, kThreads>(sRaw, sQr);
    split_by_column_pairs<BQ, D, kThreads>(sRaw + BQ * D, sOc);
    split_by_row_pairs<BQ, D, kThreads>(sRaw + BQ * D, sOr);
    for (int i = threadIdx.x; i < BQ; i += kThreads) {
      sL[i] = lse2[q0 + i];  // rows < padded_rows(seq_q): BQ divides kRowsPadded
      sDelta[i] = delta[q0 + i];
    }
    __syncthreads();  // the split tiles are ready; the raw buffer is free for the next tile
    if (qt + 1 < num_q) load_tile(qt + 1);
    cp_async_commit();

    // S^T = K Q^T: this warp's 16 keys against the tile's queries; then P^T.
    // Even and odd k-steps into two sets of accumulators: twice the independent mma chains
    // (a query tile of 16 leaves only two column tiles).
    float st[NT][4], st2[NT][4];
#pragma unroll
    for (int i = 0; i < NT; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) st[i][e] = st2[i][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < DT; ++kk) mma_split_n(kk % 2 ? st2 : st, pair_fragment(kf, kk), qc + kk * 16, 8 * PC);
#pragma unroll
    for (int i = 0; i < NT; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) st[i][e] += st2[i][e];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int jj = nt * 8 + 2 * t + (e % 2);
        const int64_t key = key0 + (e / 2) * 8;
        // Keys past seq_k (zero-filled) only feed dQ, which must not see them.
        const bool hidden = (FuseDQ && key >= p.seq_k) || (p.causal && key > q0 + jj + p.causal_offset);
        st[nt][e] = hidden ? 0.f : exp2f(st[nt][e] * scale_log2 - sL[jj]);
      }
    }
    // dV += P^T dO
#pragma unroll
    for (int kk = 0; kk < NT; ++kk) {
      const SplitA a(st[kk][0], st[kk][2], st[kk][1], st[kk][3]);
      mma_split_n(dv, a, orow + kk * 4 * PP, 32);
    }
    // dP^T = V dO^T; dS^T = P^T (dP^T - delta)
    float dpt[NT][4], dpt2[NT][4];
#pragma unroll
    for (int i = 0; i < NT; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) dpt[i][e] = dpt2[i][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < DT; ++kk)
      mma_split_n(kk % 2 ? dpt2 : dpt,
                  FuseDQ ? SplitA(vr[kk][0], vr[kk][1], vr[kk][2], vr[kk][3]) : pair_fragment(vf, kk), oc + kk * 16,
                  8 * PC);
#pragma unroll
    for (int i = 0; i < NT; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) dpt[i][e] += dpt2[i][e];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) st[nt][e] *= dpt[nt][e] - sDelta[nt * 8 + 2 * t + (e % 2)];
    // dK += dS^T Q
#pragma unroll
    for (int kk = 0; kk < NT; ++kk) {
      const SplitA a(st[kk][0], st[kk][2], st[kk][1], st[kk][3]);
      mma_split_n(dk, a, qr + kk * 4 * PP, 32);
    }
    if constexpr (FuseDQ) {
      // dS^T (this warp's keys x the tile's queries) into dS rows, split by column pairs (each
      // lane then reads its A fragment's parts in two 16-byte loads); then each warp takes NQ
      // column tiles of one 16-row tile of dQ += dS K over all BK keys.
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = warp * 16 + g + (e / 2) * 8;
          uint32_t hi, lo;
          split(st[nt][e], hi, lo);
          float* at = sdS + (nt * 8 + 2 * t + (e % 2)) * PS + 2 * key - key % 2;  // pair key / 2, element key % 2
          at[0] = __uint_as_float(hi);
          at[2] = __uint_as_float(lo);
        }
      __syncthreads();
      constexpr int MT = BQ / 16, NQ = MT * DT / Warps;
      static_assert(NQ >= 1 && MT * DT % Warps == 0, "dQ tiles must spread evenly over the warps");
      // Independent chains: the three terms of each product and, with one column tile, even and
      // odd k-steps each into their own accumulators (one chain would wait out every mma).
      constexpr int KP = NQ == 1 ? 2 : 1;
      const int mt = warp % MT, n0 = warp / MT * NQ;
      float acc[KP][3][NQ][4];
#pragma unroll
      for (int x = 0; x < KP; ++x)
#pragma unroll
        for (int y = 0; y < 3; ++y)
#pragma unroll
          for (int i = 0; i < NQ; ++i) acc[x][y][i][0] = acc[x][y][i][1] = acc[x][y][i][2] = acc[x][y][i][3] = 0.f;
      const float* arow = sdS + (mt * 16 + g) * PS + 4 * t;
      const float* kr = sKr + t * PP + 4 * g + n0 * 32;
#pragma unroll
      for (int ks = 0; ks < BK / 8; ++ks) {
        const uint4 top = *reinterpret_cast<const uint4*>(arow + ks * 16);
        const uint4 bottom = *reinterpret_cast<const uint4*>(arow + 8 * PS + ks * 16);
        const uint32_t hi[4] = {top.x, bottom.x, top.y, bottom.y}, lo[4] = {top.z, bottom.z, top.w, bottom.w};
#pragma unroll
        for (int i = 0; i < NQ; ++i) {
          const uint4 f = *reinterpret_cast<const uint4*>(kr + ks * 4 * PP + i * 32);
          mma_tf32(acc[ks % KP][0][i], lo, f.x, f.y);
          mma_tf32(acc[ks % KP][1][i], hi, f.z, f.w);
          mma_tf32(acc[ks % KP][2][i], hi, f.x, f.y);
        }
      }
      float dqa[NQ][4];
#pragma unroll
      for (int i = 0; i < NQ; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          dqa[i][e] = 0.f;
#pragma unroll
          for (int x = 0; x < KP; ++x) dqa[i][e] += acc[x][0][i][e] + acc[x][1][i][e] + acc[x][2][i][e];
        }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int64_t row = q0 + mt * 16 + g + r * 8;
        if (row >= p.seq_q) continue;
        float* qrow = static_cast<float*>(p.grad_q.data) + b * p.grad_q.batch_stride + h * p.grad_q.head_stride +
                      row * p.grad_q.row_stride;
#pragma unroll
        for (int i = 0; i < NQ; ++i) {
          const int col = (n0 + i) * 8 + 2 * t;
          if (col < p.head_dim) add_pair(qrow + col, dqa[i][2 * r] * p.scale, dqa[i][2 * r + 1] * p.scale);
        }
      }
    }
  }
  cp_async_wait<0>();

  // dK * scale and dV for the block's keys before seq_k (zeros where no query saw them).
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t key = key0 + r * 8;
    if (key >= p.seq_k) continue;
    float* krow = static_cast<float*>(p.grad_k.data) + b * p.grad_k.batch_stride + h * p.grad_k.head_stride +
                  key * p.grad_k.row_stride;
    float* vrow = static_cast<float*>(p.grad_v.data) + b * p.grad_v.batch_stride + h * p.grad_v.head_stride +
                  key * p.grad_v.row_stride;
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) {
      const int col = dt * 8 + 2 * t;
      if (col >= p.head_dim) continue;
      *reinterpret_cast<float2*>(krow + col) = make_float2(dk[dt][2 * r] * p.scale, dk[dt][2 * r + 1] * p.scale);
      *reinterpret_cast<float2*>(vrow + col) = make_float2(dv[dt][2 * r], dv[dt][2 * r + 1]);
    }
  }
}

template <int Warps, int BQ, bool FuseDQ>
size_t dkdv_smem() {
  constexpr int D = kD, BK = Warps * 16;
  return size_t((FuseDQ ? 1 : 2) * BK * kPairPitch<D> + 2 * BQ * D + 2 * BQ * kColumnPairPitch<D> + 2 * (BQ / 2) * kRowPairPitch<D> +
                2 * BQ + (FuseDQ ? BK / 2 * kRowPairPitch<D> + BQ * kColumnPairPitch<BK> : 0)) *
         sizeof(float);
}
template <class Kernel>
void launch_kernel(Kernel kernel, dim3 grid, int threads, size_t smem, const Backward& p, int64_t rows,
                   const float* lse2, const float* delta) {
  if (smem > 48 * 1024) pw::cuda::raise_smem_limit(reinterpret_cast<const void*>(kernel), smem);
  kernel<<<grid, threads, smem, c10::cuda::getCurrentCUDAStream()>>>(p, rows, lse2, delta);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

// dQ fused into the dK/dV kernel (atomics): (warps, query tile).
template <int Warps, int BQ>
void backward_fp32_fused(const Backward& p) {
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t rows = padded_rows(p.seq_q);
  float* lse2 = p.workspace;
  float* delta = p.workspace + p.batch * p.heads_q * rows;
  const int64_t warps = p.batch * p.heads_q * rows;
  preprocess_kernel<<<static_cast<unsigned>((warps + 7) / 8), 256, 0, stream>>>(p, rows, lse2, delta, p.dq_wanted);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const dim3 grid(static_cast<unsigned>((p.seq_k + Warps * 16 - 1) / (Warps * 16)), static_cast<unsigned>(p.heads_q),
                  static_cast<unsigned>(p.batch));
  if (p.dq_wanted)
    launch_kernel(dkdv_kernel<Warps, BQ, true>, grid, Warps * 32, dkdv_smem<Warps, BQ, true>(), p, rows, lse2, delta);
  else
    launch_kernel(dkdv_kernel<Warps, BQ, false>, grid, Warps * 32, dkdv_smem<Warps, BQ, false>(), p, rows, lse2, delta);
}

int64_t fp32_workspace_floats(const Backward& p) { return 2 * p.batch * p.heads_q * padded_rows(p.seq_q); }

bool fp32_supported(const Backward& p) {
  if (p.dtype != ScalarType::Float) return false;
  if (p.head_dim <= 0 || p.head_dim > kD || p.head_dim % 4 != 0 || p.heads_q != p.heads_kv) return false;
  if (p.batch <= 0 || p.heads_q <= 0 || p.seq_q <= 0 || p.seq_k <= 0) return false;
  if (p.batch > 65535 || p.heads_q > 65535) return false;
  if (p.seq_q >= (int64_t(1) << 31) || p.seq_k >= (int64_t(1) << 31)) return false;
  if (p.lse == nullptr || p.workspace == nullptr) return false;
  for (const Operand* o : {&p.q, &p.k, &p.v, &p.out, &p.grad_out, &p.grad_k, &p.grad_v})
    if (!rows_in_16_byte_chunks(*o, 4)) return false;
  return !p.dq_wanted || rows_in_16_byte_chunks(p.grad_q, 4);
}

void backward_fp32(const Backward& p) {
  if (p.batch <= 0 || p.heads_q <= 0 || p.seq_q <= 0 || p.seq_k <= 0) return;
  backward_fp32_fused<8, 32>(p);
}

}  // namespace gemforge::attention::cuda
