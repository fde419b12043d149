// Batch norm, training and eval, forward and backward: native_batch_norm (what F.batch_norm
// reaches on the cpu, and on cuda where cudnn does not take it), cudnn_batch_norm (where it
// does), _native_batch_norm_legit, _batch_norm_with_update and their backward ops. The input is read as a dense [N, C, S]
// tensor; a channels_last input, a dtype or parameter mix torch does not accept, an empty input or
// parameters of another size or device go to torch's kernel, which raises torch's errors.
#include "backends/norm_stats.h"
#include "ops/ops.h"
#include "ops/rows_common.h"

#include <ATen/CompositeExplicitAutogradFunctions.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/CUDAFunctions.h>
#endif

namespace gemforge::ops {
namespace {

using namespace rows_detail;

const Tensor& get(const std::optional<Tensor>& t) {
  static const Tensor undefined;
  return t.has_value() ? *t : undefined;
}
void* ptr_or_null(const Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; }

// The input's [N, C, S] view when gemforge serves it.
struct Plan {
  int64_t N = 0, C = 0, S = 1;
  ScalarType dtype, param_dtype, stat_dtype;
};

// One element a channel a sample on cuda ((N, C) inputs: a column reduction) stays torch's: ours
// ran 0.78-0.89x torch's at 8192 x 1024 on the H100 (train forward bf16/fp32, backward bf16, eval
// bf16; results/h100/issue7/), and a 16-byte column kernel measured worse (benchmarks/NOTES.md).
bool dense_input(const Tensor& input) {
  return on_backend(input) && has(chnorm::kNormTypes, input.scalar_type()) && input.dim() >= 2 &&
         input.numel() > 0 && input.numel() < (int64_t(1) << 31) &&  // the cuda kernels' 32-bit divisions
         input.suggest_memory_format() == at::MemoryFormat::Contiguous &&
         !(input.is_cuda() && input.numel() == input.size(0) * input.size(1));
}

// The parameters' dtype: the first defined of `params`, which must all share it, sit on input's
// device and hold C elements; it is input's dtype or Float for a Half/BFloat16 input.
std::optional<ScalarType> param_dtype(const Tensor& input, std::initializer_list<const Tensor*> params) {
  std::optional<ScalarType> dtype;
  for (const Tensor* t : params) {
    if (!t->defined()) continue;
    if (!on_backend(*t) || t->device() != input.device() || t->numel() != input.size(1)) return std::nullopt;
    if (dtype && *dtype != t->scalar_type()) return std::nullopt;
    dtype = t->scalar_type();
  }
  const ScalarType x = input.scalar_type();
  if (!dtype) return x;
  const bool reduced = x == at::kHalf || x == at::kBFloat16;
  if (*dtype != x && !(reduced && *dtype == at::kFloat)) return std::nullopt;
  return dtype;
}

ScalarType stat_dtype(const Tensor& input, ScalarType param) {
  return input.is_cuda() ? at::toOpMathType(input.scalar_type()) : param;
}

std::optional<Plan> forward_plan(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                 const Tensor& running_mean, const Tensor& running_var, bool training) {
  if (!dense_input(input) || running_mean.defined() != running_var.defined()) return std::nullopt;
  if (!training && !running_mean.defined()) return std::nullopt;
  // running stats are updated in place
  if (running_mean.defined() && (!running_mean.is_contiguous() || !running_var.is_contiguous())) return std::nullopt;
  const auto param = param_dtype(input, {&weight, &bias, &running_mean, &running_var});
  if (!param) return std::nullopt;
  Plan p;
  p.N = input.size(0);
  p.C = input.size(1);
  for (int64_t d = 2; d < input.dim(); ++d) p.S *= input.size(d);
  p.dtype = input.scalar_type();
  p.param_dtype = *param;
  p.stat_dtype = stat_dtype(input, *param);
  return p;
}

Tensor dense(const Tensor& t) { return t.defined() ? t.contiguous() : t; }

std::tuple<Tensor, Tensor, Tensor> forward(const Plan& pl, const Tensor& input, const Tensor& weight,
                                           const Tensor& bias, const Tensor& running_mean,
                                           const Tensor& running_var, bool training, double momentum,
                                           double eps) {
  const Tensor x = input.contiguous(), w = dense(weight), b = dense(bias);
  Tensor y = at::empty(input.sizes(), x.options());
  const auto stats = x.options().dtype(pl.stat_dtype);
  // saved stats: the batch's in training; in eval cuda returns the running ones, the cpu none
  const bool save = training || input.is_cuda();
  Tensor save_mean = at::empty({save ? pl.C : 0}, stats), save_invstd = at::empty({save ? pl.C : 0}, stats);
  chnorm::BatchNormFwd p{pl.dtype, pl.param_dtype, pl.stat_dtype, x.data_ptr(), ptr_or_null(w), ptr_or_null(b),
                         ptr_or_null(running_mean), ptr_or_null(running_var), y.data_ptr(),
                         save ? save_mean.data_ptr() : nullptr, save ? save_invstd.data_ptr() : nullptr,
                         pl.N, pl.C, pl.S, momentum, eps, training};
  OnDevice on(x);
  GF_CHNORM(x, batch_norm_fwd, p);
  return {y, save_mean, save_invstd};
}

// Copies a result into an out= tensor (resized as torch's out= does).
void into(Tensor& out, const Tensor& value) {
  at::native::resize_output(out, value.sizes());
  out.copy_(value);
}

std::tuple<Tensor, Tensor, Tensor> backward(const Tensor& grad_out, const Tensor& input, const Tensor& weight,
                                            const Tensor& running_mean, const Tensor& running_var,
                                            const Tensor& save_mean, const Tensor& save_invstd, bool train,
                                            double eps, std::array<bool, 3> mask, bool* served) {
  *served = false;
  if (!dense_input(input) || !grad_out.defined() || grad_out.sizes() != input.sizes() ||
      grad_out.scalar_type() != input.scalar_type() || grad_out.device() != input.device() || !on_backend(grad_out))
    return {};
  if ((mask[1] || mask[2]) && !weight.defined()) return {};
  const auto param = param_dtype(input, {&weight, &running_mean, &running_var});
  if (!param) return {};
  const Tensor& mean = train ? save_mean : running_mean;
  const Tensor& spread = train ? save_invstd : running_var;
  const ScalarType want = train ? stat_dtype(input, *param) : *param;
  for (const Tensor* t : {&mean, &spread})
    if (!t->defined() || t->scalar_type() != want || t->device() != input.device() || t->numel() != input.size(1) ||
        !on_backend(*t))
      return {};
  Plan pl;
  pl.N = input.size(0);
  pl.C = input.size(1);
  for (int64_t d = 2; d < input.dim(); ++d) pl.S *= input.size(d);
  const Tensor x = input.contiguous(), g = grad_out.contiguous(), w = dense(weight);
  const Tensor mu = mean.contiguous(), sp = spread.contiguous();
  Tensor dx = mask[0] ? at::empty(input.sizes(), x.options()) : Tensor();
  Tensor dw = mask[1] ? at::empty({pl.C}, weight.options()) : Tensor();
  Tensor db = mask[2] ? at::empty({pl.C}, weight.options()) : Tensor();
  if (mask[0] || mask[1] || mask[2]) {
    chnorm::BatchNormBwd p{input.scalar_type(), *param, want, g.data_ptr(), x.data_ptr(), ptr_or_null(w),
                           mu.data_ptr(), sp.data_ptr(), ptr_or_null(dx), ptr_or_null(dw), ptr_or_null(db),
                           pl.N, pl.C, pl.S, eps, train};
    OnDevice on(x);
    GF_CHNORM(x, batch_norm_bwd, p);
  }
  *served = true;
  return {dx, dw, db};
}

}  // namespace

std::tuple<Tensor, Tensor, Tensor> native_batch_norm(const Tensor& input, const std::optional<Tensor>& weight,
                                                     const std::optional<Tensor>& bias,
                                                     const std::optional<Tensor>& running_mean,
                                                     const std::optional<Tensor>& running_var, bool training,
                                                     double momentum, double eps) {
  const auto pl = forward_plan(input, get(weight), get(bias), get(running_mean), get(running_var), training);
  if (!pl)
    return GF_FALLBACK(input, native_batch_norm, input, weight, bias, running_mean, running_var, training,
                       momentum, eps)();
  return forward(*pl, input, get(weight), get(bias), get(running_mean), get(running_var), training, momentum, eps);
}

std::tuple<Tensor&, Tensor&, Tensor&> native_batch_norm_out(
    const Tensor& input, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
    const std::optional<Tensor>& running_mean, const std::optional<Tensor>& running_var, bool training,
    double momentum, double eps, Tensor& out, Tensor& save_mean, Tensor& save_invstd) {
  const auto pl = forward_plan(input, get(weight), get(bias), get(running_mean), get(running_var), training);
  if (!pl)
    return GF_FALLBACK(input, native_batch_norm_outf, input, weight, bias, running_mean, running_var, training,
                       momentum, eps, out, save_mean, save_invstd)();
  auto [y, m, s] = forward(*pl, input, get(weight), get(bias), get(running_mean), get(running_var), training,
                           momentum, eps);
  into(out, y);
  into(save_mean, m);
  into(save_invstd, s);
  return {out, save_mean, save_invstd};
}

std::tuple<Tensor, Tensor, Tensor> _native_batch_norm_legit(const Tensor& input, const std::optional<Tensor>& weight,
                                                            const std::optional<Tensor>& bias, Tensor& running_mean,
                                                            Tensor& running_var, bool training, double momentum,
                                                            double eps) {
  const auto pl = forward_plan(input, get(weight), get(bias), running_mean, running_var, training);
  if (!pl)
    return GF_FALLBACK(input, _native_batch_norm_legit, input, weight, bias, running_mean, running_var, training,
                       momentum, eps)();
  return forward(*pl, input, get(weight), get(bias), running_mean, running_var, training, momentum, eps);
}

std::tuple<Tensor&, Tensor&, Tensor&> _native_batch_norm_legit_out(
    const Tensor& input, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
    Tensor& running_mean, Tensor& running_var, bool training, double momentum, double eps, Tensor& out,
    Tensor& save_mean, Tensor& save_invstd) {
  const auto pl = forward_plan(input, get(weight), get(bias), running_mean, running_var, training);
  if (!pl)
    return GF_FALLBACK(input, _native_batch_norm_legit_outf, input, weight, bias, running_mean, running_var,
                       training, momentum, eps, out, save_mean, save_invstd)();
  auto [y, m, s] = forward(*pl, input, get(weight), get(bias), running_mean, running_var, training, momentum, eps);
  into(out, y);
  into(save_mean, m);
  into(save_invstd, s);
  return {out, save_mean, save_invstd};
}

std::tuple<Tensor, Tensor, Tensor> _native_batch_norm_legit_no_stats(const Tensor& input,
                                                                     const std::optional<Tensor>& weight,
                                                                     const std::optional<Tensor>& bias,
                                                                     bool training, double momentum, double eps) {
  const auto pl = forward_plan(input, get(weight), get(bias), Tensor(), Tensor(), training);
  if (!pl)
    return GF_FALLBACK(input, _native_batch_norm_legit, input, weight, bias, training, momentum, eps)();
  return forward(*pl, input, get(weight), get(bias), Tensor(), Tensor(), training, momentum, eps);
}

std::tuple<Tensor&, Tensor&, Tensor&> _native_batch_norm_legit_no_stats_out(
    const Tensor& input, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias, bool training,
    double momentum, double eps, Tensor& out, Tensor& save_mean, Tensor& save_invstd) {
  const auto pl = forward_plan(input, get(weight), get(bias), Tensor(), Tensor(), training);
  if (!pl)
    return GF_FALLBACK(input, _native_batch_norm_legit_outf, input, weight, bias, training, momentum, eps, out,
                       save_mean, save_invstd)();
  auto [y, m, s] = forward(*pl, input, get(weight), get(bias), Tensor(), Tensor(), training, momentum, eps);
  into(out, y);
  into(save_mean, m);
  into(save_invstd, s);
  return {out, save_mean, save_invstd};
}

std::tuple<Tensor, Tensor, Tensor, Tensor> _batch_norm_with_update(const Tensor& input,
                                                                   const std::optional<Tensor>& weight,
                                                                   const std::optional<Tensor>& bias,
                                                                   Tensor& running_mean, Tensor& running_var,
                                                                   double momentum, double eps) {
  const auto pl = forward_plan(input, get(weight), get(bias), running_mean, running_var, true);
  if (!pl)
    return GF_FALLBACK(input, _batch_norm_with_update, input, weight, bias, running_mean, running_var, momentum,
                       eps)();
  auto [y, m, s] = forward(*pl, input, get(weight), get(bias), running_mean, running_var, true, momentum, eps);
  // no cudnn workspace: batch_norm_backward takes the native path
  return {y, m, s, at::empty({0}, input.options().dtype(at::kByte))};
}

std::tuple<Tensor&, Tensor&, Tensor&, Tensor&> _batch_norm_with_update_out(
    const Tensor& input, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
    Tensor& running_mean, Tensor& running_var, double momentum, double eps, Tensor& out, Tensor& save_mean,
    Tensor& save_invstd, Tensor& reserve) {
  const auto pl = forward_plan(input, get(weight), get(bias), running_mean, running_var, true);
  if (!pl)
    return GF_FALLBACK(input, _batch_norm_with_update_outf, input, weight, bias, running_mean, running_var,
                       momentum, eps, out, save_mean, save_invstd, reserve)();
  auto [y, m, s] = forward(*pl, input, get(weight), get(bias), running_mean, running_var, true, momentum, eps);
  into(out, y);
  into(save_mean, m);
  into(save_invstd, s);
  at::native::resize_output(reserve, {0});
  return {out, save_mean, save_invstd, reserve};
}

// torch's own is a CompositeExplicitAutograd kernel that calls its cpu/cuda batch norm directly.
std::tuple<Tensor, Tensor, Tensor, Tensor> _batch_norm_no_update(const Tensor& input,
                                                                 const std::optional<Tensor>& weight,
                                                                 const std::optional<Tensor>& bias,
                                                                 const std::optional<Tensor>& running_mean,
                                                                 const std::optional<Tensor>& running_var,
                                                                 double momentum, double eps) {
  const auto pl = forward_plan(input, get(weight), get(bias), get(running_mean), get(running_var), false);
  if (!pl) {
    reg::note_fallback();
    return at::compositeexplicitautograd::_batch_norm_no_update(input, weight, bias, running_mean, running_var,
                                                                momentum, eps);
  }
  auto [y, m, s] = forward(*pl, input, get(weight), get(bias), get(running_mean), get(running_var), false,
                           momentum, eps);
  return {y, m, s, at::empty({0}, input.options().dtype(at::kByte))};
}

std::tuple<Tensor, Tensor, Tensor> native_batch_norm_backward(
    const Tensor& grad_out, const Tensor& input, const std::optional<Tensor>& weight,
    const std::optional<Tensor>& running_mean, const std::optional<Tensor>& running_var,
    const std::optional<Tensor>& save_mean, const std::optional<Tensor>& save_invstd, bool train, double eps,
    std::array<bool, 3> output_mask) {
  bool served = false;
  auto result = backward(grad_out, input, get(weight), get(running_mean), get(running_var), get(save_mean),
                         get(save_invstd), train, eps, output_mask, &served);
  if (served) return result;
  return GF_FALLBACK(input, native_batch_norm_backward, grad_out, input, weight, running_mean, running_var,
                     save_mean, save_invstd, train, eps, output_mask)();
}

std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(
    const Tensor& grad_out, const Tensor& input, const Tensor& weight, const std::optional<Tensor>& running_mean,
    const std::optional<Tensor>& running_var, const std::optional<Tensor>& save_mean,
    const std::optional<Tensor>& save_var, bool update, double eps, std::array<bool, 3> output_mask,
    const Tensor& reserve) {
  // a non-empty reserve is a cudnn workspace: torch's kernel hands it back to cudnn
  bool served = false;
  std::tuple<Tensor, Tensor, Tensor> result;
  if (!reserve.defined() || reserve.numel() == 0)
    result = backward(grad_out, input, weight, get(running_mean), get(running_var), get(save_mean), get(save_var),
                      update, eps, output_mask, &served);
  if (served) return result;
  return GF_FALLBACK(input, batch_norm_backward, grad_out, input, weight, running_mean, running_var, save_mean,
                     save_var, update, eps, output_mask, reserve)();
}

// torch's cuda kernel for a case we hand back (the rows are cuda-only: never reached in a build
// without the cuda backend).
#ifdef GEMFORGE_WITH_CUDA
#define GF_CUDA_TORCH(fn, ...) at::cuda::fn(__VA_ARGS__)
#else
#define GF_CUDA_TORCH(fn, ...) \
  [&]() -> decltype(at::fn(__VA_ARGS__)) { TORCH_CHECK(false, #fn ": gemforge was built without cuda"); }()
#endif

// Served by the same kernels. The fourth result is cudnn's workspace; ours is empty, which is
// how cudnn_batch_norm_backward tells the two forwards apart. Torch's autograd calls it in
// training only (eval backward is native_batch_norm_backward).
std::tuple<Tensor, Tensor, Tensor, Tensor> cudnn_batch_norm(const Tensor& input, const Tensor& weight,
                                                            const std::optional<Tensor>& bias,
                                                            const std::optional<Tensor>& running_mean,
                                                            const std::optional<Tensor>& running_var, bool training,
                                                            double exponential_average_factor, double epsilon) {
  const auto pl = forward_plan(input, weight, get(bias), get(running_mean), get(running_var), training);
  if (!pl) {
    reg::note_fallback();
    return GF_CUDA_TORCH(cudnn_batch_norm, input, weight, bias, running_mean, running_var, training,
                         exponential_average_factor, epsilon);
  }
  auto [y, m, s] = forward(*pl, input, weight, get(bias), get(running_mean), get(running_var), training,
                           exponential_average_factor, epsilon);
  return {y, m, s, at::empty({0}, input.options().dtype(at::kByte))};
}

std::tuple<Tensor, Tensor, Tensor> cudnn_batch_norm_backward(
    const Tensor& input, const Tensor& grad_output, const Tensor& weight, const std::optional<Tensor>& running_mean,
    const std::optional<Tensor>& running_var, const std::optional<Tensor>& save_mean,
    const std::optional<Tensor>& save_var, double epsilon, const Tensor& reserve) {
  if (reserve.defined() && reserve.numel() > 0) {  // cudnn's own forward ran: cudnn's backward
    reg::note_fallback();
    return GF_CUDA_TORCH(cudnn_batch_norm_backward, input, grad_output, weight, running_mean, running_var,
                         save_mean, save_var, epsilon, reserve);
  }
  bool served = false;
  auto result = backward(grad_output, input, weight, get(running_mean), get(running_var), get(save_mean),
                         get(save_var), true, epsilon, {true, true, true}, &served);
  if (served) return result;
  // Our forward's saved statistics (mean, 1/std) are native batch norm's: its backward takes them.
  reg::note_fallback();
  return GF_CUDA_TORCH(native_batch_norm_backward, grad_output, input, weight, running_mean, running_var,
                       save_mean, save_var, true, epsilon, {true, true, true});
}
#undef GF_CUDA_TORCH

}  // namespace gemforge::ops
