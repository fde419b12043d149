// Scans along one dim: cumsum, cumprod, cummax/cummin (through torch's _cummax_helper /
// _cummin_helper, which its composites cummax/cummin call), logcumsumexp (through
// _logcumsumexp). torch's argument checks and result dtypes; the scan engine does the work.
#include "engine/scan.h"
#include "ops/ops.h"
#include "ops/pointwise/common.h"

#include <ATen/ATen.h>
#include <ATen/NativeFunctions.h>
#include <ATen/WrapDimUtils.h>
#include <ATen/native/Resize.h>

namespace gemforge::ops {
namespace {

using scan::Op;

#ifdef GEMFORGE_WITH_CUDA
#define GF_NATIVE(t, cpu_fn, cuda_fn, ...) \
  ((t).is_cuda() ? at::native::cuda_fn(__VA_ARGS__) : at::native::cpu_fn(__VA_ARGS__))
#else
#define GF_NATIVE(t, cpu_fn, cuda_fn, ...) at::native::cpu_fn(__VA_ARGS__)
#endif

ScalarType cum_dtype(const Tensor& self, std::optional<ScalarType> dtype) {
  const bool integral = at::isIntegralType(self.scalar_type(), /*includeBool=*/true);
  return dtype.value_or(integral ? ScalarType::Long : self.scalar_type());
}

// out = the scan of self in out's dtype; false where no kernel serves it (the caller falls back).
bool cum_into(Op op, const Tensor& self, int64_t dim, const Tensor& out) {
  if (out.device() != self.device() || !scan::served(op, out)) return false;
  if (!has(kReal | kBool, self.scalar_type())) return false;
  scan::run(op, self.to(out.scalar_type()), dim, out);
  return true;
}

void check_out_dtype(std::optional<ScalarType> dtype, const Tensor& out) {
  TORCH_CHECK(!dtype || *dtype == out.scalar_type(), "Expected out tensor to have dtype ",
              *dtype, ", but got ", out.scalar_type(), " instead");
}

void check_inplace_dtype(std::optional<ScalarType> dtype, const Tensor& self) {
  TORCH_CHECK(!dtype || *dtype == self.scalar_type(), "Bad in-place call: input tensor dtype ",
              self.scalar_type(), " and output tensor dtype ", *dtype, " should match");
}

}  // namespace

// ---- cumsum, cumprod -------------------------------------------------------------------------
#define GF_CUM_FORMS(name, op)                                                                   \
  Tensor name(const Tensor& self, int64_t dim, std::optional<ScalarType> dtype) {                \
    at::maybe_wrap_dim(dim, self.dim());                                                         \
    Tensor out = at::empty(self.sizes(), self.options().dtype(cum_dtype(self, dtype)));          \
    if (cum_into(op, self, dim, out)) return out;                                                \
    reg::note_fallback();                                                                        \
    return GF_TORCH(self, name, self, dim, dtype);                                               \
  }                                                                                              \
  Tensor& name##_out(const Tensor& self, int64_t dim, std::optional<ScalarType> dtype, Tensor& out) { \
    at::maybe_wrap_dim(dim, self.dim());                                                         \
    check_out_dtype(dtype, out);                                                                 \
    if (out.device() == self.device()) {                                                         \
      at::native::resize_output(out, self.sizes());                                              \
      if (cum_into(op, self, dim, out)) return out;                                              \
    }                                                                                            \
    reg::note_fallback();                                                                        \
    return GF_TORCH(self, name##_outf, self, dim, dtype, out);                                   \
  }                                                                                              \
  Tensor& name##_(Tensor& self, int64_t dim, std::optional<ScalarType> dtype) {                  \
    at::maybe_wrap_dim(dim, self.dim());                                                         \
    check_inplace_dtype(dtype, self);                                                            \
    if (cum_into(op, self, dim, self)) return self;                                              \
    reg::note_fallback();                                                                        \
    return GF_TORCH(self, name##_, self, dim, dtype);                                            \
  }
GF_CUM_FORMS(cumsum, Op::sum)
GF_CUM_FORMS(cumprod, Op::prod)
#undef GF_CUM_FORMS

// ---- cummax, cummin: values and indices allocated (self's shape) by torch's composite ---------
namespace {
void cum_extreme(Op op, const Tensor& self, Tensor& values, Tensor& indices, int64_t dim) {
  const bool ok = scan::served(op, self) && values.scalar_type() == self.scalar_type() &&
                  indices.scalar_type() == ScalarType::Long && values.device() == self.device() &&
                  indices.device() == self.device() && values.sizes() == self.sizes() &&
                  indices.sizes() == self.sizes();
  if (ok) {
    at::maybe_wrap_dim(dim, self.dim());
    scan::run(op, self, dim, values, indices);
    return;
  }
  reg::note_fallback();
  if (op == Op::max) GF_NATIVE(self, cummax_helper_cpu, cummax_helper_cuda, self, values, indices, dim);
  else GF_NATIVE(self, cummin_helper_cpu, cummin_helper_cuda, self, values, indices, dim);
}
}  // namespace

void _cummax_helper(const Tensor& self, Tensor& values, Tensor& indices, int64_t dim) {
  cum_extreme(Op::max, self, values, indices, dim);
}
void _cummin_helper(const Tensor& self, Tensor& values, Tensor& indices, int64_t dim) {
  cum_extreme(Op::min, self, values, indices, dim);
}

// ---- logcumsumexp ------------------------------------------------------------------------------
Tensor _logcumsumexp(const Tensor& self, int64_t dim) {
  if (scan::served(Op::logsumexp, self)) {
    at::maybe_wrap_dim(dim, self.dim());
    Tensor out = at::empty(self.sizes(), self.options().memory_format(at::MemoryFormat::Contiguous));
    scan::run(Op::logsumexp, self, dim, out);
    return out;
  }
  reg::note_fallback();
  return GF_NATIVE(self, _logcumsumexp_cpu, _logcumsumexp_cuda, self, dim);
}

Tensor& _logcumsumexp_out(const Tensor& self, int64_t dim, Tensor& out) {
  if (scan::served(Op::logsumexp, self) && out.scalar_type() == self.scalar_type() &&
      out.device() == self.device()) {
    at::maybe_wrap_dim(dim, self.dim());
    at::native::resize_output(out, self.sizes());
    scan::run(Op::logsumexp, self, dim, out);
    return out;
  }
  reg::note_fallback();
  return GF_NATIVE(self, _logcumsumexp_out_cpu, _logcumsumexp_out_cuda, self, dim, out);
}

}  // namespace gemforge::ops
