// cpu kernels of segment_reduce and its backward (backends/segment.h): one output element at a
// time, each segment walked in order.
#include "backends/segment.h"

namespace gemforge::segment {

void forward_cpu(const Forward& f) {
  dispatch_dtype<kSegmentTypes>(f.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    const T* data = static_cast<const T*>(f.data);
    T* out = static_cast<T*>(f.out);
    for (int64_t o = 0; o < f.outer; ++o) {
      for (int64_t s = 0; s < f.segments; ++s) {
        int64_t begin, end;
        bounds(f.offsets, f.segments, f.size, o, s, begin, end);
        for (int64_t i = 0; i < f.inner; ++i) {
          M acc = start_value<M>(f.kind, f.has_initial, f.initial);
          for (int64_t j = begin; j < end; ++j)
            acc = combine(f.kind, acc, static_cast<M>(data[(o * f.size + j) * f.inner + i]));
          out[(o * f.segments + s) * f.inner + i] =
              static_cast<T>(finish(f.kind, acc, end - begin, f.has_initial, f.initial));
        }
      }
    }
  });
}

void backward_cpu(const Backward& b) {
  dispatch_dtype<kSegmentTypes>(b.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    const T* data = static_cast<const T*>(b.data);
    const T* grad = static_cast<const T*>(b.grad);
    const T* output = static_cast<const T*>(b.output);
    T* gi = static_cast<T*>(b.grad_input);
    const M init_prod = b.has_initial ? static_cast<M>(b.initial) : M(1);
    for (int64_t o = 0; o < b.outer; ++o) {
      for (int64_t s = 0; s < b.segments; ++s) {
        int64_t begin, end;
        bounds(b.offsets, b.segments, b.size, o, s, begin, end);
        for (int64_t i = 0; i < b.inner; ++i) {
          const T* col = data + o * b.size * b.inner + i;  // element j at col[j * inner]
          const M g = static_cast<M>(grad[(o * b.segments + s) * b.inner + i]);
          const M out = static_cast<M>(output[(o * b.segments + s) * b.inner + i]);
          int64_t tied = 0;
          if (b.kind == Kind::Max || b.kind == Kind::Min)
            for (int64_t j = begin; j < end; ++j) tied += ties(static_cast<M>(col[j * b.inner]), out);
          for (int64_t j = begin; j < end; ++j) {
            const M v = static_cast<M>(col[j * b.inner]);
            gi[(o * b.size + j) * b.inner + i] = static_cast<T>(
                element_grad<T, M>(b.kind, g, out, v, end - begin, tied, col, begin, end, b.inner, j, init_prod));
          }
        }
      }
    }
  });
}

}  // namespace gemforge::segment
