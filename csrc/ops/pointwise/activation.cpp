// Activations: relu, gelu (none / tanh), silu: functional, out= and in-place forms.
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/kernels/activation.h"

#include <ATen/CompositeExplicitAutogradFunctions.h>

namespace gemforge::ops {

GF_UNARY_FORMS(silu, IterKind::unary, kernels::silu, silu, )

// ---- relu: clamp_min(self, 0); relu.out exists only as a composite in torch ---------------------
#define GF_RELU_CHECK TORCH_CHECK(self.scalar_type() != at::kBool, "Boolean inputs not supported for relu")
Tensor relu(const Tensor& self) {
  GF_RELU_CHECK;
  return pw::functional(IterKind::unary, {self}, K<kernels::relu>, {}, GF_FALLBACK(self, relu, self));
}
Tensor& relu_(Tensor& self) {
  GF_RELU_CHECK;
  return pw::inplace(self, IterKind::unary, {self}, K<kernels::relu>, {}, GF_FALLBACK(self, relu_, self));
}
Tensor& relu_out(const Tensor& self, Tensor& out) {
  GF_RELU_CHECK;
  return pw::out_form(out, IterKind::unary, {self}, K<kernels::relu>, {},
                      GF_FALLBACK_TO(at::compositeexplicitautograd::relu_outf(self, out)));
}
#undef GF_RELU_CHECK

// ---- gelu(approximate='none' | 'tanh'); another string goes to torch, which raises ------------
namespace {
int gelu_mode(c10::string_view approximate) {
  if (approximate == "none") return 0;
  if (approximate == "tanh") return 1;
  return -1;
}
}  // namespace

Tensor gelu(const Tensor& self, c10::string_view approximate) {
  auto fallback = GF_FALLBACK(self, gelu, self, approximate);
  const int mode = gelu_mode(approximate);
  if (mode < 0) return fallback();
  return pw::functional(IterKind::unary, {self}, K<kernels::gelu>, {{}, {}, mode}, fallback);
}
Tensor& gelu_out(const Tensor& self, c10::string_view approximate, Tensor& out) {
  auto fallback = GF_FALLBACK(self, gelu_outf, self, approximate, out);
  const int mode = gelu_mode(approximate);
  if (mode < 0) return fallback();
  return pw::out_form(out, IterKind::unary, {self}, K<kernels::gelu>, {{}, {}, mode}, fallback);
}
Tensor& gelu_(Tensor& self, c10::string_view approximate) {
  auto fallback = GF_FALLBACK(self, gelu_, self, approximate);
  const int mode = gelu_mode(approximate);
  if (mode < 0) return fallback();
  return pw::inplace(self, IterKind::unary, {self}, K<kernels::gelu>, {{}, {}, mode}, fallback);
}

}  // namespace gemforge::ops
