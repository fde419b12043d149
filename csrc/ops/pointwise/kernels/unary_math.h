// Pointwise functors: exp, log, sqrt, rsqrt, sin, cos, tanh, sigmoid: integer inputs were promoted to float by
// the iterator.
#pragma once

#include "ops/pointwise/kernels/base.h"

namespace gemforge::kernels {

GF_STATELESS(exp, kFloating | kComplex, C, (C a), return std::exp(a);)
GF_STATELESS(log, kFloating | kComplex, C, (C a), return std::log(a);)
GF_STATELESS(sqrt, kFloating | kComplex, C, (C a), return std::sqrt(a);)
GF_STATELESS(rsqrt, kFloating | kComplex, C, (C a), return rsqrt_of(a);)
GF_STATELESS(sin, kFloating | kComplex, C, (C a), return std::sin(a);)
GF_STATELESS(cos, kFloating | kComplex, C, (C a), return std::cos(a);)
GF_STATELESS(tanh, kFloating | kComplex, C, (C a), return std::tanh(a);)
GF_STATELESS(sigmoid, kFloating | kComplex, C, (C a), return C(1) / (C(1) + std::exp(-a));)

// The family's kernels; each backend instantiates its run<Op> for every one.
#define GF_KERNELS_UNARY_MATH(X) X(exp) X(log) X(sqrt) X(rsqrt) X(sin) X(cos) X(tanh) X(sigmoid)

}  // namespace gemforge::kernels
