// cpu kernels of the index family (backends/index.h): serial loops that check every index
// before writing anything, with torch's cpu errors.
#include "backends/index.h"

#include <c10/util/Exception.h>

#include <cstring>
#include <vector>

namespace gemforge::index {
namespace {

int64_t index_at(const Indices& ix, int64_t k) {
  return ix.is32 ? load_index<int32_t>(ix, k) : load_index<int64_t>(ix, k);
}

// Calls f(index_offset, plain_offset, picked_offset) for every coordinate of e's iteration
// space, innermost dim fastest.
template <class F> void for_each_coord(const Elems& e, F&& f) {
  if (e.numel == 0) return;
  int64_t coord[kMaxDims] = {};
  int64_t io = 0, po = 0, qo = 0;
  for (int64_t n = 0; n < e.numel; ++n) {
    f(io, po, qo);
    for (int d = e.ndim - 1; d >= 0; --d) {
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

int64_t elem_index(const Elems& e, int64_t offset) {
  return e.index32 ? static_cast<const int32_t*>(e.index)[offset]
                   : static_cast<const int64_t*>(e.index)[offset];
}

void check_elem_indices(const Elems& e) {
  for_each_coord(e, [&](int64_t io, int64_t, int64_t) {
    const int64_t i = elem_index(e, io);
    TORCH_CHECK(i >= 0 && i < e.picked_dim_size, "index ", i, " is out of bounds for dimension ",
                e.error_dim, " with size ", e.picked_dim_size);
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

}  // namespace gemforge::index
