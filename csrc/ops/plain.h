// plain(): a tensor gemforge's own kernels can read as it is. Shared by the ops that launch
// through their own backends.
#pragma once

#include <ATen/core/Tensor.h>

namespace gemforge::ops {

// Strided, on the cpu or a cuda device, not quantized, no lazy conjugate or negative bit.
inline bool plain(const at::Tensor& t) {
  return (t.is_cpu() || t.is_cuda()) && t.layout() == at::kStrided && !t.is_quantized() && !t.is_conj() &&
         !t.is_neg();
}

}  // namespace gemforge::ops
