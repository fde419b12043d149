// Entry points of the fake-quantization family (ops/fake_quant.cpp): per-tensor and per-channel
// fake quantization with their masks, the learnable forms and the learnable per-tensor backward,
// and dequantize of a plain tensor. Exact signatures of their aten overloads.
#pragma once

#include <ATen/core/Tensor.h>

#include <tuple>

namespace gemforge::ops {

using at::Tensor;

std::tuple<Tensor, Tensor> fake_quantize_per_tensor_affine_cachemask(const Tensor& self, double scale,
                                                                     int64_t zero_point, int64_t quant_min,
                                                                     int64_t quant_max);
std::tuple<Tensor, Tensor> fake_quantize_per_tensor_affine_cachemask_tensor_qparams(
    const Tensor& self, const Tensor& scale, const Tensor& zero_point, const Tensor& fake_quant_enabled,
    int64_t quant_min, int64_t quant_max);
std::tuple<Tensor, Tensor> fake_quantize_per_channel_affine_cachemask(const Tensor& self, const Tensor& scale,
                                                                      const Tensor& zero_point, int64_t axis,
                                                                      int64_t quant_min, int64_t quant_max);
Tensor fake_quantize_learnable_per_tensor_affine(const Tensor& self, const Tensor& scale, const Tensor& zero_point,
                                                 int64_t quant_min, int64_t quant_max, double grad_factor);
std::tuple<Tensor, Tensor, Tensor> fake_quantize_learnable_per_tensor_affine_backward(
    const Tensor& grad, const Tensor& self, const Tensor& scale, const Tensor& zero_point, int64_t quant_min,
    int64_t quant_max, double grad_factor);
Tensor fake_quantize_learnable_per_channel_affine(const Tensor& self, const Tensor& scale,
                                                  const Tensor& zero_point, int64_t axis, int64_t quant_min,
                                                  int64_t quant_max, double grad_factor);
Tensor dequantize_self(const Tensor& self);

}  // namespace gemforge::ops
