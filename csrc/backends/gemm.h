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

// fp8 scaled GEMM (_scaled_mm): A and B are fp8, each product element is multiplied by the
// scales (scalars, or with `outer_vec` vectors of m (A) and n (B) fp32 values), D is rounded
// after multiplying by d_scale (fp8 D only). C is never read (beta 0; c points at readable
// memory, as cuBLASLt wants, never at D).
struct Scaling {
  ScalarType a_type, b_type;      // Float8_e4m3fn or Float8_e5m2
  const void* a_scale;            // fp32: 1 value, or m with outer_vec
  const void* b_scale;            // fp32: 1 value, or n with outer_vec
  const void* d_scale;            // fp32, or nullptr
  ScalarType bias_type;           // of the bias (if any) and of C's layout
  bool outer_vec;
  bool fast_accum;
};

// D (m x n per batch, column-major, ld = ldd) = alpha * op(A) (m x k) * op(B) (k x n)
//                                              + beta * C + bias (broadcast over D's columns).
// C has D's layout; c == d for in-place accumulation; beta == 0: C is never read.
struct Problem {
  ScalarType dtype;  // of A, B (and C, D and bias unless d_dtype says): Half, BFloat16 or Float
  // C's and D's dtype when it differs from A's and B's (Float for Half/BFloat16 inputs, or any
  // output dtype of a scaled problem); Undefined: dtype.
  ScalarType d_dtype = ScalarType::Undefined;
  const Scaling* scaling = nullptr;  // fp8 scaled problem (dtype is ignored)
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

// dot(x, y) over n elements (x[i * incx] * y[i * incy]), accumulated in fp32 (double for
// Double) in an order that depends on n and the device only: every run gives the same bits.
// n > dot_one_pass_max: a first pass writes dot_partials(n) partial sums to `partials`
// (accumulator values: fp32, double for Double), a second adds them up in order.
struct Dot {
  ScalarType dtype;  // of x, y and out: Half, BFloat16, Float or Double
  int64_t n, incx, incy;
  const void* x;
  const void* y;
  void* out;       // one element
  void* partials;  // dot_partials(n) accumulators, or nullptr when n <= dot_one_pass_max
};
constexpr int64_t dot_one_pass_max = 16384;

#ifdef GEMFORGE_WITH_CUDA
// Runs p on the current stream of p.device; false when cuBLASLt has no algorithm for it
// (nothing was launched: the caller falls back to torch's kernel).
bool matmul_cuda(const Problem& p);

// Whether fp8 scaled problems are served on this device: sm_90 (Hopper), where cuBLASLt's fp8
// GEMM takes A transposed and B not (torch's _scaled_mm layout rule there) and row-wise
// (outer vector) scales.
bool fp8_device(int device);

// How many partial sums the first pass of a dot over n elements writes (on the current device).
int64_t dot_partials(int64_t n);
// Runs d on the current stream of the current device.
void dot_cuda(const Dot& d);
#endif

}  // namespace gemforge::gemm
