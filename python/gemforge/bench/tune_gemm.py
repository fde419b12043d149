"""Tune the GEMM problems of the gemm benchmark family (or of a model run) ahead of serving and
write the table gemforge ships for this card:

    python -m gemforge.bench.tune_gemm                  # -> python/gemforge/tuned/gemm-<card>.txt
    python -m gemforge.bench.tune_gemm --out some/dir

Each problem's first call under gemforge.gemm_tuning() times cuBLASLt's candidate algorithms and
keeps the fastest (csrc/engine/gemm_tuning.h); the table is the cache those calls wrote, in a
fresh cache folder so that nothing measured elsewhere leaks in.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys
import tempfile

import torch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parents[1] / "tuned"),
                   help="folder of the shipped tables (default: the package's tuned/)")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("tune_gemm: no GPU here; run it on the card the table is for", file=sys.stderr)
        return 2
    import gemforge
    from . import gemm
    from .harness import Machine, Setup

    cache = tempfile.mkdtemp(prefix="gemforge-tune-")
    gemforge._C.set_gemm_table_dirs([], cache)  # measure everything afresh, keep it apart
    gemforge.gemm_tuning(True)
    setup = Setup(device="cuda", backend="cuda", quick=False, dtypes=("bf16", "fp16", "fp32"),
                  ops=None, machine=Machine.detect("cuda"))
    cases = list(gemm.cases(setup))
    for i, case in enumerate(cases, 1):
        print(f"[{i}/{len(cases)}] {case.op} {case.name} {case.dtype} {case.shape}", flush=True)
        inputs = case.make_inputs()
        with gemforge.use_gems(backends=["cuda"]):
            case.run(inputs)
        torch.cuda.synchronize()
    name = f"gemm-{gemforge._C.device_slug(torch.cuda.get_device_name())}.txt"
    made = pathlib.Path(cache) / name
    if not made.exists():
        print(f"tune_gemm: no table was written to {cache}", file=sys.stderr)
        return 1
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(made, out / name)
    lines = made.read_text().splitlines()
    print(f"{len(lines) - 1} problems tuned -> {out / name}")
    shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
