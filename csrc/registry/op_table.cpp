// THE registration table: every aten overload gemforge serves, its family, its backends and the
// entry point serving it. enable() installs rows from here; the README's op table is generated
// from it (python -m gemforge.report ops).
#include "ops/ops.h"
#include "registry/registry.h"

namespace gemforge::reg {

using namespace ::gemforge::ops;

const std::vector<OpRow>& op_table() {
  static const std::vector<OpRow> rows = {
      // ---- pointwise: arithmetic -------------------------------------------------------------
      GF_OP("add.Tensor", "pointwise_binary", add, kBoth),
      GF_OP("add.Scalar", "pointwise_binary", add_scalar, kBoth),
      GF_OP("add.out", "pointwise_binary", add_out, kBoth),
      GF_OP("add.Scalar_out", "pointwise_binary", add_scalar_out, kBoth),
      GF_OP("add_.Tensor", "pointwise_binary", add_, kBoth),
      GF_OP("add_.Scalar", "pointwise_binary", add_scalar_, kBoth),
      GF_OP("sub.Tensor", "pointwise_binary", sub, kBoth),
      GF_OP("sub.Scalar", "pointwise_binary", sub_scalar, kBoth),
      GF_OP("sub.out", "pointwise_binary", sub_out, kBoth),
      GF_OP("sub.Scalar_out", "pointwise_binary", sub_scalar_out, kBoth),
      GF_OP("sub_.Tensor", "pointwise_binary", sub_, kBoth),
      GF_OP("sub_.Scalar", "pointwise_binary", sub_scalar_, kBoth),
      GF_OP("mul.Tensor", "pointwise_binary", mul, kBoth),
      GF_OP("mul.Scalar", "pointwise_binary", mul_scalar, kBoth),
      GF_OP("mul.out", "pointwise_binary", mul_out, kBoth),
      GF_OP("mul.Scalar_out", "pointwise_binary", mul_scalar_out, kBoth),
      GF_OP("mul_.Tensor", "pointwise_binary", mul_, kBoth),
      GF_OP("mul_.Scalar", "pointwise_binary", mul_scalar_, kBoth),
      GF_OP("div.Tensor", "pointwise_binary", div, kBoth),
      GF_OP("div.Scalar", "pointwise_binary", div_scalar, kBoth),
      GF_OP("div.Tensor_mode", "pointwise_binary", div_mode, kBoth),
      GF_OP("div.Scalar_mode", "pointwise_binary", div_scalar_mode, kBoth),
      GF_OP("div.out", "pointwise_binary", div_out, kBoth),
      GF_OP("div.out_mode", "pointwise_binary", div_mode_out, kBoth),
      GF_OP("div.Scalar_out", "pointwise_binary", div_scalar_out, kBoth),
      GF_OP("div.Scalar_mode_out", "pointwise_binary", div_scalar_mode_out, kBoth),
      GF_OP("div_.Tensor", "pointwise_binary", div_, kBoth),
      GF_OP("div_.Tensor_mode", "pointwise_binary", div_mode_, kBoth),
      GF_OP("div_.Scalar", "pointwise_binary", div_scalar_, kBoth),
      GF_OP("div_.Scalar_mode", "pointwise_binary", div_scalar_mode_, kBoth),
      GF_OP("neg", "pointwise_unary", neg, kBoth),
      GF_OP("neg.out", "pointwise_unary", neg_out, kBoth),
      GF_OP("neg_", "pointwise_unary", neg_, kBoth),
      GF_OP("abs", "pointwise_unary", abs, kBoth),
      GF_OP("abs.out", "pointwise_unary", abs_out, kBoth),
      GF_OP("abs_", "pointwise_unary", abs_, kBoth),
      GF_OP("pow.Tensor_Tensor", "pointwise_binary", pow_tensor_tensor, kBoth),
      GF_OP("pow.Tensor_Tensor_out", "pointwise_binary", pow_tensor_tensor_out, kBoth),
      GF_OP("pow_.Tensor", "pointwise_binary", pow_tensor_tensor_, kBoth),
      GF_OP("pow.Tensor_Scalar", "pointwise_binary", pow_tensor_scalar, kBoth),
      GF_OP("pow.Tensor_Scalar_out", "pointwise_binary", pow_tensor_scalar_out, kBoth),
      GF_OP("pow_.Scalar", "pointwise_binary", pow_scalar_, kBoth),
      GF_OP("pow.Scalar", "pointwise_binary", pow_scalar, kBoth),
      GF_OP("pow.Scalar_out", "pointwise_binary", pow_scalar_out, kBoth),

      // ---- pointwise: unary math -------------------------------------------------------------
      GF_OP("exp", "pointwise_unary", exp, kBoth),
      GF_OP("exp.out", "pointwise_unary", exp_out, kBoth),
      GF_OP("exp_", "pointwise_unary", exp_, kBoth),
      GF_OP("log", "pointwise_unary", log, kBoth),
      GF_OP("log.out", "pointwise_unary", log_out, kBoth),
      GF_OP("log_", "pointwise_unary", log_, kBoth),
      GF_OP("sqrt", "pointwise_unary", sqrt, kBoth),
      GF_OP("sqrt.out", "pointwise_unary", sqrt_out, kBoth),
      GF_OP("sqrt_", "pointwise_unary", sqrt_, kBoth),
      GF_OP("rsqrt", "pointwise_unary", rsqrt, kBoth),
      GF_OP("rsqrt.out", "pointwise_unary", rsqrt_out, kBoth),
      GF_OP("rsqrt_", "pointwise_unary", rsqrt_, kBoth),
      GF_OP("sin", "pointwise_unary", sin, kBoth),
      GF_OP("sin.out", "pointwise_unary", sin_out, kBoth),
      GF_OP("sin_", "pointwise_unary", sin_, kBoth),
      GF_OP("cos", "pointwise_unary", cos, kBoth),
      GF_OP("cos.out", "pointwise_unary", cos_out, kBoth),
      GF_OP("cos_", "pointwise_unary", cos_, kBoth),
      GF_OP("tanh", "activation", tanh, kBoth),
      GF_OP("tanh.out", "activation", tanh_out, kBoth),
      GF_OP("tanh_", "activation", tanh_, kBoth),
      GF_OP("sigmoid", "activation", sigmoid, kBoth),
      GF_OP("sigmoid.out", "activation", sigmoid_out, kBoth),
      GF_OP("sigmoid_", "activation", sigmoid_, kBoth),

      // ---- activations -----------------------------------------------------------------------
      GF_OP("relu", "activation", relu, kBoth),
      GF_OP("relu.out", "activation", relu_out, kBoth),
      GF_OP("relu_", "activation", relu_, kBoth),
      GF_OP("gelu", "activation", gelu, kBoth),
      GF_OP("gelu.out", "activation", gelu_out, kBoth),
      GF_OP("gelu_", "activation", gelu_, kBoth),
      GF_OP("silu", "activation", silu, kBoth),
      GF_OP("silu.out", "activation", silu_out, kBoth),
      GF_OP("silu_", "activation", silu_, kBoth),

      // ---- comparisons and logic -------------------------------------------------------------
#define GF_COMPARE_ROWS(name)                                                    \
  GF_OP(#name ".Tensor", "bitwise_logical_compare", name, kBoth),                       \
  GF_OP(#name ".Scalar", "bitwise_logical_compare", name##_scalar, kBoth),              \
  GF_OP(#name ".Tensor_out", "bitwise_logical_compare", name##_out, kBoth),             \
  GF_OP(#name ".Scalar_out", "bitwise_logical_compare", name##_scalar_out, kBoth),      \
  GF_OP(#name "_.Tensor", "bitwise_logical_compare", name##_, kBoth),                   \
  GF_OP(#name "_.Scalar", "bitwise_logical_compare", name##_scalar_, kBoth)
      GF_COMPARE_ROWS(eq), GF_COMPARE_ROWS(ne), GF_COMPARE_ROWS(lt),
      GF_COMPARE_ROWS(le), GF_COMPARE_ROWS(gt), GF_COMPARE_ROWS(ge),
#undef GF_COMPARE_ROWS
      GF_OP("logical_and", "bitwise_logical_compare", logical_and, kBoth),
      GF_OP("logical_and.out", "bitwise_logical_compare", logical_and_out, kBoth),
      GF_OP("logical_and_", "bitwise_logical_compare", logical_and_, kBoth),
      GF_OP("logical_or", "bitwise_logical_compare", logical_or, kBoth),
      GF_OP("logical_or.out", "bitwise_logical_compare", logical_or_out, kBoth),
      GF_OP("logical_or_", "bitwise_logical_compare", logical_or_, kBoth),
      GF_OP("logical_not", "bitwise_logical_compare", logical_not, kBoth),
      GF_OP("logical_not.out", "bitwise_logical_compare", logical_not_out, kBoth),
      GF_OP("logical_not_", "bitwise_logical_compare", logical_not_, kBoth),

      // ---- selection and clamping ------------------------------------------------------------
      GF_OP("where.self", "index_scatter_gather", where, kBoth),
      GF_OP("where.self_out", "index_scatter_gather", where_out, kBoth),
      GF_OP("clamp", "pointwise_binary", clamp, kBoth),
      GF_OP("clamp.out", "pointwise_binary", clamp_out, kBoth),
      GF_OP("clamp_", "pointwise_binary", clamp_, kBoth),
      GF_OP("clamp.Tensor", "pointwise_binary", clamp_tensor, kBoth),
      GF_OP("clamp.Tensor_out", "pointwise_binary", clamp_tensor_out, kBoth),
      GF_OP("clamp_.Tensor", "pointwise_binary", clamp_tensor_, kBoth),

      // ---- fill and copy ---------------------------------------------------------------------
      GF_OP("fill_.Scalar", "creation_fill", fill_, kBoth),
      GF_OP("fill_.Tensor", "creation_fill", fill_tensor_, kBoth),
      GF_OP("copy_", "copy_shape_view", copy_, kBoth),

      // ---- pointwise: more unary math and special functions ---------------------------------

      // ---- pointwise: more binary math, rounding ---------------------------------------------

      // ---- bitwise ops and predicates --------------------------------------------------------

      // ---- creation and fill -----------------------------------------------------------------

      // ---- activations and their backward ops ------------------------------------------------
#define GF_ACT(overload, fn) GF_OP(overload, "activation", fn, kBoth)
      GF_ACT("gelu_backward", gelu_backward),
      GF_ACT("gelu_backward.grad_input", gelu_backward_out),
      GF_ACT("silu_backward", silu_backward),
      GF_ACT("silu_backward.grad_input", silu_backward_out),
      GF_ACT("sigmoid_backward", sigmoid_backward),
      GF_ACT("sigmoid_backward.grad_input", sigmoid_backward_out),
      GF_ACT("tanh_backward", tanh_backward),
      GF_ACT("tanh_backward.grad_input", tanh_backward_out),
      GF_ACT("threshold", threshold),
      GF_ACT("threshold.out", threshold_out),
      GF_ACT("threshold_", threshold_),
      GF_ACT("threshold_backward", threshold_backward),
      GF_ACT("threshold_backward.grad_input", threshold_backward_out),
      GF_ACT("hardtanh", hardtanh),
      GF_ACT("hardtanh.out", hardtanh_out),
      GF_ACT("hardtanh_", hardtanh_),
      GF_ACT("hardtanh_backward", hardtanh_backward),
      GF_ACT("hardtanh_backward.grad_input", hardtanh_backward_out),
      GF_VIA("relu6", "activation", "hardtanh"),
      GF_VIA("relu6_", "activation", "hardtanh_"),
      GF_ACT("hardsigmoid", hardsigmoid),
      GF_ACT("hardsigmoid.out", hardsigmoid_out),
      GF_ACT("hardsigmoid_", hardsigmoid_),
      GF_ACT("hardsigmoid_backward", hardsigmoid_backward),
      GF_ACT("hardsigmoid_backward.grad_input", hardsigmoid_backward_out),
      GF_ACT("hardswish", hardswish),
      GF_ACT("hardswish.out", hardswish_out),
      GF_ACT("hardswish_", hardswish_),
      GF_ACT("hardswish_backward", hardswish_backward),
      GF_ACT("hardswish_backward.out", hardswish_backward_out),
      GF_ACT("elu", elu),
      GF_ACT("elu.out", elu_out),
      GF_ACT("elu_", elu_),
      GF_ACT("elu_backward", elu_backward),
      GF_ACT("elu_backward.grad_input", elu_backward_out),
      GF_ACT("celu", celu),
      GF_ACT("celu.out", celu_out),
      GF_ACT("celu_", celu_),
      GF_VIA("selu", "activation", "elu"),
      GF_VIA("selu_", "activation", "elu_"),
      GF_ACT("leaky_relu", leaky_relu),
      GF_ACT("leaky_relu.out", leaky_relu_out),
      GF_ACT("leaky_relu_", leaky_relu_),
      GF_ACT("leaky_relu_backward", leaky_relu_backward),
      GF_ACT("leaky_relu_backward.grad_input", leaky_relu_backward_out),
      GF_ACT("softplus", softplus),
      GF_ACT("softplus.out", softplus_out),
      GF_ACT("softplus_backward", softplus_backward),
      GF_ACT("softplus_backward.grad_input", softplus_backward_out),
      GF_ACT("softshrink", softshrink),
      GF_ACT("softshrink.out", softshrink_out),
      GF_ACT("softshrink_backward", softshrink_backward),
      GF_ACT("softshrink_backward.grad_input", softshrink_backward_out),
      GF_ACT("hardshrink", hardshrink),
      GF_ACT("hardshrink.out", hardshrink_out),
      GF_ACT("hardshrink_backward", hardshrink_backward),
      GF_ACT("hardshrink_backward.grad_input", hardshrink_backward_out),
      GF_VIA("log_sigmoid", "activation", "log_sigmoid_forward"),
      GF_VIA("log_sigmoid.out", "activation", "log_sigmoid_forward.output"),
      GF_ACT("log_sigmoid_forward", log_sigmoid_forward),
      GF_ACT("log_sigmoid_forward.output", log_sigmoid_forward_out),
      GF_ACT("log_sigmoid_backward", log_sigmoid_backward),
      GF_ACT("log_sigmoid_backward.grad_input", log_sigmoid_backward_out),
      GF_ACT("logit", logit),
      GF_ACT("logit.out", logit_out),
      GF_ACT("logit_", logit_),
      GF_ACT("logit_backward", logit_backward),
      GF_ACT("logit_backward.grad_input", logit_backward_out),
      GF_ACT("mish", mish),
      GF_ACT("mish.out", mish_out),
      GF_ACT("mish_", mish_),
      GF_ACT("mish_backward", mish_backward),
      GF_ACT("_add_relu.Tensor", _add_relu),
      GF_ACT("_add_relu.out", _add_relu_out),
      GF_ACT("_add_relu_.Tensor", _add_relu_),
      GF_ACT("_add_relu.Scalar", _add_relu_scalar),
      GF_ACT("_add_relu.Scalar_out", _add_relu_scalar_out),
      GF_ACT("_add_relu_.Scalar", _add_relu_scalar_),
      GF_ACT("glu", glu),
      GF_ACT("glu.out", glu_out),
      GF_ACT("glu_backward", glu_backward),
      GF_ACT("glu_backward.grad_input", glu_backward_out),
      GF_ACT("_prelu_kernel", _prelu_kernel),
      GF_ACT("_prelu_kernel_backward", _prelu_kernel_backward),
      GF_VIA("prelu", "activation", "_prelu_kernel"),
#undef GF_ACT
  };
  return rows;
}

}  // namespace gemforge::reg
