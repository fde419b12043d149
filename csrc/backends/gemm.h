// The GEMM engine's plain description of one (batched) matrix product, in cuBLASLt's terms:
// column-major storage, D = alpha * op(A) op(B) + beta * C (+ bias), fp32 accumulation. The ops
// (csrc/ops/gemm.cpp) map torch's row-major tensors onto it; the cuda backend
// (backends/cuda/gemm.cu) runs it through cuBLASLt. No ATen here: c10 types only.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>

namespace gemforge::gemm {

using c10::ScalarType;

// One input matrix as stored: `rows` x `cols` column-major with leading dimension ld >= rows,
// batches `batch_stride` elements apart (0: the same matrix for every batch). op(X) is X, or
// its transpose when `trans`.
struct Operand {
  const void* data;
  int64_t rows, cols, ld, batch_stride;
  bool trans;
};

// cuBLAS's reduced-precision reduction options for fp16/bf16 (torch's allow_*_reduced_precision):
// which split-K reduction schemes the heuristic may pick.
enum class Reduction : uint8_t { kAny, kNoReducedPrecision, kNoSplitK };

// D (m x n per batch, column-major, ld = ldd) = alpha * op(A) (m x k) * op(B) (k x n)
//                                              + beta * C + bias (broadcast over D's columns).
// C has D's layout; c == d for in-place accumulation; beta == 0: C is never read.
struct Problem {
  ScalarType dtype;  // of A, B, C, D and bias: Half, BFloat16 or Float
  int device;
  int64_t m, n, k, batch;
  Operand a, b;
  const void* c;
  void* d;
  int64_t ldd, d_batch_stride;
  const void* bias;  // m elements of dtype, or nullptr; only with batch == 1 and beta == 0
  float alpha, beta;
  bool tf32;  // Float inputs: TF32 tensor cores allowed
  Reduction reduction;
};

// Limits of the cuda backend: every size, leading dimension and batch stride must fit in
// int32 (the ops fall back to torch past them).
constexpr int64_t kMaxDim = INT32_MAX;

#ifdef GEMFORGE_WITH_CUDA
// Runs p on the current stream of p.device; false when cuBLASLt has no algorithm for it
// (nothing was launched: the caller falls back to torch's kernel).
bool matmul_cuda(const Problem& p);
#endif

}  // namespace gemforge::gemm
