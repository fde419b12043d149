// Pointwise functors: exp, log, sqrt, rsqrt, sin, cos, tanh, sigmoid; inverse trigonometric and
// hyperbolic functions, tan, exp2, expm1, log10, log1p, log2, reciprocal, deg2rad, rad2deg, sinc,
// angle. Integer inputs were promoted to float by the iterator. std:: math on float is torch's
// ::acosf, ::expm1f, ... on the device; fp16/bf16 arrive as float, as in torch's kernels.
#pragma once

#include "ops/pointwise/kernels/base.h"
#include "ops/pointwise/kernels/lowp_math.h"

#include <c10/util/MathConstants.h>

namespace gemforge::kernels {

GF_STATELESS(exp, kFloating | kComplex, C, (C a), return std::exp(a);)
// The logarithms, expm1, asinh, atanh and sinc have lowp forms for 2-byte results
// (lowp_math.h: relative accuracy near their zeros too).
#define GF_UNARY_WITH_LOWP_OF(Base, Name, Types, Accurate, Lowp)                   \
  struct Name : Base {                                                              \
    static constexpr TypeSet types = Types;                                         \
    template <class C> struct fn {                                                  \
      GF_HD C operator()(C a) const { return Accurate(a); }                         \
    };                                                                              \
    struct fn_lowp {                                                                \
      GF_HD float operator()(float a) const { return Lowp(a); }                     \
    };                                                                              \
    template <class C> static fn<C> make(const Args&) { return {}; }                \
    template <class C> static fn_lowp make_lowp(const Args&) { return {}; }         \
  };
#define GF_UNARY_WITH_LOWP(Name, Types, Accurate, Lowp) GF_UNARY_WITH_LOWP_OF(op_base, Name, Types, Accurate, Lowp)
GF_HD float lowp_log2(float a) { return lowp::ln(a) * 1.4426950408889634f; }
GF_HD float lowp_log10(float a) { return lowp::ln(a) * 0.43429448190325182f; }
GF_UNARY_WITH_LOWP_OF(table_op, log, kFloating | kComplex, std::log, lowp::ln)
GF_STATELESS(sqrt, kFloating | kComplex, C, (C a), return std::sqrt(a);)
GF_STATELESS(rsqrt, kFloating | kComplex, C, (C a), return rsqrt_of(a);)
GF_STATELESS_OF(table_op, sin, kFloating | kComplex, C, (C a), return std::sin(a);)
GF_STATELESS_OF(table_op, cos, kFloating | kComplex, C, (C a), return std::cos(a);)
GF_STATELESS(tanh, kFloating | kComplex, C, (C a), return std::tanh(a);)
struct sigmoid : op_base {
  static constexpr TypeSet types = kFloating | kComplex;
  template <class C> struct fn {
    GF_HD C operator()(C a) const { return C(1) / (C(1) + std::exp(-a)); }
  };
  struct fn_lowp {
    GF_HD float operator()(float a) const { return lowp::sigmoid(a); }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
  template <class C> static fn_lowp make_lowp(const Args&) { return {}; }
};

// Complex forms come from c10's complex math (std::acos(c10::complex) ...), as in torch's kernels.
GF_STATELESS_OF(table_op, acos, kFloating | kComplex, C, (C a), return std::acos(a);)
GF_STATELESS_OF(table_op, asin, kFloating | kComplex, C, (C a), return std::asin(a);)
GF_STATELESS_OF(table_op, atan, kFloating | kComplex, C, (C a), return std::atan(a);)
// acosh's lowp form (log1p(u + sqrt(u (2 + u))), u = x - 1) ran slower than acoshf in bf16 (H100
// stop 23: 68% of copy against 76%): it keeps torch's.
GF_STATELESS_OF(heavy_table_op, acosh, kFloating | kComplex, C, (C a), return std::acosh(a);)
GF_UNARY_WITH_LOWP_OF(table_op, asinh, kFloating | kComplex, std::asinh, lowp::asinh)
GF_UNARY_WITH_LOWP_OF(heavy_table_op, atanh, kFloating | kComplex, std::atanh, lowp::atanh)
GF_STATELESS(cosh, kFloating | kComplex, C, (C a), return std::cosh(a);)
GF_STATELESS_OF(table_op, sinh, kFloating | kComplex, C, (C a), return std::sinh(a);)
GF_STATELESS_OF(table_op, tan, kFloating | kComplex, C, (C a), return std::tan(a);)
GF_UNARY_WITH_LOWP_OF(table_op, expm1, kFloating | kComplex, std::expm1, lowp::expm1)
GF_UNARY_WITH_LOWP_OF(table_op, log10, kFloating | kComplex, std::log10, lowp_log10)
GF_UNARY_WITH_LOWP_OF(table_op, log1p, kFloating | kComplex, std::log1p, lowp::log1p)
// Complex exp2, log2 and reciprocal stay with torch: its cuda kernel has no complex exp2, and its
// complex log2 and reciprocal treat infinite and NaN parts differently on each device.
GF_UNARY_WITH_LOWP_OF(table_op, log2, kFloating, std::log2, lowp_log2)
GF_STATELESS(exp2, kFloating, C, (C a), return std::exp2(a);)
GF_STATELESS(reciprocal, kFloating, C, (C a), return C(1) / a;)

// torch multiplies by the double constant rounded to the compute type (a wrapped scalar).
GF_STATELESS(deg2rad, kFloating, C, (C a), return a * C(c10::detail::pi<double>() / 180.0);)
GF_STATELESS(rad2deg, kFloating, C, (C a), return a * C(180.0 / c10::detail::pi<double>());)
GF_STATELESS(angle, kFloating, C, (C a),
  return is_nan(a) ? a : (a < C(0) ? C(c10::detail::pi<double>()) : C(0));)
// pi * a as a complex product for complex a, as torch computes it (inf parts give NaN there).
// 2-byte results take lowp::sinc (relative near the zeros, where torch's loses digits).
template <class C> GF_HD C sinc_of(C a) {
  if (a == C(0)) return C(1);
  const C x = C(c10::detail::pi<double>()) * a;
  return std::sin(x) / x;
}
GF_UNARY_WITH_LOWP_OF(heavy_table_op, sinc, kFloating | kComplex, sinc_of, lowp::sinc)

// The family's kernels; each backend instantiates its run<Op> for every one.
// (in two lists, so that the cuda backend compiles them in parallel)
#undef GF_UNARY_WITH_LOWP
#undef GF_UNARY_WITH_LOWP_OF

#define GF_KERNELS_UNARY_MATH_EXP_LOG(X) X(exp) X(log) X(sqrt) X(rsqrt) X(expm1) X(log10) X(log1p) \
  X(log2) X(exp2) X(reciprocal) X(sigmoid)
#define GF_KERNELS_UNARY_MATH_TRIG(X) X(sin) X(cos) X(tanh) X(acos) X(asin) X(atan) X(acosh)     \
  X(asinh) X(atanh) X(cosh) X(sinh) X(tan) X(deg2rad) X(rad2deg) X(angle) X(sinc)
#define GF_KERNELS_UNARY_MATH(X) GF_KERNELS_UNARY_MATH_EXP_LOG(X) GF_KERNELS_UNARY_MATH_TRIG(X)

}  // namespace gemforge::kernels
