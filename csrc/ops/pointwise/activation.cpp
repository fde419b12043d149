// Activations and the backward ops autograd calls for them: functional, out= and in-place forms
// as torch has them. Each is a functor of kernels/activation.h or kernels/activation_backward.h
// over torch's own iterator shape for the op (backward ops: a binary op of grad and input).
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/kernels/activation.h"
#include "ops/pointwise/kernels/activation_backward.h"

#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/TensorIterator.h>
#include <ATen/WrapDimUtils.h>
#include <ATen/native/Resize.h>

namespace gemforge::ops {

namespace {
// A scalar of threshold or the shrinks as torch's kernel converts it, before it looks at the
// elements (so an out-of-range one raises even for an empty tensor): to the tensor's dtype,
// except that fp16/bf16 round only where `round` (torch's cuda kernels; on the cpu, hardshrink's).
Scalar converted(const Scalar& s, at::ScalarType t, bool round) {
  switch (t) {
    case at::kHalf: return round ? static_cast<double>(s.to<at::Half>()) : s.to<float>();
    case at::kBFloat16: return round ? static_cast<double>(s.to<at::BFloat16>()) : s.to<float>();
    case at::kFloat: return s.to<float>();
    case at::kDouble: return s.to<double>();
    case at::kByte: return static_cast<int64_t>(s.to<uint8_t>());
    case at::kChar: return static_cast<int64_t>(s.to<int8_t>());
    case at::kShort: return static_cast<int64_t>(s.to<int16_t>());
    case at::kInt: return static_cast<int64_t>(s.to<int32_t>());
    case at::kLong: return s.to<int64_t>();
    default: return s;  // a dtype torch's kernel raises for
  }
}
}  // namespace

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
Tensor gelu_backward(const Tensor& grad, const Tensor& self, c10::string_view approximate) {
  auto fallback = GF_FALLBACK(self, gelu_backward, grad, self, approximate);
  const int mode = gelu_mode(approximate);
  if (mode < 0) return fallback();
  return pw::functional(IterKind::binary, {grad, self}, K<kernels::gelu_backward>, {{}, {}, mode}, fallback);
}
Tensor& gelu_backward_out(const Tensor& grad, const Tensor& self, c10::string_view approximate,
                          Tensor& grad_input) {
  auto fallback = GF_FALLBACK(self, gelu_backward_outf, grad, self, approximate, grad_input);
  const int mode = gelu_mode(approximate);
  if (mode < 0) return fallback();
  return pw::out_form(grad_input, IterKind::binary, {grad, self}, K<kernels::gelu_backward>,
                      {{}, {}, mode}, fallback);
}

// ---- backward ops of one grad and one tensor, no parameters ---------------------------------------
#define GF_GRAD_FORMS(name, input)                                                                 \
  Tensor name(const Tensor& grad, const Tensor& input) {                                           \
    return pw::functional(IterKind::binary, {grad, input}, K<kernels::name>, {},                   \
                          GF_FALLBACK(input, name, grad, input));                                  \
  }                                                                                                \
  Tensor& name##_out(const Tensor& grad, const Tensor& input, Tensor& grad_input) {                \
    return pw::out_form(grad_input, IterKind::binary, {grad, input}, K<kernels::name>, {},         \
                        GF_FALLBACK(input, name##_outf, grad, input, grad_input));                 \
  }
GF_GRAD_FORMS(silu_backward, self)
GF_GRAD_FORMS(sigmoid_backward, output)
GF_GRAD_FORMS(hardsigmoid_backward, self)
#undef GF_GRAD_FORMS

static pw::Args tanh_backward_args(const Tensor& grad, const Tensor& output) {
  return {{}, {}, cuda_storage_rounding(output, at::result_type(grad, output))};
}
Tensor tanh_backward(const Tensor& grad, const Tensor& output) {
  return pw::functional(IterKind::binary, {grad, output}, K<kernels::tanh_backward>,
                        tanh_backward_args(grad, output), GF_FALLBACK(output, tanh_backward, grad, output));
}
Tensor& tanh_backward_out(const Tensor& grad, const Tensor& output, Tensor& grad_input) {
  return pw::out_form(grad_input, IterKind::binary, {grad, output}, K<kernels::tanh_backward>,
                      tanh_backward_args(grad, output),
                      GF_FALLBACK(output, tanh_backward_outf, grad, output, grad_input));
}

Tensor hardswish_backward(const Tensor& grad, const Tensor& self) {
  return pw::functional(IterKind::binary, {grad, self}, K<kernels::hardswish_backward>, {},
                        GF_FALLBACK(self, hardswish_backward, grad, self));
}
Tensor& hardswish_backward_out(const Tensor& grad, const Tensor& self, Tensor& out) {
  return pw::out_form(out, IterKind::binary, {grad, self}, K<kernels::hardswish_backward>, {},
                      GF_FALLBACK_TO(at::compositeexplicitautograd::hardswish_backward_outf(grad, self, out)));
}
Tensor mish_backward(const Tensor& grad, const Tensor& self) {
  auto fallback = GF_FALLBACK(self, mish_backward, grad, self);
  if (grad.scalar_type() == self.scalar_type())
    return pw::functional(IterKind::binary, {grad, self}, K<kernels::mish_backward>, {}, fallback);
  // torch writes into a tensor of self's dtype
  Tensor grad_input = at::empty({0}, self.options());
  at::TensorIterator iter;
  iter.build_binary_op(grad_input, grad, self);
  return pw::run(iter, K<kernels::mish_backward>) ? grad_input : fallback();
}

GF_UNARY_FORMS(hardsigmoid, IterKind::unary, kernels::hardsigmoid, hardsigmoid, )
GF_UNARY_FORMS(hardswish, IterKind::unary, kernels::hardswish, hardswish, )
GF_UNARY_FORMS(mish, IterKind::unary, kernels::mish, mish, )

// ---- threshold: self <= threshold ? value : self; its backward: self <= threshold ? 0 : grad ---
Tensor threshold(const Tensor& self, const Scalar& threshold, const Scalar& value) {
  const auto t = self.scalar_type();
  return pw::functional(IterKind::binary, {self, self}, K<kernels::threshold>,
                        {converted(threshold, t, self.is_cuda()), converted(value, t, self.is_cuda())},
                        GF_FALLBACK(self, threshold, self, threshold, value));
}
Tensor& threshold_out(const Tensor& self, const Scalar& threshold, const Scalar& value, Tensor& out) {
  const auto t = self.scalar_type();
  return pw::out_form(out, IterKind::binary, {self, self}, K<kernels::threshold>,
                      {converted(threshold, t, self.is_cuda()), converted(value, t, self.is_cuda())},
                      GF_FALLBACK(self, threshold_outf, self, threshold, value, out));
}
Tensor& threshold_(Tensor& self, const Scalar& threshold, const Scalar& value) {
  const auto t = self.scalar_type();
  return pw::inplace(self, IterKind::binary, {self, self}, K<kernels::threshold>,
                     {converted(threshold, t, self.is_cuda()), converted(value, t, self.is_cuda())},
                     GF_FALLBACK(self, threshold_, self, threshold, value));
}
Tensor threshold_backward(const Tensor& grad, const Tensor& self, const Scalar& threshold) {
  const auto t = at::result_type(self, grad);
  return pw::functional(IterKind::binary, {self, grad}, K<kernels::threshold>,
                        {converted(threshold, t, self.is_cuda()), 0},
                        GF_FALLBACK(self, threshold_backward, grad, self, threshold));
}
Tensor& threshold_backward_out(const Tensor& grad, const Tensor& self, const Scalar& threshold,
                               Tensor& grad_input) {
  const auto t = at::result_type(self, grad);
  return pw::out_form(grad_input, IterKind::binary, {self, grad}, K<kernels::threshold>,
                      {converted(threshold, t, self.is_cuda()), 0},
                      GF_FALLBACK(self, threshold_backward_outf, grad, self, threshold, grad_input));
}

// ---- hardtanh: clamp(self, min_val, max_val); integer tensors take integer bounds (relu6) -------
namespace {
Args hardtanh_args(const Tensor& self, const Scalar& min_val, const Scalar& max_val) {
  TORCH_CHECK(self.scalar_type() != at::kBool, "Bool inputs not supported for hardtanh");
  if (!at::isIntegralType(self.scalar_type(), /*includeBool=*/false)) return {min_val, max_val};
  const int64_t lo = min_val.toLong(), hi = max_val.toLong();
  TORCH_CHECK(self.scalar_type() != at::kByte || (lo >= 0 && hi >= 0),
              "cannot do hardtanh on an unsigned type with negative limits");
  return {lo, hi};
}
}  // namespace

Tensor hardtanh(const Tensor& self, const Scalar& min_val, const Scalar& max_val) {
  return pw::functional(IterKind::unary, {self}, K<kernels::hardtanh>, hardtanh_args(self, min_val, max_val),
                        GF_FALLBACK(self, hardtanh, self, min_val, max_val));
}
Tensor& hardtanh_out(const Tensor& self, const Scalar& min_val, const Scalar& max_val, Tensor& out) {
  return pw::out_form(out, IterKind::unary, {self}, K<kernels::hardtanh>, hardtanh_args(self, min_val, max_val),
                      GF_FALLBACK(self, hardtanh_outf, self, min_val, max_val, out));
}
Tensor& hardtanh_(Tensor& self, const Scalar& min_val, const Scalar& max_val) {
  return pw::inplace(self, IterKind::unary, {self}, K<kernels::hardtanh>, hardtanh_args(self, min_val, max_val),
                     GF_FALLBACK(self, hardtanh_, self, min_val, max_val));
}
Tensor hardtanh_backward(const Tensor& grad, const Tensor& self, const Scalar& min_val, const Scalar& max_val) {
  return pw::functional(IterKind::binary, {grad, self}, K<kernels::hardtanh_backward>, {min_val, max_val},
                        GF_FALLBACK(self, hardtanh_backward, grad, self, min_val, max_val));
}
Tensor& hardtanh_backward_out(const Tensor& grad, const Tensor& self, const Scalar& min_val,
                              const Scalar& max_val, Tensor& grad_input) {
  return pw::out_form(grad_input, IterKind::binary, {grad, self}, K<kernels::hardtanh_backward>,
                      {min_val, max_val},
                      GF_FALLBACK(self, hardtanh_backward_outf, grad, self, min_val, max_val, grad_input));
}

// ---- elu(alpha, scale, input_scale); celu is elu(alpha, 1, 1 / alpha) -----------------------------
Tensor elu(const Tensor& self, const Scalar& alpha, const Scalar& scale, const Scalar& input_scale) {
  return pw::functional(IterKind::unary, {self}, K<kernels::elu>, {alpha, scale, 0, input_scale},
                        GF_FALLBACK(self, elu, self, alpha, scale, input_scale));
}
Tensor& elu_out(const Tensor& self, const Scalar& alpha, const Scalar& scale, const Scalar& input_scale,
                Tensor& out) {
  return pw::out_form(out, IterKind::unary, {self}, K<kernels::elu>, {alpha, scale, 0, input_scale},
                      GF_FALLBACK(self, elu_outf, self, alpha, scale, input_scale, out));
}
Tensor& elu_(Tensor& self, const Scalar& alpha, const Scalar& scale, const Scalar& input_scale) {
  return pw::inplace(self, IterKind::unary, {self}, K<kernels::elu>, {alpha, scale, 0, input_scale},
                     GF_FALLBACK(self, elu_, self, alpha, scale, input_scale));
}
Tensor elu_backward(const Tensor& grad, const Scalar& alpha, const Scalar& scale, const Scalar& input_scale,
                    bool is_result, const Tensor& self_or_result) {
  TORCH_CHECK(!is_result || alpha.to<double>() >= 0.0,
              "In-place elu backward calculation is triggered with a negative slope which is not "
              "supported. This is caused by calling in-place forward function with a negative slope, "
              "please call out-of-place version instead.");
  return pw::functional(IterKind::binary, {grad, self_or_result}, K<kernels::elu_backward>,
                        {alpha, scale, is_result ? 1 : 0, input_scale},
                        GF_FALLBACK(grad, elu_backward, grad, alpha, scale, input_scale, is_result,
                                    self_or_result));
}
Tensor& elu_backward_out(const Tensor& grad, const Scalar& alpha, const Scalar& scale,
                         const Scalar& input_scale, bool is_result, const Tensor& self_or_result,
                         Tensor& grad_input) {
  TORCH_CHECK(!is_result || alpha.to<double>() >= 0.0,
              "In-place elu backward calculation is triggered with a negative slope which is not "
              "supported. This is caused by calling in-place forward function with a negative slope, "
              "please call out-of-place version instead.");
  return pw::out_form(grad_input, IterKind::binary, {grad, self_or_result}, K<kernels::elu_backward>,
                      {alpha, scale, is_result ? 1 : 0, input_scale},
                      GF_FALLBACK(grad, elu_backward_outf, grad, alpha, scale, input_scale, is_result,
                                  self_or_result, grad_input));
}
Tensor celu(const Tensor& self, const Scalar& alpha) {
  return ops::elu(self, alpha, 1.0, 1.0 / alpha.to<double>());
}
Tensor& celu_out(const Tensor& self, const Scalar& alpha, Tensor& out) {
  // torch's composite computes celu first: a non-floating tensor raises there, before out is seen
  if (!at::isFloatingType(self.scalar_type()))
    return GF_FALLBACK_TO(at::compositeexplicitautograd::celu_outf(self, alpha, out))();
  return ops::elu_out(self, alpha, 1.0, 1.0 / alpha.to<double>(), out);
}
Tensor& celu_(Tensor& self, const Scalar& alpha) {
  return ops::elu_(self, alpha, 1.0, 1.0 / alpha.to<double>());
}

// ---- leaky_relu(negative_slope) ---------------------------------------------------------------------
Tensor leaky_relu(const Tensor& self, const Scalar& negative_slope) {
  return pw::functional(IterKind::unary, {self}, K<kernels::leaky_relu>, {negative_slope},
                        GF_FALLBACK(self, leaky_relu, self, negative_slope));
}
Tensor& leaky_relu_out(const Tensor& self, const Scalar& negative_slope, Tensor& out) {
  return pw::out_form(out, IterKind::unary, {self}, K<kernels::leaky_relu>, {negative_slope},
                      GF_FALLBACK(self, leaky_relu_outf, self, negative_slope, out));
}
Tensor& leaky_relu_(Tensor& self, const Scalar& negative_slope) {
  return pw::inplace(self, IterKind::unary, {self}, K<kernels::leaky_relu>, {negative_slope},
                     GF_FALLBACK(self, leaky_relu_, self, negative_slope));
}
#define GF_LEAKY_RELU_BACKWARD_CHECK                                                                 \
  TORCH_CHECK(!self_is_result || negative_slope.to<double>() >= 0.0,                                  \
              "In-place leakyReLu backward calculation is triggered with a negative slope which is " \
              "not supported. This is caused by calling in-place forward function with a negative "  \
              "slope, please call out-of-place version instead. File an issue at "                    \
              "https://github.com/pytorch/pytorch if you do require supporting in-place leakRelu "    \
              "backward calculation with negative slope")
Tensor leaky_relu_backward(const Tensor& grad, const Tensor& self, const Scalar& negative_slope,
                           bool self_is_result) {
  GF_LEAKY_RELU_BACKWARD_CHECK;
  return pw::functional(IterKind::binary, {self, grad}, K<kernels::leaky_relu_backward>, {negative_slope},
                        GF_FALLBACK(self, leaky_relu_backward, grad, self, negative_slope, self_is_result));
}
Tensor& leaky_relu_backward_out(const Tensor& grad, const Tensor& self, const Scalar& negative_slope,
                                bool self_is_result, Tensor& grad_input) {
  GF_LEAKY_RELU_BACKWARD_CHECK;
  return pw::out_form(grad_input, IterKind::binary, {self, grad}, K<kernels::leaky_relu_backward>,
                      {negative_slope},
                      GF_FALLBACK(self, leaky_relu_backward_outf, grad, self, negative_slope,
                                  self_is_result, grad_input));
}
#undef GF_LEAKY_RELU_BACKWARD_CHECK

// ---- softplus(beta, threshold) -----------------------------------------------------------------------
Tensor softplus(const Tensor& self, const Scalar& beta, const Scalar& threshold) {
  return pw::functional(IterKind::unary, {self}, K<kernels::softplus>, {beta, threshold},
                        GF_FALLBACK(self, softplus, self, beta, threshold));
}
Tensor& softplus_out(const Tensor& self, const Scalar& beta, const Scalar& threshold, Tensor& out) {
  return pw::out_form(out, IterKind::unary, {self}, K<kernels::softplus>, {beta, threshold},
                      GF_FALLBACK(self, softplus_outf, self, beta, threshold, out));
}
Tensor softplus_backward(const Tensor& grad, const Tensor& self, const Scalar& beta, const Scalar& threshold) {
  return pw::functional(IterKind::binary, {grad, self}, K<kernels::softplus_backward>, {beta, threshold},
                        GF_FALLBACK(self, softplus_backward, grad, self, beta, threshold));
}
Tensor& softplus_backward_out(const Tensor& grad, const Tensor& self, const Scalar& beta,
                              const Scalar& threshold, Tensor& grad_input) {
  return pw::out_form(grad_input, IterKind::binary, {grad, self}, K<kernels::softplus_backward>,
                      {beta, threshold},
                      GF_FALLBACK(self, softplus_backward_outf, grad, self, beta, threshold, grad_input));
}

// ---- softshrink, hardshrink and their shared backward ------------------------------------------------
// torch checks lambd in a dtype dispatch: a non-floating tensor raises that first.
#define GF_SOFTSHRINK_CHECK                                                                    \
  if (!at::isFloatingType(self.scalar_type())) return fallback();                              \
  TORCH_CHECK(lambd.to<double>() >= 0, "lambda must be greater or equal to 0, but found to be ", \
              lambd.to<double>(), ".")
Tensor softshrink(const Tensor& self, const Scalar& lambd) {
  auto fallback = GF_FALLBACK(self, softshrink, self, lambd);
  GF_SOFTSHRINK_CHECK;
  return pw::functional(IterKind::unary, {self}, K<kernels::softshrink>,
                        {converted(lambd, self.scalar_type(), self.is_cuda())}, fallback);
}
Tensor& softshrink_out(const Tensor& self, const Scalar& lambd, Tensor& out) {
  auto fallback = GF_FALLBACK(self, softshrink_outf, self, lambd, out);
  GF_SOFTSHRINK_CHECK;
  return pw::out_form(out, IterKind::unary, {self}, K<kernels::softshrink>,
                      {converted(lambd, self.scalar_type(), self.is_cuda())}, fallback);
}
#undef GF_SOFTSHRINK_CHECK
Tensor hardshrink(const Tensor& self, const Scalar& lambd) {
  return pw::functional(IterKind::unary, {self}, K<kernels::hardshrink>, {converted(lambd, self.scalar_type(), true)},
                        GF_FALLBACK(self, hardshrink, self, lambd));
}
Tensor& hardshrink_out(const Tensor& self, const Scalar& lambd, Tensor& out) {
  return pw::out_form(out, IterKind::unary, {self}, K<kernels::hardshrink>,
                      {converted(lambd, self.scalar_type(), true)},
                      GF_FALLBACK(self, hardshrink_outf, self, lambd, out));
}
#define GF_SHRINK_BACKWARD_FORMS(name)                                                               \
  Tensor name##_backward(const Tensor& grad, const Tensor& self, const Scalar& lambd) {              \
    return pw::functional(IterKind::binary, {grad, self}, K<kernels::shrink_backward>,               \
                          {converted(lambd, at::result_type(grad, self), true)},                            \
                          GF_FALLBACK(self, name##_backward, grad, self, lambd));                    \
  }                                                                                                  \
  Tensor& name##_backward_out(const Tensor& grad, const Tensor& self, const Scalar& lambd,           \
                              Tensor& grad_input) {                                                  \
    return pw::out_form(grad_input, IterKind::binary, {grad, self}, K<kernels::shrink_backward>,     \
                        {converted(lambd, at::result_type(grad, self), true)},                              \
                        GF_FALLBACK(self, name##_backward_outf, grad, self, lambd, grad_input));     \
  }
GF_SHRINK_BACKWARD_FORMS(softshrink)
GF_SHRINK_BACKWARD_FORMS(hardshrink)
#undef GF_SHRINK_BACKWARD_FORMS

// ---- log_sigmoid_forward -> (output, buffer): the cpu's buffer holds exp(-|x|) for torch's cpu
// backward; on cuda it stays empty. log_sigmoid_backward needs only self. ---------------------------
namespace {
bool log_sigmoid_into(const Tensor& self, Tensor& output, Tensor& buffer) {
  at::TensorIterator iter;
  iter.build_unary_op(output, self);
  if (!pw::run(iter, K<kernels::log_sigmoid>)) return false;
  if (self.is_cpu()) {
    at::TensorIterator fill;
    fill.build_unary_op(buffer, self);
    return pw::run(fill, K<kernels::log_sigmoid_buffer>);
  }
  return true;
}
}  // namespace

std::tuple<Tensor, Tensor> log_sigmoid_forward(const Tensor& self) {
  if (at::isFloatingType(self.scalar_type())) {
    // torch's cpu kernel returns contiguous tensors, its cuda kernel keeps self's layout.
    Tensor output = self.is_cpu() ? at::empty_like(self, at::MemoryFormat::Contiguous) : at::empty_like(self);
    Tensor buffer = self.is_cpu() ? at::empty_like(self, at::MemoryFormat::Contiguous)
                                  : at::empty({0}, self.options());
    if (log_sigmoid_into(self, output, buffer)) return {output, buffer};
  }
  reg::note_fallback();
  return GF_TORCH(self, log_sigmoid_forward, self);
}
std::tuple<Tensor&, Tensor&> log_sigmoid_forward_out(const Tensor& self, Tensor& output, Tensor& buffer) {
  if (at::isFloatingType(self.scalar_type()) && output.scalar_type() == self.scalar_type() &&
      buffer.scalar_type() == self.scalar_type() && output.device() == self.device() &&
      buffer.device() == self.device()) {
    at::native::resize_output(output, self.sizes());
    if (self.is_cpu()) {
      output.resize_as_(self);
      buffer.resize_as_(self, at::MemoryFormat::Contiguous);
      TORCH_CHECK(buffer.is_contiguous(), "Contiguous buffer required for log_sigmoid with out parameter");
    }
    if (log_sigmoid_into(self, output, buffer)) return {output, buffer};
  }
  reg::note_fallback();
  return GF_TORCH(self, log_sigmoid_forward_outf, self, output, buffer);
}
Tensor log_sigmoid_backward(const Tensor& grad, const Tensor& self, const Tensor& buffer) {
  auto fallback = GF_FALLBACK(self, log_sigmoid_backward, grad, self, buffer);
  if (grad.scalar_type() != self.scalar_type()) return fallback();  // torch's iterator raises
  return pw::functional(IterKind::binary, {grad, self}, K<kernels::log_sigmoid_backward>, {}, fallback);
}
Tensor& log_sigmoid_backward_out(const Tensor& grad, const Tensor& self, const Tensor& buffer,
                                 Tensor& grad_input) {
  auto fallback = GF_FALLBACK(self, log_sigmoid_backward_outf, grad, self, buffer, grad_input);
  if (grad.scalar_type() != self.scalar_type() || grad_input.scalar_type() != self.scalar_type())
    return fallback();
  return pw::out_form(grad_input, IterKind::binary, {grad, self}, K<kernels::log_sigmoid_backward>, {},
                      fallback);
}

// ---- logit(eps): a negative or absent eps means no clamping ------------------------------------------
namespace {
Args logit_args(std::optional<double> eps) {
  const bool clamp = eps.has_value() && *eps >= 0;
  return {clamp ? *eps : 0.0, {}, clamp ? 1 : 0};
}
}  // namespace

Tensor logit(const Tensor& self, std::optional<double> eps) {
  return pw::functional(IterKind::unary_float, {self}, K<kernels::logit>, logit_args(eps),
                        GF_FALLBACK(self, logit, self, eps));
}
Tensor& logit_out(const Tensor& self, std::optional<double> eps, Tensor& out) {
  return pw::out_form(out, IterKind::unary_float, {self}, K<kernels::logit>, logit_args(eps),
                      GF_FALLBACK(self, logit_outf, self, eps, out));
}
Tensor& logit_(Tensor& self, std::optional<double> eps) {
  return pw::inplace(self, IterKind::unary_float, {self}, K<kernels::logit>, logit_args(eps),
                     GF_FALLBACK(self, logit_, self, eps));
}
// torch's cpu kernel compares against eps in the tensor's dtype (fp16/bf16 round it).
static Args logit_backward_args(const Tensor& grad, const Tensor& self, std::optional<double> eps) {
  Args args = logit_args(eps);
  if (args.mode == 1 && self.is_cpu()) args.s0 = converted(args.s0, at::result_type(grad, self), true);
  return args;
}
Tensor logit_backward(const Tensor& grad, const Tensor& self, std::optional<double> eps) {
  return pw::functional(IterKind::binary, {grad, self}, K<kernels::logit_backward>,
                        logit_backward_args(grad, self, eps),
                        GF_FALLBACK(self, logit_backward, grad, self, eps));
}
Tensor& logit_backward_out(const Tensor& grad, const Tensor& self, std::optional<double> eps,
                           Tensor& grad_input) {
  return pw::out_form(grad_input, IterKind::binary, {grad, self}, K<kernels::logit_backward>,
                      logit_backward_args(grad, self, eps),
                      GF_FALLBACK(self, logit_backward_outf, grad, self, eps, grad_input));
}

// ---- _add_relu: relu(self + alpha * other). torch has only a cpu kernel, for the dtypes below;
// gemforge serves the same dtypes on both devices and, on cuda, raises torch's
// NotImplementedError for the rest. ------------------------------------------------------------------
namespace {
bool add_relu_dtype(const Tensor& self) {
  switch (self.scalar_type()) {
    case at::kChar: case at::kShort: case at::kInt: case at::kLong: case at::kFloat: case at::kDouble:
      return true;
    default:
      return false;
  }
}
void add_relu_no_cuda_kernel(const Tensor& self) {
  TORCH_CHECK_NOT_IMPLEMENTED(!self.is_cuda(), "Could not run 'aten::_add_relu' with arguments "
                              "from the 'CUDA' backend for dtype ", self.scalar_type());
}
#define GF_ADD_RELU_TORCH(fn, ...) \
  GF_FALLBACK_TO((add_relu_no_cuda_kernel(self), at::cpu::fn(__VA_ARGS__)))
}  // namespace

Tensor _add_relu(const Tensor& self, const Tensor& other, const Scalar& alpha) {
  auto fallback = GF_ADD_RELU_TORCH(_add_relu, self, other, alpha);
  if (!add_relu_dtype(self)) return fallback();
  return pw::functional(IterKind::binary, {self, other}, K<kernels::add_relu>, {alpha}, fallback);
}
Tensor& _add_relu_out(const Tensor& self, const Tensor& other, const Scalar& alpha, Tensor& out) {
  auto fallback = GF_ADD_RELU_TORCH(_add_relu_outf, self, other, alpha, out);
  if (!add_relu_dtype(self)) return fallback();
  return pw::out_form(out, IterKind::binary, {self, other}, K<kernels::add_relu>, {alpha}, fallback);
}
Tensor& _add_relu_(Tensor& self, const Tensor& other, const Scalar& alpha) {
  auto fallback = GF_ADD_RELU_TORCH(_add_relu_, self, other, alpha);
  if (!add_relu_dtype(self)) return fallback();
  return pw::inplace(self, IterKind::binary, {self, other}, K<kernels::add_relu>, {alpha}, fallback);
}
#undef GF_ADD_RELU_TORCH
Tensor _add_relu_scalar(const Tensor& self, const Scalar& other, const Scalar& alpha) {
  return ops::_add_relu(self, wrap(other), alpha);
}
Tensor& _add_relu_scalar_(Tensor& self, const Scalar& other, const Scalar& alpha) {
  return ops::_add_relu_(self, wrap(other), alpha);
}
Tensor& _add_relu_scalar_out(const Tensor& self, const Scalar& other, const Scalar& alpha, Tensor& out) {
  // torch's composite: the functional result, then out resized and copied into.
  Tensor result = ops::_add_relu_scalar(self, other, alpha);
  at::native::resize_output(out, result.sizes());
  return out.copy_(result);
}

// ---- glu(dim): first half * sigmoid(second half) along dim; its backward fills the two halves ----
namespace {
int64_t glu_dim(const Tensor& self, int64_t dim) {
  TORCH_CHECK(self.dim() > 0, "glu does not support scalars because halving size must be even");
  const int64_t wrap_dim = at::maybe_wrap_dim(dim, self.dim());
  const int64_t n = self.size(wrap_dim);
  TORCH_CHECK(n % 2 == 0, "Halving dimension must be even, but dimension ", wrap_dim, " is size ", n);
  return wrap_dim;
}
}  // namespace

Tensor glu(const Tensor& self, int64_t dim) {
  const int64_t d = glu_dim(self, dim), half = self.size(d) / 2;
  return pw::functional(IterKind::binary, {self.narrow(d, 0, half), self.narrow(d, half, half)},
                        K<kernels::glu>, {}, GF_FALLBACK(self, glu, self, dim));
}
Tensor& glu_out(const Tensor& self, int64_t dim, Tensor& out) {
  const int64_t d = glu_dim(self, dim), half = self.size(d) / 2;
  return pw::out_form(out, IterKind::binary, {self.narrow(d, 0, half), self.narrow(d, half, half)},
                      K<kernels::glu>, {}, GF_FALLBACK(self, glu_outf, self, dim, out));
}
Tensor& glu_backward_out(const Tensor& grad, const Tensor& self, int64_t dim, Tensor& grad_input) {
  auto fallback = GF_FALLBACK(self, glu_backward_outf, grad, self, dim, grad_input);
  if (grad.scalar_type() != self.scalar_type() || grad_input.scalar_type() != self.scalar_type() ||
      grad.device() != self.device() || grad_input.device() != self.device())
    return fallback();
  const int64_t d = glu_dim(self, dim), half = self.size(d) / 2;
  auto half_shape = self.sizes().vec();
  half_shape[d] = half;
  TORCH_CHECK(grad.sizes() == c10::IntArrayRef(half_shape), "glu_backward: grad_output of shape ",
              grad.sizes(), " for an input of shape ", self.sizes());
  // torch's cuda kernel checks the dtype only when there is something to compute: an empty
  // input of any dtype gives an empty gradient (its cpu kernel raises for integers)
  if (self.numel() == 0 && self.is_cuda()) {
    at::native::resize_output(grad_input, self.sizes());
    return grad_input;
  }
  if (!at::isFloatingType(self.scalar_type())) return fallback();
  at::native::resize_output(grad_input, self.sizes());
  const Tensor a = self.narrow(d, 0, half), b = self.narrow(d, half, half);
  auto half_of = [&](int64_t start, const pw::Kernel& k) {
    auto iter = at::TensorIteratorConfig()
                    .add_owned_output(grad_input.narrow(d, start, half))
                    .add_const_input(a)
                    .add_const_input(b)
                    .add_const_input(grad)
                    .build();
    return pw::run(iter, k);
  };
  if (!half_of(0, K<kernels::glu_backward_first>) || !half_of(half, K<kernels::glu_backward_second>))
    return fallback();
  return grad_input;
}
Tensor glu_backward(const Tensor& grad, const Tensor& self, int64_t dim) {
  Tensor grad_input = at::empty({0}, self.options());
  return ops::glu_backward_out(grad, self, dim, grad_input);
}

// ---- _prelu_kernel: self > 0 ? self : weight * self (weight already broadcastable); its backward
// gives the gradients of self and of weight, both of the broadcast shape ---------------------------
Tensor _prelu_kernel(const Tensor& self, const Tensor& weight) {
  Tensor result = at::empty_like(self);
  auto iter = at::TensorIteratorConfig().add_output(result).add_const_input(self).add_const_input(weight).build();
  if (pw::run(iter, K<kernels::prelu>)) return result;
  reg::note_fallback();
  return GF_TORCH(self, _prelu_kernel, self, weight);
}
std::tuple<Tensor, Tensor> _prelu_kernel_backward(const Tensor& grad, const Tensor& self, const Tensor& weight) {
  auto grad_of = [&](const Tensor& like, const pw::Kernel& k) {
    auto iter = at::TensorIteratorConfig()
                    .add_owned_output(at::empty({0}, like.options()))
                    .add_const_input(self)
                    .add_const_input(weight)
                    .add_const_input(grad)
                    .build();
    return pw::run(iter, k) ? iter.output() : Tensor();
  };
  Tensor grad_self = grad_of(self, K<kernels::prelu_backward_self>);
  if (grad_self.defined()) {
    Tensor grad_weight = grad_of(weight, K<kernels::prelu_backward_weight>);
    if (grad_weight.defined()) return {grad_self, grad_weight};
  }
  reg::note_fallback();
  return GF_TORCH(self, _prelu_kernel_backward, grad, self, weight);
}

}  // namespace gemforge::ops
