// eq, ne, lt, le, gt, ge (Tensor and Scalar), logical_and / logical_or / logical_not and
// isclose: functional results are bool; out= and in-place keep the output's dtype, as in torch.
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/constant.h"
#include "ops/pointwise/kernels/compare.h"

#include <ATen/CompositeImplicitAutogradFunctions.h>

namespace gemforge::ops {

namespace {
// self against an exact constant (see exact_constant) on the dense road; undefined otherwise.
Tensor compare_constant(const Tensor& self, const Scalar& other, kernels::compare_mode mode) {
  if (!exact_constant(self, other)) return Tensor();
  return pw::run_dense(IterKind::comparison, Tensor(), {self}, K<kernels::compare_constant>,
                       {other, {}, int(mode)});
}

// A Scalar a 2-byte float tensor on cuda does not hold exactly: torch's cuda kernels compare
// with it in float, the binary engine compares in the tensor's dtype, the Scalar rounded first
// (inf > 70000 is true in torch, false against fp16's rounding of 70000 to inf; seen in
// test_scalar_constants[float16] on the H100 and H200): torch's kernel takes those calls.
bool rounds_in_dtype(const Tensor& self, const Scalar& other) {
  const ScalarType t = self.scalar_type();
  if (!self.is_cuda() || (t != at::kHalf && t != at::kBFloat16) || other.isComplex() || other.isBoolean() ||
      other.isSymbolic())
    return false;
  const double v = other.toDouble();
  return !std::isnan(v) && !std::isinf(v) && !two_byte_holds(t, v);
}
}  // namespace

#define GF_COMPARE(name, mode)                                                                     \
  GF_BINARY_FORMS(name, IterKind::comparison, kernels::name, name)                                 \
  Tensor name##_scalar(const Tensor& self, const Scalar& other) {                                  \
    if (Tensor r = compare_constant(self, other, kernels::mode); r.defined()) return r;            \
    if (rounds_in_dtype(self, other)) return GF_FALLBACK(self, name, self, other)();               \
    return ops::name(self, wrap(other));                                                           \
  }                                                                                                \
  Tensor& name##_scalar_out(const Tensor& self, const Scalar& other, Tensor& out) {                \
    if (rounds_in_dtype(self, other)) return GF_FALLBACK(self, name##_outf, self, other, out)();   \
    return ops::name##_out(self, wrap(other), out);                                                \
  }                                                                                                \
  Tensor& name##_scalar_(Tensor& self, const Scalar& other) {                                      \
    if (rounds_in_dtype(self, other)) return GF_FALLBACK(self, name##_, self, other)();            \
    return ops::name##_(self, wrap(other));                                                        \
  }
GF_COMPARE(eq, kEq)
GF_COMPARE(ne, kNe)
GF_COMPARE(lt, kLt)
GF_COMPARE(le, kLe)
GF_COMPARE(gt, kGt)
GF_COMPARE(ge, kGe)
#undef GF_COMPARE

// isclose is a composite in torch: ==, isnan, *, +, -, abs, isfinite and <= with |= and &=, up
// to nine kernels and their temporaries; kernels::isclose is one pass that rounds as they do.
// Two tensors of one floating dtype are served (at the backend key, as isfinite); other dtypes
// (integers promote to float), complex, and the calls torch rejects take the composite.
Tensor isclose(const Tensor& self, const Tensor& other, double rtol, double atol, bool equal_nan) {
  auto composite =
      GF_FALLBACK_TO(at::compositeimplicitautograd::isclose(self, other, rtol, atol, equal_nan));
  const ScalarType t = self.scalar_type();
  if (t != other.scalar_type() || !at::isFloatingType(t) || !(rtol >= 0) || !(atol >= 0) ||
      self.is_quantized() || other.is_quantized())
    return composite();
  const int kind = t == at::kHalf ? 1 : t == at::kBFloat16 ? 2 : 0;
  const int mode = int(equal_nan) | (rtol == 0 && atol == 0 ? 2 : 0) | kind << 2;
  return pw::functional(IterKind::comparison, {self, other}, K<kernels::isclose>,
                        {Scalar(rtol), Scalar(atol), mode}, composite);
}

// torch writes the functional and in-place forms through the out= kernel; so do its fallbacks.
#define GF_LOGICAL(name)                                                                            \
  Tensor& name##_out(const Tensor& self, const Tensor& other, Tensor& out) {                        \
    return pw::out_form(out, IterKind::comparison, {self, other}, K<kernels::name>, {},             \
                        GF_FALLBACK(self, name##_outf, self, other, out));                          \
  }                                                                                                 \
  Tensor name(const Tensor& self, const Tensor& other) {                                            \
    if (Tensor r = pw::run_dense(IterKind::comparison, Tensor(), {self, other}, K<kernels::name>);  \
        r.defined())                                                                                \
      return r;                                                                                     \
    /* as torch: a bool tensor on self's device, written by the out= form */                        \
    Tensor out = at::empty({0}, self.options().dtype(at::kBool));                                   \
    return ops::name##_out(self, other, out);                                                       \
  }                                                                                                 \
  Tensor& name##_(Tensor& self, const Tensor& other) {                                              \
    return pw::inplace(self, IterKind::comparison, {self, other}, K<kernels::name>, {},             \
                       GF_FALLBACK(self, name##_outf, self, other, self));                          \
  }
GF_LOGICAL(logical_and)
GF_LOGICAL(logical_or)
#undef GF_LOGICAL

// logical_not: any input dtype, any output dtype; the kernel runs in the input's dtype.
Tensor& logical_not_out(const Tensor& self, Tensor& out) {
  at::TensorIterator iter = at::TensorIteratorConfig()
                                .check_all_same_dtype(false)
                                .add_output(out)
                                .add_const_input(self)
                                .build();
  if (pw::run(iter, K<kernels::logical_not>, {}, self.scalar_type())) return out;
  return GF_FALLBACK(self, logical_not_outf, self, out)();
}
Tensor logical_not(const Tensor& self) {
  if (Tensor r = pw::run_dense(IterKind::comparison, Tensor(), {self}, K<kernels::logical_not>); r.defined())
    return r;
  Tensor out = at::empty({0}, self.options().dtype(at::kBool));
  return ops::logical_not_out(self, out);
}
Tensor& logical_not_(Tensor& self) { return ops::logical_not_out(self, self); }

}  // namespace gemforge::ops
