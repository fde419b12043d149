"""The table path as served, at sizes the bench does not time (4096^2 to 16384^2), beside torch's
clone, gelu and lgamma of the same tensors, in one process.

    python scripts/dev/pointwise_table_served_probe.py

Needs gemforge installed with its cuda backend (scripts/gpu_check.sh builds it). The percentages
are of a 1 GiB clone's bandwidth (bytes read + written), as the bench's ceiling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import gemforge
from cuda_timing import rotating, timeit  # beside this script


def main():
    big = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    ceiling = 2 * big.numel() / timeit(lambda: big.clone(), 20, warmup=5) / 1e3  # GB/s
    del big
    print(f"{torch.cuda.get_device_name()} ceiling {ceiling:.0f} GB/s (1 GiB clone)")
    for dtype in (torch.bfloat16, torch.float16):
        for side in (4096, 8192, 16384):
            xs = [torch.randn(side, side, device="cuda").to(dtype) for _ in range(3)]
            per_call = rotating(xs)  # device µs a call, 50 calls back to back

            row = {"torch clone": per_call(torch.clone), "torch gelu": per_call(F.gelu),
                   "torch lgamma": per_call(torch.lgamma)}
            with gemforge.use_gems():
                row["gf gelu"] = per_call(F.gelu)
                row["gf lgamma"] = per_call(torch.lgamma)
            nbytes = 2 * xs[0].numel() * xs[0].element_size()
            cells = ", ".join(f"{k} {us:.1f} us {nbytes / us / 1e3 / ceiling * 100:.0f}%" for k, us in row.items())
            print(f"{str(dtype)[6:]} {side}^2: {cells}")


if __name__ == "__main__":
    main()
