// The combine of each scan op, shared by the backends: a state per element, an associative
// combine(earlier, later), an identity, and the value stored. Accumulate types as torch's on
// each device (at::acc_type: fp16/bf16 in float; integers in int64; float in double on the cpu).
#pragma once

#include "engine/scan.h"

#include <ATen/AccumulateType.h>
#include <ATen/NumericUtils.h>

#include <cmath>
#include <type_traits>

namespace gemforge::scan {

template <class T, bool Cuda> struct SumOp {
  using elem = T;
  using state = at::acc_type<T, Cuda>;
  static constexpr bool kIndexed = false;
  // -0.0, not 0: -0.0 + x is x for every x, -0.0 included
  static GF_HD state identity() {
    if constexpr (std::is_integral_v<state>) return state(0);
    else return -state(0);
  }
  static GF_HD state make(T x, int64_t) { return static_cast<state>(x); }
  static GF_HD state combine(state a, state b) { return a + b; }
  static GF_HD T value(state s) { return static_cast<T>(s); }
};

template <class T, bool Cuda> struct ProdOp {
  using elem = T;
  using state = at::acc_type<T, Cuda>;
  static constexpr bool kIndexed = false;
  static GF_HD state identity() { return state(1); }
  static GF_HD state make(T x, int64_t) { return static_cast<state>(x); }
  static GF_HD state combine(state a, state b) { return a * b; }
  static GF_HD T value(state s) { return static_cast<T>(s); }
};

// log(exp(a) + exp(b)), NaN propagating, exact at infinities.
template <class T, bool Cuda> struct LogSumExpOp {
  using elem = T;
  using state = at::acc_type<T, Cuda>;
  static constexpr bool kIndexed = false;
  static GF_HD state identity() { return -std::numeric_limits<state>::infinity(); }
  static GF_HD state make(T x, int64_t) { return static_cast<state>(x); }
  static GF_HD state combine(state a, state b) {
    if (a != a || b != b) return a != a ? a : b;
    const state hi = a < b ? b : a, lo = a < b ? a : b;
    if (lo == -std::numeric_limits<state>::infinity() || hi == std::numeric_limits<state>::infinity())
      return hi;
#ifdef __CUDA_ARCH__
    // float on the GPU: the hardware exp2 (lo - hi <= 0: no overflow, rounding ~2^-22 relative,
    // far below the test tolerance); the accurate expf is several times the instructions and
    // this combine, twice an element, bounds logcumsumexp
    if constexpr (std::is_same_v<state, float>) return hi + log1pf(__expf(lo - hi));
#endif
    return hi + std::log1p(std::exp(lo - hi));
  }
  static GF_HD T value(state s) { return static_cast<T>(s); }
};

// Running max (Max) or min with the index of the element that gave it: NaN propagates and keeps
// the index of the latest NaN; ties take the later index (torch's cummax/cummin). Values compare
// in a wide type (fp16/bf16 as float, integers and bool as int64). The identity (index -1)
// never wins.
template <class T, bool Max> struct ExtremeOp {
  using elem = T;
  using wide = std::conditional_t<std::is_integral_v<T>, int64_t, at::opmath_type<T>>;
  using state = ValueIndex<wide>;
  static constexpr bool kIndexed = true;
  static GF_HD state identity() { return {wide(0), -1}; }
  static GF_HD state make(T x, int64_t i) { return {static_cast<wide>(x), i}; }
  static GF_HD state combine(state a, state b) {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    if (at::_isnan(b.v)) return b;
    if (at::_isnan(a.v)) return a;
    if constexpr (Max) return b.v >= a.v ? b : a;
    else return b.v <= a.v ? b : a;
  }
  static GF_HD T value(const state& s) { return static_cast<T>(s.v); }
};

// Calls f(type_tag<OpFunctor>{}) for p's op and dtype; false when no kernel serves them.
template <bool Cuda, class F> bool dispatch_op(const Problem& p, F&& f) {
  switch (p.op) {
    case Op::sum:
      return dispatch_dtype<kSumTypes>(p.dtype, [&](auto t) {
        f(type_tag<SumOp<typename decltype(t)::type, Cuda>>{});
      });
    case Op::prod:
      return dispatch_dtype<kSumTypes>(p.dtype, [&](auto t) {
        f(type_tag<ProdOp<typename decltype(t)::type, Cuda>>{});
      });
    case Op::logsumexp:
      return dispatch_dtype<kLogSumExpTypes>(p.dtype, [&](auto t) {
        f(type_tag<LogSumExpOp<typename decltype(t)::type, Cuda>>{});
      });
    case Op::max:
      return dispatch_dtype<kMaxTypes>(p.dtype, [&](auto t) {
        f(type_tag<ExtremeOp<typename decltype(t)::type, true>>{});
      });
    case Op::min:
      return dispatch_dtype<kMaxTypes>(p.dtype, [&](auto t) {
        f(type_tag<ExtremeOp<typename decltype(t)::type, false>>{});
      });
  }
  return false;
}

}  // namespace gemforge::scan
