// Kernel launches with programmatic dependent launch (sm_90), shared by every cuda engine.
//
// Back-to-back kernels pay a launch-and-ramp gap between them. With programmatic stream
// serialization the next kernel is launched while this one drains, its blocks wait at
// griddepcontrol.wait until this grid has finished and its writes are visible, so the gap
// overlaps the tail. Every kernel launched here calls pdl_begin() before touching memory.
#pragma once

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <utility>

namespace gemforge::pw::cuda {

__device__ __forceinline__ void pdl_begin() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

bool pdl_enabled();  // pointwise_launch.cu: sm_90 or newer (and not switched off)

// The current device's multiprocessor count, cached per device (grid sizes on the host path
// of every call; the property query is too slow to repeat).
inline int sm_count() {
  constexpr int kMaxDevices = 64;
  static int cached[kMaxDevices] = {};
  const int device = c10::cuda::current_device();
  int* slot = device < kMaxDevices ? &cached[device] : nullptr;
  if (slot && *slot) return *slot;
  int sms = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  if (slot) *slot = sms;
  return sms;
}

// Raises kernel's dynamic shared memory limit on the current device to smem bytes where it is
// lower. cudaFuncSetAttribute costs host time on every call, and the attention and
// pointwise-table paths launch above 48 KiB on every call; the limit holds per (kernel, device)
// and serves every smaller launch, so it is set once and again only for a larger smem.
// Keyed by the kernel's address: launch_with_smem is one instantiation for every kernel of
// the same argument types.
inline void raise_smem_limit(const void* kernel, size_t smem) {
  static std::mutex mutex;
  static std::map<std::pair<const void*, int>, size_t> limits;  // (kernel, device) -> bytes set
  const std::pair<const void*, int> key(kernel, c10::cuda::current_device());
  const std::lock_guard<std::mutex> lock(mutex);
  size_t& limit = limits[key];
  if (smem <= limit) return;
  C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  limit = smem;
}

// smem: dynamic shared memory bytes (above 48 KiB the kernel's limit is raised first).
template <class... KArgs, class... Args>
void launch_with_smem(void (*kernel)(KArgs...), dim3 blocks, dim3 threads, size_t smem,
                      cudaStream_t stream, Args&&... args) {
  if (smem > 48 * 1024) raise_smem_limit(reinterpret_cast<const void*>(kernel), smem);
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = blocks;
  config.blockDim = threads;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = attr;
  config.numAttrs = pdl_enabled() ? 1 : 0;
  C10_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

template <class... KArgs, class... Args>
void launch(void (*kernel)(KArgs...), dim3 blocks, dim3 threads, cudaStream_t stream, Args&&... args) {
  launch_with_smem(kernel, blocks, threads, 0, stream, std::forward<Args>(args)...);
}

}  // namespace gemforge::pw::cuda
