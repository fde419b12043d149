// Entry points of the attention family (ops/attention.cpp), each with the exact signature of
// its aten overload, named in the comment.
#pragma once

#include "ops/ops.h"

#include <optional>
#include <tuple>

namespace gemforge::ops {

// _scaled_dot_product_efficient_attention
std::tuple<Tensor, Tensor, Tensor, Tensor> scaled_dot_product_efficient_attention(
    const Tensor& query, const Tensor& key, const Tensor& value, const std::optional<Tensor>& attn_bias,
    bool compute_log_sumexp, double dropout_p, bool is_causal, std::optional<double> scale);

}  // namespace gemforge::ops
