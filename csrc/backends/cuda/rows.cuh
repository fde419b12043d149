// What the row engine's cuda kernels share (rows_softmax.cu, rows_norm.cu): the thread -> row
// map, group reductions, 16-byte vectors and the launch with programmatic dependent launch.
//
// The register path keeps a row in registers: a "group" of threads owns one row; a thread holds
// vectors j = lane + i * group (i < MaxV) of V elements, so it reads each element once and
// writes it once. group is a power of two up to 32 (several rows per block, shuffles only) or a
// multiple of 32 equal to blockDim.x (one row per block, shuffles then shared memory).
#pragma once

#include "backends/cuda/launch.cuh"
#include "engine/rows.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

namespace gemforge::rows::cuda {

template <class T, int N> struct alignas(sizeof(T) * N) vec { T v[N]; };

// Elements a thread keeps in registers per row array; rows up to kRegisterRow stay in registers
// (128 registers a thread at kMaxRowThreads threads a block).
template <class T> constexpr int kElems = elems_per_thread(sizeof(T));
template <class T> constexpr int64_t kRegisterRow = register_row_cuda(sizeof(T));

using pw::cuda::pdl_begin;

// smem: dynamic shared memory bytes; on the current stream, with PDL.
template <class... KArgs, class... Args>
void launch_smem(void (*kernel)(KArgs...), dim3 blocks, dim3 threads, size_t smem, Args&&... args) {
  pw::cuda::launch_with_smem(kernel, blocks, threads, smem, c10::cuda::getCurrentCUDAStream(),
                             std::forward<Args>(args)...);
}

template <class... KArgs, class... Args>
void launch(void (*kernel)(KArgs...), dim3 blocks, dim3 threads, Args&&... args) {
  launch_smem(kernel, blocks, threads, 0, std::forward<Args>(args)...);
}

using pw::cuda::sm_count;

inline bool aligned(const void* p, int bytes) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

// ---- math in the compute type -----------------------------------------------------------------
__device__ __forceinline__ float exp_(float x) { return expf(x); }
__device__ __forceinline__ double exp_(double x) { return ::exp(x); }
__device__ __forceinline__ float log_(float x) { return logf(x); }
__device__ __forceinline__ double log_(double x) { return ::log(x); }
__device__ __forceinline__ float rsqrt_(float x) { return rsqrtf(x); }
__device__ __forceinline__ double rsqrt_(double x) { return ::rsqrt(x); }

template <class A> __device__ __forceinline__ A neg_inf() { return -std::numeric_limits<A>::infinity(); }

// exp of a row element whose result is stored as T. A 2-byte T keeps 8 or 11 bits: the
// hardware's exp2 (ex2.approx, about 2 ulp of fp32, subnormals kept) is exact enough and is one
// instruction where the correctly rounded expf is about ten, which made the 2-byte softmax
// instruction-bound. fp32 and fp64 results keep expf / exp.
template <class T, class A> __device__ __forceinline__ A exp_row(A x) {
  if constexpr (sizeof(T) == 2 && std::is_same_v<A, float>) {
    float r;
    asm("ex2.approx.f32 %0, %1;" : "=f"(r) : "f"(x * 1.4426950408889634f));
    return r;
  } else {
    return exp_(x);
  }
}

// max that keeps NaN (a row with NaN gives NaN, as torch's); one instruction for float
template <class A> __device__ __forceinline__ A max_nan(A a, A b) { return (a != a || a > b) ? a : b; }
template <> __device__ __forceinline__ float max_nan(float a, float b) {
  float r;
  asm("max.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
  return r;
}

struct Sum {
  template <class A> __device__ __forceinline__ A operator()(A a, A b) const { return a + b; }
};
struct Max {
  template <class A> __device__ __forceinline__ A operator()(A a, A b) const { return max_nan(a, b); }
};

// The reduction of v over the `group` threads of a row; every thread of the group gets it.
// The order is fixed (results do not change from run to run). smem: 32 elements, group > 32 only.
// Every thread of the block must call it.
template <class A, class Op>
__device__ __forceinline__ A group_reduce(A v, int group, Op op, A* smem) {
  const int width = group < 32 ? group : 32;
  for (int off = width / 2; off > 0; off >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, off));
  if (group <= 32) return v;
  const int warp = threadIdx.x / 32, warps = group / 32;
  __syncthreads();  // smem's previous values have been read
  if (threadIdx.x % 32 == 0) smem[warp] = v;
  __syncthreads();
  v = smem[0];
  for (int w = 1; w < warps; ++w) v = op(v, smem[w]);
  return v;
}

// The thread -> row map of the register path.
struct RowMap {
  int group;    // threads per row
  int threads;  // per block
  int rows_per_block;
};

// Threads per row so that each holds at most max_v vectors of the row's nv vectors.
inline RowMap row_map(int64_t nv, int max_v) {
  const int64_t need = (nv + max_v - 1) / max_v;
  if (need <= 32) {
    int group = 1;
    while (group < need) group *= 2;
    return {group, 128, 128 / group};
  }
  const int group = int((need + 31) / 32 * 32);  // <= kMaxRowThreads by kRegisterRow
  return {group, group, 1};
}

// The register path's grid: each block walks row groups base = blockIdx.x * rows_per_block,
// stepping by gridDim.x * rows_per_block, with the next row's loads in flight while it reduces
// and stores the current one (a block a row left the memory system idle during the reductions:
// loads came in bursts, then stores). One wave of resident blocks; a block per row group when
// the occupancy query fails. Cached per kernel (a template argument: kernels of one signature
// must not share a cache) and block size (a multiple of 32 up to kMaxRowThreads).
template <auto Kernel> int64_t row_grid(int64_t row_groups, int threads) {
  static int cached[kMaxRowThreads / 32 + 1] = {};  // blocks an SM; -1: unknown
  int& per_sm = cached[threads / 32];
  if (per_sm == 0) {
    int n = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, Kernel, threads, 0) != cudaSuccess) {
      (void)cudaGetLastError();  // not sticky: a later launch check must not see it
    }
    per_sm = n > 0 ? n : -1;
  }
  return per_sm > 0 ? std::min<int64_t>(row_groups, int64_t(sm_count()) * per_sm) : row_groups;
}

// A vec<T, V> as 32-bit words where its size allows: the compiler keeps a vector of 2-byte
// elements in one register per element (twice the registers) unless its bits are words.
template <class T, int V>
using bits_t = std::conditional_t<sizeof(T) * V % 4 == 0, vec<uint32_t, sizeof(T) * V / 4>, vec<T, V>>;

// Registers of a thread's MaxV vectors of a row, as bits_t.
template <class T, int V, int MaxV> constexpr int row_regs = MaxV * int((sizeof(bits_t<T, V>) + 3) / 4);

// Whether the register path loads a row's next row before its reductions: where the bits take at
// most 16 registers a row array (2-byte elements one a vector take 32, which spills).
template <class T, int V, int MaxV> constexpr bool load_ahead = row_regs<T, V, MaxV> <= 16;

template <class T, int V, class B> __device__ __forceinline__ vec<T, V> unpack(const B& bits) {
  static_assert(sizeof(B) == sizeof(vec<T, V>));
  vec<T, V> v;
  memcpy(&v, &bits, sizeof(v));
  return v;
}

// This thread's vectors of a row in its own dtype (zeros where row >= rows or past nv: raw's
// previous values must not stay live): the prefetch of the register path.
template <class T, class B, int MaxV>
__device__ __forceinline__ void load_row(const T* base, int64_t row, int64_t rows, int64_t n, int lane,
                                         int group, int nv, B (&raw)[MaxV]) {
  const B* r = reinterpret_cast<const B*>(base + (row < rows ? row : 0) * n);  // B: bits_t<T, V>
#pragma unroll
  for (int i = 0; i < MaxV; ++i) {
    const int j = lane + i * group;
    raw[i] = row < rows && j < nv ? r[j] : B{};
  }
}

// This thread's vectors of a row, as load_row left them in raw, in the compute type (x is left
// as it is where the row is inactive or past nv).
template <class T, int V, int MaxV, class B, class A>
__device__ __forceinline__ void unpack_row(const B (&raw)[MaxV], bool active, int lane, int group, int nv,
                                           A (&x)[MaxV][V]) {
#pragma unroll
  for (int i = 0; i < MaxV; ++i) {
    const int j = lane + i * group;
    if (active && j < nv) {
      const vec<T, V> v = unpack<T, V>(raw[i]);
#pragma unroll
      for (int k = 0; k < V; ++k) x[i][k] = static_cast<A>(v.v[k]);
    }
  }
}

// Loads vector j of a row (V elements of T) into the compute type.
// j: int in the register path (rows fit 32 bits: fewer registers), int64_t elsewhere.
template <int V, class T, class A, class I>
__device__ __forceinline__ void load_vec(const T* row, I j, A (&out)[V]) {
  const vec<T, V> v = *reinterpret_cast<const vec<T, V>*>(row + j * V);
#pragma unroll
  for (int k = 0; k < V; ++k) out[k] = static_cast<A>(v.v[k]);
}

// Pairs of floats to 2-byte types take one conversion instruction a pair.
__device__ __forceinline__ void convert_pair(float a, float b, c10::BFloat16* out) {
  *reinterpret_cast<__nv_bfloat162*>(out) = __floats2bfloat162_rn(a, b);
}
__device__ __forceinline__ void convert_pair(float a, float b, c10::Half* out) {
  *reinterpret_cast<__half2*>(out) = __floats2half2_rn(a, b);
}

template <int V, class T, class A, class I>
__device__ __forceinline__ void store_vec(T* row, I j, const A (&in)[V]) {
  vec<T, V> v;
  if constexpr (sizeof(T) == 2 && std::is_same_v<A, float> && V % 2 == 0) {
#pragma unroll
    for (int k = 0; k < V; k += 2) convert_pair(in[k], in[k + 1], &v.v[k]);
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) v.v[k] = static_cast<T>(in[k]);
  }
  *reinterpret_cast<vec<T, V>*>(row + j * V) = v;
}

}  // namespace gemforge::rows::cuda
