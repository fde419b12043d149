// Pointwise functors: ceil, floor, round (half to even, or to a number of decimals), trunc, frac,
// sign and nan_to_num. Rounding an integer is the identity, as in torch.
#pragma once

#include "ops/pointwise/kernels/base.h"

namespace gemforge::kernels {

#define GF_ROUNDING(name, expr) \
  GF_STATELESS(name, kReal, C, (C a), if constexpr (std::is_integral_v<C>) return a; else return expr;)
GF_ROUNDING(ceil, std::ceil(a))
GF_ROUNDING(floor, std::floor(a))
GF_ROUNDING(trunc, std::trunc(a))
GF_ROUNDING(round, std::nearbyint(a))
#undef GF_ROUNDING

// round(a * 10^d) / 10^d; a negative d (mode 1) rounds to tens, hundreds, ...
struct round_decimals : table_op {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C scale;
    bool negative;
    int rounding;  // round_to_storage: torch's cuda kernel scales in the half type
    GF_HD C operator()(C a) const {
      const C scaled = round_to_storage(negative ? a / scale : a * scale, rounding);
      return negative ? std::nearbyint(scaled) * scale : std::nearbyint(scaled) / scale;
    }
  };
  // mode: bit 0 negative decimals, the bits above the rounding kind
  template <class C> static fn<C> make(const Args& args) {
    const int rounding = args.mode >> 1;
    return {round_to_storage(static_cast<C>(args.s0.toDouble()), rounding), (args.mode & 1) != 0,
            rounding};
  }
};

GF_STATELESS(frac, kFloating, C, (C a), return a - std::trunc(a);)

// -1, 0 or 1; NaN and -0 give 0.
GF_STATELESS(sign, kReal | kBool, C, (C a),
  if constexpr (std::is_same_v<C, bool> || std::is_unsigned_v<C>) return C(0 < a);
  else return C(int(0 < a) - int(a < 0));)

// NaN, +inf and -inf replaced by s0, s1.real() and s1.imag() (the defaults, the dtype's largest
// and lowest values, are chosen on the host). Integers and bool are copied.
struct nan_to_num : op_base {
  static constexpr TypeSet types = kReal | kBool;
  template <class C> struct fn {
    C nan, posinf, neginf;
    GF_HD C operator()(C a) const {
      if constexpr (std::is_floating_point_v<C>) {
        if (a != a) return nan;
        if (std::isinf(a)) return a > 0 ? posinf : neginf;
      }
      return a;
    }
  };
  template <class C> static fn<C> make(const Args& args) {
    if constexpr (std::is_floating_point_v<C>) {
      const auto inf = args.s1.toComplexDouble();
      return {static_cast<C>(args.s0.toDouble()), static_cast<C>(inf.real()),
              static_cast<C>(inf.imag())};
    } else {
      return {C(0), C(0), C(0)};
    }
  }
};

// The family's kernels; each backend instantiates its run<Op> for every one.
#define GF_KERNELS_ROUNDING(X) \
  X(ceil) X(floor) X(trunc) X(round) X(round_decimals) X(frac) X(sign) X(nan_to_num)

}  // namespace gemforge::kernels
