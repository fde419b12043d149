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
#include "ops/gemm.h"
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
#include <ATen/CompositeExplicitAutogradFunctions.h>

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
               const Form& fb, int64_t batch, ScalarType dtype, ScalarType d_dtype, int device,
               float alpha, float beta, const void* c, const void* bias) {
#ifdef GEMFORGE_WITH_CUDA
  gemm::Problem p{};
  p.dtype = dtype;
  if (d_dtype != dtype) p.d_dtype = d_dtype;
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
  (void)d, (void)fd, (void)a, (void)fa, (void)b, (void)fb, (void)batch, (void)dtype, (void)d_dtype, (void)device;
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
// arguments checked, out of the result's shape and dtype (mat1's, or Float for fp16/bf16
// mat1 and mat2: addmm.dtype), served(...) true. self is undefined
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
  const ScalarType dtype = mat1.scalar_type(), d_dtype = out.scalar_type();
  const bool self_as_out = self.defined() && self.scalar_type() == d_dtype;  // read in place of C

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
               k > 1 && self_as_out && is_bias_vector(self, n)) {
      bias = self.data_ptr();  // the bias epilogue: self is never copied
      beta_value = 0.0f;
    } else if (self_as_out && self.sizes() == target.sizes() && self.strides() == target.strides()) {
      c = self.data_ptr();  // C read from self, D written to out: same layout, no copy
    } else {
      target.copy_(self.expand(target.sizes()));  // a broadcast self materialized in out
      c = target.data_ptr();
    }
  }
  if (!lt_matmul(d, fd, a, fa, b, fb, batch, dtype, d_dtype, out.get_device(), alpha.to<float>(),
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

// ---- addmm.dtype: fp16/bf16 mat1 and mat2, an fp32 result -------------------------------------
// cuBLASLt reads the 16-bit operands and writes fp32 directly (fp32 accumulation as always);
// self (of the inputs' dtype) is cast into the result first when beta != 0, as torch does.

namespace {

bool addmm_dtype_served(const Tensor& self, const Tensor& mat1, const Tensor& mat2, ScalarType out_dtype) {
  const ScalarType t = mat1.scalar_type();
  return mat1.dim() == 2 && mat2.dim() == 2 && mat1.size(1) == mat2.size(0) && mat2.scalar_type() == t &&
         self.scalar_type() == t && mat2.device() == mat1.device() && self.device() == mat1.device() &&
         (out_dtype == t || (out_dtype == ScalarType::Float && (t == ScalarType::Half || t == ScalarType::BFloat16))) &&
         at::is_expandable_to(self.sizes(), {mat1.size(0), mat2.size(1)}) && served(mat1, mat2, 1);
}

// torch's addmm.dtype_out kernel (cuda only: these rows serve cuda only).
Tensor& torch_addmm_dtype_out(Tensor& out, const Tensor& self, const Tensor& mat1, const Tensor& mat2,
                              ScalarType out_dtype, const Scalar& beta, const Scalar& alpha) {
#ifdef GEMFORGE_WITH_CUDA
  return at::cuda::addmm_out(out, self, mat1, mat2, out_dtype, beta, alpha);
#else
  (void)self, (void)mat1, (void)mat2, (void)out_dtype, (void)beta, (void)alpha;
  TORCH_CHECK(false, "addmm.dtype_out: no cuda backend in this build");
  return out;
#endif
}

Tensor torch_addmm_dtype(const Tensor& self, const Tensor& mat1, const Tensor& mat2, ScalarType out_dtype,
                        const Scalar& beta, const Scalar& alpha) {
#ifdef GEMFORGE_WITH_CUDA
  return at::cuda::addmm(self, mat1, mat2, out_dtype, beta, alpha);
#else
  (void)self, (void)mat1, (void)mat2, (void)out_dtype, (void)beta, (void)alpha;
  TORCH_CHECK(false, "addmm.dtype: no cuda backend in this build");
#endif
}

}  // namespace

Tensor addmm_dtype(const Tensor& self, const Tensor& mat1, const Tensor& mat2, ScalarType out_dtype,
                   const Scalar& beta, const Scalar& alpha) {
  if (!addmm_dtype_served(self, mat1, mat2, out_dtype)) {
    reg::note_fallback();
    return torch_addmm_dtype(self, mat1, mat2, out_dtype, beta, alpha);
  }
  Tensor out = at::empty({mat1.size(0), mat2.size(1)}, mat1.options().dtype(out_dtype));
  return gemm_into(out, self, mat1, mat2, beta, alpha,
                   [&](Tensor& o) { torch_addmm_dtype_out(o, self, mat1, mat2, out_dtype, beta, alpha); });
}

Tensor& addmm_dtype_out(const Tensor& self, const Tensor& mat1, const Tensor& mat2, ScalarType out_dtype,
                        const Scalar& beta, const Scalar& alpha, Tensor& out) {
  if (!addmm_dtype_served(self, mat1, mat2, out_dtype) || out.scalar_type() != out_dtype ||
      out.device() != mat1.device() || out.is_same(self)) {
    reg::note_fallback();
    return torch_addmm_dtype_out(out, self, mat1, mat2, out_dtype, beta, alpha);
  }
  at::native::resize_output(out, {mat1.size(0), mat2.size(1)});
  return gemm_into(out, self, mat1, mat2, beta, alpha,
                   [&](Tensor& o) { torch_addmm_dtype_out(o, self, mat1, mat2, out_dtype, beta, alpha); });
}

// ---- _scaled_mm: fp8 GEMM with tensor-wise or row-wise scales, on cuBLASLt -------------------
// Served: e4m3/e5m2 operands (not both e5m2), mat1 row-major and mat2 column-major (the only
// layout torch accepts on Hopper), K and N multiples of 16, fp32 scales that are both single
// values (tensor-wise) or scale_a (M, 1) and scale_b (1, N) (row-wise: cuBLASLt's outer-vector
// scaling), an optional contiguous bf16/fp16 bias, a bf16/fp16/fp32 result (or an fp8 one with
// tensor-wise scales, times scale_result), on an sm_90 device. Every other call, the invalid
// ones included, goes to torch's kernel: its checks raise its errors, word for word.

namespace {

bool fp8_operand(ScalarType t) { return t == ScalarType::Float8_e4m3fn || t == ScalarType::Float8_e5m2; }

bool tensorwise_scale(const Tensor& scale) { return scale.scalar_type() == ScalarType::Float && scale.numel() == 1; }

// scale_a (m, 1) and scale_b (1, n), as torch tells row-wise scales (scale_b through its transpose).
bool rowwise_scales(const Tensor& scale_a, const Tensor& scale_b, int64_t m, int64_t n) {
  return scale_a.scalar_type() == ScalarType::Float && scale_b.scalar_type() == ScalarType::Float &&
         scale_a.dim() == 2 && scale_a.size(0) == m && scale_a.size(1) == 1 && scale_a.is_contiguous() &&
         scale_b.dim() == 2 && scale_b.size(1) == n && scale_b.size(0) == 1 && (scale_b.stride(1) == 1 || n == 1);  // scale_b.t() contiguous
}

bool bias_allowed(ScalarType bias, ScalarType out) {
  if (bias != ScalarType::BFloat16 && bias != ScalarType::Half) return false;
  switch (out) {
    case ScalarType::BFloat16: return bias == ScalarType::BFloat16;
    case ScalarType::Half: return bias == ScalarType::Half;
    case ScalarType::Float8_e4m3fn:
    case ScalarType::Float8_e5m2: return true;
    default: return false;  // fp32 results take no bias
  }
}

// The plain description of a served call: nullopt when torch must take it.
struct ScaledCall {
  bool rowwise;
  ScalarType out_dtype;
};
std::optional<ScaledCall> scaled_served(const Tensor& self, const Tensor& mat2, const Tensor& scale_a,
                                        const Tensor& scale_b, const std::optional<Tensor>& bias,
                                        const std::optional<Tensor>& scale_result, ScalarType out_dtype) {
#ifdef GEMFORGE_WITH_CUDA
  if (self.dim() != 2 || mat2.dim() != 2 || !self.is_cuda()) return std::nullopt;
  const int64_t m = self.size(0), k = self.size(1), n = mat2.size(1);
  if (mat2.size(0) != k || k % 16 != 0 || n % 16 != 0 || m == 0 || k == 0 || n == 0) return std::nullopt;
  if (m > gemm::kMaxDim || n > gemm::kMaxDim || k > gemm::kMaxDim) return std::nullopt;
  const ScalarType ta = self.scalar_type(), tb = mat2.scalar_type();
  if (!fp8_operand(ta) || !fp8_operand(tb) || (ta == ScalarType::Float8_e5m2 && tb == ScalarType::Float8_e5m2))
    return std::nullopt;
  const bool out_fp8 = fp8_operand(out_dtype);
  // fp8 results stay torch's: with a scale_result ours differed from torch's on the H100 (the
  // result scale of a cached plan; 97% of elements off by the scale), and they are rare.
  if (out_fp8) return std::nullopt;
  if (out_dtype != ScalarType::BFloat16 && out_dtype != ScalarType::Half && out_dtype != ScalarType::Float)
    return std::nullopt;
  bool rowwise = false;
  if (!(tensorwise_scale(scale_a) && tensorwise_scale(scale_b))) {
    if (out_fp8 || !rowwise_scales(scale_a, scale_b, m, n)) return std::nullopt;
    rowwise = true;
  }
  if (scale_result && (scale_result->numel() != 1 || scale_result->scalar_type() != ScalarType::Float))
    return std::nullopt;
  if (bias && (bias->numel() != n || !bias->is_contiguous() || !bias_allowed(bias->scalar_type(), out_dtype)))
    return std::nullopt;
  const c10::Device device = self.device();
  if (mat2.device() != device || scale_a.device() != device || scale_b.device() != device ||
      (bias && bias->device() != device) || (scale_result && scale_result->device() != device))
    return std::nullopt;
  // mat1 row-major, mat2 column-major, each read in place
  if (self.stride(1) != 1 || self.stride(0) < k || mat2.stride(0) != 1 || mat2.stride(1) < k) return std::nullopt;
  if (!gemm::fp8_device(device.index())) return std::nullopt;
  return ScaledCall{rowwise, out_dtype};
#else
  (void)self, (void)mat2, (void)scale_a, (void)scale_b, (void)bias, (void)scale_result, (void)out_dtype;
  return std::nullopt;
#endif
}

// out (m x n, contiguous) = scale_a * scale_b * (self @ mat2) (+ bias), rounded to out's dtype
// (times scale_result for an fp8 out). False: cuBLASLt has no algorithm, nothing ran.
bool scaled_matmul(const ScaledCall& call, const Tensor& self, const Tensor& mat2, const Tensor& scale_a,
                   const Tensor& scale_b, const std::optional<Tensor>& bias,
                   const std::optional<Tensor>& scale_result, bool use_fast_accum, Tensor& out) {
#ifdef GEMFORGE_WITH_CUDA
  const int64_t m = self.size(0), k = self.size(1), n = mat2.size(1);
  const bool out_fp8 = fp8_operand(call.out_dtype);
  // Row-major out = self @ mat2 is out^T = mat2^T self^T column-major: A is mat2 (stored
  // k x n, read transposed), B is self (stored k x m), so A's scale is scale_b's and B's is
  // scale_a's; C (never read, beta 0) points at self as cuBLASLt wants a C that is not D.
  gemm::Scaling scaling{};
  scaling.a_type = mat2.scalar_type();
  scaling.b_type = self.scalar_type();
  scaling.a_scale = scale_b.data_ptr();
  scaling.b_scale = scale_a.data_ptr();
  scaling.d_scale = out_fp8 && scale_result ? scale_result->data_ptr() : nullptr;
  scaling.bias_type = bias ? bias->scalar_type() : out_fp8 ? ScalarType::Half : call.out_dtype;
  scaling.outer_vec = call.rowwise;
  scaling.fast_accum = use_fast_accum;
  gemm::Problem p{};
  p.dtype = call.out_dtype;
  p.d_dtype = call.out_dtype;
  p.scaling = &scaling;
  p.device = self.get_device();
  p.m = n;
  p.n = m;
  p.k = k;
  p.batch = 1;
  p.a = {mat2.data_ptr(), k, n, mat2.stride(1), 0, true};
  p.b = {self.data_ptr(), k, m, m == 1 ? k : self.stride(0), 0, false};
  p.c = self.data_ptr();
  p.d = out.data_ptr();
  p.ldd = n;
  p.d_batch_stride = 0;
  p.bias = bias ? bias->data_ptr() : nullptr;
  p.alpha = 1.0f;
  p.beta = 0.0f;
  p.tf32 = false;
  p.reduction = gemm::Reduction::kAny;
  return gemm::matmul_cuda(p);
#else
  (void)call, (void)self, (void)mat2, (void)scale_a, (void)scale_b, (void)bias, (void)scale_result;
  (void)use_fast_accum, (void)out;
  return false;
#endif
}

}  // namespace

Tensor scaled_mm(const Tensor& self, const Tensor& mat2, const Tensor& scale_a, const Tensor& scale_b,
                 const std::optional<Tensor>& bias, const std::optional<Tensor>& scale_result,
                 std::optional<ScalarType> out_dtype, bool use_fast_accum) {
  const auto call = scaled_served(self, mat2, scale_a, scale_b, bias, scale_result,
                                  out_dtype.value_or(self.scalar_type()));
  if (!call)
    return GF_BLAS_FALLBACK(_scaled_mm, self, mat2, scale_a, scale_b, bias, scale_result, out_dtype, use_fast_accum);
  c10::DeviceGuard guard(self.device());
  Tensor out = at::empty({self.size(0), mat2.size(1)}, self.options().dtype(call->out_dtype));
  if (!scaled_matmul(*call, self, mat2, scale_a, scale_b, bias, scale_result, use_fast_accum, out)) {
    reg::note_fallback();
    GF_BLAS_TORCH(_scaled_mm_out, out, self, mat2, scale_a, scale_b, bias, scale_result, out_dtype, use_fast_accum);
  }
  return out;
}

Tensor& scaled_mm_out(const Tensor& self, const Tensor& mat2, const Tensor& scale_a, const Tensor& scale_b,
                      const std::optional<Tensor>& bias, const std::optional<Tensor>& scale_result,
                      std::optional<ScalarType> out_dtype, bool use_fast_accum, Tensor& out) {
  std::optional<ScaledCall> call;
  if (!out_dtype || *out_dtype == out.scalar_type())
    call = scaled_served(self, mat2, scale_a, scale_b, bias, scale_result, out.scalar_type());
  // out must be (m, n) and contiguous already (or empty, then made so): other layouts go to torch
  const bool out_ready = call && out.device() == self.device() &&
      ((out.dim() == 2 && out.size(0) == self.size(0) && out.size(1) == mat2.size(1) && out.is_contiguous()) ||
       out.numel() == 0);
  if (!out_ready)
    return GF_BLAS_FALLBACK(_scaled_mm_out, out, self, mat2, scale_a, scale_b, bias, scale_result, out_dtype,
                            use_fast_accum);
  c10::DeviceGuard guard(self.device());
  at::native::resize_output(out, {self.size(0), mat2.size(1)});
  if (!out.is_contiguous() ||
      !scaled_matmul(*call, self, mat2, scale_a, scale_b, bias, scale_result, use_fast_accum, out)) {
    reg::note_fallback();
    GF_BLAS_TORCH(_scaled_mm_out, out, self, mat2, scale_a, scale_b, bias, scale_result, out_dtype, use_fast_accum);
  }
  return out;
}

// ---- dot, vdot ---------------------------------------------------------------------------------
// A deterministic two-pass reduction (backends/cuda/dot.cu) for fp16/bf16/fp32/fp64 vectors on
// cuda; complex vectors (cuBLAS's dotc/dotu), zero tensors and every call torch rejects go to
// torch's kernel (its checks raise its errors). vdot of real vectors is dot.

namespace {

bool dot_served(const Tensor& self, const Tensor& other) {
#ifdef GEMFORGE_WITH_CUDA
  const ScalarType t = self.scalar_type();
  return self.is_cuda() && self.dim() == 1 && other.dim() == 1 && other.scalar_type() == t &&
         other.device() == self.device() && self.numel() == other.numel() &&
         (t == ScalarType::Half || t == ScalarType::BFloat16 || t == ScalarType::Float || t == ScalarType::Double) &&
         self.numel() <= INT32_MAX && self.stride(0) <= INT32_MAX && other.stride(0) <= INT32_MAX &&
         !self._is_zerotensor() && !other._is_zerotensor() && !self.is_neg() && !other.is_neg();
#else
  (void)self, (void)other;
  return false;
#endif
}

// out's one element = self . other (dot_served holds; out of self's dtype, on its device).
void run_dot(const Tensor& self, const Tensor& other, const Tensor& out) {
#ifdef GEMFORGE_WITH_CUDA
  c10::DeviceGuard guard(self.device());
  const int64_t n = self.numel();
  Tensor partials;
  if (n > gemm::dot_one_pass_max) {
    const ScalarType acc = self.scalar_type() == ScalarType::Double ? ScalarType::Double : ScalarType::Float;
    partials = at::empty({gemm::dot_partials(n)}, self.options().dtype(acc));
  }
  gemm::Dot d{};
  d.dtype = self.scalar_type();
  d.n = n;
  d.incx = n == 1 ? 1 : self.stride(0);
  d.incy = n == 1 ? 1 : other.stride(0);
  d.x = self.data_ptr();
  d.y = other.data_ptr();
  d.out = out.data_ptr();
  d.partials = partials.defined() ? partials.data_ptr() : nullptr;
  gemm::dot_cuda(d);
#else
  (void)self, (void)other, (void)out;
#endif
}

bool dot_out_served(const Tensor& self, const Tensor& other, const Tensor& out) {
  return dot_served(self, other) && out.device() == self.device() && out.scalar_type() == self.scalar_type();
}

}  // namespace

Tensor dot(const Tensor& self, const Tensor& tensor) {
  if (!dot_served(self, tensor)) return GF_BLAS_FALLBACK(dot, self, tensor);
  Tensor out = at::empty({}, self.options());
  run_dot(self, tensor, out);
  return out;
}

Tensor& dot_out(const Tensor& self, const Tensor& tensor, Tensor& out) {
  if (!dot_out_served(self, tensor, out)) {
    reg::note_fallback();
    return at::compositeexplicitautograd::dot_out(out, self, tensor);
  }
  at::native::resize_output(out, {});
  run_dot(self, tensor, out);
  return out;
}

std::tuple<Tensor, Tensor, Tensor> linear_backward(const Tensor& self, const Tensor& grad_output,
                                                   const Tensor& weight, std::array<bool, 3> output_mask) {
  TORCH_CHECK(self.dim() >= 1 && grad_output.dim() >= 1 && weight.dim() == 2,
              "linear_backward: expected an input and grad_output of at least one dim and a 2-d weight, got ",
              self.sizes(), ", ", grad_output.sizes(), " and ", weight.sizes());
  TORCH_CHECK(grad_output.size(-1) == weight.size(0) && self.size(-1) == weight.size(1),
              "linear_backward: grad_output ", grad_output.sizes(), " and input ", self.sizes(),
              " do not match weight ", weight.sizes());
  // The products run through the dispatcher: gemforge's GEMM where it serves them.
  const Tensor go = grad_output.reshape({-1, grad_output.size(-1)});
  Tensor grad_input, grad_weight, grad_bias;
  if (output_mask[0]) grad_input = go.mm(weight).reshape(self.sizes());
  if (output_mask[1]) grad_weight = go.t().mm(self.reshape({-1, self.size(-1)}));
  if (output_mask[2]) grad_bias = go.sum(0);
  return {grad_input, grad_weight, grad_bias};
}

Tensor vdot(const Tensor& self, const Tensor& other) {
  if (!dot_served(self, other)) return GF_BLAS_FALLBACK(vdot, self, other);
  Tensor out = at::empty({}, self.options());
  run_dot(self, other, out);
  return out;
}

Tensor& vdot_out(const Tensor& self, const Tensor& other, Tensor& out) {
  if (!dot_out_served(self, other, out)) {
    reg::note_fallback();
    return at::compositeexplicitautograd::vdot_out(out, self, other);
  }
  at::native::resize_output(out, {});
  run_dot(self, other, out);
  return out;
}

}  // namespace gemforge::ops
