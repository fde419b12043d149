// cuda kernels of layer_norm and rms_norm, forward and backward (engine/rows.h). Rows up to
// kRegisterRow elements stay in registers (rows.cuh); longer rows take the loop kernels (a block
// per row, the row read once per pass) and norm_param_grad_kernel for dweight / dbias.
//   norm_fwd_kernel   mean (layer norm), then the sum of squares about it (stable), y, stats;
//                     a persistent grid, the next row's loads in flight (row_grid)
//   norm_bwd_kernel   a persistent grid: each block walks its rows, writes dx, and keeps its
//                     columns' sums of g * xhat and g in registers; they land in one partial row
//                     per (block, row slot) and column_sum_kernel adds the partials in a fixed
//                     order (deterministic dweight / dbias, no atomics)
#include "backends/cuda/rows.cuh"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

namespace gemforge::rows::cuda {
namespace {

constexpr int kColX = 32, kColY = 16;

// A persistent walk over row groups (row_grid): raw holds the next row's vectors, loaded before
// this row's reductions so that they are in flight while it reduces and stores.
template <class T, class S, int V, int MaxV>
__global__ void __launch_bounds__(kMaxRowThreads)
norm_fwd_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                T* __restrict__ y, S* __restrict__ mean, S* __restrict__ rstd, int64_t rows,
                int64_t n, int group, opmath_t<T> eps, bool rms) {
  using A = opmath_t<T>;
  __shared__ A smem[32];
  pdl_begin();
  const int lane = threadIdx.x % group, rpb = blockDim.x / group;
  const int64_t first = int64_t(blockIdx.x) * rpb, step = int64_t(gridDim.x) * rpb;
  const int nv = int(n / V);  // <= kRegisterRow
  // The next row's loads go out before this row's reductions (load_ahead); else each row's loads
  // go out in its own trip, straight into floats (raw's copy spilled).
  constexpr bool ahead = load_ahead<T, V, MaxV>;
  bits_t<T, V> raw[MaxV];  // (vectors of this thread)
  if constexpr (ahead) load_row(x, first + threadIdx.x / group, rows, n, lane, group, nv, raw);
  // base is the same for all of the block's threads: each calls group_reduce as often
  for (int64_t base = first; base < rows; base += step) {
    const int64_t row = base + threadIdx.x / group;
    const bool active = row < rows;  // false only in the block's last trip
    A v[MaxV][V];  // (vectors of this thread, V)
    if constexpr (ahead) {
      unpack_row<T>(raw, active, lane, group, nv, v);
    } else {
#pragma unroll
      for (int i = 0; i < MaxV; ++i) {
        const int j = lane + i * group;
        if (active && j < nv) load_vec<V>(x + row * n, j, v[i]);
      }
    }
    if constexpr (ahead) load_row(x, row + step, rows, n, lane, group, nv, raw);
    A sum = 0;
#pragma unroll
    for (int i = 0; i < MaxV; ++i) {
      const int j = lane + i * group;
      if (active && j < nv) {
#pragma unroll
        for (int k = 0; k < V; ++k) sum += v[i][k];
      }
    }
    A mu = 0;
    if (!rms) mu = group_reduce(sum, group, Sum{}, smem) / static_cast<A>(n);
    A ss = 0;
#pragma unroll
    for (int i = 0; i < MaxV; ++i) {
      const int j = lane + i * group;
      if (active && j < nv) {
#pragma unroll
        for (int k = 0; k < V; ++k) {
          v[i][k] -= mu;
          ss += v[i][k] * v[i][k];
        }
      }
    }
    ss = group_reduce(ss, group, Sum{}, smem);
    if (!active) continue;  // the block's last trip
    const A rs = rsqrt_(ss / static_cast<A>(n) + eps);
    if (lane == 0) {
      if (mean) mean[row] = static_cast<S>(mu);
      rstd[row] = static_cast<S>(rs);
    }
    const int64_t off = row * n;
#pragma unroll
    for (int i = 0; i < MaxV; ++i) {
      const int j = lane + i * group;
      if (j < nv) {
        A wv[V], bv[V];
        if (w) load_vec<V>(w, j, wv);
        if (b) load_vec<V>(b, j, bv);
#pragma unroll
        for (int k = 0; k < V; ++k) {
          A r = v[i][k] * rs;
          if (w) r *= wv[k];
          if (b) r += bv[k];
          v[i][k] = r;
        }
        store_vec<V>(y + off, j, v[i]);
      }
    }
  }
}

// Vector j of the weight, or ones.
template <int V, class T, class A>
__device__ __forceinline__ void load_weight(const T* w, int j, A (&out)[V]) {
  if (w) {
    load_vec<V>(w, j, out);
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) out[k] = A(1);
  }
}

// dx = rstd * (g*w - mean(g*w) - xhat * mean(g*w*xhat)) (rms: without mean(g*w));
// part_w / part_b (null: not wanted): this block's sums of g * xhat and g, one row per slot.
template <class T, class S, int V, int MaxV>
__global__ void __launch_bounds__(kMaxRowThreads)
norm_bwd_kernel(const T* __restrict__ grad, const T* __restrict__ x, const S* __restrict__ mean,
                const S* __restrict__ rstd, const T* __restrict__ w, T* __restrict__ dx,
                opmath_t<T>* __restrict__ part_w, opmath_t<T>* __restrict__ part_b, int64_t rows,
                int64_t n, int group) {
  using A = opmath_t<T>;
  __shared__ A smem[32];
  pdl_begin();
  const int rpb = blockDim.x / group;
  const int lane = threadIdx.x % group, slot = threadIdx.x / group;
  const int nv = int(n / V);  // <= kRegisterRow
  const int64_t row_groups = (rows + rpb - 1) / rpb;
  const A inv_n = A(1) / static_cast<A>(n);
  A acc_w[MaxV][V], acc_b[MaxV][V];  // (vectors of this thread, V): its columns' sums
#pragma unroll
  for (int i = 0; i < MaxV; ++i)
#pragma unroll
    for (int k = 0; k < V; ++k) acc_w[i][k] = A(0), acc_b[i][k] = A(0);
  for (int64_t rg = blockIdx.x; rg < row_groups; rg += gridDim.x) {
    const int64_t row = rg * rpb + slot;
    const bool active = row < rows;
    const int64_t off = (active ? row : 0) * n;
    const A mu = (active && mean) ? static_cast<A>(mean[row]) : A(0);
    const A rs = active ? static_cast<A>(rstd[row]) : A(0);
    // The row is read twice: the second time from L1/L2 (registers hold the column sums).
    A sum_gw = 0, sum_gwx = 0;
#pragma unroll
    for (int i = 0; i < MaxV; ++i) {
      const int j = lane + i * group;
      if (active && j < nv) {
        A g[V], xh[V], wv[V];
        load_vec<V>(grad + off, j, g);
        load_vec<V>(x + off, j, xh);
        load_weight<V>(w, j, wv);
#pragma unroll
        for (int k = 0; k < V; ++k) {
          xh[k] = (xh[k] - mu) * rs;
          const A gw = g[k] * wv[k];
          sum_gw += gw;
          sum_gwx += gw * xh[k];
          acc_w[i][k] += g[k] * xh[k];
          acc_b[i][k] += g[k];
        }
      }
    }
    if (dx) {
      if (!mean) sum_gw = 0;
      else sum_gw = group_reduce(sum_gw, group, Sum{}, smem);
      sum_gwx = group_reduce(sum_gwx, group, Sum{}, smem);
      if (active) {
#pragma unroll
        for (int i = 0; i < MaxV; ++i) {
          const int j = lane + i * group;
          if (j < nv) {
            A g[V], xh[V], wv[V];
            load_vec<V>(grad + off, j, g);
            load_vec<V>(x + off, j, xh);
            load_weight<V>(w, j, wv);
#pragma unroll
            for (int k = 0; k < V; ++k)
              g[k] = rs * (g[k] * wv[k] - sum_gw * inv_n - (xh[k] - mu) * rs * sum_gwx * inv_n);
            store_vec<V>(dx + off, j, g);
          }
        }
      }
    }
  }
  const int64_t p = int64_t(blockIdx.x) * rpb + slot;
#pragma unroll
  for (int i = 0; i < MaxV; ++i) {
    const int j = lane + i * group;
    if (j < nv) {
      if (part_w) store_vec<V>(part_w + p * n, j, acc_w[i]);
      if (part_b) store_vec<V>(part_b + p * n, j, acc_b[i]);
    }
  }
}

// out[c] = sum over p of part[p * n + c], p in a fixed order.
template <class T, class A>
__global__ void __launch_bounds__(kColX * kColY)
column_sum_kernel(const A* __restrict__ part, int64_t parts, int64_t n, T* __restrict__ out) {
  __shared__ A sm[kColY][kColX + 1];
  pdl_begin();
  const int tx = threadIdx.x % kColX, ty = threadIdx.x / kColX;
  const int64_t col = int64_t(blockIdx.x) * kColX + tx;
  A s = 0;
  if (col < n)
    for (int64_t p = ty; p < parts; p += kColY) s += part[p * n + col];
  sm[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && col < n) {
    A t = sm[0][tx];
    for (int y = 1; y < kColY; ++y) t += sm[y][tx];
    out[col] = static_cast<T>(t);
  }
}

// ---- rows longer than the register path: a block per row, the row read in each pass (the later
// passes mostly hit L1/L2) -----------------------------------------------------------------------
constexpr int kLoopThreads = 512;

template <class T, class S, int V>
__global__ void __launch_bounds__(kLoopThreads)
norm_fwd_loop_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                     T* __restrict__ y, S* __restrict__ mean, S* __restrict__ rstd, int64_t n,
                     opmath_t<T> eps, bool rms) {
  using A = opmath_t<T>;
  __shared__ A smem[32];
  pdl_begin();
  const int64_t row = blockIdx.x, nv = n / V;
  const T* rx = x + row * n;
  A mu = 0;
  if (!rms) {
    A sum = 0;
    for (int64_t j = threadIdx.x; j < nv; j += kLoopThreads) {
      A v[V];
      load_vec<V>(rx, j, v);
#pragma unroll
      for (int k = 0; k < V; ++k) sum += v[k];
    }
    mu = group_reduce(sum, kLoopThreads, Sum{}, smem) / static_cast<A>(n);
  }
  A ss = 0;
  for (int64_t j = threadIdx.x; j < nv; j += kLoopThreads) {
    A v[V];
    load_vec<V>(rx, j, v);
#pragma unroll
    for (int k = 0; k < V; ++k) ss += (v[k] - mu) * (v[k] - mu);
  }
  ss = group_reduce(ss, kLoopThreads, Sum{}, smem);
  const A rs = rsqrt_(ss / static_cast<A>(n) + eps);
  if (threadIdx.x == 0) {
    if (mean) mean[row] = static_cast<S>(mu);
    rstd[row] = static_cast<S>(rs);
  }
  for (int64_t j = threadIdx.x; j < nv; j += kLoopThreads) {
    A v[V], wv[V], bv[V];
    load_vec<V>(rx, j, v);
    if (w) load_vec<V>(w, j, wv);
    if (b) load_vec<V>(b, j, bv);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      A r = (v[k] - mu) * rs;
      if (w) r *= wv[k];
      if (b) r += bv[k];
      v[k] = r;
    }
    store_vec<V>(y + row * n, j, v);
  }
}

// dx of one row per block (the formula of norm_bwd_kernel).
template <class T, class S, int V>
__global__ void __launch_bounds__(kLoopThreads)
norm_bwd_loop_kernel(const T* __restrict__ grad, const T* __restrict__ x, const S* __restrict__ mean,
                     const S* __restrict__ rstd, const T* __restrict__ w, T* __restrict__ dx, int64_t n) {
  using A = opmath_t<T>;
  __shared__ A smem[32];
  pdl_begin();
  const int64_t row = blockIdx.x, nv = n / V, off = row * n;
  const A mu = mean ? static_cast<A>(mean[row]) : A(0);
  const A rs = static_cast<A>(rstd[row]);
  const A inv_n = A(1) / static_cast<A>(n);
  A sum_gw = 0, sum_gwx = 0;
  for (int64_t j = threadIdx.x; j < nv; j += kLoopThreads) {
    A g[V], xh[V], wv[V];
    load_vec<V>(grad + off, j, g);
    load_vec<V>(x + off, j, xh);
    load_weight<V>(w, j, wv);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const A gw = g[k] * wv[k];
      sum_gw += gw;
      sum_gwx += gw * (xh[k] - mu) * rs;
    }
  }
  sum_gw = mean ? group_reduce(sum_gw, kLoopThreads, Sum{}, smem) : A(0);
  sum_gwx = group_reduce(sum_gwx, kLoopThreads, Sum{}, smem);
  for (int64_t j = threadIdx.x; j < nv; j += kLoopThreads) {
    A g[V], xh[V], wv[V];
    load_vec<V>(grad + off, j, g);
    load_vec<V>(x + off, j, xh);
    load_weight<V>(w, j, wv);
#pragma unroll
    for (int k = 0; k < V; ++k)
      g[k] = rs * (g[k] * wv[k] - sum_gw * inv_n - (xh[k] - mu) * rs * sum_gwx * inv_n);
    store_vec<V>(dx + off, j, g);
  }
}

// dweight[c] = sum over rows of g * xhat, dbias[c] = sum of g (null: not wanted); kColX columns
// a block, the rows split over kColY threads and added in a fixed order.
template <class T, class S>
__global__ void __launch_bounds__(kColX * kColY)
norm_param_grad_kernel(const T* __restrict__ grad, const T* __restrict__ x, const S* __restrict__ mean,
                       const S* __restrict__ rstd, int64_t rows, int64_t n, T* __restrict__ dweight,
                       T* __restrict__ dbias) {
  using A = opmath_t<T>;
  __shared__ A sw[kColY][kColX + 1], sb[kColY][kColX + 1];
  pdl_begin();
  const int tx = threadIdx.x % kColX, ty = threadIdx.x / kColX;
  const int64_t col = int64_t(blockIdx.x) * kColX + tx;
  A aw = 0, ab = 0;
  if (col < n)
    for (int64_t r = ty; r < rows; r += kColY) {
      const A g = static_cast<A>(grad[r * n + col]);
      const A mu = mean ? static_cast<A>(mean[r]) : A(0);
      aw += g * (static_cast<A>(x[r * n + col]) - mu) * static_cast<A>(rstd[r]);
      ab += g;
    }
  sw[ty][tx] = aw;
  sb[ty][tx] = ab;
  __syncthreads();
  if (ty == 0 && col < n) {
    A tw = sw[0][tx], tb = sb[0][tx];
    for (int yy = 1; yy < kColY; ++yy) tw += sw[yy][tx], tb += sb[yy][tx];
    if (dweight) dweight[col] = static_cast<T>(tw);
    if (dbias) dbias[col] = static_cast<T>(tb);
  }
}

template <class T> constexpr int kVec = 16 / sizeof(T);

template <class T, class S, int V> void norm_fwd_typed(const NormFwd& p) {
  if (p.n > kRegisterRow<T>) {
    launch(norm_fwd_loop_kernel<T, S, V>, dim3(unsigned(p.rows)), dim3(kLoopThreads),
           static_cast<const T*>(p.x), static_cast<const T*>(p.weight), static_cast<const T*>(p.bias),
           static_cast<T*>(p.y), static_cast<S*>(p.mean), static_cast<S*>(p.rstd), p.n,
           static_cast<opmath_t<T>>(p.eps), p.rms);
    return;
  }
  constexpr int MaxV = kElems<T> / V;
  const RowMap m = row_map(p.n / V, MaxV);
  const int64_t row_groups = (p.rows + m.rows_per_block - 1) / m.rows_per_block;
  const int64_t blocks = row_grid<norm_fwd_kernel<T, S, V, MaxV>>(row_groups, m.threads);
  launch(norm_fwd_kernel<T, S, V, MaxV>, dim3(unsigned(blocks)), dim3(m.threads),
         static_cast<const T*>(p.x), static_cast<const T*>(p.weight), static_cast<const T*>(p.bias),
         static_cast<T*>(p.y), static_cast<S*>(p.mean), static_cast<S*>(p.rstd), p.rows, p.n, m.group,
         static_cast<opmath_t<T>>(p.eps), p.rms);
}

template <class T, class S, int V> void norm_bwd_typed(const NormBwd& p) {
  using A = opmath_t<T>;
  if (p.n > kRegisterRow<T>) {
    if (p.dx)
      launch(norm_bwd_loop_kernel<T, S, V>, dim3(unsigned(p.rows)), dim3(kLoopThreads),
             static_cast<const T*>(p.grad), static_cast<const T*>(p.x), static_cast<const S*>(p.mean),
             static_cast<const S*>(p.rstd), static_cast<const T*>(p.weight), static_cast<T*>(p.dx), p.n);
    if (p.dweight || p.dbias)
      launch(norm_param_grad_kernel<T, S>, dim3(unsigned((p.n + kColX - 1) / kColX)), dim3(kColX * kColY),
             static_cast<const T*>(p.grad), static_cast<const T*>(p.x), static_cast<const S*>(p.mean),
             static_cast<const S*>(p.rstd), p.rows, p.n, static_cast<T*>(p.dweight),
             static_cast<T*>(p.dbias));
    return;
  }
  constexpr int MaxV = kElems<T> / V;
  const RowMap m = row_map(p.n / V, MaxV);
  const int64_t row_groups = (p.rows + m.rows_per_block - 1) / m.rows_per_block;
  const int64_t per_sm = m.threads >= 512 ? 1 : 512 / m.threads;
  const int64_t blocks = std::min<int64_t>(row_groups, sm_count() * per_sm);
  const int64_t parts = blocks * m.rows_per_block;
  const bool want_w = p.dweight != nullptr, want_b = p.dbias != nullptr;
  c10::DataPtr ws;
  A* part_w = nullptr;
  A* part_b = nullptr;
  if (want_w || want_b) {
    ws = c10::cuda::CUDACachingAllocator::get()->allocate(sizeof(A) * parts * p.n * (want_w + want_b));
    A* base = static_cast<A*>(ws.get());
    if (want_w) part_w = base;
    if (want_b) part_b = base + (want_w ? parts * p.n : 0);
  }
  launch(norm_bwd_kernel<T, S, V, MaxV>, dim3(unsigned(blocks)), dim3(m.threads),
         static_cast<const T*>(p.grad), static_cast<const T*>(p.x), static_cast<const S*>(p.mean),
         static_cast<const S*>(p.rstd), static_cast<const T*>(p.weight), static_cast<T*>(p.dx),
         part_w, part_b, p.rows, p.n, m.group);
  const dim3 col_blocks(unsigned((p.n + kColX - 1) / kColX));
  if (want_w)
    launch(column_sum_kernel<T, A>, col_blocks, dim3(kColX * kColY), static_cast<const A*>(part_w),
           parts, p.n, static_cast<T*>(p.dweight));
  if (want_b)
    launch(column_sum_kernel<T, A>, col_blocks, dim3(kColX * kColY), static_cast<const A*>(part_b),
           parts, p.n, static_cast<T*>(p.dbias));
}

}  // namespace
}  // namespace gemforge::rows::cuda

namespace gemforge::rows {
using namespace cuda;

// Stats are in the compute type on cuda (float for half/bfloat16/float, double for double).
void norm_fwd_cuda(const NormFwd& p) {
  if (p.rows == 0 || p.n == 0) return;
  dispatch_dtype<kRowTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using S = opmath_t<T>;
    constexpr int V = kVec<T>;
    const bool vec = p.n % V == 0 && aligned(p.x, sizeof(T) * V) && aligned(p.y, sizeof(T) * V) &&
                     aligned(p.weight, sizeof(T) * V) && aligned(p.bias, sizeof(T) * V);
    if (vec) norm_fwd_typed<T, S, V>(p);
    else norm_fwd_typed<T, S, 1>(p);
  });
}

void norm_bwd_cuda(const NormBwd& p) {
  if (p.rows == 0 || p.n == 0) return;
  dispatch_dtype<kRowTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using S = opmath_t<T>;
    constexpr int V = kVec<T>;
    const bool vec = p.n % V == 0 && aligned(p.grad, sizeof(T) * V) && aligned(p.x, sizeof(T) * V) &&
                     aligned(p.weight, sizeof(T) * V) && aligned(p.dx, sizeof(T) * V);
    if (vec) norm_bwd_typed<T, S, V>(p);
    else norm_bwd_typed<T, S, 1>(p);
  });
}

}  // namespace gemforge::rows
