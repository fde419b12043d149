// Small reductions built on the reduction engine's entry points (ops/reduction.cpp) and the
// pointwise ops: trace, equal, _is_all_true / _is_any_true, allclose, is_nonzero, norm without dims,
// renorm, and weight norm (_weight_norm_interface and its backward). Each checks what torch
// checks; what it does not serve (complex, other layouts, mixed dtypes) goes to torch's kernel.
#include "ops/ops.h"
#include "ops/pointwise/common.h"

#include <ATen/ATen.h>
#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/WrapDimUtils.h>
#include <ATen/native/Resize.h>

#include <vector>

namespace gemforge::ops {
namespace {

using std::optional;

bool on_backend(const Tensor& t) {
  return (t.is_cpu() || t.is_cuda()) && t.layout() == at::kStrided && !t.is_quantized();
}
bool real_floating(const Tensor& t) { return at::isFloatingType(t.scalar_type()); }

// fp16/bf16 accumulate (and keep norms) in float, as torch does.
ScalarType acc_type(ScalarType t) {
  return t == at::kHalf || t == at::kBFloat16 ? at::kFloat : t;
}

// Every dim of `self` but `dim`.
std::vector<int64_t> dims_except(const Tensor& self, int64_t dim) {
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < self.dim(); ++d)
    if (d != dim) dims.push_back(d);
  return dims;
}

}  // namespace

// ---- trace: the sum of the diagonal (integers to int64, as sum) ----------------------------------
namespace {
void check_trace(const Tensor& self) {
  TORCH_CHECK(self.dim() == 2, "trace: expected a matrix, but got tensor with dim ", self.dim());
}
// torch has no bool, fp16 or bf16 trace (its NotImplementedError), and complex goes to torch.
bool trace_served(const Tensor& self) {
  const ScalarType t = self.scalar_type();
  return on_backend(self) && !at::isComplexType(t) && t != at::kBool && t != at::kHalf && t != at::kBFloat16;
}
}  // namespace

Tensor trace(const Tensor& self) {
  check_trace(self);
  if (!trace_served(self)) return GF_FALLBACK(self, trace, self)();
  return ops::sum_dim(self.diagonal(), std::nullopt, false, std::nullopt);
}

Tensor& trace_out(const Tensor& self, Tensor& out) {
  check_trace(self);
  const ScalarType type = at::isIntegralType(self.scalar_type(), true) ? at::kLong : self.scalar_type();
  if (!trace_served(self) || out.scalar_type() != type || out.device() != self.device())
    return GF_FALLBACK_TO(at::compositeexplicitautograd::trace_outf(self, out))();
  return ops::sum_dim_out(self.diagonal(), std::nullopt, false, std::nullopt, out);
}

// ---- equal, _is_all_true, _is_any_true, allclose -------------------------------------------------
bool equal(const Tensor& self, const Tensor& other) {
  if (!on_backend(self) || self.device() != other.device() || self.scalar_type() != other.scalar_type() ||
      self.is_complex() || self.has_names() || other.has_names())
    return GF_FALLBACK(self, equal, self, other)();
  if (!self.sizes().equals(other.sizes())) return false;
  if (self.numel() == 0) return true;
  // The same view of the same memory: torch's cuda kernel says equal, NaN included (its cpu
  // kernel says so for integers only and still scans floats for NaN: the eq path below)
  if ((self.is_cuda() || c10::isIntegralType(self.scalar_type(), true)) && self.is_alias_of(other) && self.storage_offset() == other.storage_offset() &&
      self.strides().equals(other.strides()) && self.is_neg() == other.is_neg() &&
      self.is_conj() == other.is_conj())
    return true;
  return ops::all(ops::eq(self, other)).item<bool>();  // NaN is unequal to itself, as torch
}

Tensor _is_all_true(const Tensor& self) {
  TORCH_INTERNAL_ASSERT(self.scalar_type() == at::kBool);
  return ops::all(self);
}

Tensor _is_any_true(const Tensor& self) {
  TORCH_INTERNAL_ASSERT(self.scalar_type() == at::kBool);
  return ops::any(self);
}

bool allclose(const Tensor& self, const Tensor& other, double rtol, double atol, bool equal_nan) {
  // isclose is torch's composite of served ops (its checks: dtypes, rtol/atol >= 0, shapes)
  return ops::all(at::isclose(self, other, rtol, atol, equal_nan)).item<bool>();
}

// is_nonzero (Python's bool(tensor)): torch's checks, then the one value read back (on cuda by
// gemforge's _local_scalar_dense).
bool is_nonzero(const Tensor& self) {
  const int64_t n = self.numel();
  TORCH_CHECK(n != 0, "Boolean value of Tensor with no values is ambiguous");
  TORCH_CHECK(n <= 1, "Boolean value of Tensor with more than one value is ambiguous");
  const Scalar v = self.item();
  if (v.isFloatingPoint()) return v.to<double>() != 0;
  if (v.isComplex()) return v.to<c10::complex<double>>() != c10::complex<double>(0.0, 0.0);
  if (v.isBoolean()) return v.to<bool>();
  return v.to<int64_t>() != 0;
}

// ---- norm over every element: linalg_vector_norm -----------------------------------------------
namespace {
void check_norm_input(const Tensor& self) {
  TORCH_CHECK(at::isFloatingType(self.scalar_type()) || at::isComplexType(self.scalar_type()),
              "norm(): input dtype should be either floating point or complex. Got ", self.scalar_type(),
              " instead.");
}
}  // namespace

Tensor norm_scalar(const Tensor& self, const Scalar& p) {
  check_norm_input(self);
  if (!on_backend(self) || !real_floating(self))
    return GF_FALLBACK_TO(at::compositeexplicitautograd::norm(self, p))();
  return ops::linalg_vector_norm(self, p, std::nullopt, false, std::nullopt);
}

Tensor& norm_scalar_out(const Tensor& self, const Scalar& p, Tensor& out) {
  check_norm_input(self);
  if (!on_backend(self) || !real_floating(self) || out.scalar_type() != self.scalar_type())
    return GF_FALLBACK_TO(at::compositeexplicitautograd::norm_outf(self, p, out))();
  return ops::linalg_vector_norm_out(self, p, std::nullopt, false, std::nullopt, out);
}

Tensor norm_scalaropt_dtype(const Tensor& self, const optional<Scalar>& p, ScalarType dtype) {
  check_norm_input(self);
  if (!on_backend(self) || !real_floating(self))
    return GF_FALLBACK_TO(at::compositeexplicitautograd::norm(self, p, dtype))();
  return ops::linalg_vector_norm(self, p.value_or(2), std::nullopt, false, dtype);
}

Tensor& norm_scalaropt_dtype_out(const Tensor& self, const optional<Scalar>& p, ScalarType dtype, Tensor& out) {
  check_norm_input(self);
  if (!on_backend(self) || !real_floating(self) || out.scalar_type() != dtype)
    return GF_FALLBACK_TO(at::compositeexplicitautograd::norm_outf(self, p, dtype, out))();
  return ops::linalg_vector_norm_out(self, p.value_or(2), std::nullopt, false, dtype, out);
}

// ---- renorm: each slice along dim scaled down to a p-norm of at most maxnorm ----------------------
namespace {
int64_t check_renorm(const Tensor& self, const Scalar& p, int64_t dim, const Scalar& maxnorm) {
  TORCH_CHECK(!p.isComplex(), "renorm: p must be real-valued");
  TORCH_CHECK(p.toDouble() > 0.0, "renorm: non-positive-norm not supported");
  TORCH_CHECK(!maxnorm.isComplex(), "renorm: maxnorm must be real-valued");
  TORCH_CHECK(maxnorm.toDouble() >= 0.0, "renorm: expected maxnorm to be >= 0 but got ", maxnorm.toDouble());
  TORCH_CHECK(self.dim() > 1, "renorm: input needs at least 2 dimensions, got ", self.dim(), " dimensions");
  return at::maybe_wrap_dim(dim, self.dim());
}

// out = self * (norm > maxnorm ? maxnorm / (norm + 1e-7) : 1), norm over every dim but `dim`,
// in the accumulation type (torch's formula and epsilon).
void renorm_into(const Tensor& self, const Scalar& p, int64_t dim, const Scalar& maxnorm, Tensor& out) {
  const Tensor norm = ops::linalg_vector_norm(self, p, dims_except(self, dim), true, acc_type(self.scalar_type()));
  const double limit = maxnorm.toDouble();
  const Tensor factor = at::where(norm > limit, at::div(wrap(Scalar(limit)), norm + 1e-7), wrap(Scalar(1.0)));
  ops::mul_out(self, factor, out);
}
}  // namespace

Tensor renorm(const Tensor& self, const Scalar& p, int64_t dim, const Scalar& maxnorm) {
  const int64_t d = check_renorm(self, p, dim, maxnorm);
  if (!on_backend(self) || !real_floating(self)) return GF_FALLBACK(self, renorm, self, p, dim, maxnorm)();
  Tensor out = at::empty(self.sizes(), self.options());  // contiguous, as torch's
  renorm_into(self, p, d, maxnorm, out);
  return out;
}

Tensor& renorm_(Tensor& self, const Scalar& p, int64_t dim, const Scalar& maxnorm) {
  const int64_t d = check_renorm(self, p, dim, maxnorm);
  if (!on_backend(self) || !real_floating(self)) return GF_FALLBACK(self, renorm_, self, p, dim, maxnorm)();
  renorm_into(self, p, d, maxnorm, self);
  return self;
}

Tensor& renorm_out(const Tensor& self, const Scalar& p, int64_t dim, const Scalar& maxnorm, Tensor& out) {
  const int64_t d = check_renorm(self, p, dim, maxnorm);
  if (!on_backend(self) || !real_floating(self) || out.scalar_type() != self.scalar_type() ||
      out.device() != self.device())
    return GF_FALLBACK(self, renorm_outf, self, p, dim, maxnorm, out)();
  at::native::resize_output(out, self.sizes());
  renorm_into(self, p, d, maxnorm, out);
  return out;
}

// ---- weight norm: w = g v / ||v||, the norm over every dim but `dim` (0 or the last) -----------
namespace {
// torch serves dim 0 and the last dim only (an internal assert for others: left to torch).
bool weight_norm_served(const Tensor& v, const Tensor& g, int64_t dim) {
  return on_backend(v) && real_floating(v) && g.scalar_type() == v.scalar_type() && g.device() == v.device() &&
         v.dim() > 1 && (dim == 0 || dim == v.dim() - 1) && g.numel() == v.size(dim);
}
// The shape of the norms: v's with every dim but `dim` of size 1.
std::vector<int64_t> norms_shape(const Tensor& v, int64_t dim) {
  std::vector<int64_t> shape(v.dim(), 1);
  shape[dim] = v.size(dim);
  return shape;
}
}  // namespace

std::tuple<Tensor, Tensor> _weight_norm_interface(const Tensor& v, const Tensor& g, int64_t dim) {
  if (!weight_norm_served(v, g, dim)) return GF_FALLBACK(v, _weight_norm_interface, v, g, dim)();
  const Tensor norms = ops::linalg_vector_norm(v, 2, dims_except(v, dim), true, acc_type(v.scalar_type()));
  const Tensor scale = at::div(g.reshape(norms_shape(v, dim)), norms);  // in the norms' type
  Tensor w = at::empty_like(v, at::MemoryFormat::Contiguous);
  ops::mul_out(v, scale, w);
  return {w, norms};
}

// grad_g = sum(grad_w v) / norm; grad_v = g / norm (grad_w - v grad_g / norm).
std::tuple<Tensor, Tensor> _weight_norm_interface_backward(const Tensor& grad_w, const Tensor& saved_v,
                                                           const Tensor& saved_g, const Tensor& saved_norms,
                                                           int64_t dim) {
  const Tensor& v = saved_v;
  const ScalarType acc = acc_type(v.scalar_type());
  if (!weight_norm_served(v, saved_g, dim) || grad_w.scalar_type() != v.scalar_type() ||
      grad_w.device() != v.device() || !grad_w.sizes().equals(v.sizes()) ||
      saved_norms.scalar_type() != acc || saved_norms.numel() != v.size(dim) || !v.is_contiguous() ||
      !saved_g.is_contiguous() || !saved_norms.is_contiguous())
    return GF_FALLBACK(v, _weight_norm_interface_backward, grad_w, saved_v, saved_g, saved_norms, dim)();
  const std::vector<int64_t> shape = norms_shape(v, dim);
  const Tensor norms = saved_norms.reshape(shape);
  const Tensor g = saved_g.reshape(shape).to(acc);
  const Tensor dot = ops::sum_dim(at::mul(grad_w.to(acc), v.to(acc)), dims_except(v, dim), true, acc);
  const Tensor grad_g_acc = dot / norms;
  const Tensor coef = g / norms;                  // d w / d v along grad_w
  const Tensor coef_v = coef * grad_g_acc / norms;  // ... and along v
  Tensor grad_v = at::empty_like(v, at::MemoryFormat::Contiguous);
  grad_v.copy_(at::sub(at::mul(grad_w, coef), at::mul(v, coef_v)));
  Tensor grad_g = grad_g_acc.to(saved_g.scalar_type()).reshape(saved_g.sizes());
  return {grad_v, grad_g};
}

}  // namespace gemforge::ops
