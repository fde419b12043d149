"""The scan engine's row kernels alone (scripts/dev/scan_probe.cpp with csrc/backends/cuda/scan.cu),
and optionally another version of scan.cu (--other FILE), checked against torch and timed beside
it in one process, on one GPU.

    python scripts/dev/scan_probe.py [--other scripts/dev/scan_old.cu]
"""
import argparse
import os
import sys
import time

import torch
from torch.utils.cpp_extension import load

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attention_probe  # noqa: E402  (its timing loop)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPS = {"cumsum": 0, "cumprod": 1, "cummax": 2, "cummin": 3, "logcumsumexp": 4}


def build(name, source):
    t0 = time.time()
    mod = load(name=f"gf_scan_probe_{name}", sources=[f"{ROOT}/scripts/dev/scan_probe.cpp", source],
               extra_include_paths=[f"{ROOT}/csrc"], extra_cflags=["-O2", "-DGEMFORGE_WITH_CUDA"],
               extra_cuda_cflags=["-O3", "-gencode=arch=compute_90a,code=sm_90a", "-DGEMFORGE_WITH_CUDA",
                                  "--expt-relaxed-constexpr"], verbose=False)
    print(f"built {name} in {time.time() - t0:.0f} s", flush=True)
    return mod


def torch_op(name, x):
    if name == "cummax":
        return list(torch.cummax(x, 1))
    if name == "cummin":
        return list(torch.cummin(x, 1))
    return [getattr(torch, name)(x, 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--other", default=None, help="another scan.cu to time beside the tree's")
    args = ap.parse_args()
    mods = [("gemforge", build("tree", f"{ROOT}/csrc/backends/cuda/scan.cu"))]
    if args.other:
        mods.append(("other", build("other", os.path.abspath(args.other))))
    print(torch.cuda.get_device_name(), torch.__version__, "; microseconds (GB/s of values read + written)")
    print(f"{'op':14} {'dtype':9} {'shape':11} " + " ".join(f"{n:>16}" for n, _ in mods) + f" {'torch':>16}")
    bad = 0
    cases = [("cumsum", torch.float32, 1024, 8192), ("cumsum", torch.float32, 4096, 4096),
             ("cumsum", torch.bfloat16, 4096, 4096), ("cumsum", torch.float32, 16, 262144),
             ("cumsum", torch.float32, 65536, 128), ("cumsum", torch.float32, 8192, 1000),
             ("cumprod", torch.float32, 4096, 4096), ("cummax", torch.float32, 4096, 4096),
             ("cummax", torch.bfloat16, 4096, 4096), ("cummin", torch.float32, 333, 5001),
             ("logcumsumexp", torch.float32, 4096, 4096), ("logcumsumexp", torch.bfloat16, 4096, 4096)]
    for name, dt, rows, n in cases:
        x = torch.randn(rows, n, device="cuda", dtype=dt)
        indexed = name in ("cummax", "cummin")  # values and int64 indices
        if name == "cumprod":
            x = 1 + x * 1e-3
        for _, m in mods:
            ours, ref = m.run(x, OPS[name]), torch_op(name, x if indexed else x.double())
            err = (ours[0].double() - ref[0].double()).abs().max().item() / (1 + ref[0].double().abs().max().item())
            ok = err < (1e-2 if dt == torch.bfloat16 else 1e-4)
            if len(ours) > 1:
                ok = ok and torch.equal(ours[1], ref[1])
            if not ok:
                bad += 1
                print(f"FAIL {name} {dt} {rows}x{n}: err {err:.3g}")
        t = attention_probe.bench_all([lambda m=m: m.run(x, OPS[name]) for _, m in mods] + [lambda: torch_op(name, x)],
                                      rounds=7, iters=10)
        nbytes = 2 * x.numel() * x.element_size() + (x.numel() * 8 if indexed else 0)
        print(f"{name:14} {str(dt)[6:]:9} {f'{rows}x{n}':11} "
              + " ".join(f"{us * 1e6:7.2f} ({nbytes / us / 1e9:5.0f})" for us in t), flush=True)
    print("check:", "ok" if bad == 0 else f"{bad} failed")
    return bad == 0


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
