// One pointwise launch, described without ATen so that every backend (nvcc or not) reads it.
// The host engine (pointwise.cpp) fills it from a TensorIterator or, on the fast path, straight
// from contiguous tensors; a backend's run<Op>() turns it into kernels.
#pragma once

#include <c10/core/Scalar.h>
#include <c10/core/ScalarType.h>

#include <cstdint>

namespace gemforge::pw {

constexpr int kMaxOperands = 5;  // the output and up to four inputs
constexpr int kMaxDims = 25;     // what TensorIterator hands a CUDA kernel at most

struct Launch {
  int ntensors = 0;  // operand 0 is the output
  int ndim = 1;
  int64_t numel = 0;
  // Every operand walks memory densely in the same order: element i is at data[k] + i*size.
  bool contiguous = false;
  ScalarType compute = ScalarType::Undefined;  // the dtype the op's functor is built for
  ScalarType dtype[kMaxOperands] = {};
  char* data[kMaxOperands] = {};
  bool cpu_scalar[kMaxOperands] = {};          // data is a host pointer to one element
  // Only the first ndim entries (of the first ntensors rows) are meaningful: left unfilled, the
  // ~1 KB stays out of a tiny op's host time.
  int64_t sizes[kMaxDims];                     // fastest-moving dimension first
  int64_t strides[kMaxOperands][kMaxDims];     // in bytes
};

// The non-tensor arguments of an op (alpha, clamp bounds, a rounding mode, ...).
struct Args {
  c10::Scalar s0, s1;
  int mode = 0;
  c10::Scalar s2;
};

// Backend entry points, one instantiation per op (see ops/pointwise/kernels.h).
template <class Op> void run_cpu(const Launch& launch, const Args& args);
template <class Op> void run_cuda(const Launch& launch, const Args& args);

}  // namespace gemforge::pw
