// Random sampling and dropout. The in-place samplers run torch's own argument checks and
// parameter clamping (ATen/native/DistributionTemplates.h, templated on the kernel) with our
// kernels plugged in; their functional factories (rand, randn, randint, *_like, bernoulli,
// normal.float_float, ...) are torch's composites of empty + these samplers.
//
// Randomness comes from torch's generator of the tensor's device: on cuda a Philox offset
// reserved under the generator's lock (as torch's kernels do), on the cpu one 64-bit seed drawn
// from the cpu generator; our counter-based kernels (backends/random.h) expand it. While a CUDA
// graph is being captured torch's kernels serve the call (their offsets follow the graph).
#include "ops/random.h"

#include "backends/random.h"
#include "ops/on_device.h"
#include "ops/ops.h"
#include "ops/pointwise/common.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ExpandUtils.h>
#include <ATen/core/DistributionsHelper.h>
#include <ATen/native/DistributionTemplates.h>
#include <ATen/native/Resize.h>
#include <c10/core/DeviceGuard.h>

#include <cmath>
#include <limits>
#include <mutex>

#ifdef GEMFORGE_WITH_CUDA
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>
#endif

namespace gemforge::ops {
namespace {

using random::Dist;
using random::Params;
using templates_generator = at::Generator;

#ifdef GEMFORGE_WITH_CUDA
#define GF_RANDOM(t, fn, ...) \
  ((t).is_cuda() ? random::fn##_cuda(__VA_ARGS__) : random::fn##_cpu(__VA_ARGS__))
#else
#define GF_RANDOM(t, fn, ...) random::fn##_cpu(__VA_ARGS__)
#endif

// The Philox key and counter base of one call on t's device (its device current); none while a
// CUDA graph is being captured.
std::optional<random::Philox> reserve(const Tensor& t, const OptGenerator& gen,
                                      uint64_t increment = random::kIncrement) {
#ifdef GEMFORGE_WITH_CUDA
  if (t.is_cuda()) {
    if (c10::cuda::currentStreamCaptureStatusMayInitCtx() != c10::cuda::CaptureStatus::None) {
      return std::nullopt;
    }
    auto* g = at::get_generator_or_default<at::CUDAGeneratorImpl>(
        gen, at::cuda::detail::getDefaultCUDAGenerator(t.device().index()));
    at::PhiloxCudaState state;
    {
      std::lock_guard<std::mutex> lock(g->mutex_);
      state = g->philox_cuda_state(increment);
    }
    if (state.captured_) return std::nullopt;
    return random::Philox{state.seed_.val, state.offset_.val};
  }
#endif
  auto* g = at::get_generator_or_default<at::CPUGeneratorImpl>(gen, at::detail::getDefaultCPUGenerator());
  std::lock_guard<std::mutex> lock(g->mutex_);
  return random::Philox{g->random64(), 0};
}

bool on_backend(const Tensor& t) { return (t.is_cpu() || t.is_cuda()) && t.layout() == at::kStrided; }

// t dense in memory (any order of dims): its storage span holds exactly its elements.
bool dense(const Tensor& t) { return t.is_non_overlapping_and_dense(); }

// Fills t (any layout) with dist's values; false where torch must serve the call (a dtype we
// have no kernel for, graph capture).
bool fill(const Tensor& t, Dist dist, const Params& p, const OptGenerator& gen) {
  if (!on_backend(t) || !has(random::fill_types(dist), t.scalar_type())) return false;
  if (t.numel() == 0) return true;
  OnDevice on(t);
  const auto rng = reserve(t, gen);
  if (!rng) return false;
  Tensor out = dense(t) ? t : at::empty(t.sizes(), t.options());
  GF_RANDOM(out, fill, random::Fill{out.scalar_type(), out.data_ptr(), out.numel(), dist, p, *rng});
  if (!out.is_same(t)) {
    Tensor target = t;
    ops::copy_(target, out, false);
  }
  return true;
}

// The threshold of a 32-bit draw kept with probability p: ceil(p * 2^32), exact to 2^-32.
uint64_t threshold(double p) {
  const double t = std::ceil(p * 4294967296.0);
  return t <= 0 ? 0 : t >= 4294967296.0 ? uint64_t(1) << 32 : uint64_t(t);
}

// torch's kernel for t (a sampler we did not serve), its call noted as a fallback.
#define GF_TORCH_SAMPLER(t, fn, ...) \
  do {                               \
    Tensor self_ = (t);              \
    GF_FALLBACK(self_, fn, self_, __VA_ARGS__)(); \
  } while (0)

// ---- the kernels plugged into torch's templates ----------------------------------------------
template <class RNG> struct UniformStub {
  void operator()(at::TensorIteratorBase& iter, double from, double to, OptGenerator gen) {
    Params p;
    p.a = from;
    p.b = to - from;
    p.to = to;
    if (!fill(iter.output(0), Dist::uniform, p, gen)) GF_TORCH_SAMPLER(iter.output(0), uniform_, from, to, gen);
  }
};

template <class RNG> struct NormalStub {
  void operator()(Tensor& self, double mean, double std, OptGenerator gen) {
    Params p;
    p.a = mean;
    p.b = std;
    if (!fill(self, Dist::normal, p, gen)) GF_TORCH_SAMPLER(self, normal_, mean, std, gen);
  }
};

template <class RNG> struct LogNormalStub {
  void operator()(at::TensorIteratorBase& iter, double mean, double std, OptGenerator gen) {
    Params p;
    p.a = mean;
    p.b = std;
    if (!fill(iter.output(0), Dist::log_normal, p, gen)) GF_TORCH_SAMPLER(iter.output(0), log_normal_, mean, std, gen);
  }
};

template <class RNG> struct ExponentialStub {
  void operator()(at::TensorIteratorBase& iter, double lambda, OptGenerator gen) {
    Params p;
    p.a = -1.0 / lambda;
    if (!fill(iter.output(0), Dist::exponential, p, gen)) GF_TORCH_SAMPLER(iter.output(0), exponential_, lambda, gen);
  }
};

template <class RNG> struct CauchyStub {
  void operator()(at::TensorIteratorBase& iter, double median, double sigma, OptGenerator gen) {
    Params p;
    p.a = median;
    p.b = sigma;
    if (!fill(iter.output(0), Dist::cauchy, p, gen)) GF_TORCH_SAMPLER(iter.output(0), cauchy_, median, sigma, gen);
  }
};

template <class RNG> struct GeometricStub {
  void operator()(at::TensorIteratorBase& iter, double prob, OptGenerator gen) {
    Params p;
    p.a = 1.0 / std::log1p(-prob);
    if (!fill(iter.output(0), Dist::geometric, p, gen)) GF_TORCH_SAMPLER(iter.output(0), geometric_, prob, gen);
  }
};

// base + draw % range; range 0 is all 2^64 values.
Params random_params(uint64_t range, int64_t base) {
  Params p;
  p.range = range;
  p.base = base;
  return p;
}
Dist random_dist(uint64_t range) {
  return range != 0 && range <= (uint64_t(1) << 32) ? Dist::random32 : Dist::random64;
}

// random_()'s default range per dtype: [0, max] for integers, [0, 2^digits] for floating types.
uint64_t default_range(at::ScalarType t) {
  switch (t) {
    case at::kBool: return 2;
    case at::kByte: return uint64_t(std::numeric_limits<uint8_t>::max()) + 1;
    case at::kChar: return uint64_t(std::numeric_limits<int8_t>::max()) + 1;
    case at::kShort: return uint64_t(std::numeric_limits<int16_t>::max()) + 1;
    case at::kInt: return uint64_t(std::numeric_limits<int32_t>::max()) + 1;
    case at::kLong: return uint64_t(std::numeric_limits<int64_t>::max()) + 1;
    case at::kHalf: return (uint64_t(1) << 11) + 1;
    case at::kBFloat16: return (uint64_t(1) << 8) + 1;
    case at::kFloat: return (uint64_t(1) << 24) + 1;
    case at::kDouble: return (uint64_t(1) << 53) + 1;
    default: return 0;
  }
}

template <class RNG> struct RandomStub {
  void operator()(at::TensorIteratorBase& iter, OptGenerator gen) {
    const uint64_t range = default_range(iter.output(0).scalar_type());
    if (range == 0 || !fill(iter.output(0), random_dist(range), random_params(range, 0), gen)) {
      GF_TORCH_SAMPLER(iter.output(0), random_, gen);
    }
  }
};

template <class RNG> struct RandomFromToStub {
  void operator()(at::TensorIteratorBase& iter, uint64_t range, int64_t from, OptGenerator gen) {
    if (!fill(iter.output(0), random_dist(range), random_params(range, from), gen)) {
      // torch's kernel with the bounds torch's template computed (to = from + range).
      GF_TORCH_SAMPLER(iter.output(0), random_, from, int64_t(uint64_t(from) + range), gen);
    }
  }
  void operator()(at::TensorIteratorBase& iter, OptGenerator gen) {
    if (!fill(iter.output(0), Dist::random64, random_params(0, 0), gen)) {
      GF_TORCH_SAMPLER(iter.output(0), random_, std::numeric_limits<int64_t>::lowest(), std::nullopt, gen);
    }
  }
};

// out = draw < p elementwise; p floating, broadcast to out. False: torch serves it.
bool bernoulli_tensor(const Tensor& out, const Tensor& p_in, const OptGenerator& gen) {
  if (!on_backend(out) || !has(random::kDiscreteTypes, out.scalar_type()) || !p_in.is_floating_point() ||
      !(p_in.is_cpu() || p_in.device() == out.device()) || !at::is_expandable_to(p_in.sizes(), out.sizes())) {
    return false;
  }
  if (out.numel() == 0) return true;
  OnDevice on(out);
  const auto rng = reserve(out, gen);
  if (!rng) return false;
  const auto p_dtype = out.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const Tensor p = p_in.to(out.device(), p_dtype).expand(out.sizes()).contiguous();
  Tensor dest = out.is_contiguous() ? out : at::empty(out.sizes(), out.options());
  const bool ok = GF_RANDOM(dest, bernoulli_tensor,
      random::BernoulliTensor{dest.scalar_type(), dest.data_ptr(), p.const_data_ptr(), dest.numel(), *rng});
  TORCH_CHECK(ok, "Expected p_in >= 0 && p_in <= 1 to be true, but got false.");
  if (!dest.is_same(out)) {
    Tensor target = out;
    ops::copy_(target, dest, false);
  }
  return true;
}

template <class RNG> struct BernoulliStub {
  void operator()(Tensor& self, const Tensor& p, OptGenerator gen) {
    if (!bernoulli_tensor(self, p, gen)) GF_TORCH_SAMPLER(self, bernoulli_, p, gen);
  }
  void operator()(Tensor& self, double p, OptGenerator gen) {
    Params params;
    params.threshold = threshold(p);
    if (!fill(self, Dist::bernoulli, params, gen)) GF_TORCH_SAMPLER(self, bernoulli_, p, gen);
  }
};

namespace tpl = at::native::templates;

}  // namespace

// ---- in-place samplers --------------------------------------------------------------------------
Tensor& uniform_(Tensor& self, double from, double to, OptGenerator generator) {
  return tpl::uniform_impl_<UniformStub, templates_generator>(self, from, to, generator);
}

Tensor& normal_(Tensor& self, double mean, double std, OptGenerator generator) {
  return tpl::normal_impl_<NormalStub, templates_generator>(self, mean, std, generator);
}

Tensor& log_normal_(Tensor& self, double mean, double std, OptGenerator generator) {
  return tpl::log_normal_impl_<LogNormalStub, templates_generator>(self, mean, std, generator);
}

Tensor& exponential_(Tensor& self, double lambd, OptGenerator generator) {
  return tpl::exponential_impl_<ExponentialStub, templates_generator>(self, lambd, generator);
}

Tensor& cauchy_(Tensor& self, double median, double sigma, OptGenerator generator) {
  return tpl::cauchy_impl_<CauchyStub, templates_generator>(self, median, sigma, generator);
}

Tensor& geometric_(Tensor& self, double p, OptGenerator generator) {
  return tpl::geometric_impl_<GeometricStub, templates_generator>(self, p, generator);
}

Tensor& random_(Tensor& self, OptGenerator generator) {
  return tpl::random_impl<RandomStub, templates_generator>(self, generator);
}

Tensor& random_from_(Tensor& self, int64_t from, std::optional<int64_t> to, OptGenerator generator) {
  return tpl::random_from_to_impl<RandomFromToStub, templates_generator>(self, from, to, generator);
}

Tensor& random_to_(Tensor& self, int64_t to, OptGenerator generator) {
  return random_from_(self, 0, to, generator);
}

Tensor& bernoulli_float_(Tensor& self, double p, OptGenerator generator) {
  return tpl::bernoulli_impl_<BernoulliStub, templates_generator>(self, p, generator);
}

Tensor& bernoulli_tensor_(Tensor& self, const Tensor& p, OptGenerator generator) {
  return tpl::bernoulli_impl_<BernoulliStub, templates_generator>(self, p, generator);
}

Tensor& bernoulli_out(const Tensor& self, OptGenerator generator, Tensor& out) {
  return tpl::bernoulli_out_impl<BernoulliStub, templates_generator>(out, self, generator);
}

// ---- normal with tensor parameters: standard normal samples, scaled and shifted ---------------
Tensor normal_tensor_tensor(const Tensor& mean, const Tensor& std, OptGenerator generator) {
  return tpl::normal_impl<NormalStub, templates_generator>(mean, std, generator);
}

Tensor normal_tensor_float(const Tensor& mean, double std, OptGenerator generator) {
  return tpl::normal_impl<NormalStub, templates_generator>(mean, std, generator);
}

Tensor normal_float_tensor(double mean, const Tensor& std, OptGenerator generator) {
  return tpl::normal_impl<NormalStub, templates_generator>(mean, std, generator);
}

Tensor& normal_tensor_tensor_out(const Tensor& mean, const Tensor& std, OptGenerator generator, Tensor& out) {
  return tpl::normal_out_impl<NormalStub, templates_generator>(out, mean, std, generator);
}

Tensor& normal_tensor_float_out(const Tensor& mean, double std, OptGenerator generator, Tensor& out) {
  return tpl::normal_out_impl<NormalStub, templates_generator>(out, mean, std, generator);
}

Tensor& normal_float_tensor_out(double mean, const Tensor& std, OptGenerator generator, Tensor& out) {
  return tpl::normal_out_impl<NormalStub, templates_generator>(out, mean, std, generator);
}

// ---- dropout ---------------------------------------------------------------------------------
std::tuple<Tensor, Tensor> native_dropout(const Tensor& input, double p, std::optional<bool> train) {
  const bool served = on_backend(input) && has(random::kDropoutTypes, input.scalar_type()) && p >= 0 && p <= 1;
  if (!served) return GF_FALLBACK(input, native_dropout, input, p, train)();
  const auto bool_options = input.options().dtype(at::kBool);
  if (train.has_value() && !*train) return {input.clone(), at::ones_like(input, bool_options)};
  if (input.numel() == 0) return {input.clone(), at::empty_like(input, bool_options)};
  if (p == 1 && input.is_cuda()) {  // torch's cuda kernel: zeros, even where the input is NaN
    return {at::zeros_like(input), at::zeros_like(input, bool_options)};
  }
  // Dense inputs keep their layout (the outputs take the input's strides); others are read
  // through a contiguous copy.
  const Tensor in = dense(input) ? input : input.contiguous();
  Tensor out = at::empty_like(in), mask = at::empty_like(in, bool_options);
  if (out.strides() != in.strides() || mask.strides() != in.strides()) {
    return GF_FALLBACK(input, native_dropout, input, p, train)();
  }
  OnDevice on(in);
  const auto rng = reserve(in, std::nullopt);
  if (!rng) return GF_FALLBACK(input, native_dropout, input, p, train)();
  const double keep = 1.0 - p;
  GF_RANDOM(in, dropout, random::Dropout{in.scalar_type(), in.const_data_ptr(), out.data_ptr(),
                                         mask.data_ptr<bool>(), in.numel(), threshold(keep),
                                         keep == 0 ? 0.0 : 1.0 / keep, *rng});
  return {out, mask};
}

namespace {

// out = in * mask * scale, mask one byte an element of in's shape; none where torch serves it.
std::optional<Tensor> masked_scale(const Tensor& input, const Tensor& mask_in, double scale) {
  if (!on_backend(input) || !has(random::kDropoutTypes, input.scalar_type()) ||
      mask_in.device() != input.device() || !mask_in.sizes().equals(input.sizes())) {
    return std::nullopt;
  }
  // The result's layout as torch's: its cuda kernel takes the input's suggested memory format
  // (a transposed matrix gives a contiguous result), its cpu one the input's layout. The input
  // and the mask are read in that layout.
  Tensor out = input.is_cuda() ? at::empty_like(input, input.suggest_memory_format()) : at::empty_like(input);
  if (out.numel() == 0) return out;
  if (!dense(out)) return std::nullopt;
  const Tensor in = input.strides() == out.strides() ? input : at::empty_like(out).copy_(input);
  const Tensor mask =
      mask_in.strides() == out.strides() ? mask_in : at::empty_like(out, mask_in.options()).copy_(mask_in);
  OnDevice on(in);
  GF_RANDOM(in, masked_scale, random::MaskedScale{in.scalar_type(), in.const_data_ptr(),
                                                  static_cast<const uint8_t*>(mask.const_data_ptr()),
                                                  out.data_ptr(), in.numel(), scale});
  return out;
}

}  // namespace

Tensor native_dropout_backward(const Tensor& grad_output, const Tensor& mask, double scale) {
  if (mask.scalar_type() == at::kBool) {  // torch's cuda kernel takes bool masks only
    if (auto out = masked_scale(grad_output, mask, scale)) return *out;
  }
  return GF_FALLBACK(grad_output, native_dropout_backward, grad_output, mask, scale)();
}

Tensor _masked_scale(const Tensor& self, const Tensor& mask, double scale) {
#ifdef GEMFORGE_WITH_CUDA
  if (mask.scalar_type() == at::kByte) {  // torch's kernel takes uint8 masks only
    if (auto out = masked_scale(self, mask, scale)) return *out;
  }
  ::gemforge::reg::note_fallback();
  return at::cuda::_masked_scale(self, mask, scale);
#else
  TORCH_CHECK(false, "_masked_scale: gemforge serves it on cuda only");
#endif
}

// ---- randperm, multinomial, poisson, rrelu_with_noise -------------------------------------------
// randperm.generator_out; randperm, .generator and .out are torch's composites of it. int64 and
// int32 results below 2^31 elements are ours; other dtypes, sizes and torch's errors are torch's.
Tensor& randperm_generator_out(c10::SymInt n_sym, OptGenerator generator, Tensor& out) {
  const int64_t n = n_sym.guard_int(__FILE__, __LINE__);
  const bool ours = on_backend(out) && has(random::kRandpermTypes, out.scalar_type()) && n >= 0 &&
                    n <= std::numeric_limits<int32_t>::max() &&
                    (!generator.has_value() || generator->device() == out.device());
  if (!ours) return GF_FALLBACK(out, randperm_symint_outf, n_sym, generator, out)();
  at::native::resize_output(out, {n});
  if (n == 0) return out;
  OnDevice on(out);
  const auto rng = reserve(out, generator);
  if (!rng) return GF_FALLBACK(out, randperm_symint_outf, n_sym, generator, out)();
  Tensor dest = out.is_contiguous() ? out : at::empty({n}, out.options());
  GF_RANDOM(dest, randperm, random::Randperm{dest.scalar_type(), dest.data_ptr(), n, *rng});
  if (!dest.is_same(out)) out.copy_(dest);
  return out;
}

namespace {

// torch's argument checks of multinomial (aten/src/ATen/native/Distributions.cpp).
void check_multinomial(const Tensor& self, int64_t n_sample, bool replacement, const Tensor& result) {
  TORCH_CHECK(result.device() == self.device(), "multinomial arguments must have the same device");
  TORCH_CHECK(self.dim() > 0 && self.dim() <= 2, "prob_dist must be 1 or 2 dim");
  TORCH_CHECK(at::isFloatingType(self.scalar_type()),
              "multinomial only supports floating-point dtypes for input, got: ", self.scalar_type());
  TORCH_CHECK(result.scalar_type() == at::kLong, "multinomial expects Long tensor out, got: ", result.scalar_type());
  TORCH_CHECK(n_sample > 0, "cannot sample n_sample <= 0 samples");
  const int64_t n_categories = self.size(-1);
  TORCH_CHECK(replacement || n_sample <= n_categories,
              "cannot sample n_sample > prob_dist.size(-1) samples without replacement");
  TORCH_CHECK(n_categories <= (int64_t(1) << 24), "number of categories cannot exceed 2^24");
}

// Ours: draws without replacement (any k up to kMultinomialMaxK) and single draws. Draws with
// replacement of several samples stay torch's: its kernel binary-searches each sample in the
// rows' cumulative sums, where an exponential race would cost a draw per element per sample.
bool multinomial_ours(const Tensor& self, int64_t n_sample, bool replacement) {
  return on_backend(self) && has(random::kMultinomialTypes, self.scalar_type()) &&
         (!replacement || n_sample == 1) && n_sample <= random::kMultinomialMaxK && self.size(-1) > 0 &&
         self.numel() <= std::numeric_limits<int32_t>::max();
}

Tensor& multinomial_into(const Tensor& self, int64_t n_sample, bool replacement, const OptGenerator& gen,
                         Tensor& result) {
  if (self.dim() == 1) at::native::resize_output(result, {n_sample});
  else at::native::resize_output(result, {self.size(0), n_sample});
  if (result.numel() == 0) return result;
  OnDevice on(self);
  const Tensor p = self.contiguous();
  const int64_t rows = self.dim() == 1 ? 1 : self.size(0), n = self.size(-1);
  // One Philox subsequence per group of four of a row's elements: rows * ceil(n / 4) of them.
  const auto rng = reserve(self, gen);
  if (!rng) return GF_FALLBACK(self, multinomial_symint_outf, self, n_sample, replacement, gen, result)();
  Tensor dest = result.is_contiguous() ? result : at::empty(result.sizes(), result.options());
  const int flags = GF_RANDOM(p, multinomial, random::Multinomial{p.scalar_type(), p.const_data_ptr(), rows, n,
                                                                  n_sample, dest.data_ptr<int64_t>(), *rng});
  TORCH_CHECK(!(flags & random::kBadProbability), "probability tensor contains either `inf`, `nan` or element < 0");
  TORCH_CHECK(!(flags & random::kZeroRow), "invalid multinomial distribution (sum of probabilities <= 0)");
  if (!dest.is_same(result)) result.copy_(dest);
  return result;
}

}  // namespace

Tensor multinomial(const Tensor& self, c10::SymInt num_samples, bool replacement, OptGenerator generator) {
  const int64_t n_sample = num_samples.guard_int(__FILE__, __LINE__);
  Tensor result = at::empty({0}, self.options().dtype(at::kLong));
  check_multinomial(self, n_sample, replacement, result);
  if (!multinomial_ours(self, n_sample, replacement)) {
    return GF_FALLBACK(self, multinomial_symint, self, num_samples, replacement, generator)();
  }
  return multinomial_into(self, n_sample, replacement, generator, result);
}

Tensor& multinomial_out(const Tensor& self, c10::SymInt num_samples, bool replacement, OptGenerator generator,
                        Tensor& out) {
  const int64_t n_sample = num_samples.guard_int(__FILE__, __LINE__);
  check_multinomial(self, n_sample, replacement, out);
  if (!multinomial_ours(self, n_sample, replacement) || out.layout() != at::kStrided) {
    return GF_FALLBACK(self, multinomial_symint_outf, self, num_samples, replacement, generator, out)();
  }
  return multinomial_into(self, n_sample, replacement, generator, out);
}

// poisson (poisson.out is torch's composite of it). The cpu checks the rates as torch's cpu
// kernel does; on cuda (as torch's) a negative or NaN rate gives NaN.
Tensor poisson(const Tensor& self, OptGenerator generator) {
  if (!on_backend(self) || !has(random::kPoissonTypes, self.scalar_type())) {
    ::gemforge::reg::note_fallback();
#ifdef GEMFORGE_WITH_CUDA
    if (self.is_cuda()) return at::native::_s_poisson_cuda(self, generator);
#endif
    return at::native::_s_poisson_cpu(self, generator);
  }
  const Tensor rate = self.contiguous();
  Tensor out = at::empty_like(rate);
  if (out.numel() == 0) return out;
  OnDevice on(rate);
  const auto rng = reserve(rate, generator, random::kPoissonIncrement);
  if (!rng) {
    ::gemforge::reg::note_fallback();
#ifdef GEMFORGE_WITH_CUDA
    if (self.is_cuda()) return at::native::_s_poisson_cuda(self, generator);
#endif
    return at::native::_s_poisson_cpu(self, generator);
  }
  const bool ok = GF_RANDOM(rate, poisson, random::Poisson{rate.scalar_type(), rate.const_data_ptr(),
                                                           out.data_ptr(), rate.numel(), *rng});
  TORCH_CHECK(ok, "invalid Poisson rate, expected rate to be non-negative");
  return out;
}

namespace {

// Training on contiguous self, noise and out of one served dtype is ours (torch's cpu kernel
// walks a strided noise as if it were contiguous: those cases stay torch's); evaluation is
// leaky_relu with the mean slope, as torch's.
bool rrelu_ours(const Tensor& self, const Tensor& noise, const Tensor& out, double lower, double upper) {
  // Training on cuda stays torch's: our kernel (4 scalar stores a thread) ran at 0.60x torch's
  // at 4096x4096 fp32 on the H100.
  if (self.is_cuda()) return false;
  const TypeSet types = self.is_cuda() ? random::kRreluTypes : random::kRreluTypes & ~bit(at::kHalf);
  return on_backend(self) && has(types, self.scalar_type()) && noise.scalar_type() == self.scalar_type() &&
         out.scalar_type() == self.scalar_type() && noise.device() == self.device() &&
         out.device() == self.device() && self.sizes().equals(noise.sizes()) && self.is_contiguous() &&
         noise.is_contiguous() && out.is_contiguous() && out.sizes().equals(self.sizes()) && lower <= upper;
}

bool rrelu_train(const Tensor& self, Tensor& noise, double lower, double upper, const OptGenerator& gen,
                 Tensor& out) {
  if (self.numel() == 0) return true;
  OnDevice on(self);
  const auto rng = reserve(self, gen);
  if (!rng) return false;
  GF_RANDOM(self, rrelu, random::Rrelu{self.scalar_type(), self.const_data_ptr(), out.data_ptr(), noise.data_ptr(),
                                       self.numel(), lower, upper, *rng});
  return true;
}

void check_rrelu(const Tensor& self, const Tensor& noise) {
  TORCH_CHECK(self.sym_sizes() == noise.sym_sizes(), "noise tensor shape must match self tensor shape. Got self.shape = ",
              self.sym_sizes(), " noise.shape = ", noise.sym_sizes());
}

}  // namespace

Tensor& rrelu_with_noise_out(const Tensor& self, Tensor& noise, const Scalar& lower, const Scalar& upper,
                             bool training, OptGenerator generator, Tensor& out) {
  check_rrelu(self, noise);
  if (!training) return ops::leaky_relu_out(self, (lower.toDouble() + upper.toDouble()) / 2, out);
  if (out.layout() == at::kStrided && out.device() == self.device() && out.scalar_type() == self.scalar_type()) {
    at::native::resize_output(out, self.sizes());
  }
  if (!rrelu_ours(self, noise, out, lower.toDouble(), upper.toDouble()) ||
      !rrelu_train(self, noise, lower.toDouble(), upper.toDouble(), generator, out)) {
    return GF_FALLBACK(self, rrelu_with_noise_outf, self, noise, lower, upper, training, generator, out)();
  }
  return out;
}

Tensor rrelu_with_noise(const Tensor& self, Tensor& noise, const Scalar& lower, const Scalar& upper, bool training,
                        OptGenerator generator) {
  check_rrelu(self, noise);
  if (!training) return ops::leaky_relu(self, (lower.toDouble() + upper.toDouble()) / 2);
  Tensor out = at::empty_like(self, at::MemoryFormat::Contiguous);
  if (!rrelu_ours(self, noise, out, lower.toDouble(), upper.toDouble()) ||
      !rrelu_train(self, noise, lower.toDouble(), upper.toDouble(), generator, out)) {
    return GF_FALLBACK(self, rrelu_with_noise, self, noise, lower, upper, training, generator)();
  }
  return out;
}

Tensor& rrelu_with_noise_(Tensor& self, Tensor& noise, const Scalar& lower, const Scalar& upper, bool training,
                          OptGenerator generator) {
  check_rrelu(self, noise);
  if (!training) return ops::leaky_relu_(self, (lower.toDouble() + upper.toDouble()) / 2);
  if (!rrelu_ours(self, noise, self, lower.toDouble(), upper.toDouble()) ||
      !rrelu_train(self, noise, lower.toDouble(), upper.toDouble(), generator, self)) {
    return GF_FALLBACK(self, rrelu_with_noise_, self, noise, lower, upper, training, generator)();
  }
  return self;
}

}  // namespace gemforge::ops
