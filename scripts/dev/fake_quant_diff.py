"""Where gemforge's fake quantization differs from torch's kernel on a device, element by element.

    python scripts/dev/fake_quant_diff.py [--device cuda]

For each form (per tensor, tensor qparams, per channel with int32 / float32 / float16 zero points,
the learnable forms) and dtype: how many outputs and mask entries differ from torch's, the
largest difference in units of the dtype's last place, and a few differing elements with the
input, the quotient x / scale and the float64 round trip beside both results.
"""

from __future__ import annotations

import argparse

import torch

import gemforge

A = torch.ops.aten


def report(name, x, scale, zp, expected, got, show=4):
    e_out, g_out = expected[0], got[0]
    nan = torch.isnan(e_out) & torch.isnan(g_out)
    differs = (e_out != g_out) & ~nan
    mask_differs = (expected[1] != got[1]) if len(expected) > 1 else torch.zeros_like(differs)
    eps = torch.finfo(e_out.dtype).eps
    ulps = ((g_out.double() - e_out.double()).abs() / (e_out.double().abs() * eps).clamp_min(1e-30))[differs]
    print(f"{name}: {int(differs.sum())} of {differs.numel()} values differ (max {float(ulps.max()) if ulps.numel() else 0:.1f}"
          f" ulp), {int(mask_differs.sum())} mask entries")
    idx = (differs | mask_differs).reshape(-1).nonzero().reshape(-1)[:show]
    for i in idx.tolist():
        xi = x.reshape(-1)[i].item()
        s = scale.reshape(-1)[i].item() if torch.is_tensor(scale) and scale.numel() > 1 else float(scale)
        z = zp.reshape(-1)[i].item() if torch.is_tensor(zp) and zp.numel() > 1 else float(zp)
        print(f"    x={xi!r} scale={s!r} zp={z!r} x/scale={xi / s!r} torch={e_out.reshape(-1)[i].item()!r} "
              f"ours={g_out.reshape(-1)[i].item()!r}"
              + (f" mask torch={bool(expected[1].reshape(-1)[i])} ours={bool(got[1].reshape(-1)[i])}"
                 if len(expected) > 1 else ""))


def both(fn, *args):
    expected = fn(*args)
    with gemforge.use_gems():
        got = fn(*args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = got if isinstance(got, tuple) else (got,)
    return expected, got


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    dev = p.parse_args().device
    torch.manual_seed(0)
    specials = torch.tensor([float("nan"), float("inf"), -float("inf"), 1e30, -1e30, 0.0, -0.0, 0.25, 0.35, -0.25])
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        x = (torch.rand(33, 65, device=dev, dtype=torch.float64) * 80 - 40).to(dtype)
        x.view(-1)[:10] = specials.to(dev, dtype)
        report(f"per tensor {dtype}", x, 0.1, 3,
               *both(A.fake_quantize_per_tensor_affine_cachemask, x, 0.1, 3, -128, 127))
        s, z, on = (torch.tensor([0.1], device=dev), torch.tensor([3], dtype=torch.int32, device=dev),
                    torch.tensor([1], device=dev))
        report(f"tensor qparams {dtype}", x, 0.1, 3,
               *both(A._fake_quantize_per_tensor_affine_cachemask_tensor_qparams, x, s, z, on, 0, 255))
        report(f"learnable per tensor {dtype}", x, 0.1, 3,
               *both(A._fake_quantize_learnable_per_tensor_affine, x, s, torch.tensor([3.4], device=dev), -128, 127,
                     1.0))
        scale = torch.rand(65, device=dev) * 0.2 + 0.02
        for zp in (torch.randint(-128, 128, (65,), device=dev).to(torch.int32),
                   (torch.rand(65, device=dev) * 255 - 128), (torch.rand(65, device=dev) * 255 - 128).half()):
            report(f"per channel {dtype} zp {zp.dtype}", x, scale.expand(33, 65), zp.expand(33, 65),
                   *both(A.fake_quantize_per_channel_affine_cachemask, x, scale, zp, 1, -128, 127))
        zp = torch.rand(65, device=dev) * 255 - 128
        report(f"learnable per channel {dtype}", x, scale.expand(33, 65), zp.expand(33, 65),
               *both(A._fake_quantize_learnable_per_channel_affine, x, scale, zp, 1, -128, 127, 1.0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
