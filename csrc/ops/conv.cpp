// The convolution family: 2-d convolutions whose windows do not overlap (stride equal to the
// kernel, no padding or dilation, one group), a vision transformer's patch embedding (CLIP's
// 14x14 / stride-14 conv in Llava), as one GEMM over the patches, forward and backward. Every
// other convolution is torch's (cuDNN), 1x1 ones included: cuDNN runs those faster.
//
// Why a GEMM: with windows that do not overlap, im2col is a permutation of the input (each
// pixel lands in one patch row), so the convolution is [patches, C*kh*kw] x [C*kh*kw, O] with
// nothing recomputed, and the weight gradient and the input gradient are the two other GEMMs
// of the same triple. cuDNN runs these shapes (3 input channels, K = 588) through generic
// implicit-GEMM kernels. fp32 follows torch.backends.cudnn.allow_tf32, as cuDNN's would.
//
// Layouts as torch's (cuDNN's): the output and the gradients channels-last when the input or the
// weight is, NCHW otherwise; NCHW is produced directly by the GEMM (out[n] = W x patches[n]^T,
// the weight shared through a zero batch stride), channels-last as [N*OH*OW, O] rows.
#include "ops/conv.h"

#include "registry/registry.h"

#include <ATen/ATen.h>
#include <ATen/CompositeExplicitAutogradFunctions.h>
#include <c10/core/DeviceGuard.h>

#ifdef GEMFORGE_WITH_CUDA
#include "backends/gemm.h"

#include <ATen/CUDAFunctions.h>
#endif

namespace gemforge::ops {
namespace {

#ifdef GEMFORGE_WITH_CUDA
// The convolutions served: 4-d input and weight of one floating dtype cuBLASLt takes, on
// one cuda device, stride equal to the kernel, no padding, dilation 1, not transposed, one
// group, a window that fits the input, and every GEMM size within the engine's limits.
bool patch_conv(const Tensor& input, const Tensor& weight, const Tensor& bias, at::IntArrayRef stride,
                at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed, at::IntArrayRef output_padding,
                int64_t groups) {
  if (transposed || groups != 1 || input.dim() != 4 || weight.dim() != 4 || !input.is_cuda()) return false;
  const auto dtype = input.scalar_type();
  if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16) return false;
  if (weight.scalar_type() != dtype || weight.device() != input.device()) return false;
  if (input.layout() != at::kStrided || weight.layout() != at::kStrided) return false;
  if (bias.defined() && (bias.scalar_type() != dtype || bias.device() != input.device() || bias.dim() != 1 ||
                         bias.size(0) != weight.size(0)))
    return false;
  if (stride.size() != 2 || padding.size() != 2 || dilation.size() != 2) return false;
  if (stride[0] != weight.size(2) || stride[1] != weight.size(3)) return false;
  if (padding[0] != 0 || padding[1] != 0 || dilation[0] != 1 || dilation[1] != 1) return false;
  for (int64_t p : output_padding)
    if (p != 0) return false;
  if (input.size(1) != weight.size(1) || weight.size(0) == 0) return false;
  // 1x1: no patches to gather, and cuDNN's kernels for it are 1.4-3x the GEMM path (H200)
  if (weight.size(2) * weight.size(3) == 1) return false;
  if (input.size(2) < weight.size(2) || input.size(3) < weight.size(3) || weight.size(2) == 0 || weight.size(3) == 0)
    return false;
  const int64_t N = input.size(0), L = (input.size(2) / weight.size(2)) * (input.size(3) / weight.size(3));
  const int64_t K = weight.size(1) * weight.size(2) * weight.size(3);
  return N * L <= gemm::kMaxDim && K <= gemm::kMaxDim && weight.size(0) <= gemm::kMaxDim;
}

// A row-major matrix (rows x cols) in memory: element (i, j) at data + i * rs + j * cs, one of
// rs, cs 1; batches bs elements apart (0: shared).
struct View {
  const void* data;
  int64_t rows, cols, rs, cs, bs;
};

// x^T as the engine's column-major operand (see backends/gemm.h).
gemm::Operand transposed_operand(const View& x) {
  if (x.cs == 1) return {x.data, x.cols, x.rows, std::max(x.rs, x.cols), x.bs, false};
  return {x.data, x.rows, x.cols, std::max(x.cs, x.rows), x.bs, true};
}

// d = a b over `batch` matrices (row-major d, cs 1), fp32 accumulation, no reduced-precision
// reductions; false when the engine has no algorithm for it.
bool matmul(const View& d, const View& a, const View& b, int64_t batch, at::ScalarType dtype, int device) {
  gemm::Problem p{};
  p.dtype = dtype;
  p.device = device;
  // row-major d = a b is column-major d^T = b^T a^T
  p.m = d.cols;
  p.n = d.rows;
  p.k = a.cols;
  p.batch = batch;
  p.a = transposed_operand(b);
  p.b = transposed_operand(a);
  p.c = d.data;
  p.d = const_cast<void*>(d.data);
  p.ldd = std::max(d.rs, d.cols);
  p.d_batch_stride = d.bs;
  p.alpha = 1.f;
  p.beta = 0.f;
  p.tf32 = dtype == at::kFloat && at::globalContext().allowTF32CuDNN(at::Float32Op::CONV);
  p.reduction = gemm::Reduction::kNoReducedPrecision;
  return gemm::matmul_cuda(p);
}

struct Geometry {
  int64_t N, C, OH, OW, kh, kw, O, L, K;
  explicit Geometry(const Tensor& input, const Tensor& weight)
      : N(input.size(0)), C(input.size(1)), OH(input.size(2) / weight.size(2)), OW(input.size(3) / weight.size(3)),
        kh(weight.size(2)), kw(weight.size(3)), O(weight.size(0)), L(OH * OW), K(C * kh * kw) {}
};

// The windows of `input` as rows: [N * OH * OW, C * kh * kw], (c, i, j) within a row as the
// weight's [O, C, kh, kw] orders them. Pixels past the last whole window are left out.
// One strided view and one copy: the call is host-bound at batch 1.
Tensor patches(const Tensor& input, const Geometry& g) {
  const int64_t sn = input.stride(0), sc = input.stride(1), sh = input.stride(2), sw = input.stride(3);
  return input.as_strided({g.N, g.OH, g.OW, g.C, g.kh, g.kw}, {sn, g.kh * sh, g.kw * sw, sc, sh, sw})
      .contiguous()
      .view({g.N * g.L, g.K});
}

// The layout of the output and of every gradient, as cuDNN picks it: channels-last when the
// input or the weight is.
at::MemoryFormat conv_format(const Tensor& input, const Tensor& weight) {
  const auto cl = at::MemoryFormat::ChannelsLast;
  return input.suggest_memory_format() == cl || weight.suggest_memory_format() == cl ? cl
                                                                                      : at::MemoryFormat::Contiguous;
}
#endif

}  // namespace

Tensor convolution(const Tensor& input, const Tensor& weight, const OptTensor& bias_opt, at::IntArrayRef stride,
                   at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed, at::IntArrayRef output_padding,
                   int64_t groups) {
#ifdef GEMFORGE_WITH_CUDA
  const Tensor bias = bias_opt.value_or(Tensor());
  if (patch_conv(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)) {
    c10::DeviceGuard guard(input.device());
    const Geometry g(input, weight);
    const auto format = conv_format(input, weight);
    const bool nhwc = format == at::MemoryFormat::ChannelsLast;
    Tensor out = at::empty({g.N, g.O, g.OH, g.OW}, input.options(), format);
    if (out.numel() == 0) return out;
    const Tensor p = patches(input, g);
    const Tensor w = weight.contiguous();
    const View wv{w.data_ptr(), g.O, g.K, g.K, 1, 0};
    bool ok;
    if (nhwc) {  // out rows [N * L, O] = patches [N * L, K] x w^T [K, O]
      ok = matmul({out.data_ptr(), g.N * g.L, g.O, g.O, 1, 0}, {p.data_ptr(), g.N * g.L, g.K, g.K, 1, 0},
                  {w.data_ptr(), g.K, g.O, 1, g.K, 0}, 1, input.scalar_type(), input.get_device());
    } else {  // out[n] [O, L] = w [O, K] x patches[n]^T [K, L]
      ok = matmul({out.data_ptr(), g.O, g.L, g.L, 1, g.O * g.L}, wv, {p.data_ptr(), g.K, g.L, 1, g.K, g.L * g.K},
                  g.N, input.scalar_type(), input.get_device());
    }
    if (ok) {
      if (bias.defined()) out.add_(bias.view({1, g.O, 1, 1}));
      return out;
    }
  }
#endif
  reg::note_fallback();
  return at::compositeexplicitautograd::convolution(input, weight, bias_opt, stride, padding, dilation, transposed,
                                                    output_padding, groups);
}

std::tuple<Tensor, Tensor, Tensor> convolution_backward(
    const Tensor& grad_output, const Tensor& input, const Tensor& weight, at::OptionalIntArrayRef bias_sizes,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed,
    at::IntArrayRef output_padding, int64_t groups, std::array<bool, 3> output_mask) {
#ifdef GEMFORGE_WITH_CUDA
  if (patch_conv(input, weight, Tensor(), stride, padding, dilation, transposed, output_padding, groups) &&
      grad_output.dim() == 4 && grad_output.scalar_type() == input.scalar_type() &&
      grad_output.device() == input.device() && grad_output.layout() == at::kStrided) {
    const Geometry g(input, weight);
    if (grad_output.sizes() == at::IntArrayRef{g.N, g.O, g.OH, g.OW} && g.N * g.L > 0) {
      c10::DeviceGuard guard(input.device());
      const auto dtype = input.scalar_type();
      const int dev = input.get_device();
      // grad_output as [N, O, L] planes (NCHW) or [N * L, O] rows (channels-last)
      const bool g_rows = grad_output.permute({0, 2, 3, 1}).is_contiguous();
      const Tensor go = g_rows ? grad_output : grad_output.contiguous();
      Tensor grad_input, grad_weight, grad_bias;
      bool ok = true;
      if (output_mask[1]) {  // [O, K] = grad_output^T [O, N * L] x patches [N * L, K]
        const Tensor p = patches(input, g);
        // as rows [N * L, O]: channels-last already; one image's [O, L] plane read transposed
        const Tensor rows = g_rows || g.N == 1 ? go : go.permute({0, 2, 3, 1}).contiguous();
        const View gt = g_rows || g.N > 1 ? View{rows.data_ptr(), g.O, g.N * g.L, 1, g.O, 0}
                                          : View{rows.data_ptr(), g.O, g.L, g.L, 1, 0};
        grad_weight = at::empty({g.O, g.C, g.kh, g.kw}, weight.options(), conv_format(input, weight));
        Tensor gw = grad_weight.is_contiguous() ? grad_weight : at::empty({g.O, g.K}, weight.options());
        ok = matmul({gw.data_ptr(), g.O, g.K, g.K, 1, 0}, gt, {p.data_ptr(), g.N * g.L, g.K, g.K, 1, 0}, 1, dtype, dev);
        if (ok && !gw.is_same(grad_weight)) grad_weight.copy_(gw.view({g.O, g.C, g.kh, g.kw}));
      }
      if (ok && output_mask[0]) {  // patches' gradient [N * L, K] = grad_output [.., O] x w [O, K]
        Tensor dp = at::empty({g.N * g.L, g.K}, input.options());
        const Tensor w = weight.contiguous();
        const View wv{w.data_ptr(), g.O, g.K, g.K, 1, 0};
        ok = g_rows ? matmul({dp.data_ptr(), g.N * g.L, g.K, g.K, 1, 0}, {go.data_ptr(), g.N * g.L, g.O, g.O, 1, 0},
                             wv, 1, dtype, dev)
                    : matmul({dp.data_ptr(), g.L, g.K, g.K, 1, g.L * g.K}, {go.data_ptr(), g.L, g.O, 1, g.L, g.O * g.L},
                             wv, g.N, dtype, dev);
        if (ok) {
          const bool whole = g.OH * g.kh == input.size(2) && g.OW * g.kw == input.size(3);
          const auto format = conv_format(input, weight);
          // pixels past the last whole window get no gradient: zeros
          grad_input = whole ? at::empty(input.sizes(), input.options(), format)
                             : at::zeros(input.sizes(), input.options().memory_format(format));
          grad_input.narrow(2, 0, g.OH * g.kh)
              .narrow(3, 0, g.OW * g.kw)
              .view({g.N, g.C, g.OH, g.kh, g.OW, g.kw})
              .permute({0, 2, 4, 1, 3, 5})
              .copy_(dp.view({g.N, g.OH, g.OW, g.C, g.kh, g.kw}));
        }
      }
      if (ok) {
        if (output_mask[2]) grad_bias = grad_output.sum({0, 2, 3});
        return {grad_input, grad_weight, grad_bias};
      }
    }
  }
  reg::note_fallback();
  if (input.is_cuda())
    return at::cuda::convolution_backward(grad_output, input, weight, bias_sizes, stride, padding, dilation,
                                          transposed, output_padding, groups, output_mask);
#endif
  return at::compositeexplicitautograd::convolution_backward(grad_output, input, weight, bias_sizes, stride, padding,
                                                             dilation, transposed, output_padding, groups, output_mask);
}

}  // namespace gemforge::ops
