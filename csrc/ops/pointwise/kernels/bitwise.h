// Pointwise functors: bitwise ops and shifts (bool and integer dtypes, as in torch), logical_xor,
// and the predicates isnan, isinf, isfinite, isposinf, isneginf, signbit (bool results).
#pragma once

#include "ops/pointwise/kernels/base.h"

#include <cstdint>
#include <cstring>

namespace gemforge::kernels {

// On bool, &, | and ^ are the logical and, or and xor. Like torch's, the binary ones compute in
// the output's dtype on cuda (op_base::cuda_computes_in_output).
GF_STATELESS_OF(output_dtype_op, bitwise_and, kIntegral | kBool, C, (C a, C b), return static_cast<C>(a & b);)
GF_STATELESS_OF(output_dtype_op, bitwise_or, kIntegral | kBool, C, (C a, C b), return static_cast<C>(a | b);)
GF_STATELESS_OF(output_dtype_op, bitwise_xor, kIntegral | kBool, C, (C a, C b), return static_cast<C>(a ^ b);)
GF_STATELESS(bitwise_not, kIntegral | kBool, C, (C a),
  if constexpr (std::is_same_v<C, bool>) return !a; else return static_cast<C>(~a);)

// Shifts by a count outside [0, width) are undefined in C++; torch defines them on every device:
// a left shift gives 0, a right shift the sign fill (0 or -1). A count is negative when its bits
// read as a signed number are (uint8 255 is -1).
template <class C> GF_HD bool shift_out_of_range(C count, int width) {
  return static_cast<std::make_signed_t<C>>(count) < 0 || count >= C(width);
}
GF_STATELESS_OF(output_dtype_op, left_shift, kIntegral, C, (C a, C b),
  constexpr int width = sizeof(C) * 8;
  if (shift_out_of_range(b, width)) return C(0);
  return static_cast<C>(static_cast<std::make_unsigned_t<C>>(a) << b);)
GF_STATELESS_OF(output_dtype_op, right_shift, kIntegral, C, (C a, C b),
  constexpr int width = sizeof(C) * 8;
  if (shift_out_of_range(b, width)) return std::is_signed_v<C> && a < 0 ? C(-1) : C(0);
  return static_cast<C>(a >> b);)

GF_STATELESS(logical_xor, kAll, bool, (C a, C b), return (a != C(0)) != (b != C(0));)

// The predicates: integers and bool are never NaN, infinite or (bool, uint8) negative.
template <class C> constexpr bool has_specials_v = std::is_floating_point_v<C> || is_complex_v<C>;
template <class T> GF_HD bool is_inf(T v) {
  return v == std::numeric_limits<T>::infinity() || v == -std::numeric_limits<T>::infinity();
}

GF_STATELESS(isnan, kAll, bool, (C a),
  if constexpr (has_specials_v<C>) return a != a; else return false;)
GF_STATELESS(isinf, kAll, bool, (C a),
  if constexpr (is_complex_v<C>) return is_inf(a.real()) || is_inf(a.imag());
  else if constexpr (std::is_floating_point_v<C>) return is_inf(a);
  else return false;)
// isfinite for the floating dtypes (integers and bool take torch's composite, a fill).
GF_STATELESS(isfinite, kFloating, bool, (C a), return a == a && !is_inf(a);)
GF_STATELESS(isposinf, kReal | kBool, bool, (C a),
  if constexpr (std::is_floating_point_v<C>) return a == std::numeric_limits<C>::infinity();
  else return false;)
GF_STATELESS(isneginf, kReal | kBool, bool, (C a),
  if constexpr (std::is_floating_point_v<C>) return a == -std::numeric_limits<C>::infinity();
  else return false;)
// -0.0 and a NaN with its sign bit set count as negative. The bit itself, not std::signbit:
// g++ 12 fails (internal compiler error) vectorizing that after a bf16 -> float conversion.
template <class T> GF_HD bool sign_bit(T v) {
  using Bits = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
  Bits bits;
  std::memcpy(&bits, &v, sizeof(T));
  return (bits >> (sizeof(T) * 8 - 1)) != 0;
}
GF_STATELESS(signbit, kReal | kBool, bool, (C a),
  if constexpr (std::is_floating_point_v<C>) return sign_bit(a);
  else if constexpr (std::is_signed_v<C>) return a < 0;
  else return false;)

// The family's kernels; each backend instantiates its run<Op> for every one.
#define GF_KERNELS_BITWISE(X)                                                                 \
  X(bitwise_and) X(bitwise_or) X(bitwise_xor) X(bitwise_not) X(left_shift) X(right_shift)     \
  X(logical_xor) X(isnan) X(isinf) X(isfinite) X(isposinf) X(isneginf) X(signbit)

}  // namespace gemforge::kernels
