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

// ---- pointwise: bitwise ops and predicates (bitwise.cpp) -------------------------------------------

// ---- creation and fill (creation.cpp) ----------------------------------------------------------------

// ---- activations and their backward ops (activation.cpp) ---------------------------------------------

}  // namespace gemforge::ops
