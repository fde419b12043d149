// The reduction engine: any set of dims of a strided tensor reduced to one plain plan
//   out[o * inner + i] = reduce over r of in[(o * R + r) * inner + i]
// (inner == 1: each output reads a contiguous row; outer == inner == 1: one value), and the
// per-backend launchers that run a plan with one of the reduction functors below. The host side
// (engine/reduction.cpp) builds plans from tensors; the kernels (backends/*/reduction.*) see no
// ATen. nvcc-safe.
#pragma once

#include "engine/dtypes.h"

#include <cstdint>

namespace gemforge::red {

// The reductions the kernels know. Each is a functor in engine/reduction_ops.h.
enum class Kind : int {
  kSum,       // sum, mean (scale = 1/R), nansum (skip_nan)
  kProd,
  kMax,       // amax, max(), NaN propagates
  kMin,
  kArgMax,    // value + first index; out0 values (may be null), out1 int64 indices
  kArgMin,
  kAll,       // out bool (uint8 bytes)
  kAny,
  kVar,       // Welford; out0 var or std (take_sqrt), out1 mean (may be null)
  kLogSumExp,
  kNorm,      // p-norm: p_kind picks 0, 1, 2, inf, -inf or general p
  kCountNonzero,
  kMinMax,    // aminmax: out0 min, out1 max
};

enum class PNorm : int { kZero, kOne, kTwo, kInf, kNegInf, kGeneral };

// One reduction, ready for a kernel. Pointers are to the first element; `in` is dense in the
// [outer][R][inner] order; outputs are dense [outer][inner].
struct Plan {
  Kind kind;
  int64_t outer, R, inner;
  const void* in;
  ScalarType in_type;   // the kernels' input dtype
  void* out0;           // result (null: not wanted, argmax without values)
  void* out1;           // second result: int64 indices, mean (var), max (minmax)
  ScalarType out_type;  // dtype of out0 (and of out1 unless it is indices)
  // parameters of some kinds
  double scale = 1.0;       // kSum: multiplies the result (mean: 1/R)
  bool skip_nan = false;    // kSum: nansum
  double correction = 1.0;  // kVar
  bool take_sqrt = false;   // kVar: std
  PNorm p_kind = PNorm::kTwo;
  double p = 2.0;           // kNorm, kGeneral
};

// The (input, output) dtype pairs the kernels are built for, per kind; the host casts the input
// (or computes into a temporary of a served dtype) for every other pair.
bool served_pair(Kind kind, ScalarType in, ScalarType out);

void reduce_cpu(const Plan& plan);
void reduce_cuda(const Plan& plan);

}  // namespace gemforge::red

// ---- host side (engine/reduction.cpp) -----------------------------------------------------------
#ifndef __CUDACC__
#include <ATen/core/Tensor.h>

#include <bitset>
#include <vector>

namespace gemforge::red {

using DimMask = std::bitset<64>;

// The dims of `self` a reduction over `dims` covers (none given or empty: all), with torch's
// errors for a dim out of range (IndexError) or named twice.
DimMask dim_mask(const at::Tensor& self, at::OptionalIntArrayRef dims);
DimMask dim_mask(const at::Tensor& self, int64_t dim);
// The result's shape: reduced dims dropped, or kept with size 1.
std::vector<int64_t> reduced_shape(const at::Tensor& self, DimMask mask, bool keepdim);
// The number of elements each output reduces.
int64_t reduced_size(const at::Tensor& self, DimMask mask);
// A new (contiguous) result for self reduced over mask.
at::Tensor new_output(const at::Tensor& self, DimMask mask, bool keepdim, at::ScalarType dtype);
// Runs `plan` (its kind and parameters; the rest is filled in here) over the mask dims of self
// into out0 (and out1 where the kind has a second result; may be undefined), which have the
// reduction's shape. served_pair(kind, self's dtype, out0's dtype) must hold.
void run(Plan plan, const at::Tensor& self, DimMask mask, const at::Tensor& out0,
         const at::Tensor& out1 = at::Tensor());

}  // namespace gemforge::red
#endif
