// Advanced indexing and masks: masked_fill, advanced gather/put (index.Tensor, index_put_),
// nonzero, masked_select and masked_scatter. Plain descriptions of the work, filled on the host
// (ops/advanced_index.cpp) and run by one launcher per backend. No ATen: c10 types only.
#pragma once

#include "backends/creation.h"  // bytes16, dispatch_size: data movement by element size
#include "engine/dtypes.h"

#include <cstdint>

namespace gemforge::adv {

using creation::bytes16;
using creation::dispatch_size;

constexpr int kMaxDims = 16;    // iteration spaces past this go to torch's kernels
constexpr int kMaxIndices = 8;  // index tensors of one advanced index, likewise

// An iteration space of up to kMaxDims dims, innermost first, and N operands' byte strides.
template <int N> struct Space {
  int ndim;
  int64_t numel;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];
  char* data[N];
};

// out = mask ? value : in, operands (out, in, mask); in place (in is out) only masked elements
// are written.
struct MaskedFill {
  Space<3> s;
  int elem_size;
  bool inplace;
  bytes16 value;  // its first elem_size bytes: the value in out's dtype
};

// Advanced indexing over the result's space (innermost first): operand 0 is the dense side
// (the result of a gather, the expanded values of a put), operand 1 the indexed tensor
// (stride 0 over the index dims). Index k (int64, element strides over the space) picks along
// the indexed dim of size indexed_size[k] and byte stride indexed_stride[k]; negative indices
// count from the end.
struct Indexing {
  Space<2> s;
  int nidx;
  int elem_size;
  ScalarType dtype;  // accumulate's adds
  const int64_t* index[kMaxIndices];
  int64_t index_strides[kMaxIndices][kMaxDims];
  int64_t indexed_size[kMaxIndices];
  int64_t indexed_stride[kMaxIndices];
};

// One out-of-range index of an Indexing: position k of its index tensor, the value and the size.
struct BadIndex {
  int k = -1;
  int64_t index = 0, size = 0;
};

// Whole rows: dense row r (rows of row_bytes, back to back) and row index[r] of the indexed
// tensor (its rows indexed_row_stride bytes apart, size of them).
struct Rows {
  char* dense;
  char* indexed;
  const int64_t* index;
  int64_t rows, row_bytes, indexed_row_stride, size;
};
enum class RowsKind { gather, put, accumulate };

// The elements of a contiguous predicate (nonzero: nonzero elements of dtype; masks: bool).
// Coordinates (nonzero) are row-major over sizes.
struct Selection {
  ScalarType dtype;
  const void* pred;
  int64_t numel;
  int ndim;
  int64_t sizes[kMaxDims];
};

// An element-strided view (row-major, outermost first) for masked_scatter's destination.
struct Strided {
  char* data;
  int ndim;
  int64_t sizes[kMaxDims];
  int64_t strides[kMaxDims];  // bytes
};

// Predicate dtypes of nonzero.
constexpr TypeSet kNonzeroTypes = kAll;
// Dtypes index_put's accumulate adds on cuda (atomics); torch's kernel takes the rest.
// fp16/bf16 are left to torch's sorted kernel: it sums duplicates in fp32, a 2-byte atomic
// rounds after every add (measured on the H100: off by more than the dtype's tolerance).
constexpr TypeSet kAccumulateTypesCuda =
    bit(ScalarType::Float) | bit(ScalarType::Double) | bit(ScalarType::Int) | bit(ScalarType::Long);

// cuda compaction: blocks of kTile elements; offsets (int64, blocks + 1 of them) hold each
// block's first output row, offsets[blocks] the total.
constexpr int kSelectThreads = 256, kSelectItems = 8, kTile = kSelectThreads * kSelectItems;
inline int64_t select_blocks(int64_t numel) { return (numel + kTile - 1) / kTile; }

// ---- cpu (backends/cpu/advanced_index.cpp) ----------------------------------------------------
void masked_fill_cpu(const MaskedFill& m);
// put: operand 0 written into operand 1 (accumulate: added). Stops at the first bad index.
BadIndex index_cpu(const Indexing& ix, bool put, bool accumulate);
int64_t count_nonzero_cpu(const Selection& sel);
// The first rows coordinates [rows, ndim] of nonzero elements, rows past the count get fill;
// coordinate d of row r at out[r * row_stride + d * dim_stride].
void nonzero_cpu(const Selection& sel, int64_t* out, int64_t rows, int64_t fill, int64_t row_stride,
                 int64_t dim_stride);
// out (rows elements) = src's elements where the bool mask sel is set, both contiguous.
void masked_select_cpu(const Selection& mask, const char* src, int elem_size, char* out);
// dst's elements where mask (row-major over dst) is set = source's first elements, in order.
void masked_scatter_cpu(const Selection& mask, const Strided& dst, const char* source, int elem_size);

// ---- cuda (backends/cuda/advanced_index.cu), on the current stream ----------------------------
void masked_fill_cuda(const MaskedFill& m);
// Out-of-range indices are skipped (a gather writes zero there), never read or written.
void index_cuda(const Indexing& ix, bool put, bool accumulate);
// gather: dense = indexed rows (out-of-range rows zero); put / accumulate (dtype's adds, atomic):
// indexed rows = / += dense (out-of-range rows skipped).
void rows_cuda(const Rows& g, RowsKind kind, ScalarType dtype);
// Block offsets of sel's selected elements (no sync); read_total syncs for offsets[blocks].
void select_offsets_cuda(const Selection& sel, int64_t* offsets);
int64_t read_total_cuda(const int64_t* total);
void nonzero_cuda(const Selection& sel, const int64_t* offsets, int64_t* out, int64_t rows, int64_t fill,
                  int64_t row_stride, int64_t dim_stride);
void masked_select_cuda(const Selection& mask, const int64_t* offsets, const char* src, int elem_size,
                        char* out);
// Selected elements past source_numel are left as they are.
void masked_scatter_cuda(const Selection& mask, const int64_t* offsets, const Strided& dst,
                         const char* source, int64_t source_numel, int elem_size);

}  // namespace gemforge::adv
