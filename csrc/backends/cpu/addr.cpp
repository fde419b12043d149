// addr on the cpu: out = beta * self + alpha * outer(vec1, vec2), rows split by
// at::parallel_for, each a plain loop over its columns.
#include "backends/gemm_ext.h"
#include "engine/dtypes.h"

#include <ATen/Parallel.h>

#include <c10/util/BFloat16.h>
#include <c10/util/Exception.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace gemforge::gemm {
namespace {

constexpr int64_t kGrain = 32768;  // elements per task

// One row: o[j] = f(s[j], y[j], use_self); unit strides get loops the compiler vectorises.
template <class T, class F>
void row(T* o, const T* s, const T* y, const Addr& a, const F& f) {
  const int64_t n = a.cols;
  if (a.out_s1 == 1 && a.inc2 == 1 && (!s || a.self_s1 == 1)) {
    if (s) {
      for (int64_t j = 0; j < n; ++j) o[j] = f(s[j], y[j], std::true_type{});
    } else {
      for (int64_t j = 0; j < n; ++j) o[j] = f(T(0), y[j], std::false_type{});
    }
  } else if (s) {
    for (int64_t j = 0; j < n; ++j) o[j * a.out_s1] = f(s[j * a.self_s1], y[j * a.inc2], std::true_type{});
  } else {
    for (int64_t j = 0; j < n; ++j) o[j * a.out_s1] = f(T(0), y[j * a.inc2], std::false_type{});
  }
}

template <class T>
void rows(const Addr& a, int64_t begin, int64_t end) {
  T* out = static_cast<T*>(a.out);
  const T* self = static_cast<const T*>(a.self);
  const T* vec1 = static_cast<const T*>(a.vec1);
  const T* vec2 = static_cast<const T*>(a.vec2);
  for (int64_t i = begin; i < end; ++i) {
    const T x = vec1[i * a.inc1];
    T* o = out + i * a.out_s0;
    const T* s = self ? self + i * a.self_s0 : nullptr;
    if constexpr (std::is_same_v<T, bool>) {
      const bool alpha = a.ialpha != 0, beta = a.ibeta != 0;
      row(o, s, vec2, a, [&](bool sv, bool y, auto use_self) {
        return (use_self && beta && sv) || (alpha && x && y);
      });
    } else if constexpr (std::is_integral_v<T>) {
      // wrapping arithmetic in uint64 agrees with T's own modulo its width
      const uint64_t beta = uint64_t(a.ibeta), ax = uint64_t(a.ialpha) * uint64_t(int64_t(x));
      row(o, s, vec2, a, [&](T sv, T y, auto use_self) {
        const uint64_t p = ax * uint64_t(int64_t(y));
        return static_cast<T>(use_self ? beta * uint64_t(int64_t(sv)) + p : p);
      });
    } else {
      using acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
      const acc beta = static_cast<acc>(a.fbeta), ax = static_cast<acc>(a.falpha) * static_cast<acc>(x);
      row(o, s, vec2, a, [&](T sv, T y, auto use_self) {
        const acc p = ax * static_cast<acc>(y);
        return static_cast<T>(use_self ? beta * static_cast<acc>(sv) + p : p);
      });
    }
  }
}

template <class T>
void run(const Addr& a) {
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(a.cols, 1));
  at::parallel_for(0, a.rows, grain, [&](int64_t begin, int64_t end) { rows<T>(a, begin, end); });
}

}  // namespace

void addr_cpu(const Addr& a) {
  constexpr TypeSet kTypes = kReal | kBool;
  const bool ok = dispatch_dtype<kTypes>(a.dtype, [&](auto tag) { run<typename decltype(tag)::type>(a); });
  TORCH_CHECK(ok, "addr: no cpu kernel for ", a.dtype);
}

}  // namespace gemforge::gemm
