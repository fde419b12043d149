// Advanced indexing and masks: the host side of backends/advanced_index.h. Torch's argument
// checks and errors, the layout work (broadcasting, mask expansion, transposing the indexed dims
// to the front as torch does), then one launch; unusual cases go to torch's own kernels.
#include "ops/advanced_index.h"

#include "backends/advanced_index.h"
#include "ops/on_device.h"
#include "registry/calls.h"

#include <ATen/CPUFunctions.h>
#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/CompositeExplicitAutogradNonFunctionalFunctions.h>
#include <ATen/ExpandUtils.h>
#include <ATen/Functions.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/TensorIterator.h>
#include <ATen/WrapDimUtils.h>
#include <ATen/native/Resize.h>
#include <ATen/native/TensorAdvancedIndexingUtils.h>
#include <c10/core/DeviceGuard.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/CUDAFunctions.h>
#endif

#include <climits>
#include <cstring>
#include <sstream>

namespace gemforge::ops {
namespace {

// Past this many elements some cuda paths are slower than torch's kernels (measured on the H100,
// benchmarks/results/h100/): torch serves them there.
constexpr int64_t kLargeCuda = int64_t(1) << 20;

using adv::kMaxDims;
using adv::kMaxIndices;

#ifdef GEMFORGE_WITH_CUDA
#define GF_ADV(t, fn, ...) ((t).is_cuda() ? adv::fn##_cuda(__VA_ARGS__) : adv::fn##_cpu(__VA_ARGS__))
#define GF_TORCH_ADV(t, fn, ...) ((t).is_cuda() ? at::cuda::fn(__VA_ARGS__) : at::cpu::fn(__VA_ARGS__))
#else
#define GF_ADV(t, fn, ...) adv::fn##_cpu(__VA_ARGS__)
#define GF_TORCH_ADV(t, fn, ...) at::cpu::fn(__VA_ARGS__)
#endif
#define GF_ADV_FALLBACK(t, fn, ...) (::gemforge::reg::note_fallback(), GF_TORCH_ADV(t, fn, __VA_ARGS__))

bool on_backend(const Tensor& t) {
  return (t.is_cpu() || t.is_cuda()) && t.layout() == at::kStrided && !t.is_quantized();
}

template <int N> bool space_of(const at::TensorIteratorBase& iter, adv::Space<N>& s) {
  if (iter.ndim() > kMaxDims) return false;
  s.ndim = iter.ndim();
  s.numel = iter.numel();
  for (int d = 0; d < s.ndim; ++d) {
    s.sizes[d] = iter.shape()[d];
    for (int a = 0; a < N && a < iter.ntensors(); ++a) s.strides[a][d] = iter.strides(a)[d];
  }
  for (int a = 0; a < N && a < iter.ntensors(); ++a) s.data[a] = static_cast<char*>(iter.data_ptr(a));
  return true;
}

adv::Selection selection_of(const Tensor& contiguous) {
  adv::Selection sel{contiguous.scalar_type(), contiguous.const_data_ptr(), contiguous.numel(),
                     int(contiguous.dim()), {}};
  for (int d = 0; d < sel.ndim; ++d) sel.sizes[d] = contiguous.size(d);
  return sel;
}

// The offsets of a cuda compaction over sel (blocks + 1 of them), on sel's device.
Tensor select_offsets(const Tensor& like, const adv::Selection& sel) {
  Tensor offsets = at::empty({adv::select_blocks(sel.numel) + 1}, like.options().dtype(at::kLong));
#ifdef GEMFORGE_WITH_CUDA
  adv::select_offsets_cuda(sel, offsets.mutable_data_ptr<int64_t>());
#endif
  return offsets;
}

// The number of selected elements (cuda: a host sync, as torch's kernels do).
int64_t selected_count(const Tensor& like, const adv::Selection& sel, Tensor& offsets) {
#ifdef GEMFORGE_WITH_CUDA
  if (like.is_cuda()) {
    offsets = select_offsets(like, sel);
    return adv::read_total_cuda(offsets.const_data_ptr<int64_t>() + adv::select_blocks(sel.numel));
  }
#endif
  return adv::count_nonzero_cpu(sel);
}

// ---- masked_fill ----------------------------------------------------------------------------
void check_fill_mask(const Tensor& mask) {
  TORCH_CHECK(mask.scalar_type() == at::kBool, "masked_fill_ only supports boolean masks, but got mask with dtype ",
              mask.scalar_type());
}

Scalar fill_value_of(const Tensor& value) {
  TORCH_CHECK(value.dim() == 0, "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with ",
              value.dim(), " dimension(s).");
  return value.item();
}

// out = mask ? value : in (in place when in is out); false: not a case for our kernels.
bool masked_fill_run(const Tensor& out, const Tensor& in, const Tensor& mask, const Scalar& value) {
  if (!on_backend(out) || mask.device() != out.device() || in.device() != out.device() ||
      !has(kAll, out.scalar_type()) || in.scalar_type() != out.scalar_type()) {
    return false;
  }
  adv::MaskedFill m{};
  dispatch_dtype<kAll>(out.scalar_type(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = value.to<T>();  // torch's overflow check
    std::memcpy(&m.value, &v, sizeof(T));
  });
  const bool inplace = in.is_same(out);
  at::TensorIteratorConfig config;
  config.set_check_mem_overlap(false).check_all_same_dtype(false).resize_outputs(false).add_output(out);
  if (!inplace) config.add_const_input(in);
  config.add_const_input(mask);
  at::TensorIterator iter = config.build();
  adv::Space<2> two{};
  if (inplace ? !space_of(iter, two) : !space_of(iter, m.s)) return false;
  if (inplace) {  // (out, mask) -> (out, out, mask)
    m.s.ndim = two.ndim;
    m.s.numel = two.numel;
    for (int d = 0; d < two.ndim; ++d) {
      m.s.sizes[d] = two.sizes[d];
      m.s.strides[0][d] = m.s.strides[1][d] = two.strides[0][d];
      m.s.strides[2][d] = two.strides[1][d];
    }
    m.s.data[0] = m.s.data[1] = two.data[0];
    m.s.data[2] = two.data[1];
  }
  m.elem_size = int(out.element_size());
  m.inplace = inplace;
  if (m.s.numel == 0) return true;
  OnDevice on(out);
  GF_ADV(out, masked_fill, m);
  return true;
}

// On cuda, a mask broadcast over 1- and 2-byte elements: torch's kernel is faster (ours walks such
// a mask element by element: 0.84x torch's with a row mask at bf16 4096^2 on the H100; fp32 1.16x).
// Checked in the entry points the dispatcher calls, not for gemforge's own uses.
bool torch_fills_faster(const Tensor& self, const Tensor& mask) {
  if (!self.is_cuda() || self.element_size() >= 4) return false;
  for (int64_t i = 1; i <= std::max(self.dim(), mask.dim()); ++i) {
    const int64_t ms = i <= mask.dim() ? mask.size(-i) : 1, ss = i <= self.dim() ? self.size(-i) : 1;
    if (ms == 1 && ss > 1) return true;
  }
  return false;
}

// route: false for gemforge's own uses (torch_fills_faster not consulted)
Tensor masked_fill_functional(const Tensor& self, const Tensor& mask, const Scalar& value, Tensor out,
                              bool route = true) {
  check_fill_mask(mask);
  if (!out.defined()) {
    out = at::empty(at::infer_size(mask.sizes(), self.sizes()), self.options());
  } else {
    at::native::resize_output(out, at::infer_size(mask.sizes(), self.sizes()));
  }
  if (!(route && torch_fills_faster(self, mask)) && masked_fill_run(out, self, mask, value)) return out;
  reg::note_fallback();
  if (!self.is_same(out)) out.copy_(self.expand(out.sizes()));
  return out.masked_fill_(mask, value);
}

// ---- advanced indexing ------------------------------------------------------------------------
std::string shapes_as_str(const std::vector<Tensor>& tensors) {
  std::ostringstream os;
  bool first = true;
  for (const Tensor& t : tensors) {
    if (!t.defined()) continue;
    if (!first) os << ", ";
    os << t.sizes();
    first = false;
  }
  return os.str();
}

// self (dims permuted when the indexed dims are apart) and one int64 index or none per dim of
// it, broadcast together, on self's device: torch's make_info, with masks expanded by our
// nonzero. False: a case left to torch.
struct Advanced {
  Tensor src;
  std::vector<Tensor> indices;
  int64_t first = 0, count = 0;  // the indexed dims [first, first + count) of src
  std::vector<int64_t> index_shape, result_shape;
};

bool prepare(const Tensor& self, const IndexList& orig, Advanced& a) {
  TORCH_CHECK_INDEX(orig.size() <= size_t(self.dim()), "too many indices for tensor of dimension ", self.dim(),
                    " (got ", orig.size(), ")");
  std::vector<Tensor> indices;
  bool any = false;
  for (const std::optional<Tensor>& opt : orig) {
    if (!opt.has_value() || !opt->defined()) {
      indices.emplace_back();
      continue;
    }
    const Tensor& index = *opt;
    const ScalarType t = index.scalar_type();
    TORCH_CHECK_INDEX(t == at::kLong || t == at::kInt || t == at::kByte || t == at::kBool,
                      "tensors used as indices must be long, int, byte or bool tensors");
    if (!index.device().is_cpu() && index.device() != self.device()) return false;
    any = true;
    if (t == at::kByte || t == at::kBool) {
      if (t == at::kByte) {
        TORCH_WARN("indexing with dtype torch.uint8 is now deprecated, please use a dtype torch.bool instead.");
      }
      if (int64_t(indices.size()) + index.dim() > self.dim() || index.dim() > kMaxDims) return false;
      for (int64_t j = 0; j < index.dim(); ++j) {
        const int64_t src = int64_t(indices.size()) + j;
        TORCH_CHECK_INDEX(index.size(j) == self.size(src), "The shape of the mask ", index.sizes(), " at index ", j,
                          " does not match the shape of the indexed tensor ", self.sizes(), " at index ", src);
      }
      const Tensor nz = ops::nonzero(index.device() == self.device() ? index : index.to(self.device()));
      for (int64_t j = 0; j < index.dim(); ++j) indices.push_back(nz.select(1, j));
    } else {
      indices.push_back(index.device() == self.device() ? index : index.to(self.device()));
    }
  }
  if (!any) return false;
  at::DimVector shape;
  bool first_shape = true;
  try {
    for (const Tensor& t : indices) {
      if (!t.defined()) continue;
      shape = first_shape ? at::DimVector(t.sizes()) : at::infer_size_dimvector(shape, t.sizes());
      first_shape = false;
    }
  } catch (const std::exception&) {
    TORCH_CHECK_INDEX(false, "shape mismatch: indexing tensors could not be broadcast together with shapes ",
                      shapes_as_str(indices));
  }
  while (indices.size() < size_t(self.dim())) indices.emplace_back();
  // indexed dims apart: they go to the front, the result's index dims first
  int64_t first = -1, last = -1, count = 0;
  for (size_t i = 0; i < indices.size(); ++i) {
    if (!indices[i].defined()) continue;
    if (first < 0) first = int64_t(i);
    last = int64_t(i);
    ++count;
  }
  a.src = self;
  if (last - first + 1 != count) {
    std::vector<int64_t> perm;
    std::vector<Tensor> moved;
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i = 0; i < indices.size(); ++i) {
        if (indices[i].defined() == (pass == 0)) {
          perm.push_back(int64_t(i));
          moved.push_back(indices[i]);
        }
      }
    }
    a.src = self.permute(perm);
    indices = std::move(moved);
    first = 0;
  }
  a.first = first;
  a.count = count;
  a.index_shape.assign(shape.begin(), shape.end());
  a.indices.clear();
  for (Tensor& t : indices) {
    if (t.defined()) a.indices.push_back((t.scalar_type() == at::kLong ? t : t.to(at::kLong)).expand(shape));
  }
  a.result_shape.clear();
  for (int64_t j = 0; j < first; ++j) a.result_shape.push_back(a.src.size(j));
  a.result_shape.insert(a.result_shape.end(), shape.begin(), shape.end());
  for (int64_t j = first + count; j < a.src.dim(); ++j) a.result_shape.push_back(a.src.size(j));
  return a.result_shape.size() <= size_t(kMaxDims) && a.indices.size() <= size_t(kMaxIndices);
}

// The Indexing of a prepared index with `dense` (result-shaped, any strides) as operand 0.
adv::Indexing indexing_of(const Advanced& a, const Tensor& dense) {
  adv::Indexing ix{};
  const int64_t elem = a.src.element_size();
  const int64_t nd = int64_t(a.result_shape.size()), nb = int64_t(a.index_shape.size());
  ix.s.ndim = int(nd);
  ix.s.numel = dense.numel();
  ix.s.data[0] = static_cast<char*>(dense.data_ptr());
  ix.s.data[1] = static_cast<char*>(a.src.data_ptr());
  ix.nidx = int(a.indices.size());
  ix.elem_size = int(elem);
  ix.dtype = a.src.scalar_type();
  for (int k = 0; k < ix.nidx; ++k) {
    ix.index[k] = a.indices[k].const_data_ptr<int64_t>();
    ix.indexed_size[k] = a.src.size(a.first + k);
    ix.indexed_stride[k] = a.src.stride(a.first + k) * elem;
  }
  for (int64_t j = 0; j < nd; ++j) {
    const int d = int(nd - 1 - j);  // the space is innermost first
    ix.s.sizes[d] = a.result_shape[j];
    ix.s.strides[0][d] = dense.stride(j) * elem;
    const bool in_index = j >= a.first && j < a.first + nb;
    int64_t src_dim = j < a.first ? j : j - nb + a.count;
    ix.s.strides[1][d] = in_index ? 0 : a.src.stride(src_dim) * elem;
    for (int k = 0; k < ix.nidx; ++k) ix.index_strides[k][d] = in_index ? a.indices[k].stride(j - a.first) : 0;
  }
  return ix;
}

void raise_bad_index(const adv::BadIndex& bad) {
  TORCH_CHECK_INDEX(bad.k < 0, "index ", bad.index, " is out of bounds for dimension ", bad.k, " with size ",
                    bad.size);
}

void run_indexing(const Tensor& device, const adv::Indexing& ix, bool put, bool accumulate) {
  if (ix.s.numel == 0) return;
#ifdef GEMFORGE_WITH_CUDA
  if (device.is_cuda()) {
    OnDevice on(device);
    adv::index_cuda(ix, put, accumulate);
    return;
  }
#endif
  raise_bad_index(adv::index_cpu(ix, put, accumulate));
}

// Whole dense rows (cuda): the one index on src's dim 0 picks rows of dense trailing dims, and
// `dense` (the result, or the values of a put) is contiguous.
bool try_rows(const Advanced& a, const Tensor& dense, adv::RowsKind kind) {
#ifdef GEMFORGE_WITH_CUDA
  if (!dense.is_cuda() || a.first != 0 || a.indices.size() != 1 || !dense.is_contiguous()) return false;
  const Tensor& index = a.indices[0];
  if (!index.is_contiguous()) return false;
  int64_t row = 1;
  for (int64_t j = a.src.dim() - 1; j >= 1; --j) {
    if (a.src.size(j) != 1 && a.src.stride(j) != row) return false;
    row *= a.src.size(j);
  }
  const int64_t elem = a.src.element_size();
  adv::Rows g{static_cast<char*>(dense.data_ptr()), static_cast<char*>(a.src.data_ptr()),
              index.const_data_ptr<int64_t>(), index.numel(), row * elem, a.src.stride(0) * elem, a.src.size(0)};
  if (dense.numel() == 0) return true;
  OnDevice on(dense);
  adv::rows_cuda(g, kind, a.src.scalar_type());
  return true;
#else
  (void)a;
  (void)dense;
  (void)kind;
  return false;
#endif
}

bool index_served(const Tensor& self) { return on_backend(self) && has(kAll, self.scalar_type()); }

Tensor index_into(const Tensor& self, const IndexList& indices, Tensor out, bool& served) {
  served = false;
  // a large boolean mask on cuda: the result takes the general path, torch's (decided before
  // the mask's nonzero runs, which torch's kernel would run again)
  if (self.is_cuda() && self.numel() > kLargeCuda) {
    for (size_t i = 0; i < indices.size(); ++i) {
      const std::optional<Tensor> t = indices.get(i);
      if (t && t->defined() && (t->scalar_type() == at::kBool || t->scalar_type() == at::kByte)) return out;
    }
  }
  Advanced a;
  if (!index_served(self) || !prepare(self, indices, a)) return out;
  if (!out.defined()) {
    out = at::empty(a.result_shape, self.options());
  } else {
    if (out.scalar_type() != self.scalar_type() || out.device() != self.device()) return out;
    at::native::resize_output(out, a.result_shape);
    at::assert_no_internal_overlap(out);
    at::assert_no_overlap(out, self);
    for (const Tensor& t : a.indices) at::assert_no_overlap(out, t);
  }
  if (try_rows(a, out, adv::RowsKind::gather)) {
    served = true;
    return out;
  }
  // The general per-element kernel ran at 0.5-0.8x torch on the H100 for large results (x[:, idx],
  // boolean masks): torch serves those.
  if (out.is_cuda() && out.numel() > kLargeCuda) return out;
  served = true;
  run_indexing(out, indexing_of(a, out), /*put=*/false, false);
  return out;
}

Tensor& index_put_impl(Tensor& self, const IndexList& indices, const Tensor& values, bool accumulate) {
  TORCH_CHECK_INDEX(indices.size() <= size_t(self.dim()), "too many indices for tensor of dimension ", self.dim(),
                    " (got ", indices.size(), ")");
  auto fallback = [&]() -> Tensor& {
    reg::note_fallback();
    return GF_TORCH_ADV(self, _index_put_impl_, self, indices, values, accumulate, false);
  };
  if (!index_served(self)) return fallback();
  if (at::has_internal_overlap(self) == at::MemOverlap::Yes) {
    TORCH_WARN("Use of index_put_ on expanded tensors is deprecated. Please clone() the tensor before performing "
               "this operation. This also applies to advanced indexing e.g. tensor[indices] = tensor");
  }
  if (!accumulate) {
    auto [as_fill, mask] = at::native::canDispatchToMaskedFill(self, indices, values);
    if (as_fill) return ops::masked_fill_scalar_(self, mask, values.item());
  }
  Tensor value = values;
  if (value.device() != self.device() && value.numel() == 1 && value.dim() == 0) value = value.to(self.device());
  if (value.device() != self.device()) return fallback();
  at::assert_no_overlap(self, value);
  for (const std::optional<Tensor>& index : indices) {
    if (index.has_value() && index->defined()) at::assert_no_overlap(self, *index);
  }
  if (self.is_cuda() && (at::globalContext().deterministicAlgorithms() ||
                         (accumulate && !has(adv::kAccumulateTypesCuda, self.scalar_type())))) {
    return fallback();  // torch's sorted, deterministic put
  }
  Advanced a;
  if (!prepare(self, indices, a)) return fallback();
  TORCH_CHECK(at::is_expandable_to(value.sizes(), a.result_shape), "shape mismatch: value tensor of shape ",
              value.sizes(), " cannot be broadcast to indexing result of shape ", at::IntArrayRef(a.result_shape));
  TORCH_CHECK(value.scalar_type() == self.scalar_type(), "Index put requires the source and destination dtypes match, got ",
              self.scalar_type(), " for the destination and ", value.scalar_type(), " for the source.");
  const Tensor dense = value.expand(a.result_shape);
  if (try_rows(a, dense, accumulate ? adv::RowsKind::accumulate : adv::RowsKind::put)) return self;
  run_indexing(self, indexing_of(a, dense), /*put=*/true, accumulate);
  return self;
}

// ---- masked_select and nonzero ------------------------------------------------------------------
bool nonzero_served(const Tensor& self) {
  // cuda past kLargeCuda elements: torch's (0.48x on the H100 at 4096^2; ours reads the input twice)
  return on_backend(self) && has(adv::kNonzeroTypes, self.scalar_type()) && self.dim() <= kMaxDims &&
         !(self.is_cuda() && self.numel() > kLargeCuda);
}

// The first `rows` coordinates of self's nonzero elements into out ([rows, dim], int64, written
// through its strides), fill past the count. rows < 0: exactly the count, out resized to it and
// laid out column-major like torch's nonzero result.
Tensor& nonzero_into(const Tensor& self, Tensor& out, int64_t rows, int64_t fill) {
  const bool column_major = rows < 0;
  const Tensor in = self.contiguous();
  const adv::Selection sel = selection_of(in);
  OnDevice on(self);
  Tensor offsets;
  if (rows < 0) {
    rows = selected_count(self, sel, offsets);
  } else if (self.is_cuda()) {
    offsets = select_offsets(self, sel);
  }
  const int64_t dim = self.dim();
  const bool resized = out.sizes() != at::IntArrayRef{rows, dim};
  at::native::resize_output(out, {rows, dim});
  if (resized && column_major && rows > 1 && dim > 1) out.as_strided_({rows, dim}, {1, rows});
  if (rows > 0 && dim > 0) {
#ifdef GEMFORGE_WITH_CUDA
    if (self.is_cuda()) {
      adv::nonzero_cuda(sel, offsets.const_data_ptr<int64_t>(), out.mutable_data_ptr<int64_t>(), rows, fill,
                        out.stride(0), out.stride(1));
      return out;
    }
#endif
    adv::nonzero_cpu(sel, out.mutable_data_ptr<int64_t>(), rows, fill, out.stride(0), out.stride(1));
  }
  return out;
}

void check_select_mask(const Tensor& mask) {
  TORCH_CHECK(mask.scalar_type() == at::kBool, "masked_select: expected BoolTensor for mask");
}

Tensor& masked_select_into(const Tensor& self, const Tensor& mask, Tensor& out) {
  const auto shape = at::infer_size_dimvector(self.sizes(), mask.sizes());
  const Tensor src = self.expand(shape).contiguous(), flags = mask.expand(shape).contiguous();
  const adv::Selection sel = selection_of(flags);
  OnDevice on(self);
  Tensor offsets;
  const int64_t n = selected_count(self, sel, offsets);
  at::native::resize_output(out, {n});
  Tensor dense = out.is_contiguous() ? out : at::empty({n}, out.options());
  if (n > 0) {
    const char* s = static_cast<const char*>(src.const_data_ptr());
    char* d = static_cast<char*>(dense.data_ptr());
#ifdef GEMFORGE_WITH_CUDA
    if (self.is_cuda()) {
      adv::masked_select_cuda(sel, offsets.const_data_ptr<int64_t>(), s, int(self.element_size()), d);
    } else
#endif
      adv::masked_select_cpu(sel, s, int(self.element_size()), d);
  }
  if (!dense.is_same(out)) out.copy_(dense);
  return out;
}

bool select_served(const Tensor& self, const Tensor& mask) {
  return on_backend(self) && has(kAll, self.scalar_type()) && mask.device() == self.device() &&
         !(self.is_cuda() && self.numel() > INT_MAX);
}

// ---- view scatters ------------------------------------------------------------------------------
void copy_into(Tensor view, const Tensor& src) { ops::copy_(view, src, false); }

void check_slice_size(const Tensor& slice, const Tensor& src) {
  TORCH_CHECK(slice.sizes() == src.sizes(), "expected src to have a size equal to the slice of self. src size = ",
              src.sizes(), ", slice size = ", slice.sizes());
}

Tensor clone_of(const Tensor& self) {
  Tensor out = at::empty_like(self);
  ops::copy_(out, self, false);
  return out;
}

// What torch's view scatters start from (its clone_preserve_strides): self's whole storage
// cloned and viewed as self (sizes, strides, storage offset), so that the result keeps self's
// layout and as_strided_scatter's window addresses the same storage elements as torch's; a plain
// clone where self overlaps itself (the scatter's copy could not write it).
Tensor clone_preserving_layout(const Tensor& self) {
  if (at::has_internal_overlap(self) == at::MemOverlap::Yes) return clone_of(self);
  const int64_t elements = static_cast<int64_t>(self.storage().nbytes() / self.dtype().itemsize());
  return clone_of(self.as_strided({elements}, {1}, 0)).as_strided(self.sizes(), self.strides(), self.storage_offset());
}

Tensor zeros_like_sizes(const Tensor& grad, c10::SymIntArrayRef sizes) {
  Tensor out = at::empty(C10_AS_INTARRAYREF_SLOW(sizes), grad.options());
  return ops::zero_(out);
}

// indices clamped into [-size, size) of their dims (long or int only), as torch's composites do.
IndexList clamped_indices(const Tensor& self, const IndexList& indices) {
  IndexList clamped;
  clamped.reserve(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    const std::optional<Tensor> index = indices.get(i);
    if (!index.has_value() || !index->defined()) {
      clamped.push_back(std::nullopt);
      continue;
    }
    const ScalarType t = index->scalar_type();
    TORCH_CHECK(t == at::kLong || t == at::kInt, "_unsafe_masked_index found unexpected index type ", t);
    const int64_t size = self.size(int64_t(i));
    clamped.push_back(ops::clamp(*index, Scalar(-size), Scalar(size - 1)));
  }
  return clamped;
}

}  // namespace

// ---- masked_fill --------------------------------------------------------------------------------
Tensor masked_fill_scalar(const Tensor& self, const Tensor& mask, const Scalar& value) {
  return masked_fill_functional(self, mask, value, Tensor());
}
Tensor masked_fill_tensor(const Tensor& self, const Tensor& mask, const Tensor& value) {
  return masked_fill_functional(self, mask, fill_value_of(value), Tensor());
}
Tensor& masked_fill_scalar_out(const Tensor& self, const Tensor& mask, const Scalar& value, Tensor& out) {
  masked_fill_functional(self, mask, value, out);
  return out;
}
Tensor& masked_fill_tensor_out(const Tensor& self, const Tensor& mask, const Tensor& value, Tensor& out) {
  masked_fill_functional(self, mask, fill_value_of(value), out);
  return out;
}

Tensor& masked_fill_scalar_(Tensor& self, const Tensor& mask, const Scalar& value) {
  check_fill_mask(mask);
  if (at::has_internal_overlap(self) == at::MemOverlap::Yes) {
    TORCH_WARN("Use of masked_fill_ on expanded tensors is deprecated. Please clone() the tensor before performing "
               "this operation. This also applies to advanced indexing e.g. tensor[mask] = scalar");
  }
  at::assert_no_partial_overlap(self, mask);
  if (!torch_fills_faster(self, mask) && masked_fill_run(self, self, mask, value)) return self;
  return GF_ADV_FALLBACK(self, masked_fill_, self, mask, value);
}

Tensor& masked_fill_tensor_(Tensor& self, const Tensor& mask, const Tensor& value) {
  if (value.device() != self.device() && !value.is_cpu()) {
    return GF_ADV_FALLBACK(self, masked_fill_, self, mask, value);
  }
  check_fill_mask(mask);
  return ops::masked_fill_scalar_(self, mask, fill_value_of(value));
}

// ---- masked_scatter -------------------------------------------------------------------------------
Tensor& masked_scatter_(Tensor& self, const Tensor& mask, const Tensor& source) {
  TORCH_CHECK(mask.scalar_type() == at::kBool, "masked_scatter_ only supports boolean masks, but got mask with dtype ",
              mask.scalar_type());
  TORCH_CHECK(self.scalar_type() == source.scalar_type(), "masked_scatter: expected self and source to have same "
              "dtypes but got", self.scalar_type(), " and ", source.scalar_type());
  if (!on_backend(self) || !has(kAll, self.scalar_type()) || mask.device() != self.device() ||
      source.device() != self.device() || self.dim() > kMaxDims || (self.is_cuda() && self.numel() > INT_MAX)) {
    return GF_ADV_FALLBACK(self, masked_scatter_, self, mask, source);
  }
  at::assert_no_internal_overlap(self);
  const Tensor flags = mask.expand(self.sizes()).contiguous();
  const Tensor src = source.contiguous();
  const adv::Selection sel = selection_of(flags);
  adv::Strided dst{static_cast<char*>(self.data_ptr()), int(self.dim()), {}, {}};
  for (int d = 0; d < dst.ndim; ++d) {
    dst.sizes[d] = self.size(d);
    dst.strides[d] = self.stride(d) * self.element_size();
  }
  if (self.numel() == 0) return self;
  OnDevice on(self);
  const char* s = static_cast<const char*>(src.const_data_ptr());
#ifdef GEMFORGE_WITH_CUDA
  if (self.is_cuda()) {
    const Tensor offsets = select_offsets(self, sel);
    adv::masked_scatter_cuda(sel, offsets.const_data_ptr<int64_t>(), dst, s, src.numel(), int(self.element_size()));
    return self;
  }
#endif
  TORCH_CHECK(adv::count_nonzero_cpu(sel) <= src.numel(), "Number of elements of source < number of ones in mask");
  adv::masked_scatter_cpu(sel, dst, s, int(self.element_size()));
  return self;
}

Tensor masked_scatter(const Tensor& self, const Tensor& mask, const Tensor& source) {
  const auto shape = at::infer_size_dimvector(mask.sizes(), self.sizes());
  Tensor out = at::empty(shape, self.options());
  ops::copy_(out, self.expand(shape), false);
  return ops::masked_scatter_(out, mask, source);
}

Tensor masked_scatter_backward(const Tensor& grad_output, const Tensor& mask, c10::SymIntArrayRef sizes) {
  const auto shape = C10_AS_INTARRAYREF_SLOW(sizes);
  const int64_t numel = c10::multiply_integers(shape);
  Tensor selected = ops::masked_select(grad_output, mask);
  if (selected.numel() == numel) return selected.view(shape);
  Tensor out = at::empty({numel}, grad_output.options());
  copy_into(out.narrow(0, 0, selected.numel()), selected);
  Tensor rest = out.narrow(0, selected.numel(), numel - selected.numel());
  ops::zero_(rest);
  return out.view(shape);
}

// ---- masked_select and nonzero ------------------------------------------------------------------
Tensor& masked_select_out(const Tensor& self, const Tensor& mask, Tensor& out) {
  check_select_mask(mask);
  if (!select_served(self, mask) || out.scalar_type() != self.scalar_type() || out.device() != self.device()) {
    return GF_ADV_FALLBACK(self, masked_select_outf, self, mask, out);
  }
  at::assert_no_internal_overlap(out);
  at::assert_no_overlap(out, self);
  at::assert_no_overlap(out, mask);
  return masked_select_into(self, mask, out);
}

Tensor masked_select(const Tensor& self, const Tensor& mask) {
  check_select_mask(mask);
  if (!select_served(self, mask)) return GF_ADV_FALLBACK(self, masked_select, self, mask);
  Tensor out = at::empty({0}, self.options());
  return masked_select_into(self, mask, out);
}

Tensor& nonzero_out(const Tensor& self, Tensor& out) {
  if (!nonzero_served(self) || out.scalar_type() != at::kLong || out.device() != self.device()) {
    return GF_ADV_FALLBACK(self, nonzero_outf, self, out);
  }
  return nonzero_into(self, out, -1, 0);
}

Tensor nonzero(const Tensor& self) {
  if (!nonzero_served(self)) return GF_ADV_FALLBACK(self, nonzero, self);
  Tensor out = at::empty({0}, self.options().dtype(at::kLong));
  return nonzero_into(self, out, -1, 0);
}

Tensor& nonzero_static_out(const Tensor& self, c10::SymInt size, int64_t fill_value, Tensor& out) {
  const int64_t rows = size.expect_int();
  TORCH_CHECK(rows >= 0, "nonzero_static: 'size' must be an non-negative integer");
  // cuda: torch's out= form lays out its result its own way (a (dim, size) shape seen on the
  // H100), so torch's kernel serves it
  if (!nonzero_served(self) || self.is_cuda() || out.scalar_type() != at::kLong || out.device() != self.device()) {
    return GF_ADV_FALLBACK(self, nonzero_static_outf, self, rows, fill_value, out);
  }
  return nonzero_into(self, out, rows, fill_value);
}

Tensor nonzero_static(const Tensor& self, c10::SymInt size, int64_t fill_value) {
  const int64_t rows = size.expect_int();
  TORCH_CHECK(rows >= 0, "nonzero_static: 'size' must be an non-negative integer");
  if (!nonzero_served(self)) return GF_ADV_FALLBACK(self, nonzero_static, self, rows, fill_value);
  Tensor out = at::empty({rows, self.dim()}, self.options().dtype(at::kLong));
  return nonzero_into(self, out, rows, fill_value);
}

// ---- index.Tensor and index_put -----------------------------------------------------------------
Tensor index(const Tensor& self, const IndexList& indices) {
  bool served = false;
  Tensor out = index_into(self, indices, Tensor(), served);
  return served ? out : GF_ADV_FALLBACK(self, index, self, indices);
}

Tensor& index_out(const Tensor& self, const IndexList& indices, Tensor& out) {
  bool served = false;
  index_into(self, indices, out, served);
  return served ? out : GF_ADV_FALLBACK(self, index_outf, self, indices, out);
}

Tensor& _index_put_impl_(Tensor& self, const IndexList& indices, const Tensor& values, bool accumulate,
                         bool /*unsafe*/) {
  return index_put_impl(self, indices, values, accumulate);
}

Tensor& index_put_(Tensor& self, const IndexList& indices, const Tensor& values, bool accumulate) {
  return index_put_impl(self, indices, values, accumulate);
}

Tensor index_put(const Tensor& self, const IndexList& indices, const Tensor& values, bool accumulate) {
  Tensor out = clone_of(self);
  return index_put_impl(out, indices, values, accumulate);
}

Tensor _unsafe_masked_index(const Tensor& self, const Tensor& mask, const IndexList& indices, const Scalar& fill) {
  const IndexList clamped = clamped_indices(self, indices);
  if (self.numel() == 0) {  // every element masked off: fill, in the shape indexing would give
    std::vector<int64_t> sizes(self.sizes().begin(), self.sizes().end());
    for (size_t i = 0; i < indices.size(); ++i) {
      const std::optional<Tensor> index = indices.get(i);
      if (index.has_value() && index->defined() && sizes[i] == 0) sizes[i] = 1;
    }
    Tensor full = at::empty(sizes, self.options());
    ops::fill_(full, fill);
    return ops::index(full, clamped);
  }
  return masked_fill_functional(ops::index(self, clamped), ops::logical_not(mask), fill, Tensor(),
                                /*route=*/false);
}

Tensor _unsafe_masked_index_put_accumulate(const Tensor& self, const Tensor& mask, const IndexList& indices,
                                           const Tensor& values) {
  if (self.numel() == 0) return clone_of(self);
  const IndexList clamped = clamped_indices(self, indices);
  return ops::index_put(self, clamped,
                        masked_fill_functional(values, ops::logical_not(mask), 0, Tensor(), /*route=*/false), true);
}

// ---- view scatters: the output, then the source copied into the view ---------------------------
Tensor select_backward(const Tensor& grad_output, c10::SymIntArrayRef input_sizes, int64_t dim, c10::SymInt index) {
  Tensor out = zeros_like_sizes(grad_output, input_sizes);
  copy_into(out.select(dim, index.expect_int()), grad_output);
  return out;
}

Tensor slice_backward(const Tensor& grad_output, c10::SymIntArrayRef input_sizes, int64_t dim, c10::SymInt start,
                      c10::SymInt end, c10::SymInt step) {
  Tensor out = zeros_like_sizes(grad_output, input_sizes);
  copy_into(out.slice(dim, start.expect_int(), end.expect_int(), step.expect_int()), grad_output);
  return out;
}

Tensor select_scatter(const Tensor& self, const Tensor& src, int64_t dim, c10::SymInt index) {
  Tensor out = clone_preserving_layout(self);
  Tensor slice = out.select(dim, index.expect_int());
  check_slice_size(slice, src);
  copy_into(slice, src);
  return out;
}

Tensor slice_scatter(const Tensor& self, const Tensor& src, int64_t dim, std::optional<c10::SymInt> start,
                     std::optional<c10::SymInt> end, c10::SymInt step) {
  Tensor out = clone_preserving_layout(self);
  const auto to_int = [](const std::optional<c10::SymInt>& v) -> std::optional<int64_t> {
    if (!v) return std::nullopt;
    return v->expect_int();
  };
  Tensor slice = out.slice(dim, to_int(start), to_int(end), step.expect_int());
  check_slice_size(slice, src);
  copy_into(slice, src);
  return out;
}

Tensor diagonal_scatter(const Tensor& self, const Tensor& src, int64_t offset, int64_t dim1, int64_t dim2) {
  Tensor out = clone_preserving_layout(self);
  Tensor slice = out.diagonal(offset, dim1, dim2);
  check_slice_size(slice, src);
  copy_into(slice, src);
  return out;
}

Tensor as_strided_scatter(const Tensor& self, const Tensor& src, c10::SymIntArrayRef size, c10::SymIntArrayRef stride,
                          std::optional<c10::SymInt> storage_offset) {
  Tensor out = clone_preserving_layout(self);
  Tensor slice = out.as_strided(C10_AS_INTARRAYREF_SLOW(size), C10_AS_INTARRAYREF_SLOW(stride),
                                storage_offset ? std::optional<int64_t>(storage_offset->expect_int()) : std::nullopt);
  check_slice_size(slice, src);
  copy_into(slice, src);
  return out;
}

}  // namespace gemforge::ops
