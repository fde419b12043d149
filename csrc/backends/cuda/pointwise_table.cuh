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
constexpr int64_t kTableRoundsMinElements = int64_t(1) << 25;  // from here, rounds of Vecs 2 (the kernel)

bool table_enabled();  // pointwise_launch.cu: GEMFORGE_PW_TABLE=0 switches the table path off

// table[i] = f(the 2-byte value with bits i), stored as OutS.
template <class F, class OutS, class InS> __global__ void __launch_bounds__(256) table_fill_kernel(F f, OutS* table) {
  const int i = blockIdx.x * 256 + threadIdx.x;
  uint16_t bits = uint16_t(i);
  InS x;
  memcpy(&x, &bits, 2);
  table[i] = c10::convert<OutS>(f(static_cast<typename fn_traits<F>::template arg<0>>(x)));
}

// How a block stages the table (against each other: scripts/dev/pointwise_table_standalone.py).
// The guess was that staging all 128 KiB before the first lookup, with no block of the next
// kernel fitting beside it, cost the path its last points of copy. Most values of real data have
// few exponents: the window, the magnitudes [lo, lo + width) of both signs (bf16 2^-16..2^8,
// 12 KiB; fp16 2^-6..2^6, 48 KiB), staged first; a value outside it reads the global table
// (L1/L2). Measured on an H200 (benchmarks/results/h200/stop30/), the window variants were
// slower than the whole table at every size from 4096^2 to 16384^2, so kWhole is served; what
// did cost points was where the blocks' shares of the data begin (see the kernel).
enum class Staging {
  kWhole,            // the whole table, then the lookups
  kWindow,           // the window alone, packed (sign, magnitude - lo); small enough that a block
                     // of the next kernel fits beside this one
  kWindowThenWhole,  // the window first, at its places in the whole table; the rest arrives
                     // while the first step is looked up, then lookups take the whole table
};

// The window of a 2-byte dtype's magnitudes (bits & 0x7fff), in table entries.
struct Window {
  uint32_t lo, width;
};
inline Window window_of(ScalarType dtype) {
  // bf16: 8 exponent bits above 7 mantissa bits (bias 127); fp16: 5 above 10 (bias 15).
  return dtype == ScalarType::BFloat16 ? Window{(127 - 16) << 7, 24 << 7} : Window{(15 - 6) << 10, 12 << 10};
}

// cp.async of entries [from, from + count) of the global table to shared byte address dst.
__device__ __forceinline__ void stage(uint32_t dst, const uint16_t* table, uint32_t from, uint32_t count) {
  const char* src = reinterpret_cast<const char*>(table + from);
  for (uint32_t k = threadIdx.x; k < count / 8; k += kTableThreads) cuda_mma::cp_async16(dst + k * 16, src + k * 16, 16);
}

// The entry of 2-byte value b: from shared memory where staged (whole: every entry), else the
// global table.
template <Staging S>
__device__ __forceinline__ uint32_t entry(const uint16_t* t, const uint16_t* table, uint32_t b, Window w, bool whole) {
  if (S == Staging::kWhole || (S == Staging::kWindowThenWhole && whole)) return t[b];
  const uint32_t d = (b & 0x7fffu) - w.lo;  // wraps above width below the window
  if (d < w.width) return S == Staging::kWindow ? t[(b >> 15) * w.width + d] : t[b];
  return __ldg(table + b);
}

// Eight 2-byte values of a 16-byte vector looked up.
template <Staging S>
__device__ __forceinline__ uint4 look_up(const uint16_t* t, const uint16_t* table, uint4 v, Window w, bool whole) {
  uint32_t x[4];
  memcpy(x, &v, 16);
#pragma unroll
  for (int k = 0; k < 4; ++k)
    x[k] = entry<S>(t, table, x[k] & 0xffffu, w, whole) | (entry<S>(t, table, x[k] >> 16, w, whole) << 16);
  uint4 r;
  memcpy(&r, x, 16);
  return r;
}

template <Staging S>
constexpr size_t table_smem(Window w) {
  return S == Staging::kWindow ? size_t(2) * w.width * 2 : kTableBytes;
}

// A persistent block an SM: the table (or its window) staged into shared memory by cp.async
// (before the wait on the previous kernel: it does not depend on it), then the block's share of
// the 16-byte vectors (an even split, so that no SM runs a last partial wave alone) in steps of
// Vecs a thread, the next step's loads in flight while this one is looked up; the last n % 8
// elements one at a time. Every share and chunk is whole warps' loads (32 vectors, 512 bytes):
// shares that began at odd 16-byte offsets split every warp's load across cache lines, and cost
// 5-9 points of copy at 8192^2 and up (H200, stop 30).
// Interleaved: the vectors in rounds of one chunk a block (a chunk at most a step; chunks equal to
// within a warp's load, so no block runs a last round alone), block b taking chunk b of each round:
// every SM works within one window of addresses at a time, as a grid of many blocks walks memory,
// instead of one contiguous share a block (one stream an SM in each direction: 264 streams that
// DRAM serves from as many rows). With Vecs 2 it ran 1-2 points above the contiguous shares from
// 8192^2 up, 1-2 below at 4096^2.
template <int Vecs, Staging S, int MinBlocks = 1, bool Interleaved = false>
__global__ void __launch_bounds__(kTableThreads, MinBlocks)
table_lookup_kernel(const uint16_t* table, int64_t n, uint16_t* out, const uint16_t* in, Window w) {
  extern __shared__ __align__(16) uint16_t t[];  // (65536, or the packed window)
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(t));
  if constexpr (S == Staging::kWhole) {
    stage(base, table, 0, kTableEntries);
  } else if constexpr (S == Staging::kWindow) {
    stage(base, table, w.lo, w.width);
    stage(base + w.width * 2, table, 0x8000u + w.lo, w.width);
  } else {
    for (uint32_t sign = 0; sign <= 0x8000u; sign += 0x8000u) stage(base + (sign + w.lo) * 2, table, sign + w.lo, w.width);
    cuda_mma::cp_async_commit();
    for (uint32_t sign = 0; sign <= 0x8000u; sign += 0x8000u) {
      stage(base + sign * 2, table, sign, w.lo);
      const uint32_t above = sign + w.lo + w.width;
      stage(base + above * 2, table, above, sign + 0x8000u - above);
    }
  }
  cuda_mma::cp_async_commit();
  pdl_begin();
  const int64_t vectors = n / 8;
  constexpr int64_t kStep = int64_t(kTableThreads) * Vecs;  // vectors
  const int64_t blocks = gridDim.x;
  // v vectors rounded up to whole warps' loads (32 vectors, 512 bytes), the unit of every share
  // and chunk. kStep is a multiple of it, so a chunk stays at most a step.
  auto whole_warp_loads = [](int64_t v) { return (v + 31) / 32 * 32; };
  // A step's first vector and its end: step k of the block's contiguous share, or its chunk of
  // round k (Interleaved: one chunk a round, at most a step).
  const int64_t rounds = (vectors + blocks * kStep - 1) / (blocks * kStep);
  const int64_t share = whole_warp_loads(Interleaved ? (vectors + blocks * rounds - 1) / (blocks * rounds)
                                                     : (vectors + blocks - 1) / blocks);
  const int64_t first = blockIdx.x * share;
  const int64_t steps = Interleaved ? rounds
                        : first < vectors ? (std::min(share, vectors - first) + kStep - 1) / kStep
                                          : 0;
  auto start_of = [&](int64_t k) { return Interleaved ? first + k * blocks * share : first + k * kStep; };
  auto end_of = [&](int64_t start) {
    return Interleaved ? std::min(start + share, vectors) : std::min(first + share, vectors);
  };
  const uint4* src = reinterpret_cast<const uint4*>(in);
  uint4* dst = reinterpret_cast<uint4*>(out);
  auto load = [&](int64_t k, uint4 (&v)[Vecs]) {
    const int64_t start = start_of(k), end = end_of(start);
#pragma unroll
    for (int j = 0; j < Vecs; ++j) {
      const int64_t i = start + int64_t(j) * kTableThreads + threadIdx.x;
      if (i < end) v[j] = src[i];
    }
  };
  uint4 next[Vecs];
  load(0, next);
  if constexpr (S == Staging::kWindowThenWhole)
    cuda_mma::cp_async_wait<1>();  // the window
  else
    cuda_mma::cp_async_wait<0>();
  __syncthreads();
  bool whole = S == Staging::kWhole;
  for (int64_t k = 0; k < steps; ++k) {
    uint4 cur[Vecs];
#pragma unroll
    for (int j = 0; j < Vecs; ++j) cur[j] = next[j];
    if (k + 1 < steps) load(k + 1, next);
    const int64_t start = start_of(k), end = end_of(start);
#pragma unroll
    for (int j = 0; j < Vecs; ++j) {
      const int64_t i = start + int64_t(j) * kTableThreads + threadIdx.x;
      if (i < end) dst[i] = look_up<S>(t, table, cur[j], w, whole);
    }
    if (S == Staging::kWindowThenWhole && !whole) {  // the same step count in every thread
      cuda_mma::cp_async_wait<0>();
      __syncthreads();
      whole = true;
    }
  }
  cuda_mma::cp_async_wait<0>();  // no copy into shared memory outlives the block
  if (blockIdx.x == gridDim.x - 1)
    for (int64_t i = vectors * 8 + threadIdx.x; i < n; i += kTableThreads)
      out[i] = uint16_t(entry<S>(t, table, in[i], w, false));
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
    constexpr Staging kStaging = Staging::kWhole;
    const Window w = window_of(dtype);
    auto kernel = L.numel >= kTableRoundsMinElements ? table_lookup_kernel<kTableVecs / 2, kStaging, 1, true>
                                                     : table_lookup_kernel<kTableVecs, kStaging, 1, false>;
    launch_with_smem(kernel, dim3(blocks), dim3(kTableThreads), table_smem<kStaging>(w), stream, table, L.numel,
                     reinterpret_cast<uint16_t*>(L.data[0]), reinterpret_cast<const uint16_t*>(L.data[1]), w);
    return true;
  }
}

}  // namespace gemforge::pw::cuda
