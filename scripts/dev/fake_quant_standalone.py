"""gemforge's cuda fake-quantization kernels against torch's, without building gemforge.

    python scripts/dev/fake_quant_standalone.py

Compiles backends/cuda/fake_quant.cu alone as a torch extension (about a minute, against the
several of a full build) and compares its per-tensor, per-channel (int32 / float32 / float16 zero
points, learnable; channels along the rows, which take the once-a-vector path, and along the
columns) results and masks with torch's cuda kernels, exactly, on random values with NaN, the
infinities, values beyond int64 and rounding ties. Prints one line a case, then the per-channel
times at 4096^2 against torch's.
"""

from __future__ import annotations

import os

import torch
from torch.utils.cpp_extension import load_inline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CUDA = r"""
#include "backends/cuda/fake_quant.cu"
namespace gemforge::pw::cuda { bool pdl_enabled() { return false; } }
"""

CPP = r"""
#include <torch/extension.h>
#include "backends/fake_quant.h"
namespace fq = gemforge::fake_quant;

static fq::Forward base(const at::Tensor& x, at::Tensor& out, at::Tensor& mask, int64_t qmin, int64_t qmax) {
  fq::Forward f{};
  f.dtype = x.scalar_type(); f.n = x.numel(); f.x = x.data_ptr(); f.out = out.data_ptr();
  f.mask = mask.defined() ? mask.data_ptr<bool>() : nullptr;
  f.quant_min = qmin; f.quant_max = qmax;
  f.small_range = std::abs(qmin) <= fq::kSmallRange && std::abs(qmax) <= fq::kSmallRange;
  f.source = fq::Source::Values;
  return f;
}

std::vector<at::Tensor> per_tensor(at::Tensor x, double scale, int64_t zp, int64_t qmin, int64_t qmax) {
  x = x.contiguous();
  auto out = at::empty_like(x), mask = at::empty_like(x, x.options().dtype(at::kBool));
  auto f = base(x, out, mask, qmin, qmax);
  f.scale = float(scale); f.zero_point = zp;
  fq::forward_cuda(f);
  return {out, mask};
}

std::vector<at::Tensor> per_channel(at::Tensor x, at::Tensor s, at::Tensor z, int64_t axis, int64_t qmin,
                                    int64_t qmax, bool learnable) {
  x = x.contiguous(); s = s.contiguous(); z = z.contiguous();
  auto out = at::empty_like(x), mask = at::empty_like(x, x.options().dtype(at::kBool));
  auto f = base(x, out, mask, qmin, qmax);
  f.channels = x.size(axis); f.channel_stride = f.channels == 1 ? 1 : x.stride(axis);
  f.scales = s.data_ptr(); f.scale_dtype = s.scalar_type();
  f.zero_points = z.data_ptr(); f.zp_dtype = z.scalar_type(); f.learnable_zp = learnable;
  fq::forward_cuda(f);
  return {out, mask};
}

std::vector<at::Tensor> backward(at::Tensor dy, at::Tensor x, at::Tensor s, at::Tensor z, int64_t qmin, int64_t qmax,
                                 double grad_factor) {
  auto dx = at::empty_like(x), ds = at::empty({1}, s.options()), dz = at::empty({1}, z.options());
  fq::Backward b{};
  b.n = x.numel(); b.x = x.data_ptr<float>(); b.grad = dy.data_ptr<float>(); b.grad_x = dx.data_ptr<float>();
  b.grad_scale = ds.data_ptr<float>(); b.grad_zero_point = dz.data_ptr<float>();
  b.scale_ptr = s.data_ptr<float>(); b.zp_ptr = z.data_ptr<float>();
  b.quant_min = qmin; b.quant_max = qmax; b.grad_factor = float(grad_factor);
  fq::backward_cuda(b);
  return {dx, ds, dz};
}
"""


def compare(name, expected, got):
    lines = []
    for k, (e, g) in enumerate(zip(expected, got)):
        nan = torch.isnan(e) & torch.isnan(g) if e.is_floating_point() else torch.zeros_like(e, dtype=torch.bool)
        bad = ((e != g) & ~nan).reshape(-1).nonzero().reshape(-1)
        lines.append(f"output {k}: {bad.numel()} of {e.numel()} differ"
                     + (f" (first {bad[:3].tolist()}: torch {e.reshape(-1)[bad[:3]].tolist()} ours "
                        f"{g.reshape(-1)[bad[:3]].tolist()})" if bad.numel() else ""))
    print(f"{name}: " + "; ".join(lines))


def main() -> int:
    ext = load_inline("gf_fake_quant_standalone", cpp_sources=CPP, cuda_sources=CUDA,
                      functions=["per_tensor", "per_channel", "backward"],
                      extra_include_paths=[os.path.join(ROOT, "csrc")],
                      extra_cflags=["-O2", "-DGEMFORGE_WITH_CUDA"],
                      extra_cuda_cflags=["-O3", "-DGEMFORGE_WITH_CUDA", "--expt-relaxed-constexpr",
                                         "--extended-lambda", "-gencode=arch=compute_90a,code=sm_90a"],
                      verbose=False)
    A = torch.ops.aten
    torch.manual_seed(0)
    specials = torch.tensor([float("nan"), float("inf"), -float("inf"), 1e30, -1e30, 0.0, -0.0, 0.25, 0.35, -0.25])
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        x = (torch.rand(257, 129, device="cuda", dtype=torch.float64) * 80 - 40).to(dtype)
        x.view(-1)[:10] = specials.to("cuda", dtype)
        for qmin, qmax, zp in ((-128, 127, 3), (0, 255, 0)):
            compare(f"per tensor {dtype} [{qmin}, {qmax}] zp {zp}",
                    A.fake_quantize_per_tensor_affine_cachemask(x, 0.1, zp, qmin, qmax),
                    ext.per_tensor(x, 0.1, zp, qmin, qmax))
        scale = torch.rand(129, device="cuda") * 0.2 + 0.02
        for zp in (torch.randint(-128, 128, (129,), device="cuda").to(torch.int32),
                   torch.rand(129, device="cuda") * 255 - 128, (torch.rand(129, device="cuda") * 255 - 128).half()):
            compare(f"per channel {dtype} zp {zp.dtype}",
                    A.fake_quantize_per_channel_affine_cachemask(x, scale, zp, 1, -128, 127),
                    ext.per_channel(x, scale, zp, 1, -128, 127, False))
        zp = torch.rand(129, device="cuda") * 255 - 128
        compare(f"learnable per channel {dtype}",
                (A._fake_quantize_learnable_per_channel_affine(x, scale, zp, 1, -128, 127, 1.0),),
                ext.per_channel(x, scale, zp, 1, -128, 127, True)[:1])
        # channels along the rows: a vector of one channel where the row length allows
        for cols in (256, 129):
            w = (torch.rand(96, cols, device="cuda", dtype=torch.float64) * 80 - 40).to(dtype)
            w.view(-1)[:10] = specials.to("cuda", dtype)
            s_rows = torch.rand(96, device="cuda") * 0.2 + 0.02
            for zp in (torch.randint(-128, 128, (96,), device="cuda").to(torch.int32),
                       torch.rand(96, device="cuda") * 255 - 128):
                compare(f"per channel rows {dtype} {cols} cols zp {zp.dtype}",
                        A.fake_quantize_per_channel_affine_cachemask(w, s_rows, zp, 0, -128, 127),
                        ext.per_channel(w, s_rows, zp, 0, -128, 127, False))
            zp = torch.rand(96, device="cuda") * 255 - 128
            compare(f"learnable per channel rows {dtype} {cols} cols",
                    (A._fake_quantize_learnable_per_channel_affine(w, s_rows, zp, 0, -128, 127, 1.0),),
                    ext.per_channel(w, s_rows, zp, 0, -128, 127, True)[:1])
        zp = torch.zeros(129, device="cuda", dtype=torch.int32)
        try:  # a range past int32: the 64-bit path
            expected = A.fake_quantize_per_channel_affine_cachemask(x, scale, zp, 1, -(2**33), 2**33)
        except RuntimeError as err:
            print(f"per channel {dtype} wide range: torch raises ({str(err).splitlines()[0]})")
        else:
            compare(f"per channel {dtype} wide range", expected, ext.per_channel(x, scale, zp, 1, -(2**33), 2**33, False))
    x = torch.rand(257, 129, device="cuda") * 80 - 40
    x.view(-1)[:10] = specials.cuda()
    dy = torch.randn_like(x)
    s, z = torch.tensor([0.1], device="cuda"), torch.tensor([2.6], device="cuda")
    e = A._fake_quantize_learnable_per_tensor_affine_backward(dy, x, s, z, -128, 127, 0.7)
    g = ext.backward(dy, x, s, z, -128, 127, 0.7)
    compare("learnable backward grad_x", e[:1], g[:1])
    print(f"learnable backward sums: torch {e[1].item()!r} {e[2].item()!r} ours {g[1].item()!r} {g[2].item()!r}")

    def timed(fn, *args):
        for _ in range(3):
            fn(*args)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(20):
            fn(*args)
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 20 * 1e3

    for dtype in (torch.bfloat16, torch.float32):
        x = torch.randn(4096, 4096, device="cuda").to(dtype)
        scale = torch.rand(4096, device="cuda") * 0.2 + 0.02
        zp = torch.randint(-128, 128, (4096,), device="cuda").to(torch.int32)
        for axis in (0, 1):
            t = timed(A.fake_quantize_per_channel_affine_cachemask, x, scale, zp, axis, -128, 127)
            o = timed(ext.per_channel, x, scale, zp, axis, -128, 127, False)
            gbs = x.numel() * (2 * x.element_size() + 1) / o / 1e3
            print(f"per channel {dtype} 4096x4096 axis {axis}: torch {t:.1f} us, ours {o:.1f} us ({gbs:.0f} GB/s), "
                  f"{t / o:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
