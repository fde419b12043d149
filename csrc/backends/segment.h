// segment_reduce and its backward (ops/segment.cpp): reductions over consecutive segments of one
// dim. The data is (outer, size, inner) contiguous, the segments of row o run from offsets[o][s]
// to offsets[o][s + 1] (int64, (outer, segments + 1)), the output is (outer, segments, inner).
// Offsets are clamped to [0, size] here, so that unchecked lengths (unsafe=True) never read
// outside the data. The per-element arithmetic below is shared by both backends; no ATen.
#pragma once

#include "engine/dtypes.h"

#include <cmath>
#include <cstdint>
#include <limits>

namespace gemforge::segment {

constexpr TypeSet kSegmentTypes = kFloating;  // torch's kernels: floating dtypes only

enum class Kind : int { Sum, Mean, Max, Min, Prod };

struct Forward {
  ScalarType dtype;
  Kind kind;
  void* out;
  const void* data;
  const int64_t* offsets;
  int64_t outer, size, segments, inner;
  bool has_initial;
  double initial;
};

// grad_input (data's shape) gets each segment's gradient; elements outside every segment are
// left as the caller set them (zero).
struct Backward {
  ScalarType dtype;
  Kind kind;
  void* grad_input;
  const void* grad;    // (outer, segments, inner)
  const void* output;  // the forward's result
  const void* data;
  const int64_t* offsets;
  int64_t outer, size, segments, inner;
  bool has_initial;
  double initial;
};

template <class M> GF_HD bool is_nan(M v) { return v != v; }

// The reduction's start: the initial value where given, else its identity.
template <class M> GF_HD M start_value(Kind kind, bool has_initial, double initial) {
  if (has_initial) return static_cast<M>(initial);
  switch (kind) {
    case Kind::Max: return -std::numeric_limits<M>::infinity();
    case Kind::Min: return std::numeric_limits<M>::infinity();
    case Kind::Prod: return M(1);
    default: return M(0);
  }
}

// acc (op) v; NaN propagates through max and min, as in torch.
template <class M> GF_HD M combine(Kind kind, M acc, M v) {
  switch (kind) {
    case Kind::Prod: return acc * v;
    case Kind::Max: return is_nan(acc) ? acc : (is_nan(v) || v > acc) ? v : acc;
    case Kind::Min: return is_nan(acc) ? acc : (is_nan(v) || v < acc) ? v : acc;
    default: return acc + v;
  }
}

// A mean divides by the length; an empty segment's mean is the initial value where given, else
// NaN (torch's 0 / 0).
template <class M> GF_HD M finish(Kind kind, M acc, int64_t len, bool has_initial, double initial) {
  if (kind != Kind::Mean) return acc;
  if (len == 0) return has_initial ? static_cast<M>(initial) : std::numeric_limits<M>::quiet_NaN();
  return acc / static_cast<M>(len);
}

// Segment s of row o: [begin, end) within [0, size].
GF_HD void bounds(const int64_t* offsets, int64_t segments, int64_t size, int64_t o, int64_t s,
                         int64_t& begin, int64_t& end) {
  const int64_t* row = offsets + o * (segments + 1);
  begin = row[s] < 0 ? 0 : row[s] > size ? size : row[s];
  end = row[s + 1] < begin ? begin : row[s + 1] > size ? size : row[s + 1];
}

// Whether element v shares the max / min `out` (NaN matches NaN): those split the gradient.
template <class M> GF_HD bool ties(M v, M out) { return v == out || (is_nan(v) && is_nan(out)); }

// prod's gradient at an element that is 0 or NaN, where g * out / v cannot say it: g times the
// product of the segment's other elements (and the initial value), as torch computes it.
template <class T, class M>
GF_HD M exclusive_prod(const T* data, int64_t begin, int64_t end, int64_t inner, int64_t skip, M init) {
  M p = init;
  for (int64_t k = begin; k < end; ++k)
    if (k != skip) p *= static_cast<M>(data[k * inner]);
  return p;
}

// The gradient of element j (value v) of a segment with result `out` and incoming gradient g:
// sum g; mean g / len; max and min g / ties at the tied elements, else 0; prod g out / v (the
// exclusive product where v is 0 or NaN).
template <class T, class M>
GF_HD M element_grad(Kind kind, M g, M out, M v, int64_t len, int64_t tied, const T* seg_data, int64_t begin,
                     int64_t end, int64_t inner, int64_t j, M init_prod) {
  switch (kind) {
    case Kind::Sum: return g;
    case Kind::Mean: return g / static_cast<M>(len);
    case Kind::Max:
    case Kind::Min: return ties(v, out) ? g / static_cast<M>(tied) : M(0);
    case Kind::Prod:
      if (v == M(0) || is_nan(v)) return g * exclusive_prod<T, M>(seg_data, begin, end, inner, j, init_prod);
      return g * out / v;
  }
  return M(0);
}

#define GF_SEGMENT_LAUNCHERS(dev)                \
  void forward_##dev(const Forward& f);          \
  void backward_##dev(const Backward& b);
GF_SEGMENT_LAUNCHERS(cpu)
GF_SEGMENT_LAUNCHERS(cuda)
#undef GF_SEGMENT_LAUNCHERS

}  // namespace gemforge::segment
