"""One call of a scan kernel for ncu (scripts/dev/scan_probe.py's build), e.g.

    ncu --clock-control none -k regex:row_scan --section SpeedOfLight --section Occupancy \
        --section WarpStateStats --section MemoryWorkloadAnalysis \
        python scripts/dev/scan_ncu.py cumsum float32 1024 8192
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scan_probe  # noqa: E402

if __name__ == "__main__":
    name, dtype, rows, n = sys.argv[1], getattr(torch, sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    mod = scan_probe.build("tree", sys.argv[5] if len(sys.argv) > 5 else f"{scan_probe.ROOT}/csrc/backends/cuda/scan.cu")
    x = torch.randn(rows, n, device="cuda", dtype=dtype)
    for _ in range(3):
        mod.run(x, scan_probe.OPS[name])
    torch.cuda.synchronize()
