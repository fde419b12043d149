#include "engine/pointwise.h"

#include <ATen/EmptyTensor.h>
#include <ATen/MemoryOverlap.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/cuda/EmptyTensor.h>
#endif
#include <ATen/native/TypeProperties.h>
#include <c10/core/DeviceGuard.h>

#include <cstring>

namespace gemforge::pw {
namespace {

bool served_dtype(const Kernel& k, c10::DeviceType device, ScalarType t) {
  if (device == c10::DeviceType::CUDA) return k.cuda != nullptr && has(k.types, t);
  if (device == c10::DeviceType::CPU) return has(k.types, t);
  return false;
}

void launch(const Launch& L, c10::DeviceType device, const Kernel& k, const Args& args) {
  if (device == c10::DeviceType::CUDA) k.cuda(L, args);
  else k.cpu(L, args);
}

// A dense output, allocated straight from the device's allocator: the dispatcher round trip
// of at::empty is host time a tiny op would feel.
Tensor empty_dense(c10::IntArrayRef sizes, ScalarType dtype, c10::Device device) {
#ifdef GEMFORGE_WITH_CUDA
  if (device.is_cuda()) return at::detail::empty_cuda(sizes, dtype, device, std::nullopt);
#endif
  return at::detail::empty_cpu(sizes, dtype);
}

Launch from_iter(const at::TensorIteratorBase& iter, ScalarType compute) {
  Launch L;
  L.ntensors = iter.ntensors();
  L.ndim = std::max<int>(iter.ndim(), 1);
  L.numel = iter.numel();
  L.contiguous = iter.is_contiguous();
  L.compute = compute;
  L.sizes[0] = 1;
  for (int d = 0; d < iter.ndim(); ++d) L.sizes[d] = iter.shape()[d];
  for (int k = 0; k < L.ntensors; ++k) {
    L.dtype[k] = iter.dtype(k);
    L.data[k] = static_cast<char*>(iter.data_ptr(k));
    L.cpu_scalar[k] = k > 0 && iter.is_cpu_scalar(k);
    auto strides = iter.strides(k);
    L.strides[k][0] = 0;  // a 0-d iteration: one element, no stride
    for (int d = 0; d < iter.ndim(); ++d) L.strides[k][d] = strides[d];
  }
  return L;
}

void run_split(const at::TensorIteratorBase& iter, const Kernel& k, const Args& args,
               ScalarType compute) {
  // The cuda kernels take 32-bit offsets past the first dimension: split larger iterations.
  // One-dimensional ones the backend walks in chunks itself.
  if (iter.device_type() == c10::DeviceType::CUDA && !iter.can_use_32bit_indexing() &&
      iter.ndim() > 1) {
    for (auto& sub : iter.with_32bit_indexing()) launch(from_iter(sub, compute), sub.device_type(), k, args);
    return;
  }
  launch(from_iter(iter, compute), iter.device_type(), k, args);
}

at::TensorIterator build(IterKind kind, const Tensor& out, std::initializer_list<Tensor> in) {
  const Tensor& a = *in.begin();
  at::TensorIterator iter;
  switch (kind) {
    case IterKind::unary: iter.build_unary_op(out, a); break;
    case IterKind::unary_float: iter.build_unary_float_op(out, a); break;
    case IterKind::binary: iter.build_binary_op(out, a, *(in.begin() + 1)); break;
    case IterKind::binary_float: iter.build_binary_float_op(out, a, *(in.begin() + 1)); break;
    case IterKind::comparison: iter.build_comparison_op(out, a, *(in.begin() + 1)); break;
  }
  return iter;
}

}  // namespace

bool run(at::TensorIteratorBase& iter, const Kernel& k, const Args& args, ScalarType compute) {
  const auto device = iter.device_type();
  if (compute == ScalarType::Undefined)
    compute = k.cuda_computes_in_output && device == c10::DeviceType::CUDA ? iter.dtype(0)
                                                                          : iter.common_dtype();
  if (!served_dtype(k, device, compute)) return false;
  if (iter.ntensors() > kMaxOperands || iter.ndim() > kMaxDims) return false;
  for (int i = 0; i < iter.ntensors(); ++i) {
    const auto& t = iter.tensor_base(i);
    if (!has(kCastable, iter.dtype(i)) || t.is_conj() || t.is_neg()) return false;
  }
  if (iter.numel() == 0) return true;
  c10::OptionalDeviceGuard guard;
  if (device == c10::DeviceType::CUDA) guard.reset_device(iter.device());
  run_split(iter, k, args, compute);
  // On the cpu, torch's iterator computed into a temporary when out= has another dtype.
  if (device == c10::DeviceType::CPU) iter.cast_outputs();
  return true;
}

Tensor run(IterKind kind, const Tensor& out, std::initializer_list<Tensor> inputs, const Kernel& k,
           const Args& args) {
  at::TensorIterator iter = build(kind, out, inputs);
  if (!run(iter, k, args)) return Tensor();
  return iter.output();
}

Tensor run_dense(IterKind kind, const Tensor& out, std::initializer_list<Tensor> inputs,
                 const Kernel& k, const Args& args) {
  const Tensor& a = inputs.size() > 0 ? *inputs.begin() : out;
  const ScalarType dtype = a.scalar_type();
  const auto device = a.device();
  auto dense = [&](const Tensor& t) {
    return t.device() == device && t.is_contiguous() && t.sizes() == a.sizes() && !t.is_conj() &&
           !t.is_neg() && !t.has_names() &&
           reinterpret_cast<uintptr_t>(t.const_data_ptr()) % 16 == 0;
  };
  if (!served_dtype(k, device.type(), dtype)) return Tensor();
  for (const Tensor& t : inputs)
    if (t.scalar_type() != dtype || !dense(t)) return Tensor();

  ScalarType result = dtype;
  if (kind == IterKind::comparison) {
    result = ScalarType::Bool;
  } else if (kind == IterKind::unary_float || kind == IterKind::binary_float) {
    if (!at::isFloatingType(dtype) && !at::isComplexType(dtype)) return Tensor();
  }

  Tensor r = out;
  if (r.defined()) {
    // In place (out is inputs[0]) or a copy: out may differ from the result dtype only where
    // torch casts without asking (bool results, copies); another input may alias it only exactly.
    if (!dense(r) || !has(kCastable, r.scalar_type())) return Tensor();
    if (r.scalar_type() != result && kind != IterKind::comparison && !k.casts) return Tensor();
    for (const Tensor& t : inputs)
      if (!t.is_same(r) && at::get_overlap_status(r, t) != at::MemOverlapStatus::No) return Tensor();
  } else {
    r = empty_dense(a.sizes(), result, device);
  }

  Launch L;
  L.ntensors = int(inputs.size()) + 1;
  L.numel = a.numel();
  L.contiguous = true;
  L.compute = dtype;
  L.sizes[0] = L.numel;
  L.dtype[0] = r.scalar_type();
  L.data[0] = static_cast<char*>(r.data_ptr());
  L.strides[0][0] = r.element_size();
  int i = 1;
  for (const Tensor& t : inputs) {
    L.dtype[i] = dtype;
    L.data[i] = static_cast<char*>(const_cast<void*>(t.const_data_ptr()));
    L.strides[i][0] = t.element_size();
    ++i;
  }
  if (L.numel == 0) return r;
  c10::OptionalDeviceGuard guard;
  if (device.is_cuda()) guard.reset_device(device);
  launch(L, device.type(), k, args);
  return r;
}

}  // namespace gemforge::pw
