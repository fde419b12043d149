// Pointwise functors of special functions: error function and its inverses, gamma family,
// modified and ordinary Bessel functions, the Airy function Ai, xlogy / xlog1py, orthogonal polynomials.
//
// Each computes in C (fp16/bf16 arrive as float) what torch computes for the dtype. Where the
// CUDA math library has the function (erfinv, normcdfinv, erfcx, j0, cyl_bessel_i0, lgamma...)
// the device uses it; the host evaluates the same function with std:: / libm or with the series,
// asymptotic expansions and Halley iterations below. Torch's conventions at poles, infinities
// and outside the domain are kept (i0(inf) is NaN, j0(inf) is NaN, digamma(-0) is +inf, ...).
#pragma once

#include "ops/pointwise/kernels/base.h"
#include "ops/pointwise/kernels/lowp_math.h"

#include <cstdint>

namespace gemforge::kernels {

constexpr TypeSet kF32F64 = bit(ScalarType::Float) | bit(ScalarType::Double);

namespace sf {

// The CUDA math library's function of that name for double, its f-suffixed one for float.
#define GF_CUDA_MATH(name, x) (sizeof(x) == 4 ? C(::name##f(float(x))) : C(::name(double(x))))

template <class C> GF_HD C pi() { return C(3.14159265358979323846); }
template <class C> GF_HD C nan() { return std::numeric_limits<C>::quiet_NaN(); }
template <class C> GF_HD C inf() { return std::numeric_limits<C>::infinity(); }
template <class C> GF_HD C eps() { return std::numeric_limits<C>::epsilon(); }

// ---- inverse error functions (host): Winitzki's closed form, then Halley steps ---------------
// Solves erf(t) = y for y in [0, 0.5] (complement = false) or erfc(t) = q for q in (0, 1)
// (complement = true): the argument is given exactly, so the tails keep full precision.
template <class C> inline C inverse_erf_host(C v, bool complement) {
  const C q = complement ? v : C(1) - v;      // 1 - erf(t)
  const C log_1my2 = std::log(q * (C(2) - q));  // log(1 - erf(t)^2)
  const C a = C(0.147);
  const C b = C(2) / (pi<C>() * a) + log_1my2 / C(2);
  C t = std::sqrt(std::sqrt(b * b - log_1my2 / a) - b);
  const C two_over_sqrt_pi = C(1.12837916709551257390);
  for (int i = 0; i < 4; ++i) {
    const C slope = two_over_sqrt_pi * std::exp(-t * t);  // d erf / dt
    if (slope == C(0)) break;
    const C f = complement ? q - std::erfc(t) : std::erf(t) - v;
    const C r = f / slope;  // Newton step; Halley: erf'' / erf' = -2t
    t -= r / (C(1) + t * r);
  }
  return t;
}

template <class C> GF_HD C erfinv(C y) {
#if defined(__CUDA_ARCH__)
  return GF_CUDA_MATH(erfinv, y);
#else
  const C a = std::abs(y);
  if (!(a <= C(1))) return nan<C>();
  if (a == C(1)) return std::copysign(inf<C>(), y);
  const C t = a <= C(0.5) ? inverse_erf_host(a, false) : inverse_erf_host(C(1) - a, true);
  return std::copysign(t, y);
#endif
}

template <class C> GF_HD C ndtri(C p) {
#if defined(__CUDA_ARCH__)
  return GF_CUDA_MATH(normcdfinv, p);
#else
  if (!(p >= C(0) && p <= C(1))) return nan<C>();
  if (p == C(0)) return -inf<C>();
  if (p == C(1)) return inf<C>();
  const C sqrt2 = C(1.41421356237309504880);
  // ndtri(p) = sqrt(2) erfinv(2p - 1); 2p - 1, 2p and 2(1 - p) are exact where each is used.
  if (p >= C(0.25) && p <= C(0.75)) {
    const C y = C(2) * p - C(1);
    return std::copysign(sqrt2 * inverse_erf_host(std::abs(y), false), y);
  }
  if (p < C(0.5)) return -sqrt2 * inverse_erf_host(C(2) * p, true);
  return sqrt2 * inverse_erf_host(C(2) * (C(1) - p), true);
#endif
}

// exp(x^2) erfc(x)
template <class C> GF_HD C erfcx(C x) {
#if defined(__CUDA_ARCH__)
  return GF_CUDA_MATH(erfcx, x);
#else
  if (is_nan(x)) return x;
  const C large = sizeof(C) == 4 ? C(8) : C(26);
  if (x < large) {
    if (x < C(-27)) return inf<C>();  // exp(x^2) overflows (float: erfcx(-9.4) already does)
    const C hi = x * x;
    const C lo = std::fma(x, x, -hi);  // x^2 = hi + lo exactly
    return std::exp(hi) * (C(1) + lo) * std::erfc(x);
  }
  // erfc(x) underflows: erfcx(x) ~ 1/(x sqrt(pi)) sum_k (-1)^k (2k-1)!! / (2x^2)^k
  const C inv2x2 = C(1) / (C(2) * x * x);
  C term = C(1), sum = C(1);
  for (int k = 1; k < 10; ++k) {
    term *= -C(2 * k - 1) * inv2x2;
    sum += term;
  }
  return sum / (x * C(1.77245385090551602730));
#endif
}

// ---- gamma family ----------------------------------------------------------------------------
template <class C> GF_HD C lgamma(C x) { return std::lgamma(x); }

template <class C> GF_HD C digamma(C x) {
  if (x == C(0)) return std::copysign(inf<C>(), -x);
  C result = C(0);
  if (x < C(0)) {
    if (x == std::trunc(x)) return nan<C>();
    // Reflection: psi(x) = psi(1 - x) - pi / tan(pi x), tan taken of the fractional part.
    const double frac = double(x) - std::trunc(double(x));
    result = -C(3.14159265358979323846 / std::tan(3.14159265358979323846 * frac));
    x = C(1) - x;
  }
  while (x < C(10)) {
    result -= C(1) / x;
    x += C(1);
  }
  // psi(x) ~ log x - 1/(2x) - sum B_2k / (2k x^2k)
  C series = C(0);
  if (x < C(1e17)) {
    const C z = C(1) / (x * x);
    series = z * (C(1.0 / 12) -
             z * (C(1.0 / 120) -
             z * (C(1.0 / 252) -
             z * (C(1.0 / 240) -
             z * (C(1.0 / 132) -
             z * (C(691.0 / 32760) -
             z * C(1.0 / 12)))))));
  }
  return result + std::log(x) - C(0.5) / x - series;
}

// Hurwitz zeta(s, q) for an integer s >= 2: direct sum up to q + N >= 10, then Euler-Maclaurin.
// q a non-positive integer gives inf (a pole), q = +inf NaN, as torch's zeta.
template <class C> GF_HD C hurwitz_zeta(C s, C q) {
  if (is_nan(q)) return q;
  if (q <= C(0) && q == std::floor(q)) return inf<C>();
  if (q == inf<C>()) return nan<C>();
  C sum = C(0);
  C a = q;
  int i = 0;
  while (i < 9 || a < C(10)) {
    const C term = std::pow(a, -s);
    sum += term;
    a += C(1);
    ++i;
    if (a >= C(10) && std::abs(term) <= eps<C>() * std::abs(sum)) return sum;
  }
  // Tail from a: a^(1-s)/(s-1) + a^-s/2 + sum_j B_2j/(2j)! s(s+1)...(s+2j-2) a^(-s-2j+1)
  const C pow_a = std::pow(a, -s);
  sum += a * pow_a / (s - C(1)) + C(0.5) * pow_a;
  // B_2j / (2j)!, j = 1..12
  const double bernoulli_over_factorial[12] = {
      1.0 / 12.0, -1.0 / 720.0, 1.0 / 30240.0, -1.0 / 1209600.0, 1.0 / 47900160.0,
      -691.0 / 1307674368000.0, 1.0 / 74724249600.0, -3617.0 / 10670622842880000.0,
      43867.0 / 5109094217170944000.0, -174611.0 / 802857662698291200000.0,
      77683.0 / 14101100039391805440000.0, -236364091.0 / 1693824136731743669452800000.0};
  C rising = s;             // s (s+1) ... (s+2j-2)
  C power = pow_a / a;      // a^(-s-2j+1)
  const C inv_a2 = C(1) / (a * a);
  for (int j = 0; j < 12; ++j) {
    const C term = C(bernoulli_over_factorial[j]) * rising * power;
    sum += term;
    if (std::abs(term) <= eps<C>() * std::abs(sum)) break;
    rising *= (s + C(2 * j + 1)) * (s + C(2 * j + 2));
    power *= inv_a2;
  }
  return sum;
}

template <class C> GF_HD C trigamma(C x) {
  if (x == inf<C>()) return C(0);
  // psi_1(x) = zeta(2, x); below 1/2 by reflection psi_1(x) = pi^2 / sin^2(pi x) - psi_1(1 - x).
  if (x < C(0.5)) {
    const C s = std::sin(pi<C>() * x);
    return pi<C>() * pi<C>() / (s * s) - hurwitz_zeta(C(2), C(1) - x);
  }
  return hurwitz_zeta(C(2), x);
}

// psi_1(x) in float, as torch's cuda kernel computes it: reflected below 1/2, shifted up by
// psi_1(x) = psi_1(x + 1) + 1/x^2 to x >= 6, then the asymptotic series
// 1/x + 1/(2x^2) + sum B_2k / x^(2k+1) (its next term is ~1e-10 of the result at 6).
GF_HD float trigamma_float(float x) {
  float reflected = 0.0f, sign = 1.0f;
  if (x < 0.5f) {  // psi_1(x) = pi^2 / sin^2(pi x) - psi_1(1 - x)
#if defined(__CUDA_ARCH__)
    const float s = ::sinpif(x);
#else
    const float s = float(std::sin(pi<double>() * double(x)));
#endif
    reflected = pi<float>() * pi<float>() / (s * s);
    sign = -1.0f;
    x = 1.0f - x;
  }
  float shifted = 0.0f;
  while (x < 6.0f) {
    shifted += 1.0f / (x * x);
    x += 1.0f;
  }
  const float z = 1.0f / (x * x);
  const float tail = 1.0f / 6 - z * (1.0f / 30 - z * (1.0f / 42 - z * (1.0f / 30)));
  return reflected + sign * (shifted + (1.0f + 0.5f / x + z * tail) / x);
}

// polygamma(n, x) = (-1)^(n+1) n! zeta(n+1, x), n >= 2. On the cpu orders >= 1 are computed in
// double for float too (as torch's cpu kernel accumulates): left of 0 the zeta sum cancels terms
// of opposite signs, and the reflection's sin(pi x) needs the digits. Torch's cuda kernels
// compute float in float, and so do ours (double there is ~20x slower).
template <class C> GF_HD C polygamma(int n, C x) {
  if (n == 0) return digamma(x);
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(C) == 4) {
    if (n == 1) return trigamma_float(x);
    float factorial = 1.0f;
    for (int k = 2; k <= n; ++k) factorial *= float(k);
    return ((n % 2) ? factorial : -factorial) * hurwitz_zeta(float(n + 1), float(x));
  }
#endif
  const double w = double(x);
  if (n == 1) return C(trigamma(w));
  double factorial = 1;
  for (int k = 2; k <= n; ++k) factorial *= k;
  return C(((n % 2) ? factorial : -factorial) * hurwitz_zeta(double(n + 1), w));
}

// Regularized incomplete gamma functions P(a, x) (lower) and Q(a, x) = 1 - P (upper): the power
// series of P below x = a + 1, the continued fraction of Q (modified Lentz) above; each gives
// the other as its complement. Torch's conventions on the edges (a or x negative: NaN; a = 0;
// x = 0; infinities). Float is computed in double: the prefactor's exponent a log x - x - lgamma(a)
// cancels large terms.
template <class C> GF_HD C incomplete_gamma_impl(bool upper, C a, C x) {
  if (is_nan(a) || is_nan(x) || a < C(0) || x < C(0)) return nan<C>();
  if (a == C(0)) return x > C(0) ? C(upper ? 0 : 1) : nan<C>();
  if (x == C(0)) return C(upper ? 1 : 0);
  if (std::isinf(a)) return std::isinf(x) ? nan<C>() : C(upper ? 1 : 0);
  if (std::isinf(x)) return C(upper ? 0 : 1);
  const C prefactor = std::exp(a * std::log(x) - x - std::lgamma(a));  // x^a e^-x / Gamma(a)
  if (x < a + C(1)) {  // P = prefactor sum_n x^n / (a (a+1) ... (a+n))
    C term = C(1) / a, sum = term;
    for (int n = 1; n < 2000; ++n) {
      term *= x / (a + C(n));
      sum += term;
      if (term <= eps<C>() * sum) break;
    }
    const C p = prefactor * sum;
    return upper ? C(1) - p : p;
  }
  // Q = prefactor / (x + 1 - a - 1 (1 - a) / (x + 3 - a - 2 (2 - a) / (x + 5 - a - ...)))
  const C tiny = std::numeric_limits<C>::min() / eps<C>();
  C b = x + C(1) - a;
  C c = C(1) / tiny, d = C(1) / b, fraction = d;
  for (int n = 1; n < 2000; ++n) {
    const C an = -C(n) * (C(n) - a);
    b += C(2);
    d = an * d + b;
    if (std::abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::abs(c) < tiny) c = tiny;
    d = C(1) / d;
    const C delta = d * c;
    fraction *= delta;
    if (std::abs(delta - C(1)) <= eps<C>()) break;
  }
  const C q = prefactor * fraction;
  return upper ? q : C(1) - q;
}
// On cuda float is computed in float, as torch's cuda kernel does (the prefactor's rounding,
// ~|a log x| float ulps, stays far below the result's [0, 1] scale in absolute terms).
template <class C> GF_HD C incomplete_gamma(bool upper, C a, C x) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(C) == 4) return incomplete_gamma_impl(upper, a, x);
#endif
  return C(incomplete_gamma_impl(upper, double(a), double(x)));
}

// ---- modified Bessel functions of the first kind ----------------------------------------------
// exp(-x) I_nu(x) for x >= 0, nu in {0, 1}: the power series below 20 (positive terms), else the
// asymptotic expansion 1/sqrt(2 pi x) sum_k (-1)^k prod_j (4nu^2 - (2j-1)^2) / (k! (8x)^k).
template <class C> GF_HD C bessel_i_series(int nu, C x) {  // I_nu(x), x <= 20
  const C y = x * x / C(4);
  C term = nu ? x / C(2) : C(1);
  C sum = term;
  for (int k = 1; k < 100; ++k) {
    term *= y / (C(k) * C(k + nu));
    sum += term;
    if (term <= eps<C>() * sum) break;
  }
  return sum;
}
template <class C> GF_HD C bessel_ie_asymptotic(int nu, C x) {  // exp(-x) I_nu(x), x > 20
  const C mu = C(4 * nu * nu);
  C term = C(1), sum = C(1);
  for (int k = 1; k < 60; ++k) {
    const C next = -term * (mu - C((2 * k - 1) * (2 * k - 1))) / (C(8 * k) * x);
    if (std::abs(next) >= std::abs(term)) break;  // the series starts to diverge
    term = next;
    sum += term;
    if (std::abs(term) <= eps<C>() * std::abs(sum)) break;
  }
  return sum / std::sqrt(C(2) * pi<C>() * x);
}
template <class C> GF_HD C bessel_ie(int nu, C x) {  // exp(-|x|) I_nu(x), any sign
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(C) == 4) {
    // CUDA's I0/I1 (6 ulp) times exp(-a) up to 20, else the asymptotic series: 8 terms reach
    // 1e-9 there; each term's factor is a constant once unrolled (no division).
    const float a = ::fabsf(x);
    float r;
    if (a <= 20.0f) {
      r = (nu ? ::cyl_bessel_i1f(a) : ::cyl_bessel_i0f(a)) * ::expf(-a);
    } else {
      const float inv_8a = 1.0f / (8.0f * a);
      float term = 1.0f, sum = 1.0f;
#pragma unroll
      for (int k = 1; k <= 8; ++k) {
        term *= float((2 * k - 1) * (2 * k - 1) - 4 * nu * nu) * (1.0f / float(k)) * inv_8a;
        sum += term;
      }
      r = sum * ::rsqrtf(2.0f * pi<float>() * a);
    }
    return (nu && x < 0.0f) ? -r : r;
  }
#endif
  const C a = std::abs(x);
  C r = a <= C(20) ? std::exp(-a) * bessel_i_series(nu, a) : bessel_ie_asymptotic(nu, a);
  return (nu && x < C(0)) ? -r : r;
}
template <class C> GF_HD C bessel_i(int nu, C x) {
  if (std::isinf(x)) return nan<C>();  // torch's convention
#if defined(__CUDA_ARCH__)
  return nu ? GF_CUDA_MATH(cyl_bessel_i1, x) : GF_CUDA_MATH(cyl_bessel_i0, x);
#else
  const C a = std::abs(x);
  C r;
  if (a <= C(20)) {
    r = bessel_i_series(nu, a);
  } else {  // exp(a) split in two so that r overflows only when I_nu does
    const C half = std::exp(a / C(2));
    r = half * (half * bessel_ie_asymptotic(nu, a));
  }
  return (nu && x < C(0)) ? -r : r;
#endif
}

// ---- modified Bessel functions of the second kind ----------------------------------------------
// K_nu(x), nu in {0, 1}, x in (0, 2]: the power series (A&S 9.6.13 and 9.6.11), in which
// psi(k+1) = -gamma + H_k.
// y = x^2/4 <= 1, so a fixed number of terms (y^k / (k!)^2 below the dtype's epsilon), unrolled:
// every 1/k is a constant, no division and no test in the loop.
template <class C> GF_HD C bessel_k_series(int nu, C x) {
  constexpr int kTerms = sizeof(C) == 4 ? 9 : 14;
  const C euler_gamma = C(0.57721566490153286061);
  const C y = x * x / C(4);
  const C log_half_x = std::log(x / C(2));
  C term = C(1), i_sum = C(1);
  if (nu == 0) {  // -(log(x/2) + gamma) I0(x) + sum_k H_k y^k / (k!)^2
    C harmonic = C(0), sum = C(0);
#if defined(__CUDACC__)
#pragma unroll
#endif
    for (int k = 1; k < kTerms; ++k) {
      term *= y * C(1.0 / (double(k) * double(k)));
      harmonic += C(1.0 / double(k));
      i_sum += term;
      sum += term * harmonic;
    }
    return -(log_half_x + euler_gamma) * i_sum + sum;
  }
  // 1/x + log(x/2) I1(x) - x/4 sum_k (psi(k+1) + psi(k+2)) y^k / (k! (k+1)!)
  C psi_sum = C(1) - C(2) * euler_gamma, sum = psi_sum;
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int k = 1; k < kTerms; ++k) {
    term *= y * C(1.0 / (double(k) * double(k + 1)));
    psi_sum += C(1.0 / double(k) + 1.0 / double(k + 1));
    i_sum += term;
    sum += term * psi_sum;
  }
  return C(1) / x + log_half_x * (x / C(2)) * i_sum - x / C(4) * sum;
}
// exp(x) K_nu(x), x > 2: the trapezoidal rule on int_0^inf exp(-x (cosh t - 1)) cosh(nu t) dt,
// exponentially accurate for this entire integrand; the step follows the peak's width 1/sqrt(x)
// (at most ~18 points for 1e-16).
template <class C> GF_HD C bessel_k_scaled_integral(int nu, C x) {
  const C h = std::fmin(C(0.25), C(0.5) / std::sqrt(x));
  const C cutoff = sizeof(C) == 4 ? C(-20) : C(-40);
  C sum = C(0.5);
  for (int k = 1; k < 64; ++k) {
    const C t = C(k) * h;
    const C s = std::sinh(t / C(2));
    const C e = -x * C(2) * s * s;  // -x (cosh t - 1)
    if (e < cutoff) break;
    sum += std::exp(e) * (nu ? std::cosh(t) : C(1));
  }
  return h * sum;
}
// K_nu(x) (scaled: exp(x) K_nu(x)); NaN left of 0, inf at 0, 0 at inf.
template <class C> GF_HD C bessel_k(int nu, bool scaled, C x) {
  if (is_nan(x) || x < C(0)) return nan<C>();
  if (x == C(0)) return inf<C>();
  if (x == inf<C>()) return C(0);
  if (x <= C(2)) {
    const C k = bessel_k_series(nu, x);
    return scaled ? k * std::exp(x) : k;
  }
  const C k = bessel_k_scaled_integral(nu, x);
  return scaled ? k : k * std::exp(-x);
}

// ---- Bessel functions of the first and second kind ---------------------------------------------
// libm's j0/j1/y0/y1 (the host computes float ones in double); infinities give NaN as in torch.
template <class C> GF_HD C bessel_jy(int which, C x) {
  if (std::isinf(x)) return nan<C>();
#if defined(__CUDA_ARCH__)
  switch (which) {
    case 0: return GF_CUDA_MATH(j0, x);
    case 1: return GF_CUDA_MATH(j1, x);
    case 2: return GF_CUDA_MATH(y0, x);
    default: return GF_CUDA_MATH(y1, x);
  }
#else
  const double v = double(x);
  switch (which) {
    case 0: return C(::j0(v));
    case 1: return C(::j1(v));
    case 2: return x < C(0) ? nan<C>() : C(::y0(v));
    default: return x < C(0) ? nan<C>() : C(::y1(v));
  }
#endif
}

template <class C> GF_HD C spherical_bessel_j0(C x) {  // sin(x) / x
  if (std::isinf(x)) return C(0);
  if (std::abs(x) < C(0.5)) {  // sum_k (-y)^k / (2k+1)!, k <= 8, in Horner's form
    const C y = x * x;
    return C(1) + y * (C(-1.0 / 6) + y * (C(1.0 / 120) + y * (C(-1.0 / 5040) +
           y * (C(1.0 / 362880) + y * (C(-1.0 / 39916800) + y * (C(1.0 / 6227020800.0) +
           y * (C(-1.0 / 1307674368000.0) + y * C(1.0 / 355687428096000.0))))))));
  }
  return std::sin(x) / x;
}

// ---- Airy function Ai ---------------------------------------------------------------------------
// Three regions (X = 9 for double, 5.25 for float), computed in double for both:
//  |x| <= X  the Taylor series about the nearest integer x0, from Ai(x0) and Ai'(x0) (tabulated
//            below from mpmath); Ai'' = x Ai gives (n+2)(n+1) a[n+2] = x0 a[n] + a[n-1], and
//            |x - x0| <= 1/2 keeps every term small (no cancellation, unlike the series about 0).
//  x > X     exp(-z) / (2 sqrt(pi) x^(1/4)) sum_k (-1)^k u_k z^-k, z = 2/3 x^(3/2);
//  x < -X    (sin(z + pi/4) P - cos(z + pi/4) Q) / (sqrt(pi) |x|^(1/4)) with
//            P = u_0 - u_2 z^-2 + u_4 z^-4 - ..., Q = u_1 z^-1 - u_3 z^-3 + ...;
//            u_k = u_(k-1) (6k-5)(6k-3)(6k-1) / (216 k (2k-1)), u_0 = 1.
// At X the asymptotic series' smallest term is ~1e-17 (double) or ~1e-8 (float). The phase z of
// a large negative x is taken in double for float too (torch's float kernel loses it).
// Infinities give NaN, as torch's.
GF_HD double airy_ai_at(int x0, double& d) {  // Ai(x0), and Ai'(x0) in d, |x0| <= 9
  switch (x0) {
    case -9: d = -0.9756639809263316; return -0.022133721547341403;
    case -8: d = 0.9355609381983065; return -0.0527050503563862;
    case -7: d = -0.7710081684101265; return 0.18428083525050565;
    case -6: d = 0.3459354872813429; return -0.3291451736298231;
    case -5: d = 0.32719281855444315; return 0.35076100902411433;
    case -4: d = -0.7906285753685813; return -0.07026553294928951;
    case -3: d = 0.3145837692165988; return -0.37881429367765806;
    case -2: d = 0.618259020741691; return 0.22740742820168558;
    case -1: d = -0.01016056711664521; return 0.5355608832923521;
    case 0: d = -0.2588194037928068; return 0.3550280538878172;
    case 1: d = -0.1591474412967932; return 0.13529241631288141;
    case 2: d = -0.05309038443365363; return 0.03492413042327438;
    case 3: d = -0.011912976705951319; return 0.006591139357460719;
    case 4: d = -0.001958640950204179; return 0.0009515638512048018;
    case 5: d = -0.0002474138908684625; return 0.00010834442813607442;
    case 6: d = -2.4765200397034955e-05; return 9.947694360252889e-06;
    case 7: d = -2.008150894738792e-06; return 7.492128863997167e-07;
    case 8: d = -1.3414392979067865e-07; return 4.6922076160992316e-08;
    case 9: d = -7.480641389658946e-09; return 2.47116843087249e-09;
    default: d = 0; return 0;
  }
}
template <bool Double> GF_HD double airy_ai(double x) {
  constexpr double kEdge = Double ? 9.0 : 5.25;
  constexpr double kTol = Double ? 1e-17 : 1e-9;
  constexpr int kTaylorTerms = Double ? 24 : 16;
  constexpr double kSqrtPi = 1.77245385090551602730;
  if (x != x || x == inf<double>() || x == -inf<double>()) return nan<double>();
  const double a = std::abs(x);
  if (a > kEdge) {
    const double z = 2.0 / 3.0 * a * std::sqrt(a);
    const double fourth_root = std::sqrt(std::sqrt(a));
    const double inv_z = 1.0 / z;
    double t = 1.0;         // u_k z^-k
    double even = 0.0, odd = 0.0;  // x > 0: the even and odd terms; x < 0: P and Q
    // (unrolled on the device: each u_(k+1) / u_k folds to a constant, no division)
#if defined(__CUDACC__)
#pragma unroll
#endif
    for (int k = 0; k < 48; ++k) {
      const double sign = (x > 0 ? k % 2 == 1 : (k / 2) % 2 == 1) ? -1.0 : 1.0;
      if (k % 2 == 0) even += sign * t;
      else odd += sign * t;
      const double ratio = double((6 * k + 1) * (6 * k + 3) * (6 * k + 5)) / (216.0 * double((k + 1) * (2 * k + 1)));
      const double next = t * ratio * inv_z;
      if (next < kTol || next >= t) break;  // converged, or the series starts to diverge
      t = next;
    }
    if (x > 0) return std::exp(-z) / (2.0 * kSqrtPi * fourth_root) * (even + odd);
    const double phase = z + pi<double>() / 4;
    return (std::sin(phase) * even - std::cos(phase) * odd) / (kSqrtPi * fourth_root);
  }
  const int x0 = int(std::floor(x + 0.5));
  const double h = x - double(x0);
  double d;
  double prev = 0.0;                     // a[n-1]
  double cur = airy_ai_at(x0, d);        // a[n]
  double next = d;                       // a[n+1]
  double sum = cur + next * h;
  double power = h;                      // h^(n+1)
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int n = 0; n < kTaylorTerms; ++n) {  // (unrolled on the device: no division)
    const double after = (double(x0) * cur + prev) * (1.0 / double((n + 2) * (n + 1)));  // a[n+2]
    power *= h;
    sum += after * power;
    prev = cur;
    cur = next;
    next = after;
  }
  return sum;
}

// ---- x log(y), x log1p(y): 0 where x is 0 unless y is NaN -------------------------------------
template <class C> GF_HD C xlogy(C x, C y) {
  if (is_nan(y)) return y;
  if (x == C(0)) return C(0);
  return x * std::log(y);
}
template <class C> GF_HD C xlog1py(C x, C y) {
  if (is_nan(y)) return y;
  if (x == C(0)) return C(0);
  return x * std::log1p(y);
}

// ---- orthogonal polynomials of degree n (n given as a floating value) --------------------------
// Three-term recurrences; beyond small n inside (-1, 1) the trigonometric forms, as torch does.
// Float is evaluated in double: near the roots the recurrences cancel terms far larger than the
// result (H_10 sums terms of 1e4), which float cannot resolve.
template <class C> GF_HD int64_t degree(C n) { return static_cast<int64_t>(n); }

// Chebyshev T, U, V, W differ only in P_1 and in their closed forms; kind 0..3. The shifted
// ones are P(2x - 1) with torch's own thresholds for the closed forms.
template <class C> GF_HD C chebyshev(int kind, bool shifted, C x, int64_t n) {
  if (n < 0) return C(0);
  const bool odd = n % 2 != 0;
  const C n1 = C(n + 1), n21 = C(2 * n + 1);
  if (std::abs(x) == C(1)) {
    switch (kind) {
      case 0: return (x > C(0) || !odd) ? C(1) : C(-1);
      case 1: return (x > C(0) || !odd) ? n1 : -n1;
      case 2: return x > C(0) ? C(1) : (!odd ? n21 : -n21);
      default: return x > C(0) ? n21 : (!odd ? C(1) : C(-1));
    }
  }
  const int64_t closed_from = shifted ? (kind == 3 ? 4 : 6) : (kind == 0 ? 6 : 8);
  if (std::abs(x) < C(1) && n > closed_from) {
    const C theta = std::acos(x);
    switch (kind) {
      case 0: return std::cos(C(n) * theta);
      case 1: {
        const C s = std::sin(theta);
        if (s != C(0)) return std::sin(n1 * theta) / s;
        return n1 * std::cos(n1 * theta) / x;
      }
      case 2:
        if (std::sin(theta / C(2)) != C(1)) return std::cos((C(n) + C(0.5)) * theta) / std::cos(theta / C(2));
        return !odd ? n21 : -n21;
      default:
        if (std::cos(theta / C(2)) != C(1)) return std::sin((C(n) + C(0.5)) * theta) / std::sin(theta / C(2));
        return (x > C(0) && !shifted) ? n21 : (!odd ? C(1) : C(-1));
    }
  }
  const C first[4] = {x, x + x, x + x - C(1), x + x + C(1)};
  if (n == 0) return C(1);
  C p = C(1), q = first[kind];
  for (int64_t k = 2; k <= n && !is_nan(q); ++k) {
    const C r = (x + x) * q - p;
    p = q;
    q = r;
  }
  return q;
}

// Past degree max_n (128 for float, 512 for double in torch) the Hermite polynomials are NaN.
template <class C> GF_HD C hermite_h(C x, int64_t n, int64_t max_n) {  // physicists'
  if (n < 0) return C(0);
  if (n == 0) return C(1);
  if (n == 1) return x + x;
  if (n > max_n) return nan<C>();
  C p = C(1), q = x + x;
  for (int64_t k = 2; k < n + n; k += 2) {
    const C r = (x + x) * q - C(k) * p;
    p = q;
    q = r;
  }
  return q;
}
template <class C> GF_HD C hermite_he(C x, int64_t n, int64_t max_n) {  // probabilists'
  if (n < 0) return C(0);
  if (n == 0) return C(1);
  if (n == 1) return x;
  if (n > max_n) return nan<C>();
  C p = C(1), q = x;
  for (int64_t k = 1; k < n; ++k) {
    const C r = x * q - C(k) * p;
    p = q;
    q = r;
  }
  return q;
}
template <class C> GF_HD C laguerre_l(C x, int64_t n) {
  if (n < 0) return C(0);
  if (std::abs(x) == C(0) || n == 0) return C(1);
  C p = C(1), q = C(1) - x;
  for (int64_t k = 1; k < n && !is_nan(q); ++k) {
    const C r = ((C(k + k) + (C(1) - x)) * q - C(k) * p) / C(k + 1);
    p = q;
    q = r;
  }
  return q;
}
template <class C> GF_HD C legendre_p(C x, int64_t n) {
  if (n < 0) return C(0);
  if (std::abs(x) == C(1)) return (x > C(0) || n % 2 == 0) ? C(1) : C(-1);
  if (n == 0) return C(1);
  C p = C(1), q = x;
  for (int64_t k = 1; k < n && !is_nan(q); ++k) {
    const C r = (C(k + k + 1) * x * q - C(k) * p) / C(k + 1);
    p = q;
    q = r;
  }
  return q;
}

}  // namespace sf

// ---- the functors ---------------------------------------------------------------------------------
#define GF_SPECIAL_UNARY(name, Types, ...)                         \
  struct name : heavy_table_op {                                   \
    static constexpr TypeSet types = Types;                        \
    template <class C> struct fn {                                 \
      GF_HD C operator()(C x) const { return __VA_ARGS__; }        \
    };                                                             \
    template <class C> static fn<C> make(const Args&) { return {}; } \
  };
#define GF_SPECIAL_BINARY(name, Types, ...)                        \
  struct name : op_base {                                          \
    static constexpr TypeSet types = Types;                        \
    static constexpr bool heavy = true;                            \
    template <class C> struct fn {                                 \
      GF_HD C operator()(C x, C y) const { return __VA_ARGS__; }   \
    };                                                             \
    template <class C> static fn<C> make(const Args&) { return {}; } \
  };

GF_SPECIAL_UNARY(erf, kFloating, std::erf(x))
// erfc has a lowp form for 2-byte results (lowp_math.h: relative in the upper tail).
struct erfc : heavy_table_op {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    GF_HD C operator()(C x) const { return std::erfc(x); }
  };
  struct fn_lowp {
    GF_HD float operator()(float x) const { return lowp::erfc(x); }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
  template <class C> static fn_lowp make_lowp(const Args&) { return {}; }
};
GF_SPECIAL_UNARY(erfinv, kFloating, sf::erfinv(x))
GF_SPECIAL_UNARY(ndtri, kF32F64, sf::ndtri(x))
GF_SPECIAL_UNARY(erfcx, kF32F64, sf::erfcx(x))
GF_SPECIAL_UNARY(lgamma, kFloating, sf::lgamma(x))
GF_SPECIAL_UNARY(digamma, kFloating, sf::digamma(x))
GF_SPECIAL_UNARY(i0, kFloating, sf::bessel_i(0, x))
GF_SPECIAL_UNARY(i0e, kFloating, sf::bessel_ie(0, x))
GF_SPECIAL_UNARY(i1, kFloating, sf::bessel_i(1, x))
GF_SPECIAL_UNARY(i1e, kFloating, sf::bessel_ie(1, x))
GF_SPECIAL_UNARY(modified_bessel_i0, kF32F64, sf::bessel_i(0, x))
GF_SPECIAL_UNARY(modified_bessel_i1, kF32F64, sf::bessel_i(1, x))
GF_SPECIAL_UNARY(modified_bessel_k0, kF32F64, sf::bessel_k(0, false, x))
GF_SPECIAL_UNARY(modified_bessel_k1, kF32F64, sf::bessel_k(1, false, x))
GF_SPECIAL_UNARY(scaled_modified_bessel_k0, kF32F64, sf::bessel_k(0, true, x))
GF_SPECIAL_UNARY(scaled_modified_bessel_k1, kF32F64, sf::bessel_k(1, true, x))
GF_SPECIAL_UNARY(bessel_j0, kF32F64, sf::bessel_jy(0, x))
GF_SPECIAL_UNARY(bessel_j1, kF32F64, sf::bessel_jy(1, x))
GF_SPECIAL_UNARY(bessel_y0, kF32F64, sf::bessel_jy(2, x))
GF_SPECIAL_UNARY(bessel_y1, kF32F64, sf::bessel_jy(3, x))
GF_SPECIAL_UNARY(spherical_bessel_j0, kF32F64, sf::spherical_bessel_j0(x))
GF_SPECIAL_UNARY(airy_ai, kF32F64, C(sf::airy_ai<sizeof(C) == 8>(double(x))))

GF_SPECIAL_BINARY(xlogy, kFloating, sf::xlogy(x, y))
GF_SPECIAL_BINARY(xlog1py, kFloating, sf::xlog1py(x, y))
GF_SPECIAL_BINARY(igamma, kF32F64, sf::incomplete_gamma(false, x, y))
GF_SPECIAL_BINARY(igammac, kF32F64, sf::incomplete_gamma(true, x, y))
// the polynomials: x and the degree n, evaluated in double on the cpu (see above); on cuda in
// the dtype, as torch's cuda kernels (double trigonometry in the closed forms ran at 0.46x).
// W is the type they are evaluated in.
#if defined(__CUDA_ARCH__)
#define GF_POLYNOMIAL_TYPE C
#else
#define GF_POLYNOMIAL_TYPE double
#endif
#define GF_POLYNOMIAL(name, ...)                                     \
  struct name : op_base {  /* one vector a thread: two spilled */  \
    static constexpr TypeSet types = kF32F64;                        \
    template <class C> struct fn {                                   \
      GF_HD C operator()(C x, C y) const {                           \
        using W = GF_POLYNOMIAL_TYPE;                                \
        return C(sf::__VA_ARGS__);                                   \
      }                                                              \
    };                                                               \
    template <class C> static fn<C> make(const Args&) { return {}; } \
  };
GF_POLYNOMIAL(chebyshev_t, chebyshev(0, false, W(x), sf::degree(y)))
GF_POLYNOMIAL(chebyshev_u, chebyshev(1, false, W(x), sf::degree(y)))
GF_POLYNOMIAL(chebyshev_v, chebyshev(2, false, W(x), sf::degree(y)))
GF_POLYNOMIAL(chebyshev_w, chebyshev(3, false, W(x), sf::degree(y)))
// shifted: P*(x) = P(2x - 1)
GF_POLYNOMIAL(shifted_chebyshev_t, chebyshev(0, true, W(2) * W(x) - W(1), sf::degree(y)))
GF_POLYNOMIAL(shifted_chebyshev_u, chebyshev(1, true, W(2) * W(x) - W(1), sf::degree(y)))
GF_POLYNOMIAL(shifted_chebyshev_v, chebyshev(2, true, W(2) * W(x) - W(1), sf::degree(y)))
GF_POLYNOMIAL(shifted_chebyshev_w, chebyshev(3, true, W(2) * W(x) - W(1), sf::degree(y)))
GF_POLYNOMIAL(hermite_h, hermite_h(W(x), is_nan(y) || std::isinf(y) ? int64_t(-1) : sf::degree(y),
                                   sizeof(C) == 4 ? 128 : 512))
GF_POLYNOMIAL(hermite_he, hermite_he(W(x), sf::degree(y), sizeof(C) == 4 ? 128 : 512))
GF_POLYNOMIAL(laguerre_l, laguerre_l(W(x), sf::degree(y)))
GF_POLYNOMIAL(legendre_p, legendre_p(W(x), sf::degree(y)))
#undef GF_POLYNOMIAL
#undef GF_POLYNOMIAL_TYPE

#undef GF_SPECIAL_UNARY
#undef GF_SPECIAL_BINARY
#undef GF_CUDA_MATH

struct polygamma : heavy_table_op {  // Args.mode: n >= 0
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    int n;
    GF_HD C operator()(C x) const { return sf::polygamma(n, x); }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.mode}; }
};

// log of the multivariate gamma function of dimension p (Args.mode):
// p(p-1)/4 log(pi) + sum_{j<p} lgamma(x - j/2)
struct mvlgamma : heavy_table_op {
  static constexpr TypeSet types = kFloating;
  template <class C> struct fn {
    int p;
    GF_HD C operator()(C x) const {
      C sum = C(double(p) * double(p - 1) / 4 * 1.14472988584940017414);  // log(pi)
      for (int j = 0; j < p; ++j) sum += std::lgamma(x - C(j) / C(2));
      return sum;
    }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.mode}; }
};

// The family's kernels, in two lists so that the cuda backend compiles them in two files;
// each backend instantiates its run<Op> for every one.
#define GF_KERNELS_SPECIAL_UNARY(X)                                                            \
  X(erf) X(erfc) X(erfinv) X(ndtri) X(erfcx) X(lgamma) X(digamma) X(polygamma) X(mvlgamma)     \
  X(i0) X(i0e) X(i1) X(i1e) X(modified_bessel_i0) X(modified_bessel_i1) X(modified_bessel_k0)  \
  X(modified_bessel_k1) X(scaled_modified_bessel_k0) X(scaled_modified_bessel_k1) X(bessel_j0) \
  X(bessel_j1) X(bessel_y0) X(bessel_y1) X(spherical_bessel_j0) X(airy_ai)
#define GF_KERNELS_SPECIAL_BINARY(X)                                                    \
  X(xlogy) X(xlog1py) X(igamma) X(igammac) X(chebyshev_t) X(chebyshev_u) X(chebyshev_v) \
  X(chebyshev_w) X(shifted_chebyshev_t) X(shifted_chebyshev_u) X(shifted_chebyshev_v)   \
  X(shifted_chebyshev_w) X(hermite_h) X(hermite_he) X(laguerre_l) X(legendre_p)
#define GF_KERNELS_SPECIAL(X) GF_KERNELS_SPECIAL_UNARY(X) GF_KERNELS_SPECIAL_BINARY(X)

}  // namespace gemforge::kernels
