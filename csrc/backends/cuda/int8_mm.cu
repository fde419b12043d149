// _weight_int8pack_mm on cuda, built for decode shapes (m <= 16: memory bound on the int8 weight).
//
// A block of 256 threads computes kRows consecutive outputs n for every row of x: each thread
// takes 16-k chunks (chunk tid, tid + 256, ...), loads the kRows weight rows' 16 bytes there,
// dequantizes them once in registers (a byte permute into a float's mantissa, one subtraction)
// and multiplies them with the same 16 values of up to kMChunk rows of x (fp32 accumulators).
// Each warp then sums its lanes by shuffles, and the block adds its 8 warps in a fixed order:
// a run gives the same bits as the last. x's rows are re-read from L2 by every block.
#include "backends/cuda/launch.cuh"
#include "backends/int8_mm.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace gemforge::gemm {
namespace {

using pw::cuda::launch;
using pw::cuda::pdl_begin;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRows = 4;    // outputs n per block
constexpr int kMChunk = 8;  // rows of x per pass over the weights
constexpr int kChunk = 16;  // k per thread step: one 16-byte weight load per row

// 16 int8 (one uint4) to floats, exactly: (b ^ 0x80) is b + 128 in [0, 255]; as the low byte of
// the float 2^23 + (b + 128) it leaves b after subtracting 2^23 + 128.
__device__ __forceinline__ void dequant16(const uint4& v, float (&f)[kChunk]) {
  const uint32_t words[4] = {v.x ^ 0x80808080u, v.y ^ 0x80808080u, v.z ^ 0x80808080u, v.w ^ 0x80808080u};
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
      f[4 * i + j] = __uint_as_float(__byte_perm(words[i], 0x4B000000u, 0x7440u + j)) - 8388736.0f;
}

// 16 values of x from a 16-byte aligned address, as floats.
template <class T> __device__ __forceinline__ void load16(const T* p, float (&f)[kChunk]) {
  if constexpr (std::is_same_v<T, float>) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(p) + i);
      f[4 * i] = v.x, f[4 * i + 1] = v.y, f[4 * i + 2] = v.z, f[4 * i + 3] = v.w;
    }
  } else {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const uint4 v = __ldg(reinterpret_cast<const uint4*>(p) + i);
      const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if constexpr (std::is_same_v<T, c10::BFloat16>) {
          f[8 * i + 2 * j] = __uint_as_float(words[j] << 16);
          f[8 * i + 2 * j + 1] = __uint_as_float(words[j] & 0xffff0000u);
        } else {
          const float2 h = __half22float2(*reinterpret_cast<const __half2*>(&words[j]));
          f[8 * i + 2 * j] = h.x;
          f[8 * i + 2 * j + 1] = h.y;
        }
      }
    }
  }
}

__device__ __forceinline__ float load_scale(const void* s, c10::ScalarType t, int64_t i) {
  switch (t) {
    case c10::ScalarType::Half: return static_cast<float>(static_cast<const c10::Half*>(s)[i]);
    case c10::ScalarType::BFloat16: return static_cast<float>(static_cast<const c10::BFloat16*>(s)[i]);
    default: return static_cast<const float*>(s)[i];
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads, 2) int8_mm_kernel(Int8Mm p) {
  __shared__ float partial[kWarps][kMChunk * kRows];
  pdl_begin();
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t n0 = int64_t(blockIdx.x) * kRows;
  const int64_t chunks = p.k / kChunk;
  const T* x = static_cast<const T*>(p.x);
  T* out = static_cast<T*>(p.out);

  for (int64_t m0 = 0; m0 < p.m; m0 += kMChunk) {
    const int mc = p.m - m0 < kMChunk ? int(p.m - m0) : kMChunk;
    float acc[kMChunk][kRows];
#pragma unroll
    for (int i = 0; i < kMChunk; ++i)
#pragma unroll
      for (int r = 0; r < kRows; ++r) acc[i][r] = 0.f;

    for (int64_t c = tid; c < chunks; c += kThreads) {
      float wf[kRows][kChunk];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (n0 + r < p.n) {
          dequant16(__ldg(reinterpret_cast<const uint4*>(p.w + (n0 + r) * p.k + c * kChunk)), wf[r]);
        } else {
#pragma unroll
          for (int e = 0; e < kChunk; ++e) wf[r][e] = 0.f;
        }
      }
#pragma unroll
      for (int i = 0; i < kMChunk; ++i) {
        if (i < mc) {
          float xf[kChunk];
          load16(x + (m0 + i) * p.x_ld + c * kChunk, xf);
#pragma unroll
          for (int r = 0; r < kRows; ++r)
#pragma unroll
            for (int e = 0; e < kChunk; ++e) acc[i][r] = fmaf(xf[e], wf[r][e], acc[i][r]);
        }
      }
    }

#pragma unroll
    for (int i = 0; i < kMChunk; ++i)
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        float v = acc[i][r];
#pragma unroll
        for (int d = 16; d > 0; d /= 2) v += __shfl_xor_sync(0xffffffffu, v, d);
        if (lane == 0) partial[warp][i * kRows + r] = v;
      }
    __syncthreads();
    if (tid < mc * kRows) {
      const int i = tid / kRows, r = tid % kRows;
      const int64_t n = n0 + r;
      if (n < p.n) {
        float s = 0.f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) s += partial[w][tid];
        out[(m0 + i) * p.n + n] = static_cast<T>(s * load_scale(p.scales, p.scale_dtype, n * p.scale_stride));
      }
    }
    __syncthreads();  // partial is reused by the next rows of x
  }
}

}  // namespace

void int8_mm_cuda(const Int8Mm& p) {
  if (p.m == 0 || p.n == 0) return;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream();
  const dim3 blocks(unsigned((p.n + kRows - 1) / kRows));
  switch (p.dtype) {
    case c10::ScalarType::BFloat16: launch(int8_mm_kernel<c10::BFloat16>, blocks, dim3(kThreads), stream, p); break;
    case c10::ScalarType::Half: launch(int8_mm_kernel<c10::Half>, blocks, dim3(kThreads), stream, p); break;
    case c10::ScalarType::Float: launch(int8_mm_kernel<float>, blocks, dim3(kThreads), stream, p); break;
    default: TORCH_CHECK(false, "_weight_int8pack_mm: no cuda kernel for ", p.dtype);
  }
}

}  // namespace gemforge::gemm
