// Pointwise functors of the losses (reduction 'none' forward, and every backward), over
// backends/loss.h's formulas; instantiated by backends/cpu/loss.cpp and backends/cuda/loss.cu.
#pragma once

#include "backends/loss.h"
#include "ops/pointwise/kernels/base.h"

namespace gemforge::kernels {

// (x, y) -> loss; s0: the op's parameter (beta, delta; unused by mse).
template <loss::Kind K> struct loss_forward : op_base {
  static constexpr TypeSet types = loss::kLossTypes;
  template <class C> struct fn {
    C param;
    GF_HD C operator()(C x, C y) const { return loss::pointwise<K>(x, y, param); }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};

// (grad, x, y) -> grad_input; s0: norm, s1: the op's parameter.
template <loss::Kind K> struct loss_backward : op_base {
  static constexpr TypeSet types = loss::kLossTypes;
  template <class C> struct fn {
    C norm, param;
    GF_HD C operator()(C grad, C x, C y) const { return loss::pointwise_grad<K>(x, y, grad, norm, param); }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>(), args.s1.to<C>()}; }
};

using mse_forward = loss_forward<loss::Kind::mse>;
using smooth_l1_forward = loss_forward<loss::Kind::smooth_l1>;
using huber_forward = loss_forward<loss::Kind::huber>;
using mse_backward = loss_backward<loss::Kind::mse>;
using smooth_l1_backward = loss_backward<loss::Kind::smooth_l1>;
using huber_backward = loss_backward<loss::Kind::huber>;

using soft_margin_forward = loss_forward<loss::Kind::soft_margin>;
using soft_margin_backward = loss_backward<loss::Kind::soft_margin>;
// The unweighted forms: two inputs, so dense operands take the vector kernels.
using bce_forward = loss_forward<loss::Kind::bce>;
using bce_logits_forward = loss_forward<loss::Kind::bce_logits>;

// binary_cross_entropy with a weight: (x, y, weight) -> weight * loss.
struct bce_forward_weighted : op_base {
  static constexpr TypeSet types = loss::kLossTypes;
  template <class C> struct fn {
    GF_HD C operator()(C x, C y, C w) const { return w * loss::bce(x, y); }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
};

// binary_cross_entropy_backward: (grad, x, y[, weight]) -> grad_input; s0: norm (1/n for mean).
// torch's formula: grad (x - y) / max((1 - x) x, 1e-12) weight.
template <class C> GF_HD C bce_grad(C grad, C x, C y, C norm) {
  const C denom = (C(1) - x) * x;
  return norm * grad * (x - y) / (denom > C(1e-12) ? denom : C(1e-12));
}
struct bce_backward : op_base {
  static constexpr TypeSet types = loss::kLossTypes;
  template <class C> struct fn {
    C norm;
    GF_HD C operator()(C grad, C x, C y) const { return bce_grad(grad, x, y, norm); }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};
struct bce_backward_weighted : op_base {
  static constexpr TypeSet types = loss::kLossTypes;
  template <class C> struct fn {
    C norm;
    GF_HD C operator()(C grad, C x, C y, C w) const { return bce_grad(grad, x, y, norm) * w; }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};

// binary_cross_entropy_with_logits with weights: (x, y, weight, pos_weight) -> weight * loss
// (a missing weight or pos_weight: 1).
struct bce_logits_forward_weighted : op_base {
  static constexpr TypeSet types = loss::kLossTypes;
  template <class C> struct fn {
    GF_HD C operator()(C x, C y, C w, C pw) const { return w * loss::bce_logits(x, y, pw); }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
};

#define GF_KERNELS_LOSS(X)                                                              \
  X(mse_forward) X(smooth_l1_forward) X(huber_forward) X(mse_backward) X(smooth_l1_backward) \
  X(huber_backward) X(soft_margin_forward) X(soft_margin_backward) X(bce_forward)           \
  X(bce_forward_weighted) X(bce_backward) X(bce_backward_weighted) X(bce_logits_forward)    \
  X(bce_logits_forward_weighted)

}  // namespace gemforge::kernels
