// cpu kernels of the search family (backends/search.h): binary searches split by
// at::parallel_for; bincount in one pass (in order: weighted sums add in torch's order).
#include "backends/search.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>

namespace gemforge::search {
namespace {

constexpr int64_t kGrain = 2048;

template <class T, class O> void search_rows(const Sorted& s) {
  const T* bd = static_cast<const T*>(s.boundaries);
  const T* values = static_cast<const T*>(s.values);
  O* out = static_cast<O*>(s.out);
  const int64_t* sorter = s.sorter;
  at::parallel_for(0, s.numel, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t first = s.batched ? i / s.row_len * s.bd_len : 0;
      const T value = values[i];
      int64_t pos;
      if (sorter) {
        pos = bound(first, first + s.bd_len, value, s.right,
                    [&](int64_t mid) { return bd[first + sorter[mid]]; });
      } else {
        pos = bound(first, first + s.bd_len, value, s.right, [&](int64_t mid) { return bd[mid]; });
      }
      out[i] = static_cast<O>(pos - first);
    }
  });
}

}  // namespace

void searchsorted_cpu(const Sorted& s) {
  const bool ok = dispatch_dtype<kSearchTypes>(s.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (s.out_int32) search_rows<T, int32_t>(s);
    else search_rows<T, int64_t>(s);
  });
  TORCH_INTERNAL_ASSERT(ok, "searchsorted_cpu: unserved dtype");
}

void bincount_cpu(const Bincount& b) {
  const bool ok = dispatch_dtype<kBincountTypes>(b.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = static_cast<const T*>(b.in);
    if (!b.weights) {
      int64_t* out = static_cast<int64_t*>(b.out);
      for (int64_t i = 0; i < b.numel; ++i) ++out[static_cast<int64_t>(in[i])];
    } else if (b.weight_dtype == ScalarType::Float) {
      const float* w = static_cast<const float*>(b.weights);
      float* out = static_cast<float*>(b.out);
      for (int64_t i = 0; i < b.numel; ++i) out[static_cast<int64_t>(in[i])] += w[i];
    } else {
      const double* w = static_cast<const double*>(b.weights);
      double* out = static_cast<double*>(b.out);
      for (int64_t i = 0; i < b.numel; ++i) out[static_cast<int64_t>(in[i])] += w[i];
    }
  });
  TORCH_INTERNAL_ASSERT(ok, "bincount_cpu: unserved dtype");
}

// torch's cpu formula, in in's dtype; counts in int64 (torch counts in in's dtype per thread).
void histc_cpu(const Histc& h) {
  TORCH_INTERNAL_ASSERT(h.out_counts, "histc_cpu: counts only");
  const bool ok = dispatch_dtype<kHistcTypesCpu>(h.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = static_cast<const T*>(h.in);
    int64_t* out = static_cast<int64_t*>(h.out);
    const T lo = static_cast<T>(h.lo), hi = static_cast<T>(h.hi);
    const int64_t bins = h.bins;
    for (int64_t i = 0; i < h.numel; ++i) {
      const T x = in[i];
      if (!(x >= lo && x <= hi)) continue;
      int64_t pos = static_cast<int64_t>((x - lo) * bins / (hi - lo));
      if (pos < 0 || pos >= bins) pos = bins - 1;  // hi itself; overflowed fp16 products
      ++out[pos];
    }
  });
  TORCH_INTERNAL_ASSERT(ok, "histc_cpu: unserved dtype");
}

template <class T> bool differs(T a, T b) {
  return static_cast<opmath_t<T>>(a) != static_cast<opmath_t<T>>(b);
}

int64_t consecutive_ids_cpu(const Consecutive& c) {
  int64_t run = 0;
  const bool ok = dispatch_dtype<kConsecutiveTypes>(c.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = static_cast<const T*>(c.in);
    c.ids[0] = 0;
    for (int64_t i = 1; i < c.numel; ++i) {
      if (differs(in[i], in[i - 1])) ++run;
      c.ids[i] = run;
    }
  });
  TORCH_INTERNAL_ASSERT(ok, "consecutive_ids_cpu: unserved dtype");
  return run + 1;
}

void consecutive_fill_cpu(const Consecutive& c, int64_t runs) {
  const bool ok = dispatch_dtype<kConsecutiveTypes>(c.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = static_cast<const T*>(c.in);
    T* unique = static_cast<T*>(c.unique);
    if (c.counts) std::fill(c.counts, c.counts + runs, int64_t(0));
    for (int64_t i = 0; i < c.numel; ++i) {
      if (i == 0 || c.ids[i] != c.ids[i - 1]) unique[c.ids[i]] = in[i];
      if (c.counts) ++c.counts[c.ids[i]];
    }
  });
  TORCH_INTERNAL_ASSERT(ok, "consecutive_fill_cpu: unserved dtype");
}

}  // namespace gemforge::search
