// Data movement: cat and stack (one launch of the block-copy kernel for every dense input of the
// output's dtype, the pointwise copy_ for the others), _to_copy and clone, the *_copy ops that
// materialise a view, and roll. Conversions and strided copies all run on ops::copy_ (the
// pointwise engine: a memcpy when dense, vector casts, tiled transposes); this file only decides
// shapes, layouts and errors as torch does and allocates without a dispatcher round trip.
#include "ops/movement.h"

#include "backends/movement.h"
#include "ops/empty.h"
#include "ops/on_device.h"
#include "ops/ops.h"
#include "registry/registry.h"

#include <ATen/CPUFunctions.h>
#include <ATen/Dispatch_v2.h>
#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/EmptyTensor.h>
#include <ATen/ExpandUtils.h>
#include <ATen/Functions.h>
#include <ATen/InferSize.h>
#include <ATen/TensorUtils.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/WrapDimUtils.h>
#include <ATen/WrapDimUtilsMulti.h>
#include <ATen/CompositeExplicitAutogradNonFunctionalFunctions.h>
#include <ATen/native/TensorShape.h>
#include <ATen/native/Resize.h>
#include <ATen/native/TypeProperties.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/util/SmallVector.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/CUDAFunctions.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/EmptyTensor.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#include <algorithm>
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

// out (dense) = self where self is an expanded tensor whose innermost dim (in out's order) is
// contiguous (repeat_interleave's clone of an expanded view): the gather kernel's vector copy.
// False (nothing done) for any other source.
bool broadcast_copy(const Tensor& out, const Tensor& self);

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
#ifdef GEMFORGE_WITH_CUDA
namespace {
// A cuda tensor to the host (.cpu(), .to("cpu", dtype)): converted and laid out as torch lays
// the result out, on the device where that takes a copy, then one device-to-host copy on the
// current stream that returns once the data has landed. That is torch's blocking copy; its
// non_blocking one into pageable memory waits the same way.
Tensor to_host(const Tensor& self, at::ScalarType dtype, OptMemoryFormat memory_format) {
  Tensor src = self;
  if (self.scalar_type() != dtype || !self.is_non_overlapping_and_dense() ||
      memory_format.value_or(at::MemoryFormat::Preserve) != at::MemoryFormat::Preserve) {
    src = empty_for_copy(self, dtype, memory_format);
    if (src.numel() > 0) counted_copy(src, self, false);
  }
  // (a dense, non-overlapping tensor's elements are one block from its data pointer on)
  Tensor out = empty_strided_on(src.sizes(), src.strides(), dtype, c10::Device(c10::kCPU));
  if (out.numel() > 0) {
    OnDevice on(self);
    c10::cuda::memcpy_and_sync(out.data_ptr(), src.const_data_ptr(),
                               out.numel() * out.element_size(), cudaMemcpyDeviceToHost,
                               at::cuda::getCurrentCUDAStream());
  }
  return out;
}
}  // namespace
#endif

Tensor to_copy(const Tensor& self, std::optional<at::ScalarType> dtype, std::optional<at::Layout> layout,
               std::optional<at::Device> device, std::optional<bool> pin_memory, bool non_blocking,
               OptMemoryFormat memory_format) {
#ifdef GEMFORGE_WITH_CUDA
  // Pinned results stay torch's: a non_blocking copy into them needs the host allocator's event
  // bookkeeping.
  if (device && device->is_cpu() && self.is_cuda() && copy_served(self) &&
      (!layout || *layout == at::kStrided) && !pin_memory.value_or(false))
    return to_host(self, dtype.value_or(self.scalar_type()), memory_format);
#endif
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

// cuda only: a cpu tensor's element is a load, which a call through gemforge would only slow.
// Torch waits on the stream the same way; the copy lands in the caller's stack, not in a pinned
// buffer, which for one element is as fast (the driver stages it).
at::Scalar local_scalar_dense(const Tensor& self) {
#ifdef GEMFORGE_WITH_CUDA
  if (self.is_cuda() && self.numel() == 1 && self.layout() == at::kStrided) {
    c10::DeviceGuard guard(self.device());
    at::Scalar value;
    AT_DISPATCH_V2(self.scalar_type(), "_local_scalar_dense", AT_WRAP([&] {
      scalar_t v;
      c10::cuda::memcpy_and_sync(&v, self.const_data_ptr<scalar_t>(), sizeof(scalar_t), cudaMemcpyDeviceToHost,
                                 at::cuda::getCurrentCUDAStream());
      value = at::Scalar(v);
    }), AT_EXPAND(AT_ALL_TYPES_AND_COMPLEX), at::kComplexHalf, at::kHalf, at::kBool, at::kBFloat16);
    return value;
  }
  return GF_MOVE_FALLBACK(at::cuda::_local_scalar_dense(self));
#else
  return GF_MOVE_FALLBACK(at::cpu::_local_scalar_dense(self));
#endif
}

Tensor clone(const Tensor& self, OptMemoryFormat memory_format) {
  if (!copy_served(self)) return GF_MOVE_FALLBACK(at::compositeexplicitautograd::clone(self, memory_format));
  Tensor out = empty_for_copy(self, self.scalar_type(), memory_format);
  if (out.numel() > 0 && !broadcast_copy(out, self)) counted_copy(out, self, false);
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

// ---- gather: flip and repeat ------------------------------------------------------------------------
namespace {

// One dim of a gather: its size, the output's stride and the source's (elements; the source's
// signed).
struct GatherDim {
  int64_t size, dst_stride, src_stride;
};
using GatherDims = c10::SmallVector<GatherDim, 16>;

// Copies into dst (dense: its dims' strides, in some order, those of a contiguous tensor) the
// source laid out by dims from src (the source of output element 0), on like's device. False
// (nothing done) where the dims do not collapse to the kernel's kGatherDims.
bool gather(const Tensor& like, char* dst, const char* src, int64_t elem, GatherDims dims) {
  dims.erase(std::remove_if(dims.begin(), dims.end(), [](const GatherDim& d) { return d.size == 1; }),
             dims.end());
  std::stable_sort(dims.begin(), dims.end(),
                   [](const GatherDim& a, const GatherDim& b) { return a.dst_stride > b.dst_stride; });
  GatherDims merged;
  for (const GatherDim& d : dims) {
    if (!merged.empty() && merged.back().src_stride == d.src_stride * d.size &&
        merged.back().dst_stride == d.dst_stride * d.size) {
      merged.back() = {merged.back().size * d.size, d.dst_stride, d.src_stride};
      continue;
    }
    merged.push_back(d);
  }
  if (merged.empty()) merged.push_back({1, 1, 1});
  if (merged.size() > size_t(movement::kGatherDims)) return false;
  movement::Gather g{src, dst, int(merged.size()), elem, {}, {}};
  for (size_t d = 0; d < merged.size(); ++d) {
    g.sizes[d] = merged[d].size;
    g.src_strides[d] = merged[d].src_stride * elem;
  }
  OnDevice on(like);
#ifdef GEMFORGE_WITH_CUDA
  if (like.is_cuda()) {
    movement::gather_cuda(g);
    return true;
  }
#endif
  movement::gather_cpu(g);
  return true;
}

bool plain(const Tensor& t) { return on_backend(t) && !t.is_conj() && !t.is_neg(); }

// out (dense, self's shape and dtype) = self flipped along the dims set in `flipped`.
bool flip_into(const Tensor& out, const Tensor& self, const std::bitset<at::dim_bitset_size>& flipped) {
  const int64_t elem = int64_t(self.element_size());
  const char* src = static_cast<const char*>(self.const_data_ptr());
  GatherDims dims;
  for (int64_t d = 0; d < self.dim(); ++d) {
    const int64_t size = self.size(d);
    int64_t stride = self.stride(d);
    if (flipped[size_t(d)] && size > 1) {
      src += (size - 1) * stride * elem;
      stride = -stride;
    }
    dims.push_back({size, out.stride(d), stride});
  }
  return gather(out, static_cast<char*>(out.data_ptr()), src, elem, std::move(dims));
}

// The shape of self.repeat(repeats), with torch's errors.
c10::SmallVector<int64_t, 8> repeat_sizes(const Tensor& self, at::IntArrayRef repeats) {
  TORCH_CHECK(repeats.size() >= size_t(self.dim()),
              "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor");
  const int64_t lead = int64_t(repeats.size()) - self.dim();
  c10::SmallVector<int64_t, 8> sizes(repeats.size());
  for (size_t i = 0; i < repeats.size(); ++i)
    sizes[i] = (int64_t(i) < lead ? 1 : self.size(int64_t(i) - lead)) * repeats[i];
  for (int64_t s : sizes)
    TORCH_CHECK(s >= 0, "Trying to create tensor with negative dimension ", s, ": ", at::IntArrayRef(sizes));
  return sizes;
}

// out (dense, of repeat_sizes) = self repeated: out's dim i viewed as [repeats[i], self's size],
// the first read with stride 0 (a broadcast copy).
bool repeat_into(const Tensor& out, const Tensor& self, at::IntArrayRef repeats) {
  const int64_t lead = int64_t(repeats.size()) - self.dim();
  GatherDims dims;
  for (int64_t i = 0; i < int64_t(repeats.size()); ++i) {
    const int64_t s = i < lead ? 1 : self.size(i - lead);
    dims.push_back({repeats[size_t(i)], s * out.stride(i), 0});
    if (i >= lead) dims.push_back({s, out.stride(i), self.stride(i - lead)});
  }
  return gather(out, static_cast<char*>(out.data_ptr()), static_cast<const char*>(self.const_data_ptr()),
                int64_t(self.element_size()), std::move(dims));
}

bool broadcast_copy(const Tensor& out, const Tensor& self) {
  if (self.is_conj() || self.is_neg() || self.is_non_overlapping_and_dense()) return false;
  bool expanded = false;
  int64_t innermost = -1;  // the dim of out's smallest stride (of size > 1)
  for (int64_t d = 0; d < self.dim(); ++d) {
    if (self.size(d) == 1) continue;
    expanded = expanded || self.stride(d) == 0;
    if (innermost < 0 || out.stride(d) < out.stride(innermost)) innermost = d;
  }
  if (!expanded || innermost < 0 || self.stride(innermost) != 1) return false;
  GatherDims dims;
  for (int64_t d = 0; d < self.dim(); ++d) dims.push_back({self.size(d), out.stride(d), self.stride(d)});
  return gather(out, static_cast<char*>(out.data_ptr()), static_cast<const char*>(self.const_data_ptr()),
                int64_t(self.element_size()), std::move(dims));
}

bool dense_out(const Tensor& out, const Tensor& self) {
  return out.is_non_overlapping_and_dense() && at::get_overlap_status(out, self) == at::MemOverlapStatus::No;
}

void check_out_dtype(const Tensor& out, const Tensor& self) {
  TORCH_CHECK(out.dtype() == self.dtype(), "Expected out tensor to have dtype ", self.dtype(), ", but got ",
              out.dtype(), " instead");
}

}  // namespace

Tensor flip(const Tensor& self, at::IntArrayRef dims) {
  const auto flipped = at::dim_list_to_bitset(dims, size_t(self.dim()));
  if (!plain(self)) return GF_MOVE_FALLBACK(GF_MOVE_TORCH(self, flip, self, dims));
  Tensor out = empty_for_copy(self, self.scalar_type(), std::nullopt);  // empty_like, as torch's
  if (out.numel() == 0 || flip_into(out, self, flipped)) return out;
  return GF_MOVE_FALLBACK(GF_MOVE_TORCH(self, flip, self, dims));
}

Tensor& flip_out(const Tensor& self, at::IntArrayRef dims, Tensor& out) {
  const auto flipped = at::dim_list_to_bitset(dims, size_t(self.dim()));
  if (!plain(self) || !on_backend(out) || out.device() != self.device())
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::flip_outf(self, dims, out));
  check_out_dtype(out, self);
  at::native::resize_output(out, self.sizes());
  if (out.numel() == 0 || (dense_out(out, self) && flip_into(out, self, flipped))) return out;
  return copy_to_out(ops::flip(self, dims), out);
}

Tensor repeat(const Tensor& self, at::IntArrayRef repeats) {
  const auto sizes = repeat_sizes(self, repeats);
  if (!plain(self)) return GF_MOVE_FALLBACK(at::compositeexplicitautograd::repeat(self, repeats));
  Tensor out = empty_on(sizes, self.scalar_type(), self.device());
  if (out.numel() == 0 || repeat_into(out, self, repeats)) return out;
  return GF_MOVE_FALLBACK(at::compositeexplicitautograd::repeat(self, repeats));
}

Tensor& repeat_out(const Tensor& self, at::IntArrayRef repeats, Tensor& out) {
  const auto sizes = repeat_sizes(self, repeats);
  if (!plain(self) || !on_backend(out) || out.device() != self.device())
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::repeat_outf(self, repeats, out));
  check_out_dtype(out, self);
  at::native::resize_output(out, sizes);
  if (out.numel() == 0 || (dense_out(out, self) && repeat_into(out, self, repeats))) return out;
  return copy_to_out(ops::repeat(self, repeats), out);
}

// torch's rot90: a flip, then (k odd) a transposed view of it; k = 0 is a contiguous clone.
Tensor rot90(const Tensor& self, int64_t k, at::IntArrayRef dims) {
  const int64_t total_dims = self.dim(), total_rot_dims = int64_t(dims.size());
  TORCH_CHECK(total_rot_dims == 2, "expected total rotation dims == 2, but got dims = ", total_rot_dims);
  TORCH_CHECK(total_dims >= 2, "expected total dims >= 2, but got total dims = ", total_dims);
  TORCH_CHECK(dims[0] != dims[1] && std::abs(dims[0] - dims[1]) != total_dims,
              "expected rotation dims to be different, but got dim0 = ", dims[0], " and dim1 = ", dims[1]);
  TORCH_CHECK(dims[0] < total_dims && dims[0] >= -total_dims, "Rotation dim0 out of range, dim0 = ", dims[0]);
  TORCH_CHECK(dims[1] < total_dims && dims[1] >= -total_dims, "Rotation dim1 out of range, dim1 = ", dims[1]);
  switch (((k % 4) + 4) % 4) {
    case 1: return ops::flip(self, {dims[1]}).transpose_(dims[0], dims[1]);
    case 2: return ops::flip(self, dims);
    case 3: return ops::flip(self, {dims[0]}).transpose_(dims[0], dims[1]);
    default: return ops::clone(self, at::MemoryFormat::Contiguous);
  }
}

Tensor& rot90_out(const Tensor& self, int64_t k, at::IntArrayRef dims, Tensor& out) {
  if (!on_backend(self) || !on_backend(out) || out.device() != self.device())
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::rot90_outf(self, k, dims, out));
  return copy_to_out(ops::rot90(self, k, dims), out);
}

// ---- repeat_interleave ------------------------------------------------------------------------------
Tensor repeat_interleave_tensor(const Tensor& repeats, std::optional<int64_t> output_size) {
  if (!on_backend(repeats)) return GF_MOVE_FALLBACK(GF_MOVE_TORCH(repeats, repeat_interleave, repeats, output_size));
  const auto dtype = repeats.scalar_type();
  TORCH_CHECK_NOT_IMPLEMENTED(dtype == at::kInt || dtype == at::kLong, "\"repeat_interleave_",
                              repeats.is_cuda() ? "cuda" : "cpu", "\" not implemented for '",
                              c10::toString(dtype), "'");
  TORCH_CHECK(repeats.dim() == 1, "repeat_interleave only accept 1D vector as repeat");
  const int64_t n = repeats.size(0);
  if (n == 0) return empty_on({0}, dtype, repeats.device());
  Tensor r = repeats.is_contiguous() ? repeats : repeats.contiguous();
  OnDevice on(r);
  Tensor cumsum = ops::cumsum(r, 0, at::kLong);
  movement::RepeatIndex index{r.const_data_ptr(), cumsum.const_data_ptr<int64_t>(), nullptr, n, 0,
                              dtype == at::kInt};
  if (output_size) {
    index.total = *output_size;
  } else {
    bool negative = false;
#ifdef GEMFORGE_WITH_CUDA
    if (r.is_cuda()) {
      Tensor scratch = empty_on({2}, at::kLong, r.device());
      const auto t = movement::repeat_total_cuda(index, scratch.mutable_data_ptr<int64_t>());
      index.total = t.total;
      negative = t.negative;
    }
#endif
    if (r.is_cpu()) {
      index.total = index.cumsum[n - 1];
      for (int64_t i = 0; i < n && !negative; ++i)
        negative = index.index32 ? static_cast<const int32_t*>(index.repeats)[i] < 0
                                 : static_cast<const int64_t*>(index.repeats)[i] < 0;
    }
    TORCH_CHECK(!negative, "repeats can not be negative");
  }
  Tensor out = empty_on({index.total}, dtype, r.device());
  index.out = out.data_ptr();
#ifdef GEMFORGE_WITH_CUDA
  if (r.is_cuda()) {
    movement::repeat_index_cuda(index);
    return out;
  }
#endif
  movement::repeat_index_cpu(index);
  return out;
}

Tensor& repeat_interleave_tensor_out(const Tensor& repeats, std::optional<int64_t> output_size, Tensor& out) {
  if (!on_backend(repeats) || !on_backend(out) || out.device() != repeats.device())
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::repeat_interleave_outf(repeats, output_size, out));
  return copy_to_out(ops::repeat_interleave_tensor(repeats, output_size), out);
}

// ---- splits -------------------------------------------------------------------------------------------
namespace {

// Writes part i of self along dim (split_sizes[i] positions) into outs[i] (already of its shape,
// maybe with dim squeezed): contiguous parts of self's dtype through one block copy, the others
// through copy_.
void split_into(const Tensor& self, int64_t dim, at::IntArrayRef split_sizes, at::ArrayRef<Tensor> outs,
                bool squeezed) {
  const int64_t elem = int64_t(self.element_size());
  int64_t rows = 1, inner = elem;
  for (int64_t d = 0; d < dim; ++d) rows *= self.size(d);
  for (int64_t d = dim + 1; d < self.dim(); ++d) inner *= self.size(d);
  const int64_t row = self.size(dim) * inner;
  const bool self_dense = dense_of(self, self.scalar_type());
  const char* base = self_dense ? static_cast<const char*>(self.const_data_ptr()) : nullptr;
  c10::SmallVector<movement::Block, 8> blocks;
  OnDevice on(self);
  int64_t offset = 0;
  for (size_t i = 0; i < outs.size(); ++i) {
    const int64_t n = split_sizes[i];
    Tensor out = outs[i];
    if (out.numel() > 0) {
      if (self_dense && dense_of(out, self.scalar_type())) {
        blocks.push_back({base + offset * inner, static_cast<char*>(out.data_ptr()), rows, n * inner, row, n * inner});
      } else {
        Tensor part = squeezed ? self.select(dim, offset) : self.narrow(dim, offset, n);
        counted_copy(out, part, false);
      }
    }
    offset += n;
  }
  copy_blocks(self, blocks);
}

int64_t split_dim(const Tensor& self, at::IntArrayRef split_sizes, int64_t dim) {
  TORCH_CHECK(self.dim() != 0, "split expects at least a 1-dimensional tensor");
  dim = c10::maybe_wrap_dim(dim, self.dim());
  const int64_t dim_size = self.size(dim);
  int64_t sum = 0;
  for (int64_t s : split_sizes) {
    TORCH_CHECK(s >= 0, "split_with_sizes expects split_sizes have only non-negative ", "entries, but got split_sizes=",
                split_sizes);
    sum += s;
  }
  TORCH_CHECK(sum == dim_size, "split_with_sizes expects split_sizes to sum exactly to ", dim_size,
              " (input tensor's size at dimension ", dim, "), ", "but got split_sizes=", split_sizes);
  return dim;
}

void check_list_out(const Tensor& self, at::TensorList out, size_t expected, const char* name) {
  TORCH_CHECK(out.size() == expected, name, "() expected an out= argument of size ", expected, ", got size ",
              out.size());
  (void)self;
}

// Each out resized to shape(i), of self's dtype and device (torch's checks), and not overlapping self.
template <class Shape>
bool prepare_list_out(const Tensor& self, at::TensorList out, Shape&& shape) {
  bool direct = true;
  for (size_t i = 0; i < out.size(); ++i) {
    const auto sizes = shape(i);
    Tensor o = out[i];
    at::native::resize_output(o, sizes);
    TORCH_CHECK(o.dtype() == self.dtype(), "Expected out tensor to have dtype ", self.dtype(), ", but got ",
                o.dtype(), " instead");
    TORCH_CHECK(o.device() == self.device(), "Expected out tensor to have device ", self.device(), ", but got ",
                o.device(), " instead");
    // The cuda block copy writes dense outputs only (a transposed out got rows in the wrong
    // places on the H100); other outs take a temporary and a copy.
    direct = direct && on_backend(o) && o.is_contiguous() && at::get_overlap_status(o, self) == at::MemOverlapStatus::No;
  }
  return direct;
}

}  // namespace

std::vector<Tensor> split_with_sizes_copy(const Tensor& self, at::IntArrayRef split_sizes, int64_t dim) {
  if (!plain(self))
    return GF_MOVE_FALLBACK(at::compositeexplicitautogradnonfunctional::split_with_sizes_copy(self, split_sizes, dim));
  dim = split_dim(self, split_sizes, dim);
  std::vector<Tensor> outs;
  outs.reserve(split_sizes.size());
  c10::SmallVector<int64_t, 8> sizes(self.sizes().begin(), self.sizes().end());
  for (int64_t s : split_sizes) {
    sizes[size_t(dim)] = s;
    outs.push_back(empty_on(sizes, self.scalar_type(), self.device()));
  }
  split_into(self, dim, split_sizes, outs, false);
  return outs;
}

// Outs that are not dense on cuda stay torch's: through our temporary and copy, a transposed
// out still got wrong values on the H100 (test_split_with_sizes_copy), not yet understood.
static bool dense_outs(const Tensor& self, at::TensorList out) {
  if (!self.is_cuda()) return true;
  for (const Tensor& o : out)
    if (!o.is_contiguous()) return false;
  return true;
}

void split_with_sizes_copy_out(const Tensor& self, at::IntArrayRef split_sizes, int64_t dim, at::TensorList out) {
#ifdef GEMFORGE_WITH_CUDA
  // torch's own cuda kernel: its result for a transposed out differs from the composite's
  if (self.is_cuda() && !dense_outs(self, out))
    return GF_MOVE_FALLBACK(at::cuda::split_with_sizes_copy_outf(self, split_sizes, dim, out));
#endif
  if (!plain(self) || !dense_outs(self, out))
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::split_with_sizes_copy_outf(self, split_sizes, dim, out));
  dim = split_dim(self, split_sizes, dim);
  check_list_out(self, out, split_sizes.size(), "split_with_sizes_copy_out");
  c10::SmallVector<int64_t, 8> sizes(self.sizes().begin(), self.sizes().end());
  const bool direct = prepare_list_out(self, out, [&](size_t i) {
    sizes[size_t(dim)] = split_sizes[i];
    return at::IntArrayRef(sizes);
  });
  if (direct) return split_into(self, dim, split_sizes, out, false);
  const auto tmp = ops::split_with_sizes_copy(self, split_sizes, dim);
  for (size_t i = 0; i < out.size(); ++i) {
    Tensor o = out[i];
    counted_copy(o, tmp[i], false);
  }
}

std::vector<Tensor> unbind_copy(const Tensor& self, int64_t dim) {
  dim = c10::maybe_wrap_dim(dim, self.dim());
  if (!plain(self)) return GF_MOVE_FALLBACK(at::compositeexplicitautogradnonfunctional::unbind_copy(self, dim));
  const int64_t n = self.size(dim);
  std::vector<Tensor> outs;
  outs.reserve(size_t(n));
  c10::SmallVector<int64_t, 8> sizes(self.sizes().begin(), self.sizes().end());
  sizes.erase(sizes.begin() + dim);
  for (int64_t i = 0; i < n; ++i) outs.push_back(empty_on(sizes, self.scalar_type(), self.device()));
  const std::vector<int64_t> ones(size_t(n), 1);
  split_into(self, dim, ones, outs, true);
  return outs;
}

void unbind_copy_out(const Tensor& self, int64_t dim, at::TensorList out) {
  dim = c10::maybe_wrap_dim(dim, self.dim());
  if (!plain(self) || !dense_outs(self, out))
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::unbind_copy_outf(self, dim, out));
  const int64_t n = self.size(dim);
  check_list_out(self, out, size_t(n), "unbind_copy_int_out");
  c10::SmallVector<int64_t, 8> sizes(self.sizes().begin(), self.sizes().end());
  sizes.erase(sizes.begin() + dim);
  const bool direct = prepare_list_out(self, out, [&](size_t) { return at::IntArrayRef(sizes); });
  const std::vector<int64_t> ones(size_t(n), 1);
  if (direct) return split_into(self, dim, ones, out, true);
  const auto tmp = ops::unbind_copy(self, dim);
  for (size_t i = 0; i < out.size(); ++i) {
    Tensor o = out[i];
    counted_copy(o, tmp[i], false);
  }
}

// ---- _chunk_cat ----------------------------------------------------------------------------------------
// Each tensor, padded with zeros along dim to num_chunks chunks of p = ceil(size / num_chunks)
// positions, is laid out as [leading, num_chunks, p * trailing] and the tensors are concatenated
// along the last dim: out [leading..., num_chunks, S]. Dense inputs of out's dtype into a dense
// out: one block copy for all of them; others through copy_; the padding through fill_.
namespace {

struct ChunkPart {
  int64_t size, trailing, pad;  // size along dim, elements after dim, p
};

void chunk_cat_into(const Tensor& out, at::TensorList tensors, int64_t dim, int64_t num_chunks) {
  int64_t lead = 1;
  for (int64_t d = 0; d < dim; ++d) lead *= tensors[0].size(d);
  const int64_t S = out.size(-1), C = num_chunks, elem = int64_t(out.element_size());
  const bool out_dense = dense_of(out, out.scalar_type());
  Tensor out4;  // [lead, C, S] of out, made only where a part needs a view
  c10::SmallVector<movement::Block, 8> blocks;
  OnDevice on(out);
  char* base = static_cast<char*>(out.data_ptr());
  int64_t offset = 0;  // elements into the last dim
  for (const Tensor& t : tensors) {
    int64_t trailing = 1;
    for (int64_t d = dim + 1; d < t.dim(); ++d) trailing *= t.size(d);
    const int64_t size = t.size(dim), p = (size + C - 1) / C, width = p * trailing;
    const int64_t full = size / p, rem = size - full * p;  // full chunks, rows of the partial one
    if (out_dense && dense_of(t, out.scalar_type())) {
      const char* src = static_cast<const char*>(t.const_data_ptr());
      const int64_t src_row = size * trailing * elem, dst_row = C * S * elem, chunk = width * elem;
      if (full > 0) {
        if (lead <= full) {
          for (int64_t l = 0; l < lead; ++l)
            blocks.push_back({src + l * src_row, base + (l * C * S + offset) * elem, full, chunk, chunk, S * elem});
        } else {
          for (int64_t c = 0; c < full; ++c)
            blocks.push_back({src + c * chunk, base + (c * S + offset) * elem, lead, chunk, src_row, dst_row});
        }
      }
      if (rem > 0)
        blocks.push_back({src + full * chunk, base + (full * S + offset) * elem, lead, rem * trailing * elem,
                          src_row, dst_row});
    } else {
      if (!out4.defined()) out4 = out.view({lead, C, S});
      Tensor src = t.reshape({lead, size, trailing});
      Tensor dst = out4.narrow(2, offset, width).unflatten(2, {p, trailing});  // [lead, C, p, trailing]
      if (full > 0) {
        Tensor d = dst.narrow(1, 0, full);
        counted_copy(d, src.narrow(1, 0, full * p).view({lead, full, p, trailing}), false);
      }
      if (rem > 0) {
        Tensor d = dst.select(1, full).narrow(1, 0, rem);
        counted_copy(d, src.narrow(1, full * p, rem), false);
      }
    }
    // the padding: the rest of the partial chunk, and the chunks past it
    if (full < C) {
      if (!out4.defined()) out4 = out.view({lead, C, S});
      Tensor dst = out4.narrow(2, offset, width).unflatten(2, {p, trailing});
      if (rem > 0) {
        Tensor d = dst.select(1, full).narrow(1, rem, p - rem);
        ops::fill_(d, 0);
      }
      const int64_t empty_from = rem > 0 ? full + 1 : full;
      if (empty_from < C) {
        Tensor d = dst.narrow(1, empty_from, C - empty_from);
        ops::fill_(d, 0);
      }
    }
    offset += width;
  }
  copy_blocks(out, blocks);
}

c10::SmallVector<int64_t, 8> chunk_cat_sizes(at::TensorList tensors, int64_t dim, int64_t num_chunks) {
  c10::SmallVector<int64_t, 8> sizes(tensors[0].sizes().begin(), tensors[0].sizes().begin() + dim);
  int64_t width = 0;
  for (const Tensor& t : tensors) {
    int64_t trailing = 1;
    for (int64_t d = dim + 1; d < t.dim(); ++d) trailing *= t.size(d);
    width += (t.size(dim) + num_chunks - 1) / num_chunks * trailing;
  }
  sizes.push_back(num_chunks);
  sizes.push_back(width);
  return sizes;
}

bool all_plain(at::TensorList tensors) {
  for (const Tensor& t : tensors)
    if (!plain(t)) return false;
  return true;
}

// torch's cuda kernel copies contiguous inputs and writes the padding in one launch; ours takes a
// launch per 40 copied blocks and one or two fill_ launches per padded tensor. Not measured: by
// launch count, many tensors (FSDP's many parameters) or any padding go to torch's kernel, where
// it has its one-launch path (contiguous inputs).
bool chunk_cat_to_torch(at::TensorList tensors, int64_t dim, int64_t num_chunks) {
  if (!tensors[0].is_cuda()) return false;
  int64_t lead = 1, blocks = 0;
  for (int64_t d = 0; d < dim; ++d) lead *= tensors[0].size(d);
  for (const Tensor& t : tensors) {
    if (!t.is_contiguous()) return false;
    const int64_t size = t.size(dim), p = (size + num_chunks - 1) / num_chunks, full = size / p;
    if (full * p != size || full != num_chunks) return true;  // padding
    blocks += std::min(lead, full);
  }
  return blocks > 40;
}

}  // namespace

Tensor chunk_cat(at::TensorList tensors, int64_t dim, int64_t num_chunks) {
  dim = at::native::preprocess_chunk_cat_inputs(tensors, dim, num_chunks);
  if (!all_plain(tensors)) return GF_MOVE_FALLBACK(at::compositeexplicitautograd::_chunk_cat(tensors, dim, num_chunks));
#ifdef GEMFORGE_WITH_CUDA
  if (chunk_cat_to_torch(tensors, dim, num_chunks)) return GF_MOVE_FALLBACK(at::cuda::_chunk_cat(tensors, dim, num_chunks));
#endif
  Tensor out = empty_on(chunk_cat_sizes(tensors, dim, num_chunks), tensors[0].scalar_type(), tensors[0].device());
  chunk_cat_into(out, tensors, dim, num_chunks);
  return out;
}

Tensor& chunk_cat_out(at::TensorList tensors, int64_t dim, int64_t num_chunks, Tensor& out) {
  dim = at::native::preprocess_chunk_cat_inputs(tensors, dim, num_chunks);
  if (!all_plain(tensors) || !on_backend(out) || out.device() != tensors[0].device())
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::_chunk_cat_outf(tensors, dim, num_chunks, out));
  TORCH_CHECK_TYPE(at::canCast(tensors[0].scalar_type(), out.scalar_type()),
                   "torch.cat(): input types can't be cast to the desired output type ", out.scalar_type());
#ifdef GEMFORGE_WITH_CUDA
  const auto out_dtype = out.scalar_type(), in_dtype = tensors[0].scalar_type();
  if ((out_dtype == in_dtype || (in_dtype == at::kBFloat16 && out_dtype == at::kFloat)) &&
      out.is_non_overlapping_and_dense() && chunk_cat_to_torch(tensors, dim, num_chunks))
    return GF_MOVE_FALLBACK(at::cuda::_chunk_cat_outf(tensors, dim, num_chunks, out));
#endif
  const auto sizes = chunk_cat_sizes(tensors, dim, num_chunks);
  at::native::resize_output(out, sizes);
  bool overlap = false;
  for (const Tensor& t : tensors) overlap = overlap || at::get_overlap_status(out, t) != at::MemOverlapStatus::No;
  if (overlap || !out.is_contiguous()) {
    Tensor tmp = ops::chunk_cat(tensors, dim, num_chunks);
    return counted_copy(out, tmp, false);
  }
  chunk_cat_into(out, tensors, dim, num_chunks);
  return out;
}

// ---- diagonal_backward ----------------------------------------------------------------------------------
// zeros of input_sizes with grad_output written on the diagonal, as torch's.
Tensor diagonal_backward(const Tensor& grad_output, at::IntArrayRef input_sizes, int64_t offset, int64_t dim1,
                         int64_t dim2) {
  if (!on_backend(grad_output))
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::diagonal_backward(grad_output, input_sizes, offset, dim1, dim2));
  Tensor out = empty_on(input_sizes, grad_output.scalar_type(), grad_output.device());
  Tensor diag = out.diagonal(offset, dim1, dim2);
  ops::zero_(out);
  counted_copy(diag, grad_output, false);
  return out;
}

Tensor& diagonal_backward_out(const Tensor& grad_output, at::IntArrayRef input_sizes, int64_t offset, int64_t dim1,
                              int64_t dim2, Tensor& out) {
  if (!on_backend(grad_output) || !on_backend(out) || out.device() != grad_output.device())
    return GF_MOVE_FALLBACK(at::compositeexplicitautograd::diagonal_backward_outf(grad_output, input_sizes, offset,
                                                                                dim1, dim2, out));
  return copy_to_out(ops::diagonal_backward(grad_output, input_sizes, offset, dim1, dim2), out);
}

// ---- unfold_backward -------------------------------------------------------------------------------------
// Windows that do not overlap (step >= size): the gradient copied into the windows of the
// output, as torch does it, without zeroing first where the windows tile the dim exactly.
// Overlapping windows add up: torch's kernel.
Tensor unfold_backward(const Tensor& grad_in, at::IntArrayRef input_sizes, int64_t dim, int64_t size, int64_t step) {
  if (!on_backend(grad_in) || step < size)
    return GF_MOVE_FALLBACK(GF_MOVE_TORCH(grad_in, unfold_backward, grad_in, input_sizes, dim, size, step));
  Tensor out = empty_on(input_sizes, grad_in.scalar_type(), grad_in.device());
  Tensor windows = out.unfold(dim, size, step);
  bool tiled = false;
  if (out.dim() > 0) {
    const int64_t d = c10::maybe_wrap_dim(dim, out.dim());
    tiled = step == size && windows.size(d) * size == out.size(d);
  }
  if (!tiled) ops::zero_(out);
  counted_copy(windows, grad_in, false);
  return out;
}

Tensor& unfold_backward_out(const Tensor& grad_in, at::IntArrayRef input_sizes, int64_t dim, int64_t size,
                            int64_t step, Tensor& out) {
  if (!on_backend(grad_in) || !on_backend(out) || out.device() != grad_in.device())
    return GF_MOVE_FALLBACK(
        at::compositeexplicitautograd::unfold_backward_outf(grad_in, input_sizes, dim, size, step, out));
  return copy_to_out(ops::unfold_backward(grad_in, input_sizes, dim, size, step), out);
}

}  // namespace gemforge::ops
