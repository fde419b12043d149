// cpu kernels of the scan engine (engine/scan.h): one sequential scan per (outer, inner) line,
// lines in parallel over `outer`.
#include "backends/scan_ops.h"

#include <ATen/Parallel.h>

#include <vector>

namespace gemforge::scan {
namespace {

template <class Op> void scan_lines(const Problem& p) {
  using T = typename Op::elem;
  using S = typename Op::state;
  const T* in = static_cast<const T*>(p.in);
  T* out = static_cast<T*>(p.out);
  const int64_t n = p.n, inner = p.inner, grain = std::max<int64_t>(1, 32768 / (n * inner));
  at::parallel_for(0, p.outer, grain, [&](int64_t begin, int64_t end) {
    std::vector<S> carry(inner);
    for (int64_t o = begin; o < end; ++o) {
      const int64_t base = o * n * inner;
      std::fill(carry.begin(), carry.end(), Op::identity());
      for (int64_t k = 0; k < n; ++k) {
        const int64_t row = base + k * inner;
        for (int64_t j = 0; j < inner; ++j) {
          carry[j] = Op::combine(carry[j], Op::make(in[row + j], k));
          out[row + j] = Op::value(carry[j]);
          if constexpr (Op::kIndexed) p.indices[row + j] = carry[j].i;
        }
      }
    }
  });
}

}  // namespace

void scan_cpu(const Problem& p) {
  if (p.outer * p.n * p.inner == 0) return;
  dispatch_op<false>(p, [&](auto op) { scan_lines<typename decltype(op)::type>(p); });
}

}  // namespace gemforge::scan
