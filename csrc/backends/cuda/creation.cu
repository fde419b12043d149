// cuda kernels of the creation family (backends/creation.h), 64-bit indices, on the current
// stream.
#include "backends/creation.h"

#include <algorithm>

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>

namespace gemforge::creation {
namespace {

constexpr int kThreads = 256;

int64_t blocks_for(int64_t n) { return (n + kThreads - 1) / kThreads; }

template <class F, class S>
__global__ void __launch_bounds__(kThreads) tabulate_kernel(F f, S* out, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (i < n) out[i] = f(i);
}

template <class F> void tabulate(const Dense& out, const F& f) {
  using S = decltype(f(int64_t(0)));
  if (out.numel == 0) return;
  tabulate_kernel<<<blocks_for(out.numel), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
      f, static_cast<S*>(out.data), out.numel);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// One thread per element of the batch of matrices m: (batch, row, col) from the linear index.
// One block: kColumnsPerThread * kThreads columns of one row at a time (adjacent threads take
// adjacent columns), looping over rows in y: one division per row, none per element.
constexpr int kColumnsPerThread = 4;

template <class E, bool Eye>
__global__ void __launch_bounds__(kThreads)
matrix_kernel(Matrices m, E one, int64_t diagonal, bool upper) {
  const int64_t first_col = int64_t(blockIdx.x) * kColumnsPerThread * kThreads + threadIdx.x;
  for (int64_t br = blockIdx.y; br < m.batch * m.rows; br += gridDim.y) {
    const int64_t b = br / m.rows, r = br - b * m.rows;
    E* out = reinterpret_cast<E*>(m.out) + b * m.out_stride[0] + r * m.out_stride[1];
    const E* in = reinterpret_cast<const E*>(m.in) + b * m.in_stride[0] + r * m.in_stride[1];
#pragma unroll
    for (int k = 0; k < kColumnsPerThread; ++k) {
      const int64_t c = first_col + k * kThreads;
      if (c >= m.cols) break;
      if constexpr (Eye) {
        out[c * m.out_stride[2]] = r == c ? one : E{};
      } else if (!tri_keeps(r, c, diagonal, upper)) {
        out[c * m.out_stride[2]] = E{};
      } else if (m.out != m.in) {  // in place, the kept side stays as it is
        out[c * m.out_stride[2]] = in[c * m.in_stride[2]];
      }
    }
  }
}

template <bool Eye> void launch_matrix(const Matrices& m, const void* one, int64_t diagonal, bool upper) {
  const int64_t n = m.batch * m.rows * m.cols;
  if (n == 0) return;
  dispatch_size(m.elem_size, [&](auto tag) {
    using E = typename decltype(tag)::type;
    const E value = one ? *static_cast<const E*>(one) : E{};
    const int64_t column_blocks = (m.cols + kColumnsPerThread * kThreads - 1) / (kColumnsPerThread * kThreads);
    const dim3 grid(unsigned(column_blocks), unsigned(std::min<int64_t>(m.batch * m.rows, 65535)));
    matrix_kernel<E, Eye><<<grid, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        m, value, diagonal, upper);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
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

void eye_cuda(const Matrices& m, const void* one) { launch_matrix<true>(m, one, 0, false); }

void tri_cuda(const Matrices& m, int64_t diagonal, bool upper) {
  launch_matrix<false>(m, nullptr, diagonal, upper);
}

}  // namespace gemforge::creation
