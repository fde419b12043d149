// fill_ (Scalar and 0-d Tensor values) and copy_ (same device, any dtypes, broadcasting src);
// lift.out (a copy) and empty_permuted (an allocation, no dispatcher round trip).
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/kernels/fill_copy.h"
#include "ops/pointwise_more.h"

#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/EmptyTensor.h>
#include <ATen/native/Resize.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/cuda/EmptyTensor.h>
#endif

#include <vector>

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

// lift is the identity (functionalization's marker for a tensor made outside the traced
// program); its out= form is a copy into out, with the checks of torch's out= wrapper.
Tensor& lift_out(const Tensor& self, Tensor& out) {
  at::native::resize_output(out, self.sizes());
  TORCH_CHECK(self.dtype() == out.dtype(), "Expected out tensor to have dtype ", self.dtype(), ", but got ",
              out.dtype(), " instead");
  TORCH_CHECK(self.device() == out.device(), "Expected out tensor to have device ", self.device(),
              ", but got ", out.device(), " instead");
  return ops::copy_(out, self, false);
}

// ---- empty_permuted: a dense tensor whose dimensions lie in memory in physical_layout's order -----
namespace {

void check_physical_layout(size_t dim, at::IntArrayRef physical_layout) {
  TORCH_CHECK(dim == physical_layout.size(),
              "Number of dimensions in size does not match the length of the physical_layout; i.e. len(size) = ",
              dim, " is not equal to len(physical_layout) = ", physical_layout.size());
  std::vector<bool> seen(dim);
  for (size_t i = 0; i < dim; ++i) {
    const int64_t d = physical_layout[i];
    TORCH_CHECK(d >= 0 && d < int64_t(dim), "Dimension out of range (expected to be between 0 and ",
                int64_t(dim) - 1, ", but got ", d, " at index ", i,
                ").  NB: negative dims not currently supported; file an issue if you want it.");
    TORCH_CHECK(!seen[d], "Duplicate dim not allowed");
    seen[d] = true;
  }
}

}  // namespace

Tensor empty_permuted(c10::SymIntArrayRef size, at::IntArrayRef physical_layout,
                      std::optional<at::ScalarType> dtype, std::optional<at::Layout> layout,
                      std::optional<at::Device> device, std::optional<bool> pin_memory) {
  check_physical_layout(size.size(), physical_layout);
  const c10::Device where = device.value_or(c10::Device(c10::kCPU));
  if (layout.value_or(at::kStrided) != at::kStrided || !(where.is_cpu() || where.is_cuda())) {
    reg::note_fallback();
    return at::compositeexplicitautograd::empty_permuted_symint(size, physical_layout, dtype, layout,
                                                                device, pin_memory);
  }
  // The strides of a contiguous tensor of the permuted sizes, given back to the logical dims
  // (what torch's empty + permute gives, size-1 and empty dims included).
  const at::IntArrayRef sizes = C10_AS_INTARRAYREF_SLOW(size);
  const size_t dim = sizes.size();
  std::vector<int64_t> strides(dim);
  int64_t stride = 1;
  for (size_t i = dim; i-- > 0;) {
    const int64_t d = physical_layout[i];
    strides[d] = stride;
    stride *= std::max<int64_t>(sizes[d], 1);
  }
  const at::ScalarType type = dtype.value_or(at::typeMetaToScalarType(at::get_default_dtype()));
#ifdef GEMFORGE_WITH_CUDA
  if (where.is_cuda()) return at::detail::empty_strided_cuda(sizes, strides, type, where);
#endif
  return at::detail::empty_strided_cpu(sizes, strides, type, pin_memory.value_or(false));
}

// Torch's out= form allocates the tensor above, resizes out and copies the (uninitialized)
// values over: the same result without the allocation and the copy.
Tensor& empty_permuted_out(c10::SymIntArrayRef size, at::IntArrayRef physical_layout, Tensor& out) {
  check_physical_layout(size.size(), physical_layout);
  at::native::resize_output(out, C10_AS_INTARRAYREF_SLOW(size));
  return out;
}

}  // namespace gemforge::ops
