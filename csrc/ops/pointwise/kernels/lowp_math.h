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

#include <c10/util/generic_math.h>

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

// x^y for x > 0 finite and y finite, as e^(y ln x): ln's error is relative (at most about 5e-6,
// near 1 included), so the exponent's absolute error is that much of |y ln x|, which a finite
// 2-byte result bounds (88 in bf16, 17 in fp16): below the storage's half ulp. Every other case
// (x <= 0, infinities, NaN; pow(1, NaN) = 1) is std::pow's.
GF_HD float pow(float x, float y) {
  if (x > 0.0f && x < INFINITY && std::fabs(y) < INFINITY) return exp(y * ln(x));
  return std::pow(x, y);
}

// floor(a / b) as c10::div_floor_floating gives it, where |a / b| < 2^12: the quotient truncated
// from an approximate one, moved by one where its remainder a - q b (exact in an fma, |r| < 2|b|)
// says so, then floored by the remainder's sign. torch's steps (an fmod, then (a - mod) / b
// rounded to the nearest integer) give that same integer there, and its signed zero. The rest
// (b = 0, huge or infinite, infinities, NaN, larger quotients) takes torch's formula: its fmod is
// several times the instructions of all this.
GF_HD float div_floor(float a, float b) {
  const float approx = a * rcp(b);
  // (below 2^126, 1 / b stays normal: rcp.approx flushes subnormals)
  if (!(std::fabs(approx) < 4096.0f) || !(std::fabs(b) < 0x1p126f)) return c10::div_floor_floating(a, b);
  const float s = std::signbit(a) != std::signbit(b) ? -1.0f : 1.0f;  // the sign of a / b
  float q = std::trunc(approx);
  const float r0 = std::fma(-q, b, a);
  if (r0 != 0.0f && (r0 < 0.0f) != (a < 0.0f)) q -= s;        // one past: r took the other sign
  else if (std::fabs(r0) >= std::fabs(b)) q += s;              // one short
  const float r = std::fma(-q, b, a);                           // fmod(a, b)
  if (r != 0.0f && (r < 0.0f) != (b < 0.0f)) q -= 1.0f;
  return q == 0.0f ? std::copysign(0.0f, s) : q;
}

// asinh x = sign(x) log1p(|x| + x^2 / (1 + sqrt(1 + x^2))): no cancellation near 0; ln(2|x|)
// beyond 2^30. -0 stays -0.
GF_HD float asinh(float x) {
  const float a = std::fabs(x);
  const float r = a > 1073741824.0f ? log(a) + 0.693147181f : log1p(a + a * a * rcp(1.0f + std::sqrt(1.0f + a * a)));
  return std::copysign(r, x);
}

// atanh x = sign(x) log1p(2|x| / (1 - |x|)) / 2: relative near 0 (log1p's series), no
// cancellation near -1 (the argument stays positive), +-inf at +-1 (1 / 0), NaN beyond.
GF_HD float atanh(float x) {
  const float a = std::fabs(x);
  return std::copysign(0.5f * log1p(2.0f * a * rcp(1.0f - a)), x);
}

// ln(x / (1 - x)): below 1/4 as ln of the ratio (small x keeps its relative accuracy there);
// from 1/4 up as log1p((2x - 1) / (1 - x)), 2x - 1 exact, so that the result stays relative
// where it nears 0 (x near 1/2) and where 1 - x is small.
GF_HD float logit(float x) {
  const float r = rcp(1.0f - x);
  return x < 0.25f ? ln(x * r) : log1p((2.0f * x - 1.0f) * r);
}

// erfc(z) for z >= 0 from the Chebyshev fit t e^(-z^2 + P(t)), t = 1 / (1 + z / 2) (Numerical
// Recipes' erfcc, fractional error below 1.2e-7): relative in the upper tail, where 1 - erf(z)
// cancels. In float, against erfc in double: 2.2e-6 relative at worst for z up to 5.6, 1.8e-5
// near z 9 (the rounding of z^2). Results below float's normal range flush to 0. About 15
// instructions against erfcf's 25-30.
GF_HD float erfc_nonneg(float z) {
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
  return t * exp(p - z * z);
}

// erfc x for any x: 2 - erfc(-x) below 0; NaN stays NaN.
GF_HD float erfc(float x) {
  const float r = erfc_nonneg(std::fabs(x));
  return x >= 0.0f ? r : x != x ? x : 2.0f - r;
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

// The standard normal CDF, 0.5 erfc(-x / sqrt 2): relative in the lower tail too, where
// 1 + erf(x / sqrt 2) cancels. In float, against erfc in double: 2.2e-6 relative at worst for x
// in [-5, 8], 1.8e-5 in the far tail (x near -13).
GF_HD float normal_cdf(float x) {
  const float half_erfc = 0.5f * erfc_nonneg(std::fabs(x) * 0.70710678118654752f);  // 0.5 erfc(|x| / sqrt 2)
  return x >= 0.0f ? 1.0f - half_erfc : x != x ? x : half_erfc;
}

// sin(pi x) / (pi x) with relative accuracy near its zeros: x = n + r, n the nearest integer and
// r exact in [-1/2, 1/2], so sin(pi x) = (-1)^n sin(pi r), with sin(pi r) from its Taylor series
// through r^13 (truncation below 1e-9 at r = 1/2). torch's float sin(pi x) loses the zeros' digits
// in rounding pi x. Below 2^-13, 1 - (pi x)^2 / 6 rounds to 1; from 2^23 every float is an integer
// (0; torch's rounding noise there is below 4e-8); inf and NaN give NaN.
GF_HD float sinc(float x) {
  const float a = std::fabs(x);
  if (a < 0x1p-13f) return 1.0f;
  if (!(a < 0x1p23f)) return x - x;
  const float n = std::rint(x);
  const float r = x - n;
  const float r2 = r * r;
  float p = 4.663028058e-04f;
  p = p * r2 - 7.370430946e-03f;
  p = p * r2 + 8.214588661e-02f;
  p = p * r2 - 5.992645293e-01f;
  p = p * r2 + 2.550164040e+00f;
  p = p * r2 - 5.167712780e+00f;
  p = p * r2 + 3.141592654e+00f;
  const float s = (static_cast<int>(n) & 1) ? -(r * p) : r * p;  // sin(pi x)
  return s * rcp(3.14159265f * x);
}

}  // namespace gemforge::kernels::lowp
