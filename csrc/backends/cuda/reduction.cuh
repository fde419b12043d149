// The cuda reduction kernels over a Plan [outer][R][inner] (engine/reduction.h):
//   rows_warp   inner == 1, short rows: a group of 4-32 lanes per row
//   rows_block  inner == 1, long rows: one block per (row, split) of the row
//   cols        inner > 1: threads over the contiguous inner dim, a block's warps over R
//   finish      a warp per output combines the per-split partials in a fixed order
// Splits write partial accumulators to a workspace and `finish` combines them: no atomics, the
// same result on every run. Each .cu instantiates the kinds it is given (launch_kind<K>).
#pragma once

#include "backends/cuda/launch.cuh"
#include "engine/reduction.h"
#include "engine/reduction_ops.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <cstdint>

namespace gemforge::red::cuda {

constexpr int kWarp = 32;
constexpr int kBlock = 256;        // threads of rows_warp, rows_block and cols
constexpr int kWarps = kBlock / kWarp;
constexpr int kColsX = 32;         // cols: threads over inner
constexpr int kColsY = kBlock / kColsX;  // cols: threads over R
constexpr int kUnroll = 4;         // vector loads in flight per thread

template <class T> struct alignas(16) vec16 {
  static constexpr int n = 16 / sizeof(T);
  T v[n];
};

// One accumulator moved between lanes as 32-bit words.
template <class A> __device__ __forceinline__ A shfl_down(const A& a, int delta) {
  static_assert(sizeof(A) % 4 == 0, "accumulators are whole 32-bit words");
  constexpr int W = sizeof(A) / 4;
  int w[W];
  memcpy(w, &a, sizeof(A));
#pragma unroll
  for (int k = 0; k < W; ++k) w[k] = __shfl_down_sync(0xffffffffu, w[k], delta);
  A r;
  memcpy(&r, w, sizeof(A));
  return r;
}

// Lane 0 gets the combination of the warp's accumulators (a fixed tree: deterministic).
template <class F, class A> __device__ __forceinline__ A warp_combine(const F& f, A a) {
#pragma unroll
  for (int d = kWarp / 2; d > 0; d /= 2) a = f.combine(a, shfl_down(a, d));
  return a;
}

// Thread 0 gets the combination of the block's accumulators (blockDim.x == kBlock).
template <class F, class A> __device__ __forceinline__ A block_combine(const F& f, A a) {
  __shared__ A partial[kWarps];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  a = warp_combine(f, a);
  if (lane == 0) partial[warp] = a;
  __syncthreads();
  if (warp == 0) {
    a = lane < kWarps ? partial[lane] : f.init();
    a = warp_combine(f, a);
  }
  return a;
}

// a folded over this thread's share (elements tid, tid + nthreads, ...) of row[beg, end), indices
// counted from row: an unaligned head and tail one element at a time, a = one(a, x, i), the body
// in 16-byte vectors, a = vec(a, x, i) for elements i, i + 1, ... of x.
template <class T, class A, class One, class Vec>
__device__ __forceinline__ A walk_row(A a, const T* row, int64_t beg, int64_t end, int tid, int nthreads,
                                      const One& one, const Vec& vec) {
  using V = vec16<T>;
  constexpr int n = V::n;
  const T* p = row + beg;
  const int64_t len = end - beg;
  int64_t head = int64_t(((16 - (reinterpret_cast<uintptr_t>(p) & 15)) & 15) / sizeof(T));
  if (head > len) head = len;
  for (int64_t k = tid; k < head; k += nthreads) a = one(a, p[k], beg + k);
  const int64_t nv = (len - head) / n;
  const V* pv = reinterpret_cast<const V*>(p + head);
  const int64_t base = beg + head;
  // kUnroll loads issued before any is used, the last round predicated
  for (int64_t v = tid; v < nv; v += int64_t(kUnroll) * nthreads) {
    V buf[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (v + int64_t(u) * nthreads < nv) buf[u] = pv[v + int64_t(u) * nthreads];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t at = v + int64_t(u) * nthreads;
      if (at < nv) a = vec(a, buf[u], base + at * n);
    }
  }
  for (int64_t k = head + nv * n + tid; k < len; k += nthreads) a = one(a, p[k], beg + k);
  return a;
}

// The reduction f of this thread's share of row[beg, end) (walk_row), from a.
template <class F, class T, class A>
__device__ __forceinline__ A accumulate(const F& f, A a, const T* row, int64_t beg, int64_t end,
                                        int tid, int nthreads) {
  return walk_row(
      a, row, beg, end, tid, nthreads, [&f](A acc, T x, int64_t i) { return f.reduce(acc, x, i); },
      [&f](A acc, const vec16<T>& x, int64_t i) {
        if constexpr (reduces_runs<F>::value) {
          acc = f.reduce_run(acc, x.v, i);
        } else {
#pragma unroll
          for (int j = 0; j < vec16<T>::n; ++j) acc = f.reduce(acc, x.v[j], i + j);
        }
        return acc;
      });
}

// Lanes [0, width) of each group of `width` (a power of two <= 32) get the combination of their
// group's accumulators in lane 0 of the group (a fixed tree: deterministic). Every lane of the
// warp must call it.
template <class F, class A> __device__ __forceinline__ A group_combine(const F& f, A a, int width) {
  for (int d = width / 2; d > 0; d /= 2) a = f.combine(a, shfl_down(a, d));
  return a;
}

// Short rows: each warp holds 32 / width rows at a time, `width` lanes per row (a row of 128 bf16
// is 16 vectors: 8 lanes with 2 vector loads each, 4 rows per warp, instead of a whole warp with
// half its lanes idle). The loop runs per warp (every lane takes part in the shuffles).
template <class F, class T, class O>
__global__ void __launch_bounds__(kBlock) rows_warp(F f, const T* in, int64_t rows, int64_t R,
                                                    int width, O* out0, void* out1) {
  const int lane = threadIdx.x % kWarp;
  const int group = lane / width, sub = lane % width;
  const int per_warp = kWarp / width;
  const int64_t first = (int64_t(blockIdx.x) * kWarps + threadIdx.x / kWarp) * per_warp;
  const int64_t step = int64_t(gridDim.x) * kWarps * per_warp;
  for (int64_t base = first; base < rows; base += step) {
    const int64_t row = base + group;
    auto a = f.init();
    if (row < rows) a = accumulate(f, a, in + row * R, 0, R, sub, width);
    a = group_combine(f, a, width);
    if (sub == 0 && row < rows) f.store(a, out0, out1, row);
  }
}

// grid (rows, splits): block (row, s) reduces row[s * chunk, (s + 1) * chunk).
template <class F, class T, class O>
__global__ void __launch_bounds__(kBlock) rows_block(F f, const T* in, int64_t R, int64_t chunk,
                                                     O* out0, void* out1, typename F::acc* ws) {
  const int64_t row = blockIdx.x;
  const int64_t beg = int64_t(blockIdx.y) * chunk;
  const int64_t end = beg + chunk < R ? beg + chunk : R;
  auto a = accumulate(f, f.init(), in + row * R, beg, end, threadIdx.x, kBlock);
  a = block_combine(f, a);
  if (threadIdx.x == 0) {
    if (gridDim.y == 1) f.store(a, out0, out1, row);
    else ws[row * gridDim.y + blockIdx.y] = a;
  }
}

// grid (ceil(inner / kColsX), min(outer, 65535), splits), block (kColsX, kColsY): thread (x, y)
// reduces column i = blockIdx.x * kColsX + x over rows r = beg + y, beg + y + kColsY, ...
template <class F, class T, class O>
__global__ void __launch_bounds__(kBlock) cols(F f, const T* in, int64_t outer, int64_t R,
                                               int64_t inner, int64_t chunk, O* out0, void* out1,
                                               typename F::acc* ws) {
  using A = typename F::acc;
  __shared__ A partial[kColsY][kColsX];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t i = int64_t(blockIdx.x) * kColsX + tx;
  const int64_t beg = int64_t(blockIdx.z) * chunk;
  const int64_t end = beg + chunk < R ? beg + chunk : R;
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    A a = f.init();
    if (i < inner) {
      const T* col = in + o * R * inner + i;
      int64_t r = beg + ty;
      for (; r + (kUnroll - 1) * kColsY < end; r += kUnroll * kColsY) {
        T x[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) x[u] = col[(r + u * kColsY) * inner];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) a = f.reduce(a, x[u], r + u * kColsY);
      }
      for (; r < end; r += kColsY) a = f.reduce(a, col[r * inner], r);
    }
    partial[ty][tx] = a;
    __syncthreads();
    if (ty == 0 && i < inner) {
      for (int y = 1; y < kColsY; ++y) a = f.combine(a, partial[y][tx]);
      const int64_t k = o * inner + i;
      if (gridDim.z == 1) f.store(a, out0, out1, k);
      else ws[k * gridDim.z + blockIdx.z] = a;
    }
    __syncthreads();
  }
}

// A warp per output k combines ws[k * splits, (k + 1) * splits) in a fixed order.
template <class F, class O>
__global__ void __launch_bounds__(kBlock) finish(F f, const typename F::acc* ws, int64_t n_out,
                                                 int splits, O* out0, void* out1) {
  const int lane = threadIdx.x % kWarp;
  const int64_t k = int64_t(blockIdx.x) * kWarps + threadIdx.x / kWarp;
  if (k >= n_out) return;
  auto a = f.init();
  for (int s = lane; s < splits; s += kWarp) a = f.combine(a, ws[k * splits + s]);
  a = warp_combine(f, a);
  if (lane == 0) f.store(a, out0, out1, k);
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

using pw::cuda::sm_count;

template <class F, class T, class O> void launch(const F& f, const Plan& p) {
  using A = typename F::acc;
  const int64_t n_out = p.outer * p.inner;
  if (n_out == 0) return;
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const T* in = static_cast<const T*>(p.in);
  O* out0 = static_cast<O*>(p.out0);
  const int64_t target = 4 * int64_t(sm_count());  // blocks that fill the card
  constexpr int64_t kMaxGrid = 65535;
  int64_t splits = 1, chunk = p.R;
  c10::DataPtr ws;
  auto workspace = [&]() -> A* {
    ws = c10::cuda::CUDACachingAllocator::get()->allocate(size_t(n_out * splits) * sizeof(A));
    return static_cast<A*>(ws.get());
  };

  if (p.inner == 1) {
    const int64_t rows = p.outer, R = p.R, row_bytes = R * int64_t(sizeof(T));
    // A warp per row while rows are short, or while there are at least 16 rows per SM and a row
    // is at most 32 KB (4096 bf16 rows: 4 vector loads in flight per lane, no block-wide sync,
    // every row in flight in one wave). Else a block per row, split when rows are few.
    const bool many_rows = rows >= 2 * kWarps * int64_t(sm_count());
    if (row_bytes <= 2048 || (many_rows && row_bytes <= 32768)) {
      // lanes per row: enough for about 2 vector loads each (8 for 256-byte rows), at least 4
      const int64_t vectors = ceil_div(row_bytes, 16);
      int width = 4;
      while (width < kWarp && int64_t(width) * 2 < vectors) width *= 2;
      const int64_t per_block = int64_t(kWarps) * (kWarp / width);
      const int64_t grid = std::min<int64_t>(ceil_div(rows, per_block), int64_t(1) << 30);
      rows_warp<F, T, O><<<unsigned(grid), kBlock, 0, stream>>>(f, in, rows, R, width, out0,
                                                               p.out1);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      return;
    }
    if (rows < target) {
      // few long rows: split each so that the card fills, no split under 8192 elements
      splits = std::min<int64_t>({ceil_div(target, rows), ceil_div(R, 8192), kMaxGrid});
      splits = std::max<int64_t>(splits, 1);
      chunk = ceil_div(ceil_div(R, splits), 16) * 16;
      splits = ceil_div(R, chunk);
    }
    A* partial = splits > 1 ? workspace() : nullptr;
    rows_block<F, T, O><<<dim3(unsigned(rows), unsigned(splits)), kBlock, 0, stream>>>(
        f, in, R, chunk, out0, p.out1, partial);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  } else {
    const int64_t gx = ceil_div(p.inner, kColsX), gy = std::min(p.outer, kMaxGrid);
    const int64_t blocks = gx * gy;
    if (blocks < target && p.R > 0) {
      // few columns: split R, no split under 16 rows per thread
      splits = std::min<int64_t>({ceil_div(target, blocks), ceil_div(p.R, 16 * kColsY), kMaxGrid});
      splits = std::max<int64_t>(splits, 1);
      chunk = ceil_div(p.R, splits);
      splits = ceil_div(p.R, chunk);
    }
    A* partial = splits > 1 ? workspace() : nullptr;
    cols<F, T, O><<<dim3(unsigned(gx), unsigned(gy), unsigned(splits)), dim3(kColsX, kColsY), 0,
                    stream>>>(f, in, p.outer, p.R, p.inner, chunk, out0, p.out1, partial);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  if (splits > 1) {
    finish<F, O><<<unsigned(ceil_div(n_out, kWarps)), kBlock, 0, stream>>>(
        f, static_cast<const A*>(ws.get()), n_out, int(splits), out0, p.out1);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// The kernels of the kinds in `Kinds` (a .cu per group keeps compile units small).
template <Kind... Kinds> bool launch_kinds(const Plan& p) {
  if (((p.kind != Kinds) && ...)) return false;
  return dispatch<true>(p, [&](const auto& f, auto tag_t, auto tag_o) {
    using Fn = std::decay_t<decltype(f)>;
    // only the functors of this unit's kinds are instantiated
    if constexpr (((Fn::kind == Kinds) || ...)) {
      launch<Fn, typename decltype(tag_t)::type, typename decltype(tag_o)::type>(f, p);
    }
  });
}

bool launch_sum(const Plan& p);     // reduction_sum.cu: sum, prod, count_nonzero, norm
bool launch_minmax(const Plan& p);  // reduction_minmax.cu: max, min, argmax, argmin, aminmax
bool launch_stats(const Plan& p);   // reduction_stats.cu: all, any, var, logsumexp

}  // namespace gemforge::red::cuda
