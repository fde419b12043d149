// Entry points added to fill the pointwise, special-function, creation and reduction rows of
// FlagGems' op list that were still missing (issues 3 and 4); each has the exact signature of
// its aten overload.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/SymIntArrayRef.h>

#include <optional>
#include <tuple>

namespace gemforge::ops {

using at::Tensor;

// ---- ops/pointwise/frexp.cpp: frexp.Tensor, frexp.Tensor_out -----------------------------------
std::tuple<Tensor, Tensor> frexp(const Tensor& self);
std::tuple<Tensor&, Tensor&> frexp_out(const Tensor& self, Tensor& mantissa, Tensor& exponent);

// ---- ops/pointwise/special.cpp ------------------------------------------------------------------
Tensor special_airy_ai(const Tensor& x);
Tensor& special_airy_ai_out(const Tensor& x, Tensor& out);

// ---- ops/pointwise/fill_copy.cpp: lift.out, empty_permuted (+ .out) ------------------------------
Tensor& lift_out(const Tensor& self, Tensor& out);
Tensor empty_permuted(c10::SymIntArrayRef size, at::IntArrayRef physical_layout,
                      std::optional<at::ScalarType> dtype, std::optional<at::Layout> layout,
                      std::optional<at::Device> device, std::optional<bool> pin_memory);
Tensor& empty_permuted_out(c10::SymIntArrayRef size, at::IntArrayRef physical_layout, Tensor& out);

// ---- ops/reduction.cpp: logsumexp.out ------------------------------------------------------------
Tensor& logsumexp_out(const Tensor& self, at::IntArrayRef dim, bool keepdim, Tensor& out);

}  // namespace gemforge::ops
