// Entry points of the sort/select family (ops/sort.cpp): sort, topk, kthvalue, median, nanmedian,
// mode.
// argsort, msort, quantile and nanquantile are torch's composites of sort (alias rows).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/SymInt.h>

#include <optional>
#include <tuple>

namespace gemforge::ops {

using at::Tensor;
using Pair = std::tuple<Tensor, Tensor>;
using PairRef = std::tuple<Tensor&, Tensor&>;

Pair sort(const Tensor& self, int64_t dim, bool descending);
Pair sort_stable(const Tensor& self, std::optional<bool> stable, int64_t dim, bool descending);
PairRef sort_values(const Tensor& self, int64_t dim, bool descending, Tensor& values, Tensor& indices);
PairRef sort_values_stable(const Tensor& self, std::optional<bool> stable, int64_t dim, bool descending,
                           Tensor& values, Tensor& indices);

Pair topk(const Tensor& self, c10::SymInt k, int64_t dim, bool largest, bool sorted);
PairRef topk_values(const Tensor& self, c10::SymInt k, int64_t dim, bool largest, bool sorted,
                    Tensor& values, Tensor& indices);

Pair kthvalue(const Tensor& self, c10::SymInt k, int64_t dim, bool keepdim);
PairRef kthvalue_values(const Tensor& self, c10::SymInt k, int64_t dim, bool keepdim, Tensor& values,
                        Tensor& indices);

Tensor median(const Tensor& self);
Tensor& median_out(const Tensor& self, Tensor& out);
Pair median_dim(const Tensor& self, int64_t dim, bool keepdim);
PairRef median_dim_values(const Tensor& self, int64_t dim, bool keepdim, Tensor& values, Tensor& indices);
Tensor nanmedian(const Tensor& self);
Tensor& nanmedian_out(const Tensor& self, Tensor& out);
Pair nanmedian_dim(const Tensor& self, int64_t dim, bool keepdim);
PairRef nanmedian_dim_values(const Tensor& self, int64_t dim, bool keepdim, Tensor& values,
                             Tensor& indices);

Pair mode(const Tensor& self, int64_t dim, bool keepdim);
PairRef mode_values(const Tensor& self, int64_t dim, bool keepdim, Tensor& values, Tensor& indices);

}  // namespace gemforge::ops
