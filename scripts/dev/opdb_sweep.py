"""Runs PyTorch's own OpInfo sample inputs (op_db) through torch and through gemforge, and lists
every case where gemforge served a call and the results differ. For floating results it also
computes the op on float64 copies of the inputs and says which side is nearer, so that a torch
artifact (its bf16 intermediate rounding, an overflow of its own) is told apart from a gemforge
bug. Random ops are left out (their results need not match).

    python scripts/dev/opdb_sweep.py [--device cpu|cuda] [--dtypes float32 bfloat16 int64 bool]
                                     [--samples 6] [--ops div fmod ...] [--noncontiguous] [--out]

--noncontiguous runs each sample's non-contiguous copy (SampleInput.noncontiguous(): every
tensor argument strided, same values); --out calls the op with out= tensors (of torch's result's
shapes and dtypes, filled with garbage) where the OpInfo supports out=, and compares those.

Needs `pip install expecttest` (op_db imports it). A sweep of the cpu backend over four dtypes
took about 8 minutes on one core.
"""
import argparse
import time

import torch

import gemforge

RANDOM = ("rand", "normal", "bernoulli", "multinomial", "dropout", "uniform", "exponential",
          "geometric", "cauchy", "log_normal", "poisson", "empty", "rrelu", "fractional_max_pool",
          "scaled_dot_product_attention", "multi_head_attention", "svd_lowrank", "pca_lowrank")
# Ops whose index outputs may pick any of equal values (unless stable=True): only their values
# are compared.
TIES = ("sort", "argsort", "topk", "kthvalue", "msort", "median", "nanmedian", "mode", "min", "max",
        "argmin", "argmax")
TOL = {torch.bfloat16: (1.6e-2, 1e-2), torch.float16: (1e-3, 1e-3), torch.float32: (1.3e-5, 1e-5),
       torch.float64: (1e-7, 1e-7)}


def tensors(x):
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in tensors(v)]
    return []


def upcast(x):
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.double()
    if isinstance(x, (list, tuple)):
        return type(x)(upcast(v) for v in x)
    return x


def differs(e, a):
    """A reason the outputs differ, or None."""
    if e.layout != torch.strided:
        return None  # sparse outputs: not compared
    if e.shape != a.shape or e.dtype != a.dtype:
        return f"meta {tuple(e.shape)} {e.dtype} vs {tuple(a.shape)} {a.dtype}"
    if e.dtype in TOL:
        rtol, atol = TOL[e.dtype]
        bad = ~torch.isclose(a.double(), e.double(), rtol=rtol, atol=atol, equal_nan=True)
        return f"{int(bad.sum())} of {e.numel()} values" if bad.any() else None
    if e.is_complex() and e.dtype != torch.complex32:  # real and imaginary parts at the parts' tolerance
        return differs(torch.view_as_real(e.resolve_conj()), torch.view_as_real(a.resolve_conj()))
    if e.dtype == torch.complex32:  # no cpu equal for it
        a, e = a.to(torch.complex64), e.to(torch.complex64)
    return None if torch.equal(a, e) else "values"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16", "int64", "bool"])
    ap.add_argument("--samples", type=int, default=6)
    ap.add_argument("--ops", nargs="+")
    ap.add_argument("--noncontiguous", action="store_true")
    ap.add_argument("--out", action="store_true")
    args = ap.parse_args()
    from torch.testing._internal.common_methods_invocations import op_db

    dev, dtypes = args.device, [getattr(torch, d) for d in args.dtypes]
    torch.manual_seed(0)
    served, found, start = set(), [], time.time()
    for op in op_db:
        if any(r in op.name for r in RANDOM) or (args.ops and op.name not in args.ops):
            continue
        if args.out and not op.supports_out:
            continue
        for dt in dtypes:
            if dt not in op.supported_dtypes(dev):
                continue
            try:
                samples = list(op.sample_inputs(dev, dt, requires_grad=False))[: args.samples]
            except Exception:  # noqa: BLE001  (a sample generator torch itself cannot run here)
                continue
            for s in samples:
                if args.noncontiguous:
                    try:
                        s = s.noncontiguous()
                    except RuntimeError:  # sparse arguments have no strided copy
                        continue
                try:
                    expected, torch_err = op(s.input, *s.args, **s.kwargs), None
                except Exception as err:  # noqa: BLE001
                    expected, torch_err = None, err
                template = expected if args.out and torch_err is None else None
                if template is not None:
                    # torch's own out= call first, then gemforge's, into garbage-filled tensors
                    def outs():
                        made = [torch.full_like(t, 7) if t.dtype != torch.bool else torch.ones_like(t)
                                for t in tensors(template)]
                        return made[0] if isinstance(template, torch.Tensor) else tuple(made)
                    try:
                        expected, torch_err = op(s.input, *s.args, out=outs(), **s.kwargs), None
                    except Exception as err:  # noqa: BLE001
                        expected, torch_err = None, err
                with gemforge.use_gems(backends=[dev]), gemforge.collect_stats() as counts:
                    try:
                        if template is not None:
                            actual, gems_err = op(s.input, *s.args, out=outs(), **s.kwargs), None
                        else:
                            actual, gems_err = op(s.input, *s.args, **s.kwargs), None
                    except Exception as err:  # noqa: BLE001
                        actual, gems_err = None, err
                if not counts and gems_err is None:
                    continue
                served.add(op.name)
                if torch_err or gems_err:
                    if type(torch_err) is not type(gems_err):
                        found.append((op.name, dt, f"error: torch {torch_err!r:.80} / gemforge {gems_err!r:.80}"))
                    continue
                for k, (e, a) in enumerate(zip(tensors(expected), tensors(actual))):
                    if op.name in TIES and e.dtype == torch.int64 and not s.kwargs.get("stable"):
                        continue
                    why = differs(e, a)
                    if why is None:
                        continue
                    note = ""
                    if e.is_floating_point() and e.layout == torch.strided:
                        try:
                            ref = tensors(op(upcast(s.input), *upcast(s.args), **upcast(s.kwargs)))[k]
                            te, ta = (e.double() - ref).abs().max().item(), (a.double() - ref).abs().max().item()
                            note = f"; max error vs float64: torch {te:.3g}, gemforge {ta:.3g}"
                        except Exception:  # noqa: BLE001
                            pass
                    found.append((op.name, dt, f"output {k}: {why}{note} ({dict(counts)})"))
                    break
    print(f"{len(served)} OpInfos reached gemforge on {dev} ({time.time() - start:.0f} s); "
          f"{len(found)} differences:")
    for name, dt, what in found:
        print(f"- {name} {str(dt).replace('torch.', '')}: {what}")


if __name__ == "__main__":
    main()
