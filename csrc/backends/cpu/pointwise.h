// The cpu backend of the pointwise engine: the same functors as the cuda backend, run by a
// dense loop (operands contiguous and of the functor's own dtypes) or a strided loop with
// dynamic casts, both split across threads by at::parallel_for. run_cpu<Op> is instantiated
// per family by the pointwise_<family>.cpp files.
#pragma once

#include "engine/dtypes.h"
#include "engine/pointwise_launch.h"
#include "ops/pointwise/kernels/base.h"

#include <ATen/Parallel.h>
#include <c10/core/DynamicCast.h>
#include <c10/util/TypeCast.h>

#include <algorithm>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

namespace gemforge::pw {
namespace cpu {

inline constexpr int64_t kGrain = 32768;

template <class T> constexpr ScalarType dtype_of = c10::CppTypeToScalarType<T>::value;

// Calls run(offset, n) for elements [begin, end) of L's iteration space in runs along the fastest
// dimension: offset[k] is operand k's byte offset of the run's first element, n its length.
template <class Run> void for_each_run(const Launch& L, int64_t begin, int64_t end, const Run& run) {
  const int nt = L.ntensors, ndim = L.ndim;  // ndim >= 1 (a 0-d iteration: one dimension of 1)
  int64_t offset[kMaxOperands] = {};
  int64_t index[kMaxDims];
  int64_t rest = begin;
  for (int d = 0; d < ndim; ++d) {
    index[d] = rest % L.sizes[d];
    rest /= L.sizes[d];
    for (int k = 0; k < nt; ++k) offset[k] += index[d] * L.strides[k][d];
  }
  for (int64_t i = begin; i < end;) {
    const int64_t n = std::min(end - i, L.sizes[0] - index[0]);
    run(offset, n);
    i += n;
    index[0] += n;
    for (int k = 0; k < nt; ++k) offset[k] += n * L.strides[k][0];
    for (int d = 0; d < ndim - 1 && index[d] == L.sizes[d]; ++d) {  // carry into the next dimension
      index[d] = 0;
      ++index[d + 1];
      for (int k = 0; k < nt; ++k) offset[k] += L.strides[k][d + 1] - L.strides[k][d] * L.sizes[d];
    }
  }
}

template <class Op, class S, class C, class F, size_t... I>
void loop(const F& f, const Launch& L, std::index_sequence<I...>) {
  using traits = fn_traits<F>;
  using R = typename traits::result;
  using OutS = storage_of<R, C, S>;
  if (L.numel == 0) return;

  bool inputs_typed = true, any_scalar = false;
  ((inputs_typed &= L.dtype[I + 1] == dtype_of<storage_of<typename traits::template arg<I>, C, S>>), ...);
  ((any_scalar |= L.cpu_scalar[I + 1]), ...);

  // out[j] = f(in[j]...) for j < n over unit-stride operands of the functor's own dtypes: the
  // loop the compiler vectorizes.
  using Inputs = std::tuple<const storage_of<typename traits::template arg<I>, C, S>*...>;
  auto dense = [&](auto* out, const Inputs& in, int64_t n) {
    using D = std::remove_pointer_t<decltype(out)>;
    for (int64_t j = 0; j < n; ++j)
      out[j] = c10::convert<D>(f(static_cast<typename traits::template arg<I>>(std::get<I>(in)[j])...));
    (void)in;  // nullary ops (fill) read nothing
  };

  // Dense operands of the functor's own dtypes: a plain loop. An output of another dtype (copy's
  // casts, in-place comparisons) is converted on the store.
  if (L.contiguous && inputs_typed && !any_scalar) {
    const Inputs in(reinterpret_cast<const storage_of<typename traits::template arg<I>, C, S>*>(L.data[I + 1])...);
    auto typed_store = [&](auto out_tag) {
      using D = typename decltype(out_tag)::type;
      at::parallel_for(0, L.numel, kGrain, [&](int64_t begin, int64_t end) {
        dense(reinterpret_cast<D*>(L.data[0]) + begin, Inputs((std::get<I>(in) + begin)...), end - begin);
      });
    };
    if (L.dtype[0] == dtype_of<OutS>) return typed_store(type_tag<OutS>{});
    if constexpr (Op::cast_to != 0) {  // a cast copy into a floating dtype
      if (dispatch_dtype<Op::cast_to>(L.dtype[0], typed_store)) return;
    }
    char* out = L.data[0];
    const int64_t size = c10::elementSize(L.dtype[0]);
    at::parallel_for(0, L.numel, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        c10::cast_and_store<R>(L.dtype[0], out + i * size,
                               f(static_cast<typename traits::template arg<I>>(std::get<I>(in)[i])...));
    });
    return;
  }

  // Strided operands: runs along the fastest dimension, the multi-index advanced once a run.
  auto runs = [&](auto&& run) {
    at::parallel_for(0, L.numel, kGrain, [&](int64_t begin, int64_t end) { for_each_run(L, begin, end, run); });
  };
  // An operand's address and step (bytes) in the run at offset; a cpu scalar stays put.
  auto at = [&](const int64_t* offset, int k) { return L.data[k] + (L.cpu_scalar[k] ? 0 : offset[k]); };
  auto step = [&](int k) { return L.cpu_scalar[k] ? int64_t(0) : L.strides[k][0]; };

  // Inputs of the functor's own dtypes, an output of dtype D: a run whose operands all step by
  // one element (a broadcast row, a slice of rows) takes the dense loop, others load typed.
  auto typed_runs = [&](auto out_tag) {
    using D = typename decltype(out_tag)::type;
    bool unit = step(0) == int64_t(sizeof(D));
    ((unit &= step(int(I) + 1) == int64_t(sizeof(std::remove_pointer_t<std::tuple_element_t<I, Inputs>>))), ...);
    runs([&](const int64_t* offset, int64_t n) {
      if (unit)
        return dense(reinterpret_cast<D*>(at(offset, 0)),
                     Inputs(reinterpret_cast<std::tuple_element_t<I, Inputs>>(at(offset, int(I) + 1))...), n);
      auto arg = [&](auto idx, int64_t j) {  // argument a of element j
        constexpr int a = decltype(idx)::value;
        using A = typename traits::template arg<a>;
        return static_cast<A>(*reinterpret_cast<const storage_of<A, C, S>*>(at(offset, a + 1) + j * step(a + 1)));
      };
      (void)arg;  // nullary ops (fill) load nothing
      for (int64_t j = 0; j < n; ++j)
        *reinterpret_cast<D*>(at(offset, 0) + j * step(0)) =
            c10::convert<D>(f(arg(std::integral_constant<int, int(I)>{}, j)...));
    });
  };
  if (inputs_typed) {
    if (L.dtype[0] == dtype_of<OutS>) return typed_runs(type_tag<OutS>{});
    if constexpr (Op::cast_to != 0) {
      if (dispatch_dtype<Op::cast_to>(L.dtype[0], typed_runs)) return;
    }
  }
  // The rest cast each element from and to the operands' dtypes.
  runs([&](const int64_t* offset, int64_t n) {
    auto arg = [&](auto idx, int64_t j) {
      constexpr int a = decltype(idx)::value;
      return c10::fetch_and_cast<typename traits::template arg<a>>(L.dtype[a + 1], at(offset, a + 1) + j * step(a + 1));
    };
    (void)arg;
    for (int64_t j = 0; j < n; ++j)
      c10::cast_and_store<R>(L.dtype[0], at(offset, 0) + j * step(0), f(arg(std::integral_constant<int, int(I)>{}, j)...));
  });
}

}  // namespace cpu

template <class Op>
void run_cpu(const Launch& L, const Args& args) {
  const bool known = dispatch_dtype<Op::types>(L.compute, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using C = opmath_t<S>;
    const auto f = Op::template make<C>(args);
    cpu::loop<Op, S, C>(f, L, std::make_index_sequence<fn_traits<decltype(f)>::arity>{});
  });
  TORCH_INTERNAL_ASSERT(known, "gemforge: no cpu kernel for dtype ", L.compute);
}

#define GF_INSTANTIATE_CPU(op) template void run_cpu<kernels::op>(const Launch&, const Args&);

}  // namespace gemforge::pw
