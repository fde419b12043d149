"""The copy ceiling at the sizes the issue-4 benchmarks use: torch's own device copy (a
cudaMemcpy for a dense same-dtype copy) of each size, against the 1 GiB copy the benchmarks
call the ceiling. A row kernel that moves the bytes of a 4096^2 bf16 tensor once in and once
out cannot beat a copy of that tensor; this tells how far below the 1 GiB figure that is.

    python scripts/dev/copy_at_size.py
"""
import torch

SIZES = [  # (label, shape, dtype)
    ("1 GiB u8 (the ceiling)", (1 << 29,), torch.uint8),
    ("bf16 4096x4096", (4096, 4096), torch.bfloat16),
    ("fp32 4096x4096", (4096, 4096), torch.float32),
    ("fp32 1024x8192", (1024, 8192), torch.float32),
    ("bf16 65536x128", (65536, 128), torch.bfloat16),
    ("bf16 16x262144", (16, 262144), torch.bfloat16),
    ("bf16 8192x32000", (8192, 32000), torch.bfloat16),
]
L2_ROTATION = 4 * torch.cuda.get_device_properties(0).L2_cache_size


def time_copy(shape, dtype, reps=200):
    nbytes = torch.empty(shape, dtype=dtype).numel() * torch.empty((), dtype=dtype).element_size()
    sets = max(2, min(32, -(-L2_ROTATION // (2 * nbytes))))
    pairs = [(torch.empty(shape, dtype=dtype, device="cuda"),
              torch.randn(shape, device="cuda").to(dtype) if dtype.is_floating_point
              else torch.randint(0, 255, shape, device="cuda", dtype=dtype)) for _ in range(sets)]
    for d, s in pairs:
        d.copy_(s)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for i in range(reps):
        d, s = pairs[i % sets]
        d.copy_(s)
    end.record()
    torch.cuda.synchronize()
    ms = start.elapsed_time(end) / reps
    return ms, 2 * nbytes / (ms * 1e-3) / 1e9


print(f"# copy at size: {torch.cuda.get_device_name()}")
print("| size | us | GB/s (read + write) | % of the 1 GiB copy |")
print("|---|---|---|---|")
ceiling = None
for label, shape, dtype in SIZES:
    ms, gbps = time_copy(shape, dtype)
    ceiling = ceiling or gbps
    print(f"| {label} | {ms * 1e3:.1f} | {gbps:.0f} | {100 * gbps / ceiling:.0f}% |")
