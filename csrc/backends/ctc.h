// The CTC loss (ops/loss/ctc.cpp) over log_probs (T, B, C) contiguous: the forward's alpha
// recursion in log space and the backward's beta recursion, per batch entry. Targets are int64;
// entry b's labels start at targets[offsets[b]] and are `target_stride` apart. The extended label
// sequence of a target of length L is blank, l1, blank, l2, ..., blank (2L + 1 entries).
// The cuda kernels (backends/cuda/ctc.cu) take the same problem with every pointer on the device
// and run on the current stream; their results equal the cpu kernels' up to rounding.
#pragma once

#include "engine/dtypes.h"

#include <cstdint>

namespace gemforge::ctc {

constexpr TypeSet kTypes = bit(ScalarType::Float) | bit(ScalarType::Double);  // torch's kernels

struct Problem {
  ScalarType dtype;
  const void* log_probs;  // (T, B, C)
  int64_t T, B, C, blank;
  const int64_t* targets;
  const int64_t* offsets;  // (B)
  int64_t target_stride;
  const int64_t* input_lengths;   // (B), each in [0, T]
  const int64_t* target_lengths;  // (B), each in [0, max_target_length]
  int64_t max_target_length;
};

// nll (B) and log_alpha (B, T, 2 * max_target_length + 1); entries the recursion does not reach
// are -inf.
void forward_cpu(const Problem& p, void* nll, void* log_alpha);
void forward_cuda(const Problem& p, void* nll, void* log_alpha);

// grad (T, B, C) of the summed loss scaled per entry by grad_out (B): exp(log_probs) minus the
// posterior of each label, zero past an entry's input length and, with zero_infinity, for an
// entry whose loss is infinite.
void backward_cpu(const Problem& p, const void* grad_out, const void* nll, const void* log_alpha,
                  bool zero_infinity, void* grad);
void backward_cuda(const Problem& p, const void* grad_out, const void* nll, const void* log_alpha,
                   bool zero_infinity, void* grad);

}  // namespace gemforge::ctc
