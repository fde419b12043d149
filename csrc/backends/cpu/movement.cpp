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
