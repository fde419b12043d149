// Fake quantization (ops/fake_quant.cpp): x -> (clamp(round(x / scale) + zero_point) - zero_point)
// * scale, with a mask of the elements whose quantized value fell inside [quant_min, quant_max]
// (the gradient's support), per tensor or per channel; and the learnable per-tensor form's
// backward, whose scale and zero-point gradients are sums over the tensor.
//
// The kernels walk x, out and mask in memory order: the op hands them dense operands of one
// layout. The per-element arithmetic below is shared by both backends; no ATen.
//
// torch's cpu and cuda kernels agree per tensor but not per channel: there they round in
// different orders, compute the result in double (cpu) or float (cuda), and turn NaN and values
// beyond int64 into int64 differently (x86 gives INT64_MIN for either; the GPU gives INT64_MIN
// for NaN and saturates the rest, and torch's cuda kernel then adds the zero point in int64,
// wrapping). Each backend here follows its own torch kernel: the kCuda template argument picks
// which. (Checked element by element against both on an H200: scripts/dev/fake_quant_diff.py
// locates differences, scripts/dev/fake_quant_standalone.py compares the cuda kernels exactly.)
#pragma once

#include "engine/dtypes.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace gemforge::fake_quant {

constexpr TypeSet kTypes = kFloating;  // x's dtypes in torch's kernels

// Where a per-tensor scale and zero point come from.
enum class Source : int {
  Values,     // Forward::scale / zero_point (the float/int overload)
  Tensors,    // *scale_ptr (float32), *zp_ptr (int32), *enabled_ptr (int64): off gives (x, true)
  Learnable,  // *scale_ptr (float32), *zp_ptr (float32) rounded and clamped to the range
};

struct Forward {
  ScalarType dtype;  // x's and out's
  int64_t n;         // elements
  const void* x;
  void* out;
  bool* mask;  // null: no mask (the learnable forms)
  int64_t quant_min, quant_max;
  bool small_range;  // |quant_min|, |quant_max| <= kSmallRange: per_tensor_small applies
  // per tensor (channels == 0)
  Source source;
  float scale;
  int64_t zero_point;
  const float* scale_ptr;
  const void* zp_ptr;
  const int64_t* enabled_ptr;
  // per channel (channels > 0): the channel of the element at memory offset i is
  // (i / channel_stride) % channels; scales and zero points are 1-d and contiguous
  int64_t channels, channel_stride;
  const void* scales;
  ScalarType scale_dtype;  // float32 or bfloat16
  const void* zero_points;
  ScalarType zp_dtype;  // int32, float32 or float16 (learnable: any floating dtype)
  bool learnable_zp;    // round and clamp the zero points, then use them as integers
};

// _fake_quantize_learnable_per_tensor_affine_backward over float32 x and grad (n elements):
// grad_x (x's layout), and the sums of the scale's and zero point's gradients into
// grad_scale[0] and grad_zero_point[0].
struct Backward {
  int64_t n;
  const float* x;
  const float* grad;
  float* grad_x;
  float* grad_scale;
  float* grad_zero_point;
  const float* scale_ptr;  // float32 scale[0]
  const float* zp_ptr;     // float32 zero_point[0]
  int64_t quant_min, quant_max;
  float grad_factor;
};

void forward_cpu(const Forward& f);
void forward_cuda(const Forward& f);
void backward_cpu(const Backward& b);
void backward_cuda(const Backward& b);

// ---- per-element arithmetic ------------------------------------------------------------------

template <class C> GF_HD C round_even(C v) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(C) == 4) return ::rintf(v); else return ::rint(v);
#else
  return std::nearbyint(v);
#endif
}

// C++'s float -> int64 as each machine does it: NaN gives INT64_MIN on both; values out of
// range give INT64_MIN on x86 and the nearest end of the range on the GPU.
template <bool kCuda, class C> GF_HD int64_t to_int64(C v) {
  constexpr C kTwo63 = C(9223372036854775808.0);
  if (v >= -kTwo63 && v < kTwo63) return static_cast<int64_t>(v);
  if (!kCuda || v != v || v < C(0)) return std::numeric_limits<int64_t>::min();
  return std::numeric_limits<int64_t>::max();
}

// Per tensor, on both backends. C: float (x of 2 or 4 bytes) or double. q is clamped as a
// float (NaN to quant_min, outside the range: never in it); torch computes the value in float
// for every dtype and rounds it to x's.
template <class C>
GF_HD float per_tensor(C x, float scale, float inv_scale, int64_t zp, int64_t qmin, int64_t qmax, bool& in_range) {
  const C q = round_even(x * C(inv_scale)) + C(zp);
  in_range = C(qmin) <= q && q <= C(qmax);
  const double low = double(q) > double(qmin) ? double(q) : double(qmin);  // NaN -> quant_min
  const double clamped = low < double(qmax) ? low : double(qmax);
  return float(static_cast<int64_t>(clamped) - zp) * scale;
}

// per_tensor without int64 or double: every operand in C. The same results where quant_min,
// quant_max and the zero point are integers of at most 2^24 in magnitude (Forward::small_range,
// and the zero point checked where it is read). On cuda the int64 and double conversions made
// 2-byte inputs compute-bound (bf16 4096^2 ran at 54% of copy, 0.82x torch, on an H200).
template <class C>
GF_HD float per_tensor_small(C x, float scale, float inv_scale, C zp, C qmin, C qmax, bool& in_range) {
  const C q = round_even(x * C(inv_scale)) + zp;
  in_range = qmin <= q && q <= qmax;
  const C clamped = q > qmin ? (q < qmax ? q : qmax) : qmin;  // NaN -> quant_min
  return float(clamped - zp) * scale;
}
constexpr int64_t kSmallRange = int64_t(1) << 24;

// The learnable forms' zero point: rounded (forward) and clamped to the range.
GF_HD int64_t learnable_zero_point(float zp, int64_t qmin, int64_t qmax) {
  const float r = round_even(zp);
  const float low = r > float(qmin) ? r : float(qmin);
  return static_cast<int64_t>(low < float(qmax) ? low : float(qmax));
}

// A per-tensor call's scale, 1 / scale and zero point, read once a thread (on cuda from device
// memory: no host sync); enabled is false where fake_quant_enabled is 0.
struct Resolved {
  float scale, inv_scale;
  int64_t zero_point;
  bool enabled;
};
GF_HD Resolved resolve(const Forward& f) {
  switch (f.source) {
    case Source::Tensors: {
      const float s = *f.scale_ptr;
      return {s, 1.0f / s, int64_t(*static_cast<const int32_t*>(f.zp_ptr)), *f.enabled_ptr != 0};
    }
    case Source::Learnable: {
      const float s = *f.scale_ptr;
      return {s, 1.0f / s, learnable_zero_point(*static_cast<const float*>(f.zp_ptr), f.quant_min, f.quant_max),
              true};
    }
    default: return {f.scale, 1.0f / f.scale, f.zero_point, true};
  }
}

// A per-channel operand (scale or zero point) read as C.
template <class C> GF_HD C load_as(const void* p, ScalarType t, int64_t i) {
  switch (t) {
    case ScalarType::Int: return C(static_cast<const int32_t*>(p)[i]);
    case ScalarType::Half: return C(float(static_cast<const c10::Half*>(p)[i]));
    case ScalarType::BFloat16: return C(float(static_cast<const c10::BFloat16*>(p)[i]));
    case ScalarType::Double: return C(static_cast<const double*>(p)[i]);
    default: return C(static_cast<const float*>(p)[i]);
  }
}

// Per channel, zp as its operand type (int32 read as int64, float or half read as float), inv_scale
// = 1 / scale in float (torch divides per element; its operands are the channel's).
// cpu, integer zp: zp + round(x / scale) as x86 converts it to int64, the value in double;
// cpu, floating zp: round(float(zp + x / scale)), the value in double;
// cuda, integer zp: int64(round(x / scale)) + zp in int64 (wrapping), the value in float;
// cuda, floating zp: int64(round(x / scale + zp)), clamped as a float, the value in float.
// On cuda, with a small range (Forward::small_range), float operands whose rounded quotient and
// zero point are below 2^30 in magnitude take 32-bit integers (no sum can wrap there, and a float
// converts the same from either width): the int64 conversions and compares made the per-channel
// kernel compute-bound.
template <bool kCuda, class C>
GF_HD std::conditional_t<kCuda, float, double> per_channel(C x, float scale, float inv_scale, C zp, bool int_zp,
                                                            int64_t qmin, int64_t qmax, bool small_range,
                                                            bool& in_range) {
  if constexpr (kCuda) {
    constexpr C kSmall = C(1 << 30);
    if (int_zp) {
      const C r = round_even(x * C(inv_scale));
      if (std::is_same_v<C, float> && small_range && r > -kSmall && r < kSmall && zp > -kSmall && zp < kSmall) {
        const int32_t z = static_cast<int32_t>(zp), q = static_cast<int32_t>(r) + z;
        in_range = qmin <= q && q <= qmax;
        const int32_t bounded = q < qmin ? int32_t(qmin) : (q > qmax ? int32_t(qmax) : q);
        return float(bounded - z) * scale;
      }
      const int64_t z = static_cast<int64_t>(zp);
      const int64_t q = static_cast<int64_t>(uint64_t(to_int64<true>(r)) + uint64_t(z));
      in_range = qmin <= q && q <= qmax;
      const int64_t bounded = q < qmin ? qmin : (q > qmax ? qmax : q);
      return float(bounded - z) * scale;
    }
    const C v = round_even(x * C(inv_scale) + zp);
    const int64_t q = std::is_same_v<C, float> && v > -kSmall && v < kSmall ? int64_t(static_cast<int32_t>(v))
                                                                             : to_int64<true>(v);
    in_range = qmin <= q && q <= qmax;
    const float low = float(q) > float(qmin) ? float(q) : float(qmin);
    return ((low < float(qmax) ? low : float(qmax)) - float(zp)) * scale;
  } else {
    const int64_t q = int_zp ? to_int64<false>(zp + round_even(x * C(inv_scale)))
                             : to_int64<false>(round_even(float(zp + x * C(inv_scale))));
    in_range = qmin <= q && q <= qmax;
    const double bounded = double(q < qmin ? qmin : (q > qmax ? qmax : q));
    return (bounded - double(zp)) * double(scale);
  }
}

// ---- one element of a forward call, on either backend -----------------------------------------

// The arithmetic type of x's dtype: float for 2- and 4-byte floats, double for double.
template <class T> using compute_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// How a per-tensor call computes its elements, decided once a call from its resolved values:
// fake quantization switched off (x, mask true), per_tensor_small where its operands allow (the
// same results, no int64), else per_tensor. Each backend runs one loop a form, so that the
// element loop holds no branch on them.
enum class TensorForm { Identity, Small, General };
GF_HD TensorForm form_of(const Forward& f, const Resolved& r) {
  if (!r.enabled) return TensorForm::Identity;
  return f.small_range && r.zero_point >= -kSmallRange && r.zero_point <= kSmallRange ? TensorForm::Small
                                                                                      : TensorForm::General;
}

// Element x of a per-tensor call; `inside` is its mask bit.
template <TensorForm kForm, class T>
GF_HD T tensor_element(const Forward& f, const Resolved& r, T x, bool& inside) {
  using C = compute_t<T>;
  if constexpr (kForm == TensorForm::Identity) {
    inside = true;
    return x;
  } else if constexpr (kForm == TensorForm::Small) {
    return T(per_tensor_small(C(x), r.scale, r.inv_scale, C(r.zero_point), C(f.quant_min), C(f.quant_max), inside));
  } else {
    return T(per_tensor(C(x), r.scale, r.inv_scale, r.zero_point, f.quant_min, f.quant_max, inside));
  }
}

// visit(form) with the call's form as a std::integral_constant<TensorForm, ...>: the caller
// writes its loop once and gets one copy a form, the form decided before any loop runs.
template <class Visit> GF_HD void with_form(const Forward& f, const Resolved& r, Visit&& visit) {
  switch (form_of(f, r)) {
    case TensorForm::Identity: return visit(std::integral_constant<TensorForm, TensorForm::Identity>{});
    case TensorForm::Small: return visit(std::integral_constant<TensorForm, TensorForm::Small>{});
    case TensorForm::General: return visit(std::integral_constant<TensorForm, TensorForm::General>{});
  }
}

// A channel's operands as its elements use them: read, and the learnable zero point rounded,
// once a channel where the caller can (a vector of one channel), else once an element.
template <class C> struct Channel {
  float scale, inv_scale;
  C zp;
  bool int_zp;
};
template <class C> GF_HD Channel<C> channel_of(const Forward& f, int64_t c) {
  const float scale = load_as<float>(f.scales, f.scale_dtype, c);
  C zp = load_as<C>(f.zero_points, f.zp_dtype, c);
  if (f.learnable_zp) zp = C(learnable_zero_point(float(zp), f.quant_min, f.quant_max));
  return {scale, 1.0f / scale, zp, f.learnable_zp || f.zp_dtype == ScalarType::Int};
}

// Element x of a per-channel call, in channel ch.
template <bool kCuda, class T>
GF_HD T channel_element(const Forward& f, const Channel<compute_t<T>>& ch, T x, bool& inside) {
  using C = compute_t<T>;
  return T(per_channel<kCuda>(C(x), ch.scale, ch.inv_scale, ch.zp, ch.int_zp, f.quant_min, f.quant_max, f.small_range,
                              inside));
}

// The learnable per-tensor backward's terms for one element: grad_x, and the element's share of
// the scale's and zero point's gradients.
template <bool kCuda>
GF_HD void learnable_grads(float x, float dy, float scale, float inv_scale, int64_t zp, int64_t qmin,
                           int64_t qmax, float grad_factor, float& dx, float& dscale, float& dzp) {
  const int64_t xq = kCuda ? to_int64<true>(round_even(x * inv_scale) + float(zp))
                           : to_int64<false>(round_even(float(zp) + x * inv_scale));
  const bool inside = xq >= qmin && xq <= qmax;
  dx = dy * float(inside);
  if (!inside) {
    dzp = dy * -1.0f * scale * grad_factor;
    dscale = (xq < qmin ? dy * float(qmin - zp) : dy * float(qmax - zp)) * grad_factor;
  } else {
    const float xfq = float(xq - zp) * scale;  // xq is in the range: its clamp is itself
    dzp = 0.0f;
    dscale = dy * (xfq - x) * inv_scale * grad_factor;
  }
}

// The backward's zero point: zp + 0.5 truncated, clamped to the range.
GF_HD int64_t backward_zero_point(float zp, int64_t qmin, int64_t qmax) {
  const float low = zp + 0.5f > float(qmin) ? zp + 0.5f : float(qmin);
  return static_cast<int64_t>(low < float(qmax) ? low : float(qmax));
}

}  // namespace gemforge::fake_quant
