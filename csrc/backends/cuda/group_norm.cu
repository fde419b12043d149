// cuda kernels of group norm (backends/norm_stats.h), on the current stream. One block per
// (n, group) row of L = C / G x HxW contiguous elements:
//   forward:  Welford over the row (16-byte vectors), then the row again (mostly from L2) for
//             y = x * rstd * w[c] + (b[c] - mean * rstd * w[c]);
//   backward: per channel of the row sum(dy * x) and sum(dy) (kept for dweight / dbias), the
//             row's weighted sums, then dx; a second kernel sums dweight / dbias over n in order.
// fp16/bf16 accumulate in fp32; no atomics (the same result every run). Rows are shorter than
// 2^31 elements (the op checks): the channel of an element is a 32-bit fast_div by HxW.
#include "backends/cuda/norm_stats.cuh"
#include "backends/norm_stats.h"
#include "engine/fast_div.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>

namespace gemforge::chnorm {
namespace {

using cuda::Welford;

constexpr int kThreads = 256;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// kVec: L % V == 0 and x, y 16-byte aligned (so is every row), HxW % V == 0 (a vector never
// straddles two channels).
template <class T, bool kVec>
__global__ void __launch_bounds__(kThreads)
gn_forward(const T* __restrict__ x, const T* __restrict__ weight, const T* __restrict__ bias, T* __restrict__ y,
           T* __restrict__ mean_out, T* __restrict__ rstd_out, int64_t G, int64_t cpg, int64_t HxW,
           fast_div hw_div, double eps) {
  using A = opmath_t<T>;
  constexpr int V = kVec ? 16 / int(sizeof(T)) : 1;
  __shared__ Welford<A> scratch[32];
  const int64_t row = blockIdx.x, L = cpg * HxW, c0 = (row % G) * cpg;
  const T* xr = x + row * L;
  T* yr = y + row * L;
  Welford<A> w{0, 0, 0};
  for (int64_t i = int64_t(threadIdx.x) * V; i < L; i += int64_t(kThreads) * V) {
    if constexpr (kVec) {
      A v[V];
      cuda::load_vec<T, A, V>(xr + i, v);
      cuda::push_vec<A, V>(w, v);
    } else {
      cuda::push(w, static_cast<A>(xr[i]));
    }
  }
  w = cuda::block_merge(w, scratch);
  const A mean = w.mean;
  const A rstd = static_cast<A>(1.0 / sqrt(double(w.m2 / A(L)) + eps));
  if (threadIdx.x == 0) {
    mean_out[row] = static_cast<T>(mean);
    rstd_out[row] = static_cast<T>(rstd);
  }
  for (int64_t i = int64_t(threadIdx.x) * V; i < L; i += int64_t(kThreads) * V) {
    const int64_t c = c0 + hw_div.div(uint32_t(i));
    const A scale = rstd * (weight ? static_cast<A>(weight[c]) : A(1));
    const A shift = (bias ? static_cast<A>(bias[c]) : A(0)) - mean * scale;
    if constexpr (kVec) {
      A v[V];
      cuda::load_vec<T, A, V>(xr + i, v);
#pragma unroll
      for (int k = 0; k < V; ++k) v[k] = v[k] * scale + shift;
      cuda::store_vec<T, A, V>(yr + i, v);
    } else {
      yr[i] = static_cast<T>(static_cast<A>(xr[i]) * scale + shift);
    }
  }
}

// sums: [N * C, 2] of A, per (n, c): sum(dy * x), sum(dy). kVec: HxW % V == 0 and aligned.
template <class T, bool kVec>
__global__ void __launch_bounds__(kThreads)
gn_backward_rows(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ mean,
                 const T* __restrict__ rstd, const T* __restrict__ weight, T* __restrict__ dx,
                 opmath_t<T>* __restrict__ sums, int64_t G, int64_t cpg, int64_t HxW, fast_div hw_div) {
  using A = opmath_t<T>;
  constexpr int V = kVec ? 16 / int(sizeof(T)) : 1;
  __shared__ A scratch[64];
  const int64_t row = blockIdx.x, L = cpg * HxW, n = row / G, c0 = (row % G) * cpg, C = G * cpg;
  const T* gr = dy + row * L;
  const T* xr = x + row * L;
  A sum1 = 0, sum2 = 0;  // over the row: sum(w * dy * x), sum(w * dy)
  for (int64_t k = 0; k < cpg; ++k) {
    A a = 0, b = 0;
    const int64_t base = k * HxW;
    for (int64_t i = int64_t(threadIdx.x) * V; i < HxW; i += int64_t(kThreads) * V) {
      if constexpr (kVec) {
        A gv[V], xv[V];
        cuda::load_vec<T, A, V>(gr + base + i, gv);
        cuda::load_vec<T, A, V>(xr + base + i, xv);
#pragma unroll
        for (int e = 0; e < V; ++e) {
          a += gv[e] * xv[e];
          b += gv[e];
        }
      } else {
        const A g = static_cast<A>(gr[base + i]);
        a += g * static_cast<A>(xr[base + i]);
        b += g;
      }
    }
    cuda::block_sum2(a, b, scratch);  // every thread gets them
    if (threadIdx.x == 0) {
      sums[(n * C + c0 + k) * 2] = a;
      sums[(n * C + c0 + k) * 2 + 1] = b;
    }
    const A wk = weight ? static_cast<A>(weight[c0 + k]) : A(1);
    sum1 += a * wk;
    sum2 += b * wk;
  }
  if (!dx) return;
  const A mu = static_cast<A>(mean[row]), rs = static_cast<A>(rstd[row]), inv_len = A(1) / static_cast<A>(L);
  const A bx = (mu * sum2 - sum1) * rs * rs * rs * inv_len;
  const A cx = -bx * mu - sum2 * rs * inv_len;
  T* dr = dx + row * L;
  for (int64_t i = int64_t(threadIdx.x) * V; i < L; i += int64_t(kThreads) * V) {
    const int64_t c = c0 + hw_div.div(uint32_t(i));
    const A a = rs * (weight ? static_cast<A>(weight[c]) : A(1));
    if constexpr (kVec) {
      A gv[V], xv[V];
      cuda::load_vec<T, A, V>(gr + i, gv);
      cuda::load_vec<T, A, V>(xr + i, xv);
#pragma unroll
      for (int e = 0; e < V; ++e) gv[e] = gv[e] * a + xv[e] * bx + cx;
      cuda::store_vec<T, A, V>(dr + i, gv);
    } else {
      dr[i] = static_cast<T>(static_cast<A>(gr[i]) * a + static_cast<A>(xr[i]) * bx + cx);
    }
  }
}

// One thread per channel: dweight[c] = sum_n (sum(dy x) - sum(dy) mean) rstd, dbias[c] = sum_n sum(dy).
template <class T>
__global__ void __launch_bounds__(kThreads)
gn_backward_params(const opmath_t<T>* __restrict__ sums, const T* __restrict__ mean, const T* __restrict__ rstd,
                   T* __restrict__ dweight, T* __restrict__ dbias, int64_t N, int64_t C, int64_t G) {
  using A = opmath_t<T>;
  const int64_t c = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (c >= C) return;
  const int64_t g = c / (C / G);
  A dw = 0, db = 0;
  for (int64_t n = 0; n < N; ++n) {
    const A ds = sums[(n * C + c) * 2], dsb = sums[(n * C + c) * 2 + 1];
    const int64_t r = n * G + g;
    dw += (ds - dsb * static_cast<A>(mean[r])) * static_cast<A>(rstd[r]);
    db += dsb;
  }
  if (dweight) dweight[c] = static_cast<T>(dw);
  if (dbias) dbias[c] = static_cast<T>(db);
}

template <class T> void fwd(const GroupNormFwd& p) {
  constexpr int V = 16 / int(sizeof(T));
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const int64_t cpg = p.C / p.G, rows = p.N * p.G;
  const bool vec = p.HxW % V == 0 && cuda::aligned16(p.x) && cuda::aligned16(p.y);
  auto* kernel = vec ? gn_forward<T, true> : gn_forward<T, false>;
  kernel<<<unsigned(rows), kThreads, 0, stream>>>(
      static_cast<const T*>(p.x), static_cast<const T*>(p.weight), static_cast<const T*>(p.bias),
      static_cast<T*>(p.y), static_cast<T*>(p.mean), static_cast<T*>(p.rstd), p.G, cpg, p.HxW,
      fast_div(uint32_t(p.HxW)), p.eps);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <class T> void bwd(const GroupNormBwd& p) {
  using A = opmath_t<T>;
  constexpr int V = 16 / int(sizeof(T));
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const int64_t cpg = p.C / p.G, rows = p.N * p.G;
  c10::DataPtr sums_buf = c10::cuda::CUDACachingAllocator::get()->allocate(size_t(p.N * p.C * 2) * sizeof(A));
  A* sums = static_cast<A*>(sums_buf.get());
  const bool vec = p.HxW % V == 0 && cuda::aligned16(p.grad) && cuda::aligned16(p.x) &&
                   (!p.dx || cuda::aligned16(p.dx));
  auto* kernel = vec ? gn_backward_rows<T, true> : gn_backward_rows<T, false>;
  kernel<<<unsigned(rows), kThreads, 0, stream>>>(
      static_cast<const T*>(p.grad), static_cast<const T*>(p.x), static_cast<const T*>(p.mean),
      static_cast<const T*>(p.rstd), static_cast<const T*>(p.weight), static_cast<T*>(p.dx), sums, p.G, cpg, p.HxW,
      fast_div(uint32_t(p.HxW)));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  if (p.dweight || p.dbias) {
    gn_backward_params<T><<<unsigned(ceil_div(p.C, kThreads)), kThreads, 0, stream>>>(
        sums, static_cast<const T*>(p.mean), static_cast<const T*>(p.rstd), static_cast<T*>(p.dweight),
        static_cast<T*>(p.dbias), p.N, p.C, p.G);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

}  // namespace

void group_norm_fwd_cuda(const GroupNormFwd& p) {
  dispatch_dtype<kNormTypes>(p.dtype, [&](auto t) { fwd<typename decltype(t)::type>(p); });
}

void group_norm_bwd_cuda(const GroupNormBwd& p) {
  dispatch_dtype<kNormTypes>(p.dtype, [&](auto t) { bwd<typename decltype(t)::type>(p); });
}

}  // namespace gemforge::chnorm
