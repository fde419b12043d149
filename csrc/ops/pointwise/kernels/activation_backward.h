// Pointwise functors of the activations' backward ops: grad_input from (grad_output, self or
// result), as torch's autograd calls them. Formulas and edge cases are torch's.
#pragma once

#include "ops/pointwise/kernels/base.h"
#include "ops/pointwise/kernels/lowp_math.h"

namespace gemforge::kernels {

// Where torch's cpu kernels (their vectorized loop) and its cuda kernels disagree on an input of
// NaN, each backend follows its own device: on the cpu `inside` is written so that NaN is outside.
#if defined(__CUDA_ARCH__)
#define GF_TORCH_CUDA 1
#else
#define GF_TORCH_CUDA 0
#endif

// mode 0: d/dx of x * Phi(x); mode 1: of the tanh approximation.
struct gelu_backward : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    bool tanh_approx;
    GF_HD C operator()(C dy, C x) const {
      if (tanh_approx) {
        const C k_beta = C(0.7978845608028654);  // sqrt(2 / pi)
        const C k_kappa = C(0.044715);
        const C x_sq = x * x;
        const C inner = k_beta * (x + k_kappa * x_sq * x);
        const C t = std::tanh(inner);
        const C left = C(0.5) * x;
        const C right = C(1) + t;
        const C inner_derivative = k_beta * (C(1) + C(3) * k_kappa * x_sq);
        return dy * (C(0.5) * right + left * (C(1) - t * t) * inner_derivative);
      }
      const C k_alpha = C(0.3989422804014327);  // 1 / sqrt(2 pi)
      const C cdf = C(0.5) * (C(1) + std::erf(x * C(0.7071067811865476)));
      const C pdf = k_alpha * std::exp(C(-0.5) * x * x);
      return dy * (cdf + x * pdf);
    }
  };
  // The tanh form through s = sigmoid(2 inner) = (1 + t) / 2 and 1 - s = sigmoid(-2 inner), so
  // that 1 - t^2 = 4 s (1 - s) does not cancel.
  struct fn_lowp {
    bool tanh_approx;
    GF_HD float operator()(float dy, float x) const {
      if (tanh_approx) {
        const float k_beta = 0.7978845608028654f, k_kappa = 0.044715f;
        const float x_sq = x * x;
        const float inner2 = 2.0f * k_beta * (x + k_kappa * x_sq * x);
        const float s = lowp::sigmoid(inner2), s_neg = lowp::sigmoid(-inner2);
        return dy * (s + 2.0f * x * s * s_neg * k_beta * (1.0f + 3.0f * k_kappa * x_sq));
      }
      return dy * (lowp::normal_cdf(x) + x * 0.3989422804014327f * lowp::exp(-0.5f * x * x));
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.mode == 1}; }
  template <class C> static fn_lowp make_lowp(const Args& args) { return {args.mode == 1}; }
};

struct silu_backward : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    GF_HD C operator()(C dy, C x) const {
      const C s = C(1) / (C(1) + std::exp(-x));
      return dy * s * (C(1) + x * (C(1) - s));
    }
  };
  struct fn_lowp {
    GF_HD float operator()(float dy, float x) const {
      const float s = lowp::sigmoid(x);
      return dy * s * (1.0f + x * (1.0f - s));
    }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
  template <class C> static fn_lowp make_lowp(const Args&) { return {}; }
};
GF_STATELESS(sigmoid_backward, kFloating, C, (C dy, C y), return dy * (C(1) - y) * y;)
// round_square: torch's cuda kernel squares a half-type y in that type (round_to_storage) before
// the float subtraction; its cpu kernel keeps the float square.
struct tanh_backward : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    int round_square;
    GF_HD C operator()(C dy, C y) const { return dy * (C(1) - round_to_storage(y * y, round_square)); }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.mode}; }
};

struct hardtanh_backward : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C lo, hi;
    GF_HD C operator()(C dy, C x) const {
      const bool inside = GF_TORCH_CUDA ? !(x <= lo || x >= hi) : (x > lo && x < hi);
      return inside ? dy : C(0);
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>(), args.s1.to<C>()}; }
};
GF_STATELESS(hardsigmoid_backward, kFloating, C, (C dy, C x),
  return (x > C(-3) && x < C(3)) ? dy * C(1.0f / 6.0f) : C(0);)
// torch's two kernels disagree at +-3 as well as on NaN.
struct hardswish_backward : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    GF_HD C operator()(C dy, C x) const {
      if (GF_TORCH_CUDA) return x <= C(-3) ? C(0) : (x < C(3) ? dy * (x / C(3) + C(0.5)) : dy);
      return x <= C(-3) ? C(0) : (x >= C(3) ? dy : dy * (x / C(3) + C(0.5)));
    }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
};

// mode 1: `y` is elu's result (in-place elu), else its input.
struct elu_backward : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C negcoef, poscoef, negiptcoef;
    bool is_result;
    GF_HD C operator()(C dy, C y) const {
      if (GF_TORCH_CUDA ? !(y <= C(0)) : y > C(0)) return dy * poscoef;
      if (is_result) return dy * negiptcoef * (y + negcoef);
      return dy * negiptcoef * negcoef * std::exp(y * negiptcoef);
    }
  };
  template <class C> static fn<C> make(const Args& args) {
    return {args.s0.to<C>() * args.s1.to<C>(), args.s1.to<C>(), args.s2.to<C>(), args.mode == 1};
  }
};

struct leaky_relu_backward : op_base {  // inputs (self, grad)
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C negval;
    GF_HD C operator()(C x, C dy) const { return x > C(0) ? dy : dy * negval; }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};

struct softplus_backward : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C beta, threshold;
    GF_HD C operator()(C dy, C x) const {
      const C z = std::exp(x * beta);
      return x * beta > threshold ? dy : dy * z / (z + C(1));
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>(), args.s1.to<C>()}; }
};

// softshrink's and hardshrink's backward; lambd arrives in the tensor's dtype.
struct shrink_backward : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C lambd;
    GF_HD C operator()(C dy, C x) const {
      const bool outside = GF_TORCH_CUDA ? !(x >= -lambd && x <= lambd) : (x < -lambd || x > lambd);
      return outside ? dy : C(0);
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};

GF_STATELESS(log_sigmoid_backward, kFloating, C, (C dy, C x),
  const C z = std::exp(-std::abs(x));
  const bool negative = x < C(0);
  const C max_deriv = negative ? C(1) : C(0);
  const C sign = negative ? C(1) : C(-1);
  return dy * (max_deriv - sign * (z / (C(1) + z)));)

// Without eps (mode 0) outside [0, 1] is NaN; with eps outside [eps, 1 - eps] is 0.
struct logit_backward : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C lo, hi;
    bool has_eps;
    GF_HD C operator()(C dy, C x) const {
      if (!has_eps) return (x < C(0) || x > C(1)) ? std::numeric_limits<C>::quiet_NaN() : dy / (x * (C(1) - x));
      const bool inside = GF_TORCH_CUDA ? !(x < lo || x > hi) : (x >= lo && x <= hi);
      return inside ? dy / (x * (C(1) - x)) : C(0);
    }
  };
  template <class C> static fn<C> make(const Args& args) {
    const C lo = args.s0.to<C>();
    return {lo, C(1) - lo, args.mode == 1};
  }
};

struct mish_backward : heavy_op {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    GF_HD C operator()(C dy, C x) const {
      const C s = C(1) / (C(1) + std::exp(-x));
      const C t = std::tanh(std::log1p(std::exp(x)));
      return dy * (t + x * s * (C(1) - t * t));
    }
  };
  struct fn_lowp {
    GF_HD float operator()(float dy, float x) const {
      const float s = lowp::sigmoid(x), t = lowp::tanh_softplus(x);
      return dy * (t + x * s * (1.0f - t * t));
    }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
  template <class C> static fn_lowp make_lowp(const Args&) { return {}; }
};

// glu's gradient, one half at a time, from (first half a, second half b, grad).
struct glu_backward_first : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    GF_HD C operator()(C, C b, C dy) const { return dy * (C(1) / (C(1) + std::exp(-b))); }
  };
  struct fn_lowp {
    GF_HD float operator()(float, float b, float dy) const { return dy * lowp::sigmoid(b); }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
  template <class C> static fn_lowp make_lowp(const Args&) { return {}; }
};
struct glu_backward_second : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    GF_HD C operator()(C a, C b, C dy) const {
      const C s = C(1) / (C(1) + std::exp(-b));
      return (C(1) - s) * s * a * dy;
    }
  };
  struct fn_lowp {  // (1 - s) as sigmoid(-b): no cancellation where s nears 1
    GF_HD float operator()(float a, float b, float dy) const {
      return lowp::sigmoid(-b) * lowp::sigmoid(b) * a * dy;
    }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
  template <class C> static fn_lowp make_lowp(const Args&) { return {}; }
};

// prelu's gradients from (self, weight, grad): d/dself and d/dweight.
GF_STATELESS(prelu_backward_self, kFloating, C, (C x, C w, C dy), return x > C(0) ? dy : w * dy;)
GF_STATELESS(prelu_backward_weight, kFloating, C, (C x, C w, C dy),
  (void)w;
  return x > C(0) ? C(0) : x * dy;)

// The family's kernels; each backend instantiates its run<Op> for every one.
#define GF_KERNELS_ACTIVATION_BACKWARD(X)                                                      \
  X(gelu_backward) X(silu_backward) X(sigmoid_backward) X(tanh_backward) X(hardtanh_backward)  \
  X(hardsigmoid_backward) X(hardswish_backward) X(elu_backward) X(leaky_relu_backward)         \
  X(softplus_backward) X(shrink_backward) X(log_sigmoid_backward) X(logit_backward)            \
  X(mish_backward) X(glu_backward_first) X(glu_backward_second) X(prelu_backward_self)         \
  X(prelu_backward_weight)

#undef GF_TORCH_CUDA

}  // namespace gemforge::kernels
