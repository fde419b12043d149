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

// The family's kernels; each backend instantiates its run<Op> for every one.
#define GF_KERNELS_COMPARE(X) X(eq) X(ne) X(lt) X(le) X(gt) X(ge) X(logical_and) X(logical_or) \
  X(logical_not) X(compare_constant)

}  // namespace gemforge::kernels
