// The CTC loss: _ctc_loss (per-entry negative log-likelihood and the alpha table) and its
// backward, which torch.nn.functional.ctc_loss reaches through torch's composite (the reduction
// and zero_infinity there). gemforge's cpu kernels (backends/ctc.h); every call they do not take
// (cuda, other dtypes, lengths or labels out of range, malformed shapes) goes to torch's own
// kernel, whose checks then raise torch's errors.
#include "ops/loss/ctc.h"

#include "backends/ctc.h"
#include "ops/plain.h"
#include "registry/calls.h"

#include <ATen/ATen.h>
#include <ATen/CPUFunctions.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/CUDAFunctions.h>
#endif

#include <optional>
#include <vector>

namespace gemforge::ops {
namespace {

#ifdef GEMFORGE_WITH_CUDA
#define GF_CTC_TORCH(t, fn, ...) ((t).is_cuda() ? at::cuda::fn(__VA_ARGS__) : at::cpu::fn(__VA_ARGS__))
#else
#define GF_CTC_TORCH(t, fn, ...) at::cpu::fn(__VA_ARGS__)
#endif

bool plain_cpu(const Tensor& t) { return plain(t) && t.is_cpu(); }

// A call as the kernels take it, with its tensors made dense; none where torch's kernel must
// answer: log_probs (T, B, C) float or double, targets int32/int64 of one dim (concatenated) or
// two (padded), a length of each kind per entry within range, every used label in [0, C).
struct Plan {
  Tensor log_probs, targets;
  std::vector<int64_t> offsets, input_lengths, target_lengths;
  ctc::Problem problem{};
};

std::optional<Plan> plan(const Tensor& log_probs, const Tensor& targets, at::IntArrayRef input_lengths,
                         at::IntArrayRef target_lengths, int64_t blank) {
  if (!plain_cpu(log_probs) || !plain_cpu(targets) || log_probs.dim() != 3 ||
      !has(ctc::kTypes, log_probs.scalar_type()) ||
      (targets.scalar_type() != at::kLong && targets.scalar_type() != at::kInt) ||
      (targets.dim() != 1 && targets.dim() != 2))
    return std::nullopt;
  const int64_t T = log_probs.size(0), B = log_probs.size(1), C = log_probs.size(2);
  if (blank < 0 || blank >= C || int64_t(input_lengths.size()) != B || int64_t(target_lengths.size()) != B ||
      (targets.dim() == 2 && targets.size(0) != B))
    return std::nullopt;
  Plan p;
  p.targets = targets.to(at::kLong).contiguous();
  const int64_t* labels = p.targets.const_data_ptr<int64_t>();
  int64_t position = 0, max_target_length = targets.dim() == 2 ? targets.size(1) : 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t il = input_lengths[b], tl = target_lengths[b];
    if (il < 0 || il > T || tl < 0) return std::nullopt;
    const int64_t start = targets.dim() == 2 ? b * targets.size(1) : position;
    if (targets.dim() == 2 ? tl > targets.size(1) : position + tl > targets.numel()) return std::nullopt;
    for (int64_t k = 0; k < tl; ++k)
      if (labels[start + k] < 0 || labels[start + k] >= C) return std::nullopt;
    p.offsets.push_back(start);
    position += tl;
    if (targets.dim() == 1) max_target_length = std::max(max_target_length, tl);
  }
  p.log_probs = log_probs.contiguous();
  p.input_lengths.assign(input_lengths.begin(), input_lengths.end());
  p.target_lengths.assign(target_lengths.begin(), target_lengths.end());
  p.problem = {log_probs.scalar_type(), p.log_probs.const_data_ptr(), T, B, C, blank, labels, p.offsets.data(),
               1, p.input_lengths.data(), p.target_lengths.data(), max_target_length};
  return p;
}

// torch's conversion of tensor lengths (its .Tensor overloads): integral, to int64 on the host.
std::optional<std::vector<int64_t>> host_lengths(const Tensor& lengths) {
  if (!at::isIntegralType(lengths.scalar_type(), /*includeBool=*/false) || lengths.dim() > 1) return std::nullopt;
  const Tensor host = lengths.to(at::kCPU, at::kLong).contiguous();
  return std::vector<int64_t>(host.const_data_ptr<int64_t>(), host.const_data_ptr<int64_t>() + host.numel());
}

}  // namespace

std::tuple<Tensor, Tensor> ctc_loss_forward(const Tensor& log_probs, const Tensor& targets,
                                            at::IntArrayRef input_lengths, at::IntArrayRef target_lengths,
                                            int64_t blank, bool zero_infinity) {
  std::optional<Plan> p = plan(log_probs, targets, input_lengths, target_lengths, blank);
  if (!p) {
    reg::note_fallback();
    return GF_CTC_TORCH(log_probs, _ctc_loss, log_probs, targets, input_lengths, target_lengths, blank,
                        zero_infinity);
  }
  const ctc::Problem& q = p->problem;
  Tensor nll = at::empty({q.B}, log_probs.options());
  Tensor log_alpha = at::empty({q.B, q.T, 2 * q.max_target_length + 1}, log_probs.options());
  ctc::forward_cpu(q, nll.data_ptr(), log_alpha.data_ptr());
  return {nll, log_alpha};
}

std::tuple<Tensor, Tensor> ctc_loss_forward_tensor(const Tensor& log_probs, const Tensor& targets,
                                                   const Tensor& input_lengths, const Tensor& target_lengths,
                                                   int64_t blank, bool zero_infinity) {
  const auto il = host_lengths(input_lengths), tl = host_lengths(target_lengths);
  if (!il || !tl) {
    reg::note_fallback();
    return GF_CTC_TORCH(log_probs, _ctc_loss, log_probs, targets, input_lengths, target_lengths, blank,
                        zero_infinity);
  }
  return ctc_loss_forward(log_probs, targets, *il, *tl, blank, zero_infinity);
}

Tensor ctc_loss_backward(const Tensor& grad, const Tensor& log_probs, const Tensor& targets,
                         at::IntArrayRef input_lengths, at::IntArrayRef target_lengths,
                         const Tensor& neg_log_likelihood, const Tensor& log_alpha, int64_t blank,
                         bool zero_infinity) {
  std::optional<Plan> p = plan(log_probs, targets, input_lengths, target_lengths, blank);
  const auto dtype = log_probs.scalar_type();
  const bool served = p && plain_cpu(grad) && plain_cpu(neg_log_likelihood) && plain_cpu(log_alpha) &&
                      grad.scalar_type() == dtype && neg_log_likelihood.scalar_type() == dtype &&
                      log_alpha.scalar_type() == dtype && grad.numel() == p->problem.B &&
                      neg_log_likelihood.numel() == p->problem.B &&
                      log_alpha.sizes().equals({p->problem.B, p->problem.T, 2 * p->problem.max_target_length + 1});
  if (!served) {
    reg::note_fallback();
    return GF_CTC_TORCH(log_probs, _ctc_loss_backward, grad, log_probs, targets, input_lengths, target_lengths,
                        neg_log_likelihood, log_alpha, blank, zero_infinity);
  }
  const Tensor g = grad.reshape({-1}).contiguous(), nll = neg_log_likelihood.contiguous(),
               alpha = log_alpha.contiguous();
  Tensor out = at::empty(log_probs.sizes(), log_probs.options());
  ctc::backward_cpu(p->problem, g.const_data_ptr(), nll.const_data_ptr(), alpha.const_data_ptr(), zero_infinity,
                    out.data_ptr());
  return out;
}

Tensor ctc_loss_backward_tensor(const Tensor& grad, const Tensor& log_probs, const Tensor& targets,
                                const Tensor& input_lengths, const Tensor& target_lengths,
                                const Tensor& neg_log_likelihood, const Tensor& log_alpha, int64_t blank,
                                bool zero_infinity) {
  const auto il = host_lengths(input_lengths), tl = host_lengths(target_lengths);
  if (!il || !tl) {
    reg::note_fallback();
    return GF_CTC_TORCH(log_probs, _ctc_loss_backward, grad, log_probs, targets, input_lengths, target_lengths,
                        neg_log_likelihood, log_alpha, blank, zero_infinity);
  }
  return ctc_loss_backward(grad, log_probs, targets, *il, *tl, neg_log_likelihood, log_alpha, blank, zero_infinity);
}

}  // namespace gemforge::ops
