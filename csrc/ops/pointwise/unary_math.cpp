// neg; exp, log, sqrt, rsqrt, sin, cos, tanh, sigmoid (integers promote to float): functional,
// out= and in-place forms.
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/kernels/arithmetic.h"
#include "ops/pointwise/kernels/unary_math.h"

namespace gemforge::ops {

#define GF_UNARY(name, kind, check) GF_UNARY_FORMS(name, kind, kernels::name, name, check)
GF_UNARY(neg, IterKind::unary,
         TORCH_CHECK(self.scalar_type() != at::kBool,
                     "Negation, the `-` operator, on a bool tensor is not supported. If you are "
                     "trying to invert a mask, use the `~` or `logical_not()` operator instead."))
GF_UNARY(exp, IterKind::unary_float, )
GF_UNARY(log, IterKind::unary_float, )
GF_UNARY(sqrt, IterKind::unary_float, )
GF_UNARY(rsqrt, IterKind::unary_float, )
GF_UNARY(sin, IterKind::unary_float, )
GF_UNARY(cos, IterKind::unary_float, )
GF_UNARY(tanh, IterKind::unary_float, )
GF_UNARY(sigmoid, IterKind::unary_float, )
#undef GF_UNARY

}  // namespace gemforge::ops
