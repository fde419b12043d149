// Entry points of the random family (ops/random.cpp): the in-place samplers, normal with tensor
// parameters, bernoulli, dropout and its backward, randperm, multinomial, poisson, rrelu_with_noise.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <c10/core/SymInt.h>

#include <optional>
#include <tuple>

namespace gemforge::ops {

using at::Tensor;
using OptGenerator = std::optional<at::Generator>;

Tensor& uniform_(Tensor& self, double from, double to, OptGenerator generator);
Tensor& normal_(Tensor& self, double mean, double std, OptGenerator generator);
Tensor& log_normal_(Tensor& self, double mean, double std, OptGenerator generator);
Tensor& exponential_(Tensor& self, double lambd, OptGenerator generator);
Tensor& cauchy_(Tensor& self, double median, double sigma, OptGenerator generator);
Tensor& geometric_(Tensor& self, double p, OptGenerator generator);
Tensor& random_(Tensor& self, OptGenerator generator);
Tensor& random_from_(Tensor& self, int64_t from, std::optional<int64_t> to, OptGenerator generator);
Tensor& random_to_(Tensor& self, int64_t to, OptGenerator generator);

Tensor& bernoulli_float_(Tensor& self, double p, OptGenerator generator);
Tensor& bernoulli_tensor_(Tensor& self, const Tensor& p, OptGenerator generator);
Tensor& bernoulli_out(const Tensor& self, OptGenerator generator, Tensor& out);

Tensor normal_tensor_tensor(const Tensor& mean, const Tensor& std, OptGenerator generator);
Tensor normal_tensor_float(const Tensor& mean, double std, OptGenerator generator);
Tensor normal_float_tensor(double mean, const Tensor& std, OptGenerator generator);
Tensor& normal_tensor_tensor_out(const Tensor& mean, const Tensor& std, OptGenerator generator, Tensor& out);
Tensor& normal_tensor_float_out(const Tensor& mean, double std, OptGenerator generator, Tensor& out);
Tensor& normal_float_tensor_out(double mean, const Tensor& std, OptGenerator generator, Tensor& out);

std::tuple<Tensor, Tensor> native_dropout(const Tensor& input, double p, std::optional<bool> train);
Tensor native_dropout_backward(const Tensor& grad_output, const Tensor& mask, double scale);
Tensor _masked_scale(const Tensor& self, const Tensor& mask, double scale);

Tensor& randperm_generator_out(c10::SymInt n, OptGenerator generator, Tensor& out);
Tensor multinomial(const Tensor& self, c10::SymInt num_samples, bool replacement, OptGenerator generator);
Tensor& multinomial_out(const Tensor& self, c10::SymInt num_samples, bool replacement, OptGenerator generator,
                        Tensor& out);
Tensor poisson(const Tensor& self, OptGenerator generator);
Tensor rrelu_with_noise(const Tensor& self, Tensor& noise, const at::Scalar& lower, const at::Scalar& upper,
                        bool training, OptGenerator generator);
Tensor& rrelu_with_noise_(Tensor& self, Tensor& noise, const at::Scalar& lower, const at::Scalar& upper,
                          bool training, OptGenerator generator);
Tensor& rrelu_with_noise_out(const Tensor& self, Tensor& noise, const at::Scalar& lower, const at::Scalar& upper,
                             bool training, OptGenerator generator, Tensor& out);

}  // namespace gemforge::ops
