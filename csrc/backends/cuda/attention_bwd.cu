// Attention backward on tensor cores, FlashAttention-2's scheme, in three launches:
//  1. preprocess, a warp per query row: D = rowsum(dO * O) in fp32, the forward's logsumexp
//     moved to the log2 domain (+inf where the row must contribute nothing), the row's fp32
//     dQ accumulator zeroed;
//  2. the main kernel, a block of 8 warps per (64-key block, kv head, batch): K and V stay in
//     shared memory while the block walks the query blocks (of every query head of the kv
//     head's group; causal: from the diagonal on), Q and dO double-buffered with cp.async.
//     Per query block: S^T = K Q^T and dP^T = V dO^T (mma.sync m16n8k16, fp32), P^T =
//     exp2(S^T * scale * log2e - lse2), dS^T = P^T * (dP^T - D), both through shared memory
//     as fp16/bf16; dV += P^T dO and dK += dS^T Q in registers; dQ += dS K added to the fp32
//     accumulator with atomics (as torch's efficient backward, the order of the adds varies);
//  3. dQ = accumulator * scale in the input dtype.
// Tiles are XOR-swizzled by row (chunk c of row r at c ^ (r & 7)) so that ldmatrix and the
// fragment stores hit 8 different bank groups. Head dims up to 256 run in tiles of 64, 128 or
// 256 columns, columns past the real head dim zero-filled on load and never stored.
#include "backends/attention_bwd.h"
#include "backends/cuda/launch.cuh"
#include "backends/cuda/mma_sync.cuh"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace gemforge::attention::cuda {
namespace {

using namespace gemforge::cuda_mma;

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kBlockM = 64;  // query rows of a step
constexpr int kBlockN = 64;  // key rows of a block
constexpr int kPCh = kBlockM / 8;  // 16-byte chunks of a P^T / dS^T row
constexpr float kLog2e = 1.4426950408889634f;

template <int D>
constexpr size_t smem_bytes() {
  // K, V; Q and dO twice; P^T, dS^T; per buffer the 2 x kBlockM row statistics.
  return size_t(2 * kBlockN + 4 * kBlockM) * D * 2 + 2 * kBlockN * kBlockM * 2 + 2 * 2 * kBlockM * 4;
}

int64_t padded_rows(int64_t seq_q) { return (seq_q + kBlockM - 1) / kBlockM * kBlockM; }
int64_t stats_floats(const Backward& p) { return p.batch * p.heads_q * 2 * padded_rows(p.seq_q); }

// One warp per query row, padding rows (seq_q .. rows_padded - 1) included: the row's
// log2-domain logsumexp (+inf for padding rows and rows that saw no key, so that their P is
// 0), D = rowsum(dO * O), and zeros in the row's dQ accumulator.
template <class T>
__global__ void __launch_bounds__(256) preprocess_kernel(const Backward p, int64_t rows_padded, float* dq_acc) {
  const int64_t row = (int64_t(blockIdx.x) * 256 + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= p.batch * p.heads_q * rows_padded) return;
  const int64_t i = row % rows_padded, bh = row / rows_padded;
  const int64_t b = bh / p.heads_q, h = bh % p.heads_q;
  float d = 0.f, lse2 = INFINITY;
  if (i < p.seq_q) {
    const T* o = static_cast<const T*>(p.out.data) + b * p.out.batch_stride + h * p.out.head_stride + i * p.out.row_stride;
    const T* g = static_cast<const T*>(p.grad_out.data) + b * p.grad_out.batch_stride + h * p.grad_out.head_stride +
                 i * p.grad_out.row_stride;
    for (int c = lane; c < p.head_dim / 8; c += 32) {
      const uint4 ov = *reinterpret_cast<const uint4*>(o + c * 8);
      const uint4 gv = *reinterpret_cast<const uint4*>(g + c * 8);
      const uint32_t ow[4] = {ov.x, ov.y, ov.z, ov.w}, gw[4] = {gv.x, gv.y, gv.z, gv.w};
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float2 of = Mma<T>::unpack(ow[e]), gf = Mma<T>::unpack(gw[e]);
        d += of.x * gf.x + of.y * gf.y;
      }
    }
#pragma unroll
    for (int m = 16; m > 0; m /= 2) d += __shfl_xor_sync(0xffffffffu, d, m);
    const float l = p.lse[b * p.lse_batch_stride + h * p.lse_head_stride + i];
    lse2 = l == -INFINITY ? INFINITY : l * kLog2e;
    if (dq_acc != nullptr) {
      float4* acc = reinterpret_cast<float4*>(dq_acc + (bh * p.seq_q + i) * p.head_dim);
      for (int c = lane; c < p.head_dim / 4; c += 32) acc[c] = make_float4(0.f, 0.f, 0.f, 0.f);
    }
  }
  if (lane == 0) {
    float* stats = p.workspace + bh * 2 * rows_padded;
    stats[i] = lse2;
    stats[rows_padded + i] = d;
  }
}

// dQ = accumulator * scale, 8 elements (a 16-byte store) a thread.
template <class T>
__global__ void __launch_bounds__(256) convert_dq_kernel(const Backward p, const float* dq_acc) {
  const int64_t chunks = p.head_dim / 8;
  const int64_t total = p.batch * p.heads_q * p.seq_q * chunks;
  for (int64_t idx = int64_t(blockIdx.x) * 256 + threadIdx.x; idx < total; idx += int64_t(gridDim.x) * 256) {
    const int64_t c = idx % chunks, row = idx / chunks;
    const int64_t i = row % p.seq_q, bh = row / p.seq_q;
    const int64_t b = bh / p.heads_q, h = bh % p.heads_q;
    const float4* src = reinterpret_cast<const float4*>(dq_acc + row * p.head_dim + c * 8);
    const float4 x0 = src[0], x1 = src[1];
    const float s = p.scale;
    uint4 v;
    v.x = Mma<T>::pack(x0.x * s, x0.y * s);
    v.y = Mma<T>::pack(x0.z * s, x0.w * s);
    v.z = Mma<T>::pack(x1.x * s, x1.y * s);
    v.w = Mma<T>::pack(x1.z * s, x1.w * s);
    *reinterpret_cast<uint4*>(static_cast<T*>(p.grad_q.data) + b * p.grad_q.batch_stride + h * p.grad_q.head_stride +
                              i * p.grad_q.row_stride + c * 8) = v;
  }
}

// The main kernel (see the top of the file). Warp w computes keys 16 * (w % 4) .. + 15 x
// queries 32 * (w / 4) .. + 31 of S^T and dP^T; keys 32 * (w % 2) .. + 31 x head-dim columns
// (D / 4) * (w / 2) .. of dK and dV; queries 32 * (w % 2) .. + 31 x the same columns of dQ.
template <class T, int D>
__global__ void __launch_bounds__(kThreads, D <= 64 ? 2 : 1)
    backward_kernel(const Backward p, int64_t rows_padded, float* dq_acc) {
  constexpr int CH = D / 8;        // 16-byte chunks of a Q, K, V or dO row
  constexpr int KD = D / 16;       // k16 steps over the head dim
  constexpr int DT = D / 32;       // n8 tiles of a warp's dK / dV columns (D / 4)
  constexpr int QC = D / 4 < 32 ? D / 4 : 32;  // dQ columns a pass (bounds the registers)
  constexpr uint32_t kKvTile = kBlockN * D * 2, kRowTile = kBlockM * D * 2, kPTile = kBlockN * kBlockM * 2;
  static_assert(sizeof(T) == 2, "fp16 / bf16 only");
  static_assert(DT % 2 == 0 && QC % 16 == 0 && (D / 4) % QC == 0, "tile shapes");
  extern __shared__ __align__(128) unsigned char smem[];
  const uint32_t aK = smem_addr(smem), aV = aK + kKvTile;
  const uint32_t aQ = aV + kKvTile, aO = aQ + 2 * kRowTile;  // two buffers each
  const uint32_t aPt = aO + 2 * kRowTile, aSt = aPt + kPTile;
  const uint32_t aStat = aSt + kPTile;  // two buffers of {lse2[kBlockM], D[kBlockM]}
  unsigned char* sPt = smem + (aPt - aK);
  unsigned char* sSt = smem + (aSt - aK);
  const float* sStat = reinterpret_cast<const float*>(smem + (aStat - aK));

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int wk = warp % 4, wh = warp / 4;
  const int kr = 16 * wk;                // key rows of S^T, dP^T
  const int qc = 32 * wh;                // query columns of S^T, dP^T
  const int r32 = 32 * (warp % 2);       // key rows of dK, dV; query rows of dQ (two m16 tiles)
  const int dc = (warp / 2) * (D / 4);   // head-dim columns of dK, dV, dQ

  const int64_t b = blockIdx.z, hk = blockIdx.y;
  const int64_t n0 = int64_t(blockIdx.x) * kBlockN;
  const int64_t group = p.heads_q / p.heads_kv;
  const int64_t num_m = (p.seq_q + kBlockM - 1) / kBlockM;
  int64_t m_start = 0;  // causal: the first query block that sees key n0
  if (p.causal) {
    const int64_t first = n0 - p.causal_offset;
    m_start = first <= 0 ? 0 : (first / kBlockM < num_m ? first / kBlockM : num_m);
  }
  const int64_t per_head = num_m - m_start, steps = group * per_head;
  const int chunks_valid = static_cast<int>(p.head_dim / 8);
  constexpr int64_t es = 2;

  {
    const int rows = static_cast<int>(p.seq_k - n0 < kBlockN ? p.seq_k - n0 : kBlockN);
    load_tile<kBlockN, CH, kThreads>(aK, static_cast<const char*>(p.k.data) + (b * p.k.batch_stride + hk * p.k.head_stride + n0 * p.k.row_stride) * es,
                           p.k.row_stride * es, rows, chunks_valid, p.k.data);
    load_tile<kBlockN, CH, kThreads>(aV, static_cast<const char*>(p.v.data) + (b * p.v.batch_stride + hk * p.v.head_stride + n0 * p.v.row_stride) * es,
                           p.v.row_stride * es, rows, chunks_valid, p.v.data);
  }
  // Q, dO and the row statistics of step s into buffer s % 2.
  auto load_step = [&](int64_t s) {
    const int64_t hq = hk * group + s / per_head, m0 = (m_start + s % per_head) * kBlockM;
    const uint32_t buf = static_cast<uint32_t>(s & 1);
    const int rows = static_cast<int>(p.seq_q - m0 < kBlockM ? p.seq_q - m0 : kBlockM);
    load_tile<kBlockM, CH, kThreads>(aQ + buf * kRowTile,
                           static_cast<const char*>(p.q.data) + (b * p.q.batch_stride + hq * p.q.head_stride + m0 * p.q.row_stride) * es,
                           p.q.row_stride * es, rows, chunks_valid, p.q.data);
    load_tile<kBlockM, CH, kThreads>(aO + buf * kRowTile,
                           static_cast<const char*>(p.grad_out.data) +
                               (b * p.grad_out.batch_stride + hq * p.grad_out.head_stride + m0 * p.grad_out.row_stride) * es,
                           p.grad_out.row_stride * es, rows, chunks_valid, p.grad_out.data);
    if (threadIdx.x < 2 * kBlockM / 4) {  // 16 chunks of lse2, then 16 of D
      const float* src = p.workspace + (b * p.heads_q + hq) * 2 * rows_padded +
                         (threadIdx.x < kBlockM / 4 ? 0 : rows_padded) + m0 + (threadIdx.x % (kBlockM / 4)) * 4;
      cp_async16(aStat + buf * (2 * kBlockM * 4) + threadIdx.x * 16, src, 16);
    }
  };
  if (steps > 0) load_step(0);
  cp_async_commit();

  // ldmatrix lane addressing. Pattern 1 (A operands read as stored, B operands read
  // transposed): lane rows (mat % 2) * 8 + x, chunk bit mat / 2; pattern 2 (B read as stored,
  // A transposed): rows (mat / 2) * 8 + x, chunk bit mat % 2. Every row offset added is a
  // multiple of 8, so a row's swizzle is x = lane % 8 and chunk C + bit (C even) sits at
  // (C & ~7) | ((C & 7 | bit) ^ x): 4 low parts per pattern, kept in registers, picked by
  // compile-time indices only (a run-time index would put them in local memory).
  const int x = lane % 8, mat = lane / 8;
  const int r1 = (mat % 2) * 8 + x, r2 = (mat / 2) * 8 + x;
  uint32_t lo1[4], lo2[4], lo1c[4];
  // This warp's head-dim columns start at chunk dcb, (warp / 2) * D / 32: a multiple of 8 at
  // D = 256; at D = 128 (64) a multiple of 4 (2) whose 4 (2) chunks stay within one 8-chunk
  // block, so that the low parts below never carry into the next block.
  const int dcb = dc / 8;
  const uint32_t col_base = (dcb / 8) * 128;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    lo1[j] = ((2 * j + mat / 2) ^ x) * 16;
    lo2[j] = ((2 * j + mat % 2) ^ x) * 16;
    lo1c[j] = (((dcb % 8) + 2 * j + mat / 2) ^ x) * 16;
  }
  // dS (A, read transposed from dS^T) of this warp's two m16 tiles of queries: chunks
  // r32 / 8 + 2 * mt (<= 6) + bit.
  const uint32_t lo_q[2] = {((r32 / 8 + mat % 2) ^ x) * 16u, ((r32 / 8 + 2 + mat % 2) ^ x) * 16u};
  // Address of (row, chunk C) of a tile with `ch` chunks a row; C even and known at compile time.
  auto at = [](uint32_t tile, int ch, int row, int c, const uint32_t(&lo)[4]) {
    return tile + row * ch * 16 + (c / 8) * 128 + lo[(c % 8) / 2];
  };
  // The same for chunk dcb + C of a Q, K or dO tile (B operands of dK, dV, dQ).
  auto at_col = [&](uint32_t tile, int row, int c) {
    return tile + row * CH * 16 + col_base + (c / 8) * 128 + lo1c[(c % 8) / 2];
  };

  float dk[2][DT][4], dv[2][DT][4];
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int i = 0; i < DT; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) dk[mt][i][e] = dv[mt][i][e] = 0.f;
  const float scale_log2 = p.scale * kLog2e;

  for (int64_t s = 0; s < steps; ++s) {
    const int64_t hq = hk * group + s / per_head, m0 = (m_start + s % per_head) * kBlockM;
    const uint32_t buf = static_cast<uint32_t>(s & 1);
    const uint32_t aQb = aQ + buf * kRowTile, aOb = aO + buf * kRowTile;
    if (s + 1 < steps) load_step(s + 1);  // into the buffer step s - 1 used
    cp_async_commit();
    cp_async_wait<1>();  // K, V and step s have landed
    __syncthreads();

    // S^T = K Q^T and dP^T = V dO^T: this warp's 16 keys x 32 queries.
    float st[4][4], dpt[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) st[i][e] = dpt[i][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KD; ++kk) {
      uint32_t a[4], bb[4];
      ldsm(at(aK, CH, kr + r1, 2 * kk, lo1), a);
#pragma unroll
      for (int nt = 0; nt < 4; nt += 2) {
        ldsm(at(aQb, CH, qc + nt * 8 + r2, 2 * kk, lo2), bb);
        Mma<T>::run(st[nt], a, bb[0], bb[1]);
        Mma<T>::run(st[nt + 1], a, bb[2], bb[3]);
      }
      ldsm(at(aV, CH, kr + r1, 2 * kk, lo1), a);
#pragma unroll
      for (int nt = 0; nt < 4; nt += 2) {
        ldsm(at(aOb, CH, qc + nt * 8 + r2, 2 * kk, lo2), bb);
        Mma<T>::run(dpt[nt], a, bb[0], bb[1]);
        Mma<T>::run(dpt[nt + 1], a, bb[2], bb[3]);
      }
    }

    // P^T and dS^T = P^T * (dP^T - D), masked where the key is past the end or hidden from the
    // query (padding query rows have lse2 = +inf: P = 0 there).
    const float* stat = sStat + buf * 2 * kBlockM;
    const bool masked = n0 + kBlockN > p.seq_k || (p.causal && n0 + kBlockN - 1 > m0 + p.causal_offset);
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      const int c = qc + nt * 8 + 2 * t;
      const float2 l2 = *reinterpret_cast<const float2*>(stat + c);
      const float2 dd = *reinterpret_cast<const float2*>(stat + kBlockM + c);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float pe = fast_exp2(st[nt][e] * scale_log2 - ((e & 1) ? l2.y : l2.x));
        if (masked) {
          const int64_t key = n0 + kr + g + (e / 2) * 8, query = m0 + c + (e & 1);
          if (key >= p.seq_k || (p.causal && key > query + p.causal_offset)) pe = 0.f;
        }
        st[nt][e] = pe;
        dpt[nt][e] = pe * (dpt[nt][e] - ((e & 1) ? dd.y : dd.x));
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = kr + g + h * 8;
        const uint32_t off = r * kPCh * 16 + (((c / 8) ^ (r & 7)) * 16) + (c % 8) * 2;
        *reinterpret_cast<uint32_t*>(sPt + off) = Mma<T>::pack(st[nt][2 * h], st[nt][2 * h + 1]);
        *reinterpret_cast<uint32_t*>(sSt + off) = Mma<T>::pack(dpt[nt][2 * h], dpt[nt][2 * h + 1]);
      }
    }
    __syncthreads();

    // dV += P^T dO and dK += dS^T Q: this warp's 32 keys x D / 4 columns, k over the 64 queries.
#pragma unroll
    for (int kk = 0; kk < kBlockM / 16; ++kk) {
      uint32_t a0[4], a1[4], bb[4];
      ldsm(at(aPt, kPCh, r32 + r1, 2 * kk, lo1), a0);
      ldsm(at(aPt, kPCh, r32 + 16 + r1, 2 * kk, lo1), a1);
#pragma unroll
      for (int dt = 0; dt < DT; dt += 2) {
        ldsm_t(at_col(aOb, kk * 16 + r1, dt), bb);
        Mma<T>::run(dv[0][dt], a0, bb[0], bb[1]);
        Mma<T>::run(dv[0][dt + 1], a0, bb[2], bb[3]);
        Mma<T>::run(dv[1][dt], a1, bb[0], bb[1]);
        Mma<T>::run(dv[1][dt + 1], a1, bb[2], bb[3]);
      }
      ldsm(at(aSt, kPCh, r32 + r1, 2 * kk, lo1), a0);
      ldsm(at(aSt, kPCh, r32 + 16 + r1, 2 * kk, lo1), a1);
#pragma unroll
      for (int dt = 0; dt < DT; dt += 2) {
        ldsm_t(at_col(aQb, kk * 16 + r1, dt), bb);
        Mma<T>::run(dk[0][dt], a0, bb[0], bb[1]);
        Mma<T>::run(dk[0][dt + 1], a0, bb[2], bb[3]);
        Mma<T>::run(dk[1][dt], a1, bb[0], bb[1]);
        Mma<T>::run(dk[1][dt + 1], a1, bb[2], bb[3]);
      }
    }

    // dQ += dS K: this warp's 32 queries (rows r32 of the step) x D / 4 columns, QC at a time,
    // k over the 64 keys; dS read transposed from dS^T.
    if (dq_acc != nullptr) {
      float* dq_rows = dq_acc + ((b * p.heads_q + hq) * p.seq_q) * p.head_dim;
#pragma unroll
      for (int pass = 0; pass < (D / 4) / QC; ++pass) {
        const int c0 = dc + pass * QC;  // first column of this pass
        float acc[2][QC / 8][4];
#pragma unroll
        for (int mt = 0; mt < 2; ++mt)
#pragma unroll
          for (int i = 0; i < QC / 8; ++i)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc[mt][i][e] = 0.f;
#pragma unroll
        for (int kk = 0; kk < kBlockN / 16; ++kk) {
          uint32_t a0[4], a1[4], bb[4];
          ldsm_t(aSt + (kk * 16 + r2) * kPCh * 16 + lo_q[0], a0);
          ldsm_t(aSt + (kk * 16 + r2) * kPCh * 16 + lo_q[1], a1);
#pragma unroll
          for (int dt = 0; dt < QC / 8; dt += 2) {
            ldsm_t(at_col(aK, kk * 16 + r1, pass * (QC / 8) + dt), bb);
            Mma<T>::run(acc[0][dt], a0, bb[0], bb[1]);
            Mma<T>::run(acc[0][dt + 1], a0, bb[2], bb[3]);
            Mma<T>::run(acc[1][dt], a1, bb[0], bb[1]);
            Mma<T>::run(acc[1][dt + 1], a1, bb[2], bb[3]);
          }
        }
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int64_t i = m0 + r32 + mt * 16 + g + h * 8;
            if (i >= p.seq_q) continue;
            float* row = dq_rows + i * p.head_dim;
#pragma unroll
            for (int dt = 0; dt < QC / 8; ++dt) {
              const int col = c0 + dt * 8 + 2 * t;
              if (col >= p.head_dim) continue;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
              atomicAdd(reinterpret_cast<float2*>(row + col), make_float2(acc[mt][dt][2 * h], acc[mt][dt][2 * h + 1]));
#else
              atomicAdd(row + col, acc[mt][dt][2 * h]);
              atomicAdd(row + col + 1, acc[mt][dt][2 * h + 1]);
#endif
            }
          }
        }
      }
    }
    __syncthreads();  // P^T, dS^T and buffer s % 2 are free for the next steps
  }
  cp_async_wait<0>();

  // dK (times scale) and dV of this warp's keys; zeros for keys no query sees.
  char* gk = static_cast<char*>(p.grad_k.data) + (b * p.grad_k.batch_stride + hk * p.grad_k.head_stride) * es;
  char* gv = static_cast<char*>(p.grad_v.data) + (b * p.grad_v.batch_stride + hk * p.grad_v.head_stride) * es;
#pragma unroll
  for (int mt = 0; mt < 2; ++mt) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t j = n0 + r32 + mt * 16 + g + h * 8;
      if (j >= p.seq_k) continue;
      T* krow = reinterpret_cast<T*>(gk + j * p.grad_k.row_stride * es);
      T* vrow = reinterpret_cast<T*>(gv + j * p.grad_v.row_stride * es);
#pragma unroll
      for (int dt = 0; dt < DT; ++dt) {
        const int col = dc + dt * 8 + 2 * t;
        if (col >= p.head_dim) continue;
        *reinterpret_cast<uint32_t*>(krow + col) =
            Mma<T>::pack(dk[mt][dt][2 * h] * p.scale, dk[mt][dt][2 * h + 1] * p.scale);
        *reinterpret_cast<uint32_t*>(vrow + col) = Mma<T>::pack(dv[mt][dt][2 * h], dv[mt][dt][2 * h + 1]);
      }
    }
  }
}

template <class T, int D>
void launch(const Backward& p) {
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t rows_padded = padded_rows(p.seq_q);
  float* dq_acc = p.dq_wanted ? p.workspace + stats_floats(p) : nullptr;

  const int64_t rows = p.batch * p.heads_q * rows_padded;
  preprocess_kernel<T><<<static_cast<unsigned>((rows + 7) / 8), 256, 0, stream>>>(p, rows_padded, dq_acc);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  constexpr size_t smem = smem_bytes<D>();
  auto kernel = backward_kernel<T, D>;
  if (smem > 48 * 1024) pw::cuda::raise_smem_limit(reinterpret_cast<const void*>(kernel), smem);
  const dim3 grid(static_cast<unsigned>((p.seq_k + kBlockN - 1) / kBlockN), static_cast<unsigned>(p.heads_kv),
                  static_cast<unsigned>(p.batch));
  kernel<<<grid, kThreads, smem, stream>>>(p, rows_padded, dq_acc);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  if (dq_acc != nullptr && p.seq_q > 0) {
    const int64_t total = p.batch * p.heads_q * p.seq_q * (p.head_dim / 8);
    const int64_t blocks = std::min<int64_t>((total + 255) / 256, int64_t(1) << 20);
    convert_dq_kernel<T><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(p, dq_acc);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

int tile_dim(int64_t head_dim) { return head_dim <= 64 ? 64 : head_dim <= 128 ? 128 : 256; }

template <class T>
void launch_dim(const Backward& p) {
  switch (tile_dim(p.head_dim)) {
    case 64: launch<T, 64>(p); break;
    case 128: launch<T, 128>(p); break;
    default: launch<T, 256>(p); break;
  }
}

}  // namespace

int64_t workspace_floats(const Backward& p) {
  if (p.dtype == ScalarType::Float) return fp32_workspace_floats(p);
  return stats_floats(p) + (p.dq_wanted ? p.batch * p.heads_q * p.seq_q * p.head_dim : 0);
}

bool supported(const Backward& p) {
  if (p.dtype == ScalarType::Float) return fp32_supported(p);
  if (p.dtype != ScalarType::Half && p.dtype != ScalarType::BFloat16) return false;
  if (p.head_dim <= 0 || p.head_dim > 256 || p.head_dim % 8 != 0) return false;
  if (p.heads_kv <= 0 || p.heads_q % p.heads_kv != 0) return false;
  // Empty problems are the caller's (grid dimensions of 0 do not launch).
  if (p.batch <= 0 || p.heads_q <= 0 || p.seq_q <= 0 || p.seq_k <= 0) return false;
  if (p.batch > 65535 || p.heads_kv > 65535) return false;
  if (p.seq_q >= (int64_t(1) << 31) || p.seq_k >= (int64_t(1) << 31)) return false;
  if (p.lse == nullptr || p.workspace == nullptr || reinterpret_cast<uintptr_t>(p.workspace) % 16 != 0) return false;
  for (const Operand* o : {&p.q, &p.k, &p.v, &p.out, &p.grad_out, &p.grad_k, &p.grad_v})
    if (!rows_in_16_byte_chunks(*o, 2)) return false;
  if (p.dq_wanted && !rows_in_16_byte_chunks(p.grad_q, 2)) return false;
  const cudaDeviceProp* prop = at::cuda::getCurrentDeviceProperties();
  if (prop->major < 8) return false;
  const int d = tile_dim(p.head_dim);
  const size_t smem = d == 64 ? smem_bytes<64>() : d == 128 ? smem_bytes<128>() : smem_bytes<256>();
  return smem <= prop->sharedMemPerBlockOptin;
}

void backward(const Backward& p) {
  if (p.dtype == ScalarType::Float) return backward_fp32(p);
  if (p.batch <= 0 || p.heads_q <= 0 || p.seq_q <= 0 || p.seq_k <= 0) return;
  if (p.dtype == ScalarType::BFloat16) launch_dim<__nv_bfloat16>(p);
  else launch_dim<__half>(p);
}

}  // namespace gemforge::attention::cuda
