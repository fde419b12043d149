// The scan engine's host side: tensors to a Problem, the backend by device.
#include "engine/scan.h"

#include <ATen/ATen.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/WrapDimUtils.h>
#include <c10/core/DeviceGuard.h>

namespace gemforge::scan {

bool served(Op op, const at::Tensor& input) {
  return (input.is_cpu() || input.is_cuda()) && has(types_of(op), input.scalar_type()) &&
         !input.is_conj() && !input.is_neg();
}

namespace {

// t itself where the kernel can write it directly (dense, no internal overlap), else a
// contiguous temporary of its shape and dtype.
at::Tensor writable(const at::Tensor& t) {
  if (t.is_contiguous() && at::has_internal_overlap(t) != at::MemOverlap::Yes) return t;
  return at::empty(t.sizes(), t.options().memory_format(at::MemoryFormat::Contiguous));
}

}  // namespace

void run(Op op, const at::Tensor& input, int64_t dim, const at::Tensor& out, const at::Tensor& indices) {
  if (out.numel() == 0) return;
  dim = at::maybe_wrap_dim(dim, input.dim());
  const bool indexed = op == Op::max || op == Op::min;
  // An input that overlaps an output only partly (not element for element) is read from a copy.
  at::Tensor in = input.contiguous();
  at::Tensor dest = writable(out);
  at::Tensor dest_idx = indexed ? writable(indices) : at::Tensor();
  if (in.is_same(input) && dest.is_same(out) &&
      at::get_overlap_status(in, dest) == at::MemOverlapStatus::Partial)
    in = in.clone();
  if (indexed && at::get_overlap_status(in, dest_idx) != at::MemOverlapStatus::No) in = in.clone();

  Problem p{op, in.scalar_type(), in.const_data_ptr(), dest.data_ptr(),
            indexed ? dest_idx.data_ptr<int64_t>() : nullptr, 1, 1, 1};
  for (int64_t d = 0; d < in.dim(); ++d) {
    if (d < dim) p.outer *= in.size(d);
    else if (d == dim) p.n = in.size(d);
    else p.inner *= in.size(d);
  }
  if (in.is_cuda()) {
#ifdef GEMFORGE_WITH_CUDA
    c10::OptionalDeviceGuard guard(in.device());
    scan_cuda(p);
#endif
  } else {
    scan_cpu(p);
  }
  if (!dest.is_same(out)) out.copy_(dest);
  if (indexed && !dest_idx.is_same(indices)) indices.copy_(dest_idx);
}

}  // namespace gemforge::scan
