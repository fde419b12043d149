// Entry points of the GEMM family added for issue 5 (ops/gemm.cpp): fp8 _scaled_mm, addmm with
// an fp32 output for fp16/bf16 inputs (addmm.dtype), and dot/vdot. The older GEMM entry points
// (mm, addmm, bmm, ...) are declared in ops/ops.h.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <c10/core/ScalarType.h>

#include <array>
#include <optional>
#include <tuple>

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

// linear's backward as one op (torch has kernels for it only on mkldnn and nested tensors; autograd
// uses mm for dense ones): grad_input = grad_output W, grad_weight = grad_output^T input (batch
// dims flattened), grad_bias = grad_output summed over them; output_mask picks which.
std::tuple<Tensor, Tensor, Tensor> linear_backward(const Tensor& self, const Tensor& grad_output,
                                                   const Tensor& weight, std::array<bool, 3> output_mask);

}  // namespace gemforge::ops
