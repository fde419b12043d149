// Plain descriptions of the GEMM family's own kernels beside cuBLASLt (backends/gemm.h):
//   Addr       out = beta * self + alpha * outer(vec1, vec2), memory bound (cpu and cuda)
//   GroupedMm  _grouped_mm / _scaled_grouped_mm: many bf16 (or row-scaled e4m3) products in one
//              launch, group offsets on the device (cuda)
// No ATen here: c10 types only.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>

namespace gemforge::gemm {

using c10::ScalarType;

// out[i][j] = beta * self[i][j] + alpha * vec1[i] * vec2[j] over rows x cols, every operand of
// `dtype`, strides in elements (self's may be 0: broadcast). self == nullptr: beta is zero and
// self is never read (its NaNs do not reach out). Bool: (beta && self) || (alpha && v1 && v2).
// Integers wrap as torch's do; fp16/bf16 compute in fp32. alpha/beta hold the scalars already
// rounded to dtype: floating dtypes in `f*`, integers and bool in `i*`.
struct Addr {
  ScalarType dtype;
  int64_t rows, cols;
  void* out;
  int64_t out_s0, out_s1;
  const void* self;
  int64_t self_s0, self_s1;
  const void* vec1;
  int64_t inc1;
  const void* vec2;
  int64_t inc2;
  double falpha, fbeta;
  int64_t ialpha, ibeta;
};

void addr_cpu(const Addr& a);

// _grouped_mm of bf16 operands (torch's four layouts), one launch, no host synchronisation:
// each 128x256 output tile belongs to one group; the blocks read the offsets themselves.
//   kBatched  A (G, M, K) x B (G, K, N) -> out (G, M, N)          offs unused
//   kGroupM   A (Mt, K)   x B (G, K, N) -> out (Mt, N)            rows offs[g-1]..offs[g] use B[g]
//   kGroupN   A (G, M, K) x B (K, Nt)   -> out (M, Nt)            cols offs[g-1]..offs[g] use A[g]
//   kGroupK   A (M, Kt)   x B (Kt, N)   -> out (G, M, N)          out[g] sums k in offs[g-1]..offs[g]
// Operand X's element (r, c) (of its last two dims) is at r * rs + c * cs; one of rs/cs is 1
// (k_major: A's cs == 1 / B's rs == 1). Group strides (bs) are 0 for 2-d operands.
enum class GroupMode : int { kBatched = 0, kGroupM = 1, kGroupN = 2, kGroupK = 3 };

// Which tensors have a group dimension in a mode: A (3-d), B (3-d), the output (3-d).
C10_HOST_DEVICE constexpr bool a_has_groups(GroupMode m) {
  return m == GroupMode::kBatched || m == GroupMode::kGroupN;
}
C10_HOST_DEVICE constexpr bool b_has_groups(GroupMode m) {
  return m == GroupMode::kBatched || m == GroupMode::kGroupM;
}
C10_HOST_DEVICE constexpr bool out_has_groups(GroupMode m) {
  return m == GroupMode::kBatched || m == GroupMode::kGroupK;
}

struct GroupedMm {
  GroupMode mode;
  int64_t groups;        // G
  int64_t m, n, k;       // the full sizes of the grouped dimension (Mt, Nt or Kt) or per group
  const void* a;         // bf16
  int64_t a_ld, a_bs;    // the non-unit stride of A's matrix, its group stride
  bool a_k_major;        // A's k stride is 1 (else its m stride is)
  const void* b;         // bf16
  int64_t b_ld, b_bs;
  bool b_k_major;        // B's k stride is 1 (else its n stride is)
  const int32_t* offs;   // G cumulative ends (device), nullptr for kBatched
  void* out;             // bf16, unit column stride
  int64_t out_ld, out_bs;
  // _scaled_grouped_mm: e4m3 operands (both k-major) and fp32 row-wise scales, out[m][n] =
  // scale_a[m] * scale_b[n] * sum_k a[m][k] b[k][n], the products accumulated at the tensor
  // cores' fp8 precision (torch's use_fast_accum), or with fp8_promote those sums added into
  // fp32 every 128 k (torch's default). Scale group strides (sa_gs, sb_gs) are 0 for a 2-d
  // operand's scale.
  bool fp8 = false;
  bool fp8_promote = false;
  const float* scale_a = nullptr;
  int64_t sa_gs = 0;
  const float* scale_b = nullptr;
  int64_t sb_gs = 0;
};

// The largest G the grouped kernel takes (each warp scans the offsets for its tile's group).
constexpr int64_t kGroupedMaxGroups = 1024;

#ifdef GEMFORGE_WITH_CUDA
void addr_cuda(const Addr& a);

// Whether the grouped kernel runs on `device` (sm_90: the kernel is built and tested there).
bool grouped_mm_device(int device);
// Runs g on the current stream of the current device.
void grouped_mm_cuda(const GroupedMm& g);
#endif

}  // namespace gemforge::gemm
