// The losses' kernels: the per-element formulas (shared by the pointwise functors of
// ops/loss/kernels.h and the fused reductions here), the fused mean/sum of a pointwise loss over
// dense operands, and nll_loss forward/backward. c10 types only (nvcc-safe).
#pragma once

#include "engine/dtypes.h"

#include <cmath>
#include <cstdint>

namespace gemforge::loss {

// ---- per-element formulas (C: the compute type) --------------------------------------------------
enum class Kind : int { mse, smooth_l1, huber, bce, soft_margin, bce_logits };

// log(sigmoid(x)), stable for large |x|.
template <class C> GF_HD C log_sigmoid(C x) {
  return (x < C(0) ? x : C(0)) - std::log1p(std::exp(-std::abs(x)));
}

// binary_cross_entropy of probability x and target y; torch clamps each log at -100.
template <class C> GF_HD C bce(C x, C y) {
  const C log_x = std::log(x), log_1mx = std::log1p(-x);
  return (y - C(1)) * (log_1mx > C(-100) ? log_1mx : C(-100)) - y * (log_x > C(-100) ? log_x : C(-100));
}

// binary_cross_entropy_with_logits of logit x, target y, pos_weight pw: torch's formula
// (1 - y) x - (1 + (pw - 1) y) log_sigmoid(x).
template <class C> GF_HD C bce_logits(C x, C y, C pw) {
  return (C(1) - y) * x - (C(1) + (pw - C(1)) * y) * log_sigmoid(x);
}

template <Kind K, class C> GF_HD C pointwise(C x, C y, C param) {
  [[maybe_unused]] const C d = x - y;
  if constexpr (K == Kind::mse) {
    return d * d;
  } else if constexpr (K == Kind::smooth_l1) {  // param: beta > 0
    const C z = std::abs(d);
    return z < param ? C(0.5) * z * z / param : z - C(0.5) * param;
  } else if constexpr (K == Kind::huber) {  // param: delta
    const C z = std::abs(d);
    return z < param ? C(0.5) * z * z : param * (z - C(0.5) * param);
  } else if constexpr (K == Kind::bce) {
    return bce(x, y);
  } else if constexpr (K == Kind::soft_margin) {  // torch's log1p(exp(-y x)): inf where exp overflows
    return std::log1p(std::exp(-y * x));
  } else {  // bce_logits without weights
    return bce_logits(x, y, C(1));
  }
}

// d loss / d x times the incoming gradient, `norm` folded in (1/n for mean).
template <Kind K, class C> GF_HD C pointwise_grad(C x, C y, C grad, C norm, C param) {
  [[maybe_unused]] const C d = x - y;
  if constexpr (K == Kind::mse) {
    return norm * d * grad;  // norm carries the 2
  } else if constexpr (K == Kind::smooth_l1) {
    if (d <= -param) return -norm * grad;
    if (d >= param) return norm * grad;
    return norm * d / param * grad;
  } else if constexpr (K == Kind::huber) {
    if (d <= -param) return -norm * grad * param;
    if (d >= param) return norm * grad * param;
    return norm * d * grad;
  } else {  // soft_margin (torch's formula: NaN where exp(-y x) overflows, as torch)
    static_assert(K == Kind::soft_margin, "no pointwise gradient for this kind");
    const C z = std::exp(-y * x);
    return -y * z / (C(1) + z) * norm * grad;
  }
}

// Dtypes of the fused reductions and nll_loss.
constexpr TypeSet kLossTypes = kFloating;

// ---- fused mean / sum of a pointwise loss --------------------------------------------------------
// out (one element of dtype) = sum or mean over i < n of pointwise<kind>(x[i], y[i], param);
// x, y dense of dtype. Partial sums over fixed chunks combined in a fixed order.
struct Reduce {
  Kind kind;
  ScalarType dtype;
  const void* x;
  const void* y;
  void* out;
  int64_t n;
  double param;
  bool mean;
};

// ---- nll_loss -------------------------------------------------------------------------------------
// self [N, C, S] dense (S: the spatial size of nll_loss2d, 1 for nll_loss), target [N, S] int64,
// weight [C] or null; all floating of dtype but target.
enum Reduction : int { kNone = 0, kMean = 1, kSum = 2 };

struct Nll {
  ScalarType dtype;
  const void* self;
  const int64_t* target;
  const void* weight;
  void* out;           // [N, S] (none) or one element
  void* total_weight;  // one element
  int64_t N, C, S, ignore_index;
  int reduction;
};

// grad_input [N, C, S] dense = the gradient; grad_out [N, S] (none) or one element.
struct NllBackward {
  ScalarType dtype;
  const void* grad_out;
  const int64_t* target;
  const void* weight;
  const void* total_weight;
  void* grad_input;
  int64_t N, C, S, ignore_index;
  int reduction;
};

#define GF_LOSS_LAUNCHERS(dev)                     \
  void reduce_##dev(const Reduce& r);              \
  void nll_forward_##dev(const Nll& p);            \
  void nll_backward_##dev(const NllBackward& p);
GF_LOSS_LAUNCHERS(cpu)
GF_LOSS_LAUNCHERS(cuda)
#undef GF_LOSS_LAUNCHERS

// Calls f(type_tag<T>{}, integral_constant kind) for r's dtype and kind.
template <class F> bool dispatch_kind(Kind k, F&& f) {
  switch (k) {
    case Kind::mse: f(std::integral_constant<Kind, Kind::mse>{}); return true;
    case Kind::smooth_l1: f(std::integral_constant<Kind, Kind::smooth_l1>{}); return true;
    case Kind::huber: f(std::integral_constant<Kind, Kind::huber>{}); return true;
    case Kind::bce: f(std::integral_constant<Kind, Kind::bce>{}); return true;
    case Kind::soft_margin: f(std::integral_constant<Kind, Kind::soft_margin>{}); return true;
    case Kind::bce_logits: f(std::integral_constant<Kind, Kind::bce_logits>{}); return true;
  }
  return false;
}

}  // namespace gemforge::loss
