"""Where a patch-embedding convolution's time goes, torch (cuDNN) against gemforge: the kernels
of the forward and of the weight gradient under the profiler, and the host time a call.

    python scripts/dev/conv_probe.py
"""
import time

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

import gemforge


def step(x, w, g):
    return torch.autograd.grad(F.conv2d(x, w, stride=w.shape[-1]), w, g)


def main():
    for dtype in (torch.bfloat16, torch.float32):
        for n in (1, 8):
            x = torch.randn(n, 3, 336, 336, device="cuda", dtype=dtype)
            w = (torch.randn(1024, 3, 14, 14, device="cuda", dtype=dtype) / 24).requires_grad_()
            g = torch.randn(n, 1024, 24, 24, device="cuda", dtype=dtype)
            for name in ("torch", "gemforge"):
                ctx = gemforge.use_gems() if name == "gemforge" else torch.autograd.profiler.record_function("torch")
                with ctx:
                    for _ in range(5):
                        step(x, w, g)
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    for _ in range(20):
                        step(x, w, g)
                    torch.cuda.synchronize()
                    wall = (time.perf_counter() - t0) / 20 * 1e6
                    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
                        for _ in range(10):
                            step(x, w, g)
                        torch.cuda.synchronize()
                print(f"== {name} {dtype} N{n}: {wall:.1f} us a step (wall)", flush=True)
                rows = [e for e in prof.key_averages() if e.device_time_total > 0]
                rows.sort(key=lambda e: -e.device_time_total)
                for e in rows[:8]:
                    print(f"   {e.device_time_total / 10:9.1f} us  {e.count // 10:3d}x  {e.key[:110]}")


if __name__ == "__main__":
    main()
