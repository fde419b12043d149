// Every op entry point gemforge serves, by family; each has the exact signature of its aten
// overload (named in the comment when the name alone does not say it). The registration table
// (registry/op_table.cpp) maps overloads to these.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <c10/util/string_view.h>

#include <optional>

namespace gemforge::ops {

using at::Scalar;
using at::Tensor;
using OptScalar = std::optional<Scalar>;
using OptTensor = std::optional<Tensor>;
using OptString = std::optional<c10::string_view>;

// ---- pointwise: arithmetic (ops/pointwise/arithmetic.cpp) ------------------------------------
#define GF_DECLARE_ALPHA_OP(name)                                                        \
  Tensor name(const Tensor& self, const Tensor& other, const Scalar& alpha);             \
  Tensor& name##_out(const Tensor& self, const Tensor& other, const Scalar& alpha, Tensor& out); \
  Tensor& name##_(Tensor& self, const Tensor& other, const Scalar& alpha);               \
  Tensor name##_scalar(const Tensor& self, const Scalar& other, const Scalar& alpha);    \
  Tensor& name##_scalar_out(const Tensor& self, const Scalar& other, const Scalar& alpha, Tensor& out); \
  Tensor& name##_scalar_(Tensor& self, const Scalar& other, const Scalar& alpha);
GF_DECLARE_ALPHA_OP(add)
GF_DECLARE_ALPHA_OP(sub)
#undef GF_DECLARE_ALPHA_OP

// A binary op's Tensor and Scalar overloads, functional, out= and in-place.
#define GF_DECLARE_BINARY(name)                                              \
  Tensor name(const Tensor& self, const Tensor& other);                      \
  Tensor& name##_out(const Tensor& self, const Tensor& other, Tensor& out);  \
  Tensor& name##_(Tensor& self, const Tensor& other);                        \
  Tensor name##_scalar(const Tensor& self, const Scalar& other);             \
  Tensor& name##_scalar_out(const Tensor& self, const Scalar& other, Tensor& out); \
  Tensor& name##_scalar_(Tensor& self, const Scalar& other);
GF_DECLARE_BINARY(mul)
GF_DECLARE_BINARY(div)

Tensor div_mode(const Tensor& self, const Tensor& other, OptString rounding_mode);
Tensor& div_mode_out(const Tensor& self, const Tensor& other, OptString rounding_mode, Tensor& out);
Tensor& div_mode_(Tensor& self, const Tensor& other, OptString rounding_mode);
Tensor div_scalar_mode(const Tensor& self, const Scalar& other, OptString rounding_mode);
Tensor& div_scalar_mode_out(const Tensor& self, const Scalar& other, OptString rounding_mode, Tensor& out);
Tensor& div_scalar_mode_(Tensor& self, const Scalar& other, OptString rounding_mode);

Tensor pow_tensor_tensor(const Tensor& self, const Tensor& exponent);
Tensor& pow_tensor_tensor_out(const Tensor& self, const Tensor& exponent, Tensor& out);
Tensor& pow_tensor_tensor_(Tensor& self, const Tensor& exponent);
Tensor pow_tensor_scalar(const Tensor& self, const Scalar& exponent);
Tensor& pow_tensor_scalar_out(const Tensor& self, const Scalar& exponent, Tensor& out);
Tensor& pow_scalar_(Tensor& self, const Scalar& exponent);
Tensor pow_scalar(const Scalar& self, const Tensor& exponent);
Tensor& pow_scalar_out(const Scalar& self, const Tensor& exponent, Tensor& out);

// ---- pointwise: unary ops, functional, out= and in-place (arithmetic.cpp, unary_math.cpp,
// activation.cpp) -------------------------------------------------------------------------------
#define GF_DECLARE_UNARY(name)                       \
  Tensor name(const Tensor& self);                   \
  Tensor& name##_out(const Tensor& self, Tensor& out); \
  Tensor& name##_(Tensor& self);
GF_DECLARE_UNARY(neg)
GF_DECLARE_UNARY(abs)
GF_DECLARE_UNARY(exp)
GF_DECLARE_UNARY(log)
GF_DECLARE_UNARY(sqrt)
GF_DECLARE_UNARY(rsqrt)
GF_DECLARE_UNARY(sin)
GF_DECLARE_UNARY(cos)
GF_DECLARE_UNARY(tanh)
GF_DECLARE_UNARY(sigmoid)
GF_DECLARE_UNARY(relu)
GF_DECLARE_UNARY(silu)
GF_DECLARE_UNARY(logical_not)

Tensor gelu(const Tensor& self, c10::string_view approximate);
Tensor& gelu_out(const Tensor& self, c10::string_view approximate, Tensor& out);
Tensor& gelu_(Tensor& self, c10::string_view approximate);

// ---- pointwise: comparisons and logic (compare.cpp) --------------------------------------------
GF_DECLARE_BINARY(eq)
GF_DECLARE_BINARY(ne)
GF_DECLARE_BINARY(lt)
GF_DECLARE_BINARY(le)
GF_DECLARE_BINARY(gt)
GF_DECLARE_BINARY(ge)
Tensor logical_and(const Tensor& self, const Tensor& other);
Tensor& logical_and_out(const Tensor& self, const Tensor& other, Tensor& out);
Tensor& logical_and_(Tensor& self, const Tensor& other);
Tensor logical_or(const Tensor& self, const Tensor& other);
Tensor& logical_or_out(const Tensor& self, const Tensor& other, Tensor& out);
Tensor& logical_or_(Tensor& self, const Tensor& other);

// ---- pointwise: selection and clamping (select.cpp) ----------------------------------------------
Tensor where(const Tensor& condition, const Tensor& self, const Tensor& other);  // where.self
Tensor& where_out(const Tensor& condition, const Tensor& self, const Tensor& other, Tensor& out);
Tensor clamp(const Tensor& self, const OptScalar& min, const OptScalar& max);
Tensor& clamp_out(const Tensor& self, const OptScalar& min, const OptScalar& max, Tensor& out);
Tensor& clamp_(Tensor& self, const OptScalar& min, const OptScalar& max);
Tensor clamp_tensor(const Tensor& self, const OptTensor& min, const OptTensor& max);
Tensor& clamp_tensor_out(const Tensor& self, const OptTensor& min, const OptTensor& max, Tensor& out);
Tensor& clamp_tensor_(Tensor& self, const OptTensor& min, const OptTensor& max);

// ---- pointwise: fill and copy (fill_copy.cpp) ------------------------------------------------------
Tensor& fill_(Tensor& self, const Scalar& value);
Tensor& fill_tensor_(Tensor& self, const Tensor& value);
Tensor& copy_(Tensor& self, const Tensor& src, bool non_blocking);

// ---- pointwise: more unary math and special functions (unary_math.cpp, special.cpp) ---------------

// ---- pointwise: more binary math (binary_math.cpp) and rounding (rounding.cpp) -------------------

// ---- pointwise: bitwise ops and predicates (bitwise.cpp) -------------------------------------------

// ---- creation and fill (creation.cpp) ----------------------------------------------------------------

// ---- activations and their backward ops (activation.cpp) ---------------------------------------------
GF_DECLARE_UNARY(hardsigmoid)
GF_DECLARE_UNARY(hardswish)
GF_DECLARE_UNARY(mish)
#define GF_DECLARE_GRAD(name, input)                                   \
  Tensor name(const Tensor& grad, const Tensor& input);                \
  Tensor& name##_out(const Tensor& grad, const Tensor& input, Tensor& grad_input);
GF_DECLARE_GRAD(silu_backward, self)
GF_DECLARE_GRAD(sigmoid_backward, output)
GF_DECLARE_GRAD(tanh_backward, output)
GF_DECLARE_GRAD(hardsigmoid_backward, self)
GF_DECLARE_GRAD(hardswish_backward, self)  // hardswish_backward.out
#undef GF_DECLARE_GRAD
Tensor mish_backward(const Tensor& grad, const Tensor& self);
Tensor gelu_backward(const Tensor& grad, const Tensor& self, c10::string_view approximate);
Tensor& gelu_backward_out(const Tensor& grad, const Tensor& self, c10::string_view approximate,
                          Tensor& grad_input);

Tensor threshold(const Tensor& self, const Scalar& threshold, const Scalar& value);
Tensor& threshold_out(const Tensor& self, const Scalar& threshold, const Scalar& value, Tensor& out);
Tensor& threshold_(Tensor& self, const Scalar& threshold, const Scalar& value);
Tensor threshold_backward(const Tensor& grad, const Tensor& self, const Scalar& threshold);
Tensor& threshold_backward_out(const Tensor& grad, const Tensor& self, const Scalar& threshold,
                               Tensor& grad_input);

Tensor hardtanh(const Tensor& self, const Scalar& min_val, const Scalar& max_val);
Tensor& hardtanh_out(const Tensor& self, const Scalar& min_val, const Scalar& max_val, Tensor& out);
Tensor& hardtanh_(Tensor& self, const Scalar& min_val, const Scalar& max_val);
Tensor hardtanh_backward(const Tensor& grad, const Tensor& self, const Scalar& min_val, const Scalar& max_val);
Tensor& hardtanh_backward_out(const Tensor& grad, const Tensor& self, const Scalar& min_val,
                              const Scalar& max_val, Tensor& grad_input);

Tensor elu(const Tensor& self, const Scalar& alpha, const Scalar& scale, const Scalar& input_scale);
Tensor& elu_out(const Tensor& self, const Scalar& alpha, const Scalar& scale, const Scalar& input_scale,
                Tensor& out);
Tensor& elu_(Tensor& self, const Scalar& alpha, const Scalar& scale, const Scalar& input_scale);
Tensor elu_backward(const Tensor& grad, const Scalar& alpha, const Scalar& scale, const Scalar& input_scale,
                    bool is_result, const Tensor& self_or_result);
Tensor& elu_backward_out(const Tensor& grad, const Scalar& alpha, const Scalar& scale,
                         const Scalar& input_scale, bool is_result, const Tensor& self_or_result,
                         Tensor& grad_input);
Tensor celu(const Tensor& self, const Scalar& alpha);
Tensor& celu_out(const Tensor& self, const Scalar& alpha, Tensor& out);
Tensor& celu_(Tensor& self, const Scalar& alpha);

Tensor leaky_relu(const Tensor& self, const Scalar& negative_slope);
Tensor& leaky_relu_out(const Tensor& self, const Scalar& negative_slope, Tensor& out);
Tensor& leaky_relu_(Tensor& self, const Scalar& negative_slope);
Tensor leaky_relu_backward(const Tensor& grad, const Tensor& self, const Scalar& negative_slope,
                           bool self_is_result);
Tensor& leaky_relu_backward_out(const Tensor& grad, const Tensor& self, const Scalar& negative_slope,
                                bool self_is_result, Tensor& grad_input);

Tensor softplus(const Tensor& self, const Scalar& beta, const Scalar& threshold);
Tensor& softplus_out(const Tensor& self, const Scalar& beta, const Scalar& threshold, Tensor& out);
Tensor softplus_backward(const Tensor& grad, const Tensor& self, const Scalar& beta, const Scalar& threshold);
Tensor& softplus_backward_out(const Tensor& grad, const Tensor& self, const Scalar& beta,
                              const Scalar& threshold, Tensor& grad_input);

#define GF_DECLARE_SHRINK(name)                                                              \
  Tensor name(const Tensor& self, const Scalar& lambd);                                      \
  Tensor& name##_out(const Tensor& self, const Scalar& lambd, Tensor& out);                  \
  Tensor name##_backward(const Tensor& grad, const Tensor& self, const Scalar& lambd);       \
  Tensor& name##_backward_out(const Tensor& grad, const Tensor& self, const Scalar& lambd,   \
                              Tensor& grad_input);
GF_DECLARE_SHRINK(softshrink)
GF_DECLARE_SHRINK(hardshrink)
#undef GF_DECLARE_SHRINK

std::tuple<Tensor, Tensor> log_sigmoid_forward(const Tensor& self);
std::tuple<Tensor&, Tensor&> log_sigmoid_forward_out(const Tensor& self, Tensor& output, Tensor& buffer);
Tensor log_sigmoid_backward(const Tensor& grad, const Tensor& self, const Tensor& buffer);
Tensor& log_sigmoid_backward_out(const Tensor& grad, const Tensor& self, const Tensor& buffer,
                                 Tensor& grad_input);

Tensor logit(const Tensor& self, std::optional<double> eps);
Tensor& logit_out(const Tensor& self, std::optional<double> eps, Tensor& out);
Tensor& logit_(Tensor& self, std::optional<double> eps);
Tensor logit_backward(const Tensor& grad, const Tensor& self, std::optional<double> eps);
Tensor& logit_backward_out(const Tensor& grad, const Tensor& self, std::optional<double> eps,
                           Tensor& grad_input);

Tensor _add_relu(const Tensor& self, const Tensor& other, const Scalar& alpha);  // _add_relu.Tensor
Tensor& _add_relu_out(const Tensor& self, const Tensor& other, const Scalar& alpha, Tensor& out);
Tensor& _add_relu_(Tensor& self, const Tensor& other, const Scalar& alpha);
Tensor _add_relu_scalar(const Tensor& self, const Scalar& other, const Scalar& alpha);
Tensor& _add_relu_scalar_out(const Tensor& self, const Scalar& other, const Scalar& alpha, Tensor& out);
Tensor& _add_relu_scalar_(Tensor& self, const Scalar& other, const Scalar& alpha);

Tensor glu(const Tensor& self, int64_t dim);
Tensor& glu_out(const Tensor& self, int64_t dim, Tensor& out);
Tensor glu_backward(const Tensor& grad, const Tensor& self, int64_t dim);
Tensor& glu_backward_out(const Tensor& grad, const Tensor& self, int64_t dim, Tensor& grad_input);

Tensor _prelu_kernel(const Tensor& self, const Tensor& weight);
std::tuple<Tensor, Tensor> _prelu_kernel_backward(const Tensor& grad, const Tensor& self, const Tensor& weight);

}  // namespace gemforge::ops
