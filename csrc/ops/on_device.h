// OnDevice: a tensor's device made current while gemforge's kernels launch for it (nothing for
// cpu tensors). Shared by the ops that launch through their own backends.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceGuard.h>

namespace gemforge::ops {

struct OnDevice {
  c10::OptionalDeviceGuard guard;
  explicit OnDevice(const at::Tensor& t) {
    if (t.is_cuda()) guard.reset_device(t.device());
  }
};

}  // namespace gemforge::ops
