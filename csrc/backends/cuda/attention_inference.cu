// cuda kernels of the inference attention ops (backends/attention_inference.h), on the current
// stream, launched with PDL. Indices that come from tensors on the device (slots, block tables,
// sequence lengths) are never trusted: an out-of-range one is skipped or cut, never dereferenced.
//
// paged decode (flash-decoding): block = (sequence, kv head, partition of kDecodePartition
// tokens), 128 threads, all `group` query heads of the kv head together so each K/V load
// serves the whole group:
//   scores: two threads per token, alternate 16-byte vectors of its K row, q (pre-scaled by
//           scale*log2 e) broadcast from shared memory -> logits[group][P] in shared memory
//   softmax: one warp per head: max, exp2, sum over the partition
//   P.V:   D/8 threads per V row (16 bytes each), 4 rows in flight per thread, fp32 sums
//          reduced across row groups (shuffles) and warps (shared memory, fixed order)
// One partition writes the output directly; several write fp32 partial outputs with their
// (max, sum), and a combine kernel (one block per (sequence, head), a thread per dim) rescales.
//
// varlen: tensor cores (mma.sync m16n8k16, fp32 accumulation; see varlen_mma_kernel), and a
// CUDA-core kernel kept as a cross-check (GEMFORGE_VARLEN_SIMT=1): block = (16-query tile, head,
// sequence), 4 warps of 4 queries each; key tiles of 32 (K padded in shared memory so that lane j
// reading key j is conflict-free) with online softmax, one key per lane for the scores, D/32 dims
// per lane for P.V.
#include "backends/attention_inference.h"
#include "backends/cuda/launch.cuh"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

namespace gemforge::attn_inf {
namespace {

using pw::cuda::launch;
using pw::cuda::launch_with_smem;
using pw::cuda::pdl_begin;

constexpr int kThreads = 128;
constexpr float kLog2e = 1.4426950408889634f;
constexpr unsigned kFull = 0xffffffffu;

__device__ __forceinline__ int64_t lmin(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ int64_t lmax(int64_t a, int64_t b) { return a > b ? a : b; }

cudaStream_t stream() { return c10::cuda::getCurrentCUDAStream(); }

template <class F> void dispatch_half(ScalarType t, F&& f) {
  if (t == ScalarType::Half) f(type_tag<__half>{});
  else f(type_tag<__nv_bfloat16>{});
}

template <class F> void dispatch_dim(int64_t d, F&& f) {
  switch (d) {
    case 64: f(std::integral_constant<int, 64>{}); break;
    case 128: f(std::integral_constant<int, 128>{}); break;
    case 256: f(std::integral_constant<int, 256>{}); break;
    default: TORCH_CHECK(false, "attention: head_dim must be 64, 128 or 256, got ", d);
  }
}

// Two packed 16-bit floats (element 0 in the low half) to float2.
template <class T> __device__ __forceinline__ float2 to_float2(uint32_t bits);
template <> __device__ __forceinline__ float2 to_float2<__half>(uint32_t bits) {
  __half2 h;
  memcpy(&h, &bits, sizeof(h));
  return __half22float2(h);
}
template <> __device__ __forceinline__ float2 to_float2<__nv_bfloat16>(uint32_t bits) {
  return make_float2(__uint_as_float(bits << 16), __uint_as_float(bits & 0xffff0000u));
}

// Eight elements of one 16-byte vector to floats.
template <class T> __device__ __forceinline__ void unpack8(const uint4& v, float (&f)[8]) {
  float2 a = to_float2<T>(v.x), b = to_float2<T>(v.y), c = to_float2<T>(v.z), d = to_float2<T>(v.w);
  f[0] = a.x; f[1] = a.y; f[2] = b.x; f[3] = b.y; f[4] = c.x; f[5] = c.y; f[6] = d.x; f[7] = d.y;
}

template <class T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <class T> __device__ __forceinline__ float to_float(T x) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(x);
  else return __bfloat162float(x);
}

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) x = fmaxf(x, __shfl_xor_sync(kFull, x, off));
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(kFull, x, off);
  return x;
}

// dot of 8 floats of q (shared memory, 32-byte aligned) with 8 floats
__device__ __forceinline__ float dot8(const float* q, const float (&k)[8]) {
  const float4 a = reinterpret_cast<const float4*>(q)[0];
  const float4 b = reinterpret_cast<const float4*>(q)[1];
  return a.x * k[0] + a.y * k[1] + a.z * k[2] + a.w * k[3] + b.x * k[4] + b.y * k[5] + b.z * k[6] + b.w * k[7];
}

// ---- reshape_and_cache -------------------------------------------------------------------------

// One token per block iteration, its key and value rows in units U (16 bytes where aligned).
template <class U>
__global__ void __launch_bounds__(kThreads) cache_write_kernel(CacheWrite w, int units) {
  pdl_begin();
  const int64_t row_bytes = w.row * w.elem_size;
  const int64_t key_step = w.key_stride * w.elem_size, value_step = w.value_stride * w.elem_size;
  for (int64_t t = blockIdx.x; t < w.num_tokens; t += gridDim.x) {
    const int64_t slot = w.slots[t];
    if (slot >= 0 && slot < w.num_slots) {
      const U* __restrict__ k = reinterpret_cast<const U*>(w.key + t * key_step);
      const U* __restrict__ v = reinterpret_cast<const U*>(w.value + t * value_step);
      U* __restrict__ kc = reinterpret_cast<U*>(w.key_cache + slot * row_bytes);
      U* __restrict__ vc = reinterpret_cast<U*>(w.value_cache + slot * row_bytes);
#pragma unroll 2  // the default unroll of 4 spills (ptxas, sm_90a)
      for (int u = threadIdx.x; u < units; u += kThreads) {
        kc[u] = k[u];
        vc[u] = v[u];
      }
    }
  }
}

// ---- paged decode ------------------------------------------------------------------------------

constexpr int kP = kDecodePartition;
constexpr int kHeadChunk = 8;  // query heads whose sums one thread holds at a time

// Shared memory of the partition kernel, in floats.
int64_t decode_smem_floats(int64_t group, int64_t dim) {
  return group * dim            // q_s     [group][D]
         + group * kP           // logits  [group][P]
         + 4 * kHeadChunk * dim // red     [warps][8][D]
         + 2 * group;           // m_s, l_s
}

template <class T, int D>
__global__ void __launch_bounds__(kThreads) paged_decode_kernel(PagedDecode p, int group, int parts,
                                                                int block_shift) {
  static_assert(D % 64 == 0 && D <= 256, "head_dim 64, 128 or 256");
  constexpr int kVecs = D / 8;                      // 16-byte vectors per row
  constexpr int kHalfVecs = kVecs / 2;              // K vectors per thread (every other one)
  constexpr int kRowThreads = kVecs;                // threads per V row
  constexpr int kRowGroups = kThreads / kRowThreads;
  constexpr int kUnroll = 4;                        // V rows in flight per thread

  extern __shared__ __align__(16) unsigned char smem_raw[];
  float* q_s = reinterpret_cast<float*>(smem_raw);  // [group][D]
  float* logits = q_s + group * D;                   // [group][P]
  float* red = logits + group * kP;                  // [4 warps][8][D]
  float* m_s = red + 4 * kHeadChunk * D;             // [group]
  float* l_s = m_s + group;                          // [group]

  const int64_t flat = blockIdx.x;
  const int part = int(flat % parts);
  const int64_t rest = flat / parts;
  const int64_t kvh = rest % p.num_kv_heads;
  const int64_t seq = rest / p.num_kv_heads;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int64_t heads = p.num_heads;
  T* out = static_cast<T*>(p.out);

  pdl_begin();
  const int ctx = int(lmin(lmax(p.context_lens[seq], 0), p.max_context));
  const int start = part * kP;
  if (start >= ctx) {  // nothing here (block-uniform); a lone empty partition writes zeros
    if (parts == 1)
      for (int i = tid; i < group * D; i += kThreads)
        out[(seq * heads + kvh * group) * D + i] = from_float<T>(0.f);
    return;
  }
  const int n = min(kP, ctx - start);
  const int32_t* table = p.block_tables + seq * p.table_stride;
  const T* kc = static_cast<const T*>(p.key_cache);
  const T* vc = static_cast<const T*>(p.value_cache);
  const int bs = int(p.block_size);
  // Element offset of token t's row (this kv head) in the caches; -1 for a bad block id. A
  // power-of-two block size (block_shift >= 0) splits a token position with a shift.
  auto row_of = [&](int t) -> int64_t {
    const int tok = start + t;
    const int idx = block_shift >= 0 ? tok >> block_shift : tok / bs;
    const int off = tok - idx * bs;
    const int64_t block = table[idx];
    if (block < 0 || block >= p.num_blocks) return -1;
    return ((block * bs + off) * p.num_kv_heads + kvh) * D;
  };

  const float qscale = p.scale * kLog2e;
  const T* q = static_cast<const T*>(p.query) + (seq * heads + kvh * group) * D;
  for (int i = tid; i < group * D; i += kThreads) q_s[i] = to_float(q[i]) * qscale;
  __syncthreads();

  // scores: two threads per token, the even and the odd 16-byte vectors of its K row (each warp
  // load reads 32 contiguous bytes of 16 rows), their dots summed by one shuffle. The loop bound
  // is block-uniform so that every lane reaches the shuffles.
  const int half = tid & 1;
  for (int base = 0; base < n; base += kThreads / 2) {
    const int t = base + tid / 2;
    const int64_t row = t < n ? row_of(t) : -1;
    const uint4* krow = reinterpret_cast<const uint4*>(kc + lmax(row, 0)) + half;
    uint4 kv[kHalfVecs];
#pragma unroll
    for (int i = 0; i < kHalfVecs; ++i) kv[i] = row >= 0 ? __ldg(krow + 2 * i) : make_uint4(0, 0, 0, 0);
    for (int g0 = 0; g0 < group; g0 += kHeadChunk) {
      float s[kHeadChunk];
#pragma unroll
      for (int j = 0; j < kHeadChunk; ++j) s[j] = 0.f;
#pragma unroll
      for (int i = 0; i < kHalfVecs; ++i) {
        float kf[8];
        unpack8<T>(kv[i], kf);
#pragma unroll
        for (int j = 0; j < kHeadChunk; ++j)
          if (g0 + j < group) s[j] += dot8(q_s + (g0 + j) * D + (2 * i + half) * 8, kf);
      }
#pragma unroll
      for (int j = 0; j < kHeadChunk; ++j) s[j] += __shfl_xor_sync(kFull, s[j], 1);
      if (half == 0 && t < n) {
#pragma unroll
        for (int j = 0; j < kHeadChunk; ++j)
          if (g0 + j < group) logits[(g0 + j) * kP + t] = row >= 0 ? s[j] : -INFINITY;
      }
    }
  }
  __syncthreads();

  // softmax over the partition: one warp per head
  for (int g = warp; g < group; g += kThreads / 32) {
    float* lg = logits + g * kP;
    float m = -INFINITY;
    for (int t = lane; t < n; t += 32) m = fmaxf(m, lg[t]);
    m = warp_max(m);
    float l = 0.f;
    for (int t = lane; t < n; t += 32) {
      const float e = m == -INFINITY ? 0.f : exp2f(lg[t] - m);
      lg[t] = e;
      l += e;
    }
    l = warp_sum(l);
    if (lane == 0) {
      m_s[g] = m;
      l_s[g] = l;
    }
  }
  __syncthreads();

  // P.V: thread (row group rg, column block cb) owns dims cb*8 .. cb*8+7 of rows rg, rg+groups, ...
  const int rg = tid / kRowThreads, cb = tid % kRowThreads;
  for (int g0 = 0; g0 < group; g0 += kHeadChunk) {
    float acc[kHeadChunk][8];
#pragma unroll
    for (int j = 0; j < kHeadChunk; ++j)
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[j][e] = 0.f;
    for (int t0 = rg; t0 < n; t0 += kUnroll * kRowGroups) {
      uint4 vv[kUnroll];
      bool ok[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int t = t0 + u * kRowGroups;
        const int64_t row = t < n ? row_of(t) : -1;
        ok[u] = row >= 0;
        vv[u] = ok[u] ? __ldg(reinterpret_cast<const uint4*>(vc + row) + cb) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (!ok[u]) continue;
        const int t = t0 + u * kRowGroups;
        float vf[8];
        unpack8<T>(vv[u], vf);
#pragma unroll
        for (int j = 0; j < kHeadChunk; ++j) {
          if (g0 + j >= group) continue;
          const float pj = logits[(g0 + j) * kP + t];
#pragma unroll
          for (int e = 0; e < 8; ++e) acc[j][e] += pj * vf[e];
        }
      }
    }
    // sum over the row groups of a warp (lanes kRowThreads apart), then over warps in order
#pragma unroll
    for (int off = kRowThreads; off < 32; off <<= 1)
#pragma unroll
      for (int j = 0; j < kHeadChunk; ++j)
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[j][e] += __shfl_xor_sync(kFull, acc[j][e], off);
    if (lane < kRowThreads) {
#pragma unroll
      for (int j = 0; j < kHeadChunk; ++j) {
        float4* dst = reinterpret_cast<float4*>(red + (warp * kHeadChunk + j) * D + cb * 8);
        dst[0] = make_float4(acc[j][0], acc[j][1], acc[j][2], acc[j][3]);
        dst[1] = make_float4(acc[j][4], acc[j][5], acc[j][6], acc[j][7]);
      }
    }
    __syncthreads();
    for (int i = tid; i < kHeadChunk * D; i += kThreads) {
      const int j = i / D, d = i % D;
      const int g = g0 + j;
      if (g >= group) continue;
      float o = 0.f;
#pragma unroll
      for (int w = 0; w < kThreads / 32; ++w) o += red[(w * kHeadChunk + j) * D + d];
      const int64_t head_row = seq * heads + kvh * group + g;  // (seq, head)
      if (parts == 1) {
        const float l = l_s[g];
        out[head_row * D + d] = from_float<T>(l > 0.f ? o / l : 0.f);
      } else {
        p.partial_out[(head_row * parts + part) * D + d] = o;
        if (d == 0) {
          p.partial_ml[(head_row * parts + part) * 2] = m_s[g];
          p.partial_ml[(head_row * parts + part) * 2 + 1] = l_s[g];
        }
      }
    }
    __syncthreads();  // red is reused by the next head chunk
  }
}

// One block per (sequence, head), one thread per dim: the partitions' outputs rescaled to the
// global max and divided by the global sum.
template <class T, int D>
__global__ void __launch_bounds__(D) paged_decode_combine_kernel(PagedDecode p, int parts) {
  const int64_t head_row = blockIdx.x;  // seq * num_heads + head
  const int64_t seq = head_row / p.num_heads;
  const int d = threadIdx.x;
  pdl_begin();
  const int ctx = int(lmin(lmax(p.context_lens[seq], 0), p.max_context));
  const int used = min(parts, (ctx + kP - 1) / kP);
  const float* ml = p.partial_ml + head_row * parts * 2;
  const float* po = p.partial_out + head_row * parts * D;
  float m = -INFINITY;
  for (int i = 0; i < used; ++i) m = fmaxf(m, ml[2 * i]);
  float l = 0.f, o = 0.f;
  if (m != -INFINITY) {
    for (int i = 0; i < used; ++i) {
      const float mi = ml[2 * i];
      if (mi == -INFINITY) continue;
      const float w = exp2f(mi - m);
      l += w * ml[2 * i + 1];
      o += w * po[i * D + d];
    }
  }
  static_cast<T*>(p.out)[head_row * D + d] = from_float<T>(l > 0.f ? o / l : 0.f);
}

// ---- varlen ------------------------------------------------------------------------------------

constexpr int kBQ = 16;  // queries per block: 4 warps x 4
constexpr int kBK = 32;  // keys per tile: one per lane
constexpr int kQueriesPerWarp = kBQ / (kThreads / 32);

template <int D> constexpr int64_t varlen_smem_bytes() {
  return int64_t(kBQ) * D * 4 + int64_t(kBK) * (D + 8) * 2 + int64_t(kBK) * D * 2;
}

template <class T, int D>
__global__ void __launch_bounds__(kThreads) varlen_kernel(Varlen p, int q_tiles) {
  static_assert(D % 64 == 0 && D <= 256, "head_dim 64, 128 or 256");
  constexpr int kVecs = D / 8;
  constexpr int kLaneDims = D / 32;  // P.V dims per lane: 2, 4 or 8
  constexpr int kKStride = D + 8;    // padded K row (elements): lane j's row reads skip banks

  extern __shared__ __align__(16) unsigned char smem_raw[];
  float* q_s = reinterpret_cast<float*>(smem_raw);           // [BQ][D]
  T* k_s = reinterpret_cast<T*>(q_s + kBQ * D);              // [BK][D + 8]
  T* v_s = k_s + kBK * kKStride;                              // [BK][D]

  const int64_t flat = blockIdx.x;
  const int tile = int(flat % q_tiles);
  const int64_t rest = flat / q_tiles;
  const int64_t h = rest % p.num_heads;
  const int64_t b = rest / p.num_heads;
  const int64_t kvh = h / (p.num_heads / p.num_kv_heads);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;

  pdl_begin();
  const int64_t q0 = p.cu_q[b], k0 = p.cu_k[b];
  // Lengths cut to the bounds and to the tensors (device values are not trusted).
  const int lq = int(lmax(0, lmin(lmin(p.cu_q[b + 1] - q0, p.max_seqlen_q), p.total_q - q0)));
  const int lk = int(lmax(0, lmin(lmin(p.cu_k[b + 1] - k0, p.max_seqlen_k), p.total_k - k0)));
  const int qt = tile * kBQ;
  if (q0 < 0 || k0 < 0 || qt >= lq) return;  // block-uniform
  const int q_last = min(qt + kBQ, lq) - 1;
  const int diag = lk - lq;  // causal: query i sees keys j <= i + diag
  const int kend = p.causal ? max(0, min(lk, q_last + diag + 1)) : lk;

  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  const float qscale = p.scale * kLog2e;
  for (int i = tid; i < kBQ * D; i += kThreads) {
    const int r = i / D, d = i % D;
    q_s[i] = qt + r < lq ? to_float(q[((q0 + qt + r) * p.num_heads + h) * D + d]) * qscale : 0.f;
  }

  float m[kQueriesPerWarp], l[kQueriesPerWarp], acc[kQueriesPerWarp][kLaneDims];
#pragma unroll
  for (int u = 0; u < kQueriesPerWarp; ++u) {
    m[u] = -INFINITY;
    l[u] = 0.f;
#pragma unroll
    for (int e = 0; e < kLaneDims; ++e) acc[u][e] = 0.f;
  }

  for (int kt = 0; kt < kend; kt += kBK) {
    __syncthreads();  // the previous tile is consumed (and q_s written, the first time)
    for (int i = tid; i < kBK * kVecs; i += kThreads) {
      const int r = i / kVecs, c = i % kVecs;
      uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
      if (kt + r < lk) {
        const int64_t off = ((k0 + kt + r) * p.num_kv_heads + kvh) * D + c * 8;
        kv = __ldg(reinterpret_cast<const uint4*>(k + off));
        vv = __ldg(reinterpret_cast<const uint4*>(v + off));
      }
      *reinterpret_cast<uint4*>(k_s + r * kKStride + c * 8) = kv;
      *reinterpret_cast<uint4*>(v_s + r * D + c * 8) = vv;
    }
    __syncthreads();
    const int kj = kt + lane;
#pragma unroll
    for (int u = 0; u < kQueriesPerWarp; ++u) {
      const int r = warp * kQueriesPerWarp + u;
      const int qi = qt + r;
      if (qi >= lq) continue;  // warp-uniform
      const float* qrow = q_s + r * D;
      const T* krow = k_s + lane * kKStride;
      float s = 0.f;
#pragma unroll 8
      for (int c = 0; c < kVecs; ++c) {
        float kf[8];
        unpack8<T>(*reinterpret_cast<const uint4*>(krow + c * 8), kf);
        s += dot8(qrow + c * 8, kf);
      }
      const bool visible = kj < lk && (!p.causal || kj <= qi + diag);
      s = visible ? s : -INFINITY;
      const float m_new = fmaxf(m[u], warp_max(s));
      if (m_new == -INFINITY) continue;  // nothing visible yet (warp-uniform)
      const float alpha = exp2f(m[u] - m_new);
      const float pj = exp2f(s - m_new);
      l[u] = l[u] * alpha + warp_sum(pj);
      m[u] = m_new;
#pragma unroll
      for (int e = 0; e < kLaneDims; ++e) acc[u][e] *= alpha;
#pragma unroll 4
      for (int j = 0; j < kBK; ++j) {
        const float pb = __shfl_sync(kFull, pj, j);
        const T* vrow = v_s + j * D + lane * kLaneDims;
        float vf[kLaneDims];
        if constexpr (kLaneDims == 8) {
          unpack8<T>(*reinterpret_cast<const uint4*>(vrow), vf);
        } else {
#pragma unroll
          for (int e = 0; e < kLaneDims; e += 2) {
            const float2 f = to_float2<T>(reinterpret_cast<const uint32_t*>(vrow)[e / 2]);
            vf[e] = f.x;
            vf[e + 1] = f.y;
          }
        }
#pragma unroll
        for (int e = 0; e < kLaneDims; ++e) acc[u][e] += pb * vf[e];
      }
    }
  }

  T* out = static_cast<T*>(p.out);
#pragma unroll
  for (int u = 0; u < kQueriesPerWarp; ++u) {
    const int qi = qt + warp * kQueriesPerWarp + u;
    if (qi >= lq) continue;
    const float inv = l[u] > 0.f ? 1.f / l[u] : 0.f;
    T* orow = out + ((q0 + qi) * p.num_heads + h) * D + lane * kLaneDims;
#pragma unroll
    for (int e = 0; e < kLaneDims; ++e) orow[e] = from_float<T>(acc[u][e] * inv);
  }
}

// ---- varlen on tensor cores ----------------------------------------------------------------------
// block = (64-query tile, head, sequence), 4 warps of 16 query rows. Per key tile (64 keys; 32 at
// head_dim 256, for registers): S = Q K^T with mma.sync m16n8k16 (Q and K through ldmatrix from
// shared memory, rows padded by 16 bytes so that ldmatrix's 8 rows hit distinct banks), the online
// softmax on S's accumulator fragments (each row lives in one quad of lanes), P rounded to the
// input dtype and fed back as the A operand, O += P V with V through ldmatrix.trans.

constexpr int kMmaBQ = 64;
template <int D> constexpr int mma_bk() { return D == 256 ? 32 : 64; }
template <int D> constexpr int64_t varlen_mma_smem_bytes() {
  return int64_t(kMmaBQ + 2 * mma_bk<D>()) * (D + 8) * 2;
}

__device__ __forceinline__ uint32_t smem_u32(const void* ptr) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(ptr));
}

// The four 8x8 b16 matrices whose rows lanes 8i..8i+7 point at; lane l gets, of matrix i, row l/4,
// columns 2(l%4) and 2(l%4)+1 (transposed: column l/4, rows 2(l%4), 2(l%4)+1).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(row)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(row)));
}

// c (16x8, fp32) += a (16x16, row) * b (16x8, col)
template <class T> __device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                                            uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Two floats rounded to T and packed (x in the low half).
template <class T> __device__ __forceinline__ uint32_t pack2(float x, float y) {
  uint32_t bits;
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 h = __floats2half2_rn(x, y);
    memcpy(&bits, &h, 4);
  } else {
    const __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
    memcpy(&bits, &h, 4);
  }
  return bits;
}

template <class T, int D>
__global__ void __launch_bounds__(kThreads) varlen_mma_kernel(Varlen p, int q_tiles) {
  static_assert(D % 64 == 0 && D <= 256, "head_dim 64, 128 or 256");
  constexpr int kBK = mma_bk<D>();
  constexpr int kStride = D + 8;   // padded row (elements)
  constexpr int kVecs = D / 8;     // 16-byte vectors per row
  constexpr int kSTiles = kBK / 8; // n8 tiles of S per warp
  constexpr int kOTiles = D / 8;   // n8 tiles of O per warp
  static_assert(kMmaBQ == 16 * (kThreads / 32), "a warp per 16 query rows");

  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* q_s = reinterpret_cast<T*>(smem_raw);  // [BQ][D + 8]
  T* k_s = q_s + kMmaBQ * kStride;          // [BK][D + 8]
  T* v_s = k_s + kBK * kStride;             // [BK][D + 8]

  const int64_t flat = blockIdx.x;
  const int tile = int(flat % q_tiles);
  const int64_t rest = flat / q_tiles;
  const int64_t h = rest % p.num_heads;
  const int64_t b = rest / p.num_heads;
  const int64_t kvh = h / (p.num_heads / p.num_kv_heads);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;

  pdl_begin();
  const int64_t q0 = p.cu_q[b], k0 = p.cu_k[b];
  const int lq = int(lmax(0, lmin(lmin(p.cu_q[b + 1] - q0, p.max_seqlen_q), p.total_q - q0)));
  const int lk = int(lmax(0, lmin(lmin(p.cu_k[b + 1] - k0, p.max_seqlen_k), p.total_k - k0)));
  const int qt = tile * kMmaBQ;
  if (q0 < 0 || k0 < 0 || qt >= lq) return;  // block-uniform
  const int q_last = min(qt + kMmaBQ, lq) - 1;
  const int diag = lk - lq;  // causal: query i sees keys j <= i + diag
  const int kend = p.causal ? max(0, min(lk, q_last + diag + 1)) : lk;

  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  static_assert((kMmaBQ * kVecs) % kThreads == 0 && (kBK * kVecs) % kThreads == 0, "whole tiles per thread");
  // K/V vectors a thread loads per tile, and how many it has in flight (fewer at head_dim 256,
  // whose output fragments take 128 registers).
  constexpr int kLoadIters = kBK * kVecs / kThreads;
  constexpr int kLoadBatch = D == 256 ? 2 : kLoadIters;
  static_assert(kLoadIters % kLoadBatch == 0, "whole load batches");
#pragma unroll
  for (int it = 0; it < kMmaBQ * kVecs / kThreads; ++it) {
    const int i = tid + it * kThreads;
    const int r = i / kVecs, c = i % kVecs;
    uint4 x = make_uint4(0, 0, 0, 0);
    if (qt + r < lq) x = __ldg(reinterpret_cast<const uint4*>(q + ((q0 + qt + r) * p.num_heads + h) * D) + c);
    *reinterpret_cast<uint4*>(q_s + r * kStride + c * 8) = x;
  }

  const int g = lane / 4, t4 = lane % 4;  // fragment row and column pair of this lane
  const int wrow = warp * 16;             // the warp's first row in the tile
  const int qi0 = qt + wrow + g, qi1 = qi0 + 8;  // queries of the lane's two fragment rows
  const float qscale = p.scale * kLog2e;
  float o[kOTiles][4];
#pragma unroll
  for (int i = 0; i < kOTiles; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};  // l: this lane's part of the row sums
  // ldmatrix row pointers of this lane: A (Q) and K (non-transposed), V (transposed)
  const int a_row = (lane & 7) + ((lane >> 3) & 1) * 8, a_col = (lane >> 4) * 8;
  const int k_row = (lane & 7) + (lane >> 4) * 8, k_col = ((lane >> 3) & 1) * 8;
  const int v_row = (lane & 7) + ((lane >> 3) & 1) * 8, v_col = (lane >> 4) * 8;

  for (int kt = 0; kt < kend; kt += kBK) {
    __syncthreads();  // the previous tile is consumed (and q_s written, the first time)
#pragma unroll 1
    for (int it0 = 0; it0 < kLoadIters; it0 += kLoadBatch) {
#pragma unroll
      for (int u = 0; u < kLoadBatch; ++u) {
        const int i = tid + (it0 + u) * kThreads;
        const int r = i / kVecs, c = i % kVecs;
        uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
        if (kt + r < lk) {
          const int64_t off = ((k0 + kt + r) * p.num_kv_heads + kvh) * D;
          kv = __ldg(reinterpret_cast<const uint4*>(k + off) + c);
          vv = __ldg(reinterpret_cast<const uint4*>(v + off) + c);
        }
        *reinterpret_cast<uint4*>(k_s + r * kStride + c * 8) = kv;
        *reinterpret_cast<uint4*>(v_s + r * kStride + c * 8) = vv;
      }
    }
    __syncthreads();

    float s[kSTiles][4];  // S (16 x BK) of the warp
#pragma unroll
    for (int i = 0; i < kSTiles; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t a[4];
      ldmatrix_x4(a, q_s + (wrow + a_row) * kStride + kk * 16 + a_col);
#pragma unroll
      for (int nt = 0; nt < kSTiles; nt += 2) {
        uint32_t bk[4];
        ldmatrix_x4(bk, k_s + (nt * 8 + k_row) * kStride + kk * 16 + k_col);
        mma16816<T>(s[nt], a, bk[0], bk[1]);
        mma16816<T>(s[nt + 1], a, bk[2], bk[3]);
      }
    }

    // online softmax: entries 0,1 of a tile are row qi0, entries 2,3 row qi1
    float mt[2] = {m[0], m[1]};
#pragma unroll
    for (int nt = 0; nt < kSTiles; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = kt + nt * 8 + 2 * t4 + (e & 1);
        const int qi = e < 2 ? qi0 : qi1;
        const bool visible = key < lk && (!p.causal || key <= qi + diag);
        s[nt][e] = visible ? s[nt][e] * qscale : -INFINITY;
        mt[e >> 1] = fmaxf(mt[e >> 1], s[nt][e]);
      }
    }
    float alpha[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mt[r] = fmaxf(mt[r], __shfl_xor_sync(kFull, mt[r], 1));
      mt[r] = fmaxf(mt[r], __shfl_xor_sync(kFull, mt[r], 2));
      alpha[r] = mt[r] == -INFINITY ? 1.f : exp2f(m[r] - mt[r]);
      m[r] = mt[r];
      l[r] *= alpha[r];
    }
#pragma unroll
    for (int nt = 0; nt < kSTiles; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float mr = m[e >> 1];
        const float pe = mr == -INFINITY ? 0.f : exp2f(s[nt][e] - mr);
        s[nt][e] = pe;
        l[e >> 1] += pe;
      }
    }
#pragma unroll
    for (int i = 0; i < kOTiles; ++i) {
      o[i][0] *= alpha[0];
      o[i][1] *= alpha[0];
      o[i][2] *= alpha[1];
      o[i][3] *= alpha[1];
    }

    // O += P V: P's accumulator layout is the A layout of the next mma (two S tiles a k-step)
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      const uint32_t a[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                             pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dt = 0; dt < kOTiles; dt += 2) {
        uint32_t bv[4];
        ldmatrix_x4_trans(bv, v_s + (kk * 16 + v_row) * kStride + dt * 8 + v_col);
        mma16816<T>(o[dt], a, bv[0], bv[1]);
        mma16816<T>(o[dt + 1], a, bv[2], bv[3]);
      }
    }
  }

  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(kFull, l[r], 1);
    l[r] += __shfl_xor_sync(kFull, l[r], 2);
    inv[r] = l[r] > 0.f ? 1.f / l[r] : 0.f;
  }
  T* out = static_cast<T*>(p.out);
  T* row0 = out + ((q0 + qi0) * p.num_heads + h) * D + 2 * t4;
  T* row1 = out + ((q0 + qi1) * p.num_heads + h) * D + 2 * t4;
#pragma unroll
  for (int dt = 0; dt < kOTiles; ++dt) {
    if (qi0 < lq) *reinterpret_cast<uint32_t*>(row0 + dt * 8) = pack2<T>(o[dt][0] * inv[0], o[dt][1] * inv[0]);
    if (qi1 < lq) *reinterpret_cast<uint32_t*>(row1 + dt * 8) = pack2<T>(o[dt][2] * inv[1], o[dt][3] * inv[1]);
  }
}

}  // namespace

void reshape_and_cache_cuda(const CacheWrite& w) {
  if (w.num_tokens == 0 || w.row == 0) return;
  const int64_t row_bytes = w.row * w.elem_size;
  TORCH_CHECK(row_bytes <= INT_MAX, "reshape_and_cache: rows of more than 2 GiB are not supported");
  // The widest unit that divides every row and aligns every pointer.
  int unit = 16;
  auto fits = [&](int u) {
    auto aligned = [&](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % u == 0; };
    return row_bytes % u == 0 && (w.key_stride * w.elem_size) % u == 0 &&
           (w.value_stride * w.elem_size) % u == 0 && aligned(w.key) && aligned(w.value) &&
           aligned(w.key_cache) && aligned(w.value_cache);
  };
  while (unit > 1 && !fits(unit)) unit /= 2;
  const unsigned blocks = unsigned(std::min<int64_t>(w.num_tokens, int64_t(1) << 30));
  auto run = [&](auto tag) {
    using U = typename decltype(tag)::type;
    launch(cache_write_kernel<U>, dim3(blocks), dim3(kThreads), stream(), w, int(row_bytes / int64_t(sizeof(U))));
  };
  switch (unit) {
    case 16: run(type_tag<uint4>{}); break;
    case 8: run(type_tag<uint2>{}); break;
    case 4: run(type_tag<uint32_t>{}); break;
    case 2: run(type_tag<uint16_t>{}); break;
    default: run(type_tag<uint8_t>{}); break;
  }
}

void paged_decode_cuda(const PagedDecode& p) {
  if (p.num_seqs == 0 || p.num_heads == 0) return;
  const int64_t group = p.num_heads / p.num_kv_heads;
  const int64_t smem = decode_smem_floats(group, p.head_dim) * 4;
  TORCH_CHECK(smem <= 220 * 1024, "paged_decode_attention: ", group,
              " query heads per kv head do not fit in shared memory at head_dim ", p.head_dim);
  const int64_t parts = p.num_parts;
  TORCH_CHECK(parts == 1 || (p.partial_out && p.partial_ml), "paged_decode_attention: no split-KV scratch");
  const int64_t blocks = parts * p.num_kv_heads * p.num_seqs;
  TORCH_CHECK(p.block_size <= INT_MAX, "paged_decode_attention: block_size beyond 2^31");
  const int block_shift = (p.block_size & (p.block_size - 1)) == 0 ? __builtin_ctzll(p.block_size) : -1;
  TORCH_CHECK(blocks <= INT_MAX && p.num_seqs * p.num_heads <= INT_MAX,
              "paged_decode_attention: too many sequences and heads for one launch");
  dispatch_half(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_dim(p.head_dim, [&](auto dim) {
      constexpr int D = decltype(dim)::value;
      launch_with_smem(paged_decode_kernel<T, D>, dim3(unsigned(blocks)), dim3(kThreads), size_t(smem),
                       stream(), p, int(group), int(parts), block_shift);
      if (parts > 1)
        launch(paged_decode_combine_kernel<T, D>, dim3(unsigned(p.num_seqs * p.num_heads)), dim3(D),
               stream(), p, int(parts));
    });
  });
}

void varlen_cuda(const Varlen& p) {
  if (p.batch == 0 || p.max_seqlen_q == 0 || p.num_heads == 0) return;
  // GEMFORGE_VARLEN_SIMT=1 picks the CUDA-core kernel (a cross-check of the tensor-core one).
  static const bool simt = [] {
    const char* env = std::getenv("GEMFORGE_VARLEN_SIMT");
    return env && *env && std::string(env) != "0";
  }();
  const int64_t bq = simt ? kBQ : kMmaBQ;
  const int64_t q_tiles = (p.max_seqlen_q + bq - 1) / bq;
  const int64_t blocks = q_tiles * p.num_heads * p.batch;
  TORCH_CHECK(blocks <= INT_MAX, "varlen_attention: too many sequences, heads and query tiles for one launch");
  dispatch_half(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_dim(p.head_dim, [&](auto dim) {
      constexpr int D = decltype(dim)::value;
      if (simt)
        launch_with_smem(varlen_kernel<T, D>, dim3(unsigned(blocks)), dim3(kThreads),
                         size_t(varlen_smem_bytes<D>()), stream(), p, int(q_tiles));
      else
        launch_with_smem(varlen_mma_kernel<T, D>, dim3(unsigned(blocks)), dim3(kThreads),
                         size_t(varlen_mma_smem_bytes<D>()), stream(), p, int(q_tiles));
    });
  });
}

}  // namespace gemforge::attn_inf
