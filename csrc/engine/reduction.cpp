// The reduction engine's host side: from a tensor and a set of dims to a plan
// [outer][R][inner] over dense memory, and the backend that runs it.
#include "engine/reduction.h"

#include <ATen/ATen.h>
#include <ATen/WrapDimUtilsMulti.h>
#include <c10/core/DeviceGuard.h>

#include <algorithm>
#include <numeric>

namespace gemforge::red {
namespace {

// self's dims of size > 1, outermost in memory first (natural order unless self is a dense
// permutation of a contiguous tensor).
std::vector<int64_t> memory_order(const at::Tensor& self) {
  std::vector<int64_t> order;
  for (int64_t d = 0; d < self.dim(); ++d) {
    if (self.size(d) != 1) order.push_back(d);
  }
  if (self.is_non_overlapping_and_dense()) {
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return self.stride(a) > self.stride(b); });
  }
  return order;
}

// The dim of the result that self's dim d becomes.
int64_t out_dim(int64_t d, DimMask mask, bool keepdim) {
  if (keepdim) return d;
  int64_t k = 0;
  for (int64_t i = 0; i < d; ++i) k += mask[i] ? 0 : 1;
  return k;
}

}  // namespace

DimMask dim_mask(const at::Tensor& self, at::OptionalIntArrayRef dims) {
  const int64_t ndim = self.dim();
  if (!dims.has_value() || dims->empty()) {
    DimMask all;
    for (int64_t d = 0; d < ndim; ++d) all.set(d);
    return all;
  }
  return at::dim_list_to_bitset(*dims, ndim);
}

DimMask dim_mask(const at::Tensor& self, int64_t dim) {
  DimMask m;
  const int64_t d = at::maybe_wrap_dim(dim, self.dim());
  if (self.dim() > 0) m.set(d);
  return m;
}

std::vector<int64_t> reduced_shape(const at::Tensor& self, DimMask mask, bool keepdim) {
  std::vector<int64_t> shape;
  for (int64_t d = 0; d < self.dim(); ++d) {
    if (!mask[d]) shape.push_back(self.size(d));
    else if (keepdim) shape.push_back(1);
  }
  return shape;
}

int64_t reduced_size(const at::Tensor& self, DimMask mask) {
  int64_t r = 1;
  for (int64_t d = 0; d < self.dim(); ++d) {
    if (mask[d]) r *= self.size(d);
  }
  return r;
}

at::Tensor new_output(const at::Tensor& self, DimMask mask, bool keepdim, at::ScalarType dtype) {
  // contiguous, as torch's reductions allocate theirs; run() writes it through a temporary
  // where the plan's order of outputs differs
  return at::empty(reduced_shape(self, mask, keepdim), self.options().dtype(dtype));
}

void run(Plan plan, const at::Tensor& self, DimMask mask, const at::Tensor& out0,
         const at::Tensor& out1) {
  const at::Tensor& first = out0.defined() ? out0 : out1;  // argmax: indices alone
  const int64_t n_out = first.numel();
  if (n_out == 0) return;
  c10::OptionalDeviceGuard guard;
  if (self.is_cuda()) guard.reset_device(self.device());
  const bool keepdim = first.dim() == self.dim() && self.dim() > 0;

  at::Tensor x = self.is_non_overlapping_and_dense() ? self : self.contiguous();
  std::vector<int64_t> order = memory_order(x);
  // groups of adjacent kept / reduced dims in memory order; dense, so each group is one extent
  std::vector<std::pair<bool, int64_t>> groups;  // (reduced, size)
  for (int64_t d : order) {
    if (!groups.empty() && groups.back().first == bool(mask[d])) groups.back().second *= x.size(d);
    else groups.push_back({bool(mask[d]), x.size(d)});
  }
  std::vector<int64_t> kept_order;  // self's kept dims as the plan orders its outputs
  for (int64_t d : order) {
    if (!mask[d]) kept_order.push_back(d);
  }
  const bool direct = groups.size() <= 2 || (groups.size() == 3 && !groups[0].first);
  if (!direct) {  // interleaved: gather the kept dims outside, the reduced ones inside
    std::vector<int64_t> perm = kept_order;
    for (int64_t d : order) {
      if (mask[d]) perm.push_back(d);
    }
    for (int64_t d = 0; d < x.dim(); ++d) {
      if (x.size(d) == 1) perm.push_back(d);
    }
    x = x.permute(perm).contiguous();
    groups.clear();
    int64_t kept = 1, red = 1;
    for (int64_t d : kept_order) kept *= self.size(d);
    for (int64_t d = 0; d < self.dim(); ++d) red *= mask[d] && self.size(d) != 1 ? self.size(d) : 1;
    groups = {{false, kept}, {true, red}};
  }
  plan.outer = 1;
  plan.R = 1;
  plan.inner = 1;
  size_t g = 0;
  if (g < groups.size() && !groups[g].first) plan.outer = groups[g++].second;
  if (g < groups.size() && groups[g].first) plan.R = groups[g++].second;
  if (g < groups.size()) plan.inner = groups[g++].second;
  if (x.numel() == 0) {  // nothing to read: every output reduces R == 0 elements
    plan.outer = n_out;
    plan.R = 0;
    plan.inner = 1;
  }
  plan.in = x.const_data_ptr();
  plan.in_type = x.scalar_type();
  plan.out_type = out0.defined() ? out0.scalar_type() : x.scalar_type();

  // the outputs in the plan's order: kept dims in memory order, then the size-1 ones
  std::vector<int64_t> perm;
  for (int64_t d : kept_order) perm.push_back(out_dim(d, mask, keepdim));
  for (int64_t k = 0; k < first.dim(); ++k) {
    if (std::find(perm.begin(), perm.end(), k) == perm.end()) perm.push_back(k);
  }
  auto target = [&](const at::Tensor& out) {
    at::Tensor view = out.permute(perm);
    return view.is_contiguous() ? view : at::empty(view.sizes(), out.options());
  };
  at::Tensor dest0 = out0.defined() ? target(out0) : at::Tensor();
  at::Tensor dest1 = out1.defined() ? target(out1) : at::Tensor();
  plan.out0 = dest0.defined() ? dest0.data_ptr() : nullptr;
  plan.out1 = dest1.defined() ? dest1.data_ptr() : nullptr;
  if (self.is_cuda()) reduce_cuda(plan);
  else reduce_cpu(plan);
  if (out0.defined() && (dest0.data_ptr() != out0.permute(perm).data_ptr() ||
                         !out0.permute(perm).is_contiguous())) {
    out0.permute(perm).copy_(dest0);
  }
  if (out1.defined() && (dest1.data_ptr() != out1.permute(perm).data_ptr() ||
                         !out1.permute(perm).is_contiguous())) {
    out1.permute(perm).copy_(dest1);
  }
}

#ifndef GEMFORGE_WITH_CUDA
void reduce_cuda(const Plan&) { TORCH_CHECK(false, "gemforge was built without cuda"); }
#endif

}  // namespace gemforge::red
