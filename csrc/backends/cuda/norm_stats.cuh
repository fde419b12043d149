// What the batch norm and group norm kernels share: Welford accumulation and its merge, block
// reductions in a fixed order (the same result every run), 16-byte vector loads.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

namespace gemforge::chnorm::cuda {

__device__ __forceinline__ int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

template <class A> struct Welford {
  A n, mean, m2;  // count, mean, sum of squared deviations
};

template <class A> __device__ __forceinline__ Welford<A> merge(const Welford<A>& a, const Welford<A>& b) {
  const A n = a.n + b.n;
  if (n == A(0)) return a;
  const A d = b.mean - a.mean, wb = b.n / n;
  return {n, a.mean + d * wb, a.m2 + b.m2 + d * d * a.n * wb};
}

// One value into a running Welford.
template <class A> __device__ __forceinline__ void push(Welford<A>& w, A x) {
  w.n += A(1);
  const A d = x - w.mean;
  w.mean += d / w.n;
  w.m2 += d * (x - w.mean);
}

// V values at once: their own mean and squares, then one merge (one division per vector).
template <class A, int V> __device__ __forceinline__ void push_vec(Welford<A>& w, const A (&v)[V]) {
  A s = 0;
#pragma unroll
  for (int k = 0; k < V; ++k) s += v[k];
  const A m = s / A(V);
  A q = 0;
#pragma unroll
  for (int k = 0; k < V; ++k) q += (v[k] - m) * (v[k] - m);
  w = merge(w, Welford<A>{A(V), m, q});
}

template <class A> __device__ __forceinline__ Welford<A> shfl_xor(const Welford<A>& w, int d) {
  return {__shfl_xor_sync(0xffffffffu, w.n, d), __shfl_xor_sync(0xffffffffu, w.mean, d),
          __shfl_xor_sync(0xffffffffu, w.m2, d)};
}

// The merge over a 1-d block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
// scratch: 32 entries.
template <class A> __device__ Welford<A> block_merge(Welford<A> w, Welford<A>* scratch) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) w = merge(w, shfl_xor(w, d));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = w;
  __syncthreads();
  Welford<A> r = scratch[0];
  for (int k = 1; k < warps; ++k) r = merge(r, scratch[k]);
  return r;
}

// Sums of two values over a 1-d block; every thread gets them. scratch: 64 entries.
template <class A> __device__ void block_sum2(A& a, A& b, A* scratch) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) {
    a += __shfl_xor_sync(0xffffffffu, a, d);
    b += __shfl_xor_sync(0xffffffffu, b, d);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) {
    scratch[warp] = a;
    scratch[32 + warp] = b;
  }
  __syncthreads();
  a = 0;
  b = 0;
  for (int k = 0; k < warps; ++k) {
    a += scratch[k];
    b += scratch[32 + k];
  }
}

// V = 16 / sizeof(T) elements of a 16-byte aligned address, widened to A.
template <class T, class A, int V> __device__ __forceinline__ void load_vec(const T* p, A (&out)[V]) {
  static_assert(V * sizeof(T) == 16, "one 16-byte load");
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  T v[V];
  memcpy(v, &raw, 16);
#pragma unroll
  for (int k = 0; k < V; ++k) out[k] = static_cast<A>(v[k]);
}

template <class T, class A, int V> __device__ __forceinline__ void store_vec(T* p, const A (&in)[V]) {
  T v[V];
#pragma unroll
  for (int k = 0; k < V; ++k) v[k] = static_cast<T>(in[k]);
  uint4 raw;
  memcpy(&raw, v, 16);
  *reinterpret_cast<uint4*>(p) = raw;
}

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace gemforge::chnorm::cuda
