// cuda kernels of the creation family (backends/creation.h), 64-bit indices, on the current
// stream.
#include "backends/creation.h"

#include <algorithm>
#include <utility>

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>

namespace gemforge::creation {
namespace {

constexpr int kThreads = 256;

int64_t blocks_for(int64_t n) { return (n + kThreads - 1) / kThreads; }

// out[i] = f(i), a 16-byte vector of V elements a thread (one element where out is not aligned
// to them): arange and linspace at one 2-byte store a thread ran at 26% of the copy ceiling
// (bf16 4096^2, H100), as every warp's stores were 64-byte transactions.
template <int V, class F, class S>
__global__ void __launch_bounds__(kThreads) tabulate_kernel(F f, S* out, int64_t n) {
  struct alignas(sizeof(S) * V) Vec { S v[V]; };
  const int64_t first = (int64_t(blockIdx.x) * kThreads + threadIdx.x) * V;
  if (first >= n) return;
  if (first + V <= n) {
    Vec w;
#pragma unroll
    for (int j = 0; j < V; ++j) w.v[j] = f(first + j);
    *reinterpret_cast<Vec*>(out + first) = w;
  } else {
    for (int64_t i = first; i < n; ++i) out[i] = f(i);
  }
}

template <class F> void tabulate(const Dense& out, const F& f) {
  using S = decltype(f(int64_t(0)));
  constexpr int V = sizeof(S) >= 16 ? 1 : int(16 / sizeof(S));
  if (out.numel == 0) return;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  S* data = static_cast<S*>(out.data);
  if (V > 1 && reinterpret_cast<uintptr_t>(data) % 16 == 0) {
    tabulate_kernel<V><<<blocks_for((out.numel + V - 1) / V), kThreads, 0, stream>>>(f, data, out.numel);
  } else {
    tabulate_kernel<1><<<blocks_for(out.numel), kThreads, 0, stream>>>(f, data, out.numel);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ---- eye, tril, triu: 2-d tiles of 16-byte vectors along the output's dense dimension ------
// A block of kTileX x kTileY threads covers kTileX vectors of a row (kTileX * V columns) times
// kTileRows rows; a thread takes one vector in each of kRowsPerThread rows, issuing its loads
// before its stores. Matrices are normalized first so that the output is dense along its columns
// (a transposed output is the transposed problem: tril(k) of m^T is triu(-k) of m).
// What a vector of V columns [c, c + V) of row r is, with t = c - r: kept elementwise by
// tri_keeps(t + j), so a whole vector is kept, dropped or mixed (only near the diagonal).
constexpr int kTileX = 32, kTileY = 8, kRowsPerThread = 4, kTileRows = kTileY * kRowsPerThread;

enum Mode { kEye, kInPlace, kCopy, kSplat };  // kSplat: the input repeats one element along a row

template <class E, int V> struct alignas(sizeof(E) * V) evec { E v[V]; };

__device__ __forceinline__ bool all_kept(int64_t t, int v, int64_t diagonal, bool upper) {
  return upper ? t >= diagonal : t + v - 1 <= diagonal;
}
__device__ __forceinline__ bool none_kept(int64_t t, int v, int64_t diagonal, bool upper) {
  return upper ? t + v - 1 < diagonal : t > diagonal;
}

template <class E, int V, Mode M>
__global__ void __launch_bounds__(kTileX * kTileY)
tile_kernel(Matrices m, E one, int64_t diagonal, bool upper) {
  using Vec = evec<E, V>;
  const int64_t c = (int64_t(blockIdx.x) * kTileX + threadIdx.x) * V;  // the vector's first column
  if (c >= m.cols) return;
  const int width = m.cols - c < V ? int(m.cols - c) : V;  // V, less in a row's last vector
  for (int64_t b = blockIdx.z; b < m.batch; b += gridDim.z) {
    E* out = reinterpret_cast<E*>(m.out) + b * m.out_stride[0] + c;
    const E* in = reinterpret_cast<const E*>(m.in) + b * m.in_stride[0] + (M == kSplat ? 0 : c);
    for (int64_t r0 = int64_t(blockIdx.y) * kTileRows + threadIdx.y; r0 < m.rows;
         r0 += int64_t(gridDim.y) * kTileRows) {
      Vec v[kRowsPerThread];
      if constexpr (M == kCopy || M == kSplat) {
#pragma unroll
        for (int k = 0; k < kRowsPerThread; ++k) {
          const int64_t r = r0 + k * kTileY;
          if (r >= m.rows || none_kept(c - r, width, diagonal, upper)) continue;
          const E* row = in + r * m.in_stride[1];
          if (M == kSplat) {
            const E x = *row;
#pragma unroll
            for (int j = 0; j < V; ++j) v[k].v[j] = x;
          } else if (width == V) {
            v[k] = *reinterpret_cast<const Vec*>(row);
          } else {
            for (int j = 0; j < width; ++j) v[k].v[j] = row[j];
          }
        }
      }
#pragma unroll
      for (int k = 0; k < kRowsPerThread; ++k) {
        const int64_t r = r0 + k * kTileY;
        if (r >= m.rows) break;
        const int64_t t = c - r;
        E* row = out + r * m.out_stride[1];
        Vec w;
        if constexpr (M == kEye) {
#pragma unroll
          for (int j = 0; j < V; ++j) {
            w.v[j] = E{};
            if (t + j == 0) w.v[j] = one;
          }
        } else {
          if (M == kInPlace && all_kept(t, width, diagonal, upper)) continue;  // stays as it is
          if (none_kept(t, width, diagonal, upper)) {
#pragma unroll
            for (int j = 0; j < V; ++j) w.v[j] = E{};
          } else {
            if constexpr (M == kInPlace) {  // the diagonal's vectors: read, drop some, write
              if (width == V) w = *reinterpret_cast<const Vec*>(row);
              else for (int j = 0; j < width; ++j) w.v[j] = row[j];
            } else {
              w = v[k];
            }
#pragma unroll
            for (int j = 0; j < V; ++j)
              if (!tri_keeps(0, t + j, diagonal, upper)) w.v[j] = E{};
          }
        }
        if (width == V) *reinterpret_cast<Vec*>(row) = w;
        else for (int j = 0; j < width; ++j) row[j] = w.v[j];
      }
    }
  }
}

// tri of an input dense along its rows (a transpose) into an output dense along its columns:
// a block reads its tile of kTileRows x (kTileX * V) input elements along the input's rows into
// shared memory (only those kept), then writes it as tile_kernel does, a vector per row.
template <class E, int V>
__global__ void __launch_bounds__(kTileX * kTileY)
turned_kernel(Matrices m, int64_t diagonal, bool upper) {
  using Vec = evec<E, V>;
  constexpr int kCols = kTileX * V;
  __shared__ Vec tile[kTileRows][kTileX + 1];  // a vector of padding: 4-way conflicts, not 32
  const int64_t c_tile = int64_t(blockIdx.x) * kCols;
  const int64_t c = c_tile + int64_t(threadIdx.x) * V;  // the vector this thread writes
  const int width = m.cols - c < V ? int(m.cols - c) : V;
  for (int64_t b = blockIdx.z; b < m.batch; b += gridDim.z) {
    E* out = reinterpret_cast<E*>(m.out) + b * m.out_stride[0] + c;
    const E* in = reinterpret_cast<const E*>(m.in) + b * m.in_stride[0] + c_tile * m.in_stride[2];
    for (int64_t r_tile = int64_t(blockIdx.y) * kTileRows; r_tile < m.rows;
         r_tile += int64_t(gridDim.y) * kTileRows) {
      __syncthreads();  // the tile's last readers are done
      const int64_t r = r_tile + threadIdx.x;  // a warp reads 32 consecutive rows of a column
      if (r < m.rows) {
        E* row = reinterpret_cast<E*>(tile[threadIdx.x]);
#pragma unroll 8
        for (int i = 0; i < kCols / kTileY; ++i) {
          const int cc = threadIdx.y + i * kTileY;
          if (c_tile + cc < m.cols && tri_keeps(r, c_tile + cc, diagonal, upper))
            row[cc] = in[r + cc * m.in_stride[2]];
        }
      }
      __syncthreads();
      if (width <= 0) continue;
#pragma unroll
      for (int k = 0; k < kRowsPerThread; ++k) {
        const int rr = threadIdx.y + k * kTileY;
        const int64_t r = r_tile + rr;
        if (r >= m.rows) break;
        const int64_t t = c - r;
        Vec w = tile[rr][threadIdx.x];
#pragma unroll
        for (int j = 0; j < V; ++j)
          if (!tri_keeps(0, t + j, diagonal, upper)) w.v[j] = E{};
        E* dst = out + r * m.out_stride[1];
        if (width == V) *reinterpret_cast<Vec*>(dst) = w;
        else for (int j = 0; j < width; ++j) dst[j] = w.v[j];
      }
    }
  }
}

// m's strides that do not matter (a size-1 dim) set so that the layout tests below see through
// them; then the output made dense along its columns. False: neither of its matrix dims is dense.
bool normalize(Matrices& m, int64_t& diagonal, bool& upper) {
  if (m.batch == 1) m.out_stride[0] = m.in_stride[0] = 0;
  if (m.rows == 1) m.out_stride[1] = m.in_stride[1] = 0;
  if (m.cols == 1) m.out_stride[2] = m.in_stride[2] = 1;
  // |c - r| < rows + cols: a diagonal beyond keeps or drops everything; clamped, -diagonal fits
  const int64_t bound = m.rows + m.cols;
  diagonal = std::max(-bound, std::min(bound, diagonal));
  if (m.out_stride[2] == 1) return true;
  if (m.out_stride[1] != 1) return false;
  std::swap(m.rows, m.cols);
  std::swap(m.out_stride[1], m.out_stride[2]);
  std::swap(m.in_stride[1], m.in_stride[2]);
  if (m.rows == 1) m.out_stride[1] = m.in_stride[1] = 0;
  diagonal = -diagonal;
  upper = !upper;
  return true;
}

// 16-byte vectors at every row start of a matrix of `data` with strides `stride` (elements).
bool aligned(const char* data, const int64_t* stride, int elem_size) {
  return reinterpret_cast<uintptr_t>(data) % 16 == 0 && (stride[0] * elem_size) % 16 == 0 &&
         (stride[1] * elem_size) % 16 == 0;
}

constexpr int64_t kMaxCols = int64_t(1) << 35;  // grid.x below 2^31 at one element a vector

// kTurned: turned_kernel; the others tile_kernel.
constexpr int kTurned = 4;

template <int M, class E, int V>
void launch_tiles(const Matrices& m, const void* one, int64_t diagonal, bool upper) {
    const int64_t vectors = (m.cols + V - 1) / V;
    const dim3 grid(unsigned((vectors + kTileX - 1) / kTileX),
                    unsigned(std::min<int64_t>((m.rows + kTileRows - 1) / kTileRows, 65535)),
                    unsigned(std::min<int64_t>(m.batch, 65535)));
    const dim3 block(kTileX, kTileY);
    cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    if constexpr (M == kTurned) {
      turned_kernel<E, V><<<grid, block, 0, stream>>>(m, diagonal, upper);
    } else {
      const E value = one ? *static_cast<const E*>(one) : E{};
      tile_kernel<E, V, Mode(M)><<<grid, block, 0, stream>>>(m, value, diagonal, upper);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// 16-byte vectors where every row start of the output (and of a kCopy input) is aligned to
// them, else one element a thread (still 2-d tiles, a warp's stores along one row).
template <int M> void launch_tiles(const Matrices& m, const void* one, int64_t diagonal, bool upper) {
  const bool vectors = aligned(m.out, m.out_stride, m.elem_size) &&
                       (M != kCopy || aligned(m.in, m.in_stride, m.elem_size));
  dispatch_size(m.elem_size, [&](auto tag) {
    using E = typename decltype(tag)::type;
    constexpr int V = sizeof(E) >= 16 ? 1 : int(16 / sizeof(E));
    if (vectors || V == 1) launch_tiles<M, E, V>(m, one, diagonal, upper);
    else launch_tiles<M, E, 1>(m, one, diagonal, upper);
  });
}

}  // namespace

void arange_cuda(const Dense& out, const c10::Scalar& start, const c10::Scalar& step) {
  dispatch_dtype<kArangeTypes>(out.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using F = arange_fn<S, true>;
    tabulate(out, F{start.to<typename F::acc>(), step.to<typename F::acc>()});
  });
}

void linspace_cuda(const Dense& out, const c10::Scalar& start, const c10::Scalar& end) {
  dispatch_dtype<kSpaceTypes>(out.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    tabulate(out, linspace_fn<S, true>::make(start, end, out.numel));
  });
}

void logspace_cuda(const Dense& out, const c10::Scalar& start, const c10::Scalar& end, double base) {
  dispatch_dtype<kSpaceTypes>(out.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    tabulate(out, logspace_fn<S, true>::make(start, end, out.numel, base));
  });
}

bool eye_cuda(const Matrices& matrices, const void* one) {
  Matrices m = matrices;
  int64_t diagonal = 0;  // eye is its own transpose
  bool upper = false;
  if (!normalize(m, diagonal, upper) || m.cols > kMaxCols) return false;
  if (m.batch * m.rows * m.cols > 0) launch_tiles<kEye>(m, one, 0, false);
  return true;
}

bool tri_cuda(const Matrices& matrices, int64_t diagonal, bool upper) {
  Matrices m = matrices;
  if (!normalize(m, diagonal, upper) || m.cols > kMaxCols) return false;
  const bool in_place = m.in == m.out && std::equal(m.in_stride, m.in_stride + 3, m.out_stride);
  int mode;
  if (in_place) mode = kInPlace;
  else if (m.in_stride[2] == 1) mode = kCopy;
  else if (m.in_stride[2] == 0) mode = kSplat;
  else if (m.in_stride[1] == 1) mode = kTurned;
  else return false;  // an input dense along neither dim: torch's kernel
  if (m.batch * m.rows * m.cols == 0) return true;
  switch (mode) {
    case kInPlace: launch_tiles<kInPlace>(m, nullptr, diagonal, upper); break;
    case kCopy: launch_tiles<kCopy>(m, nullptr, diagonal, upper); break;
    case kSplat: launch_tiles<kSplat>(m, nullptr, diagonal, upper); break;
    default: launch_tiles<kTurned>(m, nullptr, diagonal, upper); break;
  }
  return true;
}

}  // namespace gemforge::creation
