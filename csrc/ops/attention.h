// Entry points of the attention family (ops/attention.cpp), each with the exact signature of
// its aten overload, named in the comment.
#pragma once

#include "ops/ops.h"

#include <c10/core/SymInt.h>

#include <optional>
#include <tuple>

namespace gemforge::ops {

// _scaled_dot_product_efficient_attention
std::tuple<Tensor, Tensor, Tensor, Tensor> scaled_dot_product_efficient_attention(
    const Tensor& query, const Tensor& key, const Tensor& value, const std::optional<Tensor>& attn_bias,
    bool compute_log_sumexp, double dropout_p, bool is_causal, std::optional<double> scale);

// _scaled_dot_product_flash_attention
std::tuple<Tensor, Tensor, Tensor, Tensor, c10::SymInt, c10::SymInt, Tensor, Tensor, Tensor>
scaled_dot_product_flash_attention(const Tensor& query, const Tensor& key, const Tensor& value, double dropout_p,
                                   bool is_causal, bool return_debug_mask, std::optional<double> scale);

// _scaled_dot_product_cudnn_attention
std::tuple<Tensor, Tensor, Tensor, Tensor, c10::SymInt, c10::SymInt, Tensor, Tensor, Tensor>
scaled_dot_product_cudnn_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const std::optional<Tensor>& attn_bias, bool compute_log_sumexp, double dropout_p,
                                   bool is_causal, bool return_debug_mask, std::optional<double> scale);

// _flash_attention_forward
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> flash_attention_forward(
    const Tensor& query, const Tensor& key, const Tensor& value, const std::optional<Tensor>& cum_seq_q,
    const std::optional<Tensor>& cum_seq_k, c10::SymInt max_q, c10::SymInt max_k, double dropout_p, bool is_causal,
    bool return_debug_mask, std::optional<double> scale, std::optional<c10::SymInt> window_size_left,
    std::optional<c10::SymInt> window_size_right, const std::optional<Tensor>& seqused_k,
    const std::optional<Tensor>& alibi_slopes);

}  // namespace gemforge::ops
