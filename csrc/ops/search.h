// Entry points of the search family (ops/search.cpp): searchsorted, bucketize, bincount,
// histc, unique_consecutive. Each
// has the exact signature of its aten overload, named in the comment.
#pragma once

#include "ops/ops.h"

#include <c10/core/SymInt.h>

#include <tuple>

namespace gemforge::ops {

// searchsorted.Tensor, .Tensor_out, .Scalar, .Scalar_out
Tensor searchsorted_tensor(const Tensor& sorted_sequence, const Tensor& self, bool out_int32,
                           bool right, OptString side, const OptTensor& sorter);
Tensor& searchsorted_tensor_out(const Tensor& sorted_sequence, const Tensor& self, bool out_int32,
                                bool right, OptString side, const OptTensor& sorter, Tensor& out);
Tensor searchsorted_scalar(const Tensor& sorted_sequence, const Scalar& self, bool out_int32,
                           bool right, OptString side, const OptTensor& sorter);
Tensor& searchsorted_scalar_out(const Tensor& sorted_sequence, const Scalar& self, bool out_int32,
                                bool right, OptString side, const OptTensor& sorter, Tensor& out);
// bucketize.Tensor, .Tensor_out, .Scalar, .Scalar_out
Tensor bucketize_tensor(const Tensor& self, const Tensor& boundaries, bool out_int32, bool right);
Tensor& bucketize_tensor_out(const Tensor& self, const Tensor& boundaries, bool out_int32, bool right,
                             Tensor& out);
Tensor bucketize_scalar(const Scalar& self, const Tensor& boundaries, bool out_int32, bool right);
Tensor& bucketize_scalar_out(const Scalar& self, const Tensor& boundaries, bool out_int32, bool right,
                             Tensor& out);
// bincount, bincount.out
Tensor bincount(const Tensor& self, const OptTensor& weights, c10::SymInt minlength);
Tensor& bincount_out(const Tensor& self, const OptTensor& weights, c10::SymInt minlength, Tensor& out);
// histc, histc.out
Tensor histc(const Tensor& self, int64_t bins, const Scalar& min, const Scalar& max);
Tensor& histc_out(const Tensor& self, int64_t bins, const Scalar& min, const Scalar& max, Tensor& out);
// unique_consecutive, unique_consecutive.out (dim=None served; a dim goes to torch)
std::tuple<Tensor, Tensor, Tensor> unique_consecutive(const Tensor& self, bool return_inverse,
                                                      bool return_counts, std::optional<int64_t> dim);
std::tuple<Tensor&, Tensor&, Tensor&> unique_consecutive_out(const Tensor& self, bool return_inverse,
                                                             bool return_counts, std::optional<int64_t> dim,
                                                             Tensor& out0, Tensor& out1, Tensor& out2);

// _unique2
// unique_dim
std::tuple<Tensor, Tensor, Tensor> unique_dim(const Tensor& self, int64_t dim, bool sorted, bool return_inverse,
                                              bool return_counts);
std::tuple<Tensor, Tensor, Tensor> unique2(const Tensor& self, bool sorted, bool return_inverse,
                                           bool return_counts);

}  // namespace gemforge::ops
