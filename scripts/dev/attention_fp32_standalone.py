"""gemforge's float32 attention kernels against torch's memory-efficient kernel and a float64
reference, without building gemforge.

    python scripts/dev/attention_fp32_standalone.py

Compiles backends/cuda/attention_fp32.cu alone as a torch extension (about a minute) and checks
out and logsumexp over head dims up to 64 (as served) and 128 (tile shapes gemforge leaves to
torch), causal and not, GQA, an additive mask with a fully masked row, lengths off the tiles,
against float64; then times the sample models' fp32 training shapes against torch's efficient
kernel in the same process.
"""

from __future__ import annotations

import os

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.cpp_extension import load_inline

from cuda_timing import timeit  # beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CUDA = r"""
#include "backends/cuda/attention_fp32.cu"
namespace gemforge::attention::cuda {
// The kernel as served (0: head dims up to 64, 4 or 8 warps by the grid's size), each block
// size alone, and head dim 128's tiles, which gemforge leaves to torch (measured slower at
// some shapes): (key tile, warps). (4 warps at head dim 128, twice the blocks, ran 0.60-0.89x
// torch at Llava's text shape: H200, stop 30.)
void forward_variant(const Forward& p, int variant) {
  switch (variant) {
    case 1: return launch<64, 32, 4>(p);
    case 2: return launch<64, 32, 8>(p);
    case 3: return launch<128, 32, 8>(p);
    case 4: return launch<128, 16, 8>(p);
    case 5: return launch<64, 32, 8, 1>(p);
    default: TORCH_CHECK(fp32_supported(p), "not supported"); return forward_fp32(p);
  }
}
}  // namespace gemforge::attention::cuda
"""
VARIANTS = {0: "as served", 1: "D64 BN32 4 warps", 2: "D64 BN32 8 warps", 3: "D128 BN32 8 warps", 4: "D128 BN16 8 warps",
            5: "D64 BN32 8 warps, one block an SM"}

CPP = r"""
#include <torch/extension.h>
#include "backends/attention.h"
namespace A = gemforge::attention;
namespace gemforge::attention::cuda { void forward_variant(const Forward& p, int variant); }

static A::Operand op(const at::Tensor& t) { return {t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)}; }

std::vector<at::Tensor> forward(at::Tensor q, at::Tensor k, at::Tensor v, c10::optional<at::Tensor> bias, bool causal,
                                double scale, int64_t variant) {
  const int64_t B = q.size(0), H = q.size(1), Sq = q.size(2), D = q.size(3);
  auto out = at::empty({B, Sq, H, D}, q.options()).transpose(1, 2);
  auto lse = at::empty({B, H, (Sq + 31) / 32 * 32}, q.options());
  A::Forward f{};
  f.dtype = at::kFloat; f.q = op(q); f.k = op(k); f.v = op(v); f.out = op(out);
  f.batch = B; f.heads_q = H; f.heads_kv = k.size(1); f.seq_q = Sq; f.seq_k = k.size(2); f.head_dim = D;
  f.scale = float(scale); f.causal = causal; f.causal_offset = 0;
  at::Tensor b;
  if (bias) {
    b = bias->expand({B, H, Sq, k.size(2)});
    f.bias = b.data_ptr(); f.bias_batch_stride = b.stride(0); f.bias_head_stride = b.stride(1);
    f.bias_row_stride = b.stride(2); f.bias_col_stride = b.stride(3);
  }
  f.lse = lse.data_ptr<float>(); f.lse_batch_stride = lse.stride(0); f.lse_head_stride = lse.stride(1);
  f.lse_rows = lse.size(2);
  A::cuda::forward_variant(f, int(variant));
  return {out, lse};
}
"""


def reference(q, k, v, bias, causal, scale):
    q, k, v = q.double(), k.double(), v.double()
    rep = q.size(1) // k.size(1)
    k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
    s = q @ k.transpose(-1, -2) * scale
    if bias is not None:
        s = s + bias.double()
    if causal:
        s = s.masked_fill(torch.ones(s.shape[-2:], dtype=torch.bool, device=s.device).triu(1), float("-inf"))
    lse = torch.logsumexp(s, -1)
    return torch.softmax(s, -1) @ v, lse


def main():
    ext = load_inline("gf_attention_fp32_standalone", cpp_sources=CPP, cuda_sources=CUDA, functions=["forward"],
                      extra_include_paths=[os.path.join(ROOT, "csrc")],
                      extra_cflags=["-O2", "-DGEMFORGE_WITH_CUDA"],
                      extra_cuda_cflags=["-O3", "-DGEMFORGE_WITH_CUDA", "--expt-relaxed-constexpr",
                                         "--extended-lambda", "-gencode=arch=compute_90a,code=sm_90a"],
                      verbose=False)
    torch.manual_seed(0)
    worst = 0.0
    for (B, H, Hk, Sq, Sk, D, causal, with_bias) in [
            (2, 4, 4, 128, 128, 64, False, False), (2, 4, 4, 200, 333, 64, False, False),
            (1, 8, 2, 77, 77, 128, True, False), (2, 4, 4, 300, 300, 128, True, False),
            (1, 2, 2, 65, 130, 40, False, True), (2, 3, 3, 129, 129, 96, True, True),
            (1, 2, 1, 1, 500, 128, False, False), (2, 2, 2, 64, 64, 4, False, True)]:
        q = torch.randn(B, H, Sq, D, device="cuda")
        k = torch.randn(B, Hk, Sk, D, device="cuda")
        v = torch.randn(B, Hk, Sk, D, device="cuda")
        # rows padded to 16 floats, as SDPA pads them (torch's kernel takes 16-byte aligned rows only)
        bias = torch.randn(B, 1, Sq, (Sk + 15) // 16 * 16, device="cuda")[..., :Sk] if with_bias else None
        if with_bias:
            bias[:, :, 3, :] = float("-inf")  # a fully masked row: zeros and -inf, as torch's
        scale = D ** -0.5
        ref, ref_lse = reference(q, k, v, bias, causal, scale)
        if with_bias:
            ref[:, :, 3] = 0
        fin = torch.isfinite(ref_lse)
        line = []
        for variant in ((0, 1, 2, 5) if D <= 64 else (3, 4)):
            out, lse = ext.forward(q, k, v, bias, causal, scale, variant)
            err = ((out.double() - ref).abs().max() / ref.abs().max()).item()
            lerr = (lse[..., :Sq].double() - ref_lse)[fin].abs().max().item()
            masked_ok = (not with_bias) or bool((lse[:, :, 3] == float("-inf")).all())
            pad_ok = bool((lse[..., Sq:] == float("inf")).all())
            worst = max(worst, err)
            line.append(f"v{variant} {err:.1e}/{lerr:.1e}{'' if masked_ok and pad_ok else ' LSE BAD'}")
        print(f"B{B} H{H}/{Hk} Sq{Sq} Sk{Sk} D{D} causal={causal} bias={with_bias}: out rel / lse abs err: "
              + ", ".join(line), flush=True)
        if Hk == H:
            with sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):
                t = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=causal)
            terr = ((t.double() - ref).nan_to_num().abs().max() / ref.abs().max()).item()
            print(f"    torch's efficient kernel: out rel err {terr:.2e}", flush=True)
    print(f"worst out rel err {worst:.2e}; variants: {VARIANTS}")

    for name, (B, H, S, D, causal) in {"bert": (8, 12, 512, 64, False), "llama": (4, 32, 1024, 128, True),
                                       "clip": (2, 16, 577, 64, False), "llava-text": (2, 32, 832, 128, True),
                                       "S4096 D128": (4, 32, 4096, 128, False), "S4096 D64": (4, 32, 4096, 64, True)}.items():
        q, k, v = (torch.randn(B, H, S, D, device="cuda") for _ in range(3))
        with sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):
            t_torch = timeit(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal))
        flops = 4 * B * H * S * S * D / (2 if causal else 1)
        line = []
        for variant in ((0, 1, 2, 5) if D <= 64 else (3, 4)):
            t_ours = timeit(lambda: ext.forward(q, k, v, None, causal, D ** -0.5, variant))
            line.append(f"v{variant} {t_ours:.0f} us {t_torch / t_ours:.2f}x")
        print(f"{name} B{B} H{H} S{S} D{D} causal={causal}: torch {t_torch:.0f} us ({flops / t_torch / 1e6:.1f} TFLOP/s); "
              + ", ".join(line), flush=True)

    # BERT's padding mask as the efficient op takes it: a float bias broadcast over heads and rows.
    B, H, S, D = 8, 12, 512, 64
    q, k, v = (torch.randn(B, H, S, D, device="cuda") for _ in range(3))
    bias = torch.zeros(B, 1, 1, S, device="cuda")
    bias[..., S - 100:] = float("-inf")
    bias = bias.expand(B, H, S, S)
    t_torch = timeit(lambda: torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, bias, True))
    line = []
    for variant in (0, 1, 2, 5):
        t_ours = timeit(lambda: ext.forward(q, k, v, bias, False, D ** -0.5, variant))
        line.append(f"v{variant} {t_ours:.0f} us {t_torch / t_ours:.2f}x")
    print(f"bert padding mask B{B} H{H} S{S} D{D}: torch {t_torch:.0f} us; " + ", ".join(line), flush=True)


if __name__ == "__main__":
    main()
