"""python -m gemforge.demo: the quick start of the system gemforge answers (a 1024x1024 matmul
timed over 200 runs, scaled_dot_product_attention on (1, 8, 512, 64)) and a few pointwise ops,
first with PyTorch's own kernels, then unchanged inside gemforge.use_gems().

For each step it prints the time without and with gemforge, the largest difference between
the two results, and what gemforge.collect_stats() counted: the overloads gemforge served.
An op gemforge does not serve falls through to PyTorch's kernel and is reported as such.

Runs on the GPU when torch sees one and gemforge was built with its cuda backend, else on
the cpu backend at smaller sizes (float32), in a few seconds.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

import gemforge


@dataclass
class Step:
    name: str
    what: str
    inputs: tuple
    run: Callable
    reps: int


def pick_device() -> str:
    if torch.cuda.is_available() and "cuda" in gemforge.available_backends():
        return "cuda"
    return "cpu"


def steps(device: str) -> list:
    cuda = device == "cuda"
    dtype = torch.float16 if cuda else torch.float32
    n = 1024 if cuda else 256
    seq = 512 if cuda else 128
    rows, cols = (4096, 4096) if cuda else (512, 512)
    pointwise_reps = 200 if cuda else 50
    name = str(dtype).removeprefix("torch.")

    def randn(*shape, dtype=dtype):
        return torch.randn(*shape, device=device, dtype=dtype)

    x, y = randn(rows, cols), randn(rows, cols)
    return [
        Step("matmul", f"({n}, {n}) @ ({n}, {n}) {name}", (randn(n, n), randn(n, n)),
             torch.matmul, 200),
        Step("scaled_dot_product_attention", f"q, k, v (1, 8, {seq}, 64) {name}",
             (randn(1, 8, seq, 64), randn(1, 8, seq, 64), randn(1, 8, seq, 64)),
             F.scaled_dot_product_attention, 200 if cuda else 20),
        Step("add", f"({rows}, {cols}) + ({rows}, {cols}) {name}", (x, y), torch.add,
             pointwise_reps),
        Step("mul", f"({rows}, {cols}) * ({rows}, {cols}) {name}", (x, y), torch.mul,
             pointwise_reps),
        Step("gelu", f"({rows}, {cols}) {name}", (x,), F.gelu, pointwise_reps),
        Step("silu", f"({rows}, {cols}) {name}", (x,), F.silu, pointwise_reps),
        Step("where", f"where(x > 0, x, y) ({rows}, {cols}) {name}", (x > 0, x, y), torch.where,
             pointwise_reps),
        Step("exp", f"({rows}, {cols}) {name}", (x,), torch.exp, pointwise_reps),
        Step("copy_", f"bfloat16 -> float32 ({rows}, {cols})",
             (torch.empty(rows, cols, device=device), randn(rows, cols, dtype=torch.bfloat16)),
             lambda dst, src: dst.copy_(src), pointwise_reps),
    ]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_ms(step: Step, device: str) -> float:
    """Mean time per run on a host clock with the device synchronized, as the quick start
    measures it, after a few warm-up runs."""
    for _ in range(3):
        step.run(*step.inputs)
    sync(device)
    start = time.perf_counter()
    for _ in range(step.reps):
        step.run(*step.inputs)
    sync(device)
    return (time.perf_counter() - start) / step.reps * 1e3


def max_abs_diff(expected: torch.Tensor, actual: torch.Tensor) -> float:
    return float((expected.double() - actual.double()).abs().max())


def served_text(served: Counter) -> str:
    if not served:
        return "not served: fell through to torch"
    return "served " + ", ".join(f"{name} x{count}" for name, count in sorted(served.items()))


def main() -> int:
    device = pick_device()
    families = Counter(row.family for row in gemforge.registered_ops())
    print(f"gemforge {gemforge.__version__}, torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""))
    print(f"backends available: {', '.join(gemforge.available_backends())}; "
          f"registered overloads: {sum(families.values())} "
          f"({', '.join(f'{f} {n}' for f, n in sorted(families.items()))})")
    print()

    plan = steps(device)
    plain = {}
    for step in plan:  # PyTorch's own kernels
        expected = step.run(*step.inputs).clone()
        plain[step.name] = (expected, time_ms(step, device))

    total, fell_through = Counter(), []
    print(f"{'op':<30}{'torch ms':>10}{'gemforge ms':>13}{'speedup':>9}{'max|diff|':>11}  what")
    with gemforge.use_gems(backends=[device]):  # the same calls, now through gemforge
        for step in plan:
            with gemforge.collect_stats() as served:
                actual = step.run(*step.inputs)
                sync(device)
            total.update(served)
            if not served:
                fell_through.append(step.name)
            expected, torch_ms = plain[step.name]
            gems_ms = time_ms(step, device)
            print(f"{step.name:<30}{torch_ms:>10.4f}{gems_ms:>13.4f}{torch_ms / gems_ms:>8.2f}x"
                  f"{max_abs_diff(expected, actual):>11.3g}  {step.what}")
            print(f"{'':<30}{served_text(served)}")

    print()
    print(f"gemforge served {len(plan) - len(fell_through)} of {len(plan)} steps; overloads "
          f"counted on their first call: "
          + (", ".join(f"{name} x{n}" for name, n in sorted(total.items())) or "none"))
    if fell_through:
        print(f"fell through to torch's own kernels (not served by gemforge on {device} yet): "
              + ", ".join(fell_through))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
