// What every pointwise functor header needs: the launch types, small math helpers, and
// GF_STATELESS for ops without parameters.
//
// An op is a struct deriving from op_base with
//   types    the dtypes (of the iterator's common dtype) it has a kernel for; others fall back
//   fn<C>    a functor over the compute type C (fp16/bf16 arrive as float)
//   make<C>  builds fn<C> from the op's non-tensor arguments
// and optionally
//   make_lowp<C>  a functor over float that the cuda backend takes instead of fn<float> where
//                 the results are stored in fp16 / bf16: cheaper math of lowp_math.h, exact to
//                 far below those types' rounding (see there)
// and it is listed in its family's GF_KERNELS_<FAMILY>(X), which each backend instantiates.
#pragma once

#include "engine/dtypes.h"
#include "engine/pointwise_launch.h"

#include <c10/util/Exception.h>
#include <c10/util/complex.h>
#include <c10/util/generic_math.h>

#include <cmath>
#include <limits>

namespace gemforge::kernels {

using pw::Args;

// Traits an op may override.
struct op_base {
  // Output dtypes other than the computed one that get vectorized kernels (copy's casts); an op
  // with any stores into every output dtype by design.
  static constexpr TypeSet cast_to = 0;
  // Math heavy enough that the dense cuda kernel gives each thread more independent work.
  static constexpr bool heavy = false;
  // torch's cuda kernel computes in the output's dtype (it dispatches on the iterator's dtype,
  // casting the inputs to it: an in-place or out= of another dtype); its cpu kernel computes in
  // the common dtype and casts the result.
  static constexpr bool cuda_computes_in_output = false;
  // A unary op the cuda backend runs by table over fp16 / bf16 (backends/cuda/pointwise_table.cuh):
  // math heavy enough that a shared-memory lookup an element beats computing it; table_args says
  // so per call where an argument picks a lighter formula.
  static constexpr bool by_table = false;
  static bool table_args(const Args&) { return true; }
};
struct heavy_op : op_base {
  static constexpr bool heavy = true;
};
struct table_op : op_base {
  static constexpr bool by_table = true;
};
struct heavy_table_op : heavy_op {
  static constexpr bool by_table = true;
};
struct output_dtype_op : op_base {
  static constexpr bool cuda_computes_in_output = true;
};

// Whether Op has a make_lowp<C>.
template <class Op, class C, class = void> struct has_lowp : std::false_type {};
template <class Op, class C>
struct has_lowp<Op, C, std::void_t<decltype(Op::template make_lowp<C>(std::declval<const Args&>()))>>
    : std::true_type {};

template <class T> GF_HD bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}
template <class T> constexpr bool is_complex_v = c10::is_complex<T>::value;

// v rounded to Half (kind 1) or BFloat16 (kind 2) and back: where torch's cuda kernel computes an
// intermediate in the storage type (a c10::Half product), ours rounds it the same way.
template <class C> GF_HD C round_to_storage(C v, int kind) {
  if constexpr (std::is_same_v<C, float>) {
    if (kind == 1) return static_cast<float>(c10::Half(v));
    if (kind == 2) return static_cast<float>(c10::BFloat16(v));
  }
  return v;
}

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
#define GF_STATELESS(Name, Types, Ret, Params, ...) GF_STATELESS_OF(op_base, Name, Types, Ret, Params, __VA_ARGS__)
#define GF_STATELESS_OF(Base, Name, Types, Ret, Params, ...)     \
  struct Name : Base {                                           \
    static constexpr TypeSet types = Types;                      \
    template <class C> struct fn {                               \
      GF_HD Ret operator() Params const { __VA_ARGS__ }          \
    };                                                           \
    template <class C> static fn<C> make(const Args&) { return {}; } \
  };

}  // namespace gemforge::kernels
