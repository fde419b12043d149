// The search family: searchsorted and bucketize (binary search of values in sorted rows),
// bincount and histc. torch's argument checks, messages and result dtypes; values and boundaries meet in
// their promoted dtype, as torch does. Dtypes no kernel serves go to torch's own kernel (which
// raises for them).
#include "ops/search.h"

#include "backends/search.h"
#include "backends/sort.h"
#include "ops/index.h"
#include "ops/on_device.h"
#include "ops/pointwise/common.h"
#include "registry/calls.h"

#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/native/Resize.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/ScalarType.h>

#include <climits>
#include <cmath>
#include <limits>
#include <vector>

namespace gemforge::ops {
namespace {

#ifdef GEMFORGE_WITH_CUDA
#define GF_SEARCH(t, fn, ...) ((t).is_cuda() ? search::fn##_cuda(__VA_ARGS__) : search::fn##_cpu(__VA_ARGS__))
#else
#define GF_SEARCH(t, fn, ...) search::fn##_cpu(__VA_ARGS__)
#endif

bool on_backend(const Tensor& t) { return t.is_cpu() || t.is_cuda(); }

// A Scalar as torch's searchsorted sees it: a 0-d wrapped number on the boundaries' device.
Tensor scalar_values(const Scalar& value, const Tensor& boundaries) {
  Tensor t = c10::scalar_to_tensor(value, boundaries.device());
  t.unsafeGetTensorImpl()->set_wrapped_number(true);
  return t;
}

// Whether a kernel serves this call: same backend devices, a served promoted dtype.
// Past these sizes our cuda kernels ran slower than torch's on the H100 (searchsorted of 1M
// values into 1-d boundaries 0.52-0.96x, histc 0.82x, unique_consecutive 0.88x at 16M): torch
// serves them there.
constexpr int64_t kSearchValuesCuda = 65536;
constexpr int64_t kLargeCuda = int64_t(1) << 20;

bool search_served(const Tensor& boundaries, const Tensor& values, const OptTensor& sorter) {
  if (!on_backend(boundaries) || values.device() != boundaries.device()) return false;
  if (boundaries.is_cuda() && boundaries.dim() <= 1 && values.numel() > kSearchValuesCuda) return false;
  if (sorter && sorter->defined() && sorter->device() != boundaries.device()) return false;
  return has(search::kSearchTypes, at::result_type(boundaries, values));
}

bool leading_dims_match(const Tensor& boundaries, const Tensor& values) {
  if (boundaries.dim() != values.dim()) return false;
  for (int64_t d = 0; d + 1 < boundaries.dim(); ++d)
    if (boundaries.size(d) != values.size(d)) return false;
  return true;
}

// torch's checks of searchsorted's arguments (after the device and dtype checks, which torch's
// own kernel makes for every call not served here); returns whether the search is to the right.
bool check_search(const Tensor& boundaries, const Tensor& values, ScalarType out_dtype,
                  bool out_int32, bool right, OptString side, const Tensor* sorter) {
  if (side) {
    const c10::string_view s = *side;
    TORCH_CHECK(s == "left" || s == "right",
                "torch.searchsorted(): side can only be 'left' or 'right' but got ", s);
    TORCH_CHECK(!right || s == "right",
                "torch.searchsorted(): side and right can't be set to opposites, got side of ", s,
                " while right was True");
  }
  if (sorter) {
    TORCH_CHECK(sorter->sizes() == boundaries.sizes(),
                "torch.searchsorted(): boundary and sorter must have the same size, but got "
                "boundary tensor ", boundaries.sizes(), "and got sorter tensor ", sorter->sizes());
    TORCH_CHECK(sorter->scalar_type() == ScalarType::Long,
                "torch.searchsorted(): sorter must be a tensor of long dtype but got dtype ",
                sorter->scalar_type());
    if (sorter->numel() > 0) {
      // one copy to the host for both ends (torch reads each with item())
      const Tensor ends = at::stack({sorter->min(), sorter->max()}).cpu();
      const int64_t* e = ends.const_data_ptr<int64_t>();
      TORCH_CHECK(e[0] >= 0 && e[1] < sorter->sizes().back(),
                  "torch.searchsorted(): sorter index out of range");
    }
  }
  TORCH_CHECK(values.dim() > 0 || (values.dim() == 0 && values.numel() == 1 && boundaries.dim() == 1),
              "torch.searchsorted(): input value can be a scalar only when boundaries tensor "
              "dimension is 1, but we got boundaries tensor dim(", boundaries.dim(),
              ") and input value's dim(", values.dim(), ") numel(", values.numel(), ")");
  TORCH_CHECK(boundaries.dim() != 0,
              "torch.searchsorted(): boundaries tensor should have positive dimension, but got 0 "
              "dimension");
  TORCH_CHECK(boundaries.dim() == 1 || leading_dims_match(boundaries, values),
              "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
              "dimensions of boundaries tensor and input value tensor must match, but we got "
              "boundaries tensor ", boundaries.sizes(), " and input value tensor ", values.sizes());
  TORCH_CHECK((out_dtype == ScalarType::Long && !out_int32) || (out_dtype == ScalarType::Int && out_int32),
              "torch.searchsorted(): output tensor's dtype is wrong, it can only be Int(int32) or "
              "Long(int64) depending on whether out_int32 flag is True, but we got output tensor's "
              "dtype ", out_dtype, " and out_int32 flag is ", (out_int32 ? "True" : "False"));
  if (out_int32) {
    TORCH_CHECK(boundaries.sizes().back() < INT_MAX,
                "torch.searchsorted(): the size of boundaries' last dimension should be less than ",
                INT_MAX, ", but we got ", boundaries.sizes().back());
  }
  return side ? *side == "right" : right;
}

// out (resized to values' shape) = the positions of values in boundaries; arguments served.
Tensor& search_into(const Tensor& boundaries, const Tensor& values, bool out_int32, bool right,
                    OptString side, const OptTensor& sorter_opt, Tensor& out) {
  const Tensor* sorter = sorter_opt && sorter_opt->defined() ? &*sorter_opt : nullptr;
  const bool is_right = check_search(boundaries, values, out.scalar_type(), out_int32, right, side, sorter);
  at::native::resize_output(out, values.sizes());
  if (values.numel() == 0) return out;

  const ScalarType common = at::result_type(boundaries, values);
  const Tensor bd = boundaries.to(common).contiguous();
  const Tensor vals = values.to(common).contiguous();
  const Tensor sort = sorter ? sorter->contiguous() : Tensor();
  Tensor dest = out.is_contiguous() ? out : at::empty(out.sizes(), out.options());

  search::Sorted s{};
  s.dtype = common;
  s.boundaries = bd.const_data_ptr();
  s.sorter = sorter ? sort.const_data_ptr<int64_t>() : nullptr;
  s.bd_len = bd.size(-1);
  s.batched = bd.dim() > 1;
  s.values = vals.const_data_ptr();
  s.numel = vals.numel();
  s.row_len = vals.dim() == 0 ? 1 : vals.size(-1);
  s.out = dest.data_ptr();
  s.out_int32 = out_int32;
  s.right = is_right;
  {
    OnDevice on(dest);
    GF_SEARCH(dest, searchsorted, s);
  }
  if (!dest.is_same(out)) out.copy_(dest);
  return out;
}

Tensor new_positions(const Tensor& boundaries, bool out_int32) {
  return at::empty({0}, boundaries.options().dtype(out_int32 ? ScalarType::Int : ScalarType::Long));
}

// What torch's generated out= form of a composite does: out must have the result's dtype and
// device; it is resized and the result copied in.
Tensor& result_into(const Tensor& result, Tensor& out) {
  TORCH_CHECK(out.scalar_type() == result.scalar_type(), "Expected out tensor to have dtype ",
              result.dtype(), ", but got ", out.dtype(), " instead");
  TORCH_CHECK(out.device() == result.device(), "Expected out tensor to have device ",
              result.device(), ", but got ", out.device(), " instead");
  at::native::resize_output(out, result.sizes());
  return out.copy_(result);
}

void check_bucketize(const Tensor& boundaries) {
  TORCH_CHECK(boundaries.dim() == 1, "boundaries tensor must be 1 dimension, but got dim(",
              boundaries.dim(), ")");
}

}  // namespace

// ---- searchsorted ------------------------------------------------------------------------------
Tensor searchsorted_tensor(const Tensor& sorted_sequence, const Tensor& self, bool out_int32,
                           bool right, OptString side, const OptTensor& sorter) {
  if (!search_served(sorted_sequence, self, sorter))
    return GF_FALLBACK(self, searchsorted, sorted_sequence, self, out_int32, right, side, sorter)();
  Tensor out = new_positions(sorted_sequence, out_int32);
  return search_into(sorted_sequence, self, out_int32, right, side, sorter, out);
}

Tensor& searchsorted_tensor_out(const Tensor& sorted_sequence, const Tensor& self, bool out_int32,
                                bool right, OptString side, const OptTensor& sorter, Tensor& out) {
  if (!search_served(sorted_sequence, self, sorter) || out.device() != self.device())
    return GF_FALLBACK(self, searchsorted_outf, sorted_sequence, self, out_int32, right, side, sorter, out)();
  return search_into(sorted_sequence, self, out_int32, right, side, sorter, out);
}

Tensor searchsorted_scalar(const Tensor& sorted_sequence, const Scalar& self, bool out_int32,
                           bool right, OptString side, const OptTensor& sorter) {
  const Tensor values = scalar_values(self, sorted_sequence);
  if (!search_served(sorted_sequence, values, sorter))
    return GF_FALLBACK(sorted_sequence, searchsorted, sorted_sequence, self, out_int32, right, side, sorter)();
  Tensor out = new_positions(sorted_sequence, out_int32);
  return search_into(sorted_sequence, values, out_int32, right, side, sorter, out);
}

Tensor& searchsorted_scalar_out(const Tensor& sorted_sequence, const Scalar& self, bool out_int32,
                                bool right, OptString side, const OptTensor& sorter, Tensor& out) {
  const Tensor values = scalar_values(self, sorted_sequence);
  if (!search_served(sorted_sequence, values, sorter) || out.device() != sorted_sequence.device())
    return GF_FALLBACK(sorted_sequence, searchsorted_outf, sorted_sequence, self, out_int32, right,
                       side, sorter, out)();
  return search_into(sorted_sequence, values, out_int32, right, side, sorter, out);
}

// ---- bucketize: searchsorted with the arguments swapped, 1-d boundaries --------------------------
Tensor bucketize_tensor(const Tensor& self, const Tensor& boundaries, bool out_int32, bool right) {
  if (!search_served(boundaries, self, std::nullopt))
    return GF_FALLBACK(self, bucketize, self, boundaries, out_int32, right)();
  check_bucketize(boundaries);
  Tensor out = new_positions(boundaries, out_int32);
  return search_into(boundaries, self, out_int32, right, std::nullopt, std::nullopt, out);
}

Tensor& bucketize_tensor_out(const Tensor& self, const Tensor& boundaries, bool out_int32, bool right,
                             Tensor& out) {
  if (!search_served(boundaries, self, std::nullopt) || out.device() != self.device())
    return GF_FALLBACK(self, bucketize_outf, self, boundaries, out_int32, right, out)();
  check_bucketize(boundaries);
  return search_into(boundaries, self, out_int32, right, std::nullopt, std::nullopt, out);
}

Tensor bucketize_scalar(const Scalar& self, const Tensor& boundaries, bool out_int32, bool right) {
  const Tensor values = scalar_values(self, boundaries);
  if (!search_served(boundaries, values, std::nullopt))
    return GF_FALLBACK(boundaries, bucketize, self, boundaries, out_int32, right)();
  check_bucketize(boundaries);
  Tensor out = new_positions(boundaries, out_int32);
  return search_into(boundaries, values, out_int32, right, std::nullopt, std::nullopt, out);
}

// torch's composite: the functional result copied into out.
Tensor& bucketize_scalar_out(const Scalar& self, const Tensor& boundaries, bool out_int32, bool right,
                             Tensor& out) {
  return result_into(ops::bucketize_scalar(self, boundaries, out_int32, right), out);
}

// ---- bincount ------------------------------------------------------------------------------------
namespace {

bool bincount_served(const Tensor& self, const OptTensor& weights) {
  if (!on_backend(self) || !has(search::kBincountTypes, self.scalar_type())) return false;
  if (!weights || !weights->defined()) return true;
  // Weighted counts on cuda stay torch's: ours ran 0.93-0.98x its kernel (16M values into 1000
  // bins, H100; results/h100/issue7/).
  if (self.is_cuda()) return false;
  return weights->device() == self.device() && has(kReal | kBool, weights->scalar_type());
}

Tensor bincount_fallback(const Tensor& self, const OptTensor& weights, int64_t minlength) {
  reg::note_fallback();
#ifdef GEMFORGE_WITH_CUDA
  if (self.is_cuda()) return at::cuda::bincount(self, weights, minlength);
#endif
  return at::cpu::bincount(self, weights, minlength);
}

}  // namespace

// As torch: the input's range read back to the host (torch's kernels synchronise the same way).
Tensor bincount(const Tensor& self, const OptTensor& weights_opt, c10::SymInt minlength_sym) {
  const int64_t minlength = minlength_sym.guard_int(__FILE__, __LINE__);
  if (!bincount_served(self, weights_opt)) return bincount_fallback(self, weights_opt, minlength);
  TORCH_CHECK(minlength >= 0, "minlength should be >= 0");
  if (self.dim() == 1 && self.numel() == 0)
    return at::zeros({minlength}, self.options().dtype(ScalarType::Long));
  TORCH_CHECK(self.dim() == 1, "bincount only supports 1-d non-negative integral inputs.");
  const Tensor in = self.contiguous();
  const Tensor ends = at::stack({in.min(), in.max()}).to(at::kCPU, ScalarType::Long);
  const int64_t lo = ends.const_data_ptr<int64_t>()[0], hi = ends.const_data_ptr<int64_t>()[1];
  TORCH_CHECK(lo >= 0, "bincount only supports 1-d non-negative integral inputs.");
  TORCH_CHECK(hi < std::numeric_limits<int64_t>::max(),
              "maximum value of input overflowed, it should be < ",
              std::numeric_limits<int64_t>::max(), " but got ", hi);
  const Tensor* weights = weights_opt && weights_opt->defined() ? &*weights_opt : nullptr;
  TORCH_CHECK(!weights || (weights->dim() == 1 && weights->size(0) == self.size(0)),
              "weights should be 1-d and have the same length as input");
  const int64_t nbins = std::max(hi + 1, minlength);

  Tensor w;
  ScalarType out_dtype = ScalarType::Long;
  if (weights) {
    out_dtype = weights->scalar_type() == ScalarType::Float ? ScalarType::Float : ScalarType::Double;
    w = weights->to(out_dtype).contiguous();
  }
  Tensor out = at::zeros({nbins}, self.options().dtype(out_dtype));
  search::Bincount b{};
  b.dtype = in.scalar_type();
  b.in = in.const_data_ptr();
  b.numel = in.numel();
  b.weights = weights ? w.const_data_ptr() : nullptr;
  b.weight_dtype = out_dtype;
  b.out = out.data_ptr();
  b.nbins = nbins;
  {
    OnDevice on(out);
    GF_SEARCH(out, bincount, b);
  }
  return out;
}

// torch's composite: the functional result copied into out.
Tensor& bincount_out(const Tensor& self, const OptTensor& weights, c10::SymInt minlength, Tensor& out) {
  return result_into(ops::bincount(self, weights, std::move(minlength)), out);
}

// ---- histc ---------------------------------------------------------------------------------------
namespace {

bool histc_served(const Tensor& self) {
  if (self.is_cpu()) return has(search::kHistcTypesCpu, self.scalar_type());
  return self.is_cuda() && has(search::kHistcTypesCuda, self.scalar_type()) && self.numel() <= kLargeCuda;
}

// The range as torch's kernel on self's device makes it: the given [min, max], or the data's
// when they are equal, widened by one each way when still equal; then torch's checks.
void histc_range(const Tensor& self, int64_t bins, const Scalar& min, const Scalar& max,
                 search::Histc& h) {
  if (self.is_cpu()) {
    TORCH_CHECK(bins > 0, "torch.histogram(): bins must be > 0, but got ", bins, " for dimension 0");
    double lo = min.to<double>(), hi = max.to<double>();
    if (lo == hi && self.numel() > 0) {
      const Tensor ends = at::stack({self.min(), self.max()}).to(at::kCPU, ScalarType::Double);
      lo = ends.const_data_ptr<double>()[0];
      hi = ends.const_data_ptr<double>()[1];
    }
    if (lo == hi) {
      lo -= 1;
      hi += 1;
    }
    TORCH_CHECK(!(std::isinf(lo) || std::isinf(hi) || std::isnan(lo) || std::isnan(hi)),
                "torch.histc: range of [", lo, ", ", hi, "] is not finite");
    TORCH_CHECK(lo < hi, "torch.histc: max must be larger than min");
    h.lo = lo;
    h.hi = hi;
    return;
  }
  TORCH_CHECK(bins > 0, "bins must be > 0");
  // cuda: the bounds in the accumulate type, narrowed to self's dtype, as torch's kernel does
  dispatch_dtype<search::kHistcTypesCuda>(self.scalar_type(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = at::acc_type<T, true>;
    const A min_a = min.to<A>(), max_a = max.to<A>();
    T lo = static_cast<T>(min_a), hi = static_cast<T>(max_a);
    if (min_a == max_a && self.numel() > 0) {
      const Tensor ends = at::stack({self.min(), self.max()}).cpu();
      lo = ends.const_data_ptr<T>()[0];
      hi = ends.const_data_ptr<T>()[1];
    }
    if (lo == hi) {
      lo = static_cast<T>(lo - 1);
      hi = static_cast<T>(hi + 1);
    }
    if constexpr (std::is_floating_point_v<T>) {
      TORCH_CHECK(!(std::isinf(lo) || std::isinf(hi) || std::isnan(lo) || std::isnan(hi)),
                  "range of [", lo, ", ", hi, "] is not finite");
    }
    TORCH_CHECK(lo < hi, "max must be larger than min");
    h.lo = static_cast<double>(lo);
    h.hi = static_cast<double>(hi);
    h.ilo = static_cast<int64_t>(lo);
    h.ihi = static_cast<int64_t>(hi);
  });
}

// The histogram of self into out (bins long, self's dtype, zeroed here); arguments checked.
void histc_into(const Tensor& self, const search::Histc& range, Tensor& out) {
  search::Histc h = range;
  const Tensor in = self.contiguous();
  h.dtype = in.scalar_type();
  h.in = in.const_data_ptr();
  h.numel = in.numel();
  // cuda float and double count into out itself; the rest count in int64 and cast
  const bool direct = self.is_cuda() && (h.dtype == ScalarType::Float || h.dtype == ScalarType::Double) &&
                      out.is_contiguous();
  Tensor counts = direct ? out.zero_() : at::zeros({h.bins}, out.options().dtype(ScalarType::Long));
  h.out = counts.data_ptr();
  h.out_counts = !direct;
  {
    OnDevice on(counts);
    GF_SEARCH(counts, histc, h);
  }
  if (!direct) out.copy_(counts);
}

Tensor histc_fallback(const Tensor& self, int64_t bins, const Scalar& min, const Scalar& max) {
  reg::note_fallback();
#ifdef GEMFORGE_WITH_CUDA
  if (self.is_cuda()) return at::cuda::histc(self, bins, min, max);
#endif
  return at::cpu::histc(self, bins, min, max);
}

}  // namespace

Tensor histc(const Tensor& self, int64_t bins, const Scalar& min, const Scalar& max) {
  if (!histc_served(self)) return histc_fallback(self, bins, min, max);
  search::Histc h{};
  h.bins = bins;
  histc_range(self, bins, min, max, h);
  Tensor out = at::empty({bins}, self.options());
  histc_into(self, h, out);
  return out;
}

// On the cpu out must have self's dtype; torch's cuda kernel copies its result into any out.
Tensor& histc_out(const Tensor& self, int64_t bins, const Scalar& min, const Scalar& max, Tensor& out) {
  if (!histc_served(self) || out.device() != self.device())
    return GF_FALLBACK(self, histc_outf, self, bins, min, max, out)();
  if (self.is_cuda() && out.scalar_type() != self.scalar_type()) {
    const Tensor result = ops::histc(self, bins, min, max);
    at::native::resize_output(out, result.sizes());
    return out.copy_(result);
  }
  TORCH_CHECK(out.scalar_type() == self.scalar_type(),
              "torch.histogram: input tensor and hist tensor should have the same dtype, but got input ",
              self.dtype(), " and hist ", out.dtype());
  search::Histc h{};
  h.bins = bins;
  histc_range(self, bins, min, max, h);
  at::native::resize_output(out, {bins});
  histc_into(self, h, out);
  return out;
}

// ---- unique_consecutive ------------------------------------------------------------------------
// The flattened input's runs: values (1-d), the inverse (self's shape) and the counts; the
// inverse and counts empty unless asked for. The number of runs is read back to size the
// results, as torch's kernels do.
std::tuple<Tensor, Tensor, Tensor> unique_consecutive(const Tensor& self, bool return_inverse,
                                                      bool return_counts, std::optional<int64_t> dim) {
  if (dim || !on_backend(self) || !has(search::kConsecutiveTypes, self.scalar_type()) ||
      (self.is_cuda() && self.numel() > kLargeCuda)) {
    reg::note_fallback();
#ifdef GEMFORGE_WITH_CUDA
    if (self.is_cuda()) return at::cuda::unique_consecutive(self, return_inverse, return_counts, dim);
#endif
    return at::cpu::unique_consecutive(self, return_inverse, return_counts, dim);
  }
  const at::TensorOptions longs = self.options().dtype(ScalarType::Long);
  const Tensor in = self.contiguous();
  const int64_t n = in.numel();
  Tensor ids = at::empty(self.sizes(), longs);
  if (n == 0) {
    return {at::empty({0}, self.options()), return_inverse ? ids : at::empty({0}, longs),
            at::empty({0}, longs)};
  }
  search::Consecutive c{};
  c.dtype = in.scalar_type();
  c.in = in.const_data_ptr();
  c.numel = n;
  c.ids = ids.data_ptr<int64_t>();
  OnDevice on(in);
  const int64_t runs = GF_SEARCH(in, consecutive_ids, c);
  Tensor unique = at::empty({runs}, self.options());
  Tensor counts = at::empty({return_counts ? runs : 0}, longs);
  c.unique = unique.data_ptr();
  c.counts = return_counts ? counts.data_ptr<int64_t>() : nullptr;
  GF_SEARCH(in, consecutive_fill, c, runs);
  return {unique, return_inverse ? ids : at::empty({0}, longs), counts};
}

// torch's composite: the functional results copied into the outs.
std::tuple<Tensor&, Tensor&, Tensor&> unique_consecutive_out(const Tensor& self, bool return_inverse,
                                                             bool return_counts, std::optional<int64_t> dim,
                                                             Tensor& out0, Tensor& out1, Tensor& out2) {
  auto [values, inverse, counts] = ops::unique_consecutive(self, return_inverse, return_counts, dim);
  result_into(values, out0);
  result_into(inverse, out1);
  result_into(counts, out2);
  return {out0, out1, out2};
}

namespace {

// keys (1-d, contiguous, on the current device) sorted ascending and stably into values, with
// the sort's order.
void stable_sort(const Tensor& keys, Tensor& values, Tensor& order) {
  const sorting::Rows rows{keys.scalar_type(), keys.const_data_ptr(), 1, keys.numel()};
#ifdef GEMFORGE_WITH_CUDA
  if (keys.is_cuda()) return sorting::sort_cuda(rows, false, values.data_ptr(), order.data_ptr<int64_t>());
#endif
  sorting::sort_cpu(rows, false, values.data_ptr(), order.data_ptr<int64_t>());
}

}  // namespace

// ---- _unique2 (torch.unique without dim) --------------------------------------------------------------
// A stable sort of the flattened input, its runs (unique_consecutive's kernels: NaNs each their
// own, -0.0 with +0.0), and the inverse scattered back through the sort's order. The output is
// sorted whatever `sorted` asks (torch's cuda kernel sorts too). Cuda inputs from 2^19 elements
// stay torch's: with the inverse, 1M fp32 elements ran at 0.93x torch's on the H100 (and
// unique_consecutive's run kernels at 0.88x at 16M).
std::tuple<Tensor, Tensor, Tensor> unique2(const Tensor& self, bool sorted, bool return_inverse,
                                           bool return_counts) {
  if (!on_backend(self) || self.layout() != at::kStrided ||
      !has(search::kConsecutiveTypes & sorting::kSortTypes, self.scalar_type()) ||
      self.numel() > std::numeric_limits<int32_t>::max() || (self.is_cuda() && self.numel() >= (1 << 19))) {
    reg::note_fallback();
#ifdef GEMFORGE_WITH_CUDA
    if (self.is_cuda()) return at::cuda::_unique2(self, sorted, return_inverse, return_counts);
#endif
    return at::cpu::_unique2(self, sorted, return_inverse, return_counts);
  }
  const at::TensorOptions longs = self.options().dtype(ScalarType::Long);
  const int64_t n = self.numel();
  if (n == 0) {
    return {at::empty({0}, self.options()), at::empty(return_inverse ? self.sizes() : at::IntArrayRef{0}, longs),
            at::empty({0}, longs)};
  }
  const Tensor flat = self.reshape({n}).contiguous();
  Tensor values = at::empty({n}, self.options());
  Tensor order = at::empty({n}, longs);
  Tensor ids = at::empty({n}, longs);
  OnDevice on(flat);
  stable_sort(flat, values, order);
  search::Consecutive c{};
  c.dtype = values.scalar_type();
  c.in = values.const_data_ptr();
  c.numel = n;
  c.ids = ids.data_ptr<int64_t>();
  const int64_t runs = GF_SEARCH(values, consecutive_ids, c);
  Tensor unique = at::empty({runs}, self.options());
  Tensor counts = at::empty({return_counts ? runs : 0}, longs);
  c.unique = unique.data_ptr();
  c.counts = return_counts ? counts.data_ptr<int64_t>() : nullptr;
  GF_SEARCH(values, consecutive_fill, c, runs);
  Tensor inverse = at::empty({0}, longs);
  if (return_inverse) {
    inverse = at::empty(self.sizes(), longs);
    Tensor inverse_flat = inverse.view({n});
    ops::scatter_src_(inverse_flat, 0, order, ids);
  }
  return {unique, inverse, counts};
}

// ---- unique_dim (torch.unique with a dim) ------------------------------------------------------
// The slices along dim as rows (n, k): their lexicographic order from k stable sorts of the
// columns, the last column first, then the runs of equal rows, the inverse (each slice's run) and
// the counts. Always sorted, as torch's. Rows of more than kUniqueDimMaxRow elements stay torch's
// (its comparison sort compares a row at a time; this would sort once a column), and so do empty
// inputs (torch's errors and special cases).
constexpr int64_t kUniqueDimMaxRow = 16;

std::tuple<Tensor, Tensor, Tensor> unique_dim(const Tensor& self, int64_t dim, bool sorted, bool return_inverse,
                                              bool return_counts) {
  auto torchs = [&]() -> std::tuple<Tensor, Tensor, Tensor> {
    reg::note_fallback();
#ifdef GEMFORGE_WITH_CUDA
    if (self.is_cuda()) return at::cuda::unique_dim(self, dim, sorted, return_inverse, return_counts);
#endif
    return at::cpu::unique_dim(self, dim, sorted, return_inverse, return_counts);
  };
  if (!on_backend(self) || self.layout() != at::kStrided || self.dim() == 0 || self.numel() == 0 ||
      !has(sorting::kSortTypes, self.scalar_type()) || self.numel() > std::numeric_limits<int32_t>::max())
    return torchs();
  dim = at::maybe_wrap_dim(dim, self.dim());
  const int64_t n = self.size(dim), k = self.numel() / n;
  if (k > kUniqueDimMaxRow) return torchs();
  const at::TensorOptions longs = self.options().dtype(ScalarType::Long);
  const Tensor moved = self.movedim(dim, 0);
  const Tensor rows = moved.contiguous().view({n, k});
  Tensor perm = at::arange(n, longs);
  {
    OnDevice on(self);
    Tensor values = at::empty({n}, self.options()), order = at::empty({n}, longs);
    for (int64_t c = k - 1; c >= 0; --c) {  // least significant column first; each sort is stable
      stable_sort(rows.select(1, c).index_select(0, perm), values, order);
      perm = perm.index_select(0, order);
    }
  }
  const Tensor ordered = rows.index_select(0, perm);
  // a run starts at every row that differs from the one before it
  Tensor starts = at::ones({n}, self.options().dtype(ScalarType::Bool));
  if (n > 1) starts.slice(0, 1).copy_(ordered.slice(0, 1).ne(ordered.slice(0, 0, n - 1)).any(1));
  const Tensor first = starts.nonzero().view({-1});  // reads the run count back, as torch does
  const int64_t runs = first.size(0);
  std::vector<int64_t> sizes = moved.sizes().vec();
  sizes[0] = runs;
  const Tensor unique = ordered.index_select(0, first).view(sizes).movedim(0, dim);
  const Tensor ids = starts.cumsum(0).sub_(1);
  Tensor inverse = at::empty({n}, longs).index_copy_(0, perm, ids);
  Tensor counts = at::cat({first.slice(0, 1), at::full({1}, n, longs)}).sub_(first);
  return {unique, inverse, counts};
}

}  // namespace gemforge::ops
