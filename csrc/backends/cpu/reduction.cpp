// The cpu reduction kernels: the engine's plan run with simple loops and the shared functors,
// accumulating floating values in double.
#include "engine/reduction.h"
#include "engine/reduction_ops.h"

#include <vector>

namespace gemforge::red {
namespace {

template <class F, class T, class O> void run_plan(const F& f, const Plan& p) {
  using A = typename F::acc;
  const T* in = static_cast<const T*>(p.in);
  O* out0 = static_cast<O*>(p.out0);
  if (p.inner == 1) {  // rows
    for (int64_t o = 0; o < p.outer; ++o) {
      const T* row = in + o * p.R;
      A a = f.init();
      for (int64_t r = 0; r < p.R; ++r) a = f.reduce(a, row[r], r);
      f.store(a, out0, p.out1, o);
    }
    return;
  }
  // columns: one accumulator per output of a block, the rows read in order
  std::vector<A> accs(p.inner);
  for (int64_t o = 0; o < p.outer; ++o) {
    for (auto& a : accs) a = f.init();
    for (int64_t r = 0; r < p.R; ++r) {
      const T* row = in + (o * p.R + r) * p.inner;
      for (int64_t i = 0; i < p.inner; ++i) accs[i] = f.reduce(accs[i], row[i], r);
    }
    for (int64_t i = 0; i < p.inner; ++i) f.store(accs[i], out0, p.out1, o * p.inner + i);
  }
}

}  // namespace

bool served_pair(Kind kind, ScalarType in, ScalarType out) {
  Plan p{};
  p.kind = kind;
  p.in_type = in;
  p.out_type = out;
  return dispatch<false>(p, [](auto&&...) {});
}

void reduce_cpu(const Plan& p) {
  if (p.outer * p.inner == 0) return;
  dispatch<false>(p, [&](const auto& f, auto tag_t, auto tag_o) {
    using T = typename decltype(tag_t)::type;
    using O = typename decltype(tag_o)::type;
    run_plan<std::decay_t<decltype(f)>, T, O>(f, p);
  });
}

}  // namespace gemforge::red
