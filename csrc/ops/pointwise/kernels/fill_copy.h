// Pointwise functors: fill and copy.
#pragma once

#include "ops/pointwise/kernels/base.h"

namespace gemforge::kernels {

struct fill : op_base {
  static constexpr TypeSet types = kAll;
  template <class C> struct fn {
    C value;
    GF_HD C operator()() const { return value; }
  };
  template <class C> static fn<C> make(const Args& args) { return {args.s0.to<C>()}; }
};
// The iterator's compute dtype is the source's; the store converts to the destination.
// Floating destinations (the casts of mixed-precision code) get vectorized kernels of their own.
struct copy : op_base {
  static constexpr TypeSet types = kAll;
  static constexpr TypeSet cast_to = kFloating;
  template <class C> struct fn {
    GF_HD C operator()(C a) const { return a; }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
};

// The family's kernels; each backend instantiates its run<Op> for every one.
#define GF_KERNELS_FILL_COPY(X) X(fill) X(copy)

}  // namespace gemforge::kernels
