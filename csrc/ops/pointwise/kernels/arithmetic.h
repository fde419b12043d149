// Pointwise functors: add, sub, mul, div (true, trunc, floor), neg, conj_physical, abs and pow.
#pragma once

#include "ops/pointwise/kernels/base.h"
#include "ops/pointwise/kernels/lowp_math.h"

namespace gemforge::kernels {

struct add : op_base {  // self + alpha * other
  static constexpr TypeSet types = kAll;
  template <class C> struct fn {
    C alpha;
    GF_HD C operator()(C a, C b) const {
      if constexpr (std::is_same_v<C, bool>) return a || (alpha && b); else return a + alpha * b;
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};
struct sub : op_base {  // self - alpha * other
  static constexpr TypeSet types = kNumeric;
  template <class C> struct fn {
    C alpha;
    GF_HD C operator()(C a, C b) const { return a - alpha * b; }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};
GF_STATELESS(mul, kAll, C, (C a, C b),
  if constexpr (std::is_same_v<C, bool>) return a && b; else return a * b;)
GF_STATELESS(div_true, kFloating | kComplex, C, (C a, C b), return a / b;)
// Integer division by zero: on the GPU whatever the hardware gives, as in torch's CUDA
// kernels; on the cpu torch's ZeroDivisionError (a host-only check).
template <class C> GF_HD void check_divisor(C b) {
#if !defined(__CUDA_ARCH__)
  if constexpr (std::is_integral_v<C>) TORCH_CHECK(b != 0, "ZeroDivisionError");
#endif
}
GF_STATELESS(div_trunc, kReal, C, (C a, C b),
  check_divisor(b);
  if constexpr (std::is_integral_v<C>) return a / b; else return std::trunc(a / b);)
struct div_floor : op_base {
  static constexpr TypeSet types = kReal;
  template <class C> struct fn {
    GF_HD C operator()(C a, C b) const {
      check_divisor(b);
      if constexpr (std::is_integral_v<C>) return c10::div_floor_integer(a, b);
      else return c10::div_floor_floating(a, b);
    }
  };
  struct fn_lowp {  // 2-byte results: torch's fmod is most of the work there (lowp_math.h)
    GF_HD float operator()(float a, float b) const { return lowp::div_floor(a, b); }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
  template <class C> static fn_lowp make_lowp(const Args&) { return {}; }
};

GF_STATELESS(neg, kNumeric, C, (C a), return -a;)
// The conjugate, materialized (torch's conj_physical.out); real values are copied.
GF_STATELESS(conj_physical, kAll, C, (C a),
  if constexpr (is_complex_v<C>) return C(a.real(), -a.imag()); else return a;)
GF_STATELESS(abs, kReal, C, (C a),
  if constexpr (std::is_unsigned_v<C>) return a;
  else if constexpr (std::is_integral_v<C>) return a < 0 ? C(-a) : a;
  else return std::abs(a);)

struct pow_tensor : op_base {
  static constexpr TypeSet types = kReal | kComplex;
  static constexpr bool heavy = true;
  template <class C> struct fn {
    GF_HD C operator()(C a, C b) const {
      if constexpr (std::is_integral_v<C>) return powi(a, b); else return std::pow(a, b);
    }
  };
  struct fn_lowp {  // 2-byte results (lowp_math.h)
    GF_HD float operator()(float a, float b) const { return lowp::pow(a, b); }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
  template <class C> static fn_lowp make_lowp(const Args&) { return {}; }
};

// Tensor ** Scalar; mode picks the cheaper forms torch also uses for common exponents.
enum PowMode { kPowGeneric = 0, kPowSquare, kPowCube, kPowSqrt, kPowRsqrt, kPowRecip, kPowRecipSquare };
struct pow_scalar_exp : op_base {
  static constexpr TypeSet types = kReal | kComplex;
  template <class C> struct fn {
    C e;
    int mode;
    GF_HD C operator()(C a) const {
      if constexpr (std::is_integral_v<C>) {
        return powi(a, e);
      } else {
        switch (mode) {
          case kPowSquare: return a * a;
          case kPowCube: return a * a * a;
          case kPowSqrt: return std::sqrt(a);
          case kPowRsqrt: return rsqrt_of(a);
          case kPowRecip: return C(1) / a;
          case kPowRecipSquare: return C(1) / (a * a);
          default: return std::pow(a, e);
        }
      }
    }
  };
  template <class C> static fn<C> make(const Args& args) {
    return {args.s0.to<C>(), std::is_integral_v<C> ? 0 : args.mode};
  }
};
struct pow_scalar_base : op_base {  // Scalar ** Tensor
  static constexpr TypeSet types = kReal | kComplex;
  template <class C> struct fn {
    C base;
    GF_HD C operator()(C e) const {
      if constexpr (std::is_integral_v<C>) return powi(base, e); else return std::pow(base, e);
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};

// self + c and self * c for a constant c that self's floating dtype holds exactly
// (ops::exact_constant): Args.s0.
struct add_constant : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C value;
    GF_HD C operator()(C a) const { return a + value; }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};
struct mul_constant : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C value;
    GF_HD C operator()(C a) const { return a * value; }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};

// self / c for a number c that torch's cpu kernels of a fp16/bf16 self take unrounded
// (ops::div_by_number): Args.s0 = c, Args.mode = a DivMode.
enum DivMode { kDivTrue = 0, kDivTrunc, kDivFloor };
struct div_constant : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C value;
    int mode;
    GF_HD C operator()(C a) const {
      if (mode == kDivTrunc) return std::trunc(a / value);
      if (mode == kDivFloor) return c10::div_floor_floating(a, value);
      return a / value;
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>(), args.mode}; }
};

// The family's kernels; each backend instantiates its run<Op> for every one.
#define GF_KERNELS_ARITHMETIC(X) \
  X(add) X(sub) X(mul) X(div_true) X(div_trunc) X(div_floor) X(neg) X(abs) X(pow_tensor) \
  X(pow_scalar_exp) X(pow_scalar_base) X(add_constant) X(mul_constant) \
  X(div_constant) X(conj_physical)

}  // namespace gemforge::kernels
