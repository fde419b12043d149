// Tensor-core building blocks shared by the attention kernels (sm_80+): cp.async copies,
// ldmatrix, mma.sync m16n8k16 with fp32 accumulation, the packing of fp32 pairs into the
// 16-bit operand registers, the forward kernels' score masking and online softmax on mma's
// accumulator layout, and their output epilogue.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace gemforge::cuda_mma {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared; fewer than 16 source bytes (0 here) fill the rest with zeros.
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// The byte offset of chunk c (16 bytes) of row r in a shared tile: Swizzled, chunk r * CH + (c ^
// (r & 7)), the XOR swizzle that sends ldmatrix's eight rows to eight bank groups; Padded, rows
// of Pitch floats (the fp32 kernels' layouts, padded so that their fragment loads miss no bank).
template <int CH>
struct Swizzled {
  static __device__ __forceinline__ int at(int r, int c) { return (r * CH + (c ^ (r & 7))) * 16; }
};
template <int Pitch>
struct Padded {
  static __device__ __forceinline__ int at(int r, int c) { return (r * Pitch + c * 4) * 4; }
};

// Rows [0, R) of a tile with CH 16-byte chunks a row, from global (row r at src + r * stride
// bytes), loaded by THREADS threads into shared memory laid out as Layout: rows >= rows_valid
// and chunks >= chunks_valid are zero-filled (their source is the always-valid `base`).
template <int R, int CH, int THREADS, class Layout = Swizzled<CH>>
__device__ __forceinline__ void load_tile(uint32_t dst, const char* src, int64_t stride, int rows_valid,
                                          int chunks_valid, const void* base) {
  static_assert((R * CH) % THREADS == 0, "tile chunks must spread evenly over the threads");
#pragma unroll
  for (int k = 0; k < R * CH / THREADS; ++k) {
    const int i = threadIdx.x + k * THREADS;
    const int r = i / CH, c = i % CH;
    const bool ok = r < rows_valid && c < chunks_valid;
    cp_async16(dst + Layout::at(r, c), ok ? static_cast<const void*>(src + r * stride + c * 16) : base,
               ok ? 16 : 0);
  }
}

// Four 8x8 16-bit matrices from shared memory (lanes 8i .. 8i+7 address matrix i's rows),
// as stored or transposed.
__device__ __forceinline__ void ldsm(uint32_t addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
__device__ __forceinline__ void ldsm_t(uint32_t addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}

// 2^x on the special function unit (the library exp2f adds range handling the softmax does not
// need: its arguments are <= 0, and -inf gives 0 here too).
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// c[16 x 8] += a[16 x 16] b[16 x 8] for T = __nv_bfloat16 or __half, and the conversions
// between fp32 pairs and the 32-bit registers holding two T.
template <class T> struct Mma;
template <> struct Mma<__nv_bfloat16> {
  static __device__ __forceinline__ void run(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
  static __device__ __forceinline__ float2 unpack(uint32_t v) {
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&v));
  }
  static __device__ __forceinline__ float load(const void* p) { return __bfloat162float(*static_cast<const __nv_bfloat16*>(p)); }
};
template <> struct Mma<__half> {
  static __device__ __forceinline__ void run(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
  static __device__ __forceinline__ float2 unpack(uint32_t v) {
    return __half22float2(*reinterpret_cast<const __half2*>(&v));
  }
  static __device__ __forceinline__ float load(const void* p) { return __half2float(*static_cast<const __half*>(p)); }
};

// A forward block's place among the query blocks of BM rows (blockIdx.x; causal: the last ones,
// which see the most keys, start first): its first row m0, and the key tiles of BN rows it needs
// (all, or, causal, up to its last row's limit: query i sees key j when j <= i + causal_offset).
struct QueryBlock {
  int64_t m0;
  int num_n;
};
template <int BM, int BN>
__device__ __forceinline__ QueryBlock query_block(int64_t seq_q, int64_t seq_k, bool causal, int64_t causal_offset) {
  const int64_t num_m = (seq_q + BM - 1) / BM;
  const int64_t m0 = (causal ? num_m - 1 - blockIdx.x : blockIdx.x) * BM;
  int64_t kv_end = seq_k;
  if (causal) {
    const int64_t last_row = (m0 + BM < seq_q ? m0 + BM : seq_q) - 1;
    const int64_t lim = last_row + causal_offset + 1;
    kv_end = lim < kv_end ? lim : kv_end;
  }
  return {m0, kv_end > 0 ? static_cast<int>((kv_end + BN - 1) / BN) : 0};
}

// The scores of a warp's 16 query rows (this thread's: row0 and row0 + 8) against a tile of BN
// keys from n0, S in the fp32 accumulator layout of mma.sync m16n8 (s[nt][e]: row r = e / 2,
// key nt * 8 + 2t + e % 2), into the log2 domain: scaled, bias(r, jj) added where kBias (the
// caller's value for row r and tile key jj, in the log2 domain), keys past seq_k and (causal)
// past row i + causal_offset set to -inf. m0: the block's first row.
template <bool kBias, int BN, int NT, class Bias>
__device__ __forceinline__ void scores_log2(float (&s)[NT][4], float scale_log2, int t, int64_t row0, int64_t m0,
                                            int64_t n0, int64_t seq_k, bool causal, int64_t causal_offset,
                                            const Bias& bias) {
  // Within the tile, in 32 bits: key jj is past the end when jj >= kv_left, and hidden from row
  // r when jj > limit[r].
  const bool tail = n0 + BN > seq_k;
  const bool diag = causal && n0 + BN - 1 > m0 + causal_offset;
  const int kv_left = static_cast<int>(seq_k - n0 < BN ? seq_k - n0 : BN);
  int limit[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t l = row0 + r * 8 + causal_offset - n0;
    limit[r] = static_cast<int>(l < -1 ? -1 : (l > BN ? BN : l));
  }
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int r = e / 2, jj = nt * 8 + 2 * t + (e % 2);
      float x = s[nt][e] * scale_log2;
      if constexpr (kBias) {
        if (jj < kv_left) x += bias(r, jj);
      }
      if ((tail && jj >= kv_left) || (diag && jj > limit[r])) x = -INFINITY;
      s[nt][e] = x;
    }
  }
}

// One online-softmax step over S (log2 domain, layout as above): the rows' new running max,
// P = 2^(S - max) in place, the running sums and the O accumulator (DT n8 tiles) rescaled by
// what the max moved. exp2: the 2^x taken (fast_exp2 where 16-bit P rounds anyway).
template <int NT, int DT, class Exp2>
__device__ __forceinline__ void online_softmax(float (&s)[NT][4], float (&o)[DT][4], float (&row_max)[2],
                                               float (&row_sum)[2], const Exp2& exp2) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float mx = row_max[r];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float base = mx == -INFINITY ? 0.f : mx;  // a row with no key yet stays at zero
    const float alpha = exp2(row_max[r] - base);
    row_max[r] = mx;
    float sum = 0.f;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      s[nt][2 * r] = exp2(s[nt][2 * r] - base);
      s[nt][2 * r + 1] = exp2(s[nt][2 * r + 1] - base);
      sum += s[nt][2 * r] + s[nt][2 * r + 1];
    }
    row_sum[r] = row_sum[r] * alpha + sum;  // this thread's columns; the quad adds up at the end
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) {
      o[dt][2 * r] *= alpha;
      o[dt][2 * r + 1] *= alpha;
    }
  }
}

// Two adjacent fp32 results stored as T: a 16-bit pair as one 32-bit store, floats as one
// 8-byte store.
template <class T> __device__ __forceinline__ void store_pair(T* dst, float a, float b) {
  if constexpr (std::is_same_v<T, float>) *reinterpret_cast<float2*>(dst) = make_float2(a, b);
  else *reinterpret_cast<uint32_t*>(dst) = Mma<T>::pack(a, b);
}

// The end of a forward tile for this thread's rows row0 and row0 + 8 (r = 0, 1), from its O
// accumulator in the fp32 layout of mma.sync m16n8 and wgmma (o[dt][2r], o[dt][2r + 1] at columns
// dt * 8 + 2t, + 1), running max (log2 domain) and sum (this thread's columns; the quad adds up
// here): out = O / sum, lse = ln(sum) + max. A row that saw no key gets zeros and -inf; rows
// len_q .. lse_rows - 1 are padding and get +inf. out points at row 0, lse_at(row) is the lse of
// row `row` (when has_lse); columns >= cols are not stored.
template <class T, int DT, class LseAt>
__device__ __forceinline__ void store_out_lse(const float (&o)[DT][4], const float (&row_max)[2],
                                              const float (&row_sum)[2], int64_t row0, int t, int64_t len_q,
                                              int64_t lse_rows, char* out, int64_t row_stride, int64_t cols,
                                              bool has_lse, const LseAt& lse_at) {
  constexpr float kLn2 = 0.6931471805599453f;
  constexpr int64_t es = sizeof(T);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = row_sum[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const int64_t row = row0 + r * 8;
    if (row >= len_q) {
      if (has_lse && t == 0 && row < lse_rows) lse_at(row) = INFINITY;
      continue;
    }
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
    T* orow = reinterpret_cast<T*>(out + row * row_stride * es);
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) {
      const int col = dt * 8 + 2 * t;
      if (col < cols) store_pair(orow + col, o[dt][2 * r] * inv, o[dt][2 * r + 1] * inv);
    }
    if (has_lse && t == 0) lse_at(row) = sum > 0.f ? (row_max[r] + log2f(sum)) * kLn2 : -INFINITY;
  }
}

}  // namespace gemforge::cuda_mma
