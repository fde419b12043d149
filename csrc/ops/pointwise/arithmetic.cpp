// add, sub, mul, div, abs, pow: every overload.
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/constant.h"
#include "ops/pointwise/kernels/arithmetic.h"

#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/native/BinaryOps.h>
#include <ATen/native/TypeProperties.h>

#include <optional>

namespace gemforge::ops {
namespace {

// torch's alpha checks, against its iterator's output dtype: out='s on the GPU, the inputs'
// common dtype on the cpu (which computes into a temporary of that dtype). alpha == 1 passes.
void check_alpha(const Tensor& out, const Tensor& self, const Tensor& other, const Scalar& alpha) {
  if (alpha.isIntegral(false) && alpha.to<int64_t>() == 1) return;
  const bool out_dtype = out.defined() && !out.is_cpu();
  at::native::alpha_check(out_dtype ? out.scalar_type() : at::result_type(self, other), alpha);
}

// self + sign * other for alpha 1 and an exact constant other (see exact_constant): the dense
// road of a unary kernel; undefined where it does not apply.
Tensor add_constant(const Tensor& self, const Scalar& other, const Scalar& alpha, double sign) {
  if (!(alpha.isIntegral(false) && alpha.to<int64_t>() == 1) || !exact_constant(self, other)) {
    return Tensor();
  }
  return pw::run_dense(IterKind::unary, Tensor(), {self}, K<kernels::add_constant>,
                       {Scalar(sign * other.toDouble())});
}

}  // namespace

// ---- add, sub ------------------------------------------------------------------------------
#define GF_ALPHA_OP(name, extra_check, sign)                                                        \
  Tensor name(const Tensor& self, const Tensor& other, const Scalar& alpha) {                     \
    extra_check;                                                                                   \
    check_alpha(Tensor(), self, other, alpha);                                                     \
    return pw::functional(IterKind::binary, {self, other}, K<kernels::name>, {alpha},              \
                          GF_FALLBACK(self, name, self, other, alpha));                            \
  }                                                                                                \
  Tensor& name##_out(const Tensor& self, const Tensor& other, const Scalar& alpha, Tensor& out) {  \
    extra_check;                                                                                   \
    check_alpha(out, self, other, alpha);                                                          \
    return pw::out_form(out, IterKind::binary, {self, other}, K<kernels::name>, {alpha},           \
                        GF_FALLBACK(self, name##_outf, self, other, alpha, out));                  \
  }                                                                                                \
  Tensor& name##_(Tensor& self, const Tensor& other, const Scalar& alpha) {                       \
    extra_check;                                                                                   \
    check_alpha(self, self, other, alpha);                                                         \
    return pw::inplace(self, IterKind::binary, {self, other}, K<kernels::name>, {alpha},           \
                       GF_FALLBACK(self, name##_, self, other, alpha));                            \
  }                                                                                                \
  Tensor name##_scalar(const Tensor& self, const Scalar& other, const Scalar& alpha) {            \
    if (Tensor r = add_constant(self, other, alpha, sign); r.defined()) return r;                  \
    return ops::name(self, wrap(other), alpha);                                                    \
  }                                                                                                \
  Tensor& name##_scalar_out(const Tensor& self, const Scalar& other, const Scalar& alpha,          \
                            Tensor& out) {                                                         \
    return ops::name##_out(self, wrap(other), alpha, out);                                              \
  }                                                                                                \
  Tensor& name##_scalar_(Tensor& self, const Scalar& other, const Scalar& alpha) {                \
    return ops::name##_(self, wrap(other), alpha);                                                      \
  }
GF_ALPHA_OP(add, , 1.0)
GF_ALPHA_OP(sub, at::native::sub_check(self, other), -1.0)
#undef GF_ALPHA_OP

// ---- mul, div -------------------------------------------------------------------------------
namespace {

// torch's mul kernels take a Python-number operand of a fp16/bf16 tensor in float, unrounded
// (TensorIterator's original_scalar_value). On the cpu the binary iterator rounds that operand
// to the tensor's dtype first (on cuda it stays a double, which our kernel reads in float as
// torch's does), so there such calls take mul_constant on a unary iterator over self instead.
// The number, where that applies.
std::optional<Scalar> cpu_reduced_number(const Tensor& self, const Tensor& other) {
  if (!self.is_cpu() || !at::isReducedFloatingType(self.scalar_type()) ||
      !other.unsafeGetTensorImpl()->is_wrapped_number() || other.is_complex() ||
      other.scalar_type() == at::kBool)
    return std::nullopt;
  const Scalar s = other.item();
  if (!in_float_range(s.toDouble())) return std::nullopt;
  return s;
}

}  // namespace

Tensor mul(const Tensor& self, const Tensor& other) {
  if (auto s = cpu_reduced_number(self, other)) {
    if (Tensor r = pw::run(IterKind::unary, Tensor(), {self}, K<kernels::mul_constant>, {*s}); r.defined())
      return r;
  }
  return pw::functional(IterKind::binary, {self, other}, K<kernels::mul>, {},
                        GF_FALLBACK(self, mul, self, other));
}
Tensor& mul_out(const Tensor& self, const Tensor& other, Tensor& out) {
  if (auto s = cpu_reduced_number(self, other); s && out.scalar_type() == self.scalar_type()) {
    if (pw::run(IterKind::unary, out, {self}, K<kernels::mul_constant>, {*s}).defined()) return out;
  }
  return pw::out_form(out, IterKind::binary, {self, other}, K<kernels::mul>, {},
                      GF_FALLBACK(self, mul_outf, self, other, out));
}
Tensor& mul_(Tensor& self, const Tensor& other) {
  if (auto s = cpu_reduced_number(self, other)) {
    if (pw::run(IterKind::unary, self, {self}, K<kernels::mul_constant>, {*s}).defined()) return self;
  }
  return pw::inplace(self, IterKind::binary, {self, other}, K<kernels::mul>, {},
                     GF_FALLBACK(self, mul_, self, other));
}
Tensor mul_scalar(const Tensor& self, const Scalar& other) {
  if (exact_constant(self, other, /*opmath=*/true)) {
    if (Tensor r = pw::run_dense(IterKind::unary, Tensor(), {self}, K<kernels::mul_constant>, {other});
        r.defined())
      return r;
  }
  return ops::mul(self, wrap(other));
}
Tensor& mul_scalar_out(const Tensor& self, const Scalar& other, Tensor& out) {
  return ops::mul_out(self, wrap(other), out);
}
// torch's mul_.Scalar calls mul.out with the number as the FIRST operand, which its cpu kernel
// rounds to the tensor's dtype (it takes only a second operand unrounded; its cuda kernel takes
// either unrounded): the binary road does the same on each device.
Tensor& mul_scalar_(Tensor& self, const Scalar& other) {
  const Tensor number = wrap(other);
  return pw::inplace(self, IterKind::binary, {self, number}, K<kernels::mul>, {},
                     GF_FALLBACK(self, mul_, self, number));
}

// ---- div: true division, or rounded with rounding_mode 'trunc' / 'floor' --------------------
GF_BINARY_FORMS(div, IterKind::binary_float, kernels::div_true, div)

#define GF_ROUNDED(form, ...)                                                                     \
  (*mode == "trunc"   ? form(IterKind::binary, __VA_ARGS__, K<kernels::div_trunc>, {}, fallback)   \
   : *mode == "floor" ? form(IterKind::binary, __VA_ARGS__, K<kernels::div_floor>, {}, fallback)   \
                      : fallback())

Tensor div_mode(const Tensor& self, const Tensor& other, std::optional<c10::string_view> mode) {
  if (!mode) return ops::div(self, other);
  auto fallback = GF_FALLBACK(self, div, self, other, mode);
  return GF_ROUNDED(pw::functional, std::initializer_list<Tensor>{self, other});
}
Tensor& div_mode_out(const Tensor& self, const Tensor& other, std::optional<c10::string_view> mode,
                     Tensor& out) {
  if (!mode) return ops::div_out(self, other, out);
  auto fallback = GF_FALLBACK(self, div_outf, self, other, mode, out);
  auto form = [&](IterKind kind, std::initializer_list<Tensor> in, const pw::Kernel& k, Args a,
                  auto&& fb) -> Tensor& { return pw::out_form(out, kind, in, k, a, fb); };
  return GF_ROUNDED(form, std::initializer_list<Tensor>{self, other});
}
Tensor& div_mode_(Tensor& self, const Tensor& other, std::optional<c10::string_view> mode) {
  if (!mode) return ops::div_(self, other);
  auto fallback = GF_FALLBACK(self, div_, self, other, mode);
  auto form = [&](IterKind kind, std::initializer_list<Tensor> in, const pw::Kernel& k, Args a,
                  auto&& fb) -> Tensor& { return pw::inplace(self, kind, in, k, a, fb); };
  return GF_ROUNDED(form, std::initializer_list<Tensor>{self, other});
}
#undef GF_ROUNDED

GF_SCALAR_FORMS(div)
Tensor div_scalar_mode(const Tensor& self, const Scalar& other, std::optional<c10::string_view> mode) {
  return ops::div_mode(self, wrap(other), mode);
}
Tensor& div_scalar_mode_out(const Tensor& self, const Scalar& other,
                            std::optional<c10::string_view> mode, Tensor& out) {
  return ops::div_mode_out(self, wrap(other), mode, out);
}
Tensor& div_scalar_mode_(Tensor& self, const Scalar& other, std::optional<c10::string_view> mode) {
  return ops::div_mode_(self, wrap(other), mode);
}

// ---- abs: of a complex tensor it is real; torch's kernel takes that before an iterator is built
Tensor abs(const Tensor& self) {
  auto fallback = GF_FALLBACK_TO(at::compositeexplicitautograd::abs(self));
  if (self.is_complex()) return fallback();
  return pw::functional(IterKind::unary, {self}, K<kernels::abs>, {}, fallback);
}
Tensor& abs_out(const Tensor& self, Tensor& out) {
  auto fallback = GF_FALLBACK(self, abs_outf, self, out);
  if (self.is_complex()) return fallback();
  return pw::out_form(out, IterKind::unary, {self}, K<kernels::abs>, {}, fallback);
}
Tensor& abs_(Tensor& self) {
  auto fallback = GF_FALLBACK_TO(at::compositeexplicitautograd::abs_(self));
  if (self.is_complex()) return fallback();
  return pw::inplace(self, IterKind::unary, {self}, K<kernels::abs>, {}, fallback);
}

// ---- pow --------------------------------------------------------------------------------------
namespace {

void check_pow_scalar(const Tensor& base, const Scalar& exp) {
  TORCH_CHECK(!(at::isIntegralType(base.scalar_type(), true) && exp.isIntegral(true) &&
                exp.toLong() < 0),
              "Integers to negative integer powers are not allowed.");
}

// The cheaper forms torch also takes for common exponents.
int pow_mode(const Scalar& exp) {
  if (exp.isComplex()) return kernels::kPowGeneric;
  const double e = exp.toDouble();
  if (e == 2.0) return kernels::kPowSquare;
  if (e == 3.0) return kernels::kPowCube;
  if (e == 0.5) return kernels::kPowSqrt;
  if (e == -0.5) return kernels::kPowRsqrt;
  if (e == -1.0) return kernels::kPowRecip;
  if (e == -2.0) return kernels::kPowRecipSquare;
  return kernels::kPowGeneric;
}

Tensor as_dtype(const Tensor& t, ScalarType dtype) { return t.scalar_type() == dtype ? t : t.to(dtype); }

}  // namespace

GF_BINARY_FORMS(pow_tensor_tensor, IterKind::binary, kernels::pow_tensor, pow)

Tensor pow_tensor_scalar(const Tensor& self, const Scalar& exp) {
  check_pow_scalar(self, exp);
  const Tensor base = as_dtype(self, at::result_type(self, exp));
  return pw::functional(IterKind::unary, {base}, K<kernels::pow_scalar_exp>, {exp, {}, pow_mode(exp)},
                        GF_FALLBACK(self, pow, self, exp));
}
Tensor& pow_tensor_scalar_out(const Tensor& self, const Scalar& exp, Tensor& out) {
  check_pow_scalar(self, exp);
  const Tensor base = as_dtype(self, at::result_type(self, exp));
  return pw::out_form(out, IterKind::unary, {base}, K<kernels::pow_scalar_exp>,
                      {exp, {}, pow_mode(exp)}, GF_FALLBACK(self, pow_outf, self, exp, out));
}
Tensor& pow_scalar_(Tensor& self, const Scalar& exp) {
  check_pow_scalar(self, exp);
  auto fallback = GF_FALLBACK(self, pow_, self, exp);
  if (at::result_type(self, exp) != self.scalar_type()) return fallback();  // torch raises
  return pw::inplace(self, IterKind::unary, {self}, K<kernels::pow_scalar_exp>,
                     {exp, {}, pow_mode(exp)}, fallback);
}
Tensor pow_scalar(const Scalar& base, const Tensor& exp) {
  const Tensor e = as_dtype(exp, at::result_type(base, exp));
  return pw::functional(IterKind::unary, {e}, K<kernels::pow_scalar_base>, {base},
                        GF_FALLBACK(exp, pow, base, exp));
}
Tensor& pow_scalar_out(const Scalar& base, const Tensor& exp, Tensor& out) {
  const Tensor e = as_dtype(exp, out.scalar_type());
  return pw::out_form(out, IterKind::unary, {e}, K<kernels::pow_scalar_base>, {base},
                      GF_FALLBACK(exp, pow_outf, base, exp, out));
}

}  // namespace gemforge::ops
