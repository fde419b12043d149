// Attention forward in float32: what F.scaled_dot_product_attention runs for fp32 inputs on cuda
// (torch's memory-efficient op). FlashAttention-2's scheme, as attention_fwd.cu: a block of 4 or
// 8 warps owns 16 query rows a warp of one (batch, head) and walks the key/value tiles with an
// online softmax.
//
// The products run on tensor cores in 3xTF32 (backends/cuda/tf32x3.cuh), which keeps fp32's
// accuracy (1e-6 to 5e-6 relative against float64; torch's kernel 3e-7 to 1e-6) at several times
// the speed of fp32 FMAs. The kernel is bound by instruction issue, so each K and V tile is split
// once: it lands raw (cp.async, one buffer: tile j + 1 loads while j is used), the whole block
// splits K by column pairs and V by row pairs, then every warp uses it. Q's fragments are read
// in column pairs and split on the fly; P V takes P straight from S's accumulator registers.
//
// H200, scripts/dev/attention_fp32_standalone.py, against torch's efficient kernel: head dims up
// to 64 1.40-1.50x at BERT's, CLIP's and S4096 shapes (each warp splitting what it reads: 1.27x);
// head dims 72-128 (the 128-wide O accumulator: one block of 8 warps an SM) 1.13x at Llama's
// B4 H32 S1024 and 1.19x at S4096, but 0.98x at Llava's B2 H32 S832, whose 448 blocks fill
// 3.4 waves of the card and idle most of it in the last: there it is served from 6 waves up.
#include "backends/attention.h"
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

// A block: Warps warps of 16 query rows each, key tiles of BN rows, head dims up to D; at least
// MinBlocks blocks an SM (registers capped to fit them).
template <int D, int BN, int Warps, bool kBias, int MinBlocks>
__global__ void __launch_bounds__(Warps * 32, MinBlocks) forward_fp32_kernel(const Forward p) {
  constexpr int kThreads = Warps * 32;
  constexpr int kBlockM = Warps * 16;
  constexpr int PQ = kPairPitch<D>;
  constexpr int PK = kColumnPairPitch<D>;
  constexpr int PV = kRowPairPitch<D>;
  constexpr int NT = BN / 8, DT = D / 8;
  extern __shared__ __align__(16) float smem[];
  float* sQ = smem;
  float* sRaw = sQ + kBlockM * PQ;  // K then V tile as loaded, D floats a row
  float* sK = sRaw + 2 * BN * D;
  float* sV = sK + BN * PK;
  const uint32_t aQ = smem_addr(sQ), aRaw = smem_addr(sRaw);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const QueryBlock block = query_block<kBlockM, BN>(p.seq_q, p.seq_k, p.causal, p.causal_offset);
  const int64_t m0 = block.m0;
  const int num_n = block.num_n;
  const int64_t b = blockIdx.z, h = blockIdx.y;
  const int64_t hk = h / (p.heads_q / p.heads_kv);
  const int chunks_valid = static_cast<int>(p.head_dim / 4);
  constexpr int64_t es = sizeof(float);
  const char* q = static_cast<const char*>(p.q.data) + (b * p.q.batch_stride + h * p.q.head_stride + m0 * p.q.row_stride) * es;
  const char* k = static_cast<const char*>(p.k.data) + (b * p.k.batch_stride + hk * p.k.head_stride) * es;
  const char* v = static_cast<const char*>(p.v.data) + (b * p.v.batch_stride + hk * p.v.head_stride) * es;

  auto load_raw = [&](int jb) {
    const int64_t n0 = int64_t(jb) * BN;
    const int rows_valid = static_cast<int>(p.seq_k - n0 < BN ? p.seq_k - n0 : BN);
    load_rows<BN, D, kThreads, D>(aRaw, k + n0 * p.k.row_stride * es, p.k.row_stride * es, rows_valid, chunks_valid,
                                  p.k.data);
    load_rows<BN, D, kThreads, D>(aRaw + BN * D * 4, v + n0 * p.v.row_stride * es, p.v.row_stride * es, rows_valid,
                                  chunks_valid, p.v.data);
  };
  load_rows<kBlockM, D, kThreads, PQ>(aQ, q, p.q.row_stride * es,
                                      static_cast<int>(p.seq_q - m0 < kBlockM ? p.seq_q - m0 : kBlockM), chunks_valid,
                                      p.q.data);
  if (num_n > 0) load_raw(0);
  cp_async_commit();

  float o[DT][4];
#pragma unroll
  for (int i = 0; i < DT; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};
  const float scale_log2 = p.scale * kLog2e;
  const int64_t row0 = m0 + warp * 16 + g;
  const char* bias_plane =
      kBias ? static_cast<const char*>(p.bias) + (b * p.bias_batch_stride + h * p.bias_head_stride) * es : nullptr;
  const float* qf = sQ + (warp * 16 + g) * PQ + 2 * t;  // rows g, g + 8; columns 2t, 2t + 1 of each 8
  const float* kf = sK + g * PK + 4 * t;                // key g; column pair t of each 8 columns
  const float* vf = sV + t * PV + 4 * g;                // keys 2t, 2t + 1 of each 8; column g

  for (int jb = 0; jb < num_n; ++jb) {
    const int64_t n0 = int64_t(jb) * BN;
    cp_async_wait<0>();
    __syncthreads();  // the raw tile has landed, and every warp is done with the last split tile
    split_by_column_pairs<BN, D, kThreads>(sRaw, sK);
    split_by_row_pairs<BN, D, kThreads>(sRaw + BN * D, sV);
    __syncthreads();  // the split tile is ready; the raw buffer is free for the next tile
    if (jb + 1 < num_n) load_raw(jb + 1);
    cp_async_commit();

    float s[NT][4];
#pragma unroll
    for (int i = 0; i < NT; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < DT; ++kk) {
      const float2 top = *reinterpret_cast<const float2*>(qf + kk * 8);
      const float2 bottom = *reinterpret_cast<const float2*>(qf + 8 * PQ + kk * 8);
      mma_split_n(s, SplitA(top.x, bottom.x, top.y, bottom.y), kf + kk * 16, 8 * PK);
    }
    scores_log2<kBias, BN>(s, scale_log2, t, row0, m0, n0, p.seq_k, p.causal, p.causal_offset, [&](int r, int jj) {
      const int64_t i = row0 + r * 8;
      return i < p.seq_q
                 ? *reinterpret_cast<const float*>(bias_plane + (i * p.bias_row_stride + (n0 + jj) * p.bias_col_stride) * es) * kLog2e
                 : 0.f;
    });
    online_softmax(s, o, row_max, row_sum, [](float x) { return exp2f(x); });
#pragma unroll
    for (int kk = 0; kk < NT; ++kk) {
      mma_split_n(o, SplitA(s[kk][0], s[kk][2], s[kk][1], s[kk][3]), vf + kk * 4 * PV, 32);
    }
  }
  cp_async_wait<0>();
  // out = O / sum; lse = ln(sum) + max (mma_sync.cuh).
  store_out_lse<float>(o, row_max, row_sum, row0, t, p.seq_q, p.lse_rows,
                       static_cast<char*>(p.out.data) + (b * p.out.batch_stride + h * p.out.head_stride) * es,
                       p.out.row_stride, p.head_dim, p.lse != nullptr, [&](int64_t row) -> float& {
                         return p.lse[b * p.lse_batch_stride + h * p.lse_head_stride + row];
                       });
}

// Head dims up to 64: two blocks of 8 warps an SM, or three of 4 (their shared memory allows
// them; uncapped, ptxas takes registers for one or two: bert 1.36x against 1.55x, clip 1.16x
// against 1.40x). Head dim 128's O accumulator needs the registers of one block of 8 warps.
template <int D, int BN, int Warps, int MinBlocks = (D > 64 ? 1 : Warps == 8 ? 2 : 3)>
void launch(const Forward& p) {
  constexpr int kBlockM = Warps * 16;
  const size_t smem =
      size_t(kBlockM * kPairPitch<D> + 2 * BN * D + BN * kColumnPairPitch<D> + BN / 2 * kRowPairPitch<D>) * sizeof(float);
  auto kernel = p.bias != nullptr ? forward_fp32_kernel<D, BN, Warps, true, MinBlocks>
                                  : forward_fp32_kernel<D, BN, Warps, false, MinBlocks>;
  if (smem > 48 * 1024) pw::cuda::raise_smem_limit(reinterpret_cast<const void*>(kernel), smem);
  const dim3 grid(static_cast<unsigned>((p.seq_q + kBlockM - 1) / kBlockM), static_cast<unsigned>(p.heads_q),
                  static_cast<unsigned>(p.batch));
  kernel<<<grid, Warps * 32, smem, c10::cuda::getCurrentCUDAStream()>>>(p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// The problem's 128-row query blocks over every (batch, head): against multiples of the SM count,
// the waves they fill (the head dim 128 threshold and the 8-warp choice).
int64_t query_blocks_128(const Forward& p) { return p.batch * p.heads_q * ((p.seq_q + 127) / 128); }

}  // namespace

bool fp32_supported(const Forward& p) {
  if (p.dtype != ScalarType::Float || p.cu_seqlens_q != nullptr) return false;
  if (p.head_dim <= 0 || p.head_dim > 128 || p.head_dim % 4 != 0) return false;
  if (p.head_dim > 64 && query_blocks_128(p) < 6 * pw::cuda::sm_count()) return false;
  if (p.heads_kv <= 0 || p.heads_q % p.heads_kv != 0) return false;
  if (p.batch > 65535 || p.heads_q > 65535 || (p.seq_q + 15) / 16 > INT32_MAX) return false;
  if (p.seq_q >= (int64_t(1) << 31) || p.seq_k >= (int64_t(1) << 31)) return false;
  for (const Operand* o : {&p.q, &p.k, &p.v, &p.out})
    if (!rows_in_16_byte_chunks(*o, 4)) return false;
  // A bias only in 16-byte aligned rows, as torch's kernel requires of a float one (it raises
  // otherwise, and those calls must reach it); this kernel reads it a value at a time.
  if (p.bias != nullptr &&
      (p.bias_col_stride != 1 || reinterpret_cast<uintptr_t>(p.bias) % 16 != 0 || p.bias_row_stride % 4 != 0 ||
       p.bias_head_stride % 4 != 0 || p.bias_batch_stride % 4 != 0))
    return false;
  return true;
}

void forward_fp32(const Forward& p) {
  if (p.batch == 0 || p.heads_q == 0 || p.seq_q == 0) return;
  // 8 warps (two blocks an SM) where their 128-row blocks fill the card at least once: 1.50x
  // torch at BERT's shape against 1.36x; fewer blocks (CLIP's B2 H16): 4 warps, 1.42x against 1.19x.
  if (p.head_dim > 64) launch<128, 32, 8>(p);
  else if (query_blocks_128(p) >= 2 * pw::cuda::sm_count()) launch<64, 32, 8>(p);
  else launch<64, 32, 4>(p);
}

}  // namespace gemforge::attention::cuda
