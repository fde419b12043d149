// Entry points of the GEMM family's own kernels (ops/gemm_ext.cpp): addr (cpu and cuda),
// _grouped_mm, _scaled_grouped_mm, _weight_int8pack_mm, _compute_linear_combination and
// _trilinear (cuda). The cuBLASLt-served ones are in ops/gemm.h and ops/ops.h.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <c10/core/ScalarType.h>

#include <optional>

namespace gemforge::ops {

using at::Tensor;

Tensor addr(const Tensor& self, const Tensor& vec1, const Tensor& vec2, const c10::Scalar& beta,
            const c10::Scalar& alpha);
Tensor& addr_out(const Tensor& self, const Tensor& vec1, const Tensor& vec2, const c10::Scalar& beta,
                 const c10::Scalar& alpha, Tensor& out);
Tensor& addr_(Tensor& self, const Tensor& vec1, const Tensor& vec2, const c10::Scalar& beta,
              const c10::Scalar& alpha);

Tensor grouped_mm(const Tensor& self, const Tensor& mat2, const std::optional<Tensor>& offs,
                  const std::optional<Tensor>& bias, std::optional<c10::ScalarType> out_dtype);

Tensor scaled_grouped_mm(const Tensor& self, const Tensor& mat2, const Tensor& scale_a, const Tensor& scale_b,
                         const std::optional<Tensor>& offs, const std::optional<Tensor>& bias,
                         const std::optional<Tensor>& scale_result, std::optional<c10::ScalarType> out_dtype,
                         bool use_fast_accum);

Tensor weight_int8pack_mm(const Tensor& self, const Tensor& mat2, const Tensor& scales);

Tensor compute_linear_combination(const Tensor& input, const Tensor& coefficients);
Tensor& compute_linear_combination_out(const Tensor& input, const Tensor& coefficients, Tensor& out);

Tensor trilinear(const Tensor& i1, const Tensor& i2, const Tensor& i3, at::IntArrayRef expand1,
                 at::IntArrayRef expand2, at::IntArrayRef expand3, at::IntArrayRef sumdim, int64_t unroll_dim);

}  // namespace gemforge::ops
