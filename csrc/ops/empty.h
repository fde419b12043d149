// New tensors straight from the device's allocator: at::empty's dispatcher round trip is host
// time a tiny call would feel. Shared by the ops that allocate their own outputs.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/EmptyTensor.h>
#include <c10/util/Exception.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/cuda/EmptyTensor.h>
#endif

namespace gemforge::ops {

inline at::Tensor empty_on(at::IntArrayRef sizes, at::ScalarType dtype, c10::Device device,
                           at::MemoryFormat format = at::MemoryFormat::Contiguous) {
#ifdef GEMFORGE_WITH_CUDA
  if (device.is_cuda()) return at::detail::empty_cuda(sizes, dtype, device, format);
#endif
  TORCH_INTERNAL_ASSERT(device.is_cpu(), "gemforge: no allocator for ", device);
  return at::detail::empty_cpu(sizes, dtype, false, format);
}

inline at::Tensor empty_strided_on(at::IntArrayRef sizes, at::IntArrayRef strides, at::ScalarType dtype,
                                   c10::Device device) {
#ifdef GEMFORGE_WITH_CUDA
  if (device.is_cuda()) return at::detail::empty_strided_cuda(sizes, strides, dtype, device);
#endif
  TORCH_INTERNAL_ASSERT(device.is_cpu(), "gemforge: no allocator for ", device);
  return at::detail::empty_strided_cpu(sizes, strides, dtype);
}

}  // namespace gemforge::ops
