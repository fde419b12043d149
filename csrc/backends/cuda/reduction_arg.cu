// cuda kernels of argmax / argmin and max.dim / min.dim: the value and the first index of the
// largest (smallest) element over R, for a Plan [outer][R][inner] (engine/reduction.h).
//   arg_rows_group  inner == 1, short rows or many rows: a group of 4-32 lanes per row
//   arg_rows_block  inner == 1, long rows: a block per (row, split of the row)
//   arg_cols        inner > 1, 16-byte aligned columns: a thread owns the V output columns of one
//                   16-byte vector and walks R with coalesced vector loads (a warp reads 512
//                   contiguous bytes a row); R split over blocks when the columns are few
//   arg_finish      a warp per output combines the per-split partials
// A thread sees its elements in increasing index order, so a strict compare keeps the first
// index of a tie and the first NaN. Threads, warps and splits combine by the full order (NaN
// first, then the larger (smaller) value, then the lower index), which does not depend on the
// order of combination: the same result on every run, as torch's.
//
// Rows test one 16-byte vector at a time: its extreme (packed max.NaN for fp16/bf16, which lets
// NaN through) against the thread's best, and only when the vector beats it (rarely, past a
// row's first vectors) the first element equal to the extreme. GEMFORGE_ARG_KERNEL=engine
// sends every plan back to the generic reduction kernels (reduction.cuh) for comparison.
#include "backends/cuda/reduction.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdlib>
#include <cstring>

namespace gemforge::red::cuda {
namespace {

// rows of 16-byte loads in flight per thread (cols); 2 for 1- and 2-byte integers, whose 8 or
// 16 columns a thread (int32 each) take more registers
template <class T> constexpr int kColsUnroll = std::is_integral_v<T> && sizeof(T) <= 2 ? 2 : 4;

// What elements are compared in: fp16/bf16 as float, integers up to 32 bits (and bool) as int32.
template <class T>
using cmp_t = std::conditional_t<std::is_integral_v<T>,
                                 std::conditional_t<(sizeof(T) < 8), int32_t, int64_t>, opmath_t<T>>;

template <class C, class T> __device__ __forceinline__ C to_cmp(T x) {
  if constexpr (std::is_same_v<T, bool>) return C(x ? 1 : 0);
  else return static_cast<C>(x);
}

// b, a later element, replaces a: strictly better, or NaN where a is not.
template <bool Max, class C> __device__ __forceinline__ bool improves(C b, C a) {
  if constexpr (std::is_floating_point_v<C>) return !(Max ? b <= a : b >= a) && a == a;
  else return Max ? b > a : b < a;
}

// The full order: (bv, bi) comes before (av, ai). i < 0: no element.
template <bool Max, class C, class I>
__device__ __forceinline__ bool wins(C bv, I bi, C av, I ai) {
  if (bi < 0) return false;
  if (ai < 0) return true;
  const bool bn = is_nan(bv), an = is_nan(av);
  if (an || bn) return bn && (!an || bi < ai);
  if (bv == av) return bi < ai;
  return Max ? bv > av : bv < av;
}

// max / min that let NaN through
template <bool Max, class C> __device__ __forceinline__ C pick(C a, C b) {
  if constexpr (std::is_same_v<C, float>) {
    float r;
    if constexpr (Max) asm("max.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    else asm("min.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
  } else {
    return (is_nan(a) || (Max ? a > b : a < b)) ? a : b;
  }
}

template <bool Max> __device__ __forceinline__ __nv_bfloat162 pick2(__nv_bfloat162 a, __nv_bfloat162 b) {
  return Max ? __hmax2_nan(a, b) : __hmin2_nan(a, b);
}
template <bool Max> __device__ __forceinline__ __half2 pick2(__half2 a, __half2 b) {
  return Max ? __hmax2_nan(a, b) : __hmin2_nan(a, b);
}

// The extreme of one vector (NaN if it holds one); 2-byte floats in pairs.
template <bool Max, class T, int N> __device__ __forceinline__ cmp_t<T> vec_extreme(const T (&x)[N]) {
  using C = cmp_t<T>;
  if constexpr (std::is_same_v<T, c10::BFloat16> || std::is_same_v<T, c10::Half>) {
    static_assert(N % 4 == 0, "pairs of pairs");
    using P = std::conditional_t<std::is_same_v<T, c10::BFloat16>, __nv_bfloat162, __half2>;
    P w[N / 2];
    memcpy(w, x, sizeof(w));
#pragma unroll
    for (int s = 1; s < N / 2; s *= 2) {
#pragma unroll
      for (int k = 0; k + s < N / 2; k += 2 * s) w[k] = pick2<Max>(w[k], w[k + s]);
    }
    return pick<Max>(__low2float(w[0]), __high2float(w[0]));
  } else {
    C r[N];
#pragma unroll
    for (int k = 0; k < N; ++k) r[k] = to_cmp<C>(x[k]);
#pragma unroll
    for (int s = 1; s < N; s *= 2) {
#pragma unroll
      for (int k = 0; k + s < N; k += 2 * s) r[k] = pick<Max>(r[k], r[k + s]);
    }
    return r[0];
  }
}

template <class T> struct Best {
  cmp_t<T> v;
  int64_t i;  // -1: no element yet
};

template <bool Max, class T>
__device__ __forceinline__ void take_one(Best<T>& b, cmp_t<T> v, int64_t at) {
  if (b.i < 0 || improves<Max>(v, b.v)) b.v = v, b.i = at;
}

// The first element of a vector equal to its extreme m (-0 == +0: the first zero), or its first
// NaN. Rare (a vector that beats the thread's best) and out of line, so that the hot loop keeps
// only the extremes' registers.
template <class T> struct Hit {
  cmp_t<T> v;
  int at;
};
template <class T>
__device__ __noinline__ Hit<T> first_hit(vec16<T> x, cmp_t<T> m) {
  using C = cmp_t<T>;
  Hit<T> h{m, 0};
#pragma unroll
  for (int k = vec16<T>::n - 1; k >= 0; --k) {
    const C v = to_cmp<C>(x.v[k]);
    if (v == m || is_nan(v)) h = {v, k};
  }
  return h;
}

// A vector of consecutive elements, indices first, first + 1, ...
template <bool Max, class T>
__device__ __forceinline__ void take_vec(Best<T>& b, const vec16<T>& x, int64_t first) {
  using C = cmp_t<T>;
  const C m = vec_extreme<Max>(x.v);
  if (b.i >= 0 && !improves<Max>(m, b.v)) return;
  const Hit<T> h = first_hit<T>(x, m);
  b.v = h.v;
  b.i = first + h.at;
}

template <bool Max, class T>
__device__ __forceinline__ void combine(Best<T>& a, cmp_t<T> v, int64_t i) {
  if (wins<Max>(v, i, a.v, a.i)) a.v = v, a.i = i;
}

// Lane 0 of each group of `width` lanes (a power of two <= 32) gets its group's best. Every lane
// of the warp must call it.
template <bool Max, class T> __device__ __forceinline__ void group_best(Best<T>& b, int width) {
  for (int d = width / 2; d > 0; d /= 2) {
    const cmp_t<T> v = __shfl_down_sync(0xffffffffu, b.v, d);
    const int64_t i = __shfl_down_sync(0xffffffffu, b.i, d);
    combine<Max>(b, v, i);
  }
}

// This thread's elements of row[beg, end) (walk_row), indices counted from row.
template <bool Max, class T>
__device__ __forceinline__ void scan_row(Best<T>& b, const T* __restrict__ row, int64_t beg,
                                         int64_t end, int tid, int nthreads) {
  // The walk's state is &b, each step updating b in place: with b itself as the state (by value)
  // 30 of the 80 kernels compile to other code (registers, instructions).
  walk_row(
      &b, row, beg, end, tid, nthreads,
      [](Best<T>* acc, T x, int64_t i) {
        take_one<Max>(*acc, to_cmp<cmp_t<T>>(x), i);
        return acc;
      },
      [](Best<T>* acc, const vec16<T>& x, int64_t i) {
        take_vec<Max>(*acc, x, i);
        return acc;
      });
}

template <class T>
__device__ __forceinline__ void store(const Best<T>& b, T* values, int64_t* indices, int64_t k) {
  if (values) values[k] = static_cast<T>(b.v);
  indices[k] = b.i < 0 ? 0 : b.i;
}

// A group of `width` lanes per row, 32 / width rows per warp at a time.
template <bool Max, class T>
__global__ void __launch_bounds__(kBlock) arg_rows_group(const T* __restrict__ in, int64_t rows, int64_t R,
                                                         int width, T* values, int64_t* indices) {
  const int lane = threadIdx.x % kWarp;
  const int group = lane / width, sub = lane % width;
  const int per_warp = kWarp / width;
  const int64_t first = (int64_t(blockIdx.x) * kWarps + threadIdx.x / kWarp) * per_warp;
  const int64_t step = int64_t(gridDim.x) * kWarps * per_warp;
  for (int64_t base = first; base < rows; base += step) {
    const int64_t row = base + group;
    Best<T> b{cmp_t<T>(0), -1};
    if (row < rows) scan_row<Max>(b, in + row * R, 0, R, sub, width);
    group_best<Max>(b, width);
    if (sub == 0 && row < rows) store(b, values, indices, row);
  }
}

// Block b reduces row b / splits over [s * chunk, (s + 1) * chunk), s = b % splits.
template <bool Max, class T>
__global__ void __launch_bounds__(kBlock) arg_rows_block(const T* __restrict__ in, int64_t R, int64_t chunk,
                                                         int64_t splits, T* values, int64_t* indices,
                                                         cmp_t<T>* ws_v, int64_t* ws_i) {
  __shared__ cmp_t<T> sv[kWarps];
  __shared__ int64_t si[kWarps];
  const int64_t row = blockIdx.x / splits, s = blockIdx.x % splits;
  const int64_t beg = s * chunk;
  const int64_t end = beg + chunk < R ? beg + chunk : R;
  Best<T> b{cmp_t<T>(0), -1};
  scan_row<Max>(b, in + row * R, beg, end, threadIdx.x, kBlock);
  group_best<Max>(b, kWarp);
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  if (lane == 0) sv[warp] = b.v, si[warp] = b.i;
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int w = 1; w < kWarps; ++w) combine<Max>(b, sv[w], si[w]);
  if (splits == 1) store(b, values, indices, row);
  else ws_v[blockIdx.x] = b.v, ws_i[blockIdx.x] = b.i;
}

// grid (ceil(inner / V / kColsX), outer, splits), block (kColsX, kColsY): thread
// (x, y) owns the V columns of vector c = blockIdx.x * kColsX + x and reduces them over rows
// r = beg + y, beg + y + kColsY, ... (inner % V == 0, the input 16-byte aligned). Indices are
// kept relative to beg (chunk < 2^31).
template <bool Max, class T>
__global__ void __launch_bounds__(kBlock) arg_cols(const T* __restrict__ in, int64_t R,
                                                   int64_t inner, int64_t chunk, T* values,
                                                   int64_t* indices, cmp_t<T>* ws_v, int64_t* ws_i) {
  using C = cmp_t<T>;
  using Vec = vec16<T>;
  constexpr int V = Vec::n;
  __shared__ C sv[kColsY][kColsX * V];
  __shared__ int32_t si[kColsY][kColsX * V];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = int64_t(blockIdx.x) * kColsX + tx;
  const int64_t ncv = inner / V;
  const int64_t beg = int64_t(blockIdx.z) * chunk;
  const int64_t end = beg + chunk < R ? beg + chunk : R;
  {
    const int64_t o = blockIdx.y;  // < outer
    C bv[V];
    int32_t bi[V];
#pragma unroll
    for (int k = 0; k < V; ++k) bv[k] = C(0), bi[k] = -1;
    if (c < ncv && beg + ty < end) {
      // this thread's rows beg + ty + j * kColsY, j < rows; its relative index ty + j * kColsY
      const int rows = int((end - beg - ty + kColsY - 1) / kColsY);
      const int64_t step = int64_t(kColsY) * ncv;  // vectors from one of its rows to the next
      const Vec* p = reinterpret_cast<const Vec*>(in + o * R * inner) + (beg + ty) * ncv + c;
      {
        const Vec x = p[0];  // the first row sets the bests
#pragma unroll
        for (int k = 0; k < V; ++k) bv[k] = to_cmp<C>(x.v[k]), bi[k] = ty;
      }
      int j = 1;
      for (; j + kColsUnroll<T> <= rows; j += kColsUnroll<T>) {
        const Vec* q = p + j * step;
        Vec x[kColsUnroll<T>];
#pragma unroll
        for (int u = 0; u < kColsUnroll<T>; ++u) x[u] = q[u * step];
#pragma unroll
        for (int u = 0; u < kColsUnroll<T>; ++u) {
          const int32_t at = ty + (j + u) * kColsY;
#pragma unroll
          for (int k = 0; k < V; ++k) {
            const C v = to_cmp<C>(x[u].v[k]);
            if (improves<Max>(v, bv[k])) bv[k] = v, bi[k] = at;
          }
        }
      }
      for (; j < rows; ++j) {
        const Vec x = p[j * step];
        const int32_t at = ty + j * kColsY;
#pragma unroll
        for (int k = 0; k < V; ++k) {
          const C v = to_cmp<C>(x.v[k]);
          if (improves<Max>(v, bv[k])) bv[k] = v, bi[k] = at;
        }
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) sv[ty][tx * V + k] = bv[k], si[ty][tx * V + k] = bi[k];
    __syncthreads();
    // the block's kColsX * V columns, a thread each: rows of partials combined, stores coalesced
    for (int q = ty * kColsX + tx; q < kColsX * V; q += kBlock) {
      const int64_t col = int64_t(blockIdx.x) * (kColsX * V) + q;
      if (col >= inner) continue;
      C v = sv[0][q];
      int32_t i = si[0][q];
#pragma unroll 1
      for (int y = 1; y < kColsY; ++y) {
        if (wins<Max>(sv[y][q], si[y][q], v, i)) v = sv[y][q], i = si[y][q];
      }
      const int64_t out = o * inner + col;
      const int64_t at = i < 0 ? -1 : beg + i;
      if (gridDim.z == 1) {
        store(Best<T>{v, at}, values, indices, out);
      } else {
        ws_v[out * gridDim.z + blockIdx.z] = v;
        ws_i[out * gridDim.z + blockIdx.z] = at;
      }
    }
  }
}

// A warp per output k combines its splits' partials ws[k * splits + s].
template <bool Max, class T>
__global__ void __launch_bounds__(kBlock) arg_finish(const cmp_t<T>* __restrict__ ws_v,
                                                     const int64_t* __restrict__ ws_i, int64_t n_out,
                                                     int64_t splits, T* values, int64_t* indices) {
  const int lane = threadIdx.x % kWarp;
  const int64_t k = int64_t(blockIdx.x) * kWarps + threadIdx.x / kWarp;
  if (k >= n_out) return;  // whole warps: k is the same for the warp's lanes
  Best<T> b{cmp_t<T>(0), -1};
  for (int64_t s = lane; s < splits; s += kWarp) combine<Max>(b, ws_v[k * splits + s], ws_i[k * splits + s]);
  group_best<Max>(b, kWarp);
  if (lane == 0) store(b, values, indices, k);
}

// Workspace for n partials: values, then indices.
template <class C> struct Partials {
  c10::DataPtr mem;
  C* v = nullptr;
  int64_t* i = nullptr;
  void alloc(int64_t n) {
    const size_t vbytes = (size_t(n) * sizeof(C) + 15) / 16 * 16;
    mem = c10::cuda::CUDACachingAllocator::get()->allocate(vbytes + size_t(n) * sizeof(int64_t));
    v = static_cast<C*>(mem.get());
    i = reinterpret_cast<int64_t*>(static_cast<char*>(mem.get()) + vbytes);
  }
};

template <bool Max, class T> bool launch_arg_typed(const Plan& p) {
  using C = cmp_t<T>;
  constexpr int V = vec16<T>::n;
  constexpr int64_t kMaxGrid = 65535;
  const int64_t n_out = p.outer * p.inner;
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const T* in = static_cast<const T*>(p.in);
  T* values = static_cast<T*>(p.out0);
  int64_t* indices = static_cast<int64_t*>(p.out1);
  const int64_t target = 4 * int64_t(sm_count());  // blocks that fill the card
  Partials<C> ws;
  int64_t splits = 1;

  if (p.inner == 1) {
    const int64_t rows = p.outer, R = p.R, row_bytes = R * int64_t(sizeof(T));
    const bool many_rows = rows >= 2 * kWarps * int64_t(sm_count());
    if (row_bytes <= 2048 || (many_rows && row_bytes <= 32768)) {
      // lanes per row: about 2 vector loads each for short rows (8 for 256-byte rows), at least 4
      const int64_t vectors = ceil_div(row_bytes, 16);
      int width = 4;
      while (width < kWarp && int64_t(width) * 2 < vectors) width *= 2;
      const int64_t per_block = int64_t(kWarps) * (kWarp / width);
      const int64_t grid = std::min<int64_t>(ceil_div(rows, per_block), int64_t(1) << 30);
      arg_rows_group<Max, T><<<unsigned(grid), kBlock, 0, stream>>>(in, rows, R, width, values, indices);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      return true;
    }
    int64_t chunk = R;
    if (rows < target) {
      // few long rows: split each so that the card fills, no split under 8192 elements
      splits = std::max<int64_t>(std::min<int64_t>(ceil_div(target, rows), ceil_div(R, 8192)), 1);
      chunk = ceil_div(ceil_div(R, splits), 16) * 16;
      splits = ceil_div(R, chunk);
    }
    if (rows * splits > int64_t(INT32_MAX)) return false;
    if (splits > 1) ws.alloc(rows * splits);
    arg_rows_block<Max, T><<<unsigned(rows * splits), kBlock, 0, stream>>>(in, R, chunk, splits, values,
                                                                          indices, ws.v, ws.i);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  } else {
    // 16-byte vectors of columns only; the rest (odd inner, unaligned) takes the generic kernels
    if (p.inner % V != 0 || reinterpret_cast<uintptr_t>(p.in) % 16 != 0) return false;
    const int64_t gx = ceil_div(p.inner / V, kColsX), gy = p.outer;
    if (gx > int64_t(INT32_MAX) || gy > kMaxGrid) return false;
    const int64_t blocks = gx * gy;
    // relative indices are int32: chunks under 2^30 rows
    splits = ceil_div(p.R, int64_t(1) << 30);
    if (blocks < target && p.R > 0) {
      // few columns: split R, no split under 16 rows per thread
      splits = std::max(splits, std::min<int64_t>(ceil_div(target, blocks), ceil_div(p.R, 16 * kColsY)));
    }
    splits = std::min(std::max<int64_t>(splits, 1), kMaxGrid);
    const int64_t chunk = ceil_div(p.R, splits);
    if (chunk >= (int64_t(1) << 31)) return false;
    splits = ceil_div(p.R, chunk);
    if (splits > 1) ws.alloc(n_out * splits);
    arg_cols<Max, T><<<dim3(unsigned(gx), unsigned(gy), unsigned(splits)), dim3(kColsX, kColsY), 0,
                       stream>>>(in, p.R, p.inner, chunk, values, indices, ws.v, ws.i);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  if (splits > 1) {
    arg_finish<Max, T><<<unsigned(ceil_div(n_out, kWarps)), kBlock, 0, stream>>>(ws.v, ws.i, n_out, splits,
                                                                               values, indices);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return true;
}

bool use_engine() {
  static const bool engine = [] {
    const char* v = std::getenv("GEMFORGE_ARG_KERNEL");
    return v != nullptr && std::strcmp(v, "engine") == 0;
  }();
  return engine;
}

}  // namespace

// false: not a plan these kernels take (the generic kernels run it).
bool launch_arg(const Plan& p) {
  if ((p.kind != Kind::kArgMax && p.kind != Kind::kArgMin) || use_engine()) return false;
  if (p.out_type != p.in_type || p.out1 == nullptr || p.R <= 0 || p.outer * p.inner == 0) return false;
  bool done = false;
  dispatch_dtype<kRealBool>(p.in_type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    done = p.kind == Kind::kArgMax ? launch_arg_typed<true, T>(p) : launch_arg_typed<false, T>(p);
  });
  return done;
}

}  // namespace gemforge::red::cuda
