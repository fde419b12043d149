// softmax and log_softmax, forward and backward, and _safe_softmax, on the row engine. softmax,
// log_softmax and their special_ names are torch's composites of these. Anything not served
// (other dtypes, half_to_float on the cpu, out= of another dtype) goes to torch's kernel, which
// also raises torch's errors for it.
#include "ops/ops.h"
#include "ops/rows_common.h"

#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/WrapDimUtils.h>

#include <limits>

namespace gemforge::ops {
namespace {

using namespace rows_detail;

// [outer, n, inner] around dim of sizes (a 0-d tensor is one element)
struct Split {
  int64_t outer = 1, n = 1, inner = 1;
};
Split split_at(at::IntArrayRef sizes, int64_t dim) {
  Split s;
  for (int64_t i = 0; i < int64_t(sizes.size()); ++i) {
    if (i < dim) s.outer *= sizes[i];
    else if (i == dim) s.n = sizes[i];
    else s.inner *= sizes[i];
  }
  return s;
}

// half_to_float: a Half input with a Float result, which only torch's cuda kernel has.
bool fwd_served(const Tensor& self, bool half_to_float) {
  if (!on_backend(self) || !row_dtype(self)) return false;
  return !half_to_float || (self.is_cuda() && self.scalar_type() == at::kHalf);
}

void softmax_into(const Tensor& self, int64_t dim, bool log, bool safe, const Tensor& out) {
  const Tensor x = self.contiguous();
  const Split s = split_at(x.sizes(), dim);
  rows::SoftmaxFwd p{x.scalar_type(), out.scalar_type(), x.data_ptr(), out.data_ptr(),
                     s.outer, s.n, s.inner, log, safe};
  OnDevice on(x);
  GF_ROWS(x, softmax_fwd, p);
}

Tensor softmax_functional(const Tensor& self, int64_t dim, bool half_to_float, bool log) {
  const int64_t d = at::maybe_wrap_dim(dim, self.dim());
  Tensor out = at::empty(self.sizes(), self.options().dtype(half_to_float ? at::kFloat : self.scalar_type()));
  if (out.numel() > 0) softmax_into(self, d, log, /*safe=*/false, out);
  return out;
}

Tensor& softmax_out_form(const Tensor& self, int64_t dim, bool half_to_float, bool log, Tensor& out) {
  const int64_t d = at::maybe_wrap_dim(dim, self.dim());
  return write_out(out, self.sizes(), [&](const Tensor& dense) { softmax_into(self, d, log, false, dense); });
}

// A non-contiguous out goes to torch: its kernels write such an out in their own way (the cpu's
// as if it were contiguous), which gemforge does not imitate.
bool out_matches(const Tensor& out, const Tensor& self, ScalarType dtype) {
  return out.scalar_type() == dtype && out.device() == self.device() && on_backend(out) &&
         out.is_contiguous();
}

// grad_input's dtype: input_dtype where torch's kernel allows it (the Float grads of a Half
// input on cuda), grad's otherwise; nothing when gemforge leaves the call to torch.
std::optional<ScalarType> bwd_dtype(const Tensor& grad, const Tensor& output, ScalarType input_dtype) {
  if (!on_backend(grad) || !row_dtype(grad) || grad.scalar_type() != output.scalar_type() ||
      grad.sizes() != output.sizes() || grad.device() != output.device())
    return std::nullopt;
  if (input_dtype == grad.scalar_type()) return input_dtype;
  if (grad.is_cuda() && grad.scalar_type() == at::kFloat && input_dtype == at::kHalf) return at::kHalf;
  return std::nullopt;
}

void softmax_bwd_into(const Tensor& grad, const Tensor& output, int64_t dim, bool log, const Tensor& out) {
  const Tensor g = grad.contiguous(), y = output.contiguous();
  const Split s = split_at(g.sizes(), dim);
  rows::SoftmaxBwd p{g.scalar_type(), out.scalar_type(), g.data_ptr(), y.data_ptr(), out.data_ptr(),
                     s.outer, s.n, s.inner, log};
  OnDevice on(g);
  GF_ROWS(g, softmax_bwd, p);
}

Tensor softmax_bwd_functional(const Tensor& grad, const Tensor& output, int64_t dim, ScalarType dtype, bool log) {
  const int64_t d = at::maybe_wrap_dim(dim, grad.dim());
  Tensor out = at::empty(grad.sizes(), grad.options().dtype(dtype));
  if (out.numel() > 0) softmax_bwd_into(grad, output, d, log, out);
  return out;
}

}  // namespace

Tensor _softmax(const Tensor& self, int64_t dim, bool half_to_float) {
  if (!fwd_served(self, half_to_float)) return GF_FALLBACK(self, _softmax, self, dim, half_to_float)();
  return softmax_functional(self, dim, half_to_float, /*log=*/false);
}

Tensor& _softmax_out(const Tensor& self, int64_t dim, bool half_to_float, Tensor& out) {
  if (!fwd_served(self, half_to_float) || !out_matches(out, self, half_to_float ? at::kFloat : self.scalar_type()))
    return GF_FALLBACK(self, _softmax_outf, self, dim, half_to_float, out)();
  return softmax_out_form(self, dim, half_to_float, false, out);
}

Tensor _log_softmax(const Tensor& self, int64_t dim, bool half_to_float) {
  if (!fwd_served(self, half_to_float)) return GF_FALLBACK(self, _log_softmax, self, dim, half_to_float)();
  return softmax_functional(self, dim, half_to_float, /*log=*/true);
}

Tensor& _log_softmax_out(const Tensor& self, int64_t dim, bool half_to_float, Tensor& out) {
  if (!fwd_served(self, half_to_float) || !out_matches(out, self, half_to_float ? at::kFloat : self.scalar_type()))
    return GF_FALLBACK(self, _log_softmax_outf, self, dim, half_to_float, out)();
  return softmax_out_form(self, dim, half_to_float, true, out);
}

Tensor _softmax_backward_data(const Tensor& grad_output, const Tensor& output, int64_t dim, ScalarType input_dtype) {
  const auto dtype = bwd_dtype(grad_output, output, input_dtype);
  if (!dtype) return GF_FALLBACK(grad_output, _softmax_backward_data, grad_output, output, dim, input_dtype)();
  return softmax_bwd_functional(grad_output, output, dim, *dtype, /*log=*/false);
}

Tensor& _softmax_backward_data_out(const Tensor& grad_output, const Tensor& output, int64_t dim,
                                   ScalarType input_dtype, Tensor& grad_input) {
  const auto dtype = bwd_dtype(grad_output, output, input_dtype);
  if (!dtype || !out_matches(grad_input, grad_output, *dtype))
    return GF_FALLBACK(grad_output, _softmax_backward_data_outf, grad_output, output, dim, input_dtype, grad_input)();
  const int64_t d = at::maybe_wrap_dim(dim, grad_output.dim());
  return write_out(grad_input, grad_output.sizes(),
                   [&](const Tensor& dense) { softmax_bwd_into(grad_output, output, d, false, dense); });
}

Tensor _log_softmax_backward_data(const Tensor& grad_output, const Tensor& output, int64_t dim, ScalarType input_dtype) {
  const auto dtype = bwd_dtype(grad_output, output, input_dtype);
  if (!dtype) return GF_FALLBACK(grad_output, _log_softmax_backward_data, grad_output, output, dim, input_dtype)();
  return softmax_bwd_functional(grad_output, output, dim, *dtype, /*log=*/true);
}

Tensor& _log_softmax_backward_data_out(const Tensor& grad_output, const Tensor& output, int64_t dim,
                                       ScalarType input_dtype, Tensor& out) {
  const auto dtype = bwd_dtype(grad_output, output, input_dtype);
  if (!dtype || !out_matches(out, grad_output, *dtype))
    return GF_FALLBACK(grad_output, _log_softmax_backward_data_outf, grad_output, output, dim, input_dtype, out)();
  const int64_t d = at::maybe_wrap_dim(dim, grad_output.dim());
  return write_out(out, grad_output.sizes(),
                   [&](const Tensor& dense) { softmax_bwd_into(grad_output, output, d, true, dense); });
}

// softmax, with zeros for a row that is -inf throughout (masked attention rows).
Tensor _safe_softmax(const Tensor& self, int64_t dim, std::optional<ScalarType> dtype) {
  const Tensor x = dtype && *dtype != self.scalar_type() ? self.to(*dtype) : self;
  if (!fwd_served(x, false)) {
    reg::note_fallback();
    return at::compositeexplicitautograd::_safe_softmax(self, dim, dtype);
  }
  const int64_t d = at::maybe_wrap_dim(dim, x.dim());
  Tensor out = at::empty(x.sizes(), x.options());
  if (out.numel() > 0) softmax_into(x, d, /*log=*/false, /*safe=*/true, out);
  return out;
}

}  // namespace gemforge::ops
