// The creation family's index kernels: each output element is a function of its index alone
// (arange, linspace, logspace, eye, tril/triu). The per-element formulas live here, shared by
// the backends, with torch's arithmetic on each device (its accumulate types differ: float32
// ranges accumulate in double on the cpu, in float on cuda). No ATen: c10 types only.
#pragma once

#include "engine/dtypes.h"

#include <ATen/AccumulateType.h>
#include <c10/core/Scalar.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace gemforge::creation {

// A dense, contiguous output of `numel` elements of `dtype`.
struct Dense {
  ScalarType dtype;
  void* data;
  int64_t numel;
};

// A batch of matrices, strides in elements (batch, row, col); `in` unused by eye.
struct Matrices {
  int elem_size;
  char* out;
  const char* in;
  int64_t batch, rows, cols;
  int64_t out_stride[3], in_stride[3];
};

// Dtypes each kernel serves; torch's kernel takes (and rejects) the rest.
constexpr TypeSet kArangeTypes = kReal;
constexpr TypeSet kRangeTypesCuda = kIntegral | bit(ScalarType::Half) | bit(ScalarType::Float) |
    bit(ScalarType::Double);
constexpr TypeSet kSpaceTypes = kNumeric;  // linspace, logspace
constexpr TypeSet kMatrixTypes = kAll | bit(ScalarType::ComplexHalf);  // tril, triu
constexpr TypeSet kEyeTypes = kAll;

// ---- launchers, one per backend (backends/cpu/creation.cpp, backends/cuda/creation.cu) -------
#define GF_CREATION_LAUNCHERS(dev)                                                              \
  /* out[i] = start + i * step (arange, range) */                                                \
  void arange_##dev(const Dense& out, const c10::Scalar& start, const c10::Scalar& step);        \
  /* numel points from start to end, computed from both ends */                                 \
  void linspace_##dev(const Dense& out, const c10::Scalar& start, const c10::Scalar& end);       \
  void logspace_##dev(const Dense& out, const c10::Scalar& start, const c10::Scalar& end,        \
                      double base);
GF_CREATION_LAUNCHERS(cpu)
GF_CREATION_LAUNCHERS(cuda)
#undef GF_CREATION_LAUNCHERS
// eye: one (its bytes: elem_size of them) on the diagonal, zero elsewhere; batch 1.
// tri: in's elements on the kept side of `diagonal`, zero elsewhere (in place when in == out).
// The cpu takes any strides; cuda returns false, launching nothing, for a layout it has no
// vector kernel for (neither matrix dim of out dense or 16-byte aligned; an input dense along
// the other dim than out), which torch's kernel then serves.
void eye_cpu(const Matrices& m, const void* one);
void tri_cpu(const Matrices& m, int64_t diagonal, bool upper);
bool eye_cuda(const Matrices& m, const void* one);
bool tri_cuda(const Matrices& m, int64_t diagonal, bool upper);

// ---- per-element formulas ----------------------------------------------------------------------
template <class S, bool Cuda> struct arange_fn {
  using acc = at::acc_type<S, Cuda>;
  acc start, step;
  GF_HD S operator()(int64_t i) const { return static_cast<S>(start + step * static_cast<acc>(i)); }
};

// From the start up to the middle, from the end after it (both ends exact). Integers step in
// double on the cpu and float on cuda; everything else in its own dtype, as torch does.
template <class S, bool Cuda> struct linspace_fn {
  using step_t = std::conditional_t<std::is_integral_v<S>, std::conditional_t<Cuda, float, double>, S>;
  S start, end;
  step_t step;
  int64_t steps;
  GF_HD S operator()(int64_t i) const {
    if (i < steps / 2) return static_cast<S>(start + step * i);
    return static_cast<S>(end - step * (steps - i - 1));
  }
  static linspace_fn make(const c10::Scalar& a, const c10::Scalar& b, int64_t steps) {
    const S s = a.to<S>(), e = b.to<S>();
    step_t step;
    if constexpr (std::is_integral_v<S>) {
      step = (static_cast<step_t>(e) - static_cast<step_t>(s)) / static_cast<step_t>(steps - 1);
    } else if constexpr (c10::is_complex<S>::value && !Cuda) {  // the cpu divides by a real
      step = (e - s) / static_cast<typename S::value_type>(steps - 1);
    } else {
      step = (e - s) / static_cast<S>(steps - 1);
    }
    return {s, e, step, steps};
  }
};

// base ** (linspace of the exponents). The exponent's type T: on the cpu double (complex: S);
// on cuda float for integers, else S; the power in T's opmath type.
template <class S, bool Cuda> struct logspace_fn {
  static constexpr bool kComplex = c10::is_complex<S>::value;
  using T = std::conditional_t<kComplex, S,
            std::conditional_t<Cuda, std::conditional_t<std::is_integral_v<S>, float, S>, double>>;
  using P = opmath_t<T>;
  T base, step;
  S start, end;
  int64_t steps;
  GF_HD S operator()(int64_t i) const {
    const T x = i < steps / 2 ? static_cast<T>(start) + step * static_cast<T>(i)
                              : static_cast<T>(end) - step * static_cast<T>(steps - i - 1);
    return static_cast<S>(std::pow(static_cast<P>(base), static_cast<P>(x)));
  }
  static logspace_fn make(const c10::Scalar& a, const c10::Scalar& b, int64_t steps, double base) {
    const S s = a.to<S>(), e = b.to<S>();
    T step;
    if constexpr (std::is_same_v<T, S>) step = (e - s) / static_cast<T>(steps - 1);
    else step = static_cast<T>(e - s) / static_cast<T>(steps - 1);
    return {static_cast<T>(base), step, s, e, steps};
  }
};

// Storage of one element of a given size; data movement only (eye, tril, triu).
struct alignas(16) bytes16 {
  uint64_t lo, hi;
};
template <class F> void dispatch_size(int size, F&& f) {
  switch (size) {
    case 1: f(type_tag<uint8_t>{}); break;
    case 2: f(type_tag<uint16_t>{}); break;
    case 4: f(type_tag<uint32_t>{}); break;
    case 8: f(type_tag<uint64_t>{}); break;
    default: f(type_tag<bytes16>{}); break;
  }
}

GF_HD bool tri_keeps(int64_t row, int64_t col, int64_t diagonal, bool upper) {
  return upper ? col - row >= diagonal : col - row <= diagonal;
}

}  // namespace gemforge::creation
