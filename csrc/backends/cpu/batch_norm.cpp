// cpu kernels of batch norm (backends/norm_stats.h): one channel per task, double accumulation,
// two passes (mean, then the centred sum of squares) in a fixed order.
#include "backends/norm_stats.h"

#include <ATen/Parallel.h>

#include <cmath>

namespace gemforge::chnorm {
namespace {

// Calls f(i) for the C-channel `c` elements' offsets, n-major.
template <class F> void for_channel(int64_t N, int64_t C, int64_t S, int64_t c, F&& f) {
  for (int64_t n = 0; n < N; ++n) {
    const int64_t base = (n * C + c) * S;
    for (int64_t s = 0; s < S; ++s) f(base + s);
  }
}

template <class T> double load(const void* p, int64_t i) { return static_cast<double>(static_cast<const T*>(p)[i]); }
template <class T> void store(void* p, int64_t i, double v) { static_cast<T*>(p)[i] = static_cast<T>(v); }

template <class T, class P> void fwd(const BatchNormFwd& p) {
  const T* x = static_cast<const T*>(p.x);
  T* y = static_cast<T*>(p.y);
  const double count = double(p.N) * double(p.S);
  at::parallel_for(0, p.C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double mean, invstd;
      if (p.training) {
        double sum = 0, sq = 0;
        for_channel(p.N, p.C, p.S, c, [&](int64_t i) { sum += double(x[i]); });
        mean = sum / count;
        for_channel(p.N, p.C, p.S, c, [&](int64_t i) {
          const double d = double(x[i]) - mean;
          sq += d * d;
        });
        invstd = 1.0 / std::sqrt(sq / count + p.eps);
        if (p.running_mean) {
          const double m = p.momentum;
          store<P>(p.running_mean, c, m * mean + (1 - m) * load<P>(p.running_mean, c));
          store<P>(p.running_var, c, m * (sq / (count - 1)) + (1 - m) * load<P>(p.running_var, c));
        }
      } else {
        mean = load<P>(p.running_mean, c);
        invstd = 1.0 / std::sqrt(load<P>(p.running_var, c) + p.eps);
      }
      if (p.save_mean) {
        store<P>(p.save_mean, c, mean);
        store<P>(p.save_invstd, c, invstd);
      }
      const double w = p.weight ? load<P>(p.weight, c) : 1.0, b = p.bias ? load<P>(p.bias, c) : 0.0;
      const double scale = invstd * w, shift = b - mean * scale;
      for_channel(p.N, p.C, p.S, c, [&](int64_t i) { y[i] = static_cast<T>(double(x[i]) * scale + shift); });
    }
  });
}

template <class T, class P> void bwd(const BatchNormBwd& p) {
  const T* g = static_cast<const T*>(p.grad);
  const T* x = static_cast<const T*>(p.x);
  T* dx = static_cast<T*>(p.dx);
  const double count = double(p.N) * double(p.S);
  at::parallel_for(0, p.C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const double mean = load<P>(p.mean, c);
      const double invstd = p.training ? load<P>(p.invstd_or_var, c)
                                       : 1.0 / std::sqrt(load<P>(p.invstd_or_var, c) + p.eps);
      const double w = p.weight ? load<P>(p.weight, c) : 1.0;
      double sum_dy = 0, sum_dy_xmu = 0;
      if (p.dweight || p.dbias || (p.dx && p.training)) {
        for_channel(p.N, p.C, p.S, c, [&](int64_t i) {
          const double d = double(g[i]);
          sum_dy += d;
          sum_dy_xmu += d * (double(x[i]) - mean);
        });
      }
      if (p.dweight) store<P>(p.dweight, c, sum_dy_xmu * invstd);
      if (p.dbias) store<P>(p.dbias, c, sum_dy);
      if (!p.dx) continue;
      if (p.training) {
        const double mean_dy = sum_dy / count, k = sum_dy_xmu / count * invstd * invstd;
        for_channel(p.N, p.C, p.S, c, [&](int64_t i) {
          dx[i] = static_cast<T>((double(g[i]) - mean_dy - (double(x[i]) - mean) * k) * invstd * w);
        });
      } else {
        for_channel(p.N, p.C, p.S, c, [&](int64_t i) { dx[i] = static_cast<T>(double(g[i]) * invstd * w); });
      }
    }
  });
}

}  // namespace

// On the cpu the saved stats have the parameters' dtype (stat_dtype == param_dtype).
void batch_norm_fwd_cpu(const BatchNormFwd& p) {
  dispatch_mixed(p.dtype, p.param_dtype, [&](auto t, auto q) {
    fwd<typename decltype(t)::type, typename decltype(q)::type>(p);
  });
}

void batch_norm_bwd_cpu(const BatchNormBwd& p) {
  dispatch_mixed(p.dtype, p.param_dtype, [&](auto t, auto q) {
    bwd<typename decltype(t)::type, typename decltype(q)::type>(p);
  });
}

}  // namespace gemforge::chnorm
