// Entry points of the index family (ops/index.cpp): index_select, gather, embedding and its
// dense backward, embedding_bag's backward ops, scatter (src, value, reduce), scatter_add,
// scatter_reduce, index_add, index_copy, index_fill, index_reduce, take, isin. Exact signatures of
// their aten overloads.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <c10/core/SymInt.h>
#include <c10/util/string_view.h>

#include <optional>

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

Tensor _embedding_bag_dense_backward(const Tensor& grad, const Tensor& indices, const Tensor& offset2bag,
                                     const Tensor& bag_size, const Tensor& maximum_indices,
                                     c10::SymInt num_weights, bool scale_grad_by_freq, int64_t mode,
                                     const std::optional<Tensor>& per_sample_weights, int64_t padding_idx);
Tensor _embedding_bag_per_sample_weights_backward(const Tensor& grad, const Tensor& weight, const Tensor& indices,
                                                  const Tensor& offsets, const Tensor& offset2bag, int64_t mode,
                                                  int64_t padding_idx);

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

using c10::string_view;

Tensor scatter_reduce(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, string_view reduce);
Tensor scatter_value_reduce(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value,
                            string_view reduce);
Tensor& scatter_reduce_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                           string_view reduce, Tensor& out);
Tensor& scatter_value_reduce_out(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value,
                                 string_view reduce, Tensor& out);
Tensor& scatter_reduce_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, string_view reduce);
Tensor& scatter_value_reduce_(Tensor& self, int64_t dim, const Tensor& index, const Scalar& value,
                              string_view reduce);

Tensor scatter_reduce_two(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                          string_view reduce, bool include_self);
Tensor& scatter_reduce_two_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                            string_view reduce, bool include_self);
Tensor& scatter_reduce_two_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                               string_view reduce, bool include_self, Tensor& out);

Tensor index_reduce(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                    string_view reduce, bool include_self);
Tensor& index_reduce_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                      string_view reduce, bool include_self);
Tensor& index_reduce_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                         string_view reduce, bool include_self, Tensor& out);

Tensor index_copy(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source);
Tensor& index_copy_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& source);
Tensor& index_copy_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source, Tensor& out);

Tensor index_fill_scalar(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value);
Tensor index_fill_tensor(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& value);
Tensor& index_fill_scalar_(Tensor& self, int64_t dim, const Tensor& index, const Scalar& value);
Tensor& index_fill_tensor_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& value);
Tensor& index_fill_scalar_out(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value,
                              Tensor& out);
Tensor& index_fill_tensor_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& value,
                              Tensor& out);

Tensor take(const Tensor& self, const Tensor& index);
Tensor& take_out(const Tensor& self, const Tensor& index, Tensor& out);

Tensor isin_tensor_tensor(const Tensor& elements, const Tensor& test_elements, bool assume_unique, bool invert);
Tensor& isin_tensor_tensor_out(const Tensor& elements, const Tensor& test_elements, bool assume_unique,
                               bool invert, Tensor& out);
Tensor isin_tensor_scalar(const Tensor& elements, const Scalar& test_element, bool assume_unique, bool invert);
Tensor& isin_tensor_scalar_out(const Tensor& elements, const Scalar& test_element, bool assume_unique,
                               bool invert, Tensor& out);
Tensor isin_scalar_tensor(const Scalar& element, const Tensor& test_elements, bool assume_unique, bool invert);
Tensor& isin_scalar_tensor_out(const Scalar& element, const Tensor& test_elements, bool assume_unique,
                               bool invert, Tensor& out);

}  // namespace gemforge::ops
