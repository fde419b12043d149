// cpu kernels of group norm (backends/norm_stats.h): one (n, group) row per task, double
// accumulation, two passes over the row; dweight / dbias summed over n in order.
#include "backends/norm_stats.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

namespace gemforge::chnorm {
namespace {

template <class T> void fwd(const GroupNormFwd& p) {
  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.weight);
  const T* b = static_cast<const T*>(p.bias);
  T* y = static_cast<T*>(p.y);
  const int64_t cpg = p.C / p.G, len = cpg * p.HxW;
  at::parallel_for(0, p.N * p.G, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * len;
      T* yr = y + r * len;
      double sum = 0, sq = 0;
      for (int64_t i = 0; i < len; ++i) sum += double(xr[i]);
      const double mean = len > 0 ? sum / double(len) : 0.0;
      for (int64_t i = 0; i < len; ++i) sq += (double(xr[i]) - mean) * (double(xr[i]) - mean);
      const double var = len > 0 ? sq / double(len) : 0.0;
      const double rstd = 1.0 / std::sqrt(var + p.eps);
      static_cast<T*>(p.mean)[r] = static_cast<T>(mean);
      static_cast<T*>(p.rstd)[r] = static_cast<T>(rstd);
      const int64_t c0 = (r % p.G) * cpg;
      for (int64_t k = 0; k < cpg; ++k) {
        const double scale = rstd * (w ? double(w[c0 + k]) : 1.0);
        const double shift = (b ? double(b[c0 + k]) : 0.0) - mean * scale;
        for (int64_t i = k * p.HxW; i < (k + 1) * p.HxW; ++i) yr[i] = static_cast<T>(double(xr[i]) * scale + shift);
      }
    }
  });
}

template <class T> void bwd(const GroupNormBwd& p) {
  const T* g = static_cast<const T*>(p.grad);
  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.weight);
  const T* mean = static_cast<const T*>(p.mean);
  const T* rstd = static_cast<const T*>(p.rstd);
  const int64_t cpg = p.C / p.G, len = cpg * p.HxW;
  // per (n, c): sum(dy * x) and sum(dy)
  std::vector<double> ds(p.N * p.C), db(p.N * p.C);
  at::parallel_for(0, p.N * p.G, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / p.G, c0 = (r % p.G) * cpg;
      const T* gr = g + r * len;
      const T* xr = x + r * len;
      double sum1 = 0, sum2 = 0;  // sum(w * dy * x), sum(w * dy) over the row
      for (int64_t k = 0; k < cpg; ++k) {
        double a = 0, b = 0;
        for (int64_t i = k * p.HxW; i < (k + 1) * p.HxW; ++i) {
          a += double(gr[i]) * double(xr[i]);
          b += double(gr[i]);
        }
        ds[n * p.C + c0 + k] = a;
        db[n * p.C + c0 + k] = b;
        const double wk = w ? double(w[c0 + k]) : 1.0;
        sum1 += a * wk;
        sum2 += b * wk;
      }
      if (!p.dx) continue;
      const double mu = double(mean[r]), rs = double(rstd[r]), inv_len = 1.0 / double(len);
      const double bx = (mu * sum2 - sum1) * rs * rs * rs * inv_len;
      const double cx = -bx * mu - sum2 * rs * inv_len;
      T* dxr = static_cast<T*>(p.dx) + r * len;
      for (int64_t k = 0; k < cpg; ++k) {
        const double a = rs * (w ? double(w[c0 + k]) : 1.0);
        for (int64_t i = k * p.HxW; i < (k + 1) * p.HxW; ++i)
          dxr[i] = static_cast<T>(double(gr[i]) * a + double(xr[i]) * bx + cx);
      }
    }
  });
  at::parallel_for(0, p.C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double dw = 0, dbias = 0;
      for (int64_t n = 0; n < p.N; ++n) {
        const int64_t r = n * p.G + c / cpg;
        dw += (ds[n * p.C + c] - db[n * p.C + c] * double(mean[r])) * double(rstd[r]);
        dbias += db[n * p.C + c];
      }
      if (p.dweight) static_cast<T*>(p.dweight)[c] = static_cast<T>(dw);
      if (p.dbias) static_cast<T*>(p.dbias)[c] = static_cast<T>(dbias);
    }
  });
}

}  // namespace

void group_norm_fwd_cpu(const GroupNormFwd& p) {
  dispatch_dtype<kNormTypes>(p.dtype, [&](auto t) { fwd<typename decltype(t)::type>(p); });
}

void group_norm_bwd_cpu(const GroupNormBwd& p) {
  dispatch_dtype<kNormTypes>(p.dtype, [&](auto t) { bwd<typename decltype(t)::type>(p); });
}

}  // namespace gemforge::chnorm
