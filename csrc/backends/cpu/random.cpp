// cpu kernels of the random family (backends/random.h): loops over groups of four elements split
// by at::parallel_for; each group's values depend on its index alone, so any split gives the
// same tensor.
#include "backends/random.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>

namespace gemforge::random {
namespace {

constexpr int64_t kGrainGroups = 8192;

// f(group, first element, elements in the group (4 but at the end)) over the groups of n.
template <class F> void each_group(int64_t n, const F& f) {
  const int64_t groups = (n + 3) / 4;
  at::parallel_for(0, groups, kGrainGroups, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) f(g, g * 4, int(std::min<int64_t>(4, n - g * 4)));
  });
}

}  // namespace

void fill_cpu(const Fill& fl) {
  dispatch_fill(fl.dtype, fl.dist, [&](auto tag, auto dist) {
    using S = typename decltype(tag)::type;
    using Smp = sampler<S, decltype(dist)::value>;
    const Smp smp = Smp::make(fl.p);
    S* out = static_cast<S*>(fl.data);
    each_group(fl.numel, [&](int64_t g, int64_t i, int len) {
      S v[4];
      smp(raw<Smp::kWide>::draw(fl.rng, uint64_t(g)), v);
      for (int k = 0; k < len; ++k) out[i + k] = v[k];
    });
  });
}

bool bernoulli_tensor_cpu(const BernoulliTensor& b) {
  std::atomic<bool> ok{true};
  dispatch_dtype<kDiscreteTypes>(b.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using C = compute_t<S>;
    S* out = static_cast<S*>(b.out);
    const C* p = static_cast<const C*>(b.p);
    each_group(b.numel, [&](int64_t g, int64_t i, int len) {
      const u32x4 r = raw<false>::draw(b.rng, uint64_t(g));
      for (int k = 0; k < len; ++k) {
        const C pk = p[i + k];
        if (!(pk >= C(0) && pk <= C(1))) ok.store(false, std::memory_order_relaxed);
        out[i + k] = static_cast<S>(closed_open(r.x[k]) < pk);
      }
    });
  });
  return ok.load();
}

void dropout_cpu(const Dropout& d) {
  dispatch_dtype<kDropoutTypes>(d.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using C = compute_t<S>;
    const S* in = static_cast<const S*>(d.in);
    S* out = static_cast<S*>(d.out);
    const C scale = C(d.scale);
    each_group(d.numel, [&](int64_t g, int64_t i, int len) {
      const u32x4 r = raw<false>::draw(d.rng, uint64_t(g));
      for (int k = 0; k < len; ++k) {
        const bool keep = uint64_t(r.x[k]) < d.threshold;
        d.mask[i + k] = keep;
        out[i + k] = static_cast<S>(C(in[i + k]) * C(keep) * scale);
      }
    });
  });
}

void masked_scale_cpu(const MaskedScale& m) {
  dispatch_dtype<kDropoutTypes>(m.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using C = compute_t<S>;
    const S* in = static_cast<const S*>(m.in);
    S* out = static_cast<S*>(m.out);
    const C scale = C(m.scale);
    at::parallel_for(0, m.numel, kGrainGroups * 4, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) out[i] = static_cast<S>(C(in[i]) * C(m.mask[i] != 0) * scale);
    });
  });
}

}  // namespace gemforge::random
