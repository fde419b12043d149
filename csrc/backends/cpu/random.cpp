// cpu kernels of the random family (backends/random.h): loops over groups of four elements split
// by at::parallel_for; each group's values depend on its index alone, so any split gives the
// same tensor.
#include "backends/random.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <vector>

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

// Fisher-Yates: position i swaps with a draw in [i, n), the draw from group i / 4.
void randperm_cpu(const Randperm& r) {
  dispatch_dtype<kRandpermTypes>(r.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    S* out = static_cast<S*>(r.out);
    for (int64_t i = 0; i < r.n; ++i) out[i] = static_cast<S>(i);
    u64x4 draws{};
    for (int64_t i = 0; i + 1 < r.n; ++i) {
      if (i % 4 == 0) draws = raw<true>::draw(r.rng, uint64_t(i / 4));
      const int64_t z = int64_t(draws.x[i % 4] % uint64_t(r.n - i));
      std::swap(out[i], out[i + z]);
    }
  });
}

int multinomial_cpu(const Multinomial& m) {
  std::atomic<int> flags{0};
  dispatch_dtype<kMultinomialTypes>(m.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using C = compute_t<S>;
    constexpr bool kWide = std::is_same_v<S, double>;
    const S* p = static_cast<const S*>(m.p);
    const int64_t groups = (m.n + 3) / 4;  // a row's draws: groups r * groups ...
    at::parallel_for(0, m.rows, 1, [&](int64_t begin, int64_t end) {
      std::vector<Candidate<C>> c(m.n);
      for (int64_t r = begin; r < end; ++r) {
        const S* row = p + r * m.n;
        bool bad = false, positive = false;
        for (int64_t q = 0; q < groups; ++q) {
          const auto x = raw<kWide>::draw(m.rng, uint64_t(r * groups + q));
          for (int k = 0; k < 4 && 4 * q + k < m.n; ++k) {
            const int64_t j = 4 * q + k;
            const C pj = C(row[j]);
            bad |= !(pj >= C(0) && pj < C(INFINITY));
            positive |= pj > C(0);
            c[j] = {race_key(pj, x.x[k]), j};
          }
        }
        if (bad || !positive) {
          flags.fetch_or((bad ? kBadProbability : 0) | (positive ? 0 : kZeroRow));
          continue;
        }
        std::partial_sort(c.begin(), c.begin() + m.k, c.end(),
                          [](const Candidate<C>& a, const Candidate<C>& b) { return better(a, b); });
        for (int64_t s = 0; s < m.k; ++s) m.out[r * m.k + s] = c[s].j;
      }
    });
  });
  return flags.load();
}

bool poisson_cpu(const Poisson& p) {
  std::atomic<bool> ok{true};
  dispatch_dtype<kPoissonTypes>(p.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    const S* rate = static_cast<const S*>(p.rate);
    S* out = static_cast<S*>(p.out);
    at::parallel_for(0, p.numel, 2048, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        UniformStream u{p.rng, uint64_t(i)};
        const double lam = double(rate[i]);
        if (!(lam >= 0)) ok.store(false, std::memory_order_relaxed);
        out[i] = static_cast<S>(poisson_sample(lam, u));
      }
    });
  });
  return ok.load();
}

void rrelu_cpu(const Rrelu& r) {
  dispatch_dtype<kRreluTypes>(r.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using C = compute_t<S>;
    using Smp = sampler<S, Dist::uniform>;
    Params params;
    params.a = r.lower;
    params.b = r.upper - r.lower;
    params.to = r.upper;
    const Smp smp = Smp::make(params);
    const S* in = static_cast<const S*>(r.in);
    S* out = static_cast<S*>(r.out);
    S* noise = static_cast<S*>(r.noise);
    each_group(r.numel, [&](int64_t g, int64_t i, int len) {
      S v[4];
      smp(raw<Smp::kWide>::draw(r.rng, uint64_t(g)), v);
      for (int k = 0; k < len; ++k) {
        const S x = in[i + k];
        const bool negative = C(x) <= C(0);
        out[i + k] = negative ? static_cast<S>(C(x) * C(v[k])) : x;
        noise[i + k] = negative ? v[k] : static_cast<S>(1);
      }
    });
  });
}

}  // namespace gemforge::random
