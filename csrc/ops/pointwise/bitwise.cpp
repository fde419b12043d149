// bitwise_and / or / xor / not, the shifts (bitwise_*_shift and __lshift__ / __rshift__ with
// their in-place forms), logical_xor, and the predicates isnan, isinf, isfinite, isposinf,
// isneginf and signbit. Bitwise ops take bool and integer dtypes only: for floats gemforge has
// no kernel and torch's own raises its error.
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/kernels/bitwise.h"

#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/CompositeImplicitAutogradFunctions.h>
#include <ATen/MemoryOverlap.h>

namespace gemforge::ops {

// ---- bitwise_and, bitwise_or, bitwise_xor, the shifts: Tensor, Scalar and Scalar_Tensor forms --
// As torch: a Scalar operand is a wrapped number, so it never widens the tensor's dtype.
#define GF_BITWISE(name, Op)                                                                      \
  GF_BINARY_FORMS(name, IterKind::binary, Op, name)                                               \
  GF_SCALAR_FORMS(name)                                                                           \
  Tensor name##_scalar_tensor(const Scalar& self, const Tensor& other) {                         \
    const Tensor s = wrap(self);                                                                  \
    return pw::functional(IterKind::binary, {s, other}, K<Op>, {},                                \
                          GF_FALLBACK(other, name, s, other));                                    \
  }
GF_BITWISE(bitwise_and, kernels::bitwise_and)
GF_BITWISE(bitwise_or, kernels::bitwise_or)
GF_BITWISE(bitwise_xor, kernels::bitwise_xor)
GF_BITWISE(bitwise_left_shift, kernels::left_shift)
GF_BITWISE(bitwise_right_shift, kernels::right_shift)
#undef GF_BITWISE

GF_UNARY_FORMS(bitwise_not, IterKind::unary, kernels::bitwise_not, bitwise_not, )

// ---- __lshift__ / __rshift__ and their in-place forms: torch's own kernels (the same shifts) --
#define GF_SHIFT_DUNDER(name, Op, torch_name, torch_inplace)                                      \
  Tensor name(const Tensor& self, const Tensor& other) {                                         \
    return pw::functional(IterKind::binary, {self, other}, K<Op>, {},                             \
                          GF_FALLBACK(self, torch_name, self, other));                            \
  }                                                                                               \
  Tensor name##_scalar(const Tensor& self, const Scalar& other) {                                \
    return pw::functional(IterKind::binary, {self, wrap(other)}, K<Op>, {},                       \
                          GF_FALLBACK(self, torch_name, self, other));                            \
  }                                                                                               \
  Tensor& i##name(Tensor& self, const Tensor& other) {                                           \
    return pw::inplace(self, IterKind::binary, {self, other}, K<Op>, {},                          \
                       GF_FALLBACK(self, torch_inplace, self, other));                            \
  }                                                                                               \
  Tensor& i##name##_scalar(Tensor& self, const Scalar& other) {                                  \
    return pw::inplace(self, IterKind::binary, {self, wrap(other)}, K<Op>, {},                    \
                       GF_FALLBACK(self, torch_inplace, self, other));                            \
  }
GF_SHIFT_DUNDER(lshift, kernels::left_shift, __lshift__, __ilshift__)
GF_SHIFT_DUNDER(rshift, kernels::right_shift, __rshift__, __irshift__)
#undef GF_SHIFT_DUNDER

// ---- logical_xor: as logical_and / logical_or (compare.cpp), through the out= form -----------
Tensor& logical_xor_out(const Tensor& self, const Tensor& other, Tensor& out) {
  return pw::out_form(out, IterKind::comparison, {self, other}, K<kernels::logical_xor>, {},
                      GF_FALLBACK(self, logical_xor_outf, self, other, out));
}
Tensor logical_xor(const Tensor& self, const Tensor& other) {
  if (Tensor r = pw::run_dense(IterKind::comparison, Tensor(), {self, other}, K<kernels::logical_xor>);
      r.defined())
    return r;
  Tensor out = at::empty({0}, self.options().dtype(at::kBool));
  return ops::logical_xor_out(self, other, out);
}
Tensor& logical_xor_(Tensor& self, const Tensor& other) {
  return pw::inplace(self, IterKind::comparison, {self, other}, K<kernels::logical_xor>, {},
                     GF_FALLBACK(self, logical_xor_outf, self, other, self));
}

// ---- predicates: a bool result from self in its own dtype -----------------------------------
namespace {

// torch's iterator for isposinf / isneginf / signbit; out= must be bool (torch raises otherwise).
template <class Fallback>
Tensor& predicate_out(Tensor& out, const Tensor& self, const pw::Kernel& k, Fallback&& fallback) {
  if (out.scalar_type() != at::kBool) return fallback();
  at::TensorIterator iter;
  iter.build_borrowing_unary_force_boolean_op(out, self);
  if (pw::run(iter, k, {}, self.scalar_type())) return out;
  return fallback();
}

template <class Fallback>
Tensor predicate(const Tensor& self, const pw::Kernel& k, Fallback&& fallback) {
  if (Tensor r = pw::run_dense(IterKind::comparison, Tensor(), {self}, k); r.defined()) return r;
  Tensor out;
  at::TensorIterator iter;
  iter.build_borrowing_unary_force_boolean_op(out, self);
  if (pw::run(iter, k, {}, self.scalar_type())) return iter.output();
  return fallback();
}

// isnan.out and isinf.out are torch's generated wrappers: the functional result copied into a
// bool out. They accept an out on another device or overlapping self; such an out goes to them.
template <class Fallback>
Tensor& copied_predicate_out(Tensor& out, const Tensor& self, const pw::Kernel& k,
                             Fallback&& fallback) {
  const auto overlap = at::get_overlap_status(out, self);
  if (out.device() != self.device() ||
      (overlap != at::MemOverlapStatus::No && overlap != at::MemOverlapStatus::Full))
    return fallback();
  return predicate_out(out, self, k, fallback);
}

}  // namespace

Tensor isnan(const Tensor& self) {
  return predicate(self, K<kernels::isnan>, GF_FALLBACK(self, isnan, self));
}
Tensor& isnan_out(const Tensor& self, Tensor& out) {
  return copied_predicate_out(out, self, K<kernels::isnan>,
                              GF_FALLBACK_TO(at::compositeexplicitautograd::isnan_outf(self, out)));
}
Tensor isinf(const Tensor& self) {
  return predicate(self, K<kernels::isinf>, GF_FALLBACK_TO(at::compositeexplicitautograd::isinf(self)));
}
Tensor& isinf_out(const Tensor& self, Tensor& out) {
  return copied_predicate_out(out, self, K<kernels::isinf>,
                              GF_FALLBACK_TO(at::compositeexplicitautograd::isinf_outf(self, out)));
}

// isfinite is a composite in torch, (x == x) * (x.abs() != inf): four kernels and three
// temporaries, where this is one pass. The row sits at the backend key; torch's autograd
// fallback passes the call down to it (a bool result has no gradient). Integers and bool (a
// fill) and complex take the composite.
Tensor isfinite(const Tensor& self) {
  return predicate(self, K<kernels::isfinite>,
                   GF_FALLBACK_TO(at::compositeimplicitautograd::isfinite(self)));
}

#define GF_PREDICATE(name)                                                                        \
  Tensor name(const Tensor& self) {                                                               \
    return predicate(self, K<kernels::name>, GF_FALLBACK(self, name, self));                      \
  }                                                                                               \
  Tensor& name##_out(const Tensor& self, Tensor& out) {                                           \
    return predicate_out(out, self, K<kernels::name>, GF_FALLBACK(self, name##_outf, self, out)); \
  }
GF_PREDICATE(isposinf)
GF_PREDICATE(isneginf)
GF_PREDICATE(signbit)
#undef GF_PREDICATE

}  // namespace gemforge::ops
