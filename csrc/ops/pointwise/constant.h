// Scalar operands as constants of a unary kernel: what ops::exact_constant accepts.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cmath>
#include <limits>

namespace gemforge::ops {

// A Scalar operand of a floating tensor that can be a constant of the op's compute type: any
// real number in float's range for float32 (torch computes with it converted to float, as its
// scalar value in the op math type, on both devices), any for float64; for fp16/bf16 values the
// dtype holds exactly, or with `opmath` (ops whose torch kernels take the scalar in float on
// both devices: mul) any in float's range: torch's cpu kernels of other ops (add, the
// comparisons) round the scalar to the dtype, its cuda kernels do not. Such calls go to unary
// kernels with the constant in Args (the dense 16-byte kernels), where a wrapped number would
// take the strided kernel (one element a thread).
//
// Contiguous inputs only: other layouts take the binary engine, whose cuda launcher binds the
// wrapped number into a unary functor for its dense, inner and tiled kernels (1.06-2.98x torch
// on a transposed or broadcast bf16 input, H100; the strided kernel had been 0.44-0.88x).
// Not fp16 on cuda: it was turned off for a comparison that differed from torch's on the H100,
// which turned out to come from the binary engine instead (see compare.cpp's rounds_in_dtype);
// the cuda fp16 constant kernels have not been run since. On the cpu fp16 constants match
// torch's kernels (which round add's scalar to fp16).

// Whether v is a value of the 2-byte float type t (Half or BFloat16): converted to it and back,
// through float, v comes back unchanged.
inline bool two_byte_holds(at::ScalarType t, double v) {
  const float f = static_cast<float>(v);
  const float back = t == at::kHalf ? static_cast<float>(c10::Half(f)) : static_cast<float>(c10::BFloat16(f));
  return double(back) == v;
}

// Whether float holds the value v of a Scalar operand, infinities included: the range in which a
// kernel can take it as a float constant (NaN: no).
inline bool in_float_range(double v) {
  return std::isinf(v) || std::abs(v) <= double(std::numeric_limits<float>::max());
}

// div and floor_divide by a 0-d CPU operand `other` (mode: a kernels::DivMode) as torch's
// kernels take it, where that differs from the binary kernel's results in the last bit: on the
// cpu, of a fp16/bf16 self, the number unrounded; on cuda, true division of a floating self as a
// product with the reciprocal. Into out (undefined: a new tensor); undefined where neither
// applies (arithmetic.cpp).
at::Tensor div_by_number(const at::Tensor& out, const at::Tensor& self, const at::Tensor& other, int mode);

// GF_BINARY_FORMS (common.h) of a division whose 0-d CPU divisors go to div_by_number first.
#define GF_DIV_FORMS(name, kind, Op, torch_name, mode)                                             \
  Tensor name(const Tensor& self, const Tensor& other) {                                           \
    if (Tensor r = div_by_number(Tensor(), self, other, mode); r.defined()) return r;              \
    return pw::functional(kind, {self, other}, K<Op>, {}, GF_FALLBACK(self, torch_name, self, other)); \
  }                                                                                                \
  Tensor& name##_out(const Tensor& self, const Tensor& other, Tensor& out) {                       \
    if (div_by_number(out, self, other, mode).defined()) return out;                               \
    return pw::out_form(out, kind, {self, other}, K<Op>, {},                                       \
                        GF_FALLBACK(self, torch_name##_outf, self, other, out));                   \
  }                                                                                                \
  Tensor& name##_(Tensor& self, const Tensor& other) {                                             \
    if (div_by_number(self, self, other, mode).defined()) return self;                             \
    return pw::inplace(self, kind, {self, other}, K<Op>, {}, GF_FALLBACK(self, torch_name##_, self, other)); \
  }

inline bool exact_constant(const at::Tensor& self, const c10::Scalar& s, bool opmath = false) {
  if (s.isComplex() || s.isBoolean() || s.isSymbolic() || !self.is_contiguous()) return false;
  const double v = s.toDouble();
  if (std::isnan(v) || (s.isIntegral(false) && std::abs(v) > 9007199254740992.0)) return false;
  const bool in_float = in_float_range(v);
  switch (self.scalar_type()) {
    case at::kFloat: return in_float;
    case at::kDouble: return true;
    case at::kHalf: return !self.is_cuda() && ((opmath && in_float) || two_byte_holds(at::kHalf, v));
    case at::kBFloat16: return (opmath && in_float) || two_byte_holds(at::kBFloat16, v);
    default: return false;
  }
}

}  // namespace gemforge::ops
