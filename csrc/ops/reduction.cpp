// Reductions: sum, mean, nansum, prod, amax/amin, max/min (full and with indices), argmax/argmin,
// all/any, var/std (+ mean), logsumexp, linalg_vector_norm, count_nonzero, aminmax. Each entry
// point checks what torch checks, picks the result's dtype and shape and runs the reduction
// engine; anything it does not serve (complex, other layouts, dtype pairs, the cases where torch
// raises) goes to torch's own kernel, which also gives torch's errors.
#include "engine/reduction.h"
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise_more.h"

#include <ATen/ATen.h>
#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/CompositeExplicitAutogradNonFunctionalFunctions.h>
#include <ATen/native/Resize.h>

#include <cmath>

namespace gemforge::ops {
namespace {

using red::DimMask;
using red::Kind;
using red::Plan;
using std::optional;

bool served_tensor(const Tensor& t) {
  return (t.is_cpu() || t.is_cuda()) && t.layout() == at::kStrided && !t.is_complex() &&
         !t.is_quantized();
}
bool served_out(const Tensor& self, const Tensor& out) {
  return served_tensor(out) && out.device() == self.device();
}

Plan plan_of(Kind kind) {
  Plan p{};
  p.kind = kind;
  return p;
}

// How the engine gets from an input dtype to a result dtype: as is, the input cast to the
// result's dtype first (torch does the same), or through an int64 result (integer sums).
enum class Route { kDirect, kCastInput, kViaLong, kNone };
Route route(Kind kind, ScalarType in, ScalarType out) {
  if (red::served_pair(kind, in, out)) return Route::kDirect;
  if ((kind == Kind::kSum || kind == Kind::kProd) && at::isIntegralType(out, false)) {
    return Route::kViaLong;
  }
  if (red::served_pair(kind, out, out)) return Route::kCastInput;
  return Route::kNone;
}

void compute(const Plan& p, const Tensor& self, DimMask mask, const Tensor& out,
             const Tensor& out1 = Tensor()) {
  const ScalarType in = self.scalar_type(), ot = out.scalar_type();
  switch (route(p.kind, in, ot)) {
    case Route::kDirect: red::run(p, self, mask, out, out1); return;
    case Route::kCastInput: red::run(p, self.to(ot), mask, out, out1); return;
    case Route::kViaLong: {
      const Tensor x = at::isIntegralType(in, true) ? self : self.to(ot);
      Tensor wide = at::empty(out.sizes(), out.options().dtype(at::kLong));
      red::run(p, x, mask, wide);
      out.copy_(wide);
      return;
    }
    case Route::kNone: break;
  }
  TORCH_CHECK(false, "gemforge reduction: unserved dtype pair");
}

bool has_empty_reduced_dim(const Tensor& self, DimMask mask) {
  for (int64_t d = 0; d < self.dim(); ++d) {
    if (mask[d] && self.size(d) == 0) return true;
  }
  return self.dim() == 0 ? false : self.numel() == 0 && mask.count() == size_t(self.dim());
}

// out resized to the reduction's shape (torch's resize_output: warns when it had elements).
void resize_to(Tensor& out, const Tensor& self, DimMask mask, bool keepdim) {
  at::native::resize_output(out, red::reduced_shape(self, mask, keepdim));
}

ScalarType sum_type(const Tensor& self, optional<ScalarType> dtype) {
  if (dtype) return *dtype;
  return at::isIntegralType(self.scalar_type(), true) ? at::kLong : self.scalar_type();
}

// ---- sum, nansum, mean, prod: the additive family ------------------------------------------------
Tensor additive(Plan p, const Tensor& self, DimMask mask, bool keepdim, ScalarType type) {
  Tensor out = red::new_output(self, mask, keepdim, type);
  compute(p, self, mask, out);
  return out;
}

Plan sum_plan(bool skip_nan) {
  Plan p = plan_of(Kind::kSum);
  p.scale = 1;
  p.skip_nan = skip_nan;
  return p;
}

Plan mean_plan(const Tensor& self, DimMask mask) {
  Plan p = plan_of(Kind::kSum);
  p.scale = double(red::reduced_size(self, mask));
  return p;
}

bool additive_served(Kind kind, const Tensor& self, ScalarType type) {
  return served_tensor(self) && !at::isComplexType(type) && route(kind, self.scalar_type(), type) != Route::kNone;
}

}  // namespace

// ---- sum ---------------------------------------------------------------------------------------
Tensor sum_dim(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim, optional<ScalarType> dtype) {
  const ScalarType type = sum_type(self, dtype);
  if (!additive_served(Kind::kSum, self, type)) return GF_FALLBACK(self, sum, self, dim, keepdim, dtype)();
  const DimMask mask = red::dim_mask(self, dim);
  return additive(sum_plan(false), self, mask, keepdim, type);
}

Tensor sum(const Tensor& self, optional<ScalarType> dtype) {
  return ops::sum_dim(self, std::nullopt, false, dtype);
}

Tensor& sum_dim_out(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                    optional<ScalarType> dtype, Tensor& out) {
  const ScalarType type = dtype ? *dtype : out.scalar_type();
  if (!additive_served(Kind::kSum, self, type) || !served_out(self, out) || out.scalar_type() != type) {
    return GF_FALLBACK(self, sum_outf, self, dim, keepdim, dtype, out)();
  }
  const DimMask mask = red::dim_mask(self, dim);
  resize_to(out, self, mask, keepdim);
  compute(sum_plan(false), self, mask, out);
  return out;
}

Tensor& sum_out(const Tensor& self, optional<ScalarType> dtype, Tensor& out) {
  if (out.scalar_type() != sum_type(self, dtype)) {
    return GF_FALLBACK_TO(at::compositeexplicitautograd::sum_outf(self, dtype, out))();
  }
  return ops::sum_dim_out(self, std::nullopt, false, dtype, out);
}

// ---- nansum ------------------------------------------------------------------------------------
Tensor nansum(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim, optional<ScalarType> dtype) {
  const ScalarType type = sum_type(self, dtype);
  if (!additive_served(Kind::kSum, self, type)) return GF_FALLBACK(self, nansum, self, dim, keepdim, dtype)();
  const DimMask mask = red::dim_mask(self, dim);
  return additive(sum_plan(true), self, mask, keepdim, type);
}

Tensor& nansum_out(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                   optional<ScalarType> dtype, Tensor& out) {
  const ScalarType type = dtype ? *dtype : out.scalar_type();
  if (!additive_served(Kind::kSum, self, type) || !served_out(self, out) || out.scalar_type() != type) {
    return GF_FALLBACK(self, nansum_outf, self, dim, keepdim, dtype, out)();
  }
  const DimMask mask = red::dim_mask(self, dim);
  resize_to(out, self, mask, keepdim);
  compute(sum_plan(true), self, mask, out);
  return out;
}

// ---- mean --------------------------------------------------------------------------------------
Tensor mean_dim(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim, optional<ScalarType> dtype) {
  const ScalarType type = dtype.value_or(self.scalar_type());
  if (!at::isFloatingType(type) || !additive_served(Kind::kSum, self, type)) {
    return GF_FALLBACK(self, mean, self, dim, keepdim, dtype)();
  }
  const DimMask mask = red::dim_mask(self, dim);
  return additive(mean_plan(self, mask), self, mask, keepdim, type);
}

Tensor mean(const Tensor& self, optional<ScalarType> dtype) {
  return ops::mean_dim(self, std::nullopt, false, dtype);
}

Tensor& mean_out(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                 optional<ScalarType> dtype, Tensor& out) {
  const ScalarType type = dtype ? *dtype : out.scalar_type();
  // torch insists on a floating input or dtype= before it looks at out
  const bool inferable = dtype.has_value() || at::isFloatingType(self.scalar_type());
  if (!inferable || !at::isFloatingType(type) || !additive_served(Kind::kSum, self, type) ||
      !served_out(self, out) || out.scalar_type() != type) {
    return GF_FALLBACK(self, mean_outf, self, dim, keepdim, dtype, out)();
  }
  const DimMask mask = red::dim_mask(self, dim);
  resize_to(out, self, mask, keepdim);
  compute(mean_plan(self, mask), self, mask, out);
  return out;
}

Tensor& mean_dtype_out(const Tensor& self, optional<ScalarType> dtype, Tensor& out) {
  return ops::mean_out(self, std::nullopt, false, dtype, out);
}

// ---- prod --------------------------------------------------------------------------------------
Tensor prod_dim(const Tensor& self, int64_t dim, bool keepdim, optional<ScalarType> dtype) {
  const ScalarType type = sum_type(self, dtype);
  if (!additive_served(Kind::kProd, self, type)) return GF_FALLBACK(self, prod, self, dim, keepdim, dtype)();
  const DimMask mask = red::dim_mask(self, dim);
  return additive(plan_of(Kind::kProd), self, mask, keepdim, type);
}

Tensor prod(const Tensor& self, optional<ScalarType> dtype) {
  const ScalarType type = sum_type(self, dtype);
  if (!additive_served(Kind::kProd, self, type)) return GF_FALLBACK(self, prod, self, dtype)();
  const DimMask mask = red::dim_mask(self, std::nullopt);
  return additive(plan_of(Kind::kProd), self, mask, false, type);
}

Tensor& prod_dim_out(const Tensor& self, int64_t dim, bool keepdim, optional<ScalarType> dtype, Tensor& out) {
  const ScalarType type = dtype ? *dtype : out.scalar_type();
  if (!additive_served(Kind::kProd, self, type) || !served_out(self, out) || out.scalar_type() != type) {
    return GF_FALLBACK(self, prod_outf, self, dim, keepdim, dtype, out)();
  }
  const DimMask mask = red::dim_mask(self, dim);
  resize_to(out, self, mask, keepdim);
  compute(plan_of(Kind::kProd), self, mask, out);
  return out;
}

Tensor& prod_out(const Tensor& self, optional<ScalarType> dtype, Tensor& out) {
  const ScalarType type = sum_type(self, dtype);
  if (!additive_served(Kind::kProd, self, type) || !served_out(self, out) || out.scalar_type() != type) {
    return GF_FALLBACK_TO(at::compositeexplicitautograd::prod_outf(self, dtype, out))();
  }
  const DimMask mask = red::dim_mask(self, std::nullopt);
  resize_to(out, self, mask, false);
  compute(plan_of(Kind::kProd), self, mask, out);
  return out;
}

// ---- amax, amin, max(), min() --------------------------------------------------------------------
namespace {
bool extreme_served(const Tensor& self, DimMask mask) {
  return served_tensor(self) && red::served_pair(Kind::kMax, self.scalar_type(), self.scalar_type()) &&
         !has_empty_reduced_dim(self, mask);
}
}  // namespace

#define GF_EXTREME_FORMS(name, kind)                                                              \
  Tensor name(const Tensor& self, at::IntArrayRef dim, bool keepdim) {                            \
    const DimMask mask = red::dim_mask(self, dim);                                                \
    if (!extreme_served(self, mask)) return GF_FALLBACK(self, name, self, dim, keepdim)();        \
    Tensor out = red::new_output(self, mask, keepdim, self.scalar_type());                        \
    red::run(plan_of(kind), self, mask, out);                                                     \
    return out;                                                                                   \
  }                                                                                               \
  Tensor& name##_out(const Tensor& self, at::IntArrayRef dim, bool keepdim, Tensor& out) {        \
    const DimMask mask = red::dim_mask(self, dim);                                                \
    if (!extreme_served(self, mask) || !served_out(self, out) ||                                  \
        out.scalar_type() != self.scalar_type()) {                                                \
      return GF_FALLBACK(self, name##_outf, self, dim, keepdim, out)();                           \
    }                                                                                             \
    resize_to(out, self, mask, keepdim);                                                          \
    red::run(plan_of(kind), self, mask, out);                                                     \
    return out;                                                                                   \
  }
GF_EXTREME_FORMS(amax, Kind::kMax)
GF_EXTREME_FORMS(amin, Kind::kMin)
#undef GF_EXTREME_FORMS

#define GF_FULL_EXTREME_FORMS(name, kind)                                                         \
  Tensor name(const Tensor& self) {                                                               \
    const DimMask mask = red::dim_mask(self, std::nullopt);                                       \
    if (!extreme_served(self, mask) || self.numel() == 0) return GF_FALLBACK(self, name, self)(); \
    Tensor out = at::empty({}, self.options());                                                   \
    red::run(plan_of(kind), self, mask, out);                                                     \
    return out;                                                                                   \
  }                                                                                               \
  Tensor& name##_unary_out(const Tensor& self, Tensor& out) {                                     \
    const DimMask mask = red::dim_mask(self, std::nullopt);                                       \
    if (!extreme_served(self, mask) || self.numel() == 0 || !served_out(self, out) ||             \
        out.scalar_type() != self.scalar_type()) {                                                \
      return GF_FALLBACK(self, name##_outf, self, out)();                                         \
    }                                                                                             \
    at::native::resize_output(out, {});                                                           \
    red::run(plan_of(kind), self, mask, out);                                                     \
    return out;                                                                                   \
  }
GF_FULL_EXTREME_FORMS(max, Kind::kMax)
GF_FULL_EXTREME_FORMS(min, Kind::kMin)
#undef GF_FULL_EXTREME_FORMS

// ---- max.dim, min.dim, argmax, argmin: values and first indices ----------------------------------
namespace {
bool arg_served(const Tensor& self, DimMask mask) {
  return served_tensor(self) && red::served_pair(Kind::kArgMax, self.scalar_type(), self.scalar_type()) &&
         !has_empty_reduced_dim(self, mask) && !(self.numel() == 0 && self.dim() == 0);
}
}  // namespace

#define GF_ARG_FORMS(name, kind, argname)                                                          \
  std::tuple<Tensor, Tensor> name##_dim(const Tensor& self, int64_t dim, bool keepdim) {          \
    const DimMask mask = red::dim_mask(self, dim);                                                \
    if (!arg_served(self, mask)) return GF_FALLBACK(self, name, self, dim, keepdim)();            \
    Tensor values = red::new_output(self, mask, keepdim, self.scalar_type());                     \
    Tensor indices = red::new_output(self, mask, keepdim, at::kLong);                             \
    red::run(plan_of(kind), self, mask, values, indices);                                         \
    return {values, indices};                                                                     \
  }                                                                                               \
  std::tuple<Tensor&, Tensor&> name##_dim_out(const Tensor& self, int64_t dim, bool keepdim,      \
                                              Tensor& values, Tensor& indices) {                  \
    const DimMask mask = red::dim_mask(self, dim);                                                \
    if (!arg_served(self, mask) || !served_out(self, values) || !served_out(self, indices) ||     \
        values.scalar_type() != self.scalar_type() || indices.scalar_type() != at::kLong) {       \
      return GF_FALLBACK(self, name##_outf, self, dim, keepdim, values, indices)();               \
    }                                                                                             \
    resize_to(values, self, mask, keepdim);                                                       \
    resize_to(indices, self, mask, keepdim);                                                      \
    red::run(plan_of(kind), self, mask, values, indices);                                         \
    return {values, indices};                                                                     \
  }                                                                                               \
  Tensor& argname##_out(const Tensor& self, optional<int64_t> dim, bool keepdim, Tensor& out) {   \
    const DimMask mask = red::dim_mask(self, dim ? at::OptionalIntArrayRef(*dim)                  \
                                                  : at::OptionalIntArrayRef(std::nullopt));       \
    if (!arg_served(self, mask) || !served_out(self, out) || out.scalar_type() != at::kLong ||    \
        (!dim && self.numel() == 0) || self.scalar_type() == at::kBool) {                         \
      return GF_FALLBACK(self, argname##_outf, self, dim, keepdim, out)();                        \
    }                                                                                             \
    if (dim) {                                                                                    \
      resize_to(out, self, mask, keepdim);                                                        \
      red::run(plan_of(kind), self, mask, Tensor(), out);                                         \
      return out;                                                                                 \
    }                                                                                             \
    /* over all dims the index is into the flattened tensor: logical order */                      \
    Tensor flat = at::empty({}, out.options());                                                   \
    red::run(plan_of(kind), self.contiguous(), mask, Tensor(), flat);                             \
    at::native::resize_output(out, std::vector<int64_t>(keepdim ? self.dim() : 0, 1));            \
    out.copy_(flat);                                                                              \
    return out;                                                                                   \
  }                                                                                               \
  Tensor argname(const Tensor& self, optional<int64_t> dim, bool keepdim) {                       \
    Tensor out = at::empty({0}, self.options().dtype(at::kLong));                                 \
    return ops::argname##_out(self, dim, keepdim, out);                                           \
  }
GF_ARG_FORMS(max, Kind::kArgMax, argmax)
GF_ARG_FORMS(min, Kind::kArgMin, argmin)
#undef GF_ARG_FORMS

// ---- all, any ------------------------------------------------------------------------------------
namespace {
bool logic_served(const Tensor& self) {
  return served_tensor(self) && red::served_pair(Kind::kAll, self.scalar_type(), at::kBool);
}
ScalarType logic_type(const Tensor& self) {
  return self.scalar_type() == at::kByte ? at::kByte : at::kBool;
}
// out as the engine's bool bytes (uint8 results share them)
Tensor as_bool(const Tensor& out) {
  return out.scalar_type() == at::kBool ? out : out.view(at::kBool);
}
Tensor logic(Kind kind, const Tensor& self, DimMask mask, bool keepdim) {
  Tensor out = red::new_output(self, mask, keepdim, logic_type(self));
  red::run(plan_of(kind), self, mask, as_bool(out));
  return out;
}
Tensor& logic_out(Kind kind, const Tensor& self, DimMask mask, bool keepdim, Tensor& out) {
  resize_to(out, self, mask, keepdim);
  red::run(plan_of(kind), self, mask, as_bool(out));
  return out;
}
// torch's uint8 result of a floating input is not the bool bytes: left to torch
bool logic_out_served(const Tensor& self, const Tensor& out) {
  return logic_served(self) && served_out(self, out) &&
         (out.scalar_type() == at::kBool ||
          (out.scalar_type() == at::kByte && at::isIntegralType(self.scalar_type(), true)));
}
}  // namespace

#define GF_LOGIC_FORMS(name, kind)                                                                \
  Tensor name(const Tensor& self) {                                                               \
    if (!logic_served(self)) return GF_FALLBACK(self, name, self)();                              \
    return logic(kind, self, red::dim_mask(self, std::nullopt), false);                           \
  }                                                                                               \
  Tensor name##_dim(const Tensor& self, int64_t dim, bool keepdim) {                              \
    const DimMask mask = red::dim_mask(self, dim);                                                \
    if (!logic_served(self)) return GF_FALLBACK(self, name, self, dim, keepdim)();                \
    return logic(kind, self, mask, keepdim);                                                      \
  }                                                                                               \
  Tensor name##_dims(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim) {             \
    if (!logic_served(self) || (dim && dim->empty())) {                                           \
      return GF_FALLBACK(self, name, self, dim, keepdim)();                                       \
    }                                                                                             \
    return logic(kind, self, red::dim_mask(self, dim), keepdim);                                  \
  }                                                                                               \
  Tensor& name##_dim_out(const Tensor& self, int64_t dim, bool keepdim, Tensor& out) {            \
    const DimMask mask = red::dim_mask(self, dim);                                                \
    if (!logic_out_served(self, out)) return GF_FALLBACK(self, name##_outf, self, dim, keepdim, out)(); \
    return logic_out(kind, self, mask, keepdim, out);                                             \
  }                                                                                               \
  Tensor& name##_dims_out(const Tensor& self, at::OptionalIntArrayRef dim, bool keepdim, Tensor& out) { \
    if (!logic_out_served(self, out) || (dim && dim->empty())) {                                  \
      return GF_FALLBACK(self, name##_outf, self, dim, keepdim, out)();                           \
    }                                                                                             \
    return logic_out(kind, self, red::dim_mask(self, dim), keepdim, out);                         \
  }                                                                                               \
  Tensor& name##_all_out(const Tensor& self, Tensor& out) {                                       \
    if (!logic_out_served(self, out)) return GF_FALLBACK(self, name##_outf, self, out)();         \
    return logic_out(kind, self, red::dim_mask(self, std::nullopt), false, out);                  \
  }
GF_LOGIC_FORMS(all, Kind::kAll)
GF_LOGIC_FORMS(any, Kind::kAny)
#undef GF_LOGIC_FORMS

// ---- var, std, var_mean, std_mean -----------------------------------------------------------------
namespace {
bool var_served(const Tensor& self) {
  return served_tensor(self) && red::served_pair(Kind::kVar, self.scalar_type(), self.scalar_type());
}
Plan var_plan(const optional<Scalar>& correction, bool take_sqrt) {
  Plan p = plan_of(Kind::kVar);
  p.correction = correction ? correction->toDouble() : 1.0;
  p.take_sqrt = take_sqrt;
  return p;
}
}  // namespace

#define GF_VAR_FORMS(name, take_sqrt)                                                             \
  Tensor name##_correction(const Tensor& self, at::OptionalIntArrayRef dim,                       \
                           const optional<Scalar>& correction, bool keepdim) {                    \
    if (!var_served(self)) return GF_FALLBACK(self, name, self, dim, correction, keepdim)();      \
    const DimMask mask = red::dim_mask(self, dim);                                                \
    Tensor out = red::new_output(self, mask, keepdim, self.scalar_type());                        \
    red::run(var_plan(correction, take_sqrt), self, mask, out);                                   \
    return out;                                                                                   \
  }                                                                                               \
  Tensor& name##_correction_out(const Tensor& self, at::OptionalIntArrayRef dim,                  \
                                const optional<Scalar>& correction, bool keepdim, Tensor& out) {  \
    if (!var_served(self) || !served_out(self, out) || out.scalar_type() != self.scalar_type()) { \
      return GF_FALLBACK(self, name##_outf, self, dim, correction, keepdim, out)();               \
    }                                                                                             \
    const DimMask mask = red::dim_mask(self, dim);                                                \
    resize_to(out, self, mask, keepdim);                                                          \
    red::run(var_plan(correction, take_sqrt), self, mask, out);                                   \
    return out;                                                                                   \
  }                                                                                               \
  std::tuple<Tensor, Tensor> name##_mean_correction(const Tensor& self, at::OptionalIntArrayRef dim, \
                                                    const optional<Scalar>& correction, bool keepdim) { \
    if (!var_served(self)) return GF_FALLBACK(self, name##_mean, self, dim, correction, keepdim)(); \
    const DimMask mask = red::dim_mask(self, dim);                                                \
    Tensor out = red::new_output(self, mask, keepdim, self.scalar_type());                        \
    Tensor mean = red::new_output(self, mask, keepdim, self.scalar_type());                       \
    red::run(var_plan(correction, take_sqrt), self, mask, out, mean);                             \
    return {out, mean};                                                                           \
  }                                                                                               \
  std::tuple<Tensor&, Tensor&> name##_mean_correction_out(                                        \
      const Tensor& self, at::OptionalIntArrayRef dim, const optional<Scalar>& correction,        \
      bool keepdim, Tensor& out0, Tensor& out1) {                                                 \
    if (!var_served(self) || !served_out(self, out0) || !served_out(self, out1) ||                \
        out0.scalar_type() != self.scalar_type() || out1.scalar_type() != self.scalar_type()) {   \
      return GF_FALLBACK_TO(at::compositeexplicitautograd::name##_mean_outf(                      \
          self, dim, correction, keepdim, out0, out1))();                                         \
    }                                                                                             \
    const DimMask mask = red::dim_mask(self, dim);                                                \
    resize_to(out0, self, mask, keepdim);                                                         \
    resize_to(out1, self, mask, keepdim);                                                         \
    red::run(var_plan(correction, take_sqrt), self, mask, out0, out1);                            \
    return {out0, out1};                                                                          \
  }
GF_VAR_FORMS(var, false)
GF_VAR_FORMS(std, true)
#undef GF_VAR_FORMS

// ---- logsumexp ---------------------------------------------------------------------------------
Tensor logsumexp(const Tensor& self, at::IntArrayRef dim, bool keepdim) {
  const ScalarType type = at::isIntegralType(self.scalar_type(), true)
                              ? at::typeMetaToScalarType(at::get_default_dtype())
                              : self.scalar_type();
  if (!served_tensor(self) || dim.empty() || !red::served_pair(Kind::kLogSumExp, type, type)) {
    return GF_FALLBACK_TO(at::compositeexplicitautograd::logsumexp(self, dim, keepdim))();
  }
  const DimMask mask = red::dim_mask(self, dim);
  Tensor out = red::new_output(self, mask, keepdim, type);
  red::run(plan_of(Kind::kLogSumExp), type == self.scalar_type() ? self : self.to(type), mask, out);
  return out;
}

Tensor& logsumexp_out(const Tensor& self, at::IntArrayRef dim, bool keepdim, Tensor& out) {
  TORCH_CHECK(at::isFloatingType(out.scalar_type()) || at::isComplexType(out.scalar_type()),  // torch 2.11's rule
              "logsumexp(): Expected floating point type for result tensor, but got: ", out.scalar_type());
  const ScalarType type = at::isIntegralType(self.scalar_type(), true)
                              ? at::typeMetaToScalarType(at::get_default_dtype())
                              : self.scalar_type();
  if (!served_tensor(self) || dim.empty() || !served_out(self, out) || out.scalar_type() != type ||
      !red::served_pair(Kind::kLogSumExp, type, type)) {
    return GF_FALLBACK_TO(at::compositeexplicitautogradnonfunctional::logsumexp_outf(self, dim, keepdim, out))();
  }
  const DimMask mask = red::dim_mask(self, dim);
  resize_to(out, self, mask, keepdim);
  red::run(plan_of(Kind::kLogSumExp), type == self.scalar_type() ? self : self.to(type), mask, out);
  return out;
}

// ---- linalg_vector_norm ------------------------------------------------------------------------
namespace {
// The norm's result dtype, or none where torch raises or gemforge does not serve the call.
optional<ScalarType> norm_type(const Tensor& self, const Scalar& ord, DimMask mask,
                               optional<ScalarType> dtype) {
  const ScalarType in = self.scalar_type();
  if (!served_tensor(self) || !at::isFloatingType(in)) return std::nullopt;
  const ScalarType type = dtype.value_or(in);
  if (!at::isFloatingType(type) || at::promoteTypes(in, type) != type) return std::nullopt;
  const double p = ord.toDouble();
  if ((p < 0 || std::isinf(p)) && has_empty_reduced_dim(self, mask)) return std::nullopt;
  if (route(Kind::kNorm, in, type) == Route::kNone) return std::nullopt;
  return type;
}
Plan norm_plan(const Scalar& ord) {
  Plan plan = plan_of(Kind::kNorm);
  const double p = ord.toDouble();
  plan.p = p;
  plan.p_kind = p == 0 ? red::PNorm::kZero
              : p == 1 ? red::PNorm::kOne
              : p == 2 ? red::PNorm::kTwo
              : p == INFINITY ? red::PNorm::kInf
              : p == -INFINITY ? red::PNorm::kNegInf
                               : red::PNorm::kGeneral;
  return plan;
}
}  // namespace

Tensor linalg_vector_norm(const Tensor& self, const Scalar& ord, at::OptionalIntArrayRef dim,
                          bool keepdim, optional<ScalarType> dtype) {
  const DimMask mask = red::dim_mask(self, dim);
  const auto type = norm_type(self, ord, mask, dtype);
  if (!type) return GF_FALLBACK(self, linalg_vector_norm, self, ord, dim, keepdim, dtype)();
  Tensor out = red::new_output(self, mask, keepdim, *type);
  compute(norm_plan(ord), self, mask, out);
  return out;
}

Tensor& linalg_vector_norm_out(const Tensor& self, const Scalar& ord, at::OptionalIntArrayRef dim,
                               bool keepdim, optional<ScalarType> dtype, Tensor& out) {
  const DimMask mask = red::dim_mask(self, dim);
  const auto type = norm_type(self, ord, mask, dtype);
  if (!type || !served_out(self, out) || out.scalar_type() != *type) {
    return GF_FALLBACK(self, linalg_vector_norm_outf, self, ord, dim, keepdim, dtype, out)();
  }
  resize_to(out, self, mask, keepdim);
  compute(norm_plan(ord), self, mask, out);
  return out;
}

// ---- norm: torch's older p-norm, the same reduction as linalg_vector_norm ------------------------
namespace {
bool norm_served(const Tensor& self, const Scalar& ord, at::IntArrayRef dim, optional<ScalarType> dtype) {
  if (dim.empty() || !served_tensor(self) || !at::isFloatingType(self.scalar_type())) return false;
  return norm_type(self, ord, red::dim_mask(self, dim), dtype).has_value();
}
}  // namespace

Tensor norm_dim(const Tensor& self, const optional<Scalar>& p, at::IntArrayRef dim, bool keepdim) {
  const Scalar ord = p.value_or(2);
  if (!norm_served(self, ord, dim, std::nullopt)) return GF_FALLBACK(self, norm, self, p, dim, keepdim)();
  return ops::linalg_vector_norm(self, ord, dim, keepdim, std::nullopt);
}

Tensor norm_dim_dtype(const Tensor& self, const optional<Scalar>& p, at::IntArrayRef dim, bool keepdim,
                      ScalarType dtype) {
  const Scalar ord = p.value_or(2);
  if (!norm_served(self, ord, dim, dtype)) return GF_FALLBACK(self, norm, self, p, dim, keepdim, dtype)();
  return ops::linalg_vector_norm(self, ord, dim, keepdim, dtype);
}

Tensor& norm_out(const Tensor& self, const optional<Scalar>& p, at::IntArrayRef dim, bool keepdim, Tensor& out) {
  const Scalar ord = p.value_or(2);
  if (!norm_served(self, ord, dim, std::nullopt) || out.scalar_type() != self.scalar_type()) {
    return GF_FALLBACK(self, norm_outf, self, p, dim, keepdim, out)();
  }
  return ops::linalg_vector_norm_out(self, ord, dim, keepdim, std::nullopt, out);
}

Tensor& norm_dtype_out(const Tensor& self, const optional<Scalar>& p, at::IntArrayRef dim, bool keepdim,
                       ScalarType dtype, Tensor& out) {
  const Scalar ord = p.value_or(2);
  if (!norm_served(self, ord, dim, dtype) || out.scalar_type() != dtype) {
    return GF_FALLBACK(self, norm_outf, self, p, dim, keepdim, dtype, out)();
  }
  return ops::linalg_vector_norm_out(self, ord, dim, keepdim, dtype, out);
}

// ---- count_nonzero -----------------------------------------------------------------------------
Tensor count_nonzero_dims(const Tensor& self, at::IntArrayRef dim) {
  if (!served_tensor(self) || dim.empty() ||
      !red::served_pair(Kind::kCountNonzero, self.scalar_type(), at::kLong)) {
    return GF_FALLBACK(self, count_nonzero, self, dim)();
  }
  const DimMask mask = red::dim_mask(self, dim);
  Tensor out = red::new_output(self, mask, false, at::kLong);
  red::run(plan_of(Kind::kCountNonzero), self, mask, out);
  return out;
}

Tensor count_nonzero(const Tensor& self, optional<int64_t> dim) {
  if (!served_tensor(self) || !red::served_pair(Kind::kCountNonzero, self.scalar_type(), at::kLong)) {
    return GF_FALLBACK_TO(at::compositeexplicitautograd::count_nonzero(self, dim))();
  }
  const DimMask mask = dim ? red::dim_mask(self, *dim) : red::dim_mask(self, std::nullopt);
  Tensor out = red::new_output(self, mask, false, at::kLong);
  red::run(plan_of(Kind::kCountNonzero), self, mask, out);
  return out;
}

// ---- aminmax -------------------------------------------------------------------------------------
std::tuple<Tensor&, Tensor&> aminmax_out(const Tensor& self, optional<int64_t> dim, bool keepdim,
                                         Tensor& min, Tensor& max) {
  const DimMask mask = dim ? red::dim_mask(self, *dim) : red::dim_mask(self, std::nullopt);
  if (!served_tensor(self) || !red::served_pair(Kind::kMinMax, self.scalar_type(), self.scalar_type()) ||
      has_empty_reduced_dim(self, mask) || self.numel() == 0 || !served_out(self, min) ||
      !served_out(self, max) || min.scalar_type() != self.scalar_type() ||
      max.scalar_type() != self.scalar_type()) {
    return GF_FALLBACK(self, aminmax_outf, self, dim, keepdim, min, max)();
  }
  const std::vector<int64_t> shape = dim ? red::reduced_shape(self, mask, keepdim)
                                         : std::vector<int64_t>(keepdim ? self.dim() : 0, 1);
  at::native::resize_output(min, shape);
  at::native::resize_output(max, shape);
  if (!dim && keepdim && self.is_cuda()) {
    // torch's cuda kernel for all dims re-shapes its (all-ones, keepdim) results to 0-d, with
    // resize_output's warning; the cpu kernel keeps them. Same here, for parity on each device.
    at::native::resize_output(min, {});
    at::native::resize_output(max, {});
  }
  // over all dims with keepdim the results are all-ones shapes: the engine sees them flat
  if (dim || !keepdim || self.is_cuda()) {
    red::run(plan_of(Kind::kMinMax), self, mask, min, max);
  } else {
    const std::vector<int64_t> scalar;
    Tensor lo = min.view(scalar), hi = max.view(scalar);
    red::run(plan_of(Kind::kMinMax), self, mask, lo, hi);
  }
  return {min, max};
}

std::tuple<Tensor, Tensor> aminmax(const Tensor& self, optional<int64_t> dim, bool keepdim) {
  Tensor min = at::empty({0}, self.options()), max = at::empty({0}, self.options());
  ops::aminmax_out(self, dim, keepdim, min, max);
  return {min, max};
}

}  // namespace gemforge::ops
