// The scan engine: an inclusive scan along one dim of a tensor viewed as [outer, n, inner]
// (cumsum, cumprod, cummax/cummin with indices, logcumsumexp). The host side (scan.cpp) turns
// tensors into a Problem; the backends (backends/cpu/scan.cpp, backends/cuda/scan.cu) run it.
// No ATen below the host side: c10 types only, nvcc-safe.
#pragma once

#include "engine/dtypes.h"

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace gemforge::scan {

enum class Op { sum, prod, max, min, logsumexp };

// Dtypes each op has kernels for (the scan's dtype: input and output share it; the host casts
// the input first where torch computes in another dtype). The rest goes to torch.
constexpr TypeSet kSumTypes = kReal;                          // cumsum, cumprod
constexpr TypeSet kMaxTypes = kReal | kBool;                  // cummax, cummin
constexpr TypeSet kLogSumExpTypes = kFloating;                // logcumsumexp

constexpr TypeSet types_of(Op op) {
  return op == Op::sum || op == Op::prod ? kSumTypes
       : op == Op::logsumexp            ? kLogSumExpTypes
                                        : kMaxTypes;
}

// Dense, contiguous input and output of one dtype, shape [outer, n, inner]; `indices` (int64,
// same shape) only for max/min. `workspace` (cuda, may be null): bytes for the split scans.
struct Problem {
  Op op;
  ScalarType dtype;
  const void* in;
  void* out;
  int64_t* indices;
  int64_t outer, n, inner;
};

// ---- launchers, one per backend ---------------------------------------------------------------
void scan_cpu(const Problem& p);
void scan_cuda(const Problem& p);

// ---- host side ----------------------------------------------------------------------------------
// out (the result dtype, self's shape, any strides) = the scan of `input` along dim; `input`
// already has out's dtype. indices: defined only for max/min. Writes through a contiguous
// temporary where out is not dense. Returns false where no kernel serves the case (the op then
// calls torch's).
bool served(Op op, const at::Tensor& input);
void run(Op op, const at::Tensor& input, int64_t dim, const at::Tensor& out,
         const at::Tensor& indices = at::Tensor());

// ---- the combine of each op (a: the earlier part, b: the later part) ----------------------------
template <class T> GF_HD bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

template <class A> struct ValueIndex {
  A v;
  int64_t i;
};

}  // namespace gemforge::scan
