// Entry points of the attention backward (ops/attention_bwd.cpp), each with the exact signature
// of its aten overload, named in the comment.
#pragma once

#include "ops/ops.h"

#include <array>
#include <optional>
#include <tuple>

namespace gemforge::ops {

// _scaled_dot_product_efficient_attention_backward
std::tuple<Tensor, Tensor, Tensor, Tensor> scaled_dot_product_efficient_attention_backward(
    const Tensor& grad_out_, const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& attn_bias,
    const Tensor& out, const Tensor& logsumexp, const Tensor& philox_seed, const Tensor& philox_offset,
    double dropout_p, std::array<bool, 4> grad_input_mask, bool is_causal, std::optional<double> scale);

}  // namespace gemforge::ops
