"""Tables for the README, generated, never written by hand.

    python -m gemforge.report ops        the supported-ops table, from the registration table
    python -m gemforge.report coverage   coverage of FlagGems' op list (docs/reference), per family
    python -m gemforge.report readme     rewrite README.md's generated sections in place
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import defaultdict

import torch

import gemforge

_OPS_BEGIN, _OPS_END = "<!-- ops-table:begin -->", "<!-- ops-table:end -->"
_BENCH_BEGIN, _BENCH_END = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"
_COVERAGE_BEGIN, _COVERAGE_END = "<!-- coverage-table:begin -->", "<!-- coverage-table:end -->"
_MODELS_BEGIN, _MODELS_END = "<!-- models-table:begin -->", "<!-- models-table:end -->"
# The op list to cover (FlagGems' aten registrations), relative to the repository root.
TSV = os.path.join("docs", "reference", "flaggems-aten-ops.tsv")


def ops_table() -> str:
    """One row per base op: its overloads (an alias names the overload torch decomposes it into)
    and backends, grouped by family."""
    by_family = defaultdict(lambda: defaultdict(list))
    backends_of = {}
    for op in gemforge.registered_ops():
        base = op.overload.split(".")[0]
        by_family[op.family][base].append(f"`{op.overload}` (via `{op.via}`)" if op.via else f"`{op.overload}`")
        backends_of.setdefault((op.family, base), set()).update(op.backends)
    rows = ["| family | op | overloads | backends |", "|---|---|---|---|"]
    total = 0
    for family in sorted(by_family):
        for base in sorted(by_family[family]):
            overloads = by_family[family][base]
            total += len(overloads)
            names = ", ".join(overloads)
            rows.append(f"| {family} | `{base}` | {names} | {', '.join(sorted(backends_of[(family, base)]))} |")
    rows.append("")
    rows.append(f"{total} aten overloads in all.")
    return "\n".join(rows)


def left_to_torch(name: str) -> bool:
    """Whether `name` ("op.overload", or "op": its default overload, or all its overloads where it
    has no default) only makes a view of its input or is metadata-only (models.METADATA_ONLY): it
    launches nothing, and issue 7 leaves these to torch, where serving them would only add host
    time."""
    from .models import is_metadata_only
    base, _, overload = name.partition(".")
    packet = getattr(torch.ops.aten, base, None)
    if packet is None:
        return False
    names = [overload] if overload else (["default"] if "default" in packet.overloads() else packet.overloads())
    ops = [getattr(packet, n, None) for n in names]
    return bool(ops) and all(op is not None and is_metadata_only(op) for op in ops)


def coverage_table(tsv: str) -> str:
    """Per family of the FlagGems op list: its overloads, how many gemforge serves (own kernel or
    alias of a served overload), the views it leaves to torch, and the ones it does not serve
    yet."""
    wanted = defaultdict(list)
    with open(tsv) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, family = line.rstrip("\n").split("\t")[:2]
            if family != "fused_python_api":
                wanted[family].append(name)
    ops = {op.overload: op for op in gemforge.registered_ops()}
    for op in gemforge.registered_ops():  # a bare name in the list stands for the op's overloads
        ops.setdefault(op.overload.split(".")[0], op)
    # FlagGems' list spells some out= overloads "name_out" where torch's overload is "name.out".
    for name in [n for names in wanted.values() for n in names]:
        if name not in ops and name.endswith("_out") and name[:-4] + ".out" in ops:
            ops[name] = ops[name[:-4] + ".out"]
    rows = ["| family | overloads | served | alias of a served op | view (left to torch) | not in this torch "
            "| not yet |",
            "|---|---|---|---|---|---|---|"]
    totals = [0, 0, 0, 0, 0]
    absent_all = []
    for family in sorted(wanted):
        names = wanted[family]
        own = [n for n in names if n in ops and not ops[n].via]
        alias = [n for n in names if n in ops and ops[n].via]
        absent = [n for n in names if n not in ops and not _in_torch(n)]
        views = [n for n in names if n not in ops and n not in absent and left_to_torch(n)]
        missing = [n for n in names if n not in ops and n not in absent and n not in views]
        absent_all += absent
        totals = [totals[0] + len(names), totals[1] + len(own), totals[2] + len(alias), totals[3] + len(absent),
                  totals[4] + len(views)]
        shown = ", ".join(f"`{n}`" for n in missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        rows.append(f"| {family} | {len(names)} | {len(own)} | {len(alias)} | {len(views) or ''} | "
                    f"{len(absent) or ''} | {shown} |")
    rows.append("")
    rows.append(f"{totals[1] + totals[2]} of {totals[0]} overloads covered "
                f"({totals[1]} by a kernel of gemforge's, {totals[2]} as aliases); {totals[4]} are views or "
                f"metadata-only, left to torch; {totals[3]} "
                f"are not overloads of torch {torch.__version__.split('+')[0]}: "
                + ", ".join(f"`{n}`" for n in absent_all) + ".")
    return "\n".join(rows)


def _in_torch(name: str) -> bool:
    """Whether `name` ("op" or "op.overload") is an aten overload of the running torch."""
    base, _, overload = name.partition(".")
    packet = getattr(torch.ops.aten, base, None)
    if packet is None:
        return False
    return (overload or "default") in packet.overloads() or (not overload and bool(packet.overloads()))


def bench_table(repo: str) -> str:
    """Every summary.md under benchmarks/results/ (a folder per card and run), in path order."""
    root = os.path.join(repo, "benchmarks", "results")
    found = []
    for dirpath, _, files in os.walk(root):
        if "summary.md" in files:
            path = os.path.join(dirpath, "summary.md")
            found.append((os.path.relpath(path, root), path))
    if not found:
        return "No benchmark results yet: run `bash scripts/gpu_check.sh` on a GPU machine."
    found.sort()
    lines = []
    for _, path in found:
        rel = os.path.relpath(path, repo)
        with open(path) as f:
            text = f.read().strip()
        # the summary's own title would be a top-level heading inside the README
        text = "\n".join(line.lstrip("#").strip() if line.startswith("# ") else line
                         for line in text.splitlines())
        lines.append(f"From `{rel}`:\n\n" + text)
    return "\n\n".join(lines)


def models_table(repo: str) -> str:
    """Every models.md under benchmarks/results/ (python -m gemforge.models --out ...)."""
    root = os.path.join(repo, "benchmarks", "results")
    found = sorted(os.path.join(d, "models.md") for d, _, files in os.walk(root) if "models.md" in files)
    if not found:
        return "No model runs yet: `python -m gemforge.models --all` on a GPU machine."
    parts = []
    for path in found:
        with open(path) as f:
            parts.append(f"From `{os.path.relpath(path, repo)}`:\n\n" + f.read().strip())
    return "\n\n".join(parts)


def _replace(text: str, begin: str, end: str, body: str) -> str:
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {begin} ... {end} section")
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)


def update_readme(path: str) -> bool:
    with open(path) as f:
        old = f.read()
    new = _replace(old, _OPS_BEGIN, _OPS_END, ops_table())
    repo = os.path.dirname(os.path.abspath(path))
    new = _replace(new, _COVERAGE_BEGIN, _COVERAGE_END, coverage_table(os.path.join(repo, TSV)))
    new = _replace(new, _BENCH_BEGIN, _BENCH_END, bench_table(repo))
    new = _replace(new, _MODELS_BEGIN, _MODELS_END, models_table(repo))
    if new != old:
        with open(path, "w") as f:
            f.write(new)
    return new != old


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gemforge.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["ops", "coverage", "readme"])
    parser.add_argument("--readme", default="README.md", help="README to rewrite (default: ./README.md)")
    args = parser.parse_args(argv)
    if args.what == "ops":
        print(ops_table())
    elif args.what == "coverage":
        print(coverage_table(TSV))
    else:
        changed = update_readme(args.readme)
        print(f"{args.readme}: {'updated' if changed else 'already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
