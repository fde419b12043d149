// frexp: mantissa and int32 exponent of a floating tensor, both from one read of it
// (ops/pointwise/kernels/frexp.h). torch's checks, then the iterator torch builds (two outputs,
// one input, no promotion); fp16, bf16, float and double.
#include "ops/empty.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/kernels/frexp.h"
#include "ops/pointwise_more.h"

namespace gemforge::ops {
namespace {

void check_input(const Tensor& self) {
  TORCH_CHECK(at::isFloatingType(self.scalar_type()), "torch.frexp() only supports floating-point dtypes");
}

// Both outputs through one launch; false where gemforge has no kernel for the case.
bool run_frexp(const Tensor& self, Tensor& mantissa, Tensor& exponent) {
  at::TensorIterator iter = at::TensorIteratorConfig()
                                .add_output(mantissa)
                                .add_output(exponent)
                                .add_const_input(self)
                                .check_all_same_dtype(false)
                                .set_check_mem_overlap(true)
                                .build();
  return pw::run(iter, K<kernels::frexp>);
}

// A contiguous output straight from the device's allocator (no dispatcher round trip), else
// torch's empty_like (the input's dense layout).
Tensor output_like(const Tensor& self, at::ScalarType dtype) {
#ifdef GEMFORGE_WITH_CUDA
  const bool own_allocator = self.is_cpu() || self.is_cuda();
#else
  const bool own_allocator = self.is_cpu();
#endif
  if (self.is_contiguous() && self.layout() == at::kStrided && own_allocator)
    return empty_on(self.sizes(), dtype, self.device());
  return at::empty_like(self, self.options().dtype(dtype));
}

}  // namespace

std::tuple<Tensor&, Tensor&> frexp_out(const Tensor& self, Tensor& mantissa, Tensor& exponent) {
  check_input(self);
  TORCH_CHECK(mantissa.dtype() == self.dtype(), "torch.frexp() expects mantissa to have dtype ",
              self.dtype(), " but got ", mantissa.dtype());
  TORCH_CHECK(exponent.dtype() == at::kInt, "torch.frexp() expects exponent to have int dtype but got ",
              exponent.dtype());
  if (!run_frexp(self, mantissa, exponent)) {
    reg::note_fallback();
    return GF_TORCH(self, frexp_outf, self, mantissa, exponent);
  }
  return {mantissa, exponent};
}

std::tuple<Tensor, Tensor> frexp(const Tensor& self) {
  check_input(self);
  Tensor mantissa = output_like(self, self.scalar_type());
  Tensor exponent = output_like(self, at::kInt);
  ops::frexp_out(self, mantissa, exponent);
  return {mantissa, exponent};
}

}  // namespace gemforge::ops
