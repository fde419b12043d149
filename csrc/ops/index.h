// Entry points of the index family (ops/index.cpp): index_select, gather, embedding and its
// dense backward, scatter (src, value), scatter_add, index_add. Exact signatures of their aten overloads.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <c10/core/SymInt.h>

namespace gemforge::ops {

using at::Scalar;
using at::Tensor;

Tensor index_select(const Tensor& self, int64_t dim, const Tensor& index);
Tensor& index_select_out(const Tensor& self, int64_t dim, const Tensor& index, Tensor& out);

Tensor gather(const Tensor& self, int64_t dim, const Tensor& index, bool sparse_grad);
Tensor& gather_out(const Tensor& self, int64_t dim, const Tensor& index, bool sparse_grad, Tensor& out);

Tensor embedding(const Tensor& weight, const Tensor& indices, c10::SymInt padding_idx,
                 bool scale_grad_by_freq, bool sparse);
Tensor& embedding_out(const Tensor& weight, const Tensor& indices, c10::SymInt padding_idx,
                      bool scale_grad_by_freq, bool sparse, Tensor& out);
Tensor embedding_dense_backward(const Tensor& grad_output, const Tensor& indices, c10::SymInt num_weights,
                                c10::SymInt padding_idx, bool scale_grad_by_freq);
Tensor& embedding_dense_backward_out(const Tensor& grad_output, const Tensor& indices,
                                     c10::SymInt num_weights, c10::SymInt padding_idx,
                                     bool scale_grad_by_freq, Tensor& out);

Tensor scatter_src(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter_value(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value);
Tensor& scatter_src_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, Tensor& out);
Tensor& scatter_value_out(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value, Tensor& out);
Tensor& scatter_src_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
Tensor& scatter_value_(Tensor& self, int64_t dim, const Tensor& index, const Scalar& value);

Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
Tensor& scatter_add_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
Tensor& scatter_add_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, Tensor& out);

Tensor index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                 const Scalar& alpha);
Tensor& index_add_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                   const Scalar& alpha);
Tensor& index_add_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                      const Scalar& alpha, Tensor& out);

}  // namespace gemforge::ops
