// Creation and fill: fill/zero (on fill_), arange and range, linspace and logspace, eye, tril and
// triu, polar. Their functional factories (torch.arange, torch.eye, torch.zeros, ...) are torch's
// composites: they allocate and call the out= or fill_ overloads served here.
#include "backends/creation.h"
#include "ops/on_device.h"
#include "ops/ops.h"
#include "ops/pointwise/common.h"
#include "ops/pointwise/kernels/creation.h"

#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/native/RangeUtils.h>
#include <ATen/native/Resize.h>
#include <c10/core/DeviceGuard.h>

#include <array>
#include <cstring>

namespace gemforge::ops {
namespace {

#ifdef GEMFORGE_WITH_CUDA
#define GF_CREATION(t, fn, ...) \
  ((t).is_cuda() ? creation::fn##_cuda(__VA_ARGS__) : creation::fn##_cpu(__VA_ARGS__))
#else
#define GF_CREATION(t, fn, ...) creation::fn##_cpu(__VA_ARGS__)
#endif

bool on_backend(const Tensor& t) { return t.is_cpu() || t.is_cuda(); }

// write(Dense) fills out's elements in order; a non-contiguous out gets them through a
// contiguous temporary, as torch does.
template <class Write> Tensor& write_in_order(Tensor& out, Write&& write) {
  if (out.numel() == 0) return out;
  Tensor dense = out.is_contiguous() ? out : at::empty(out.sizes(), out.options());
  {
    OnDevice on(out);
    write(creation::Dense{dense.scalar_type(), dense.data_ptr(), dense.numel()});
  }
  if (!dense.is_same(out)) out.copy_(dense);
  return out;
}

// t's strides (batch, row, col) over its last two dims, its leading dims as one batch dim;
// none when the leading dims do not merge into one stride.
std::optional<std::array<int64_t, 3>> batched_strides(const Tensor& t) {
  const int64_t d = t.dim();
  int64_t batch_stride = 0, expected = -1;
  for (int64_t i = d - 3; i >= 0; --i) {
    if (t.size(i) == 1) continue;
    if (expected >= 0 && t.stride(i) != expected) return std::nullopt;
    if (expected < 0) batch_stride = t.stride(i);
    expected = t.stride(i) * t.size(i);
  }
  return std::array<int64_t, 3>{batch_stride, t.stride(d - 2), t.stride(d - 1)};
}

creation::Matrices matrices(const Tensor& out, const std::array<int64_t, 3>& out_strides) {
  const int64_t rows = out.size(-2), cols = out.size(-1);
  creation::Matrices m{int(out.element_size()), static_cast<char*>(out.data_ptr()), nullptr,
                       out.numel() / (rows * cols), rows, cols, {}, {}};
  std::copy(out_strides.begin(), out_strides.end(), m.out_stride);
  return m;
}

// torch's cuda kernel, for the layouts the cuda launcher has no vector kernel for.
Tensor& tri_by_torch(Tensor& out, const Tensor& self, int64_t diagonal, bool upper) {
  reg::note_fallback();
#ifdef GEMFORGE_WITH_CUDA
  return upper ? at::cuda::triu_outf(self, diagonal, out) : at::cuda::tril_outf(self, diagonal, out);
#else
  TORCH_INTERNAL_ASSERT(false, "gemforge: tril/triu: the cpu kernel takes every layout");
  return out;
#endif
}

// out (self's dtype and shape) = self's triangle; out may be self.
Tensor& triangle(Tensor& out, const Tensor& self, int64_t diagonal, bool upper) {
  if (out.numel() == 0) return out;
  // Out of place with elements of 4 bytes and more: torch's kernel (ours ran 0.82-0.84x at fp32
  // 4096^2 on an H100; at bf16, in place, transposed or broadcast it ran 1.3-10x).
  if (out.is_cuda() && !out.is_same(self) && out.element_size() >= 4) return tri_by_torch(out, self, diagonal, upper);
  Tensor in = self;
  auto in_strides = batched_strides(in);
  if (!in_strides) {
    in = self.contiguous();
    in_strides = batched_strides(in);
  }
  auto out_strides = batched_strides(out);
  const bool direct = out_strides && at::has_internal_overlap(out) != at::MemOverlap::Yes;
  Tensor dest = direct ? out : at::empty(out.sizes(), out.options());
  if (!direct) out_strides = batched_strides(dest);
  creation::Matrices m = matrices(dest, *out_strides);
  m.in = static_cast<const char*>(in.const_data_ptr());
  std::copy(in_strides->begin(), in_strides->end(), m.in_stride);
  bool done = true;
  {
    OnDevice on(dest);
#ifdef GEMFORGE_WITH_CUDA
    if (dest.is_cuda()) done = creation::tri_cuda(m, diagonal, upper);
    else
#endif
      creation::tri_cpu(m, diagonal, upper);
  }
  if (!done) return tri_by_torch(out, self, diagonal, upper);
  if (!direct) out.copy_(dest);
  return out;
}

bool triangle_served(const Tensor& self) {
  return on_backend(self) && has(creation::kMatrixTypes, self.scalar_type()) && !self.is_conj() &&
         !self.is_neg();
}

void check_triangle_dims(const Tensor& self, const char* name) {
  TORCH_CHECK(self.dim() >= 2, name, ": input tensor must have at least 2 dimensions");
}

// out of self's dtype and device, resized to self's shape.
bool out_like(const Tensor& self, Tensor& out) {
  if (out.scalar_type() != self.scalar_type() || out.device() != self.device()) return false;
  at::native::resize_output(out, self.sizes());
  return true;
}

}  // namespace

// ---- fill and zero: fill_ on a new or given tensor -------------------------------------------
Tensor fill(const Tensor& self, const Scalar& value) {
  Tensor out = at::empty_like(self);
  return ops::fill_(out, value);
}

Tensor& fill_out(const Tensor& self, const Scalar& value, Tensor& out) {
  if (!out_like(self, out)) {
    return GF_FALLBACK_TO(at::compositeexplicitautograd::fill_outf(self, value, out))();
  }
  return ops::fill_(out, value);
}

Tensor fill_tensor(const Tensor& self, const Tensor& value) {
  Tensor out = at::empty_like(self);
  return ops::fill_tensor_(out, value);
}

Tensor& fill_tensor_out(const Tensor& self, const Tensor& value, Tensor& out) {
  if (!out_like(self, out)) {
    return GF_FALLBACK_TO(at::compositeexplicitautograd::fill_outf(self, value, out))();
  }
  return ops::fill_tensor_(out, value);
}

Tensor& zero_(Tensor& self) {
  // A small dense cpu tensor: one memset (every dtype's zero is all bits zero), as torch does.
  constexpr int64_t kMemsetBytes = 64 * 1024;
  if (self.is_cpu() && self.layout() == at::kStrided && !self.is_quantized() && self.numel() > 0 &&
      int64_t(self.nbytes()) <= kMemsetBytes && self.is_non_overlapping_and_dense()) {
    std::memset(self.data_ptr(), 0, self.nbytes());
    return self;
  }
  return ops::fill_(self, 0);
}

Tensor zero(const Tensor& self) {
  Tensor out = at::empty_like(self);
  return ops::fill_(out, 0);
}

Tensor& zero_out(const Tensor& self, Tensor& out) {
  if (!out_like(self, out)) return GF_FALLBACK_TO(at::compositeexplicitautograd::zero_outf(self, out))();
  return ops::fill_(out, 0);
}

// ---- arange and range --------------------------------------------------------------------------
Tensor& arange_out(const Scalar& start, const Scalar& end, const Scalar& step, Tensor& out) {
  if (!on_backend(out) || !has(creation::kArangeTypes, out.scalar_type())) {
    return GF_FALLBACK(out, arange_out, out, start, end, step)();
  }
  int64_t size = 0;
  dispatch_dtype<creation::kArangeTypes>(out.scalar_type(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    at::native::arange_check_bounds(start, end, step);
    // torch sizes int64 ranges by an integer division by the step (a fractional step crashes it)
    if constexpr (std::is_same_v<S, int64_t>) TORCH_CHECK(step.to<int64_t>() != 0, "step must be nonzero");
    size = at::native::compute_arange_size<S>(start, end, step);
  });
  if (out.numel() != size) {
    if (out.numel() > 0) {
      TORCH_WARN("The number of elements in the out tensor of shape ", out.sizes(), " is ",
                 out.numel(), " which does not match the computed number of elements ", size,
                 ". Note that this may occur as a result of rounding error. "
                 "The out tensor will be resized to a tensor of shape (", size, ",).");
    }
    out.resize_({size});
  }
  return write_in_order(out, [&](const creation::Dense& d) { GF_CREATION(out, arange, d, start, step); });
}

// torch.range: both ends included, the size computed in the device's accumulate type.
Tensor& range_out(const Scalar& start, const Scalar& end, const Scalar& step, Tensor& out) {
  const TypeSet types = out.is_cuda() ? creation::kRangeTypesCuda : creation::kArangeTypes;
  if (!on_backend(out) || !has(types, out.scalar_type())) {
    return GF_FALLBACK(out, range_out, out, start, end, step)();
  }
  int64_t size = 0;
  dispatch_dtype<creation::kArangeTypes>(out.scalar_type(), [&](auto tag) {
    using S = typename decltype(tag)::type;
    auto sized = [&](auto acc_tag) {
      using A = typename decltype(acc_tag)::type;
      const A xstart = start.to<A>(), xend = end.to<A>(), xstep = step.to<A>();
      at::native::arange_check_bounds(start, end, step);
      TORCH_CHECK(xstep != A(0), "step must be nonzero");
      size = static_cast<int64_t>(((xend - xstart) / xstep) + 1);
    };
    if (out.is_cuda()) sized(type_tag<at::acc_type<S, true>>{});
    else sized(type_tag<at::acc_type<S, false>>{});
  });
  if (out.numel() != size) out.resize_({size});
  return write_in_order(out, [&](const creation::Dense& d) { GF_CREATION(out, arange, d, start, step); });
}

Tensor& range_out_(const Scalar& start, const Scalar& end, Tensor& out) {
  return ops::range_out(start, end, 1, out);
}

// ---- linspace and logspace ----------------------------------------------------------------------
Tensor& linspace_out(const Scalar& start, const Scalar& end, int64_t steps, Tensor& out) {
  TORCH_CHECK(steps >= 0, "number of steps must be non-negative");
  if (!on_backend(out) || (steps > 1 && !has(creation::kSpaceTypes, out.scalar_type()))) {
    return GF_FALLBACK(out, linspace_out, out, start, end, steps)();
  }
  if (out.numel() != steps) out.resize_({steps});
  if (steps == 1) return ops::fill_(out, start);
  return write_in_order(out, [&](const creation::Dense& d) { GF_CREATION(out, linspace, d, start, end); });
}

Tensor& logspace_out(const Scalar& start, const Scalar& end, int64_t steps, double base, Tensor& out) {
  TORCH_CHECK(steps >= 0, "number of steps must be non-negative");
  if (!on_backend(out) || (steps > 1 && !has(creation::kSpaceTypes, out.scalar_type()))) {
    return GF_FALLBACK(out, logspace_out, out, start, end, steps, base)();
  }
  if (out.numel() != steps) out.resize_({steps});
  if (steps == 1) {
    if (out.is_complex()) {
      return ops::fill_(out, std::pow(c10::complex<double>(base), start.to<c10::complex<double>>()));
    }
    return ops::fill_(out, std::pow(base, start.to<double>()));
  }
  return write_in_order(out, [&](const creation::Dense& d) {
    GF_CREATION(out, logspace, d, start, end, base);
  });
}

// ---- eye ---------------------------------------------------------------------------------------
Tensor& eye_m_out(int64_t n, int64_t m, Tensor& out) {
  TORCH_CHECK(n >= 0, "n must be greater or equal to 0, got ", n);
  TORCH_CHECK(m >= 0, "m must be greater or equal to 0, got ", m);
  // 1- and 2-byte elements on cuda: torch's kernel (ours ran 0.77-0.80x at bf16 4096^2 on an
  // H100, 1.14x at fp32).
  if (!on_backend(out) || !has(creation::kEyeTypes, out.scalar_type()) || (out.is_cuda() && out.element_size() <= 2)) {
    return GF_FALLBACK(out, eye_out, out, n, m)();
  }
  out.resize_({n, m});
  if (out.numel() == 0) return out;
  alignas(16) unsigned char one[16] = {};
  dispatch_dtype<creation::kEyeTypes>(out.scalar_type(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T value = static_cast<T>(1);
    std::memcpy(one, &value, sizeof(T));
  });
  const bool direct = at::has_internal_overlap(out) != at::MemOverlap::Yes;
  Tensor dest = direct ? out : at::empty(out.sizes(), out.options());
  const creation::Matrices matrix = matrices(dest, {0, dest.stride(0), dest.stride(1)});
  bool done = true;
  {
    OnDevice on(dest);
#ifdef GEMFORGE_WITH_CUDA
    if (dest.is_cuda()) done = creation::eye_cuda(matrix, one);
    else
#endif
      creation::eye_cpu(matrix, one);
  }
  if (!done) return GF_FALLBACK(out, eye_out, out, n, m)();
  if (!direct) out.copy_(dest);
  return out;
}

Tensor& eye_out(int64_t n, Tensor& out) {
  TORCH_CHECK(n >= 0, "n must be greater or equal to 0, got ", n);
  return ops::eye_m_out(n, n, out);
}

// ---- tril and triu -----------------------------------------------------------------------------
#define GF_TRIANGLE_FORMS(name, upper)                                                          \
  Tensor name(const Tensor& self, int64_t diagonal) {                                           \
    check_triangle_dims(self, #name);                                                           \
    if (!triangle_served(self)) return GF_FALLBACK(self, name, self, diagonal)();               \
    Tensor out = at::empty(self.sizes(), self.options());                                       \
    return triangle(out, self, diagonal, upper);                                                \
  }                                                                                             \
  Tensor& name##_(Tensor& self, int64_t diagonal) {                                             \
    check_triangle_dims(self, #name);                                                           \
    if (!triangle_served(self)) return GF_FALLBACK(self, name##_, self, diagonal)();            \
    return triangle(self, self, diagonal, upper);                                               \
  }                                                                                             \
  Tensor& name##_out(const Tensor& self, int64_t diagonal, Tensor& out) {                       \
    check_triangle_dims(self, #name);                                                           \
    if (!triangle_served(self) || !triangle_served(out) || !out_like(self, out)) {              \
      return GF_FALLBACK(self, name##_outf, self, diagonal, out)();                             \
    }                                                                                           \
    return triangle(out, self, diagonal, upper);                                                \
  }
GF_TRIANGLE_FORMS(tril, false)
GF_TRIANGLE_FORMS(triu, true)
#undef GF_TRIANGLE_FORMS

// ---- polar: a pointwise op with a complex result -------------------------------------------------
Tensor& polar_out(const Tensor& abs, const Tensor& angle, Tensor& out) {
  auto fallback = GF_FALLBACK(abs, polar_out, out, abs, angle);
  if (abs.scalar_type() != angle.scalar_type() || !has(kernels::polar::types, abs.scalar_type()) ||
      out.scalar_type() != c10::toComplexType(abs.scalar_type())) {
    return fallback();
  }
  at::TensorIterator iter = at::TensorIteratorConfig()
                                .add_output(out)
                                .add_const_input(abs)
                                .add_const_input(angle)
                                .check_all_same_dtype(false)
                                .build();
  return pw::run(iter, K<kernels::polar>, {}, abs.scalar_type()) ? out : fallback();
}

}  // namespace gemforge::ops
