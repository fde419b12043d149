// The index family: index_select and embedding (whole rows picked by an index), gather (one
// element per index), embedding_dense_backward (rows summed per index, deterministic),
// scatter_add and index_add (added at an index). torch's checks; any case outside the kernels'
// reach (another layout, mixed devices, quantized or conj views, odd out= tensors) goes to
// torch's own kernel, which also raises torch's errors for malformed calls.
#include "backends/index.h"
#include "ops/index.h"
#include "ops/pointwise/common.h"

#include <ATen/ATen.h>
#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/TensorUtils.h>
#include <ATen/WrapDimUtils.h>
#include <ATen/native/Resize.h>
#include <ATen/native/ScatterGatherChecks.h>
#include <c10/core/DeviceGuard.h>

#include <cstring>
#include <optional>

namespace gemforge::ops {
namespace {

#ifdef GEMFORGE_WITH_CUDA
#define GF_INDEX(t, fn, ...) ((t).is_cuda() ? index::fn##_cuda(__VA_ARGS__) : index::fn##_cpu(__VA_ARGS__))
#else
#define GF_INDEX(t, fn, ...) index::fn##_cpu(__VA_ARGS__)
#endif

struct OnDevice {  // the device of t current while a kernel launches
  c10::OptionalDeviceGuard guard;
  explicit OnDevice(const Tensor& t) {
    if (t.is_cuda()) guard.reset_device(t.device());
  }
};

// A plain dense tensor on a served device, none of conj/neg/quantized.
bool plain(const Tensor& t) {
  return (t.is_cpu() || t.is_cuda()) && t.layout() == at::kStrided && !t.is_quantized() &&
         !t.is_conj() && !t.is_neg();
}

bool index_dtype(const Tensor& index) {
  return index.scalar_type() == at::kLong || index.scalar_type() == at::kInt;
}

// A 0-d or 1-d index tensor's elements.
index::Indices indices_of(const Tensor& index) {
  return {index.const_data_ptr(), index.scalar_type() == at::kInt, index.numel(),
          index.dim() == 0 ? 1 : index.stride(0)};
}

// t as (outer, n, inner) around `dim` with its inner run contiguous: outer's dims must merge
// into one stride. None when they do not.
struct RowView {
  int64_t outer = 1, n = 1, inner = 1, s_outer = 0, s_dim = 0;
};
std::optional<RowView> row_view(const Tensor& t, int64_t dim) {
  RowView v;
  if (t.dim() == 0) return v;
  int64_t expected = 1;
  for (int64_t d = t.dim() - 1; d > dim; --d) {
    if (t.size(d) == 1) continue;
    if (t.stride(d) != expected) return std::nullopt;
    expected *= t.size(d);
  }
  v.inner = expected;  // the product of the sizes after dim
  v.n = t.size(dim);
  v.s_dim = t.stride(dim);
  bool first = true;
  for (int64_t d = dim - 1; d >= 0; --d) {
    if (t.size(d) == 1) continue;
    if (first) {
      v.s_outer = t.stride(d);
      first = false;
    } else if (t.stride(d) != expected) {
      return std::nullopt;
    }
    expected = t.stride(d) * t.size(d);
    v.outer *= t.size(d);
  }
  return v;
}

// ---- index_select ------------------------------------------------------------------------------
// out (sized, self's dtype, contiguous) = self's rows at index along dim; false when the kernel
// cannot take self's layout.
// The cpu checks the indices even when nothing is written, as torch does.
bool select_rows(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& out) {
  auto v = row_view(self, dim);
  if (!v) return false;
  if (out.numel() == 0 && (out.is_cuda() || (self.dim() > 1 && index.numel() == 0))) return true;
  // torch's cpu kernel checks the indices of its dim-1 and empty-self paths with a RuntimeError
  const bool range_error = self.dim() > 1 && (self.numel() == 0 || (dim == 1 && out.is_contiguous()));
  index::Rows r{range_error, int(self.element_size()), static_cast<char*>(out.data_ptr()),
                static_cast<const char*>(self.const_data_ptr()), indices_of(index),
                v->outer, v->n, v->inner, v->s_outer, v->s_dim};
  OnDevice on(out);
  GF_INDEX(out, gather_rows, r);
  return true;
}

bool select_served(const Tensor& self, const Tensor& index) {
  return plain(self) && index.device() == self.device() && index_dtype(index) && index.dim() <= 1 &&
         (self.dim() > 0 || index.numel() == 1) && (index.is_cpu() || index.is_cuda());
}

std::vector<int64_t> select_size(const Tensor& self, int64_t dim, const Tensor& index) {
  std::vector<int64_t> size = self.sizes().vec();
  if (self.dim() > 0) size[dim] = index.numel();
  return size;
}

// ---- element-wise along a dim (gather, scatter_add) --------------------------------------------
struct Dims {
  std::vector<int64_t> size, stride;
};
Dims dims_of(const Tensor& t) {
  if (t.dim() == 0) return {{1}, {1}};
  return {t.sizes().vec(), t.strides().vec()};
}

// The iteration over index's shape, size-1 dims dropped and mergeable dims merged; false when
// more than kMaxDims dims remain.
bool build_elems(index::Elems& e, int64_t dim, const Tensor& index, const Tensor& plain_t,
                 const Tensor& picked) {
  const Dims id = dims_of(index), pd = dims_of(plain_t), qd = dims_of(picked);
  const int64_t nd = int64_t(id.size.size());
  e.numel = index.numel();
  e.index = index.const_data_ptr();
  e.index32 = index.scalar_type() == at::kInt;
  e.picked_dim_stride = qd.stride[dim];
  e.picked_dim_size = qd.size[dim];
  e.error_dim = dim;
  int n = 0;
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t size = id.size[d];
    if (size == 1) continue;
    const int64_t is = id.stride[d], ps = pd.stride[d], qs = d == dim ? 0 : qd.stride[d];
    if (n > 0 && e.index_stride[n - 1] == is * size && e.plain_stride[n - 1] == ps * size &&
        e.picked_stride[n - 1] == qs * size) {
      e.size[n - 1] *= size;
      e.index_stride[n - 1] = is;
      e.plain_stride[n - 1] = ps;
      e.picked_stride[n - 1] = qs;
      continue;
    }
    if (n == index::kMaxDims) return false;
    e.size[n] = size;
    e.index_stride[n] = is;
    e.plain_stride[n] = ps;
    e.picked_stride[n] = qs;
    ++n;
  }
  if (n == 0) {
    e.size[0] = 1;
    e.index_stride[0] = e.plain_stride[0] = e.picked_stride[0] = 0;
    n = 1;
  }
  e.ndim = n;
  e.dim = 0;
  return true;
}

// Past this many index elements the cuda gather (0.86-0.95x) and the fp16/bf16 scatter_add
// atomics (0.56x) ran slower than torch's kernels on the H100: torch serves them there.
constexpr int64_t kLargeCuda = int64_t(1) << 20;

bool large_on_cuda(const Tensor& t, const Tensor& index) { return t.is_cuda() && index.numel() > kLargeCuda; }

bool gather_served(const Tensor& self, const Tensor& index, const Tensor& out) {
  return plain(self) && plain(out) && index.device() == self.device() && out.device() == self.device() &&
         !large_on_cuda(self, index) &&
         out.scalar_type() == self.scalar_type() && index_dtype(index) && !index.is_quantized();
}

// out (sized as index) = gather; false when the dims do not fit the kernel.
bool gather_into(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& out) {
  if (index.numel() == 0) return true;
  index::Elems e{};
  e.dtype = self.scalar_type();
  e.elem_size = int(self.element_size());
  if (!build_elems(e, dim, index, out, self)) return false;
  e.plain = static_cast<char*>(out.data_ptr());
  e.picked = const_cast<char*>(static_cast<const char*>(self.const_data_ptr()));
  OnDevice on(out);
  GF_INDEX(out, gather_elems, e);
  return true;
}

bool deterministic_cuda(const Tensor& t) {
  return t.is_cuda() && at::globalContext().deterministicAlgorithms();
}

TypeSet add_types(const Tensor& t) { return t.is_cuda() ? index::kAddTypesCuda : index::kAddTypesCpu; }

}  // namespace

// ---- index_select ------------------------------------------------------------------------------
Tensor& index_select_out(const Tensor& self, int64_t dim, const Tensor& index, Tensor& out) {
  dim = at::maybe_wrap_dim(dim, self.dim());
  if (select_served(self, index) && plain(out) && out.scalar_type() == self.scalar_type() &&
      out.device() == self.device() && row_view(self, dim)) {
    at::assert_no_internal_overlap(out);
    at::assert_no_overlap(out, self);
    at::assert_no_overlap(out, index);
    at::native::resize_output(out, select_size(self, dim, index));
    Tensor dest = out.is_contiguous() ? out : at::empty(out.sizes(), out.options());
    select_rows(self, dim, index, dest);
    if (!dest.is_same(out)) out.copy_(dest);
    return out;
  }
  return GF_FALLBACK(self, index_select_outf, self, dim, index, out)();
}

Tensor index_select(const Tensor& self, int64_t dim, const Tensor& index) {
  dim = at::maybe_wrap_dim(dim, self.dim());
  if (select_served(self, index) && row_view(self, dim)) {
    Tensor out = at::empty(select_size(self, dim, index), self.options());
    select_rows(self, dim, index, out);
    return out;
  }
  return GF_FALLBACK(self, index_select, self, dim, index)();
}

// ---- gather --------------------------------------------------------------------------------------
Tensor& gather_out(const Tensor& self, int64_t dim, const Tensor& index, bool sparse_grad, Tensor& out) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  if (gather_served(self, index, out)) {
    at::native::resize_output(out, index.sizes());
    at::assert_no_internal_overlap(out);
    at::assert_no_overlap(out, self);
    at::assert_no_partial_overlap(out, index);
    if (index.numel() > 0) at::native::gather_shape_check(self, wdim, index);
    if (gather_into(self, wdim, index, out)) return out;
  }
  return GF_FALLBACK(self, gather_outf, self, dim, index, sparse_grad, out)();
}

Tensor gather(const Tensor& self, int64_t dim, const Tensor& index, bool sparse_grad) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  if (plain(self) && index.device() == self.device() && index_dtype(index) && !large_on_cuda(self, index)) {
    if (index.numel() > 0) at::native::gather_shape_check(self, wdim, index);
    Tensor out = at::empty(index.sizes(), self.options());
    if (gather_into(self, wdim, index, out)) return out;
  }
  return GF_FALLBACK(self, gather, self, dim, index, sparse_grad)();
}

// ---- embedding -----------------------------------------------------------------------------------
namespace {
// out (indices' shape + [dim], weight's dtype, contiguous) = weight's rows at indices.
void embedding_rows(const Tensor& weight, const Tensor& indices, const Tensor& out) {
  if (out.numel() == 0 && (out.is_cuda() || indices.numel() == 0)) return;
  const Tensor flat = indices.reshape({-1});
  const auto v = row_view(weight, 0);
  index::Rows r{false, int(weight.element_size()), static_cast<char*>(out.data_ptr()),
                static_cast<const char*>(weight.const_data_ptr()), indices_of(flat),
                1, v->n, v->inner, 0, v->s_dim};
  OnDevice on(out);
  GF_INDEX(out, gather_rows, r);
}

bool embedding_served(const Tensor& weight, const Tensor& indices) {
  return plain(weight) && indices.device() == weight.device() && !indices.is_quantized() &&
         row_view(weight, 0).has_value();
}

std::vector<int64_t> embedding_size(const Tensor& weight, const Tensor& indices) {
  std::vector<int64_t> size = indices.sizes().vec();
  size.push_back(weight.size(1));
  return size;
}

void check_embedding(const Tensor& weight, const Tensor& indices) {
  TORCH_CHECK(weight.dim() == 2, "'weight' must be 2-D");
  at::TensorArg indices_arg(indices, "indices", 1);
  at::checkScalarTypes("embedding", indices_arg, {at::kLong, at::kInt});
}
}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& indices, c10::SymInt padding_idx,
                 bool scale_grad_by_freq, bool sparse) {
  check_embedding(weight, indices);
  if (embedding_served(weight, indices)) {
    Tensor out = at::empty(embedding_size(weight, indices), weight.options());
    embedding_rows(weight, indices, out);
    return out;
  }
  return GF_FALLBACK_TO(at::compositeexplicitautograd::embedding_symint(
      weight, indices, std::move(padding_idx), scale_grad_by_freq, sparse))();
}

Tensor& embedding_out(const Tensor& weight, const Tensor& indices, c10::SymInt padding_idx,
                      bool scale_grad_by_freq, bool sparse, Tensor& out) {
  check_embedding(weight, indices);
  if (embedding_served(weight, indices) && plain(out) && out.scalar_type() == weight.scalar_type() &&
      out.device() == weight.device()) {
    at::native::resize_output(out, embedding_size(weight, indices));
    Tensor dest = out.is_contiguous() ? out : at::empty(out.sizes(), out.options());
    embedding_rows(weight, indices, dest);
    if (!dest.is_same(out)) out.copy_(dest);
    return out;
  }
  return GF_FALLBACK_TO(at::compositeexplicitautograd::embedding_symint_outf(
      weight, indices, std::move(padding_idx), scale_grad_by_freq, sparse, out))();
}

// ---- embedding_dense_backward --------------------------------------------------------------------
Tensor embedding_dense_backward(const Tensor& grad_output, const Tensor& indices, c10::SymInt num_weights_,
                                c10::SymInt padding_idx_, bool scale_grad_by_freq) {
  at::TensorArg indices_arg(indices, "indices", 2);
  at::checkScalarTypes("embedding_backward", indices_arg, {at::kLong, at::kInt});
  const int64_t num_weights = num_weights_.guard_int(__FILE__, __LINE__);
  const int64_t padding_idx = padding_idx_.guard_int(__FILE__, __LINE__);
  const int64_t n = indices.numel();
  const bool served = plain(grad_output) && indices.device() == grad_output.device() &&
                      has(index::kEmbeddingBackwardTypes, grad_output.scalar_type()) &&
                      grad_output.dim() >= 1 && n < (int64_t(1) << 31) - 1 &&
                      num_weights >= 0 && num_weights < (int64_t(1) << 31) - 1;
  if (served) {
    const int64_t dim = grad_output.size(-1);
    TORCH_CHECK(grad_output.numel() == n * dim, "embedding_dense_backward: grad_output of shape ",
                grad_output.sizes(), " does not match indices of shape ", indices.sizes());
    Tensor grad_weight = at::zeros({num_weights, dim}, grad_output.options());
    if (n == 0 || dim == 0 || num_weights == 0) return grad_weight;
    const Tensor grad = grad_output.contiguous();
    const Tensor flat = indices.reshape({-1});
    index::EmbeddingBackward e{grad_output.scalar_type(), static_cast<char*>(grad_weight.data_ptr()),
                               static_cast<const char*>(grad.const_data_ptr()), indices_of(flat),
                               num_weights, dim, padding_idx, scale_grad_by_freq};
    OnDevice on(grad_weight);
    GF_INDEX(grad_weight, embedding_backward, e);
    return grad_weight;
  }
  return GF_FALLBACK(grad_output, embedding_dense_backward, grad_output, indices, num_weights,
                     padding_idx, scale_grad_by_freq)();
}

Tensor& embedding_dense_backward_out(const Tensor& grad_output, const Tensor& indices,
                                     c10::SymInt num_weights, c10::SymInt padding_idx,
                                     bool scale_grad_by_freq, Tensor& out) {
  // torch's own composite: the functional result copied into out
  Tensor result = ops::embedding_dense_backward(grad_output, indices, std::move(num_weights),
                                                std::move(padding_idx), scale_grad_by_freq);
  at::native::resize_output(out, result.sizes());
  out.copy_(result);
  return out;
}

// ---- scatter (src, value) -------------------------------------------------------------------------
namespace {
// The calls the kernel serves (src or value); out of self's dtype is checked by the caller.
bool scatter_served(const Tensor& out, const Tensor& index, const Tensor* src, const Scalar* value) {
  if (!plain(out) || index.device() != out.device() || index.is_quantized() || deterministic_cuda(out))
    return false;
  if (src) return plain(*src) && src->device() == out.device();
  return has(kAll, out.scalar_type());
}

// out (self's shape, holding self's values) gets src (or value) at index along dim.
bool scatter_into(Tensor& out, int64_t dim, const Tensor& index, const Tensor* src, const Scalar* value) {
  if (index.numel() == 0) return true;
  index::Elems e{};
  e.dtype = out.scalar_type();
  e.elem_size = int(out.element_size());
  if (!build_elems(e, dim, index, src ? *src : index, out)) return false;
  if (src) {
    e.plain = const_cast<char*>(static_cast<const char*>(src->const_data_ptr()));
  } else {
    e.from_value = true;
    dispatch_dtype<kAll>(out.scalar_type(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T v = value->to<T>();
      std::memcpy(e.value, &v, sizeof(T));
    });
  }
  e.picked = static_cast<char*>(out.data_ptr());
  OnDevice on(out);
  GF_INDEX(out, scatter_elems, e);
  return true;
}

int64_t check_scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor* src) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  std::optional<Tensor> src_opt;
  if (src) src_opt = *src;
  at::native::scatter_gather_dtype_check("scatter", self, index, src_opt);
  at::native::scatter_shape_check(self, wdim, index, src_opt);
  return wdim;
}

Tensor scatter_functional(const Tensor& self, int64_t dim, const Tensor& index, const Tensor* src,
                          const Scalar* value) {
  const int64_t wdim = check_scatter(self, dim, index, src);
  if (scatter_served(self, index, src, value)) {
    Tensor out = at::empty(self.sizes(), self.options());
    out.copy_(self);
    if (scatter_into(out, wdim, index, src, value)) return out;
  }
  reg::note_fallback();
  return src ? GF_TORCH(self, scatter, self, dim, index, *src) : GF_TORCH(self, scatter, self, dim, index, *value);
}

Tensor& scatter_out_form(const Tensor& self, int64_t dim, const Tensor& index, const Tensor* src,
                         const Scalar* value, Tensor& out) {
  const int64_t wdim = check_scatter(self, dim, index, src);
  if (out.scalar_type() == self.scalar_type() && out.device() == self.device() &&
      scatter_served(out, index, src, value) && plain(self)) {
    at::native::resize_output(out, self.sizes());
    at::assert_no_internal_overlap(out);
    at::assert_no_overlap(out, index);
    if (src) at::assert_no_overlap(out, *src);
    if (!out.is_same(self)) out.copy_(self);
    if (scatter_into(out, wdim, index, src, value)) return out;
  }
  reg::note_fallback();
  return src ? GF_TORCH(self, scatter_outf, self, dim, index, *src, out)
             : GF_TORCH(self, scatter_outf, self, dim, index, *value, out);
}
}  // namespace

Tensor scatter_src(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_functional(self, dim, index, &src, nullptr);
}
Tensor scatter_value(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value) {
  return scatter_functional(self, dim, index, nullptr, &value);
}
Tensor& scatter_src_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, Tensor& out) {
  return scatter_out_form(self, dim, index, &src, nullptr, out);
}
Tensor& scatter_value_out(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value, Tensor& out) {
  return scatter_out_form(self, dim, index, nullptr, &value, out);
}
Tensor& scatter_src_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_out_form(self, dim, index, &src, nullptr, self);
}
Tensor& scatter_value_(Tensor& self, int64_t dim, const Tensor& index, const Scalar& value) {
  return scatter_out_form(self, dim, index, nullptr, &value, self);
}

// ---- scatter_add ---------------------------------------------------------------------------------
namespace {
// out (self's shape, holding self's values) += src scattered at index along dim; false where no
// kernel serves it (out left untouched).
bool scatter_add_into(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  if (!plain(out) || !plain(src) || src.device() != out.device() || index.device() != out.device() ||
      !has(add_types(out), out.scalar_type()) || deterministic_cuda(out) || index.is_quantized()) {
    return false;
  }
  if (index.numel() == 0) return true;
  index::Elems e{};
  e.dtype = out.scalar_type();
  e.elem_size = int(out.element_size());
  if (!build_elems(e, dim, index, src, out)) return false;
  e.plain = const_cast<char*>(static_cast<const char*>(src.const_data_ptr()));
  e.picked = static_cast<char*>(out.data_ptr());
  OnDevice on(out);
  GF_INDEX(out, scatter_add_elems, e);
  return true;
}

bool add_fast(const Tensor& self, const Tensor& index) {
  const bool two_byte = self.scalar_type() == at::kHalf || self.scalar_type() == at::kBFloat16;
  return !(two_byte && large_on_cuda(self, index));
}

void check_scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  at::native::scatter_gather_dtype_check("scatter_add", self, index, src);
  at::native::scatter_shape_check(self, dim, index, src);
}
}  // namespace

Tensor& scatter_add_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  check_scatter_add(self, wdim, index, src);
  at::assert_no_internal_overlap(self);
  at::assert_no_overlap(self, index);
  at::assert_no_overlap(self, src);
  if (add_fast(self, index) && scatter_add_into(self, wdim, index, src)) return self;
  return GF_FALLBACK(self, scatter_add_, self, dim, index, src)();
}

Tensor& scatter_add_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, Tensor& out) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  check_scatter_add(self, wdim, index, src);
  if (out.scalar_type() == self.scalar_type() && out.device() == self.device() && plain(out) &&
      has(add_types(self), self.scalar_type()) && plain(src) && src.device() == self.device() &&
      index.device() == self.device() && !deterministic_cuda(self) && add_fast(self, index)) {
    at::native::resize_output(out, self.sizes());
    at::assert_no_internal_overlap(out);
    at::assert_no_overlap(out, index);
    at::assert_no_overlap(out, src);
    if (!out.is_same(self)) out.copy_(self);
    if (scatter_add_into(out, wdim, index, src)) return out;
  }
  return GF_FALLBACK(self, scatter_add_outf, self, dim, index, src, out)();
}

Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  check_scatter_add(self, wdim, index, src);
  if (plain(self) && has(add_types(self), self.scalar_type()) && plain(src) &&
      src.device() == self.device() && index.device() == self.device() && !deterministic_cuda(self) &&
      add_fast(self, index)) {
    Tensor out = at::empty(self.sizes(), self.options());
    out.copy_(self);
    if (scatter_add_into(out, wdim, index, src)) return out;
  }
  return GF_FALLBACK(self, scatter_add, self, dim, index, src)();
}

// ---- index_add -----------------------------------------------------------------------------------
namespace {
// The calls the row kernel serves; torch raises for the malformed ones.
bool index_add_served(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source) {
  if (!plain(self) || !plain(source) || source.device() != self.device() ||
      index.device() != self.device() || !index_dtype(index) || index.dim() > 1 ||
      source.scalar_type() != self.scalar_type() || !has(add_types(self), self.scalar_type()) ||
      deterministic_cuda(self) || self.dim() != source.dim()) {
    return false;
  }
  if (self.dim() == 0) return index.numel() == 1;
  for (int64_t d = 0; d < self.dim(); ++d) {
    if (d != dim && self.size(d) != source.size(d)) return false;
  }
  return index.numel() == source.size(dim);
}

// out (self's shape and values) += alpha * source's rows at index along dim.
void index_add_into(Tensor& out, int64_t dim, const Tensor& index, const Tensor& source,
                    const Scalar& alpha, int64_t user_dim) {
  if (index.numel() == 0 || out.numel() == 0) return;
  Tensor src = source;
  auto sv = row_view(src, dim);
  if (!sv) {
    src = source.contiguous();
    sv = row_view(src, dim);
  }
  Tensor dest = out;
  auto dv = row_view(dest, dim);
  if (!dv) {
    dest = out.contiguous();
    dv = row_view(dest, dim);
  }
  index::RowsAdd r{out.scalar_type(), static_cast<char*>(dest.data_ptr()),
                   static_cast<const char*>(src.const_data_ptr()), indices_of(index),
                   dv->outer, dv->n, dv->inner, dv->s_outer, dv->s_dim, sv->s_outer, sv->s_dim,
                   alpha, user_dim};
  {
    OnDevice on(dest);
    GF_INDEX(dest, add_rows, r);
  }
  if (!dest.is_same(out)) out.copy_(dest);
}
}  // namespace

Tensor& index_add_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& source, const Scalar& alpha) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  if (index_add_served(self, wdim, index, source)) {
    at::assert_no_internal_overlap(self);
    at::assert_no_overlap(self, index);
    at::assert_no_overlap(self, source);
    index_add_into(self, wdim, index, source, alpha, dim);
    return self;
  }
  return GF_FALLBACK(self, index_add_, self, dim, index, source, alpha)();
}

Tensor& index_add_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                      const Scalar& alpha, Tensor& out) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  if (index_add_served(self, wdim, index, source) && plain(out) && out.device() == self.device() &&
      out.scalar_type() == self.scalar_type()) {
    at::native::resize_output(out, self.sizes());
    at::assert_no_internal_overlap(out);
    at::assert_no_overlap(out, index);
    at::assert_no_overlap(out, source);
    if (!out.is_same(self)) out.copy_(self);
    index_add_into(out, wdim, index, source, alpha, dim);
    return out;
  }
  return GF_FALLBACK(self, index_add_outf, self, dim, index, source, alpha, out)();
}

Tensor index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source, const Scalar& alpha) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  if (index_add_served(self, wdim, index, source)) {
    Tensor out = at::empty(self.sizes(), self.options());
    out.copy_(self);
    index_add_into(out, wdim, index, source, alpha, dim);
    return out;
  }
  return GF_FALLBACK(self, index_add, self, dim, index, source, alpha)();
}

}  // namespace gemforge::ops
