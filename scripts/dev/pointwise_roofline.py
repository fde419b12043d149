"""Which pointwise ops are bound by the SMs rather than by memory: Nsight Compute's
speed-of-light figures for torch's and gemforge's kernel of each op, contiguous 4096^2.

A contiguous op far below the copy ceiling is either starved of bytes in flight (a kernel to
fix) or bound by its math (the instruction pipes are as busy as they get, and the copy ceiling
is out of reach for any kernel that computes the same function). ncu tells the two apart:
"Compute (SM) Throughput" is the busiest unit of the SMs (an instruction pipe, issue slots),
"Memory Throughput" the busiest of DRAM, L2 and L1, each as a percentage of its peak.

    ncu --clock-control none --profile-from-start off --csv \
        --section SpeedOfLight --section ComputeWorkloadAnalysis \
        --log-file ncu.csv python scripts/dev/pointwise_roofline.py run order.json OP... [--dtypes bf16 fp32]
    python scripts/dev/pointwise_roofline.py table order.json ncu.csv

`run` times nothing: it launches each op once per side between cudaProfilerStart and
cudaProfilerStop (after a warmup outside that range) and writes the launch order; `table`
matches ncu's kernels to it (a side that launches more than one kernel is reported with all
of them summed as far as duration goes, and its slowest kernel's percentages).
"""
from __future__ import annotations

import csv
import json
import sys

import torch


def run(order_path: str, names: list[str], dtypes: list[str]) -> None:
    import gemforge
    from gemforge.bench import pointwise as P
    from gemforge.bench.harness import DTYPES

    ops = {op.name: op for op in P.OPS}
    unknown = [n for n in names if n not in ops]
    if unknown:
        sys.exit(f"unknown ops: {unknown}; choose from {sorted(ops)}")
    calls = []
    for name in names:
        op = ops[name]
        for dname in (op.dtypes or dtypes):
            if dname not in DTYPES:
                continue
            case = P._case(op, "contig", dname, "cuda")
            values = case.make_inputs()
            for side in ("torch", "gemforge"):
                calls.append((name, dname, side, case, values))
    def call(side, case, values):
        if side == "gemforge":
            with gemforge.use_gems():
                case.run(values)
        else:
            case.run(values)

    # Warm up every call (lazy module loads, allocator) outside the profiled range.
    for name, dname, side, case, values in calls:
        call(side, case, values)
    torch.cuda.synchronize()
    order = []
    torch.cuda.cudart().cudaProfilerStart()
    for name, dname, side, case, values in calls:
        # A marker kernel between calls: its launches split ncu's kernel list into the calls.
        torch.cuda._sleep(1)
        call(side, case, values)
        torch.cuda.synchronize()
        order.append({"op": name, "dtype": dname, "side": side, "bytes": case.bytes})
    torch.cuda._sleep(1)
    torch.cuda.cudart().cudaProfilerStop()
    with open(order_path, "w") as f:
        json.dump(order, f)


def _number(text: str) -> float:
    return float(text.replace(",", "")) if text not in ("", "n/a") else float("nan")


def table(order_path: str, ncu_csv: str) -> None:
    order = json.load(open(order_path))
    lines = [l for l in open(ncu_csv) if l.startswith('"')]
    rows = list(csv.DictReader(lines))
    kernels = {}  # ID -> {name, metrics}
    for r in rows:
        k = kernels.setdefault(r["ID"], {"name": r["Kernel Name"], "m": {}})
        k["m"][r["Metric Name"]] = (_number(r["Metric Value"]), r["Metric Unit"])
    ids = sorted(kernels, key=int)
    # Split at the marker kernels (torch.cuda._sleep's spin kernel).
    groups, current = [], None
    for i in ids:
        if "spin" in kernels[i]["name"].lower() or "sleep" in kernels[i]["name"].lower():
            if current is not None:
                groups.append(current)
            current = []
        elif current is not None:
            current.append(kernels[i])
    if len(groups) != len(order):
        print(f"WARNING: {len(groups)} kernel groups for {len(order)} calls", file=sys.stderr)
    print("| op | dtype | side | kernels | time us | GB/s | SM throughput % | memory throughput % "
          "| DRAM throughput % | issue slots busy % | SM busy (busiest pipe) % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for call, group in zip(order, groups):
        if not group:
            print(f"| {call['op']} | {call['dtype']} | {call['side']} | 0 | | | | | | | |")
            continue

        def metric(k, name):
            value, unit = k["m"].get(name, (float("nan"), ""))
            scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3,
                     "msecond": 1e3}
            return value * scale.get(unit, 1.0)

        time_us = sum(metric(k, "Duration") for k in group)
        slowest = max(group, key=lambda k: metric(k, "Duration"))
        gbps = call["bytes"] / (time_us * 1e-6) / 1e9 if time_us else float("nan")
        print(f"| {call['op']} | {call['dtype']} | {call['side']} | {len(group)} | {time_us:.1f} "
              f"| {gbps:.0f} | {metric(slowest, 'Compute (SM) Throughput'):.1f} "
              f"| {metric(slowest, 'Memory Throughput'):.1f} "
              f"| {metric(slowest, 'DRAM Throughput'):.1f} "
              f"| {metric(slowest, 'Issue Slots Busy'):.1f} | {metric(slowest, 'SM Busy'):.1f} |")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "run":
        args = sys.argv[2:]
        dtypes = ["bf16", "fp32"]
        if "--dtypes" in args:
            i = args.index("--dtypes")
            dtypes = args[i + 1:]
            args = args[:i]
        run(args[0], args[1:], dtypes)
    elif len(sys.argv) == 4 and sys.argv[1] == "table":
        table(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
