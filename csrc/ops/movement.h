// The movement family's entry points (ops/movement.cpp): the copy_shape_view ops that move data.
// Each has the exact signature of its aten overload (named where the name does not say it).
#pragma once

#include <ATen/core/ATen_fwd.h>
#include <ATen/core/IListRef.h>
#include <ATen/core/Tensor.h>
#include <c10/core/MemoryFormat.h>
#include <c10/core/Scalar.h>

#include <optional>
#include <vector>

namespace gemforge::ops {

using at::Tensor;
using OptMemoryFormat = std::optional<at::MemoryFormat>;

// ---- cat and stack -------------------------------------------------------------------------------
Tensor cat(const at::ITensorListRef& tensors, int64_t dim);
Tensor& cat_out(const at::ITensorListRef& tensors, int64_t dim, Tensor& out);
Tensor stack(at::TensorList tensors, int64_t dim);
Tensor& stack_out(at::TensorList tensors, int64_t dim, Tensor& out);

// ---- conversions and clones ------------------------------------------------------------------------
Tensor to_copy(const Tensor& self, std::optional<at::ScalarType> dtype, std::optional<at::Layout> layout,
               std::optional<at::Device> device, std::optional<bool> pin_memory, bool non_blocking,
               OptMemoryFormat memory_format);                                     // _to_copy
Tensor& to_copy_out(const Tensor& self, bool non_blocking, OptMemoryFormat memory_format,
                    Tensor& out);                                                  // _to_copy.out
Tensor clone(const Tensor& self, OptMemoryFormat memory_format);
Tensor& clone_out(const Tensor& self, OptMemoryFormat memory_format, Tensor& out);
// Tensor.item(): the one element, copied to the host on the current stream and waited for.
at::Scalar local_scalar_dense(const Tensor& self);                                 // _local_scalar_dense

// ---- the *_copy ops: a view of self, materialised (contiguous) ------------------------------------
// self.view(size), or where no view has that shape a reshaped copy (torch's view_copy reshapes).
Tensor view_or_reshape(const Tensor& self, at::IntArrayRef size);
// GF_MOVEMENT_VIEW_COPIES(X): X(name, (, parameters after self), the view of self)
#define GF_MOVEMENT_VIEW_COPIES(X)                                                                  \
  X(view_copy, (, at::IntArrayRef size), view_or_reshape(self, size))                                           \
  X(view_copy_dtype, (, at::ScalarType dtype), self.view(dtype))                                    \
  X(permute_copy, (, at::IntArrayRef dims), self.permute(dims))                                     \
  X(t_copy, (), self.t())                                                                           \
  X(expand_copy, (, at::IntArrayRef size, bool implicit), self.expand(size, implicit))              \
  X(unfold_copy, (, int64_t dimension, int64_t size, int64_t step), self.unfold(dimension, size, step)) \
  X(alias_copy, (), self.alias())                                                                   \
  X(detach_copy, (), self.detach())                                                                 \
  X(lift_fresh_copy, (), self.alias())                                                              \
  X(squeeze_copy, (), self.squeeze())                                                               \
  X(squeeze_copy_dim, (, int64_t dim), self.squeeze(dim))                                           \
  X(squeeze_copy_dims, (, at::IntArrayRef dim), self.squeeze(dim))                                  \
  X(unsqueeze_copy, (, int64_t dim), self.unsqueeze(dim))                                           \
  X(transpose_copy, (, int64_t dim0, int64_t dim1), self.transpose(dim0, dim1))                     \
  X(diagonal_copy, (, int64_t offset, int64_t dim1, int64_t dim2), self.diagonal(offset, dim1, dim2)) \
  X(select_copy, (, int64_t dim, int64_t index), self.select(dim, index))                           \
  X(slice_copy, (, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step), \
    self.slice(dim, start, end, step))                                                              \
  X(as_strided_copy, (, at::IntArrayRef size, at::IntArrayRef stride, std::optional<int64_t> offset), \
    self.as_strided(size, stride, offset))                                                          \
  X(reshape_alias_copy, (, at::IntArrayRef size, at::IntArrayRef stride), self._reshape_alias(size, stride)) \
  X(view_as_real_copy, (), at::view_as_real(self))                                                  \
  X(view_as_complex_copy, (), at::view_as_complex(self))
// A parameter list carries its own leading comma (none when empty).
#define GF_MOVEMENT_UNPAREN(...) __VA_ARGS__
#define GF_DECLARE_VIEW_COPY(name, params, view)                    \
  Tensor name(const Tensor& self GF_MOVEMENT_UNPAREN params);          \
  Tensor& name##_out(const Tensor& self GF_MOVEMENT_UNPAREN params, Tensor& out);
GF_MOVEMENT_VIEW_COPIES(GF_DECLARE_VIEW_COPY)
#undef GF_DECLARE_VIEW_COPY

Tensor narrow_copy(const Tensor& self, int64_t dim, int64_t start, int64_t length);

// ---- constant_pad_nd -------------------------------------------------------------------------------
Tensor constant_pad_nd(const Tensor& self, at::IntArrayRef pad, const at::Scalar& value);
Tensor& constant_pad_nd_out(const Tensor& self, at::IntArrayRef pad, const at::Scalar& value, Tensor& out);

// ---- roll ------------------------------------------------------------------------------------------
Tensor roll(const Tensor& self, at::IntArrayRef shifts, at::IntArrayRef dims);
Tensor& roll_out(const Tensor& self, at::IntArrayRef shifts, at::IntArrayRef dims, Tensor& out);

// ---- flip, repeat and what reaches them (issue 7, second part) ----------------------------------
Tensor flip(const Tensor& self, at::IntArrayRef dims);
Tensor& flip_out(const Tensor& self, at::IntArrayRef dims, Tensor& out);
Tensor repeat(const Tensor& self, at::IntArrayRef repeats);
Tensor& repeat_out(const Tensor& self, at::IntArrayRef repeats, Tensor& out);
Tensor rot90(const Tensor& self, int64_t k, at::IntArrayRef dims);
Tensor& rot90_out(const Tensor& self, int64_t k, at::IntArrayRef dims, Tensor& out);
Tensor repeat_interleave_tensor(const Tensor& repeats, std::optional<int64_t> output_size);  // .Tensor
Tensor& repeat_interleave_tensor_out(const Tensor& repeats, std::optional<int64_t> output_size,
                                     Tensor& out);                                       // .Tensor_out

// ---- splits and chunks -----------------------------------------------------------------------------
std::vector<Tensor> split_with_sizes_copy(const Tensor& self, at::IntArrayRef split_sizes, int64_t dim);
void split_with_sizes_copy_out(const Tensor& self, at::IntArrayRef split_sizes, int64_t dim, at::TensorList out);
std::vector<Tensor> unbind_copy(const Tensor& self, int64_t dim);                    // unbind_copy.int
void unbind_copy_out(const Tensor& self, int64_t dim, at::TensorList out);           // unbind_copy.int_out
Tensor chunk_cat(at::TensorList tensors, int64_t dim, int64_t num_chunks);           // _chunk_cat
Tensor& chunk_cat_out(at::TensorList tensors, int64_t dim, int64_t num_chunks, Tensor& out);
Tensor diagonal_backward(const Tensor& grad_output, at::IntArrayRef input_sizes, int64_t offset, int64_t dim1,
                         int64_t dim2);
Tensor& diagonal_backward_out(const Tensor& grad_output, at::IntArrayRef input_sizes, int64_t offset,
                              int64_t dim1, int64_t dim2, Tensor& out);
Tensor unfold_backward(const Tensor& grad_in, at::IntArrayRef input_sizes, int64_t dim, int64_t size, int64_t step);
Tensor& unfold_backward_out(const Tensor& grad_in, at::IntArrayRef input_sizes, int64_t dim, int64_t size,
                            int64_t step, Tensor& out);

}  // namespace gemforge::ops
