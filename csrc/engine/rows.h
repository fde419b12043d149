// The row engine: softmax, log_softmax and the norms read a tensor as rows (the normalized dims)
// and write rows of the same shape. The ops (ops/softmax.cpp, ops/norm.cpp) turn tensors into
// these plain descriptions; the backends (backends/cpu/rows.cpp, backends/cuda/rows_*.cu) run
// them. No ATen here: c10 types only (nvcc-safe).
#pragma once

#include "engine/dtypes.h"

#include <cstdint>

namespace gemforge::rows {

// softmax over the middle dim of a dense [outer, n, inner] tensor (inner == 1: the last dim).
// out_dtype == in_dtype, or Float for a Half input (half_to_float, cuda only).
struct SoftmaxFwd {
  ScalarType in_dtype, out_dtype;
  const void* in;
  void* out;
  int64_t outer, n, inner;
  bool log;   // log_softmax
  bool safe;  // _safe_softmax: a row of -inf only gives zeros
};

// grad_input = softmax: y * (g - sum(g * y)); log_softmax: g - exp(y) * sum(g).
// grad and output share `dtype`; grad_input has `out_dtype` (Half from Float grads on cuda).
struct SoftmaxBwd {
  ScalarType dtype, out_dtype;
  const void* grad;
  const void* output;
  void* grad_input;
  int64_t outer, n, inner;
  bool log;
};

// layer_norm (rms == false) or rms_norm over the last n elements of each of `rows` dense rows.
// weight/bias: n elements of `dtype` or null. mean (layer norm only) and rstd: `rows` elements of
// `stat_dtype` (the input's dtype on the cpu's layer norm, its accumulate type otherwise).
struct NormFwd {
  ScalarType dtype, stat_dtype;
  const void* x;
  const void* weight;
  const void* bias;
  void* y;
  void* mean;
  void* rstd;
  int64_t rows, n;
  double eps;
  bool rms;
};

// The gradients of NormFwd; each output is optional (null: not wanted). dweight and dbias are
// reduced over the rows in a fixed order (deterministic).
struct NormBwd {
  ScalarType dtype, stat_dtype;
  const void* grad;
  const void* x;
  const void* mean;  // null for rms
  const void* rstd;
  const void* weight;  // null: weight 1
  void* dx;
  void* dweight;
  void* dbias;
  int64_t rows, n;
  bool rms;
};

// Dtypes each backend serves (torch's kernel takes, or rejects, the rest).
constexpr TypeSet kRowTypes = kFloating;

// The cuda kernels keep a row in registers: up to kMaxRowThreads threads a row, each holding
// 32, 16 or 8 elements of 2, 4 or 8 bytes. Longer rows take loop kernels (the norms) or are
// split over blocks (softmax).
constexpr int kMaxRowThreads = 512;
constexpr int elems_per_thread(int64_t elem_size) { return elem_size <= 2 ? 32 : elem_size == 4 ? 16 : 8; }
constexpr int64_t register_row_cuda(int64_t elem_size) {
  return int64_t(elems_per_thread(elem_size)) * kMaxRowThreads;
}

#define GF_ROWS_LAUNCHERS(dev)                    \
  void softmax_fwd_##dev(const SoftmaxFwd& p);    \
  void softmax_bwd_##dev(const SoftmaxBwd& p);    \
  void norm_fwd_##dev(const NormFwd& p);          \
  void norm_bwd_##dev(const NormBwd& p);
GF_ROWS_LAUNCHERS(cpu)
GF_ROWS_LAUNCHERS(cuda)
#undef GF_ROWS_LAUNCHERS

}  // namespace gemforge::rows
