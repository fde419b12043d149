// cuda kernels of fake quantization (backends/fake_quant.h), with torch's cuda arithmetic.
// Forward: a thread per two 16-byte vectors of x (vector loads and stores of out, the mask bytes
// of a vector in one store), the partial last block and unaligned operands element by element,
// the arithmetic of backends/fake_quant.h. Per channel, the channel of an element is
// (i / channel_stride) % channels, by multiply-high below 2^31 elements. Backward: grad_x per
// element, the two gradient sums through a fixed grid of block partials (chnorm's fixed-order
// block sums) added in order by a second one-block kernel (the same result on every run).
#include "backends/cuda/launch.cuh"
#include "backends/cuda/norm_stats.cuh"
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
struct ChannelIndex {
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

// A block owns kThreads * Vecs * V consecutive elements (V == 1 where an operand is not aligned
// for vectors); a thread issues all its loads before its first store. vector(i, in, out, mask)
// computes the V elements from i on, element(i, x, inside) one (the partial last block).
template <class T, int V, int Vecs, class Vector, class Element>
__device__ __forceinline__ void tile(const Forward& f, const Vector& vector, const Element& element) {
  const T* x = static_cast<const T*>(f.x);
  T* out = static_cast<T*>(f.out);
  constexpr int64_t kPerBlock = int64_t(kThreads) * Vecs * V;
  const int64_t start = int64_t(blockIdx.x) * kPerBlock;
  if (start + kPerBlock > f.n) {  // the partial last block
    for (int64_t i = start + threadIdx.x; i < f.n; i += kThreads) {
      bool inside;
      out[i] = element(i, x[i], inside);
      if (f.mask) f.mask[i] = inside;
    }
    return;
  }
  Vec<T, V> in[Vecs];  // (Vecs, V)
#pragma unroll
  for (int j = 0; j < Vecs; ++j)
    in[j] = *reinterpret_cast<const Vec<T, V>*>(x + start + (int64_t(j) * kThreads + threadIdx.x) * V);
#pragma unroll
  for (int j = 0; j < Vecs; ++j) {
    const int64_t i = start + (int64_t(j) * kThreads + threadIdx.x) * V;
    Vec<T, V> o;
    Mask<V> m;
    vector(i, in[j], o, m);
    *reinterpret_cast<Vec<T, V>*>(out + i) = o;
    if (f.mask) *reinterpret_cast<Mask<V>*>(f.mask + i) = m;
  }
}

// tile with every element on its own.
template <class T, int V, int Vecs, class Element>
__device__ __forceinline__ void tile_each(const Forward& f, const Element& element) {
  tile<T, V, Vecs>(
      f,
      [&](int64_t i, const Vec<T, V>& in, Vec<T, V>& o, Mask<V>& m) {
#pragma unroll
        for (int k = 0; k < V; ++k) o.v[k] = element(i + k, in.v[k], m.v[k]);
      },
      element);
}

// Per tensor: the form is read from the resolved scale and zero point, once a thread, and each
// form has its own loop (one loop holding every form's code ran bf16 at half the copy rate).
template <class T, int V, int Vecs> __global__ void __launch_bounds__(kThreads) tensor_kernel(Forward f) {
  pdl_begin();
  const Resolved r = resolve(f);
  with_form(f, r, [&](auto form) {
    tile_each<T, V, Vecs>(
        f, [&](int64_t, T x, bool& in) { return tensor_element<decltype(form)::value>(f, r, x, in); });
  });
}

// Per channel. kVectorChannel: the V elements of a vector share a channel (the channel stride a
// multiple of V, or one channel), whose operands are then read and prepared once a vector, as in
// a weight's rows; else once an element.
template <class T, int V, int Vecs, bool kVectorChannel>
__global__ void __launch_bounds__(kThreads) channel_kernel(Forward f, ChannelIndex index) {
  pdl_begin();
  using C = compute_t<T>;
  auto element = [&](int64_t i, T x, bool& in) { return channel_element<true>(f, channel_of<C>(f, index.of(i)), x, in); };
  if constexpr (kVectorChannel) {
    tile<T, V, Vecs>(
        f,
        [&](int64_t i, const Vec<T, V>& in, Vec<T, V>& o, Mask<V>& m) {
          const Channel<C> ch = channel_of<C>(f, index.of(i));
#pragma unroll
          for (int k = 0; k < V; ++k) o.v[k] = channel_element<true>(f, ch, in.v[k], m.v[k]);
        },
        element);
  } else {
    tile_each<T, V, Vecs>(f, element);
  }
}

template <class T, int V, int Vecs> void launch_forward_as(const Forward& f, cudaStream_t stream) {
  constexpr int64_t kPerBlock = int64_t(kThreads) * Vecs * V;
  const dim3 blocks(unsigned((f.n + kPerBlock - 1) / kPerBlock));
  if (f.channels == 0) {
    launch(tensor_kernel<T, V, Vecs>, blocks, dim3(kThreads), stream, f);
    return;
  }
  ChannelIndex index{};
  index.small = f.n < (int64_t(1) << 31);
  index.stride64 = f.channel_stride;
  index.channels64 = f.channels;
  if (index.small) {
    index.stride = fast_div(uint32_t(std::min<int64_t>(f.channel_stride, f.n)));
    index.channels = fast_div(uint32_t(std::min<int64_t>(f.channels, f.n)));
  }
  if constexpr (V > 1) {
    if (f.channels == 1 || f.channel_stride % V == 0) {
      launch(channel_kernel<T, V, Vecs, true>, blocks, dim3(kThreads), stream, f, index);
      return;
    }
  }
  launch(channel_kernel<T, V, Vecs, false>, blocks, dim3(kThreads), stream, f, index);
}

// Two 16-byte vectors a thread in flight; element by element (four a thread) where an operand
// is not aligned for vectors.
template <class T> void launch_forward(const Forward& f, cudaStream_t stream) {
  constexpr int V = 16 / int(sizeof(T));
  const bool aligned = reinterpret_cast<uintptr_t>(f.x) % 16 == 0 && reinterpret_cast<uintptr_t>(f.out) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(f.mask) % V == 0;
  if (aligned) launch_forward_as<T, V, 2>(f, stream);
  else launch_forward_as<T, 1, 4>(f, stream);
}

constexpr int kBackwardThreads = 256;
constexpr int kBackwardBlocks = 528;  // a fixed grid (4 blocks an SM of an H100): fixed partials

__global__ void __launch_bounds__(kBackwardThreads) backward_kernel(Backward b, float* partials) {
  pdl_begin();
  __shared__ float scratch[64];
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
  chnorm::cuda::block_sum2(ds, dz, scratch);
  if (threadIdx.x == 0) {
    partials[2 * blockIdx.x] = ds;
    partials[2 * blockIdx.x + 1] = dz;
  }
}

__global__ void __launch_bounds__(1024) finish_kernel(const float* partials, int blocks, float* grad_scale,
                                                      float* grad_zero_point) {
  pdl_begin();
  __shared__ float scratch[64];
  float ds = 0.0f, dz = 0.0f;
  for (int k = threadIdx.x; k < blocks; k += blockDim.x) {
    ds += partials[2 * k];
    dz += partials[2 * k + 1];
  }
  chnorm::cuda::block_sum2(ds, dz, scratch);
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
