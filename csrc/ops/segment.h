// Entry points of segment_reduce (ops/segment.cpp): the forward, its backward and their out=
// forms. Exact signatures of their aten overloads.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <c10/util/string_view.h>

#include <optional>

namespace gemforge::ops {

using at::Scalar;
using at::Tensor;

Tensor segment_reduce(const Tensor& data, c10::string_view reduce, const std::optional<Tensor>& lengths,
                      const std::optional<Tensor>& indices, const std::optional<Tensor>& offsets, int64_t axis,
                      bool unsafe, const std::optional<Scalar>& initial);
Tensor& segment_reduce_out(const Tensor& data, c10::string_view reduce, const std::optional<Tensor>& lengths,
                           const std::optional<Tensor>& indices, const std::optional<Tensor>& offsets, int64_t axis,
                           bool unsafe, const std::optional<Scalar>& initial, Tensor& out);
Tensor _segment_reduce_backward(const Tensor& grad, const Tensor& output, const Tensor& data, c10::string_view reduce,
                                const std::optional<Tensor>& lengths, const std::optional<Tensor>& offsets,
                                int64_t axis, const std::optional<Scalar>& initial);
Tensor& _segment_reduce_backward_out(const Tensor& grad, const Tensor& output, const Tensor& data,
                                     c10::string_view reduce, const std::optional<Tensor>& lengths,
                                     const std::optional<Tensor>& offsets, int64_t axis,
                                     const std::optional<Scalar>& initial, Tensor& out);

}  // namespace gemforge::ops
