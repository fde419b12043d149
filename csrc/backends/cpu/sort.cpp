// cpu kernels of the sort/select family (backends/sort.h): one row at a time, rows in parallel.
// Elements are ordered as (key, index) pairs, a strict total order, so std::sort is stable and
// std::nth_element / std::partial_sort pick what a stable sort would put at that rank. Values
// are copied from the input by index (their bits, -0.0 and NaN payloads included).
#include "backends/sort.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace gemforge::sorting {
namespace {

template <class K> using Item = std::pair<K, int64_t>;  // (key, index in row)

// f(row index, row bits, items) for each row, items holding (key, index) of the row's elements.
template <class F> void for_rows(const Rows& in, bool descending, F&& f) {
  dispatch_key(in.dtype, [&](auto tag) {
    using K = typename decltype(tag)::type;
    const Codec<K> codec = codec_for<K>(in.dtype, descending);
    const K* base = static_cast<const K*>(in.data);
    const int64_t grain = std::max<int64_t>(1, 32768 / in.n);
    at::parallel_for(0, in.rows, grain, [&](int64_t begin, int64_t end) {
      std::vector<Item<K>> items(in.n);
      for (int64_t r = begin; r < end; ++r) {
        const K* row = base + r * in.n;
        for (int64_t i = 0; i < in.n; ++i) items[i] = {order_key(row[i], codec), i};
        f(r, row, items);
      }
    });
  });
}

template <class K> K* out_row(void* values, int64_t r, int64_t width) {
  return static_cast<K*>(values) + r * width;
}

}  // namespace

void sort_cpu(const Rows& in, bool descending, void* values, int64_t* indices) {
  for_rows(in, descending, [&](int64_t r, const auto* row, auto& items) {
    using K = std::remove_const_t<std::remove_pointer_t<decltype(row)>>;
    std::sort(items.begin(), items.end());
    K* v = out_row<K>(values, r, in.n);
    int64_t* ix = indices + r * in.n;
    for (int64_t i = 0; i < in.n; ++i) {
      v[i] = row[items[i].second];
      ix[i] = items[i].second;
    }
  });
}

void topk_cpu(const Rows& in, int64_t k, bool largest, void* values, int64_t* indices) {
  if (k == 0) return;
  for_rows(in, largest, [&](int64_t r, const auto* row, auto& items) {
    using K = std::remove_const_t<std::remove_pointer_t<decltype(row)>>;
    std::partial_sort(items.begin(), items.begin() + k, items.end());
    K* v = out_row<K>(values, r, k);
    int64_t* ix = indices + r * k;
    for (int64_t i = 0; i < k; ++i) {
      v[i] = row[items[i].second];
      ix[i] = items[i].second;
    }
  });
}

void select_cpu(const Rows& in, Pick pick, int64_t k, void* values, int64_t* indices) {
  for_rows(in, false, [&](int64_t r, const auto* row, auto& items) {
    using K = std::remove_const_t<std::remove_pointer_t<decltype(row)>>;
    int64_t rank = k;
    if (pick != Pick::kth) {
      const bool floating = c10::isFloatingType(in.dtype);
      const int64_t nans = floating ? std::count_if(items.begin(), items.end(),
                                                    [](const auto& it) { return it.first == K(~K(0)); })
                                    : 0;
      if (pick == Pick::median) rank = nans > 0 ? in.n - nans : (in.n - 1) / 2;
      else rank = nans < in.n ? (in.n - nans - 1) / 2 : 0;
    }
    std::nth_element(items.begin(), items.begin() + rank, items.end());
    out_row<K>(values, r, 1)[0] = row[items[rank].second];
    indices[r] = items[rank].second;
  });
}

void mode_cpu(const Rows& sorted, const int64_t* positions, void* values, int64_t* indices) {
  dispatch_dtype<kSortTypes>(sorted.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    const S* in = static_cast<const S*>(sorted.data);
    S* out = static_cast<S*>(values);
    at::parallel_for(0, sorted.rows, 1, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const S* row = in + r * sorted.n;
        int64_t best_len = 0, best_end = 0, start = 0;
        for (int64_t i = 0; i < sorted.n; ++i) {
          if (i > 0 && !same_value(row[i], row[i - 1])) start = i;
          if (i + 1 == sorted.n || !same_value(row[i + 1], row[i])) {
            if (i - start + 1 > best_len) {
              best_len = i - start + 1;
              best_end = i;
            }
          }
        }
        out[r] = row[best_end];
        indices[r] = positions[r * sorted.n + best_end];
      }
    });
  });
}

}  // namespace gemforge::sorting
