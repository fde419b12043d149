"""PyTorch's own sample inputs (the OpInfos of op_db) through gemforge against torch's kernels.

Every OpInfo, on the test device (the cpu backend without a GPU), float32, int64 and complex64
(bfloat16 too on cuda), its first samples: gemforge's results equal torch's within fp32-level
tolerances (integers and bools exactly; in bfloat16, where they differ by more, gemforge's must
be about as near the float64 result as torch's, or nearer), or both raise the same exception
type. The same for the samples' strided copies (SampleInput.noncontiguous: every tensor
argument strided, same values) and, where the OpInfo supports out=, through out= tensors filled
with garbage (float32 and int64). And for the OpInfos with autograd, float32, the samples and their strided copies: the
gradients of every input that requires one, for the same output gradients, within 1e-4 of the
largest (forward and backward under gemforge, against both under torch). A catch-all next to the
per-family tests: it exercises argument combinations those do not spell out (keyword forms,
scalar operands, odd shapes, a bias without a weight), through the public Python API, as users
call it.

Left out: random ops and samples (dropout, training-mode rrelu and attention, random pooling,
randomized SVD): their streams are gemforge's own, and test_random.py checks their
distributions. Where torch leaves the order of ties open (sort, argsort, topk, kthvalue, mode,
median), the values must match and the indices may differ; mode's value, among equally frequent
ones, may differ from torch's cuda pick. An OpInfo none of whose samples reached a gemforge
kernel is skipped, not passed: it would only compare torch with itself.
"""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

import gemforge
from conftest import DEVICE

op_db = pytest.importorskip("torch.testing._internal.common_methods_invocations").op_db

SAMPLES = 8  # the first samples of each OpInfo and dtype
DTYPES = [torch.float32, torch.int64, torch.complex64] + ([torch.bfloat16] if DEVICE == "cuda" else [])
TOL = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-7, 1e-7), torch.bfloat16: (1.6e-2, 1e-2),
       torch.float16: (2e-3, 1e-3)}
RANDOM = ("rand", "dropout", "bernoulli", "normal", "multinomial", "uniform", "exponential", "geometric",
          "cauchy", "log_normal", "randperm", "empty", "rrelu", "fractional_max_pool", "svd_lowrank", "pca_lowrank")
TIES = ("sort", "argsort", "msort", "topk", "kthvalue", "mode", "median", "nanmedian")
# Outputs torch leaves uninitialized: the attention ops' random seed and offset without dropout.
UNSET = {"torch.ops.aten._flash_attention_forward": (2, 3), "torch.ops.aten._efficient_attention_forward": (2, 3)}
LOW_PRECISION = (torch.bfloat16, torch.float16)

OPS = [op for op in op_db if not any(word in op.name for word in RANDOM)]


def random_sample(sample) -> bool:
    """Samples that draw random numbers: dropout in attention or in a functional's training mode."""
    kwargs = sample.kwargs
    return bool(kwargs.get("dropout_p", 0)) or bool(kwargs.get("training", False))


def fresh(x):
    """A leaf copy of x (requires_grad as x), through lists and tuples; in x's strides where they
    do not overlap (a strided sample stays strided, its gaps zeros), as clone() would not."""
    if isinstance(x, torch.Tensor):
        y = x.detach()
        if y.layout == torch.strided and not y.is_contiguous() and torch._debug_has_internal_overlap(y) == 0:
            extent = 1 + sum((n - 1) * step for n, step in zip(y.shape, y.stride())) if y.numel() else 0
            copy = torch.zeros(extent, dtype=y.dtype, device=y.device).as_strided(y.shape, y.stride())
            copy.copy_(y)
        else:
            copy = y.clone()
        return copy.requires_grad_(x.requires_grad)
    if isinstance(x, (list, tuple)):
        return type(x)(fresh(y) for y in x)
    return x


def strided(sample):
    """sample's strided copy (SampleInput.noncontiguous: every tensor argument strided, the same
    values), or None where it has none (sparse arguments)."""
    try:
        return sample.noncontiguous()
    except RuntimeError:
        return None


def run(op, sample, out=None):
    """The op on fresh copies of the sample (in-place variants must not see each other's writes),
    into `out` (made by out()) where given: (result, None) or (None, the exception)."""
    try:
        kwargs = dict(sample.kwargs, out=out()) if out is not None else sample.kwargs
        return op(fresh(sample.input), *fresh(list(sample.args)), **kwargs), None
    except Exception as error:  # the exception type is compared with gemforge's
        return None, error


def garbage_like(result):
    """out= tensors of `result`'s form (a tensor or a tuple of them), filled with garbage."""
    def fill(t):
        return torch.ones_like(t) if t.dtype == torch.bool else torch.full_like(t, 7)
    if isinstance(result, torch.Tensor):
        return lambda: fill(result)
    return lambda: tuple(fill(t) for t in result)


def tensors(x):
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for y in x for t in tensors(y)]
    return [x]


def compare(op, expected, got):
    """Every output alike; any difference raises, so a later output is only reached where the
    earlier ones (a tie op's values) matched."""
    ours, theirs = tensors(got), tensors(expected)
    assert len(ours) == len(theirs), f"{len(ours)} outputs, torch gives {len(theirs)}"
    for i, (g, e) in enumerate(zip(ours, theirs)):
        if i in UNSET.get(op.name, ()):
            continue
        if not isinstance(e, torch.Tensor):
            assert g == e or (isinstance(e, float) and e != e and g != g), f"output {i}: {g} != {e}"
            continue
        if e.layout != torch.strided:
            continue
        assert (g.dtype, g.shape) == (e.dtype, e.shape), f"output {i}: {g.dtype}{tuple(g.shape)}, torch {e.dtype}{tuple(e.shape)}"
        if e.is_floating_point() or e.is_complex():
            rtol, atol = TOL.get(e.dtype, TOL[torch.float32])
            torch.testing.assert_close(g, e, rtol=rtol, atol=atol, equal_nan=True)
        elif not torch.equal(g, e):
            # a tie's index is unspecified where the values (output 0) matched
            if op.name in TIES and i > 0:
                continue
            raise AssertionError(f"output {i}: integer values differ from torch's")


def upcast(sample):
    """sample with its floating tensors (and dtype arguments) in float64."""
    def f(x):
        if isinstance(x, torch.dtype):
            return torch.float64 if x.is_floating_point else x
        return x.double() if x.is_floating_point() else x
    return sample.transform(f)


def nearer_float64(op, sample, expected, got):
    """Whether gemforge's floating outputs are about as near the float64 result (torch's, on the
    sample in float64) as torch's are (the largest error at most twice torch's), its other
    outputs equal. Where bfloat16 results differ by more than a rounding, torch's kernel often
    rounds its partial results (cumsum, addbmm and addr round each step to bfloat16) where
    gemforge's keeps them in float32; or both round partial results, in different orders
    (bilinear's composite sums bfloat16 products, 4 roundings apart in one sample)."""
    reference, error = run(op, upcast(sample))
    if error is not None:
        return False
    refs = tensors(reference)
    for g, e, r in zip(tensors(got), tensors(expected), refs):
        if not isinstance(e, torch.Tensor) or not (e.is_floating_point() or e.is_complex()):
            if isinstance(e, torch.Tensor) and not torch.equal(g, e):
                return False
            continue
        r = r.to(torch.float64)
        ours, theirs = (g.double() - r).abs().nan_to_num(0), (e.double() - r).abs().nan_to_num(0)
        if not torch.equal(g.isnan(), e.isnan()) or ours.max() > 2 * theirs.max():
            return False
    return len(refs) == len(tensors(expected))


def as_frequent(sample, expected, got):
    """mode: whether gemforge's values occur as often along the dim as torch's. Among equally
    frequent values torch's cpu kernel picks the smallest, as gemforge does on both backends; its
    cuda kernel's pick follows its reduction order (of [2, -8, 2, 6, 6], 6)."""
    x = sample.input
    dim = sample.args[0] if sample.args else sample.kwargs.get("dim", -1)
    keepdim = sample.args[1] if len(sample.args) > 1 else sample.kwargs.get("keepdim", False)
    if x.dim() == 0:
        return False
    def count(values):
        v = values if keepdim else values.unsqueeze(dim)
        return (x == v).sum(dim)
    return torch.equal(count(tensors(got)[0]), count(tensors(expected)[0]))


def check_samples(op, dtypes, layout="contiguous"):
    """op's first samples in each of `dtypes` it supports, under gemforge against torch.
    layout: 'contiguous' as op_db makes them; 'noncontiguous' their strided copies (the same
    values, every tensor argument strided); 'out' through out= tensors of torch's result's form,
    filled with garbage."""
    backends = None if DEVICE == "cuda" else ["cpu"]
    served_any = False
    for dtype in dtypes:
        if dtype not in op.supported_dtypes(DEVICE):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                samples = list(op.sample_inputs(DEVICE, dtype, requires_grad=False))[:SAMPLES]
            except Exception:  # an OpInfo whose sample generator needs what this build lacks
                continue
            for index, sample in enumerate(samples):
                if random_sample(sample):
                    continue
                if layout == "noncontiguous" and (sample := strided(sample)) is None:
                    continue
                expected, expected_error = run(op, sample)
                out = garbage_like(expected) if layout == "out" and expected_error is None else None
                if out is not None:
                    expected, expected_error = run(op, sample, out)
                with gemforge.use_gems(backends=backends), gemforge.collect_stats() as counts:
                    got, error = run(op, sample, out)
                served = sum(counts.values()) > 0
                served_any = served_any or served
                where = f"{dtype} sample {index}: {sample.summary() if hasattr(sample, 'summary') else sample}"
                if expected_error is not None or error is not None:
                    assert type(error) is type(expected_error), \
                        f"{where}: gemforge raised {error!r}, torch {expected_error!r}"
                    continue
                if served:
                    try:
                        compare(op, expected, got)
                    except AssertionError as failure:
                        if dtype in LOW_PRECISION and nearer_float64(op, sample, expected, got):
                            continue
                        if op.name == "mode" and as_frequent(sample, expected, got):
                            continue
                        raise AssertionError(f"{where}: {failure}") from None
    if not served_any:
        pytest.skip("no sample reached a gemforge kernel")


def op_id(op):
    return f"{op.name}.{op.variant_test_name}" if op.variant_test_name else op.name


@pytest.mark.parametrize("op", OPS, ids=op_id)
def test_opinfo_samples(op):
    check_samples(op, DTYPES)


# Strided copies and out=: float32 and int64 (the layouts are what is under test, not the dtypes).
@pytest.mark.parametrize("op", OPS, ids=op_id)
def test_opinfo_noncontiguous(op):
    check_samples(op, [torch.float32, torch.int64], "noncontiguous")


OUT_OPS = [op for op in OPS if op.supports_out]


@pytest.mark.parametrize("op", OUT_OPS, ids=op_id)
def test_opinfo_out(op):
    check_samples(op, [torch.float32, torch.int64], "out")


GRAD_SAMPLES = 4
GRAD_OPS = [op for op in OPS if op.supports_autograd and torch.float32 in op.supported_dtypes(DEVICE)]


def gems(backends):
    return gemforge.use_gems(backends=backends) if backends is not None else contextlib.nullcontext()


def gradients(op, sample, output_grads, backends):
    """The op's input gradients for `output_grads` (made on the first call when None): under
    gemforge (backends) or torch (None). (grads, output_grads, calls gemforge served)."""
    inp, args = fresh(sample.input), fresh(list(sample.args))
    kwargs = {k: fresh(v) for k, v in sample.kwargs.items()}
    leaves = [t for t in tensors(inp) + tensors(args) + tensors(list(kwargs.values()))
              if isinstance(t, torch.Tensor) and t.requires_grad]
    with gems(backends), gemforge.collect_stats() as forward:
        out = op(inp, *args, **kwargs)
    outs = [o for o in tensors(out) if isinstance(o, torch.Tensor) and o.requires_grad and o.is_floating_point()]
    if not outs or not leaves:
        return None, output_grads, 0
    if output_grads is None:  # made outside gemforge: its random stream is its own
        gen = torch.Generator(device=DEVICE).manual_seed(0)
        output_grads = [torch.randn(o.shape, generator=gen, device=DEVICE, dtype=o.dtype) for o in outs]
    with gems(backends), gemforge.collect_stats() as backward:
        grads = torch.autograd.grad(outs, leaves, output_grads, allow_unused=True)
    return grads, output_grads, sum(forward.values()) + sum(backward.values())


@pytest.mark.parametrize("op", GRAD_OPS, ids=op_id)
def test_opinfo_gradients(op):
    check_gradients(op)


@pytest.mark.parametrize("op", GRAD_OPS, ids=op_id)
def test_opinfo_gradients_noncontiguous(op):
    check_gradients(op, noncontiguous=True)


def check_gradients(op, noncontiguous=False):
    """op's first float32 samples (their strided copies where noncontiguous): every input's
    gradient under gemforge against torch's, for the same output gradients."""
    backends = ["cuda"] if DEVICE == "cuda" else ["cpu"]
    served_any = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            samples = list(op.sample_inputs(DEVICE, torch.float32, requires_grad=True))[:GRAD_SAMPLES]
        except Exception:  # an OpInfo whose sample generator needs what this build lacks
            pytest.skip("no samples in this build")
        for index, sample in enumerate(samples):
            if random_sample(sample):
                continue
            if noncontiguous and (sample := strided(sample)) is None:
                continue
            try:
                expected, output_grads, _ = gradients(op, sample, None, None)
                expected_error = None
            except Exception as error:
                expected, output_grads, expected_error = None, None, error
            try:
                got, _, served = gradients(op, sample, output_grads, backends)
                error = None
            except Exception as failure:
                got, served, error = None, 1, failure
            served_any = served_any or served > 0
            where = f"sample {index}"
            if expected_error is not None or error is not None:
                assert type(error) is type(expected_error), f"{where}: gemforge raised {error!r}, torch {expected_error!r}"
                continue
            if expected is None:
                continue
            dense = [e for e in expected if e is not None and e.layout == torch.strided]
            scale = max([e[e.isfinite()].abs().max().item() for e in dense if e.isfinite().any()] + [1.0])
            for i, (g, e) in enumerate(zip(got, expected)):
                assert (g is None) == (e is None), f"{where}: gradient {i} defined on one side only"
                if e is None or e.layout != torch.strided:
                    continue
                assert (g.dtype, g.shape) == (e.dtype, e.shape), f"{where}: gradient {i}: {g.dtype}{tuple(g.shape)}"
                if e.numel():
                    g64, e64 = g.double(), e.double()
                    # equal (infinities included) or NaN on both sides: no difference
                    diff = torch.where((g64 == e64) | (g64.isnan() & e64.isnan()), 0.0, (g64 - e64).abs())
                    err = diff.nan_to_num(nan=float("inf")).max().item()
                    assert err <= 1e-4 * scale, f"{where}: gradient {i} differs by {err:.3g} (largest {scale:.3g})"
    if not served_any:
        pytest.skip("no sample reached a gemforge kernel")
