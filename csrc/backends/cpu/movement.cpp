// cpu kernel of the movement family (backends/movement.h): memcpy per row, split by
// at::parallel_for over rows (or over the bytes of one long run).
#include "backends/movement.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>

namespace gemforge::movement {

void copy_blocks_cpu(const Block* blocks, int64_t n) {
  constexpr int64_t kGrainBytes = 64 * 1024;
  for (int64_t i = 0; i < n; ++i) {
    const Block& b = blocks[i];
    if (b.rows <= 0 || b.row_bytes <= 0) continue;
    const bool dense = b.rows == 1 || (b.src_stride == b.row_bytes && b.dst_stride == b.row_bytes);
    if (dense) {
      const int64_t total = b.rows * b.row_bytes;
      at::parallel_for(0, total, kGrainBytes, [&](int64_t begin, int64_t end) {
        std::memcpy(b.dst + begin, b.src + begin, size_t(end - begin));
      });
      continue;
    }
    at::parallel_for(0, b.rows, std::max<int64_t>(1, kGrainBytes / b.row_bytes),
                     [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r)
        std::memcpy(b.dst + r * b.dst_stride, b.src + r * b.src_stride, size_t(b.row_bytes));
    });
  }
}

}  // namespace gemforge::movement

namespace gemforge::movement {
namespace {

template <int64_t E>
void copy_row(char* dst, const char* src, int64_t n, int64_t stride) {
  for (int64_t j = 0; j < n; ++j) std::memcpy(dst + j * E, src + j * stride, E);
}

}  // namespace

// Rows (the innermost dim) split by at::parallel_for; a row is a memcpy when its source steps
// forward by one element, else an element loop.
void gather_cpu(const Gather& g) {
  const int nd = g.ndim;
  const int64_t n = g.sizes[nd - 1], inner = g.src_strides[nd - 1], E = g.elem;
  int64_t rows = 1;
  for (int d = 0; d < nd - 1; ++d) rows *= g.sizes[d];
  const int64_t row_bytes = n * E;
  at::parallel_for(0, rows, std::max<int64_t>(1, 64 * 1024 / row_bytes), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t off = 0;
      for (int64_t d = nd - 2, q = r; d >= 0; --d) {
        off += (q % g.sizes[d]) * g.src_strides[d];
        q /= g.sizes[d];
      }
      const char* src = g.src + off;
      char* dst = g.dst + r * row_bytes;
      if (inner == E) {
        std::memcpy(dst, src, size_t(row_bytes));
        continue;
      }
      switch (E) {
        case 1: copy_row<1>(dst, src, n, inner); break;
        case 2: copy_row<2>(dst, src, n, inner); break;
        case 4: copy_row<4>(dst, src, n, inner); break;
        case 8: copy_row<8>(dst, src, n, inner); break;
        default: copy_row<16>(dst, src, n, inner); break;
      }
    }
  });
}

void repeat_index_cpu(const RepeatIndex& r) {
  int64_t start = 0;
  for (int64_t i = 0; i < r.n; ++i) {
    const int64_t end = std::min(r.cumsum[i], r.total);
    for (int64_t j = std::max<int64_t>(start, 0); j < end; ++j) {
      if (r.index32) static_cast<int32_t*>(r.out)[j] = int32_t(i);
      else static_cast<int64_t*>(r.out)[j] = i;
    }
    start = std::max(start, r.cumsum[i]);
  }
}

}  // namespace gemforge::movement
