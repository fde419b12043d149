// The CTC loss: _ctc_loss (per-entry negative log-likelihood and the alpha table) and its
// backward, which torch.nn.functional.ctc_loss reaches through torch's composite (the reduction
// and zero_infinity there). gemforge's cpu and cuda kernels (backends/ctc.h); every call they do
// not take (other dtypes, lengths out of range, malformed shapes, operands on two devices) goes to
// torch's own kernel, whose checks then raise torch's errors. Labels out of range go to torch's
// kernel on the cpu (read there on the host) and assert on the device on cuda (torch's cuda kernel
// does not check them). On cuda the lengths are on the host (list overloads; the tensor overloads
// read them back in one copy, as torch's does) and reach the device in one copy that does not wait.
#include "ops/loss/ctc.h"

#include "backends/ctc.h"
#include "ops/on_device.h"
#include "ops/plain.h"
#include "registry/calls.h"

#include <ATen/ATen.h>
#include <ATen/CPUFunctions.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/CUDAFunctions.h>
#endif

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

namespace gemforge::ops {
namespace {

#ifdef GEMFORGE_WITH_CUDA
#define GF_CTC_TORCH(t, fn, ...) ((t).is_cuda() ? at::cuda::fn(__VA_ARGS__) : at::cpu::fn(__VA_ARGS__))
#define GF_CTC(t, fn, ...) ((t).is_cuda() ? ctc::fn##_cuda(__VA_ARGS__) : ctc::fn##_cpu(__VA_ARGS__))
bool on_backend(const Tensor& t) { return plain(t); }
#else
#define GF_CTC_TORCH(t, fn, ...) at::cpu::fn(__VA_ARGS__)
#define GF_CTC(t, fn, ...) ctc::fn##_cpu(__VA_ARGS__)
bool on_backend(const Tensor& t) { return plain(t) && t.is_cpu(); }
#endif

// A call as the kernels take it, with its tensors made dense; none where torch's kernel must
// answer: log_probs (T, B, C) float or double, targets int32/int64 of one dim (concatenated) or
// two (padded) on log_probs' device, a length of each kind per entry within range, on the cpu
// every used label in [0, C).
struct Plan {
  Tensor log_probs, targets;
  Tensor entries;  // (3, B) int64 on log_probs' device: each entry's label offset, input and target length
  ctc::Problem problem{};
};

std::optional<Plan> plan(const Tensor& log_probs, const Tensor& targets, at::IntArrayRef input_lengths,
                         at::IntArrayRef target_lengths, int64_t blank) {
  if (!on_backend(log_probs) || !plain(targets) || targets.device() != log_probs.device() || log_probs.dim() != 3 ||
      !has(ctc::kTypes, log_probs.scalar_type()) ||
      (targets.scalar_type() != at::kLong && targets.scalar_type() != at::kInt) ||
      (targets.dim() != 1 && targets.dim() != 2))
    return std::nullopt;
  const int64_t T = log_probs.size(0), B = log_probs.size(1), C = log_probs.size(2);
  if (blank < 0 || blank >= C || int64_t(input_lengths.size()) != B || int64_t(target_lengths.size()) != B ||
      (targets.dim() == 2 && targets.size(0) != B))
    return std::nullopt;
  // as torch's: log_alpha has 2 * max_target_length + 1 states, the longest target of the batch
  Tensor entries = at::empty({3, B}, at::TensorOptions().dtype(at::kLong).pinned_memory(log_probs.is_cuda()));
  int64_t* offset = entries.data_ptr<int64_t>();
  int64_t *input_length = offset + B, *target_length = offset + 2 * B;
  int64_t position = 0, max_target_length = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t il = input_lengths[b], tl = target_lengths[b];
    if (il < 0 || il > T || tl < 0) return std::nullopt;
    if (targets.dim() == 2 ? tl > targets.size(1) : position + tl > targets.numel()) return std::nullopt;
    offset[b] = targets.dim() == 2 ? b * targets.size(1) : position;
    input_length[b] = il;
    target_length[b] = tl;
    position += tl;
    max_target_length = std::max(max_target_length, tl);
  }
  Plan p;
  p.targets = targets.to(at::kLong).contiguous();
  if (log_probs.is_cpu()) {
    const int64_t* labels = p.targets.const_data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < target_length[b]; ++k)
        if (labels[offset[b] + k] < 0 || labels[offset[b] + k] >= C) return std::nullopt;
  }
  p.log_probs = log_probs.contiguous();
  p.entries = log_probs.is_cuda() ? entries.to(log_probs.device(), /*non_blocking=*/true) : entries;
  const int64_t* e = p.entries.const_data_ptr<int64_t>();
  p.problem = {log_probs.scalar_type(), p.log_probs.const_data_ptr(), T, B, C, blank,
               p.targets.const_data_ptr<int64_t>(), e, 1, e + B, e + 2 * B, max_target_length};
  return p;
}

// torch's conversion of tensor lengths (its .Tensor overloads): integral, to int64 on the host;
// both in one device-to-host copy where they are on one cuda device.
std::optional<std::pair<std::vector<int64_t>, std::vector<int64_t>>> host_lengths(const Tensor& input_lengths,
                                                                                   const Tensor& target_lengths) {
  for (const Tensor* t : {&input_lengths, &target_lengths})
    if (!at::isIntegralType(t->scalar_type(), /*includeBool=*/false) || t->dim() > 1) return std::nullopt;
  Tensor host;
  if (input_lengths.is_cuda() && target_lengths.device() == input_lengths.device())
    host = at::cat({input_lengths.reshape(-1).to(at::kLong), target_lengths.reshape(-1).to(at::kLong)})
               .to(at::kCPU);
  else
    host = at::cat({input_lengths.to(at::kCPU, at::kLong).reshape(-1),
                    target_lengths.to(at::kCPU, at::kLong).reshape(-1)});
  host = host.contiguous();
  const int64_t* v = host.const_data_ptr<int64_t>();
  const int64_t n = input_lengths.numel();
  return std::make_pair(std::vector<int64_t>(v, v + n), std::vector<int64_t>(v + n, v + host.numel()));
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
  OnDevice on(log_probs);
  GF_CTC(log_probs, forward, q, nll.data_ptr(), log_alpha.data_ptr());
  return {nll, log_alpha};
}

std::tuple<Tensor, Tensor> ctc_loss_forward_tensor(const Tensor& log_probs, const Tensor& targets,
                                                   const Tensor& input_lengths, const Tensor& target_lengths,
                                                   int64_t blank, bool zero_infinity) {
  const auto lengths = host_lengths(input_lengths, target_lengths);
  if (!lengths) {
    reg::note_fallback();
    return GF_CTC_TORCH(log_probs, _ctc_loss, log_probs, targets, input_lengths, target_lengths, blank,
                        zero_infinity);
  }
  return ctc_loss_forward(log_probs, targets, lengths->first, lengths->second, blank, zero_infinity);
}

Tensor ctc_loss_backward(const Tensor& grad, const Tensor& log_probs, const Tensor& targets,
                         at::IntArrayRef input_lengths, at::IntArrayRef target_lengths,
                         const Tensor& neg_log_likelihood, const Tensor& log_alpha, int64_t blank,
                         bool zero_infinity) {
  std::optional<Plan> p = plan(log_probs, targets, input_lengths, target_lengths, blank);
  auto beside = [&](const Tensor& t) {  // the dtype and device of log_probs
    return plain(t) && t.device() == log_probs.device() && t.scalar_type() == log_probs.scalar_type();
  };
  const bool served = p && beside(grad) && beside(neg_log_likelihood) && beside(log_alpha) &&
                      grad.numel() == p->problem.B &&
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
  OnDevice on(log_probs);
  GF_CTC(log_probs, backward, p->problem, g.const_data_ptr(), nll.const_data_ptr(), alpha.const_data_ptr(),
         zero_infinity, out.data_ptr());
  return out;
}

Tensor ctc_loss_backward_tensor(const Tensor& grad, const Tensor& log_probs, const Tensor& targets,
                                const Tensor& input_lengths, const Tensor& target_lengths,
                                const Tensor& neg_log_likelihood, const Tensor& log_alpha, int64_t blank,
                                bool zero_infinity) {
  const auto lengths = host_lengths(input_lengths, target_lengths);
  if (!lengths) {
    reg::note_fallback();
    return GF_CTC_TORCH(log_probs, _ctc_loss_backward, grad, log_probs, targets, input_lengths, target_lengths,
                        neg_log_likelihood, log_alpha, blank, zero_infinity);
  }
  return ctc_loss_backward(grad, log_probs, targets, lengths->first, lengths->second, neg_log_likelihood,
                           log_alpha, blank, zero_infinity);
}

}  // namespace gemforge::ops
