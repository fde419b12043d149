// Group norm forward and backward (native_group_norm, native_group_norm_backward; F.group_norm
// is torch's composite of them): each (n, group) slice of a contiguous [N, C, HxW] input is a dense
// row of C / G x HxW. Parameters of another dtype (torch's mixed Half/BFloat16 with Float weights),
// channels_last or empty inputs and bad sizes go to torch's kernel, which raises torch's errors.
#include "backends/norm_stats.h"
#include "ops/ops.h"
#include "ops/rows_common.h"

namespace gemforge::ops {
namespace {

using namespace rows_detail;

void* ptr_or_null(const Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; }
Tensor dense(const Tensor& t) { return t.defined() ? t.contiguous() : t; }

bool served(const Tensor& input, std::initializer_list<const Tensor*> params, int64_t N, int64_t C, int64_t HxW,
            int64_t group) {
  if (!on_backend(input) || !has(chnorm::kNormTypes, input.scalar_type()) || !input.is_contiguous() ||
      input.numel() == 0 || input.dim() < 2 || input.size(0) != N || input.size(1) != C || group <= 0 ||
      C % group != 0 || N * C * HxW != input.numel() || C / group * HxW >= (int64_t(1) << 31))  // 32-bit rows
    return false;
  for (const Tensor* t : params)
    if (t->defined() && (t->scalar_type() != input.scalar_type() || t->device() != input.device() ||
                         t->numel() != C || t->dim() != 1 || !on_backend(*t)))
      return false;
  return true;
}

}  // namespace

std::tuple<Tensor, Tensor, Tensor> native_group_norm(const Tensor& input, const std::optional<Tensor>& weight,
                                                     const std::optional<Tensor>& bias, c10::SymInt N,
                                                     c10::SymInt C, c10::SymInt HxW, int64_t group, double eps) {
  const Tensor w = weight.value_or(Tensor()), b = bias.value_or(Tensor());
  const int64_t n = N.guard_int(__FILE__, __LINE__), c = C.guard_int(__FILE__, __LINE__),
                hw = HxW.guard_int(__FILE__, __LINE__);
  if (!served(input, {&w, &b}, n, c, hw, group))
    return GF_FALLBACK(input, native_group_norm, input, weight, bias, n, c, hw, group, eps)();
  const Tensor x = input.contiguous(), wd = dense(w), bd = dense(b);
  Tensor y = at::empty(input.sizes(), x.options());
  Tensor mean = at::empty({n, group}, x.options()), rstd = at::empty({n, group}, x.options());
  chnorm::GroupNormFwd p{x.scalar_type(), x.data_ptr(), ptr_or_null(wd), ptr_or_null(bd), y.data_ptr(),
                         mean.data_ptr(), rstd.data_ptr(), n, c, hw, group, eps};
  OnDevice on(x);
  GF_CHNORM(x, group_norm_fwd, p);
  return {y, mean, rstd};
}

std::tuple<Tensor, Tensor, Tensor> native_group_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                              const Tensor& mean, const Tensor& rstd,
                                                              const std::optional<Tensor>& weight, c10::SymInt N,
                                                              c10::SymInt C, c10::SymInt HxW, int64_t group,
                                                              std::array<bool, 3> output_mask) {
  const Tensor w = weight.value_or(Tensor());
  const int64_t n = N.guard_int(__FILE__, __LINE__), c = C.guard_int(__FILE__, __LINE__),
                hw = HxW.guard_int(__FILE__, __LINE__);
  bool ok = served(input, {&w}, n, c, hw, group) && grad_out.sizes() == input.sizes() &&
            grad_out.scalar_type() == input.scalar_type() && grad_out.device() == input.device() &&
            on_backend(grad_out) && (w.defined() || !(output_mask[1] || output_mask[2]));
  for (const Tensor* t : {&mean, &rstd})
    ok = ok && t->scalar_type() == input.scalar_type() && t->device() == input.device() && t->numel() == n * group &&
         on_backend(*t);
  if (!ok)
    return GF_FALLBACK(input, native_group_norm_backward, grad_out, input, mean, rstd, weight, n, c, hw, group,
                       output_mask)();
  const Tensor x = input.contiguous(), g = grad_out.contiguous(), wd = dense(w);
  const Tensor mu = mean.contiguous(), rs = rstd.contiguous();
  Tensor dx = output_mask[0] ? at::empty(input.sizes(), x.options()) : Tensor();
  Tensor dw = output_mask[1] ? at::empty({c}, x.options()) : Tensor();
  Tensor db = output_mask[2] ? at::empty({c}, x.options()) : Tensor();
  if (output_mask[0] || output_mask[1] || output_mask[2]) {
    chnorm::GroupNormBwd p{x.scalar_type(), g.data_ptr(), x.data_ptr(), mu.data_ptr(), rs.data_ptr(),
                           ptr_or_null(wd), ptr_or_null(dx), ptr_or_null(dw), ptr_or_null(db), n, c, hw, group};
    OnDevice on(x);
    GF_CHNORM(x, group_norm_bwd, p);
  }
  return {dx, dw, db};
}

}  // namespace gemforge::ops
