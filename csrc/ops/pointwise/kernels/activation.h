// Pointwise functors of the activations (forward): relu, silu, gelu, threshold, hardtanh,
// hardsigmoid, hardswish, elu, leaky_relu, softplus, softshrink, hardshrink, log_sigmoid, logit,
// mish, add+relu, glu, prelu. Formulas and edge cases are torch's (fp16/bf16 compute in fp32).
#pragma once

#include "ops/pointwise/kernels/base.h"
#include "ops/pointwise/kernels/lowp_math.h"

namespace gemforge::kernels {

GF_STATELESS(relu, kReal, C, (C a), return (is_nan(a) || a > C(0)) ? a : C(0);)
struct silu : op_base {
  static constexpr TypeSet types = kFloating | kComplex;
  template <class C> struct fn {
    GF_HD C operator()(C a) const { return a / (C(1) + std::exp(-a)); }
  };
  struct fn_lowp {
    GF_HD float operator()(float a) const { return a * lowp::sigmoid(a); }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
  template <class C> static fn_lowp make_lowp(const Args&) { return {}; }
};
struct gelu : table_op {  // mode 0: exact (erf), mode 1: tanh approximation
  static constexpr TypeSet types = kFloating;
  static bool table_args(const Args& args) { return args.mode == 0; }  // the tanh form is light enough
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
  // x Phi(x); the tanh form as x sigmoid(2 inner) = 0.5 x (1 + tanh(inner)), which does not
  // cancel where tanh nears -1
  struct fn_lowp {
    bool tanh_approx;
    GF_HD float operator()(float a) const {
      if (tanh_approx) return a * lowp::sigmoid(1.5957691216057308f * (a + 0.044715f * a * a * a));
      return a * lowp::normal_cdf(a);
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.mode == 1}; }
  template <class C> static fn_lowp make_lowp(const Args& args) { return {args.mode == 1}; }
};

// x <= threshold ? value : other. threshold(x) passes x twice; threshold_backward passes
// (self, grad) with value 0. The scalars arrive converted as torch's kernel converts them.
struct threshold : op_base {
  static constexpr TypeSet types = kReal;
  template <class C> struct fn {
    C threshold, value;
    GF_HD C operator()(C x, C other) const { return x <= threshold ? value : other; }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>(), args.s1.to<C>()}; }
};

// clamp(x, min, max) with NaN kept (torch's hardtanh is clamp; min > max gives max).
struct hardtanh : op_base {
  static constexpr TypeSet types = kReal;
  template <class C> struct fn {
    C lo, hi;
    GF_HD C operator()(C x) const {
      if (is_nan(x)) return x;
      const C r = x < lo ? lo : x;
      return r > hi ? hi : r;
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>(), args.s1.to<C>()}; }
};

// min(max(x + 3, 0), 6) / 6, NaN kept.
template <class C> GF_HD C relu6_of(C v) {
  if (is_nan(v)) return v;
  return v < C(0) ? C(0) : (v > C(6) ? C(6) : v);
}
GF_STATELESS(hardsigmoid, kFloating, C, (C x), return relu6_of(x + C(3)) * C(1.0f / 6.0f);)
GF_STATELESS(hardswish, kFloating, C, (C x), return x * relu6_of(x + C(3)) * C(1.0f / 6.0f);)

// x > 0 ? scale * x : alpha * scale * expm1(input_scale * x); celu and selu are elu's.
struct elu : table_op {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C negcoef, poscoef, negiptcoef;
    GF_HD C operator()(C x) const { return x > C(0) ? x * poscoef : std::expm1(x * negiptcoef) * negcoef; }
  };
  struct fn_lowp {
    float negcoef, poscoef, negiptcoef;
    GF_HD float operator()(float x) const { return x > 0.0f ? x * poscoef : lowp::expm1(x * negiptcoef) * negcoef; }
  };
  template <class C> static fn<C> make(const Args& args) {
    return {args.s0.to<C>() * args.s1.to<C>(), args.s1.to<C>(), args.s2.to<C>()};
  }
  template <class C> static fn_lowp make_lowp(const Args& args) {
    const auto f = make<C>(args);
    return {f.negcoef, f.poscoef, f.negiptcoef};
  }
};

struct leaky_relu : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C negval;
    GF_HD C operator()(C x) const { return x > C(0) ? x : x * negval; }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};

// log1p(exp(beta * x)) / beta, linear past beta * x > threshold.
struct softplus : heavy_table_op {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C beta, threshold;
    GF_HD C operator()(C x) const {
      return x * beta > threshold ? x : std::log1p(std::exp(x * beta)) / beta;
    }
  };
  struct fn_lowp {
    float beta, threshold;
    GF_HD float operator()(float x) const {
      return x * beta > threshold ? x : lowp::log1p_nonneg(lowp::exp(x * beta)) / beta;
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>(), args.s1.to<C>()}; }
  template <class C> static fn_lowp make_lowp(const Args& args) { return {args.s0.to<float>(), args.s1.to<float>()}; }
};

// lambd arrives converted as torch's kernel converts it (see activation.cpp).
struct softshrink : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C lambd;
    GF_HD C operator()(C x) const {
      if (is_nan(x)) return x;
      return x > lambd ? x - lambd : (x < -lambd ? x + lambd : C(0));
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};
struct hardshrink : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C lambd;
    GF_HD C operator()(C x) const { return (x >= -lambd && x <= lambd) ? C(0) : x; }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};

// log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)); the cpu's buffer holds exp(-|x|).
struct log_sigmoid : table_op {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    GF_HD C operator()(C x) const {
      const C lower = x < C(0) ? x : C(0);
      return lower - std::log1p(std::exp(-std::abs(x)));
    }
  };
  struct fn_lowp {
    GF_HD float operator()(float x) const {
      const float lower = x < 0.0f ? x : 0.0f;
      return lower - lowp::log1p_nonneg(lowp::exp(-std::fabs(x)));
    }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
  template <class C> static fn_lowp make_lowp(const Args&) { return {}; }
};
GF_STATELESS(log_sigmoid_buffer, kFloating, C, (C x), return std::exp(-std::abs(x));)

// log(x / (1 - x)); with eps (mode 1) x is clamped to [eps, 1 - eps] first.
struct logit : heavy_table_op {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    C lo, hi;
    bool clamp;
    GF_HD C clamped(C x) const { return clamp ? (x < lo ? lo : (x > hi ? hi : x)) : x; }
    GF_HD C operator()(C x) const {
      x = clamped(x);
      return std::log(x / (C(1) - x));
    }
  };
  struct fn_lowp {
    fn<float> accurate;  // its bounds
    GF_HD float operator()(float x) const { return lowp::logit(accurate.clamped(x)); }
  };
  template <class C> static fn<C> make(const Args& args) {
    const C eps = args.s0.to<C>();
    return {eps, C(1) - eps, args.mode == 1};
  }
  template <class C> static fn_lowp make_lowp(const Args& args) { return {make<float>(args)}; }
};

struct mish : heavy_op {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    GF_HD C operator()(C x) const { return x * std::tanh(std::log1p(std::exp(x))); }
  };
  struct fn_lowp {
    GF_HD float operator()(float x) const { return x * lowp::tanh_softplus(x); }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
  template <class C> static fn_lowp make_lowp(const Args&) { return {}; }
};

// relu(self + alpha * other), clamped above at the dtype's largest value as torch's cpu kernel
// does (+inf gives the largest float; NaN stays, as in its vectorized loop).
struct add_relu : op_base {
  static constexpr TypeSet types = kReal;
  template <class C> struct fn {
    C alpha;
    GF_HD C operator()(C a, C b) const {
      const C r = a + alpha * b;
      const C top = std::numeric_limits<C>::max();
      if (is_nan(r)) return r;
      return r > C(0) ? (r > top ? top : r) : C(0);
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};

// glu: first half * sigmoid(second half), the halves as two views.
struct glu : op_base {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    GF_HD C operator()(C a, C b) const { return a * (C(1) / (C(1) + std::exp(-b))); }
  };
  struct fn_lowp {
    GF_HD float operator()(float a, float b) const { return a * lowp::sigmoid(b); }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
  template <class C> static fn_lowp make_lowp(const Args&) { return {}; }
};
GF_STATELESS(prelu, kFloating, C, (C x, C w), return x > C(0) ? x : w * x;)

// The family's kernels; each backend instantiates its run<Op> for every one.
#define GF_KERNELS_ACTIVATION(X)                                                               \
  X(relu) X(silu) X(gelu) X(threshold) X(hardtanh) X(hardsigmoid) X(hardswish) X(elu)          \
  X(leaky_relu) X(softplus) X(softshrink) X(hardshrink) X(log_sigmoid) X(log_sigmoid_buffer)   \
  X(logit) X(mish) X(add_relu) X(glu) X(prelu)

}  // namespace gemforge::kernels
