// frexp: x = mantissa * 2^exponent, two outputs from one read of x.
//
// The engine's launch carries the outputs as operands 0 (mantissa, x's dtype) and 1 (exponent,
// int32) and x as operand 2; the one-output functor loops do not fit, so each backend has its own
// loop: run_cpu / run_cuda are specialized for this op (backends/{cpu,cuda}/pointwise_frexp).
#pragma once

#include "ops/pointwise/kernels/base.h"

#include <cstdint>

namespace gemforge::kernels {

struct frexp : op_base {
  static constexpr TypeSet types = kFloating;
};

// |mantissa| in [0.5, 1); zeros, infinities and NaN give (x, 0) as torch does on every backend.
// fp16/bf16 arrive as float, whose mantissa they hold exactly.
template <class C> GF_HD C frexp_of(C x, int32_t& exponent) {
  exponent = 0;
  if (x == C(0) || !std::isfinite(x)) return x;
  int e = 0;
#if defined(__CUDA_ARCH__)
  const C m = sizeof(C) == 4 ? C(::frexpf(float(x), &e)) : C(::frexp(double(x), &e));
#else
  const C m = std::frexp(x, &e);
#endif
  exponent = e;
  return m;
}

}  // namespace gemforge::kernels

namespace gemforge::pw {
template <> void run_cpu<kernels::frexp>(const Launch& launch, const Args& args);
template <> void run_cuda<kernels::frexp>(const Launch& launch, const Args& args);
}  // namespace gemforge::pw
