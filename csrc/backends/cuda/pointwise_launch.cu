// Launch settings of the cuda pointwise kernels, decided once per process.
#include "backends/cuda/pointwise.cuh"

#include <c10/cuda/CUDAFunctions.h>

#include <cstdlib>
#include <cstring>

namespace gemforge::pw::cuda {
namespace {
bool env_flag(const char* name, bool fallback) {
  const char* v = std::getenv(name);
  return v ? std::strcmp(v, "0") != 0 : fallback;
}
}  // namespace

bool pdl_enabled() {
  static const bool on = [] {
    int major = 0;
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor,
                                          c10::cuda::current_device()));
    return major >= 9 && env_flag("GEMFORGE_PDL", true);
  }();
  return on;
}

bool table_enabled() {
  static const bool on = env_flag("GEMFORGE_PW_TABLE", true);
  return on;
}

}  // namespace gemforge::pw::cuda
