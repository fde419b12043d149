// Inference attention ops (torch.ops.gemforge.*): schemas, argument checks, and the pick of the
// backend. Semantics in ops/attention_inference.h; fake kernels in python/gemforge/attention.py.
// Defined with a fragment so that other custom ops can join the gemforge namespace elsewhere.
#include "ops/attention_inference.h"
#include "backends/attention.h"
#include "backends/attention_inference.h"
#include "ops/attention_forward.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>
#include <torch/library.h>

#include <cstdint>

namespace gemforge::ops {
namespace {

using namespace gemforge::attn_inf;

#ifdef GEMFORGE_WITH_CUDA
#define GF_ATTN(t, fn, arg) ((t).is_cuda() ? fn##_cuda(arg) : fn##_cpu(arg))
#else
#define GF_ATTN(t, fn, arg) fn##_cpu(arg)
#endif

void check_device(const Tensor& t, const Tensor& like, const char* op, const char* name) {
  TORCH_CHECK(t.device() == like.device(), op, ": expected ", name, " on ", like.device(),
              ", got ", t.device());
}

void check_half(const Tensor& t, const char* op, const char* name) {
  TORCH_CHECK_TYPE(t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16, op,
                   ": expected ", name, " of dtype float16 or bfloat16, got ", t.scalar_type());
}

void check_int(const Tensor& t, at::ScalarType dtype, int64_t dim, const char* op, const char* name) {
  TORCH_CHECK_TYPE(t.scalar_type() == dtype, op, ": expected ", name, " of dtype ", dtype, ", got ",
                   t.scalar_type());
  TORCH_CHECK(t.dim() == dim, op, ": expected ", name, " to have ", dim, " dims, got ", t.dim());
}

void check_head_dim(int64_t d, const char* op) {
  TORCH_CHECK(head_dim_served(d), op, ": head_dim must be 64, 128 or 256, got ", d);
}

bool on_backend(const Tensor& t) { return t.is_cpu() || t.is_cuda(); }

// A tensor whose data pointer is 16-byte aligned and whose last dim is dense (copies otherwise).
Tensor dense_aligned(const Tensor& t) {
  Tensor c = t.contiguous();
  if (reinterpret_cast<uintptr_t>(c.data_ptr()) % 16 != 0) c = c.clone();
  return c;
}

}  // namespace

void reshape_and_cache(const Tensor& key, const Tensor& value, const Tensor& key_cache,
                       const Tensor& value_cache, const Tensor& slot_mapping) {
  const char* op = "reshape_and_cache";
  TORCH_CHECK(key.dim() == 3, op, ": expected key [num_tokens, num_kv_heads, head_dim], got ",
              key.sizes());
  TORCH_CHECK(value.sizes() == key.sizes(), op, ": expected value of key's shape ", key.sizes(),
              ", got ", value.sizes());
  TORCH_CHECK(key_cache.dim() == 4, op,
              ": expected key_cache [num_blocks, block_size, num_kv_heads, head_dim], got ",
              key_cache.sizes());
  TORCH_CHECK(value_cache.sizes() == key_cache.sizes(), op, ": expected value_cache of key_cache's shape ",
              key_cache.sizes(), ", got ", value_cache.sizes());
  TORCH_CHECK(key_cache.size(2) == key.size(1) && key_cache.size(3) == key.size(2), op,
              ": the caches' [num_kv_heads, head_dim] ", key_cache.sizes().slice(2),
              " do not match key's ", key.sizes().slice(1));
  check_int(slot_mapping, at::kLong, 1, op, "slot_mapping");
  TORCH_CHECK(slot_mapping.size(0) == key.size(0), op, ": expected slot_mapping of ", key.size(0),
              " tokens, got ", slot_mapping.size(0));
  TORCH_CHECK_TYPE(value.scalar_type() == key.scalar_type() && key_cache.scalar_type() == key.scalar_type() &&
                       value_cache.scalar_type() == key.scalar_type(),
                   op, ": expected key, value and the caches of one dtype, got ", key.scalar_type(), ", ",
                   value.scalar_type(), ", ", key_cache.scalar_type(), ", ", value_cache.scalar_type());
  for (const Tensor* t : {&value, &key_cache, &value_cache, &slot_mapping})
    check_device(*t, key, op, "every tensor");
  TORCH_CHECK(on_backend(key), op, ": not implemented for device ", key.device());
  TORCH_CHECK(key_cache.is_contiguous() && value_cache.is_contiguous(), op,
              ": expected contiguous key_cache and value_cache");
  if (key.numel() == 0) return;
  // Tokens may be strided (a slice of a fused qkv projection); each token's row must be dense.
  auto row_dense = [](const Tensor& t) {
    return t.stride(2) == 1 && (t.size(1) == 1 || t.stride(1) == t.size(2));
  };
  const Tensor k = row_dense(key) ? key : key.contiguous();
  const Tensor v = row_dense(value) ? value : value.contiguous();
  const Tensor slots = slot_mapping.contiguous();
  c10::OptionalDeviceGuard guard(key.device());
  CacheWrite w{int(key.element_size()), static_cast<const char*>(k.data_ptr()),
               static_cast<const char*>(v.data_ptr()), static_cast<char*>(key_cache.data_ptr()),
               static_cast<char*>(value_cache.data_ptr()), slots.data_ptr<int64_t>(),
               key.size(0), key.size(1) * key.size(2), key_cache.size(0) * key_cache.size(1),
               k.size(0) == 1 ? 0 : k.stride(0), v.size(0) == 1 ? 0 : v.stride(0)};
  GF_ATTN(key, reshape_and_cache, w);
}

Tensor paged_decode_attention(const Tensor& query, const Tensor& key_cache, const Tensor& value_cache,
                              const Tensor& block_tables, const Tensor& context_lens, double scale,
                              std::optional<int64_t> max_context_len) {
  const char* op = "paged_decode_attention";
  TORCH_CHECK(query.dim() == 3, op, ": expected query [num_seqs, num_heads, head_dim], got ",
              query.sizes());
  TORCH_CHECK(key_cache.dim() == 4, op,
              ": expected key_cache [num_blocks, block_size, num_kv_heads, head_dim], got ",
              key_cache.sizes());
  TORCH_CHECK(value_cache.sizes() == key_cache.sizes(), op, ": expected value_cache of key_cache's shape ",
              key_cache.sizes(), ", got ", value_cache.sizes());
  check_half(query, op, "query");
  TORCH_CHECK_TYPE(key_cache.scalar_type() == query.scalar_type() &&
                       value_cache.scalar_type() == query.scalar_type(),
                   op, ": expected the caches of query's dtype ", query.scalar_type(), ", got ",
                   key_cache.scalar_type(), " and ", value_cache.scalar_type());
  const int64_t seqs = query.size(0), heads = query.size(1), dim = query.size(2);
  const int64_t blocks = key_cache.size(0), block_size = key_cache.size(1), kv_heads = key_cache.size(2);
  TORCH_CHECK(key_cache.size(3) == dim, op, ": query's head_dim ", dim, " does not match the caches' ",
              key_cache.size(3));
  check_head_dim(dim, op);
  TORCH_CHECK(kv_heads > 0 && heads % kv_heads == 0, op, ": num_heads (", heads,
              ") must be a multiple of num_kv_heads (", kv_heads, ")");
  TORCH_CHECK(block_size > 0, op, ": block_size must be positive");
  check_int(block_tables, at::kInt, 2, op, "block_tables");
  check_int(context_lens, at::kInt, 1, op, "context_lens");
  TORCH_CHECK(block_tables.size(0) == seqs && context_lens.size(0) == seqs, op, ": expected ", seqs,
              " rows of block_tables and context_lens, got ", block_tables.size(0), " and ",
              context_lens.size(0));
  for (const Tensor* t : {&key_cache, &value_cache, &block_tables, &context_lens})
    check_device(*t, query, op, "every tensor");
  TORCH_CHECK(on_backend(query), op, ": not implemented for device ", query.device());
  TORCH_CHECK(key_cache.is_contiguous() && value_cache.is_contiguous(), op,
              ": expected contiguous key_cache and value_cache");
  const int64_t max_blocks = block_tables.size(1);
  int64_t max_context = max_blocks * block_size;
  if (max_context_len) {
    TORCH_CHECK(*max_context_len >= 0, op, ": max_context_len must be >= 0, got ", *max_context_len);
    max_context = std::min(max_context, *max_context_len);
  }
  TORCH_CHECK(max_context < (int64_t(1) << 31), op, ": contexts beyond 2^31 tokens are not supported");

  const Tensor q = dense_aligned(query);
  Tensor out = at::empty(q.sizes(), q.options());
  if (out.numel() == 0) return out;
  const Tensor tables = block_tables.stride(1) == 1 ? block_tables : block_tables.contiguous();
  const Tensor lens = context_lens.contiguous();
  c10::OptionalDeviceGuard guard(query.device());
  PagedDecode p{q.scalar_type(), q.data_ptr(), key_cache.data_ptr(), value_cache.data_ptr(),
                tables.data_ptr<int32_t>(), lens.data_ptr<int32_t>(), out.data_ptr(), seqs, heads,
                kv_heads, dim, blocks, block_size, max_blocks, tables.stride(0), max_context,
                static_cast<float>(scale), nullptr, nullptr, 1};
  Tensor scratch;
  if (query.is_cuda()) {
    TORCH_CHECK(reinterpret_cast<uintptr_t>(key_cache.data_ptr()) % 16 == 0 &&
                    reinterpret_cast<uintptr_t>(value_cache.data_ptr()) % 16 == 0,
                op, ": expected 16-byte aligned caches");
    p.num_parts = std::max<int64_t>(1, (max_context + kDecodePartition - 1) / kDecodePartition);
    if (p.num_parts > 1) {
      const int64_t rows = seqs * heads * p.num_parts;
      scratch = at::empty({rows * (dim + 2)}, q.options().dtype(at::kFloat));
      p.partial_out = scratch.data_ptr<float>();
      p.partial_ml = p.partial_out + rows * dim;
    }
  }
  GF_ATTN(query, paged_decode, p);
  return out;
}

Tensor varlen_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu_seqlens_q,
                        const Tensor& cu_seqlens_k, int64_t max_seqlen_q, int64_t max_seqlen_k,
                        double scale, bool causal) {
  const char* op = "varlen_attention";
  TORCH_CHECK(q.dim() == 3, op, ": expected q [total_q, num_heads, head_dim], got ", q.sizes());
  TORCH_CHECK(k.dim() == 3, op, ": expected k [total_k, num_kv_heads, head_dim], got ", k.sizes());
  TORCH_CHECK(v.sizes() == k.sizes(), op, ": expected v of k's shape ", k.sizes(), ", got ", v.sizes());
  check_half(q, op, "q");
  TORCH_CHECK_TYPE(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(), op,
                   ": expected k and v of q's dtype ", q.scalar_type(), ", got ", k.scalar_type(),
                   " and ", v.scalar_type());
  const int64_t heads = q.size(1), kv_heads = k.size(1), dim = q.size(2);
  TORCH_CHECK(k.size(2) == dim, op, ": q's head_dim ", dim, " does not match k's ", k.size(2));
  check_head_dim(dim, op);
  TORCH_CHECK(kv_heads > 0 && heads % kv_heads == 0, op, ": num_heads (", heads,
              ") must be a multiple of num_kv_heads (", kv_heads, ")");
  check_int(cu_seqlens_q, at::kInt, 1, op, "cu_seqlens_q");
  check_int(cu_seqlens_k, at::kInt, 1, op, "cu_seqlens_k");
  TORCH_CHECK(cu_seqlens_q.size(0) >= 1 && cu_seqlens_k.size(0) == cu_seqlens_q.size(0), op,
              ": expected cu_seqlens_q and cu_seqlens_k of batch + 1 entries each, got ",
              cu_seqlens_q.size(0), " and ", cu_seqlens_k.size(0));
  TORCH_CHECK(max_seqlen_q >= 0 && max_seqlen_k >= 0, op, ": max_seqlen_q and max_seqlen_k must be >= 0");
  TORCH_CHECK(q.size(0) < (int64_t(1) << 31) && k.size(0) < (int64_t(1) << 31), op,
              ": more than 2^31 tokens are not supported");
  for (const Tensor* t : {&k, &v, &cu_seqlens_q, &cu_seqlens_k}) check_device(*t, q, op, "every tensor");
  TORCH_CHECK(on_backend(q), op, ": not implemented for device ", q.device());

  const Tensor qd = dense_aligned(q), kd = dense_aligned(k), vd = dense_aligned(v);
  // Zeros first: rows no sequence owns (past cu_seqlens_q[batch]) are never written.
  Tensor out = at::zeros(qd.sizes(), qd.options());
  const int64_t batch = cu_seqlens_q.size(0) - 1;
  if (out.numel() == 0 || batch == 0) return out;
  const Tensor cq = cu_seqlens_q.contiguous(), ck = cu_seqlens_k.contiguous();
  c10::OptionalDeviceGuard guard(q.device());
#ifdef GEMFORGE_WITH_CUDA
  if (qd.is_cuda()) {  // the Hopper kernel of the fused SDPA ops takes packed sequences
    const PackedSeqs packed{cq.data_ptr<int32_t>(), ck.data_ptr<int32_t>(), batch, max_seqlen_q, max_seqlen_k};
    attention::Forward f;
    if (attention_forward_problem(f, qd, kd, vd, out, Tensor(), scale, causal, 0, &packed) &&
        attention::cuda::forward_sm90(f))
      return out;
  }
#endif
  Varlen p{qd.scalar_type(), qd.data_ptr(), kd.data_ptr(), vd.data_ptr(), out.data_ptr(),
           cq.data_ptr<int32_t>(), ck.data_ptr<int32_t>(), batch, heads, kv_heads, dim,
           qd.size(0), kd.size(0), max_seqlen_q, max_seqlen_k, static_cast<float>(scale), causal};
  GF_ATTN(q, varlen, p);
  return out;
}

}  // namespace gemforge::ops

TORCH_LIBRARY_FRAGMENT(gemforge, m) {
  m.def("reshape_and_cache(Tensor key, Tensor value, Tensor(a!) key_cache, Tensor(b!) value_cache, "
        "Tensor slot_mapping) -> ()");
  m.def("paged_decode_attention(Tensor query, Tensor key_cache, Tensor value_cache, "
        "Tensor block_tables, Tensor context_lens, float scale, int? max_context_len=None) -> Tensor");
  m.def("varlen_attention(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q, Tensor cu_seqlens_k, "
        "int max_seqlen_q, int max_seqlen_k, float scale, bool causal=False) -> Tensor");
}

TORCH_LIBRARY_IMPL(gemforge, CPU, m) {
  m.impl("reshape_and_cache", &gemforge::ops::reshape_and_cache);
  m.impl("paged_decode_attention", &gemforge::ops::paged_decode_attention);
  m.impl("varlen_attention", &gemforge::ops::varlen_attention);
}

#ifdef GEMFORGE_WITH_CUDA
TORCH_LIBRARY_IMPL(gemforge, CUDA, m) {
  m.impl("reshape_and_cache", &gemforge::ops::reshape_and_cache);
  m.impl("paged_decode_attention", &gemforge::ops::paged_decode_attention);
  m.impl("varlen_attention", &gemforge::ops::varlen_attention);
}
#endif
