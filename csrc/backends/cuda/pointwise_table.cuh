// 2-byte unary ops by table. An fp16 or bf16 input has 65536 possible values, so a unary op whose
// result is 2 bytes too is a 128 KiB table: the op's own functor (the accurate one) evaluated
// once at every bit pattern, then each call looks its elements up in shared memory. The results
// are those of the functor, bit for bit (NaN payloads and denormals included), for about five
// instructions an element where the math-heavy ops take tens: they were bound by instruction
// issue, not by bytes. H200, bf16 4096^2, table off / on (benchmarks/results/h200/stop26/):
// asinh 64% / 87% of copy, gelu 81% / 87%, lgamma 36% / 89%, digamma 12% / 89%. Ops opt in
// through op_base::by_table (and table_args, per call) where the table measured faster than
// their own kernel (not cosh, mish, sigmoid, silu, tanh, gelu's tanh form: light enough to reach
// 88-91% as they are); large dense calls only, since each block stages the whole table.
// GEMFORGE_PW_TABLE=0 turns the path off (A/B runs).
//
// The tables live for the process, one per (op, dtype, device, arguments): filled on first use
// on the current stream, which is then synchronized once so that any stream may read them.
#pragma once

#include "backends/cuda/launch.cuh"
#include "backends/cuda/mma_sync.cuh"
#include "engine/dtypes.h"
#include "engine/pointwise_launch.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

namespace gemforge::pw::cuda {

constexpr int kTableEntries = 1 << 16;
constexpr size_t kTableBytes = kTableEntries * 2;          // 128 KiB
constexpr int kTableThreads = 1024;                        // one block an SM (its shared memory)
constexpr int kTableVecs = 4;                              // 16-byte loads of x a thread per step
constexpr int64_t kTableMinElements = int64_t(1) << 22;    // below, staging the table costs more

bool table_enabled();  // pointwise_launch.cu: GEMFORGE_PW_TABLE=0 switches the table path off

// table[i] = f(the 2-byte value with bits i), stored as OutS.
template <class F, class OutS, class InS> __global__ void __launch_bounds__(256) table_fill_kernel(F f, OutS* table) {
  const int i = blockIdx.x * 256 + threadIdx.x;
  uint16_t bits = uint16_t(i);
  InS x;
  memcpy(&x, &bits, 2);
  table[i] = c10::convert<OutS>(f(static_cast<typename fn_traits<F>::template arg<0>>(x)));
}

// Eight 2-byte values of a 16-byte vector looked up.
__device__ __forceinline__ uint4 look_up(const uint16_t* t, uint4 v) {
  uint32_t w[4];
  memcpy(w, &v, 16);
#pragma unroll
  for (int k = 0; k < 4; ++k) w[k] = uint32_t(t[w[k] & 0xffffu]) | (uint32_t(t[w[k] >> 16]) << 16);
  uint4 r;
  memcpy(&r, w, 16);
  return r;
}

// A persistent block an SM: the table staged into shared memory by cp.async (before the wait on
// the previous kernel: it does not depend on it), then the block's share of the 16-byte vectors
// (an even split, so that no SM runs a last partial wave alone) in steps of Vecs a thread, the
// next step's loads in flight while this one is looked up; the last n % 8 elements one at a
// time.
template <int Vecs>
__global__ void __launch_bounds__(kTableThreads, 1)
table_lookup_kernel(const uint16_t* table, int64_t n, uint16_t* out, const uint16_t* in) {
  extern __shared__ __align__(16) uint16_t t[];  // (65536)
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(t));
  for (int k = threadIdx.x; k < int(kTableBytes / 16); k += kTableThreads)
    cuda_mma::cp_async16(base + k * 16, reinterpret_cast<const char*>(table) + k * 16, 16);
  cuda_mma::cp_async_commit();
  pdl_begin();
  const int64_t vectors = n / 8;
  const int64_t share = (vectors + gridDim.x - 1) / gridDim.x;
  const int64_t first = int64_t(blockIdx.x) * share;
  const int64_t last = first + share < vectors ? first + share : vectors;
  constexpr int64_t kStep = int64_t(kTableThreads) * Vecs;  // vectors
  const uint4* src = reinterpret_cast<const uint4*>(in);
  uint4* dst = reinterpret_cast<uint4*>(out);
  auto load = [&](int64_t step, uint4 (&v)[Vecs]) {
#pragma unroll
    for (int j = 0; j < Vecs; ++j) {
      const int64_t i = step + int64_t(j) * kTableThreads + threadIdx.x;
      if (i < last) v[j] = src[i];
    }
  };
  uint4 next[Vecs];
  load(first, next);
  cuda_mma::cp_async_wait<0>();
  __syncthreads();
  for (int64_t step = first; step < last; step += kStep) {
    uint4 cur[Vecs];
#pragma unroll
    for (int j = 0; j < Vecs; ++j) cur[j] = next[j];
    load(step + kStep, next);
#pragma unroll
    for (int j = 0; j < Vecs; ++j) {
      const int64_t i = step + int64_t(j) * kTableThreads + threadIdx.x;
      if (i < last) dst[i] = look_up(t, cur[j]);
    }
  }
  if (blockIdx.x == gridDim.x - 1)
    for (int64_t i = vectors * 8 + threadIdx.x; i < n; i += kTableThreads) out[i] = t[in[i]];
}

// The table of (Op, InS) for these arguments on the current device, filled on first use; null
// where none can be made (more argument sets than kMaxTables, a complex argument, or a first
// use inside CUDA graph capture).
template <class Op, class InS, class F>
const uint16_t* table_for(const F& f, const Args& args, cudaStream_t stream) {
  struct Key {
    int device, mode;
    double s[3];
    bool operator==(const Key& o) const {
      return device == o.device && mode == o.mode && std::memcmp(s, o.s, sizeof(s)) == 0;
    }
  };
  struct Entry {
    Key key;
    uint16_t* table;
  };
  constexpr size_t kMaxTables = 16;
  for (const c10::Scalar* s : {&args.s0, &args.s1, &args.s2})
    if (s->isComplex()) return nullptr;
  const Key key{c10::cuda::current_device(), args.mode, {args.s0.toDouble(), args.s1.toDouble(), args.s2.toDouble()}};
  static std::mutex mutex;
  static std::vector<Entry>* entries = new std::vector<Entry>();  // for the process: never freed
  std::lock_guard<std::mutex> lock(mutex);
  for (const Entry& e : *entries)
    if (e.key == key) return e.table;
  if (entries->size() == kMaxTables) return nullptr;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  C10_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
  if (capture != cudaStreamCaptureStatusNone) return nullptr;  // no allocation or sync inside a graph
  void* table = nullptr;
  C10_CUDA_CHECK(cudaMalloc(&table, kTableBytes));
  using OutS = storage_of<typename fn_traits<F>::result, float, InS>;
  launch(table_fill_kernel<F, OutS, InS>, dim3(kTableEntries / 256), dim3(256), stream, f, static_cast<OutS*>(table));
  C10_CUDA_CHECK(cudaStreamSynchronize(stream));
  entries->push_back({key, static_cast<uint16_t*>(table)});
  return static_cast<uint16_t*>(table);
}

// Runs the accurate functor f of a 2-byte unary Op by table over L; false where the call does
// not qualify (not dense, not large, other dtypes) and the other kernels must run.
template <class Op, class S, class F> bool launch_by_table(const F& f, const Launch& L, const Args& args) {
  using traits = fn_traits<F>;
  if constexpr (traits::arity != 1 || sizeof(storage_of<typename traits::result, float, S>) != 2) {
    return false;
  } else {
    constexpr ScalarType dtype = c10::CppTypeToScalarType<S>::value;
    using OutS = storage_of<typename traits::result, float, S>;
    if (!table_enabled() || L.ntensors != 2 || !L.contiguous || L.numel < kTableMinElements || L.cpu_scalar[1] ||
        L.dtype[1] != dtype || L.dtype[0] != c10::CppTypeToScalarType<OutS>::value ||
        reinterpret_cast<uintptr_t>(L.data[0]) % 16 != 0 || reinterpret_cast<uintptr_t>(L.data[1]) % 16 != 0)
      return false;
    cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    const uint16_t* table = table_for<Op, S>(f, args, stream);
    if (!table) return false;
    const int blocks = sm_count();  // L.numel >= kTableMinElements: every block has work
    launch_with_smem(table_lookup_kernel<kTableVecs>, dim3(blocks), dim3(kTableThreads), kTableBytes, stream, table,
                     L.numel, reinterpret_cast<uint16_t*>(L.data[0]), reinterpret_cast<const uint16_t*>(L.data[1]));
    return true;
  }
}

}  // namespace gemforge::pw::cuda
