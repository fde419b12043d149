// cpu kernels of the row engine (engine/rows.h): one row (or strided column) at a time in the
// compute type, rows split across threads by at::parallel_for.
#include "engine/rows.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace gemforge::rows {
namespace {

constexpr int64_t kGrain = 1 << 15;  // elements per task

int64_t grain_rows(int64_t n) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)); }

template <class F> void dispatch(ScalarType t, F&& f) { dispatch_dtype<kRowTypes>(t, f); }

template <class T, class O>
void softmax_fwd(const SoftmaxFwd& p) {
  using A = opmath_t<T>;
  const T* in = static_cast<const T*>(p.in);
  O* out = static_cast<O*>(p.out);
  const int64_t n = p.n, inner = p.inner;
  at::parallel_for(0, p.outer * inner, grain_rows(n), [&](int64_t begin, int64_t end) {
    std::vector<A> e(p.log ? 0 : n);  // softmax: the row's exponentials, computed once
    for (int64_t c = begin; c < end; ++c) {
      const int64_t base = (c / inner) * n * inner + c % inner;
      A mx = -std::numeric_limits<A>::infinity();
      for (int64_t j = 0; j < n; ++j) {
        const A v = static_cast<A>(in[base + j * inner]);
        mx = (v > mx || std::isnan(v)) ? v : mx;
      }
      A sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        const A x = std::exp(static_cast<A>(in[base + j * inner]) - mx);
        if (!p.log) e[j] = x;
        sum += x;
      }
      const bool zero = p.safe && mx == -std::numeric_limits<A>::infinity();
      const A lse = std::log(sum);
      const A inv = A(1) / sum;
      for (int64_t j = 0; j < n; ++j) {
        A r = p.log ? static_cast<A>(in[base + j * inner]) - mx - lse : e[j] * inv;
        if (zero) r = 0;
        out[base + j * inner] = static_cast<O>(r);
      }
    }
  });
}

template <class T, class O>
void softmax_bwd(const SoftmaxBwd& p) {
  using A = opmath_t<T>;
  const T* g = static_cast<const T*>(p.grad);
  const T* y = static_cast<const T*>(p.output);
  O* gi = static_cast<O*>(p.grad_input);
  const int64_t n = p.n, inner = p.inner;
  at::parallel_for(0, p.outer * inner, grain_rows(n), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t base = (c / inner) * n * inner + c % inner;
      A dot = 0;
      for (int64_t j = 0; j < n; ++j) {
        const int64_t k = base + j * inner;
        dot += p.log ? static_cast<A>(g[k]) : static_cast<A>(g[k]) * static_cast<A>(y[k]);
      }
      for (int64_t j = 0; j < n; ++j) {
        const int64_t k = base + j * inner;
        const A gv = static_cast<A>(g[k]), yv = static_cast<A>(y[k]);
        gi[k] = static_cast<O>(p.log ? gv - std::exp(yv) * dot : yv * (gv - dot));
      }
    }
  });
}

// Stats in S: the input's dtype for the cpu's layer norm, the compute type for rms_norm.
template <class T, class S>
void norm_fwd(const NormFwd& p) {
  using A = opmath_t<T>;
  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.weight);
  const T* b = static_cast<const T*>(p.bias);
  T* y = static_cast<T*>(p.y);
  S* mean = static_cast<S*>(p.mean);
  S* rstd = static_cast<S*>(p.rstd);
  const int64_t n = p.n;
  at::parallel_for(0, p.rows, grain_rows(n), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * n;
      A mu = 0;
      if (!p.rms) {
        for (int64_t j = 0; j < n; ++j) mu += static_cast<A>(xr[j]);
        mu /= static_cast<A>(n);
      }
      A ss = 0;
      for (int64_t j = 0; j < n; ++j) {
        const A d = static_cast<A>(xr[j]) - mu;
        ss += d * d;
      }
      const A rs = A(1) / std::sqrt(ss / static_cast<A>(n) + static_cast<A>(p.eps));
      if (mean) mean[r] = static_cast<S>(mu);
      rstd[r] = static_cast<S>(rs);
      for (int64_t j = 0; j < n; ++j) {
        A v = (static_cast<A>(xr[j]) - mu) * rs;
        if (w) v *= static_cast<A>(w[j]);
        if (b) v += static_cast<A>(b[j]);
        y[r * n + j] = static_cast<T>(v);
      }
    }
  });
}

template <class T, class S>
void norm_bwd(const NormBwd& p) {
  using A = opmath_t<T>;
  const T* g = static_cast<const T*>(p.grad);
  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.weight);
  const S* mean = static_cast<const S*>(p.mean);
  const S* rstd = static_cast<const S*>(p.rstd);
  const int64_t n = p.n, rows = p.rows;
  auto xhat = [&](int64_t r, int64_t j) {
    const A mu = mean ? static_cast<A>(mean[r]) : A(0);
    return (static_cast<A>(x[r * n + j]) - mu) * static_cast<A>(rstd[r]);
  };
  if (p.dx) {
    T* dx = static_cast<T*>(p.dx);
    at::parallel_for(0, rows, grain_rows(n), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        A sum_gw = 0, sum_gwx = 0;
        for (int64_t j = 0; j < n; ++j) {
          const A gw = static_cast<A>(g[r * n + j]) * (w ? static_cast<A>(w[j]) : A(1));
          sum_gw += gw;
          sum_gwx += gw * xhat(r, j);
        }
        const A inv_n = A(1) / static_cast<A>(n), rs = static_cast<A>(rstd[r]);
        for (int64_t j = 0; j < n; ++j) {
          const A gw = static_cast<A>(g[r * n + j]) * (w ? static_cast<A>(w[j]) : A(1));
          A v = gw - xhat(r, j) * sum_gwx * inv_n;
          if (!p.rms) v -= sum_gw * inv_n;
          dx[r * n + j] = static_cast<T>(rs * v);
        }
      }
    });
  }
  if (p.dweight || p.dbias) {
    T* dw = static_cast<T*>(p.dweight);
    T* db = static_cast<T*>(p.dbias);
    at::parallel_for(0, n, std::max<int64_t>(1, kGrain / std::max<int64_t>(rows, 1)),
                     [&](int64_t begin, int64_t end) {
      for (int64_t j = begin; j < end; ++j) {
        A sw = 0, sb = 0;
        for (int64_t r = 0; r < rows; ++r) {
          const A gv = static_cast<A>(g[r * n + j]);
          sw += gv * xhat(r, j);
          sb += gv;
        }
        if (dw) dw[j] = static_cast<T>(sw);
        if (db) db[j] = static_cast<T>(sb);
      }
    });
  }
}

}  // namespace

void softmax_fwd_cpu(const SoftmaxFwd& p) {
  dispatch(p.in_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_fwd<T, T>(p);
  });
}

void softmax_bwd_cpu(const SoftmaxBwd& p) {
  dispatch(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_bwd<T, T>(p);
  });
}

void norm_fwd_cpu(const NormFwd& p) {
  dispatch(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (p.stat_dtype == p.dtype) norm_fwd<T, T>(p);
    else norm_fwd<T, opmath_t<T>>(p);
  });
}

void norm_bwd_cpu(const NormBwd& p) {
  dispatch(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (p.stat_dtype == p.dtype) norm_bwd<T, T>(p);
    else norm_bwd<T, opmath_t<T>>(p);
  });
}

}  // namespace gemforge::rows
