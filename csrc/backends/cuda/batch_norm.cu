// cuda kernels of batch norm (backends/norm_stats.h), on the current stream.
//
// A channel's N x S values are reduced in splits: each block reduces one (channel, split) and
// writes a partial; one thread per channel then merges the partials in order (no atomics: the
// same result every run) and folds the stats, weight and bias into per-channel coefficients
// (a, b, c0); an elementwise pass writes out = u * a + v * b + c0 (forward: u = x; backward:
// u = dy, v = x). Two layouts of the reduction:
//   plane  (S >= kPlaneMinS): a block walks the rows n of its split, reading each [S] slice of its
//          channel with 16-byte vectors;
//   column (small S, 2-d inputs): a block holds 32 channels x 8 rows, lanes over channels, so that
//          a warp reads 32 consecutive channels of one (n, s).
// fp16/bf16 accumulate in fp32, the partials merge in double. The ops serve inputs of fewer than
// 2^31 elements: index divisions are 32-bit (fast_div).
#include "backends/cuda/norm_stats.cuh"
#include "backends/norm_stats.h"
#include "engine/fast_div.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>

#include <algorithm>

namespace gemforge::chnorm {
namespace {

using cuda::Welford;

constexpr int kThreads = 256;
constexpr int kColumnLanes = 32, kColumnRows = kThreads / kColumnLanes;  // column layout block
constexpr int64_t kPlaneMinS = 32;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- the per-(channel, split) reduction ----------------------------------------------------------
// Stats (kGrad false): partial = Welford (n, mean, m2) of x.
// Grad (kGrad true):   partial = (sum dy, sum dy * (x - mean[c]), unused).
// partial: [C, splits, 3] of A.
template <class T, bool kGrad, bool kVec>
__global__ void __launch_bounds__(kThreads)
partial_plane(const T* __restrict__ x, const T* __restrict__ dy, const opmath_t<T>* __restrict__ mean, int64_t N,
              int64_t C, int64_t S, int64_t rows_per_split, fast_div slice_div, opmath_t<T>* __restrict__ partial) {
  using A = opmath_t<T>;
  constexpr int V = kVec ? 16 / int(sizeof(T)) : 1;
  __shared__ Welford<A> scratch[32];
  __shared__ A sums[64];
  const int64_t c = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
  const int64_t n0 = split * rows_per_split, n1 = cuda::imin(N, n0 + rows_per_split);  // n0 < n1 (host)
  const int64_t sv = S / V;  // vectors per slice; slice_div divides by it
  const int64_t items = (n1 - n0) * sv;
  const A m = kGrad ? mean[c] : A(0);
  Welford<A> w{0, 0, 0};
  A s_dy = 0, s_dyx = 0;
  for (int64_t j = threadIdx.x; j < items; j += kThreads) {
    const int64_t dn = slice_div.div(uint32_t(j)), n = n0 + dn;
    const int64_t off = (n * C + c) * S + (j - dn * sv) * V;  // off + V <= (n * C + c + 1) * S
    if constexpr (kVec) {
      A xv[V];
      cuda::load_vec<T, A, V>(x + off, xv);
      if constexpr (kGrad) {
        A gv[V];
        cuda::load_vec<T, A, V>(dy + off, gv);
#pragma unroll
        for (int k = 0; k < V; ++k) {
          s_dy += gv[k];
          s_dyx += gv[k] * (xv[k] - m);
        }
      } else {
        cuda::push_vec<A, V>(w, xv);
      }
    } else {
      const A xv = static_cast<A>(x[off]);
      if constexpr (kGrad) {
        const A g = static_cast<A>(dy[off]);
        s_dy += g;
        s_dyx += g * (xv - m);
      } else {
        cuda::push(w, xv);
      }
    }
  }
  A* out = partial + (c * splits + split) * 3;
  if constexpr (kGrad) {
    cuda::block_sum2(s_dy, s_dyx, sums);
    if (threadIdx.x == 0) {
      out[0] = s_dy;
      out[1] = s_dyx;
      out[2] = 0;
    }
  } else {
    w = cuda::block_merge(w, scratch);
    if (threadIdx.x == 0) {
      out[0] = w.n;
      out[1] = w.mean;
      out[2] = w.m2;
    }
  }
}

// rows r = n * S + s of [r0, r1); lane: channel blockIdx.x * 32 + lane, group: rows r0 + group + 8k.
template <class T, bool kGrad>
__global__ void __launch_bounds__(kThreads)
partial_column(const T* __restrict__ x, const T* __restrict__ dy, const opmath_t<T>* __restrict__ mean, int64_t N,
               int64_t C, int64_t S, int64_t rows_per_split, fast_div s_div, opmath_t<T>* __restrict__ partial) {
  using A = opmath_t<T>;
  __shared__ A sh[3][kColumnRows][kColumnLanes + 1];
  const int lane = threadIdx.x % kColumnLanes, group = threadIdx.x / kColumnLanes;
  const int64_t c = int64_t(blockIdx.x) * kColumnLanes + lane;
  const int64_t split = blockIdx.y, splits = gridDim.y, R = N * S;
  const int64_t r0 = split * rows_per_split, r1 = cuda::imin(R, r0 + rows_per_split);
  Welford<A> w{0, 0, 0};
  A s_dy = 0, s_dyx = 0;
  if (c < C) {
    const A m = kGrad ? mean[c] : A(0);
    for (int64_t r = r0 + group; r < r1; r += kColumnRows) {
      const int64_t n = S == 1 ? r : int64_t(s_div.div(uint32_t(r)));
      const int64_t off = (n * C + c) * S + (r - n * S);
      const A xv = static_cast<A>(x[off]);
      if constexpr (kGrad) {
        const A g = static_cast<A>(dy[off]);
        s_dy += g;
        s_dyx += g * (xv - m);
      } else {
        cuda::push(w, xv);
      }
    }
  }
  sh[0][group][lane] = kGrad ? s_dy : w.n;
  sh[1][group][lane] = kGrad ? s_dyx : w.mean;
  sh[2][group][lane] = kGrad ? A(0) : w.m2;
  __syncthreads();
  if (group != 0 || c >= C) return;
  A* out = partial + (c * splits + split) * 3;
  if constexpr (kGrad) {
    A a = 0, b = 0;
    for (int k = 0; k < kColumnRows; ++k) {
      a += sh[0][k][lane];
      b += sh[1][k][lane];
    }
    out[0] = a;
    out[1] = b;
    out[2] = 0;
  } else {
    Welford<A> r = {sh[0][0][lane], sh[1][0][lane], sh[2][0][lane]};
    for (int k = 1; k < kColumnRows; ++k) r = cuda::merge(r, Welford<A>{sh[0][k][lane], sh[1][k][lane], sh[2][k][lane]});
    out[0] = r.n;
    out[1] = r.mean;
    out[2] = r.m2;
  }
}

struct Reduction {
  bool plane;
  int64_t splits, per_split;  // per_split: rows n (plane) or r = n * S + s (column) of one split
  dim3 grid;
};

Reduction reduction_grid(int64_t N, int64_t C, int64_t S) {
  const int64_t target = int64_t(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * 4;
  Reduction r{};
  r.plane = S >= kPlaneMinS;
  const int64_t units = r.plane ? C : ceil_div(C, kColumnLanes);
  const int64_t rows = r.plane ? N : N * S;
  // enough blocks to fill the card, each with at least ~8K (plane) or 64 rows x 32 channels of work
  int64_t splits = std::max<int64_t>(1, ceil_div(target, units));
  splits = std::min(splits, r.plane ? std::max<int64_t>(1, N * S / 8192) : std::max<int64_t>(1, rows / 64));
  splits = std::min<int64_t>({splits, rows, 65535});
  r.per_split = ceil_div(rows, splits);
  r.splits = ceil_div(rows, r.per_split);  // every split non-empty
  r.grid = dim3(unsigned(units), unsigned(r.splits));
  return r;
}

template <class T, bool kGrad>
void launch_partial(const Reduction& r, const T* x, const T* dy, const opmath_t<T>* mean, int64_t N, int64_t C,
                    int64_t S, opmath_t<T>* partial, cudaStream_t stream) {
  constexpr int V = 16 / int(sizeof(T));
  if (!r.plane) {
    partial_column<T, kGrad><<<r.grid, kThreads, 0, stream>>>(x, dy, mean, N, C, S, r.per_split,
                                                               fast_div(uint32_t(S)), partial);
  } else if (S % V == 0 && cuda::aligned16(x) && (!kGrad || cuda::aligned16(dy))) {
    partial_plane<T, kGrad, true><<<r.grid, kThreads, 0, stream>>>(x, dy, mean, N, C, S, r.per_split,
                                                                    fast_div(uint32_t(S / V)), partial);
  } else {
    partial_plane<T, kGrad, false><<<r.grid, kThreads, 0, stream>>>(x, dy, mean, N, C, S, r.per_split,
                                                                     fast_div(uint32_t(S)), partial);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ---- the elementwise pass: out = u * a[c] + v * b[c] + c0[c] (v null: no v term) ---------------------
// coef: [3, C] of A. rows layout: one block per (n, c) slice (and chunk of it).
template <class T, bool kVec>
__global__ void __launch_bounds__(kThreads)
apply_rows(const T* __restrict__ u, const T* __restrict__ v, const opmath_t<T>* __restrict__ coef,
           T* __restrict__ out, int64_t C, int64_t S, int64_t chunk) {
  using A = opmath_t<T>;
  constexpr int V = kVec ? 16 / int(sizeof(T)) : 1;
  const int64_t row = blockIdx.x, c = row % C;
  const A a = coef[c], b = coef[C + c], c0 = coef[2 * C + c];
  const int64_t s0 = int64_t(blockIdx.y) * chunk, s1 = cuda::imin(S, s0 + chunk);  // chunk % V == 0, S % V == 0
  const int64_t base = row * S;
  for (int64_t s = s0 + int64_t(threadIdx.x) * V; s < s1; s += int64_t(kThreads) * V) {
    if constexpr (kVec) {
      A uv[V], vv[V], r[V];
      cuda::load_vec<T, A, V>(u + base + s, uv);
      if (v) cuda::load_vec<T, A, V>(v + base + s, vv);
#pragma unroll
      for (int k = 0; k < V; ++k) r[k] = uv[k] * a + (v ? vv[k] * b : A(0)) + c0;
      cuda::store_vec<T, A, V>(out + base + s, r);
    } else {
      const A vv = v ? static_cast<A>(v[base + s]) * b : A(0);
      out[base + s] = static_cast<T>(static_cast<A>(u[base + s]) * a + vv + c0);
    }
  }
}

// flat layout (small S): element i has channel (i / S) % C; kVec: S == 1 and C % V == 0, so a
// vector holds V consecutive channels.
template <class T, bool kVec>
__global__ void __launch_bounds__(kThreads)
apply_flat(const T* __restrict__ u, const T* __restrict__ v, const opmath_t<T>* __restrict__ coef,
           T* __restrict__ out, int64_t C, int64_t S, int64_t total, fast_div s_div, fast_div c_div) {
  using A = opmath_t<T>;
  constexpr int V = kVec ? 16 / int(sizeof(T)) : 1;
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < total / V; i += stride) {
    if constexpr (kVec) {
      const uint32_t e = uint32_t(i * V), c = e - c_div.div(e) * uint32_t(C);  // c + V <= C
      A uv[V], vv[V], r[V];
      cuda::load_vec<T, A, V>(u + e, uv);
      if (v) cuda::load_vec<T, A, V>(v + e, vv);
#pragma unroll
      for (int k = 0; k < V; ++k)
        r[k] = uv[k] * coef[c + k] + (v ? vv[k] * coef[C + c + k] : A(0)) + coef[2 * C + c + k];
      cuda::store_vec<T, A, V>(out + e, r);
    } else {
      const uint32_t q = S == 1 ? uint32_t(i) : s_div.div(uint32_t(i)), c = q - c_div.div(q) * uint32_t(C);
      const A vv = v ? static_cast<A>(v[i]) * coef[C + c] : A(0);
      out[i] = static_cast<T>(static_cast<A>(u[i]) * coef[c] + vv + coef[2 * C + c]);
    }
  }
}

template <class T>
void launch_apply(const T* u, const T* v, const opmath_t<T>* coef, T* out, int64_t N, int64_t C, int64_t S,
                  cudaStream_t stream) {
  constexpr int V = 16 / int(sizeof(T));
  const bool aligned = cuda::aligned16(u) && cuda::aligned16(out) && (!v || cuda::aligned16(v));
  if (S >= kPlaneMinS) {
    const bool vec = aligned && S % V == 0;
    const int64_t step = int64_t(kThreads) * (vec ? V : 1);
    int64_t chunk = std::max<int64_t>(step * 4, ceil_div(S, 65535));
    chunk = ceil_div(chunk, V) * V;
    const dim3 grid(unsigned(N * C), unsigned(ceil_div(S, chunk)));
    if (vec) apply_rows<T, true><<<grid, kThreads, 0, stream>>>(u, v, coef, out, C, S, chunk);
    else apply_rows<T, false><<<grid, kThreads, 0, stream>>>(u, v, coef, out, C, S, chunk);
  } else {
    const int64_t total = N * C * S;
    const bool vec = aligned && S == 1 && C % V == 0;
    const int64_t items = vec ? total / V : total;
    const int64_t sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
    const unsigned blocks = unsigned(std::clamp<int64_t>(ceil_div(items, kThreads), 1, sms * 16));
    const fast_div s_div{uint32_t(S)}, c_div{uint32_t(C)};
    if (vec) apply_flat<T, true><<<blocks, kThreads, 0, stream>>>(u, v, coef, out, C, S, total, s_div, c_div);
    else apply_flat<T, false><<<blocks, kThreads, 0, stream>>>(u, v, coef, out, C, S, total, s_div, c_div);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ---- per-channel finalization (one thread a channel) ------------------------------------------------
// The partials of channel c merged in split order, in double.
template <class A> __device__ void merged_stats(const A* partial, int64_t splits, int64_t c, double& n, double& mean,
                                                double& m2) {
  n = 0;
  mean = 0;
  m2 = 0;
  for (int64_t s = 0; s < splits; ++s) {
    const A* q = partial + (c * splits + s) * 3;
    const double bn = double(q[0]);
    if (bn == 0) continue;
    const double tot = n + bn, d = double(q[1]) - mean, wb = bn / tot;
    mean += d * wb;
    m2 += double(q[2]) + d * d * n * wb;
    n = tot;
  }
}

template <class T, class P>
__global__ void __launch_bounds__(kThreads)
finalize_fwd(const opmath_t<T>* __restrict__ partial, int64_t splits, BatchNormFwd p, opmath_t<T>* __restrict__ coef) {
  using A = opmath_t<T>;
  const int64_t c = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (c >= p.C) return;
  P* rm = static_cast<P*>(p.running_mean);
  P* rv = static_cast<P*>(p.running_var);
  double mean, invstd;
  if (p.training) {
    double n, m2;
    merged_stats(partial, splits, c, n, mean, m2);
    invstd = 1.0 / sqrt(m2 / n + p.eps);
    if (rm) {
      const double mom = p.momentum;
      rm[c] = static_cast<P>(mom * mean + (1 - mom) * double(rm[c]));
      rv[c] = static_cast<P>(mom * (m2 / (n - 1)) + (1 - mom) * double(rv[c]));
    }
  } else {
    mean = double(rm[c]);
    invstd = 1.0 / sqrt(double(rv[c]) + p.eps);
  }
  if (p.save_mean) {
    static_cast<A*>(p.save_mean)[c] = static_cast<A>(mean);
    static_cast<A*>(p.save_invstd)[c] = static_cast<A>(invstd);
  }
  const double w = p.weight ? double(static_cast<const P*>(p.weight)[c]) : 1.0;
  const double b = p.bias ? double(static_cast<const P*>(p.bias)[c]) : 0.0;
  const double scale = invstd * w;
  coef[c] = static_cast<A>(scale);
  coef[p.C + c] = A(0);
  coef[2 * p.C + c] = static_cast<A>(b - mean * scale);
}

// mean and invstd of each channel as A: stats[c], stats[C + c].
template <class T, class P>
__global__ void __launch_bounds__(kThreads) prepare_bwd(BatchNormBwd p, opmath_t<T>* __restrict__ stats) {
  using A = opmath_t<T>;
  const int64_t c = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (c >= p.C) return;
  if (p.training) {  // saved stats: A on cuda
    stats[c] = static_cast<const A*>(p.mean)[c];
    stats[p.C + c] = static_cast<const A*>(p.invstd_or_var)[c];
  } else {
    stats[c] = static_cast<A>(static_cast<const P*>(p.mean)[c]);
    stats[p.C + c] = static_cast<A>(1.0 / sqrt(double(static_cast<const P*>(p.invstd_or_var)[c]) + p.eps));
  }
}

template <class T, class P>
__global__ void __launch_bounds__(kThreads)
finalize_bwd(const opmath_t<T>* __restrict__ partial, int64_t splits, const opmath_t<T>* __restrict__ stats,
             BatchNormBwd p, opmath_t<T>* __restrict__ coef) {
  using A = opmath_t<T>;
  const int64_t c = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (c >= p.C) return;
  double s_dy = 0, s_dyx = 0;
  for (int64_t s = 0; partial && s < splits; ++s) {
    s_dy += double(partial[(c * splits + s) * 3]);
    s_dyx += double(partial[(c * splits + s) * 3 + 1]);
  }
  const double mean = double(stats[c]), invstd = double(stats[p.C + c]);
  if (p.dweight) static_cast<P*>(p.dweight)[c] = static_cast<P>(s_dyx * invstd);
  if (p.dbias) static_cast<P*>(p.dbias)[c] = static_cast<P>(s_dy);
  const double w = p.weight ? double(static_cast<const P*>(p.weight)[c]) : 1.0;
  const double a = invstd * w;
  double b = 0, c0 = 0;
  if (p.training) {
    const double count = double(p.N) * double(p.S), k = s_dyx / count * invstd * invstd;
    b = -k * a;
    c0 = (mean * k - s_dy / count) * a;
  }
  coef[c] = static_cast<A>(a);
  coef[p.C + c] = static_cast<A>(b);
  coef[2 * p.C + c] = static_cast<A>(c0);
}

struct Buffer {  // device scratch from torch's caching allocator, freed in stream order
  c10::DataPtr data;
  template <class A> A* get(int64_t count) {
    data = c10::cuda::CUDACachingAllocator::get()->allocate(size_t(count) * sizeof(A));
    return static_cast<A*>(data.get());
  }
};

template <class T, class P> void fwd(const BatchNormFwd& p) {
  using A = opmath_t<T>;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const T* x = static_cast<const T*>(p.x);
  Buffer coef_buf, part_buf;
  A* coef = coef_buf.get<A>(3 * p.C);
  A* partial = nullptr;
  int64_t splits = 0;
  if (p.training) {
    const Reduction r = reduction_grid(p.N, p.C, p.S);
    partial = part_buf.get<A>(3 * p.C * r.splits);
    launch_partial<T, false>(r, x, nullptr, nullptr, p.N, p.C, p.S, partial, stream);
    splits = r.splits;
  }
  const unsigned blocks = unsigned(ceil_div(p.C, kThreads));
  finalize_fwd<T, P><<<blocks, kThreads, 0, stream>>>(partial, splits, p, coef);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  launch_apply<T>(x, nullptr, coef, static_cast<T*>(p.y), p.N, p.C, p.S, stream);
}

template <class T, class P> void bwd(const BatchNormBwd& p) {
  using A = opmath_t<T>;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const T* x = static_cast<const T*>(p.x);
  const T* dy = static_cast<const T*>(p.grad);
  Buffer stats_buf, coef_buf, part_buf;
  A* stats = stats_buf.get<A>(2 * p.C);
  A* coef = coef_buf.get<A>(3 * p.C);
  const unsigned blocks = unsigned(ceil_div(p.C, kThreads));
  prepare_bwd<T, P><<<blocks, kThreads, 0, stream>>>(p, stats);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  A* partial = nullptr;
  int64_t splits = 0;
  if (p.dweight || p.dbias || (p.dx && p.training)) {
    const Reduction r = reduction_grid(p.N, p.C, p.S);
    partial = part_buf.get<A>(3 * p.C * r.splits);
    launch_partial<T, true>(r, x, dy, stats, p.N, p.C, p.S, partial, stream);
    splits = r.splits;
  }
  finalize_bwd<T, P><<<blocks, kThreads, 0, stream>>>(partial, splits, stats, p, coef);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  if (p.dx) launch_apply<T>(dy, p.training ? x : nullptr, coef, static_cast<T*>(p.dx), p.N, p.C, p.S, stream);
}

}  // namespace

void batch_norm_fwd_cuda(const BatchNormFwd& p) {
  dispatch_mixed(p.dtype, p.param_dtype, [&](auto t, auto q) {
    fwd<typename decltype(t)::type, typename decltype(q)::type>(p);
  });
}

void batch_norm_bwd_cuda(const BatchNormBwd& p) {
  dispatch_mixed(p.dtype, p.param_dtype, [&](auto t, auto q) {
    bwd<typename decltype(t)::type, typename decltype(q)::type>(p);
  });
}

}  // namespace gemforge::chnorm
