// The pointwise engine's host side: from tensors to a backend launch.
//
// Two roads. The fast one takes dense, same-shape, same-dtype operands on one device and goes
// straight to the kernel with no TensorIterator and no layout work. Everything else builds a
// TensorIterator exactly as torch does for the op (so broadcasting, type promotion, out=
// resizing, overlap checks and their errors are torch's own) and launches from it.
// Each returns false when gemforge has no kernel for the case; the op then calls torch's.
#pragma once

#include "engine/dtypes.h"
#include "engine/pointwise_launch.h"
#include "ops/pointwise/kernels/base.h"

#include <ATen/TensorIterator.h>
#include <ATen/core/Tensor.h>

#include <initializer_list>
#include <type_traits>

namespace gemforge::pw {

using at::Tensor;

// One op's kernels on every backend compiled in (cuda: null without a CUDA build), and the
// dtypes they have kernels for.
struct Kernel {
  void (*cpu)(const Launch&, const Args&);
  void (*cuda)(const Launch&, const Args&);
  TypeSet types;
  bool casts;  // stores into any output dtype by design (Op::cast_to: copy)
  bool cuda_computes_in_output;  // Op::cuda_computes_in_output
};

template <class Op> constexpr Kernel kernel() {
  constexpr bool casts = Op::cast_to != 0;
#ifdef GEMFORGE_WITH_CUDA
  return {&run_cpu<Op>, &run_cuda<Op>, Op::types, casts, Op::cuda_computes_in_output};
#else
  return {&run_cpu<Op>, nullptr, Op::types, casts, Op::cuda_computes_in_output};
#endif
}

// How the op's TensorIterator is configured: torch's own helper of the same name.
enum class IterKind { unary, unary_float, binary, binary_float, comparison };

// Launch over a built iterator; `compute` is the dtype the functor runs in (by default the
// iterator's common dtype, or on cuda its output's for an Op::cuda_computes_in_output).
bool run(at::TensorIteratorBase& iter, const Kernel& k, const Args& args = {},
         ScalarType compute = ScalarType::Undefined);

// Builds the iterator of `kind` over (out, inputs...) and runs it. `out` may be undefined
// (functional form: the iterator allocates it). Returns the output, or an undefined tensor when
// gemforge has no kernel for the case.
Tensor run(IterKind kind, const Tensor& out, std::initializer_list<Tensor> inputs, const Kernel& k,
           const Args& args = {});

// The fast road for functional and in-place forms: every operand dense, of one shape and
// device, 16-byte aligned, the inputs of one dtype. Writes into `out` when it is defined
// (in place: out is inputs[0]; fill: no inputs), else allocates it. Undefined when not eligible.
Tensor run_dense(IterKind kind, const Tensor& out, std::initializer_list<Tensor> inputs,
                 const Kernel& k, const Args& args = {});

// functional / in-place / out= forms of an iterator-shaped op; `fallback` is torch's kernel.
template <class Fallback>
Tensor functional(IterKind kind, std::initializer_list<Tensor> inputs, const Kernel& k,
                  const Args& args, Fallback&& fallback) {
  Tensor r = run_dense(kind, Tensor(), inputs, k, args);
  if (!r.defined()) r = run(kind, Tensor(), inputs, k, args);
  return r.defined() ? r : fallback();
}
template <class Fallback>
Tensor& inplace(Tensor& self, IterKind kind, std::initializer_list<Tensor> inputs, const Kernel& k,
                const Args& args, Fallback&& fallback) {
  if (run_dense(kind, self, inputs, k, args).defined()) return self;
  if (run(kind, self, inputs, k, args).defined()) return self;
  return fallback();
}
template <class Fallback>
Tensor& out_form(Tensor& out, IterKind kind, std::initializer_list<Tensor> inputs, const Kernel& k,
                 const Args& args, Fallback&& fallback) {
  if (run(kind, out, inputs, k, args).defined()) return out;
  return fallback();
}

}  // namespace gemforge::pw
