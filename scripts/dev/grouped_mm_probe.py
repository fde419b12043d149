"""Compile the grouped GEMM kernel alone (scripts/dev/grouped_mm_probe.cpp), check it against a
float64 reference in every layout torch takes (ragged, empty and unaligned groups, k and n
tails), and time it against torch's _grouped_mm (CUTLASS on sm_90) on the benchmark's MoE shapes.

    python scripts/dev/grouped_mm_probe.py [--bench]
"""
import argparse
import math
import os
import sys
import time

import torch
from torch.utils.cpp_extension import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BF16 = torch.bfloat16


def build(flags=()):
    """flags: extra nvcc flags for a variant (-DGEMFORGE_GROUPED_CLUSTER=1, say)."""
    t0 = time.time()
    flags = list(flags)
    tag = "".join(c for c in "_".join(flags) if c.isalnum() or c == "_")
    mod = load(name="gf_grouped_mm_probe" + (f"_{tag}" if tag else ""),
               sources=[f"{ROOT}/scripts/dev/grouped_mm_probe.cpp", f"{ROOT}/csrc/backends/cuda/grouped_mm.cu"],
               extra_include_paths=[f"{ROOT}/csrc"], extra_cflags=["-O2", "-DGEMFORGE_WITH_CUDA"],
               extra_cuda_cflags=["-O3", "-gencode=arch=compute_90a,code=sm_90a", "-DGEMFORGE_WITH_CUDA",
                                  "-Xptxas=-v"] + flags,
               verbose=False)
    print(f"built in {time.time() - t0:.0f} s", flush=True)
    return mod


def rand(*shape):
    return torch.empty(shape, device="cuda", dtype=torch.float32).uniform_(-1, 1).to(BF16)


def cm(*shape):  # last two dims column-major
    return rand(*shape[:-2], shape[-1], shape[-2]).transpose(-2, -1)


def offs_of(ends):
    return torch.tensor(ends, dtype=torch.int32, device="cuda")


def reference(a, b, offs):
    a, b = a.double(), b.double()
    ends = offs.tolist() if offs is not None else None
    if a.dim() == 3 and b.dim() == 3:
        return a @ b, None
    if a.dim() == 2 and b.dim() == 3:
        out = torch.zeros((a.shape[0], b.shape[-1]), dtype=torch.float64, device="cuda")
        keep = torch.zeros_like(out, dtype=torch.bool)
        s = 0
        for g, e in enumerate(ends):
            out[s:e] = a[s:e] @ b[g]
            keep[s:e] = True
            s = e
        return out, keep
    if a.dim() == 3 and b.dim() == 2:
        out = torch.zeros((a.shape[1], b.shape[-1]), dtype=torch.float64, device="cuda")
        keep = torch.zeros_like(out, dtype=torch.bool)
        s = 0
        for g, e in enumerate(ends):
            out[:, s:e] = a[g] @ b[:, s:e]
            keep[:, s:e] = True
            s = e
        return out, keep
    out = torch.empty((len(ends), a.shape[0], b.shape[1]), dtype=torch.float64, device="cuda")
    s = 0
    for g, e in enumerate(ends):
        out[g] = a[:, s:e] @ b[s:e]
        s = e
    return out, None


def out_like(a, b, offs):
    """The output as torch makes it: rows padded to a multiple of 16 bytes."""
    if a.dim() == 3 and b.dim() == 3:
        shape = (a.shape[0], a.shape[1], b.shape[2])
    elif a.dim() == 2 and b.dim() == 3:
        shape = (a.shape[0], b.shape[2])
    elif a.dim() == 3 and b.dim() == 2:
        shape = (a.shape[1], b.shape[1])
    else:
        shape = (offs.shape[0], a.shape[0], b.shape[1])
    ld = (shape[-1] + 7) // 8 * 8
    full = torch.empty(shape[:-1] + (ld,), device="cuda", dtype=BF16)
    return full[..., :shape[-1]]


def check(mod, name, a, b, offs):
    out = out_like(a, b, offs).fill_(float("nan"))
    try:
        mod.run(a, b, offs, out)
        torch.cuda.synchronize()
    except RuntimeError as e:
        print(f"FAIL {name}: {e}", flush=True)
        return False
    ref, keep = reference(a, b, offs)
    got = out.double()
    if keep is not None:
        ref, got = ref[keep], got[keep]
    k = a.shape[-1]
    err = (got - ref).abs().max().item() if ref.numel() else 0.0
    tol = 2 * 2.0 ** -8 * (k ** 0.5 + 2) + 2 * 2.0 ** -8 * ref.abs().max().item() if ref.numel() else 0
    ok = err <= tol and not torch.isnan(got).any().item()
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max err {err:.3g} (tol {tol:.3g})", flush=True)
    return ok


def cases():
    # 2-d x 3-d: tokens grouped along m; weights (G, K, N) row-major or (G, N, K) read k-major
    for k in (64, 104, 4096):  # strides in 16-byte multiples, as torch requires
        for n in (256, 200, 520):
            ends = [0, 17, 17, 300, 301, 640]
            yield f"2dx3d K-major B k{k} n{n}", rand(640, k), cm(6, k, n), offs_of(ends)
            yield f"2dx3d N-major B k{k} n{n}", rand(640, k), rand(6, k, n), offs_of(ends)
    yield "2dx3d offsets short of the end", rand(512, 128), cm(3, 128, 256), offs_of([100, 200, 400])
    # 3-d x 3-d
    yield "3dx3d", rand(4, 200, 136), rand(4, 136, 264), None
    yield "3dx3d A m-major", cm(3, 136, 72), cm(3, 72, 300), None
    # 3-d x 2-d: n grouped, B (Nt, K) read k-major
    yield "3dx2d", rand(3, 150, 96), cm(96, 700), offs_of([0, 251, 700])  # a group at an odd column
    yield "3dx2d A m-major", cm(3, 152, 96), cm(96, 700), offs_of([130, 130, 690])
    # 2-d x 2-d: k grouped (the weight gradient), A (M, Kt) m-major, B (Kt, N) n-major
    for kt, ends in ((1000, [0, 1, 63, 64, 200, 777, 1000]), (4096, [512, 1024, 3000, 4096])):
        yield f"2dx2d kt{kt}", cm(264, kt), rand(kt, 136), offs_of(ends)
    yield "2dx2d empty groups only", cm(128, 64), rand(64, 256), offs_of([0, 0])


# ---- _scaled_grouped_mm (e4m3, row-wise scales, the tensor cores' fp8 accumulation) ----------

E4M3 = torch.float8_e4m3fn


def fp8(*shape):
    return (torch.randn(shape, device="cuda") * 2).to(E4M3)


def fp8_cm(*shape):  # last two dims column-major: torch's mat_b
    return fp8(*shape[:-2], shape[-1], shape[-2]).transpose(-2, -1)


def scaled_reference(a, b, sa, sb, offs):
    """float64: out = sa[row] * sb[col] * (a @ b), rows/cols of each group with its scales."""
    a, b, sa, sb = a.double(), b.double(), sa.double(), sb.double()
    if a.dim() == 2 and b.dim() == 3:
        out = torch.zeros((a.shape[0], b.shape[-1]), dtype=torch.float64, device="cuda")
        s = 0
        for g, e in enumerate(offs.tolist()):
            out[s:e] = (a[s:e] @ b[g]) * sa[s:e, None] * sb[g][None, :]
            s = e
        return out
    if a.dim() == 3 and b.dim() == 3:
        return (a @ b) * sa[:, :, None] * sb[:, None, :]
    out = torch.zeros((a.shape[1], b.shape[-1]), dtype=torch.float64, device="cuda")
    s = 0
    for g, e in enumerate(offs.tolist()):
        out[:, s:e] = (a[g] @ b[:, s:e]) * sa[g][:, None] * sb[None, s:e]
        s = e
    return out


def scaled_cases():
    for k, n in ((128, 256), (64, 512), (4096, 1024)):
        ends = [0, 48, 48, 320, 336, 640]
        yield (f"scaled 2dx3d k{k} n{n}", fp8(640, k), fp8_cm(6, k, n), torch.rand(640, device="cuda") + 0.5,
               torch.rand(6, n, device="cuda") + 0.5, offs_of(ends))
    yield ("scaled 3dx3d", fp8(3, 200, 256), fp8_cm(3, 256, 272), torch.rand(3, 200, device="cuda") + 0.5,
           torch.rand(3, 272, device="cuda") + 0.5, None)
    yield ("scaled 3dx2d", fp8(3, 144, 128), fp8_cm(128, 704), torch.rand(3, 144, device="cuda") + 0.5,
           torch.rand(704, device="cuda") + 0.5, offs_of([0, 256, 704]))


def check_scaled(mod, name, a, b, sa, sb, offs, fast):
    name = f"{name} {'fast' if fast else 'promoted'}"
    out = out_like(a, b, offs).fill_(float("nan"))
    try:
        mod.run_scaled(a, b, sa, sb, offs, out, fast)
        torch.cuda.synchronize()
    except RuntimeError as e:
        print(f"FAIL {name}: {e}", flush=True)
        return False
    ref = scaled_reference(a, b, sa, sb, offs)
    try:
        theirs = torch._scaled_grouped_mm(a, b, sa, sb, offs=offs, out_dtype=BF16, use_fast_accum=fast)
        err_torch = (theirs.double() - ref).abs().max().item()
    except Exception as e:  # noqa: BLE001 - a layout torch's kernel does not take
        theirs, err_torch = None, float("nan")
        print(f"     ({name}: torch: {str(e).splitlines()[0][:100]})")
    got = out.double()
    err = (got - ref).abs().max().item()
    scale = ref.abs().max().item()
    # bf16 rounding of the result plus the fp8 accumulation; no worse than torch's own
    tol = 2 * 2.0 ** -8 * scale + (2 * err_torch if err_torch == err_torch else 0.02 * scale)
    ok = err <= tol and not torch.isnan(got).any().item()
    same = "" if theirs is None else f", {int((theirs != out).sum())} of {out.numel()} differ from torch's"
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max err {err:.3g} (torch's {err_torch:.3g}, tol {tol:.3g}){same}",
          flush=True)
    return ok


def bench_scaled(mod, fast):
    rows = []
    # the last two: where the promoted accumulation's routing (ops/gemm_ext.cpp) draws its line
    for g, k, n, tokens in ((8, 4096, 14336, (4096, 16384)), (8, 14336, 4096, (4096, 16384)),
                            (64, 4096, 1792, (4096, 8192, 16384, 32768)), (32, 4096, 1792, (4096, 8192, 16384))):
        for t in tokens:
            offs = torch.linspace(0, t, g + 1)[1:].round().int().to(torch.int32).cuda()
            a, b = fp8(t, k), fp8_cm(g, k, n)
            sa, sb = torch.rand(t, device="cuda") + 0.5, torch.rand(g, n, device="cuda") + 0.5
            out = out_like(a, b, offs)
            fns = (lambda: torch._scaled_grouped_mm(a, b, sa, sb, offs=offs, out_dtype=BF16, use_fast_accum=fast),
                   lambda: mod.run_scaled(a, b, sa, sb, offs, out, fast))
            best = [float("inf")] * 2
            for f in fns:
                for _ in range(3):
                    f()
            torch.cuda.synchronize()
            for _ in range(7):
                for i, f in enumerate(fns):
                    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    s.record()
                    for _ in range(20):
                        f()
                    e.record()
                    e.synchronize()
                    best[i] = min(best[i], s.elapsed_time(e) / 20 * 1e3)
            f = 2 * t * k * n
            rows.append((f"{g}x{t}x{k}x{n}", best[0], best[1], f / best[0] / 1e6, f / best[1] / 1e6))
            print(f"scaled 2dx3d {'fast' if fast else 'promoted'} {rows[-1][0]}: torch {best[0]:.1f} us ({rows[-1][3]:.0f} TFLOP/s), ours "
                  f"{best[1]:.1f} us ({rows[-1][4]:.0f}), {best[0] / best[1]:.2f}x", flush=True)
    print(f"\n| _scaled_grouped_mm 2dx3d, use_fast_accum={fast} | torch µs | ours µs | torch TFLOP/s | "
          "ours TFLOP/s | speedup |")
    print("|---|---:|---:|---:|---:|---:|")
    for shape, tt, to, ft, fo in rows:
        print(f"| {shape} | {tt:.1f} | {to:.1f} | {ft:.0f} | {fo:.0f} | {tt / to:.2f} |")


def bench(mod, other=None):
    """Times torch's kernel, `mod` and (if given) `other`, a second build, in turn."""
    def timed(*fns, reps=20, rounds=7):
        """Best time of each fn in us, the fns taking turns round by round (the card's clock
        drifts with its temperature: each fn sees the same conditions)."""
        fns = [f for f in fns if f is not None]
        for f in fns:
            for _ in range(3):
                f()
        torch.cuda.synchronize()
        best = [float("inf")] * len(fns)
        for _ in range(rounds):
            for i, f in enumerate(fns):
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                for _ in range(reps):
                    f()
                e.record()
                e.synchronize()
                best[i] = min(best[i], s.elapsed_time(e) / reps * 1e3)
        return best + [float("nan")] * (3 - len(best))

    def routing(t, g):
        ends = torch.linspace(0, t, g + 1)[1:].round().int()
        return ends.to(torch.int32).cuda()

    rows = []
    for g, k, n in ((8, 4096, 14336), (8, 14336, 4096), (64, 4096, 1792)):
        for t in (4096, 16384):
            offs = routing(t, g)
            flops = 2 * t * k * n
            for name, a, b, o in (("2dx3d w(G,N,K)", rand(t, k), cm(g, k, n), offs),
                                  ("2dx3d w(G,K,N)", rand(t, k), rand(g, k, n), offs),
                                  ("2dx2d wgrad", cm(n, t), rand(t, k), offs)):
                out = out_like(a, b, o)
                ref = torch._grouped_mm(a, b, o)
                mod.run(a, b, o, out)
                diff = (out.float() - ref.float()).abs().max().item()
                tt, to, tx = timed(lambda: torch._grouped_mm(a, b, o), lambda: mod.run(a, b, o, out),
                                   (lambda: other.run(a, b, o, out)) if other else None)
                f = flops if "wgrad" not in name else 2 * t * n * k
                rows.append((name, f"{g}x{t}x{k}x{n}", tt, to, f / tt / 1e6, f / to / 1e6, tx))
                print(f"{name} G{g} T{t} K{k} N{n}: torch {tt:.1f} us ({f / tt / 1e6:.0f} TFLOP/s), "
                      f"ours {to:.1f} us ({f / to / 1e6:.0f}), {tt / to:.2f}x, other build {tx:.1f} us, "
                      f"max diff vs torch {diff:.3g}", flush=True)
        if g == 8:
            t = 16384
            a, b = rand(g, t // g, k), cm(g, k, n)
            out = out_like(a, b, None)
            tt, to, tx = timed(lambda: torch._grouped_mm(a, b), lambda: mod.run(a, b, None, out),
                               (lambda: other.run(a, b, None, out)) if other else None)
            f = 2 * t * k * n
            print(f"3dx3d G{g} M{t // g} K{k} N{n}: torch {tt:.1f} us, ours {to:.1f} us, {tt / to:.2f}x", flush=True)
            rows.append(("3dx3d", f"{g}x{t // g}x{k}x{n}", tt, to, f / tt / 1e6, f / to / 1e6, tx))
    print("\n| case | shape | torch µs | ours µs | torch TFLOP/s | ours TFLOP/s | speedup | other build µs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, shape, tt, to, ft, fo, tx in rows:
        print(f"| {name} | {shape} | {tt:.1f} | {to:.1f} | {ft:.0f} | {fo:.0f} | {tt / to:.2f} | {tx:.1f} |")
    gm = lambda xs: math.exp(sum(math.log(x) for x in xs) / len(xs))  # noqa: E731
    print(f"geometric mean speedup over torch: {gm([r[2] / r[3] for r in rows]):.3f}"
          + (f", other build {gm([r[2] / r[6] for r in rows]):.3f}" if other else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--other", default=None,
                    help="nvcc flags of a second build to check and time beside the default, "
                         "e.g. '-DGEMFORGE_GROUPED_CLUSTER=1'")
    ap.add_argument("--no-check", action="store_true", help="skip the reference checks")
    ap.add_argument("--scaled", action="store_true",
                    help="also check _scaled_grouped_mm's e4m3 paths, fast and promoted accumulation "
                         "(and time them, with --bench, instead)")
    args = ap.parse_args()
    print(torch.cuda.get_device_name(), flush=True)
    mod = build()
    other = build(args.other.split()) if args.other else None
    torch.manual_seed(0)
    ok = args.no_check or all([check(mod, *c) for c in cases()])
    if other is not None and not args.no_check:
        ok = all([check(other, f"[other build] {c[0]}", *c[1:]) for c in cases()]) and ok
    if args.scaled:
        ok = all([check_scaled(mod, *c, fast) for fast in (True, False) for c in scaled_cases()]) and ok
        if args.bench:
            bench_scaled(mod, fast=True)
            bench_scaled(mod, fast=False)
    elif args.bench:
        bench(mod, other)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
