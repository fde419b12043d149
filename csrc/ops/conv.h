// Entry points of the convolution family (ops/conv.cpp), each with the exact signature of its
// aten overload, named in the comment.
#pragma once

#include "ops/ops.h"

#include <ATen/core/List.h>
#include <c10/util/OptionalArrayRef.h>

#include <array>
#include <tuple>

namespace gemforge::ops {

// convolution
Tensor convolution(const Tensor& input, const Tensor& weight, const OptTensor& bias, at::IntArrayRef stride,
                   at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed, at::IntArrayRef output_padding,
                   int64_t groups);

// convolution_backward
std::tuple<Tensor, Tensor, Tensor> convolution_backward(
    const Tensor& grad_output, const Tensor& input, const Tensor& weight, at::OptionalIntArrayRef bias_sizes,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed,
    at::IntArrayRef output_padding, int64_t groups, std::array<bool, 3> output_mask);

}  // namespace gemforge::ops
