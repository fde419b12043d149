"""Compile the row engine's softmax and norm forward kernels alone (scripts/dev/rows_probe.cpp),
check them against float64 and time them beside torch and a copy of the same bytes, on one GPU,
in about a minute. --variant NAME=FLAGS (repeatable) builds the kernels again with extra nvcc
flags (a -D switch the sources read) and times each build in its own column.

    python scripts/dev/rows_probe.py [--variant raw=-DMY_SWITCH=1] [--other DIR]

(2026-11-27, H100: holding 2-byte rows in registers in their dtype, 40 registers instead of 63,
was within 2% of holding them as float at 4096 columns and 12% slower at 65536x128: not kept.)
"""
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.cpp_extension import load

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attention_probe  # noqa: E402  (its timing loop)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(name, flags, root=None):
    """root: a folder laid out like csrc/ holding other versions of the row files (--other)."""
    t0 = time.time()
    src = root or f"{ROOT}/csrc"
    mod = load(name=f"gf_rows_probe_{name}",
               sources=[f"{ROOT}/scripts/dev/rows_probe.cpp", f"{src}/backends/cuda/rows_softmax.cu",
                        f"{src}/backends/cuda/rows_norm.cu"],
               extra_include_paths=[src, f"{ROOT}/csrc"], extra_cflags=["-O2", "-DGEMFORGE_WITH_CUDA"],
               extra_cuda_cflags=["-O3", "-gencode=arch=compute_90a,code=sm_90a", "-DGEMFORGE_WITH_CUDA",
                                  "--expt-relaxed-constexpr"] + flags,
               verbose=False)
    print(f"built {name} in {time.time() - t0:.0f} s", flush=True)
    return mod


def check(mod):
    torch.manual_seed(0)
    bad = total = 0
    for dtype in (torch.bfloat16, torch.float16, torch.float32):
        tol = {torch.bfloat16: 1e-2, torch.float16: 2e-3, torch.float32: 1e-5}[dtype]
        for rows, n in ((7, 8), (33, 1000), (5, 4096), (3, 16384), (2, 8200), (65, 128), (9, 1040)):
            x = torch.randn(rows, n, device="cuda", dtype=dtype) * 3
            x[0, 1] = -float("inf")
            w = torch.randn(n, device="cuda", dtype=dtype)
            b = torch.randn(n, device="cuda", dtype=dtype)
            xn = x.clone()
            xn[0, 1] = 0  # no inf into a norm
            xd, xnd = x.double(), xn.double()
            refs = {
                "softmax": (lambda: mod.softmax(x, False), torch.softmax(xd, -1)),
                "log_softmax": (lambda: mod.softmax(x, True), torch.log_softmax(xd, -1)),
                "layer_norm": (lambda: mod.norm(xn, w, b, False, 1e-5),
                               F.layer_norm(xnd, (n,), w.double(), b.double(), 1e-5)),
                "rms_norm": (lambda: mod.norm(xn, w, b, True, 1e-5), F.rms_norm(xnd, (n,), w.double(), 1e-5)),
            }
            for name, (fn, ref) in refs.items():
                out = fn().double()
                fin = torch.isfinite(ref)
                err = ((out - ref).abs() / (1 + ref.abs()))[fin].max().item()
                ok = err < tol * (8 if "norm" in name else 1) and bool((out[~fin] == ref[~fin]).all())
                total += 1
                bad += not ok
                if not ok:
                    print(f"FAIL {name} {dtype} {rows}x{n}: err {err:.3g}", flush=True)
    print(f"check: {total - bad}/{total} ok", flush=True)
    return bad == 0


def bench_all(fns):
    """Microseconds a call (attention_probe.bench_all, more calls: these kernels are short)."""
    return [t * 1e6 for t in attention_probe.bench_all(fns, rounds=7, iters=20)]


def speed(mods):
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}; microseconds (GB/s)")
    names = [n for n, _ in mods]
    print(f"{'op':12} {'dtype':9} {'shape':12} " + " ".join(f"{n:>16}" for n in names + ["torch", "copy"]))
    for dtype in (torch.bfloat16, torch.float32):
        for rows, n in ((4096, 4096), (8192, 4096), (65536, 128), (16384, 1024), (4096, 8192), (2048, 16384)):
            x = torch.randn(rows, n, device="cuda", dtype=dtype)
            w = torch.randn(n, device="cuda", dtype=dtype)
            b = torch.randn(n, device="cuda", dtype=dtype)
            y = torch.empty_like(x)
            nbytes = 2 * x.numel() * x.element_size()
            ops = {
                "softmax": ([lambda m=m: m.softmax(x, False) for _, m in mods], lambda: torch.softmax(x, -1)),
                "layer_norm": ([lambda m=m: m.norm(x, w, b, False, 1e-5) for _, m in mods],
                               lambda: F.layer_norm(x, (n,), w, b, 1e-5)),
                "rms_norm": ([lambda m=m: m.norm(x, w, b, True, 1e-5) for _, m in mods],
                             lambda: F.rms_norm(x, (n,), w, 1e-5)),
            }
            for name, (ours, theirs) in ops.items():
                t = bench_all(ours + [theirs, lambda: y.copy_(x)])
                print(f"{name:12} {str(dtype)[6:]:9} {f'{rows}x{n}':12} "
                      + " ".join(f"{us:7.2f} ({nbytes / us / 1e3:5.0f})" for us in t), flush=True)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", action="append", default=[], help="NAME=FLAGS: another build, its nvcc flags")
    ap.add_argument("--other", default=None,
                    help="DIR laid out like csrc/ with other rows.cuh, rows_softmax.cu, rows_norm.cu: timed beside")
    args = ap.parse_args()
    mods = [("gemforge", build("base", []))]
    if args.other:
        mods.append(("other", build("other", [], os.path.abspath(args.other))))
    for v in args.variant:
        name, _, flags = v.partition("=")
        mods.append((name, build(name, flags.split())))
    ok = all(check(m) for _, m in mods)
    speed(mods)
    sys.exit(0 if ok else 1)
