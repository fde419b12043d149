// cuda kernels of softmax and log_softmax, forward and backward (engine/rows.h).
//   reg_kernel      the last dim, rows up to kRegisterRow: a row in registers, read once and
//                   written once (a group of threads per row, see rows.cuh); a persistent grid,
//                   the next row's loads in flight during this row's reductions (row_grid)
//   smem_kernel     longer rows up to kSmemRowBytes: a block per row, the row kept in shared
//                   memory (one read, one write)
//   split kernels   longer rows: per-chunk partials (max and sum of exp, or the dot of the
//                   backward), then a second kernel combines its row's partials and writes its
//                   chunk (the second read mostly hits L2)
//   cols kernels    a non-last dim ([outer, n, inner], inner > 1): 32 vectors of columns per
//                   block, n split over blocks (partials, then a finish kernel) and threads
#include "backends/cuda/rows.cuh"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

namespace gemforge::rows::cuda {
namespace {

constexpr int kSplitThreads = 256;
constexpr int kStridedX = 32, kStridedY = 16;

// A running (max, sum of exp(x - max)). NaN is sticky in m (and s): a NaN anywhere in the row
// makes the whole row NaN, as torch's, also when the NaN sits in a partial whose other elements
// are all -inf (m == -inf would otherwise drop it in the combination). m == -inf implies s == 0.
template <class A> struct MaxSum {
  A m, s;
  // One element; O, the output's type, picks the exp (exp_row).
  template <class O> __device__ __forceinline__ void add(A v) {
    if (v != v || m != m) {
      m = s = v + m;  // NaN
    } else if (v > m) {
      s = s * exp_row<O>(m - v) + exp_row<O>(v - v);  // 1, or NaN for +inf as torch's exp(x - max)
      m = v;
    } else if (v != neg_inf<A>()) {
      s += exp_row<O>(v - m);  // NaN for +inf == m, as torch's
    }
  }
  __device__ __forceinline__ void add(MaxSum o) {
    if (m != m || o.m != o.m) {
      m = s = m + o.m;  // NaN
      return;
    }
    const A mm = m > o.m ? m : o.m;
    if (mm == neg_inf<A>()) return;  // both empty
    s = (m == neg_inf<A>() ? A(0) : s * exp_(m - mm)) + (o.m == neg_inf<A>() ? A(0) : o.s * exp_(o.m - mm));
    m = mm;
  }
};

template <class A> __device__ __forceinline__ MaxSum<A> shfl_xor(MaxSum<A> v, int off) {
  return {__shfl_xor_sync(0xffffffffu, v.m, off), __shfl_xor_sync(0xffffffffu, v.s, off)};
}

// The combination over the block (kSplitThreads threads) in a fixed order; thread 0 has it.
template <class A> __device__ MaxSum<A> block_combine(MaxSum<A> v) {
  __shared__ A sm[kSplitThreads / 32], ss[kSplitThreads / 32];
  for (int off = 16; off > 0; off >>= 1) v.add(shfl_xor(v, off));
  const int warp = threadIdx.x / 32;
  __syncthreads();
  if (threadIdx.x % 32 == 0) sm[warp] = v.m, ss[warp] = v.s;
  __syncthreads();
  MaxSum<A> r{sm[0], ss[0]};
  for (int w = 1; w < kSplitThreads / 32; ++w) r.add(MaxSum<A>{sm[w], ss[w]});
  return r;
}

template <class A> __device__ A block_sum(A v) {
  __shared__ A sm[kSplitThreads / 32];
  return group_reduce(v, kSplitThreads, Sum{}, sm);
}

// O: the output's type (exp_row)
template <class O, class A>
__device__ __forceinline__ A softmax_value(A x, A mx, A lse, A inv, bool log, bool zero) {
  if (zero) return A(0);
  return log ? x - mx - lse : exp_row<O>(x - mx) * inv;
}

// ---- forward ----------------------------------------------------------------------------------
// A persistent walk over row groups (row_grid): raw holds the next row's vectors, loaded before
// this row's reductions so that they are in flight while it reduces and stores.
template <class T, class O, int V, int MaxV>
__global__ void __launch_bounds__(kMaxRowThreads)
softmax_reg_kernel(const T* __restrict__ in, O* __restrict__ out, int64_t rows, int64_t n,
                   int group, bool log, bool safe) {
  using A = opmath_t<T>;
  __shared__ A smem[32];
  pdl_begin();
  const int lane = threadIdx.x % group, rpb = blockDim.x / group;
  const int64_t first = int64_t(blockIdx.x) * rpb, step = int64_t(gridDim.x) * rpb;
  const int nv = int(n / V);  // <= kRegisterRow
  // The next row's loads go out before this row's reductions (load_ahead); else each row's loads
  // go out at the start of its own trip.
  constexpr bool ahead = load_ahead<T, V, MaxV>;
  bits_t<T, V> raw[MaxV];  // (vectors of this thread)
  if constexpr (ahead) load_row(in, first + threadIdx.x / group, rows, n, lane, group, nv, raw);
  // base is the same for all of the block's threads: each calls group_reduce as often
  for (int64_t base = first; base < rows; base += step) {
    const int64_t row = base + threadIdx.x / group;
    const bool active = row < rows;  // false only in the block's last trip
    if constexpr (!ahead) load_row(in, row, rows, n, lane, group, nv, raw);
    A x[MaxV][V];  // (vectors of this thread, V)
    unpack_row<T>(raw, active, lane, group, nv, x);
    if constexpr (ahead) load_row(in, row + step, rows, n, lane, group, nv, raw);
    A mx = neg_inf<A>();
#pragma unroll
    for (int i = 0; i < MaxV; ++i) {
      const int j = lane + i * group;
      if (active && j < nv) {
#pragma unroll
        for (int k = 0; k < V; ++k) mx = max_nan(mx, x[i][k]);
      }
    }
    mx = group_reduce(mx, group, Max{}, smem);
    A sum = 0;
#pragma unroll
    for (int i = 0; i < MaxV; ++i) {
      const int j = lane + i * group;
      if (active && j < nv) {
#pragma unroll
        for (int k = 0; k < V; ++k) {
          const A e = exp_row<O>(x[i][k] - mx);
          sum += e;
          if (!log) x[i][k] = e;
        }
      }
    }
    sum = group_reduce(sum, group, Sum{}, smem);
    if (active) {
      // out = (x + shift) * scale - lse: softmax e * (1 / sum), log_softmax x - max - log(sum)
      // (in that order, as torch's: max + log(sum) first would round away a small difference)
      const bool zero = safe && mx == neg_inf<A>();  // _safe_softmax: a row of -inf gives zeros
      const A scale = log ? A(1) : A(1) / sum, shift = log ? -mx : A(0), lse = log ? log_(sum) : A(0);
      O* rout = out + row * n;
#pragma unroll
      for (int i = 0; i < MaxV; ++i) {
        const int j = lane + i * group;
        if (j < nv) {
          A r[V];
#pragma unroll
          for (int k = 0; k < V; ++k) r[k] = zero ? A(0) : (x[i][k] + shift) * scale - lse;
          store_vec<V>(rout, j, r);
        }
      }
    }
  }
}

// Rows longer than the register path whose bytes fit kSmemRowBytes: a block per row; the row is
// read once from global memory into shared memory (in its own dtype; each thread reads back only
// the vectors it wrote), then max, sum of exp and the output come from there: one read and one
// write of global memory, where the split path reads the row twice.
constexpr int kSmemThreads = 1024;
constexpr int64_t kSmemRowBytes = 96 * 1024;  // 2 blocks an SM

template <class T, class O, int V>
__global__ void __launch_bounds__(kSmemThreads, 2)
softmax_smem_kernel(const T* __restrict__ in, O* __restrict__ out, int64_t n, bool log, bool safe) {
  using A = opmath_t<T>;
  extern __shared__ __align__(16) unsigned char smem_row[];
  __shared__ A red[32];
  vec<T, V>* buf = reinterpret_cast<vec<T, V>*>(smem_row);
  pdl_begin();
  const int64_t row = blockIdx.x;
  const int nv = int(n / V);  // n * sizeof(T) <= kSmemRowBytes
  const vec<T, V>* rin = reinterpret_cast<const vec<T, V>*>(in + row * n);
  A mx = neg_inf<A>();
  for (int j = threadIdx.x; j < nv; j += kSmemThreads) {
    const vec<T, V> v = rin[j];
    buf[j] = v;
#pragma unroll
    for (int k = 0; k < V; ++k) mx = max_nan(mx, static_cast<A>(v.v[k]));
  }
  mx = group_reduce(mx, kSmemThreads, Max{}, red);
  A sum = 0;
  for (int j = threadIdx.x; j < nv; j += kSmemThreads) {
    const vec<T, V> v = buf[j];
#pragma unroll
    for (int k = 0; k < V; ++k) sum += exp_row<O>(static_cast<A>(v.v[k]) - mx);
  }
  sum = group_reduce(sum, kSmemThreads, Sum{}, red);
  const bool zero = safe && mx == neg_inf<A>();
  const A lse = log_(sum), inv = A(1) / sum;
  O* rout = out + row * n;
  for (int j = threadIdx.x; j < nv; j += kSmemThreads) {
    const vec<T, V> v = buf[j];
    A r[V];
#pragma unroll
    for (int k = 0; k < V; ++k) r[k] = softmax_value<O>(static_cast<A>(v.v[k]), mx, lse, inv, log, zero);
    store_vec<V>(rout, j, r);
  }
}

// Block (row, chunk) of the split path: its chunk's (max, sum) into part[row * chunks + chunk].
template <class T, class O, int V>
__global__ void __launch_bounds__(kSplitThreads)
softmax_partial_kernel(const T* __restrict__ in, int64_t n, int64_t chunk, int64_t chunks,
                       opmath_t<T>* __restrict__ part_m, opmath_t<T>* __restrict__ part_s) {
  using A = opmath_t<T>;
  pdl_begin();
  const int64_t row = blockIdx.x / chunks, c = blockIdx.x % chunks;
  const T* rin = in + row * n;
  const int64_t begin = c * chunk, end = begin + chunk < n ? begin + chunk : n;  // multiples of V
  MaxSum<A> acc{neg_inf<A>(), A(0)};
  for (int64_t j = begin / V + threadIdx.x; j < end / V; j += kSplitThreads) {
    A x[V];
    load_vec<V>(rin, j, x);
#pragma unroll
    for (int k = 0; k < V; ++k) acc.template add<O>(x[k]);
  }
  acc = block_combine(acc);
  if (threadIdx.x == 0) part_m[blockIdx.x] = acc.m, part_s[blockIdx.x] = acc.s;
}

template <class T, class O, int V>
__global__ void __launch_bounds__(kSplitThreads)
softmax_finish_kernel(const T* __restrict__ in, O* __restrict__ out, int64_t n, int64_t chunk,
                      int64_t chunks, const opmath_t<T>* __restrict__ part_m,
                      const opmath_t<T>* __restrict__ part_s, bool log, bool safe) {
  using A = opmath_t<T>;
  __shared__ A total_m, total_s;
  pdl_begin();
  const int64_t row = blockIdx.x / chunks, c = blockIdx.x % chunks;
  MaxSum<A> acc{neg_inf<A>(), A(0)};
  for (int64_t p = threadIdx.x; p < chunks; p += kSplitThreads)
    acc.add(MaxSum<A>{part_m[row * chunks + p], part_s[row * chunks + p]});
  acc = block_combine(acc);
  if (threadIdx.x == 0) total_m = acc.m, total_s = acc.s;
  __syncthreads();
  const A mx = total_m, sum = total_s;
  const bool zero = safe && mx == neg_inf<A>();
  const A lse = log_(sum), inv = A(1) / sum;
  const T* rin = in + row * n;
  O* rout = out + row * n;
  const int64_t begin = c * chunk, end = begin + chunk < n ? begin + chunk : n;
  for (int64_t j = begin / V + threadIdx.x; j < end / V; j += kSplitThreads) {
    A x[V];
    load_vec<V>(rin, j, x);
#pragma unroll
    for (int k = 0; k < V; ++k) x[k] = softmax_value<O>(x[k], mx, lse, inv, log, zero);
    store_vec<V>(rout, j, x);
  }
}

// ---- backward ---------------------------------------------------------------------------------
// grad_input = log ? g - exp(y) * sum(g) : y * (g - sum(g * y))
template <class O, class A>
__device__ __forceinline__ A softmax_grad(A g, A y, A dot, bool log) {
  return log ? g - exp_row<O>(y) * dot : y * (g - dot);
}

// A persistent walk over row groups as softmax_reg_kernel's; the rows stay in registers in their
// own dtype (half the registers of fp32 for 2-byte types).
template <class T, class O, int V, int MaxV>
__global__ void __launch_bounds__(kMaxRowThreads)
softmax_bwd_reg_kernel(const T* __restrict__ grad, const T* __restrict__ output, O* __restrict__ gi,
                       int64_t rows, int64_t n, int group, bool log) {
  using A = opmath_t<T>;
  // The next row's loads go out before this row's reduction (load_ahead); else a block a row
  // group, as the loop's 64-bit state spilled (launched so: softmax_bwd_rows).
  constexpr bool ahead = load_ahead<T, V, MaxV>;
  __shared__ A smem[32];
  pdl_begin();
  const int lane = threadIdx.x % group, rpb = blockDim.x / group;
  const int64_t first = int64_t(blockIdx.x) * rpb, step = int64_t(gridDim.x) * rpb;
  const int nv = int(n / V);  // <= kRegisterRow
  bits_t<T, V> gn[MaxV], yn[MaxV];  // (vectors of this thread): the next row of grad and output
  if constexpr (ahead) {
    load_row(grad, first + threadIdx.x / group, rows, n, lane, group, nv, gn);
    load_row(output, first + threadIdx.x / group, rows, n, lane, group, nv, yn);
  }
  // base is the same for all of the block's threads: each calls group_reduce as often
  for (int64_t base = first; base < rows; base += step) {
    const int64_t row = base + threadIdx.x / group;
    const bool active = row < rows;  // false only in the block's last trip
    bits_t<T, V> g[MaxV], y[MaxV];  // (vectors of this thread)
#pragma unroll
    for (int i = 0; i < MaxV; ++i) {
      const int j = lane + i * group;
      if (active && j < nv) {
        if constexpr (ahead) {
          g[i] = gn[i], y[i] = yn[i];
        } else {
          g[i] = reinterpret_cast<const bits_t<T, V>*>(grad + row * n)[j];
          y[i] = reinterpret_cast<const bits_t<T, V>*>(output + row * n)[j];
        }
      }
    }
    if constexpr (ahead) {
      load_row(grad, row + step, rows, n, lane, group, nv, gn);
      load_row(output, row + step, rows, n, lane, group, nv, yn);
    }
    A dot = 0;
#pragma unroll
    for (int i = 0; i < MaxV; ++i) {
      const int j = lane + i * group;
      if (active && j < nv) {
        const vec<T, V> gv = unpack<T, V>(g[i]), yv = unpack<T, V>(y[i]);
#pragma unroll
        for (int k = 0; k < V; ++k) {
          const A gk = static_cast<A>(gv.v[k]);
          dot += log ? gk : gk * static_cast<A>(yv.v[k]);
        }
      }
    }
    dot = group_reduce(dot, group, Sum{}, smem);
    if (active) {
      O* rgi = gi + row * n;
#pragma unroll
      for (int i = 0; i < MaxV; ++i) {
        const int j = lane + i * group;
        if (j < nv) {
          const vec<T, V> gv = unpack<T, V>(g[i]), yv = unpack<T, V>(y[i]);
          A r[V];
#pragma unroll
          for (int k = 0; k < V; ++k)
            r[k] = softmax_grad<O>(static_cast<A>(gv.v[k]), static_cast<A>(yv.v[k]), dot, log);
          store_vec<V>(rgi, j, r);
        }
      }
    }
    if constexpr (!ahead) break;
  }
}

template <class T, int V>
__global__ void __launch_bounds__(kSplitThreads)
softmax_bwd_partial_kernel(const T* __restrict__ grad, const T* __restrict__ output, int64_t n,
                           int64_t chunk, int64_t chunks, opmath_t<T>* __restrict__ part, bool log) {
  using A = opmath_t<T>;
  pdl_begin();
  const int64_t row = blockIdx.x / chunks, c = blockIdx.x % chunks;
  const int64_t begin = c * chunk, end = begin + chunk < n ? begin + chunk : n;
  A dot = 0;
  for (int64_t j = begin / V + threadIdx.x; j < end / V; j += kSplitThreads) {
    A g[V], y[V];
    load_vec<V>(grad + row * n, j, g);
    if (!log) load_vec<V>(output + row * n, j, y);
#pragma unroll
    for (int k = 0; k < V; ++k) dot += log ? g[k] : g[k] * y[k];
  }
  dot = block_sum(dot);
  if (threadIdx.x == 0) part[blockIdx.x] = dot;
}

template <class T, class O, int V>
__global__ void __launch_bounds__(kSplitThreads)
softmax_bwd_finish_kernel(const T* __restrict__ grad, const T* __restrict__ output, O* __restrict__ gi,
                          int64_t n, int64_t chunk, int64_t chunks,
                          const opmath_t<T>* __restrict__ part, bool log) {
  using A = opmath_t<T>;
  pdl_begin();
  const int64_t row = blockIdx.x / chunks, c = blockIdx.x % chunks;
  A dot = 0;
  for (int64_t p = threadIdx.x; p < chunks; p += kSplitThreads) dot += part[row * chunks + p];
  dot = block_sum(dot);
  const int64_t begin = c * chunk, end = begin + chunk < n ? begin + chunk : n;
  for (int64_t j = begin / V + threadIdx.x; j < end / V; j += kSplitThreads) {
    A g[V], y[V];
    load_vec<V>(grad + row * n, j, g);
    load_vec<V>(output + row * n, j, y);
#pragma unroll
    for (int k = 0; k < V; ++k) g[k] = softmax_grad<O>(g[k], y[k], dot, log);
    store_vec<V>(gi + row * n, j, g);
  }
}

// ---- a non-last dim: [outer, n, inner] ----------------------------------------------------------
// Block (o, tile, split): 32 x V columns of one outer slice, the n elements split over blocks
// (splits) and, inside a block, over kStridedY threads. The partial kernel writes per (split,
// column) partials; the finish kernel combines its columns' partials in a fixed order and writes
// its rows of the split.
struct Cols {
  int64_t n, inner, tiles, splits, rows_per_split;
};

struct ColPos {
  int64_t o, split, vcol, begin, end;  // vcol: the thread's column in vectors of V
  bool valid;
};

template <int V> __device__ __forceinline__ ColPos col_pos(const Cols& c) {
  const int tx = threadIdx.x % kStridedX;
  const int64_t b = blockIdx.x, split = b % c.splits, rest = b / c.splits;
  const int64_t tile = rest % c.tiles, o = rest / c.tiles;
  const int64_t vcol = tile * kStridedX + tx;
  const int64_t begin = split * c.rows_per_split;
  const int64_t end = begin + c.rows_per_split < c.n ? begin + c.rows_per_split : c.n;
  return {o, split, vcol, begin, end, vcol * V < c.inner};
}

template <class T, class O, int V>
__global__ void __launch_bounds__(kStridedX * kStridedY)
softmax_cols_partial_kernel(const T* __restrict__ in, Cols c, opmath_t<T>* __restrict__ part_m,
                            opmath_t<T>* __restrict__ part_s) {
  using A = opmath_t<T>;
  __shared__ A sm[kStridedY][kStridedX * V], ss[kStridedY][kStridedX * V];
  pdl_begin();
  const int tx = threadIdx.x % kStridedX, ty = threadIdx.x / kStridedX;
  const ColPos q = col_pos<V>(c);
  MaxSum<A> acc[V];
#pragma unroll
  for (int k = 0; k < V; ++k) acc[k] = {neg_inf<A>(), A(0)};
  if (q.valid)
    for (int64_t j = q.begin + ty; j < q.end; j += kStridedY) {
      A x[V];
      load_vec<V>(in + (q.o * c.n + j) * c.inner, q.vcol, x);
#pragma unroll
      for (int k = 0; k < V; ++k) acc[k].template add<O>(x[k]);
    }
#pragma unroll
  for (int k = 0; k < V; ++k) sm[ty][tx * V + k] = acc[k].m, ss[ty][tx * V + k] = acc[k].s;
  __syncthreads();
  if (ty != 0 || !q.valid) return;
  const int64_t at = (q.o * c.splits + q.split) * c.inner + q.vcol * V;
#pragma unroll
  for (int k = 0; k < V; ++k) {
    MaxSum<A> t{sm[0][tx * V + k], ss[0][tx * V + k]};
    for (int y = 1; y < kStridedY; ++y) t.add(MaxSum<A>{sm[y][tx * V + k], ss[y][tx * V + k]});
    part_m[at + k] = t.m, part_s[at + k] = t.s;
  }
}

template <class T, class O, int V>
__global__ void __launch_bounds__(kStridedX * kStridedY)
softmax_cols_finish_kernel(const T* __restrict__ in, O* __restrict__ out, Cols c,
                           const opmath_t<T>* __restrict__ part_m, const opmath_t<T>* __restrict__ part_s,
                           bool log, bool safe) {
  using A = opmath_t<T>;
  __shared__ A sm[kStridedY][kStridedX * V], ss[kStridedY][kStridedX * V];
  pdl_begin();
  const int tx = threadIdx.x % kStridedX, ty = threadIdx.x / kStridedX;
  const ColPos q = col_pos<V>(c);
  MaxSum<A> acc[V];
#pragma unroll
  for (int k = 0; k < V; ++k) acc[k] = {neg_inf<A>(), A(0)};
  if (q.valid)
    for (int64_t s = ty; s < c.splits; s += kStridedY) {
      const int64_t at = (q.o * c.splits + s) * c.inner + q.vcol * V;
#pragma unroll
      for (int k = 0; k < V; ++k) acc[k].add(MaxSum<A>{part_m[at + k], part_s[at + k]});
    }
#pragma unroll
  for (int k = 0; k < V; ++k) sm[ty][tx * V + k] = acc[k].m, ss[ty][tx * V + k] = acc[k].s;
  __syncthreads();
  if (ty == 0) {
#pragma unroll
    for (int k = 0; k < V; ++k) {
      MaxSum<A> t{sm[0][tx * V + k], ss[0][tx * V + k]};
      for (int y = 1; y < kStridedY; ++y) t.add(MaxSum<A>{sm[y][tx * V + k], ss[y][tx * V + k]});
      sm[0][tx * V + k] = t.m, ss[0][tx * V + k] = t.s;
    }
  }
  __syncthreads();
  if (!q.valid) return;
  A mx[V], lse[V], inv[V];
  bool zero[V];
#pragma unroll
  for (int k = 0; k < V; ++k) {
    mx[k] = sm[0][tx * V + k];
    lse[k] = log_(ss[0][tx * V + k]);
    inv[k] = A(1) / ss[0][tx * V + k];
    zero[k] = safe && mx[k] == neg_inf<A>();
  }
  for (int64_t j = q.begin + ty; j < q.end; j += kStridedY) {
    const int64_t row = (q.o * c.n + j) * c.inner;
    A x[V];
    load_vec<V>(in + row, q.vcol, x);
#pragma unroll
    for (int k = 0; k < V; ++k) x[k] = softmax_value<O>(x[k], mx[k], lse[k], inv[k], log, zero[k]);
    store_vec<V>(out + row, q.vcol, x);
  }
}

template <class T, int V>
__global__ void __launch_bounds__(kStridedX * kStridedY)
softmax_bwd_cols_partial_kernel(const T* __restrict__ grad, const T* __restrict__ output, Cols c,
                                opmath_t<T>* __restrict__ part, bool log) {
  using A = opmath_t<T>;
  __shared__ A sd[kStridedY][kStridedX * V];
  pdl_begin();
  const int tx = threadIdx.x % kStridedX, ty = threadIdx.x / kStridedX;
  const ColPos q = col_pos<V>(c);
  A dot[V];
#pragma unroll
  for (int k = 0; k < V; ++k) dot[k] = A(0);
  if (q.valid)
    for (int64_t j = q.begin + ty; j < q.end; j += kStridedY) {
      const int64_t row = (q.o * c.n + j) * c.inner;
      A g[V], y[V];
      load_vec<V>(grad + row, q.vcol, g);
      if (!log) load_vec<V>(output + row, q.vcol, y);
#pragma unroll
      for (int k = 0; k < V; ++k) dot[k] += log ? g[k] : g[k] * y[k];
    }
#pragma unroll
  for (int k = 0; k < V; ++k) sd[ty][tx * V + k] = dot[k];
  __syncthreads();
  if (ty != 0 || !q.valid) return;
  const int64_t at = (q.o * c.splits + q.split) * c.inner + q.vcol * V;
#pragma unroll
  for (int k = 0; k < V; ++k) {
    A t = sd[0][tx * V + k];
    for (int y = 1; y < kStridedY; ++y) t += sd[y][tx * V + k];
    part[at + k] = t;
  }
}

template <class T, class O, int V>
__global__ void __launch_bounds__(kStridedX * kStridedY)
softmax_bwd_cols_finish_kernel(const T* __restrict__ grad, const T* __restrict__ output, O* __restrict__ gi,
                               Cols c, const opmath_t<T>* __restrict__ part, bool log) {
  using A = opmath_t<T>;
  __shared__ A sd[kStridedY][kStridedX * V];
  pdl_begin();
  const int tx = threadIdx.x % kStridedX, ty = threadIdx.x / kStridedX;
  const ColPos q = col_pos<V>(c);
  A dot[V];
#pragma unroll
  for (int k = 0; k < V; ++k) dot[k] = A(0);
  if (q.valid)
    for (int64_t s = ty; s < c.splits; s += kStridedY) {
      const int64_t at = (q.o * c.splits + s) * c.inner + q.vcol * V;
#pragma unroll
      for (int k = 0; k < V; ++k) dot[k] += part[at + k];
    }
#pragma unroll
  for (int k = 0; k < V; ++k) sd[ty][tx * V + k] = dot[k];
  __syncthreads();
  if (ty == 0) {
#pragma unroll
    for (int k = 0; k < V; ++k) {
      A t = sd[0][tx * V + k];
      for (int y = 1; y < kStridedY; ++y) t += sd[y][tx * V + k];
      sd[0][tx * V + k] = t;
    }
  }
  __syncthreads();
  if (!q.valid) return;
#pragma unroll
  for (int k = 0; k < V; ++k) dot[k] = sd[0][tx * V + k];
  for (int64_t j = q.begin + ty; j < q.end; j += kStridedY) {
    const int64_t row = (q.o * c.n + j) * c.inner;
    A g[V], y[V];
    load_vec<V>(grad + row, q.vcol, g);
    load_vec<V>(output + row, q.vcol, y);
#pragma unroll
    for (int k = 0; k < V; ++k) g[k] = softmax_grad<O>(g[k], y[k], dot[k], log);
    store_vec<V>(gi + row, q.vcol, g);
  }
}

// ---- launchers --------------------------------------------------------------------------------
template <class T> constexpr int kVec = 16 / sizeof(T);

// Chunk of the split path: kSplitThreads * 2 vectors.
template <class T> int64_t split_chunk(int v) { return int64_t(kSplitThreads) * 2 * v; }

c10::DataPtr workspace(size_t bytes) {
  return c10::cuda::CUDACachingAllocator::get()->allocate(bytes);
}

// The split of a [outer, n, inner] problem: about 4 blocks per SM, each at least kStridedY rows.
template <int V> Cols cols_for(int64_t outer, int64_t n, int64_t inner) {
  const int64_t tiles = (inner / V + kStridedX - 1) / kStridedX;
  const int64_t base = outer * tiles, target = int64_t(sm_count()) * 4;
  int64_t splits = (target + base - 1) / base;
  const int64_t most = (n + kStridedY - 1) / kStridedY;
  splits = splits < 1 ? 1 : splits > most ? most : splits;
  const int64_t rps = (n + splits - 1) / splits;
  return {n, inner, tiles, (n + rps - 1) / rps, rps};
}

template <class T, class O, int V> void softmax_fwd_cols(const SoftmaxFwd& p) {
  using A = opmath_t<T>;
  const Cols c = cols_for<V>(p.outer, p.n, p.inner);
  const int64_t blocks = p.outer * c.tiles * c.splits;
  c10::DataPtr ws = workspace(sizeof(A) * 2 * p.outer * c.splits * p.inner);
  A* part_m = static_cast<A*>(ws.get());
  A* part_s = part_m + p.outer * c.splits * p.inner;
  const T* in = static_cast<const T*>(p.in);
  launch(softmax_cols_partial_kernel<T, O, V>, dim3(unsigned(blocks)), dim3(kStridedX * kStridedY), in, c,
         part_m, part_s);
  launch(softmax_cols_finish_kernel<T, O, V>, dim3(unsigned(blocks)), dim3(kStridedX * kStridedY), in,
         static_cast<O*>(p.out), c, static_cast<const A*>(part_m), static_cast<const A*>(part_s), p.log,
         p.safe);
}

template <class T, class O, int V> void softmax_bwd_cols(const SoftmaxBwd& p) {
  using A = opmath_t<T>;
  const Cols c = cols_for<V>(p.outer, p.n, p.inner);
  const int64_t blocks = p.outer * c.tiles * c.splits;
  c10::DataPtr ws = workspace(sizeof(A) * p.outer * c.splits * p.inner);
  A* part = static_cast<A*>(ws.get());
  const T* g = static_cast<const T*>(p.grad);
  const T* y = static_cast<const T*>(p.output);
  launch(softmax_bwd_cols_partial_kernel<T, V>, dim3(unsigned(blocks)), dim3(kStridedX * kStridedY), g, y,
         c, part, p.log);
  launch(softmax_bwd_cols_finish_kernel<T, O, V>, dim3(unsigned(blocks)), dim3(kStridedX * kStridedY), g,
         y, static_cast<O*>(p.grad_input), c, static_cast<const A*>(part), p.log);
}

template <class T, class O, int V>
void softmax_fwd_rows(const SoftmaxFwd& p, int64_t rows) {
  using A = opmath_t<T>;
  const T* in = static_cast<const T*>(p.in);
  O* out = static_cast<O*>(p.out);
  if (p.n <= kRegisterRow<T>) {
    constexpr int MaxV = kElems<T> / V;
    const RowMap m = row_map(p.n / V, MaxV);
    const int64_t row_groups = (rows + m.rows_per_block - 1) / m.rows_per_block;
    const int64_t blocks = row_grid<softmax_reg_kernel<T, O, V, MaxV>>(row_groups, m.threads);
    launch(softmax_reg_kernel<T, O, V, MaxV>, dim3(unsigned(blocks)), dim3(m.threads), in, out,
           rows, p.n, m.group, p.log, p.safe);
    return;
  }
  const int64_t row_bytes = p.n * int64_t(sizeof(T));
  if (row_bytes <= kSmemRowBytes) {
    launch_smem(softmax_smem_kernel<T, O, V>, dim3(unsigned(rows)), dim3(kSmemThreads), size_t(row_bytes),
                in, out, p.n, p.log, p.safe);
    return;
  }
  const int64_t chunk = split_chunk<T>(V), chunks = (p.n + chunk - 1) / chunk;
  c10::DataPtr ws = workspace(sizeof(A) * 2 * rows * chunks);
  A* part_m = static_cast<A*>(ws.get());
  A* part_s = part_m + rows * chunks;
  launch(softmax_partial_kernel<T, O, V>, dim3(unsigned(rows * chunks)), dim3(kSplitThreads), in, p.n,
         chunk, chunks, part_m, part_s);
  launch(softmax_finish_kernel<T, O, V>, dim3(unsigned(rows * chunks)), dim3(kSplitThreads), in, out,
         p.n, chunk, chunks, static_cast<const A*>(part_m), static_cast<const A*>(part_s), p.log, p.safe);
}

template <class T, class O> void softmax_fwd_typed(const SoftmaxFwd& p) {
  if (p.outer == 0 || p.n == 0 || p.inner == 0) return;
  constexpr int V = kVec<T>;
  if (p.inner > 1) {
    const bool vec = p.inner % V == 0 && aligned(p.in, sizeof(T) * V) && aligned(p.out, sizeof(O) * V);
    if (vec) softmax_fwd_cols<T, O, V>(p);
    else softmax_fwd_cols<T, O, 1>(p);
    return;
  }
  const bool vec = p.n % V == 0 && aligned(p.in, sizeof(T) * V) && aligned(p.out, sizeof(O) * V);
  if (vec) softmax_fwd_rows<T, O, V>(p, p.outer);
  else softmax_fwd_rows<T, O, 1>(p, p.outer);
}

template <class T, class O, int V>
void softmax_bwd_rows(const SoftmaxBwd& p, int64_t rows) {
  using A = opmath_t<T>;
  const T* g = static_cast<const T*>(p.grad);
  const T* y = static_cast<const T*>(p.output);
  O* gi = static_cast<O*>(p.grad_input);
  if (p.n <= kRegisterRow<T>) {
    constexpr int MaxV = kElems<T> / V;
    const RowMap m = row_map(p.n / V, MaxV);
    const int64_t row_groups = (rows + m.rows_per_block - 1) / m.rows_per_block;
    const int64_t blocks = load_ahead<T, V, MaxV>
                               ? row_grid<softmax_bwd_reg_kernel<T, O, V, MaxV>>(row_groups, m.threads)
                               : row_groups;
    launch(softmax_bwd_reg_kernel<T, O, V, MaxV>, dim3(unsigned(blocks)), dim3(m.threads), g, y, gi,
           rows, p.n, m.group, p.log);
    return;
  }
  const int64_t chunk = split_chunk<T>(V), chunks = (p.n + chunk - 1) / chunk;
  c10::DataPtr ws = workspace(sizeof(A) * rows * chunks);
  A* part = static_cast<A*>(ws.get());
  launch(softmax_bwd_partial_kernel<T, V>, dim3(unsigned(rows * chunks)), dim3(kSplitThreads), g, y,
         p.n, chunk, chunks, part, p.log);
  launch(softmax_bwd_finish_kernel<T, O, V>, dim3(unsigned(rows * chunks)), dim3(kSplitThreads), g, y,
         gi, p.n, chunk, chunks, static_cast<const A*>(part), p.log);
}

template <class T, class O> void softmax_bwd_typed(const SoftmaxBwd& p) {
  if (p.outer == 0 || p.n == 0 || p.inner == 0) return;
  constexpr int V = kVec<T>;
  if (p.inner > 1) {
    const bool vec = p.inner % V == 0 && aligned(p.grad, sizeof(T) * V) &&
                     aligned(p.output, sizeof(T) * V) && aligned(p.grad_input, sizeof(O) * V);
    if (vec) softmax_bwd_cols<T, O, V>(p);
    else softmax_bwd_cols<T, O, 1>(p);
    return;
  }
  const bool vec = p.n % V == 0 && aligned(p.grad, sizeof(T) * V) && aligned(p.output, sizeof(T) * V) &&
                   aligned(p.grad_input, sizeof(O) * V);
  if (vec) softmax_bwd_rows<T, O, V>(p, p.outer);
  else softmax_bwd_rows<T, O, 1>(p, p.outer);
}

}  // namespace
}  // namespace gemforge::rows::cuda

namespace gemforge::rows {
using namespace cuda;

void softmax_fwd_cuda(const SoftmaxFwd& p) {
  if (p.in_dtype == ScalarType::Half && p.out_dtype == ScalarType::Float) {
    softmax_fwd_typed<c10::Half, float>(p);
    return;
  }
  dispatch_dtype<kRowTypes>(p.in_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_fwd_typed<T, T>(p);
  });
}

void softmax_bwd_cuda(const SoftmaxBwd& p) {
  if (p.dtype == ScalarType::Float && p.out_dtype == ScalarType::Half) {
    softmax_bwd_typed<float, c10::Half>(p);
    return;
  }
  dispatch_dtype<kRowTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_bwd_typed<T, T>(p);
  });
}

}  // namespace gemforge::rows
