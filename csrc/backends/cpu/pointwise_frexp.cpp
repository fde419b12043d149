// cpu kernel of frexp (ops/pointwise/kernels/frexp.h): operands mantissa, exponent (int32), x;
// the op checked their dtypes, so no casts. A dense loop, or strided offsets walked per element.
#include "backends/cpu/pointwise.h"
#include "ops/pointwise/kernels/frexp.h"

namespace gemforge::pw {

template <>
void run_cpu<kernels::frexp>(const Launch& L, const Args&) {
  if (L.numel == 0) return;
  const bool known = dispatch_dtype<kernels::frexp::types>(L.compute, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using C = opmath_t<S>;
    auto one = [](const char* x, char* m, char* e) {
      int32_t exponent;
      *reinterpret_cast<S*>(m) = S(kernels::frexp_of(C(*reinterpret_cast<const S*>(x)), exponent));
      *reinterpret_cast<int32_t*>(e) = exponent;
    };
    if (L.contiguous) {
      at::parallel_for(0, L.numel, cpu::kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          one(L.data[2] + i * int64_t(sizeof(S)), L.data[0] + i * int64_t(sizeof(S)),
              L.data[1] + i * int64_t(sizeof(int32_t)));
      });
      return;
    }
    const int ndim = L.ndim;
    at::parallel_for(0, L.numel, cpu::kGrain, [&](int64_t begin, int64_t end) {
      int64_t index[kMaxDims];
      int64_t offset[3] = {};
      int64_t rest = begin;
      for (int d = 0; d < ndim; ++d) {
        index[d] = rest % L.sizes[d];
        rest /= L.sizes[d];
        for (int k = 0; k < 3; ++k) offset[k] += index[d] * L.strides[k][d];
      }
      for (int64_t i = begin; i < end; ++i) {
        one(L.data[2] + offset[2], L.data[0] + offset[0], L.data[1] + offset[1]);
        for (int d = 0; d < ndim; ++d) {  // advance the multi-index by one element
          for (int k = 0; k < 3; ++k) offset[k] += L.strides[k][d];
          if (++index[d] < L.sizes[d]) break;
          for (int k = 0; k < 3; ++k) offset[k] -= L.strides[k][d] * L.sizes[d];
          index[d] = 0;
        }
      }
    });
  });
  TORCH_INTERNAL_ASSERT(known, "gemforge: no cpu frexp kernel for dtype ", L.compute);
}

}  // namespace gemforge::pw
