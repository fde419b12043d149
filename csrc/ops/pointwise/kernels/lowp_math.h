// Float math for results stored in a 2-byte float (fp16 / bf16, computed in float), used by the
// cuda backend through an op's make_lowp (base.h). torch's accurate float functions (expf, erff,
// IEEE division) are several times the instructions of the hardware approximations, and made
// the 2-byte activations issue-bound: issue slots 65-85% busy against memory 30-45% (ncu,
// H200, scripts/dev/pointwise_roofline.py). The approximations' errors (at most 2e-5 relative
// here, in normal_cdf's far tail; a few float ulp elsewhere) are far below the storage's half
// ulp (2^-9 bf16, 2^-12 fp16), so a result differs from the accurate one only where it lies
// within that error of a rounding boundary. Infinities and NaN give what the accurate formulas
// give. On the host (never called there by the backends) the accurate functions stand in.
#pragma once

#include "engine/dtypes.h"

#include <cmath>

namespace gemforge::kernels::lowp {

// e^x: ex2.approx of x log2(e), relative error about 2^-21 for |x| < 88 (results that would be
// float subnormals flush to 0).
GF_HD float exp(float x) {
#ifdef __CUDA_ARCH__
  return __expf(x);
#else
  return std::exp(x);
#endif
}

// 1 / x, rcp.approx (1 ulp); 1 / inf = 0, 1 / NaN = NaN.
GF_HD float rcp(float x) {
#ifdef __CUDA_ARCH__
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
#else
  return 1.0f / x;
#endif
}

// ln x: lg2.approx (absolute error about 2^-22 in log2 x) times ln 2; 0 -> -inf, inf -> inf,
// negative or NaN -> NaN.
GF_HD float log(float x) {
#ifdef __CUDA_ARCH__
  return __logf(x);
#else
  return std::log(x);
#endif
}

// e^y - 1: Taylor's series through y^6 where |y| < 1/4 (e^y - 1 would cancel there; the series'
// truncation is below 5e-8 relative), e^y - 1 elsewhere (at least 0.22 in magnitude, so e^y's
// error stays relative).
GF_HD float expm1(float y) {
  if (std::fabs(y) < 0.25f) {
    const float p = ((((1.0f / 720 * y + 1.0f / 120) * y + 1.0f / 24) * y + 1.0f / 6) * y + 0.5f) * y + 1.0f;
    return y * p;
  }
  return exp(y) - 1.0f;
}

// ln(1 + u) for |u| < 1/32 by its series u - u^2/2 + ... - u^6/6 (truncation below 2e-10
// relative), where 1 + u would round u away.
GF_HD float log1p_small(float u) {
  return u * (1.0f - u * (0.5f - u * (1.0f / 3 - u * (0.25f - u * (0.2f - u * (1.0f / 6))))));
}

// ln(1 + e) for e >= 0 (inf and NaN as log1p): the series below 1/32; ln(1 + e) above, a result
// of at least 0.03 whose absolute error stays a few 1e-6 of it.
GF_HD float log1p_nonneg(float e) { return e < 0.03125f ? log1p_small(e) : log(1.0f + e); }

// ln(1 + u) for any u (u < -1: NaN, u = -1: -inf), as log1p_nonneg.
GF_HD float log1p(float u) { return std::fabs(u) < 0.03125f ? log1p_small(u) : log(1.0f + u); }

// ln x with relative accuracy everywhere: near 1, where ln x nears 0 and lg2.approx's absolute
// error would dominate, as ln(1 + (x - 1)) (x - 1 exact in float there); a subnormal x scaled
// into the normal range first.
GF_HD float ln(float x) {
  const float u = x - 1.0f;
  if (std::fabs(u) < 0.03125f) return log1p_small(u);
  if (x > 0.0f && x < 1.17549435e-38f) return log(x * 16777216.0f) - 16.635532333438686f;  // 2^24, 24 ln 2
  return log(x);
}

// 1 / (1 + e^-x)
GF_HD float sigmoid(float x) { return rcp(1.0f + exp(-x)); }

// tanh(softplus(x)) = n / (n + 2), n = e^x (e^x + 2): no cancellation where x << 0 (there
// n ~ 2 e^x); 1 beyond x = 20, where the ratio is 1 in float and n would overflow.
GF_HD float tanh_softplus(float x) {
  if (x > 20.0f) return 1.0f;
  const float e = exp(x);
  const float n = e * (e + 2.0f);
  return n * rcp(n + 2.0f);
}

// The standard normal CDF, 0.5 erfc(-x / sqrt 2), from the Chebyshev fit of erfc(z) as
// t e^(-z^2 + P(t)), t = 1 / (1 + z / 2) (Numerical Recipes' erfcc, fractional error below
// 1.2e-7 for z >= 0): relative accuracy in the lower tail too, where 1 + erf(x / sqrt 2)
// cancels. In float, against erfc in double: 2.2e-6 relative at worst for x in [-5, 8], 1.8e-5
// in the far tail (x near -13, the rounding of z^2). About 15 instructions against erff's 25-30.
GF_HD float normal_cdf(float x) {
  const float z = std::fabs(x) * 0.70710678118654752f;
  const float t = rcp(1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const float half_erfc = 0.5f * t * exp(p - z * z);  // 0.5 erfc(z)
  return x >= 0.0f ? 1.0f - half_erfc : x != x ? x : half_erfc;
}

}  // namespace gemforge::kernels::lowp
