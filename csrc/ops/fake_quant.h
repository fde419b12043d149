// Entry points of the fake-quantization family (ops/fake_quant.cpp): per-tensor and per-channel
// fake quantization with their masks, the learnable forms and the learnable per-tensor backward,
// dequantize of a plain tensor, and the fused moving-average observer + fake quantization of
// torch.ao's FusedMovingAvgObsFakeQuantize. Exact signatures of their aten overloads.
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
std::tuple<Tensor, Tensor> fused_moving_avg_obs_fq_helper(const Tensor& self, const Tensor& observer_on,
                                                          const Tensor& fake_quant_on, Tensor& running_min,
                                                          Tensor& running_max, Tensor& scale, Tensor& zero_point,
                                                          double averaging_const, int64_t quant_min,
                                                          int64_t quant_max, int64_t ch_axis,
                                                          bool per_row_fake_quant, bool symmetric_quant);

}  // namespace gemforge::ops
