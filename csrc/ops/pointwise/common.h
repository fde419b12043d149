// What every pointwise op file needs: the engine, torch's own kernels to fall back on, and
// short names.
#pragma once

#include "engine/pointwise.h"
#include "ops/pointwise/kernels.h"
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

// A Scalar operand as torch passes it to the Tensor overload: a 0-d CPU "wrapped number".
inline Tensor wrap(const Scalar& s) { return at::native::wrapped_scalar_tensor(s); }

}  // namespace gemforge::ops
