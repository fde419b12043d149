"""Times torch's default SDPA pick (cudnn on Hopper) against gemforge's kernel at the attention
shapes the sample models call (python -m gemforge.models), forward and forward + backward, and
(--sweep) over a grid of lengths, to decide where gemforge serves the cudnn op without a bias
(ops/attention.cpp).

    python scripts/dev/attention_models_probe.py [--sweep] [--reps 50]

torch: F.scaled_dot_product_attention with gemforge disabled (torch's pick).
forced: the same call, enabled, inside sdpa_kernel(FLASH_ATTENTION): gemforge's kernel through
the flash op, the kernel the cudnn op calls when gemforge serves it.
routed (--sweep): the plain call, enabled: whichever kernel gemforge's routing picks.
"""
import argparse

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

import gemforge

# (name, batch, heads, q length, kv length, head dim, causal)
SHAPES = [
    ("bert infer", 8, 12, 512, 512, 64, False),
    ("clip (llava)", 2, 16, 577, 577, 64, False),
    ("llama infer", 4, 32, 1024, 1024, 128, True),
    ("llava text", 2, 32, 832, 832, 128, True),
    ("llama prompt", 4, 32, 128, 128, 128, True),
    ("decode kv 136", 4, 32, 1, 136, 128, False),
]


def timed_us(fn, reps):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e3)
    times.sort()
    return times[len(times) // 2]


def qkv(b, h, sq, sk, d):
    """bf16 q, k, v as SDPA usually sees them: [B, S, H, D] memory viewed as [B, H, S, D]."""
    q = torch.randn(b, sq, h, d, device="cuda", dtype=torch.bfloat16).transpose(1, 2)
    k, v = (torch.randn(b, sk, h, d, device="cuda", dtype=torch.bfloat16).transpose(1, 2) for _ in range(2))
    return q, k, v


def sweep_shapes():
    """(batch, heads, q length, kv length, head dim, causal): lengths on and off 128 multiples at
    8k tokens a batch, and short queries over a longer cache."""
    for d in (64, 128):
        h = 16 if d == 64 else 32
        for s in (200, 256, 512, 577, 832, 1000, 1024, 1500, 2048, 2100, 3000, 4000):
            for causal in (False, True):
                yield max(1, 8192 // s), h, s, s, d, causal
    for sq in (1, 16, 128):
        for sk in (128, 512, 1024, 1500, 2048, 4096, 16384):
            if sk >= sq:
                yield 4, 32, sq, sk, 128, sq == sk


def sweep(reps):
    print("| shape | torch (default) us | forced us | routed us | forced speedup | routed speedup | cudnn op "
          "served |")
    print("|---|---:|---:|---:|---:|---:|---|")
    op = "_scaled_dot_product_cudnn_attention"
    for b, h, sq, sk, d, causal in sweep_shapes():
        q, k, v = qkv(b, h, sq, sk, d)

        def fwd():
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

        gemforge.disable()
        t_torch = timed_us(fwd, reps)
        gemforge.enable()
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            t_forced = timed_us(fwd, reps)
        t_routed = timed_us(fwd, reps)
        gemforge.record_stats(True)
        before = gemforge.served_calls(op)
        fwd()
        served = gemforge.served_calls(op) > before
        gemforge.record_stats(False)
        gemforge.disable()
        print(f"| B{b} H{h} Sq{sq} Sk{sk} D{d}{' causal' if causal else ''} | {t_torch:.1f} | {t_forced:.1f} | "
              f"{t_routed:.1f} | {t_torch / t_forced:.2f} | {t_torch / t_routed:.2f} | "
              f"{'yes' if served else 'no'} |", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--sweep", action="store_true")
    args = ap.parse_args()
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    if args.sweep:
        sweep(args.reps)
        return
    print("| shape | pass | torch (default) us | gemforge us | speedup | max abs diff |")
    print("|---|---|---:|---:|---:|---:|")
    torch.manual_seed(0)
    for name, b, h, sq, sk, d, causal in SHAPES:
        q, k, v = qkv(b, h, sq, sk, d)
        grad = torch.randn(b, h, sq, d, device="cuda", dtype=torch.bfloat16)
        leaves = [t.detach().requires_grad_() for t in (q, k, v)]

        def fwd():
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

        def fwd_bwd():
            out = F.scaled_dot_product_attention(*leaves, is_causal=causal)
            out.backward(grad)

        for label, fn in (("fwd", fwd), ("fwd+bwd", fwd_bwd)):
            gemforge.disable()
            ref = fwd()
            t_torch = timed_us(fn, args.reps)
            gemforge.enable()
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                got = fwd()
                t_ours = timed_us(fn, args.reps)
            gemforge.disable()
            diff = (ref.float() - got.float()).abs().max().item()
            print(f"| {name} B{b} H{h} Sq{sq} Sk{sk} D{d}{' causal' if causal else ''} | {label} | "
                  f"{t_torch:.1f} | {t_ours:.1f} | {t_torch / t_ours:.2f} | {diff:.3g} |", flush=True)


if __name__ == "__main__":
    main()
