// _weight_int8pack_mm's plain description: out (m x n) = (x (m x k) @ w (n x k)^T) * scales (n),
// x fp16/bf16/fp32, w int8, the dot products in fp32, rounded once to x's dtype. No ATen here.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>

namespace gemforge::gemm {

struct Int8Mm {
  c10::ScalarType dtype;        // of x and out: Half, BFloat16 or Float
  c10::ScalarType scale_dtype;  // Half, BFloat16 or Float
  int64_t m, n, k;              // k % 16 == 0
  const void* x;                // rows x_ld elements apart, unit column stride, 16-byte aligned rows
  int64_t x_ld;
  const int8_t* w;              // contiguous (n, k), 16-byte aligned
  const void* scales;           // n values, scale_stride apart
  int64_t scale_stride;
  void* out;                    // contiguous (m, n)
};

// The largest m the kernel takes (torch's kernel serves more). Built for decode (m <= 16: one
// pass over the weights); past 8 rows each further 8 re-read the weights (from L2 while they
// fit), still well ahead of torch's kernel (one output per thread or warp, x in fp32 first).
constexpr int64_t kInt8MmMaxM = 256;

#ifdef GEMFORGE_WITH_CUDA
// Runs p on the current stream of the current device.
void int8_mm_cuda(const Int8Mm& p);
#endif

}  // namespace gemforge::gemm
