// neg, conj_physical.out and conj_physical_; exp, log, sqrt, rsqrt, sin, cos, tanh, sigmoid, acos,
// asin, atan, acosh, asinh, atanh, cosh, sinh, tan, exp2, expm1, log10, log1p, log2, reciprocal,
// deg2rad, rad2deg, sinc and angle (integers and bool promote to float, as in torch): functional,
// out= and in-place forms.
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/kernels/arithmetic.h"
#include "ops/pointwise/kernels/unary_math.h"

#include <ATen/CompositeExplicitAutogradFunctions.h>

namespace gemforge::ops {

#define GF_UNARY(name, kind, check) GF_UNARY_FORMS(name, kind, kernels::name, name, check)
GF_UNARY(neg, IterKind::unary,
         TORCH_CHECK(self.scalar_type() != at::kBool,
                     "Negation, the `-` operator, on a bool tensor is not supported. If you are "
                     "trying to invert a mask, use the `~` or `logical_not()` operator instead."))
// conj_physical.out, torch's kernel under conj_physical, _conj_physical and conj_physical_
// (composites): neg's iterator, so out must have self's dtype as in torch.
Tensor& conj_physical_out(const Tensor& self, Tensor& out) {
  return pw::out_form(out, IterKind::unary, {self}, K<kernels::conj_physical>, {},
                      GF_FALLBACK(self, conj_physical_outf, self, out));
}
// In place: torch's cuda kernel conjugates through its own stub, reaching no other op (its cpu
// path copies the conjugate view); both are this kernel here. A real tensor is its own conjugate.
Tensor& conj_physical_(Tensor& self) {
  if (!self.is_complex()) return self;
  return ops::conj_physical_out(self, self);
}
GF_UNARY(exp, IterKind::unary_float, )
GF_UNARY(log, IterKind::unary_float, )
GF_UNARY(sqrt, IterKind::unary_float, )
GF_UNARY(rsqrt, IterKind::unary_float, )
GF_UNARY(sin, IterKind::unary_float, )
GF_UNARY(cos, IterKind::unary_float, )
GF_UNARY(tanh, IterKind::unary_float, )
GF_UNARY(sigmoid, IterKind::unary_float, )
GF_UNARY(acos, IterKind::unary_float, )
GF_UNARY(asin, IterKind::unary_float, )
GF_UNARY(atan, IterKind::unary_float, )
GF_UNARY(acosh, IterKind::unary_float, )
GF_UNARY(asinh, IterKind::unary_float, )
GF_UNARY(atanh, IterKind::unary_float, )
GF_UNARY(cosh, IterKind::unary_float, )
GF_UNARY(sinh, IterKind::unary_float, )
GF_UNARY(tan, IterKind::unary_float, )
GF_UNARY(exp2, IterKind::unary_float, )
GF_UNARY(expm1, IterKind::unary_float, )
GF_UNARY(log10, IterKind::unary_float, )
GF_UNARY(log1p, IterKind::unary_float, )
GF_UNARY(log2, IterKind::unary_float, )
GF_UNARY(reciprocal, IterKind::unary_float, )
GF_UNARY(sinc, IterKind::unary_float, )
#undef GF_UNARY

// torch's deg2rad and rad2deg multiply by a constant, integers and bool converted to the default
// float dtype first: the unary_float iterator. torch has only composite kernels for them.
#define GF_ANGLE_UNIT(name)                                                                       \
  Tensor name(const Tensor& self) {                                                              \
    TORCH_CHECK(!self.is_complex(), #name " is not supported for complex tensors.");             \
    return pw::functional(IterKind::unary_float, {self}, K<kernels::name>, {},                   \
                          GF_FALLBACK_TO(at::compositeexplicitautograd::name(self)));            \
  }                                                                                              \
  Tensor& name##_out(const Tensor& self, Tensor& out) {                                          \
    TORCH_CHECK(!self.is_complex(), #name " is not supported for complex tensors.");             \
    return pw::out_form(out, IterKind::unary_float, {self}, K<kernels::name>, {},                \
                        GF_FALLBACK_TO(at::compositeexplicitautograd::name##_outf(self, out)));  \
  }                                                                                              \
  Tensor& name##_(Tensor& self) {                                                                \
    TORCH_CHECK(!self.is_complex(), #name " is not supported for complex tensors.");             \
    return pw::inplace(self, IterKind::unary_float, {self}, K<kernels::name>, {},                \
                       GF_FALLBACK_TO(at::compositeexplicitautograd::name##_(self)));            \
  }
GF_ANGLE_UNIT(deg2rad)
GF_ANGLE_UNIT(rad2deg)
#undef GF_ANGLE_UNIT

// angle of a real tensor (integers promote to float). torch's: complex tensors (a real result)
// and, on the GPU, fp16 / bf16 (torch's cuda kernel has none and raises).
static bool angle_is_torch_s(const Tensor& self) {
  const auto t = self.scalar_type();
  return self.is_complex() || (self.is_cuda() && (t == at::kHalf || t == at::kBFloat16));
}
Tensor angle(const Tensor& self) {
  auto fallback = GF_FALLBACK(self, angle, self);
  if (angle_is_torch_s(self)) return fallback();
  return pw::functional(IterKind::unary_float, {self}, K<kernels::angle>, {}, fallback);
}
Tensor& angle_out(const Tensor& self, Tensor& out) {
  auto fallback = GF_FALLBACK(self, angle_outf, self, out);
  if (angle_is_torch_s(self)) return fallback();
  return pw::out_form(out, IterKind::unary_float, {self}, K<kernels::angle>, {}, fallback);
}

}  // namespace gemforge::ops
