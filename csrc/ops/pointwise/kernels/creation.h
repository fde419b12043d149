// Pointwise functors of the creation family: polar.
#pragma once

#include "ops/pointwise/kernels/base.h"

namespace gemforge::kernels {

// abs * (cos(angle) + i sin(angle)): a complex result of the real inputs' precision.
struct polar : op_base {
  static constexpr TypeSet types = bit(ScalarType::Float) | bit(ScalarType::Double);
  template <class C> struct fn {
    GF_HD c10::complex<C> operator()(C abs, C angle) const {
      return {abs * std::cos(angle), abs * std::sin(angle)};
    }
  };
  template <class C> static fn<C> make(const Args&) { return {}; }
};

// The family's kernels; each backend instantiates its run<Op> for every one.
#define GF_KERNELS_CREATION(X) X(polar)

}  // namespace gemforge::kernels
