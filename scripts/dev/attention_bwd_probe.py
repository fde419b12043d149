"""Compile the attention backward kernels alone (scripts/dev/attention_bwd_probe.cpp), check
dQ, dK, dV against a float64 autograd reference and time them against torch's efficient and
flash backward ops, on one GPU, in about two minutes.

    python scripts/dev/attention_bwd_probe.py [--bench-only | --check-only]
"""
import argparse
import math
import os
import sys
import time

import torch
from torch.utils.cpp_extension import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build():
    t0 = time.time()
    mod = load(name="gf_attention_bwd_probe",
               sources=[f"{ROOT}/scripts/dev/attention_bwd_probe.cpp", f"{ROOT}/csrc/backends/cuda/attention_bwd.cu"],
               extra_include_paths=[f"{ROOT}/csrc"],
               extra_cflags=["-O2", "-DGEMFORGE_WITH_CUDA"],
               extra_cuda_cflags=["-O3", "-gencode=arch=compute_90a,code=sm_90a", "-DGEMFORGE_WITH_CUDA",
                                  "-lineinfo"],
               verbose=False)
    print(f"built in {time.time() - t0:.0f} s", flush=True)
    return mod


def reference(q, k, v, dout, causal, offset, scale):
    """out, natural-log lse and (dq, dk, dv) in float64; a row that sees no key gives 0, -inf, 0."""
    q, k, v = (t.detach().double().requires_grad_(True) for t in (q, k, v))
    kk, vv = k, v
    if k.shape[1] != q.shape[1]:
        r = q.shape[1] // k.shape[1]
        kk, vv = k.repeat_interleave(r, 1), v.repeat_interleave(r, 1)
    s = q @ kk.transpose(-1, -2) * scale
    if causal:
        i = torch.arange(q.shape[2], device=q.device)[:, None]
        j = torch.arange(k.shape[2], device=q.device)[None, :]
        s = s.masked_fill(j > i + offset, -math.inf)
    m = s.amax(-1, keepdim=True).detach()
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    p = torch.exp(s - m)
    l = p.sum(-1, keepdim=True)
    out = (p / torch.where(l > 0, l, torch.ones_like(l))) @ vv
    lse = torch.where(l[..., 0] > 0, torch.log(l[..., 0]) + m[..., 0], torch.full_like(l[..., 0], -math.inf))
    out.backward(dout.double())
    return out.detach(), lse.detach(), (q.grad, k.grad, v.grad)


def make(b, hq, hk, sq, sk, d, dtype):
    """q, k, v, dout as SDPA usually sees them: [B, S, H, D] memory viewed as [B, H, S, D]."""
    q = torch.randn(b, sq, hq, d, device="cuda", dtype=dtype).transpose(1, 2)
    k = torch.randn(b, sk, hk, d, device="cuda", dtype=dtype).transpose(1, 2)
    v = torch.randn(b, sk, hk, d, device="cuda", dtype=dtype).transpose(1, 2)
    dout = torch.randn(b, sq, hq, d, device="cuda", dtype=dtype).transpose(1, 2)
    return q, k, v, dout


def check(mod):
    torch.manual_seed(0)
    # (b, hq, hk, sq, sk, causal, causal offset) at every head dim and dtype, plus odd head dims
    shapes = [(2, 4, 4, 1, 1, False, 0), (2, 4, 4, 17, 17, True, 0), (1, 4, 4, 100, 77, False, 0),
              (1, 4, 1, 77, 300, True, 0), (1, 8, 2, 257, 130, True, -127), (1, 8, 1, 130, 257, True, 127),
              (1, 4, 4, 64, 128, True, -32), (1, 8, 2, 1000, 1000, True, 0)]
    cases = [s + (d, dt) for dt in (torch.bfloat16, torch.float16) for d in (64, 128, 256) for s in shapes]
    cases += [(1, 4, 4, 1000, 333, False, 0, 128, torch.bfloat16), (2, 2, 2, 100, 100, True, 0, 80, torch.float16),
              (2, 2, 2, 100, 100, False, 0, 8, torch.bfloat16), (2, 2, 2, 33, 65, True, 0, 200, torch.bfloat16)]
    bad = 0
    for (b, hq, hk, sq, sk, causal, off, d, dtype) in cases:
        q, k, v, dout = make(b, hq, hk, sq, sk, d, dtype)
        scale = 1 / math.sqrt(d)
        ro, rl, grads = reference(q, k, v, dout, causal, off, scale)
        out = ro.to(dtype)
        lse = torch.full((b, hq, (sq + 31) // 32 * 32), math.inf, device="cuda")
        lse[..., :sq] = rl.float()
        got = mod.backward(dout, q, k, v, out, lse, causal, off, scale)
        tol = 3e-2 if dtype == torch.bfloat16 else 6e-3
        errs = []
        for g, r in zip(got, grads):
            den = r.abs().max().item() or 1.0
            errs.append((g.double() - r).abs().max().item() / den if g.isfinite().all() else math.inf)
        ok = all(e < tol for e in errs)
        bad += not ok
        if not ok:
            print(f"FAIL {str(dtype)[6:]} b{b} hq{hq} hk{hk} sq{sq} sk{sk} d{d} causal{causal} off{off}: "
                  f"rel err dq {errs[0]:.3g} dk {errs[1]:.3g} dv {errs[2]:.3g}", flush=True)
    print(f"check: {len(cases) - bad}/{len(cases)} cases ok", flush=True)
    return bad == 0


def bench(fn, iters=10):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2] * 1e-3


def speed(mod):
    aten = torch.ops.aten
    rows = []
    b, h, d = 4, 32, 128
    for s in (1024, 2048, 4096, 8192):
        for causal in (False, True):
            q, k, v, dout = make(b, h, h, s, s, d, torch.bfloat16)
            flops = 2.5 * 4 * b * h * s * s * d / (2 if causal else 1)
            row = []
            out, lse, seed, offset = aten._scaled_dot_product_efficient_attention(q, k, v, None, True, 0.0, causal)
            # agreement with torch's efficient backward at this size: largest |diff| / largest |grad|
            ours = mod.backward(dout, q, k, v, out, lse, causal, 0, d ** -0.5)
            theirs = aten._scaled_dot_product_efficient_attention_backward(
                dout, q, k, v, None, out, lse, seed, offset, 0.0, [True, True, True, False], causal)
            diff = max(((x.float() - y.float()).abs().max() / y.float().abs().max()).item()
                       for x, y in zip(ours, theirs[:3]))
            del ours, theirs
            row.append(bench(lambda: mod.backward(dout, q, k, v, out, lse, causal, 0, d ** -0.5)))
            row.append(bench(lambda: aten._scaled_dot_product_efficient_attention_backward(
                dout, q, k, v, None, out, lse, seed, offset, 0.0, [True, True, True, False], causal)))
            try:
                fo = aten._scaled_dot_product_flash_attention(q, k, v, 0.0, causal)
                row.append(bench(lambda: aten._scaled_dot_product_flash_attention_backward(
                    dout, q, k, v, fo[0], fo[1], fo[2], fo[3], fo[4], fo[5], 0.0, causal, fo[6], fo[7])))
            except Exception as e:  # noqa: BLE001
                print("flash backward:", type(e).__name__, str(e)[:120])
                row.append(float("nan"))
            rows.append((f"B{b} H{h} S{s} D{d} {'causal' if causal else ''}", [flops / t / 1e12 for t in row], diff))
    print(f"\n{'backward, bf16, TFLOP/s':34} {'gemforge':>9} {'efficient':>9} {'flash':>9} {'x effic':>8} {'x flash':>8}"
          f" {'rel diff':>9}")
    for name, (g, e, f), diff in rows:
        print(f"{name:34} {g:9.0f} {e:9.0f} {f:9.0f} {g / e:8.2f} {g / f:8.2f} {diff:9.2g}", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--check-only", action="store_true")
    ap.add_argument("--bench-only", action="store_true")
    args = ap.parse_args()
    mod = build()
    ok = True
    if not args.bench_only:
        ok = check(mod)
    if not args.check_only:
        speed(mod)
    sys.exit(0 if ok else 1)
