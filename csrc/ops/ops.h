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
Tensor& conj_physical_out(const Tensor& self, Tensor& out);
Tensor& conj_physical_(Tensor& self);
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
GF_DECLARE_UNARY(acos)
GF_DECLARE_UNARY(asin)
GF_DECLARE_UNARY(atan)
GF_DECLARE_UNARY(acosh)
GF_DECLARE_UNARY(asinh)
GF_DECLARE_UNARY(atanh)
GF_DECLARE_UNARY(cosh)
GF_DECLARE_UNARY(sinh)
GF_DECLARE_UNARY(tan)
GF_DECLARE_UNARY(exp2)
GF_DECLARE_UNARY(expm1)
GF_DECLARE_UNARY(log10)
GF_DECLARE_UNARY(log1p)
GF_DECLARE_UNARY(log2)
GF_DECLARE_UNARY(reciprocal)
GF_DECLARE_UNARY(deg2rad)
GF_DECLARE_UNARY(rad2deg)
GF_DECLARE_UNARY(sinc)
Tensor angle(const Tensor& self);
Tensor& angle_out(const Tensor& self, Tensor& out);

// special functions
GF_DECLARE_UNARY(erf)
GF_DECLARE_UNARY(erfc)
GF_DECLARE_UNARY(erfinv)
GF_DECLARE_UNARY(lgamma)
GF_DECLARE_UNARY(digamma)
GF_DECLARE_UNARY(i0)
#define GF_DECLARE_UNARY_NO_INPLACE(name) \
  Tensor name(const Tensor& self);        \
  Tensor& name##_out(const Tensor& self, Tensor& out);
GF_DECLARE_UNARY_NO_INPLACE(special_i0e)
GF_DECLARE_UNARY_NO_INPLACE(special_i1)
GF_DECLARE_UNARY_NO_INPLACE(special_i1e)
GF_DECLARE_UNARY_NO_INPLACE(special_ndtri)
GF_DECLARE_UNARY_NO_INPLACE(special_erfcx)
GF_DECLARE_UNARY_NO_INPLACE(special_bessel_j0)
GF_DECLARE_UNARY_NO_INPLACE(special_bessel_j1)
GF_DECLARE_UNARY_NO_INPLACE(special_bessel_y0)
GF_DECLARE_UNARY_NO_INPLACE(special_bessel_y1)
GF_DECLARE_UNARY_NO_INPLACE(special_modified_bessel_i0)
GF_DECLARE_UNARY_NO_INPLACE(special_modified_bessel_i1)
GF_DECLARE_UNARY_NO_INPLACE(special_spherical_bessel_j0)
GF_DECLARE_UNARY_NO_INPLACE(special_modified_bessel_k0)
GF_DECLARE_UNARY_NO_INPLACE(special_modified_bessel_k1)
GF_DECLARE_UNARY_NO_INPLACE(special_scaled_modified_bessel_k0)
GF_DECLARE_UNARY_NO_INPLACE(special_scaled_modified_bessel_k1)
#undef GF_DECLARE_UNARY_NO_INPLACE
Tensor polygamma(int64_t n, const Tensor& self);
Tensor& polygamma_out(int64_t n, const Tensor& self, Tensor& out);
Tensor& polygamma_(Tensor& self, int64_t n);
Tensor mvlgamma(const Tensor& self, int64_t p);
Tensor& mvlgamma_out(const Tensor& self, int64_t p, Tensor& out);
Tensor& mvlgamma_(Tensor& self, int64_t p);
// Tensor, Scalar-self and Scalar-other overloads, functional and out= (xlogy.Scalar_Self ...,
// special_xlog1py.self_scalar ..., special_*_polynomial_*.x_scalar / n_scalar)
#define GF_DECLARE_SPECIAL_BINARY(name)                                                  \
  Tensor name(const Tensor& self, const Tensor& other);                                  \
  Tensor& name##_out(const Tensor& self, const Tensor& other, Tensor& out);              \
  Tensor name##_self_scalar(const Scalar& self, const Tensor& other);                    \
  Tensor& name##_self_scalar_out(const Scalar& self, const Tensor& other, Tensor& out);  \
  Tensor name##_other_scalar(const Tensor& self, const Scalar& other);                   \
  Tensor& name##_other_scalar_out(const Tensor& self, const Scalar& other, Tensor& out);
GF_DECLARE_SPECIAL_BINARY(xlogy)
GF_DECLARE_SPECIAL_BINARY(special_xlog1py)
GF_DECLARE_SPECIAL_BINARY(special_chebyshev_polynomial_t)
GF_DECLARE_SPECIAL_BINARY(special_chebyshev_polynomial_u)
GF_DECLARE_SPECIAL_BINARY(special_chebyshev_polynomial_v)
GF_DECLARE_SPECIAL_BINARY(special_chebyshev_polynomial_w)
GF_DECLARE_SPECIAL_BINARY(special_shifted_chebyshev_polynomial_t)
GF_DECLARE_SPECIAL_BINARY(special_shifted_chebyshev_polynomial_u)
GF_DECLARE_SPECIAL_BINARY(special_shifted_chebyshev_polynomial_v)
GF_DECLARE_SPECIAL_BINARY(special_shifted_chebyshev_polynomial_w)
GF_DECLARE_SPECIAL_BINARY(special_hermite_polynomial_h)
GF_DECLARE_SPECIAL_BINARY(special_hermite_polynomial_he)
GF_DECLARE_SPECIAL_BINARY(special_laguerre_polynomial_l)
GF_DECLARE_SPECIAL_BINARY(special_legendre_polynomial_p)
#undef GF_DECLARE_SPECIAL_BINARY
Tensor igamma(const Tensor& self, const Tensor& other);
Tensor& igamma_out(const Tensor& self, const Tensor& other, Tensor& out);
Tensor& igamma_(Tensor& self, const Tensor& other);
Tensor igammac(const Tensor& self, const Tensor& other);
Tensor& igammac_out(const Tensor& self, const Tensor& other, Tensor& out);
Tensor& igammac_(Tensor& self, const Tensor& other);
Tensor& xlogy_(Tensor& self, const Tensor& other);                    // xlogy_.Tensor
Tensor& xlogy_other_scalar_(Tensor& self, const Scalar& other);       // xlogy_.Scalar_Other

// ---- pointwise: more binary math (binary_math.cpp) and rounding (rounding.cpp) -------------------
#define GF_DECLARE_BINARY_TENSOR(name)                                      \
  Tensor name(const Tensor& self, const Tensor& other);                      \
  Tensor& name##_out(const Tensor& self, const Tensor& other, Tensor& out);  \
  Tensor& name##_(Tensor& self, const Tensor& other);
#define GF_DECLARE_BINARY_PURE(name)                    \
  Tensor name(const Tensor& self, const Tensor& other); \
  Tensor& name##_out(const Tensor& self, const Tensor& other, Tensor& out);
GF_DECLARE_BINARY_PURE(maximum)
GF_DECLARE_BINARY_PURE(minimum)
GF_DECLARE_BINARY_PURE(fmax)
GF_DECLARE_BINARY_PURE(fmin)
GF_DECLARE_BINARY_PURE(logaddexp)
GF_DECLARE_BINARY_PURE(logaddexp2)
GF_DECLARE_BINARY_TENSOR(atan2)
GF_DECLARE_BINARY_TENSOR(gcd)
GF_DECLARE_BINARY_TENSOR(lcm)
GF_DECLARE_BINARY_TENSOR(heaviside)
GF_DECLARE_BINARY_TENSOR(hypot)
GF_DECLARE_BINARY_TENSOR(nextafter)
GF_DECLARE_BINARY_TENSOR(clamp_min_tensor)  // clamp_min.Tensor
GF_DECLARE_BINARY_TENSOR(clamp_max_tensor)  // clamp_max.Tensor
GF_DECLARE_BINARY(copysign)
GF_DECLARE_BINARY(fmod)
GF_DECLARE_BINARY(remainder)
GF_DECLARE_BINARY(floor_divide)
#undef GF_DECLARE_BINARY_PURE
#undef GF_DECLARE_BINARY_TENSOR
Tensor remainder_scalar_tensor(const Scalar& self, const Tensor& other);
Tensor& remainder_scalar_tensor_out(const Scalar& self, const Tensor& other, Tensor& out);

Tensor rsub(const Tensor& self, const Tensor& other, const Scalar& alpha);  // rsub.Tensor
Tensor& rsub_out(const Tensor& self, const Tensor& other, const Scalar& alpha, Tensor& out);
Tensor rsub_scalar(const Tensor& self, const Scalar& other, const Scalar& alpha);
Tensor& rsub_scalar_out(const Tensor& self, const Scalar& other, const Scalar& alpha, Tensor& out);

Tensor lerp_scalar(const Tensor& self, const Tensor& end, const Scalar& weight);
Tensor& lerp_scalar_out(const Tensor& self, const Tensor& end, const Scalar& weight, Tensor& out);
Tensor& lerp_scalar_(Tensor& self, const Tensor& end, const Scalar& weight);
Tensor lerp_tensor(const Tensor& self, const Tensor& end, const Tensor& weight);
Tensor& lerp_tensor_out(const Tensor& self, const Tensor& end, const Tensor& weight, Tensor& out);
Tensor& lerp_tensor_(Tensor& self, const Tensor& end, const Tensor& weight);

#define GF_DECLARE_ADDC(name)                                                                   \
  Tensor name(const Tensor& self, const Tensor& t1, const Tensor& t2, const Scalar& value);     \
  Tensor& name##_out(const Tensor& self, const Tensor& t1, const Tensor& t2, const Scalar& value, \
                     Tensor& out);                                                              \
  Tensor& name##_(Tensor& self, const Tensor& t1, const Tensor& t2, const Scalar& value);
GF_DECLARE_ADDC(addcmul)
GF_DECLARE_ADDC(addcdiv)
#undef GF_DECLARE_ADDC

#define GF_DECLARE_CLAMP_SIDE(name)                                          \
  Tensor name(const Tensor& self, const Scalar& bound);                      \
  Tensor& name##_out(const Tensor& self, const Scalar& bound, Tensor& out);  \
  Tensor& name##_(Tensor& self, const Scalar& bound);
GF_DECLARE_CLAMP_SIDE(clamp_min)
GF_DECLARE_CLAMP_SIDE(clamp_max)
#undef GF_DECLARE_CLAMP_SIDE

GF_DECLARE_UNARY(ceil)
GF_DECLARE_UNARY(floor)
GF_DECLARE_UNARY(trunc)
GF_DECLARE_UNARY(round)
GF_DECLARE_UNARY(frac)
GF_DECLARE_UNARY(sign)
GF_DECLARE_UNARY(sgn)
Tensor round_decimals(const Tensor& self, int64_t decimals);
Tensor& round_decimals_out(const Tensor& self, int64_t decimals, Tensor& out);
Tensor& round_decimals_(Tensor& self, int64_t decimals);
Tensor nan_to_num(const Tensor& self, std::optional<double> nan, std::optional<double> posinf,
                  std::optional<double> neginf);
Tensor& nan_to_num_out(const Tensor& self, std::optional<double> nan, std::optional<double> posinf,
                       std::optional<double> neginf, Tensor& out);
Tensor& nan_to_num_(Tensor& self, std::optional<double> nan, std::optional<double> posinf,
                    std::optional<double> neginf);

// ---- pointwise: bitwise ops and predicates (bitwise.cpp) -------------------------------------------
// name.Tensor / Tensor_out / name_.Tensor, the Scalar (shifts: Tensor_Scalar) forms and
// name.Scalar_Tensor.
#define GF_DECLARE_BITWISE(name) \
  GF_DECLARE_BINARY(name)        \
  Tensor name##_scalar_tensor(const Scalar& self, const Tensor& other);
GF_DECLARE_BITWISE(bitwise_and)
GF_DECLARE_BITWISE(bitwise_or)
GF_DECLARE_BITWISE(bitwise_xor)
GF_DECLARE_BITWISE(bitwise_left_shift)
GF_DECLARE_BITWISE(bitwise_right_shift)
#undef GF_DECLARE_BITWISE
GF_DECLARE_UNARY(bitwise_not)

// __lshift__ / __rshift__ (.Tensor, .Scalar) and __ilshift__ / __irshift__ (.Tensor, .Scalar).
#define GF_DECLARE_SHIFT_DUNDER(name)                                  \
  Tensor name(const Tensor& self, const Tensor& other);                \
  Tensor name##_scalar(const Tensor& self, const Scalar& other);       \
  Tensor& i##name(Tensor& self, const Tensor& other);                  \
  Tensor& i##name##_scalar(Tensor& self, const Scalar& other);
GF_DECLARE_SHIFT_DUNDER(lshift)
GF_DECLARE_SHIFT_DUNDER(rshift)
#undef GF_DECLARE_SHIFT_DUNDER

Tensor logical_xor(const Tensor& self, const Tensor& other);
Tensor& logical_xor_out(const Tensor& self, const Tensor& other, Tensor& out);
Tensor& logical_xor_(Tensor& self, const Tensor& other);

Tensor isnan(const Tensor& self);
Tensor& isnan_out(const Tensor& self, Tensor& out);
Tensor isinf(const Tensor& self);
Tensor& isinf_out(const Tensor& self, Tensor& out);
Tensor isfinite(const Tensor& self);  // torch's composite, fused (bitwise.cpp)
Tensor isclose(const Tensor& self, const Tensor& other, double rtol, double atol,
               bool equal_nan);       // torch's composite, fused (compare.cpp)
Tensor isposinf(const Tensor& self);
Tensor& isposinf_out(const Tensor& self, Tensor& out);
Tensor isneginf(const Tensor& self);
Tensor& isneginf_out(const Tensor& self, Tensor& out);
Tensor signbit(const Tensor& self);
Tensor& signbit_out(const Tensor& self, Tensor& out);

// ---- creation and fill (creation.cpp) ----------------------------------------------------------------
Tensor fill(const Tensor& self, const Scalar& value);                               // fill.Scalar
Tensor& fill_out(const Tensor& self, const Scalar& value, Tensor& out);              // fill.Scalar_out
Tensor fill_tensor(const Tensor& self, const Tensor& value);                        // fill.Tensor
Tensor& fill_tensor_out(const Tensor& self, const Tensor& value, Tensor& out);       // fill.Tensor_out
Tensor& zero_(Tensor& self);
Tensor zero(const Tensor& self);
Tensor& zero_out(const Tensor& self, Tensor& out);
Tensor& arange_out(const Scalar& start, const Scalar& end, const Scalar& step, Tensor& out);  // arange.start_out
Tensor& range_out(const Scalar& start, const Scalar& end, const Scalar& step, Tensor& out);
Tensor& range_out_(const Scalar& start, const Scalar& end, Tensor& out);            // range.out_
Tensor& linspace_out(const Scalar& start, const Scalar& end, int64_t steps, Tensor& out);
Tensor& logspace_out(const Scalar& start, const Scalar& end, int64_t steps, double base, Tensor& out);
Tensor& eye_out(int64_t n, Tensor& out);
Tensor& eye_m_out(int64_t n, int64_t m, Tensor& out);
Tensor tril(const Tensor& self, int64_t diagonal);
Tensor& tril_(Tensor& self, int64_t diagonal);
Tensor& tril_out(const Tensor& self, int64_t diagonal, Tensor& out);
Tensor triu(const Tensor& self, int64_t diagonal);
Tensor& triu_(Tensor& self, int64_t diagonal);
Tensor& triu_out(const Tensor& self, int64_t diagonal, Tensor& out);
Tensor& polar_out(const Tensor& abs, const Tensor& angle, Tensor& out);

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

// ---- reductions --------------------------------------------------------------------------
Tensor sum(const Tensor& self, std::optional<at::ScalarType> dtype);
Tensor sum_dim(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim, std::optional<at::ScalarType> dtype);
Tensor& sum_dim_out(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                    std::optional<at::ScalarType> dtype, Tensor& out);
Tensor& sum_out(const Tensor& self, std::optional<at::ScalarType> dtype, Tensor& out);
Tensor nansum(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim, std::optional<at::ScalarType> dtype);
Tensor& nansum_out(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                   std::optional<at::ScalarType> dtype, Tensor& out);
Tensor mean(const Tensor& self, std::optional<at::ScalarType> dtype);
Tensor mean_dim(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim, std::optional<at::ScalarType> dtype);
Tensor& mean_out(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                 std::optional<at::ScalarType> dtype, Tensor& out);
Tensor& mean_dtype_out(const Tensor& self, std::optional<at::ScalarType> dtype, Tensor& out);
Tensor prod(const Tensor& self, std::optional<at::ScalarType> dtype);
Tensor prod_dim(const Tensor& self, int64_t dim, bool keepdim, std::optional<at::ScalarType> dtype);
Tensor& prod_dim_out(const Tensor& self, int64_t dim, bool keepdim, std::optional<at::ScalarType> dtype, Tensor& out);
Tensor& prod_out(const Tensor& self, std::optional<at::ScalarType> dtype, Tensor& out);
Tensor amax(const Tensor& self, at::IntArrayRef dim, bool keepdim);
Tensor& amax_out(const Tensor& self, at::IntArrayRef dim, bool keepdim, Tensor& out);
Tensor amin(const Tensor& self, at::IntArrayRef dim, bool keepdim);
Tensor& amin_out(const Tensor& self, at::IntArrayRef dim, bool keepdim, Tensor& out);
Tensor max(const Tensor& self);
Tensor& max_unary_out(const Tensor& self, Tensor& out);
Tensor min(const Tensor& self);
Tensor& min_unary_out(const Tensor& self, Tensor& out);
std::tuple<Tensor, Tensor> max_dim(const Tensor& self, int64_t dim, bool keepdim);
std::tuple<Tensor&, Tensor&> max_dim_out(const Tensor& self, int64_t dim, bool keepdim, Tensor& max,
                                         Tensor& max_values);
std::tuple<Tensor, Tensor> min_dim(const Tensor& self, int64_t dim, bool keepdim);
std::tuple<Tensor&, Tensor&> min_dim_out(const Tensor& self, int64_t dim, bool keepdim, Tensor& min,
                                         Tensor& min_indices);
Tensor argmax(const Tensor& self, std::optional<int64_t> dim, bool keepdim);
Tensor& argmax_out(const Tensor& self, std::optional<int64_t> dim, bool keepdim, Tensor& out);
Tensor argmin(const Tensor& self, std::optional<int64_t> dim, bool keepdim);
Tensor& argmin_out(const Tensor& self, std::optional<int64_t> dim, bool keepdim, Tensor& out);
#define GF_LOGIC_DECLS(name)                                                                     \
  Tensor name(const Tensor& self);                                                               \
  Tensor name##_dim(const Tensor& self, int64_t dim, bool keepdim);                              \
  Tensor name##_dims(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim);             \
  Tensor& name##_dim_out(const Tensor& self, int64_t dim, bool keepdim, Tensor& out);            \
  Tensor& name##_dims_out(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim, Tensor& out); \
  Tensor& name##_all_out(const Tensor& self, Tensor& out);
GF_LOGIC_DECLS(all)
GF_LOGIC_DECLS(any)
#undef GF_LOGIC_DECLS
#define GF_VAR_DECLS(name)                                                                       \
  Tensor name##_correction(const Tensor& self, at::OptionalIntArrayRef dim,                      \
                           const std::optional<Scalar>& correction, bool keepdim);               \
  Tensor& name##_correction_out(const Tensor& self, at::OptionalIntArrayRef dim,                 \
                                const std::optional<Scalar>& correction, bool keepdim, Tensor& out); \
  std::tuple<Tensor, Tensor> name##_mean_correction(const Tensor& self, at::OptionalIntArrayRef dim, \
                                                    const std::optional<Scalar>& correction, bool keepdim); \
  std::tuple<Tensor&, Tensor&> name##_mean_correction_out(                                       \
      const Tensor& self, at::OptionalIntArrayRef dim, const std::optional<Scalar>& correction,  \
      bool keepdim, Tensor& out0, Tensor& out1);
GF_VAR_DECLS(var)
GF_VAR_DECLS(std)
#undef GF_VAR_DECLS
Tensor logsumexp(const Tensor& self, at::IntArrayRef dim, bool keepdim);
Tensor linalg_vector_norm(const Tensor& self, const Scalar& ord, at::OptionalIntArrayRef dim,
                          bool keepdim, std::optional<at::ScalarType> dtype);
Tensor& linalg_vector_norm_out(const Tensor& self, const Scalar& ord, at::OptionalIntArrayRef dim,
                               bool keepdim, std::optional<at::ScalarType> dtype, Tensor& out);
Tensor norm_dim(const Tensor& self, const std::optional<Scalar>& p, at::IntArrayRef dim, bool keepdim);
Tensor norm_dim_dtype(const Tensor& self, const std::optional<Scalar>& p, at::IntArrayRef dim, bool keepdim,
                      at::ScalarType dtype);
Tensor& norm_out(const Tensor& self, const std::optional<Scalar>& p, at::IntArrayRef dim, bool keepdim,
                 Tensor& out);
Tensor& norm_dtype_out(const Tensor& self, const std::optional<Scalar>& p, at::IntArrayRef dim, bool keepdim,
                       at::ScalarType dtype, Tensor& out);
Tensor count_nonzero(const Tensor& self, std::optional<int64_t> dim);
Tensor count_nonzero_dims(const Tensor& self, at::IntArrayRef dim);  // count_nonzero.dim_IntList
std::tuple<Tensor, Tensor> aminmax(const Tensor& self, std::optional<int64_t> dim, bool keepdim);
std::tuple<Tensor&, Tensor&> aminmax_out(const Tensor& self, std::optional<int64_t> dim, bool keepdim,
                                         Tensor& min, Tensor& max);

// ---- softmax and normalization ------------------------------------------------------------
Tensor _softmax(const Tensor& self, int64_t dim, bool half_to_float);
Tensor& _softmax_out(const Tensor& self, int64_t dim, bool half_to_float, Tensor& out);
Tensor _log_softmax(const Tensor& self, int64_t dim, bool half_to_float);
Tensor& _log_softmax_out(const Tensor& self, int64_t dim, bool half_to_float, Tensor& out);
Tensor _softmax_backward_data(const Tensor& grad_output, const Tensor& output, int64_t dim,
                              at::ScalarType input_dtype);
Tensor& _softmax_backward_data_out(const Tensor& grad_output, const Tensor& output, int64_t dim,
                                   at::ScalarType input_dtype, Tensor& grad_input);
Tensor _log_softmax_backward_data(const Tensor& grad_output, const Tensor& output, int64_t dim,
                                  at::ScalarType input_dtype);
Tensor& _log_softmax_backward_data_out(const Tensor& grad_output, const Tensor& output, int64_t dim,
                                       at::ScalarType input_dtype, Tensor& out);
Tensor _safe_softmax(const Tensor& self, int64_t dim, std::optional<at::ScalarType> dtype);

std::tuple<Tensor, Tensor, Tensor> native_layer_norm(const Tensor& input, c10::SymIntArrayRef normalized_shape,
                                                     const std::optional<Tensor>& weight,
                                                     const std::optional<Tensor>& bias, double eps);
std::tuple<Tensor, Tensor, Tensor> native_layer_norm_backward(
    const Tensor& grad_out, const Tensor& input, c10::SymIntArrayRef normalized_shape, const Tensor& mean,
    const Tensor& rstd, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
    std::array<bool, 3> output_mask);
std::tuple<Tensor, Tensor> _fused_rms_norm(const Tensor& input, at::IntArrayRef normalized_shape,
                                           const std::optional<Tensor>& weight, std::optional<double> eps);
std::tuple<Tensor, Tensor> _fused_rms_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                    at::IntArrayRef normalized_shape, const Tensor& rstd,
                                                    const std::optional<Tensor>& weight,
                                                    std::array<bool, 2> output_mask);

// ---- scans and losses ---------------------------------------------------------------------
#define GF_DECLARE_CUM(name)                                                                  \
  Tensor name(const Tensor& self, int64_t dim, std::optional<at::ScalarType> dtype);              \
  Tensor& name##_out(const Tensor& self, int64_t dim, std::optional<at::ScalarType> dtype, Tensor& out); \
  Tensor& name##_(Tensor& self, int64_t dim, std::optional<at::ScalarType> dtype);
GF_DECLARE_CUM(cumsum)
GF_DECLARE_CUM(cumprod)
#undef GF_DECLARE_CUM
void _cummax_helper(const Tensor& self, Tensor& values, Tensor& indices, int64_t dim);
void _cummin_helper(const Tensor& self, Tensor& values, Tensor& indices, int64_t dim);
Tensor _logcumsumexp(const Tensor& self, int64_t dim);
Tensor& _logcumsumexp_out(const Tensor& self, int64_t dim, Tensor& out);

Tensor mse_loss(const Tensor& self, const Tensor& target, int64_t reduction);
Tensor& mse_loss_out(const Tensor& self, const Tensor& target, int64_t reduction, Tensor& out);
Tensor mse_loss_backward(const Tensor& grad, const Tensor& self, const Tensor& target, int64_t reduction);
Tensor& mse_loss_backward_out(const Tensor& grad, const Tensor& self, const Tensor& target,
                              int64_t reduction, Tensor& grad_input);
Tensor smooth_l1_loss(const Tensor& self, const Tensor& target, int64_t reduction, double beta);
Tensor& smooth_l1_loss_out(const Tensor& self, const Tensor& target, int64_t reduction, double beta,
                           Tensor& out);
Tensor& smooth_l1_loss_backward_out(const Tensor& grad, const Tensor& self, const Tensor& target,
                                    int64_t reduction, double beta, Tensor& grad_input);
Tensor huber_loss(const Tensor& self, const Tensor& target, int64_t reduction, double delta);
Tensor& huber_loss_out(const Tensor& self, const Tensor& target, int64_t reduction, double delta,
                       Tensor& out);
Tensor& huber_loss_backward_out(const Tensor& grad, const Tensor& self, const Tensor& target,
                                int64_t reduction, double delta, Tensor& grad_input);
#define GF_DECLARE_NLL(name)                                                                      \
  std::tuple<Tensor, Tensor> name##_forward(const Tensor& self, const Tensor& target,            \
                                            const std::optional<Tensor>& weight, int64_t reduction, \
                                            c10::SymInt ignore_index);                             \
  std::tuple<Tensor&, Tensor&> name##_forward_out(const Tensor& self, const Tensor& target,      \
                                                  const std::optional<Tensor>& weight,            \
                                                  int64_t reduction, c10::SymInt ignore_index,    \
                                                  Tensor& output, Tensor& total_weight);          \
  Tensor name##_backward(const Tensor& grad, const Tensor& self, const Tensor& target,           \
                         const std::optional<Tensor>& weight, int64_t reduction,                  \
                         c10::SymInt ignore_index, const Tensor& total_weight);                   \
  Tensor& name##_backward_out(const Tensor& grad, const Tensor& self, const Tensor& target,      \
                              const std::optional<Tensor>& weight, int64_t reduction,             \
                              c10::SymInt ignore_index, const Tensor& total_weight,               \
                              Tensor& grad_input);
GF_DECLARE_NLL(nll_loss)
GF_DECLARE_NLL(nll_loss2d)
#undef GF_DECLARE_NLL

// ---- batch and group normalization (batch_norm.cpp, group_norm.cpp) ----
std::tuple<Tensor, Tensor, Tensor> native_batch_norm(const Tensor& input, const std::optional<Tensor>& weight,
                                                     const std::optional<Tensor>& bias,
                                                     const std::optional<Tensor>& running_mean,
                                                     const std::optional<Tensor>& running_var, bool training,
                                                     double momentum, double eps);
std::tuple<Tensor&, Tensor&, Tensor&> native_batch_norm_out(
    const Tensor& input, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
    const std::optional<Tensor>& running_mean, const std::optional<Tensor>& running_var, bool training,
    double momentum, double eps, Tensor& out, Tensor& save_mean, Tensor& save_invstd);
std::tuple<Tensor, Tensor, Tensor> _native_batch_norm_legit(const Tensor& input, const std::optional<Tensor>& weight,
                                                            const std::optional<Tensor>& bias, Tensor& running_mean,
                                                            Tensor& running_var, bool training, double momentum,
                                                            double eps);
std::tuple<Tensor&, Tensor&, Tensor&> _native_batch_norm_legit_out(
    const Tensor& input, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
    Tensor& running_mean, Tensor& running_var, bool training, double momentum, double eps, Tensor& out,
    Tensor& save_mean, Tensor& save_invstd);
std::tuple<Tensor, Tensor, Tensor> _native_batch_norm_legit_no_stats(const Tensor& input,
                                                                     const std::optional<Tensor>& weight,
                                                                     const std::optional<Tensor>& bias,
                                                                     bool training, double momentum, double eps);
std::tuple<Tensor&, Tensor&, Tensor&> _native_batch_norm_legit_no_stats_out(
    const Tensor& input, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias, bool training,
    double momentum, double eps, Tensor& out, Tensor& save_mean, Tensor& save_invstd);
std::tuple<Tensor, Tensor, Tensor, Tensor> _batch_norm_with_update(const Tensor& input,
                                                                   const std::optional<Tensor>& weight,
                                                                   const std::optional<Tensor>& bias,
                                                                   Tensor& running_mean, Tensor& running_var,
                                                                   double momentum, double eps);
std::tuple<Tensor&, Tensor&, Tensor&, Tensor&> _batch_norm_with_update_out(
    const Tensor& input, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
    Tensor& running_mean, Tensor& running_var, double momentum, double eps, Tensor& out, Tensor& save_mean,
    Tensor& save_invstd, Tensor& reserve);
std::tuple<Tensor, Tensor, Tensor, Tensor> _batch_norm_no_update(const Tensor& input,
                                                                 const std::optional<Tensor>& weight,
                                                                 const std::optional<Tensor>& bias,
                                                                 const std::optional<Tensor>& running_mean,
                                                                 const std::optional<Tensor>& running_var,
                                                                 double momentum, double eps);
std::tuple<Tensor, Tensor, Tensor> native_batch_norm_backward(
    const Tensor& grad_out, const Tensor& input, const std::optional<Tensor>& weight,
    const std::optional<Tensor>& running_mean, const std::optional<Tensor>& running_var,
    const std::optional<Tensor>& save_mean, const std::optional<Tensor>& save_invstd, bool train, double eps,
    std::array<bool, 3> output_mask);
std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(
    const Tensor& grad_out, const Tensor& input, const Tensor& weight, const std::optional<Tensor>& running_mean,
    const std::optional<Tensor>& running_var, const std::optional<Tensor>& save_mean,
    const std::optional<Tensor>& save_var, bool update, double eps, std::array<bool, 3> output_mask,
    const Tensor& reserve);
// cuda only: what F.batch_norm reaches on cuda when cudnn takes it (fp32/fp16 inputs of 3+ dims)
std::tuple<Tensor, Tensor, Tensor, Tensor> cudnn_batch_norm(const Tensor& input, const Tensor& weight,
                                                            const std::optional<Tensor>& bias,
                                                            const std::optional<Tensor>& running_mean,
                                                            const std::optional<Tensor>& running_var, bool training,
                                                            double exponential_average_factor, double epsilon);
std::tuple<Tensor, Tensor, Tensor> cudnn_batch_norm_backward(
    const Tensor& input, const Tensor& grad_output, const Tensor& weight, const std::optional<Tensor>& running_mean,
    const std::optional<Tensor>& running_var, const std::optional<Tensor>& save_mean,
    const std::optional<Tensor>& save_var, double epsilon, const Tensor& reserve);
std::tuple<Tensor, Tensor, Tensor> native_group_norm(const Tensor& input, const std::optional<Tensor>& weight,
                                                     const std::optional<Tensor>& bias, c10::SymInt N,
                                                     c10::SymInt C, c10::SymInt HxW, int64_t group, double eps);
std::tuple<Tensor, Tensor, Tensor> native_group_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                              const Tensor& mean, const Tensor& rstd,
                                                              const std::optional<Tensor>& weight, c10::SymInt N,
                                                              c10::SymInt C, c10::SymInt HxW, int64_t group,
                                                              std::array<bool, 3> output_mask);
// ---- losses and small reductions (issue 4, part loss2) ----
Tensor binary_cross_entropy(const Tensor& self, const Tensor& target, const std::optional<Tensor>& weight,
                            int64_t reduction);
Tensor& binary_cross_entropy_out(const Tensor& self, const Tensor& target,
                                 const std::optional<Tensor>& weight, int64_t reduction, Tensor& out);
Tensor binary_cross_entropy_backward(const Tensor& grad, const Tensor& self, const Tensor& target,
                                     const std::optional<Tensor>& weight, int64_t reduction);
Tensor& binary_cross_entropy_backward_out(const Tensor& grad, const Tensor& self, const Tensor& target,
                                          const std::optional<Tensor>& weight, int64_t reduction,
                                          Tensor& grad_input);
Tensor binary_cross_entropy_with_logits(const Tensor& self, const Tensor& target,
                                        const std::optional<Tensor>& weight,
                                        const std::optional<Tensor>& pos_weight, int64_t reduction);
Tensor& binary_cross_entropy_with_logits_out(const Tensor& self, const Tensor& target,
                                             const std::optional<Tensor>& weight,
                                             const std::optional<Tensor>& pos_weight, int64_t reduction,
                                             Tensor& out);
Tensor soft_margin_loss(const Tensor& self, const Tensor& target, int64_t reduction);
Tensor& soft_margin_loss_out(const Tensor& self, const Tensor& target, int64_t reduction, Tensor& out);
Tensor soft_margin_loss_backward(const Tensor& grad, const Tensor& self, const Tensor& target,
                                 int64_t reduction);
Tensor& soft_margin_loss_backward_out(const Tensor& grad, const Tensor& self, const Tensor& target,
                                      int64_t reduction, Tensor& grad_input);

Tensor trace(const Tensor& self);
Tensor& trace_out(const Tensor& self, Tensor& out);
bool equal(const Tensor& self, const Tensor& other);
Tensor _is_all_true(const Tensor& self);
Tensor _is_any_true(const Tensor& self);
bool allclose(const Tensor& self, const Tensor& other, double rtol, double atol, bool equal_nan);
bool is_nonzero(const Tensor& self);
Tensor norm_scalar(const Tensor& self, const Scalar& p);
Tensor& norm_scalar_out(const Tensor& self, const Scalar& p, Tensor& out);
Tensor norm_scalaropt_dtype(const Tensor& self, const std::optional<Scalar>& p, at::ScalarType dtype);
Tensor& norm_scalaropt_dtype_out(const Tensor& self, const std::optional<Scalar>& p, at::ScalarType dtype,
                                 Tensor& out);
Tensor renorm(const Tensor& self, const Scalar& p, int64_t dim, const Scalar& maxnorm);
Tensor& renorm_(Tensor& self, const Scalar& p, int64_t dim, const Scalar& maxnorm);
Tensor& renorm_out(const Tensor& self, const Scalar& p, int64_t dim, const Scalar& maxnorm, Tensor& out);
std::tuple<Tensor, Tensor> _weight_norm_interface(const Tensor& v, const Tensor& g, int64_t dim);
std::tuple<Tensor, Tensor> _weight_norm_interface_backward(const Tensor& grad_w, const Tensor& saved_v,
                                                           const Tensor& saved_g, const Tensor& saved_norms,
                                                           int64_t dim);
// ---- gemm: matmul_blas (ops/gemm.cpp) ------------------------------------------------------
Tensor mm(const Tensor& self, const Tensor& mat2);
Tensor& mm_out(const Tensor& self, const Tensor& mat2, Tensor& out);
Tensor addmm(const Tensor& self, const Tensor& mat1, const Tensor& mat2, const Scalar& beta,
             const Scalar& alpha);
Tensor& addmm_out(const Tensor& self, const Tensor& mat1, const Tensor& mat2, const Scalar& beta,
                  const Scalar& alpha, Tensor& out);
Tensor& addmm_(Tensor& self, const Tensor& mat1, const Tensor& mat2, const Scalar& beta,
               const Scalar& alpha);
Tensor bmm(const Tensor& self, const Tensor& mat2);
Tensor& bmm_out(const Tensor& self, const Tensor& mat2, Tensor& out);
Tensor baddbmm(const Tensor& self, const Tensor& batch1, const Tensor& batch2, const Scalar& beta,
               const Scalar& alpha);
Tensor& baddbmm_out(const Tensor& self, const Tensor& batch1, const Tensor& batch2,
                    const Scalar& beta, const Scalar& alpha, Tensor& out);
Tensor& baddbmm_(Tensor& self, const Tensor& batch1, const Tensor& batch2, const Scalar& beta,
                 const Scalar& alpha);
Tensor addbmm(const Tensor& self, const Tensor& batch1, const Tensor& batch2, const Scalar& beta,
              const Scalar& alpha);
Tensor& addbmm_out(const Tensor& self, const Tensor& batch1, const Tensor& batch2,
                   const Scalar& beta, const Scalar& alpha, Tensor& out);
Tensor& addbmm_(Tensor& self, const Tensor& batch1, const Tensor& batch2, const Scalar& beta,
                const Scalar& alpha);
Tensor addmv(const Tensor& self, const Tensor& mat, const Tensor& vec, const Scalar& beta, const Scalar& alpha);
Tensor& addmv_out(const Tensor& self, const Tensor& mat, const Tensor& vec, const Scalar& beta,
                  const Scalar& alpha, Tensor& out);
Tensor& addmv_(Tensor& self, const Tensor& mat, const Tensor& vec, const Scalar& beta, const Scalar& alpha);

}  // namespace gemforge::ops
