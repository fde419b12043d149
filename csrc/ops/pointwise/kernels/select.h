// Pointwise functors: where and clamp.
#pragma once

#include "ops/pointwise/kernels/base.h"

namespace gemforge::kernels {

GF_STATELESS(where, kAll, C, (bool c, C a, C b), return c ? a : b;)

struct clamp_scalar : op_base {  // mode bit 1: has min, bit 2: has max
  static constexpr TypeSet types = kReal;
  template <class C> struct fn {
    C lo, hi;
    int mode;
    GF_HD C operator()(C a) const {
      if (is_nan(a)) return a;
      if (mode & 1) a = a < lo ? lo : a;
      if (mode & 2) a = hi < a ? hi : a;
      return a;
    }
  };
  template <class C> static fn<C> make(const Args& args) {
    return {(args.mode & 1) ? args.s0.to<C>() : C(0), (args.mode & 2) ? args.s1.to<C>() : C(0),
            args.mode};
  }
};
// Tensor bounds: a NaN anywhere is the result, as in torch.
GF_STATELESS(clamp_tensor, kReal, C, (C a, C lo, C hi),
  if (is_nan(a)) return a;
  if (is_nan(lo)) return lo;
  if (is_nan(hi)) return hi;
  a = a < lo ? lo : a;
  return hi < a ? hi : a;)
GF_STATELESS(clamp_min_tensor, kReal, C, (C a, C lo),
  if (is_nan(a)) return a;
  if (is_nan(lo)) return lo;
  return a < lo ? lo : a;)
GF_STATELESS(clamp_max_tensor, kReal, C, (C a, C hi),
  if (is_nan(a)) return a;
  if (is_nan(hi)) return hi;
  return hi < a ? hi : a;)

// The family's kernels; each backend instantiates its run<Op> for every one.
#define GF_KERNELS_SELECT(X) X(where) X(clamp_scalar) X(clamp_tensor) X(clamp_min_tensor) X(clamp_max_tensor)

}  // namespace gemforge::kernels
