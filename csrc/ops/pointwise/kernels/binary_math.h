// Pointwise functors: atan2, copysign, maximum/minimum (NaN-propagating), fmax/fmin (NaN-ignoring),
// fmod, remainder, gcd, lcm, heaviside, hypot, logaddexp(2), nextafter, lerp, addcmul, addcdiv.
// floor_divide and rsub run arithmetic.h's div_floor and sub.
#pragma once

#include "ops/pointwise/kernels/arithmetic.h"

namespace gemforge::kernels {

GF_STATELESS(atan2, kFloating, C, (C a, C b), return std::atan2(a, b);)
GF_STATELESS(copysign, kFloating, C, (C a, C b), return std::copysign(a, b);)

// A NaN on either side is the result.
GF_STATELESS(maximum, kReal | kBool, C, (C a, C b),
  if constexpr (std::is_same_v<C, bool>) return a || b;
  else {
    if (is_nan(a)) return a;
    if (is_nan(b)) return b;
    return a < b ? b : a;
  })
GF_STATELESS(minimum, kReal | kBool, C, (C a, C b),
  if constexpr (std::is_same_v<C, bool>) return a && b;
  else {
    if (is_nan(a)) return a;
    if (is_nan(b)) return b;
    return b < a ? b : a;
  })
// A NaN loses to a number; integers and bool are maximum/minimum.
GF_STATELESS(fmax, kReal | kBool, C, (C a, C b),
  if constexpr (std::is_floating_point_v<C>) return std::fmax(a, b);
  else if constexpr (std::is_same_v<C, bool>) return a || b;
  else return a < b ? b : a;)
GF_STATELESS(fmin, kReal | kBool, C, (C a, C b),
  if constexpr (std::is_floating_point_v<C>) return std::fmin(a, b);
  else if constexpr (std::is_same_v<C, bool>) return a && b;
  else return b < a ? b : a;)

// The remainder with the sign of the dividend (fmod) or of the divisor (remainder, Python's %).
GF_STATELESS(fmod, kReal, C, (C a, C b),
  check_divisor(b);
  if constexpr (std::is_integral_v<C>) return a % b; else return std::fmod(a, b);)
GF_STATELESS(remainder, kReal, C, (C a, C b),
  check_divisor(b);
  if constexpr (std::is_integral_v<C>) {
    C r = a % b;
    if constexpr (std::is_signed_v<C>) {
      if (r != 0 && (r < 0) != (b < 0)) r += b;
    }
    return r;
  } else {
    C r = std::fmod(a, b);
    if (r != 0 && (r < 0) != (b < 0)) r += b;
    return r;
  })

// |x| in x's own type (as torch: the most negative value stays itself).
template <class T> GF_HD T wrap_abs(T x) {
  if constexpr (std::is_signed_v<T>) return T(x < 0 ? -x : x); else return x;
}
template <class T> GF_HD T gcd_of(T a, T b) {
  a = wrap_abs(a);
  b = wrap_abs(b);
  while (a != 0) {
    const T c = a;
    a = T(b % a);
    b = c;
  }
  return b;
}
GF_STATELESS(gcd, kIntegral, C, (C a, C b), return gcd_of(a, b);)
GF_STATELESS(lcm, kIntegral, C, (C a, C b),
  const C g = gcd_of(a, b);
  if (g == 0) return C(0);
  const auto v = a / g * b;  // in int for the narrow types, as torch computes it
  return C(wrap_abs(v));)

GF_STATELESS(heaviside, kReal | kBool, C, (C a, C b), return a == 0 ? b : C(a > 0);)
GF_STATELESS(hypot, kFloating, C, (C a, C b), return std::hypot(a, b);)

// log(exp(a) + exp(b)) and log2(2^a + 2^b) without overflow; equal infinities are themselves.
GF_STATELESS(logaddexp, kFloating, C, (C a, C b),
  if (std::isinf(a) && a == b) return a;
  const C m = a < b ? b : a;
  return m + std::log1p(std::exp(-std::abs(a - b)));)
GF_STATELESS(logaddexp2, kFloating, C, (C a, C b),
  if (std::isinf(a) && a == b) return a;
  const C m = a < b ? b : a;
  return m + std::log1p(std::exp2(-std::abs(a - b))) * C(1.4426950408889634);)

// The next representable value after a towards b. fp16/bf16 arrive as float, so the step is
// taken on the bits of the storage type H (musl's algorithm).
template <class H> GF_HD float next_after_16(float a, float b) {
  if (a != a || b != b) return a + b;
  const uint16_t x = H(a).x, y = H(b).x;
  if (x == y) return a;
  const uint16_t ax = x & 0x7fff, ay = y & 0x7fff;
  uint16_t r;
  if (ax == 0) {
    if (ay == 0) return b;
    r = uint16_t((y & 0x8000) | 1);
  } else {
    r = (ax > ay || ((x ^ y) & 0x8000)) ? uint16_t(x - 1) : uint16_t(x + 1);
  }
  return float(H(r, H::from_bits()));
}
GF_STATELESS(nextafter, bit(ScalarType::Float) | bit(ScalarType::Double), C, (C a, C b),
  return std::nextafter(a, b);)
GF_STATELESS(nextafter_half, bit(ScalarType::Half), C, (C a, C b),
  return next_after_16<c10::Half>(a, b);)
GF_STATELESS(nextafter_bf16, bit(ScalarType::BFloat16), C, (C a, C b),
  return next_after_16<c10::BFloat16>(a, b);)

// self + w * (end - self), from whichever end is nearer for accuracy.
template <class C> GF_HD C lerp_of(C self, C end, C w) {
  return std::abs(w) < C(0.5) ? self + w * (end - self) : end - (end - self) * (C(1) - w);
}
struct lerp_scalar : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C w;
    GF_HD C operator()(C self, C end) const { return lerp_of(self, end, w); }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};
GF_STATELESS(lerp_tensor, kFloating, C, (C self, C end, C w), return lerp_of(self, end, w);)

// self + value * t1 * t2 and self + value * t1 / t2.
struct addcmul : op_base {
  static constexpr TypeSet types = kReal;
  template <class C> struct fn {
    C value;
    GF_HD C operator()(C self, C t1, C t2) const { return self + value * (t1 * t2); }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};
struct addcdiv : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C value;
    GF_HD C operator()(C self, C t1, C t2) const { return self + value * (t1 / t2); }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};

// The family's kernels; each backend instantiates its run<Op> for every one.
// (in two lists, so that the cuda backend compiles them in parallel)
#define GF_KERNELS_BINARY_MATH_MINMAX(X) X(maximum) X(minimum) X(fmax) X(fmin) X(fmod) X(remainder) \
  X(gcd) X(lcm) X(copysign) X(heaviside)
#define GF_KERNELS_BINARY_MATH_SMOOTH(X) X(atan2) X(hypot) X(logaddexp) X(logaddexp2) X(nextafter)  \
  X(nextafter_half) X(nextafter_bf16) X(lerp_scalar) X(lerp_tensor) X(addcmul) X(addcdiv)
#define GF_KERNELS_BINARY_MATH(X) GF_KERNELS_BINARY_MATH_MINMAX(X) GF_KERNELS_BINARY_MATH_SMOOTH(X)

}  // namespace gemforge::kernels
