// Attention forward in float32: what F.scaled_dot_product_attention runs for fp32 inputs on cuda
// (torch's memory-efficient op). FlashAttention-2's scheme, as attention_fwd.cu: a block of 4 or
// 8 warps owns 16 query rows a warp of one (batch, head) and walks the key/value tiles with an
// online softmax.
//
// The products run on tensor cores in 3xTF32: each fp32 operand is split into a tf32 high part
// and a remainder, and a b = hi(a) hi(b) + hi(a) lo(b) + lo(a) hi(b) on mma.sync m16n8k8 (the
// lo lo term lies below fp32's rounding). That keeps fp32's accuracy (1e-6 to 5e-6 relative
// against float64; torch's kernel 3e-7 to 1e-6) at several times the speed of fp32 FMAs.
//
// The kernel is bound by instruction issue, so the splitting is done once: each K and V tile
// lands raw (cp.async, one buffer: tile j + 1 loads while j is used), the whole block splits it
// into shared rows that hand each lane its fragment's high and low parts in one 16-byte load
// (K: (hi, hi, lo, lo) per pair of columns; V: (hi, hi, lo, lo) per column of a pair of keys),
// then every warp uses it. Q K^T reads its k index in column pairs (logical k = t is column 2t,
// k = t + 4 column 2t + 1), so that a Q fragment's two columns are one 8-byte load, and P V takes
// P straight from S's accumulator registers by the same reordering over keys. Row pitches are
// padded so that each of these loads hits every bank once.
//
// Head dims up to 64 (H200, scripts/dev/attention_fp32_standalone.py, against torch's efficient
// kernel): 1.36-1.50x at BERT's, CLIP's and S4096 shapes (each warp splitting what it reads:
// 1.27x). At head dim 128 the best tiles ran 0.88-1.06x (the 128-wide O accumulator leaves
// one block of 8 warps an SM): those go to torch.
#include "backends/attention.h"
#include "backends/cuda/launch.cuh"
#include "backends/cuda/mma_sync.cuh"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>

#include <cmath>
#include <cstdint>

namespace gemforge::attention::cuda {
namespace {

using namespace gemforge::cuda_mma;

constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}
// The remainder is left unrounded: the tensor core reads its top 19 bits, which truncates it by
// at most 2^-10 of itself (2^-21 of x); rounding it too cost 10% of the kernel's time.
__device__ __forceinline__ void split(float x, uint32_t& hi, uint32_t& lo) {
  hi = to_tf32(x);
  lo = __float_as_uint(x - __uint_as_float(hi));
}

// c[16 x 8] += a[16 x 8] b[8 x 8] in tf32.
__device__ __forceinline__ void mma_tf32(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// An A fragment (a0..a3) split into high and low parts.
struct SplitA {
  uint32_t hi[4], lo[4];
  __device__ __forceinline__ SplitA(float a0, float a1, float a2, float a3) {
    split(a0, hi[0], lo[0]);
    split(a1, hi[1], lo[1]);
    split(a2, hi[2], lo[2]);
    split(a3, hi[3], lo[3]);
  }
};

// c += a b in 3xTF32, b's fragment split: (hi(b0), hi(b1), lo(b0), lo(b1)); the small terms first.
__device__ __forceinline__ void mma_split(float (&c)[4], const SplitA& a, uint4 b) {
  mma_tf32(c, a.lo, b.x, b.y);
  mma_tf32(c, a.hi, b.z, b.w);
  mma_tf32(c, a.hi, b.x, b.y);
}

// Rows [0, R) of a tile of D float columns from global (row r at src + r * stride bytes) into
// shared rows of Pitch floats; rows >= rows_valid and 16-byte chunks >= chunks_valid are
// zero-filled (their source is the always-valid `base`).
template <int R, int D, int kThreads, int Pitch>
__device__ __forceinline__ void load_rows(uint32_t dst, const char* src, int64_t stride, int rows_valid,
                                          int chunks_valid, const void* base) {
  constexpr int CH = D / 4;
  static_assert((R * CH) % kThreads == 0, "tile chunks must spread evenly over the threads");
#pragma unroll
  for (int k = 0; k < R * CH / kThreads; ++k) {
    const int i = threadIdx.x + k * kThreads;
    const int r = i / CH, c = i % CH;
    const bool ok = r < rows_valid && c < chunks_valid;
    cp_async16(dst + (r * Pitch + c * 4) * 4, ok ? static_cast<const void*>(src + r * stride + c * 16) : base,
               ok ? 16 : 0);
  }
}

// out = O / sum; lse = ln(sum) + max, for this thread's rows row0 and row0 + 8 of (b, h). A row
// that saw no key gets zeros and -inf; rows seq_q .. lse_rows - 1 are padding and get +inf.
template <int DT>
__device__ __forceinline__ void store_out_lse(const Forward& p, const float (&o)[DT][4], const float (&row_max)[2],
                                              const float (&row_sum)[2], int64_t b, int64_t h, int64_t row0, int t) {
  constexpr float kLn2 = 0.6931471805599453f;
  constexpr int64_t es = sizeof(float);
  char* out = static_cast<char*>(p.out.data) + (b * p.out.batch_stride + h * p.out.head_stride) * es;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = row_sum[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const int64_t row = row0 + r * 8;
    float* lse = p.lse != nullptr ? p.lse + b * p.lse_batch_stride + h * p.lse_head_stride + row : nullptr;
    if (row >= p.seq_q) {
      if (lse && t == 0 && row < p.lse_rows) *lse = INFINITY;
      continue;
    }
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
    float* orow = reinterpret_cast<float*>(out + row * p.out.row_stride * es);
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) {
      const int col = dt * 8 + 2 * t;
      if (col < p.head_dim) *reinterpret_cast<float2*>(orow + col) = make_float2(o[dt][2 * r] * inv, o[dt][2 * r + 1] * inv);
    }
    if (lse && t == 0) *lse = sum > 0.f ? (row_max[r] + log2f(sum)) * kLn2 : -INFINITY;
  }
}

// A block: Warps warps of 16 query rows each, key tiles of BN rows, head dims up to D.
template <int D, int BN, int Warps, bool kBias>
__global__ void __launch_bounds__(Warps * 32) forward_fp32_kernel(const Forward p) {
  constexpr int kThreads = Warps * 32;
  constexpr int kBlockM = Warps * 16;
  constexpr int PQ = D + 8;       // floats a Q row: 8-byte loads of 16 lanes hit 32 banks
  constexpr int PK = 2 * D + 16;  // a split K row; 16-byte loads of 8 lanes hit 8 bank groups
  constexpr int PV = 4 * D + 8;   // a split pair of V rows; likewise
  constexpr int NT = BN / 8, DT = D / 8;
  extern __shared__ __align__(16) float smem[];
  float* sQ = smem;
  float* sRaw = sQ + kBlockM * PQ;  // K then V tile as loaded, D floats a row
  float* sK = sRaw + 2 * BN * D;
  float* sV = sK + BN * PK;
  const uint32_t aQ = smem_addr(sQ), aRaw = smem_addr(sRaw);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int64_t num_m = (p.seq_q + kBlockM - 1) / kBlockM;
  const int64_t mb = p.causal ? num_m - 1 - blockIdx.x : blockIdx.x;  // the longest causal blocks first
  const int64_t m0 = mb * kBlockM;
  const int64_t b = blockIdx.z, h = blockIdx.y;
  const int64_t hk = h / (p.heads_q / p.heads_kv);
  const int chunks_valid = static_cast<int>(p.head_dim / 4);
  constexpr int64_t es = sizeof(float);
  const char* q = static_cast<const char*>(p.q.data) + (b * p.q.batch_stride + h * p.q.head_stride + m0 * p.q.row_stride) * es;
  const char* k = static_cast<const char*>(p.k.data) + (b * p.k.batch_stride + hk * p.k.head_stride) * es;
  const char* v = static_cast<const char*>(p.v.data) + (b * p.v.batch_stride + hk * p.v.head_stride) * es;

  int64_t kv_end = p.seq_k;
  if (p.causal) {
    const int64_t last_row = (m0 + kBlockM < p.seq_q ? m0 + kBlockM : p.seq_q) - 1;
    const int64_t lim = last_row + p.causal_offset + 1;
    kv_end = lim < kv_end ? lim : kv_end;
  }
  const int num_n = kv_end > 0 ? static_cast<int>((kv_end + BN - 1) / BN) : 0;
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
    for (int i = threadIdx.x; i < BN * D / 2; i += kThreads) {  // K: row r, column pair c
      const int r = i / (D / 2), c = i % (D / 2);
      const float2 x = *reinterpret_cast<const float2*>(sRaw + r * D + 2 * c);
      uint32_t h0, l0, h1, l1;
      split(x.x, h0, l0);
      split(x.y, h1, l1);
      *reinterpret_cast<uint4*>(sK + r * PK + 4 * c) = make_uint4(h0, h1, l0, l1);
    }
    for (int i = threadIdx.x; i < BN / 2 * D; i += kThreads) {  // V: key pair r, column c
      const int r = i / D, c = i % D;
      uint32_t h0, l0, h1, l1;
      split(sRaw[(BN + 2 * r) * D + c], h0, l0);
      split(sRaw[(BN + 2 * r + 1) * D + c], h1, l1);
      *reinterpret_cast<uint4*>(sV + r * PV + 4 * c) = make_uint4(h0, h1, l0, l1);
    }
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
      const SplitA a(top.x, bottom.x, top.y, bottom.y);
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) mma_split(s[nt], a, *reinterpret_cast<const uint4*>(kf + nt * 8 * PK + kk * 16));
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
      const SplitA a(s[kk][0], s[kk][2], s[kk][1], s[kk][3]);
#pragma unroll
      for (int dt = 0; dt < DT; ++dt) mma_split(o[dt], a, *reinterpret_cast<const uint4*>(vf + kk * 4 * PV + dt * 32));
    }
  }
  cp_async_wait<0>();
  store_out_lse(p, o, row_max, row_sum, b, h, row0, t);
}

template <int D, int BN, int Warps>
void launch(const Forward& p) {
  constexpr int kBlockM = Warps * 16;
  const size_t smem = size_t(kBlockM * (D + 8) + 2 * BN * D + BN * (2 * D + 16) + BN / 2 * (4 * D + 8)) * sizeof(float);
  auto kernel = p.bias != nullptr ? forward_fp32_kernel<D, BN, Warps, true> : forward_fp32_kernel<D, BN, Warps, false>;
  if (smem > 48 * 1024) pw::cuda::raise_smem_limit(reinterpret_cast<const void*>(kernel), smem);
  const dim3 grid(static_cast<unsigned>((p.seq_q + kBlockM - 1) / kBlockM), static_cast<unsigned>(p.heads_q),
                  static_cast<unsigned>(p.batch));
  kernel<<<grid, Warps * 32, smem, c10::cuda::getCurrentCUDAStream()>>>(p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

bool fp32_supported(const Forward& p) {
  if (p.dtype != ScalarType::Float || p.cu_seqlens_q != nullptr) return false;
  if (p.head_dim <= 0 || p.head_dim > 64 || p.head_dim % 4 != 0) return false;
  if (p.heads_kv <= 0 || p.heads_q % p.heads_kv != 0) return false;
  if (p.batch > 65535 || p.heads_q > 65535 || (p.seq_q + 15) / 16 > INT32_MAX) return false;
  if (p.seq_q >= (int64_t(1) << 31) || p.seq_k >= (int64_t(1) << 31)) return false;
  // 16-byte chunks: aligned bases and row strides.
  for (const Operand* o : {&p.q, &p.k, &p.v, &p.out}) {
    if (reinterpret_cast<uintptr_t>(o->data) % 16 != 0) return false;
    if (o->batch_stride % 4 != 0 || o->head_stride % 4 != 0 || o->row_stride % 4 != 0) return false;
  }
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
  if (p.batch * p.heads_q * ((p.seq_q + 127) / 128) >= 2 * pw::cuda::sm_count()) launch<64, 32, 8>(p);
  else launch<64, 32, 4>(p);
}

}  // namespace gemforge::attention::cuda
