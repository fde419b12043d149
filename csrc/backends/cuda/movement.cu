// cuda kernel of the movement family (backends/movement.h): one launch copies a table of 2-d
// blocks. The host cuts the blocks into entries of at most 2^30 units (a unit: W bytes, the
// widest access every address, row length and stride of the entry allows, up to 16), groups them
// by W, and passes each group as a table in the kernel's parameters. Each cuda block takes
// kPerBlock consecutive units of one entry; a thread issues its kUnroll loads before its stores.
//
// The gather kernel (flip, repeat) writes a dense output from a source of signed strides: a unit
// is the widest access (up to 16 bytes) that the rows allow; a row whose source runs backwards
// (flip of the innermost dim) is read in units from its mirrored position and each unit's
// elements are reversed in registers. repeat_interleave's index: one binary search in the
// cumulated repeats per kIndexRun consecutive outputs.
#include "backends/cuda/launch.cuh"
#include "backends/movement.h"
#include "engine/fast_div.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>

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

// ---- gather -----------------------------------------------------------------------------------
namespace {

constexpr int64_t kGatherMaxUnits = int64_t(1) << 30;  // per launch: fast_div wants numerators < 2^31

struct GatherArgs {
  const char* src;        // the source of unit 0
  char* dst;              // dense, kernel units of W bytes
  int64_t inner_stride;   // bytes from a unit's source to the next one's along a row
  int64_t outer_stride[kGatherDims - 1];  // bytes; [0]: the innermost outer dim
  fast_div outer_size[kGatherDims - 1];   // sizes of the outer dims, innermost first
  fast_div by_row;        // divides by row_units
  uint32_t units, row_units;
  int outer;              // outer dims
};

__device__ __forceinline__ uint32_t reverse_in_word(uint32_t x, int e) {
  return e == 1 ? __byte_perm(x, 0, 0x0123) : e == 2 ? __byte_perm(x, 0, 0x1032) : x;
}

// The elements (E bytes each, E < W) of one unit in reverse order.
template <int E> __device__ __forceinline__ uint32_t reversed(uint32_t v) { return reverse_in_word(v, E); }
template <int E> __device__ __forceinline__ uint2 reversed(uint2 v) {
  return make_uint2(reverse_in_word(v.y, E), reverse_in_word(v.x, E));
}
template <int E> __device__ __forceinline__ uint4 reversed(uint4 v) {
  if (E == 8) return make_uint4(v.z, v.w, v.x, v.y);
  return make_uint4(reverse_in_word(v.w, E), reverse_in_word(v.z, E), reverse_in_word(v.y, E),
                    reverse_in_word(v.x, E));
}
template <int E> __device__ __forceinline__ uint16_t reversed(uint16_t v) {
  return uint16_t((v >> 8) | (v << 8));  // only E == 1 reaches here
}
template <int E> __device__ __forceinline__ uint8_t reversed(uint8_t v) { return v; }

__device__ __forceinline__ int64_t gather_offset(const GatherArgs& a, uint32_t u) {
  uint32_t r = a.by_row.div(u);
  const uint32_t c = u - r * a.row_units;
  int64_t off = int64_t(c) * a.inner_stride;
#pragma unroll
  for (int k = 0; k < kGatherDims - 1; ++k) {
    if (k >= a.outer) break;
    if (k + 1 == a.outer) {  // the outermost dim takes what is left
      off += int64_t(r) * a.outer_stride[k];
      break;
    }
    const uint32_t q = a.outer_size[k].div(r);
    off += int64_t(r - q * a.outer_size[k].divisor) * a.outer_stride[k];
    r = q;
  }
  return off;
}

// W: bytes of a unit; E: 0, or the element size whose order reverses inside a unit.
template <int W, int E>
__global__ void __launch_bounds__(kThreads) gather_kernel(const __grid_constant__ GatherArgs a) {
  static_assert(E == 0 || (E < W && W % (E > 0 ? E : 1) == 0), "a reversed unit holds whole elements");
  using U = typename unit_of<W>::type;
  pw::cuda::pdl_begin();
  const uint32_t first = blockIdx.x * kPerBlock + threadIdx.x;  // < 2^30 + kPerBlock
  U v[kUnroll];
#pragma unroll
  for (int j = 0; j < kUnroll; ++j) {
    const uint32_t u = first + j * kThreads;
    if (u < a.units) {
      v[j] = *reinterpret_cast<const U*>(a.src + gather_offset(a, u));
      if constexpr (E != 0) v[j] = reversed<E>(v[j]);
    }
  }
#pragma unroll
  for (int j = 0; j < kUnroll; ++j) {
    const uint32_t u = first + j * kThreads;
    if (u < a.units) reinterpret_cast<U*>(a.dst)[u] = v[j];
  }
}

template <int W, int E> void launch_gather(const GatherArgs& a, cudaStream_t stream) {
  const uint32_t blocks = (a.units + kPerBlock - 1) / kPerBlock;
  pw::cuda::launch(gather_kernel<W, E>, dim3(blocks), dim3(kThreads), stream, a);
}

void launch_gather_any(int w, int e, const GatherArgs& a, cudaStream_t stream) {
  switch (w * 32 + e) {
    case 16 * 32: return launch_gather<16, 0>(a, stream);
    case 16 * 32 + 8: return launch_gather<16, 8>(a, stream);
    case 16 * 32 + 4: return launch_gather<16, 4>(a, stream);
    case 16 * 32 + 2: return launch_gather<16, 2>(a, stream);
    case 16 * 32 + 1: return launch_gather<16, 1>(a, stream);
    case 8 * 32: return launch_gather<8, 0>(a, stream);
    case 8 * 32 + 4: return launch_gather<8, 4>(a, stream);
    case 8 * 32 + 2: return launch_gather<8, 2>(a, stream);
    case 8 * 32 + 1: return launch_gather<8, 1>(a, stream);
    case 4 * 32: return launch_gather<4, 0>(a, stream);
    case 4 * 32 + 2: return launch_gather<4, 2>(a, stream);
    case 4 * 32 + 1: return launch_gather<4, 1>(a, stream);
    case 2 * 32: return launch_gather<2, 0>(a, stream);
    case 2 * 32 + 1: return launch_gather<2, 1>(a, stream);
    case 1 * 32: return launch_gather<1, 0>(a, stream);
    default: TORCH_INTERNAL_ASSERT(false, "gather: no kernel for unit ", w, " element ", e);
  }
}

struct GatherPlan {
  int w, e;
  cudaStream_t stream;
};

// Launches the copy of nd dims (sizes in units, outermost first; strides in bytes, the last one
// per unit), cut into launches of at most kGatherMaxUnits units.
void gather_chunks(const GatherPlan& p, const char* src, char* dst, int nd, const int64_t* sizes,
                   const int64_t* strides) {
  int64_t total = 1;
  for (int d = 0; d < nd; ++d) total *= sizes[d];
  if (total <= kGatherMaxUnits) {
    GatherArgs a{};
    a.src = src;
    a.dst = dst;
    a.inner_stride = strides[nd - 1];
    a.outer = nd - 1;
    for (int k = 0; k < nd - 1; ++k) {
      a.outer_stride[k] = strides[nd - 2 - k];
      a.outer_size[k] = fast_div(uint32_t(sizes[nd - 2 - k]));
    }
    a.row_units = uint32_t(sizes[nd - 1]);
    a.by_row = fast_div(a.row_units);
    a.units = uint32_t(total);
    launch_gather_any(p.w, p.e, a, p.stream);
    return;
  }
  const int64_t inner_total = total / sizes[0];
  int64_t part[kGatherDims];
  for (int d = 0; d < nd; ++d) part[d] = sizes[d];
  if (nd == 1 || inner_total <= kGatherMaxUnits) {  // pieces of the outermost dim
    const int64_t step = nd == 1 ? kGatherMaxUnits : kGatherMaxUnits / inner_total;
    for (int64_t i = 0; i < sizes[0]; i += step) {
      part[0] = std::min(step, sizes[0] - i);
      gather_chunks(p, src + i * strides[0], dst + i * inner_total * p.w, nd, part, strides);
    }
    return;
  }
  for (int64_t i = 0; i < sizes[0]; ++i)  // each index of the outermost dim on its own
    gather_chunks(p, src + i * strides[0], dst + i * inner_total * p.w, nd - 1, sizes + 1, strides + 1);
}

int low_width(uint64_t bits) {  // the widest of 16, 8, 4, 2, 1 that divides bits
  int w = 16;
  while (w > 1 && (bits & uint64_t(w - 1))) w /= 2;
  return w;
}

}  // namespace

void gather_cuda(const Gather& g) {
  const int nd = g.ndim;
  const int64_t E = g.elem, n = g.sizes[nd - 1], inner = g.src_strides[nd - 1];
  uint64_t outer_bits = reinterpret_cast<uintptr_t>(g.dst);
  for (int d = 0; d < nd - 1; ++d) outer_bits |= uint64_t(g.src_strides[d]);
  int64_t sizes[kGatherDims], strides[kGatherDims];
  for (int d = 0; d < nd - 1; ++d) {
    sizes[d] = g.sizes[d];
    strides[d] = g.src_strides[d];
  }
  const char* src = g.src;
  GatherPlan p{int(E), 0, c10::cuda::getCurrentCUDAStream()};
  if (inner == E || inner == -E) {  // a run of n elements forwards or backwards
    const bool backwards = inner == -E;
    const char* row_start = backwards ? g.src + E - n * E : g.src;
    const int w = low_width(outer_bits | reinterpret_cast<uintptr_t>(row_start) | uint64_t(n * E));
    if (w >= E) {
      p.w = w;
      p.e = backwards && w > E ? int(E) : 0;
      src = backwards ? g.src + E - w : g.src;  // the unit holding output element 0
      sizes[nd - 1] = n * E / w;
      strides[nd - 1] = backwards ? -w : w;
      gather_chunks(p, src, g.dst, nd, sizes, strides);
      return;
    }
  }
  // element by element (any inner stride)
  TORCH_INTERNAL_ASSERT(low_width(outer_bits | reinterpret_cast<uintptr_t>(g.src) | uint64_t(inner)) >= E,
                        "gather: misaligned elements");
  sizes[nd - 1] = n;
  strides[nd - 1] = inner;
  gather_chunks(p, src, g.dst, nd, sizes, strides);
}

// ---- repeat_interleave ----------------------------------------------------------------------------
namespace {

constexpr int kIndexRun = 4;  // consecutive outputs per thread

template <class I>
__global__ void __launch_bounds__(kThreads) repeat_index_kernel(const int64_t* cumsum, I* out, int64_t n,
                                                                 int64_t total) {
  pw::cuda::pdl_begin();
  const int64_t j0 = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * kIndexRun;
  if (j0 >= total) return;
  // the first i with cumsum[i] > j0
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (cumsum[mid] > j0) hi = mid;
    else lo = mid + 1;
  }
  int64_t i = lo;
  int64_t next = i < n ? cumsum[i] : INT64_MAX;
#pragma unroll
  for (int k = 0; k < kIndexRun; ++k) {
    const int64_t j = j0 + k;
    if (j >= total) break;
    while (next <= j && i < n) next = ++i < n ? cumsum[i] : INT64_MAX;
    if (i >= n) break;  // past the repeats' total (output_size larger): left as allocated
    out[j] = I(i);
  }
}

template <class I>
__global__ void repeat_total_kernel(const I* repeats, const int64_t* cumsum, int64_t n, int64_t* result) {
  pw::cuda::pdl_begin();
  int negative = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) negative |= repeats[i] < 0;
  negative = __syncthreads_or(negative);
  if (threadIdx.x == 0) {
    result[0] = cumsum[n - 1];
    result[1] = negative;
  }
}

}  // namespace

void repeat_index_cuda(const RepeatIndex& r) {
  if (r.total <= 0 || r.n <= 0) return;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t threads = (r.total + kIndexRun - 1) / kIndexRun;
  const int64_t blocks = (threads + kThreads - 1) / kThreads;
  TORCH_CHECK(blocks <= int64_t(INT32_MAX), "repeat_interleave: output too large");
  if (r.index32)
    pw::cuda::launch(repeat_index_kernel<int32_t>, dim3(uint32_t(blocks)), dim3(kThreads), stream, r.cumsum,
                     static_cast<int32_t*>(r.out), r.n, r.total);
  else
    pw::cuda::launch(repeat_index_kernel<int64_t>, dim3(uint32_t(blocks)), dim3(kThreads), stream, r.cumsum,
                     static_cast<int64_t*>(r.out), r.n, r.total);
}

RepeatTotal repeat_total_cuda(const RepeatIndex& r, int64_t* scratch) {
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  if (r.index32)
    pw::cuda::launch(repeat_total_kernel<int32_t>, dim3(1), dim3(1024), stream,
                     static_cast<const int32_t*>(r.repeats), r.cumsum, r.n, scratch);
  else
    pw::cuda::launch(repeat_total_kernel<int64_t>, dim3(1), dim3(1024), stream,
                     static_cast<const int64_t*>(r.repeats), r.cumsum, r.n, scratch);
  int64_t host[2];
  C10_CUDA_CHECK(cudaMemcpyAsync(host, scratch, sizeof(host), cudaMemcpyDeviceToHost, stream));
  C10_CUDA_CHECK(cudaStreamSynchronize(stream));
  return {host[0], host[1] != 0};
}

}  // namespace gemforge::movement
