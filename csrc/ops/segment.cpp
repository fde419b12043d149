// segment_reduce: sum / mean / max / min / prod over consecutive segments of one dim, the
// segments given by lengths or offsets whose leading dims are the data's before `axis`; and its
// backward (autograd's _segment_reduce_backward). torch's checks, in torch's order, then
// gemforge's kernels (backends/segment.h); indices, other dtypes and layouts go to torch.
#include "ops/segment.h"

#include "backends/segment.h"
#include "ops/on_device.h"
#include "ops/plain.h"
#include "ops/pointwise/common.h"

#include <ATen/ATen.h>
#include <ATen/WrapDimUtils.h>
#include <ATen/native/ReductionType.h>
#include <ATen/native/Resize.h>
#include <c10/core/DeviceGuard.h>

namespace gemforge::ops {
namespace {

using at::native::ReductionType;

#ifdef GEMFORGE_WITH_CUDA
#define GF_SEGMENT(t, fn, ...) ((t).is_cuda() ? segment::fn##_cuda(__VA_ARGS__) : segment::fn##_cpu(__VA_ARGS__))
#else
#define GF_SEGMENT(t, fn, ...) segment::fn##_cpu(__VA_ARGS__)
#endif

segment::Kind kind_of(ReductionType r) {
  switch (r) {
    case ReductionType::MAX: return segment::Kind::Max;
    case ReductionType::MIN: return segment::Kind::Min;
    case ReductionType::MEAN: return segment::Kind::Mean;
    case ReductionType::PROD: return segment::Kind::Prod;
    default: return segment::Kind::Sum;
  }
}

// The call as gemforge's kernels see it: data (outer, size, inner), offsets (outer, segments + 1).
struct Plan {
  Tensor data, offsets;
  int64_t outer = 1, size = 1, segments = 0, inner = 1;
  bool has_initial = false;
  double initial = 0;
};

// None where gemforge leaves the call to torch: other dtypes, devices or layouts, a lengths or
// offsets tensor whose leading dims are not the data's before axis.
std::optional<Plan> plan(const Tensor& data, int64_t axis, const Tensor& bounds, bool are_offsets,
                         const std::optional<Scalar>& initial) {
  if (!plain(data) || !plain(bounds) || !has(segment::kSegmentTypes, data.scalar_type()) ||
      (bounds.scalar_type() != at::kLong && bounds.scalar_type() != at::kInt) || bounds.device() != data.device() ||
      bounds.dim() != axis + 1 || !data.sizes().slice(0, axis).equals(bounds.sizes().slice(0, axis)) ||
      (are_offsets && bounds.size(-1) == 0))
    return std::nullopt;
  Plan p;
  p.data = data.contiguous();
  for (int64_t d = 0; d < axis; ++d) p.outer *= data.size(d);
  for (int64_t d = axis + 1; d < data.dim(); ++d) p.inner *= data.size(d);
  p.size = data.size(axis);
  if (are_offsets) {
    p.segments = bounds.size(-1) - 1;
    p.offsets = bounds.to(at::kLong).contiguous();
  } else {
    p.segments = bounds.size(-1);
    p.offsets = at::constant_pad_nd(at::cumsum(bounds, -1, at::kLong), {1, 0}, 0).contiguous();
  }
  if (initial.has_value()) {
    p.has_initial = true;
    // torch takes the initial value in the data's dtype
    p.initial = at::scalar_tensor(*initial, at::TensorOptions().dtype(data.scalar_type())).item<double>();
  }
  return p;
}

// torch's out= wrappers of these ops: out takes the result's dtype and device, resized.
Tensor& copy_into(const Tensor& result, Tensor& out) {
  TORCH_CHECK(out.scalar_type() == result.scalar_type(), "Expected out tensor to have dtype ",
              result.scalar_type(), ", but got ", out.scalar_type(), " instead");
  TORCH_CHECK(out.device() == result.device(), "Expected out tensor to have device ", result.device(),
              ", but got ", out.device(), " instead");
  at::native::resize_output(out, result.sizes());
  out.copy_(result);
  return out;
}

std::vector<int64_t> reduced_shape(const Tensor& data, int64_t axis, int64_t segments) {
  std::vector<int64_t> shape(data.sizes().begin(), data.sizes().end());
  shape[axis] = segments;
  return shape;
}

}  // namespace

Tensor segment_reduce(const Tensor& data, c10::string_view reduce, const std::optional<Tensor>& lengths,
                      const std::optional<Tensor>& indices, const std::optional<Tensor>& offsets, int64_t axis,
                      bool unsafe, const std::optional<Scalar>& initial) {
  auto torchs = GF_FALLBACK(data, segment_reduce, data, reduce, lengths, indices, offsets, axis, unsafe, initial);
  axis = at::maybe_wrap_dim(axis, data.dim());
  TORCH_CHECK(!indices.has_value(), "segment_reduce(): indices based reduction is not supported yet.");
  TORCH_CHECK(lengths.has_value() || offsets.has_value(),
              "segment_reduce(): Either lengths or offsets must be defined.");
  const ReductionType reduction = at::native::get_reduction_enum(reduce);
  const bool by_offsets = offsets.has_value();
  const Tensor& bounds = by_offsets ? *offsets : *lengths;
  TORCH_CHECK(data.get_device() == bounds.get_device());
  TORCH_CHECK(data.dim() >= bounds.dim());
  TORCH_CHECK(axis == bounds.dim() - 1, "segment_reduce(): Expected axis to be the last dimension of ",
              by_offsets ? "offsets" : "lengths", " but got ", axis, ".");
  std::optional<Plan> p = plan(data, axis, bounds, by_offsets, initial);
  if (!p) return torchs();
  if (!by_offsets && !unsafe) {
    // torch's two checks, read back in one sync (torch syncs twice): no negative length, and every
    // row of lengths sums to the data's size along axis (where the plan's offsets end)
    const Tensor checks =
        at::stack({bounds.min() >= 0, at::all(p->offsets.select(-1, -1) == data.size(axis))}).cpu();
    TORCH_CHECK(checks[0].item<bool>(), "lengths contains negative value!");
    TORCH_CHECK(checks[1].item<bool>(),
                "segment_reduce(): Expected all rows of lengths along axis to sum to data.size(lengths.dim()-1) "
                "when !unsafe.");
  }
  Tensor out = at::empty(reduced_shape(data, axis, p->segments), data.options());
  const segment::Forward f{data.scalar_type(), kind_of(reduction), out.data_ptr(), p->data.const_data_ptr(),
                           p->offsets.const_data_ptr<int64_t>(), p->outer, p->size, p->segments, p->inner,
                           p->has_initial, p->initial};
  OnDevice on(data);
  GF_SEGMENT(data, forward, f);
  return out;
}

Tensor& segment_reduce_out(const Tensor& data, c10::string_view reduce, const std::optional<Tensor>& lengths,
                           const std::optional<Tensor>& indices, const std::optional<Tensor>& offsets, int64_t axis,
                           bool unsafe, const std::optional<Scalar>& initial, Tensor& out) {
  return copy_into(ops::segment_reduce(data, reduce, lengths, indices, offsets, axis, unsafe, initial), out);
}

Tensor _segment_reduce_backward(const Tensor& grad, const Tensor& output, const Tensor& data, c10::string_view reduce,
                                const std::optional<Tensor>& lengths, const std::optional<Tensor>& offsets,
                                int64_t axis, const std::optional<Scalar>& initial) {
  auto torchs = GF_FALLBACK(data, _segment_reduce_backward, grad, output, data, reduce, lengths, offsets, axis,
                            initial);
  axis = at::maybe_wrap_dim(axis, data.dim());
  // autograd passes an undefined tensor, not None, for the bound it lacks
  const bool by_lengths = lengths.has_value() && lengths->defined();
  const bool by_offsets = offsets.has_value() && offsets->defined();
  TORCH_CHECK(by_lengths || by_offsets, "segment_reduce(): Either lengths or offsets must be defined.");
  const ReductionType reduction = at::native::get_reduction_enum(reduce);
  const Tensor& bounds = by_offsets ? *offsets : *lengths;
  std::optional<Plan> p = plan(data, axis, bounds, by_offsets, initial);
  const auto expected = p ? reduced_shape(data, axis, p->segments) : std::vector<int64_t>();
  // On cuda, torch's kernel where it ran ahead of ours (H200, max): one-element rows (a 1-d input,
  // or segments along the last dim; 16M elements in segments of 64: torch 1.14-1.20x ours) and
  // 4- and 8-byte dtypes (4096x4096 in segments of 64 rows, fp32: torch 1.07x; bf16 is 1.73x ours)
  if (p && data.is_cuda() && (p->inner == 1 || data.element_size() >= 4)) return torchs();
  if (!p || !plain(grad) || !plain(output) || grad.scalar_type() != data.scalar_type() ||
      output.scalar_type() != data.scalar_type() || grad.device() != data.device() ||
      output.device() != data.device() || !grad.sizes().equals(expected) || !output.sizes().equals(expected))
    return torchs();
  Tensor grad_input = at::zeros(data.sizes(), data.options());
  const Tensor g = grad.contiguous(), o = output.contiguous();
  const segment::Backward b{data.scalar_type(), kind_of(reduction), grad_input.data_ptr(), g.const_data_ptr(),
                            o.const_data_ptr(), p->data.const_data_ptr(), p->offsets.const_data_ptr<int64_t>(),
                            p->outer, p->size, p->segments, p->inner, p->has_initial, p->initial};
  OnDevice on(data);
  GF_SEGMENT(data, backward, b);
  return grad_input;
}

Tensor& _segment_reduce_backward_out(const Tensor& grad, const Tensor& output, const Tensor& data,
                                     c10::string_view reduce, const std::optional<Tensor>& lengths,
                                     const std::optional<Tensor>& offsets, int64_t axis,
                                     const std::optional<Scalar>& initial, Tensor& out) {
  return copy_into(ops::_segment_reduce_backward(grad, output, data, reduce, lengths, offsets, axis, initial), out);
}

}  // namespace gemforge::ops
