// The reduction functors shared by the backends, and the dispatch from a Plan to a functor and
// its (input, output) storage types. A functor is
//   acc init();  acc reduce(acc, T x, int64_t r);  acc combine(acc, acc);
//   void store(acc, O* out0, void* out1, int64_t k);
// reduce sees the elements of one output in any grouping, r is the element's index along the
// reduced extent (a functor with kReducesRuns also has reduce_run, for N consecutive elements); combine must not depend on which side came first where the result could
// (argmax's ties go to the lower index, NaN wins). No ATen: c10 types only.
#pragma once

#include "engine/reduction.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace gemforge::red {

// What a backend accumulates a T in: integers and bool in int64; floating types in their
// opmath type on cuda (fp16/bf16 -> float), in double on the cpu.
template <class T, bool Cuda>
using acc_t = std::conditional_t<std::is_integral_v<T>, int64_t,
              std::conditional_t<Cuda, opmath_t<T>, double>>;

// F::kReducesRuns: F has reduce_run(acc, const T (&)[N], int64_t first) for consecutive elements.
template <class F, class = void> struct reduces_runs : std::false_type {};
template <class F>
struct reduces_runs<F, std::void_t<decltype(F::kReducesRuns)>> : std::bool_constant<F::kReducesRuns> {};

template <class A> GF_HD bool is_nan(A v) {
  if constexpr (std::is_floating_point_v<A>) return v != v;
  else return false;
}
template <class A> GF_HD A lowest() {
  if constexpr (std::is_floating_point_v<A>) return -std::numeric_limits<A>::infinity();
  else return std::numeric_limits<A>::lowest();
}
template <class A> GF_HD A highest() {
  if constexpr (std::is_floating_point_v<A>) return std::numeric_limits<A>::infinity();
  else return std::numeric_limits<A>::max();
}
// max and min that let NaN through, as torch's amax/amin do.
template <class A> GF_HD A max_nan(A a, A b) { return (is_nan(a) || a > b) ? a : b; }
template <class A> GF_HD A min_nan(A a, A b) { return (is_nan(a) || a < b) ? a : b; }

template <class T, class A> GF_HD A widen(T x) {
  if constexpr (std::is_same_v<T, bool>) return static_cast<A>(x ? 1 : 0);
  else return static_cast<A>(x);
}

// ---- sum, mean, nansum; prod ------------------------------------------------------------------
template <class T, class A> struct sum_fn {
  static constexpr Kind kind = Kind::kSum;
  using acc = A;
  A divisor;  // mean: R, else 1
  bool skip_nan;
  GF_HD A init() const { return A(0); }
  GF_HD A reduce(A a, T x, int64_t) const {
    const A v = widen<T, A>(x);
    return (skip_nan && is_nan(v)) ? a : a + v;
  }
  GF_HD A combine(A a, A b) const { return a + b; }
  template <class O> GF_HD void store(A a, O* out, void*, int64_t k) const {
    if constexpr (std::is_floating_point_v<A>) out[k] = static_cast<O>(a / divisor);
    else out[k] = static_cast<O>(a);
  }
};

template <class T, class A> struct prod_fn {
  static constexpr Kind kind = Kind::kProd;
  using acc = A;
  GF_HD A init() const { return A(1); }
  GF_HD A reduce(A a, T x, int64_t) const { return a * widen<T, A>(x); }
  GF_HD A combine(A a, A b) const { return a * b; }
  template <class O> GF_HD void store(A a, O* out, void*, int64_t k) const { out[k] = static_cast<O>(a); }
};

template <class T, class A> struct count_nonzero_fn {
  static constexpr Kind kind = Kind::kCountNonzero;
  using acc = int64_t;
  GF_HD int64_t init() const { return 0; }
  GF_HD int64_t reduce(int64_t a, T x, int64_t) const { return a + (widen<T, A>(x) != A(0) ? 1 : 0); }
  GF_HD int64_t combine(int64_t a, int64_t b) const { return a + b; }
  template <class O> GF_HD void store(int64_t a, O* out, void*, int64_t k) const { out[k] = static_cast<O>(a); }
};

// ---- amax, amin, max(), min(); aminmax ----------------------------------------------------------
template <class T, class A, bool Max> struct extreme_fn {
  static constexpr Kind kind = Max ? Kind::kMax : Kind::kMin;
  using acc = A;
  GF_HD A init() const { return Max ? lowest<A>() : highest<A>(); }
  GF_HD A reduce(A a, T x, int64_t) const { return combine(a, widen<T, A>(x)); }
  GF_HD A combine(A a, A b) const { return Max ? max_nan(a, b) : min_nan(a, b); }
  template <class O> GF_HD void store(A a, O* out, void*, int64_t k) const { out[k] = static_cast<O>(a); }
};

template <class A> struct min_max_acc {
  A lo, hi;
};
template <class T, class A> struct min_max_fn {
  static constexpr Kind kind = Kind::kMinMax;
  using acc = min_max_acc<A>;
  GF_HD acc init() const { return {highest<A>(), lowest<A>()}; }
  GF_HD acc reduce(acc a, T x, int64_t) const {
    const A v = widen<T, A>(x);
    return {min_nan(a.lo, v), max_nan(a.hi, v)};
  }
  GF_HD acc combine(acc a, acc b) const { return {min_nan(a.lo, b.lo), max_nan(a.hi, b.hi)}; }
  template <class O> GF_HD void store(acc a, O* out, void* hi, int64_t k) const {
    out[k] = static_cast<O>(a.lo);
    static_cast<O*>(hi)[k] = static_cast<O>(a.hi);
  }
};

// ---- argmax, argmin, max.dim, min.dim: value and first index ----------------------------------
template <class A> struct arg_acc {
  A v;
  int64_t i;  // -1: no element yet
};
template <class T, class A, bool Max> struct arg_fn {
  static constexpr Kind kind = Max ? Kind::kArgMax : Kind::kArgMin;
  using acc = arg_acc<A>;
  // (v, i) comes before a: a is empty; NaN wins (the first NaN); else the larger (smaller)
  // value, the lower index on ties.
  static GF_HD bool before(A v, int64_t i, const acc& a) {
    if (a.i < 0) return true;
    if (is_nan(a.v)) return is_nan(v) && i < a.i;
    if (is_nan(v)) return true;
    if (v == a.v) return i < a.i;
    return Max ? v > a.v : v < a.v;
  }
  GF_HD acc init() const { return {A(0), -1}; }
  GF_HD acc reduce(acc a, T x, int64_t r) const {
    const A v = widen<T, A>(x);
    return before(v, r, a) ? acc{v, r} : a;
  }
  // A run of consecutive elements (indices first, first + 1, ...): the run's own best by a
  // strict comparison (the earlier wins ties, the first NaN wins), then one indexed step. The
  // 64-bit index compares of reduce, once an element, made argmax compute-bound on cuda.
  static constexpr bool kReducesRuns = true;
  template <int N> GF_HD acc reduce_run(acc a, const T (&x)[N], int64_t first) const {
    A best = widen<T, A>(x[0]);
    int at = 0;
#pragma unroll
    for (int j = 1; j < N; ++j) {
      const A v = widen<T, A>(x[j]);
      if (!is_nan(best) && (is_nan(v) || (Max ? v > best : v < best))) best = v, at = j;
    }
    return before(best, first + at, a) ? acc{best, first + at} : a;
  }
  GF_HD acc combine(acc a, acc b) const {
    if (b.i < 0) return a;
    return before(b.v, b.i, a) ? b : a;
  }
  template <class O> GF_HD void store(acc a, O* values, void* indices, int64_t k) const {
    if (values) values[k] = static_cast<O>(a.v);
    static_cast<int64_t*>(indices)[k] = a.i < 0 ? 0 : a.i;
  }
};

// ---- all, any (out: bool bytes) -----------------------------------------------------------------
template <class T, class A, bool All> struct logic_fn {
  static constexpr Kind kind = All ? Kind::kAll : Kind::kAny;
  using acc = int32_t;
  GF_HD int32_t init() const { return All ? 1 : 0; }
  GF_HD int32_t reduce(int32_t a, T x, int64_t) const {
    const int32_t nz = widen<T, A>(x) != A(0) ? 1 : 0;
    return All ? (a & nz) : (a | nz);
  }
  GF_HD int32_t combine(int32_t a, int32_t b) const { return All ? (a & b) : (a | b); }
  template <class O> GF_HD void store(int32_t a, O* out, void*, int64_t k) const { out[k] = static_cast<O>(a != 0); }
};

// ---- var, std, var_mean, std_mean: Welford with Chan's combine ---------------------------------
// Each accumulator works on its values less a shift (its first finite value): with a large offset
// (1e6 + randn in fp32) the running means stay small and keep their digits, where unshifted means
// near 1e6 would round every update away (ulp 0.06). Shifts differ between accumulators; combine
// adds their (exact, for nearby values) difference to the difference of the means.
template <class A> struct welford_acc {
  A shift, mean, m2;  // mean: of the values less shift
  int64_t n;
};
template <class T, class A> struct var_fn {
  static constexpr Kind kind = Kind::kVar;
  using acc = welford_acc<A>;
  A correction;
  bool take_sqrt;
  GF_HD acc init() const { return {A(0), A(0), A(0), 0}; }
  GF_HD acc reduce(acc a, T x, int64_t) const {
    const A v = widen<T, A>(x);
    if (a.n == 0) a.shift = (v - v == A(0)) ? v : A(0);  // finite: v - v == 0
    a.n += 1;
    const A y = v - a.shift;
    const A d = y - a.mean;
    a.mean += d / static_cast<A>(a.n);
    a.m2 += d * (y - a.mean);
    return a;
  }
  GF_HD acc combine(acc a, acc b) const {
    if (a.n == 0) return b;
    if (b.n == 0) return a;
    const int64_t n = a.n + b.n;
    const A nb = static_cast<A>(b.n) / static_cast<A>(n);
    const A d = (b.shift - a.shift) + (b.mean - a.mean);
    return {a.shift, a.mean + d * nb, a.m2 + b.m2 + d * d * static_cast<A>(a.n) * nb, n};
  }
  template <class O> GF_HD void store(acc a, O* out, void* mean, int64_t k) const {
    const A n = static_cast<A>(a.n);
    const A divisor = n > correction ? n - correction : A(0);
    A var = a.m2 / divisor;
    if (take_sqrt) var = std::sqrt(var);
    out[k] = static_cast<O>(var);
    if (mean) static_cast<O*>(mean)[k] = static_cast<O>(a.n ? a.shift + a.mean : A(NAN));
  }
};

// ---- logsumexp: running max and the sum of exp(x - max) ----------------------------------------
template <class A> struct lse_acc {
  A m, s;
};
template <class T, class A> struct lse_fn {
  static constexpr Kind kind = Kind::kLogSumExp;
  using acc = lse_acc<A>;
  // one value m + log(s); -inf terms add nothing, +inf or NaN decide the result.
  static GF_HD acc merge(acc a, acc b) {
    if (is_nan(a.m) || is_nan(b.m)) return {A(NAN), A(1)};
    if (b.m == lowest<A>()) return a;
    if (a.m == lowest<A>()) return b;
    if (a.m == highest<A>() || b.m == highest<A>()) return {highest<A>(), A(1)};
    if (a.m >= b.m) return {a.m, a.s + b.s * std::exp(b.m - a.m)};
    return {b.m, b.s + a.s * std::exp(a.m - b.m)};
  }
  GF_HD acc init() const { return {lowest<A>(), A(0)}; }
  GF_HD acc reduce(acc a, T x, int64_t) const { return merge(a, acc{widen<T, A>(x), A(1)}); }
  GF_HD acc combine(acc a, acc b) const { return merge(a, b); }
  template <class O> GF_HD void store(acc a, O* out, void*, int64_t k) const {
    const bool finite = !is_nan(a.m) && a.m != lowest<A>() && a.m != highest<A>();
    out[k] = static_cast<O>(finite ? a.m + std::log(a.s) : a.m);
  }
};

// ---- vector norms -------------------------------------------------------------------------------
template <class T, class A> struct norm_fn {
  static constexpr Kind kind = Kind::kNorm;
  using acc = A;
  PNorm pk;
  A p;
  GF_HD A init() const { return pk == PNorm::kNegInf ? highest<A>() : A(0); }
  GF_HD A reduce(A a, T x, int64_t) const {
    const A v = std::abs(widen<T, A>(x));
    switch (pk) {
      case PNorm::kZero: return a + (v != A(0) ? A(1) : A(0));
      case PNorm::kOne: return a + v;
      case PNorm::kTwo: return a + v * v;
      case PNorm::kInf: return max_nan(a, v);
      case PNorm::kNegInf: return min_nan(a, v);
      default: return a + std::pow(v, p);
    }
  }
  GF_HD A combine(A a, A b) const {
    if (pk == PNorm::kInf) return max_nan(a, b);
    if (pk == PNorm::kNegInf) return min_nan(a, b);
    return a + b;
  }
  template <class O> GF_HD void store(A a, O* out, void*, int64_t k) const {
    if (pk == PNorm::kTwo) a = std::sqrt(a);
    else if (pk == PNorm::kGeneral) a = std::pow(a, A(1) / p);
    out[k] = static_cast<O>(a);
  }
};

// ---- from a Plan to a functor and its storage types --------------------------------------------
constexpr TypeSet kRealBool = kReal | kBool;

// Calls run(functor, type_tag<T>{}, type_tag<O>{}) for the plan; false when the plan's dtype
// pair is not one the kernels are built for (served_pair says which are).
template <bool Cuda, class Run> bool dispatch(const Plan& p, Run&& run) {
  const ScalarType out_type = p.out_type;
  bool done = false;
  // (T, O) pairs: T itself, float for fp16/bf16 (sum, mean, norm's dtype=), int64 for integers
  // and bool (sum, prod, count_nonzero), bool for all/any.
  auto emit = [&](auto f, auto tag_t, auto tag_o) {
    using O = typename decltype(tag_o)::type;
    if (out_type != c10::CppTypeToScalarType<O>::value) return;
    run(f, tag_t, tag_o);
    done = true;
  };
  auto same_or_float = [&](auto tag_t, auto f) {
    using T = typename decltype(tag_t)::type;
    if constexpr (std::is_integral_v<T>) {
      emit(f, tag_t, type_tag<int64_t>{});
    } else {
      emit(f, tag_t, tag_t);
      if constexpr (std::is_same_v<T, c10::Half> || std::is_same_v<T, c10::BFloat16>) {
        emit(f, tag_t, type_tag<float>{});
      }
    }
  };
  auto same = [&](auto tag_t, auto f) { emit(f, tag_t, tag_t); };
  auto bool_out = [&](auto tag_t, auto f) { emit(f, tag_t, type_tag<bool>{}); };
  auto long_out = [&](auto tag_t, auto f) { emit(f, tag_t, type_tag<int64_t>{}); };
#define GF_RED_TYPES(T, A) using T = typename decltype(tag)::type; using A = acc_t<T, Cuda>
  switch (p.kind) {
    case Kind::kSum:
      dispatch_dtype<kRealBool>(p.in_type, [&](auto tag) {
        GF_RED_TYPES(T, A);
        same_or_float(tag, sum_fn<T, A>{static_cast<A>(p.scale), p.skip_nan});
      });
      break;
    case Kind::kProd:
      dispatch_dtype<kRealBool>(p.in_type, [&](auto tag) {
        GF_RED_TYPES(T, A);
        same_or_float(tag, prod_fn<T, A>{});
      });
      break;
    case Kind::kCountNonzero:
      dispatch_dtype<kRealBool>(p.in_type, [&](auto tag) {
        GF_RED_TYPES(T, A);
        long_out(tag, count_nonzero_fn<T, A>{});
      });
      break;
    case Kind::kMax:
    case Kind::kMin:
      dispatch_dtype<kRealBool>(p.in_type, [&](auto tag) {
        GF_RED_TYPES(T, A);
        if (p.kind == Kind::kMax) same(tag, extreme_fn<T, A, true>{});
        else same(tag, extreme_fn<T, A, false>{});
      });
      break;
    case Kind::kMinMax:
      dispatch_dtype<kRealBool>(p.in_type, [&](auto tag) {
        GF_RED_TYPES(T, A);
        same(tag, min_max_fn<T, A>{});
      });
      break;
    case Kind::kArgMax:
    case Kind::kArgMin:
      dispatch_dtype<kRealBool>(p.in_type, [&](auto tag) {
        GF_RED_TYPES(T, A);
        if (p.kind == Kind::kArgMax) same(tag, arg_fn<T, A, true>{});
        else same(tag, arg_fn<T, A, false>{});
      });
      break;
    case Kind::kAll:
    case Kind::kAny:
      dispatch_dtype<kRealBool>(p.in_type, [&](auto tag) {
        GF_RED_TYPES(T, A);
        if (p.kind == Kind::kAll) bool_out(tag, logic_fn<T, A, true>{});
        else bool_out(tag, logic_fn<T, A, false>{});
      });
      break;
    case Kind::kVar:
      dispatch_dtype<kFloating>(p.in_type, [&](auto tag) {
        GF_RED_TYPES(T, A);
        same(tag, var_fn<T, A>{static_cast<A>(p.correction), p.take_sqrt});
      });
      break;
    case Kind::kLogSumExp:
      dispatch_dtype<kFloating>(p.in_type, [&](auto tag) {
        GF_RED_TYPES(T, A);
        same(tag, lse_fn<T, A>{});
      });
      break;
    case Kind::kNorm:
      dispatch_dtype<kFloating>(p.in_type, [&](auto tag) {
        GF_RED_TYPES(T, A);
        same_or_float(tag, norm_fn<T, A>{p.p_kind, static_cast<A>(p.p)});
      });
      break;
  }
#undef GF_RED_TYPES
  return done;
}

}  // namespace gemforge::red
