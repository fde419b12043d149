// The pointwise ops' math, written once for every backend. Each op is a struct with
//   types    the dtypes (of the iterator's common dtype) it has a kernel for; others fall back
//   fn<C>    a functor over the compute type C (fp16/bf16 arrive as float)
//   make<C>  builds fn<C> from the op's non-tensor arguments
// and one line in GF_POINTWISE_KERNELS at the bottom, which instantiates it on every backend.
#pragma once

#include "engine/dtypes.h"
#include "engine/pointwise_launch.h"

#include <c10/util/Exception.h>
#include <c10/util/generic_math.h>
#include <c10/util/complex.h>

#include <cmath>
#include <limits>

namespace gemforge::kernels {

using pw::Args;

template <class T> GF_HD bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}
template <class T> constexpr bool is_complex_v = c10::is_complex<T>::value;

// Integer power by squaring; negative exponents as torch defines them.
template <class T> GF_HD T powi(T base, T exp) {
  if constexpr (std::is_signed_v<T>) {
    if (exp < 0) {
      if (base == 1) return 1;
      if (base == -1) return (exp & 1) ? T(-1) : T(1);
      return 0;
    }
  }
  T result = 1;
  while (exp) {
    if (exp & 1) result *= base;
    exp /= 2;
    base *= base;
  }
  return result;
}

template <class T> GF_HD T rsqrt_of(T v) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_floating_point_v<T>) return ::rsqrt(v);
#endif
  return T(1) / std::sqrt(v);
}

// A stateless op: its result type, its parameters and its body.
#define GF_STATELESS(Name, Types, Ret, Params, ...)              \
  struct Name {                                                  \
    static constexpr TypeSet types = Types;                      \
    template <class C> struct fn {                               \
      GF_HD Ret operator() Params const { __VA_ARGS__ }          \
    };                                                           \
    template <class C> static fn<C> make(const Args&) { return {}; } \
  };

// ---- arithmetic ----------------------------------------------------------------------------
struct add {  // self + alpha * other
  static constexpr TypeSet types = kAll;
  template <class C> struct fn {
    C alpha;
    GF_HD C operator()(C a, C b) const {
      if constexpr (std::is_same_v<C, bool>) return a || (alpha && b); else return a + alpha * b;
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};
struct sub {  // self - alpha * other
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
GF_STATELESS(div_floor, kReal, C, (C a, C b),
  check_divisor(b);
  if constexpr (std::is_integral_v<C>) return c10::div_floor_integer(a, b);
  else return c10::div_floor_floating(a, b);)

GF_STATELESS(neg, kNumeric, C, (C a), return -a;)
GF_STATELESS(abs, kReal, C, (C a),
  if constexpr (std::is_unsigned_v<C>) return a;
  else if constexpr (std::is_integral_v<C>) return a < 0 ? C(-a) : a;
  else return std::abs(a);)

// ---- unary math (integer inputs were promoted to float by the iterator) ---------------------
GF_STATELESS(exp, kFloating | kComplex, C, (C a), return std::exp(a);)
GF_STATELESS(log, kFloating | kComplex, C, (C a), return std::log(a);)
GF_STATELESS(sqrt, kFloating | kComplex, C, (C a), return std::sqrt(a);)
GF_STATELESS(rsqrt, kFloating | kComplex, C, (C a), return rsqrt_of(a);)
GF_STATELESS(sin, kFloating | kComplex, C, (C a), return std::sin(a);)
GF_STATELESS(cos, kFloating | kComplex, C, (C a), return std::cos(a);)
GF_STATELESS(tanh, kFloating | kComplex, C, (C a), return std::tanh(a);)
GF_STATELESS(sigmoid, kFloating | kComplex, C, (C a), return C(1) / (C(1) + std::exp(-a));)

// ---- activations ---------------------------------------------------------------------------
GF_STATELESS(relu, kReal, C, (C a), return (is_nan(a) || a > C(0)) ? a : C(0);)
GF_STATELESS(silu, kFloating | kComplex, C, (C a), return a / (C(1) + std::exp(-a));)
struct gelu {  // mode 0: exact (erf), mode 1: tanh approximation
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    bool tanh_approx;
    GF_HD C operator()(C a) const {
      if (tanh_approx) {
        const C k_beta = C(0.7978845608028654);  // sqrt(2 / pi)
        const C inner = k_beta * (a + C(0.044715) * a * a * a);
        return C(0.5) * a * (C(1) + std::tanh(inner));
      }
      return a * C(0.5) * (C(1) + std::erf(a * C(0.7071067811865476)));
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.mode == 1}; }
};

// ---- selection and clamping ----------------------------------------------------------------
GF_STATELESS(where, kAll, C, (bool c, C a, C b), return c ? a : b;)

struct clamp_scalar {  // mode bit 1: has min, bit 2: has max
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

// ---- powers ----------------------------------------------------------------------------------
GF_STATELESS(pow_tensor, kReal | kComplex, C, (C a, C b),
  if constexpr (std::is_integral_v<C>) return powi(a, b); else return std::pow(a, b);)

// Tensor ** Scalar; mode picks the cheaper forms torch also uses for common exponents.
enum PowMode { kPowGeneric = 0, kPowSquare, kPowCube, kPowSqrt, kPowRsqrt, kPowRecip, kPowRecipSquare };
struct pow_scalar_exp {
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
struct pow_scalar_base {  // Scalar ** Tensor
  static constexpr TypeSet types = kReal | kComplex;
  template <class C> struct fn {
    C base;
    GF_HD C operator()(C e) const {
      if constexpr (std::is_integral_v<C>) return powi(base, e); else return std::pow(base, e);
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};

// ---- comparisons and logic: bool results ---------------------------------------------------
GF_STATELESS(eq, kAll, bool, (C a, C b), return a == b;)
GF_STATELESS(ne, kAll, bool, (C a, C b), return a != b;)
GF_STATELESS(lt, kReal | kBool, bool, (C a, C b), return a < b;)
GF_STATELESS(le, kReal | kBool, bool, (C a, C b), return a <= b;)
GF_STATELESS(gt, kReal | kBool, bool, (C a, C b), return a > b;)
GF_STATELESS(ge, kReal | kBool, bool, (C a, C b), return a >= b;)
GF_STATELESS(logical_and, kAll, bool, (C a, C b), return (a != C(0)) && (b != C(0));)
GF_STATELESS(logical_or, kAll, bool, (C a, C b), return (a != C(0)) || (b != C(0));)
GF_STATELESS(logical_not, kAll, bool, (C a), return !(a != C(0));)

// ---- fill and copy -----------------------------------------------------------------------------
struct fill {
  static constexpr TypeSet types = kAll;
  template <class C> struct fn {
    C value;
    GF_HD C operator()() const { return value; }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};
// The iterator's compute dtype is the source's; the store converts to the destination.
// `cast_to` lists destination dtypes that get a vectorized kernel of their own.
struct copy {
  static constexpr TypeSet types = kAll;
  static constexpr TypeSet cast_to = kFloating;
  template <class C> struct fn {
    GF_HD C operator()(C a) const { return a; }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
};

#undef GF_STATELESS

// Every pointwise kernel; each backend instantiates its run<Op> for all of them.
#define GF_POINTWISE_KERNELS(X)                                                              \
  X(add) X(sub) X(mul) X(div_true) X(div_trunc) X(div_floor) X(neg) X(abs)                  \
  X(exp) X(log) X(sqrt) X(rsqrt) X(sin) X(cos) X(tanh) X(sigmoid)                            \
  X(relu) X(silu) X(gelu) X(where) X(clamp_scalar) X(clamp_tensor) X(clamp_min_tensor)       \
  X(clamp_max_tensor) X(pow_tensor) X(pow_scalar_exp) X(pow_scalar_base)                     \
  X(eq) X(ne) X(lt) X(le) X(gt) X(ge) X(logical_and) X(logical_or) X(logical_not)           \
  X(fill) X(copy)

}  // namespace gemforge::kernels
