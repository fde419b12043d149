// cpu kernels of the losses (backends/loss.h): the pointwise functors' instantiations, the fused
// reductions (double accumulation over fixed chunks, summed in order), nll_loss.
#include "backends/loss.h"
#include "backends/cpu/pointwise.h"
#include "ops/loss/kernels.h"

#include <ATen/Parallel.h>

#include <vector>

namespace gemforge::pw {
GF_KERNELS_LOSS(GF_INSTANTIATE_CPU)
}  // namespace gemforge::pw

namespace gemforge::loss {
namespace {

constexpr int64_t kChunk = 16384;

template <class T, Kind K> void reduce_t(const Reduce& r) {
  const T* x = static_cast<const T*>(r.x);
  const T* y = static_cast<const T*>(r.y);
  const int64_t chunks = (r.n + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks, 0.0);
  const double param = r.param;
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double acc = 0;
      for (int64_t i = c * kChunk, e = std::min(r.n, i + kChunk); i < e; ++i)
        acc += pointwise<K, double>(static_cast<double>(x[i]), static_cast<double>(y[i]), param);
      partial[c] = acc;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  if (r.mean) total /= static_cast<double>(r.n);
  *static_cast<T*>(r.out) = static_cast<T>(total);
}

template <class T> void nll_forward_t(const Nll& p) {
  const T* self = static_cast<const T*>(p.self);
  const T* weight = static_cast<const T*>(p.weight);
  T* out = static_cast<T*>(p.out);
  double loss = 0, total = 0;
  for (int64_t n = 0; n < p.N; ++n) {
    for (int64_t s = 0; s < p.S; ++s) {
      const int64_t k = n * p.S + s, t = p.target[k];
      double value = 0;
      if (t != p.ignore_index) {
        const double w = weight ? static_cast<double>(weight[t]) : 1.0;
        value = -w * static_cast<double>(self[(n * p.C + t) * p.S + s]);
        total += w;
      }
      if (p.reduction == kNone) out[k] = static_cast<T>(value);
      else loss += value;
    }
  }
  if (p.reduction == kMean) loss /= total;  // 0/0: NaN, as torch
  if (p.reduction != kNone) *out = static_cast<T>(loss);
  *static_cast<T*>(p.total_weight) = static_cast<T>(p.reduction == kNone ? 0.0 : total);
}

template <class T> void nll_backward_t(const NllBackward& p) {
  const T* grad = static_cast<const T*>(p.grad_out);
  const T* weight = static_cast<const T*>(p.weight);
  T* gi = static_cast<T*>(p.grad_input);
  double scale = 0;
  if (p.reduction != kNone) {
    scale = static_cast<double>(*grad);
    if (p.reduction == kMean) scale /= static_cast<double>(*static_cast<const T*>(p.total_weight));
  }
  at::parallel_for(0, p.N, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      std::fill(gi + n * p.C * p.S, gi + (n + 1) * p.C * p.S, T(0));
      for (int64_t s = 0; s < p.S; ++s) {
        const int64_t k = n * p.S + s, t = p.target[k];
        if (t == p.ignore_index) continue;
        const double w = weight ? static_cast<double>(weight[t]) : 1.0;
        const double g = p.reduction == kNone ? static_cast<double>(grad[k]) : scale;
        gi[(n * p.C + t) * p.S + s] = static_cast<T>(-w * g);
      }
    }
  });
}

}  // namespace

void reduce_cpu(const Reduce& r) {
  dispatch_dtype<kLossTypes>(r.dtype, [&](auto t) {
    dispatch_kind(r.kind, [&](auto k) { reduce_t<typename decltype(t)::type, decltype(k)::value>(r); });
  });
}

void nll_forward_cpu(const Nll& p) {
  dispatch_dtype<kLossTypes>(p.dtype, [&](auto t) { nll_forward_t<typename decltype(t)::type>(p); });
}

void nll_backward_cpu(const NllBackward& p) {
  dispatch_dtype<kLossTypes>(p.dtype, [&](auto t) { nll_backward_t<typename decltype(t)::type>(p); });
}

}  // namespace gemforge::loss
