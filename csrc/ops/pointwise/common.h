// What every pointwise op file needs: the engine, torch's own kernels to fall back on, and
// short names.
#pragma once

#include "engine/pointwise.h"
#include "ops/pointwise/kernels/base.h"
#include "registry/calls.h"

#include <ATen/CPUFunctions.h>
#include <ATen/ScalarOps.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/CUDAFunctions.h>
#endif

namespace gemforge::ops {

using at::Scalar;
using at::Tensor;
using pw::Args;
using pw::IterKind;

template <class Op> inline constexpr pw::Kernel K = pw::kernel<Op>();

// torch's own kernel for the device of `t`, called directly (not through the dispatcher, which
// would come back to gemforge): the road for every case gemforge has no kernel for.
#ifdef GEMFORGE_WITH_CUDA
#define GF_TORCH(t, fn, ...) ((t).is_cuda() ? at::cuda::fn(__VA_ARGS__) : at::cpu::fn(__VA_ARGS__))
#else
#define GF_TORCH(t, fn, ...) at::cpu::fn(__VA_ARGS__)
#endif
// A fallback as a lambda; calling it records, when stats are on, that torch served the call.
#define GF_FALLBACK_TO(expr) [&]() -> decltype(auto) { ::gemforge::reg::note_fallback(); return expr; }
#define GF_FALLBACK(t, fn, ...) GF_FALLBACK_TO(GF_TORCH(t, fn, __VA_ARGS__))

// The functional, out= and in-place forms of an op over `inputs` with kernel Op; `torch_name` is
// torch's function for the fallback (torch_name, torch_name##_outf, torch_name##_), `check` runs
// first in each form (torch's argument checks). `self` is the first input.
#define GF_UNARY_FORMS(name, kind, Op, torch_name, check)                                          \
  Tensor name(const Tensor& self) {                                                                \
    check;                                                                                         \
    return pw::functional(kind, {self}, K<Op>, {}, GF_FALLBACK(self, torch_name, self));           \
  }                                                                                                \
  Tensor& name##_out(const Tensor& self, Tensor& out) {                                            \
    check;                                                                                         \
    return pw::out_form(out, kind, {self}, K<Op>, {}, GF_FALLBACK(self, torch_name##_outf, self, out)); \
  }                                                                                                \
  Tensor& name##_(Tensor& self) {                                                                  \
    check;                                                                                         \
    return pw::inplace(self, kind, {self}, K<Op>, {}, GF_FALLBACK(self, torch_name##_, self));     \
  }
#define GF_BINARY_FORMS(name, kind, Op, torch_name)                                               \
  Tensor name(const Tensor& self, const Tensor& other) {                                          \
    return pw::functional(kind, {self, other}, K<Op>, {}, GF_FALLBACK(self, torch_name, self, other)); \
  }                                                                                                \
  Tensor& name##_out(const Tensor& self, const Tensor& other, Tensor& out) {                      \
    return pw::out_form(out, kind, {self, other}, K<Op>, {},                                       \
                        GF_FALLBACK(self, torch_name##_outf, self, other, out));                   \
  }                                                                                                \
  Tensor& name##_(Tensor& self, const Tensor& other) {                                            \
    return pw::inplace(self, kind, {self, other}, K<Op>, {},                                       \
                       GF_FALLBACK(self, torch_name##_, self, other));                             \
  }
// The Scalar overloads of a binary op: the Tensor overloads with a wrapped number.
#define GF_SCALAR_FORMS(name)                                                                      \
  Tensor name##_scalar(const Tensor& self, const Scalar& other) { return ops::name(self, wrap(other)); } \
  Tensor& name##_scalar_out(const Tensor& self, const Scalar& other, Tensor& out) {                \
    return ops::name##_out(self, wrap(other), out);                                                \
  }                                                                                                \
  Tensor& name##_scalar_(Tensor& self, const Scalar& other) { return ops::name##_(self, wrap(other)); }

// A Scalar operand as torch passes it to the Tensor overload: a 0-d CPU "wrapped number".
inline Tensor wrap(const Scalar& s) { return at::native::wrapped_scalar_tensor(s); }

// For kernels::round_to_storage: 1 / 2 where torch's cuda kernel of an op computing in `dtype`
// rounds its intermediates to Half / BFloat16 (it computes them in the storage type), else 0.
inline int cuda_storage_rounding(const Tensor& t, at::ScalarType dtype) {
  if (!t.is_cuda()) return 0;
  return dtype == at::kHalf ? 1 : dtype == at::kBFloat16 ? 2 : 0;
}

}  // namespace gemforge::ops
