"""Where a sample model's time goes, torch's kernels against gemforge's, op by op.

    python scripts/dev/model_op_profile.py --model llava --workload infer [--layers 2] [--reps 5]

Runs the workload (gemforge.models) under torch.profiler, once warm with each side, and prints
the aten ops whose device time differs most (self CUDA time summed over the reps, ms), with
their call counts, then the totals. A diagnosis aid for an end-to-end ratio below 1.0: it names
the ops, the models' table only says the sum.
"""

from __future__ import annotations

import argparse
import collections

import torch
from torch.profiler import ProfilerActivity, profile

import gemforge
from gemforge import models


def device_times(fn, reps: int) -> tuple:
    """(self device ms per op name, calls per op name) over reps calls of fn."""
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    times, calls = collections.Counter(), collections.Counter()
    for e in prof.key_averages():
        if e.key.startswith("aten::") or e.key.startswith("gemforge"):
            times[e.key] += e.self_device_time_total / 1e3
            calls[e.key] += e.count
    return times, calls


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="llava", choices=["bert", "llama", "llava"])
    p.add_argument("--workload", default="infer", choices=["infer", "train", "generate"])
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    dtype = torch.float32 if args.workload == "train" else torch.bfloat16
    model, inputs, prompt = models.build(args.model, layers=args.layers, dtype=dtype, device="cuda")
    run = lambda: models.run_workload(model, inputs, prompt, args.workload)  # noqa: E731
    gemforge.disable()
    t_torch, c_torch = device_times(run, args.reps)
    with gemforge.use_gems():
        t_gems, c_gems = device_times(run, args.reps)
    names = sorted(set(t_torch) | set(t_gems), key=lambda k: -abs(t_gems[k] - t_torch[k]))
    print(f"{args.model} {args.workload} ({dtype}), {args.layers} layers, {args.reps} reps, "
          f"{torch.cuda.get_device_name()}: self device ms")
    print("| op | torch ms | calls | gemforge ms | calls | difference |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in names[: args.top]:
        print(f"| {k} | {t_torch[k]:.3f} | {c_torch[k]} | {t_gems[k]:.3f} | {c_gems[k]} | "
              f"{t_gems[k] - t_torch[k]:+.3f} |")
    print(f"| total | {sum(t_torch.values()):.3f} | | {sum(t_gems.values()):.3f} | | "
          f"{sum(t_gems.values()) - sum(t_torch.values()):+.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
