// The random family's samplers, shared by the backends: a counter-based generator
// (Philox-4x32-10) and the transforms from its raw 32/64-bit draws to each distribution.
//
// Element i of a call belongs to group g = i / 4; the group's four values come from one Philox
// block (two for 64-bit draws) with key = the seed and counter = (offset / 4 + j, g). The seed and
// offset come from torch's generator of the tensor's device (the caller reserves kIncrement of
// its offset per call), so torch.manual_seed governs the results and a value depends on its
// index alone: any launch shape, vector width or thread count gives the same tensor.
// No ATen: c10 types only.
#pragma once

#include "engine/dtypes.h"

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__CUDACC__)
#define GF_RANDOM_UNROLL _Pragma("unroll")
#else
#define GF_RANDOM_UNROLL
#endif

namespace gemforge::random {

// The offset each call reserves from torch's generator: two Philox counters per group.
constexpr uint64_t kIncrement = 8;

struct Philox {
  uint64_t seed, offset;
};

enum class Dist : int {
  uniform,      // [a, b)
  normal,       // mean a, std b
  log_normal,   // exp(normal(a, b))
  exponential,  // a = -1 / lambda
  cauchy,       // median a, sigma b
  geometric,    // a = 1 / log1p(-p)
  bernoulli,    // draw < threshold (of 2^32)
  random32,     // base + draw % range, range <= 2^32
  random64,     // base + draw % range, range > 2^32 (0: all 2^64)
};

struct Params {
  double a = 0, b = 0;
  double to = 0;  // uniform: a result equal to `to` (after rounding) becomes `a`
  uint64_t range = 0, threshold = 0;
  int64_t base = 0;
};

// A dense output of numel elements, filled in index order.
struct Fill {
  ScalarType dtype;
  void* data;
  int64_t numel;
  Dist dist;
  Params p;
  Philox rng;
};

// out[i] = draw_i < p[i]; p dense, float (double when out is double), numel elements.
struct BernoulliTensor {
  ScalarType dtype;
  void* out;
  const void* p;
  int64_t numel;
  Philox rng;
};

// mask[i] = draw_i < threshold; out[i] = in[i] * mask[i] * scale. All dense, numel elements.
struct Dropout {
  ScalarType dtype;
  const void* in;
  void* out;
  bool* mask;
  int64_t numel;
  uint64_t threshold;
  double scale;
  Philox rng;
};

// out[i] = in[i] * (mask[i] != 0) * scale; mask one byte an element (bool or uint8).
struct MaskedScale {
  ScalarType dtype;
  const void* in;
  const uint8_t* mask;
  void* out;
  int64_t numel;
  double scale;
};

// randperm: out[0, n) a uniformly random permutation of 0..n-1; out dense, int64 or int32.
// The cpu shuffles (Fisher-Yates, draw i from group i / 4); cuda sorts random keys.
struct Randperm {
  ScalarType dtype;
  void* out;
  int64_t n;
  Philox rng;
};

// multinomial by an exponential race: in each of `rows` rows of n probabilities (dense, dtype),
// the k categories of largest p[j] / e[j] with e[j] ~ Exp(1) (drawn from element r * n + j), in
// decreasing order (ties: lower j first). That is k draws without replacement (one draw for
// k == 1). out: rows x k int64, dense.
struct Multinomial {
  ScalarType dtype;
  const void* p;
  int64_t rows, n, k;
  int64_t* out;
  Philox rng;
};
constexpr int kMultinomialMaxK = 16;
// The launchers' result: bits of what torch's checks reject.
constexpr int kBadProbability = 1;  // some p negative, inf or NaN
constexpr int kZeroRow = 2;         // some row without a positive p

// poisson: out[i] ~ Poisson(rate[i]); rate and out dense, numel elements of dtype. Element i
// draws from Philox counters offset / 4 + j (j < kPoissonBlocks) of subsequence i: the caller
// reserves kPoissonIncrement.
struct Poisson {
  ScalarType dtype;
  const void* rate;
  void* out;
  int64_t numel;
  Philox rng;
};
constexpr int kPoissonBlocks = 64;
constexpr uint64_t kPoissonIncrement = 4 * kPoissonBlocks;

// rrelu_with_noise in training: where in[i] <= 0 draw r ~ U(lower, upper): out = in * r,
// noise = r; elsewhere out = in, noise = 1. All dense, numel elements of dtype.
struct Rrelu {
  ScalarType dtype;
  const void* in;
  void* out;
  void* noise;
  int64_t numel;
  double lower, upper;
  Philox rng;
};

// Dtypes each kernel serves (torch's kernels take and reject the rest).
constexpr TypeSet kContinuousTypes = kFloating;
constexpr TypeSet kGeometricTypes = kReal;
constexpr TypeSet kDiscreteTypes = kReal | kBool;  // bernoulli, random
constexpr TypeSet kDropoutTypes = kFloating;
constexpr TypeSet kRandpermTypes = bit(ScalarType::Long) | bit(ScalarType::Int);
constexpr TypeSet kMultinomialTypes = kFloating;
constexpr TypeSet kPoissonTypes = kFloating;
constexpr TypeSet kRreluTypes = kFloating;

constexpr TypeSet fill_types(Dist d) {
  return d == Dist::geometric ? kGeometricTypes
       : d == Dist::bernoulli || d == Dist::random32 || d == Dist::random64 ? kDiscreteTypes
       : kContinuousTypes;
}

// ---- launchers, one per backend (backends/cpu/random.cpp, backends/cuda/random.cu) ------------
#define GF_RANDOM_LAUNCHERS(dev)                           \
  void fill_##dev(const Fill& f);                          \
  /* false (cpu): some p outside [0, 1] */                 \
  bool bernoulli_tensor_##dev(const BernoulliTensor& b);   \
  void dropout_##dev(const Dropout& d);                    \
  void masked_scale_##dev(const MaskedScale& m);          \
  void randperm_##dev(const Randperm& r);                  \
  /* kBadProbability | kZeroRow bits (cuda: read back, synchronising) */ \
  int multinomial_##dev(const Multinomial& m);             \
  /* false (cpu): some rate negative or NaN */            \
  bool poisson_##dev(const Poisson& p);                    \
  void rrelu_##dev(const Rrelu& r);
GF_RANDOM_LAUNCHERS(cpu)
GF_RANDOM_LAUNCHERS(cuda)
#undef GF_RANDOM_LAUNCHERS

// ---- Philox-4x32-10 ------------------------------------------------------------------------------
struct u32x4 {
  uint32_t x[4];
};
struct u64x4 {
  uint64_t x[4];
};

GF_HD void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
#if defined(__CUDA_ARCH__)
  lo = a * b;
  hi = __umulhi(a, b);
#else
  const uint64_t p = uint64_t(a) * b;
  lo = uint32_t(p);
  hi = uint32_t(p >> 32);
#endif
}

// One block: 10 rounds of the Philox-4x32 bijection of the counter c under key k.
GF_HD u32x4 philox(uint64_t key, uint64_t c_lo, uint64_t c_hi) {
  uint32_t c0 = uint32_t(c_lo), c1 = uint32_t(c_lo >> 32), c2 = uint32_t(c_hi), c3 = uint32_t(c_hi >> 32);
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
GF_RANDOM_UNROLL
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, hi0, lo0);
    mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// The four raw draws of group g: 32-bit, or 64-bit (two blocks) when Wide.
template <bool Wide> struct raw;
template <> struct raw<false> {
  using type = u32x4;
  GF_HD static u32x4 draw(const Philox& r, uint64_t g) { return philox(r.seed, r.offset / 4, g); }
};
template <> struct raw<true> {
  using type = u64x4;
  GF_HD static u64x4 draw(const Philox& r, uint64_t g) {
    const u32x4 a = philox(r.seed, r.offset / 4, g), b = philox(r.seed, r.offset / 4 + 1, g);
    u64x4 out;
GF_RANDOM_UNROLL
    for (int k = 0; k < 4; ++k) out.x[k] = (uint64_t(a.x[k]) << 32) | b.x[k];
    return out;
  }
};

// ---- unit floats from raw bits: exact multiples of 2^-24 (float) or 2^-53 (double) ----------------
GF_HD float closed_open(uint32_t x) { return float(x >> 8) * 0x1p-24f; }            // [0, 1)
GF_HD float open_closed(uint32_t x) { return float((x >> 8) + 1) * 0x1p-24f; }      // (0, 1]
GF_HD float open_open(uint32_t x) { return (float(x >> 9) + 0.5f) * 0x1p-23f; }     // (0, 1)
GF_HD double closed_open(uint64_t x) { return double(x >> 11) * 0x1p-53; }
GF_HD double open_closed(uint64_t x) { return double((x >> 11) + 1) * 0x1p-53; }
GF_HD double open_open(uint64_t x) { return (double(x >> 12) + 0.5) * 0x1p-52; }

// Math in the compute type; float on the GPU through the fast hardware paths where their error
// cannot change a result's sign or range (the Box-Muller radius is clamped at zero).
GF_HD float fast_log(float x) {
#if defined(__CUDA_ARCH__)
  return __logf(x);
#else
  return std::log(x);
#endif
}
GF_HD double fast_log(double x) { return std::log(x); }
// sqrt(t), 0 for t <= 0 (the fast log may return a tiny positive value at u = 1).
GF_HD float radius(float t) {
#if defined(__CUDA_ARCH__)
  return t > 0.f ? t * rsqrtf(t) : 0.f;
#else
  return t > 0.f ? std::sqrt(t) : 0.f;
#endif
}
GF_HD double radius(double t) { return t > 0 ? std::sqrt(t) : 0.0; }
GF_HD void sincos_pi(float t, float& s, float& c) {  // t in [-1, 1)
#if defined(__CUDA_ARCH__)
  __sincosf(t * 3.14159265358979f, &s, &c);
#else
  s = std::sin(t * 3.14159265358979f);
  c = std::cos(t * 3.14159265358979f);
#endif
}
GF_HD void sincos_pi(double t, double& s, double& c) {
#if defined(__CUDA_ARCH__)
  sincospi(t, &s, &c);
#else
  s = std::sin(t * 3.14159265358979323846);
  c = std::cos(t * 3.14159265358979323846);
#endif
}

// ---- the samplers: four raw draws -> four values of S ------------------------------------------
// The smallest positive value of S (a subnormal): exponential_ never returns zero.
template <class S> constexpr double smallest_positive() {
  return std::is_same_v<S, double> ? 4.9406564584124654e-324
       : std::is_same_v<S, c10::Half> ? 5.9604644775390625e-08    // 2^-24
       : std::is_same_v<S, c10::BFloat16> ? 9.183549615799121e-41  // 2^-133
       : 1.401298464324817e-45;                                    // 2^-149
}

template <class S> using compute_t = std::conditional_t<std::is_same_v<S, double>, double, float>;

template <class S, Dist D> struct sampler {
  using C = compute_t<S>;
  static constexpr bool kWide = D == Dist::random64 ||
      (std::is_same_v<S, double> && D != Dist::bernoulli && D != Dist::random32);
  using R = typename raw<kWide>::type;

  C a, b, to, tiny;
  uint64_t range, threshold;
  int64_t base;

  static sampler make(const Params& p) {
    sampler s{};
    s.a = C(p.a);
    s.b = C(p.b);
    // uniform_'s bound check fires only where `to` is a value of the compute type.
    s.to = double(C(p.to)) == p.to ? C(p.to) : C(NAN);
    s.tiny = C(smallest_positive<S>());
    s.range = p.range;
    s.threshold = p.threshold;
    s.base = p.base;
    return s;
  }

  GF_HD void operator()(const R& r, S* out) const {
    if constexpr (D == Dist::uniform) {
GF_RANDOM_UNROLL
      for (int k = 0; k < 4; ++k) {
        const S v = static_cast<S>(closed_open(r.x[k]) * b + a);
        out[k] = C(v) == to ? static_cast<S>(a) : v;
      }
    } else if constexpr (D == Dist::normal || D == Dist::log_normal) {
GF_RANDOM_UNROLL
      for (int k = 0; k < 4; k += 2) {
        const C u = open_closed(r.x[k]), t = closed_open(r.x[k + 1]) * C(2) - C(1);
        const C rad = radius(C(-2) * fast_log(u));
        C s, c;
        sincos_pi(t, s, c);
        C z0 = a + b * rad * c, z1 = a + b * rad * s;
        if constexpr (D == Dist::log_normal) {
          z0 = std::exp(z0);
          z1 = std::exp(z1);
        }
        out[k] = static_cast<S>(z0);
        out[k + 1] = static_cast<S>(z1);
      }
    } else if constexpr (D == Dist::exponential) {
GF_RANDOM_UNROLL
      // the fast log as normal's (__logf: 2 ulp below 0.5, 2^-21 absolute above): the accurate
      // logf made exponential_ fp32 0.90x torch on the H100
      for (int k = 0; k < 4; ++k) out[k] = static_cast<S>(std::fmax(a * fast_log(open_open(r.x[k])), tiny));
    } else if constexpr (D == Dist::cauchy) {
GF_RANDOM_UNROLL
      for (int k = 0; k < 4; ++k) {
        const C u = open_open(r.x[k]) - C(0.5);
        out[k] = static_cast<S>(a + b * std::tan(u * C(3.14159265358979323846)));
      }
    } else if constexpr (D == Dist::geometric) {
GF_RANDOM_UNROLL
      for (int k = 0; k < 4; ++k) out[k] = static_cast<S>(std::ceil(std::log(open_open(r.x[k])) * a));
    } else if constexpr (D == Dist::bernoulli) {
GF_RANDOM_UNROLL
      for (int k = 0; k < 4; ++k) out[k] = static_cast<S>(uint64_t(r.x[k]) < threshold);
    } else if constexpr (D == Dist::random32) {
      // a power of two (2^32 and, for random64, 0 = 2^64 too) takes a mask, not a division
      const bool pow2 = (range & (range - 1)) == 0;
GF_RANDOM_UNROLL
      for (int k = 0; k < 4; ++k) {
        const uint32_t v = pow2 ? r.x[k] & uint32_t(range - 1) : r.x[k] % uint32_t(range);
        out[k] = static_cast<S>(static_cast<int64_t>(uint64_t(v) + uint64_t(base)));
      }
    } else {  // random64
      const bool pow2 = (range & (range - 1)) == 0;
GF_RANDOM_UNROLL
      for (int k = 0; k < 4; ++k) {
        const uint64_t v = pow2 ? r.x[k] & (range - 1) : r.x[k] % range;
        out[k] = static_cast<S>(static_cast<int64_t>(v + uint64_t(base)));
      }
    }
  }
};

// Calls f(type_tag<S>, std::integral_constant<Dist, D>) for the served (dtype, dist) pairs.
template <class F> bool dispatch_fill(ScalarType dtype, Dist d, F&& f) {
  auto with = [&](auto dist) {
    constexpr Dist D = decltype(dist)::value;
    return dispatch_dtype<fill_types(D)>(dtype, [&](auto tag) { f(tag, dist); });
  };
  switch (d) {
    case Dist::uniform: return with(std::integral_constant<Dist, Dist::uniform>{});
    case Dist::normal: return with(std::integral_constant<Dist, Dist::normal>{});
    case Dist::log_normal: return with(std::integral_constant<Dist, Dist::log_normal>{});
    case Dist::exponential: return with(std::integral_constant<Dist, Dist::exponential>{});
    case Dist::cauchy: return with(std::integral_constant<Dist, Dist::cauchy>{});
    case Dist::geometric: return with(std::integral_constant<Dist, Dist::geometric>{});
    case Dist::bernoulli: return with(std::integral_constant<Dist, Dist::bernoulli>{});
    case Dist::random32: return with(std::integral_constant<Dist, Dist::random32>{});
    case Dist::random64: return with(std::integral_constant<Dist, Dist::random64>{});
  }
  return false;
}

// ---- helpers of randperm, multinomial, poisson ----------------------------------------------
// The number of low key bits that hold an index below n (n >= 1).
GF_HD int index_bits(int64_t n) {
  int b = 0;
  while (b < 63 && (uint64_t(1) << b) < uint64_t(n)) ++b;
  return b;
}
// Random bits above them: enough that two equal random parts (whose order the index decides)
// are rare, ~n^2 / 2^(bits + 1) pairs <= 2^-15, and no more (each 8 bits is one sort pass).
GF_HD int random_bits(int index_bits) { return 2 * index_bits + 14 < 64 - index_bits ? 2 * index_bits + 14 : 64 - index_bits; }

// One multinomial candidate: its race key and category; better() orders by key, then lower j.
template <class C> struct Candidate {
  C key;
  int64_t j;
};
template <class C> GF_HD bool better(const Candidate<C>& a, const Candidate<C>& b) {
  return a.key > b.key || (a.key == b.key && a.j < b.j);
}
// p / e with e ~ Exp(1) from a raw draw (p >= 0 keeps its sign; NaN stays NaN).
GF_HD float race_key(float p, uint32_t x) { return p / -fast_log(open_open(x)); }
GF_HD double race_key(double p, uint64_t x) { return p / -std::log(open_open(x)); }

// Element i's uniforms on (0, 1), 32 bits each, from up to kPoissonBlocks Philox blocks.
struct UniformStream {
  Philox rng;
  uint64_t g;
  int block = 0, left = 0;
  u32x4 cur{};
  GF_HD bool exhausted() const { return left == 0 && block >= kPoissonBlocks; }
  GF_HD double next() {
    if (left == 0) {
      cur = philox(rng.seed, rng.offset / 4 + uint64_t(block), g);
      ++block;
      left = 4;
    }
    const uint32_t x = cur.x[0];  // shift, not index: the block stays in registers
    cur.x[0] = cur.x[1];
    cur.x[1] = cur.x[2];
    cur.x[2] = cur.x[3];
    --left;
    return (double(x) + 0.5) * 0x1p-32;
  }
};

// A Poisson(lam) draw: inversion below 10, else Hoermann's transformed rejection (PTRS).
// lam 0 gives 0; a negative or NaN rate gives NaN (the caller checks where torch does).
GF_HD double poisson_sample(double lam, UniformStream& u) {
  if (lam == 0) return 0;
  if (!(lam > 0)) return NAN;
  if (lam < 10) {
    const double target = u.next();
    double term = ::exp(-lam), cdf = term;
    int k = 0;
    while (cdf < target && k < 256) {
      ++k;
      term *= lam / k;
      cdf += term;
    }
    return k;
  }
  const double slam = ::sqrt(lam), loglam = ::log(lam);
  const double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
  while (!u.exhausted()) {
    const double U = u.next() - 0.5, V = u.next();
    const double us = 0.5 - ::fabs(U);
    const double k = ::floor((2 * a / us + b) * U + lam + 0.43);
    if (us >= 0.07 && V <= vr) return k;
    if (k < 0 || (us < 0.013 && V > us)) continue;
    if (::log(V) + ::log(inv_alpha) - ::log(a / (us * us) + b) <= -lam + k * loglam - ::lgamma(k + 1)) return k;
  }
  return ::floor(lam);  // 128 rejections in a row: never in practice
}

// Elements a thread takes at a time: whole groups, 16 bytes of output at least.
template <class S> constexpr int chunk_elems() {
  return sizeof(S) >= 4 ? 4 : int(16 / sizeof(S));
}

}  // namespace gemforge::random
