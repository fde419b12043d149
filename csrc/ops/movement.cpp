// Data movement: cat and stack (one launch of the block-copy kernel for every dense input of the
// output's dtype, the pointwise copy_ for the others), _to_copy and clone, the *_copy ops that
// materialise a view, and roll. Conversions and strided copies all run on ops::copy_ (the
// pointwise engine: a memcpy when dense, vector casts, tiled transposes); this file only decides
// shapes, layouts and errors as torch does and allocates without a dispatcher round trip.
#include "ops/movement.h"

#include "backends/movement.h"
#include "ops/ops.h"
#include "registry/registry.h"

#include <ATen/CPUFunctions.h>
#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/EmptyTensor.h>
#include <ATen/ExpandUtils.h>
#include <ATen/Functions.h>
#include <ATen/InferSize.h>
#include <ATen/TensorUtils.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/WrapDimUtils.h>
#include <ATen/native/Resize.h>
#include <ATen/native/TypeProperties.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/util/SmallVector.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/CUDAFunctions.h>
#include <ATen/cuda/EmptyTensor.h>
#endif

#include <vector>

namespace gemforge::ops {
namespace {

#ifdef GEMFORGE_WITH_CUDA
#define GF_MOVE_TORCH(t, fn, ...) ((t).is_cuda() ? at::cuda::fn(__VA_ARGS__) : at::cpu::fn(__VA_ARGS__))
#else
#define GF_MOVE_TORCH(t, fn, ...) at::cpu::fn(__VA_ARGS__)
#endif
#define GF_MOVE_FALLBACK(expr) (::gemforge::reg::note_fallback(), expr)

// ops::copy_, counted as a call of copy_ while stats record (as a nested call through the
// dispatcher would be), without the dispatcher's host time.
Tensor& counted_copy(Tensor& dst, const Tensor& src, bool non_blocking) {
  return reg::counted<&ops::copy_>::call(dst, src, non_blocking);
}

bool on_backend(const Tensor& t) {
  return (t.is_cpu() || t.is_cuda()) && t.layout() == at::kStrided && !t.is_quantized() &&
         !t.has_names();
}

struct OnDevice {  // t's device current while kernels launch
  c10::OptionalDeviceGuard guard;
  explicit OnDevice(const Tensor& t) {
    if (t.is_cuda()) guard.reset_device(t.device());
  }
};

// New tensors straight from the device's allocator (at::empty's dispatcher round trip is host
// time a tiny call would feel).
Tensor empty_on(at::IntArrayRef sizes, at::ScalarType dtype, c10::Device device,
                at::MemoryFormat format = at::MemoryFormat::Contiguous) {
#ifdef GEMFORGE_WITH_CUDA
  if (device.is_cuda()) return at::detail::empty_cuda(sizes, dtype, device, format);
#endif
  return at::detail::empty_cpu(sizes, dtype, false, format);
}

Tensor empty_strided_on(at::IntArrayRef sizes, at::IntArrayRef strides, at::ScalarType dtype,
                        c10::Device device) {
#ifdef GEMFORGE_WITH_CUDA
  if (device.is_cuda()) return at::detail::empty_strided_cuda(sizes, strides, dtype, device);
#endif
  return at::detail::empty_strided_cpu(sizes, strides, dtype);
}

// A copy of `self` in `dtype`, laid out as torch's clone and _to_copy lay it out.
Tensor empty_for_copy(const Tensor& self, at::ScalarType dtype, OptMemoryFormat memory_format) {
  const auto format = memory_format.value_or(at::MemoryFormat::Preserve);
  if (format != at::MemoryFormat::Preserve) return empty_on(self.sizes(), dtype, self.device(), format);
  if (self.is_non_overlapping_and_dense())
    return empty_strided_on(self.sizes(), self.strides(), dtype, self.device());
  return empty_strided_on(self.sizes(), at::infer_dense_strides(self.sizes(), self.strides()), dtype,
                          self.device());
}

void copy_blocks(const Tensor& like, const c10::SmallVectorImpl<movement::Block>& blocks) {
  if (blocks.empty()) return;
#ifdef GEMFORGE_WITH_CUDA
  if (like.is_cuda()) return movement::copy_blocks_cuda(blocks.data(), int64_t(blocks.size()));
#endif
  movement::copy_blocks_cpu(blocks.data(), int64_t(blocks.size()));
}

bool dense_of(const Tensor& t, at::ScalarType dtype) {
  return t.scalar_type() == dtype && t.is_contiguous() && !t.is_conj() && !t.is_neg();
}

// Writes the parts one after another along `dim` of `out`, part i taking extent(i) positions:
// dense parts of out's dtype through one block copy, the others through copy_ into
// slice(i, offset, extent). Every part is on out's device.
template <class Parts, class Extent, class Slice>
void assemble(const Tensor& out, int64_t dim, const Parts& parts, Extent&& extent, Slice&& slice) {
  if (out.numel() == 0) return;
  const int64_t elem = int64_t(out.element_size());
  int64_t rows = 1, inner = elem;
  for (int64_t d = 0; d < dim; ++d) rows *= out.size(d);
  for (int64_t d = dim + 1; d < out.dim(); ++d) inner *= out.size(d);
  const int64_t out_row = out.size(dim) * inner;
  const bool out_dense = dense_of(out, out.scalar_type());
  char* base = static_cast<char*>(out.data_ptr());
  c10::SmallVector<movement::Block, 8> blocks;
  OnDevice on(out);
  int64_t offset = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = parts[i];
    const int64_t n = extent(t);
    if (n > 0) {
      if (out_dense && dense_of(t, out.scalar_type())) {
        blocks.push_back({static_cast<const char*>(t.const_data_ptr()), base + offset * inner, rows,
                          n * inner, n * inner, out_row});
      } else {
        Tensor dst = slice(i, offset, n);
        counted_copy(dst, t, false);
      }
    }
    offset += n;
  }
  copy_blocks(out, blocks);
}

// ---- cat ------------------------------------------------------------------------------------------
bool cat_skipped(const Tensor& t) { return t.dim() == 1 && t.numel() == 0; }  // legacy (0,) tensors

// torch's choice: the inputs' common suggested memory format, else contiguous.
at::MemoryFormat cat_memory_format(const at::MaterializedITensorListRef& tensors) {
  std::optional<at::MemoryFormat> format;
  for (const Tensor& t : tensors) {
    const auto f = t.suggest_memory_format();
    if (f == at::MemoryFormat::Contiguous) return f;
    if (format && *format != f) return at::MemoryFormat::Contiguous;
    format = f;
  }
  return *format;
}

struct CatShape {
  int64_t dim;
  std::vector<int64_t> sizes;
  at::ScalarType dtype;
  at::MemoryFormat format;
  bool found_valid;
};

// torch's checks and the output's shape, dtype and memory format; nullopt when another device
// or layout is involved (torch's kernel then decides, and raises).
std::optional<CatShape> cat_shape(const at::MaterializedITensorListRef& tensors, int64_t dim,
                                  const Tensor* out) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    TORCH_CHECK(tensors[i].get().dim() > 0, "zero-dimensional tensor (at position ", i,
                ") cannot be concatenated");
  }
  dim = at::legacy_cat_wrap_dim(dim, tensors);
  TORCH_CHECK_VALUE(!tensors.empty(), "torch.cat(): expected a non-empty list of Tensors");
  const Tensor& first = tensors[0];
  if (!on_backend(first)) return std::nullopt;
  for (const Tensor& t : tensors)
    if (t.device() != first.device() || !on_backend(t)) return std::nullopt;
  if (out && (out->device() != first.device() || !on_backend(*out))) return std::nullopt;

  CatShape s{dim, {0}, at::native::result_type(tensors), cat_memory_format(tensors), false};
  if (out) {
    TORCH_CHECK_TYPE(at::canCast(s.dtype, out->scalar_type()),
                     "torch.cat(): input types can't be cast to the desired output type ",
                     out->scalar_type());
    s.dtype = out->scalar_type();
  }
  size_t valid = tensors.size();
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!cat_skipped(tensors[i])) {
      valid = i;
      break;
    }
  }
  if (valid == tensors.size()) return s;
  s.found_valid = true;
  const Tensor& ref = tensors[valid];
  TORCH_CHECK(dim <= ref.dim(), "torch.cat(): dimension ", dim, "out of range");
  int64_t size_at_dim = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (cat_skipped(t)) continue;
    TORCH_CHECK(t.dim() == ref.dim(), "Tensors must have same number of dimensions: got ", ref.dim(),
                " and ", t.dim());
    for (int64_t d = 0; d < ref.dim(); ++d) {
      if (d == dim) continue;
      TORCH_CHECK(ref.size(d) == t.size(d), "Sizes of tensors must match except in dimension ", dim,
                  ". Expected size ", ref.size(d), " but got size ", t.size(d), " for tensor number ",
                  i, " in the list.");
    }
    size_at_dim += t.size(dim);
  }
  s.sizes = ref.sizes().vec();
  s.sizes[dim] = size_at_dim;
  return s;
}

void cat_into(const Tensor& out, const at::MaterializedITensorListRef& tensors, int64_t dim) {
  c10::SmallVector<Tensor, 8> parts;
  for (const Tensor& t : tensors)
    if (!cat_skipped(t)) parts.push_back(t);
  assemble(out, dim, parts, [&](const Tensor& t) { return t.size(dim); },
           [&](size_t, int64_t offset, int64_t n) { return out.narrow(dim, offset, n); });
}

// out= as torch's structured kernels take it: resized (and then restrided) only when its shape
// differs, never overlapping an input.
void prepare_out(Tensor& out, at::IntArrayRef sizes, at::MemoryFormat format) {
  if (at::native::resize_output(out, sizes)) out.unsafeGetTensorImpl()->empty_tensor_restride(format);
}

void check_out_overlap(const Tensor& out, at::ArrayRef<Tensor> inputs) {
  at::assert_no_internal_overlap(out);
  for (const Tensor& t : inputs) at::assert_no_overlap(out, t);
}

// ---- stack ----------------------------------------------------------------------------------------
std::optional<int64_t> stack_dim(at::TensorList tensors, int64_t dim) {
  TORCH_CHECK(!tensors.empty(), "stack expects a non-empty TensorList");
  const int64_t d = c10::maybe_wrap_dim(dim, tensors[0].dim() + 1);
  for (size_t i = 1; i < tensors.size(); ++i) {
    TORCH_CHECK(tensors[i].sizes() == tensors[0].sizes(), "stack expects each tensor to be equal size, but got ",
                tensors[0].sizes(), " at entry 0 and ", tensors[i].sizes(), " at entry ", i);
  }
  for (const Tensor& t : tensors)
    if (!on_backend(t) || t.device() != tensors[0].device()) return std::nullopt;
  return d;
}

std::vector<int64_t> stack_sizes(at::TensorList tensors, int64_t d) {
  std::vector<int64_t> sizes = tensors[0].sizes().vec();
  sizes.insert(sizes.begin() + d, int64_t(tensors.size()));
  return sizes;
}

void stack_into(const Tensor& out, at::TensorList tensors, int64_t d) {
  assemble(out, d, tensors, [](const Tensor&) { return int64_t(1); },
           [&](size_t i, int64_t, int64_t) { return out.select(d, int64_t(i)); });
}

// ---- copies ---------------------------------------------------------------------------------------
// The device `device` names, with the current device's index where it names none.
c10::Device with_index(c10::Device device) {
  if (device.has_index() || device.is_cpu()) return device;
  return c10::impl::getDeviceGuardImpl(device.type())->getDevice();
}

bool copy_served(const Tensor& self) { return on_backend(self) && !self._is_zerotensor(); }

// out = self (same dtype and device, resized to self's shape) through copy_, or through a
// temporary when they share memory (torch's out= wrappers copy from a fresh result).
Tensor& copy_to_out(const Tensor& self, Tensor& out) {
  TORCH_CHECK(out.dtype() == self.dtype(), "Expected out tensor to have dtype ", self.dtype(), ", but got ",
              out.dtype(), " instead");
  TORCH_CHECK(out.device() == self.device(), "Expected out tensor to have device ", self.device(),
              ", but got ", out.device(), " instead");
  at::native::resize_output(out, self.sizes());
  if (at::get_overlap_status(out, self) != at::MemOverlapStatus::No) return counted_copy(out, self.clone(), false);
  return counted_copy(out, self, false);
}

Tensor materialize(const Tensor& view) {
  Tensor out = empty_on(view.sizes(), view.scalar_type(), view.device());
  if (out.numel() > 0) counted_copy(out, view, false);
  return out;
}

// ---- roll -----------------------------------------------------------------------------------------
// One dimension of contiguous tensors: out[.., (j + shift) % n, ..] = self[.., j, ..], two blocks.
void roll_dim(const Tensor& out, const Tensor& self, int64_t dim, int64_t shift) {
  const int64_t n = self.size(dim);
  const int64_t elem = int64_t(self.element_size());
  int64_t rows = 1, inner = elem;
  for (int64_t d = 0; d < dim; ++d) rows *= self.size(d);
  for (int64_t d = dim + 1; d < self.dim(); ++d) inner *= self.size(d);
  const int64_t s = ((shift % n) + n) % n;
  const char* src = static_cast<const char*>(self.const_data_ptr());
  char* dst = static_cast<char*>(out.data_ptr());
  const int64_t row = n * inner;
  c10::SmallVector<movement::Block, 2> blocks;
  blocks.push_back({src, dst + s * inner, rows, (n - s) * inner, row, row});
  if (s > 0) blocks.push_back({src + (n - s) * inner, dst, rows, s * inner, row, row});
  OnDevice on(out);
  copy_blocks(out, blocks);
}

// torch's roll: no dims rolls the flattened tensor; several dims roll one after another.
Tensor& roll_into(Tensor& out, const Tensor& self, at::IntArrayRef shifts, at::IntArrayRef dims) {
  if (self.numel() == 0) return out;
  if (dims.empty()) {
    roll_dim(out.view({-1}), self.contiguous().view({-1}), 0, shifts[0]);
    return out;
  }
  Tensor src = self.is_contiguous() ? self : self.contiguous();
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = c10::maybe_wrap_dim(dims[i], self.dim());
    Tensor dst = i + 1 == dims.size() ? out : empty_on(self.sizes(), self.scalar_type(), self.device());
    roll_dim(dst, src, d, shifts[i]);
    src = dst;
  }
  return out;
}

void check_roll(const Tensor& self, at::IntArrayRef shifts, at::IntArrayRef dims) {
  TORCH_CHECK(!shifts.empty(), "`shifts` required");
  if (dims.empty() && shifts.size() == 1) return;
  TORCH_CHECK(shifts.size() == dims.size(), "shifts and dimensions must align. shifts: ", shifts.size(),
              ", dims:", dims.size());
  (void)self;
}

}  // namespace

// ---- cat and stack ----------------------------------------------------------------------------------
Tensor cat(const at::ITensorListRef& tensors, int64_t dim) {
  auto materialized = tensors.materialize();
  auto shape = cat_shape(materialized, dim, nullptr);
  const Tensor& first = materialized[0];
  if (!shape) return GF_MOVE_FALLBACK(GF_MOVE_TORCH(first, cat, tensors, dim));
  Tensor out = empty_on(shape->sizes, shape->dtype, first.device(), shape->format);
  if (shape->found_valid) cat_into(out, materialized, shape->dim);
  return out;
}

Tensor& cat_out(const at::ITensorListRef& tensors, int64_t dim, Tensor& out) {
  auto materialized = tensors.materialize();
  auto shape = cat_shape(materialized, dim, &out);
  if (!shape) return GF_MOVE_FALLBACK(GF_MOVE_TORCH(out, cat_outf, tensors, dim, out));
  prepare_out(out, shape->sizes, shape->format);
  if (!shape->found_valid) return out;
  at::assert_no_internal_overlap(out);
  for (const Tensor& t : materialized) at::assert_no_overlap(out, t);
  cat_into(out, materialized, shape->dim);
  return out;
}

Tensor stack(at::TensorList tensors, int64_t dim) {
  auto d = stack_dim(tensors, dim);
  if (!d) return GF_MOVE_FALLBACK(at::compositeexplicitautograd::stack(tensors, dim));
  const auto sizes = stack_sizes(tensors, *d);
  Tensor out = empty_on(sizes, at::native::result_type(tensors), tensors[0].device());
  stack_into(out, tensors, *d);
  return out;
}

Tensor& stack_out(at::TensorList tensors, int64_t dim, Tensor& out) {
  auto d = stack_dim(tensors, dim);
  if (!d || out.device() != tensors[0].device() || !on_backend(out))
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::stack_outf(tensors, dim, out));
  TORCH_CHECK_TYPE(at::canCast(at::native::result_type(tensors), out.scalar_type()),
                   "torch.cat(): input types can't be cast to the desired output type ", out.scalar_type());
  prepare_out(out, stack_sizes(tensors, *d), at::MemoryFormat::Contiguous);
  check_out_overlap(out, tensors);
  stack_into(out, tensors, *d);
  return out;
}

// ---- conversions and clones -------------------------------------------------------------------------
Tensor to_copy(const Tensor& self, std::optional<at::ScalarType> dtype, std::optional<at::Layout> layout,
               std::optional<at::Device> device, std::optional<bool> pin_memory, bool non_blocking,
               OptMemoryFormat memory_format) {
  const bool served = copy_served(self) && (!layout || *layout == at::kStrided) &&
                      (!device || (device->type() == self.device().type() && with_index(*device) == self.device())) && !pin_memory.value_or(false);
  if (!served) {
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::_to_copy(self, dtype, layout, device, pin_memory,
                                                                    non_blocking, memory_format));
  }
  Tensor out = empty_for_copy(self, dtype.value_or(self.scalar_type()), memory_format);
  if (out.numel() > 0) counted_copy(out, self, non_blocking);
  return out;
}

Tensor& to_copy_out(const Tensor& self, bool non_blocking, OptMemoryFormat memory_format, Tensor& out) {
  if (!copy_served(self) || !on_backend(out) || out.device() != self.device()) {
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::_to_copy_outf(self, non_blocking, memory_format, out));
  }
  at::native::resize_output(out, self.sizes());
  if (at::get_overlap_status(out, self) != at::MemOverlapStatus::No)
    return counted_copy(out, ops::clone(self, memory_format), non_blocking);
  return counted_copy(out, self, non_blocking);
}

Tensor clone(const Tensor& self, OptMemoryFormat memory_format) {
  if (!copy_served(self)) return GF_MOVE_FALLBACK(at::compositeexplicitautograd::clone(self, memory_format));
  Tensor out = empty_for_copy(self, self.scalar_type(), memory_format);
  if (out.numel() > 0) counted_copy(out, self, false);
  return out;
}

Tensor& clone_out(const Tensor& self, OptMemoryFormat memory_format, Tensor& out) {
  if (!copy_served(self) || !on_backend(out) || out.device() != self.device())
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::clone_outf(self, memory_format, out));
  return copy_to_out(self, out);
}

// ---- the *_copy ops ----------------------------------------------------------------------------------
Tensor view_or_reshape(const Tensor& self, at::IntArrayRef size) {
  const auto shape = at::infer_size_dv(size, self.numel());
  if (at::detail::computeStride(self.sizes(), self.strides(), shape).has_value()) return self.view(size);
  return self.reshape(size);
}

#define GF_DEFINE_VIEW_COPY(name, params, view)                                        \
  Tensor name(const Tensor& self GF_MOVEMENT_UNPAREN params) { return materialize(view); } \
  Tensor& name##_out(const Tensor& self GF_MOVEMENT_UNPAREN params, Tensor& out) {      \
    return copy_to_out(view, out);                                                     \
  }
GF_MOVEMENT_VIEW_COPIES(GF_DEFINE_VIEW_COPY)
#undef GF_DEFINE_VIEW_COPY

Tensor narrow_copy(const Tensor& self, int64_t dim, int64_t start, int64_t length) {
  return materialize(self.narrow(dim, start, length));
}

// ---- constant_pad_nd ----------------------------------------------------------------------------------
// Negative pads crop the input; the output's border slabs are filled and its interior copied
// from the (cropped) input: every byte written once, unlike a fill of the whole output first.
Tensor constant_pad_nd(const Tensor& self, at::IntArrayRef pad, const at::Scalar& value) {
  TORCH_CHECK(pad.size() % 2 == 0, "Length of pad must be even but instead it equals ", pad.size());
  const int64_t ndim = self.dim(), npad = int64_t(pad.size()) / 2, first = ndim - npad;
  TORCH_CHECK(ndim >= npad, "Length of pad should be no more than twice the number of dimensions of the input. "
              "Pad length is ", pad.size(), " while the input has ", ndim, " dimensions.");
  if (!on_backend(self)) return GF_MOVE_FALLBACK(at::compositeexplicitautograd::constant_pad_nd(self, pad, value));
  // pad lists (before, after) pairs from the last dimension backwards
  auto before = [&](int64_t d) { return pad[2 * (ndim - d - 1)]; };
  auto after = [&](int64_t d) { return pad[2 * (ndim - d - 1) + 1]; };
  Tensor in = self;
  bool any_positive = false;
  for (int64_t d = first; d < ndim; ++d) {
    if (before(d) < 0) in = in.narrow(d, -before(d), in.size(d) + before(d));
    else any_positive |= before(d) != 0;
    if (after(d) < 0) in = in.narrow(d, 0, in.size(d) + after(d));
    else any_positive |= after(d) != 0;
  }
  if (!any_positive) return ops::clone(in, std::nullopt);
  std::vector<int64_t> sizes = self.sizes().vec();
  int64_t padded_dims = 0, padded_dim = -1;
  for (int64_t d = first; d < ndim; ++d) {
    const int64_t size = self.size(d) + before(d) + after(d);
    TORCH_CHECK(size >= 0, "The input size ", self.size(d), ", plus negative padding ", before(d), " and ",
                after(d), " resulted in a negative output size, which is invalid. Check dimension ", d,
                " of your input.");
    sizes[d] = size;
    if (before(d) > 0 || after(d) > 0) {
      ++padded_dims;
      padded_dim = d;
    }
  }
  Tensor out = empty_on(sizes, self.scalar_type(), self.device(), self.suggest_memory_format());
  // the border slabs, then the interior
  Tensor interior = out;
  for (int64_t d = first; d < ndim; ++d) {
    const int64_t lo = std::max<int64_t>(before(d), 0), hi = std::max<int64_t>(after(d), 0);
    if (lo > 0) {
      Tensor slab = out.narrow(d, 0, lo);
      ops::fill_(slab, value);
    }
    if (hi > 0) {
      Tensor slab = out.narrow(d, out.size(d) - hi, hi);
      ops::fill_(slab, value);
    }
    interior = interior.narrow(d, lo, interior.size(d) - lo - hi);
  }
  if (in.numel() == 0) return out;
  if (padded_dims == 1 && dense_of(out, out.scalar_type()) && dense_of(in, out.scalar_type())) {
    const int64_t d = padded_dim, elem = int64_t(out.element_size());
    int64_t rows = 1, inner = elem;
    for (int64_t k = 0; k < d; ++k) rows *= out.size(k);
    for (int64_t k = d + 1; k < ndim; ++k) inner *= out.size(k);
    c10::SmallVector<movement::Block, 1> blocks;
    blocks.push_back({static_cast<const char*>(in.const_data_ptr()),
                      static_cast<char*>(out.data_ptr()) + std::max<int64_t>(before(d), 0) * inner, rows,
                      in.size(d) * inner, in.size(d) * inner, out.size(d) * inner});
    OnDevice on(out);
    copy_blocks(out, blocks);
    return out;
  }
  counted_copy(interior, in, false);
  return out;
}

Tensor& constant_pad_nd_out(const Tensor& self, at::IntArrayRef pad, const at::Scalar& value, Tensor& out) {
  if (!on_backend(self) || !on_backend(out))
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::constant_pad_nd_outf(self, pad, value, out));
  return copy_to_out(ops::constant_pad_nd(self, pad, value), out);
}

// ---- roll -------------------------------------------------------------------------------------------
Tensor roll(const Tensor& self, at::IntArrayRef shifts, at::IntArrayRef dims) {
  check_roll(self, shifts, dims);
  if (!on_backend(self) || self.is_conj() || self.is_neg())
    return GF_MOVE_FALLBACK(GF_MOVE_TORCH(self, roll, self, shifts, dims));
  Tensor out = empty_on(self.sizes(), self.scalar_type(), self.device());
  return roll_into(out, self, shifts, dims);
}

Tensor& roll_out(const Tensor& self, at::IntArrayRef shifts, at::IntArrayRef dims, Tensor& out) {
  check_roll(self, shifts, dims);
  if (!on_backend(self) || self.is_conj() || self.is_neg() || !on_backend(out) ||
      out.device() != self.device() || out.scalar_type() != self.scalar_type())
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::roll_outf(self, shifts, dims, out));
  at::native::resize_output(out, self.sizes());
  if (!dense_of(out, self.scalar_type()) || at::get_overlap_status(out, self) != at::MemOverlapStatus::No) {
    Tensor tmp = ops::roll(self, shifts, dims);
    return counted_copy(out, tmp, false);
  }
  return roll_into(out, self, shifts, dims);
}

}  // namespace gemforge::ops
