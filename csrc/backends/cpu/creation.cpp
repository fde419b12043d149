// cpu kernels of the creation family (backends/creation.h): plain loops split by at::parallel_for.
#include "backends/creation.h"

#include <ATen/Parallel.h>

namespace gemforge::creation {
namespace {

constexpr int64_t kGrain = 32768;

template <class F> void tabulate(const Dense& out, const F& f) {
  using S = decltype(f(int64_t(0)));
  S* data = static_cast<S*>(out.data);
  at::parallel_for(0, out.numel, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) data[i] = f(i);
  });
}

// f(out element, in element or null, row, col) over every (batch, row) of m, rows split.
template <class F> void each_matrix_row(const Matrices& m, const F& f) {
  at::parallel_for(0, m.batch * m.rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(m.cols, 1)),
                   [&](int64_t begin, int64_t end) {
    for (int64_t br = begin; br < end; ++br) {
      const int64_t b = br / m.rows, r = br % m.rows;
      for (int64_t c = 0; c < m.cols; ++c) {
        const int64_t o = b * m.out_stride[0] + r * m.out_stride[1] + c * m.out_stride[2];
        const int64_t in = b * m.in_stride[0] + r * m.in_stride[1] + c * m.in_stride[2];
        f(o, in, r, c);
      }
    }
  });
}

}  // namespace

void arange_cpu(const Dense& out, const c10::Scalar& start, const c10::Scalar& step) {
  dispatch_dtype<kArangeTypes>(out.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using F = arange_fn<S, false>;
    tabulate(out, F{start.to<typename F::acc>(), step.to<typename F::acc>()});
  });
}

void linspace_cpu(const Dense& out, const c10::Scalar& start, const c10::Scalar& end) {
  dispatch_dtype<kSpaceTypes>(out.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    tabulate(out, linspace_fn<S, false>::make(start, end, out.numel));
  });
}

void logspace_cpu(const Dense& out, const c10::Scalar& start, const c10::Scalar& end, double base) {
  dispatch_dtype<kSpaceTypes>(out.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    tabulate(out, logspace_fn<S, false>::make(start, end, out.numel, base));
  });
}

void eye_cpu(const Matrices& m, const void* one) {
  dispatch_size(m.elem_size, [&](auto tag) {
    using E = typename decltype(tag)::type;
    E* out = reinterpret_cast<E*>(m.out);
    const E value = *static_cast<const E*>(one);
    each_matrix_row(m, [&](int64_t o, int64_t, int64_t r, int64_t c) { out[o] = r == c ? value : E{}; });
  });
}

void tri_cpu(const Matrices& m, int64_t diagonal, bool upper) {
  dispatch_size(m.elem_size, [&](auto tag) {
    using E = typename decltype(tag)::type;
    E* out = reinterpret_cast<E*>(m.out);
    const E* in = reinterpret_cast<const E*>(m.in);
    const bool inplace = m.out == m.in;  // then the kept side stays as it is
    each_matrix_row(m, [&](int64_t o, int64_t i, int64_t r, int64_t c) {
      if (!tri_keeps(r, c, diagonal, upper)) out[o] = E{};
      else if (!inplace) out[o] = in[i];
    });
  });
}

}  // namespace gemforge::creation
