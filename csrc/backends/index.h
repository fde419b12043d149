// The index family's work descriptions (index_select, embedding, gather, scatter_add, index_add,
// embedding_dense_backward, scatter/index reductions, index_copy/index_fill, take, isin) and their launchers, one per backend (backends/cpu/index.cpp,
// backends/cuda/index.cu). Data movement works on element sizes, not dtypes; only the adding
// kernels dispatch on the dtype. No ATen: c10 types only.
#pragma once

#include "engine/dtypes.h"

#include <c10/core/Scalar.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace gemforge::index {

// Dtypes the adding kernels serve (scatter_add, index_add, embedding_dense_backward); the rest
// goes to torch's kernel.
constexpr TypeSet kAddTypesCpu = kReal;
constexpr TypeSet kAddTypesCuda = kFloating | bit(ScalarType::Int) | bit(ScalarType::Long);
constexpr TypeSet kEmbeddingBackwardTypes = kFloating;

// The reductions of scatter(reduce=), scatter_reduce and index_reduce (mean is a Sum divided by
// counts, in the op); same dtypes as the adding kernels: on cuda Prod/Max/Min use compare-and-swap
// loops (torch's kernel too), Sum atomic adds.
enum class Reduce : int { Sum, Prod, Max, Min };
constexpr TypeSet kReduceTypesCpu = kAddTypesCpu;
constexpr TypeSet kReduceTypesCuda = kAddTypesCuda;

// isin's dtypes (torch raises for bool and complex).
constexpr TypeSet kIsInTypes = kReal;

// An index tensor's elements: int32 or int64, `stride` elements apart (1-d view).
struct Indices {
  const void* data;
  bool is32;
  int64_t numel, stride;
};

// Whole rows picked by an index: for every o < outer and k < index.numel,
//   out[((o*K + k)*inner + (0..inner)] = src[o*src_outer + index[k]*src_dim + (0..inner)]
// (index_select, embedding): out dense, src strides in elements, its inner run contiguous. An index
// outside [0, n) raises on the cpu (torch's IndexError, or the RuntimeError of torch's dim-1 path
// when `range_error`) and gives a zero row on cuda.
struct Rows {
  bool range_error;
  int elem_size;
  char* out;
  const char* src;
  Indices index;
  int64_t outer, n, inner;
  int64_t src_outer, src_dim;
};

// Whole rows added at an index (index_add): dst[o][index[k]][:] += alpha * src[o][k][:], same
// layout rules as Rows with dst in the picked role.
struct RowsAdd {
  ScalarType dtype;
  char* dst;
  const char* src;
  Indices index;
  int64_t outer, n, inner;
  int64_t dst_outer, dst_dim, src_outer, src_dim;
  c10::Scalar alpha;
  int64_t error_dim;  // the dim as the user gave it (for error messages)
};

// Element-wise along one dim (gather, scatter_add): the iteration runs over the index tensor's
// shape (`ndim` dims, `size`); at coordinates c,
//   gather:      plain[c] = picked[c with c[dim] -> index[c]]
//   scatter_add: picked[c with c[dim] -> index[c]] += plain[c]
//   scatter:     picked[c with c[dim] -> index[c]] = from_value ? value : plain[c]
// picked's stride along the iteration dim `dim` is zero in `picked_stride`; its real stride and
// size there are `picked_dim_stride` and `picked_dim_size`. Strides in elements.
constexpr int kMaxDims = 8;
struct Elems {
  ScalarType dtype;
  int elem_size;
  int ndim;
  int64_t numel;
  int64_t size[kMaxDims];
  int64_t index_stride[kMaxDims], plain_stride[kMaxDims], picked_stride[kMaxDims];
  const void* index;
  bool index32;
  char* plain;    // gather: the output; scatter_add: the source
  char* picked;   // gather: the input; scatter_add: the output
  int64_t picked_dim_stride, picked_dim_size;
  int dim;        // the iteration dim the index replaces (for error messages)
  int64_t error_dim;  // the dim as the user gave it (for error messages)
  bool from_value;    // scatter: every element is `value` (its bytes, the dtype's storage)
  alignas(16) unsigned char value[16];
  bool index_error;   // cpu: an index out of range raises IndexError "index out of range in self"
                      // (index_reduce) instead of scatter's RuntimeError
};

// Whole rows written at an index (index_copy, index_fill): for every o < outer and k < index.numel,
//   dst[o*dst_outer + index[k]*dst_dim + (0..inner)] = src ? src[o*src_outer + k*src_dim + (0..inner)]
//                                                      : value
// inner runs contiguous in dst and src; strides in elements. With `wrap` an index in [-n, 0)
// counts from the end (index_fill). An index out of range raises IndexError on the cpu
// ("<prefix>index i is out of bounds for dimension d with size n") and is skipped on cuda.
// `value` holds the element repeated to fill all 16 bytes (the cuda kernel stores it by units).
struct RowsPut {
  int elem_size;
  char* dst;
  const char* src;
  Indices index;
  int64_t outer, n, inner;
  int64_t dst_outer, dst_dim, src_outer, src_dim;
  bool wrap;
  const char* prefix;
  int64_t error_dim;
  alignas(16) unsigned char value[16];
};

// take: out[k] = src[index[k]] (index in [-src_numel, src_numel), negative from the end), src
// and out contiguous, index contiguous (`index.stride` 1). Out of range: IndexError on the cpu,
// a zero element on cuda.
struct Take {
  int elem_size;
  char* out;
  const char* src;
  Indices index;
  int64_t src_numel;
};

// isin: out[k] = (elements[k] equals some tests[j]) != invert, elements and tests contiguous, of
// one dtype (kIsInTypes); NaN equals nothing, -0.0 equals +0.0.
struct IsIn {
  ScalarType dtype;
  bool* out;
  const void* elements;
  int64_t n;
  const void* tests;
  int64_t m;
  bool invert;
};

// embedding_dense_backward: grad_weight (num_weights, dim), zeroed by the caller, gets
// grad[i] for every i with index[i] != padding_idx, scaled by 1/count(index[i]) when
// scale_by_freq. grad is (n, dim) contiguous. cuda: deterministic (sorted indices, each row of
// grad_weight summed in order by one thread).
struct EmbeddingBackward {
  ScalarType dtype;
  char* grad_weight;
  const char* grad;
  Indices index;
  int64_t num_weights, dim;
  int64_t padding_idx;
  bool scale_by_freq;
  // embedding_bag's sum and mean (_embedding_bag_dense_backward, cuda only), where `bag` is set: index entry
  // p adds grad row bag[p] (offset2bag, int32, contiguous), times per_sample_weights[p] where
  // given (grad's dtype), over bag_size[bag[p]] (int32) for mean. grad is then (bags, dim).
  const int32_t* bag = nullptr;
  const char* per_sample_weights = nullptr;
  const int32_t* bag_size = nullptr;
};

// embedding_bag's max mode: grad_weight[max_indices[b * dim + d] * dim + d] += grad[b * dim + d]
// for every bag b and column d whose index is a row (not -1, an empty bag's) other than
// padding_idx. grad and max_indices are (bags, dim) contiguous; cuda adds with atomics, as torch.
struct EmbeddingBagMax {
  ScalarType dtype;
  char* grad_weight;
  const char* grad;
  Indices max_indices;
  int64_t bags, dim, num_weights, padding_idx;
};

// embedding_bag's per_sample_weights backward (sum): out[p] = grad[bag[p]] . weight[index[p]] (each
// row contiguous, `dim` long, summed in the accumulation type), 0 where index[p] is padding_idx.
struct EmbeddingBagWeights {
  ScalarType dtype;
  char* out;
  const char* grad;
  const char* weight;
  Indices index;
  const int32_t* bag;
  int64_t num_weights, dim, padding_idx;
};

#define GF_INDEX_LAUNCHERS(dev)                        \
  void gather_rows_##dev(const Rows& r);               \
  void add_rows_##dev(const RowsAdd& r);               \
  void gather_elems_##dev(const Elems& e);             \
  void scatter_add_elems_##dev(const Elems& e);        \
  void scatter_elems_##dev(const Elems& e);            \
  void embedding_backward_##dev(const EmbeddingBackward& e); \
  void scatter_reduce_elems_##dev(const Elems& e, Reduce op); \
  void put_rows_##dev(const RowsPut& r);               \
  void take_##dev(const Take& t);                      \
  void isin_##dev(const IsIn& s);
GF_INDEX_LAUNCHERS(cpu)
GF_INDEX_LAUNCHERS(cuda)
#undef GF_INDEX_LAUNCHERS
// embedding_bag's backward ops are served on cuda only (registry/op_table.cpp says why)
void embedding_bag_max_backward_cuda(const EmbeddingBagMax& e);
void embedding_bag_weights_backward_cuda(const EmbeddingBagWeights& e);

// isin's search key of a value: an unsigned integer K (of T's size) ordered as the values are,
// -0.0 mapped to +0.0's key. Callers test NaN first (it matches nothing).
template <class K, class T> GF_HD K ordered_key(T v) {
  static_assert(sizeof(K) == sizeof(T), "a key has the value's size");
  constexpr K sign = K(1) << (sizeof(K) * 8 - 1);
  if constexpr (std::is_integral_v<T>) {
    return std::is_signed_v<T> ? K(K(v) ^ sign) : K(v);
  } else {
    if (static_cast<opmath_t<T>>(v) == opmath_t<T>(0)) return sign;  // +0.0 and -0.0
    K bits;
    std::memcpy(&bits, &v, sizeof(K));
    return (bits & sign) ? K(~bits) : K(bits | sign);
  }
}

// The unsigned key type of a T.
template <class T>
using key_t = std::conditional_t<sizeof(T) == 1, uint8_t,
              std::conditional_t<sizeof(T) == 2, uint16_t,
              std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>>;

template <class I> GF_HD int64_t load_index(const Indices& ix, int64_t k) {
  return static_cast<int64_t>(static_cast<const I*>(ix.data)[k * ix.stride]);
}

}  // namespace gemforge::index
