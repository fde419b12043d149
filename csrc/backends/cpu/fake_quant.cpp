// cpu kernels of fake quantization (backends/fake_quant.h), with torch's cpu arithmetic: one
// element at a time over the dense operands, in parallel chunks.
#include "backends/fake_quant.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

namespace gemforge::fake_quant {
namespace {

constexpr int64_t kGrain = 32768;

// out[i] = element(i, x[i], mask bit) over every element, in parallel chunks.
template <class T, class Element> void each(const Forward& f, const Element& element) {
  const T* x = static_cast<const T*>(f.x);
  T* out = static_cast<T*>(f.out);
  at::parallel_for(0, f.n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      bool inside;
      out[i] = element(i, x[i], inside);
      if (f.mask) f.mask[i] = inside;
    }
  });
}

template <class T> void forward_typed(const Forward& f) {
  if (f.channels > 0) {
    each<T>(f, [&](int64_t i, T x, bool& inside) {
      return channel_element<false>(f, channel_of<compute_t<T>>(f, (i / f.channel_stride) % f.channels), x, inside);
    });
    return;
  }
  const Resolved r = resolve(f);
  with_form(f, r, [&](auto form) {
    each<T>(f, [&](int64_t, T x, bool& in) { return tensor_element<decltype(form)::value>(f, r, x, in); });
  });
}

}  // namespace

void forward_cpu(const Forward& f) {
  dispatch_dtype<kTypes>(f.dtype, [&](auto tag) { forward_typed<typename decltype(tag)::type>(f); });
}

// Sums in double per chunk, chunks added in order: the same result on every run.
void backward_cpu(const Backward& b) {
  const float scale = *b.scale_ptr;
  const float inv_scale = 1.0f / scale;
  const int64_t zp = backward_zero_point(*b.zp_ptr, b.quant_min, b.quant_max);
  const int64_t chunks = (b.n + kGrain - 1) / kGrain;
  std::vector<double> sums(size_t(2 * chunks), 0.0);
  at::parallel_for(0, chunks, 1, [&](int64_t first, int64_t last) {
    for (int64_t k = first; k < last; ++k) {
      double ds = 0, dz = 0;
      for (int64_t i = k * kGrain; i < std::min(b.n, (k + 1) * kGrain); ++i) {
        float dscale, dzp;
        learnable_grads<false>(b.x[i], b.grad[i], scale, inv_scale, zp, b.quant_min, b.quant_max, b.grad_factor,
                               b.grad_x[i], dscale, dzp);
        ds += dscale;
        dz += dzp;
      }
      sums[size_t(2 * k)] = ds;
      sums[size_t(2 * k + 1)] = dz;
    }
  });
  double ds = 0, dz = 0;
  for (int64_t k = 0; k < chunks; ++k) {
    ds += sums[size_t(2 * k)];
    dz += sums[size_t(2 * k + 1)];
  }
  *b.grad_scale = float(ds);
  *b.grad_zero_point = float(dz);
}

}  // namespace gemforge::fake_quant
