"""fp8 _scaled_mm (tensor-wise e4m3 -> bf16): torch against gemforge in one process. Run it
twice to compare cuBLASLt's first heuristic pick with gemm tuning (every candidate timed once
per shape):

    python scripts/dev/scaled_mm_probe.py [--shapes 1024x11008x4096,...]        (m x k x n)
    GEMFORGE_GEMM_TUNE=1 GEMFORGE_CACHE_DIR=$(mktemp -d) python scripts/dev/scaled_mm_probe.py
"""
import argparse
import os

import torch

import gemforge


def timed(fn, reps=50):
    for _ in range(5):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(5):
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) * 1e3 / reps)
    return sorted(times)[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="1024x11008x4096,1024x4096x11008,4096x11008x4096,"
                                        "1024x14336x4096,8192x8192x8192,8192x14336x4096")
    args = ap.parse_args()
    tuned = os.environ.get("GEMFORGE_GEMM_TUNE", "") not in ("", "0")
    print(f"{torch.cuda.get_device_name(0)}, gemm tuning {'on' if tuned else 'off'}")
    print("| m x k x n | torch us | gemforge us | torch TFLOP/s | x torch | max diff |")
    print("|---|---:|---:|---:|---:|---:|")
    for shape in args.shapes.split(","):
        m, k, n = map(int, shape.split("x"))
        a = torch.randn(m, k, device="cuda").clamp_(-4, 4).to(torch.float8_e4m3fn)
        b = torch.randn(n, k, device="cuda").clamp_(-4, 4).to(torch.float8_e4m3fn).t()
        sa, sb = torch.tensor(0.5, device="cuda"), torch.tensor(2.0, device="cuda")
        run = lambda: torch._scaled_mm(a, b, sa, sb, out_dtype=torch.bfloat16)  # noqa: E731
        ref = run()
        t_torch = timed(run)
        with gemforge.use_gems():
            got = run()
            t_gems = timed(run)
        err = (got.float() - ref.float()).abs().max().item()
        flops = 2 * m * n * k
        print(f"| {shape} | {t_torch:.1f} | {t_gems:.1f} | {flops / t_torch / 1e6:.0f} | "
              f"{t_torch / t_gems:.2f} | {err:.3g} |")


if __name__ == "__main__":
    main()
