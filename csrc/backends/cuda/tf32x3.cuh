// 3xTF32 on mma.sync for the float32 attention kernel (attention_fp32.cu):
// fp32 products on tensor cores at fp32's accuracy. Each operand is split into a tf32 high part
// and a remainder, and a b = hi(a) hi(b) + hi(a) lo(b) + lo(a) hi(b) on mma.sync m16n8k8 (the
// lo lo term lies below fp32's rounding).
//
// The kernels are bound by instruction issue, so B operands are split once a tile by the whole
// block into shared rows that hand each lane its fragment's high and low parts in one 16-byte
// load, in one of two layouts:
// - by column pairs (split_by_column_pairs), for B[k][n] = X[n][k] (X K^T-like products): a row
//   of X holds (hi, hi, lo, lo) per pair of columns; the product reads its k index in pairs
//   (logical k = t is column 2t, k = t + 4 column 2t + 1), and so must the A operand (an 8-byte
//   load of two columns from rows of kPairPitch floats);
// - by row pairs (split_by_row_pairs), for B[k][n] = X[k][n] (P V-like products): a pair of X's
//   rows holds (hi, hi, lo, lo) per column; the product's logical k = t is row 2t, k = t + 4
//   row 2t + 1, which is where an fp32 accumulator (S, dS) holds its columns 2t and 2t + 1, so
//   the A operand comes straight from those registers (SplitA(c0, c2, c1, c3)).
// Pitches are padded so that each of these loads hits every bank once.
#pragma once

#include "backends/cuda/mma_sync.cuh"

#include <cstdint>

namespace gemforge::cuda_tf32x3 {

template <int D> constexpr int kPairPitch = D + 8;            // raw rows read in column pairs by 16 lanes
template <int D> constexpr int kColumnPairPitch = 2 * D + 16;  // split rows, 16-byte loads of 8 lanes
template <int D> constexpr int kRowPairPitch = 4 * D + 8;      // split row pairs, likewise

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

// c[i] += a B_i in 3xTF32 for N products that share the A fragment a; B_i's fragment, split
// (hi(b0), hi(b1), lo(b0), lo(b1)), at b + i * step floats. The small terms first, each pass over
// all N accumulators: consecutive mma.sync then write different accumulators instead of waiting
// on each other (ncu: the kernels stalled most on that wait). Head dim 128's forward went from
// 0.95x to 1.13x torch with it; head dim 64's, already issue-bound, stayed as it was.
template <int N>
__device__ __forceinline__ void mma_split_n(float (&c)[N][4], const SplitA& a, const float* b, int step) {
  uint4 f[N];
#pragma unroll
  for (int i = 0; i < N; ++i) f[i] = *reinterpret_cast<const uint4*>(b + i * step);
#pragma unroll
  for (int i = 0; i < N; ++i) mma_tf32(c[i], a.lo, f[i].x, f[i].y);
#pragma unroll
  for (int i = 0; i < N; ++i) mma_tf32(c[i], a.hi, f[i].z, f[i].w);
#pragma unroll
  for (int i = 0; i < N; ++i) mma_tf32(c[i], a.hi, f[i].x, f[i].y);
}

// Rows [0, R) of a tile of D float columns from global into shared rows of Pitch floats
// (cuda_mma::load_tile, padded instead of swizzled).
template <int R, int D, int kThreads, int Pitch>
__device__ __forceinline__ void load_rows(uint32_t dst, const char* src, int64_t stride, int rows_valid,
                                          int chunks_valid, const void* base) {
  static_assert(D % 4 == 0 && Pitch % 4 == 0, "rows of whole 16-byte chunks");
  cuda_mma::load_tile<R, D / 4, kThreads, cuda_mma::Padded<Pitch>>(dst, src, stride, rows_valid, chunks_valid, base);
}

// The split of raw rows [0, R) (D floats each, at src) by column pairs into dst (rows of
// kColumnPairPitch<D>), by the block's kThreads threads.
template <int R, int D, int kThreads>
__device__ __forceinline__ void split_by_column_pairs(const float* src, float* dst) {
  for (int i = threadIdx.x; i < R * D / 2; i += kThreads) {
    const int r = i / (D / 2), c = i % (D / 2);
    const float2 x = *reinterpret_cast<const float2*>(src + r * D + 2 * c);
    uint32_t h0, l0, h1, l1;
    split(x.x, h0, l0);
    split(x.y, h1, l1);
    *reinterpret_cast<uint4*>(dst + r * kColumnPairPitch<D> + 4 * c) = make_uint4(h0, h1, l0, l1);
  }
}

// The split of raw rows [0, R) (D floats each, rows SrcPitch floats apart at src) by row pairs
// into dst (R / 2 rows of kRowPairPitch<D>), by the block's kThreads threads.
template <int R, int D, int kThreads, int SrcPitch = D>
__device__ __forceinline__ void split_by_row_pairs(const float* src, float* dst) {
  for (int i = threadIdx.x; i < R / 2 * D; i += kThreads) {
    const int r = i / D, c = i % D;
    uint32_t h0, l0, h1, l1;
    split(src[2 * r * SrcPitch + c], h0, l0);
    split(src[(2 * r + 1) * SrcPitch + c], h1, l1);
    *reinterpret_cast<uint4*>(dst + r * kRowPairPitch<D> + 4 * c) = make_uint4(h0, h1, l0, l1);
  }
}

}  // namespace gemforge::cuda_tf32x3
