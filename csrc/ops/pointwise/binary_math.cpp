// atan2, copysign, maximum, minimum, fmax, fmin, fmod, remainder, floor_divide, gcd, lcm, heaviside,
// hypot, logaddexp, logaddexp2, nextafter, rsub, lerp, addcmul, addcdiv, clamp_min, clamp_max:
// every overload.
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/constant.h"
#include "ops/pointwise/kernels/binary_math.h"
#include "ops/pointwise/kernels/select.h"

#include <ATen/core/op_registration/adaption.h>

#include <optional>

namespace gemforge::ops {

// ---- binary ops over torch's binary iterators --------------------------------------------------
// The functional and out= forms of an op without an in-place overload.
#define GF_BINARY_PURE_FORMS(name, kind, Op, check)                                               \
  Tensor name(const Tensor& self, const Tensor& other) {                                          \
    check;                                                                                         \
    return pw::functional(kind, {self, other}, K<Op>, {}, GF_FALLBACK(self, name, self, other));   \
  }                                                                                                \
  Tensor& name##_out(const Tensor& self, const Tensor& other, Tensor& out) {                      \
    check;                                                                                         \
    return pw::out_form(out, kind, {self, other}, K<Op>, {},                                       \
                        GF_FALLBACK(self, name##_outf, self, other, out));                         \
  }

// torch's generated cuda wrappers of gcd, lcm, logaddexp(2) and nextafter check that both operands
// share one device, so a CPU 0-d operand raises there (other binary ops accept it): the same check.
static void one_device(const char* method, const Tensor& self, const Tensor& other) {
  std::optional<at::Device> common;
  c10::impl::check_and_update_common_device(common, self, method, "self");
  c10::impl::check_and_update_common_device(common, other, method, "other");
}
#define GF_ONE_DEVICE(name) one_device("wrapper_CUDA_" #name, self, other)

GF_BINARY_PURE_FORMS(maximum, IterKind::binary, kernels::maximum, )
GF_BINARY_PURE_FORMS(minimum, IterKind::binary, kernels::minimum, )
GF_BINARY_PURE_FORMS(fmax, IterKind::binary, kernels::fmax, )
GF_BINARY_PURE_FORMS(fmin, IterKind::binary, kernels::fmin, )
GF_BINARY_PURE_FORMS(logaddexp, IterKind::binary, kernels::logaddexp, GF_ONE_DEVICE(logaddexp))
GF_BINARY_PURE_FORMS(logaddexp2, IterKind::binary, kernels::logaddexp2, GF_ONE_DEVICE(logaddexp2))

GF_BINARY_FORMS(atan2, IterKind::binary_float, kernels::atan2, atan2)
GF_BINARY_FORMS(copysign, IterKind::binary_float, kernels::copysign, copysign)
GF_SCALAR_FORMS(copysign)
GF_BINARY_FORMS(fmod, IterKind::binary, kernels::fmod, fmod)
GF_SCALAR_FORMS(fmod)
GF_BINARY_FORMS(remainder, IterKind::binary, kernels::remainder, remainder)
GF_SCALAR_FORMS(remainder)
// (a 0-d CPU divisor as torch's kernel takes it: div_by_number)
GF_DIV_FORMS(floor_divide, IterKind::binary, kernels::div_floor, floor_divide, kernels::kDivFloor)
GF_SCALAR_FORMS(floor_divide)
#define GF_BINARY_FORMS_ONE_DEVICE(name, Op)                                                      \
  GF_BINARY_PURE_FORMS(name, IterKind::binary, Op, GF_ONE_DEVICE(name))                           \
  Tensor& name##_(Tensor& self, const Tensor& other) {                                            \
    GF_ONE_DEVICE(name);                                                                           \
    return pw::inplace(self, IterKind::binary, {self, other}, K<Op>, {},                          \
                       GF_FALLBACK(self, name##_, self, other));                                   \
  }
GF_BINARY_FORMS_ONE_DEVICE(gcd, kernels::gcd)
GF_BINARY_FORMS_ONE_DEVICE(lcm, kernels::lcm)
#undef GF_BINARY_FORMS_ONE_DEVICE
#undef GF_BINARY_PURE_FORMS
GF_BINARY_FORMS(hypot, IterKind::binary, kernels::hypot, hypot)

Tensor remainder_scalar_tensor(const Scalar& self, const Tensor& other) {
  return ops::remainder(wrap(self), other);
}
Tensor& remainder_scalar_tensor_out(const Scalar& self, const Tensor& other, Tensor& out) {
  return ops::remainder_out(wrap(self), other, out);
}

// ---- heaviside: torch takes no promotion, every operand has one dtype ---------------------------
namespace {

bool heaviside_dtypes_match(const Tensor& self, const Tensor& values, const Tensor& out) {
  return self.scalar_type() == values.scalar_type() &&
         (!out.defined() || out.scalar_type() == self.scalar_type());
}

}  // namespace

Tensor heaviside(const Tensor& self, const Tensor& values) {
  auto fallback = GF_FALLBACK(self, heaviside, self, values);
  if (!heaviside_dtypes_match(self, values, Tensor())) return fallback();  // torch raises
  return pw::functional(IterKind::binary, {self, values}, K<kernels::heaviside>, {}, fallback);
}
Tensor& heaviside_out(const Tensor& self, const Tensor& values, Tensor& out) {
  auto fallback = GF_FALLBACK(self, heaviside_outf, self, values, out);
  if (!heaviside_dtypes_match(self, values, out)) return fallback();
  return pw::out_form(out, IterKind::binary, {self, values}, K<kernels::heaviside>, {}, fallback);
}
Tensor& heaviside_(Tensor& self, const Tensor& values) {
  auto fallback = GF_FALLBACK(self, heaviside_, self, values);
  if (!heaviside_dtypes_match(self, values, self)) return fallback();
  return pw::inplace(self, IterKind::binary, {self, values}, K<kernels::heaviside>, {}, fallback);
}

// ---- nextafter: fp16 and bf16 step on their own bits ----------------------------------------------
namespace {

const pw::Kernel& nextafter_kernel(const Tensor& self, const Tensor& other) {
  switch (at::result_type(self, other)) {
    case at::kHalf: return K<kernels::nextafter_half>;
    case at::kBFloat16: return K<kernels::nextafter_bf16>;
    default: return K<kernels::nextafter>;
  }
}

}  // namespace

Tensor nextafter(const Tensor& self, const Tensor& other) {
  GF_ONE_DEVICE(nextafter);
  return pw::functional(IterKind::binary, {self, other}, nextafter_kernel(self, other), {},
                        GF_FALLBACK(self, nextafter, self, other));
}
Tensor& nextafter_out(const Tensor& self, const Tensor& other, Tensor& out) {
  GF_ONE_DEVICE(nextafter);
  return pw::out_form(out, IterKind::binary, {self, other}, nextafter_kernel(self, other), {},
                      GF_FALLBACK(self, nextafter_outf, self, other, out));
}
Tensor& nextafter_(Tensor& self, const Tensor& other) {
  GF_ONE_DEVICE(nextafter);
  return pw::inplace(self, IterKind::binary, {self, other}, nextafter_kernel(self, other), {},
                     GF_FALLBACK(self, nextafter_, self, other));
}
#undef GF_ONE_DEVICE

// ---- rsub: other - alpha * self ------------------------------------------------------------------
Tensor rsub(const Tensor& self, const Tensor& other, const Scalar& alpha) {
  return ops::sub(other, self, alpha);
}
Tensor rsub_scalar(const Tensor& self, const Scalar& other, const Scalar& alpha) {
  return ops::sub(wrap(other), self, alpha);
}
namespace {

// torch's out= of rsub is its generic composite, which wants out= of the result's dtype exactly.
Tensor& rsub_into(const Tensor& self, const Tensor& other, const Scalar& alpha, Tensor& out) {
  const ScalarType result = at::result_type(self, other);
  TORCH_CHECK(out.scalar_type() == result, "Expected out tensor to have dtype ",
              c10::scalarTypeToTypeMeta(result), ", but got ", out.dtype(), " instead");
  return ops::sub_out(other, self, alpha, out);
}

}  // namespace
Tensor& rsub_out(const Tensor& self, const Tensor& other, const Scalar& alpha, Tensor& out) {
  return rsub_into(self, other, alpha, out);
}
Tensor& rsub_scalar_out(const Tensor& self, const Scalar& other, const Scalar& alpha, Tensor& out) {
  return rsub_into(self, wrap(other), alpha, out);
}

// ---- lerp, addcmul, addcdiv: iterators of three operands, configured as torch does ---------------
namespace {

// Runs k over an iterator with output `out` (undefined: allocated) that `setup` configures and
// gives its inputs; an undefined result when gemforge has no kernel for the case.
template <class Setup>
Tensor run_config(const Tensor& out, Setup&& setup, const pw::Kernel& k, const Args& args) {
  at::TensorIteratorConfig config;
  config.add_output(out);
  setup(config);
  at::TensorIterator iter = config.build();
  return pw::run(iter, k, args) ? iter.output() : Tensor();
}

// The three forms over such an iterator: the dense road first, as pw::functional takes it.
template <class Setup, class Fallback>
Tensor functional3(std::initializer_list<Tensor> in, Setup&& setup, const pw::Kernel& k,
                   const Args& args, Fallback&& fallback) {
  Tensor r = pw::run_dense(IterKind::binary, Tensor(), in, k, args);
  if (!r.defined()) r = run_config(Tensor(), setup, k, args);
  return r.defined() ? r : fallback();
}
template <class Setup, class Fallback>
Tensor& out3(Tensor& out, Setup&& setup, const pw::Kernel& k, const Args& args,
             Fallback&& fallback) {
  return run_config(out, setup, k, args).defined() ? out : fallback();
}
template <class Setup, class Fallback>
Tensor& inplace3(Tensor& self, std::initializer_list<Tensor> in, Setup&& setup,
                 const pw::Kernel& k, const Args& args, Fallback&& fallback) {
  if (pw::run_dense(IterKind::binary, self, in, k, args).defined()) return self;
  return run_config(self, setup, k, args).defined() ? self : fallback();
}

void check_lerp_end(const Tensor& self, const Tensor& end) {
  TORCH_CHECK(self.dtype() == end.dtype(), "expected dtype ", self.dtype(),
              " for `end` but got dtype ", end.dtype());
}

// A 0-d weight takes part in type promotion; any other must have self's dtype. A 0-d weight of
// another real dtype is rounded to self's first, as torch's kernels read it.
auto lerp_setup(const Tensor& self, const Tensor& end, const Tensor& weight) {
  check_lerp_end(self, end);
  const bool promote = weight.dim() == 0;
  TORCH_CHECK(promote || self.dtype() == weight.dtype(), "expected dtype ", self.dtype(),
              " for `weight` but got dtype ", weight.dtype());
  const bool round_weight = promote && weight.scalar_type() != self.scalar_type() &&
                            at::isFloatingType(self.scalar_type()) && !weight.is_complex();
  Tensor w = round_weight ? weight.to(self.scalar_type()) : weight;
  return [&self, &end, w = std::move(w), promote](at::TensorIteratorConfig& c) {
    c.allow_cpu_scalars(true)
        .promote_inputs_to_common_dtype(promote)
        .enforce_safe_casting_to_output(promote)
        .cast_common_dtype_to_outputs(promote)
        .add_const_input(self)
        .add_const_input(end)
        .add_const_input(w);
  };
}

// build_ternary_op's configuration.
auto ternary_setup(const Tensor& a, const Tensor& b, const Tensor& c) {
  return [&a, &b, &c](at::TensorIteratorConfig& config) {
    config.promote_inputs_to_common_dtype(true)
        .cast_common_dtype_to_outputs(true)
        .enforce_safe_casting_to_output(true)
        .add_const_input(a)
        .add_const_input(b)
        .add_const_input(c);
  };
}

// torch refuses addcdiv of two integer tensors (it used to floor-divide them).
bool integer_division(const Tensor& t1, const Tensor& t2) {
  return at::isIntegralType(t1.scalar_type(), true) && at::isIntegralType(t2.scalar_type(), true);
}

}  // namespace

Tensor lerp_scalar(const Tensor& self, const Tensor& end, const Scalar& weight) {
  check_lerp_end(self, end);
  return pw::functional(IterKind::binary, {self, end}, K<kernels::lerp_scalar>, {weight},
                        GF_FALLBACK(self, lerp, self, end, weight));
}
Tensor& lerp_scalar_out(const Tensor& self, const Tensor& end, const Scalar& weight, Tensor& out) {
  check_lerp_end(self, end);
  return pw::out_form(out, IterKind::binary, {self, end}, K<kernels::lerp_scalar>, {weight},
                      GF_FALLBACK(self, lerp_outf, self, end, weight, out));
}
Tensor& lerp_scalar_(Tensor& self, const Tensor& end, const Scalar& weight) {
  check_lerp_end(self, end);
  return pw::inplace(self, IterKind::binary, {self, end}, K<kernels::lerp_scalar>, {weight},
                     GF_FALLBACK(self, lerp_, self, end, weight));
}
Tensor lerp_tensor(const Tensor& self, const Tensor& end, const Tensor& weight) {
  return functional3({self, end, weight}, lerp_setup(self, end, weight), K<kernels::lerp_tensor>,
                     {}, GF_FALLBACK(self, lerp, self, end, weight));
}
Tensor& lerp_tensor_out(const Tensor& self, const Tensor& end, const Tensor& weight, Tensor& out) {
  return out3(out, lerp_setup(self, end, weight), K<kernels::lerp_tensor>, {},
              GF_FALLBACK(self, lerp_outf, self, end, weight, out));
}
Tensor& lerp_tensor_(Tensor& self, const Tensor& end, const Tensor& weight) {
  return inplace3(self, {self, end, weight}, lerp_setup(self, end, weight),
                  K<kernels::lerp_tensor>, {}, GF_FALLBACK(self, lerp_, self, end, weight));
}

Tensor addcmul(const Tensor& self, const Tensor& t1, const Tensor& t2, const Scalar& value) {
  return functional3({self, t1, t2}, ternary_setup(self, t1, t2), K<kernels::addcmul>, {value},
                     GF_FALLBACK(self, addcmul, self, t1, t2, value));
}
Tensor& addcmul_out(const Tensor& self, const Tensor& t1, const Tensor& t2, const Scalar& value,
                    Tensor& out) {
  return out3(out, ternary_setup(self, t1, t2), K<kernels::addcmul>, {value},
              GF_FALLBACK(self, addcmul_outf, self, t1, t2, value, out));
}
Tensor& addcmul_(Tensor& self, const Tensor& t1, const Tensor& t2, const Scalar& value) {
  return inplace3(self, {self, t1, t2}, ternary_setup(self, t1, t2), K<kernels::addcmul>, {value},
                  GF_FALLBACK(self, addcmul_, self, t1, t2, value));
}

Tensor addcdiv(const Tensor& self, const Tensor& t1, const Tensor& t2, const Scalar& value) {
  auto fallback = GF_FALLBACK(self, addcdiv, self, t1, t2, value);
  if (integer_division(t1, t2)) return fallback();  // torch raises
  return functional3({self, t1, t2}, ternary_setup(self, t1, t2), K<kernels::addcdiv>, {value},
                     fallback);
}
Tensor& addcdiv_out(const Tensor& self, const Tensor& t1, const Tensor& t2, const Scalar& value,
                    Tensor& out) {
  auto fallback = GF_FALLBACK(self, addcdiv_outf, self, t1, t2, value, out);
  if (integer_division(t1, t2)) return fallback();
  return out3(out, ternary_setup(self, t1, t2), K<kernels::addcdiv>, {value}, fallback);
}
Tensor& addcdiv_(Tensor& self, const Tensor& t1, const Tensor& t2, const Scalar& value) {
  auto fallback = GF_FALLBACK(self, addcdiv_, self, t1, t2, value);
  if (integer_division(t1, t2)) return fallback();
  return inplace3(self, {self, t1, t2}, ternary_setup(self, t1, t2), K<kernels::addcdiv>, {value},
                  fallback);
}

// ---- clamp_min, clamp_max: a Scalar bound is clamp's (select.cpp); a Tensor bound is a binary op --
#define GF_CLAMP_SIDE(name, lo, hi)                                                                \
  Tensor name(const Tensor& self, const Scalar& bound) {                                          \
    if (self.is_complex() || bound.isComplex()) return GF_FALLBACK(self, name, self, bound)();     \
    return ops::clamp(self, lo, hi);                                                               \
  }                                                                                                \
  Tensor& name##_out(const Tensor& self, const Scalar& bound, Tensor& out) {                      \
    if (self.is_complex() || bound.isComplex())                                                    \
      return GF_FALLBACK(self, name##_outf, self, bound, out)();                                   \
    return ops::clamp_out(self, lo, hi, out);                                                      \
  }                                                                                                \
  Tensor& name##_(Tensor& self, const Scalar& bound) {                                            \
    if (self.is_complex() || bound.isComplex()) return GF_FALLBACK(self, name##_, self, bound)();  \
    return ops::clamp_(self, lo, hi);                                                              \
  }
GF_CLAMP_SIDE(clamp_min, bound, std::nullopt)
GF_CLAMP_SIDE(clamp_max, std::nullopt, bound)
#undef GF_CLAMP_SIDE

GF_BINARY_FORMS(clamp_min_tensor, IterKind::binary, kernels::clamp_min_tensor, clamp_min)
GF_BINARY_FORMS(clamp_max_tensor, IterKind::binary, kernels::clamp_max_tensor, clamp_max)

}  // namespace gemforge::ops
