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
      GF_OP("acos", "pointwise_unary", acos, kBoth),
      GF_OP("acos.out", "pointwise_unary", acos_out, kBoth),
      GF_OP("acos_", "pointwise_unary", acos_, kBoth),
      GF_OP("asin", "pointwise_unary", asin, kBoth),
      GF_OP("asin.out", "pointwise_unary", asin_out, kBoth),
      GF_OP("asin_", "pointwise_unary", asin_, kBoth),
      GF_OP("atan", "pointwise_unary", atan, kBoth),
      GF_OP("atan.out", "pointwise_unary", atan_out, kBoth),
      GF_OP("atan_", "pointwise_unary", atan_, kBoth),
      GF_OP("acosh", "pointwise_unary", acosh, kBoth),
      GF_OP("acosh.out", "pointwise_unary", acosh_out, kBoth),
      GF_OP("acosh_", "pointwise_unary", acosh_, kBoth),
      GF_OP("asinh", "pointwise_unary", asinh, kBoth),
      GF_OP("asinh.out", "pointwise_unary", asinh_out, kBoth),
      GF_OP("asinh_", "pointwise_unary", asinh_, kBoth),
      GF_OP("atanh", "pointwise_unary", atanh, kBoth),
      GF_OP("atanh.out", "pointwise_unary", atanh_out, kBoth),
      GF_OP("atanh_", "pointwise_unary", atanh_, kBoth),
      GF_OP("cosh", "pointwise_unary", cosh, kBoth),
      GF_OP("cosh.out", "pointwise_unary", cosh_out, kBoth),
      GF_OP("cosh_", "pointwise_unary", cosh_, kBoth),
      GF_OP("sinh", "pointwise_unary", sinh, kBoth),
      GF_OP("sinh.out", "pointwise_unary", sinh_out, kBoth),
      GF_OP("sinh_", "pointwise_unary", sinh_, kBoth),
      GF_OP("tan", "pointwise_unary", tan, kBoth),
      GF_OP("tan.out", "pointwise_unary", tan_out, kBoth),
      GF_OP("tan_", "pointwise_unary", tan_, kBoth),
      GF_OP("exp2", "pointwise_unary", exp2, kBoth),
      GF_OP("exp2.out", "pointwise_unary", exp2_out, kBoth),
      GF_OP("exp2_", "pointwise_unary", exp2_, kBoth),
      GF_OP("expm1", "pointwise_unary", expm1, kBoth),
      GF_OP("expm1.out", "pointwise_unary", expm1_out, kBoth),
      GF_OP("expm1_", "pointwise_unary", expm1_, kBoth),
      GF_OP("log10", "pointwise_unary", log10, kBoth),
      GF_OP("log10.out", "pointwise_unary", log10_out, kBoth),
      GF_OP("log10_", "pointwise_unary", log10_, kBoth),
      GF_OP("log1p", "pointwise_unary", log1p, kBoth),
      GF_OP("log1p.out", "pointwise_unary", log1p_out, kBoth),
      GF_OP("log1p_", "pointwise_unary", log1p_, kBoth),
      GF_OP("log2", "pointwise_unary", log2, kBoth),
      GF_OP("log2.out", "pointwise_unary", log2_out, kBoth),
      GF_OP("log2_", "pointwise_unary", log2_, kBoth),
      GF_OP("reciprocal", "pointwise_unary", reciprocal, kBoth),
      GF_OP("reciprocal.out", "pointwise_unary", reciprocal_out, kBoth),
      GF_OP("reciprocal_", "pointwise_unary", reciprocal_, kBoth),
      GF_OP("deg2rad", "pointwise_unary", deg2rad, kBoth),
      GF_OP("deg2rad.out", "pointwise_unary", deg2rad_out, kBoth),
      GF_OP("deg2rad_", "pointwise_unary", deg2rad_, kBoth),
      GF_OP("rad2deg", "pointwise_unary", rad2deg, kBoth),
      GF_OP("rad2deg.out", "pointwise_unary", rad2deg_out, kBoth),
      GF_OP("rad2deg_", "pointwise_unary", rad2deg_, kBoth),
      GF_OP("angle", "pointwise_unary", angle, kBoth),
      GF_OP("angle.out", "pointwise_unary", angle_out, kBoth),
      GF_OP("sinc", "special_functions", sinc, kBoth),
      GF_OP("sinc.out", "special_functions", sinc_out, kBoth),
      GF_OP("sinc_", "special_functions", sinc_, kBoth),
      // torch's CompositeImplicitAutograd spellings of the ops above
      GF_VIA("absolute", "pointwise_unary", "abs"),
      GF_VIA("absolute.out", "pointwise_unary", "abs.out"),
      GF_VIA("absolute_", "pointwise_unary", "abs_"),
      GF_VIA("negative", "pointwise_unary", "neg"),
      GF_VIA("negative.out", "pointwise_unary", "neg.out"),
      GF_VIA("negative_", "pointwise_unary", "neg_"),
      GF_VIA("arccos", "pointwise_unary", "acos"),
      GF_VIA("arccos.out", "pointwise_unary", "acos.out"),
      GF_VIA("arccos_", "pointwise_unary", "acos_"),
      GF_VIA("arcsin", "pointwise_unary", "asin"),
      GF_VIA("arcsin.out", "pointwise_unary", "asin.out"),
      GF_VIA("arcsin_", "pointwise_unary", "asin_"),
      GF_VIA("arctan", "pointwise_unary", "atan"),
      GF_VIA("arctan.out", "pointwise_unary", "atan.out"),
      GF_VIA("arctan_", "pointwise_unary", "atan_"),
      GF_VIA("arccosh", "pointwise_unary", "acosh"),
      GF_VIA("arccosh.out", "pointwise_unary", "acosh.out"),
      GF_VIA("arccosh_", "pointwise_unary", "acosh_"),
      GF_VIA("arcsinh", "pointwise_unary", "asinh"),
      GF_VIA("arcsinh.out", "pointwise_unary", "asinh.out"),
      GF_VIA("arcsinh_", "pointwise_unary", "asinh_"),
      GF_VIA("arctanh", "pointwise_unary", "atanh"),
      GF_VIA("arctanh.out", "pointwise_unary", "atanh.out"),
      GF_VIA("arctanh_", "pointwise_unary", "atanh_"),
      GF_VIA("square", "pointwise_unary", "pow.Tensor_Scalar"),
      GF_VIA("square.out", "pointwise_unary", "pow.Tensor_Scalar_out"),
      GF_VIA("square_", "pointwise_unary", "pow_.Scalar"),
      GF_VIA("special_exp2", "special_functions", "exp2"),
      GF_VIA("special_exp2.out", "special_functions", "exp2.out"),
      GF_VIA("special_log1p", "special_functions", "log1p"),
      GF_VIA("special_log1p.out", "special_functions", "log1p.out"),
      GF_VIA("special_sinc", "special_functions", "sinc"),
      GF_VIA("special_sinc.out", "special_functions", "sinc.out"),
      GF_VIA("special_expit", "special_functions", "sigmoid"),
      GF_VIA("special_expit.out", "special_functions", "sigmoid.out"),

      // ---- pointwise: more binary math, rounding ---------------------------------------------

      // ---- bitwise ops and predicates --------------------------------------------------------
      // Each *.Scalar_Tensor_out and __lshift__ / __rshift__ out= is torch's generated wrapper
      // (the functional result copied into out) and goes through the served functional.
#define GF_BITWISE_ROWS(name, scalar, scalar_out, scalar_inplace)                                  \
  GF_OP(#name ".Tensor", "bitwise_logical_compare", name, kBoth),                                 \
  GF_OP(#name ".Tensor_out", "bitwise_logical_compare", name##_out, kBoth),                       \
  GF_OP(#name "_.Tensor", "bitwise_logical_compare", name##_, kBoth),                             \
  GF_OP(#name "." scalar, "bitwise_logical_compare", name##_scalar, kBoth),                       \
  GF_OP(#name "." scalar_out, "bitwise_logical_compare", name##_scalar_out, kBoth),               \
  GF_OP(#name "_." scalar_inplace, "bitwise_logical_compare", name##_scalar_, kBoth),             \
  GF_OP(#name ".Scalar_Tensor", "bitwise_logical_compare", name##_scalar_tensor, kBoth),          \
  GF_VIA(#name ".Scalar_Tensor_out", "bitwise_logical_compare", #name ".Scalar_Tensor")
      GF_BITWISE_ROWS(bitwise_and, "Scalar", "Scalar_out", "Scalar"),
      GF_BITWISE_ROWS(bitwise_or, "Scalar", "Scalar_out", "Scalar"),
      GF_BITWISE_ROWS(bitwise_xor, "Scalar", "Scalar_out", "Scalar"),
      GF_BITWISE_ROWS(bitwise_left_shift, "Tensor_Scalar", "Tensor_Scalar_out", "Tensor_Scalar"),
      GF_BITWISE_ROWS(bitwise_right_shift, "Tensor_Scalar", "Tensor_Scalar_out", "Tensor_Scalar"),
#undef GF_BITWISE_ROWS
      GF_OP("bitwise_not", "bitwise_logical_compare", bitwise_not, kBoth),
      GF_OP("bitwise_not.out", "bitwise_logical_compare", bitwise_not_out, kBoth),
      GF_OP("bitwise_not_", "bitwise_logical_compare", bitwise_not_, kBoth),
#define GF_SHIFT_DUNDER_ROWS(name)                                                                 \
  GF_OP("__" #name "__.Tensor", "bitwise_logical_compare", name, kBoth),                          \
  GF_OP("__" #name "__.Scalar", "bitwise_logical_compare", name##_scalar, kBoth),                 \
  GF_OP("__i" #name "__.Tensor", "bitwise_logical_compare", i##name, kBoth),                      \
  GF_OP("__i" #name "__.Scalar", "bitwise_logical_compare", i##name##_scalar, kBoth),             \
  GF_VIA("__" #name "__.Tensor_out", "bitwise_logical_compare", "__" #name "__.Tensor"),           \
  GF_VIA("__" #name "__.Scalar_out", "bitwise_logical_compare", "__" #name "__.Scalar")
      GF_SHIFT_DUNDER_ROWS(lshift),
      GF_SHIFT_DUNDER_ROWS(rshift),
#undef GF_SHIFT_DUNDER_ROWS
      // The Python operators &, |, ^ and &=, |=, ^= (composites of the bitwise ops).
#define GF_BITWISE_DUNDER_ROWS(dunder, name)                                                       \
  GF_VIA("__" dunder "__.Tensor", "bitwise_logical_compare", #name ".Tensor"),                    \
  GF_VIA("__" dunder "__.Scalar", "bitwise_logical_compare", #name ".Scalar"),                    \
  GF_VIA("__i" dunder "__.Tensor", "bitwise_logical_compare", #name "_.Tensor"),                  \
  GF_VIA("__i" dunder "__.Scalar", "bitwise_logical_compare", #name "_.Scalar")
      GF_BITWISE_DUNDER_ROWS("and", bitwise_and),
      GF_BITWISE_DUNDER_ROWS("or", bitwise_or),
      GF_BITWISE_DUNDER_ROWS("xor", bitwise_xor),
#undef GF_BITWISE_DUNDER_ROWS
      GF_OP("logical_xor", "bitwise_logical_compare", logical_xor, kBoth),
      GF_OP("logical_xor.out", "bitwise_logical_compare", logical_xor_out, kBoth),
      GF_OP("logical_xor_", "bitwise_logical_compare", logical_xor_, kBoth),
      GF_OP("isnan", "bitwise_logical_compare", isnan, kBoth),
      GF_OP("isnan.out", "bitwise_logical_compare", isnan_out, kBoth),
      GF_OP("isinf", "bitwise_logical_compare", isinf, kBoth),
      GF_OP("isinf.out", "bitwise_logical_compare", isinf_out, kBoth),
      GF_OP("isposinf", "bitwise_logical_compare", isposinf, kBoth),
      GF_OP("isposinf.out", "bitwise_logical_compare", isposinf_out, kBoth),
      GF_OP("isneginf", "bitwise_logical_compare", isneginf, kBoth),
      GF_OP("isneginf.out", "bitwise_logical_compare", isneginf_out, kBoth),
      GF_OP("signbit", "bitwise_logical_compare", signbit, kBoth),
      GF_OP("signbit.out", "bitwise_logical_compare", signbit_out, kBoth),
      // Composites: isfinite is (x == x) * (x.abs() != inf); isclose is ==, isnan, abs, *, +,
      // -, <= and isfinite joined by |= and &=; every one of them is served.
      GF_VIA("isfinite", "bitwise_logical_compare", "eq.Tensor"),
      GF_VIA("isclose", "bitwise_logical_compare", "eq.Tensor"),
      // greater, greater_equal, less, less_equal, not_equal: composites of gt, ge, lt, le, ne.
#define GF_COMPARE_ALIAS_ROWS(alias, name)                                                         \
  GF_VIA(#alias ".Tensor", "bitwise_logical_compare", #name ".Tensor"),                           \
  GF_VIA(#alias ".Scalar", "bitwise_logical_compare", #name ".Scalar"),                           \
  GF_VIA(#alias ".Tensor_out", "bitwise_logical_compare", #name ".Tensor_out"),                   \
  GF_VIA(#alias ".Scalar_out", "bitwise_logical_compare", #name ".Scalar_out"),                   \
  GF_VIA(#alias "_.Tensor", "bitwise_logical_compare", #name "_.Tensor"),                         \
  GF_VIA(#alias "_.Scalar", "bitwise_logical_compare", #name "_.Scalar")
      GF_COMPARE_ALIAS_ROWS(greater, gt),
      GF_COMPARE_ALIAS_ROWS(greater_equal, ge),
      GF_COMPARE_ALIAS_ROWS(less, lt),
      GF_COMPARE_ALIAS_ROWS(less_equal, le),
      GF_COMPARE_ALIAS_ROWS(not_equal, ne),
#undef GF_COMPARE_ALIAS_ROWS

      // ---- creation and fill -----------------------------------------------------------------
      GF_OP("fill.Scalar", "creation_fill", fill, kBoth),
      GF_OP("fill.Scalar_out", "creation_fill", fill_out, kBoth),
      GF_OP("fill.Tensor", "creation_fill", fill_tensor, kBoth),
      GF_OP("fill.Tensor_out", "creation_fill", fill_tensor_out, kBoth),
      GF_OP("zero_", "creation_fill", zero_, kBoth),
      GF_OP("zero", "creation_fill", zero, kBoth),
      GF_OP("zero.out", "creation_fill", zero_out, kBoth),
      GF_OP("arange.start_out", "creation_fill", arange_out, kBoth),
      GF_VIA("arange", "creation_fill", "arange.start_out"),
      GF_VIA("arange.start", "creation_fill", "arange.start_out"),
      GF_VIA("arange.start_step", "creation_fill", "arange.start_out"),
      GF_VIA("arange.out", "creation_fill", "arange.start_out"),
      GF_OP("range.out", "creation_fill", range_out, kBoth),
      GF_OP("range.out_", "creation_fill", range_out_, kBoth),
      GF_VIA("range", "creation_fill", "range.out"),
      GF_VIA("range.step", "creation_fill", "range.out"),
      GF_OP("linspace.out", "creation_fill", linspace_out, kBoth),
      GF_VIA("linspace", "creation_fill", "linspace.out"),
      GF_VIA("linspace.Tensor_Tensor", "creation_fill", "linspace.out"),
      GF_VIA("linspace.Tensor_Scalar", "creation_fill", "linspace.out"),
      GF_VIA("linspace.Scalar_Tensor", "creation_fill", "linspace.out"),
      GF_VIA("linspace.Tensor_Tensor_out", "creation_fill", "linspace.out"),
      GF_VIA("linspace.Tensor_Scalar_out", "creation_fill", "linspace.out"),
      GF_VIA("linspace.Scalar_Tensor_out", "creation_fill", "linspace.out"),
      GF_OP("logspace.out", "creation_fill", logspace_out, kBoth),
      GF_VIA("logspace", "creation_fill", "logspace.out"),
      GF_VIA("logspace.Tensor_Tensor", "creation_fill", "logspace.out"),
      GF_VIA("logspace.Tensor_Scalar", "creation_fill", "logspace.out"),
      GF_VIA("logspace.Scalar_Tensor", "creation_fill", "logspace.out"),
      GF_VIA("logspace.Tensor_Tensor_out", "creation_fill", "logspace.out"),
      GF_VIA("logspace.Tensor_Scalar_out", "creation_fill", "logspace.out"),
      GF_VIA("logspace.Scalar_Tensor_out", "creation_fill", "logspace.out"),
      GF_OP("eye.out", "creation_fill", eye_out, kBoth),
      GF_OP("eye.m_out", "creation_fill", eye_m_out, kBoth),
      GF_VIA("eye", "creation_fill", "eye.m_out"),
      GF_VIA("eye.m", "creation_fill", "eye.m_out"),
      GF_OP("tril", "creation_fill", tril, kBoth),
      GF_OP("tril_", "creation_fill", tril_, kBoth),
      GF_OP("tril.out", "creation_fill", tril_out, kBoth),
      GF_OP("triu", "creation_fill", triu, kBoth),
      GF_OP("triu_", "creation_fill", triu_, kBoth),
      GF_OP("triu.out", "creation_fill", triu_out, kBoth),
      GF_OP("polar.out", "creation_fill", polar_out, kBoth),
      GF_VIA("polar", "creation_fill", "polar.out"),
      // torch's factories allocate and fill: zeros through zero_, the rest through fill_.
      GF_VIA("zeros", "creation_fill", "zero_"),
      GF_VIA("zeros.out", "creation_fill", "zero_"),
      GF_VIA("zeros_like", "creation_fill", "zero_"),
      GF_VIA("new_zeros", "creation_fill", "zero_"),
      GF_VIA("ones", "creation_fill", "fill_.Scalar"),
      GF_VIA("ones.out", "creation_fill", "fill_.Scalar"),
      GF_VIA("ones_like", "creation_fill", "fill_.Scalar"),
      GF_VIA("new_ones", "creation_fill", "fill_.Scalar"),
      GF_VIA("full", "creation_fill", "fill_.Scalar"),
      GF_VIA("full.out", "creation_fill", "fill_.Scalar"),
      GF_VIA("full_like", "creation_fill", "fill_.Scalar"),
      GF_VIA("new_full", "creation_fill", "fill_.Scalar"),
      GF_VIA("scalar_tensor", "creation_fill", "fill_.Scalar"),
      GF_VIA("diag_embed", "creation_fill", "copy_"),

      // ---- activations and their backward ops ------------------------------------------------
  };
  return rows;
}

}  // namespace gemforge::reg
