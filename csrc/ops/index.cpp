// The index family: index_select and embedding (whole rows picked by an index), gather (one
// element per index), embedding_dense_backward (rows summed per index, deterministic),
// scatter_add and index_add (added at an index), scatter(reduce=)/scatter_reduce/index_reduce
// (reduced at an index), index_copy/index_fill (whole rows written at an index), take, isin.
// torch's checks; any case outside the kernels' reach (another layout, mixed devices, quantized
// or conj views, odd out= tensors, dtypes without a kernel) goes to torch's own kernel, which also
// raises torch's errors for malformed calls.
#include "backends/index.h"
#include "ops/index.h"
#include "ops/on_device.h"
#include "ops/ops.h"
#include "ops/plain.h"
#include "ops/pointwise/common.h"

#include <ATen/ATen.h>
#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/TensorUtils.h>
#include <ATen/WrapDimUtils.h>
#include <ATen/native/ReductionType.h>
#include <ATen/native/Resize.h>
#include <ATen/native/ScatterGatherChecks.h>
#include <c10/core/DeviceGuard.h>

#include <cstring>
#include <limits>
#include <optional>

namespace gemforge::ops {
namespace {

#ifdef GEMFORGE_WITH_CUDA
#define GF_INDEX(t, fn, ...) ((t).is_cuda() ? index::fn##_cuda(__VA_ARGS__) : index::fn##_cpu(__VA_ARGS__))
#else
#define GF_INDEX(t, fn, ...) index::fn##_cpu(__VA_ARGS__)
#endif

bool index_dtype(const Tensor& index) {
  return index.scalar_type() == at::kLong || index.scalar_type() == at::kInt;
}

// A 0-d or 1-d index tensor's elements.
index::Indices indices_of(const Tensor& index) {
  // A single index's stride means nothing (a strided one-element view is contiguous): 1, as the
  // kernels that want contiguous indices check.
  return {index.const_data_ptr(), index.scalar_type() == at::kInt, index.numel(),
          index.numel() <= 1 ? 1 : index.stride(0)};
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

// ---- embedding_bag's backward ops (called by torch's _embedding_bag_backward) --------------------
// cuda only (registry/op_table.cpp says why): no cpu launcher, and nothing served without cuda.
#ifdef GEMFORGE_WITH_CUDA
#define GF_BAG_CUDA(fn, ...) index::fn##_cuda(__VA_ARGS__)
constexpr bool kBagBuilt = true;
#else
#define GF_BAG_CUDA(fn, ...)                             \
  do {                                                    \
    (void)(__VA_ARGS__);                                  \
    TORCH_INTERNAL_ASSERT(false, "built without cuda");   \
  } while (0)
constexpr bool kBagBuilt = false;
#endif
namespace {
constexpr int64_t kBagSum = 0, kBagMean = 1, kBagMax = 2;
constexpr int64_t kIndexLimit = (int64_t(1) << 31) - 1;

bool bag_index(const Tensor& t, const Tensor& like, int64_t min_numel) {
  return plain(t) && index_dtype(t) && t.dim() == 1 && t.device() == like.device() && t.numel() >= min_numel;
}

// The first n entries of an offset2bag or bag_size, as contiguous int32 (every value below n).
Tensor as_int32(const Tensor& t, int64_t n) { return t.narrow(0, 0, n).to(at::kInt).contiguous(); }
}  // namespace

Tensor _embedding_bag_dense_backward(const Tensor& grad, const Tensor& indices, const Tensor& offset2bag,
                                     const Tensor& bag_size, const Tensor& maximum_indices,
                                     c10::SymInt num_weights_, bool scale_grad_by_freq, int64_t mode,
                                     const std::optional<Tensor>& per_sample_weights, int64_t padding_idx) {
  const int64_t num_weights = num_weights_.guard_int(__FILE__, __LINE__);
  const int64_t n = indices.numel();
  const bool weighted = per_sample_weights.has_value() && per_sample_weights->defined();
  bool served = kBagBuilt && grad.is_cuda() && plain(grad) && grad.dim() == 2 &&
                has(index::kEmbeddingBackwardTypes, grad.scalar_type()) &&
                bag_index(indices, grad, 0) && n < kIndexLimit && grad.size(0) < kIndexLimit &&
                num_weights >= 0 && num_weights < kIndexLimit;
  if (served && (mode == kBagSum || mode == kBagMean)) {
    served = bag_index(offset2bag, grad, n) && (mode == kBagSum || bag_index(bag_size, grad, grad.size(0))) &&
             (!weighted || (mode == kBagSum && plain(*per_sample_weights) && per_sample_weights->dim() == 1 &&
                            per_sample_weights->numel() == n &&
                            per_sample_weights->scalar_type() == grad.scalar_type() &&
                            per_sample_weights->device() == grad.device()));
  } else if (served && mode == kBagMax) {
    // atomic adds, as torch's kernel: under deterministic algorithms torch's raises or warns
    served = !weighted && plain(maximum_indices) && index_dtype(maximum_indices) &&
             maximum_indices.sizes().equals(grad.sizes()) && maximum_indices.device() == grad.device() &&
             !deterministic_cuda(grad);
  } else {
    served = false;
  }
  if (!served)
    return GF_FALLBACK(grad, _embedding_bag_dense_backward, grad, indices, offset2bag, bag_size, maximum_indices,
                       num_weights, scale_grad_by_freq, mode, per_sample_weights, padding_idx)();
  const int64_t dim = grad.size(1);
  Tensor grad_weight = at::zeros({num_weights, dim}, grad.options());
  if (dim == 0 || num_weights == 0) return grad_weight;
  const Tensor g = grad.contiguous();
  OnDevice on(grad_weight);
  if (mode == kBagMax) {
    const Tensor max_indices = maximum_indices.contiguous();
    const index::EmbeddingBagMax e{grad.scalar_type(), static_cast<char*>(grad_weight.data_ptr()),
                                   static_cast<const char*>(g.const_data_ptr()), indices_of(max_indices.view(-1)),
                                   grad.size(0), dim, num_weights, padding_idx};
    GF_BAG_CUDA(embedding_bag_max_backward, e);
    return grad_weight;
  }
  if (n == 0) return grad_weight;
  const Tensor bag = as_int32(offset2bag, n);
  const Tensor sizes = mode == kBagMean ? as_int32(bag_size, grad.size(0)) : Tensor();
  const Tensor weights = weighted ? per_sample_weights->contiguous() : Tensor();
  index::EmbeddingBackward e{grad.scalar_type(), static_cast<char*>(grad_weight.data_ptr()),
                             static_cast<const char*>(g.const_data_ptr()), indices_of(indices),
                             num_weights, dim, padding_idx, scale_grad_by_freq};
  e.bag = bag.const_data_ptr<int32_t>();
  e.per_sample_weights = weighted ? static_cast<const char*>(weights.const_data_ptr()) : nullptr;
  e.bag_size = sizes.defined() ? sizes.const_data_ptr<int32_t>() : nullptr;
  GF_BAG_CUDA(embedding_backward, e);
  return grad_weight;
}

Tensor _embedding_bag_per_sample_weights_backward(const Tensor& grad, const Tensor& weight, const Tensor& indices,
                                                  const Tensor& offsets, const Tensor& offset2bag, int64_t mode,
                                                  int64_t padding_idx) {
  const int64_t n = indices.numel();
  const bool served = kBagBuilt && grad.is_cuda() && mode == kBagSum && plain(grad) && grad.dim() == 2 &&
                      has(index::kEmbeddingBackwardTypes, grad.scalar_type()) && plain(weight) &&
                      weight.dim() == 2 && weight.size(1) == grad.size(1) &&
                      weight.scalar_type() == grad.scalar_type() && weight.device() == grad.device() &&
                      bag_index(indices, grad, 0) && n < kIndexLimit && grad.size(0) < kIndexLimit &&
                      (n == 0 || bag_index(offset2bag, grad, n));
  if (!served)
    return GF_FALLBACK(grad, _embedding_bag_per_sample_weights_backward, grad, weight, indices, offsets, offset2bag,
                       mode, padding_idx)();
  Tensor out = at::empty({n}, grad.options());
  if (n == 0) return out;
  if (grad.size(1) == 0) return out.zero_();
  const Tensor g = grad.contiguous(), w = weight.contiguous(), bag = as_int32(offset2bag, n);
  const index::EmbeddingBagWeights e{grad.scalar_type(), static_cast<char*>(out.data_ptr()),
                                     static_cast<const char*>(g.const_data_ptr()),
                                     static_cast<const char*>(w.const_data_ptr()), indices_of(indices),
                                     bag.const_data_ptr<int32_t>(), weight.size(0), grad.size(1), padding_idx};
  OnDevice on(out);
  GF_BAG_CUDA(embedding_bag_weights_backward, e);
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

// ---- reductions along a dim (scatter reduce=, scatter_reduce, index_reduce) ---------------------
namespace gemforge::ops {
namespace {

using at::native::ReductionType;

TypeSet reduce_types(const Tensor& t) { return t.is_cuda() ? index::kReduceTypesCuda : index::kReduceTypesCpu; }

index::Reduce kernel_reduce(ReductionType r) {
  switch (r) {
    case ReductionType::PROD: return index::Reduce::Prod;
    case ReductionType::MAX: return index::Reduce::Max;
    case ReductionType::MIN: return index::Reduce::Min;
    default: return index::Reduce::Sum;  // SUM, MEAN (divided by the counts afterwards)
  }
}

// `value` stored as out's dtype in e.value.
void set_value(index::Elems& e, ScalarType dtype, const Scalar& value) {
  e.from_value = true;
  dispatch_dtype<kAll>(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = value.to<T>();
    std::memcpy(e.value, &v, sizeof(T));
  });
}

// The value no reduction with `r` changes (what include_self=False starts each written element at).
Scalar identity(ReductionType r, ScalarType dtype) {
  switch (r) {
    case ReductionType::PROD: return Scalar(1);
    case ReductionType::MAX:
      return at::isFloatingType(dtype) ? Scalar(-std::numeric_limits<double>::infinity())
                                       : Scalar(dtype == at::kByte ? int64_t(0)
                                                : dtype == at::kChar ? int64_t(INT8_MIN)
                                                : dtype == at::kShort ? int64_t(INT16_MIN)
                                                : dtype == at::kInt ? int64_t(INT32_MIN) : INT64_MIN);
    case ReductionType::MIN:
      return at::isFloatingType(dtype) ? Scalar(std::numeric_limits<double>::infinity())
                                       : Scalar(dtype == at::kByte ? int64_t(UINT8_MAX)
                                                : dtype == at::kChar ? int64_t(INT8_MAX)
                                                : dtype == at::kShort ? int64_t(INT16_MAX)
                                                : dtype == at::kInt ? int64_t(INT32_MAX) : INT64_MAX);
    default: return Scalar(0);
  }
}

// Whether the kernels take a reduction into `out` from src (or a value) on out's device.
bool reduce_served(const Tensor& out, const Tensor& index, const Tensor* src, ReductionType r) {
  if (!plain(out) || index.device() != out.device() || index.is_quantized() || !index_dtype(index) ||
      !has(reduce_types(out), out.scalar_type()) || deterministic_cuda(out)) {
    return false;
  }
  if (src && (!plain(*src) || src->device() != out.device() || src->scalar_type() != out.scalar_type()))
    return false;
  // Sums of many fp16/bf16 elements: torch's atomics are faster there (see add_fast)
  if ((r == ReductionType::SUM || r == ReductionType::MEAN) && !add_fast(out, index)) return false;
  return true;
}

// out (self's shape and values) reduced with src (or value) at index along dim, index iterated over
// its own shape (an index_reduce index comes expanded to source's shape). false when the dims do
// not fit the kernel (out untouched).
bool reduce_into(Tensor& out, int64_t dim, const Tensor& index, const Tensor* src, const Scalar* value,
                 ReductionType r, bool include_self, bool index_error) {
  if (index.numel() == 0) return true;
  index::Elems e{};
  e.dtype = out.scalar_type();
  e.elem_size = int(out.element_size());
  e.index_error = index_error;
  if (!build_elems(e, dim, index, src ? *src : index, out)) return false;
  e.picked = static_cast<char*>(out.data_ptr());
  Tensor count;  // mean: the number of terms of each element (self's dtype, as torch's)
  index::Elems c{};
  if (r == ReductionType::MEAN) {
    count = at::ones(out.sizes(), out.options());
    c = e;
    if (!build_elems(c, dim, index, src ? *src : index, count)) return false;
    c.picked = static_cast<char*>(count.data_ptr());
  }
  OnDevice on(out);
  if (!include_self) {  // each written element starts at the reduction's identity
    index::Elems start = e;
    set_value(start, e.dtype, identity(r, e.dtype));
    GF_INDEX(out, scatter_elems, start);
  }
  if (r == ReductionType::MEAN) {
    // 1 everywhere (self's own term, or the divisor of elements nothing is written to), 0 at the
    // written elements without include_self, then 1 more per term
    if (!include_self) {
      set_value(c, c.dtype, Scalar(0));
      GF_INDEX(count, scatter_elems, c);
    }
    set_value(c, c.dtype, Scalar(1));
    GF_INDEX(count, scatter_reduce_elems, c, index::Reduce::Sum);
  }
  if (src) e.plain = const_cast<char*>(static_cast<const char*>(src->const_data_ptr()));
  else set_value(e, e.dtype, *value);
  GF_INDEX(out, scatter_reduce_elems, e, kernel_reduce(r));
  if (r == ReductionType::MEAN) {
    if (at::isIntegralType(out.scalar_type(), /*includeBool=*/true)) ops::div_mode_(out, count, "floor");
    else ops::div_(out, count);
  }
  return true;
}

// ---- scatter(reduce=) and scatter_reduce -------------------------------------------------------
Tensor scatter_reduce_functional(const Tensor& self, int64_t dim, const Tensor& index, const Tensor* src,
                                 const Scalar* value, ReductionType r, bool include_self) {
  const int64_t wdim = check_scatter(self, dim, index, src);
  if (reduce_served(self, index, src, r)) {
    Tensor out = at::empty(self.sizes(), self.options());
    out.copy_(self);
    if (reduce_into(out, wdim, index, src, value, r, include_self, false)) return out;
  }
  return Tensor();
}

bool scatter_reduce_out_form(const Tensor& self, int64_t dim, const Tensor& index, const Tensor* src,
                             const Scalar* value, ReductionType r, bool include_self, Tensor& out) {
  const int64_t wdim = check_scatter(self, dim, index, src);
  if (out.scalar_type() != self.scalar_type() || out.device() != self.device() || !plain(self) ||
      !reduce_served(out, index, src, r)) {
    return false;
  }
  if (!out.is_same(self)) {
    at::native::resize_output(out, self.sizes());
    // a layout the kernel may not take: checked before self's values are copied in
    index::Elems probe{};
    if (index.numel() > 0 && !build_elems(probe, wdim, index, src ? *src : index, out)) return false;
  }
  at::assert_no_internal_overlap(out);
  at::assert_no_overlap(out, index);
  if (src) at::assert_no_overlap(out, *src);
  if (!out.is_same(self)) out.copy_(self);
  return reduce_into(out, wdim, index, src, value, r, include_self, false);
}

ReductionType legacy_reduce(string_view reduce) { return at::native::get_operator_enum(reduce, false); }

}  // namespace

Tensor scatter_reduce(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, string_view reduce) {
  Tensor out = scatter_reduce_functional(self, dim, index, &src, nullptr, legacy_reduce(reduce), true);
  if (out.defined()) return out;
  return GF_FALLBACK(self, scatter, self, dim, index, src, reduce)();
}

Tensor scatter_value_reduce(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value,
                            string_view reduce) {
  Tensor out = scatter_reduce_functional(self, dim, index, nullptr, &value, legacy_reduce(reduce), true);
  if (out.defined()) return out;
  return GF_FALLBACK(self, scatter, self, dim, index, value, reduce)();
}

Tensor& scatter_reduce_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                           string_view reduce, Tensor& out) {
  if (scatter_reduce_out_form(self, dim, index, &src, nullptr, legacy_reduce(reduce), true, out)) return out;
  return GF_FALLBACK(self, scatter_outf, self, dim, index, src, reduce, out)();
}

Tensor& scatter_value_reduce_out(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value,
                                 string_view reduce, Tensor& out) {
  if (scatter_reduce_out_form(self, dim, index, nullptr, &value, legacy_reduce(reduce), true, out)) return out;
  return GF_FALLBACK(self, scatter_outf, self, dim, index, value, reduce, out)();
}

Tensor& scatter_reduce_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, string_view reduce) {
  if (scatter_reduce_out_form(self, dim, index, &src, nullptr, legacy_reduce(reduce), true, self)) return self;
  return GF_FALLBACK(self, scatter_, self, dim, index, src, reduce)();
}

Tensor& scatter_value_reduce_(Tensor& self, int64_t dim, const Tensor& index, const Scalar& value,
                              string_view reduce) {
  if (scatter_reduce_out_form(self, dim, index, nullptr, &value, legacy_reduce(reduce), true, self)) return self;
  return GF_FALLBACK(self, scatter_, self, dim, index, value, reduce)();
}

Tensor scatter_reduce_two(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                          string_view reduce, bool include_self) {
  const ReductionType r = at::native::get_reduction_enum(reduce);
  Tensor out = scatter_reduce_functional(self, dim, index, &src, nullptr, r, include_self);
  if (out.defined()) return out;
  return GF_FALLBACK(self, scatter_reduce, self, dim, index, src, reduce, include_self)();
}

Tensor& scatter_reduce_two_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                            string_view reduce, bool include_self) {
  const ReductionType r = at::native::get_reduction_enum(reduce);
  if (scatter_reduce_out_form(self, dim, index, &src, nullptr, r, include_self, self)) return self;
  return GF_FALLBACK(self, scatter_reduce_, self, dim, index, src, reduce, include_self)();
}

Tensor& scatter_reduce_two_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                               string_view reduce, bool include_self, Tensor& out) {
  const ReductionType r = at::native::get_reduction_enum(reduce);
  if (scatter_reduce_out_form(self, dim, index, &src, nullptr, r, include_self, out)) return out;
  return GF_FALLBACK(self, scatter_reduce_outf, self, dim, index, src, reduce, include_self, out)();
}

// ---- index_reduce ----------------------------------------------------------------------------------
namespace {
// The well-formed calls the kernels serve (torch raises for the rest): source's rows at index along
// dim, self 1-d or more.
bool index_rows_call(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source) {
  if (!plain(self) || !plain(source) || source.device() != self.device() || index.device() != self.device() ||
      index.dim() > 1 || source.scalar_type() != self.scalar_type() || self.dim() == 0 ||
      self.dim() != source.dim()) {
    return false;
  }
  for (int64_t d = 0; d < self.dim(); ++d) {
    if (d != dim && self.size(d) != source.size(d)) return false;
  }
  return index.numel() == source.size(dim);
}

std::optional<ReductionType> index_reduce_kind(string_view reduce) {
  if (reduce == "prod") return ReductionType::PROD;
  if (reduce == "mean") return ReductionType::MEAN;
  if (reduce == "amax") return ReductionType::MAX;
  if (reduce == "amin") return ReductionType::MIN;
  return std::nullopt;  // torch raises
}

// index (1-d, along dim) as an index of source's shape: stride 0 along every other dim.
Tensor expanded_index(const Tensor& index, const Tensor& source, int64_t dim) {
  std::vector<int64_t> shape(size_t(source.dim()), 1);
  shape[size_t(dim)] = index.numel();
  return index.reshape(shape).expand(source.sizes());
}

bool index_reduce_into(Tensor& out, int64_t dim, const Tensor& index, const Tensor& source, ReductionType r,
                       bool include_self) {
  return reduce_into(out, dim, expanded_index(index, source, dim), &source, nullptr, r, include_self, true);
}

// Past this many source elements torch's cpu kernel (vectorized rows, several threads) ran
// 3-5x faster than the serial cpu loop here (512x512 amax/prod, 2-core machine): torch serves it.
constexpr int64_t kLargeIndexReduceCpu = int64_t(1) << 16;

bool index_reduce_served(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                         std::optional<ReductionType> r) {
  if (self.is_cpu() && source.numel() > kLargeIndexReduceCpu) return false;
  return r && index_rows_call(self, dim, index, source) && reduce_served(self, index, &source, *r);
}
}  // namespace

Tensor index_reduce(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                    string_view reduce, bool include_self) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  const auto r = index_reduce_kind(reduce);
  if (index_reduce_served(self, wdim, index, source, r)) {
    Tensor out = at::empty(self.sizes(), self.options());
    out.copy_(self);
    if (index_reduce_into(out, wdim, index, source, *r, include_self)) return out;
  }
  return GF_FALLBACK(self, index_reduce, self, dim, index, source, reduce, include_self)();
}

Tensor& index_reduce_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                      string_view reduce, bool include_self) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  const auto r = index_reduce_kind(reduce);
  if (index_reduce_served(self, wdim, index, source, r)) {
    at::assert_no_internal_overlap(self);
    at::assert_no_overlap(self, index);
    at::assert_no_overlap(self, source);
    if (index_reduce_into(self, wdim, index, source, *r, include_self)) return self;
  }
  return GF_FALLBACK(self, index_reduce_, self, dim, index, source, reduce, include_self)();
}

Tensor& index_reduce_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                         string_view reduce, bool include_self, Tensor& out) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  const auto r = index_reduce_kind(reduce);
  if (index_reduce_served(self, wdim, index, source, r) && plain(out) && out.device() == self.device() &&
      out.scalar_type() == self.scalar_type()) {
    at::native::resize_output(out, self.sizes());
    at::assert_no_internal_overlap(out);
    at::assert_no_overlap(out, index);
    at::assert_no_overlap(out, source);
    Tensor dest = out.is_same(self) ? out : at::empty(self.sizes(), self.options());
    if (!dest.is_same(out)) dest.copy_(self);
    if (index_reduce_into(dest, wdim, index, source, *r, include_self)) {
      if (!dest.is_same(out)) out.copy_(dest);
      return out;
    }
  }
  return GF_FALLBACK(self, index_reduce_outf, self, dim, index, source, reduce, include_self, out)();
}

// ---- index_copy, index_fill (whole rows written at an index) --------------------------------------
namespace {
// value (an element of dtype) repeated over 16 bytes.
void fill_pattern(unsigned char (&bytes)[16], ScalarType dtype, const Scalar& value) {
  dispatch_dtype<kAll>(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = value.to<T>();
    for (size_t at = 0; at + sizeof(T) <= 16; at += sizeof(T)) std::memcpy(bytes + at, &v, sizeof(T));
  });
}

// dst (sized, dtype) gets source's rows (or value) at index along dim; false when dst's layout does
// not fit the row kernel (dst untouched).
bool put_rows_into(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor* source,
                   const Scalar* value, bool wrap, const char* prefix, int64_t user_dim) {
  const auto dv = row_view(dst, dim);
  if (!dv) return false;
  index::RowsPut r{};
  r.elem_size = int(dst.element_size());
  r.dst = static_cast<char*>(dst.data_ptr());
  r.index = indices_of(index);
  r.outer = dv->outer;
  r.n = dv->n;
  r.inner = dv->inner;
  r.dst_outer = dv->s_outer;
  r.dst_dim = dv->s_dim;
  r.wrap = wrap;
  r.prefix = prefix;
  r.error_dim = user_dim;
  Tensor src;
  if (source) {
    src = *source;
    auto sv = row_view(src, dim);
    if (!sv) {
      src = source->contiguous();
      sv = row_view(src, dim);
    }
    r.src = static_cast<const char*>(src.const_data_ptr());
    r.src_outer = sv->s_outer;
    r.src_dim = sv->s_dim;
  } else {
    fill_pattern(r.value, dst.scalar_type(), *value);
  }
  if (index.numel() == 0 || (dst.numel() == 0 && dst.is_cuda())) return true;
  OnDevice on(dst);
  GF_INDEX(dst, put_rows, r);
  return true;
}

// Duplicate indices write in any order on cuda: torch's deterministic mode takes its own kernel.
bool index_copy_served(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source) {
  return index.scalar_type() == at::kLong && !deterministic_cuda(self) && index_rows_call(self, dim, index, source);
}

constexpr const char* kIndexCopy = "index_copy_(): ";
}  // namespace

Tensor& index_copy_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& source) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  if (index_copy_served(self, wdim, index, source)) {
    at::assert_no_internal_overlap(self);
    at::assert_no_overlap(self, index);
    at::assert_no_overlap(self, source);
    if (put_rows_into(self, wdim, index, &source, nullptr, false, kIndexCopy, dim)) return self;
  }
  return GF_FALLBACK(self, index_copy_, self, dim, index, source)();
}

Tensor& index_copy_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source, Tensor& out) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  if (index_copy_served(self, wdim, index, source) && plain(out) && out.device() == self.device() &&
      out.scalar_type() == self.scalar_type()) {
    at::native::resize_output(out, self.sizes());
    at::assert_no_internal_overlap(out);
    at::assert_no_overlap(out, index);
    at::assert_no_overlap(out, source);
    Tensor dest = row_view(out, wdim) ? out : at::empty(self.sizes(), self.options());
    if (!dest.is_same(self)) dest.copy_(self);
    put_rows_into(dest, wdim, index, &source, nullptr, false, kIndexCopy, dim);
    if (!dest.is_same(out)) out.copy_(dest);
    return out;
  }
  return GF_FALLBACK(self, index_copy_outf, self, dim, index, source, out)();
}

Tensor index_copy(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source) {
  const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
  if (index_copy_served(self, wdim, index, source)) {
    Tensor out = at::empty(self.sizes(), self.options());
    out.copy_(self);
    put_rows_into(out, wdim, index, &source, nullptr, false, kIndexCopy, dim);
    return out;
  }
  return GF_FALLBACK(self, index_copy, self, dim, index, source)();
}

namespace {
bool index_fill_served(const Tensor& self, const Tensor& index) {
  return plain(self) && self.dim() > 0 && index.scalar_type() == at::kLong && index.dim() <= 1 &&
         index.device() == self.device() && !index.is_quantized();
}

// value of a Tensor-valued index_fill: a 0-d tensor (torch reads it too); none for the calls torch
// rejects.
std::optional<Scalar> fill_value(const Tensor& value) {
  if (value.dim() != 0) return std::nullopt;
  return value.item();
}

// self (filled in place), or a copy of it; true when served.
bool index_fill_into(const Tensor& dst, int64_t dim, const Tensor& index, const Scalar& value) {
  const int64_t wdim = at::maybe_wrap_dim(dim, dst.dim());
  return put_rows_into(dst, wdim, index, nullptr, &value, true, "", dim);
}
}  // namespace

Tensor& index_fill_scalar_(Tensor& self, int64_t dim, const Tensor& index, const Scalar& value) {
  if (index_fill_served(self, index)) {
    at::assert_no_internal_overlap(self);
    at::assert_no_overlap(self, index);
    if (index_fill_into(self, dim, index, value)) return self;
  }
  return GF_FALLBACK(self, index_fill_, self, dim, index, value)();
}

Tensor& index_fill_tensor_(Tensor& self, int64_t dim, const Tensor& index, const Tensor& value) {
  if (index_fill_served(self, index)) {
    if (auto v = fill_value(value)) return ops::index_fill_scalar_(self, dim, index, *v);
  }
  return GF_FALLBACK(self, index_fill_, self, dim, index, value)();
}

Tensor index_fill_scalar(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value) {
  if (index_fill_served(self, index)) {
    Tensor out = at::empty(self.sizes(), self.options());
    out.copy_(self);
    if (index_fill_into(out, dim, index, value)) return out;
  }
  return GF_FALLBACK_TO(at::compositeexplicitautograd::index_fill(self, dim, index, value))();
}

Tensor index_fill_tensor(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& value) {
  if (index_fill_served(self, index)) {
    if (auto v = fill_value(value)) return ops::index_fill_scalar(self, dim, index, *v);
  }
  return GF_FALLBACK_TO(at::compositeexplicitautograd::index_fill(self, dim, index, value))();
}

Tensor& index_fill_scalar_out(const Tensor& self, int64_t dim, const Tensor& index, const Scalar& value,
                              Tensor& out) {
  if (index_fill_served(self, index) && plain(out) && out.device() == self.device() &&
      out.scalar_type() == self.scalar_type()) {
    at::native::resize_output(out, self.sizes());
    const int64_t wdim = at::maybe_wrap_dim(dim, self.dim());
    Tensor dest = row_view(out, wdim) ? out : at::empty(self.sizes(), self.options());
    if (!dest.is_same(self)) dest.copy_(self);
    index_fill_into(dest, dim, index, value);
    if (!dest.is_same(out)) out.copy_(dest);
    return out;
  }
  return GF_FALLBACK_TO(at::compositeexplicitautograd::index_fill_outf(self, dim, index, value, out))();
}

Tensor& index_fill_tensor_out(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& value,
                              Tensor& out) {
  if (index_fill_served(self, index)) {
    if (auto v = fill_value(value)) return ops::index_fill_scalar_out(self, dim, index, *v, out);
  }
  return GF_FALLBACK_TO(at::compositeexplicitautograd::index_fill_outf(self, dim, index, value, out))();
}

// ---- take ------------------------------------------------------------------------------------------
namespace {
bool take_served(const Tensor& self, const Tensor& index) {
  return plain(self) && index.scalar_type() == at::kLong && index.device() == self.device() &&
         !index.is_quantized() && (self.numel() > 0 || index.numel() == 0);
}

// dest (index's shape, contiguous, self's dtype) = take(self, index).
void take_into(const Tensor& self, const Tensor& index, const Tensor& dest) {
  if (index.numel() == 0) return;
  const Tensor src = self.contiguous();
  const Tensor flat = index.reshape({-1}).contiguous();
  index::Take t{int(self.element_size()), static_cast<char*>(dest.data_ptr()),
                static_cast<const char*>(src.const_data_ptr()), indices_of(flat), self.numel()};
  OnDevice on(dest);
  GF_INDEX(dest, take, t);
}
}  // namespace

Tensor take(const Tensor& self, const Tensor& index) {
  if (take_served(self, index)) {
    Tensor out = at::empty(index.sizes(), self.options());
    take_into(self, index, out);
    return out;
  }
  return GF_FALLBACK(self, take, self, index)();
}

Tensor& take_out(const Tensor& self, const Tensor& index, Tensor& out) {
  if (take_served(self, index) && plain(out) && out.device() == self.device() &&
      out.scalar_type() == self.scalar_type()) {
    at::assert_no_internal_overlap(out);
    at::assert_no_overlap(out, index);
    at::assert_no_overlap(out, self);
    at::native::resize_output(out, index.sizes());
    Tensor dest = out.is_contiguous() ? out : at::empty(index.sizes(), self.options());
    take_into(self, index, dest);
    if (!dest.is_same(out)) out.copy_(dest);
    return out;
  }
  return GF_FALLBACK(self, take_outf, self, index, out)();
}

// ---- isin ------------------------------------------------------------------------------------------
namespace {
bool isin_dtype(ScalarType t) { return has(index::kIsInTypes, t); }

// elements (any shape) tested against test_elements into dest (elements' shape, bool, contiguous);
// false when the call is not served (torch raises for the malformed ones).
bool isin_into(const Tensor& elements, const Tensor& test_elements, bool invert, const Tensor& dest) {
  const ScalarType common = at::result_type(elements, test_elements);
  if (elements.numel() == 0) return true;
  const Tensor el = elements.to(common).contiguous();
  const Tensor tests = test_elements.to(common).contiguous();
  index::IsIn s{common, dest.data_ptr<bool>(), el.const_data_ptr(), el.numel(), tests.const_data_ptr(),
                tests.numel(), invert};
  OnDevice on(dest);
  GF_INDEX(dest, isin, s);
  return true;
}

bool isin_served(const Tensor& elements, const Tensor& test_elements) {
  return plain(elements) && plain(test_elements) && elements.device() == test_elements.device() &&
         test_elements.numel() < INT32_MAX &&  // the cuda sort counts in int
         isin_dtype(elements.scalar_type()) && isin_dtype(test_elements.scalar_type()) &&
         isin_dtype(at::result_type(elements, test_elements));
}

bool isin_scalar_served(const Tensor& elements, const Scalar& test) {
  return plain(elements) && isin_dtype(elements.scalar_type()) && !test.isBoolean() && !test.isComplex() &&
         isin_dtype(at::result_type(elements, test));
}
}  // namespace

Tensor isin_tensor_tensor(const Tensor& elements, const Tensor& test_elements, bool assume_unique, bool invert) {
  if (isin_served(elements, test_elements)) {
    Tensor out = at::empty(elements.sizes(), elements.options().dtype(at::kBool));
    if (isin_into(elements, test_elements, invert, out)) return out;
  }
  return GF_FALLBACK(elements, isin, elements, test_elements, assume_unique, invert)();
}

Tensor& isin_tensor_tensor_out(const Tensor& elements, const Tensor& test_elements, bool assume_unique,
                               bool invert, Tensor& out) {
  if (isin_served(elements, test_elements) && plain(out) && out.scalar_type() == at::kBool &&
      out.device() == elements.device()) {
    at::native::resize_output(out, elements.sizes());
    Tensor dest = out.is_contiguous() ? out : at::empty(elements.sizes(), out.options());
    if (isin_into(elements, test_elements, invert, dest)) {
      if (!dest.is_same(out)) out.copy_(dest);
      return out;
    }
  }
  return GF_FALLBACK(elements, isin_outf, elements, test_elements, assume_unique, invert, out)();
}

// torch's own definition: an element test is eq (ne when inverted)
Tensor isin_tensor_scalar(const Tensor& elements, const Scalar& test_element, bool assume_unique, bool invert) {
  if (isin_scalar_served(elements, test_element)) {
    return invert ? ops::ne_scalar(elements, test_element) : ops::eq_scalar(elements, test_element);
  }
  return GF_FALLBACK(elements, isin, elements, test_element, assume_unique, invert)();
}

Tensor& isin_tensor_scalar_out(const Tensor& elements, const Scalar& test_element, bool assume_unique,
                               bool invert, Tensor& out) {
  if (isin_scalar_served(elements, test_element) && plain(out) && out.scalar_type() == at::kBool &&
      out.device() == elements.device()) {
    return invert ? ops::ne_scalar_out(elements, test_element, out) : ops::eq_scalar_out(elements, test_element, out);
  }
  return GF_FALLBACK(elements, isin_outf, elements, test_element, assume_unique, invert, out)();
}

Tensor isin_scalar_tensor(const Scalar& element, const Tensor& test_elements, bool assume_unique, bool invert) {
  if (!element.isBoolean() && !element.isComplex() && plain(test_elements)) {
    return ops::isin_tensor_tensor(at::native::wrapped_scalar_tensor(element, test_elements.device()),
                                   test_elements, assume_unique, invert);
  }
  return GF_FALLBACK(test_elements, isin, element, test_elements, assume_unique, invert)();
}

Tensor& isin_scalar_tensor_out(const Scalar& element, const Tensor& test_elements, bool assume_unique,
                               bool invert, Tensor& out) {
  if (!element.isBoolean() && !element.isComplex() && plain(test_elements)) {
    return ops::isin_tensor_tensor_out(at::native::wrapped_scalar_tensor(element, test_elements.device()),
                                       test_elements, assume_unique, invert, out);
  }
  return GF_FALLBACK(test_elements, isin_outf, element, test_elements, assume_unique, invert, out)();
}

}  // namespace gemforge::ops
