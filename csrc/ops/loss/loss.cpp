// Losses: mse_loss, smooth_l1_loss, huber_loss, binary_cross_entropy, soft_margin_loss (forward,
// out=, backward), binary_cross_entropy_with_logits (forward, out=), nll_loss and nll_loss2d
// (forward, backward). Reduction 'none' and the backward ops run on the pointwise
// engine (broadcasting and type promotion as torch's iterators); mean/sum of dense operands run
// a fused loss-and-reduce kernel (other layouts: the pointwise loss, then torch's mean/sum);
// nll_loss has kernels of its own. Results are deterministic: fixed-order partial sums, no
// atomics.
#include "backends/loss.h"
#include "ops/loss/kernels.h"
#include "ops/ops.h"
#include "ops/pointwise/common.h"

#include <ATen/ATen.h>
#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/native/Resize.h>
#include <c10/core/DeviceGuard.h>

namespace gemforge::ops {
namespace {

using loss::Kind;

#ifdef GEMFORGE_WITH_CUDA
#define GF_LOSS(t, fn, ...) ((t).is_cuda() ? loss::fn##_cuda(__VA_ARGS__) : loss::fn##_cpu(__VA_ARGS__))
#else
#define GF_LOSS(t, fn, ...) loss::fn##_cpu(__VA_ARGS__)
#endif

bool on_backend(const Tensor& t) { return t.is_cpu() || t.is_cuda(); }

// The fused mean/sum into `out` (one element of self's dtype); false when the operands are not
// dense floating tensors of one shape, dtype and device.
bool fused_reduce(Kind kind, const Tensor& self, const Tensor& target, int64_t reduction,
                  double param, const Tensor& out) {
  if (!on_backend(self) || !has(loss::kLossTypes, self.scalar_type()) ||
      target.scalar_type() != self.scalar_type() || target.device() != self.device() ||
      out.scalar_type() != self.scalar_type() || out.device() != self.device() ||
      !self.sizes().equals(target.sizes()) || !self.is_contiguous() || !target.is_contiguous() ||
      self.is_conj() || self.is_neg() || target.is_neg() || out.numel() != 1)
    return false;
  c10::OptionalDeviceGuard guard;
  if (self.is_cuda()) guard.reset_device(self.device());
  loss::Reduce r{kind, self.scalar_type(), self.const_data_ptr(), target.const_data_ptr(),
                 out.data_ptr(), self.numel(), param, reduction == at::Reduction::Mean};
  GF_LOSS(self, reduce, r);
  return true;
}

// Forward of a pointwise loss into `out` (undefined: allocated); undefined when no kernel
// serves it.
Tensor pointwise_forward(Kind kind, const pw::Kernel& k, const Tensor& self, const Tensor& target,
                         int64_t reduction, double param, const Tensor& out) {
  // Mixed dtypes: torch's result dtype differs from op to op (mse promotes, huber keeps self's).
  if (self.scalar_type() != target.scalar_type()) return Tensor();
  if (reduction == at::Reduction::None) {
    if (!out.defined()) {
      Tensor r = pw::run_dense(IterKind::binary, Tensor(), {self, target}, k, {Scalar(param)});
      return r.defined() ? r : pw::run(IterKind::binary, Tensor(), {self, target}, k, {Scalar(param)});
    }
    return pw::run(IterKind::binary, out, {self, target}, k, {Scalar(param)});
  }
  Tensor result = out;
  if (!result.defined()) {
    result = at::empty({}, self.options());
  } else {
    if (result.scalar_type() != self.scalar_type() || result.device() != self.device()) return Tensor();
    at::native::resize_output(result, {});
  }
  if (fused_reduce(kind, self, target, reduction, param, result)) return result;
  Tensor unreduced = pw::run(IterKind::binary, Tensor(), {self, target}, k, {Scalar(param)});
  if (!unreduced.defined()) return Tensor();
  if (reduction == at::Reduction::Mean) at::mean_out(result, unreduced, at::IntArrayRef{});
  else at::sum_out(result, unreduced, at::IntArrayRef{});
  return result;
}

// grad_input (undefined: like self) = the pointwise gradient over (grad, self, target).
Tensor pointwise_backward(const pw::Kernel& k, const Tensor& grad, const Tensor& self,
                          const Tensor& target, double norm, double param, const Tensor& grad_input) {
  Tensor out = grad_input.defined() ? grad_input : at::empty_like(self, at::MemoryFormat::Preserve);
  at::TensorIteratorConfig config;
  config.add_output(out)
      .promote_inputs_to_common_dtype(true)
      .cast_common_dtype_to_outputs(true)
      .enforce_safe_casting_to_output(true)
      .add_const_input(grad)
      .add_const_input(self)
      .add_const_input(target);
  at::TensorIterator iter = config.build();
  return pw::run(iter, k, {Scalar(norm), Scalar(param)}) ? iter.output() : Tensor();
}

double grad_norm(int64_t reduction, const Tensor& self, double factor) {
  return reduction == at::Reduction::Mean ? factor / static_cast<double>(self.numel()) : factor;
}

void check_beta(double beta) {
  TORCH_CHECK(beta >= 0, "smooth_l1_loss does not support negative values for beta.");
}
void check_delta(double delta) {
  TORCH_CHECK(delta > 0, "huber_loss does not support non-positive values for delta.")
}

}  // namespace

// ---- mse_loss ------------------------------------------------------------------------------------
Tensor mse_loss(const Tensor& self, const Tensor& target, int64_t reduction) {
  Tensor r = pointwise_forward(Kind::mse, K<kernels::mse_forward>, self, target, reduction, 0.0, Tensor());
  return r.defined() ? r : GF_FALLBACK(self, mse_loss, self, target, reduction)();
}
Tensor& mse_loss_out(const Tensor& self, const Tensor& target, int64_t reduction, Tensor& out) {
  if (pointwise_forward(Kind::mse, K<kernels::mse_forward>, self, target, reduction, 0.0, out).defined())
    return out;
  return GF_FALLBACK(self, mse_loss_outf, self, target, reduction, out)();
}
Tensor mse_loss_backward(const Tensor& grad, const Tensor& self, const Tensor& target, int64_t reduction) {
  Tensor r = pointwise_backward(K<kernels::mse_backward>, grad, self, target,
                                grad_norm(reduction, self, 2.0), 0.0, Tensor());
  return r.defined() ? r : GF_FALLBACK(self, mse_loss_backward, grad, self, target, reduction)();
}
Tensor& mse_loss_backward_out(const Tensor& grad, const Tensor& self, const Tensor& target,
                              int64_t reduction, Tensor& grad_input) {
  if (pointwise_backward(K<kernels::mse_backward>, grad, self, target, grad_norm(reduction, self, 2.0),
                         0.0, grad_input).defined())
    return grad_input;
  return GF_FALLBACK(self, mse_loss_backward_outf, grad, self, target, reduction, grad_input)();
}

// ---- smooth_l1_loss (beta 0: torch's l1 road), huber_loss ----------------------------------------
Tensor smooth_l1_loss(const Tensor& self, const Tensor& target, int64_t reduction, double beta) {
  check_beta(beta);
  Tensor r = beta > 0 ? pointwise_forward(Kind::smooth_l1, K<kernels::smooth_l1_forward>, self,
                                          target, reduction, beta, Tensor())
                      : Tensor();
  return r.defined() ? r : GF_FALLBACK(self, smooth_l1_loss, self, target, reduction, beta)();
}
Tensor& smooth_l1_loss_out(const Tensor& self, const Tensor& target, int64_t reduction, double beta,
                           Tensor& out) {
  check_beta(beta);
  if (beta > 0 && pointwise_forward(Kind::smooth_l1, K<kernels::smooth_l1_forward>, self, target,
                                    reduction, beta, out).defined())
    return out;
  return GF_FALLBACK(self, smooth_l1_loss_outf, self, target, reduction, beta, out)();
}
Tensor& smooth_l1_loss_backward_out(const Tensor& grad, const Tensor& self, const Tensor& target,
                                    int64_t reduction, double beta, Tensor& grad_input) {
  if (beta > 0 && pointwise_backward(K<kernels::smooth_l1_backward>, grad, self, target,
                                     grad_norm(reduction, self, 1.0), beta, grad_input).defined())
    return grad_input;
  return GF_FALLBACK(self, smooth_l1_loss_backward_outf, grad, self, target, reduction, beta, grad_input)();
}

Tensor huber_loss(const Tensor& self, const Tensor& target, int64_t reduction, double delta) {
  check_delta(delta);
  Tensor r = pointwise_forward(Kind::huber, K<kernels::huber_forward>, self, target, reduction,
                               delta, Tensor());
  return r.defined() ? r : GF_FALLBACK(self, huber_loss, self, target, reduction, delta)();
}
Tensor& huber_loss_out(const Tensor& self, const Tensor& target, int64_t reduction, double delta,
                       Tensor& out) {
  check_delta(delta);
  if (pointwise_forward(Kind::huber, K<kernels::huber_forward>, self, target, reduction, delta, out).defined())
    return out;
  return GF_FALLBACK(self, huber_loss_outf, self, target, reduction, delta, out)();
}
Tensor& huber_loss_backward_out(const Tensor& grad, const Tensor& self, const Tensor& target,
                                int64_t reduction, double delta, Tensor& grad_input) {
  if (pointwise_backward(K<kernels::huber_backward>, grad, self, target,
                         grad_norm(reduction, self, 1.0), delta, grad_input).defined())
    return grad_input;
  return GF_FALLBACK(self, huber_loss_backward_outf, grad, self, target, reduction, delta, grad_input)();
}

// ---- nll_loss, nll_loss2d --------------------------------------------------------------------------
namespace {

// self viewed as [N, C, S], target as [N, S] (torch's checks first).
struct NllShape {
  int64_t N, C, S;
  bool batched;  // output of reduction 'none': [N] / [N, H, W] (else 0-d)
};

NllShape nll_shape(const Tensor& self, const Tensor& target, const std::optional<Tensor>& weight,
                   bool spatial) {
  if (!spatial) {
    TORCH_CHECK(self.dim() > 0 && self.dim() <= 2, "input tensor should be 1D or 2D");
    TORCH_CHECK(target.dim() <= 1, "0D or 1D target tensor expected, multi-target not supported");
    const bool no_batch = self.dim() == 1 && target.dim() == 0;
    TORCH_CHECK(no_batch || self.size(0) == target.size(0), "size mismatch (got input: ",
                self.sizes(), ", target: ", target.sizes(), ")");
  } else {
    TORCH_CHECK(target.dim() == 3, "only batches of spatial targets supported (3D tensors) but got "
                "targets of dimension: ", target.dim());
    TORCH_CHECK(self.dim() == 4, "only batches of spatial inputs supported (4D tensors), but got "
                "input of dimension: ", self.dim());
    TORCH_CHECK(self.size(0) == target.size(0) && self.size(2) == target.size(1) &&
                    self.size(3) == target.size(2),
                "size mismatch (got input: ", self.sizes(), " , target: ", target.sizes());
  }
  const int64_t C = self.size(spatial ? 1 : -1);
  const Tensor* w = weight && weight->defined() ? &*weight : nullptr;
  TORCH_CHECK(!w || (w->dim() == 1 && w->numel() == C), "weight tensor should be defined either for all ",
              C, " classes or no classes but got weight tensor of shape: ", w ? w->sizes() : at::IntArrayRef{});
  if (spatial) return {self.size(0), C, self.size(2) * self.size(3), true};
  return {self.dim() == 2 ? self.size(0) : 1, C, 1, self.dim() == 2};
}

bool nll_served(const Tensor& self, const Tensor& target, const std::optional<Tensor>& weight) {
  const bool w_ok = !weight || !weight->defined() ||
                    (weight->scalar_type() == self.scalar_type() && weight->device() == self.device());
  return on_backend(self) && has(loss::kLossTypes, self.scalar_type()) &&
         target.scalar_type() == ScalarType::Long && target.device() == self.device() && w_ok &&
         !self.is_conj() && !self.is_neg();
}

// torch's cpu check of the targets (cuda kernels assert on the device, as torch's do).
void check_targets(const Tensor& target, int64_t C, int64_t ignore_index) {
  if (!target.is_cpu() || target.numel() == 0) return;
  const Tensor t = target.contiguous();
  const int64_t* p = t.const_data_ptr<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (p[i] == ignore_index) continue;
    TORCH_CHECK_INDEX(p[i] >= 0 && p[i] < C, "Target ", p[i], " is out of bounds.");
  }
}

Tensor contiguous_weight(const std::optional<Tensor>& weight) {
  return weight && weight->defined() ? weight->contiguous() : Tensor();
}

// output, total_weight: allocated (undefined) or given (resized); false: not served.
bool nll_forward_into(const Tensor& self, const Tensor& target, const std::optional<Tensor>& weight,
                      int64_t reduction, int64_t ignore_index, bool spatial, Tensor& output,
                      Tensor& total_weight) {
  const NllShape shape = nll_shape(self, target, weight, spatial);
  if (!nll_served(self, target, weight)) return false;
  const bool none = reduction == at::Reduction::None && shape.batched;
  std::vector<int64_t> out_sizes;
  if (none) out_sizes = spatial ? std::vector<int64_t>{shape.N, self.size(2), self.size(3)}
                                : std::vector<int64_t>{shape.N};
  if (output.defined()) {
    if (output.scalar_type() != self.scalar_type() || total_weight.scalar_type() != self.scalar_type() ||
        output.device() != self.device() || total_weight.device() != self.device())
      return false;
    at::native::resize_output(output, out_sizes);
    at::native::resize_output(total_weight, {});
  } else {
    output = at::empty(out_sizes, self.options());
    total_weight = at::empty({}, self.options());
  }
  check_targets(target, shape.C, ignore_index);
  const Tensor in = self.contiguous(), tgt = target.contiguous(), w = contiguous_weight(weight);
  Tensor dest = output.is_contiguous() ? output : at::empty(out_sizes, self.options());
  c10::OptionalDeviceGuard guard;
  if (self.is_cuda()) guard.reset_device(self.device());
  loss::Nll p{self.scalar_type(), in.const_data_ptr(), tgt.const_data_ptr<int64_t>(),
              w.defined() ? w.const_data_ptr() : nullptr, dest.data_ptr(), total_weight.data_ptr(),
              shape.N, shape.C, shape.S, ignore_index,
              none ? loss::kNone : reduction == at::Reduction::Mean ? loss::kMean : loss::kSum};
  GF_LOSS(self, nll_forward, p);
  if (!dest.is_same(output)) output.copy_(dest);
  return true;
}

bool nll_backward_into(const Tensor& grad, const Tensor& self, const Tensor& target,
                       const std::optional<Tensor>& weight, int64_t reduction, int64_t ignore_index,
                       const Tensor& total_weight, bool spatial, Tensor& grad_input) {
  const NllShape shape = nll_shape(self, target, weight, spatial);
  const bool none = reduction == at::Reduction::None && shape.batched;
  if (none) {
    const bool ok = spatial ? grad.dim() == 3 && grad.size(0) == shape.N && grad.size(1) == self.size(2) &&
                                  grad.size(2) == self.size(3)
                            : grad.dim() == 1 && grad.size(0) == shape.N;
    TORCH_CHECK(ok, "Expected a tensor of dimension ", spatial ? 3 : 1, " and tensor.size[0] == ",
                shape.N, " but got: dimension ", grad.dim(), " and tensor.size[0] == ",
                grad.dim() > 0 ? grad.size(0) : 0);
  } else {
    TORCH_CHECK(grad.dim() <= 1 && grad.numel() == 1,
                "Expected a single element grad_output tensor, but got: ", grad.sizes());
  }
  TORCH_CHECK(total_weight.numel() == 1, "expected total_weight to be a single element tensor, got: ",
              total_weight.sizes(), " (", total_weight.numel(), " elements)");
  if (!nll_served(self, target, weight) || grad.scalar_type() != self.scalar_type() ||
      total_weight.scalar_type() != self.scalar_type() || grad.device() != self.device() ||
      total_weight.device() != self.device())
    return false;
  if (grad_input.defined()) {
    if (grad_input.scalar_type() != self.scalar_type() || grad_input.device() != self.device()) return false;
    at::native::resize_output(grad_input, self.sizes());
  } else {
    grad_input = at::empty(self.sizes(), self.options());
  }
  check_targets(target, shape.C, ignore_index);
  const Tensor g = grad.contiguous(), tgt = target.contiguous(), w = contiguous_weight(weight),
               tw = total_weight.contiguous();
  Tensor dest = grad_input.is_contiguous() ? grad_input : at::empty(self.sizes(), self.options());
  c10::OptionalDeviceGuard guard;
  if (self.is_cuda()) guard.reset_device(self.device());
  loss::NllBackward p{self.scalar_type(), g.const_data_ptr(), tgt.const_data_ptr<int64_t>(),
                      w.defined() ? w.const_data_ptr() : nullptr, tw.const_data_ptr(), dest.data_ptr(),
                      shape.N, shape.C, shape.S, ignore_index,
                      none ? loss::kNone : reduction == at::Reduction::Mean ? loss::kMean : loss::kSum};
  if (dest.numel() > 0) GF_LOSS(self, nll_backward, p);
  if (!dest.is_same(grad_input)) grad_input.copy_(dest);
  return true;
}

}  // namespace

#define GF_NLL_FORMS(name, spatial)                                                                \
  std::tuple<Tensor, Tensor> name##_forward(const Tensor& self, const Tensor& target,             \
                                            const std::optional<Tensor>& weight, int64_t reduction, \
                                            c10::SymInt ignore_index) {                             \
    Tensor output, total_weight;                                                                   \
    if (nll_forward_into(self, target, weight, reduction, ignore_index.expect_int(), spatial,     \
                         output, total_weight))                                                    \
      return {output, total_weight};                                                               \
    return GF_FALLBACK(self, name##_forward, self, target, weight, reduction, ignore_index.expect_int())(); \
  }                                                                                                \
  std::tuple<Tensor&, Tensor&> name##_forward_out(const Tensor& self, const Tensor& target,       \
                                                  const std::optional<Tensor>& weight,             \
                                                  int64_t reduction, c10::SymInt ignore_index,     \
                                                  Tensor& output, Tensor& total_weight) {          \
    if (!nll_forward_into(self, target, weight, reduction, ignore_index.expect_int(), spatial,    \
                          output, total_weight))                                                   \
      GF_FALLBACK(self, name##_forward_outf, self, target, weight, reduction,                      \
                  ignore_index.expect_int(), output, total_weight)();                              \
    return {output, total_weight};                                                                 \
  }                                                                                                \
  Tensor name##_backward(const Tensor& grad, const Tensor& self, const Tensor& target,            \
                         const std::optional<Tensor>& weight, int64_t reduction,                   \
                         c10::SymInt ignore_index, const Tensor& total_weight) {                   \
    Tensor grad_input;                                                                             \
    if (nll_backward_into(grad, self, target, weight, reduction, ignore_index.expect_int(),       \
                          total_weight, spatial, grad_input))                                      \
      return grad_input;                                                                           \
    return GF_FALLBACK(self, name##_backward, grad, self, target, weight, reduction,               \
                       ignore_index.expect_int(), total_weight)();                                 \
  }                                                                                                \
  Tensor& name##_backward_out(const Tensor& grad, const Tensor& self, const Tensor& target,       \
                              const std::optional<Tensor>& weight, int64_t reduction,              \
                              c10::SymInt ignore_index, const Tensor& total_weight,                \
                              Tensor& grad_input) {                                                \
    if (nll_backward_into(grad, self, target, weight, reduction, ignore_index.expect_int(),       \
                          total_weight, spatial, grad_input))                                      \
      return grad_input;                                                                           \
    return GF_FALLBACK(self, name##_backward_outf, grad, self, target, weight, reduction,           \
                       ignore_index.expect_int(), total_weight, grad_input)();                     \
  }
GF_NLL_FORMS(nll_loss, false)
GF_NLL_FORMS(nll_loss2d, true)
#undef GF_NLL_FORMS

// ---- binary_cross_entropy, binary_cross_entropy_with_logits, soft_margin_loss --------------------
// Served where every operand has self's dtype and device, the target self's shape (soft_margin:
// broadcasting to it) and the weights broadcast to self's shape; torch serves the rest (its
// errors included). Reduction 'none' and the weighted forms run one pointwise kernel over all
// operands; an unweighted mean/sum of dense operands runs the fused loss-and-reduce kernel.
namespace {

bool like_self(const Tensor& t, const Tensor& self) {
  return t.scalar_type() == self.scalar_type() && t.device() == self.device();
}

// t broadcasts to self's shape (without growing it).
bool broadcasts_to(const Tensor& t, const Tensor& self) {
  if (t.dim() > self.dim()) return false;
  for (int64_t i = 1; i <= t.dim(); ++i)
    if (t.size(-i) != 1 && t.size(-i) != self.size(-i)) return false;
  return true;
}

// An optional weight as a loss operand: the weight, or a wrapped 1 when there is none;
// undefined when gemforge does not serve it.
Tensor weight_operand(const std::optional<Tensor>& weight, const Tensor& self) {
  if (!weight || !weight->defined()) return wrap(Scalar(1.0));
  return like_self(*weight, self) && broadcasts_to(*weight, self) ? *weight : Tensor();
}

bool has_weight(const std::optional<Tensor>& weight) { return weight && weight->defined(); }

// The pointwise loss over `inputs` (self first) into `dest`, which has self's shape.
bool run_loss(const pw::Kernel& k, const Tensor& dest, std::initializer_list<Tensor> inputs,
              const Args& args) {
  at::TensorIteratorConfig config;
  // an absent weight is a cpu scalar (1.0), taken on any device
  config.add_output(dest).promote_inputs_to_common_dtype(true).resize_outputs(false).allow_cpu_scalars(true);
  for (const Tensor& t : inputs) config.add_const_input(t);
  at::TensorIterator iter = config.build();
  return pw::run(iter, k, args);
}

// Forward of a loss over `inputs` (self, target, weights: all of self's dtype and device,
// broadcasting to self) into `out` (undefined: allocated). `fused`: no weights, so the
// fused mean/sum of `kind` applies. Undefined when not served.
Tensor loss_forward(Kind kind, const pw::Kernel& k, std::initializer_list<Tensor> inputs, bool fused,
                    int64_t reduction, const Tensor& out) {
  const Tensor& self = *inputs.begin();
  const Tensor& target = *(inputs.begin() + 1);
  if (!on_backend(self) || !has(loss::kLossTypes, self.scalar_type())) return Tensor();
  if (out.defined() && !like_self(out, self)) return Tensor();
  const Args args{Scalar(0.0)};
  if (reduction == at::Reduction::None) {
    if (!out.defined() && inputs.size() == 2) {
      Tensor r = pw::run_dense(IterKind::binary, Tensor(), inputs, k, args);
      if (r.defined()) return r;
    }
    Tensor result = out;
    if (result.defined()) at::native::resize_output(result, self.sizes());
    else result = at::empty_like(self, at::MemoryFormat::Preserve);
    return run_loss(k, result, inputs, args) ? result : Tensor();
  }
  // torch resizes a given out to 0-d without a warning
  Tensor result = out.defined() ? out : at::empty({}, self.options());
  if (out.defined()) result.resize_({});
  if (fused && fused_reduce(kind, self, target, reduction, 0.0, result)) return result;
  Tensor unreduced = at::empty_like(self, at::MemoryFormat::Contiguous);
  if (!run_loss(k, unreduced, inputs, args)) return Tensor();
  if (reduction == at::Reduction::Mean) at::mean_out(result, unreduced, at::IntArrayRef{});
  else at::sum_out(result, unreduced, at::IntArrayRef{});
  return result;
}

// torch's cpu kernel checks both operands of binary_cross_entropy (its cuda kernel asserts the
// input on the device; gemforge's does not).
void check_probabilities(const Tensor& self, const Tensor& target) {
  if (!self.is_cpu()) return;
  auto in_range = [](const Tensor& t) { return at::logical_and(t >= 0, t <= 1).all().item<bool>(); };
  TORCH_CHECK(in_range(self), "all elements of input should be between 0 and 1");
  TORCH_CHECK(in_range(target), "all elements of target should be between 0 and 1");
}

Tensor bce_into(const Tensor& self, const Tensor& target, const std::optional<Tensor>& weight,
                int64_t reduction, const Tensor& out) {
  if (!like_self(target, self) || !target.sizes().equals(self.sizes())) return Tensor();
  // torch's out= squeezes its output: only an out of self's shape gets torch's plain result.
  if (out.defined() && !out.sizes().equals(self.sizes())) return Tensor();
  const Tensor w = weight_operand(weight, self);
  if (!w.defined() || !on_backend(self) || !has(loss::kLossTypes, self.scalar_type())) return Tensor();
  check_probabilities(self, target);
  if (!has_weight(weight)) return loss_forward(Kind::bce, K<kernels::bce_forward>, {self, target}, true, reduction, out);
  return loss_forward(Kind::bce, K<kernels::bce_forward_weighted>, {self, target, w}, false, reduction, out);
}

Tensor bce_backward_into(const Tensor& grad, const Tensor& self, const Tensor& target,
                         const std::optional<Tensor>& weight, int64_t reduction, const Tensor& grad_input) {
  if (!on_backend(self) || !has(loss::kLossTypes, self.scalar_type()) || !like_self(target, self) ||
      !target.sizes().equals(self.sizes()) || !like_self(grad, self) || !broadcasts_to(grad, self))
    return Tensor();
  if (grad_input.defined() && (!like_self(grad_input, self) || !grad_input.sizes().equals(self.sizes())))
    return Tensor();
  const Tensor w = weight_operand(weight, self);
  if (!w.defined()) return Tensor();
  Tensor result = grad_input.defined() ? grad_input : at::empty_like(self, at::MemoryFormat::Preserve);
  const Args args{Scalar(grad_norm(reduction, self, 1.0))};
  const bool done = has_weight(weight)
                        ? run_loss(K<kernels::bce_backward_weighted>, result, {grad, self, target, w}, args)
                        : run_loss(K<kernels::bce_backward>, result, {grad, self, target}, args);
  return done ? result : Tensor();
}

Tensor bce_logits_into(const Tensor& self, const Tensor& target, const std::optional<Tensor>& weight,
                       const std::optional<Tensor>& pos_weight, int64_t reduction, const Tensor& out) {
  if (!like_self(target, self) || !target.sizes().equals(self.sizes())) return Tensor();
  const Tensor w = weight_operand(weight, self), pw = weight_operand(pos_weight, self);
  if (!w.defined() || !pw.defined()) return Tensor();
  if (!has_weight(weight) && !has_weight(pos_weight))
    return loss_forward(Kind::bce_logits, K<kernels::bce_logits_forward>, {self, target}, true, reduction, out);
  return loss_forward(Kind::bce_logits, K<kernels::bce_logits_forward_weighted>, {self, target, w, pw}, false,
                      reduction, out);
}

Tensor soft_margin_into(const Tensor& self, const Tensor& target, int64_t reduction, const Tensor& out) {
  if (!like_self(target, self) || !broadcasts_to(target, self)) return Tensor();
  return loss_forward(Kind::soft_margin, K<kernels::soft_margin_forward>, {self, target}, true,
                      reduction, out);
}

Tensor soft_margin_backward_into(const Tensor& grad, const Tensor& self, const Tensor& target,
                                 int64_t reduction, const Tensor& grad_input) {
  if (!on_backend(self) || !has(loss::kLossTypes, self.scalar_type()) || !like_self(target, self) ||
      !broadcasts_to(target, self) || !like_self(grad, self) || !broadcasts_to(grad, self))
    return Tensor();
  return pointwise_backward(K<kernels::soft_margin_backward>, grad, self, target,
                            grad_norm(reduction, self, 1.0), 0.0, grad_input);
}

}  // namespace

Tensor binary_cross_entropy(const Tensor& self, const Tensor& target, const std::optional<Tensor>& weight,
                            int64_t reduction) {
  Tensor r = bce_into(self, target, weight, reduction, Tensor());
  return r.defined() ? r : GF_FALLBACK(self, binary_cross_entropy, self, target, weight, reduction)();
}
Tensor& binary_cross_entropy_out(const Tensor& self, const Tensor& target,
                                 const std::optional<Tensor>& weight, int64_t reduction, Tensor& out) {
  if (bce_into(self, target, weight, reduction, out).defined()) return out;
  return GF_FALLBACK(self, binary_cross_entropy_outf, self, target, weight, reduction, out)();
}
Tensor binary_cross_entropy_backward(const Tensor& grad, const Tensor& self, const Tensor& target,
                                     const std::optional<Tensor>& weight, int64_t reduction) {
  Tensor r = bce_backward_into(grad, self, target, weight, reduction, Tensor());
  return r.defined() ? r
                     : GF_FALLBACK(self, binary_cross_entropy_backward, grad, self, target, weight, reduction)();
}
Tensor& binary_cross_entropy_backward_out(const Tensor& grad, const Tensor& self, const Tensor& target,
                                          const std::optional<Tensor>& weight, int64_t reduction,
                                          Tensor& grad_input) {
  if (bce_backward_into(grad, self, target, weight, reduction, grad_input).defined()) return grad_input;
  return GF_FALLBACK(self, binary_cross_entropy_backward_outf, grad, self, target, weight, reduction,
                     grad_input)();
}

Tensor binary_cross_entropy_with_logits(const Tensor& self, const Tensor& target,
                                        const std::optional<Tensor>& weight,
                                        const std::optional<Tensor>& pos_weight, int64_t reduction) {
  Tensor r = bce_logits_into(self, target, weight, pos_weight, reduction, Tensor());
  return r.defined() ? r
                     : GF_FALLBACK_TO(at::compositeexplicitautograd::binary_cross_entropy_with_logits(
                           self, target, weight, pos_weight, reduction))();
}
Tensor& binary_cross_entropy_with_logits_out(const Tensor& self, const Tensor& target,
                                             const std::optional<Tensor>& weight,
                                             const std::optional<Tensor>& pos_weight, int64_t reduction,
                                             Tensor& out) {
  if (bce_logits_into(self, target, weight, pos_weight, reduction, out).defined()) return out;
  return GF_FALLBACK_TO(at::compositeexplicitautograd::binary_cross_entropy_with_logits_outf(
      self, target, weight, pos_weight, reduction, out))();
}

Tensor soft_margin_loss(const Tensor& self, const Tensor& target, int64_t reduction) {
  Tensor r = soft_margin_into(self, target, reduction, Tensor());
  return r.defined() ? r
                     : GF_FALLBACK_TO(at::compositeexplicitautograd::soft_margin_loss(self, target, reduction))();
}
Tensor& soft_margin_loss_out(const Tensor& self, const Tensor& target, int64_t reduction, Tensor& out) {
  if (soft_margin_into(self, target, reduction, out).defined()) return out;
  return GF_FALLBACK_TO(at::compositeexplicitautograd::soft_margin_loss_outf(self, target, reduction, out))();
}
Tensor soft_margin_loss_backward(const Tensor& grad, const Tensor& self, const Tensor& target,
                                 int64_t reduction) {
  Tensor r = soft_margin_backward_into(grad, self, target, reduction, Tensor());
  return r.defined() ? r
                     : GF_FALLBACK_TO(at::compositeexplicitautograd::soft_margin_loss_backward(
                           grad, self, target, reduction))();
}
Tensor& soft_margin_loss_backward_out(const Tensor& grad, const Tensor& self, const Tensor& target,
                                      int64_t reduction, Tensor& grad_input) {
  if (soft_margin_backward_into(grad, self, target, reduction, grad_input).defined()) return grad_input;
  return GF_FALLBACK_TO(at::compositeexplicitautograd::soft_margin_loss_backward_outf(
      grad, self, target, reduction, grad_input))();
}

}  // namespace gemforge::ops
