// The sort/select family's kernels (sort, topk, kthvalue, median, nanmedian): rows of n
// contiguous elements, no ATen. Every kernel orders elements by an unsigned key made from the
// element's bits (order_key): ascending numeric order, -0.0 equal to +0.0, every NaN equal and
// above +inf (torch's order); descending complements the key. Ties keep index order, so a sort
// is stable and a selection picks, among equal values, the one a stable sort would put there.
#pragma once

#include "engine/dtypes.h"

#include <cstdint>
#include <type_traits>

namespace gemforge::sorting {

constexpr TypeSet kSortTypes = kReal | kBool;  // sort
constexpr TypeSet kSelectTypes = kReal;        // topk, kthvalue, median, nanmedian

// The unsigned key type of an element size.
template <int Bytes> struct key_of;
template <> struct key_of<1> { using type = uint8_t; };
template <> struct key_of<2> { using type = uint16_t; };
template <> struct key_of<4> { using type = uint32_t; };
template <> struct key_of<8> { using type = uint64_t; };

// How an element's bits become its key: kind 0 unsigned (bool, uint8), 1 signed integer,
// 2 IEEE float whose +inf has the bits `inf`.
template <class K> struct Codec {
  int kind;
  K inf;
  bool descending;
};

template <class K> GF_HD K order_key(K bits, const Codec<K>& c) {
  constexpr K sign = K(K(1) << (8 * sizeof(K) - 1));
  K key;
  if (c.kind == 0) {
    key = bits;
  } else if (c.kind == 1) {
    key = K(bits ^ sign);
  } else {
    const K magnitude = K(bits & K(~sign));
    if (magnitude > c.inf) key = K(~K(0));             // NaN, any sign or payload: the top
    else if (magnitude == 0) key = sign;                // -0.0 and +0.0 alike
    else key = (bits & sign) ? K(~bits) : K(bits | sign);
  }
  return c.descending ? K(~key) : key;
}

template <class K> Codec<K> codec_for(ScalarType t, bool descending) {
  switch (t) {
    case ScalarType::Bool:
    case ScalarType::Byte: return {0, 0, descending};
    case ScalarType::Half: return {2, K(0x7C00), descending};
    case ScalarType::BFloat16: return {2, K(0x7F80), descending};
    case ScalarType::Float: return {2, K(0x7F800000u), descending};
    case ScalarType::Double: return {2, K(0x7FF0000000000000ull), descending};
    default: return {1, 0, descending};
  }
}

// Calls f(type_tag<K>{}) with the key type of dtype t's element size.
template <class F> void dispatch_key(ScalarType t, F&& f) {
  switch (c10::elementSize(t)) {
    case 1: f(type_tag<uint8_t>{}); break;
    case 2: f(type_tag<uint16_t>{}); break;
    case 4: f(type_tag<uint32_t>{}); break;
    default: f(type_tag<uint64_t>{}); break;
  }
}

// `rows` rows of `n` contiguous elements of `dtype` (n >= 1, rows >= 1).
struct Rows {
  ScalarType dtype;
  const void* data;
  int64_t rows, n;
};

// What a selection picks in each row, in ascending order (NaN last), ties by index:
//   kth: rank k;  median: rank (n-1)/2, or the first NaN if the row has one;
//   nanmedian: rank (m-1)/2 of the m non-NaN elements (the first NaN if m == 0).
enum class Pick { kth, median, nanmedian };

// Whether two elements are one value for mode: ==, and NaN equals NaN (a sort puts them together).
template <class S> GF_HD bool same_value(const S& a, const S& b) {
  if constexpr (std::is_same_v<S, bool> || std::is_integral_v<S>) {
    return a == b;
  } else {
    return a == b || (a != a && b != b);
  }
}

// ---- launchers, one per backend (backends/cpu/sort.cpp, backends/cuda/sort.cu) ----------------
#define GF_SORT_LAUNCHERS(dev)                                                                   \
  /* values (in's dtype) and indices, rows x n contiguous: each row of in sorted, stable. */     \
  void sort_##dev(const Rows& in, bool descending, void* values, int64_t* indices);               \
  /* values and indices (rows x k contiguous): each row's first k elements of a stable sort     \
     (descending for largest) */                                                                 \
  void topk_##dev(const Rows& in, int64_t k, bool largest, void* values, int64_t* indices);      \
  /* value and index (one per row, contiguous) of the pick of each row */                        \
  void select_##dev(const Rows& in, Pick pick, int64_t k, void* values, int64_t* indices);      \
  /* mode of each row of `sorted` (rows stably sorted ascending; positions: their original      \
     indices, rows x n): the value of the longest run of equal elements (the first such run,   \
     the smallest value; NaNs are one run) and the largest original index among them */         \
  void mode_##dev(const Rows& sorted, const int64_t* positions, void* values, int64_t* indices);
GF_SORT_LAUNCHERS(cpu)
GF_SORT_LAUNCHERS(cuda)
#undef GF_SORT_LAUNCHERS

}  // namespace gemforge::sorting
