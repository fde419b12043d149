// Entry points of the CTC loss (ops/loss/ctc.cpp): _ctc_loss and _ctc_loss_backward with lengths
// as int lists or tensors. Exact signatures of their aten overloads.
#pragma once

#include <ATen/core/Tensor.h>

#include <tuple>

namespace gemforge::ops {

using at::Tensor;

std::tuple<Tensor, Tensor> ctc_loss_forward(const Tensor& log_probs, const Tensor& targets,
                                            at::IntArrayRef input_lengths, at::IntArrayRef target_lengths,
                                            int64_t blank, bool zero_infinity);
std::tuple<Tensor, Tensor> ctc_loss_forward_tensor(const Tensor& log_probs, const Tensor& targets,
                                                   const Tensor& input_lengths, const Tensor& target_lengths,
                                                   int64_t blank, bool zero_infinity);
Tensor ctc_loss_backward(const Tensor& grad, const Tensor& log_probs, const Tensor& targets,
                         at::IntArrayRef input_lengths, at::IntArrayRef target_lengths,
                         const Tensor& neg_log_likelihood, const Tensor& log_alpha, int64_t blank,
                         bool zero_infinity);
Tensor ctc_loss_backward_tensor(const Tensor& grad, const Tensor& log_probs, const Tensor& targets,
                                const Tensor& input_lengths, const Tensor& target_lengths,
                                const Tensor& neg_log_likelihood, const Tensor& log_alpha, int64_t blank,
                                bool zero_infinity);

}  // namespace gemforge::ops
