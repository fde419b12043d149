// cuda kernels of the losses (backends/loss.h), on the current stream: the pointwise functors'
// instantiations, the fused mean/sum of a pointwise loss (per-block partial sums, then one block
// adds them in a fixed order: no atomics, the same result every run), nll_loss forward and
// backward (out-of-range targets assert on the device, as torch's kernels do).
#include "backends/cuda/pointwise.cuh"
#include "backends/loss.h"
#include "ops/loss/kernels.h"

#include <ATen/AccumulateType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>
#include <c10/macros/Macros.h>

#include <algorithm>
#include <cstring>

namespace gemforge::pw {
GF_KERNELS_LOSS(GF_INSTANTIATE_CUDA)
}  // namespace gemforge::pw

namespace gemforge::loss {
namespace {

constexpr int kThreads = 256;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The sum of v over the block (every thread gets it); `scratch`: kThreads / 32 entries.
template <class A> __device__ A block_sum(A v, A* scratch) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) v += __shfl_xor_sync(0xffffffffu, v, d);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  A total = 0;
  for (int k = 0; k < int(blockDim.x >> 5); ++k) total += scratch[k];
  return total;
}

// ---- fused mean / sum ----------------------------------------------------------------------------
template <class T, Kind K>
__global__ void __launch_bounds__(kThreads)
reduce_partials(const T* x, const T* y, int64_t n, at::acc_type<T, true> param, bool vec,
                at::acc_type<T, true>* partials) {
  using A = at::acc_type<T, true>;
  constexpr int VEC = 16 / sizeof(T);
  __shared__ A scratch[kThreads / 32];
  A acc = 0;
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  int64_t done = 0;
  if (vec) {
    const int64_t chunks = n / VEC;
    for (int64_t c = int64_t(blockIdx.x) * kThreads + threadIdx.x; c < chunks; c += stride) {
      const uint4 rx = reinterpret_cast<const uint4*>(x)[c];
      const uint4 ry = reinterpret_cast<const uint4*>(y)[c];
      T vx[VEC], vy[VEC];
      memcpy(vx, &rx, 16);
      memcpy(vy, &ry, 16);
#pragma unroll
      for (int e = 0; e < VEC; ++e) acc += pointwise<K, A>(A(vx[e]), A(vy[e]), param);
    }
    done = chunks * VEC;
  }
  for (int64_t i = done + int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride)
    acc += pointwise<K, A>(A(x[i]), A(y[i]), param);
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

template <class T>
__global__ void __launch_bounds__(kThreads)
reduce_final(const at::acc_type<T, true>* partials, int count, T* out, int64_t n, bool mean) {
  using A = at::acc_type<T, true>;
  __shared__ A scratch[kThreads / 32];
  A acc = 0;
  for (int k = threadIdx.x; k < count; k += kThreads) acc += partials[k];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) *out = static_cast<T>(mean ? acc / static_cast<A>(n) : acc);
}

template <class T, Kind K> void reduce_t(const Reduce& r) {
  using A = at::acc_type<T, true>;
  constexpr int VEC = 16 / sizeof(T);
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const int64_t sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const int64_t blocks = std::clamp<int64_t>(ceil_div(r.n, int64_t(kThreads) * VEC * 4), 1, sms * 4);
  const bool vec = reinterpret_cast<uintptr_t>(r.x) % 16 == 0 && reinterpret_cast<uintptr_t>(r.y) % 16 == 0;
  c10::DataPtr partials = c10::cuda::CUDACachingAllocator::get()->allocate(blocks * sizeof(A));
  A* p = static_cast<A*>(partials.get());
  reduce_partials<T, K><<<unsigned(blocks), kThreads, 0, stream>>>(
      static_cast<const T*>(r.x), static_cast<const T*>(r.y), r.n, static_cast<A>(r.param), vec, p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  reduce_final<T><<<1, kThreads, 0, stream>>>(p, int(blocks), static_cast<T*>(r.out), r.n, r.mean);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ---- nll_loss forward ------------------------------------------------------------------------------
template <class T> __device__ __forceinline__ at::acc_type<T, true> class_weight(const T* w, int64_t t) {
  return w ? static_cast<at::acc_type<T, true>>(w[t]) : at::acc_type<T, true>(1);
}

template <class T> __global__ void __launch_bounds__(kThreads) nll_forward_none(Nll p) {
  using A = at::acc_type<T, true>;
  const T* self = static_cast<const T*>(p.self);
  const T* weight = static_cast<const T*>(p.weight);
  T* out = static_cast<T*>(p.out);
  const int64_t items = p.N * p.S;
  if (blockIdx.x == 0 && threadIdx.x == 0) *static_cast<T*>(p.total_weight) = T(0);
  for (int64_t k = int64_t(blockIdx.x) * kThreads + threadIdx.x; k < items;
       k += int64_t(gridDim.x) * kThreads) {
    const int64_t t = p.target[k], n = k / p.S, s = k % p.S;
    if (t == p.ignore_index) {
      out[k] = T(0);
      continue;
    }
    CUDA_KERNEL_ASSERT(t >= 0 && t < p.C);
    out[k] = static_cast<T>(-class_weight(weight, t) * static_cast<A>(self[(n * p.C + t) * p.S + s]));
  }
}

// One block of 1024 threads: the weighted sum and the total weight, added in a fixed order.
// The mean of a batch is a few thousand gathers: latency bound, so each thread loads a batch of
// targets back to back, then their values back to back (two memory latencies per batch).
// (double: 4 a batch, in the 64 registers of a 1024-thread block)
constexpr int kNllThreads = 1024;

template <class T> __global__ void __launch_bounds__(kNllThreads) nll_forward_reduce(Nll p) {
  using A = at::acc_type<T, true>;
  constexpr int kNllBatch = sizeof(A) == 8 ? 4 : 8;
  __shared__ A scratch[kNllThreads / 32];
  const T* self = static_cast<const T*>(p.self);
  const T* weight = static_cast<const T*>(p.weight);
  const int64_t items = p.N * p.S;
  A loss = 0, total = 0;
  for (int64_t base = 0; base < items; base += int64_t(kNllThreads) * kNllBatch) {
    int64_t t[kNllBatch];
#pragma unroll
    for (int b = 0; b < kNllBatch; ++b) {
      const int64_t k = base + int64_t(b) * kNllThreads + threadIdx.x;
      t[b] = k < items ? p.target[k] : p.ignore_index;
    }
    A x[kNllBatch], w[kNllBatch];
#pragma unroll
    for (int b = 0; b < kNllBatch; ++b) {
      const int64_t k = base + int64_t(b) * kNllThreads + threadIdx.x;
      const bool live = k < items && t[b] != p.ignore_index;
      if (live) CUDA_KERNEL_ASSERT(t[b] >= 0 && t[b] < p.C);
      const int64_t n = p.S == 1 ? k : k / p.S, s = p.S == 1 ? 0 : k % p.S;
      x[b] = live ? static_cast<A>(self[(n * p.C + t[b]) * p.S + s]) : A(0);
      w[b] = live ? class_weight(weight, t[b]) : A(0);
    }
#pragma unroll
    for (int b = 0; b < kNllBatch; ++b) {
      loss -= w[b] * x[b];
      total += w[b];
    }
  }
  loss = block_sum(loss, scratch);
  total = block_sum(total, scratch);
  if (threadIdx.x == 0) {
    *static_cast<T*>(p.out) = static_cast<T>(p.reduction == kMean ? loss / total : loss);
    *static_cast<T*>(p.total_weight) = static_cast<T>(total);
  }
}

// ---- nll_loss backward -----------------------------------------------------------------------------
// The gradient of one (n, s): -weight[t] * grad, scaled by 1 / total_weight for mean.
template <class T> __device__ __forceinline__ at::acc_type<T, true>
nll_grad(const NllBackward& p, int64_t k, int64_t t) {
  using A = at::acc_type<T, true>;
  if (t == p.ignore_index) return A(0);
  const T* grad = static_cast<const T*>(p.grad_out);
  A g = static_cast<A>(grad[p.reduction == kNone ? k : 0]);
  if (p.reduction == kMean) g /= static_cast<A>(*static_cast<const T*>(p.total_weight));
  return -class_weight(static_cast<const T*>(p.weight), t) * g;
}

// S == 1: a block per row, 16-byte stores of the row's zeros and its one value.
template <class T> __global__ void __launch_bounds__(kThreads) nll_backward_rows(NllBackward p, bool vec) {
  constexpr int VEC = 16 / sizeof(T);
  T* gi = static_cast<T*>(p.grad_input);
  for (int64_t n = blockIdx.x; n < p.N; n += gridDim.x) {
    const int64_t t = p.target[n];
    if (t != p.ignore_index) CUDA_KERNEL_ASSERT(t >= 0 && t < p.C);
    const T value = static_cast<T>(nll_grad<T>(p, n, t));
    T* row = gi + n * p.C;
    if (vec) {
      for (int64_t j = threadIdx.x; j < p.C / VEC; j += kThreads) {
        T v[VEC];
#pragma unroll
        for (int e = 0; e < VEC; ++e) v[e] = j * VEC + e == t ? value : T(0);
        uint4 raw;
        memcpy(&raw, v, 16);
        reinterpret_cast<uint4*>(row)[j] = raw;
      }
    } else {
      for (int64_t c = threadIdx.x; c < p.C; c += kThreads) row[c] = c == t ? value : T(0);
    }
  }
}

// S > 1: a thread per element of [N, C, S].
template <class T> __global__ void __launch_bounds__(kThreads) nll_backward_spatial(NllBackward p) {
  T* gi = static_cast<T*>(p.grad_input);
  const int64_t total = p.N * p.C * p.S;
  for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * kThreads) {
    const int64_t s = e % p.S, nc = e / p.S, c = nc % p.C, n = nc / p.C;
    const int64_t k = n * p.S + s, t = p.target[k];
    if (t != p.ignore_index) CUDA_KERNEL_ASSERT(t >= 0 && t < p.C);
    gi[e] = c == t ? static_cast<T>(nll_grad<T>(p, k, t)) : T(0);
  }
}

}  // namespace

void reduce_cuda(const Reduce& r) {
  dispatch_dtype<kLossTypes>(r.dtype, [&](auto t) {
    dispatch_kind(r.kind, [&](auto k) { reduce_t<typename decltype(t)::type, decltype(k)::value>(r); });
  });
}

void nll_forward_cuda(const Nll& p) {
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const int64_t sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  dispatch_dtype<kLossTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (p.reduction == kNone) {
      const int64_t blocks = std::clamp<int64_t>(ceil_div(p.N * p.S, kThreads), 1, sms * 8);
      nll_forward_none<T><<<unsigned(blocks), kThreads, 0, stream>>>(p);
    } else {
      nll_forward_reduce<T><<<1, kNllThreads, 0, stream>>>(p);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

void nll_backward_cuda(const NllBackward& p) {
  if (p.N * p.C * p.S == 0) return;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const int64_t sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  dispatch_dtype<kLossTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (p.S == 1) {
      constexpr int VEC = 16 / sizeof(T);
      const bool vec = p.C % VEC == 0 && reinterpret_cast<uintptr_t>(p.grad_input) % 16 == 0;
      const int64_t blocks = std::min<int64_t>(p.N, sms * 16);
      nll_backward_rows<T><<<unsigned(blocks), kThreads, 0, stream>>>(p, vec);
    } else {
      const int64_t blocks = std::clamp<int64_t>(ceil_div(p.N * p.C * p.S, kThreads), 1, sms * 16);
      nll_backward_spatial<T><<<unsigned(blocks), kThreads, 0, stream>>>(p);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace gemforge::loss
