// layer_norm and rms_norm, forward and backward, on the row engine. layer_norm and rms_norm are
// torch's composites of native_layer_norm and _fused_rms_norm. A call gemforge does not serve
// (bad shapes, weights of another dtype or device, rows longer than the cuda kernels keep in
// registers, empty rows) goes to torch's kernel, which raises torch's errors where it should.
#include "ops/ops.h"
#include "ops/rows_common.h"

#include <ATen/CompositeImplicitAutogradFunctions.h>

#include <limits>

namespace gemforge::ops {
namespace {

using namespace rows_detail;

// The rows (M) and row length (N) of input normalized over its trailing `shape`, when gemforge
// serves the call: weight and bias (if any) of input's dtype, device and of that shape.
struct Rows {
  int64_t m = 1, n = 1;
};
std::optional<Rows> norm_rows(const Tensor& input, at::IntArrayRef shape, const Tensor& weight,
                              const Tensor& bias) {
  if (!on_backend(input) || !row_dtype(input) || shape.empty()) return std::nullopt;
  const int64_t nd = int64_t(shape.size()), axis = input.dim() - nd;
  if (axis < 0 || input.sizes().slice(axis) != shape) return std::nullopt;
  for (const Tensor* t : {&weight, &bias}) {
    if (!t->defined()) continue;
    if (t->scalar_type() != input.scalar_type() || t->device() != input.device() ||
        t->sizes() != shape || !on_backend(*t))
      return std::nullopt;
  }
  Rows r;
  for (int64_t i = 0; i < input.dim(); ++i) (i < axis ? r.m : r.n) *= input.size(i);
  if (r.n == 0) return std::nullopt;
  return r;
}

// mean/rstd's shape: input's leading dims, ones for the normalized ones.
std::vector<int64_t> stat_shape(const Tensor& input, int64_t nd) {
  std::vector<int64_t> s(input.sizes().begin(), input.sizes().end());
  for (int64_t i = input.dim() - nd; i < input.dim(); ++i) s[i] = 1;
  return s;
}

// The stats' dtype: the compute type, except the cpu's layer norm keeps the input's.
ScalarType stat_dtype(const Tensor& input, bool rms) {
  if (rms || input.is_cuda()) return at::toOpMathType(input.scalar_type());
  return input.scalar_type();
}

void* ptr_or_null(const Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; }
Tensor dense_or_undefined(const Tensor& t) { return t.defined() ? t.contiguous() : t; }

std::tuple<Tensor, Tensor, Tensor> norm_forward(const Tensor& input, at::IntArrayRef shape, const Tensor& weight,
                                                const Tensor& bias, double eps, bool rms, Rows r) {
  const Tensor x = input.contiguous(), w = dense_or_undefined(weight), b = dense_or_undefined(bias);
  Tensor y = at::empty(input.sizes(), x.options());
  const auto stats = x.options().dtype(stat_dtype(input, rms));
  Tensor mean = rms ? Tensor() : at::empty({r.m}, stats);
  Tensor rstd = at::empty({r.m}, stats);
  if (r.m > 0) {
    rows::NormFwd p{x.scalar_type(), rstd.scalar_type(), x.data_ptr(), ptr_or_null(w), ptr_or_null(b),
                    y.data_ptr(), ptr_or_null(mean), rstd.data_ptr(), r.m, r.n, eps, rms};
    OnDevice on(x);
    GF_ROWS(x, norm_fwd, p);
  }
  const auto shp = stat_shape(input, int64_t(shape.size()));
  return {y, rms ? mean : mean.view(shp), rstd.view(shp)};
}

// dx (mask[0]), dweight (mask[1]) and dbias (mask[2]; layer norm only), the last two shaped as
// weight and bias (either may come without the other).
std::tuple<Tensor, Tensor, Tensor> norm_backward(const Tensor& grad, const Tensor& input, const Tensor& mean,
                                                 const Tensor& rstd, const Tensor& weight, const Tensor& bias,
                                                 std::array<bool, 3> mask, bool rms, Rows r) {
  const Tensor g = grad.contiguous(), x = input.contiguous(), w = dense_or_undefined(weight);
  const Tensor mu = rms ? Tensor() : mean.contiguous(), rs = rstd.contiguous();
  Tensor dx = mask[0] ? at::empty(input.sizes(), x.options()) : Tensor();
  Tensor dw, db;
  if (mask[1]) dw = r.m > 0 ? at::empty(weight.sizes(), x.options()) : at::zeros(weight.sizes(), x.options());
  if (mask[2]) db = r.m > 0 ? at::empty(bias.sizes(), x.options()) : at::zeros(bias.sizes(), x.options());
  if (r.m > 0 && (mask[0] || mask[1] || mask[2])) {
    rows::NormBwd p{x.scalar_type(), rs.scalar_type(), g.data_ptr(), x.data_ptr(), ptr_or_null(mu),
                    rs.data_ptr(), ptr_or_null(w), ptr_or_null(dx), ptr_or_null(dw), ptr_or_null(db),
                    r.m, r.n, rms};
    OnDevice on(x);
    GF_ROWS(x, norm_bwd, p);
  }
  return {dx, dw, db};
}

// mean and rstd as the kernels read them: m elements of the stats' dtype on input's device.
bool stats_match(const Tensor& s, const Tensor& input, bool rms, int64_t m) {
  return s.defined() && s.numel() == m && s.scalar_type() == stat_dtype(input, rms) &&
         s.device() == input.device() && on_backend(s);
}

at::IntArrayRef as_ints(c10::SymIntArrayRef s) { return C10_AS_INTARRAYREF_SLOW(s); }

}  // namespace

std::tuple<Tensor, Tensor, Tensor> native_layer_norm(const Tensor& input, c10::SymIntArrayRef normalized_shape,
                                                     const std::optional<Tensor>& weight,
                                                     const std::optional<Tensor>& bias, double eps) {
  const Tensor w = weight.value_or(Tensor()), b = bias.value_or(Tensor());
  const auto shape = as_ints(normalized_shape);
  const auto r = norm_rows(input, shape, w, b);
  if (!r) return GF_FALLBACK(input, native_layer_norm, input, shape, weight, bias, eps)();
  return norm_forward(input, shape, w, b, eps, /*rms=*/false, *r);
}

std::tuple<Tensor, Tensor, Tensor> native_layer_norm_backward(
    const Tensor& grad_out, const Tensor& input, c10::SymIntArrayRef normalized_shape, const Tensor& mean,
    const Tensor& rstd, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
    std::array<bool, 3> output_mask) {
  const Tensor w = weight.value_or(Tensor()), b = bias.value_or(Tensor());
  const auto shape = as_ints(normalized_shape);
  const auto r = norm_rows(input, shape, w, b);
  const bool served = r && grad_out.sizes() == input.sizes() && grad_out.scalar_type() == input.scalar_type() &&
                      grad_out.device() == input.device() && stats_match(mean, input, false, r->m) &&
                      stats_match(rstd, input, false, r->m) && (!output_mask[1] || w.defined()) &&
                      (!output_mask[2] || b.defined());
  if (!served)
    return GF_FALLBACK(input, native_layer_norm_backward, grad_out, input, shape, mean, rstd, weight, bias,
                       output_mask)();
  return norm_backward(grad_out, input, mean, rstd, w, b, output_mask, /*rms=*/false, *r);
}

std::tuple<Tensor, Tensor> _fused_rms_norm(const Tensor& input, at::IntArrayRef normalized_shape,
                                           const std::optional<Tensor>& weight, std::optional<double> eps) {
  const Tensor w = weight.value_or(Tensor());
  const auto r = norm_rows(input, normalized_shape, w, Tensor());
  if (!r) {
    reg::note_fallback();
#ifdef GEMFORGE_WITH_CUDA
    if (input.is_cuda()) return at::cuda::_fused_rms_norm(input, normalized_shape, weight, eps);
#endif
    return at::compositeimplicitautograd::_fused_rms_norm(input, normalized_shape, weight, eps);
  }
  const double e = eps.value_or(input.scalar_type() == at::kDouble ? std::numeric_limits<double>::epsilon()
                                                                   : std::numeric_limits<float>::epsilon());
  auto [y, mean, rstd] = norm_forward(input, normalized_shape, w, Tensor(), e, /*rms=*/true, *r);
  return {y, rstd};
}

std::tuple<Tensor, Tensor> _fused_rms_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                    at::IntArrayRef normalized_shape, const Tensor& rstd,
                                                    const std::optional<Tensor>& weight,
                                                    std::array<bool, 2> output_mask) {
  const Tensor w = weight.value_or(Tensor());
  const auto r = norm_rows(input, normalized_shape, w, Tensor());
  const bool served = r && grad_out.sizes() == input.sizes() && grad_out.scalar_type() == input.scalar_type() &&
                      grad_out.device() == input.device() && stats_match(rstd, input, true, r->m) &&
                      (!output_mask[1] || w.defined());
  if (served) {
    auto [dx, dw, db] = norm_backward(grad_out, input, Tensor(), rstd, w, Tensor(),
                                      {output_mask[0], output_mask[1], false}, /*rms=*/true, *r);
    return {dx, dw};
  }
  reg::note_fallback();
#ifdef GEMFORGE_WITH_CUDA
  if (input.is_cuda())
    return at::cuda::_fused_rms_norm_backward(grad_out, input, normalized_shape, rstd, weight, output_mask);
#endif
  // torch has no cpu kernel (its cpu rms_norm is a composite); the same formula in aten ops.
  TORCH_CHECK(input.is_cpu(), "_fused_rms_norm_backward: unsupported device ", input.device());
  const auto opmath = at::toOpMathType(input.scalar_type());
  const int64_t axis = input.dim() - int64_t(normalized_shape.size());
  std::vector<int64_t> inner, outer;
  for (int64_t i = 0; i < input.dim(); ++i) (i < axis ? outer : inner).push_back(i);
  const Tensor g = grad_out.to(opmath), rs = rstd.to(opmath), xhat = input.to(opmath).mul(rs);
  const Tensor gw = w.defined() ? g.mul(w.to(opmath)) : g;
  Tensor dx, dw;
  if (output_mask[0]) dx = rs.mul(gw.sub(xhat.mul(gw.mul(xhat).mean(inner, true)))).to(input.scalar_type());
  if (output_mask[1] && w.defined()) dw = g.mul(xhat).sum(outer).to(w.scalar_type());
  return {dx, dw};
}

}  // namespace gemforge::ops
