// Entry points of the GEMM family added for issue 5 (ops/gemm.cpp): fp8 _scaled_mm, addmm with
// an fp32 output for fp16/bf16 inputs (addmm.dtype), and dot/vdot. The older GEMM entry points
// (mm, addmm, bmm, ...) are declared in ops/ops.h.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <c10/core/ScalarType.h>

#include <optional>

namespace gemforge::ops {

using at::Tensor;

Tensor scaled_mm(const Tensor& self, const Tensor& mat2, const Tensor& scale_a, const Tensor& scale_b,
                 const std::optional<Tensor>& bias, const std::optional<Tensor>& scale_result,
                 std::optional<c10::ScalarType> out_dtype, bool use_fast_accum);
Tensor& scaled_mm_out(const Tensor& self, const Tensor& mat2, const Tensor& scale_a, const Tensor& scale_b,
                      const std::optional<Tensor>& bias, const std::optional<Tensor>& scale_result,
                      std::optional<c10::ScalarType> out_dtype, bool use_fast_accum, Tensor& out);

Tensor addmm_dtype(const Tensor& self, const Tensor& mat1, const Tensor& mat2, c10::ScalarType out_dtype,
                   const c10::Scalar& beta, const c10::Scalar& alpha);
Tensor& addmm_dtype_out(const Tensor& self, const Tensor& mat1, const Tensor& mat2, c10::ScalarType out_dtype,
                        const c10::Scalar& beta, const c10::Scalar& alpha, Tensor& out);

Tensor dot(const Tensor& self, const Tensor& tensor);
Tensor& dot_out(const Tensor& self, const Tensor& tensor, Tensor& out);
Tensor vdot(const Tensor& self, const Tensor& other);
Tensor& vdot_out(const Tensor& self, const Tensor& other, Tensor& out);

}  // namespace gemforge::ops
