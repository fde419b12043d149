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

// The real number of a 0-d CPU operand `other` (a Python number, or a 0-d tensor) that leaves
// the result in self's dtype: what torch's kernels take as a constant (below), else nothing.
std::optional<Scalar> number_operand(const Tensor& self, const Tensor& other) {
  if (other.dim() != 0 || !other.is_cpu() || other.is_complex() || other.scalar_type() == at::kBool ||
      at::result_type(self, other) != self.scalar_type())
    return std::nullopt;
  return other.item();
}

// torch's cpu mul and div kernels take such a number of a fp16/bf16 tensor in float, unrounded
// (TensorIterator's original_scalar_value). Our cpu binary iterator rounds it to the tensor's
// dtype first (on cuda it stays in its own dtype, which our kernel reads in float as torch's
// does), so there such calls take a unary kernel over self with the number as its constant
// (mul_constant, div_constant). The number, where that applies.
std::optional<Scalar> cpu_reduced_number(const Tensor& self, const Tensor& other) {
  if (!self.is_cpu() || !at::isReducedFloatingType(self.scalar_type())) return std::nullopt;
  const std::optional<Scalar> s = number_operand(self, other);
  if (!s || !in_float_range(s->toDouble())) return std::nullopt;
  return s;
}

// torch's cuda div of a floating self by such a number multiplies by its reciprocal, taken in
// the op's math type (float below fp64): a division of its own would differ in the last bit now
// and then. That reciprocal, where this applies.
std::optional<Scalar> cuda_reciprocal(const Tensor& self, const Tensor& other) {
  if (!self.is_cuda() || !at::isFloatingType(self.scalar_type())) return std::nullopt;
  const std::optional<Scalar> s = number_operand(self, other);
  if (!s) return std::nullopt;
  const double b = s->toDouble();
  if (self.scalar_type() == at::kDouble) return Scalar(1.0 / b);
  if (!in_float_range(b)) return std::nullopt;
  return Scalar(double(1.0f / static_cast<float>(b)));
}

// A unary kernel over self with its constant, into out (undefined: a new tensor).
Tensor run_constant(const Tensor& out, const Tensor& self, const pw::Kernel& k, const Args& args) {
  if (Tensor r = pw::run_dense(IterKind::unary, out, {self}, k, args); r.defined()) return r;
  return pw::run(IterKind::unary, out, {self}, k, args);
}

}  // namespace

Tensor div_by_number(const Tensor& out, const Tensor& self, const Tensor& other, int mode) {
  if (out.defined() && out.scalar_type() != self.scalar_type()) return Tensor();
  if (auto s = cpu_reduced_number(self, other))
    return run_constant(out, self, K<kernels::div_constant>, {*s, {}, mode});
  if (auto inv = mode == kernels::kDivTrue ? cuda_reciprocal(self, other) : std::nullopt)
    return run_constant(out, self, K<kernels::mul_constant>, {*inv});
  return Tensor();
}

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
GF_DIV_FORMS(div, IterKind::binary_float, kernels::div_true, div, kernels::kDivTrue)

namespace {
// The DivMode of a rounding_mode string, or -1 (torch raises).
int div_mode_of(c10::string_view mode) {
  return mode == "trunc" ? kernels::kDivTrunc : mode == "floor" ? kernels::kDivFloor : -1;
}
}  // namespace

#define GF_ROUNDED(form, ...)                                                                     \
  (*mode == "trunc"   ? form(IterKind::binary, __VA_ARGS__, K<kernels::div_trunc>, {}, fallback)   \
   : *mode == "floor" ? form(IterKind::binary, __VA_ARGS__, K<kernels::div_floor>, {}, fallback)   \
                      : fallback())

Tensor div_mode(const Tensor& self, const Tensor& other, std::optional<c10::string_view> mode) {
  if (!mode) return ops::div(self, other);
  if (const int m = div_mode_of(*mode); m >= 0) {
    if (Tensor r = div_by_number(Tensor(), self, other, m); r.defined()) return r;
  }
  auto fallback = GF_FALLBACK(self, div, self, other, mode);
  return GF_ROUNDED(pw::functional, std::initializer_list<Tensor>{self, other});
}
Tensor& div_mode_out(const Tensor& self, const Tensor& other, std::optional<c10::string_view> mode,
                     Tensor& out) {
  if (!mode) return ops::div_out(self, other, out);
  if (const int m = div_mode_of(*mode); m >= 0 && div_by_number(out, self, other, m).defined()) return out;
  auto fallback = GF_FALLBACK(self, div_outf, self, other, mode, out);
  auto form = [&](IterKind kind, std::initializer_list<Tensor> in, const pw::Kernel& k, Args a,
                  auto&& fb) -> Tensor& { return pw::out_form(out, kind, in, k, a, fb); };
  return GF_ROUNDED(form, std::initializer_list<Tensor>{self, other});
}
Tensor& div_mode_(Tensor& self, const Tensor& other, std::optional<c10::string_view> mode) {
  if (!mode) return ops::div_(self, other);
  if (const int m = div_mode_of(*mode); m >= 0 && div_by_number(self, self, other, m).defined()) return self;
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

// torch's cpu pow of a fp16/bf16 tensor by a real number rounds the exponent to the tensor's
// dtype (bf16 after its sqrt / rsqrt / reciprocal checks of the number as given, which
// pow_mode makes too: 0.5, -0.5 and -1 round to themselves). Scalar::to raises torch's overflow
// error for an exponent out of the dtype's range.
Scalar cpu_pow_exponent(const Tensor& base, const Scalar& exp) {
  if (!base.is_cpu() || exp.isComplex() || exp.isBoolean()) return exp;
  if (base.scalar_type() == at::kBFloat16) return Scalar(static_cast<double>(exp.to<at::BFloat16>()));
  if (base.scalar_type() == at::kHalf) return Scalar(static_cast<double>(exp.to<at::Half>()));
  return exp;
}

}  // namespace

GF_BINARY_FORMS(pow_tensor_tensor, IterKind::binary, kernels::pow_tensor, pow)

Tensor pow_tensor_scalar(const Tensor& self, const Scalar& exp) {
  check_pow_scalar(self, exp);
  const Tensor base = as_dtype(self, at::result_type(self, exp));
  const Scalar e = cpu_pow_exponent(base, exp);
  return pw::functional(IterKind::unary, {base}, K<kernels::pow_scalar_exp>, {e, {}, pow_mode(e)},
                        GF_FALLBACK(self, pow, self, exp));
}
Tensor& pow_tensor_scalar_out(const Tensor& self, const Scalar& exp, Tensor& out) {
  check_pow_scalar(self, exp);
  const Tensor base = as_dtype(self, at::result_type(self, exp));
  const Scalar e = cpu_pow_exponent(base, exp);
  return pw::out_form(out, IterKind::unary, {base}, K<kernels::pow_scalar_exp>,
                      {e, {}, pow_mode(e)}, GF_FALLBACK(self, pow_outf, self, exp, out));
}
Tensor& pow_scalar_(Tensor& self, const Scalar& exp) {
  check_pow_scalar(self, exp);
  auto fallback = GF_FALLBACK(self, pow_, self, exp);
  if (at::result_type(self, exp) != self.scalar_type()) return fallback();  // torch raises
  const Scalar e = cpu_pow_exponent(self, exp);
  return pw::inplace(self, IterKind::unary, {self}, K<kernels::pow_scalar_exp>, {e, {}, pow_mode(e)},
                     fallback);
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
