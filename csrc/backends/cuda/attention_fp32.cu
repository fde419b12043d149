// Attention forward in float32: what F.scaled_dot_product_attention runs for fp32 inputs on cuda
// (torch's memory-efficient op). FlashAttention-2's scheme, as attention_fwd.cu: a block of 4
// warps owns 64 query rows (16 a warp) of one (batch, head) and walks the key/value tiles with an
// online softmax; K and V tiles double-buffered through cp.async.
//
// The products run on tensor cores in 3xTF32: each fp32 operand is split into a tf32 high part
// and a remainder, and a b = hi(a) hi(b) + hi(a) lo(b) + lo(a) hi(b) on mma.sync m16n8k8 (the
// lo lo term lies below fp32's rounding). That keeps fp32's accuracy (1e-6 to 5e-6 relative
// against float64; torch's kernel 3e-7 to 1e-6) at several times the speed of fp32 FMAs.
//
// Head dims up to 64 only (H200, scripts/dev/attention_fp32_standalone.py, against torch's
// efficient kernel): 1.21-1.23x at BERT's, CLIP's and S4096 shapes. At head dim 128 every tile
// shape tried ran at 0.58-0.82x: the kernel is bound by instruction issue (each warp splits
// every K and V value it reads, three instructions a value, and reads V with scalar loads),
// and the 128-wide O accumulator leaves two or three warps a scheduler. Those go to torch.
//
// Tiles sit in shared memory as rows of head_dim + 4 floats, so that the fragment loads (lane
// (g, t) reads row g, column t; or, for V, row 2t, column g) hit 32 different banks. P V takes P
// straight from S's accumulator registers by reordering the product's k index: in each chunk of 8
// keys, logical k = t is key 2t and k = t + 4 is key 2t + 1 (where the accumulator holds them),
// and V's rows are read in that order.
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

// A block: Warps warps of 16 query rows each; tiles of BN keys.
constexpr float kLog2e = 1.4426950408889634f;
template <int D> constexpr int kPitch = D + 4;  // floats a shared-memory row

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

// c += a b in 3xTF32, b's fragment (b0, b1) given in fp32; the small terms first.
__device__ __forceinline__ void mma_3xtf32(float (&c)[4], const SplitA& a, float b0, float b1) {
  uint32_t h0, l0, h1, l1;
  split(b0, h0, l0);
  split(b1, h1, l1);
  mma_tf32(c, a.lo, h0, h1);
  mma_tf32(c, a.hi, l0, l1);
  mma_tf32(c, a.hi, h0, h1);
}

// Rows [0, R) of a tile of D float columns from global (row r at src + r * stride bytes) into
// shared rows of kPitch<D> floats; rows >= rows_valid and 16-byte chunks >= chunks_valid are
// zero-filled (their source is the always-valid `base`).
template <int R, int D, int kThreads>
__device__ __forceinline__ void load_rows(uint32_t dst, const char* src, int64_t stride, int rows_valid,
                                          int chunks_valid, const void* base) {
  constexpr int CH = D / 4;
  static_assert((R * CH) % kThreads == 0, "tile chunks must spread evenly over the threads");
#pragma unroll
  for (int k = 0; k < R * CH / kThreads; ++k) {
    const int i = threadIdx.x + k * kThreads;
    const int r = i / CH, c = i % CH;
    const bool ok = r < rows_valid && c < chunks_valid;
    cp_async16(dst + (r * kPitch<D> + c * 4) * 4, ok ? static_cast<const void*>(src + r * stride + c * 16) : base,
               ok ? 16 : 0);
  }
}

template <int D, int BN, int Warps, bool kBias>
__global__ void __launch_bounds__(Warps * 32) forward_fp32_kernel(const Forward p) {
  constexpr int kThreads = Warps * 32;
  constexpr int kBlockM = Warps * 16;
  constexpr int P = kPitch<D>;
  constexpr int NT = BN / 8;  // n8 tiles of S (k8 chunks of P V)
  constexpr int DT = D / 8;   // n8 tiles of O (k8 chunks of Q K^T)
  constexpr int kTile = BN * P;  // floats
  extern __shared__ __align__(16) float smem[];
  float* sQ = smem;
  float* sK = sQ + kBlockM * P;  // two K tiles, then two V tiles: tile j+1 loads while j is used
  float* sV = sK + 2 * kTile;
  const uint32_t aQ = smem_addr(sQ), aK = smem_addr(sK), aV = smem_addr(sV);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;
  const int64_t num_m = (p.seq_q + kBlockM - 1) / kBlockM;
  // Causal blocks near the end see the most keys: start them first.
  const int64_t mb = p.causal ? num_m - 1 - blockIdx.x : blockIdx.x;
  const int64_t m0 = mb * kBlockM;
  const int64_t b = blockIdx.z, h = blockIdx.y;
  const int64_t hk = h / (p.heads_q / p.heads_kv);
  const int chunks_valid = static_cast<int>(p.head_dim / 4);
  constexpr int64_t es = sizeof(float);

  const char* q = static_cast<const char*>(p.q.data) + (b * p.q.batch_stride + h * p.q.head_stride + m0 * p.q.row_stride) * es;
  const char* k = static_cast<const char*>(p.k.data) + (b * p.k.batch_stride + hk * p.k.head_stride) * es;
  const char* v = static_cast<const char*>(p.v.data) + (b * p.v.batch_stride + hk * p.v.head_stride) * es;

  // Key tiles this block needs: all, or (causal) up to the last row's limit.
  int64_t kv_end = p.seq_k;
  if (p.causal) {
    const int64_t last_row = (m0 + kBlockM < p.seq_q ? m0 + kBlockM : p.seq_q) - 1;
    const int64_t lim = last_row + p.causal_offset + 1;
    kv_end = lim < kv_end ? lim : kv_end;
  }
  const int num_n = kv_end > 0 ? static_cast<int>((kv_end + BN - 1) / BN) : 0;

  auto load_kv = [&](int jb) {  // key and value tile jb into buffer jb % 2
    const int64_t n0 = int64_t(jb) * BN;
    const int rows_valid = static_cast<int>(p.seq_k - n0 < BN ? p.seq_k - n0 : BN);
    const uint32_t buf = (jb & 1) * kTile * 4;
    load_rows<BN, D, kThreads>(aK + buf, k + n0 * p.k.row_stride * es, p.k.row_stride * es, rows_valid, chunks_valid, p.k.data);
    load_rows<BN, D, kThreads>(aV + buf, v + n0 * p.v.row_stride * es, p.v.row_stride * es, rows_valid, chunks_valid, p.v.data);
  };
  load_rows<kBlockM, D, kThreads>(aQ, q, p.q.row_stride * es, static_cast<int>(p.seq_q - m0 < kBlockM ? p.seq_q - m0 : kBlockM),
                        chunks_valid, p.q.data);
  if (num_n > 0) load_kv(0);
  cp_async_commit();

  float o[DT][4];
#pragma unroll
  for (int i = 0; i < DT; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};
  const float scale_log2 = p.scale * kLog2e;
  const int64_t row0 = m0 + warp * 16 + g;  // this thread's rows: row0 and row0 + 8
  const char* bias_plane =
      kBias ? static_cast<const char*>(p.bias) + (b * p.bias_batch_stride + h * p.bias_head_stride) * es : nullptr;
  const float* qf = sQ + (warp * 16 + g) * P + t;  // A fragments of Q K^T: rows g, g + 8; columns t, t + 4
  const float* kf = sK + g * P + t;                // B fragments of Q K^T: key g; columns t, t + 4
  const float* vf = sV + 2 * t * P + g;            // B fragments of P V: keys 2t, 2t + 1; column g

  for (int jb = 0; jb < num_n; ++jb) {
    const int64_t n0 = int64_t(jb) * BN;
    const int buf = (jb & 1) * kTile;
    if (jb + 1 < num_n) load_kv(jb + 1);  // into the buffer the previous tile used
    cp_async_commit();   // (possibly empty: keeps the group count uniform)
    cp_async_wait<1>();  // Q and this K and V tile have landed
    __syncthreads();

    // S = Q K^T for this warp's 16 rows and the tile's keys.
    float s[NT][4];
#pragma unroll
    for (int i = 0; i < NT; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < DT; ++kk) {
      const SplitA a(qf[kk * 8], qf[8 * P + kk * 8], qf[kk * 8 + 4], qf[8 * P + kk * 8 + 4]);
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
        mma_3xtf32(s[nt], a, kf[buf + nt * 8 * P + kk * 8], kf[buf + nt * 8 * P + kk * 8 + 4]);
    }

    // Scores into the log2 domain, bias and masks applied; the online softmax step (exp2f: P
    // stays in fp32 here).
    scores_log2<kBias, BN>(s, scale_log2, t, row0, m0, n0, p.seq_k, p.causal, p.causal_offset, [&](int r, int jj) {
      const int64_t i = row0 + r * 8;
      return i < p.seq_q
                 ? *reinterpret_cast<const float*>(bias_plane + (i * p.bias_row_stride + (n0 + jj) * p.bias_col_stride) * es) * kLog2e
                 : 0.f;
    });
    online_softmax(s, o, row_max, row_sum, [](float x) { return exp2f(x); });

    // O += P V, P's A fragment of key chunk kk straight from S's n8 tile kk (keys reordered).
#pragma unroll
    for (int kk = 0; kk < NT; ++kk) {
      const SplitA a(s[kk][0], s[kk][2], s[kk][1], s[kk][3]);
#pragma unroll
      for (int dt = 0; dt < DT; ++dt)
        mma_3xtf32(o[dt], a, vf[buf + kk * 8 * P + dt * 8], vf[buf + kk * 8 * P + P + dt * 8]);
    }
    __syncthreads();  // every warp is done with buffer jb % 2 before tile jb + 2 loads into it
  }
  cp_async_wait<0>();

  // out = O / sum; lse = ln(sum) + max. A row that saw no key gets zeros and -inf; rows seq_q ..
  // lse_rows - 1 are padding and get +inf.
  constexpr float kLn2 = 0.6931471805599453f;
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

// Key tiles of BN rows, Warps warps (16 query rows each) a block; D: the head dim's tile width.
template <int D, int BN, int Warps>
void launch(const Forward& p) {
  constexpr int kBlockM = Warps * 16;
  const size_t smem = size_t(kBlockM + 4 * BN) * kPitch<D> * sizeof(float);
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
  launch<64, 32, 4>(p);
}

}  // namespace gemforge::attention::cuda
