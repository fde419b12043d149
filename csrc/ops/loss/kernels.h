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

#define GF_KERNELS_LOSS(X)                                                              \
  X(mse_forward) X(smooth_l1_forward) X(huber_forward) X(mse_backward) X(smooth_l1_backward) \
  X(huber_backward)

}  // namespace gemforge::kernels
