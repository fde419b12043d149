// Pointwise functors: comparisons and logic: bool results.
#pragma once

#include "ops/pointwise/kernels/base.h"

namespace gemforge::kernels {

GF_STATELESS(eq, kAll, bool, (C a, C b), return a == b;)
GF_STATELESS(ne, kAll, bool, (C a, C b), return a != b;)
GF_STATELESS(lt, kReal | kBool, bool, (C a, C b), return a < b;)
GF_STATELESS(le, kReal | kBool, bool, (C a, C b), return a <= b;)
GF_STATELESS(gt, kReal | kBool, bool, (C a, C b), return a > b;)
GF_STATELESS(ge, kReal | kBool, bool, (C a, C b), return a >= b;)
GF_STATELESS(logical_and, kAll, bool, (C a, C b), return (a != C(0)) && (b != C(0));)
GF_STATELESS(logical_or, kAll, bool, (C a, C b), return (a != C(0)) || (b != C(0));)
GF_STATELESS(logical_not, kAll, bool, (C a), return !(a != C(0));)

// A floating tensor against a constant its dtype holds exactly (ops::exact_constant): Args.s0
// the constant, Args.mode the comparison (kernels::compare_mode).
enum compare_mode { kEq, kNe, kLt, kLe, kGt, kGe };
struct compare_constant : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C value;
    int mode;
    GF_HD bool operator()(C a) const {
      switch (mode) {
        case kEq: return a == value;
        case kNe: return a != value;
        case kLt: return a < value;
        case kLe: return a <= value;
        case kGt: return a > value;
        default: return a >= value;
      }
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>(), args.mode}; }
};

// isclose of two tensors of one floating dtype, as torch's composite computes it step by step:
// a == b, or (equal_nan) both NaN, or |a - b| finite and <= atol + |rtol * b|. Each step of the
// composite is a tensor of the storage dtype, so for fp16/bf16 every intermediate is rounded to
// it (round_to_storage), as the composite's kernels round them. Args: s0 rtol, s1 atol; mode bit
// 0 equal_nan, bit 1 equality only (both tolerances zero), bits 2-3 the round_to_storage kind.
struct isclose : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C rtol, atol;
    int mode;
    GF_HD bool operator()(C a, C b) const {
      if (a == b) return true;
      if ((mode & 1) && a != a && b != b) return true;
      if (mode & 2) return false;
      const int kind = mode >> 2;
      const C allowed = round_to_storage(atol + std::abs(round_to_storage(rtol * b, kind)), kind);
      const C actual = std::abs(round_to_storage(a - b, kind));
      return actual == actual && actual != std::numeric_limits<C>::infinity() && actual <= allowed;
    }
  };
  // (the scalars as torch's kernels take them: the double cast to the compute type, unchecked)
  template <class C> static fn<C> make(const Args& args) {
    return {static_cast<C>(args.s0.toDouble()), static_cast<C>(args.s1.toDouble()), args.mode};
  }
};

// The family's kernels; each backend instantiates its run<Op> for every one.
#define GF_KERNELS_COMPARE(X) X(eq) X(ne) X(lt) X(le) X(gt) X(ge) X(logical_and) X(logical_or) \
  X(logical_not) X(compare_constant) X(isclose)

}  // namespace gemforge::kernels
