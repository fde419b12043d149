// Special functions: erf family, gamma family, Bessel functions, xlogy / xlog1py and the
// orthogonal polynomials, every overload torch has for each (functional, out=, in-place,
// Scalar operands). Integers promote to float as in torch (its *_float iterators).
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/kernels/special.h"
#include "ops/pointwise_more.h"

#include <ATen/CompositeExplicitAutogradFunctions.h>

namespace gemforge::ops {
namespace {

// The operand whose device picks torch's kernel for a fallback: a wrapped Scalar is on the cpu.
const Tensor& on_device(const Tensor& a, const Tensor& b) { return a.is_cpu() ? b : a; }

}  // namespace

// ---- unary: functional, out= and, where torch has it, in-place --------------------------------
#define GF_SPECIAL_UNARY(name, Op) GF_UNARY_FORMS(name, IterKind::unary_float, kernels::Op, name, )
GF_SPECIAL_UNARY(erf, erf)
GF_SPECIAL_UNARY(erfc, erfc)
GF_SPECIAL_UNARY(erfinv, erfinv)
GF_SPECIAL_UNARY(lgamma, lgamma)
GF_SPECIAL_UNARY(digamma, digamma)
GF_SPECIAL_UNARY(i0, i0)
#undef GF_SPECIAL_UNARY

#define GF_SPECIAL_UNARY_NO_INPLACE(name, Op)                                                      \
  Tensor name(const Tensor& self) {                                                                \
    return pw::functional(IterKind::unary_float, {self}, K<kernels::Op>, {},                       \
                          GF_FALLBACK(self, name, self));                                          \
  }                                                                                                \
  Tensor& name##_out(const Tensor& self, Tensor& out) {                                            \
    return pw::out_form(out, IterKind::unary_float, {self}, K<kernels::Op>, {},                    \
                        GF_FALLBACK(self, name##_outf, self, out));                                \
  }
GF_SPECIAL_UNARY_NO_INPLACE(special_i0e, i0e)
GF_SPECIAL_UNARY_NO_INPLACE(special_i1, i1)
GF_SPECIAL_UNARY_NO_INPLACE(special_i1e, i1e)
GF_SPECIAL_UNARY_NO_INPLACE(special_ndtri, ndtri)
GF_SPECIAL_UNARY_NO_INPLACE(special_erfcx, erfcx)
GF_SPECIAL_UNARY_NO_INPLACE(special_bessel_j0, bessel_j0)
GF_SPECIAL_UNARY_NO_INPLACE(special_bessel_j1, bessel_j1)
GF_SPECIAL_UNARY_NO_INPLACE(special_bessel_y0, bessel_y0)
GF_SPECIAL_UNARY_NO_INPLACE(special_bessel_y1, bessel_y1)
GF_SPECIAL_UNARY_NO_INPLACE(special_modified_bessel_i0, modified_bessel_i0)
GF_SPECIAL_UNARY_NO_INPLACE(special_modified_bessel_i1, modified_bessel_i1)
GF_SPECIAL_UNARY_NO_INPLACE(special_spherical_bessel_j0, spherical_bessel_j0)
GF_SPECIAL_UNARY_NO_INPLACE(special_modified_bessel_k0, modified_bessel_k0)
GF_SPECIAL_UNARY_NO_INPLACE(special_modified_bessel_k1, modified_bessel_k1)
GF_SPECIAL_UNARY_NO_INPLACE(special_scaled_modified_bessel_k0, scaled_modified_bessel_k0)
GF_SPECIAL_UNARY_NO_INPLACE(special_scaled_modified_bessel_k1, scaled_modified_bessel_k1)
GF_SPECIAL_UNARY_NO_INPLACE(special_airy_ai, airy_ai)
#undef GF_SPECIAL_UNARY_NO_INPLACE

// ---- polygamma(n, x), mvlgamma(x, p): an int parameter in Args.mode --------------------------
namespace {
void check_polygamma(int64_t n) {
  TORCH_CHECK(n >= 0, "polygamma(n, x) does not support negative n.");
}
void check_mvlgamma(const Tensor& self, int64_t p) {
  TORCH_CHECK(self.scalar_type() != at::kBool, "The input tensor may not be a boolean tensor.");
  TORCH_CHECK(p >= 1, "p has to be greater than or equal to 1");
}
// Parameters past int range (never a sensible polygamma order or dimension) go to torch.
bool fits_int(int64_t v) { return v <= std::numeric_limits<int>::max(); }
// Trigamma (n = 1) on cuda goes to torch: our float routine ran 0.84-0.96x torch on an H100 and
// lost accuracy left of 0 (relative 4e-5); n >= 2 runs 1.14-1.43x.
bool polygamma_to_torch(int64_t n, const Tensor& t) { return !fits_int(n) || (n == 1 && t.is_cuda()); }
}  // namespace

Tensor polygamma(int64_t n, const Tensor& self) {
  check_polygamma(n);
  auto fallback = GF_FALLBACK(self, polygamma, n, self);
  if (polygamma_to_torch(n, self)) return fallback();
  return pw::functional(IterKind::unary_float, {self}, K<kernels::polygamma>, {{}, {}, int(n)}, fallback);
}
Tensor& polygamma_out(int64_t n, const Tensor& self, Tensor& out) {
  check_polygamma(n);
  auto fallback = GF_FALLBACK(self, polygamma_outf, n, self, out);
  if (polygamma_to_torch(n, self)) return fallback();
  return pw::out_form(out, IterKind::unary_float, {self}, K<kernels::polygamma>, {{}, {}, int(n)},
                      fallback);
}
Tensor& polygamma_(Tensor& self, int64_t n) {
  check_polygamma(n);
  auto fallback = GF_FALLBACK_TO(at::compositeexplicitautograd::polygamma_(self, n));
  if (polygamma_to_torch(n, self)) return fallback();
  return pw::inplace(self, IterKind::unary_float, {self}, K<kernels::polygamma>, {{}, {}, int(n)},
                     fallback);
}

Tensor mvlgamma(const Tensor& self, int64_t p) {
  check_mvlgamma(self, p);
  auto fallback = GF_FALLBACK_TO(at::compositeexplicitautograd::mvlgamma(self, p));
  if (!fits_int(p)) return fallback();
  return pw::functional(IterKind::unary_float, {self}, K<kernels::mvlgamma>, {{}, {}, int(p)}, fallback);
}
Tensor& mvlgamma_out(const Tensor& self, int64_t p, Tensor& out) {
  check_mvlgamma(self, p);
  auto fallback = GF_FALLBACK(self, mvlgamma_outf, self, p, out);
  if (!fits_int(p)) return fallback();
  return pw::out_form(out, IterKind::unary_float, {self}, K<kernels::mvlgamma>, {{}, {}, int(p)},
                      fallback);
}
Tensor& mvlgamma_(Tensor& self, int64_t p) {
  check_mvlgamma(self, p);
  auto fallback = GF_FALLBACK_TO(at::compositeexplicitautograd::mvlgamma_(self, p));
  if (!fits_int(p)) return fallback();
  return pw::inplace(self, IterKind::unary_float, {self}, K<kernels::mvlgamma>, {{}, {}, int(p)},
                     fallback);
}

// ---- binary: Tensor overloads, then the Scalar ones as torch writes them (a wrapped number) ---
#define GF_SPECIAL_BINARY(name, Op)                                                                \
  Tensor name(const Tensor& self, const Tensor& other) {                                           \
    return pw::functional(IterKind::binary_float, {self, other}, K<kernels::Op>, {},               \
                          GF_FALLBACK(on_device(self, other), name, self, other));                 \
  }                                                                                                \
  Tensor& name##_out(const Tensor& self, const Tensor& other, Tensor& out) {                       \
    return pw::out_form(out, IterKind::binary_float, {self, other}, K<kernels::Op>, {},            \
                        GF_FALLBACK(on_device(self, other), name##_outf, self, other, out));       \
  }                                                                                                \
  Tensor name##_self_scalar(const Scalar& self, const Tensor& other) {                             \
    return ops::name(wrap(self), other);                                                           \
  }                                                                                                \
  Tensor& name##_self_scalar_out(const Scalar& self, const Tensor& other, Tensor& out) {           \
    return ops::name##_out(wrap(self), other, out);                                                \
  }                                                                                                \
  Tensor name##_other_scalar(const Tensor& self, const Scalar& other) {                            \
    return ops::name(self, wrap(other));                                                           \
  }                                                                                                \
  Tensor& name##_other_scalar_out(const Tensor& self, const Scalar& other, Tensor& out) {          \
    return ops::name##_out(self, wrap(other), out);                                                \
  }
GF_SPECIAL_BINARY(xlogy, xlogy)
GF_SPECIAL_BINARY(special_xlog1py, xlog1py)
GF_SPECIAL_BINARY(special_chebyshev_polynomial_t, chebyshev_t)
GF_SPECIAL_BINARY(special_chebyshev_polynomial_u, chebyshev_u)
GF_SPECIAL_BINARY(special_chebyshev_polynomial_v, chebyshev_v)
GF_SPECIAL_BINARY(special_chebyshev_polynomial_w, chebyshev_w)
GF_SPECIAL_BINARY(special_shifted_chebyshev_polynomial_t, shifted_chebyshev_t)
GF_SPECIAL_BINARY(special_shifted_chebyshev_polynomial_u, shifted_chebyshev_u)
GF_SPECIAL_BINARY(special_shifted_chebyshev_polynomial_v, shifted_chebyshev_v)
GF_SPECIAL_BINARY(special_shifted_chebyshev_polynomial_w, shifted_chebyshev_w)
GF_SPECIAL_BINARY(special_hermite_polynomial_h, hermite_h)
GF_SPECIAL_BINARY(special_hermite_polynomial_he, hermite_he)
GF_SPECIAL_BINARY(special_laguerre_polynomial_l, laguerre_l)
GF_SPECIAL_BINARY(special_legendre_polynomial_p, legendre_p)
#undef GF_SPECIAL_BINARY

// igamma, igammac: integers are not promoted (torch has no kernel for them).
GF_BINARY_FORMS(igamma, IterKind::binary, kernels::igamma, igamma)
GF_BINARY_FORMS(igammac, IterKind::binary, kernels::igammac, igammac)

Tensor& xlogy_(Tensor& self, const Tensor& other) {
  return pw::inplace(self, IterKind::binary_float, {self, other}, K<kernels::xlogy>, {},
                     GF_FALLBACK(self, xlogy_, self, other));
}
Tensor& xlogy_other_scalar_(Tensor& self, const Scalar& other) { return ops::xlogy_(self, wrap(other)); }

}  // namespace gemforge::ops
