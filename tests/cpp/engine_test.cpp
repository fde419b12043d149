// The pointwise engine's pieces: the fast divider, the dtype switch, and the cpu backend's
// loops driven directly through a Launch (dense, strided, broadcast, casting, CPU scalars).
#include "engine/dtypes.h"
#include "engine/fast_div.h"
#include "engine/pointwise.h"
#include "ops/pointwise/kernels/arithmetic.h"
#include "ops/pointwise/kernels/lowp_math.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

namespace gemforge {
namespace {

TEST(FastDiv, MatchesHardwareDivision) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<uint32_t> num(0, (1u << 31) - 1);
  for (uint32_t d : {1u, 2u, 3u, 5u, 7u, 31u, 32u, 33u, 1000u, 4095u, 4096u, 65537u, (1u << 30) + 1}) {
    const fast_div f(d);
    for (uint32_t n : {0u, 1u, d - 1, d, d + 1, (1u << 31) - 1}) EXPECT_EQ(f.div(n), n / d) << n << "/" << d;
    for (int i = 0; i < 2000; ++i) {
      const uint32_t n = num(rng);
      ASSERT_EQ(f.div(n), n / d) << n << "/" << d;
    }
  }
}

// lowp_math.h's own branches (the series where the exponential or logarithm would cancel): on the
// host its exp and log are the accurate ones, so what is left is the series' truncation and
// float rounding, both far below a 2-byte float's half ulp (2^-12 for fp16).
TEST(LowpMath, SeriesBranchesHoldRelativeAccuracy) {
  double worst_expm1 = 0, worst_log1p = 0;
  for (int i = 0; i <= 4000; ++i) {
    const double mag = std::pow(10.0, -30.0 + 31.5 * i / 4000);  // 1e-30 .. 31.6
    for (double sign : {-1.0, 1.0}) {
      const float y = float(sign * mag);
      const double want = std::expm1(double(y));
      if (want != 0 && std::isfinite(want))
        worst_expm1 = std::max(worst_expm1, std::fabs(kernels::lowp::expm1(y) - want) / std::fabs(want));
    }
    const float e = float(std::pow(10.0, -38.0 + 68.0 * i / 4000));  // 1e-38 .. 1e30
    const double want = std::log1p(double(e));
    worst_log1p = std::max(worst_log1p, std::fabs(kernels::lowp::log1p_nonneg(e) - want) / want);
  }
  double worst_ln = 0, worst_log1p_any = 0;
  for (int i = 0; i <= 4000; ++i) {
    const float x = float(std::pow(2.0, -149.0 + 277.0 * i / 4000));  // the subnormals .. 2^128
    for (float v : {x, 1.0f + (x - 0.5f) / 8, 1.0f - x / 16}) {       // and around 1, both sides
      const double want = std::log(double(v));
      if (want != 0) worst_ln = std::max(worst_ln, std::fabs(kernels::lowp::ln(v) - want) / std::fabs(want));
    }
    const float u = float(std::pow(10.0, -30.0 + 30.0 * i / 4000)) * (i % 2 ? -0.9f : 1.0f);
    const double want = std::log1p(double(u));
    worst_log1p_any = std::max(worst_log1p_any, std::fabs(kernels::lowp::log1p(u) - want) / std::fabs(want));
  }
  EXPECT_LT(worst_ln, 4e-6);
  EXPECT_LT(worst_log1p_any, 4e-6);
  EXPECT_EQ(kernels::lowp::ln(0.0f), -INFINITY);
  EXPECT_TRUE(std::isnan(kernels::lowp::ln(-1.0f)));
  EXPECT_EQ(kernels::lowp::log1p(-1.0f), -INFINITY);
  EXPECT_LT(worst_expm1, 1e-6);
  EXPECT_LT(worst_log1p, 4e-6);  // just above 1/32: 1 + e rounded, then its log
  EXPECT_EQ(kernels::lowp::expm1(-INFINITY), -1.0f);
  EXPECT_TRUE(std::isnan(kernels::lowp::expm1(NAN)));
  EXPECT_EQ(kernels::lowp::log1p_nonneg(0.0f), 0.0f);
  EXPECT_EQ(kernels::lowp::log1p_nonneg(INFINITY), INFINITY);
  EXPECT_TRUE(std::isnan(kernels::lowp::log1p_nonneg(NAN)));
}

// asinh, atanh, logit, erfc and pow in their lowp forms (on the host, with
// the accurate exp / log / 1/x standing in for the hardware's): the formulas hold relative
// accuracy near their zeros and in the tails, and give the special values torch's give.
TEST(LowpMath, FormulasHoldRelativeAccuracy) {
  namespace lowp = kernels::lowp;
  auto rel = [](double got, double want) {
    return want == 0 ? std::fabs(got) : std::fabs(got - want) / std::fabs(want);
  };
  double worst[5] = {};  // asinh, atanh, logit, erfc, pow
  for (int i = 0; i <= 4000; ++i) {
    const double mag = std::pow(2.0, -140.0 + 200.0 * i / 4000);  // subnormals .. 2^60
    for (double sign : {-1.0, 1.0}) {
      const float x = float(sign * mag);
      worst[0] = std::max(worst[0], rel(lowp::asinh(x), std::asinh(double(x))));
      const float t = float(sign * std::min(mag, 1.0 - 1.0 / 4096));
      worst[1] = std::max(worst[1], rel(lowp::atanh(t), std::atanh(double(t))));
    }
    const float p = float(i + 0.5) / 4001;  // (0, 1), and the small probabilities
    for (float v : {p, float(std::pow(2.0, -130.0 + 129.0 * i / 4000))}) {
      const double want = std::log(double(v) / (1.0 - double(v)));
      worst[2] = std::max(worst[2], rel(lowp::logit(v), want));
    }
    const float z = float(-6.0 + 15.0 * i / 4000);  // erfc from 2 down to 1e-37
    worst[3] = std::max(worst[3], rel(lowp::erfc(z), std::erfc(double(z))));
    const float base = float(std::pow(2.0, -20.0 + 40.0 * i / 4000)), e = float(-4.0 + 8.0 * (i % 97) / 96);
    worst[4] = std::max(worst[4], rel(lowp::pow(base, e), std::pow(double(base), double(e))));
  }
  EXPECT_LT(worst[0], 4e-6);
  EXPECT_LT(worst[1], 4e-6);
  EXPECT_LT(worst[2], 4e-6);
  EXPECT_LT(worst[3], 2e-5);
  EXPECT_LT(worst[4], 4e-6);
  EXPECT_TRUE(std::signbit(lowp::asinh(-0.0f)));
  EXPECT_EQ(lowp::asinh(-INFINITY), -INFINITY);
  EXPECT_EQ(lowp::atanh(1.0f), INFINITY);
  EXPECT_EQ(lowp::atanh(-1.0f), -INFINITY);
  EXPECT_TRUE(std::isnan(lowp::atanh(2.0f)));
  EXPECT_TRUE(std::isnan(lowp::atanh(INFINITY)));
  EXPECT_EQ(lowp::logit(0.0f), -INFINITY);
  EXPECT_EQ(lowp::logit(1.0f), INFINITY);
  EXPECT_EQ(lowp::logit(0.5f), 0.0f);
  EXPECT_TRUE(std::isnan(lowp::logit(-0.25f)));
  EXPECT_TRUE(std::isnan(lowp::logit(1.5f)));
  EXPECT_EQ(lowp::erfc(-INFINITY), 2.0f);
  EXPECT_EQ(lowp::erfc(INFINITY), 0.0f);
  EXPECT_EQ(lowp::pow(1.0f, NAN), 1.0f);
  EXPECT_EQ(lowp::pow(-2.0f, 3.0f), -8.0f);
  EXPECT_EQ(lowp::pow(0.0f, -1.0f), INFINITY);
  EXPECT_EQ(lowp::pow(3.0f, 0.0f), 1.0f);
  for (float v : {NAN}) {
    EXPECT_TRUE(std::isnan(lowp::asinh(v)) && std::isnan(lowp::atanh(v)));
    EXPECT_TRUE(std::isnan(lowp::logit(v)) && std::isnan(lowp::erfc(v)) && std::isnan(lowp::pow(v, 2.0f)));
  }
}

// lowp::sinc against sin(pi r) / (pi x) in double, r = x - rint(x) exact: relative accuracy at
// every size, near the zeros (x just off an integer) included; its special values.
TEST(LowpMath, SincHoldsRelativeAccuracy) {
  auto want = [](float x) {
    const double n = std::rint(double(x)), r = double(x) - n;
    const double s = std::sin(M_PI * r) * (std::fmod(std::fabs(n), 2.0) == 1.0 ? -1.0 : 1.0);
    return s / (M_PI * double(x));
  };
  double worst = 0;
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> unit(-0.5f, 0.5f);
  for (int i = 0; i <= 20000; ++i) {
    const float mag = float(std::pow(2.0, -13.0 + 36.0 * i / 20000));  // 2^-13 .. 2^23
    for (float x : {mag, -mag, std::nextafter(std::rint(mag), INFINITY), float(std::rint(mag) + unit(gen) * 1e-3f)}) {
      if (std::rint(x) == x && x != 0) {
        EXPECT_EQ(kernels::lowp::sinc(x), 0.0f) << x;
        continue;
      }
      const double w = want(x);
      worst = std::max(worst, std::fabs(kernels::lowp::sinc(x) - w) / std::fabs(w));
    }
  }
  EXPECT_LT(worst, 1e-6);
  EXPECT_EQ(kernels::lowp::sinc(0.0f), 1.0f);
  EXPECT_EQ(kernels::lowp::sinc(-1e-30f), 1.0f);
  EXPECT_EQ(kernels::lowp::sinc(0x1p-14f), 1.0f);
  EXPECT_EQ(kernels::lowp::sinc(1e30f), 0.0f);
  EXPECT_TRUE(std::isnan(kernels::lowp::sinc(INFINITY)));
  EXPECT_TRUE(std::isnan(kernels::lowp::sinc(-INFINITY)));
  EXPECT_TRUE(std::isnan(kernels::lowp::sinc(NAN)));
}

// lowp::div_floor against c10::div_floor_floating, bit for bit (signed zeros included): random
// quotients of all sizes, whole and bf16-rounded operands, and the special values.
TEST(LowpMath, DivFloorIsTorchs) {
  std::mt19937 gen(7);
  std::normal_distribution<float> normal;
  const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 3.0f, -3.0f, 1e-40f, -1e-40f, 5e30f, 3e38f, -1e38f,
                           INFINITY, -INFINITY, NAN};
  auto same = [](float a, float b) {
    const float want = c10::div_floor_floating(a, b), got = kernels::lowp::div_floor(a, b);
    return (std::isnan(want) && std::isnan(got)) || std::memcmp(&want, &got, sizeof(float)) == 0;
  };
  int bad = 0;
  for (int i = 0; i < 1000000; ++i) {
    float a = normal(gen) * std::ldexp(1.0f, int(gen() % 24) - 12);
    float b = normal(gen) * std::ldexp(1.0f, int(gen() % 24) - 12);
    if (i % 3 == 0) a = std::trunc(a);
    if (i % 5 == 0) b = float(c10::BFloat16(b));
    bad += !same(a, b);
  }
  for (float a : special)
    for (float b : special) bad += !same(a, b);
  EXPECT_EQ(bad, 0);
}

TEST(Dtypes, DispatchInstantiatesOnlyTheSet) {
  int seen = 0;
  EXPECT_TRUE(dispatch_dtype<kFloating>(ScalarType::BFloat16, [&](auto tag) {
    using T = typename decltype(tag)::type;
    EXPECT_TRUE((std::is_same_v<T, c10::BFloat16>));
    EXPECT_TRUE((std::is_same_v<opmath_t<T>, float>));
    ++seen;
  }));
  EXPECT_FALSE(dispatch_dtype<kFloating>(ScalarType::Long, [&](auto) { ++seen; }));
  EXPECT_EQ(seen, 1);
  EXPECT_TRUE(has(kAll, ScalarType::Bool));
  EXPECT_FALSE(has(kReal, ScalarType::ComplexFloat));
}

// Runs `kernel` on the cpu backend through the TensorIterator road and returns the output.
at::Tensor run_binary(pw::IterKind kind, const at::Tensor& a, const at::Tensor& b, const pw::Kernel& k,
                      const pw::Args& args = {}) {
  at::Tensor out = pw::run(kind, at::Tensor(), {a, b}, k, args);
  EXPECT_TRUE(out.defined());
  return out;
}

TEST(PointwiseCpu, DenseStridedBroadcastAndCasts) {
  const auto add = pw::kernel<kernels::add>();
  auto a = at::randn({33, 65}, at::kDouble);
  auto b = at::randn({33, 65}, at::kDouble);
  EXPECT_TRUE(at::allclose(run_binary(pw::IterKind::binary, a, b, add, {2}), a + 2 * b));
  // transposed, broadcast and mixed dtypes (float + double promotes to double)
  auto t = at::randn({65, 33}, at::kFloat).t();
  auto row = at::randn({65}, at::kDouble);
  auto r = run_binary(pw::IterKind::binary, t, row, add, {1});
  EXPECT_EQ(r.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::allclose(r, t.to(at::kDouble) + row));
  // a 0-d CPU "wrapped number"
  auto s = at::scalar_tensor(1.5, at::kDouble);
  s.unsafeGetTensorImpl()->set_wrapped_number(true);
  auto h = at::randn({7, 5}, at::kHalf);
  auto rh = run_binary(pw::IterKind::binary, h, s, add, {1});
  EXPECT_EQ(rh.scalar_type(), at::kHalf);
  EXPECT_TRUE(at::allclose(rh.to(at::kFloat), (h.to(at::kFloat) + 1.5).to(at::kHalf).to(at::kFloat)));
}

TEST(PointwiseCpu, DenseRoadAndUnsupportedDtypes) {
  const auto mul = pw::kernel<kernels::mul>();
  auto a = at::randint(-50, 50, {1000}, at::kInt);
  auto b = at::randint(-50, 50, {1000}, at::kInt);
  auto r = pw::run_dense(pw::IterKind::binary, at::Tensor(), {a, b}, mul);
  ASSERT_TRUE(r.defined());
  EXPECT_TRUE(at::equal(r, a * b));
  // not dense: the dense road declines
  EXPECT_FALSE(pw::run_dense(pw::IterKind::binary, at::Tensor(), {a.slice(0, 0, 1000, 2), b.slice(0, 0, 1000, 2)}, mul).defined());
  // integer rounding division by zero raises on the cpu, as torch's ZeroDivisionError
  const auto floor = pw::kernel<kernels::div_floor>();
  auto nonzero = at::where(b == 0, at::ones_like(b), b);
  EXPECT_TRUE(at::equal(pw::run(pw::IterKind::binary, at::Tensor(), {a, nonzero}, floor),
                        at::div(a, nonzero, "floor")));
  EXPECT_THROW(pw::run(pw::IterKind::binary, at::Tensor(), {a, at::zeros_like(b)}, floor), c10::Error);
}

}  // namespace
}  // namespace gemforge
