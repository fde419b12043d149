// The search family's kernels: binary search of values in sorted rows (searchsorted, bucketize),
// histograms (bincount, histc) and runs (unique_consecutive). Plain descriptions of dense,
// contiguous operands; no ATen. The search predicate is torch's on every device, so an
// unsorted or NaN-holding sequence gives torch's answer too: lower bound moves right while
// !(mid >= value), upper bound while !(mid > value), mid = start + ((end - start) >> 1).
#pragma once

#include "engine/dtypes.h"

#include <cstdint>

namespace gemforge::search {

// Dtypes the search kernels serve (values and boundaries share one dtype); torch's kernel
// takes (and rejects) the rest.
constexpr TypeSet kSearchTypes = kReal;
constexpr TypeSet kBincountTypes = kIntegral;
// histc: torch's cpu kernel takes floating dtypes, its cuda kernel integers, float and double.
constexpr TypeSet kHistcTypesCpu = kFloating;
// uint8 stays torch's: its range arithmetic with a negative min differs from ours.
constexpr TypeSet kHistcTypesCuda =
    (kIntegral & ~bit(ScalarType::Byte)) | bit(ScalarType::Float) | bit(ScalarType::Double);

// out[i] = position of values[i] in its row of boundaries.
struct Sorted {
  ScalarType dtype;          // values and boundaries
  const void* boundaries;    // rows of bd_len, one row (1-d) or one per row of values
  const int64_t* sorter;     // null, or indices of the sorted order within each row
  int64_t bd_len;
  bool batched;              // one boundaries row per row of values
  const void* values;
  int64_t numel;             // values
  int64_t row_len;           // values per row (>= 1)
  void* out;                 // int32 or int64, numel of them
  bool out_int32;
  bool right;
};

// out[v] (+)= weights ? weights[i] : 1 for each v = in[i]; out zeroed, nbins long; in's
// values lie in [0, nbins).
struct Bincount {
  ScalarType dtype;        // of in
  const void* in;
  int64_t numel;
  const void* weights;     // null, or numel of weight_dtype (Float or Double)
  ScalarType weight_dtype;
  void* out;               // Long (no weights), else weight_dtype
  int64_t nbins;
};

// out[b] += the count of in's elements in bin b of `bins` equal bins over [lo, hi] (hi in the
// last bin; elements outside and NaN skipped); out zeroed. The bin formula is torch's on each
// device: on the cpu in in's dtype ((x - lo) * bins / (hi - lo), fp16/bf16 rounding at each
// step), on cuda in its accumulate type (float, double, int64 for integers).
struct Histc {
  ScalarType dtype;      // of in
  const void* in;
  int64_t numel;
  void* out;             // int64 counts, or (cuda, float and double) in's dtype
  bool out_counts;
  int64_t bins;
  double lo, hi;         // floating dtypes: the range, exact in in's dtype
  int64_t ilo, ihi;      // integral dtypes
};

// unique_consecutive over in's elements in order: ids[i] = the run of element i (runs start
// where an element differs from the one before it: NaN starts a run of its own), then each
// run's first element (unique) and length (counts, when asked for).
constexpr TypeSet kConsecutiveTypes = kReal | kBool;
struct Consecutive {
  ScalarType dtype;
  const void* in;
  int64_t numel;     // >= 1
  int64_t* ids;      // numel: the inverse
  void* unique;      // runs of dtype
  int64_t* counts;   // runs, or null
};

#define GF_SEARCH_LAUNCHERS(dev)                  \
  void searchsorted_##dev(const Sorted& s);       \
  void bincount_##dev(const Bincount& b);        \
  void histc_##dev(const Histc& h);              \
  /* fills c.ids; returns the number of runs (cuda: reads it back, synchronising) */ \
  int64_t consecutive_ids_##dev(const Consecutive& c);                               \
  /* fills c.unique and c.counts from c.ids */                                        \
  void consecutive_fill_##dev(const Consecutive& c, int64_t runs);
GF_SEARCH_LAUNCHERS(cpu)
GF_SEARCH_LAUNCHERS(cuda)
#undef GF_SEARCH_LAUNCHERS

// torch's binary search over [start, end): at(mid) reads the element at absolute index mid.
template <class T, class At> GF_HD int64_t bound(int64_t start, int64_t end, T value, bool right, At at) {
  while (start < end) {
    const int64_t mid = start + ((end - start) >> 1);
    const T v = at(mid);
    if (right ? !(v > value) : !(v >= value)) start = mid + 1;
    else end = mid;
  }
  return start;
}

}  // namespace gemforge::search
