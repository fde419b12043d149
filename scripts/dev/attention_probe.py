"""Compile the attention kernels alone (scripts/dev/attention_probe.cpp) and try them against a
float64 reference and torch's SDPA backends, on one GPU, in about a minute.

    python scripts/dev/attention_probe.py [--bench]
"""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.cpp_extension import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(persistent=None, name="", flags=()):
    """persistent: None for the kernel's own schedule, or force the Hopper kernel's: 0 a block a
    tile, 1 persistent with a static split, 2 persistent with a tile counter. name, flags: a
    variant built with extra nvcc flags."""
    t0 = time.time()
    flags = list(flags) + ([] if persistent is None else [f"-DGEMFORGE_ATTENTION_PERSISTENT={persistent}"])
    mod = load(name="gf_attention_probe" + ("" if persistent is None else f"_p{persistent}") + name,
               sources=[f"{ROOT}/scripts/dev/attention_probe.cpp", f"{ROOT}/csrc/backends/cuda/attention_fwd.cu",
                        f"{ROOT}/csrc/backends/cuda/attention_fwd_sm90.cu"],
               extra_include_paths=[f"{ROOT}/csrc"],
               extra_cflags=["-O2", "-DGEMFORGE_WITH_CUDA"],
               extra_cuda_cflags=["-O3", "-gencode=arch=compute_90a,code=sm_90a", "-DGEMFORGE_WITH_CUDA"] + flags,
               verbose=False)
    print(f"built in {time.time() - t0:.0f} s", flush=True)
    return mod


def reference(q, k, v, bias, causal, offset, scale):
    q, k, v = q.double(), k.double(), v.double()
    if k.shape[1] != q.shape[1]:
        r = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(r, 1), v.repeat_interleave(r, 1)
    s = q @ k.transpose(-1, -2) * scale
    if bias is not None:
        s = s + bias.double()
    if causal:
        i = torch.arange(q.shape[2], device=q.device)[:, None]
        j = torch.arange(k.shape[2], device=q.device)[None, :]
        s = s.masked_fill(j > i + offset, -math.inf)
    m = s.amax(-1, keepdim=True)
    p = torch.exp(s - torch.where(torch.isinf(m), torch.zeros_like(m), m))
    l = p.sum(-1, keepdim=True)
    out = torch.where(l > 0, p / l, torch.zeros_like(p)) @ v
    lse = torch.where(l[..., 0] > 0, torch.log(l[..., 0]) + m[..., 0], torch.full_like(m[..., 0], -math.inf))
    return out, lse


def check(mod):
    torch.manual_seed(0)
    bad = 0
    cases = []
    for dtype in (torch.bfloat16, torch.float16):
        for d in (64, 128, 256, 80, 8):
            for (sq, sk) in ((1, 1), (64, 64), (100, 77), (77, 300), (257, 130), (128, 1)):
                for causal, off in ((False, 0), (True, 0), (True, sk - sq)):
                    cases.append((dtype, 2, 4, 2, sq, sk, d, causal, off, False))
        # several key tiles: the producer's two-stage ring wraps around
        cases.append((dtype, 1, 4, 1, 1000, 1000, 128, False, 0, False))
        cases.append((dtype, 1, 4, 1, 1000, 1000, 128, True, 0, False))
        cases.append((dtype, 2, 8, 2, 513, 2047, 64, False, 0, False))
        cases.append((dtype, 1, 2, 2, 700, 1500, 256, True, 800, False))
        cases.append((dtype, 1, 8, 1, 200, 333, 128, False, 0, True))
        cases.append((dtype, 2, 4, 4, 129, 129, 64, True, 0, True))
        # even key counts: the Hopper kernel reads the bias in pairs
        cases.append((dtype, 2, 4, 2, 300, 258, 128, False, 0, True))
        cases.append((dtype, 1, 2, 2, 257, 514, 256, True, 257, True))
        cases.append((dtype, 2, 8, 1, 700, 1000, 64, True, 0, True))
        cases.append((dtype, 2, 4, 4, 130, 130, 128, False, 0, "row"))
    for (dtype, b, hq, hk, sq, sk, d, causal, off, with_bias) in cases:
        # non-contiguous q/k/v: [b, s, h, d] memory viewed as [b, h, s, d]
        q = torch.randn(b, sq, hq, d, device="cuda", dtype=dtype).transpose(1, 2)
        k = torch.randn(b, sk, hk, d, device="cuda", dtype=dtype).transpose(1, 2)
        v = torch.randn(b, sk, hk, d, device="cuda", dtype=dtype).transpose(1, 2)
        bias = None
        if with_bias == "row":  # a padding mask: one row of keys, broadcast over queries
            bias = torch.randn(b, 1, 1, sk, device="cuda", dtype=dtype).expand(b, 1, sq, sk)
        elif with_bias:
            bias = torch.randn(b, 1, sq, sk, device="cuda", dtype=dtype)
            bias[:, :, 3] = -math.inf  # a fully masked row
        scale = 1 / math.sqrt(d)
        out, lse = mod.forward(q, k, v, bias, causal, off, scale)
        ro, rl = reference(q, k, v, bias, causal, off, scale)
        err = (out.double() - ro).abs().max().item()
        lerr = (torch.nan_to_num(lse.double(), neginf=-1e30) - torch.nan_to_num(rl, neginf=-1e30)).abs().max().item()
        tol = 2e-2 if dtype == torch.bfloat16 else 4e-3
        ok = err < tol and lerr < 1e-3 and not out.isnan().any()
        bad += not ok
        if not ok:
            print(f"FAIL {dtype} b{b} hq{hq} hk{hk} sq{sq} sk{sk} d{d} causal{causal} off{off} bias{with_bias}: "
                  f"out err {err:.3g} lse err {lerr:.3g}", flush=True)
    # packed sequences (Hopper kernel): each sequence against the dense reference
    for dtype in (torch.bfloat16, torch.float16):
        for d in (64, 128, 256):
            for causal in (False, True):
                lens_q, lens_k = [300, 1, 0, 129, 513], [300, 1, 5, 200, 700]
                hq, hk = 4, 2
                q = torch.randn(sum(lens_q), hq, d, device="cuda", dtype=dtype)
                k = torch.randn(sum(lens_k), hk, d, device="cuda", dtype=dtype)
                v = torch.randn(sum(lens_k), hk, d, device="cuda", dtype=dtype)
                cu_q = torch.tensor([0] + lens_q, device="cuda").cumsum(0).int()
                cu_k = torch.tensor([0] + lens_k, device="cuda").cumsum(0).int()
                out = mod.forward_varlen(q, k, v, cu_q, cu_k, max(lens_q), max(lens_k), causal, d ** -0.5)
                err = 0.0
                for b in range(len(lens_q)):
                    q0, q1, k0, k1 = cu_q[b].item(), cu_q[b + 1].item(), cu_k[b].item(), cu_k[b + 1].item()
                    if q1 == q0:
                        continue
                    ro, _ = reference(q[None, q0:q1].transpose(1, 2), k[None, k0:k1].transpose(1, 2),
                                      v[None, k0:k1].transpose(1, 2), None, causal, (k1 - k0) - (q1 - q0), d ** -0.5)
                    err = max(err, (out[q0:q1].double() - ro[0].transpose(0, 1)).abs().max().item())
                tol = 2e-2 if dtype == torch.bfloat16 else 4e-3
                cases.append(None)
                if not err < tol:
                    bad += 1
                    print(f"FAIL varlen {dtype} d{d} causal{causal}: err {err:.3g}", flush=True)
    print(f"check: {len(cases) - bad}/{len(cases)} cases ok", flush=True)
    return bad == 0


def bench_all(fns, rounds=6, iters=5):
    """Median seconds a call of each fn, timed in turns (a batch of calls each, round after
    round) so that the card's clock drift over the run reaches every fn alike; the calls of a
    batch queue back to back, so host time hides behind the kernels as in real use."""
    for fn in fns:
        for _ in range(3):
            fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start.record()
            for _ in range(iters):
                fn()
            end.record()
            torch.cuda.synchronize()
            times[i].append(start.elapsed_time(end) / iters)
    return [sorted(t)[len(t) // 2] * 1e-3 for t in times]


def bench(fn):
    return bench_all([fn])[0]


def speed(mods, seqs=(1024, 4096)):
    """mods: (column name, module) pairs, each timed beside torch's three SDPA kernels."""
    print(f"{'case':44} " + " ".join(f"{name:>9}" for name, _ in mods) + f" {'cudnn':>9} {'flash':>9} {'effic':>9}  TFLOP/s")
    mod = mods[0][1]
    for d in (64, 128, 256):
        for s in seqs:
            for causal in (False, True):
                b, h = (4, 32) if d <= 128 else (4, 16)
                q, k, v = (torch.randn(b, s, h, d, device="cuda", dtype=torch.bfloat16).transpose(1, 2) for _ in range(3))
                flops = 4 * b * h * s * s * d / (2 if causal else 1)
                fns = [lambda m=m: m.forward(q, k, v, None, causal, 0, d ** -0.5) for _, m in mods]
                for be in (SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
                    def run(be=be):
                        with sdpa_kernel([be]):
                            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    fns.append(run)
                row = bench_all(fns)
                print(f"B{b} H{h} S{s} D{d} {'causal' if causal else '      '}".ljust(44)
                      + " ".join(f"{flops / t / 1e12:9.0f}" for t in row), flush=True)
    # masks: torch takes efficient or cudnn attention
    for b, h, s, d, kind in ((4, 32, 2048, 128, "full"), (4, 32, 2048, 128, "padding"), (4, 32, 4096, 128, "full"),
                             (16, 16, 512, 64, "padding"), (4, 16, 2048, 256, "full")):
        q, k, v = (torch.randn(b, s, h, d, device="cuda", dtype=torch.bfloat16).transpose(1, 2) for _ in range(3))
        if kind == "full":
            mask = torch.rand(b, 1, s, s, device="cuda") > 0.1
        else:
            mask = torch.ones(b, 1, 1, s, device="cuda", dtype=torch.bool)
            mask[..., s - 100:] = False
        fmask = torch.zeros(mask.shape, device="cuda", dtype=torch.bfloat16).masked_fill(~mask, -math.inf)
        fmask = fmask.expand(b, 1, s, s)
        flops = 4 * b * h * s * s * d
        fns = [lambda m=m: m.forward(q, k, v, fmask, False, 0, d ** -0.5) for _, m in mods]
        for be in (SDPBackend.CUDNN_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
            def run(be=be):
                with sdpa_kernel([be]):
                    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            fns.append(run)
        fns.append(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
        row = bench_all(fns)
        print(f"masked ({kind}) B{b} H{h} S{s} D{d}".ljust(44) + " ".join(f"{flops / t / 1e12:9.0f}" for t in row)
              + "  (ours..., cudnn, efficient, torch default)", flush=True)


def probe_torch():
    """What torch's own attention ops return on this card (shapes of logsumexp, causal alignment)."""
    q = torch.randn(2, 4, 100, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(2, 4, 300, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn(2, 4, 300, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    for name in ("_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
                 "_scaled_dot_product_cudnn_attention"):
        op = getattr(torch.ops.aten, name)
        try:
            if "flash" in name:
                r = op(q, k, v, 0.0, True)
            elif "efficient" in name:
                r = op(q, k, v, None, True, 0.0, True)
            else:
                r = op(q, k, v, None, True, 0.0, True)
        except Exception as e:
            print(name, "raised", type(e).__name__, str(e)[:200])
            continue
        desc = [f"{tuple(x.shape)}:{x.dtype}:{tuple(x.stride())}" if isinstance(x, torch.Tensor) else repr(x) for x in r]
        tl, _ = reference(q.detach(), k.detach(), v.detach(), None, True, 0, 64 ** -0.5)
        br, _ = reference(q.detach(), k.detach(), v.detach(), None, True, 200, 64 ** -0.5)
        o = r[0].double()
        if "cudnn" in name or "flash" in name:
            _, ref_lse = reference(q.detach(), k.detach(), v.detach(), None, True, 0 if "cudnn" in name else 200,
                                   64 ** -0.5)
            print(name, f"logsumexp against the natural-log reference: {(r[1].reshape(ref_lse.shape).double() - ref_lse).abs().max().item():.3g}")
        print(name, desc, f"top-left err {(o - tl).abs().max().item():.3g} bottom-right err {(o - br).abs().max().item():.3g}")
    print("sdpa default choice (bf16, no mask):", torch._fused_sdp_choice(q, k, v, is_causal=True))
    mask = torch.ones(2, 1, 100, 300, device="cuda", dtype=torch.bool)
    print("sdpa default choice (bf16, bool mask):", torch._fused_sdp_choice(q, k, v, attn_mask=mask),
          "float mask:", torch._fused_sdp_choice(q, k, v, attn_mask=torch.zeros(2, 1, 100, 300, device="cuda", dtype=q.dtype)))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--compare-grid", action="store_true",
                    help="also time the Hopper kernel forced persistent and forced one block a tile")
    ap.add_argument("--masks-only", action="store_true", help="--bench: only the masked cases")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=FLAGS: --bench also times the kernels built with these nvcc flags "
                         "(e.g. stages3=-DGEMFORGE_ATTENTION_STAGES=3)")
    ap.add_argument("--seqs", default="1024,4096", help="sequence lengths of --bench")
    args = ap.parse_args()
    mod = build()
    probe_torch()
    ok = check(mod)
    if args.bench:
        mods = [("gemforge", mod)]
        if args.compare_grid:
            mods += [("counter", build(2)), ("static", build(1))]
        for v in args.variant:
            name, _, flags = v.partition("=")
            mods.append((name, build(name=f"_{name}", flags=flags.split())))
        speed(mods, [] if args.masks_only else [int(s) for s in args.seqs.split(",")])
    sys.exit(0 if ok else 1)
