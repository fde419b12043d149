// Dtype sets and the compile-time dtype switch shared by every backend (nvcc-safe: c10 only).
#pragma once

#include <ATen/OpMathType.h>
#include <c10/core/ScalarType.h>
#include <c10/util/complex.h>

#include <cstdint>
#include <tuple>
#include <type_traits>

#if defined(__CUDACC__)
#define GF_HD __host__ __device__ __forceinline__
#else
#define GF_HD inline
#endif

namespace gemforge {

using c10::ScalarType;

// A set of dtypes, one bit per ScalarType.
using TypeSet = uint64_t;
constexpr TypeSet bit(ScalarType t) { return TypeSet(1) << static_cast<int>(t); }
constexpr bool has(TypeSet s, ScalarType t) { return (s & bit(t)) != 0; }

constexpr TypeSet kIntegral = bit(ScalarType::Byte) | bit(ScalarType::Char) |
    bit(ScalarType::Short) | bit(ScalarType::Int) | bit(ScalarType::Long);
constexpr TypeSet kFloating = bit(ScalarType::Half) | bit(ScalarType::BFloat16) |
    bit(ScalarType::Float) | bit(ScalarType::Double);
constexpr TypeSet kComplex = bit(ScalarType::ComplexFloat) | bit(ScalarType::ComplexDouble);
constexpr TypeSet kBool = bit(ScalarType::Bool);
constexpr TypeSet kReal = kIntegral | kFloating;
constexpr TypeSet kNumeric = kReal | kComplex;
constexpr TypeSet kAll = kNumeric | kBool;

// Operand dtypes the dynamic-cast path can load and store (c10::fetch_and_cast covers these).
constexpr TypeSet kCastable = kAll | bit(ScalarType::UInt16) | bit(ScalarType::UInt32) |
    bit(ScalarType::UInt64);

template <class T> struct type_tag { using type = T; };

// Calls f(type_tag<T>{}) for the C++ storage type T of `t`; only dtypes in `Types` are
// instantiated. Returns false for a dtype outside the set.
template <TypeSet Types, class F>
bool dispatch_dtype(ScalarType t, F&& f) {
#define GF_DTYPE_CASE(ctype, name)                                    \
  case ScalarType::name:                                              \
    if constexpr (has(Types, ScalarType::name)) {                     \
      f(type_tag<ctype>{});                                           \
      return true;                                                    \
    }                                                                 \
    return false;
  switch (t) {
    GF_DTYPE_CASE(bool, Bool)
    GF_DTYPE_CASE(uint8_t, Byte)
    GF_DTYPE_CASE(int8_t, Char)
    GF_DTYPE_CASE(int16_t, Short)
    GF_DTYPE_CASE(int32_t, Int)
    GF_DTYPE_CASE(int64_t, Long)
    GF_DTYPE_CASE(c10::Half, Half)
    GF_DTYPE_CASE(c10::BFloat16, BFloat16)
    GF_DTYPE_CASE(float, Float)
    GF_DTYPE_CASE(double, Double)
    GF_DTYPE_CASE(c10::complex<float>, ComplexFloat)
    GF_DTYPE_CASE(c10::complex<double>, ComplexDouble)
    default:
      return false;
  }
#undef GF_DTYPE_CASE
}

// What a functor computes in: fp16/bf16 widen to fp32, everything else is itself.
template <class T> using opmath_t = at::opmath_type<T>;

// A functor's arity, argument and result types.
template <class F> struct fn_traits : fn_traits<decltype(&F::operator())> {};
template <class C, class R, class... A>
struct fn_traits<R (C::*)(A...) const> {
  using result = R;
  static constexpr int arity = sizeof...(A);
  template <int I> using arg = std::tuple_element_t<I, std::tuple<A...>>;
};

// The storage type of a functor value: the op's compute type C is stored as the tensor's
// dtype S; any other type (bool for comparisons and masks) is stored as itself.
template <class V, class C, class S>
using storage_of = std::conditional_t<std::is_same_v<V, C>, S, V>;

}  // namespace gemforge
