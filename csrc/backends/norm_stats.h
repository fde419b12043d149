// Batch norm and group norm kernels (ops/batch_norm.cpp, ops/group_norm.cpp): plain descriptions
// of the work, one launcher per backend. c10 types only (nvcc-safe).
//
// Batch norm reads its input as a dense [N, C, S] tensor (S: the product of the spatial dims,
// 1 for a 2-d input) and reduces each channel over N x S. x and y have `dtype`; weight, bias and
// the running stats have `param_dtype` (dtype, or Float for a Half/BFloat16 input); the saved
// stats have `stat_dtype` (param_dtype on the cpu, the compute type on cuda, as torch).
// Group norm reads [N, C, HxW] as N x G dense rows of C / G x HxW; everything has `dtype`.
#pragma once

#include "engine/dtypes.h"

#include <cstdint>

namespace gemforge::chnorm {

struct BatchNormFwd {
  ScalarType dtype, param_dtype, stat_dtype;
  const void* x;
  const void* weight;  // C or null (1)
  const void* bias;    // C or null (0)
  void* running_mean;  // C or null; training: updated with momentum
  void* running_var;   // C or null; training: updated with the unbiased variance
  void* y;
  void* save_mean;    // C or null: training, the batch mean; eval, running_mean
  void* save_invstd;  // C or null: 1 / sqrt(var + eps) of the batch (training) or running_var
  int64_t N, C, S;
  double momentum, eps;
  bool training;
};

// dx = the gradient of y; dweight = sum(dy * (x - mean)) * invstd; dbias = sum(dy); each optional.
// training: mean / invstd from save_mean / save_invstd (stat_dtype); eval: from running_mean and
// running_var (param_dtype) with eps.
struct BatchNormBwd {
  ScalarType dtype, param_dtype, stat_dtype;
  const void* grad;
  const void* x;
  const void* weight;  // C or null (1)
  const void* mean;
  const void* invstd_or_var;
  void* dx;
  void* dweight;
  void* dbias;
  int64_t N, C, S;
  double eps;
  bool training;
};

struct GroupNormFwd {
  ScalarType dtype;
  const void* x;
  const void* weight;  // C or null
  const void* bias;    // C or null
  void* y;
  void* mean;  // N x G
  void* rstd;  // N x G
  int64_t N, C, HxW, G;
  double eps;
};

struct GroupNormBwd {
  ScalarType dtype;
  const void* grad;
  const void* x;
  const void* mean;
  const void* rstd;
  const void* weight;  // C or null
  void* dx;
  void* dweight;
  void* dbias;
  int64_t N, C, HxW, G;
};

// Dtypes served: torch's floating types; mixed batch norm (Half/BFloat16 x with Float params).
constexpr TypeSet kNormTypes = kFloating;

#define GF_CHNORM_LAUNCHERS(dev)                         \
  void batch_norm_fwd_##dev(const BatchNormFwd& p);      \
  void batch_norm_bwd_##dev(const BatchNormBwd& p);      \
  void group_norm_fwd_##dev(const GroupNormFwd& p);      \
  void group_norm_bwd_##dev(const GroupNormBwd& p);
GF_CHNORM_LAUNCHERS(cpu)
GF_CHNORM_LAUNCHERS(cuda)
#undef GF_CHNORM_LAUNCHERS

// Calls f(type_tag<T>{}, type_tag<P>{}) for the input type T and the parameter type P
// (T itself, or float for a reduced-precision T): six instantiations.
template <class F> bool dispatch_mixed(ScalarType dtype, ScalarType param_dtype, F&& f) {
  bool done = false;
  dispatch_dtype<kNormTypes>(dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    if (param_dtype == dtype) {
      f(t, t);
      done = true;
    } else if constexpr (sizeof(T) == 2) {
      if (param_dtype == ScalarType::Float) {
        f(t, type_tag<float>{});
        done = true;
      }
    }
  });
  return done;
}

}  // namespace gemforge::chnorm

// The launcher of `fn` for the tensor's device (ops/batch_norm.cpp, ops/group_norm.cpp).
#ifdef GEMFORGE_WITH_CUDA
#define GF_CHNORM(t, fn, p) ((t).is_cuda() ? ::gemforge::chnorm::fn##_cuda(p) : ::gemforge::chnorm::fn##_cpu(p))
#else
#define GF_CHNORM(t, fn, p) ::gemforge::chnorm::fn##_cpu(p)
#endif
