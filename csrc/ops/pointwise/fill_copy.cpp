// fill_ (Scalar and 0-d Tensor values) and copy_ (same device, any dtypes, broadcasting src).
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/kernels/fill_copy.h"

#include <ATen/CompositeExplicitAutogradFunctions.h>

namespace gemforge::ops {

Tensor& fill_(Tensor& self, const Scalar& value) {
  // torch converts the value to the tensor's dtype first, checked, even when nothing is filled
  // (but not for a one-element cpu tensor, which it writes directly).
  if (!(self.is_cpu() && self.numel() == 1)) {
    dispatch_dtype<kAll>(self.scalar_type(), [&](auto tag) {
      (void)value.to<typename decltype(tag)::type>();
    });
  }
  if (pw::run_dense(IterKind::unary, self, {}, K<kernels::fill>, {value}).defined()) return self;
  at::TensorIterator iter = at::TensorIteratorConfig()
                                .set_check_mem_overlap(false)  // torch fills overlapping views too
                                .check_all_same_dtype(false)
                                .add_output(self)
                                .resize_outputs(false)
                                .build();
  if (pw::run(iter, K<kernels::fill>, {value}, self.scalar_type())) return self;
  return GF_FALLBACK(self, fill_, self, value)();
}

Tensor& fill_tensor_(Tensor& self, const Tensor& value) {
  TORCH_CHECK(value.dim() == 0, "fill_ only supports 0-dimension value tensor but got tensor with ",
              value.dim(), " dimensions.");
  // As torch: a value on another device is read (checked) on the host; otherwise the fill is a
  // broadcasting copy, which converts without overflow checks.
  if (self.device() != value.device()) return ops::fill_(self, value.item());
  if (self.is_alias_of(value)) return ops::copy_(self, value.clone(), false);
  return ops::copy_(self, value, false);
}

Tensor& copy_(Tensor& self, const Tensor& src, bool non_blocking) {
  auto fallback = GF_FALLBACK_TO(at::compositeexplicitautograd::copy_(self, src, non_blocking));
  if (self.is_same(src)) return self;
  // Other devices, conjugate/negative views, quantized or sparse tensors: torch's copy.
  if (self.device() != src.device() || self.is_conj() != src.is_conj() ||
      self.is_neg() != src.is_neg() || self.layout() != at::kStrided ||
      src.layout() != at::kStrided || self.is_quantized() || src.is_quantized())
    return fallback();
  if (!self.is_complex() && src.is_complex()) {
    TORCH_WARN_ONCE("Casting complex values to real discards the imaginary part");
  }

  if (pw::run_dense(IterKind::unary, self, {src}, K<kernels::copy>).defined()) return self;
  at::TensorIterator iter = at::TensorIteratorConfig()
                                .add_output(self)
                                .add_const_input(src)
                                .resize_outputs(false)
                                .check_all_same_dtype(false)
                                .check_all_same_device(false)
                                .build();
  return pw::run(iter, K<kernels::copy>, {}, src.scalar_type()) ? self : fallback();
}

}  // namespace gemforge::ops
