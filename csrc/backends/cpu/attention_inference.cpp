// cpu kernels of the inference attention ops (backends/attention_inference.h): plain reference
// loops, fp32 accumulation, every index checked (the cpu raises where cuda can only skip).
#include "backends/attention_inference.h"

#include <c10/util/BFloat16.h>
#include <c10/util/Exception.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace gemforge::attn_inf {
namespace {

template <class F> void dispatch_half(ScalarType t, F&& f) {
  if (t == ScalarType::Half) f(type_tag<c10::Half>{});
  else f(type_tag<c10::BFloat16>{});
}

// out[0..dim) = softmax(scores) . rows, the rows given by value_row(j); zeros without scores.
template <class T, class Row>
void softmax_times_v(std::vector<float>& scores, int64_t n, int64_t dim, Row&& value_row, T* out) {
  std::vector<float> acc(dim, 0.f);
  if (n > 0) {
    const float m = *std::max_element(scores.begin(), scores.begin() + n);
    float sum = 0.f;
    for (int64_t j = 0; j < n; ++j) {
      const float p = std::exp(scores[j] - m);
      sum += p;
      const T* v = value_row(j);
      for (int64_t d = 0; d < dim; ++d) acc[d] += p * static_cast<float>(v[d]);
    }
    for (int64_t d = 0; d < dim; ++d) acc[d] /= sum;
  }
  for (int64_t d = 0; d < dim; ++d) out[d] = static_cast<T>(acc[d]);
}

template <class T> float dot(const T* a, const T* b, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += static_cast<float>(a[i]) * static_cast<float>(b[i]);
  return s;
}

}  // namespace

void reshape_and_cache_cpu(const CacheWrite& w) {
  const size_t bytes = size_t(w.row) * w.elem_size;
  for (int64_t t = 0; t < w.num_tokens; ++t) {
    const int64_t slot = w.slots[t];
    if (slot < 0) continue;
    TORCH_CHECK_INDEX(slot < w.num_slots, "reshape_and_cache: slot ", slot, " of token ", t,
                      " is out of range for a cache of ", w.num_slots, " slots");
    std::memcpy(w.key_cache + slot * bytes, w.key + t * w.key_stride * w.elem_size, bytes);
    std::memcpy(w.value_cache + slot * bytes, w.value + t * w.value_stride * w.elem_size, bytes);
  }
}

void paged_decode_cpu(const PagedDecode& p) {
  dispatch_half(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* q = static_cast<const T*>(p.query);
    const T* kc = static_cast<const T*>(p.key_cache);
    const T* vc = static_cast<const T*>(p.value_cache);
    T* out = static_cast<T*>(p.out);
    const int64_t group = p.num_heads / p.num_kv_heads, dim = p.head_dim;
    std::vector<int64_t> rows;
    std::vector<float> scores;
    for (int64_t s = 0; s < p.num_seqs; ++s) {
      const int64_t ctx = p.context_lens[s];
      TORCH_CHECK(ctx >= 0 && ctx <= p.max_context, "paged_decode_attention: context_lens[", s, "] = ", ctx,
                  " is outside [0, ", p.max_context, "] (max_context_len, or max_blocks * block_size)");
      rows.resize(ctx);  // cache rows (in units of [kv_heads, dim]) of the sequence's tokens
      for (int64_t t = 0; t < ctx; ++t) {
        const int64_t block = p.block_tables[s * p.table_stride + t / p.block_size];
        TORCH_CHECK_INDEX(block >= 0 && block < p.num_blocks, "paged_decode_attention: block_tables[", s,
                          "][", t / p.block_size, "] = ", block, " is out of range for ", p.num_blocks,
                          " cache blocks");
        rows[t] = block * p.block_size + t % p.block_size;
      }
      scores.resize(ctx);
      for (int64_t h = 0; h < p.num_heads; ++h) {
        const int64_t kvh = h / group;
        const T* qh = q + (s * p.num_heads + h) * dim;
        for (int64_t t = 0; t < ctx; ++t)
          scores[t] = p.scale * dot(qh, kc + (rows[t] * p.num_kv_heads + kvh) * dim, dim);
        softmax_times_v(scores, ctx, dim, [&](int64_t t) { return vc + (rows[t] * p.num_kv_heads + kvh) * dim; },
                        out + (s * p.num_heads + h) * dim);
      }
    }
  });
}

void varlen_cpu(const Varlen& p) {
  dispatch_half(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* q = static_cast<const T*>(p.q);
    const T* k = static_cast<const T*>(p.k);
    const T* v = static_cast<const T*>(p.v);
    T* out = static_cast<T*>(p.out);
    const int64_t group = p.num_heads / p.num_kv_heads, dim = p.head_dim;
    TORCH_CHECK(p.cu_q[0] == 0 && p.cu_k[0] == 0, "varlen_attention: cu_seqlens must start at 0");
    std::vector<float> scores;
    for (int64_t b = 0; b < p.batch; ++b) {
      const int64_t q0 = p.cu_q[b], q1 = p.cu_q[b + 1], k0 = p.cu_k[b], k1 = p.cu_k[b + 1];
      TORCH_CHECK(q0 <= q1 && q1 <= p.total_q && k0 <= k1 && k1 <= p.total_k,
                  "varlen_attention: cu_seqlens must be non-decreasing and within the ", p.total_q,
                  " query and ", p.total_k, " key tokens (sequence ", b, ")");
      const int64_t lq = q1 - q0, lk = k1 - k0;
      TORCH_CHECK(lq <= p.max_seqlen_q && lk <= p.max_seqlen_k, "varlen_attention: sequence ", b,
                  " has lengths (", lq, ", ", lk, ") beyond max_seqlen_q / max_seqlen_k (", p.max_seqlen_q,
                  ", ", p.max_seqlen_k, ")");
      scores.resize(lk);
      for (int64_t h = 0; h < p.num_heads; ++h) {
        const int64_t kvh = h / group;
        for (int64_t i = 0; i < lq; ++i) {
          // Bottom-right causal alignment: query i sees keys j <= i + lk - lq.
          const int64_t n = p.causal ? std::clamp<int64_t>(i + lk - lq + 1, 0, lk) : lk;
          const T* qi = q + ((q0 + i) * p.num_heads + h) * dim;
          for (int64_t j = 0; j < n; ++j)
            scores[j] = p.scale * dot(qi, k + ((k0 + j) * p.num_kv_heads + kvh) * dim, dim);
          softmax_times_v(scores, n, dim, [&](int64_t j) { return v + ((k0 + j) * p.num_kv_heads + kvh) * dim; },
                          out + ((q0 + i) * p.num_heads + h) * dim);
        }
      }
    }
  });
}

}  // namespace gemforge::attn_inf
