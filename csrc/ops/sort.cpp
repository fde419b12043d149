// The sort/select family: sort (stable or not: ours is always stable), topk, kthvalue, median
// and nanmedian (full and along a dim). Each moves the dim it works on last and makes the rows
// contiguous (a copy only when they are not), runs the backend's row kernel, and writes into
// the outputs directly when their layout is those rows', through a temporary otherwise.
// Dtypes, devices and layouts without a kernel go to torch's own kernel, which also raises
// torch's errors for the arguments it rejects.
#include "ops/sort.h"

#include "backends/sort.h"
#include "ops/on_device.h"
#include "ops/ops.h"
#include "registry/calls.h"

#include <ATen/ATen.h>
#include <ATen/CPUFunctions.h>
#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/NativeFunctions.h>
#include <ATen/WrapDimUtils.h>
#include <ATen/native/Resize.h>
#include <c10/core/DeviceGuard.h>
#ifdef GEMFORGE_WITH_CUDA
#include <ATen/CUDAFunctions.h>
#endif

#include <limits>

namespace gemforge::ops {
namespace {

using sorting::Pick;
using sorting::Rows;

#ifdef GEMFORGE_WITH_CUDA
#define GF_ROWS(t, fn, ...) \
  ((t).is_cuda() ? sorting::fn##_cuda(__VA_ARGS__) : sorting::fn##_cpu(__VA_ARGS__))
#define GF_TORCH_SORT(t, fn, ...) ((t).is_cuda() ? at::cuda::fn(__VA_ARGS__) : at::cpu::fn(__VA_ARGS__))
#define GF_NATIVE(t, fn, ...) \
  ((t).is_cuda() ? at::native::fn##_cuda(__VA_ARGS__) : at::native::fn##_cpu(__VA_ARGS__))
#else
#define GF_ROWS(t, fn, ...) sorting::fn##_cpu(__VA_ARGS__)
#define GF_TORCH_SORT(t, fn, ...) at::cpu::fn(__VA_ARGS__)
#define GF_NATIVE(t, fn, ...) at::native::fn##_cpu(__VA_ARGS__)
#endif

constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();

// Whether our kernels take self (the rows are cut from it later): a strided cpu or cuda tensor
// of a dtype in `types`, under 2^31 elements (32-bit positions in the cuda kernels).
bool served(const Tensor& self, TypeSet types) {
  return (self.is_cpu() || self.is_cuda()) && self.layout() == at::kStrided &&
         has(types, self.scalar_type()) && self.numel() <= kMaxInt;
}

// Outputs of self's device with the dtypes torch requires; anything else goes to torch.
bool outs_fit(const Tensor& self, const Tensor& values, const Tensor& indices) {
  return values.scalar_type() == self.scalar_type() && indices.scalar_type() == at::kLong &&
         values.device() == self.device() && indices.device() == self.device() &&
         values.layout() == at::kStrided && indices.layout() == at::kStrided;
}

// t with `dim` moved last (0-d: t itself).
Tensor dim_last(const Tensor& t, int64_t dim) { return t.dim() == 0 ? t : t.movedim(dim, -1); }

// self's rows along dim, contiguous.
Rows rows_of(const Tensor& contiguous_rows, int64_t n) {
  const int64_t numel = contiguous_rows.numel();
  return Rows{contiguous_rows.scalar_type(), contiguous_rows.const_data_ptr(), numel / n, n};
}

// An output written in the order of `order` (the output viewed with the worked dim last): dest
// is out itself when that view is contiguous and out does not overlap the input, else a
// contiguous temporary copied into out by finish().
struct Dest {
  Tensor out, view, dest;
  Dest(const Tensor& out_, Tensor view_, const Tensor& input) : out(out_), view(std::move(view_)) {
    const bool direct = view.is_contiguous() &&
                        at::get_overlap_status(out, input) == at::MemOverlapStatus::No;
    dest = direct ? out : at::empty(view.sizes(), view.options());
  }
  void* data() { return dest.data_ptr(); }
  void finish() {
    if (!dest.is_same(out)) ops::copy_(view, dest, false);
  }
};

// ---- sort ---------------------------------------------------------------------------------------
void sort_into(const Tensor& self, int64_t dim, bool descending, Tensor& values, Tensor& indices) {
  if (self.numel() == 0) return;
  const int64_t n = self.dim() == 0 ? 1 : self.size(dim);
  const Tensor rows = dim_last(self, dim).contiguous();
  Dest v(values, dim_last(values, dim), rows), i(indices, dim_last(indices, dim), rows);
  {
    OnDevice on(self);
    GF_ROWS(self, sort, rows_of(rows, n), descending, v.data(), static_cast<int64_t*>(i.data()));
  }
  v.finish();
  i.finish();
}

Tensor like_self(const Tensor& self, at::ScalarType dtype) {
  if (self.is_non_overlapping_and_dense()) {
    return at::empty_strided(self.sizes(), self.strides(), self.options().dtype(dtype));
  }
  return at::empty(self.sizes(), self.options().dtype(dtype));
}

// ---- reductions to one element per row (kthvalue, median, nanmedian along a dim) ---------------
std::vector<int64_t> reduced_shape(const Tensor& self, int64_t dim, bool keepdim) {
  std::vector<int64_t> shape = self.sizes().vec();
  if (self.dim() > 0) {
    if (keepdim) shape[dim] = 1;
    else shape.erase(shape.begin() + dim);
  }
  return shape;
}

// values/indices (resized by the caller to the reduced shape) = the pick of each row.
void select_into(const Tensor& self, int64_t dim, Pick pick, int64_t k, Tensor& values,
                 Tensor& indices) {
  if (self.numel() == 0) return;
  const int64_t n = self.dim() == 0 ? 1 : self.size(dim);
  const Tensor rows = dim_last(self, dim).contiguous();
  // rows in order: the contiguous layout of the reduced outputs is theirs
  Dest v(values, values, rows), i(indices, indices, rows);
  {
    OnDevice on(self);
    GF_ROWS(self, select, rows_of(rows, n), pick, k, v.data(), static_cast<int64_t*>(i.data()));
  }
  v.finish();
  i.finish();
}

// The cuda select kernel gives a row one block: a few very long rows would leave the GPU idle,
// where torch's kernels (full sorts) are faster.
// limit: the longest row served whatever the row count (a whole-tensor median: 16384, at 65536
// it ran at 0.5x torch on the H100).
bool select_fits(const Tensor& self, int64_t n, int64_t limit = 65536) {
  if (!self.is_cuda() || n <= limit) return true;
  return self.numel() / n >= 128;
}

}  // namespace

// ---- sort ---------------------------------------------------------------------------------------
Pair sort_stable(const Tensor& self, std::optional<bool> stable, int64_t dim, bool descending) {
  const int64_t d = at::maybe_wrap_dim(dim, self.dim());
  if (!served(self, sorting::kSortTypes)) {
    reg::note_fallback();
    return GF_TORCH_SORT(self, sort, self, stable, dim, descending);
  }
  Tensor values = like_self(self, self.scalar_type());
  Tensor indices = like_self(self, at::kLong);
  sort_into(self, d, descending, values, indices);
  return {values, indices};
}

Pair sort(const Tensor& self, int64_t dim, bool descending) {
  return sort_stable(self, false, dim, descending);
}

PairRef sort_values_stable(const Tensor& self, std::optional<bool> stable, int64_t dim, bool descending,
                           Tensor& values, Tensor& indices) {
  const int64_t d = at::maybe_wrap_dim(dim, self.dim());
  if (!served(self, sorting::kSortTypes) || !outs_fit(self, values, indices)) {
    reg::note_fallback();
    return GF_TORCH_SORT(self, sort_outf, self, stable, dim, descending, values, indices);
  }
  at::native::resize_output(values, self.sizes());
  at::native::resize_output(indices, self.sizes());
  sort_into(self, d, descending, values, indices);
  return {values, indices};
}

PairRef sort_values(const Tensor& self, int64_t dim, bool descending, Tensor& values, Tensor& indices) {
  return sort_values_stable(self, false, dim, descending, values, indices);
}

// ---- topk ---------------------------------------------------------------------------------------
namespace {
bool topk_into(const Tensor& self, int64_t k, int64_t dim, bool largest, Tensor& values,
               Tensor& indices) {
  if (self.dim() == 0) {  // torch's: the element itself, whatever k (0 or 1)
    ops::copy_(values, self, false);
    ops::zero_(indices);
    return true;
  }
  const int64_t n = self.size(dim);
  if (self.numel() == 0 || k == 0) return true;
  const Tensor rows = dim_last(self, dim).contiguous();
  Dest v(values, dim_last(values, dim), rows), i(indices, dim_last(indices, dim), rows);
  {
    OnDevice on(self);
    GF_ROWS(self, topk, rows_of(rows, n), k, largest, v.data(), static_cast<int64_t*>(i.data()));
  }
  v.finish();
  i.finish();
  return true;
}

std::vector<int64_t> topk_shape(const Tensor& self, int64_t dim, int64_t k) {
  std::vector<int64_t> shape = self.sizes().vec();
  if (!shape.empty()) shape[dim] = k;
  return shape;
}

// torch's checks of topk's arguments (its meta function), the dim wrapped.
int64_t topk_dim(const Tensor& self, int64_t k, int64_t dim) {
  const int64_t d = at::maybe_wrap_dim(dim, self.dim(), /*wrap_scalar=*/true);
  TORCH_CHECK(k >= 0 && k <= (self.dim() > 0 ? self.size(d) : 1), "selected index k out of range");
  return d;
}

// topk over few very long rows (64 x 131072: 0.42x torch on the H100) is torch's.
bool topk_fits(const Tensor& self, int64_t dim) {
  if (self.dim() == 0) return true;
  return select_fits(self, self.size(at::maybe_wrap_dim(dim, self.dim())));
}
}  // namespace

Pair topk(const Tensor& self, c10::SymInt k_, int64_t dim, bool largest, bool sorted) {
  if (!served(self, sorting::kSelectTypes) || !topk_fits(self, dim)) {
    reg::note_fallback();
    return GF_TORCH_SORT(self, topk_symint, self, k_, dim, largest, sorted);
  }
  const int64_t k = k_.expect_int();
  const int64_t d = topk_dim(self, k, dim);
  const std::vector<int64_t> shape = topk_shape(self, d, k);
  Tensor values = at::empty(shape, self.options());
  Tensor indices = at::empty(shape, self.options().dtype(at::kLong));
  topk_into(self, k, d, largest, values, indices);
  return {values, indices};
}

PairRef topk_values(const Tensor& self, c10::SymInt k_, int64_t dim, bool largest, bool sorted,
                    Tensor& values, Tensor& indices) {
  if (!served(self, sorting::kSelectTypes) || !outs_fit(self, values, indices) || !topk_fits(self, dim)) {
    reg::note_fallback();
    return GF_TORCH_SORT(self, topk_symint_outf, self, k_, dim, largest, sorted, values, indices);
  }
  const int64_t k = k_.expect_int();
  const int64_t d = topk_dim(self, k, dim);
  const std::vector<int64_t> shape = topk_shape(self, d, k);
  at::native::resize_output(values, shape);
  at::native::resize_output(indices, shape);
  topk_into(self, k, d, largest, values, indices);
  return {values, indices};
}

// ---- kthvalue -----------------------------------------------------------------------------------
PairRef kthvalue_values(const Tensor& self, c10::SymInt k_, int64_t dim, bool keepdim, Tensor& values,
                        Tensor& indices) {
  const int64_t k = k_.expect_int();
  const int64_t d = at::maybe_wrap_dim(dim, self.dim(), /*wrap_scalar=*/true);
  const int64_t n = self.dim() > 0 ? self.size(d) : 1;
  const bool ok = served(self, sorting::kSelectTypes) && outs_fit(self, values, indices) &&
                  self.numel() > 0 && k >= 1 && k <= n && select_fits(self, n) &&
                  at::get_overlap_status(self, values) == at::MemOverlapStatus::No;
  if (!ok) {  // torch's kernel: its errors for an empty self, k out of range, overlap
    reg::note_fallback();
    return GF_NATIVE(self, kthvalue_out, self, k, dim, keepdim, values, indices);
  }
  const std::vector<int64_t> shape = reduced_shape(self, d, keepdim);
  at::native::resize_output(values, shape);
  at::native::resize_output(indices, shape);
  select_into(self, d, Pick::kth, k - 1, values, indices);
  return {values, indices};
}

Pair kthvalue(const Tensor& self, c10::SymInt k, int64_t dim, bool keepdim) {
  Tensor values = at::empty({0}, self.options());
  Tensor indices = at::empty({0}, self.options().dtype(at::kLong));
  kthvalue_values(self, std::move(k), dim, keepdim, values, indices);
  return {values, indices};
}

// ---- median, nanmedian --------------------------------------------------------------------------
namespace {
PairRef median_dim_into(const Tensor& self, int64_t dim, bool keepdim, Tensor& values,
                        Tensor& indices, bool ignore_nan) {
  const int64_t d = at::maybe_wrap_dim(dim, self.dim());
  const int64_t n = self.dim() > 0 ? self.size(d) : 1;
  const bool ok = served(self, sorting::kSelectTypes) && outs_fit(self, values, indices) && n > 0 &&
                  select_fits(self, n);
  if (!ok) {  // torch's kernel: its errors for a dim of size 0, wrong outputs
    reg::note_fallback();
    if (ignore_nan) return GF_NATIVE(self, nanmedian_out, self, dim, keepdim, values, indices);
    return GF_NATIVE(self, median_out, self, dim, keepdim, values, indices);
  }
  const std::vector<int64_t> shape = reduced_shape(self, d, keepdim);
  at::native::resize_output(values, shape);
  at::native::resize_output(indices, shape);
  select_into(self, d, ignore_nan ? Pick::nanmedian : Pick::median, 0, values, indices);
  return {values, indices};
}

Tensor median_all(const Tensor& self, bool ignore_nan) {
  const int64_t n = self.numel();
  if (!served(self, sorting::kSelectTypes) || n == 0 || !select_fits(self, n, 16384)) {
    reg::note_fallback();
    return ignore_nan ? GF_NATIVE(self, nanmedian, self) : GF_NATIVE(self, median, self);
  }
  Tensor value = at::empty({}, self.options());
  Tensor index = at::empty({}, self.options().dtype(at::kLong));
  const Tensor flat = self.reshape({n}).contiguous();
  {
    OnDevice on(self);
    GF_ROWS(self, select, rows_of(flat, n), ignore_nan ? Pick::nanmedian : Pick::median, 0,
            value.data_ptr(), index.data_ptr<int64_t>());
  }
  return value;
}
}  // namespace

PairRef median_dim_values(const Tensor& self, int64_t dim, bool keepdim, Tensor& values, Tensor& indices) {
  return median_dim_into(self, dim, keepdim, values, indices, false);
}
PairRef nanmedian_dim_values(const Tensor& self, int64_t dim, bool keepdim, Tensor& values,
                             Tensor& indices) {
  return median_dim_into(self, dim, keepdim, values, indices, true);
}

Pair median_dim(const Tensor& self, int64_t dim, bool keepdim) {
  Tensor values = at::empty({0}, self.options());
  Tensor indices = at::empty({0}, self.options().dtype(at::kLong));
  median_dim_into(self, dim, keepdim, values, indices, false);
  return {values, indices};
}
Pair nanmedian_dim(const Tensor& self, int64_t dim, bool keepdim) {
  Tensor values = at::empty({0}, self.options());
  Tensor indices = at::empty({0}, self.options().dtype(at::kLong));
  median_dim_into(self, dim, keepdim, values, indices, true);
  return {values, indices};
}

Tensor median(const Tensor& self) { return median_all(self, false); }
Tensor nanmedian(const Tensor& self) { return median_all(self, true); }

// The composite's out= form: the result copied (cast) into out.
Tensor& median_out(const Tensor& self, Tensor& out) {
  const Tensor result = median_all(self, false);
  at::native::resize_output(out, result.sizes());
  return ops::copy_(out, result, false);
}
Tensor& nanmedian_out(const Tensor& self, Tensor& out) {
  const Tensor result = median_all(self, true);
  at::native::resize_output(out, result.sizes());
  return ops::copy_(out, result, false);
}

// ---- mode ------------------------------------------------------------------------------------------
// A stable sort of each row, then the longest run of equal values: the smallest value among the
// most frequent (as torch's cpu kernel), and the largest index holding it (torch's index among
// equal values is unspecified: its cpu kernel sorts without a tie-break). Empty and 0-d inputs
// are torch's.
namespace {
void mode_into(const Tensor& self, int64_t dim, Tensor& values, Tensor& indices) {
  const int64_t n = self.size(dim);
  const Tensor rows = dim_last(self, dim).contiguous();
  Tensor sorted = at::empty({rows.numel()}, self.options());
  Tensor positions = at::empty({rows.numel()}, self.options().dtype(at::kLong));
  Dest v(values, values, rows), i(indices, indices, rows);
  {
    OnDevice on(self);
    GF_ROWS(self, sort, rows_of(rows, n), false, sorted.data_ptr(), positions.data_ptr<int64_t>());
    GF_ROWS(self, mode, rows_of(sorted, n), positions.const_data_ptr<int64_t>(), v.data(),
            static_cast<int64_t*>(i.data()));
  }
  v.finish();
  i.finish();
}
}  // namespace

// mode.values: torch's composite runs its kernel directly (not through mode), so it has a row of
// its own.
PairRef mode_values(const Tensor& self, int64_t dim, bool keepdim, Tensor& values, Tensor& indices) {
  const bool ok = served(self, sorting::kSortTypes) && self.dim() > 0 && self.numel() > 0 &&
                  outs_fit(self, values, indices);
  if (!ok) {
    reg::note_fallback();
    return at::compositeexplicitautograd::mode_outf(self, dim, keepdim, values, indices);
  }
  const int64_t d = at::maybe_wrap_dim(dim, self.dim());
  const std::vector<int64_t> shape = reduced_shape(self, d, keepdim);
  at::native::resize_output(values, shape);
  at::native::resize_output(indices, shape);
  mode_into(self, d, values, indices);
  return {values, indices};
}

Pair mode(const Tensor& self, int64_t dim, bool keepdim) {
  const bool ok = served(self, sorting::kSortTypes) && self.dim() > 0 && self.numel() > 0;
  if (!ok) {
    reg::note_fallback();
    return GF_TORCH_SORT(self, mode, self, dim, keepdim);
  }
  const int64_t d = at::maybe_wrap_dim(dim, self.dim());
  const std::vector<int64_t> shape = reduced_shape(self, d, keepdim);
  Tensor values = at::empty(shape, self.options());
  Tensor indices = at::empty(shape, self.options().dtype(at::kLong));
  mode_into(self, d, values, indices);
  return {values, indices};
}

}  // namespace gemforge::ops
