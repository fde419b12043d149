// The dense GEMM family (matmul_blas) on cuda: mm, addmm, bmm, baddbmm, addbmm, addmv with their
// out= and in-place forms, served through cuBLASLt (backends/cuda/gemm.cu) for fp16/bf16/fp32.
//
// torch's tensors are row-major, cuBLASLt is column-major: a matrix X with unit column stride
// is X^T stored column-major, so C = A B is computed as C^T = B^T A^T and no operand is copied.
// A matrix is read in place when one of its strides is 1 and the other at least max(1, that
// size) (transposed views included); anything else is made contiguous first. Everything else
// (fp64, complex, integers, sizes past int32, a problem cuBLASLt has no algorithm for) goes to
// torch's own cuda kernel.
#include "backends/gemm.h"
#include "ops/ops.h"
#include "registry/calls.h"

#include <ATen/Context.h>
#include <ATen/ExpandUtils.h>
#include <ATen/native/Resize.h>
#include <c10/core/DeviceGuard.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/CUDAFunctions.h>
#else
#include <ATen/CPUFunctions.h>
#endif

#include <algorithm>
#include <array>

namespace gemforge::ops {
namespace {

using c10::ScalarType;

// torch's own kernel (cuda; the cpu one in a build without cuda, where these rows are never
// installed), called directly, never through the dispatcher.
#ifdef GEMFORGE_WITH_CUDA
#define GF_BLAS_TORCH(fn, ...) at::cuda::fn(__VA_ARGS__)
#else
#define GF_BLAS_TORCH(fn, ...) at::cpu::fn(__VA_ARGS__)
#endif
#define GF_BLAS_FALLBACK(fn, ...) (::gemforge::reg::note_fallback(), GF_BLAS_TORCH(fn, __VA_ARGS__))

// ---- argument checks, with torch's messages ---------------------------------------------------

void check_device(const Tensor& first, const Tensor& t, const char* name) {
  TORCH_CHECK(t.device() == first.device(),
              "Expected all tensors to be on the same device, but found at least two devices, ",
              first.device(), " and ", t.device(), "! (when checking argument for argument ", name, ")");
}

void check_out(const Tensor& out, const Tensor& like) {
  TORCH_CHECK(out.scalar_type() == like.scalar_type(), "Expected out tensor to have dtype ",
              like.dtype(), ", but got ", out.dtype(), " instead");
  TORCH_CHECK(out.device() == like.device(), "Expected out tensor to have device ", like.device(),
              ", but got ", out.device(), " instead");
}

void check_mm(const Tensor& self, const Tensor& mat2) {
  TORCH_CHECK(self.dim() == 2, "self must be a matrix");
  TORCH_CHECK(mat2.dim() == 2, "mat2 must be a matrix");
  TORCH_CHECK(self.dtype() == mat2.dtype(), "expected m1 and m2 to have the same dtype, but got: ",
              self.dtype(), " != ", mat2.dtype());
  TORCH_CHECK(self.size(1) == mat2.size(0), "mat1 and mat2 shapes cannot be multiplied (",
              self.size(0), "x", self.size(1), " and ", mat2.size(0), "x", mat2.size(1), ")");
  check_device(self, mat2, "mat2");
}

void check_addmm(const Tensor& self, const Tensor& mat1, const Tensor& mat2) {
  TORCH_CHECK(self.scalar_type() == mat2.scalar_type(), "self and mat2 must have the same dtype, but got ",
              self.scalar_type(), " and ", mat2.scalar_type());
  TORCH_CHECK(mat1.scalar_type() == mat2.scalar_type(), "mat1 and mat2 must have the same dtype, but got ",
              mat1.scalar_type(), " and ", mat2.scalar_type());
  TORCH_CHECK(mat1.dim() == 2, "mat1 must be a matrix, got ", mat1.dim(), "-D tensor");
  TORCH_CHECK(mat2.dim() == 2, "mat2 must be a matrix, got ", mat2.dim(), "-D tensor");
  TORCH_CHECK(mat1.size(1) == mat2.size(0), "mat1 and mat2 shapes cannot be multiplied (",
              mat1.size(0), "x", mat1.size(1), " and ", mat2.size(0), "x", mat2.size(1), ")");
  check_device(mat1, mat2, "mat2");
  check_device(mat1, self, "self");
}

// The batch checks of bmm and baddbmm (batch1 is bmm's self).
void check_bmm(const Tensor& batch1, const Tensor& batch2) {
  TORCH_CHECK(batch1.dim() == 3, "batch1 must be a 3D tensor");
  TORCH_CHECK(batch2.dim() == 3, "batch2 must be a 3D tensor");
  const int64_t bs = batch1.size(0), k = batch1.size(2);
  TORCH_CHECK(batch2.size(0) == bs && batch2.size(1) == k,
              "Expected size for first two dimensions of batch2 tensor to be: [", bs, ", ", k,
              "] but got: [", batch2.size(0), ", ", batch2.size(1), "].");
  TORCH_CHECK(batch1.scalar_type() == batch2.scalar_type(), "expected scalar type ",
              batch1.scalar_type(), " but found ", batch2.scalar_type());
  check_device(batch1, batch2, "batch2");
}

// self of an out-of-place addmm/baddbmm must broadcast to the result (torch's expand error).
void check_expandable(const Tensor& self, at::IntArrayRef sizes) {
  if (!at::is_expandable_to(self.sizes(), sizes)) (void)self.expand(sizes);  // throws torch's error
}

void check_inplace(const Tensor& self, at::IntArrayRef sizes) {
  TORCH_CHECK(self.sizes() == sizes, "Bad in-place call: input tensor size ", self.sizes(),
              " and output tensor size ", sizes, " should match");
}

// ---- the cuBLASLt path -----------------------------------------------------------------------

[[maybe_unused]] bool lt_dtype(ScalarType t) {
  return t == ScalarType::Half || t == ScalarType::BFloat16 || t == ScalarType::Float;
}

// Whether cuBLASLt serves a product of these operands (checked, on one device).
bool served(const Tensor& a, const Tensor& b, int64_t batch) {
#ifdef GEMFORGE_WITH_CUDA
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  return a.is_cuda() && lt_dtype(a.scalar_type()) && m <= gemm::kMaxDim && n <= gemm::kMaxDim &&
         k <= gemm::kMaxDim && batch <= gemm::kMaxDim;
#else
  (void)a, (void)b, (void)batch;
  return false;
#endif
}

// One matrix of a 2-d or 3-d tensor: rows x cols, strides s0 (rows) and s1 (columns), bs
// between batches.
struct Mat {
  void* data;
  int64_t rows, cols, s0, s1, bs;
};
Mat mat_of(const Tensor& t) {
  const int64_t d = t.dim();
  return {t.data_ptr(), t.size(d - 2), t.size(d - 1), t.stride(d - 2), t.stride(d - 1),
          d == 3 ? t.stride(0) : 0};
}

// How cuBLASLt reads a matrix in place: kRow, unit column stride (its transpose stored
// column-major), or kCol, unit row stride; ld is the other stride. A size-1 dim's stride does
// not matter. kNone: neither, the matrix is made contiguous first.
enum class Order { kNone, kRow, kCol };
struct Form {
  Order order;
  int64_t ld;
};
Form form_of(const Mat& x) {
  if ((x.s1 == 1 || x.cols == 1) && (x.rows == 1 || x.s0 >= std::max<int64_t>(1, x.cols)))
    return {Order::kRow, x.rows == 1 ? std::max<int64_t>(1, x.cols) : x.s0};
  if ((x.s0 == 1 || x.rows == 1) && (x.cols == 1 || x.s1 >= std::max<int64_t>(1, x.rows)))
    return {Order::kCol, x.cols == 1 ? std::max<int64_t>(1, x.rows) : x.s1};
  return {Order::kNone, 0};
}

// x as stored (rows x cols column-major); op(x) is x's matrix, or its transpose when
// want_transposed.
gemm::Operand operand(const Mat& x, const Form& f, bool want_transposed) {
  const bool row = f.order == Order::kRow;
  return {x.data, row ? x.cols : x.rows, row ? x.rows : x.cols, f.ld, x.bs, row != want_transposed};
}

// An operand in a form cuBLASLt reads, made contiguous when it is not (kept alive in `owner`).
Mat readable(const Tensor& t, Tensor& owner, Form& form) {
  Mat x = mat_of(t);
  form = form_of(x);
  if (form.order == Order::kNone) {
    owner = t.contiguous();
    x = mat_of(owner);
    form = form_of(x);
  }
  return x;
}

[[maybe_unused]] gemm::Reduction reduction_of(ScalarType t) {
  const auto& ctx = at::globalContext();
  const at::CuBLASReductionOption option =
      t == ScalarType::Half ? ctx.allowFP16ReductionCuBLAS()
      : t == ScalarType::BFloat16 ? ctx.allowBF16ReductionCuBLAS()
                                  : at::CuBLASReductionOption::AllowReducedPrecisionWithSplitK;
  switch (option) {
    case at::CuBLASReductionOption::DisallowReducedPrecisionAllowSplitK:
      return gemm::Reduction::kNoReducedPrecision;
    case at::CuBLASReductionOption::DisallowReducedPrecisionDisallowSplitK:
      return gemm::Reduction::kNoSplitK;
    default:
      return gemm::Reduction::kAny;
  }
}

// d = alpha * a b + beta * c (+ bias along d's rows) on cuBLASLt; d is in a form (not kNone).
// Row-major d: computed as d^T = b^T a^T, so the bias (one value per column of d) runs along
// the rows of cuBLASLt's column-major result, as its epilogue wants. False: no algorithm.
bool lt_matmul(const Mat& d, const Form& fd, const Mat& a, const Form& fa, const Mat& b,
               const Form& fb, int64_t batch, ScalarType dtype, int device, float alpha,
               float beta, const void* c, const void* bias) {
#ifdef GEMFORGE_WITH_CUDA
  gemm::Problem p{};
  p.dtype = dtype;
  p.device = device;
  p.k = a.cols;
  p.batch = batch;
  if (fd.order == Order::kRow) {
    p.m = d.cols;
    p.n = d.rows;
    p.a = operand(b, fb, true);
    p.b = operand(a, fa, true);
  } else {
    p.m = d.rows;
    p.n = d.cols;
    p.a = operand(a, fa, false);
    p.b = operand(b, fb, false);
  }
  p.c = c;
  p.d = d.data;
  p.ldd = fd.ld;
  p.d_batch_stride = d.bs;
  p.bias = bias;
  p.alpha = alpha;
  p.beta = beta;
  p.tf32 = dtype == ScalarType::Float && at::globalContext().allowTF32CuBLAS();
  p.reduction = reduction_of(dtype);
  return gemm::matmul_cuda(p);
#else
  (void)d, (void)fd, (void)a, (void)fa, (void)b, (void)fb, (void)batch, (void)dtype, (void)device;
  (void)alpha, (void)beta, (void)c, (void)bias;
  return false;
#endif
}

// A 1-d bias of n elements (or (1, n)), dense, which cuBLASLt's bias epilogue adds to every row.
bool is_bias_vector(const Tensor& self, int64_t n) {
  if (self.dim() == 2 && self.size(0) != 1) return false;
  if (self.dim() != 1 && self.dim() != 2) return false;
  return self.size(-1) == n && (self.stride(-1) == 1 || n == 1);
}

// out = beta * self + alpha * mat1 @ mat2 over matrices (2-d) or batches of them (3-d):
// arguments checked, out of the result's shape and dtype, served(...) true. self is undefined
// (mm, bmm: beta is 0), out itself (in place) or broadcastable to out. `fallback(out)` runs
// torch's kernel when cuBLASLt has no algorithm.
template <class Fallback>
Tensor& gemm_into(Tensor& out, const Tensor& self, const Tensor& mat1, const Tensor& mat2,
                  const Scalar& beta, const Scalar& alpha, Fallback&& fallback) {
  if (out.numel() == 0) return out;
  const bool inplace = self.defined() && self.is_same(out);
  const bool beta_zero = !self.defined() || beta.toComplexDouble() == 0.0;
  // K == 0, or alpha == 0 (BLAS then reads neither matrix): beta * self; beta == 0 ignores self
  // (NaN included)
  if (mat1.size(-1) == 0 || alpha.toComplexDouble() == 0.0) {
    if (beta_zero) return out.zero_();
    if (!inplace) out.copy_(self.expand(out.sizes()));
    return out.mul_(beta);
  }
  c10::DeviceGuard guard(out.device());
  const int64_t batch = out.dim() == 3 ? out.size(0) : 1;
  const int64_t m = out.size(-2), n = out.size(-1), k = mat1.size(-1);
  const ScalarType dtype = out.scalar_type();

  Tensor a_owner, b_owner;
  Form fa, fb;
  const Mat a = readable(mat1, a_owner, fa);
  const Mat b = readable(mat2, b_owner, fb);

  // The result goes to out when cuBLASLt can write it there (batches apart), else to a
  // contiguous temporary copied into out afterwards.
  Mat d = mat_of(out);
  Form fd = form_of(d);
  const bool out_writable =
      fd.order != Order::kNone &&
      (batch == 1 || d.bs >= fd.ld * (fd.order == Order::kRow ? d.rows : d.cols));
  Tensor target = out_writable ? out : at::empty(out.sizes(), out.options());
  if (!out_writable) {
    d = mat_of(target);
    fd = form_of(d);
  }

  const void* c = nullptr;
  const void* bias = nullptr;
  float beta_value = 0.0f;
  if (!beta_zero) {
    beta_value = beta.to<float>();
    if (inplace) {
      if (!out_writable) target.copy_(out);
      c = target.data_ptr();
    } else if (beta_value == 1.0f && batch == 1 && fd.order == Order::kRow && m > 1 && n > 1 &&
               k > 1 && is_bias_vector(self, n)) {
      bias = self.data_ptr();  // the bias epilogue: self is never copied
      beta_value = 0.0f;
    } else if (self.sizes() == target.sizes() && self.strides() == target.strides()) {
      c = self.data_ptr();  // C read from self, D written to out: same layout, no copy
    } else {
      target.copy_(self.expand(target.sizes()));  // a broadcast self materialized in out
      c = target.data_ptr();
    }
  }
  if (!lt_matmul(d, fd, a, fa, b, fb, batch, dtype, out.get_device(), alpha.to<float>(),
                 beta_value, c, bias)) {
    reg::note_fallback();
    fallback(out);
    return out;
  }
  if (!out_writable) out.copy_(target);
  return out;
}

std::array<int64_t, 3> bmm_sizes(const Tensor& batch1, const Tensor& batch2) {
  return {batch1.size(0), batch1.size(1), batch2.size(2)};
}

}  // namespace

// ---- mm ----------------------------------------------------------------------------------------

Tensor mm(const Tensor& self, const Tensor& mat2) {
  check_mm(self, mat2);
  if (!served(self, mat2, 1)) return GF_BLAS_FALLBACK(mm, self, mat2);
  Tensor out = at::empty({self.size(0), mat2.size(1)}, self.options());
  return gemm_into(out, Tensor(), self, mat2, 0, 1,
                   [&](Tensor& o) { GF_BLAS_TORCH(mm_out, o, self, mat2); });
}

Tensor& mm_out(const Tensor& self, const Tensor& mat2, Tensor& out) {
  check_mm(self, mat2);
  check_out(out, self);
  if (!served(self, mat2, 1)) return GF_BLAS_FALLBACK(mm_out, out, self, mat2);
  at::native::resize_output(out, {self.size(0), mat2.size(1)});
  return gemm_into(out, Tensor(), self, mat2, 0, 1,
                   [&](Tensor& o) { GF_BLAS_TORCH(mm_out, o, self, mat2); });
}

// ---- addmm -------------------------------------------------------------------------------------

Tensor addmm(const Tensor& self, const Tensor& mat1, const Tensor& mat2, const Scalar& beta,
             const Scalar& alpha) {
  check_addmm(self, mat1, mat2);
  check_expandable(self, {mat1.size(0), mat2.size(1)});
  if (!served(mat1, mat2, 1)) return GF_BLAS_FALLBACK(addmm, self, mat1, mat2, beta, alpha);
  Tensor out = at::empty({mat1.size(0), mat2.size(1)}, mat1.options());
  return gemm_into(out, self, mat1, mat2, beta, alpha,
                   [&](Tensor& o) { GF_BLAS_TORCH(addmm_out, o, self, mat1, mat2, beta, alpha); });
}

Tensor& addmm_out(const Tensor& self, const Tensor& mat1, const Tensor& mat2, const Scalar& beta,
                  const Scalar& alpha, Tensor& out) {
  check_addmm(self, mat1, mat2);
  check_out(out, mat1);
  check_expandable(self, {mat1.size(0), mat2.size(1)});
  if (!served(mat1, mat2, 1) || out.is_same(self))
    return GF_BLAS_FALLBACK(addmm_out, out, self, mat1, mat2, beta, alpha);
  at::native::resize_output(out, {mat1.size(0), mat2.size(1)});
  return gemm_into(out, self, mat1, mat2, beta, alpha,
                   [&](Tensor& o) { GF_BLAS_TORCH(addmm_out, o, self, mat1, mat2, beta, alpha); });
}

Tensor& addmm_(Tensor& self, const Tensor& mat1, const Tensor& mat2, const Scalar& beta,
               const Scalar& alpha) {
  check_addmm(self, mat1, mat2);
  check_inplace(self, {mat1.size(0), mat2.size(1)});
  if (!served(mat1, mat2, 1)) return GF_BLAS_FALLBACK(addmm_, self, mat1, mat2, beta, alpha);
  return gemm_into(self, self, mat1, mat2, beta, alpha,
                   [&](Tensor& o) { GF_BLAS_TORCH(addmm_, o, mat1, mat2, beta, alpha); });
}

// ---- bmm -------------------------------------------------------------------------------------

Tensor bmm(const Tensor& self, const Tensor& mat2) {
  check_bmm(self, mat2);
  if (!served(self, mat2, self.size(0))) return GF_BLAS_FALLBACK(bmm, self, mat2);
  Tensor out = at::empty(bmm_sizes(self, mat2), mat2.options());
  return gemm_into(out, Tensor(), self, mat2, 0, 1,
                   [&](Tensor& o) { GF_BLAS_TORCH(bmm_out, o, self, mat2); });
}

Tensor& bmm_out(const Tensor& self, const Tensor& mat2, Tensor& out) {
  check_bmm(self, mat2);
  check_out(out, mat2);
  if (!served(self, mat2, self.size(0))) return GF_BLAS_FALLBACK(bmm_out, out, self, mat2);
  at::native::resize_output(out, bmm_sizes(self, mat2));
  return gemm_into(out, Tensor(), self, mat2, 0, 1,
                   [&](Tensor& o) { GF_BLAS_TORCH(bmm_out, o, self, mat2); });
}

// ---- baddbmm ---------------------------------------------------------------------------------
// torch's order: self is expanded to the result's shape (its error first), then the dtypes.

namespace {
void check_baddbmm(const Tensor& self, const Tensor& batch1, const Tensor& batch2) {
  TORCH_CHECK(self.dtype() == batch1.dtype(), "Input dtypes must be the same, got: input ",
              self.dtype(), ", batch1: ", batch1.dtype(), ", batch2: ", batch2.dtype());
  check_bmm(batch1, batch2);
  check_device(batch1, self, "self");
}
}  // namespace

Tensor baddbmm(const Tensor& self, const Tensor& batch1, const Tensor& batch2, const Scalar& beta,
               const Scalar& alpha) {
  const auto sizes = bmm_sizes(batch1, batch2);
  check_expandable(self, sizes);
  check_baddbmm(self, batch1, batch2);
  if (!served(batch1, batch2, batch1.size(0)))
    return GF_BLAS_FALLBACK(baddbmm, self, batch1, batch2, beta, alpha);
  Tensor out = at::empty(sizes, batch2.options());
  return gemm_into(out, self, batch1, batch2, beta, alpha, [&](Tensor& o) {
    GF_BLAS_TORCH(baddbmm_out, o, self, batch1, batch2, beta, alpha);
  });
}

Tensor& baddbmm_out(const Tensor& self, const Tensor& batch1, const Tensor& batch2,
                    const Scalar& beta, const Scalar& alpha, Tensor& out) {
  const auto sizes = bmm_sizes(batch1, batch2);
  check_expandable(self, sizes);
  check_baddbmm(self, batch1, batch2);
  check_out(out, batch2);
  if (!served(batch1, batch2, batch1.size(0)) || out.is_same(self))
    return GF_BLAS_FALLBACK(baddbmm_out, out, self, batch1, batch2, beta, alpha);
  at::native::resize_output(out, sizes);
  return gemm_into(out, self, batch1, batch2, beta, alpha, [&](Tensor& o) {
    GF_BLAS_TORCH(baddbmm_out, o, self, batch1, batch2, beta, alpha);
  });
}

Tensor& baddbmm_(Tensor& self, const Tensor& batch1, const Tensor& batch2, const Scalar& beta,
                 const Scalar& alpha) {
  const auto sizes = bmm_sizes(batch1, batch2);
  check_inplace(self, sizes);
  check_baddbmm(self, batch1, batch2);
  if (!served(batch1, batch2, batch1.size(0)))
    return GF_BLAS_FALLBACK(baddbmm_, self, batch1, batch2, beta, alpha);
  return gemm_into(self, self, batch1, batch2, beta, alpha, [&](Tensor& o) {
    GF_BLAS_TORCH(baddbmm_, o, batch1, batch2, beta, alpha);
  });
}

// ---- addbmm ------------------------------------------------------------------------------------
// The sum over batches of batch1[b] @ batch2[b] is one product with K = batches * k:
// (m, batches * k) @ (batches * k, n), batch2 folded as a view, batch1's batches laid side by
// side (a copy unless they already are). torch runs one addmm_ per batch instead.

namespace {

void check_addbmm(const Tensor& self, const Tensor& batch1, const Tensor& batch2) {
  TORCH_CHECK(batch1.dim() == 3, "batch1 must be a 3D tensor");
  TORCH_CHECK(batch2.dim() == 3, "batch2 must be a 3D tensor");
  TORCH_CHECK(batch1.size(0) == batch2.size(0),
              "batch1 and batch2 must have same number of batches, got ", batch1.size(0), " and ",
              batch2.size(0));
  TORCH_CHECK(batch1.size(2) == batch2.size(1), "Incompatible matrix sizes for bmm (",
              batch1.size(1), "x", batch1.size(2), " and ", batch2.size(1), "x", batch2.size(2), ")");
  TORCH_CHECK(self.scalar_type() == batch2.scalar_type() && batch1.scalar_type() == batch2.scalar_type(),
              "self and mat2 must have the same dtype, but got ", self.scalar_type(), " and ",
              batch2.scalar_type());
  check_device(batch1, batch2, "batch2");
  check_device(batch1, self, "self");
}

bool addbmm_served(const Tensor& batch1, const Tensor& batch2) {
#ifdef GEMFORGE_WITH_CUDA
  return batch1.is_cuda() && lt_dtype(batch1.scalar_type()) && batch1.size(1) <= gemm::kMaxDim &&
         batch2.size(2) <= gemm::kMaxDim && batch1.size(0) * batch1.size(2) <= gemm::kMaxDim;
#else
  (void)batch1, (void)batch2;
  return false;
#endif
}

template <class Fallback>
Tensor& addbmm_into(Tensor& out, const Tensor& self, const Tensor& batch1, const Tensor& batch2,
                    const Scalar& beta, const Scalar& alpha, Fallback&& fallback) {
  const int64_t batches = batch1.size(0), m = batch1.size(1), k = batch1.size(2), n = batch2.size(2);
  const Tensor side_by_side = batch1.permute({1, 0, 2}).reshape({m, batches * k});  // (m, B*k)
  const Tensor stacked = batch2.reshape({batches * k, n});                            // (B*k, n)
  return gemm_into(out, self, side_by_side, stacked, beta, alpha, fallback);
}

}  // namespace

Tensor addbmm(const Tensor& self, const Tensor& batch1, const Tensor& batch2, const Scalar& beta,
              const Scalar& alpha) {
  const std::array<int64_t, 2> sizes = {batch1.size(1), batch2.size(2)};
  check_expandable(self, sizes);
  check_addbmm(self, batch1, batch2);
  if (!addbmm_served(batch1, batch2))
    return GF_BLAS_FALLBACK(addbmm, self, batch1, batch2, beta, alpha);
  Tensor out = at::empty(sizes, self.options());
  return addbmm_into(out, self, batch1, batch2, beta, alpha, [&](Tensor& o) {
    GF_BLAS_TORCH(addbmm_out, o, self, batch1, batch2, beta, alpha);
  });
}

Tensor& addbmm_out(const Tensor& self, const Tensor& batch1, const Tensor& batch2,
                   const Scalar& beta, const Scalar& alpha, Tensor& out) {
  const std::array<int64_t, 2> sizes = {batch1.size(1), batch2.size(2)};
  check_expandable(self, sizes);
  check_addbmm(self, batch1, batch2);
  check_out(out, self);
  if (!addbmm_served(batch1, batch2) || out.is_same(self))
    return GF_BLAS_FALLBACK(addbmm_out, out, self, batch1, batch2, beta, alpha);
  at::native::resize_output(out, sizes);
  return addbmm_into(out, self, batch1, batch2, beta, alpha, [&](Tensor& o) {
    GF_BLAS_TORCH(addbmm_out, o, self, batch1, batch2, beta, alpha);
  });
}

Tensor& addbmm_(Tensor& self, const Tensor& batch1, const Tensor& batch2, const Scalar& beta,
                const Scalar& alpha) {
  check_addbmm(self, batch1, batch2);
  // a self of another shape: torch's rules differ by device (cuda resizes it), so torch decides
  const bool full = self.dim() == 2 && self.size(0) == batch1.size(1) && self.size(1) == batch2.size(2);
  if (!full || !addbmm_served(batch1, batch2))
    return GF_BLAS_FALLBACK(addbmm_, self, batch1, batch2, beta, alpha);
  return addbmm_into(self, self, batch1, batch2, beta, alpha, [&](Tensor& o) {
    GF_BLAS_TORCH(addbmm_, o, batch1, batch2, beta, alpha);
  });
}

// ---- addmv (and mv, torch's composite of addmv_) ------------------------------------------------
// A matrix-vector product is a GEMM with n = 1: the result (m) is read as (m, 1), vec as (k, 1).

namespace {

void check_addmv(const Tensor& self, const Tensor& mat, const Tensor& vec) {
  TORCH_CHECK(mat.dim() == 2 && vec.dim() == 1 && self.dim() <= 1, "vector + matrix @ vector expected, got ",
              self.dim(), ", ", mat.dim(), ", ", vec.dim());
  TORCH_CHECK(mat.size(1) == vec.size(0) && (mat.size(0) == self.numel() || self.numel() == 1),
              "size mismatch, got input (", self.dim() == 0 ? 1 : self.size(0), "), mat (", mat.size(0), "x",
              mat.size(1), "), vec (", vec.size(0), ")");
}

// Mixed dtypes or devices go to torch, which raises its own error for them.
bool addmv_served(const Tensor& self, const Tensor& mat, const Tensor& vec) {
  return served(mat, mat, 1) && vec.scalar_type() == mat.scalar_type() &&
         self.scalar_type() == mat.scalar_type() && vec.device() == mat.device() && self.device() == mat.device();
}

// out (m) = beta * self + alpha * mat @ vec; self is out itself (in place) or broadcasts to it.
template <class Fallback>
Tensor& addmv_into(Tensor& out, const Tensor& self, const Tensor& mat, const Tensor& vec, const Scalar& beta,
                   const Scalar& alpha, Fallback&& fallback) {
  Tensor column = out.unsqueeze(1);                                          // (m, 1)
  const Tensor self_column = self.is_same(out) ? column : self.reshape({-1, 1});  // (m, 1) or (1, 1)
  gemm_into(column, self_column, mat, vec.unsqueeze(1), beta, alpha, [&](Tensor&) { fallback(out); });
  return out;
}

}  // namespace

Tensor addmv(const Tensor& self, const Tensor& mat, const Tensor& vec, const Scalar& beta, const Scalar& alpha) {
  check_addmv(self, mat, vec);
  if (!addmv_served(self, mat, vec)) return GF_BLAS_FALLBACK(addmv, self, mat, vec, beta, alpha);
  Tensor out = at::empty({mat.size(0)}, mat.options());
  return addmv_into(out, self, mat, vec, beta, alpha,
                    [&](Tensor& o) { GF_BLAS_TORCH(addmv_out, o, self, mat, vec, beta, alpha); });
}

Tensor& addmv_out(const Tensor& self, const Tensor& mat, const Tensor& vec, const Scalar& beta,
                  const Scalar& alpha, Tensor& out) {
  check_addmv(self, mat, vec);
  // out may be self: mv.out is torch's addmv_out(out, out, mat, vec, 0, 1)
  const bool out_is_self = out.is_same(self);
  if (!addmv_served(self, mat, vec) || out.scalar_type() != mat.scalar_type() || out.device() != mat.device() ||
      (out_is_self && (out.dim() != 1 || out.size(0) != mat.size(0)) && beta.toComplexDouble() != 0.0))
    return GF_BLAS_FALLBACK(addmv_out, out, self, mat, vec, beta, alpha);
  at::native::resize_output(out, {mat.size(0)});
  return addmv_into(out, self, mat, vec, beta, alpha,
                    [&](Tensor& o) { GF_BLAS_TORCH(addmv_out, o, self, mat, vec, beta, alpha); });
}

Tensor& addmv_(Tensor& self, const Tensor& mat, const Tensor& vec, const Scalar& beta, const Scalar& alpha) {
  check_addmv(self, mat, vec);
  if (!addmv_served(self, mat, vec) || self.dim() != 1 || self.size(0) != mat.size(0))
    return GF_BLAS_FALLBACK(addmv_, self, mat, vec, beta, alpha);
  return addmv_into(self, self, mat, vec, beta, alpha,
                    [&](Tensor& o) { GF_BLAS_TORCH(addmv_, o, mat, vec, beta, alpha); });
}

}  // namespace gemforge::ops
