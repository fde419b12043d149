// cuda kernels of the random family (backends/random.h). One thread per chunk of
// chunk_elems<S>() elements (whole groups of four, 16 bytes of output at least): it draws its
// groups' Philox blocks before waiting on the previous kernel (PDL), then writes 16-byte vectors
// where the pointers allow, element by element otherwise and at the end of the tensor.
#include "backends/cuda/launch.cuh"
#include "backends/random.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>

#include <cub/device/device_radix_sort.cuh>


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

// ---- randperm: random keys (random bits above the index bits), sorted by their random bits --------
__global__ void __launch_bounds__(kThreads) randperm_keys_kernel(uint64_t* keys, int64_t n, int ibits, int rbits,
                                                                 Philox rng) {
  const int64_t first = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * 4;
  if (first >= n) return;
  const u64x4 r = raw<true>::draw(rng, uint64_t(first / 4));
  pdl_begin();
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const int64_t i = first + k;
    if (i < n) keys[i] = ((r.x[k] >> (64 - rbits)) << ibits) | uint64_t(i);
  }
}

template <class S>
__global__ void __launch_bounds__(kThreads) randperm_take_kernel(const uint64_t* keys, S* out, int64_t n,
                                                                 uint64_t mask) {
  const int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  pdl_begin();
  if (i < n) out[i] = static_cast<S>(keys[i] & mask);
}

// ---- multinomial: one block a row; each thread keeps its best K candidates, the block merges ----
constexpr int kRowThreads = 256;

// p[j..j+3] of a row (zero past n) as the compute type.
template <class S, class C> __device__ __forceinline__ void load4(const S* row, int64_t j, int64_t n, bool vec,
                                                                  C (&v)[4]) {
  if (vec && j + 4 <= n) {
    if constexpr (sizeof(S) == 2) {
      alignas(8) S x[4];
      *reinterpret_cast<uint2*>(x) = *reinterpret_cast<const uint2*>(row + j);
#pragma unroll
      for (int k = 0; k < 4; ++k) v[k] = C(x[k]);
    } else if constexpr (sizeof(S) == 4) {
      const float4 x = *reinterpret_cast<const float4*>(row + j);
      v[0] = x.x, v[1] = x.y, v[2] = x.z, v[3] = x.w;
    } else {
      const double2 a = reinterpret_cast<const double2*>(row + j)[0], b = reinterpret_cast<const double2*>(row + j)[1];
      v[0] = a.x, v[1] = a.y, v[2] = b.x, v[3] = b.y;
    }
  } else {
#pragma unroll
    for (int k = 0; k < 4; ++k) v[k] = j + k < n ? C(row[j + k]) : C(0);
  }
}

template <class S, int K>
__global__ void __launch_bounds__(kRowThreads) multinomial_kernel(const S* p, int64_t n, int64_t k, int64_t* out,
                                                                  Philox rng, bool vec, int* flags) {
  using C = compute_t<S>;
  using Cand = Candidate<C>;
  constexpr bool kWide = std::is_same_v<S, double>;
  constexpr int kWarps = kRowThreads / 32;
  __shared__ Cand warp_best[kWarps];
  __shared__ Cand winner;

  const int64_t row = blockIdx.x;
  const int64_t groups = (n + 3) / 4;
  const S* rp = p + row * n;
  Cand best[K];
#pragma unroll
  for (int s = 0; s < K; ++s) best[s] = Cand{C(-1), INT64_MAX};
  pdl_begin();
  bool bad = false, positive = false;
  for (int64_t q = threadIdx.x; q < groups; q += kRowThreads) {
    const auto x = raw<kWide>::draw(rng, uint64_t(row * groups + q));
    C v[4];
    load4(rp, 4 * q, n, vec, v);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t j = 4 * q + e;
      if (j >= n) break;
      bad |= !(v[e] >= C(0) && v[e] < C(INFINITY));
      positive |= v[e] > C(0);
      Cand c{race_key(v[e], x.x[e]), j};
      if (better(c, best[K - 1])) {  // insert: unrolled, the list stays in registers
#pragma unroll
        for (int s = 0; s < K; ++s) {
          if (better(c, best[s])) {
            const Cand t = best[s];
            best[s] = c;
            c = t;
          }
        }
      }
    }
  }
  bad = __syncthreads_or(bad);
  positive = __syncthreads_or(positive);
  if (bad || !positive) {
    if (threadIdx.x == 0) atomicOr(flags, (bad ? kBadProbability : 0) | (positive ? 0 : kZeroRow));
    return;
  }
  // k rounds: the best head of all threads' lists is the next sample; its thread pops it.
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t s = 0; s < k; ++s) {
    Cand c = best[0];
#pragma unroll
    for (int d = 16; d > 0; d /= 2) {
      Cand o;
      o.key = __shfl_down_sync(0xffffffffu, c.key, d);
      o.j = __shfl_down_sync(0xffffffffu, c.j, d);
      if (better(o, c)) c = o;
    }
    if (lane == 0) warp_best[warp] = c;
    __syncthreads();
    if (warp == 0) {
      c = lane < kWarps ? warp_best[lane] : Cand{C(-1), INT64_MAX};
#pragma unroll
      for (int d = 16; d > 0; d /= 2) {
        Cand o;
        o.key = __shfl_down_sync(0xffffffffu, c.key, d);
        o.j = __shfl_down_sync(0xffffffffu, c.j, d);
        if (better(o, c)) c = o;
      }
      if (lane == 0) {
        winner = c;
        out[row * k + s] = c.j;
      }
    }
    __syncthreads();
    if (best[0].j == winner.j) {
#pragma unroll
      for (int t = 0; t + 1 < K; ++t) best[t] = best[t + 1];
      best[K - 1] = Cand{C(-1), INT64_MAX};
    }
    __syncthreads();  // winner is rewritten next round
  }
}

// ---- poisson: one element a thread, its own uniform stream ------------------------------------
template <class S>
__global__ void __launch_bounds__(kThreads) poisson_kernel(const S* rate, S* out, int64_t numel, Philox rng) {
  const int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  pdl_begin();
  if (i >= numel) return;
  UniformStream u{rng, uint64_t(i)};
  out[i] = static_cast<S>(poisson_sample(double(rate[i]), u));
}

// ---- rrelu_with_noise (training): four elements a thread ----------------------------------------
template <class S, class Smp>
__global__ void __launch_bounds__(kThreads) rrelu_kernel(const S* in, S* out, S* noise, int64_t numel, Smp smp,
                                                         Philox rng) {
  using C = compute_t<S>;
  const int64_t first = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * 4;
  if (first >= numel) return;
  S v[4];
  smp(raw<Smp::kWide>::draw(rng, uint64_t(first / 4)), v);
  pdl_begin();
  const int len = left(4, numel - first);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    if (k < len) {
      const S x = in[first + k];
      const bool negative = C(x) <= C(0);
      out[first + k] = negative ? static_cast<S>(C(x) * C(v[k])) : x;
      noise[first + k] = negative ? v[k] : static_cast<S>(1);
    }
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

void randperm_cuda(const Randperm& r) {
  if (r.n == 0) return;
  const int64_t n = r.n;  // < 2^31 (the caller routes larger n to torch)
  const int ibits = index_bits(n), rbits = random_bits(ibits);
  auto* alloc = c10::cuda::CUDACachingAllocator::get();
  const bool in_place = r.dtype == ScalarType::Long;  // sorted keys land in out itself
  c10::DataPtr a = alloc->allocate(size_t(n) * sizeof(uint64_t));
  c10::DataPtr b = in_place ? c10::DataPtr() : alloc->allocate(size_t(n) * sizeof(uint64_t));
  cub::DoubleBuffer<uint64_t> keys(static_cast<uint64_t*>(a.get()),
                                   in_place ? static_cast<uint64_t*>(r.out) : static_cast<uint64_t*>(b.get()));
  launch(randperm_keys_kernel, blocks_for(n, 4), dim3(kThreads), stream(), keys.Current(), n, ibits, rbits, r.rng);
  size_t temp_bytes = 0;
  C10_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(nullptr, temp_bytes, keys, int(n), ibits, ibits + rbits, stream()));
  c10::DataPtr temp = alloc->allocate(temp_bytes);
  C10_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(temp.get(), temp_bytes, keys, int(n), ibits, ibits + rbits, stream()));
  const uint64_t mask = (uint64_t(1) << ibits) - 1;
  dispatch_dtype<kRandpermTypes>(r.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    launch(randperm_take_kernel<S>, blocks_for(n, 1), dim3(kThreads), stream(), keys.Current(),
           static_cast<S*>(r.out), n, mask);
  });
}

int multinomial_cuda(const Multinomial& m) {
  if (m.rows == 0) return 0;
  cudaStream_t s = stream();
  c10::DataPtr flags = c10::cuda::CUDACachingAllocator::get()->allocate(sizeof(int));
  C10_CUDA_CHECK(cudaMemsetAsync(flags.get(), 0, sizeof(int), s));
  dispatch_dtype<kMultinomialTypes>(m.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    const bool vec = m.n % 4 == 0 && (reinterpret_cast<uintptr_t>(m.p) % (4 * sizeof(S))) == 0;
    auto go = [&](auto kernel) {
      launch(kernel, dim3(unsigned(m.rows)), dim3(kRowThreads), s, static_cast<const S*>(m.p), m.n, m.k, m.out,
             m.rng, vec, static_cast<int*>(flags.get()));
    };
    if (m.k == 1) go(multinomial_kernel<S, 1>);
    else if (m.k <= 8) go(multinomial_kernel<S, 8>);
    else go(multinomial_kernel<S, kMultinomialMaxK>);
  });
  int host = 0;  // torch's checks read the verdict back too (.item())
  C10_CUDA_CHECK(cudaMemcpyAsync(&host, flags.get(), sizeof(int), cudaMemcpyDeviceToHost, s));
  C10_CUDA_CHECK(cudaStreamSynchronize(s));
  return host;
}

bool poisson_cuda(const Poisson& p) {
  if (p.numel == 0) return true;
  dispatch_dtype<kPoissonTypes>(p.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    launch(poisson_kernel<S>, blocks_for(p.numel, 1), dim3(kThreads), stream(), static_cast<const S*>(p.rate),
           static_cast<S*>(p.out), p.numel, p.rng);
  });
  return true;
}

void rrelu_cuda(const Rrelu& r) {
  if (r.numel == 0) return;
  dispatch_dtype<kRreluTypes>(r.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using Smp = sampler<S, Dist::uniform>;
    Params params;
    params.a = r.lower;
    params.b = r.upper - r.lower;
    params.to = r.upper;
    launch(rrelu_kernel<S, Smp>, blocks_for(r.numel, 4), dim3(kThreads), stream(), static_cast<const S*>(r.in),
           static_cast<S*>(r.out), static_cast<S*>(r.noise), r.numel, Smp::make(params), r.rng);
  });
}

}  // namespace gemforge::random
