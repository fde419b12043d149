// cpu kernels of advanced indexing and masks (backends/advanced_index.h): plain loops.
#include "backends/advanced_index.h"

#include <ATen/Parallel.h>
#include <c10/util/Half.h>
#include <c10/util/BFloat16.h>

#include <cstring>
#include <type_traits>

namespace gemforge::adv {
namespace {

constexpr int64_t kGrain = 32768;

// Byte offsets of N operands at linear index i of a space (innermost first).
template <int N> void offsets_of(const Space<N>& s, int64_t i, int64_t (&off)[N]) {
  for (int a = 0; a < N; ++a) off[a] = 0;
  for (int d = 0; d < s.ndim; ++d) {
    const int64_t c = i % s.sizes[d];
    i /= s.sizes[d];
    for (int a = 0; a < N; ++a) off[a] += c * s.strides[a][d];
  }
}

template <class T> bool is_nonzero(const T& v) {
  if constexpr (c10::is_complex<T>::value) {
    return v.real() != 0 || v.imag() != 0;
  } else if constexpr (std::is_same_v<T, c10::Half> || std::is_same_v<T, c10::BFloat16>) {
    return static_cast<float>(v) != 0.f;
  } else {
    return v != T(0);
  }
}

template <class F> void each_selected(const Selection& sel, F&& f) {
  dispatch_dtype<kNonzeroTypes>(sel.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(sel.pred);
    int64_t rank = 0;
    for (int64_t i = 0; i < sel.numel; ++i) {
      if (is_nonzero(p[i])) {
        if (!f(i, rank)) return;
        ++rank;
      }
    }
  });
}

}  // namespace

void masked_fill_cpu(const MaskedFill& m) {
  dispatch_size(m.elem_size, [&](auto tag) {
    using E = typename decltype(tag)::type;
    E value;
    std::memcpy(&value, &m.value, sizeof(E));
    at::parallel_for(0, m.s.numel, kGrain, [&](int64_t begin, int64_t end) {
      int64_t off[3];
      for (int64_t i = begin; i < end; ++i) {
        offsets_of(m.s, i, off);
        const bool set = *reinterpret_cast<const bool*>(m.s.data[2] + off[2]);
        E* out = reinterpret_cast<E*>(m.s.data[0] + off[0]);
        if (set) *out = value;
        else if (!m.inplace) *out = *reinterpret_cast<const E*>(m.s.data[1] + off[1]);
      }
    });
  });
}

BadIndex index_cpu(const Indexing& ix, bool put, bool accumulate) {
  BadIndex bad;
  auto run = [&](auto tag) {
    using E = typename decltype(tag)::type;
    for (int64_t i = 0; i < ix.s.numel; ++i) {
      int64_t off[2];
      offsets_of(ix.s, i, off);
      int64_t rest = i;
      int64_t index_off[kMaxIndices] = {};
      for (int d = 0; d < ix.s.ndim; ++d) {
        const int64_t c = rest % ix.s.sizes[d];
        rest /= ix.s.sizes[d];
        for (int k = 0; k < ix.nidx; ++k) index_off[k] += c * ix.index_strides[k][d];
      }
      char* indexed = ix.s.data[1] + off[1];
      for (int k = 0; k < ix.nidx; ++k) {
        int64_t v = ix.index[k][index_off[k]];
        const int64_t size = ix.indexed_size[k];
        if (v < -size || v >= size) return void(bad = BadIndex{k, v, size});
        if (v < 0) v += size;
        indexed += v * ix.indexed_stride[k];
      }
      E* dense = reinterpret_cast<E*>(ix.s.data[0] + off[0]);
      E* at = reinterpret_cast<E*>(indexed);
      if (!put) {
        *dense = *at;
      } else if (!accumulate) {
        *at = *dense;
      } else {
        dispatch_dtype<kAll>(ix.dtype, [&](auto t) {
          using T = typename decltype(t)::type;
          T* dst = reinterpret_cast<T*>(at);
          const T v = *reinterpret_cast<const T*>(dense);
          if constexpr (std::is_same_v<T, bool>) *dst = *dst || v;
          else *dst = static_cast<T>(*dst + v);
        });
      }
    }
  };
  if (accumulate) {
    run(type_tag<char>{});  // accumulate dispatches on the dtype itself
  } else {
    dispatch_size(ix.elem_size, run);
  }
  return bad;
}

int64_t count_nonzero_cpu(const Selection& sel) {
  int64_t n = 0;
  each_selected(sel, [&](int64_t, int64_t) { return ++n, true; });
  return n;
}

void nonzero_cpu(const Selection& sel, int64_t* out, int64_t rows, int64_t fill, int64_t row_stride,
                 int64_t dim_stride) {
  int64_t written = 0;
  if (rows > 0) {
    each_selected(sel, [&](int64_t i, int64_t rank) {
      int64_t* row = out + rank * row_stride;
      for (int d = sel.ndim - 1; d >= 0; --d) {
        row[d * dim_stride] = i % sel.sizes[d];
        i /= sel.sizes[d];
      }
      written = rank + 1;
      return written < rows;
    });
  }
  for (int64_t r = written; r < rows; ++r) {
    for (int d = 0; d < sel.ndim; ++d) out[r * row_stride + d * dim_stride] = fill;
  }
}

void masked_select_cpu(const Selection& mask, const char* src, int elem_size, char* out) {
  each_selected(mask, [&](int64_t i, int64_t rank) {
    std::memcpy(out + rank * elem_size, src + i * elem_size, elem_size);
    return true;
  });
}

void masked_scatter_cpu(const Selection& mask, const Strided& dst, const char* source, int elem_size) {
  each_selected(mask, [&](int64_t i, int64_t rank) {
    int64_t off = 0;
    for (int d = dst.ndim - 1; d >= 0; --d) {
      off += (i % dst.sizes[d]) * dst.strides[d];
      i /= dst.sizes[d];
    }
    std::memcpy(dst.data + off, source + rank * elem_size, elem_size);
    return true;
  });
}

}  // namespace gemforge::adv
