// cuda kernels of the CTC loss (backends/ctc.h), on the current stream, with the arithmetic of the
// cpu kernels (backends/cpu/ctc.cpp) and of torch's cuda kernel: log-space sums with the largest
// term factored out, -inf where no path reaches.
//
// The recursions: one block per batch entry loops over time, a barrier per step; the states of a
// step are spread over the threads (K each), the previous step's states sit in shared memory and
// each state's log-probability is loaded one step ahead. beta is alpha over the reversed entry
// (time and extended labels reversed), so one kernel computes both. A target longer than a block
// holds (K * threads states) runs in chunks of states, in order: every state depends only on
// states before it, so a chunk reads the two states before it from the table its predecessor
// wrote.
//
// The gradient: a block per (time, entry) row writes exp(log_prob) - exp(log sum of alpha * beta
// + nll - log_prob) for every label; blank's sum is a block reduction, a repeated target label's
// a walk along links made once per entry. No atomics: the same result on every run.
#include "backends/ctc.h"
#include "backends/cuda/rows.cuh"

#include <ATen/cuda/EmptyTensor.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/macros/Macros.h>

#include <algorithm>
#include <cstdint>

namespace gemforge::ctc {
namespace {

using pw::cuda::launch;
using pw::cuda::launch_with_smem;
using pw::cuda::pdl_begin;
using rows::cuda::exp_;
using rows::cuda::group_reduce;
using rows::cuda::log_;
using rows::cuda::max_nan;
using rows::cuda::neg_inf;

constexpr int kRowThreads = 128;        // gradient rows
constexpr int kLinkThreads = 128;       // links of repeated labels
constexpr int kRecursionThreads = 512;  // at most, a block of the recursions
constexpr int kLongK = 4;               // states a thread holds beyond kRecursionThreads states

// log(exp(a) + exp(b) + exp(c)), the largest term factored out; -inf when all three are.
template <class T> __device__ __forceinline__ T log_add(T a, T b, T c) {
  const T bc = b < c ? c : b;
  T m = a < bc ? bc : a;
  if (m == neg_inf<T>()) m = T(0);
  return log_(exp_(a - m) + exp_(b - m) + exp_(c - m)) + m;
}

// Entry b of a problem: its lengths and the extended label at s (blank, l1, blank, ..., blank).
struct Entry {
  int64_t input_length, target_length, blank, stride;
  const int64_t* labels;  // (target_length), stride apart
  __device__ Entry(const Problem& p, int64_t b)
      : input_length(p.input_lengths[b]), target_length(p.target_lengths[b]), blank(p.blank),
        stride(p.target_stride), labels(p.targets + p.offsets[b]) {}
  __device__ int64_t states() const { return 2 * target_length + 1; }
  __device__ int64_t target(int64_t k) const { return labels[k * stride]; }
  __device__ int64_t label(int64_t s) const { return s % 2 == 0 ? blank : target(s / 2); }
};

// ---- alpha and beta ------------------------------------------------------------------------------
// table (B, T, W): log_alpha (reverse false; nll (B) too) or log_beta (reverse true: rows past an
// entry's input length and states past its target are left unwritten). Step t, state s of the
// recursion is table position (t, s), or (il - 1 - t, S - 1 - s) in reverse.
template <class T, int K>
__global__ void __launch_bounds__(kRecursionThreads, 1)
recursion_kernel(Problem p, bool reverse, T* table, T* nll) {
  pdl_begin();
  extern __shared__ __align__(16) unsigned char shared[];
  const int64_t chunk = int64_t(K) * blockDim.x, W = 2 * p.max_target_length + 1;
  T* window = reinterpret_cast<T*>(shared);  // (2, 2 + chunk): a step's chunk after its two predecessors
  const Entry e(p, blockIdx.x);
  const int64_t il = e.input_length, S = e.states(), step = p.B * p.C;
  const T* lp = static_cast<const T*>(p.log_probs) + int64_t(blockIdx.x) * p.C;  // + time * step
  T* out = table + int64_t(blockIdx.x) * p.T * W;                                 // (T, W)
  const T ninf = neg_inf<T>();
  if (!reverse) {  // log_alpha is -inf where the recursion does not reach
    if (S < W)
      for (int64_t t = 0; t < il; ++t)
        for (int64_t s = S + threadIdx.x; s < W; s += blockDim.x) out[t * W + s] = ninf;
    for (int64_t i = il * W + threadIdx.x; i < p.T * W; i += blockDim.x) out[i] = ninf;
    if (il == 0 && threadIdx.x == 0) nll[blockIdx.x] = -(e.target_length == 0 ? T(0) : ninf);
  }
  if (il == 0) return;  // an empty input explains only an empty target; no gradient
  auto at = [&](int64_t t, int64_t s) { return reverse ? (il - 1 - t) * W + (S - 1 - s) : t * W + s; };
  auto time = [&](int64_t t) { return reverse ? il - 1 - t : t; };
  auto label = [&](int64_t s) { return e.label(reverse ? S - 1 - s : s); };

  for (int64_t first = 0; first < S; first += chunk) {
    int64_t c[K];  // extended label
    bool skip[K];  // the step over a blank from s - 2 applies
    T next[K];     // log-probability of c at the next step
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const int64_t s = first + threadIdx.x + int64_t(k) * blockDim.x;
      c[k] = p.blank;
      skip[k] = false;
      next[k] = ninf;
      if (s < S) {
        c[k] = label(s);
        CUDA_KERNEL_ASSERT(c[k] >= 0 && c[k] < p.C);
        skip[k] = s > 1 && label(s - 2) != c[k];
        next[k] = lp[time(0) * step + c[k]];
      }
    }
    for (int64_t t = 0; t < il; ++t) {
      T* cur = window + (t & 1) * (chunk + 2);
      const T* prev = window + ((t + 1) & 1) * (chunk + 2);
#pragma unroll
      for (int k = 0; k < K; ++k) {
        const int64_t s = first + threadIdx.x + int64_t(k) * blockDim.x;
        if (s >= S) continue;
        const T now = next[k];
        if (t + 1 < il) next[k] = lp[time(t + 1) * step + c[k]];
        const int64_t i = s - first + 2;
        // the first step starts in the blank or the first label
        const T v = t == 0 ? (s <= 1 ? now : ninf)
                           : log_add(prev[i], prev[i - 1], skip[k] ? prev[i - 2] : ninf) + now;
        cur[i] = v;
        out[at(t, s)] = v;
      }
      if (threadIdx.x < 2) cur[threadIdx.x] = first == 0 ? ninf : out[at(t, first - 2 + threadIdx.x)];
      __syncthreads();
    }
  }
  if (!reverse && threadIdx.x == 0) {
    const T* end = out + (il - 1) * W;
    nll[blockIdx.x] = -(e.target_length == 0 ? end[0] : log_add(end[S - 1], end[S - 2], ninf));
  }
}

template <class T> void recursion(const Problem& p, bool reverse, T* table, T* nll, cudaStream_t stream) {
  const int64_t W = 2 * p.max_target_length + 1;
  if (W <= kRecursionThreads) {
    const int threads = int((W + 31) / 32 * 32);
    launch_with_smem(recursion_kernel<T, 1>, dim3(unsigned(p.B)), dim3(threads), 2 * (threads + 2) * sizeof(T),
                     stream, p, reverse, table, nll);
  } else {
    const int threads = int(std::min<int64_t>(kRecursionThreads, ((W + kLongK - 1) / kLongK + 31) / 32 * 32));
    launch_with_smem(recursion_kernel<T, kLongK>, dim3(unsigned(p.B)), dim3(threads),
                     2 * (kLongK * threads + 2) * sizeof(T), stream, p, reverse, table, nll);
  }
}

// ---- the gradient --------------------------------------------------------------------------------
// links (2, B, max_target_length): for target position k of entry b, the previous position with its
// label (-1: none), and whether k is the label's last position, which sums them all. A target
// label equal to blank is left to blank's sum.
__global__ void __launch_bounds__(kLinkThreads) link_kernel(Problem p, int32_t* links) {
  pdl_begin();
  const Entry e(p, blockIdx.x);
  const int64_t L = p.max_target_length, tl = e.target_length;
  int32_t* previous = links + int64_t(blockIdx.x) * L;
  int32_t* last = links + (p.B + blockIdx.x) * L;
  for (int64_t k = threadIdx.x; k < tl; k += blockDim.x) {
    const int64_t c = e.target(k);
    int64_t j = k - 1;
    while (j >= 0 && e.target(j) != c) --j;
    previous[k] = int32_t(j);
    bool is_last = c != p.blank;
    for (int64_t i = k + 1; i < tl && is_last; ++i) is_last = e.target(i) != c;
    last[k] = is_last;
  }
}

// grad (T, B, C), a row (t, b) a block at a time: (exp(lp) - exp(log sum over the states of label
// c of alpha * beta + nll - lp)) * grad_out[b]; zero past the input length and, with
// zero_infinity, for an infinite loss.
template <class T>
__device__ void grad_row(const Problem& p, int64_t t, int64_t b, const T* grad_out, const T* nll,
                         const T* log_alpha, const T* log_beta, const int32_t* links, bool zero_infinity,
                         T* grad, T* scratch) {
  const int64_t W = 2 * p.max_target_length + 1, L = p.max_target_length, row = t * p.B + b;
  const Entry e(p, b);
  const T* lp = static_cast<const T*>(p.log_probs) + row * p.C;  // (C)
  T* g = grad + row * p.C;                                        // (C)
  const T ninf = neg_inf<T>(), loss = nll[b];
  if (t >= e.input_length || (zero_infinity && loss == -ninf)) {
    for (int64_t c = threadIdx.x; c < p.C; c += blockDim.x) g[c] = T(0);
    return;
  }
  const T scale = grad_out[b];
  auto value = [=](int64_t c, T log_sum) { return (exp_(lp[c]) - exp_(log_sum + loss - lp[c])) * scale; };
  for (int64_t c = threadIdx.x; c < p.C; c += blockDim.x) g[c] = value(c, ninf);  // labels of no state
  const T* la = log_alpha + (b * p.T + t) * W;  // (W)
  const T* lb = log_beta + (b * p.T + t) * W;   // (W)
  const int64_t S = e.states();
  // blank: every state that carries it (the reductions' barriers order the writes of g)
  T m = ninf;
  for (int64_t s = threadIdx.x; s < S; s += blockDim.x)
    if (e.label(s) == p.blank) m = max_nan(m, la[s] + lb[s]);
  m = group_reduce(m, int(blockDim.x), rows::cuda::Max{}, scratch);
  if (m == ninf) m = T(0);
  T sum = 0;
  for (int64_t s = threadIdx.x; s < S; s += blockDim.x)
    if (e.label(s) == p.blank) sum += exp_(la[s] + lb[s] - m);
  sum = group_reduce(sum, int(blockDim.x), rows::cuda::Sum{}, scratch);
  if (threadIdx.x == 0) g[p.blank] = value(p.blank, log_(sum) + m);
  // every other label: from its last position back along the links, in the cpu kernel's order
  const int32_t* previous = links + b * L;
  const int32_t* last = links + (p.B + b) * L;
  for (int64_t k = threadIdx.x; k < e.target_length; k += blockDim.x) {
    if (!last[k]) continue;
    T acc = la[2 * k + 1] + lb[2 * k + 1];
    for (int64_t j = previous[k]; j >= 0; j = previous[j]) {
      const T ab = la[2 * j + 1] + lb[2 * j + 1];
      if (acc == ninf) {
        acc = ab;
      } else {
        const T top = acc < ab ? ab : acc;
        acc = log_(exp_(acc - top) + exp_(ab - top)) + top;
      }
    }
    g[e.target(k)] = value(e.target(k), acc);
  }
}

template <class T>
__global__ void __launch_bounds__(kRowThreads)
grad_kernel(Problem p, const T* grad_out, const T* nll, const T* log_alpha, const T* log_beta,
            const int32_t* links, bool zero_infinity, T* grad) {
  pdl_begin();
  __shared__ T scratch[32];
  for (int64_t t = blockIdx.y; t < p.T; t += gridDim.y)
    for (int64_t b = blockIdx.x; b < p.B; b += gridDim.x)
      grad_row(p, t, b, grad_out, nll, log_alpha, log_beta, links, zero_infinity, grad, scratch);
}

}  // namespace

void forward_cuda(const Problem& p, void* nll, void* log_alpha) {
  if (p.B == 0) return;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  dispatch_dtype<kTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    recursion<T>(p, false, static_cast<T*>(log_alpha), static_cast<T*>(nll), stream);
  });
}

void backward_cuda(const Problem& p, const void* grad_out, const void* nll, const void* log_alpha,
                   bool zero_infinity, void* grad) {
  if (p.B == 0 || p.T == 0) return;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const at::Device device(at::kCUDA, c10::cuda::current_device());
  const int64_t L = p.max_target_length;
  const at::TensorBase log_beta =
      at::detail::empty_cuda({p.B, p.T, 2 * L + 1}, p.dtype, device, std::nullopt);  // (B, T, W)
  const at::TensorBase links = at::detail::empty_cuda({2, p.B, L}, at::kInt, device, std::nullopt);
  int32_t* link_data = static_cast<int32_t*>(links.mutable_data_ptr());
  if (L > 0) launch(link_kernel, dim3(unsigned(p.B)), dim3(kLinkThreads), stream, p, link_data);
  // (entries, steps): about 16 blocks an SM, each over rows t, t + gridDim.y, ... of its entries
  const int64_t blocks = int64_t(pw::cuda::sm_count()) * 16, entries = std::min(p.B, blocks);
  const int64_t steps = std::clamp<int64_t>(blocks / entries, 1, std::min<int64_t>(p.T, 65535));
  const dim3 grid{unsigned(entries), unsigned(steps)};
  dispatch_dtype<kTypes>(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* beta = static_cast<T*>(log_beta.mutable_data_ptr());
    recursion<T>(p, true, beta, static_cast<T*>(nullptr), stream);
    launch(grad_kernel<T>, grid, dim3(kRowThreads), stream, p, static_cast<const T*>(grad_out),
           static_cast<const T*>(nll), static_cast<const T*>(log_alpha), static_cast<const T*>(beta),
           static_cast<const int32_t*>(link_data), zero_infinity, static_cast<T*>(grad));
  });
}

}  // namespace gemforge::ctc
