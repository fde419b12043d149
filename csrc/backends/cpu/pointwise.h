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

#include <cstring>
#include <utility>

namespace gemforge::pw {
namespace cpu {

inline constexpr int64_t kGrain = 32768;

template <class T> constexpr ScalarType dtype_of = c10::CppTypeToScalarType<T>::value;

template <class Op, class S, class C, class F, size_t... I>
void loop(const F& f, const Launch& L, std::index_sequence<I...>) {
  using traits = fn_traits<F>;
  using R = typename traits::result;
  using OutS = storage_of<R, C, S>;
  if (L.numel == 0) return;

  bool inputs_typed = true, any_scalar = false;
  ((inputs_typed &= L.dtype[I + 1] == dtype_of<storage_of<typename traits::template arg<I>, C, S>>), ...);
  ((any_scalar |= L.cpu_scalar[I + 1]), ...);

  // Dense operands of the functor's own dtypes: a plain loop. An output of another dtype (copy's
  // casts, in-place comparisons) is converted on the store.
  if (L.contiguous && inputs_typed && !any_scalar) {
    auto in = std::make_tuple(
        reinterpret_cast<const storage_of<typename traits::template arg<I>, C, S>*>(L.data[I + 1])...);
    auto value = [&](int64_t i) {
      return f(static_cast<typename traits::template arg<I>>(std::get<I>(in)[i])...);
    };
    auto typed_store = [&](auto out_tag) {
      using D = typename decltype(out_tag)::type;
      D* out = reinterpret_cast<D*>(L.data[0]);
      at::parallel_for(0, L.numel, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) out[i] = c10::convert<D>(value(i));
      });
    };
    if (L.dtype[0] == dtype_of<OutS>) return typed_store(type_tag<OutS>{});
    if constexpr (Op::cast_to != 0) {  // a cast copy into a floating dtype
      if (dispatch_dtype<Op::cast_to>(L.dtype[0], typed_store)) return;
    }
    char* out = L.data[0];
    const int64_t size = c10::elementSize(L.dtype[0]);
    at::parallel_for(0, L.numel, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) c10::cast_and_store<R>(L.dtype[0], out + i * size, value(i));
    });
    return;
  }

  const int nt = L.ntensors, ndim = L.ndim;
  at::parallel_for(0, L.numel, kGrain, [&](int64_t begin, int64_t end) {
    int64_t index[kMaxDims];
    int64_t offset[kMaxOperands] = {};
    int64_t rest = begin;
    for (int d = 0; d < ndim; ++d) {
      index[d] = rest % L.sizes[d];
      rest /= L.sizes[d];
      for (int k = 0; k < nt; ++k) offset[k] += index[d] * L.strides[k][d];
    }
    for (int64_t i = begin; i < end; ++i) {
      auto load = [&](auto idx) {
        constexpr int a = decltype(idx)::value;
        using A = typename traits::template arg<a>;
        const char* p = L.data[a + 1] + (L.cpu_scalar[a + 1] ? 0 : offset[a + 1]);
        return c10::fetch_and_cast<A>(L.dtype[a + 1], p);
      };
      (void)load;  // nullary ops (fill) load nothing
      c10::cast_and_store<R>(L.dtype[0], L.data[0] + offset[0],
                             f(load(std::integral_constant<int, int(I)>{})...));
      for (int d = 0; d < ndim; ++d) {  // advance the multi-index by one element
        for (int k = 0; k < nt; ++k) offset[k] += L.strides[k][d];
        if (++index[d] < L.sizes[d]) break;
        for (int k = 0; k < nt; ++k) offset[k] -= L.strides[k][d] * L.sizes[d];
        index[d] = 0;
      }
    }
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
