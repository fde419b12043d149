// The GEMM family's own kernels beside cuBLASLt (backends/gemm_ext.h):
//   addr        out = beta * self + alpha * outer(vec1, vec2): one memory-bound pass (cpu, cuda)
//   _grouped_mm bf16 MoE products in one launch, offsets read on the device (cuda, sm_90)
//   _weight_int8pack_mm  int8 weights dequantized in registers, decode shapes (cuda, m <= 256)
//   _compute_linear_combination  out[i] = sum_j coefficients[i, j] * input[j]: a GEMM over
//               input's first dim (cuda, through gemforge's mm / addmm_)
//   _trilinear  bilinear's form out[b, o] = x1[b] . W[o] . x2[b]: two GEMMs (cuda, mm and bmm)
// Calls outside what the kernels take (mixed dtypes, complex, overlapping out=, other devices,
// layouts the grouped kernel cannot tile) go to torch's own kernel, which raises its errors.
#include "ops/gemm_ext.h"

#include "ops/ops.h"

#include "backends/gemm_ext.h"
#include "backends/int8_mm.h"
#include "engine/dtypes.h"
#include "registry/calls.h"

#include <ATen/ExpandUtils.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/native/Resize.h>
#include <c10/core/DeviceGuard.h>
#include <ATen/CPUFunctions.h>
#include <ATen/CompositeExplicitAutogradNonFunctionalFunctions.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/CUDAFunctions.h>
#include <ATen/native/GroupedMMUtils.h>
#endif

#include <algorithm>
#include <array>
#include <cstdlib>
#include <optional>
#include <cstring>
#include <initializer_list>
#include <type_traits>
#include <vector>

namespace gemforge::ops {
namespace {

using c10::Scalar;
using c10::ScalarType;

#ifdef GEMFORGE_WITH_CUDA
#define GF_EXT_TORCH(on_cuda, fn, ...) ((on_cuda) ? at::cuda::fn(__VA_ARGS__) : at::cpu::fn(__VA_ARGS__))
#else
#define GF_EXT_TORCH(on_cuda, fn, ...) at::cpu::fn(__VA_ARGS__)
#endif
#define GF_EXT_FALLBACK(on_cuda, fn, ...) (::gemforge::reg::note_fallback(), GF_EXT_TORCH(on_cuda, fn, __VA_ARGS__))

// The device torch's dispatcher picked for a call on these tensors (cuda when any is).
[[maybe_unused]] bool any_cuda(const Tensor& a, const Tensor& b, const Tensor& c) { return a.is_cuda() || b.is_cuda() || c.is_cuda(); }

// ---- addr ------------------------------------------------------------------------------------
// torch builds a TensorIterator over (self expanded, vec1 as a column, vec2 as a row); served
// here: one dtype for all three (bool, integers, fp16/bf16/fp32/fp64) on one cpu or cuda device.

constexpr TypeSet kAddrTypes = kReal | kBool;

void check_1d(const Tensor& t, const char* arg) {
  TORCH_CHECK(t.dim() == 1, "addr: Expected 1-D argument ", arg, ", but got ", t.dim(), "-D");
}

// torch's check_addr_scalar, for the (common) dtype of the call
void check_addr_scalar(ScalarType dtype, const Scalar& scalar, const char* name) {
  TORCH_CHECK(!scalar.isBoolean() || dtype == ScalarType::Bool, "Boolean ", name,
              " only supported for Boolean results.");
  TORCH_CHECK(at::isFloatingType(dtype) || at::isComplexType(dtype) || scalar.isIntegral(true),
              "For integral input tensors, argument ", name, " must not be a floating point number.");
}

bool plain(const Tensor& t) {
  return (t.is_cpu() || t.is_cuda()) && t.layout() == at::kStrided && !t.is_neg() && !t._is_zerotensor();
}

bool addr_served(const Tensor& self, const Tensor& vec1, const Tensor& vec2) {
  const ScalarType t = vec1.scalar_type();
  return has(kAddrTypes, t) && vec2.scalar_type() == t && self.scalar_type() == t && plain(vec1) && plain(vec2) &&
         plain(self) && vec2.device() == vec1.device() && self.device() == vec1.device();
}

// Whether out= may be written by the kernel: no element of out is another's, and it shares
// memory with no input (but may be self itself).
bool out_writable(const Tensor& out, const Tensor& self, const Tensor& vec1, const Tensor& vec2) {
  if (at::has_internal_overlap(out) != at::MemOverlap::No) return false;
  if (at::get_overlap_status(out, vec1) != at::MemOverlapStatus::No ||
      at::get_overlap_status(out, vec2) != at::MemOverlapStatus::No)
    return false;
  return out.is_same(self) || at::get_overlap_status(out, self) == at::MemOverlapStatus::No;
}

// out (rows x cols) = beta * self + alpha * outer(vec1, vec2); self broadcasts to out (or is out).
// torch's scalar checks first, then alpha/beta rounded to the dtype (torch's overflow errors).
void run_addr(const Tensor& out, const Tensor& self, const Tensor& vec1, const Tensor& vec2, const Scalar& beta,
              const Scalar& alpha) {
  const ScalarType t = vec1.scalar_type();
  check_addr_scalar(t, beta, "beta");
  check_addr_scalar(t, alpha, "alpha");
  gemm::Addr a{};
  dispatch_dtype<kAddrTypes>(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T b = beta.to<T>(), al = alpha.to<T>();
    if constexpr (std::is_integral_v<T>) {
      a.ibeta = int64_t(b);
      a.ialpha = int64_t(al);
    } else {
      using acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
      a.fbeta = double(static_cast<acc>(b));
      a.falpha = double(static_cast<acc>(al));
    }
  });
  a.dtype = t;
  a.rows = vec1.size(0);
  a.cols = vec2.size(0);
  if (a.rows == 0 || a.cols == 0) return;
  const bool beta_zero = at::isFloatingType(t) ? a.fbeta == 0.0 : a.ibeta == 0;
  a.out = out.data_ptr();
  a.out_s0 = out.stride(0);
  a.out_s1 = out.stride(1);
  if (!beta_zero) {
    // self's strides as broadcast to (rows, cols): size-1 and missing dims step 0
    const int64_t d = self.dim();
    a.self = self.data_ptr();
    a.self_s0 = d == 2 && self.size(0) != 1 ? self.stride(0) : 0;
    a.self_s1 = d >= 1 && self.size(d - 1) != 1 ? self.stride(d - 1) : 0;
  }
  a.vec1 = vec1.data_ptr();
  a.inc1 = vec1.stride(0);
  a.vec2 = vec2.data_ptr();
  a.inc2 = vec2.stride(0);
#ifdef GEMFORGE_WITH_CUDA
  if (out.is_cuda()) {
    c10::DeviceGuard guard(out.device());
    gemm::addr_cuda(a);
    return;
  }
#endif
  gemm::addr_cpu(a);
}

void check_addr_inplace(const Tensor& self, const Tensor& vec1, const Tensor& vec2) {
  TORCH_CHECK(self.dim() == 2, "2D tensor expected, got ", self.dim(), "D tensor for input");
  TORCH_CHECK(self.size(0) == vec1.size(0) && self.size(1) == vec2.size(0), "size mismatch, input: ",
              self.sizes(), ", v1: ", vec1.sizes(), ", v2: ", vec2.sizes());
}

}  // namespace

Tensor addr(const Tensor& self, const Tensor& vec1, const Tensor& vec2, const Scalar& beta, const Scalar& alpha) {
  check_1d(vec1, "vec1");
  check_1d(vec2, "vec2");
  const std::array<int64_t, 2> sizes = {vec1.size(0), vec2.size(0)};
  if (!at::is_expandable_to(self.sizes(), sizes)) (void)self.expand(sizes);  // throws torch's error
  if (!addr_served(self, vec1, vec2)) return GF_EXT_FALLBACK(any_cuda(self, vec1, vec2), addr, self, vec1, vec2, beta, alpha);
  Tensor out = at::empty(sizes, vec1.options());
  run_addr(out, self, vec1, vec2, beta, alpha);
  return out;
}

Tensor& addr_out(const Tensor& self, const Tensor& vec1, const Tensor& vec2, const Scalar& beta,
                 const Scalar& alpha, Tensor& out) {
  check_1d(vec1, "vec1");
  check_1d(vec2, "vec2");
  const std::array<int64_t, 2> sizes = {vec1.size(0), vec2.size(0)};
  if (!at::is_expandable_to(self.sizes(), sizes)) (void)self.expand(sizes);
  const bool served = addr_served(self, vec1, vec2) && plain(out) && out.scalar_type() == vec1.scalar_type() &&
                      out.device() == vec1.device() && out_writable(out, self, vec1, vec2) &&
                      !(out.is_same(self) && out.sizes() != at::IntArrayRef(sizes));
  if (!served) return GF_EXT_FALLBACK(any_cuda(self, vec1, vec2) || out.is_cuda(), addr_out, out, self, vec1, vec2, beta, alpha);
  at::native::resize_output(out, sizes);
  run_addr(out, self, vec1, vec2, beta, alpha);
  return out;
}

Tensor& addr_(Tensor& self, const Tensor& vec1, const Tensor& vec2, const Scalar& beta, const Scalar& alpha) {
  check_1d(vec1, "vec1");
  check_1d(vec2, "vec2");
  check_addr_inplace(self, vec1, vec2);
  if (!addr_served(self, vec1, vec2) || !out_writable(self, self, vec1, vec2)) {
    reg::note_fallback();
    GF_EXT_TORCH(any_cuda(self, vec1, vec2), addr_out, self, self, vec1, vec2, beta, alpha);  // torch's addr_: addr_out(self, self, ...)
    return self;
  }
  run_addr(self, self, vec1, vec2, beta, alpha);
  return self;
}

// ---- _grouped_mm -------------------------------------------------------------------------------
// torch's checks and output (its GroupedMMUtils.h: the same errors, strides and padding), then
// our kernel for bf16 on sm_90 where the layout lets tiles stop at group edges: the grouped
// dimension must not be an operand's contiguous one (a group may start at any offset, and TMA
// boxes start on 16 bytes along it), so 2-d x 3-d takes a row-major mat_a, 3-d x 2-d a
// column-major mat2, 2-d x 2-d (offsets along K) a column-major mat_a and a row-major mat2; and
// TMA wants every operand 16-byte aligned with 16-byte strides. Everything else runs torch's
// kernel (CUTLASS on sm_90, a loop of mm elsewhere).

#ifdef GEMFORGE_WITH_CUDA
namespace {

// GEMFORGE_GROUPED_MM=own sends every call our kernel takes to it, =torch every call to torch's
// kernel; unset: the measured winner (own_kernel_wins). Read on every call (a few hundred ns
// against a grouped GEMM's tens of microseconds) so that tests can switch it per test.
int grouped_override() {
  const char* v = std::getenv("GEMFORGE_GROUPED_MM");
  if (v == nullptr) return 0;
  if (std::strcmp(v, "torch") == 0) return -1;
  if (std::strcmp(v, "own") == 0) return 1;
  return 0;
}

// Our kernel against torch's CUTLASS one on sm_90 (H200, results/h200/stop21/): the same
// structure and the same bits, 0.93-1.12x over the benchmark's MoE shapes (1.01x geometric mean
// with the two taking turns, scripts/dev/grouped_mm_probe.py). It wins clearly where experts get
// few tokens (fewer than 256 rows a group on average: 1.08-1.12x at 64 rows), since a warpgroup
// whose rows all lie past its group's end skips its products; with larger groups torch's kernel
// leads by up to 7%, so it keeps those.
bool own_kernel_wins(const gemm::GroupedMm& g) {
  return g.mode == gemm::GroupMode::kGroupM && g.m < 256 * g.groups;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// TMA's rules for an operand of `elem_bytes` elements: 16-byte aligned, strides (in elements) of
// whole 16 bytes.
bool tma_ready(const void* data, int64_t elem_bytes, std::initializer_list<int64_t> strides) {
  if (!aligned16(data)) return false;
  for (int64_t s : strides)
    if (s * elem_bytes % 16 != 0) return false;
  return true;
}

// The kernel indexes rows and columns in 32 bits.
bool sizes_fit_int32(std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors)
    for (int64_t s : t->sizes())
      if (s > INT32_MAX) return false;
  return true;
}

// torch's reading of a matrix's strides (check_valid_strides_and_return_transposed): the
// second-to-last stride is 1 with the last one at least that dim's size.
bool transposed(const Tensor& x) {
  const int64_t d = x.dim();
  return x.stride(d - 2) == 1 && x.stride(d - 1) >= std::max<int64_t>(1, x.size(d - 2));
}
// ... and its other valid layout: the last stride 1.
bool row_major(const Tensor& x) {
  const int64_t d = x.dim();
  return x.stride(d - 1) == 1 && x.stride(d - 2) >= std::max<int64_t>(1, x.size(d - 1));
}

std::optional<gemm::GroupedMm> grouped_plan(const Tensor& a, const Tensor& b, const std::optional<Tensor>& offs,
                                            const Tensor& out) {
  using gemm::GroupMode;
  const ScalarType bf16 = ScalarType::BFloat16;
  if (!a.is_cuda() || a.scalar_type() != bf16 || b.scalar_type() != bf16 || out.scalar_type() != bf16)
    return std::nullopt;
  const int override_mode = grouped_override();
  if (override_mode < 0 || !gemm::grouped_mm_device(a.get_device())) return std::nullopt;
  if (b.device() != a.device() || out.device() != a.device() || (offs && offs->device() != a.device()))
    return std::nullopt;
  if (offs && !offs->is_contiguous()) return std::nullopt;
  if (!sizes_fit_int32({&a, &b, &out})) return std::nullopt;

  gemm::GroupedMm g{};
  const bool a2 = a.dim() == 2, b2 = b.dim() == 2;
  g.mode = a2 ? (b2 ? GroupMode::kGroupK : GroupMode::kGroupM) : (b2 ? GroupMode::kGroupN : GroupMode::kBatched);
  g.groups = offs ? offs->size(0) : a.size(0);
  if (g.groups > gemm::kGroupedMaxGroups) return std::nullopt;
  // A (.., m, k): k-major unless torch reads it transposed; B (.., k, n): k-major when transposed
  g.a_k_major = !transposed(a);
  g.a_ld = g.a_k_major ? a.stride(-2) : a.stride(-1);
  g.b_k_major = transposed(b);
  g.b_ld = g.b_k_major ? b.stride(-1) : b.stride(-2);
  g.a_bs = a2 ? 0 : a.stride(0);
  g.b_bs = b2 ? 0 : b.stride(0);
  switch (g.mode) {
    case GroupMode::kBatched:
      g.m = a.size(1), g.k = a.size(2), g.n = b.size(2);
      break;
    case GroupMode::kGroupM:
      if (!g.a_k_major) return std::nullopt;
      g.m = a.size(0), g.k = a.size(1), g.n = b.size(2);
      break;
    case GroupMode::kGroupN:
      if (!g.b_k_major) return std::nullopt;
      g.m = a.size(1), g.k = a.size(2), g.n = b.size(1);
      break;
    case GroupMode::kGroupK:
      if (g.a_k_major || g.b_k_major || a.size(1) != b.size(0)) return std::nullopt;
      g.m = a.size(0), g.k = a.size(1), g.n = b.size(1);
      break;
  }
  if (out.stride(-1) != 1) return std::nullopt;
  g.a = a.data_ptr();
  g.b = b.data_ptr();
  g.offs = offs ? offs->data_ptr<int32_t>() : nullptr;
  g.out = out.data_ptr();
  g.out_ld = out.stride(-2);
  g.out_bs = out.dim() == 3 ? out.stride(0) : 0;
  if (!tma_ready(g.a, 2, {g.a_ld, g.a_bs}) || !tma_ready(g.b, 2, {g.b_ld, g.b_bs}) ||
      !tma_ready(g.out, 2, {g.out_ld, g.out_bs}))
    return std::nullopt;
  if (override_mode == 0 && !own_kernel_wins(g)) return std::nullopt;
  return g;
}

}  // namespace
#endif

Tensor grouped_mm(const Tensor& self, const Tensor& mat2, const std::optional<Tensor>& offs,
                  const std::optional<Tensor>& bias, std::optional<ScalarType> out_dtype) {
#ifdef GEMFORGE_WITH_CUDA
  at::native::_grouped_mm_validate_inputs(self, mat2, offs, bias, out_dtype);
  const ScalarType dtype = at::native::_resolve_grouped_mm_out_dtype(self, mat2, out_dtype);
  Tensor out = at::native::create_grouped_gemm_output_tensor(self, mat2, offs, dtype);
  const auto plan = grouped_plan(self, mat2, offs, out);
  if (!plan) {
    reg::note_fallback();
    return at::cuda::_grouped_mm(self, mat2, offs, bias, out_dtype);
  }
  if (plan->groups == 0) return out;
  c10::DeviceGuard guard(self.device());
  gemm::grouped_mm_cuda(*plan);
  return out;
#else
  (void)self, (void)mat2, (void)offs, (void)bias, (void)out_dtype;
  TORCH_CHECK(false, "_grouped_mm: no cuda backend in this build");
#endif
}

// ---- _scaled_grouped_mm -----------------------------------------------------------------------
// The row-wise fp8 case on sm_90: e4m3 operands, mat_a row-major and mat_b column-major (both
// k-major, as torch requires), fp32 scales of torch's shapes (a 2-d operand's (rows,), a 3-d
// one's (G, rows)), bf16 out, no bias or result scale, offsets over m (2-d x 3-d) or n (3-d x
// 2-d) or none (3-d x 3-d). With use_fast_accum the products accumulate at the tensor cores' fp8
// precision, as torch's fast path does (the same bits, scripts/dev/grouped_mm_probe.py
// --scaled); without it (torch's default) the tensor cores' sums of each 128-k step are added
// into fp32, as CUTLASS promotes them. The rest (k grouped, MX scales, every invalid call) runs
// torch's kernel, which raises its errors.

#ifdef GEMFORGE_WITH_CUDA
namespace {

// Against torch's kernels (scripts/dev/grouped_mm_probe.py --scaled --bench, 8 and 64 experts):
// - fast accumulation (H200 stop 21, H100 stop 23): 1.05-1.19x at K 14336, 0.83-1.01x at K 4096;
//   ours takes the deep products.
// - promoted accumulation (H100 stop 23): 2.54x at 64 experts x 16384 tokens (256 a group), where
//   torch's kernel runs at a third of its fast path's rate; 1.00x at K 14336; 0.83-0.86x at K
//   4096 otherwise. Ours takes many experts with at least 256 tokens each.
bool own_scaled_kernel_wins(const gemm::GroupedMm& g) {
  if (!g.fp8_promote) return g.k > 8192;
  return g.mode == gemm::GroupMode::kGroupM && g.groups >= 32 && g.m >= 256 * g.groups;
}

bool fp32_vector(const Tensor& s, int64_t n) {
  return s.scalar_type() == ScalarType::Float && s.dim() == 1 && s.is_contiguous() && s.size(0) == n;
}
bool fp32_rows(const Tensor& s, int64_t groups, int64_t n) {
  return s.scalar_type() == ScalarType::Float && s.dim() == 2 && s.size(0) == groups && s.size(1) == n &&
         s.stride(1) == 1;
}

std::optional<gemm::GroupedMm> scaled_grouped_plan(const Tensor& a, const Tensor& b, const Tensor& scale_a,
                                                   const Tensor& scale_b, const std::optional<Tensor>& offs,
                                                   bool use_fast_accum, std::optional<ScalarType> out_dtype) {
  using gemm::GroupMode;
  const ScalarType e4m3 = ScalarType::Float8_e4m3fn;
  const int override_mode = grouped_override();
  if (override_mode < 0 || !a.is_cuda() || a.scalar_type() != e4m3 || b.scalar_type() != e4m3)
    return std::nullopt;
  if (out_dtype.value_or(ScalarType::BFloat16) != ScalarType::BFloat16 || !gemm::grouped_mm_device(a.get_device()))
    return std::nullopt;
  for (const Tensor* t : {&b, &scale_a, &scale_b})
    if (t->device() != a.device()) return std::nullopt;
  const bool a2 = a.dim() == 2, b2 = b.dim() == 2;
  if (a.dim() < 2 || a.dim() > 3 || b.dim() < 2 || b.dim() > 3 || (a2 && b2)) return std::nullopt;
  // torch takes mat_a row-major and mat_b column-major only (and raises otherwise)
  if (!row_major(a) || !transposed(b) || a.size(-1) != b.size(-2)) return std::nullopt;
  if (a.size(-1) % 16 != 0 || b.size(-2) % 16 != 0 || b.size(-1) % 16 != 0) return std::nullopt;
  if (offs.has_value() != (a2 || b2)) return std::nullopt;
  if (offs && (offs->dim() != 1 || offs->scalar_type() != ScalarType::Int || !offs->is_contiguous() ||
               offs->device() != a.device()))
    return std::nullopt;
  if (!sizes_fit_int32({&a, &b})) return std::nullopt;

  gemm::GroupedMm g{};
  g.mode = a2 ? GroupMode::kGroupM : (b2 ? GroupMode::kGroupN : GroupMode::kBatched);
  g.groups = offs ? offs->size(0) : a.size(0);
  if (g.groups > gemm::kGroupedMaxGroups || (!a2 && !b2 && b.size(0) != g.groups)) return std::nullopt;
  if ((g.mode == GroupMode::kGroupM && b.size(0) != g.groups) || (g.mode == GroupMode::kGroupN && a.size(0) != g.groups))
    return std::nullopt;
  // torch's scale shapes: a 2-d operand's scale (rows,), a 3-d one's (G, rows)
  const bool sa_ok = a2 ? fp32_vector(scale_a, a.size(0)) : fp32_rows(scale_a, a.size(0), a.size(1));
  const bool sb_ok = b2 ? fp32_vector(scale_b, b.size(1)) : fp32_rows(scale_b, b.size(0), b.size(2));
  if (!sa_ok || !sb_ok) return std::nullopt;
  g.fp8 = true;
  g.fp8_promote = !use_fast_accum;
  g.a_k_major = g.b_k_major = true;
  g.a_ld = a.stride(-2);
  g.b_ld = b.stride(-1);
  g.a_bs = a2 ? 0 : a.stride(0);
  g.b_bs = b2 ? 0 : b.stride(0);
  g.m = a2 ? a.size(0) : a.size(1);
  g.k = a.size(-1);
  g.n = b.size(-1);
  g.a = a.data_ptr();
  g.b = b.data_ptr();
  g.offs = offs ? offs->data_ptr<int32_t>() : nullptr;
  g.scale_a = scale_a.data_ptr<float>();
  g.sa_gs = a2 ? 0 : scale_a.stride(0);
  g.scale_b = scale_b.data_ptr<float>();
  g.sb_gs = b2 ? 0 : scale_b.stride(0);
  if (!tma_ready(g.a, 1, {g.a_ld, g.a_bs}) || !tma_ready(g.b, 1, {g.b_ld, g.b_bs})) return std::nullopt;
  if (override_mode == 0 && !own_scaled_kernel_wins(g)) return std::nullopt;
  return g;
}

}  // namespace
#endif

Tensor scaled_grouped_mm(const Tensor& self, const Tensor& mat2, const Tensor& scale_a, const Tensor& scale_b,
                         const std::optional<Tensor>& offs, const std::optional<Tensor>& bias,
                         const std::optional<Tensor>& scale_result, std::optional<ScalarType> out_dtype,
                         bool use_fast_accum) {
#ifdef GEMFORGE_WITH_CUDA
  auto torch_kernel = [&] {
    reg::note_fallback();
    return at::cuda::_scaled_grouped_mm(self, mat2, scale_a, scale_b, offs, bias, scale_result, out_dtype,
                                        use_fast_accum);
  };
  auto plan = bias || scale_result
                  ? std::nullopt
                  : scaled_grouped_plan(self, mat2, scale_a, scale_b, offs, use_fast_accum, out_dtype);
  if (!plan) return torch_kernel();
  Tensor out = at::native::create_grouped_gemm_output_tensor(self, mat2, offs, ScalarType::BFloat16);
  plan->out = out.data_ptr();
  plan->out_ld = out.stride(-2);
  plan->out_bs = out.dim() == 3 ? out.stride(0) : 0;
  if (out.stride(-1) != 1 || !tma_ready(plan->out, 2, {plan->out_ld, plan->out_bs})) return torch_kernel();
  if (plan->groups == 0 || out.numel() == 0) return out;
  c10::DeviceGuard guard(self.device());
  gemm::grouped_mm_cuda(*plan);
  return out;
#else
  (void)self, (void)mat2, (void)scale_a, (void)scale_b, (void)offs, (void)bias, (void)scale_result, (void)out_dtype,
      (void)use_fast_accum;
  TORCH_CHECK(false, "_scaled_grouped_mm: no cuda backend in this build");
#endif
}

// ---- _weight_int8pack_mm ---------------------------------------------------------------------------
// Served: x (m <= kInt8MmMaxM, k) fp16/bf16/fp32 with dense 16-byte aligned rows, w (n, k) int8
// contiguous and aligned, k % 16 == 0, scales (n) fp16/bf16/fp32, all on one cuda device. The
// rest (more rows of x: torch's kernel then; other dtypes and layouts, every invalid call) runs
// torch's kernel, which raises its errors.

#ifdef GEMFORGE_WITH_CUDA
namespace {

bool int8_served(const Tensor& x, const Tensor& w, const Tensor& scales) {
  const ScalarType t = x.scalar_type(), st = scales.scalar_type();
  const bool float_type = t == ScalarType::BFloat16 || t == ScalarType::Half || t == ScalarType::Float;
  const bool scale_type = st == ScalarType::BFloat16 || st == ScalarType::Half || st == ScalarType::Float;
  if (!x.is_cuda() || w.device() != x.device() || scales.device() != x.device() || !float_type || !scale_type ||
      w.scalar_type() != ScalarType::Char || x.dim() != 2 || w.dim() != 2 || scales.dim() != 1)
    return false;
  const int64_t m = x.size(0), k = x.size(1), n = w.size(0);
  if (w.size(1) != k || scales.size(0) != n || m > gemm::kInt8MmMaxM || k % 16 != 0) return false;
  if (x.is_neg() || scales.is_neg() || x._is_zerotensor() || w._is_zerotensor() || scales._is_zerotensor())
    return false;
  const int64_t row_bytes = (m == 1 ? k : x.stride(0)) * int64_t(x.element_size());
  return (x.stride(1) == 1 || k <= 1) && row_bytes % 16 == 0 && aligned16(x.data_ptr()) && w.is_contiguous() &&
         aligned16(w.data_ptr());
}

}  // namespace
#endif

Tensor weight_int8pack_mm(const Tensor& self_in, const Tensor& mat2_in, const Tensor& scales) {
#ifdef GEMFORGE_WITH_CUDA
  // Torch's kernel reads x and the weight as row-major whatever their strides (a transposed x
  // gave wrong results on an H100): both are made dense first, for our kernel and for torch's.
  const Tensor self = self_in.is_cuda() && self_in.dim() == 2 ? self_in.contiguous() : self_in;
  const Tensor mat2 = mat2_in.is_cuda() && mat2_in.dim() == 2 ? mat2_in.contiguous() : mat2_in;
  if (!int8_served(self, mat2, scales)) {
    reg::note_fallback();
    return at::cuda::_weight_int8pack_mm(self, mat2, scales);
  }
  const int64_t m = self.size(0), n = mat2.size(0);
  Tensor out = at::empty({m, n}, self.options());
  gemm::Int8Mm p{};
  p.dtype = self.scalar_type();
  p.scale_dtype = scales.scalar_type();
  p.m = m;
  p.n = n;
  p.k = self.size(1);
  p.x = self.data_ptr();
  p.x_ld = m == 1 ? p.k : self.stride(0);
  p.w = static_cast<const int8_t*>(mat2.data_ptr());
  p.scales = scales.data_ptr();
  p.scale_stride = scales.stride(0);
  p.out = out.data_ptr();
  c10::DeviceGuard guard(self.device());
  gemm::int8_mm_cuda(p);
  return out;
#else
  (void)self_in, (void)mat2_in, (void)scales;
  TORCH_CHECK(false, "_weight_int8pack_mm: no cuda backend in this build");
#endif
}

// ---- _compute_linear_combination -----------------------------------------------------------

namespace {

// What the GEMM takes: input (n, ...) not empty, coefficients (m, n) of input's dtype, both on
// one cuda device. torch checks only that input is not empty (other shapes read whatever its
// restrided views reach); those, other dtypes (integers, mixed) and the cpu go to torch.
bool combination_served(const Tensor& input, const Tensor& coefficients) {
  const ScalarType t = input.scalar_type();
  return input.is_cuda() && coefficients.device() == input.device() && input.dim() > 0 && input.numel() > 0 &&
         coefficients.dim() == 2 && coefficients.size(1) == input.size(0) && coefficients.scalar_type() == t &&
         (t == at::kFloat || t == at::kHalf || t == at::kBFloat16) && !input.is_conj() && !coefficients.is_conj();
}

std::vector<int64_t> combination_sizes(const Tensor& input, const Tensor& coefficients) {
  std::vector<int64_t> sizes = input.sizes().vec();
  sizes[0] = coefficients.size(0);
  return sizes;
}

}  // namespace

Tensor compute_linear_combination(const Tensor& input, const Tensor& coefficients) {
  if (!combination_served(input, coefficients)) {
    reg::note_fallback();
    return GF_EXT_TORCH(input.is_cuda(), _compute_linear_combination, input, coefficients);
  }
  const Tensor rows = input.reshape({input.size(0), -1});
  return ops::mm(coefficients, rows).view(combination_sizes(input, coefficients));
}

// torch adds the combination to out's contents (it accumulates into out, sized by the caller).
Tensor& compute_linear_combination_out(const Tensor& input, const Tensor& coefficients, Tensor& out) {
  if (!combination_served(input, coefficients) || out.device() != input.device() ||
      out.scalar_type() != input.scalar_type() || !out.is_contiguous() ||
      out.sizes().vec() != combination_sizes(input, coefficients)) {
    reg::note_fallback();
    return GF_EXT_TORCH(input.is_cuda(), _compute_linear_combination_out, out, input, coefficients);
  }
  Tensor target = out.view({coefficients.size(0), -1});
  ops::addmm_(target, coefficients, input.reshape({input.size(0), -1}), 1, 1);
  return out;
}

// ---- _trilinear (bilinear's form) ----------------------------------------------------------------
// torch.nn.functional.bilinear flattens its inputs to x1 (B, I) and x2 (B, J) and calls
// _trilinear(x1, W (O, I, J), x2, expand1 [1, 3], expand2 [0], expand3 [1, 2], sumdim [2, 3]):
// out[b, o] = sum_ij x1[b, i] W[o, i, j] x2[b, j]. Here t = x2 @ W.view(O * I, J)^T (B, O * I),
// then out[b] = t[b].view(O, I) @ x1[b]: two GEMMs where torch loops over the O outputs (two
// products each). O is split so that t stays under 2^26 elements. Every other form (autograd's
// backward calls, other dtypes, the cpu) is torch's composite.
constexpr int64_t kTrilinearChunk = int64_t(1) << 26;

Tensor trilinear(const Tensor& i1, const Tensor& i2, const Tensor& i3, at::IntArrayRef expand1,
                 at::IntArrayRef expand2, at::IntArrayRef expand3, at::IntArrayRef sumdim, int64_t unroll_dim) {
  const auto is = [](at::IntArrayRef a, std::initializer_list<int64_t> b) {
    return a.equals(at::IntArrayRef(b.begin(), b.size()));
  };
  const ScalarType t = i1.scalar_type();
  const bool served = is(expand1, {1, 3}) && is(expand2, {0}) && is(expand3, {1, 2}) && is(sumdim, {2, 3}) &&
                      i1.is_cuda() && i2.device() == i1.device() && i3.device() == i1.device() && i1.dim() == 2 &&
                      i2.dim() == 3 && i3.dim() == 2 && i1.size(0) == i3.size(0) && i1.size(1) == i2.size(1) &&
                      i3.size(1) == i2.size(2) && i2.scalar_type() == t && i3.scalar_type() == t &&
                      (t == at::kFloat || t == at::kHalf || t == at::kBFloat16) && i1.numel() > 0 &&
                      i2.numel() > 0 && i3.numel() > 0 && !i1.is_conj() && !i2.is_conj() && !i3.is_conj();
  if (!served) {
    reg::note_fallback();
    return at::compositeexplicitautogradnonfunctional::_trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim,
                                                                  unroll_dim);
  }
  const int64_t b = i1.size(0), o = i2.size(0), in = i2.size(1), j = i2.size(2);
  const Tensor w = i2.contiguous();
  const Tensor x1 = i1.unsqueeze(2);  // (B, I, 1)
  Tensor out = at::empty({b, o}, i1.options());
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(o, kTrilinearChunk / std::max<int64_t>(1, b * in)));
  for (int64_t o0 = 0; o0 < o; o0 += chunk) {
    const int64_t n = std::min(chunk, o - o0);
    const Tensor tw = ops::mm(i3, w.narrow(0, o0, n).view({n * in, j}).t());  // (B, n * I)
    const Tensor r = ops::bmm(tw.view({b, n, in}), x1);                        // (B, n, 1)
    if (n == o) return r.view({b, o});
    out.narrow(1, o0, n).copy_(r.view({b, n}));
  }
  return out;
}

}  // namespace gemforge::ops
