"""One MoE grouped GEMM (2-d x 3-d, 8 experts) through torch's kernel and through ours
(scripts/dev/grouped_mm_probe.py's build), for ncu, e.g.

    ncu --clock-control none -k regex:grouped_mm_kernel --launch-skip 1 --launch-count 1 \
        --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
        python scripts/dev/grouped_mm_ncu.py ours
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grouped_mm_probe as probe  # noqa: E402

if __name__ == "__main__":
    which = sys.argv[1]
    g, t, k, n = 8, 4096, 4096, 14336
    a, b = probe.rand(t, k), probe.cm(g, k, n)
    offs = (torch.arange(1, g + 1, device="cuda", dtype=torch.int32) * (t // g)).contiguous()
    if which == "ours":
        mod = probe.build()
        out = probe.out_like(a, b, offs)
        run = lambda: mod.run(a, b, offs, out)  # noqa: E731
    else:
        run = lambda: torch._grouped_mm(a, b, offs)  # noqa: E731
    for _ in range(3):
        run()
    torch.cuda.synchronize()
