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

namespace gemforge::movement {

// A dense output gathered from a strided source (flip, repeat, and the copies built on them).
// Output element (i0, ..., i_{n-1}) (outermost first; dst is contiguous in this order) is read at
// src + sum_d i_d * src_strides[d] (bytes, signed: a flipped dim steps backwards, a repeated dim
// not at all). The host collapses dims first, so n is small; sizes are all >= 1.
constexpr int kGatherDims = 8;
struct Gather {
  const char* src;  // the source of output element 0
  char* dst;
  int ndim;
  int64_t elem;  // bytes of one element: 1, 2, 4, 8 or 16
  int64_t sizes[kGatherDims];
  int64_t src_strides[kGatherDims];  // bytes
};
void gather_cpu(const Gather& g);
void gather_cuda(const Gather& g);  // on the current stream of the current device

// repeat_interleave.Tensor: out[j] = i for every j in [cumsum[i] - repeats[i], cumsum[i]) below
// total (repeats and out are int32 when index32, else int64; cumsum is int64 and inclusive).
struct RepeatIndex {
  const void* repeats;
  const int64_t* cumsum;
  void* out;
  int64_t n, total;
  bool index32;
};
void repeat_index_cpu(const RepeatIndex& r);
void repeat_index_cuda(const RepeatIndex& r);
// The output size (cumsum[n-1]) and whether some repeat is negative, read back to the host
// (one synchronisation, where torch's kernel makes two). scratch: 2 int64 on the device.
struct RepeatTotal {
  int64_t total;
  bool negative;
};
RepeatTotal repeat_total_cuda(const RepeatIndex& r, int64_t* scratch);

}  // namespace gemforge::movement
