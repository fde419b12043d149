// cuda kernels of fake quantization (backends/fake_quant.h), with torch's cuda arithmetic.
// Forward: a thread per 16 bytes of x (one vector load, one vector store of out, the mask bytes
// in one store), the partial last block and unaligned operands element by element. Per channel,
// the channel of an element is (i / channel_stride) % channels, by multiply-high below 2^31
// elements. Backward: grad_x per element, the two gradient sums through a fixed grid of block
// partials added in order by a second one-block kernel (the same result on every run).
#include "backends/cuda/launch.cuh"
#include "backends/fake_quant.h"
#include "engine/fast_div.h"

#include <ATen/cuda/EmptyTensor.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

namespace gemforge::fake_quant {
namespace {

using pw::cuda::launch;
using pw::cuda::pdl_begin;

constexpr int kThreads = 256;

template <class T, int V> struct alignas(sizeof(T) * V) Vec { T v[V]; };
template <int V> struct alignas(V) Mask { bool v[V]; };

// The channel of element i: 32-bit multiply-high where every index fits, else 64-bit division.
struct Channel {
  fast_div stride, channels;
  int64_t stride64, channels64;
  bool small;
  __device__ __forceinline__ int64_t of(int64_t i) const {
    if (small) {
      const uint32_t q = stride.div(uint32_t(i));
      return int64_t(q - channels.div(q) * channels.divisor);
    }
    return (i / stride64) % channels64;
  }
};

template <class T> using compute_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <class T>
__device__ __forceinline__ T one(const Forward& f, const Resolved& r, const Channel& ch, int64_t i, T x,
                                 bool& inside) {
  using C = compute_t<T>;
  if (f.channels == 0) {
    if (!r.enabled) {
      inside = true;
      return x;
    }
    if (f.small_range && r.zero_point >= -kSmallRange && r.zero_point <= kSmallRange)
      return T(per_tensor_small(C(x), r.scale, r.inv_scale, C(r.zero_point), C(f.quant_min), C(f.quant_max),
                                inside));
    return T(per_tensor(C(x), r.scale, r.inv_scale, r.zero_point, f.quant_min, f.quant_max, inside));
  }
  const int64_t c = ch.of(i);
  const float scale = load_as<float>(f.scales, f.scale_dtype, c);
  C zp = load_as<C>(f.zero_points, f.zp_dtype, c);
  if (f.learnable_zp) zp = C(learnable_zero_point(float(zp), f.quant_min, f.quant_max));
  const bool int_zp = f.learnable_zp || f.zp_dtype == ScalarType::Int;
  return T(per_channel<true>(C(x), scale, zp, int_zp, f.quant_min, f.quant_max, inside));
}

// V elements a thread; V == 1 where an operand is not aligned for vectors.
template <class T, int V>
__global__ void __launch_bounds__(kThreads) forward_kernel(Forward f, Channel ch) {
  pdl_begin();
  const Resolved r = f.channels == 0 ? resolve(f) : Resolved{};
  const T* x = static_cast<const T*>(f.x);
  T* out = static_cast<T*>(f.out);
  constexpr int64_t kPerBlock = int64_t(kThreads) * V;
  for (int64_t start = int64_t(blockIdx.x) * kPerBlock; start < f.n; start += int64_t(gridDim.x) * kPerBlock) {
    const int64_t i = start + int64_t(threadIdx.x) * V;
    if (start + kPerBlock > f.n) {  // the partial last block
      for (int64_t j = start + threadIdx.x; j < f.n; j += kThreads) {
        bool inside;
        out[j] = one<T>(f, r, ch, j, x[j], inside);
        if (f.mask) f.mask[j] = inside;
      }
      return;
    }
    const Vec<T, V> in = *reinterpret_cast<const Vec<T, V>*>(x + i);
    Vec<T, V> o;
    Mask<V> m;
#pragma unroll
    for (int k = 0; k < V; ++k) o.v[k] = one<T>(f, r, ch, i + k, in.v[k], m.v[k]);
    *reinterpret_cast<Vec<T, V>*>(out + i) = o;
    if (f.mask) *reinterpret_cast<Mask<V>*>(f.mask + i) = m;
  }
}

template <class T> void launch_forward(const Forward& f, cudaStream_t stream) {
  constexpr int V = 16 / int(sizeof(T));
  Channel ch{};
  if (f.channels > 0) {
    ch.small = f.n < (int64_t(1) << 31);
    ch.stride64 = f.channel_stride;
    ch.channels64 = f.channels;
    if (ch.small) {
      ch.stride = fast_div(uint32_t(std::min<int64_t>(f.channel_stride, f.n)));
      ch.channels = fast_div(uint32_t(std::min<int64_t>(f.channels, f.n)));
    }
  }
  const bool aligned = reinterpret_cast<uintptr_t>(f.x) % 16 == 0 && reinterpret_cast<uintptr_t>(f.out) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(f.mask) % V == 0;
  const int64_t cap = int64_t(pw::cuda::sm_count()) * 32;
  if (aligned) {
    const int64_t blocks = std::min(cap, (f.n + kThreads * V - 1) / (kThreads * V));
    launch(forward_kernel<T, V>, dim3(unsigned(blocks)), dim3(kThreads), stream, f, ch);
  } else {
    const int64_t blocks = std::min(cap, (f.n + kThreads - 1) / kThreads);
    launch(forward_kernel<T, 1>, dim3(unsigned(blocks)), dim3(kThreads), stream, f, ch);
  }
}

constexpr int kBackwardThreads = 256;
constexpr int kBackwardBlocks = 528;  // a fixed grid (4 blocks an SM of an H100): fixed partials

__device__ __forceinline__ float block_sum(float v, float* shared) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = threadIdx.x < blockDim.x / 32 ? shared[threadIdx.x] : 0.0f;
  if (warp == 0) {
#pragma unroll
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  }
  return v;  // thread 0 holds the block's sum
}

__global__ void __launch_bounds__(kBackwardThreads) backward_kernel(Backward b, float* partials) {
  pdl_begin();
  __shared__ float shared[kBackwardThreads / 32];
  const float scale = *b.scale_ptr;
  const float inv_scale = 1.0f / scale;
  const int64_t zp = backward_zero_point(*b.zp_ptr, b.quant_min, b.quant_max);
  float ds = 0.0f, dz = 0.0f;
  for (int64_t i = int64_t(blockIdx.x) * kBackwardThreads + threadIdx.x; i < b.n;
       i += int64_t(gridDim.x) * kBackwardThreads) {
    float dscale, dzp;
    learnable_grads<true>(b.x[i], b.grad[i], scale, inv_scale, zp, b.quant_min, b.quant_max, b.grad_factor,
                          b.grad_x[i], dscale, dzp);
    ds += dscale;
    dz += dzp;
  }
  ds = block_sum(ds, shared);
  dz = block_sum(dz, shared);
  if (threadIdx.x == 0) {
    partials[2 * blockIdx.x] = ds;
    partials[2 * blockIdx.x + 1] = dz;
  }
}

__global__ void __launch_bounds__(1024) finish_kernel(const float* partials, int blocks, float* grad_scale,
                                                      float* grad_zero_point) {
  pdl_begin();
  __shared__ float shared[32];
  float ds = 0.0f, dz = 0.0f;
  for (int k = threadIdx.x; k < blocks; k += blockDim.x) {
    ds += partials[2 * k];
    dz += partials[2 * k + 1];
  }
  ds = block_sum(ds, shared);
  dz = block_sum(dz, shared);
  if (threadIdx.x == 0) {
    *grad_scale = ds;
    *grad_zero_point = dz;
  }
}

}  // namespace

void forward_cuda(const Forward& f) {
  if (f.n == 0) return;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  dispatch_dtype<kTypes>(f.dtype, [&](auto tag) { launch_forward<typename decltype(tag)::type>(f, stream); });
}

void backward_cuda(const Backward& b) {
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int blocks = int(std::max<int64_t>(1, std::min<int64_t>(kBackwardBlocks, (b.n + kBackwardThreads - 1) /
                                                                                     kBackwardThreads)));
  const at::TensorBase partials = at::detail::empty_cuda(
      {2 * blocks}, at::kFloat, at::Device(at::kCUDA, c10::cuda::current_device()), std::nullopt);
  float* p = static_cast<float*>(partials.mutable_data_ptr());
  launch(backward_kernel, dim3(unsigned(blocks)), dim3(kBackwardThreads), stream, b, p);
  launch(finish_kernel, dim3(1), dim3(1024), stream, static_cast<const float*>(p), blocks, b.grad_scale,
         b.grad_zero_point);
}

}  // namespace gemforge::fake_quant
