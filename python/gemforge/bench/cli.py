"""python -m gemforge.bench: pick the device, run the chosen families' cases one by one with a
progress line each, write bench.csv / bench.md / bench.png / summary.md, print the tables and
then the summary, last."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import gemforge

from . import FAMILIES, report
from .harness import DEVICE_CLOCK, Machine, Result, Setup, measure


def parse_args(argv=None):
    names = [f.name for f in FAMILIES]
    parser = argparse.ArgumentParser(
        prog="python -m gemforge.bench",
        description="Time torch against gemforge in one process, per op family. The copy "
                    "ceiling is always measured first. Without a GPU (or without gemforge's "
                    "cuda backend) the cpu backend runs at small shapes: a smoke test, not a "
                    "performance claim.")
    parser.add_argument("families", nargs="*", metavar="family",
                        help=f"families to run (default: all): {', '.join(names)}")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: benchmarks/results/<card-slug>/ under "
                             "the current directory)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--dtypes", nargs="+", default=["bf16", "fp32", "bool"],
                        choices=["bf16", "fp16", "fp32", "bool"],
                        help="dtypes of the contiguous cases (default: bf16 fp32 bool; the "
                             "broadcast and transposed cases run in bf16)")
    parser.add_argument("--ops", nargs="+", default=None,
                        help="only these ops (e.g. --ops add mul)")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto",
                        help="auto: cuda when torch sees a GPU and gemforge was built with "
                             "its cuda backend, else cpu")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    unknown = [f for f in args.families if f not in names]
    if unknown:
        parser.error(f"unknown family {', '.join(unknown)}; choose from {', '.join(names)}")
    return args


def pick_device(choice: str) -> str:
    backends = gemforge.available_backends()
    gpu = torch.cuda.is_available()
    if choice == "cuda":
        if not gpu or "cuda" not in backends:
            raise SystemExit(f"--device cuda: torch sees a GPU: {gpu}; gemforge backends: {backends}")
        return "cuda"
    if choice == "auto" and gpu:
        if "cuda" in backends:
            return "cuda"
        print(f"WARNING: torch sees a GPU but gemforge's backends are {backends} "
              "(a build without GEMFORGE_CUDA?): benchmarking the cpu backend", flush=True)
    return "cpu"


def progress(index: int, total: int, r: Result) -> str:
    c = r.case
    head = f"[{index:>3}/{total}] {c.family:<9} {c.op:<12} {c.name:<10} {c.dtype:<10} {c.shape:<10}"
    if r.torch_ms is None:
        return f"{head} ERROR {r.note}"
    unit = "us" if c.clock == DEVICE_CLOCK else "us/call"
    text = f"{head} torch {r.torch_ms * 1e3:9.2f} {unit}"
    if r.torch_gbps:
        text += f" {r.torch_gbps:6.0f} GB/s"
    if r.torch_tflops:
        text += f" {r.torch_tflops:6.1f} TFLOP/s"
    if not c.with_gems:
        return text
    if r.gemforge_ms is None:
        return f"{text} | gemforge ERROR {r.note}"
    text += f" | gemforge {r.gemforge_ms * 1e3:9.2f} {unit}"
    if r.gbps:
        text += f" {r.gbps:6.0f} GB/s"
        if r.pct_of_copy:
            text += f" {r.pct_of_copy:4.0f}% of copy"
    if r.tflops:
        text += f" {r.tflops:6.1f} TFLOP/s"
    text += f" | {r.speedup:5.2f}x | served: {r.served or 'none (fell through to torch)'}"
    if r.max_abs_diff:
        text += f" | max|diff| {r.max_abs_diff:.3g}"
    return text


def main(argv=None) -> int:
    args = parse_args(argv)
    device = pick_device(args.device)
    machine = Machine.detect(device)
    setup = Setup(device=device, backend=device, quick=args.quick, dtypes=tuple(args.dtypes),
                  ops=tuple(args.ops) if args.ops else None, machine=machine)
    chosen = set(args.families or [f.name for f in FAMILIES])
    families = [f for f in FAMILIES if f.name == "ceiling" or f.name in chosen]
    out_dir = args.out or Path.cwd() / "benchmarks" / "results" / machine.slug

    planned = [(family, list(family.cases(setup))) for family in families]
    total = sum(len(cases) for _, cases in planned)
    if args.ops:
        known = {case.op for _, cases in planned for case in cases}
        unknown = [op for op in args.ops if op not in known]
        if unknown:
            print(f"WARNING: no case for --ops {' '.join(unknown)}", flush=True)
    if args.list:
        for family, cases in planned:
            for case in cases:
                print(case.label)
        return 0

    print(f"gemforge {machine.gemforge_version} bench on {machine.card} ({device}, backend "
          f"{setup.backend}), torch {machine.torch_version}, CUDA {machine.cuda_version}, "
          f"driver {machine.driver}: {total} cases -> {out_dir}", flush=True)
    gemforge.disable()  # torch's own kernels unless a case's gemforge run enables them
    started = time.perf_counter()
    results, index, broken = [], 0, False
    for family, cases in planned:
        for case in cases:
            index += 1
            result = measure(case, setup)
            results.append(result)
            print(progress(index, total, result), flush=True)
            if result.device_broken:
                print("CUDA error: the context is unusable, stopping here", flush=True)
                broken = True
                break
        if family.name == "ceiling":
            ceilings = [r.torch_gbps for r in results if r.case.family == "ceiling" and r.torch_gbps]
            setup.copy_gbps = max(ceilings) if ceilings else None
            for r in results:
                r.copy_gbps = setup.copy_gbps
        if broken:
            break

    table, short = report.write_all(results, setup, families, out_dir)
    print()
    print(table, flush=True)
    print(f"wrote {out_dir}/bench.csv, bench.md, bench.png, summary.md "
          f"({time.perf_counter() - started:.0f} s)\n", flush=True)
    print(short, flush=True)
    failed = [r for r in results if r.note]
    return 1 if failed or broken else 0
