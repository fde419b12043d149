// where(condition, self, other) and clamp (Scalar and Tensor bounds): every overload.
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/kernels/select.h"

#include <ATen/native/TypeProperties.h>

namespace gemforge::ops {
namespace {

Tensor as_dtype(const Tensor& t, ScalarType dtype) { return t.scalar_type() == dtype ? t : t.to(dtype); }

c10::Device out_device(std::initializer_list<Tensor> tensors) {
  for (const Tensor& t : tensors)
    if (!t.is_cpu()) return t.device();
  return at::kCPU;
}

}  // namespace

// ---- where ----------------------------------------------------------------------------------
Tensor& where_out(const Tensor& condition, const Tensor& self, const Tensor& other, Tensor& out) {
  const ScalarType result = at::result_type(self, other);
  TORCH_CHECK(out.scalar_type() == result, "Expected out type to be ", result, " but got ",
              out.scalar_type());
  auto fallback = GF_FALLBACK(out, where_outf, condition, self, other, out);
  if (condition.scalar_type() != at::kBool) return fallback();  // torch warns (uint8) or raises
  const Tensor a = as_dtype(self, result), b = as_dtype(other, result);
  // 0-d CPU operands of a device call are read on the host, as torch reads them on the device.
  at::TensorIterator iter = at::TensorIteratorConfig()
                                .check_all_same_dtype(false)
                                .allow_cpu_scalars(true)
                                .add_output(out)
                                .add_const_input(condition)
                                .add_const_input(a)
                                .add_const_input(b)
                                .build();
  return pw::run(iter, K<kernels::where>, {}, result) ? out : fallback();
}
Tensor where(const Tensor& condition, const Tensor& self, const Tensor& other) {
  Tensor out = at::empty({0}, self.options().dtype(at::result_type(self, other))
                                  .device(out_device({condition, self, other})));
  return ops::where_out(condition, self, other, out);
}

// ---- clamp with Scalar bounds: the scalars take part in type promotion ---------------------------
namespace {

using OptScalar = std::optional<Scalar>;

// torch's clamp checks and result dtype; `inplace_of` is self for clamp_.
ScalarType clamp_dtype(const Tensor& self, const OptScalar& min, const OptScalar& max, bool inplace) {
  TORCH_CHECK(min || max, "torch.clamp: At least one of 'min' or 'max' must not be None");
  ScalarType result = self.scalar_type();
  TORCH_CHECK_NOT_IMPLEMENTED(!at::isComplexType(result), "clamp is not supported for complex types");
  if (!at::isFloatingType(result)) {
    auto state = at::native::update_result_type_state(self, {});
    if (min) state = at::native::update_result_type_state(*min, state);
    if (max) state = at::native::update_result_type_state(*max, state);
    result = at::native::result_type(state);
    TORCH_CHECK(result == self.scalar_type() || !inplace, "result type ", result,
                " can't be cast to the desired output type ", self.dtype());
  }
  TORCH_CHECK_NOT_IMPLEMENTED(!at::isComplexType(result), "clamp is not supported for complex types");
  return result;
}

Args clamp_args(const OptScalar& min, const OptScalar& max) {
  return {min.value_or(Scalar(0)), max.value_or(Scalar(0)), (min ? 1 : 0) | (max ? 2 : 0)};
}

}  // namespace

Tensor clamp(const Tensor& self, const OptScalar& min, const OptScalar& max) {
  const Tensor base = as_dtype(self, clamp_dtype(self, min, max, false));
  return pw::functional(IterKind::unary, {base}, K<kernels::clamp_scalar>, clamp_args(min, max),
                        GF_FALLBACK(self, clamp, self, min, max));
}
Tensor& clamp_out(const Tensor& self, const OptScalar& min, const OptScalar& max, Tensor& out) {
  const Tensor base = as_dtype(self, clamp_dtype(self, min, max, out.is_same(self)));
  return pw::out_form(out, IterKind::unary, {base}, K<kernels::clamp_scalar>, clamp_args(min, max),
                      GF_FALLBACK(self, clamp_outf, self, min, max, out));
}
Tensor& clamp_(Tensor& self, const OptScalar& min, const OptScalar& max) {
  clamp_dtype(self, min, max, true);
  return pw::inplace(self, IterKind::unary, {self}, K<kernels::clamp_scalar>, clamp_args(min, max),
                     GF_FALLBACK(self, clamp_, self, min, max));
}

// ---- clamp with Tensor bounds: a three- or two-input iterator, promoted like a binary op ---------
namespace {

using OptTensor = std::optional<Tensor>;

bool clamp_tensors(Tensor& out, const Tensor& self, const OptTensor& min, const OptTensor& max) {
  const bool has_min = min && min->defined(), has_max = max && max->defined();
  TORCH_CHECK(has_min || has_max, "torch.clamp: At least one of 'min' or 'max' must not be None");
  TORCH_CHECK_NOT_IMPLEMENTED(!at::isComplexType(self.scalar_type()),
                              "clamp is not supported for complex types");
  at::TensorIteratorConfig config;
  config.set_check_mem_overlap(true)
      .add_output(out)
      .add_const_input(self)
      .promote_inputs_to_common_dtype(true)
      .cast_common_dtype_to_outputs(true)
      .enforce_safe_casting_to_output(true);
  if (has_min) config.add_const_input(*min);
  if (has_max) config.add_const_input(*max);
  at::TensorIterator iter = config.build();
  const bool done = has_min && has_max ? pw::run(iter, K<kernels::clamp_tensor>)
                    : has_min          ? pw::run(iter, K<kernels::clamp_min_tensor>)
                                       : pw::run(iter, K<kernels::clamp_max_tensor>);
  if (done && !out.defined()) out = iter.output();
  return done;
}

}  // namespace

Tensor clamp_tensor(const Tensor& self, const OptTensor& min, const OptTensor& max) {
  Tensor out;
  return clamp_tensors(out, self, min, max) ? out : GF_FALLBACK(self, clamp, self, min, max)();
}
Tensor& clamp_tensor_out(const Tensor& self, const OptTensor& min, const OptTensor& max, Tensor& out) {
  return clamp_tensors(out, self, min, max) ? out : GF_FALLBACK(self, clamp_outf, self, min, max, out)();
}
Tensor& clamp_tensor_(Tensor& self, const OptTensor& min, const OptTensor& max) {
  return clamp_tensors(self, self, min, max) ? self : GF_FALLBACK(self, clamp_, self, min, max)();
}

}  // namespace gemforge::ops
