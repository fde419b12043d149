// cpu kernels of the index family (backends/index.h): serial loops that check every index
// before writing anything, with torch's cpu errors.
#include "backends/index.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

namespace gemforge::index {
namespace {

int64_t index_at(const Indices& ix, int64_t k) {
  return ix.is32 ? load_index<int32_t>(ix, k) : load_index<int64_t>(ix, k);
}

// Calls row(index_offset, plain_offset, picked_offset) at the start of every run of e's
// innermost dim (e.size[ndim - 1] coordinates), the outer dims in order.
template <class F> void for_each_row(const Elems& e, F&& row) {
  if (e.numel == 0) return;
  const int last = e.ndim - 1;
  const int64_t inner = e.size[last];
  int64_t coord[kMaxDims] = {};
  int64_t io = 0, po = 0, qo = 0;
  for (int64_t done = 0; done < e.numel; done += inner) {
    row(io, po, qo);
    for (int d = last - 1; d >= 0; --d) {
      if (++coord[d] < e.size[d]) {
        io += e.index_stride[d];
        po += e.plain_stride[d];
        qo += e.picked_stride[d];
        break;
      }
      io -= (e.size[d] - 1) * e.index_stride[d];
      po -= (e.size[d] - 1) * e.plain_stride[d];
      qo -= (e.size[d] - 1) * e.picked_stride[d];
      coord[d] = 0;
    }
  }
}

// Calls f(index_offset, plain_offset, picked_offset) for every coordinate of e's iteration
// space, innermost dim fastest (a tight loop along it).
template <class F> void for_each_coord(const Elems& e, F&& f) {
  const int last = e.ndim - 1;
  const int64_t inner = e.size[last];
  const int64_t is = e.index_stride[last], ps = e.plain_stride[last], qs = e.picked_stride[last];
  for_each_row(e, [&](int64_t io, int64_t po, int64_t qo) {
    for (int64_t j = 0; j < inner; ++j) f(io + j * is, po + j * ps, qo + j * qs);
  });
}

int64_t elem_index(const Elems& e, int64_t offset) {
  return e.index32 ? static_cast<const int32_t*>(e.index)[offset]
                   : static_cast<const int64_t*>(e.index)[offset];
}

void check_elem_indices(const Elems& e) {
  const int last = e.ndim - 1;
  const int64_t inner = e.index_stride[last] == 0 ? 1 : e.size[last];  // a run of one index: once
  const int64_t is = e.index_stride[last];
  for_each_row(e, [&](int64_t row, int64_t, int64_t) {
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t i = elem_index(e, row + j * is);
      if (e.index_error) TORCH_CHECK_INDEX(i >= 0 && i < e.picked_dim_size, "index out of range in self");
      TORCH_CHECK(i >= 0 && i < e.picked_dim_size, "index ", i, " is out of bounds for dimension ",
                  e.error_dim, " with size ", e.picked_dim_size);
    }
  });
}

}  // namespace

void gather_rows_cpu(const Rows& r) {
  const int64_t k_count = r.index.numel;
  for (int64_t k = 0; k < k_count; ++k) {
    const int64_t i = index_at(r.index, k);
    if (r.range_error) {
      TORCH_CHECK(i >= 0 && i < r.n, "INDICES element is out of DATA bounds, id=", i, " axis_dim=", r.n);
    }
    TORCH_CHECK_INDEX(i >= 0 && i < r.n, "index out of range in self");
  }
  const int64_t es = r.elem_size, row_bytes = r.inner * es;
  if (row_bytes == 0) return;
  for (int64_t o = 0; o < r.outer; ++o) {
    for (int64_t k = 0; k < k_count; ++k) {
      const int64_t i = index_at(r.index, k);
      std::memcpy(r.out + (o * k_count + k) * row_bytes,
                  r.src + (o * r.src_outer + i * r.src_dim) * es, row_bytes);
    }
  }
}

void add_rows_cpu(const RowsAdd& r) {
  const int64_t k_count = r.index.numel;
  for (int64_t k = 0; k < k_count; ++k) {
    const int64_t i = index_at(r.index, k);
    TORCH_CHECK(i >= 0 && i < r.n, "index ", i, " is out of bounds for dimension ", r.error_dim,
                " with size ", r.n);
  }
  dispatch_dtype<kAddTypesCpu>(r.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    const M alpha = r.alpha.to<M>();
    for (int64_t o = 0; o < r.outer; ++o) {
      for (int64_t k = 0; k < k_count; ++k) {
        T* dst = reinterpret_cast<T*>(r.dst) + o * r.dst_outer + index_at(r.index, k) * r.dst_dim;
        const T* src = reinterpret_cast<const T*>(r.src) + o * r.src_outer + k * r.src_dim;
        for (int64_t j = 0; j < r.inner; ++j) {
          dst[j] = static_cast<T>(static_cast<M>(dst[j]) + static_cast<M>(src[j]) * alpha);
        }
      }
    }
  });
}

void gather_elems_cpu(const Elems& e) {
  check_elem_indices(e);
  const int64_t es = e.elem_size;
  for_each_coord(e, [&](int64_t io, int64_t po, int64_t qo) {
    const int64_t i = elem_index(e, io);
    std::memcpy(e.plain + po * es, e.picked + (qo + i * e.picked_dim_stride) * es, es);
  });
}

void scatter_add_elems_cpu(const Elems& e) {
  check_elem_indices(e);
  dispatch_dtype<kAddTypesCpu>(e.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    T* picked = reinterpret_cast<T*>(e.picked);
    const T* plain = reinterpret_cast<const T*>(e.plain);
    for_each_coord(e, [&](int64_t io, int64_t po, int64_t qo) {
      T& d = picked[qo + elem_index(e, io) * e.picked_dim_stride];
      d = static_cast<T>(static_cast<M>(d) + static_cast<M>(plain[po]));
    });
  });
}

void scatter_elems_cpu(const Elems& e) {
  check_elem_indices(e);
  const int64_t es = e.elem_size;
  for_each_coord(e, [&](int64_t io, int64_t po, int64_t qo) {
    const int64_t i = elem_index(e, io);
    const void* from = e.from_value ? static_cast<const void*>(e.value) : e.plain + po * es;
    std::memcpy(e.picked + (qo + i * e.picked_dim_stride) * es, from, es);
  });
}

void embedding_backward_cpu(const EmbeddingBackward& e) {
  const int64_t n = e.index.numel;
  std::vector<int64_t> counts;
  if (e.scale_by_freq) {
    counts.assign(e.num_weights, 0);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = index_at(e.index, k);
      if (i >= 0 && i < e.num_weights) ++counts[i];
    }
  }
  dispatch_dtype<kEmbeddingBackwardTypes>(e.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    T* gw = reinterpret_cast<T*>(e.grad_weight);
    const T* grad = reinterpret_cast<const T*>(e.grad);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = index_at(e.index, k);
      // an index out of range has no row to add to (torch's cpu kernel leaves it undefined)
      if (i == e.padding_idx || i < 0 || i >= e.num_weights) continue;
      const M scale = e.scale_by_freq ? M(1) / static_cast<M>(counts[i]) : M(1);
      T* row = gw + i * e.dim;
      const T* g = grad + k * e.dim;
      for (int64_t j = 0; j < e.dim; ++j) {
        row[j] = static_cast<T>(static_cast<M>(row[j]) + static_cast<M>(g[j]) * scale);
      }
    }
  });
}

template <Reduce op, class M> M reduce_pair(M a, M b) {
  switch (op) {
    case Reduce::Sum: return a + b;
    case Reduce::Prod: return a * b;
    case Reduce::Max:
      if constexpr (std::is_floating_point_v<M>) {
        if (std::isnan(a) || std::isnan(b)) return std::isnan(a) ? a : b;
      }
      return a < b ? b : a;
    case Reduce::Min:
      if constexpr (std::is_floating_point_v<M>) {
        if (std::isnan(a) || std::isnan(b)) return std::isnan(a) ? a : b;
      }
      return b < a ? b : a;
  }
  return a;
}

void scatter_reduce_elems_cpu(const Elems& e, Reduce op) {
  check_elem_indices(e);
  dispatch_dtype<kReduceTypesCpu>(e.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    T* picked = reinterpret_cast<T*>(e.picked);
    const T* plain = reinterpret_cast<const T*>(e.plain);
    T value;
    std::memcpy(&value, e.value, sizeof(T));
    const int last = e.ndim - 1;
    const int64_t inner = e.size[last], ps = e.plain_stride[last], qs = e.picked_stride[last];
    const auto run = [&](auto op_tag) {
      constexpr Reduce kOp = decltype(op_tag)::value;
      const auto one = [](T& d, T v) { d = static_cast<T>(reduce_pair<kOp, M>(static_cast<M>(d), static_cast<M>(v))); };
      if (e.index_stride[last] == 0 && !e.from_value) {
        // one index per run (index_reduce's rows): whole runs, unit strides in a loop of their own
        for_each_row(e, [&](int64_t io, int64_t po, int64_t qo) {
          T* d = picked + qo + elem_index(e, io) * e.picked_dim_stride;
          const T* p = plain + po;
          if (ps == 1 && qs == 1) {
            for (int64_t j = 0; j < inner; ++j) one(d[j], p[j]);
          } else {
            for (int64_t j = 0; j < inner; ++j) one(d[j * qs], p[j * ps]);
          }
        });
        return;
      }
      for_each_coord(e, [&](int64_t io, int64_t po, int64_t qo) {
        one(picked[qo + elem_index(e, io) * e.picked_dim_stride], e.from_value ? value : plain[po]);
      });
    };
    switch (op) {
      case Reduce::Sum: run(std::integral_constant<Reduce, Reduce::Sum>{}); break;
      case Reduce::Prod: run(std::integral_constant<Reduce, Reduce::Prod>{}); break;
      case Reduce::Max: run(std::integral_constant<Reduce, Reduce::Max>{}); break;
      case Reduce::Min: run(std::integral_constant<Reduce, Reduce::Min>{}); break;
    }
  });
}

// memcpy of n bytes with the common element sizes as fixed-size copies (one load and store each).
inline void copy_bytes(void* dst, const void* src, int64_t n) {
  switch (n) {
    case 1: std::memcpy(dst, src, 1); return;
    case 2: std::memcpy(dst, src, 2); return;
    case 4: std::memcpy(dst, src, 4); return;
    case 8: std::memcpy(dst, src, 8); return;
    case 16: std::memcpy(dst, src, 16); return;
    default: std::memcpy(dst, src, size_t(n)); return;
  }
}

void put_rows_cpu(const RowsPut& r) {
  const int64_t k_count = r.index.numel;
  for (int64_t k = 0; k < k_count; ++k) {
    const int64_t i = index_at(r.index, k);
    TORCH_CHECK_INDEX(i < r.n && i >= (r.wrap ? -r.n : 0), r.prefix, "index ", i,
                      " is out of bounds for dimension ", r.error_dim, " with size ", r.n);
  }
  const int64_t es = r.elem_size, row_bytes = r.inner * es;
  if (row_bytes == 0) return;
  std::vector<unsigned char> fill;
  if (!r.src) {  // one row of the value, copied per row
    fill.resize(size_t(row_bytes));
    for (int64_t j = 0; j < r.inner; ++j) std::memcpy(fill.data() + j * es, r.value, size_t(es));
  }
  for (int64_t o = 0; o < r.outer; ++o) {
    for (int64_t k = 0; k < k_count; ++k) {
      int64_t i = index_at(r.index, k);
      if (i < 0) i += r.n;
      char* dst = r.dst + (o * r.dst_outer + i * r.dst_dim) * es;
      const void* from = r.src ? static_cast<const void*>(r.src + (o * r.src_outer + k * r.src_dim) * es)
                               : static_cast<const void*>(fill.data());
      copy_bytes(dst, from, row_bytes);
    }
  }
}

void take_cpu(const Take& t) {
  const int64_t n = t.index.numel, es = t.elem_size;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = index_at(t.index, k);
    TORCH_CHECK_INDEX(i < t.src_numel && i >= -t.src_numel, "out of range: tried to access index ", i,
                      " on a tensor of ", t.src_numel, " elements.");
  }
  for (int64_t k = 0; k < n; ++k) {
    int64_t i = index_at(t.index, k);
    if (i < 0) i += t.src_numel;
    std::memcpy(t.out + k * es, t.src + i * es, size_t(es));
  }
}

// Up to this many test elements each element is compared with all of them; past it the tests are
// sorted once (as ordered keys) and each element binary-searched.
constexpr int64_t kIsInDirectCpu = 16;

void isin_cpu(const IsIn& s) {
  dispatch_dtype<kIsInTypes>(s.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    using K = key_t<T>;
    const T* el = static_cast<const T*>(s.elements);
    const T* tests = static_cast<const T*>(s.tests);
    if (s.m <= kIsInDirectCpu) {
      for (int64_t k = 0; k < s.n; ++k) {
        const M v = static_cast<M>(el[k]);
        bool found = false;
        for (int64_t j = 0; j < s.m && !found; ++j) found = static_cast<M>(tests[j]) == v;
        s.out[k] = found != s.invert;
      }
      return;
    }
    std::vector<K> keys;
    keys.reserve(size_t(s.m));
    for (int64_t j = 0; j < s.m; ++j) {
      const M v = static_cast<M>(tests[j]);
      if (v != v) continue;  // NaN
      keys.push_back(ordered_key<K>(tests[j]));
    }
    std::sort(keys.begin(), keys.end());
    for (int64_t k = 0; k < s.n; ++k) {
      const M v = static_cast<M>(el[k]);
      const bool found = v == v && std::binary_search(keys.begin(), keys.end(), ordered_key<K>(el[k]));
      s.out[k] = found != s.invert;
    }
  });
}

}  // namespace gemforge::index
