"""Shared fixtures and helpers of gemforge's Python tests.

Every op test follows one pattern (`check`): build the inputs once, run the call with torch's own
kernels, run it again on copies of the inputs under `gemforge.use_gems()`, and compare
  - floating results with the same call computed by torch in float64 / complex128 on the CPU,
    within the tolerance of the result's dtype;
  - integer and bool results exactly with torch's own result;
  - dtype, shape, device and aliasing (in-place and out= return their argument) with torch;
and, through `collect_stats()`, that gemforge served the call itself.
"""

from __future__ import annotations

import contextlib
import warnings
import zlib

import pytest
import torch

import gemforge

DEVICE = "cuda" if torch.cuda.is_available() and "cuda" in gemforge.available_backends() else "cpu"
BACKEND = DEVICE

BOOL = [torch.bool]
INTS = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]
FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
COMPLEX = [torch.complex64, torch.complex128]
ALL_DTYPES = BOOL + INTS + FLOATS + COMPLEX

SHAPES = [(), (1,), (0,), (7,), (3, 5), (33, 65), (2, 3, 5, 7), (1023,)]

# (rtol, atol) of a floating result against a float64 reference; integers and bool are exact.
TOLERANCES = {
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
    torch.complex64: (1.3e-6, 1e-5),
    torch.complex128: (1e-7, 1e-7),
}


_UNARY = ["neg", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "silu"]
_COMPARE = ["eq", "ne", "lt", "le", "gt", "ge"]

# The pointwise overloads gemforge promises; each must be a row of registered_ops().
POINTWISE_OVERLOADS = (
    [f"{op}.{ov}" for op in ("add", "sub")
     for ov in ("Tensor", "Scalar", "out", "Scalar_out")]
    + ["add_.Tensor", "add_.Scalar", "sub_.Tensor", "sub_.Scalar"]
    + ["mul.Tensor", "mul.Scalar", "mul.out", "mul.Scalar_out", "mul_.Tensor", "mul_.Scalar"]
    + [f"div.{ov}" for ov in ("Tensor", "Scalar", "Tensor_mode", "Scalar_mode", "out",
                              "out_mode", "Scalar_out", "Scalar_mode_out")]
    + [f"div_.{ov}" for ov in ("Tensor", "Tensor_mode", "Scalar", "Scalar_mode")]
    + [name for op in _UNARY + ["abs", "relu", "gelu", "logical_not"]
       for name in (f"{op}.default", f"{op}.out", f"{op}_.default")]
    + ["where.self", "where.self_out"]
    + ["clamp.default", "clamp.Tensor", "clamp.out", "clamp.Tensor_out",
       "clamp_.default", "clamp_.Tensor"]
    + [f"pow.{ov}" for ov in ("Tensor_Tensor", "Tensor_Scalar", "Scalar", "Scalar_out",
                              "Tensor_Scalar_out", "Tensor_Tensor_out")]
    + ["pow_.Scalar", "pow_.Tensor"]
    + [name for op in _COMPARE
       for name in (f"{op}.Tensor", f"{op}.Scalar", f"{op}.Scalar_out", f"{op}.Tensor_out",
                    f"{op}_.Scalar", f"{op}_.Tensor")]
    + [name for op in ("logical_and", "logical_or")
       for name in (f"{op}.default", f"{op}.out", f"{op}_.default")]
    + ["fill_.Scalar", "fill_.Tensor", "copy_.default"]
)


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a GPU and gemforge's cuda backend")


def pytest_collection_modifyitems(config, items):
    # The tests past 2**31 elements run last: a device fault there would poison the CUDA
    # context for every test after it, hiding their results.
    items.sort(key=lambda item: item.fspath.basename == "test_large.py")
    if DEVICE == "cuda":
        return
    skip = pytest.mark.skip(reason="needs a GPU and gemforge's cuda backend")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def device():
    return DEVICE


@pytest.fixture(autouse=True)
def _torch_kernels_between_tests(request):
    """Each test starts with torch's own kernels, no stats recording and a seed of its own."""
    gemforge.disable()
    gemforge.record_stats(False)
    torch.manual_seed(zlib.crc32(request.node.nodeid.encode()))
    yield
    gemforge.disable()
    gemforge.record_stats(False)


# ---- names --------------------------------------------------------------------------------------

def full_name(overload: str) -> str:
    """'neg' -> 'neg.default'; 'add.Tensor' stays."""
    return overload if "." in overload else overload + ".default"


def base_name(overload: str) -> str:
    return overload.split(".")[0]


def registered_names() -> dict:
    """{full overload name: name as gemforge writes it} for every row of the table."""
    return {full_name(row.overload): row.overload for row in gemforge.registered_ops()}


def row_backends(overload: str) -> tuple:
    """The backends the table serves `overload` on."""
    full = full_name(overload)
    return next(row.backends for row in gemforge.registered_ops() if full_name(row.overload) == full)


def served_count(counts, overload: str) -> int:
    """Calls of `overload` in a stats Counter, whichever way gemforge spells '.default'."""
    full = full_name(overload)
    return sum(n for name, n in counts.items() if full_name(name) == full)


def aten_op(overload: str):
    base, _, name = full_name(overload).partition(".")
    return getattr(getattr(torch.ops.aten, base), name)


# ---- inputs -------------------------------------------------------------------------------------

def make(shape, dtype, device=DEVICE, low=-3.0, high=3.0, *, nonzero=False):
    """Fresh random values in [low, high]. nonzero=True keeps every value away from 0 (at least
    0.25 in magnitude for floating dtypes, at least 1 for integers): safe divisors."""
    shape = tuple(shape)
    if dtype is torch.bool:
        return torch.rand(shape, device=device) < 0.5
    if dtype.is_complex:
        part = torch.float32 if dtype is torch.complex64 else torch.float64
        re = make(shape, part, device, low, high, nonzero=nonzero)
        im = make(shape, part, device, low, high, nonzero=nonzero)
        return torch.complex(re, im)
    if dtype.is_floating_point:
        values = torch.empty(shape, dtype=torch.float64, device=device).uniform_(low, high)
        if nonzero:
            away = 0.5 if low <= 0.5 <= high else high
            values = torch.where(values.abs() < 0.25, torch.full_like(values, away), values)
        return values.to(dtype)
    info = torch.iinfo(dtype)
    lo, hi = max(int(low), info.min), min(int(high), info.max)
    values = torch.randint(lo, hi + 1, shape, dtype=torch.int64, device=device)
    if nonzero:
        away = 1 if lo <= 1 <= hi else hi
        values = torch.where(values == 0, torch.full_like(values, away), values)
    return values.to(dtype)


def with_specials(t: torch.Tensor) -> torch.Tensor:
    """t with NaN, +-inf, +-0 and +-1 written over its first elements (floating t, numel >= 6)."""
    flat = t.clone().reshape(-1)
    specials = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1.0, -1.0, 1e4]
    n = min(len(specials), flat.numel())
    flat[:n] = torch.tensor(specials[:n], dtype=torch.float64).to(t.dtype)
    return flat.reshape(t.shape)


# ---- copies that keep layout and aliasing -------------------------------------------------------

def _copy_tensors(args, convert, memo):
    """Copies of the tensors in args (nested in lists/tuples too); views stay views of a copy of
    their base, with the same strides, so in-place and out= calls see the same layout, and two
    arguments that share memory still share it."""
    def one(x):
        if isinstance(x, (list, tuple)):
            return type(x)(one(y) for y in x)
        if not isinstance(x, torch.Tensor):
            return x
        base = x._base if x._base is not None else x
        key = id(base)
        if key not in memo:
            dtype, device = convert(base)
            new_base = torch.empty_strided(base.size(), base.stride(), dtype=dtype, device=device)
            new_base.copy_(base)
            memo[key] = (base, new_base)
        new_base = memo[key][1]
        if x is base:
            return new_base
        return new_base.as_strided(x.size(), x.stride(), x.storage_offset())
    return [one(a) for a in args]


def replicate(args):
    return _copy_tensors(args, lambda t: (t.dtype, t.device), {})


def reference_dtype(dtype, widen_ints):
    if dtype.is_complex:
        return torch.complex128
    if dtype.is_floating_point:
        return torch.float64
    if widen_ints and dtype is not torch.bool:
        return torch.float64
    return dtype


def to_reference(args, widen_ints=False):
    """The args on the CPU in float64 / complex128 (integers too when widen_ints; bool stays)."""
    return _copy_tensors(args, lambda t: (reference_dtype(t.dtype, widen_ints), "cpu"), {})


def _bases(args):
    out = []
    for x in args:
        if isinstance(x, (list, tuple)):
            out.extend(_bases(x))
        elif isinstance(x, torch.Tensor):
            out.append(x._base if x._base is not None else x)
    return out


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.numel() == 0 or b.numel() == 0:
        return True
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


# ---- comparisons --------------------------------------------------------------------------------

def tolerance(dtype):
    return TOLERANCES.get(dtype, (0.0, 0.0))


def is_exact(dtype) -> bool:
    return not (dtype.is_floating_point or dtype.is_complex)


def assert_same_values(actual, expected, *, tol_dtype=None, exact=False):
    """actual (any device) against expected: bitwise when exact or integral, else within the
    tolerance of tol_dtype (default: actual's dtype). NaN equals NaN."""
    rtol, atol = (0.0, 0.0) if exact else tolerance(tol_dtype or actual.dtype)
    actual = actual.detach().cpu()
    expected = expected.detach().cpu()
    if not is_exact(actual.dtype):
        actual = actual.to(reference_dtype(actual.dtype, False))
        expected = expected.to(actual.dtype)
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=True)


def result_dtype(fn, *args):
    """The dtype of torch's result, or None when torch raises."""
    try:
        return fn(*args).dtype
    except Exception:  # noqa: BLE001
        return None


@contextlib.contextmanager
def quiet():
    """Silences torch's warnings where a test expects them (out= resized, complex -> real)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def raised(fn, *args, **kwargs):
    """The exception fn raises, or None."""
    try:
        fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001  (whatever torch raises is the expectation)
        return err
    return None


def assert_same_error(torch_error, gems_error):
    assert torch_error is not None
    assert gems_error is not None, f"torch raised {torch_error!r}; gemforge returned a result"
    assert type(gems_error) is type(torch_error), (
        f"torch raised {type(torch_error).__name__}: {torch_error}\n"
        f"gemforge raised {type(gems_error).__name__}: {gems_error}")


def same_outcome(fn, *args):
    """fn(*args) under gemforge raises what torch raises (same exception type), or neither does."""
    torch_error = raised(fn, *args)
    with gemforge.use_gems():
        gems_error = raised(fn, *args)
    if torch_error is None:
        assert gems_error is None
    else:
        assert_same_error(torch_error, gems_error)


def check(fn, args, *, served=None, reference="float64", tol_dtype=None, backends=None):
    """Runs fn(*args) with torch's kernels and under gemforge, compares as the module docstring
    says, and returns gemforge's result.

    served     the overload gemforge must have served (None: not checked, e.g. a fallback).
    reference  'float64': floating results against fn on float64/complex128 CPU copies;
               'torch':   against torch's own result within tolerances (special values);
               'exact':   bitwise against torch's own result (casts, fills).
    tol_dtype  the dtype whose tolerance applies (default: the result's dtype).

    When torch raises, gemforge must raise the same exception type; nothing else is compared.
    """
    args = list(args)
    ref_source = replicate(args)
    gems_args = replicate(args)
    backends = backends or [BACKEND]
    if served is not None and not set(backends) & set(row_backends(served)):
        # A row for other backends only (its kernel here is slower than torch's): torch's own
        # kernel serves this device, and testing it here would test torch.
        pytest.skip(f"gemforge serves {served} on {row_backends(served)} only")

    torch_error = None
    try:
        expected = fn(*args)
    except Exception as err:  # noqa: BLE001
        torch_error = err
    if torch_error is not None:
        with gemforge.use_gems(backends=backends):
            gems_error = raised(fn, *gems_args)
        assert_same_error(torch_error, gems_error)
        return None

    with gemforge.use_gems(backends=backends), gemforge.collect_stats() as counts:
        actual = fn(*gems_args)
    assert not gemforge.is_enabled()

    if served is not None:
        assert full_name(served) in registered_names(), f"{served} is not a registered overload"
        assert served_count(counts, served) >= 1, (
            f"gemforge did not serve {served}; it served {dict(counts)}")

    assert isinstance(actual, torch.Tensor), f"gemforge returned {type(actual).__name__}"
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype}, torch gives {expected.dtype}"
    assert actual.shape == expected.shape, f"shape {actual.shape}, torch gives {expected.shape}"
    assert actual.device == expected.device
    if expected.is_contiguous():
        assert actual.is_contiguous(), f"strides {actual.stride()}, torch gives {expected.stride()}"
    for given, given_gems in zip(_bases(args), _bases(gems_args)):
        if expected.numel() and _shares_memory(expected, given):
            assert _shares_memory(actual, given_gems), "result does not alias its in/out argument"

    if reference == "exact" or is_exact(expected.dtype):
        assert_same_values(actual, expected, exact=True)
        for mine, theirs in zip(_bases(gems_args), _bases(args)):
            assert_same_values(mine, theirs, exact=True)
    elif reference == "torch":
        assert_same_values(actual, expected, tol_dtype=tol_dtype)
        for mine, theirs in zip(_bases(gems_args), _bases(args)):
            assert_same_values(mine, theirs, tol_dtype=tol_dtype)
    else:
        ref_args = to_reference(ref_source, widen_ints=True)
        try:
            ref = fn(*ref_args)
        except RuntimeError:
            # No float64 form of this call (a few composite out= overloads, e.g. add.Scalar_out,
            # insist on the exact out dtype): torch's own result is the reference.
            ref, ref_args = expected, args
        assert_same_values(actual, ref, tol_dtype=tol_dtype)
        for mine, theirs, native in zip(_bases(gems_args), _bases(ref_args), _bases(args)):
            if is_exact(mine.dtype):
                assert_same_values(mine, native, exact=True)
            else:
                assert_same_values(mine, theirs, tol_dtype=tol_dtype)
    return actual
