// Tensor-core building blocks shared by the attention kernels (sm_80+): cp.async copies,
// ldmatrix, mma.sync m16n8k16 with fp32 accumulation, the packing of fp32 pairs into the
// 16-bit operand registers, and the forward kernels' output epilogue.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

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

// Rows [0, R) of a tile with CH 16-byte chunks a row, from global (row r at src + r * stride
// bytes), loaded by THREADS threads: rows >= rows_valid and chunks >= chunks_valid are
// zero-filled (their source is the always-valid `base`). Chunk c of row r lands at
// r * CH + (c ^ (r & 7)): the XOR swizzle that sends ldmatrix's eight rows to eight bank groups.
template <int R, int CH, int THREADS>
__device__ __forceinline__ void load_tile(uint32_t dst, const char* src, int64_t stride, int rows_valid,
                                          int chunks_valid, const void* base) {
  static_assert((R * CH) % THREADS == 0, "tile chunks must spread evenly over the threads");
#pragma unroll
  for (int k = 0; k < R * CH / THREADS; ++k) {
    const int i = threadIdx.x + k * THREADS;
    const int r = i / CH, c = i % CH;
    const bool ok = r < rows_valid && c < chunks_valid;
    cp_async16(dst + (r * CH + (c ^ (r & 7))) * 16, ok ? static_cast<const void*>(src + r * stride + c * 16) : base,
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
      if (col < cols)
        *reinterpret_cast<uint32_t*>(orow + col) = Mma<T>::pack(o[dt][2 * r] * inv, o[dt][2 * r + 1] * inv);
    }
    if (has_lse && t == 0) lse_at(row) = sum > 0.f ? (row_max[r] + log2f(sum)) * kLn2 : -INFINITY;
  }
}

}  // namespace gemforge::cuda_mma
