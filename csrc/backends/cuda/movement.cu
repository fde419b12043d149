// cuda kernel of the movement family (backends/movement.h): one launch copies a table of 2-d
// blocks. The host cuts the blocks into entries of at most 2^30 units (a unit: W bytes, the
// widest access every address, row length and stride of the entry allows, up to 16), groups them
// by W, and passes each group as a table in the kernel's parameters. Each cuda block takes
// kPerBlock consecutive units of one entry; a thread issues its kUnroll loads before its stores.
#include "backends/cuda/launch.cuh"
#include "backends/movement.h"
#include "engine/fast_div.h"

#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <cstdint>

namespace gemforge::movement {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;
constexpr uint32_t kPerBlock = kThreads * kUnroll;  // units
constexpr int64_t kMaxUnits = int64_t(1) << 30;     // per entry: fast_div wants numerators < 2^31
constexpr int kMaxEntries = 40;                     // 40 * 56 bytes of kernel parameters

struct Entry {
  const char* src;
  char* dst;
  int64_t src_stride, dst_stride;  // bytes
  uint32_t units, row_units;       // units of the entry, of one row
  fast_div by_row;                 // divides by row_units
  uint32_t first_block;            // the entry's first cuda block
};

struct Table {
  Entry e[kMaxEntries];
  int n;
};

template <int W> struct unit_of;
template <> struct unit_of<1> { using type = uint8_t; };
template <> struct unit_of<2> { using type = uint16_t; };
template <> struct unit_of<4> { using type = uint32_t; };
template <> struct unit_of<8> { using type = uint2; };
template <> struct unit_of<16> { using type = uint4; };

template <int W>
__global__ void __launch_bounds__(kThreads) copy_blocks_kernel(const __grid_constant__ Table t) {
  using U = typename unit_of<W>::type;
  pw::cuda::pdl_begin();
  const uint32_t b = blockIdx.x;
  int i = 0;
  while (i + 1 < t.n && t.e[i + 1].first_block <= b) ++i;
  const Entry& e = t.e[i];
  const uint32_t first = (b - e.first_block) * kPerBlock + threadIdx.x;  // < 2^30 + kPerBlock
  U v[kUnroll];
#pragma unroll
  for (int j = 0; j < kUnroll; ++j) {
    const uint32_t u = first + j * kThreads;
    if (u < e.units) {
      const uint32_t r = e.by_row.div(u);
      const uint32_t c = u - r * e.row_units;
      v[j] = *reinterpret_cast<const U*>(e.src + int64_t(r) * e.src_stride + int64_t(c) * W);
    }
  }
#pragma unroll
  for (int j = 0; j < kUnroll; ++j) {
    const uint32_t u = first + j * kThreads;
    if (u < e.units) {
      const uint32_t r = e.by_row.div(u);
      const uint32_t c = u - r * e.row_units;
      *reinterpret_cast<U*>(e.dst + int64_t(r) * e.dst_stride + int64_t(c) * W) = v[j];
    }
  }
}

// The widest access (16, 8, 4, 2 or 1 bytes) that every address of the block allows.
int width_of(const Block& b) {
  uint64_t bits = reinterpret_cast<uintptr_t>(b.src) | reinterpret_cast<uintptr_t>(b.dst) |
                  uint64_t(b.row_bytes);
  if (b.rows > 1) bits |= uint64_t(b.src_stride) | uint64_t(b.dst_stride);
  int w = 16;
  while (w > 1 && (bits & uint64_t(w - 1))) w /= 2;
  return w;
}

template <int W> void launch_table(Table& t, uint32_t blocks, cudaStream_t stream) {
  pw::cuda::launch(copy_blocks_kernel<W>, dim3(blocks), dim3(kThreads), stream, t);
}

void launch_any(int w, Table& t, uint32_t blocks, cudaStream_t stream) {
  switch (w) {
    case 16: launch_table<16>(t, blocks, stream); break;
    case 8: launch_table<8>(t, blocks, stream); break;
    case 4: launch_table<4>(t, blocks, stream); break;
    case 2: launch_table<2>(t, blocks, stream); break;
    default: launch_table<1>(t, blocks, stream); break;
  }
}

// Collects the entries of one access width and launches whenever the table is full.
struct Batcher {
  int w;
  cudaStream_t stream;
  Table t;
  uint32_t blocks = 0;

  void add(const char* src, char* dst, int64_t rows, int64_t row_units, int64_t src_stride,
           int64_t dst_stride) {
    if (t.n == kMaxEntries) flush();
    Entry& e = t.e[t.n++];
    e.src = src;
    e.dst = dst;
    e.src_stride = src_stride;
    e.dst_stride = dst_stride;
    e.units = uint32_t(rows * row_units);
    e.row_units = uint32_t(row_units);
    e.by_row = fast_div(uint32_t(row_units));
    e.first_block = blocks;
    blocks += (e.units + kPerBlock - 1) / kPerBlock;
  }
  void flush() {
    if (t.n > 0) launch_any(w, t, blocks, stream);
    t.n = 0;
    blocks = 0;
  }
};

// Cuts a block (in units of w) into entries of at most kMaxUnits units.
void add_block(Batcher& out, const Block& b) {
  const int64_t w = out.w;
  int64_t rows = b.rows, row_bytes = b.row_bytes;
  if (rows > 1 && b.src_stride == row_bytes && b.dst_stride == row_bytes) {  // one dense run
    row_bytes *= rows;
    rows = 1;
  }
  const int64_t row_units = row_bytes / w;
  if (row_units <= kMaxUnits) {
    const int64_t rows_per_entry = kMaxUnits / row_units;
    for (int64_t r = 0; r < rows; r += rows_per_entry)
      out.add(b.src + r * b.src_stride, b.dst + r * b.dst_stride, std::min(rows_per_entry, rows - r),
              row_units, b.src_stride, b.dst_stride);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {  // rows longer than an entry: each in pieces
    for (int64_t u = 0; u < row_units; u += kMaxUnits)
      out.add(b.src + r * b.src_stride + u * w, b.dst + r * b.dst_stride + u * w, 1,
              std::min(kMaxUnits, row_units - u), 0, 0);
  }
}

}  // namespace

void copy_blocks_cuda(const Block* blocks, int64_t n) {
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  unsigned widths = 0;  // bit w: some block has access width w
  for (int64_t i = 0; i < n; ++i)
    if (blocks[i].rows > 0 && blocks[i].row_bytes > 0) widths |= 1u << width_of(blocks[i]);
  for (int w = 16; w >= 1; w /= 2) {
    if (!(widths & (1u << w))) continue;
    Batcher batch{w, stream};
    batch.t.n = 0;
    for (int64_t i = 0; i < n; ++i)
      if (blocks[i].rows > 0 && blocks[i].row_bytes > 0 && width_of(blocks[i]) == w) add_block(batch, blocks[i]);
    batch.flush();
  }
}

}  // namespace gemforge::movement
