// The movement family's one kernel: copies of 2-d blocks of bytes (cat, stack, roll, and the
// dense cases of the other data-movement ops). No dtypes: a block is rows of row_bytes bytes,
// row r read at src + r * src_stride and written at dst + r * dst_stride. No ATen: c10 only.
#pragma once

#include <cstdint>

namespace gemforge::movement {

struct Block {
  const char* src;
  char* dst;
  int64_t rows, row_bytes;
  int64_t src_stride, dst_stride;  // bytes between rows
};

// Copies every block (none overlapping another's destination), one launch per access width
// on cuda (the current stream of the current device).
void copy_blocks_cpu(const Block* blocks, int64_t n);
void copy_blocks_cuda(const Block* blocks, int64_t n);

}  // namespace gemforge::movement
