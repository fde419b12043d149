"""Small reductions: trace (+ out=), equal, _is_all_true / _is_any_true, allclose, is_nonzero, norm
without dims (norm.Scalar, norm.ScalarOpt_dtype and their out=), renorm (functional, in-place, out=),
weight norm (_weight_norm_interface, its backward, and the _weight_norm composite). Every dtype
torch supports, non-contiguous and empty operands, NaN / inf, autograd, and torch's errors.
"""

from __future__ import annotations

import pytest
import torch

import gemforge
from conftest import DEVICE, FLOATS, INTS, check, make, quiet, served_count

aten = torch.ops.aten


def served_bool(fn, args, served):
    """fn returns a Python bool: gemforge's must equal torch's (or raise the same error type)."""
    try:
        expected = fn(*args)
    except Exception as err:  # noqa: BLE001
        with gemforge.use_gems():
            with pytest.raises(type(err)):
                fn(*args)
        return
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        actual = fn(*args)
    assert isinstance(actual, bool) and actual == expected, (actual, expected)
    if served:
        assert served_count(counts, served) >= 1, dict(counts)


# ---- trace ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.bool] + INTS + FLOATS + [torch.complex64], ids=str)
def test_trace(dtype):
    for shape in ((5, 5), (3, 7), (7, 3), (1, 1), (0, 4)):
        x = make(shape, dtype)
        served = "trace" if dtype not in (torch.bool, torch.float16, torch.bfloat16, torch.complex64) else None
        check(aten.trace, [x], served=served)
    x = make((6, 9), torch.float32)
    check(lambda a: aten.trace(a.t()), [x], served="trace")
    check(lambda a: aten.trace(a[::2, 1::3]), [x], served="trace")
    check(lambda a: aten.trace(a), [with_nan(x)], served="trace", reference="torch")


def with_nan(x):
    x = x.clone()
    x[1, 1] = float("nan")
    return x


def test_trace_out_errors():
    x = make((4, 5), torch.float32)
    with quiet():
        check(lambda a, o: aten.trace.out(a, out=o), [x, torch.empty(0, device=DEVICE)], served="trace.out")
        check(lambda a, o: aten.trace.out(a, out=o),
              [make((4, 5), torch.int32), torch.empty(0, dtype=torch.int64, device=DEVICE)], served="trace.out")
        check(lambda a, o: aten.trace.out(a, out=o), [x, torch.empty(0, dtype=torch.float64, device=DEVICE)])
    check(aten.trace, [make((3,), torch.float32)])
    check(aten.trace, [make((2, 3, 4), torch.float32)])
    check(aten.trace, [make((), torch.float32)])
    # autograd: trace_backward is torch's composite
    def grad(a):
        a = a.detach().requires_grad_()
        torch.trace(a).backward()
        return a.grad
    check(grad, [x], served="trace")


# ---- equal, _is_all_true, _is_any_true, allclose ---------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.bool] + INTS + FLOATS, ids=str)
def test_equal(dtype):
    x = make((4, 6), dtype)
    served_bool(aten.equal, [x, x.clone()], "equal")
    y = x.clone()
    y[2, 3] = 1 if dtype != torch.bool else ~y[2, 3]
    if not torch.equal(x, y):
        served_bool(aten.equal, [x, y], "equal")
    served_bool(aten.equal, [x, x.t().contiguous().t()], "equal")
    served_bool(aten.equal, [x.t(), x.t().contiguous()], "equal")
    served_bool(aten.equal, [x, x[:2]], "equal")               # shapes differ: False
    served_bool(aten.equal, [x[:0], x[:0].clone()], "equal")   # empty
    served_bool(aten.equal, [make((), dtype), make((), dtype)], "equal")


def test_equal_special():
    n = torch.tensor([float("nan"), 1.0], device=DEVICE)
    served_bool(aten.equal, [n, n], "equal")
    served_bool(aten.equal, [n, n.clone()], "equal")
    z = torch.tensor([0.0, 1.0], device=DEVICE)
    served_bool(aten.equal, [z, -z + torch.tensor([0.0, 2.0], device=DEVICE)], "equal")  # -0 == 0
    x = make((3, 4), torch.float32)
    served_bool(aten.equal, [x, x.double()], None)          # dtypes differ: torch's kernel
    served_bool(aten.equal, [x.int(), x.long()], None)
    served_bool(aten.equal, [torch.ones(3, device=DEVICE), torch.ones(1, device=DEVICE)], "equal")
    served_bool(aten.equal, [torch.empty(0, 3, device=DEVICE), torch.empty(3, 0, device=DEVICE)], "equal")


def test_is_all_any_true():
    for values in ([True, True], [True, False], [False, False], []):
        t = torch.tensor(values, dtype=torch.bool, device=DEVICE)
        check(aten._is_all_true, [t], served="_is_all_true", reference="exact")
        check(aten._is_any_true, [t], served="_is_any_true", reference="exact")
    t = make((5, 7), torch.bool)
    check(lambda a: aten._is_all_true(a.t()), [t], served="_is_all_true", reference="exact")
    check(lambda a: aten._is_any_true(a[::2]), [t], served="_is_any_true", reference="exact")
    check(aten._is_all_true, [make((3,), torch.int64)])
    check(aten._is_any_true, [make((3,), torch.float32)])


@pytest.mark.parametrize("dtype", [torch.bool] + INTS + FLOATS + [torch.complex64], ids=str)
def test_is_nonzero(dtype):
    # bool(tensor) reaches is_nonzero: one element (any shape), zero and nonzero; NaN is nonzero
    one = make((1, 1), dtype)
    served_bool(aten.is_nonzero, [one], "is_nonzero")
    served_bool(aten.is_nonzero, [torch.zeros((), dtype=dtype, device=DEVICE)], "is_nonzero")
    served_bool(lambda t: bool(t), [make((), dtype)], "is_nonzero")
    if dtype.is_floating_point:
        served_bool(aten.is_nonzero, [torch.tensor(float("nan"), dtype=dtype, device=DEVICE)], "is_nonzero")
        served_bool(aten.is_nonzero, [torch.tensor(-0.0, dtype=dtype, device=DEVICE)], "is_nonzero")
    if dtype.is_complex:
        served_bool(aten.is_nonzero, [torch.tensor(1j, dtype=dtype, device=DEVICE)], "is_nonzero")
    served_bool(aten.is_nonzero, [make((4, 2), dtype)[::2, :1]], "is_nonzero")  # one element, strided
    # torch's errors: no values, more than one
    for bad in (make((0,), dtype), make((2,), dtype)):
        with pytest.raises(RuntimeError, match="ambiguous"):
            aten.is_nonzero(bad)
        with gemforge.use_gems(), pytest.raises(RuntimeError, match="ambiguous"):
            aten.is_nonzero(bad)


@pytest.mark.parametrize("dtype", INTS[-1:] + FLOATS, ids=str)
def test_allclose(dtype):
    x = make((5, 6), dtype)
    served_bool(aten.allclose, [x, x.clone()], "allclose")
    if dtype.is_floating_point:
        served_bool(aten.allclose, [x, x + 1e-3], "allclose")
        served_bool(lambda a, b: aten.allclose(a, b, 1e-2, 1e-2), [x, x + 1e-3], "allclose")
    served_bool(lambda a, b: aten.allclose(a, b), [x, x[:1]], "allclose")     # broadcasts
    served_bool(lambda a, b: aten.allclose(a, b), [x, x[:2]], "allclose")     # torch's error
    served_bool(lambda a, b: aten.allclose(a, b, -1.0), [x, x], "allclose")   # rtol < 0


def test_allclose_special():
    n = torch.tensor([float("nan"), 1.0, float("inf")], device=DEVICE)
    served_bool(lambda a, b: aten.allclose(a, b), [n, n.clone()], "allclose")
    served_bool(lambda a, b: aten.allclose(a, b, 1e-5, 1e-8, True), [n, n.clone()], "allclose")
    x = make((3,), torch.float32)
    served_bool(aten.allclose, [x, x.double()], "allclose")  # torch's dtype error


# ---- norm without dims ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("p", [2, 1, 3.5, 0, float("inf"), float("-inf")], ids=str)
def test_norm_scalar(dtype, p):
    # fp16/bf16 sums of 60 elements: the tolerance of the dtype covers them
    x = make((6, 10), dtype)
    check(lambda a: aten.norm.Scalar(a, p), [x], served="norm.Scalar")
    check(lambda a: aten.norm.Scalar(a.t(), p), [x], served="norm.Scalar")
    check(lambda a: aten.norm.ScalarOpt_dtype(a, p, dtype=torch.float64), [x], served="norm.ScalarOpt_dtype")
    with quiet():
        check(lambda a, o: aten.norm.Scalar_out(a, p, out=o), [x, torch.empty(0, dtype=dtype, device=DEVICE)],
              served="norm.Scalar_out")
        check(lambda a, o: aten.norm.ScalarOpt_dtype_out(a, p, dtype=torch.float64, out=o),
              [x, torch.empty(0, dtype=torch.float64, device=DEVICE)], served="norm.ScalarOpt_dtype_out")


def test_norm_scalar_edges():
    check(lambda a: aten.norm.Scalar(a), [make((0,), torch.float32)], served="norm.Scalar")
    check(lambda a: aten.norm.Scalar(a), [make((), torch.float32)], served="norm.Scalar")
    x = make((4, 4), torch.float32)
    x[1, 2] = float("nan")
    check(lambda a: aten.norm.Scalar(a), [x], served="norm.Scalar", reference="torch")
    x[1, 2] = float("inf")
    check(lambda a: aten.norm.Scalar(a, 1), [x], served="norm.Scalar", reference="torch")
    check(lambda a: aten.norm.Scalar(a), [make((3,), torch.int32)])
    check(lambda a: aten.norm.ScalarOpt_dtype(a, 2, dtype=torch.float32), [make((3,), torch.float64)])
    check(lambda a: aten.norm.Scalar(a), [make((3,), torch.complex64)])

    def grad(a):
        a = a.detach().requires_grad_()
        aten.norm.Scalar(a, 2).backward()
        return a.grad
    check(grad, [make((3, 5), torch.float32)], served="norm.Scalar")


# ---- renorm -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("p", [2, 1, 3.0, float("inf")], ids=str)
def test_renorm(dtype, p):
    x = make((5, 4, 3), dtype)
    for dim in (0, 1, -1):
        check(lambda a, d=dim: aten.renorm(a, p, d, 2.5), [x], served="renorm")
    check(lambda a: aten.renorm(a.transpose(0, 2), p, 1, 1.0), [x], served="renorm")
    check(lambda a: aten.renorm(a, p, 0, 0.0), [x], served="renorm")
    check(lambda a: aten.renorm(a, p, 0, 1e6), [x], served="renorm")   # no slice over the limit
    check(lambda a: a.clone().renorm_(p, 1, 1.5), [x], served="renorm_")
    with quiet():
        check(lambda a, o: aten.renorm.out(a, p, 2, 1.5, out=o), [x, torch.empty(0, dtype=dtype, device=DEVICE)],
              served="renorm.out")


def test_renorm_edges_errors():
    x = make((4, 6), torch.float32)
    check(lambda a: aten.renorm(a, 2, 0, 1.0), [make((0, 3), torch.float32)], served="renorm")
    y = x.clone()
    y[1, 2] = float("nan")
    check(lambda a: aten.renorm(a, 2, 0, 1.0), [y], served="renorm", reference="torch")
    check(lambda a: aten.renorm(a, 0, 0, 1.0), [x])
    check(lambda a: aten.renorm(a, -1, 0, 1.0), [x])
    check(lambda a: aten.renorm(a, 2, 0, -1.0), [x])
    check(lambda a: aten.renorm(a, 2, 0, 1.0), [make((3,), torch.float32)])
    check(lambda a: aten.renorm(a, 2, 2, 1.0), [x])
    check(lambda a: aten.renorm(a, 2, 0, 1.0), [make((3, 4), torch.int32)])
    with quiet():
        check(lambda a, o: aten.renorm.out(a, 2, 0, 1.0, out=o),
              [x, torch.empty(0, dtype=torch.float64, device=DEVICE)])

    def grad(a):
        a = a.detach().requires_grad_()
        torch.renorm(a, 2, 0, 1.0).sum().backward()
        return a.grad
    check(grad, [x], served="renorm")


# ---- weight norm ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("dim", [0, 2])
def test_weight_norm_interface(dtype, dim):
    v = make((4, 5, 6), dtype)
    g_shape = [1, 1, 1]
    g_shape[dim] = v.shape[dim]
    g = make(tuple(g_shape), dtype)
    check(lambda a, b: aten._weight_norm_interface(a, b, dim)[0], [v, g], served="_weight_norm_interface")
    check(lambda a, b: aten._weight_norm_interface(a, b, dim)[1], [v, g], served="_weight_norm_interface")
    w, norms = aten._weight_norm_interface(v, g, dim)
    grad_w = make(tuple(v.shape), dtype)
    for i in (0, 1):
        check(lambda gw, a, b, n, i=i: aten._weight_norm_interface_backward(gw, a, b, n, dim)[i],
              [grad_w, v, g, norms], served="_weight_norm_interface_backward")


def test_weight_norm_autograd_and_errors():
    v, g = make((6, 5), torch.float32), make((6, 1), torch.float32)

    def step(a, b):
        a = a.detach().requires_grad_()
        b = b.detach().requires_grad_()
        w, _ = aten._weight_norm_interface(a, b, 0)
        w.sum().backward()
        return torch.cat([a.grad.flatten(), b.grad.flatten()])

    check(step, [v, g], served="_weight_norm_interface_backward")
    check(lambda a, b: torch._weight_norm(a, b, 0), [v, g])
    if DEVICE == "cpu":  # torch's cuda kernel takes the first or last dim only (garbage otherwise)
        check(lambda a, b: aten._weight_norm_interface(a, b, 1)[0], [make((3, 4, 5), torch.float32),
                                                                    make((1, 4, 1), torch.float32)])
    check(lambda a, b: aten._weight_norm_interface(a, b, 0)[0], [v, g.double()])
