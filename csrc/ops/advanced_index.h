// Entry points of advanced indexing and masks (ops/advanced_index.cpp): masked_fill,
// masked_scatter, masked_select, nonzero, index.Tensor, index_put, and the view scatters
// (select/slice backward and scatter, diagonal_scatter, as_strided_scatter).
#pragma once

#include "ops/ops.h"

#include <ATen/core/List.h>
#include <c10/core/SymInt.h>
#include <c10/core/SymIntArrayRef.h>

namespace gemforge::ops {

using IndexList = c10::List<std::optional<Tensor>>;

Tensor masked_fill_scalar(const Tensor& self, const Tensor& mask, const Scalar& value);  // masked_fill.Scalar
Tensor masked_fill_tensor(const Tensor& self, const Tensor& mask, const Tensor& value);  // masked_fill.Tensor
Tensor& masked_fill_scalar_out(const Tensor& self, const Tensor& mask, const Scalar& value, Tensor& out);
Tensor& masked_fill_tensor_out(const Tensor& self, const Tensor& mask, const Tensor& value, Tensor& out);
Tensor& masked_fill_scalar_(Tensor& self, const Tensor& mask, const Scalar& value);
Tensor& masked_fill_tensor_(Tensor& self, const Tensor& mask, const Tensor& value);

Tensor masked_scatter(const Tensor& self, const Tensor& mask, const Tensor& source);
Tensor& masked_scatter_(Tensor& self, const Tensor& mask, const Tensor& source);
Tensor masked_scatter_backward(const Tensor& grad_output, const Tensor& mask, c10::SymIntArrayRef sizes);

Tensor masked_select(const Tensor& self, const Tensor& mask);
Tensor& masked_select_out(const Tensor& self, const Tensor& mask, Tensor& out);
Tensor nonzero(const Tensor& self);
Tensor& nonzero_out(const Tensor& self, Tensor& out);
Tensor nonzero_static(const Tensor& self, c10::SymInt size, int64_t fill_value);
Tensor& nonzero_static_out(const Tensor& self, c10::SymInt size, int64_t fill_value, Tensor& out);

Tensor index(const Tensor& self, const IndexList& indices);  // index.Tensor
Tensor& index_out(const Tensor& self, const IndexList& indices, Tensor& out);  // index.Tensor_out
Tensor index_put(const Tensor& self, const IndexList& indices, const Tensor& values, bool accumulate);
Tensor& index_put_(Tensor& self, const IndexList& indices, const Tensor& values, bool accumulate);
Tensor& _index_put_impl_(Tensor& self, const IndexList& indices, const Tensor& values, bool accumulate,
                         bool unsafe);

// inductor's masked gather and its backward: indices clamped into range, masked-off elements fill
Tensor _unsafe_masked_index(const Tensor& self, const Tensor& mask, const IndexList& indices, const Scalar& fill);
Tensor _unsafe_masked_index_put_accumulate(const Tensor& self, const Tensor& mask, const IndexList& indices,
                                           const Tensor& values);

Tensor select_backward(const Tensor& grad_output, c10::SymIntArrayRef input_sizes, int64_t dim,
                       c10::SymInt index);
Tensor slice_backward(const Tensor& grad_output, c10::SymIntArrayRef input_sizes, int64_t dim,
                      c10::SymInt start, c10::SymInt end, c10::SymInt step);
Tensor select_scatter(const Tensor& self, const Tensor& src, int64_t dim, c10::SymInt index);
Tensor slice_scatter(const Tensor& self, const Tensor& src, int64_t dim, std::optional<c10::SymInt> start,
                     std::optional<c10::SymInt> end, c10::SymInt step);
Tensor diagonal_scatter(const Tensor& self, const Tensor& src, int64_t offset, int64_t dim1, int64_t dim2);
Tensor as_strided_scatter(const Tensor& self, const Tensor& src, c10::SymIntArrayRef size,
                          c10::SymIntArrayRef stride, std::optional<c10::SymInt> storage_offset);

}  // namespace gemforge::ops
