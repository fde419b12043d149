// Pointwise functors: comparisons and logic: bool results.
#pragma once

#include "ops/pointwise/kernels/base.h"

namespace gemforge::kernels {

GF_STATELESS(eq, kAll, bool, (C a, C b), return a == b;)
GF_STATELESS(ne, kAll, bool, (C a, C b), return a != b;)
GF_STATELESS(lt, kReal | kBool, bool, (C a, C b), return a < b;)
GF_STATELESS(le, kReal | kBool, bool, (C a, C b), return a <= b;)
GF_STATELESS(gt, kReal | kBool, bool, (C a, C b), return a > b;)
GF_STATELESS(ge, kReal | kBool, bool, (C a, C b), return a >= b;)
GF_STATELESS(logical_and, kAll, bool, (C a, C b), return (a != C(0)) && (b != C(0));)
GF_STATELESS(logical_or, kAll, bool, (C a, C b), return (a != C(0)) || (b != C(0));)
GF_STATELESS(logical_not, kAll, bool, (C a), return !(a != C(0));)

// The family's kernels; each backend instantiates its run<Op> for every one.
#define GF_KERNELS_COMPARE(X) X(eq) X(ne) X(lt) X(le) X(gt) X(ge) X(logical_and) X(logical_or) X(logical_not)

}  // namespace gemforge::kernels
