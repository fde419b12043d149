"""The pointwise table path's staging variants (backends/cuda/pointwise_table.cuh) against each
other and against torch, without building gemforge.

    python scripts/dev/pointwise_table_standalone.py

Compiles the lookup kernel alone as a torch extension (about a minute). The table is torch's own
gelu (erf form) at every bf16 / fp16 bit pattern, so the kernels are checked bit for bit against
the table itself: over every pattern, over randn data, and over data whose exponents lie mostly
outside the staged window (the slow path). Then times 2048^2 to 16384^2 calls back to back (as a
model calls them) for each variant, with torch's gelu, neg (a plain unary op) and a copy of the
same bytes in the same process.
"""

from __future__ import annotations

import os
import tempfile

import torch
from torch.utils.cpp_extension import load

from cuda_timing import rotating, timeit  # beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SOURCE = r"""
#include <torch/extension.h>
#include "backends/cuda/pointwise_table.cuh"

namespace gemforge::pw::cuda {
bool pdl_enabled() { return true; }
bool table_enabled() { return true; }
}  // namespace gemforge::pw::cuda
namespace P = gemforge::pw::cuda;

template <int Vecs, P::Staging S, int MinBlocks, bool Interleaved = false>
void run(const at::Tensor& table, const at::Tensor& x, at::Tensor& out) {
  const P::Window w = P::window_of(x.scalar_type());
  P::launch_with_smem(P::table_lookup_kernel<Vecs, S, MinBlocks, Interleaved>, dim3(P::sm_count() * MinBlocks),
                      dim3(P::kTableThreads), P::table_smem<S>(w), c10::cuda::getCurrentCUDAStream(),
                      reinterpret_cast<const uint16_t*>(table.data_ptr()), x.numel(),
                      reinterpret_cast<uint16_t*>(out.data_ptr()), reinterpret_cast<const uint16_t*>(x.data_ptr()), w);
}

// variant: 0 whole (as served), 1 window, 2 window then whole, 3 window with two blocks an SM
// (Vecs 2), 4 whole with Vecs 2, 5 and 6: whole, in rounds of a chunk a block (Vecs 4, 2).
at::Tensor lookup(const at::Tensor& table, const at::Tensor& x, int64_t variant) {
  at::Tensor out = at::empty_like(x);
  switch (variant) {
    case 1: run<4, P::Staging::kWindow, 1>(table, x, out); break;
    case 2: run<4, P::Staging::kWindowThenWhole, 1>(table, x, out); break;
    case 3: run<2, P::Staging::kWindow, 2>(table, x, out); break;
    case 4: run<2, P::Staging::kWhole, 1>(table, x, out); break;
    case 5: run<4, P::Staging::kWhole, 1, true>(table, x, out); break;
    case 6: run<2, P::Staging::kWhole, 1, true>(table, x, out); break;
    default: run<4, P::Staging::kWhole, 1>(table, x, out);
  }
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("lookup", &lookup); }
"""

VARIANTS = {0: "whole (served)", 1: "window", 2: "window, then whole", 3: "window, 2 blocks/SM", 4: "whole, Vecs 2",
            5: "whole, rounds", 6: "whole, rounds, Vecs 2"}


def build():
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "table_ext.cu")
    with open(path, "w") as f:
        f.write(SOURCE)
    return load(name="table_ext", sources=[path], extra_include_paths=[os.path.join(ROOT, "csrc"),
                os.path.join(ROOT, "include")],
                extra_cuda_cflags=["-O3", "-std=c++17", "-gencode=arch=compute_90a,code=sm_90a", "--expt-relaxed-constexpr",
                                   "-DGEMFORGE_WITH_CUDA", "-Xptxas", "-v"],
                extra_cflags=["-O3", "-std=c++17", "-DGEMFORGE_WITH_CUDA"], verbose=False)


def every_pattern(dtype):
    """The 65536 values of a 2-byte dtype, at the index of their bits (as the table holds them)."""
    return torch.arange(1 << 16, dtype=torch.int32, device="cuda").to(torch.int16).view(dtype)


def main():
    ext = build()
    big = torch.empty(1 << 29, dtype=torch.uint8, device="cuda")
    ceiling = 2 * big.numel() / timeit(lambda: big.clone(), 20, warmup=5) / 1e3  # GB/s, bytes read + written
    del big
    print(f"{torch.cuda.get_device_name()}: copy ceiling {ceiling:.0f} GB/s (512 MiB clone)")
    worst = 0
    for dtype in (torch.bfloat16, torch.float16):
        patterns = every_pattern(dtype)
        table = torch.nn.functional.gelu(patterns.float()).to(dtype)  # the op, rounded once
        for name, x in [("every pattern", patterns.repeat(64)), ("randn", torch.randn(1 << 22, device="cuda").to(dtype)),
                        ("wide exponents", (torch.randn(1 << 22, device="cuda") * torch.exp2(
                            torch.randint(-40, 40, (1 << 22,), device="cuda").float())).to(dtype)),
                        ("odd length", torch.randn((1 << 22) + 5, device="cuda").to(dtype)),
                        ("rounds, odd length", torch.randn((3 << 22) + 13, device="cuda").to(dtype))]:
            want = table.view(torch.int16)[(x.view(torch.int16).long() & 0xFFFF)]
            for v in VARIANTS:
                got = ext.lookup(table, x, v).view(torch.int16)
                bad = int((got != want).sum())
                worst = max(worst, bad)
                if bad:
                    print(f"  {dtype} {name} variant {v}: {bad} elements differ")
    print(f"correctness: {'every variant exact' if worst == 0 else 'DIFFERENCES'}")

    for dtype in (torch.bfloat16, torch.float16):
        table = torch.nn.functional.gelu(every_pattern(dtype).float()).to(dtype)
        for side in (2048, 4096, 8192, 16384):
            xs = [torch.randn(side, side, device="cuda").to(dtype) for _ in range(4)]
            nbytes = 2 * xs[0].numel() * 2
            per_call = rotating(xs)  # device µs a call, 50 calls back to back

            row = {"torch gelu": per_call(lambda x: torch.nn.functional.gelu(x)),
                   "torch neg": per_call(torch.neg), "torch clone": per_call(torch.clone)}
            for v in VARIANTS:
                row[f"v{v}"] = per_call(lambda x, v=v: ext.lookup(table, x, v))
            cells = ", ".join(f"{k} {us:.1f} us {nbytes / us / 1e3 / ceiling * 100:.0f}%" for k, us in row.items())
            print(f"{str(dtype)[6:]} {side}^2: {cells}")
    print("variants:", VARIANTS)


if __name__ == "__main__":
    main()
