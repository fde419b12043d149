"""What a bench run writes: bench.csv (every number), bench.md (the tables), bench.png (speedup
and % of the copy ceiling per case) and summary.md (a few key numbers per family)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from .harness import Result, Setup

CSV_COLUMNS = [
    "family", "op", "case", "dtype", "shape", "torch_ms", "gemforge_ms", "speedup", "gbps",
    "torch_gbps", "pct_of_copy", "torch_pct_of_copy", "tflops", "torch_tflops", "bytes",
    "flops", "clock", "served", "fallbacks", "max_abs_diff", "note", "backend", "card", "torch_version",
    "cuda_version", "driver", "gemforge_version", "date",
]

SUMMARY_LINES_PER_FAMILY = 8


# ---- lines a family's summarize() builds from ----------------------------------------------------
def bandwidth_lines(results, setup=None) -> list:
    """A family's summary: one bandwidth line per case gemforge served."""
    return [(f"{r.case.op} {r.case.name} {r.case.dtype} {r.case.shape}", bandwidth_line(r))
            for r in results if r.speedup]


def bandwidth_line(r: Result, note: str = "") -> str:
    """A memory-bound case: its GB/s, share of the copy ceiling, torch's GB/s and the speedup."""
    return (f"{r.gbps or 0:.0f} GB/s = {r.pct_of_copy or 0:.0f}% of copy "
            f"(torch {r.torch_gbps or 0:.0f} GB/s), {r.speedup:.2f}x torch{note}")


def slowest_line(results: list, label: str) -> list:
    """The served case with the lowest speedup, as a (metric, value) line (none when nothing ran)."""
    served = [r for r in results if r.speedup and r.served]
    if not served:
        return []
    c = min(served, key=lambda r: r.speedup).case
    return [(label, f"{min(r.speedup for r in served):.2f}x: {c.op} {c.name} {c.dtype} {c.shape}")]


def errors_line(results: list) -> list:
    """The cases that raised, the first five named (none when every case ran)."""
    failed = [r for r in results if r.note]
    if not failed:
        return []
    return [(f"cases with errors ({len(failed)})",
             ", ".join(f"{r.case.op}/{r.case.name}" for r in failed[:5])
             + (" ..." if len(failed) > 5 else ""))]


def _num(value, digits=6) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def served_word(r: Result) -> str:
    """yes: gemforge served the case's calls; no: none of them; partly: some ran torch's kernel
    (torch's kernel for the op itself, say, with gemforge serving the small ops it calls)."""
    if not r.served:
        return "no"
    return "partly" if r.fallbacks else "yes"


def csv_row(r: Result, setup: Setup) -> dict:
    c, m = r.case, setup.machine
    return {
        "family": c.family, "op": c.op, "case": c.name, "dtype": c.dtype, "shape": c.shape,
        "torch_ms": _num(r.torch_ms), "gemforge_ms": _num(r.gemforge_ms),
        "speedup": _num(r.speedup, 4), "gbps": _num(r.gbps, 5), "torch_gbps": _num(r.torch_gbps, 5),
        "pct_of_copy": _num(r.pct_of_copy, 4), "torch_pct_of_copy": _num(r.torch_pct_of_copy, 4),
        "tflops": _num(r.tflops, 5), "torch_tflops": _num(r.torch_tflops, 5),
        "bytes": c.bytes or "", "flops": c.flops or "", "clock": c.clock, "served": r.served,
        "fallbacks": r.fallbacks,
        "max_abs_diff": _num(r.max_abs_diff, 4), "note": r.note, "backend": setup.backend,
        "card": m.card, "torch_version": m.torch_version, "cuda_version": m.cuda_version,
        "driver": m.driver, "gemforge_version": m.gemforge_version, "date": m.date,
    }


def write_csv(results: list, setup: Setup, path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for r in results:
            writer.writerow(csv_row(r, setup))


def header_lines(setup: Setup) -> list:
    m = setup.machine
    if setup.device == "cuda":
        timing = (f"CUDA events, median of {setup.reps} calls after {setup.warmup} warm-up, "
                  f"inputs rotated over >= {setup.rotation_bytes >> 20} MiB per case")
    else:
        timing = f"perf_counter, median of {setup.reps} calls after {setup.warmup} warm-up"
    lines = [
        f"- card: {m.card} (`{m.slug}`)",
        f"- driver: {m.driver}",
        f"- torch {m.torch_version}, CUDA {m.cuda_version}, gemforge {m.gemforge_version}, "
        f"backend `{setup.backend}`",
        f"- date: {m.date}",
        f"- timing: {timing}; host overhead: host clock over {setup.host_calls} calls, "
        f"median of {setup.host_rounds} rounds",
    ]
    if setup.copy_gbps:
        lines.append(f"- copy ceiling: {setup.copy_gbps:.0f} GB/s (a large torch copy_ on the "
                     "device, bytes read + written)")
    return lines


def _us(ms) -> str:
    return "" if ms is None else f"{ms * 1e3:.2f}"


def _fixed(value, fmt) -> str:
    return "" if value is None else format(value, fmt)


def markdown(results: list, setup: Setup) -> str:
    out = [f"# gemforge benchmarks: {setup.machine.card}", ""] + header_lines(setup)
    families = list(dict.fromkeys(r.case.family for r in results))
    errors = []
    for family in families:
        out += ["", f"## {family}", "",
                "| op | case | dtype | shape | torch µs | gemforge µs | speedup | GB/s | % of copy | served |",
                "|---|---|---|---|---:|---:|---:|---:|---:|---|"]
        for r in results:
            if r.case.family != family:
                continue
            c = r.case
            gbps, pct = r.gbps, r.pct_of_copy
            if not c.with_gems:  # a torch-only reference: its own bandwidth
                gbps, pct = r.torch_gbps, r.torch_pct_of_copy
            served = "-" if not c.with_gems else ("error" if r.note else served_word(r))
            out.append(f"| {c.op} | {c.name} | {c.dtype} | {c.shape} | {_us(r.torch_ms)} | "
                       f"{_us(r.gemforge_ms)} | {_fixed(r.speedup, '.2f')} | {_fixed(gbps, '.0f')} | "
                       f"{_fixed(pct, '.0f')} | {served} |")
            if r.note:
                errors.append(f"- {c.label}: {r.note}")
    if errors:
        out += ["", "## errors", ""] + errors
    out += ["", "served: whether gemforge's stats counted the call (no = it fell through to "
            "torch's kernel; partly = some calls did, as where torch's kernel for the op ran and gemforge "
            "served the small ops inside it). µs are device time per call, from batches of 10 calls back to back (host time per call for overhead)."]
    return "\n".join(out) + "\n"


def summary(results: list, setup: Setup, families: list) -> str:
    m = setup.machine
    out = [f"# gemforge bench summary: {m.card}",
           "",
           f"driver {m.driver} | torch {m.torch_version} | CUDA {m.cuda_version} | "
           f"gemforge {m.gemforge_version} ({setup.backend}) | {m.date}",
           "",
           "| family | metric | value |",
           "|---|---|---|"]
    for family in families:
        mine = [r for r in results if r.case.family == family.name]
        if not mine:
            continue
        lines = family.summarize(mine, setup) if family.summarize else []
        if len(lines) > SUMMARY_LINES_PER_FAMILY:
            lines = lines[:SUMMARY_LINES_PER_FAMILY - 1] + [("...", "see bench.md")]
        for metric, value in lines:
            out.append(f"| {family.name} | {metric} | {value} |")
    return "\n".join(out) + "\n"


def write_plot(results: list, setup: Setup, path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping bench.png", flush=True)
        return False
    rows = [r for r in results if r.speedup]
    if not rows:
        print("no case has both timings: skipping bench.png", flush=True)
        return False
    labels = [f"{r.case.family}/{r.case.op} {r.case.name} {r.case.dtype}" for r in rows]
    speedups = [r.speedup for r in rows]
    pcts = [r.pct_of_copy or 0.0 for r in rows]
    y = list(range(len(rows)))
    fig, (left, right) = plt.subplots(1, 2, sharey=True,
                                      figsize=(13, max(4.0, 0.17 * len(rows) + 1.5)))
    colors = ["lightgray" if not r.served else ("tab:green" if r.speedup >= 1 else "tab:red")
              for r in rows]
    left.barh(y, speedups, color=colors)
    left.axvline(1.0, color="black", linewidth=0.8)
    left.set_xlabel("speedup over torch (torch time / gemforge time); gray: not served")
    left.set_yticks(y, labels, fontsize=6)
    left.set_ylim(len(rows) - 0.5, -0.5)
    right.barh(y, pcts, color="tab:blue")
    right.axvline(100.0, color="black", linewidth=0.8)
    right.set_xlabel("gemforge GB/s, % of the copy ceiling"
                     + (f" ({setup.copy_gbps:.0f} GB/s)" if setup.copy_gbps else ""))
    left.set_title(f"gemforge vs torch {setup.machine.torch_version} on {setup.machine.card}",
                   fontsize=9, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_all(results: list, setup: Setup, families: list, out_dir: Path) -> tuple:
    """Write the four files; return (markdown table, summary) for printing."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(results, setup, out_dir / "bench.csv")
    table = markdown(results, setup)
    (out_dir / "bench.md").write_text(table)
    write_plot(results, setup, out_dir / "bench.png")
    short = summary(results, setup, families)
    (out_dir / "summary.md").write_text(short)
    return table, short
