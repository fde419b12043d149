// What the row-engine ops (softmax.cpp, norm.cpp) share: the backend switch, the device guard
// and the out= plumbing.
#pragma once

#include "engine/rows.h"
#include "ops/on_device.h"
#include "ops/pointwise/common.h"

#include <ATen/native/Resize.h>
#include <c10/core/DeviceGuard.h>

namespace gemforge::ops::rows_detail {

#ifdef GEMFORGE_WITH_CUDA
#define GF_ROWS(t, fn, p) ((t).is_cuda() ? ::gemforge::rows::fn##_cuda(p) : ::gemforge::rows::fn##_cpu(p))
#else
#define GF_ROWS(t, fn, p) ::gemforge::rows::fn##_cpu(p)
#endif

inline bool on_backend(const Tensor& t) {
  return (t.is_cpu() || t.is_cuda()) && t.layout() == at::kStrided;
}

inline bool row_dtype(const Tensor& t) { return has(rows::kRowTypes, t.scalar_type()); }

// out resized like torch's out= (a warning when a non-empty out changes shape), then
// write(dense) fills a contiguous tensor that is out itself or a temporary copied into it.
template <class Write> Tensor& write_out(Tensor& out, at::IntArrayRef sizes, Write&& write) {
  at::native::resize_output(out, sizes);
  if (out.numel() == 0) return out;
  if (out.is_contiguous()) {
    write(out);
    return out;
  }
  Tensor dense = at::empty(sizes, out.options());
  write(dense);
  out.copy_(dense);
  return out;
}

}  // namespace gemforge::ops::rows_detail
