"""gemforge's float32 attention backward (backends/cuda/attention_fp32_bwd.cu) against float64
autograd and torch's efficient backward, without building gemforge.

    python scripts/dev/attention_fp32_bwd_standalone.py

Compiles the kernel file alone as a torch extension (about a minute); feeds it torch's own fp32
efficient forward (out and logsumexp), so that only the backward is under test; checks dQ, dK
and dV over head dims 64/40/4, causal and not, query and key lengths that differ and are off
the tiles, a single query row, and dQ not wanted; then times the sample models' fp32 shapes
against torch's `_scaled_dot_product_efficient_attention_backward` in the same process, for
each block shape.
"""

from __future__ import annotations

import os
import sys
import tempfile

import torch
from torch.utils.cpp_extension import load

from cuda_timing import timeit  # beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

KERNEL = r"""
#include "backends/cuda/attention_fp32_bwd.cu"
namespace gemforge::attention::cuda {
// Block shapes (dK/dV warps, query tile; dQ warps, key tile); 0: as served.
void backward_variant(const Backward& p, int variant) {
  switch (variant) {
    case 1: return backward_fp32_fused<8, 16>(p);
    default: TORCH_CHECK(fp32_supported(p), "not supported"); return backward_fp32(p);
  }
}
}  // namespace gemforge::attention::cuda
"""
VARIANTS = {0: "as served (dQ fused, 8 warps, query tile 32)", 1: "dQ fused, query tile 16"}

BINDING = r"""
#include <torch/extension.h>
#include "backends/attention_bwd.h"
namespace A = gemforge::attention;
namespace gemforge::attention::cuda { void backward_variant(const Backward& p, int variant); }

static A::Operand op(const at::Tensor& t) { return {t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)}; }

std::vector<at::Tensor> backward(at::Tensor q, at::Tensor k, at::Tensor v, at::Tensor out, at::Tensor lse,
                                 at::Tensor grad, bool causal, double scale, bool want_q, int64_t variant) {
  auto like = [](const at::Tensor& t) {
    return at::empty({t.size(0), t.size(2), t.size(1), t.size(3)}, t.options()).transpose(1, 2);
  };
  at::Tensor dq = want_q ? like(q) : at::Tensor(), dk = like(k), dv = like(v);
  A::Backward p{};
  p.dtype = at::kFloat; p.q = op(q); p.k = op(k); p.v = op(v); p.out = op(out); p.grad_out = op(grad);
  if (want_q) p.grad_q = op(dq);
  p.grad_k = op(dk); p.grad_v = op(dv); p.dq_wanted = want_q;
  p.batch = q.size(0); p.heads_q = q.size(1); p.heads_kv = k.size(1); p.seq_q = q.size(2); p.seq_k = k.size(2);
  p.head_dim = q.size(3); p.scale = float(scale); p.causal = causal; p.causal_offset = 0;
  p.lse = lse.data_ptr<float>(); p.lse_batch_stride = lse.stride(0); p.lse_head_stride = lse.stride(1);
  auto ws = at::empty({A::cuda::fp32_workspace_floats(p)}, q.options());
  p.workspace = ws.data_ptr<float>();
  A::cuda::backward_variant(p, int(variant));
  return {dq, dk, dv};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("backward", &backward); }
"""


def reference(q, k, v, grad, causal, scale):
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    s = q64 @ k64.transpose(-1, -2) * scale
    if causal:
        s = s.masked_fill(torch.ones(s.shape[-2:], dtype=torch.bool, device=s.device).triu(1), float("-inf"))
    out = torch.softmax(s, -1) @ v64
    out.backward(grad.double())
    return q64.grad, k64.grad, v64.grad


def efficient(q, k, v, causal, scale):
    out, lse, seed, offset = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, None, True, 0.0, causal,
                                                                                     scale=scale)
    return out, lse, seed, offset


def bshd(b, h, s, d):
    return torch.randn(b, s, h, d, device="cuda").transpose(1, 2)


def main():
    # A fixed build folder, files rewritten only when they change: a second run (under ncu) reuses the build.
    build = os.path.join(tempfile.gettempdir(), "gf_fp32_bwd_build")
    os.makedirs(build, exist_ok=True)
    for name, text in (("kernel.cu", KERNEL), ("binding.cpp", BINDING)):
        path = os.path.join(build, name)
        if not os.path.exists(path) or open(path).read() != text:
            with open(path, "w") as f:
                f.write(text)
    ext = load("gf_attention_fp32_bwd_standalone", [os.path.join(build, "kernel.cu"), os.path.join(build, "binding.cpp")],
               extra_include_paths=[os.path.join(ROOT, "csrc")], extra_cflags=["-O2", "-DGEMFORGE_WITH_CUDA"],
               extra_cuda_cflags=["-O3", "-DGEMFORGE_WITH_CUDA", "--expt-relaxed-constexpr", "--extended-lambda",
                                  "-gencode=arch=compute_90a,code=sm_90a"],
               build_directory=build, verbose=False)
    torch.manual_seed(0)
    if "--ncu" in sys.argv:  # one call each of torch's backward and the served one, at BERT's shape
        q, k, v, grad = (bshd(8, 12, 512, 64) for _ in range(4))
        out, lse, seed, offset = efficient(q, k, v, False, 0.125)
        torch.ops.aten._scaled_dot_product_efficient_attention_backward(
            grad, q, k, v, None, out, lse, seed, offset, 0.0, [True, True, True, False], False, scale=0.125)
        ext.backward(q, k, v, out, lse, grad, False, 0.125, True, 0)
        torch.cuda.synchronize()
        return
    worst = 0.0
    for (B, H, Sq, Sk, D, causal, want_q) in [
            (2, 4, 128, 128, 64, False, True), (2, 3, 200, 333, 64, False, True), (2, 4, 300, 300, 64, True, True),
            (1, 2, 77, 130, 40, True, True), (2, 2, 1, 500, 64, False, True), (2, 2, 190, 64, 4, False, True),
            (1, 2, 129, 129, 64, True, False), (1, 1, 700, 700, 64, True, True)]:
        q, k, v = bshd(B, H, Sq, D), bshd(B, H, Sk, D), bshd(B, H, Sk, D)
        grad = bshd(B, H, Sq, D)
        scale = D ** -0.5
        out, lse, seed, offset = efficient(q, k, v, causal, scale)
        ref = reference(q, k, v, grad, causal, scale)
        theirs = torch.ops.aten._scaled_dot_product_efficient_attention_backward(
            grad, q, k, v, None, out, lse, seed, offset, 0.0, [True, True, True, False], causal, scale=scale)
        err = lambda a, r: ((a.double() - r).abs().max() / r.abs().max()).item()
        line = []
        for variant in VARIANTS:
            dq, dk, dv = ext.backward(q, k, v, out, lse, grad, causal, scale, want_q, variant)
            errs = ([err(dq, ref[0])] if want_q else []) + [err(dk, ref[1]), err(dv, ref[2])]
            worst = max(worst, *errs)
            line.append(f"v{variant} " + "/".join(f"{e:.1e}" for e in errs))
        torch_errs = "/".join(f"{err(a, r):.1e}" for a, r in zip(theirs[:3], ref))
        print(f"B{B} H{H} Sq{Sq} Sk{Sk} D{D} causal={causal} dq={want_q}: rel err (dq/)dk/dv: " + ", ".join(line)
              + f"; torch {torch_errs}", flush=True)
    print(f"worst rel err {worst:.2e}; variants: {VARIANTS}")

    for name, (B, H, S, D, causal) in {"bert": (8, 12, 512, 64, False), "clip": (2, 16, 577, 64, False),
                                       "S4096 D64": (4, 32, 4096, 64, True)}.items():
        q, k, v, grad = (bshd(B, H, S, D) for _ in range(4))
        scale = D ** -0.5
        out, lse, seed, offset = efficient(q, k, v, causal, scale)
        t_torch = timeit(lambda: torch.ops.aten._scaled_dot_product_efficient_attention_backward(
            grad, q, k, v, None, out, lse, seed, offset, 0.0, [True, True, True, False], causal, scale=scale))
        flops = 10 * B * H * S * S * D / (2 if causal else 1)  # 5 products of 2 B H S S D
        line = []
        for variant in VARIANTS:
            t = timeit(lambda: ext.backward(q, k, v, out, lse, grad, causal, scale, True, variant))
            line.append(f"v{variant} {t:.0f} us {t_torch / t:.2f}x")
        print(f"{name} B{B} H{H} S{S} D{D} causal={causal}: torch {t_torch:.0f} us "
              f"({flops / t_torch / 1e6:.1f} TFLOP/s); " + ", ".join(line), flush=True)


if __name__ == "__main__":
    main()
