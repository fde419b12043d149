// Pointwise functors: relu, silu, gelu.
#pragma once

#include "ops/pointwise/kernels/base.h"

namespace gemforge::kernels {

GF_STATELESS(relu, kReal, C, (C a), return (is_nan(a) || a > C(0)) ? a : C(0);)
GF_STATELESS(silu, kFloating | kComplex, C, (C a), return a / (C(1) + std::exp(-a));)
struct gelu : op_base {  // mode 0: exact (erf), mode 1: tanh approximation
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    bool tanh_approx;
    GF_HD C operator()(C a) const {
      if (tanh_approx) {
        const C k_beta = C(0.7978845608028654);  // sqrt(2 / pi)
        const C inner = k_beta * (a + C(0.044715) * a * a * a);
        return C(0.5) * a * (C(1) + std::tanh(inner));
      }
      return a * C(0.5) * (C(1) + std::erf(a * C(0.7071067811865476)));
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.mode == 1}; }
};

// The family's kernels; each backend instantiates its run<Op> for every one.
#define GF_KERNELS_ACTIVATION(X) X(relu) X(silu) X(gelu)

}  // namespace gemforge::kernels
