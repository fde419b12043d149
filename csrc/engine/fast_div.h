// Division by a run-time constant as a multiply-high, an add and a shift (Granlund-Montgomery):
// what the strided kernels do per dimension instead of a hardware divide. Exact for numerators
// below 2^31, which the 32-bit split of the iteration guarantees.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define GF_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define GF_HOST_DEVICE inline
#endif

namespace gemforge {

struct fast_div {
  uint32_t divisor = 1, magic = 1, shift = 0;

  fast_div() = default;
  explicit fast_div(uint32_t d) : divisor(d) {
    for (shift = 0; shift < 32; ++shift)
      if ((uint64_t(1) << shift) >= d) break;
    magic = uint32_t(((uint64_t(1) << 32) * ((uint64_t(1) << shift) - d)) / d + 1);
  }

  GF_HOST_DEVICE uint32_t div(uint32_t n) const {
#if defined(__CUDA_ARCH__)
    const uint32_t t = __umulhi(n, magic);
#else
    const uint32_t t = uint32_t((uint64_t(n) * magic) >> 32);
#endif
    return (t + n) >> shift;
  }
};

}  // namespace gemforge
