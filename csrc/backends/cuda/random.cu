// cuda kernels of the random family (backends/random.h). One thread per chunk of
// chunk_elems<S>() elements (whole groups of four, 16 bytes of output at least): it draws its
// groups' Philox blocks before waiting on the previous kernel (PDL), then writes 16-byte vectors
// where the pointers allow, element by element otherwise and at the end of the tensor.
#include "backends/cuda/launch.cuh"
#include "backends/random.h"

#include <c10/cuda/CUDAStream.h>

namespace gemforge::random {
namespace {

using pw::cuda::launch;
using pw::cuda::pdl_begin;

constexpr int kThreads = 256;

__device__ __forceinline__ int left(int chunk, int64_t rest) { return rest < chunk ? int(rest) : chunk; }

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

dim3 blocks_for(int64_t numel, int elems) {
  const int64_t chunks = (numel + elems - 1) / elems;
  return dim3(unsigned((chunks + kThreads - 1) / kThreads));
}

// n (a multiple of 4) bytes of src to dst, as 16-, 8- or 4-byte words; dst aligned to them.
template <int N> __device__ __forceinline__ void store_bytes(void* dst, const void* src) {
  static_assert(N % 4 == 0, "whole words");
  if constexpr (N % 16 == 0) {
#pragma unroll
    for (int k = 0; k < N / 16; ++k) static_cast<uint4*>(dst)[k] = static_cast<const uint4*>(src)[k];
  } else if constexpr (N == 8) {
    *static_cast<uint2*>(dst) = *static_cast<const uint2*>(src);
  } else {
#pragma unroll
    for (int k = 0; k < N / 4; ++k) static_cast<uint32_t*>(dst)[k] = static_cast<const uint32_t*>(src)[k];
  }
}
template <int N> __device__ __forceinline__ void load_bytes(void* dst, const void* src) {
  static_assert(N % 16 == 0, "whole vectors");
#pragma unroll
  for (int k = 0; k < N / 16; ++k) static_cast<uint4*>(dst)[k] = static_cast<const uint4*>(src)[k];
}

template <class S, class Smp>
__global__ void __launch_bounds__(kThreads) fill_kernel(S* out, int64_t numel, Smp smp, Philox rng, bool vec) {
  constexpr int E = chunk_elems<S>();
  const int64_t first = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * E;
  alignas(16) S v[E];
  if (first < numel) {
#pragma unroll
    for (int q = 0; q < E / 4; ++q) smp(raw<Smp::kWide>::draw(rng, uint64_t(first / 4 + q)), v + 4 * q);
  }
  pdl_begin();
  if (first >= numel) return;
  if (vec && first + E <= numel) {
    store_bytes<E * sizeof(S)>(out + first, v);
  } else {
    const int len = left(E, numel - first);
#pragma unroll
    for (int k = 0; k < E; ++k) {  // unrolled: v stays in registers
      if (k < len) out[first + k] = v[k];
    }
  }
}

template <class S>
__global__ void __launch_bounds__(kThreads)
bernoulli_tensor_kernel(S* out, const compute_t<S>* p, int64_t numel, Philox rng) {
  using C = compute_t<S>;
  const int64_t first = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * 4;
  if (first >= numel) return;
  const u32x4 r = raw<false>::draw(rng, uint64_t(first / 4));
  pdl_begin();
  const int len = left(4, numel - first);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    if (k < len) out[first + k] = static_cast<S>(closed_open(r.x[k]) < C(p[first + k]));
  }
}

template <class S>
__global__ void __launch_bounds__(kThreads)
dropout_kernel(const S* in, S* out, bool* mask, int64_t numel, uint64_t threshold, compute_t<S> scale,
               Philox rng, bool vec) {
  using C = compute_t<S>;
  constexpr int E = chunk_elems<S>();  // fp16/bf16: 8, float/double: 4
  const int64_t first = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * E;
  bool keep[E];
  if (first < numel) {
#pragma unroll
    for (int q = 0; q < E / 4; ++q) {
      const u32x4 r = raw<false>::draw(rng, uint64_t(first / 4 + q));
#pragma unroll
      for (int k = 0; k < 4; ++k) keep[4 * q + k] = uint64_t(r.x[k]) < threshold;
    }
  }
  pdl_begin();
  if (first >= numel) return;
  if (vec && first + E <= numel) {
    alignas(16) S x[E];
    alignas(16) bool m[E];
    load_bytes<E * sizeof(S)>(x, in + first);
#pragma unroll
    for (int k = 0; k < E; ++k) {
      x[k] = static_cast<S>(C(x[k]) * C(keep[k]) * scale);
      m[k] = keep[k];
    }
    store_bytes<E * sizeof(S)>(out + first, x);
    store_bytes<E>(mask + first, m);
  } else {
    const int len = left(E, numel - first);
#pragma unroll
    for (int k = 0; k < E; ++k) {
      if (k < len) {
        out[first + k] = static_cast<S>(C(in[first + k]) * C(keep[k]) * scale);
        mask[first + k] = keep[k];
      }
    }
  }
}

template <class S>
__global__ void __launch_bounds__(kThreads)
masked_scale_kernel(const S* in, const uint8_t* mask, S* out, int64_t numel, compute_t<S> scale, bool vec) {
  using C = compute_t<S>;
  constexpr int E = 16 / sizeof(S) >= 4 ? 16 / sizeof(S) : 4;  // fp16/bf16: 8, float: 4, double: 4
  const int64_t first = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * E;
  pdl_begin();
  if (first >= numel) return;
  if (vec && first + E <= numel) {
    alignas(16) S x[E];
    alignas(16) uint8_t m[E];
    load_bytes<E * sizeof(S)>(x, in + first);
    if constexpr (E == 8) {
      *reinterpret_cast<uint2*>(m) = *reinterpret_cast<const uint2*>(mask + first);
    } else {
      *reinterpret_cast<uint32_t*>(m) = *reinterpret_cast<const uint32_t*>(mask + first);
    }
#pragma unroll
    for (int k = 0; k < E; ++k) x[k] = static_cast<S>(C(x[k]) * C(m[k] != 0) * scale);
    store_bytes<E * sizeof(S)>(out + first, x);
  } else {
    const int len = left(E, numel - first);
    for (int k = 0; k < len; ++k) out[first + k] = static_cast<S>(C(in[first + k]) * C(mask[first + k] != 0) * scale);
  }
}

cudaStream_t stream() { return c10::cuda::getCurrentCUDAStream(); }

}  // namespace

void fill_cuda(const Fill& fl) {
  if (fl.numel == 0) return;
  dispatch_fill(fl.dtype, fl.dist, [&](auto tag, auto dist) {
    using S = typename decltype(tag)::type;
    using Smp = sampler<S, decltype(dist)::value>;
    launch(fill_kernel<S, Smp>, blocks_for(fl.numel, chunk_elems<S>()), dim3(kThreads), stream(),
           static_cast<S*>(fl.data), fl.numel, Smp::make(fl.p), fl.rng, aligned16(fl.data));
  });
}

bool bernoulli_tensor_cuda(const BernoulliTensor& b) {
  if (b.numel == 0) return true;
  dispatch_dtype<kDiscreteTypes>(b.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    launch(bernoulli_tensor_kernel<S>, blocks_for(b.numel, 4), dim3(kThreads), stream(),
           static_cast<S*>(b.out), static_cast<const compute_t<S>*>(b.p), b.numel, b.rng);
  });
  return true;
}

void dropout_cuda(const Dropout& d) {
  if (d.numel == 0) return;
  dispatch_dtype<kDropoutTypes>(d.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    const bool vec = aligned16(d.in) && aligned16(d.out) && aligned16(d.mask);
    launch(dropout_kernel<S>, blocks_for(d.numel, chunk_elems<S>()), dim3(kThreads), stream(),
           static_cast<const S*>(d.in), static_cast<S*>(d.out), d.mask, d.numel, d.threshold,
           compute_t<S>(d.scale), d.rng, vec);
  });
}

void masked_scale_cuda(const MaskedScale& m) {
  if (m.numel == 0) return;
  dispatch_dtype<kDropoutTypes>(m.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    constexpr int E = 16 / sizeof(S) >= 4 ? 16 / sizeof(S) : 4;
    const bool vec = aligned16(m.in) && aligned16(m.out) && aligned16(m.mask);
    launch(masked_scale_kernel<S>, blocks_for(m.numel, E), dim3(kThreads), stream(),
           static_cast<const S*>(m.in), m.mask, static_cast<S*>(m.out), m.numel, compute_t<S>(m.scale), vec);
  });
}

}  // namespace gemforge::random
