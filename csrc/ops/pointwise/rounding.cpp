// ceil, floor, round (and round.decimals), trunc, frac, sign, sgn (real dtypes), nan_to_num:
// functional, out= and in-place forms.
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/kernels/rounding.h"

#include <ATen/CompositeExplicitAutogradFunctions.h>

#include <cmath>
#include <limits>

namespace gemforge::ops {

GF_UNARY_FORMS(ceil, IterKind::unary, kernels::ceil, ceil, )
GF_UNARY_FORMS(floor, IterKind::unary, kernels::floor, floor, )
GF_UNARY_FORMS(trunc, IterKind::unary, kernels::trunc, trunc, )
GF_UNARY_FORMS(round, IterKind::unary, kernels::round, round, )
GF_UNARY_FORMS(frac, IterKind::unary, kernels::frac, frac, )
GF_UNARY_FORMS(sign, IterKind::unary, kernels::sign, sign, )
GF_UNARY_FORMS(sgn, IterKind::unary, kernels::sign, sgn, )  // complex: torch's kernel

// ---- round.decimals: floating only, even for 0 decimals (torch has no integer kernel for it) -----
namespace {

Args decimals_args(const Tensor& self, int64_t decimals) {
  const int64_t n = decimals < 0 ? -decimals : decimals;
  const int rounding = cuda_storage_rounding(self, self.scalar_type());
  return {Scalar(std::pow(10.0, double(n))), Scalar(), (decimals < 0 ? 1 : 0) | rounding << 1};
}

}  // namespace

Tensor round_decimals(const Tensor& self, int64_t decimals) {
  return pw::functional(IterKind::unary, {self}, K<kernels::round_decimals>, decimals_args(self, decimals),
                        GF_FALLBACK(self, round, self, decimals));
}
Tensor& round_decimals_out(const Tensor& self, int64_t decimals, Tensor& out) {
  return pw::out_form(out, IterKind::unary, {self}, K<kernels::round_decimals>,
                      decimals_args(self, decimals), GF_FALLBACK(self, round_outf, self, decimals, out));
}
Tensor& round_decimals_(Tensor& self, int64_t decimals) {
  return pw::inplace(self, IterKind::unary, {self}, K<kernels::round_decimals>,
                     decimals_args(self, decimals), GF_FALLBACK(self, round_, self, decimals));
}

// ---- nan_to_num ---------------------------------------------------------------------------------
namespace {

using OptDouble = std::optional<double>;

double largest(ScalarType t) {
  switch (t) {
    case at::kHalf: return double(std::numeric_limits<c10::Half>::max());
    case at::kBFloat16: return double(std::numeric_limits<c10::BFloat16>::max());
    case at::kFloat: return double(std::numeric_limits<float>::max());
    default: return std::numeric_limits<double>::max();
  }
}

Args nan_to_num_args(const Tensor& self, OptDouble nan, OptDouble posinf, OptDouble neginf) {
  const double big = largest(self.scalar_type());
  return {Scalar(nan.value_or(0.0)),
          Scalar(c10::complex<double>(posinf.value_or(big), neginf.value_or(-big)))};
}

}  // namespace

Tensor& nan_to_num_out(const Tensor& self, OptDouble nan, OptDouble posinf, OptDouble neginf,
                       Tensor& out) {
  TORCH_CHECK(self.scalar_type() == out.scalar_type(), "nan_to_num: dtype of out: ",
              out.scalar_type(), " should be same as input: ", self.scalar_type());
  return pw::out_form(out, IterKind::unary, {self}, K<kernels::nan_to_num>,
                      nan_to_num_args(self, nan, posinf, neginf),
                      GF_FALLBACK(self, nan_to_num_outf, self, nan, posinf, neginf, out));
}
Tensor nan_to_num(const Tensor& self, OptDouble nan, OptDouble posinf, OptDouble neginf) {
  return pw::functional(
      IterKind::unary, {self}, K<kernels::nan_to_num>, nan_to_num_args(self, nan, posinf, neginf),
      GF_FALLBACK_TO(at::compositeexplicitautograd::nan_to_num(self, nan, posinf, neginf)));
}
Tensor& nan_to_num_(Tensor& self, OptDouble nan, OptDouble posinf, OptDouble neginf) {
  return pw::inplace(
      self, IterKind::unary, {self}, K<kernels::nan_to_num>, nan_to_num_args(self, nan, posinf, neginf),
      GF_FALLBACK_TO(at::compositeexplicitautograd::nan_to_num_(self, nan, posinf, neginf)));
}

}  // namespace gemforge::ops
