// Fake quantization: the quantize-dequantize round trip of quantization-aware training, per tensor
// or per channel, with the mask of in-range elements that its backward multiplies the gradient
// by; the learnable forms (scale and zero point as tensors that get gradients) and the
// learnable per-tensor backward; dequantize of a plain tensor.
//
// gemforge's kernels (backends/fake_quant.h) serve floating inputs on cpu and cuda. Every case
// they do not take, and every argument torch rejects, goes to torch's own kernel: its checks
// then raise torch's errors. Where torch reads the scale and zero point with .item() (a host
// sync on cuda), the kernels read them from device memory instead.
#include "ops/fake_quant.h"

#include "backends/fake_quant.h"
#include "ops/empty.h"
#include "ops/on_device.h"
#include "ops/ops.h"
#include "ops/plain.h"
#include "ops/pointwise/common.h"

#include <ATen/ATen.h>
#include <ATen/TensorUtils.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace gemforge::ops {
namespace {

namespace fq = fake_quant;

#ifdef GEMFORGE_WITH_CUDA
#define GF_FQ(t, fn, ...) ((t).is_cuda() ? fq::fn##_cuda(__VA_ARGS__) : fq::fn##_cpu(__VA_ARGS__))
#else
#define GF_FQ(t, fn, ...) fq::fn##_cpu(__VA_ARGS__)
#endif

bool served_input(const Tensor& self) { return plain(self) && has(fq::kTypes, self.scalar_type()); }

// A qparam tensor the kernels read from memory: on self's device, of `dtype`, 1-d (torch reads
// element 0 of it) and not empty.
bool device_param(const Tensor& t, const Tensor& self, at::ScalarType dtype) {
  return plain(t) && t.device() == self.device() && t.scalar_type() == dtype && t.dim() == 1 && t.numel() >= 1;
}

// x in a dense layout: its own where it has one, else a dense copy in its order of dims (the
// outputs then take that layout, as torch's empty_like(self, Preserve) gives them), and the outputs.
struct Dense {
  Tensor x, out, mask;
};
Dense dense_operands(const Tensor& self, bool with_mask) {
  Tensor x = self;
  if (!self.is_non_overlapping_and_dense()) {
    x = empty_strided_on(self.sizes(), at::infer_dense_strides(self.sizes(), self.strides()), self.scalar_type(),
                         self.device());
    ops::copy_(x, self, false);
  }
  Tensor out = empty_strided_on(x.sizes(), x.strides(), x.scalar_type(), x.device());
  Tensor mask = with_mask ? empty_strided_on(x.sizes(), x.strides(), at::kBool, x.device()) : Tensor();
  return {x, out, mask};
}

fq::Forward forward_of(const Dense& d, int64_t quant_min, int64_t quant_max) {
  fq::Forward f{};
  f.dtype = d.x.scalar_type();
  f.n = d.x.numel();
  f.x = d.x.const_data_ptr();
  f.out = d.out.data_ptr();
  f.mask = d.mask.defined() ? d.mask.data_ptr<bool>() : nullptr;
  f.quant_min = quant_min;
  f.quant_max = quant_max;
  f.small_range = std::abs(quant_min) <= fq::kSmallRange && std::abs(quant_max) <= fq::kSmallRange;
  f.source = fq::Source::Values;
  return f;
}

void run_forward(const Tensor& self, const fq::Forward& f) {
  if (f.n == 0) return;
  OnDevice on(self);
  GF_FQ(self, forward, f);
}

// Per channel: the checks torch makes before its kernel, false where any fails (torch's kernel
// then raises) or gemforge has no kernel. A learnable call's zero points are rounded and clamped
// into the range first, so they need no range check.
bool channel_served(const Tensor& self, const Tensor& scale, const Tensor& zero_point, int64_t axis,
                    int64_t quant_min, int64_t quant_max, bool learnable) {
  const auto zt = zero_point.scalar_type();
  const bool zp_type = learnable ? (at::isFloatingType(zt) || zt == at::kInt)
                                 : (zt == at::kInt || zt == at::kFloat || zt == at::kHalf);
  if (!served_input(self) || !plain(scale) || !plain(zero_point) || scale.device() != self.device() ||
      zero_point.device() != self.device() ||
      (scale.scalar_type() != at::kFloat && scale.scalar_type() != at::kBFloat16) || !zp_type ||
      scale.dim() != 1 || zero_point.dim() != 1 || scale.numel() != zero_point.numel() || axis < 0 ||
      axis >= self.dim() || scale.numel() != self.size(axis) || quant_min > quant_max)
    return false;
  if (learnable || zt != at::kInt) return true;
  // torch checks integer zero points against the range (one read back, as torch's .item()s)
  const Tensor host = zero_point.to(at::kCPU).contiguous();
  const int32_t* z = host.const_data_ptr<int32_t>();
  for (int64_t c = 0; c < host.numel(); ++c)
    if (z[c] < quant_min || z[c] > quant_max) return false;
  return true;
}

// The fake-quantized tensor; its mask into *mask where mask is given.
Tensor per_channel(const Tensor& self, const Tensor& scale, const Tensor& zero_point, int64_t axis,
                   int64_t quant_min, int64_t quant_max, bool learnable, Tensor* mask) {
  const Dense d = dense_operands(self, mask != nullptr);
  fq::Forward f = forward_of(d, quant_min, quant_max);
  const Tensor s = scale.contiguous(), z = zero_point.contiguous();
  f.channels = self.size(axis);
  f.channel_stride = f.channels == 1 ? 1 : d.x.stride(axis);  // (i / stride) % channels: dense layouts
  f.scales = s.const_data_ptr();
  f.scale_dtype = s.scalar_type();
  f.zero_points = z.const_data_ptr();
  f.zp_dtype = z.scalar_type();
  f.learnable_zp = learnable;
  run_forward(self, f);
  if (mask) *mask = d.mask;
  return d.out;
}

}  // namespace

std::tuple<Tensor, Tensor> fake_quantize_per_tensor_affine_cachemask(const Tensor& self, double scale,
                                                                     int64_t zero_point, int64_t quant_min,
                                                                     int64_t quant_max) {
  if (!served_input(self) || quant_min > quant_max || zero_point < quant_min || zero_point > quant_max) {
    reg::note_fallback();
    return GF_TORCH(self, fake_quantize_per_tensor_affine_cachemask, self, scale, zero_point, quant_min,
                    quant_max);
  }
  const Dense d = dense_operands(self, true);
  fq::Forward f = forward_of(d, quant_min, quant_max);
  f.scale = float(scale);
  f.zero_point = zero_point;
  run_forward(self, f);
  return {d.out, d.mask};
}

std::tuple<Tensor, Tensor> fake_quantize_per_tensor_affine_cachemask_tensor_qparams(
    const Tensor& self, const Tensor& scale, const Tensor& zero_point, const Tensor& fake_quant_enabled,
    int64_t quant_min, int64_t quant_max) {
  // torch's cpu kernel reads each with .item() (one element only), its cuda kernel element 0 of
  // a float32 scale, an int32 zero point and an int64 flag
  auto one = [&](const Tensor& t, at::ScalarType dtype) {
    return device_param(t, self, dtype) && (self.is_cuda() || t.numel() == 1);
  };
  if (!served_input(self) || quant_min > quant_max || !one(scale, at::kFloat) || !one(zero_point, at::kInt) ||
      !one(fake_quant_enabled, at::kLong)) {
    reg::note_fallback();
    return GF_TORCH(self, _fake_quantize_per_tensor_affine_cachemask_tensor_qparams, self, scale, zero_point,
                    fake_quant_enabled, quant_min, quant_max);
  }
  const Dense d = dense_operands(self, true);
  fq::Forward f = forward_of(d, quant_min, quant_max);
  f.source = fq::Source::Tensors;
  f.scale_ptr = scale.const_data_ptr<float>();
  f.zp_ptr = zero_point.const_data_ptr<int32_t>();
  f.enabled_ptr = fake_quant_enabled.const_data_ptr<int64_t>();
  run_forward(self, f);
  return {d.out, d.mask};
}

std::tuple<Tensor, Tensor> fake_quantize_per_channel_affine_cachemask(const Tensor& self, const Tensor& scale,
                                                                      const Tensor& zero_point, int64_t axis,
                                                                      int64_t quant_min, int64_t quant_max) {
  if (!channel_served(self, scale, zero_point, axis, quant_min, quant_max, false)) {
    reg::note_fallback();
    return GF_TORCH(self, fake_quantize_per_channel_affine_cachemask, self, scale, zero_point, axis, quant_min,
                    quant_max);
  }
  Tensor mask;
  Tensor out = per_channel(self, scale, zero_point, axis, quant_min, quant_max, false, &mask);
  return {out, mask};
}

Tensor fake_quantize_learnable_per_tensor_affine(const Tensor& self, const Tensor& scale, const Tensor& zero_point,
                                                 int64_t quant_min, int64_t quant_max, double grad_factor) {
  // torch reads scale[0] and zero_point[0] with .item(); the kernels read them from device memory
  // (float32 on self's device: torch's cuda kernel rejects operands on another device)
  const bool served = served_input(self) && quant_min <= quant_max && device_param(scale, self, at::kFloat) &&
                      device_param(zero_point, self, at::kFloat);
  if (!served) {
    reg::note_fallback();
    return GF_TORCH(self, _fake_quantize_learnable_per_tensor_affine, self, scale, zero_point, quant_min, quant_max,
                    grad_factor);
  }
  const Dense d = dense_operands(self, false);
  fq::Forward f = forward_of(d, quant_min, quant_max);
  f.source = fq::Source::Learnable;
  f.scale_ptr = scale.const_data_ptr<float>();
  f.zp_ptr = zero_point.const_data_ptr<float>();
  run_forward(self, f);
  return d.out;
}

std::tuple<Tensor, Tensor, Tensor> fake_quantize_learnable_per_tensor_affine_backward(
    const Tensor& grad, const Tensor& self, const Tensor& scale, const Tensor& zero_point, int64_t quant_min,
    int64_t quant_max, double grad_factor) {
  const bool served = plain(self) && plain(grad) && self.scalar_type() == at::kFloat &&
                      grad.scalar_type() == at::kFloat && grad.device() == self.device() &&
                      grad.sizes() == self.sizes() && self.numel() > 0 && device_param(scale, self, at::kFloat) &&
                      device_param(zero_point, self, at::kFloat) && quant_min <= 0 && quant_max >= 0;
  if (!served) {
    reg::note_fallback();
    return GF_TORCH(self, _fake_quantize_learnable_per_tensor_affine_backward, grad, self, scale, zero_point,
                    quant_min, quant_max, grad_factor);
  }
  Tensor x = self, dy = grad;
  if (!x.is_non_overlapping_and_dense() || dy.strides() != x.strides()) {
    x = x.contiguous();
    dy = dy.contiguous();
  }
  Tensor dx = empty_strided_on(x.sizes(), x.strides(), x.scalar_type(), x.device());
  Tensor dscale = empty_on({1}, scale.scalar_type(), scale.device());
  Tensor dzp = empty_on({1}, zero_point.scalar_type(), zero_point.device());
  fq::Backward b{};
  b.n = x.numel();
  b.x = x.const_data_ptr<float>();
  b.grad = dy.const_data_ptr<float>();
  b.grad_x = dx.data_ptr<float>();
  b.grad_scale = dscale.data_ptr<float>();
  b.grad_zero_point = dzp.data_ptr<float>();
  b.scale_ptr = scale.const_data_ptr<float>();
  b.zp_ptr = zero_point.const_data_ptr<float>();
  b.quant_min = quant_min;
  b.quant_max = quant_max;
  b.grad_factor = float(grad_factor);
  OnDevice on(self);
  GF_FQ(self, backward, b);
  return {dx, dscale, dzp};
}

Tensor fake_quantize_learnable_per_channel_affine(const Tensor& self, const Tensor& scale,
                                                  const Tensor& zero_point, int64_t axis, int64_t quant_min,
                                                  int64_t quant_max, double grad_factor) {
  if (!channel_served(self, scale, zero_point, axis, quant_min, quant_max, true)) {
    reg::note_fallback();
    return GF_TORCH(self, _fake_quantize_learnable_per_channel_affine, self, scale, zero_point, axis, quant_min,
                    quant_max, grad_factor);
  }
  return per_channel(self, scale, zero_point, axis, quant_min, quant_max, true, nullptr);
}

// torch's cpu and cuda kernel for a tensor that is not quantized: a float copy (self itself when
// it is float already).
Tensor dequantize_self(const Tensor& self) {
  if (!plain(self)) {
    reg::note_fallback();
    return GF_TORCH(self, dequantize, self);
  }
  return self.to(at::kFloat);
}

// ---- the fused observer (torch.ao's FusedMovingAvgObsFakeQuantize), cpu --------------------------
// One step of a moving-average min/max observer, the quantization parameters chosen from the
// running range, then fake quantization with them: per tensor, or per row (torch's
// per_row_fake_quant: channels along dim 0, the only axis torch takes; the running ranges, scales
// and zero points sized and filled on the first call, as torch does). cuda stays torch's (its
// cuda kernel launches two one-thread kernels between gemforge's aminmax and fake quantization).

namespace {

struct QParams {
  float scale;
  int32_t zero_point;
};

// torch's cpu choice (fbgemm's ChooseQuantizationParams): the range widened to hold 0 (and made
// symmetric), the scale in double, a floor on tiny scales (fp16's smallest normal) that widens
// the range, then the zero point from whichever end loses less precision, rounded into range.
QParams choose_qparams(float lo, float hi, int64_t qmin, int64_t qmax, bool symmetric) {
  if (lo < 0 && hi > 0 && symmetric) {
    const int64_t smin = -((qmax - qmin) / 2 + 1), smax = (qmax - qmin) / 2;
    const double widest = std::max(std::fabs(double(lo) / smin), std::fabs(double(hi) / smax));
    lo = float(widest * smin);
    hi = float(widest * smax);
  }
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  double scale = (double(hi) - lo) / double(qmax - qmin);
  if (float(scale) == 0.0f || std::isinf(1.0f / float(scale))) scale = 0.1;
  constexpr float kSmallScale = 6.1e-5f;
  if (scale < kSmallScale) {
    const float original = float(scale);
    scale = kSmallScale;
    if (lo == 0.0f) {
      hi = kSmallScale * float(qmax - qmin);
    } else if (hi == 0.0f) {
      lo = -kSmallScale * float(qmax - qmin);
    } else {
      const float widen = kSmallScale / original;
      lo *= widen;
      hi *= widen;
    }
  }
  const double from_min = double(qmin) - lo / scale, from_max = double(qmax) - hi / scale;
  const double min_error = std::abs(double(qmin)) - std::abs(lo / scale);
  const double max_error = std::abs(double(qmax)) - std::abs(hi / scale);
  double zero_point = min_error < max_error ? from_min : from_max;
  if (lo < 0 && hi > 0 && symmetric) zero_point = double(qmin + qmax) / 2;
  const int32_t nudged = zero_point < double(qmin)   ? int32_t(qmin)
                         : zero_point > double(qmax) ? int32_t(qmax)
                                                     : int32_t(std::nearbyint(zero_point));
  return {float(scale), nudged};
}

bool one_cpu(const Tensor& t, at::ScalarType dtype) {
  return plain(t) && t.is_cpu() && t.scalar_type() == dtype && t.numel() == 1;
}

// A per-row observer buffer: cpu, of `dtype`, 1-d and contiguous (empty before the first call).
bool row_buffer(const Tensor& t, at::ScalarType dtype) {
  return plain(t) && t.is_cpu() && t.scalar_type() == dtype && t.dim() == 1 && t.is_contiguous();
}

}  // namespace

std::tuple<Tensor, Tensor> fused_moving_avg_obs_fq_helper(const Tensor& self, const Tensor& observer_on,
                                                          const Tensor& fake_quant_on, Tensor& running_min,
                                                          Tensor& running_max, Tensor& scale, Tensor& zero_point,
                                                          double averaging_const, int64_t quant_min,
                                                          int64_t quant_max, int64_t ch_axis,
                                                          bool per_row_fake_quant, bool symmetric_quant) {
  const bool common = plain(self) && self.is_cpu() && self.scalar_type() == at::kFloat && self.numel() > 0 &&
                      ch_axis < self.dim() && quant_min < quant_max && one_cpu(observer_on, at::kLong) &&
                      one_cpu(fake_quant_on, at::kLong);
  // per row: channels along dim 0 of a 2-d or wider input, buffers empty or one entry a channel
  const bool per_row =
      per_row_fake_quant && ch_axis == 0 && self.dim() >= 2 && row_buffer(running_min, at::kFloat) &&
      row_buffer(running_max, at::kFloat) && row_buffer(scale, at::kFloat) && row_buffer(zero_point, at::kInt) &&
      (running_min.numel() == 0 ||
       (running_min.numel() == self.size(0) && running_max.numel() == self.size(0) &&
        scale.numel() == self.size(0) && zero_point.numel() == self.size(0)));
  const bool per_tensor = !per_row_fake_quant && one_cpu(running_min, at::kFloat) &&
                          one_cpu(running_max, at::kFloat) && one_cpu(scale, at::kFloat) &&
                          one_cpu(zero_point, at::kInt);
  if (!common || (!per_row && !per_tensor)) {
    reg::note_fallback();
    return GF_TORCH(self, _fused_moving_avg_obs_fq_helper, self, observer_on, fake_quant_on, running_min,
                    running_max, scale, zero_point, averaging_const, quant_min, quant_max, ch_axis,
                    per_row_fake_quant, symmetric_quant);
  }
  const int64_t channels = per_row ? self.size(0) : 1;  // a running range, scale and zero point each
  if (per_row && running_min.numel() == 0) {
    running_min.resize_({channels}).fill_(std::numeric_limits<float>::infinity());
    running_max.resize_({channels}).fill_(-std::numeric_limits<float>::infinity());
    scale.resize_({channels});
    zero_point.resize_({channels});
  }
  float* run_min = running_min.data_ptr<float>();
  float* run_max = running_max.data_ptr<float>();
  if (observer_on.item<int64_t>() != 0) {
    const auto [lo, hi] = per_row ? at::aminmax(self.flatten(1), 1) : at::aminmax(self);
    const float* x_min = lo.const_data_ptr<float>();
    const float* x_max = hi.const_data_ptr<float>();
    const float c = float(averaging_const);
    for (int64_t i = 0; i < channels; ++i) {
      run_min[i] = std::isinf(run_min[i]) ? x_min[i] : run_min[i] + c * (x_min[i] - run_min[i]);
      run_max[i] = std::isinf(run_max[i]) ? x_max[i] : run_max[i] + c * (x_max[i] - run_max[i]);
    }
  }
  if (fake_quant_on.item<int64_t>() == 0)
    return {self.clone(), at::ones_like(self, self.options().dtype(at::kBool), at::MemoryFormat::Preserve)};
  float* s = scale.data_ptr<float>();
  int32_t* z = zero_point.data_ptr<int32_t>();
  for (int64_t i = 0; i < channels; ++i) {
    const QParams q = choose_qparams(run_min[i], run_max[i], quant_min, quant_max, symmetric_quant);
    s[i] = q.scale;
    z[i] = q.zero_point;
  }
  if (per_row)
    return ops::fake_quantize_per_channel_affine_cachemask(self, scale, zero_point, 0, quant_min, quant_max);
  return ops::fake_quantize_per_tensor_affine_cachemask_tensor_qparams(self, scale, zero_point, fake_quant_on,
                                                                      quant_min, quant_max);
}

}  // namespace gemforge::ops
