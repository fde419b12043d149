// Entry points of the int4 weight-packing family (ops/int4pack.cpp): _convert_weight_to_int4pack,
// the weight preparation of torch's tinygemm int4 matmul (_weight_int4pack_mm), and
// _dyn_quant_pack_4bit_weight, that of its dynamically quantized cpu matmul. Exact signatures
// of their aten overloads.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace gemforge::ops {

using at::Tensor;

Tensor convert_weight_to_int4pack(const Tensor& self, int64_t innerKTiles);
Tensor dyn_quant_pack_4bit_weight(const Tensor& weights, const Tensor& scales_zeros, const std::optional<Tensor>& bias,
                                  int64_t block_size, int64_t in_features, int64_t out_features);

}  // namespace gemforge::ops
