// 2-byte unary ops by table. An fp16 or bf16 input has 65536 possible values, so a unary op whose
// result is 2 bytes too is a 128 KiB table: the op's own functor (the accurate one) evaluated
// once at every bit pattern, then each call looks its elements up in shared memory. The results
// are those of the functor, bit for bit (NaN payloads and denormals included), for about five
// instructions an element where the math-heavy ops take tens: they were bound by instruction
// issue, not by bytes (bf16 4096^2 on an H200: asinh 64%, logit 65%, gelu 81% of copy, digamma
// 12%). Ops opt in through op_base::by_table; large dense calls only, since each block stages
// the whole table.
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
constexpr int kTableVecs = 4;                              // 16-byte loads of x a thread per tile
constexpr int64_t kTableTile = int64_t(kTableThreads) * kTableVecs * 8;  // elements
constexpr int64_t kTableMinElements = int64_t(1) << 22;    // below, staging the table costs more

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
// the previous kernel: it does not depend on it), then tiles of kTableTile elements, the next
// tile's loads in flight while this one is looked up; the elements past the last full tile one at
// a time.
template <int Vecs>
__global__ void __launch_bounds__(kTableThreads, 1)
table_lookup_kernel(const uint16_t* table, int64_t n, uint16_t* out, const uint16_t* in) {
  extern __shared__ __align__(16) uint16_t t[];  // (65536)
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(t));
  for (int k = threadIdx.x; k < int(kTableBytes / 16); k += kTableThreads)
    cuda_mma::cp_async16(base + k * 16, reinterpret_cast<const char*>(table) + k * 16, 16);
  cuda_mma::cp_async_commit();
  pdl_begin();
  constexpr int64_t kTile = int64_t(kTableThreads) * Vecs * 8;
  const int64_t tiles = n / kTile;
  auto load = [&](int64_t tile, uint4 (&v)[Vecs]) {
#pragma unroll
    for (int j = 0; j < Vecs; ++j)
      v[j] = *reinterpret_cast<const uint4*>(in + tile * kTile + (int64_t(j) * kTableThreads + threadIdx.x) * 8);
  };
  uint4 next[Vecs];
  int64_t tile = blockIdx.x;
  if (tile < tiles) load(tile, next);
  cuda_mma::cp_async_wait<0>();
  __syncthreads();
  for (; tile < tiles; tile += gridDim.x) {
    uint4 cur[Vecs];
#pragma unroll
    for (int j = 0; j < Vecs; ++j) cur[j] = next[j];
    if (tile + gridDim.x < tiles) load(tile + gridDim.x, next);
#pragma unroll
    for (int j = 0; j < Vecs; ++j)
      *reinterpret_cast<uint4*>(out + tile * kTile + (int64_t(j) * kTableThreads + threadIdx.x) * 8) =
          look_up(t, cur[j]);
  }
  for (int64_t i = tiles * kTile + int64_t(blockIdx.x) * kTableThreads + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * kTableThreads)
    out[i] = t[in[i]];
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
    if (L.ntensors != 2 || !L.contiguous || L.numel < kTableMinElements || L.cpu_scalar[1] ||
        L.dtype[1] != dtype || L.dtype[0] != c10::CppTypeToScalarType<OutS>::value ||
        reinterpret_cast<uintptr_t>(L.data[0]) % 16 != 0 || reinterpret_cast<uintptr_t>(L.data[1]) % 16 != 0)
      return false;
    cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    const uint16_t* table = table_for<Op, S>(f, args, stream);
    if (!table) return false;
    const int64_t tiles = L.numel / kTableTile;
    const int blocks = int(std::max<int64_t>(1, std::min<int64_t>(sm_count(), tiles)));
    launch_with_smem(table_lookup_kernel<kTableVecs>, dim3(blocks), dim3(kTableThreads), kTableBytes, stream, table,
                     L.numel, reinterpret_cast<uint16_t*>(L.data[0]), reinterpret_cast<const uint16_t*>(L.data[1]));
    return true;
  }
}

}  // namespace gemforge::pw::cuda
