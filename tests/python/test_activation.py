"""Activations and the backward ops autograd calls for them: every overload gemforge serves, every
dtype torch accepts (integers where torch takes them), 0-d / empty / odd shapes, strided and
broadcast operands, out= and in-place forms, values exactly at each op's thresholds, NaN and
+-inf, and the errors torch raises.

Forward and backward ops go through conftest.check: gemforge against the same call computed by
torch in float64 on the CPU (for a backward op that is torch's own float64 gradient formula), or
against torch's own result on the device where torch's two kernels disagree on special values.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Callable, Optional

import pytest
import torch
import torch.nn.functional as F

import gemforge
from conftest import (quiet, result_dtype, ALL_DTYPES, DEVICE, FLOATS, SHAPES, aten_op,
                      assert_same_values, check, full_name, make, registered_names, replicate,
                      served_count, with_specials)

aten = torch.ops.aten


def served_for(overload, dtype):
    """The overload gemforge must serve for `dtype`: complex goes to torch by design."""
    return None if dtype.is_complex else overload


def with_points(t: torch.Tensor, points) -> torch.Tensor:
    """t with NaN, +-inf, +-0, +-1 and then `points` (each op's thresholds, and just beside
    them) written over its first elements."""
    t = with_specials(t).reshape(-1)
    values = torch.tensor([float(p) for p in points], dtype=torch.float64).to(t.dtype)
    t[8:8 + values.numel()] = values
    return t


# ---- forward ops with scalar parameters: functional, out= and (where torch has it) in place ------

@dataclass(frozen=True)
class Fwd:
    id: str
    name: str                    # aten base name: name, name.out, name_
    kwargs: dict = field(default_factory=dict)
    low: float = -4.0
    high: float = 4.0
    inplace: bool = True
    points: tuple = ()           # the op's thresholds

    def call(self, variant="default"):
        op = aten_op(f"{self.name}_.default" if variant == "inplace" else f"{self.name}.{variant}")
        if variant == "out":
            return lambda x, o: op(x, out=o, **self.kwargs)
        return lambda x: op(x, **self.kwargs)


def _beside(*xs):
    return tuple(v for x in xs for v in (x, x - 1e-3, x + 1e-3))


FWD = [
    Fwd("threshold", "threshold", {"threshold": 0.5, "value": -2.0}, points=_beside(0.5)),
    Fwd("threshold_int", "threshold", {"threshold": 1, "value": 7}, points=_beside(1)),
    Fwd("hardtanh", "hardtanh", {"min_val": -1.0, "max_val": 1.0}, points=_beside(-1, 1)),
    Fwd("hardtanh_0_6", "hardtanh", {"min_val": 0.0, "max_val": 6.0}, -8, 8, points=_beside(0, 6)),
    Fwd("hardtanh_min_above_max", "hardtanh", {"min_val": 1.0, "max_val": -1.0}),
    Fwd("hardsigmoid", "hardsigmoid", points=_beside(-3, 3)),
    Fwd("hardswish", "hardswish", points=_beside(-3, 3)),
    Fwd("elu", "elu", points=(0.0,)),
    Fwd("elu_scaled", "elu", {"alpha": 0.5, "scale": 2.0, "input_scale": 1.5}, points=(0.0,)),
    Fwd("celu", "celu", {"alpha": 0.7}, points=(0.0,)),
    Fwd("leaky_relu", "leaky_relu", {"negative_slope": 0.2}, points=(0.0,)),
    Fwd("softplus", "softplus", inplace=False, low=-30, high=30, points=_beside(20)),
    Fwd("softplus_beta", "softplus", {"beta": 2.0, "threshold": 5.0}, inplace=False,
        points=_beside(2.5)),
    Fwd("softshrink", "softshrink", {"lambd": 0.5}, inplace=False, points=_beside(-0.5, 0.5)),
    Fwd("hardshrink", "hardshrink", {"lambd": 0.5}, inplace=False, points=_beside(-0.5, 0.5)),
    Fwd("logit", "logit", {}, 0.02, 0.98, points=(0.0, 1.0, 0.5, -0.5, 2.0)),
    Fwd("logit_eps", "logit", {"eps": 0.1}, -0.3, 1.3, points=_beside(0.1, 0.9) + (0.0, 1.0)),
    Fwd("logit_negative_eps", "logit", {"eps": -1.0}, 0.02, 0.98, points=(0.0, 1.0, 2.0)),
    Fwd("mish", "mish", low=-6, high=6),
]
FWD_IDS = [f.id for f in FWD]


def fwd_input(f, shape, dtype):
    return make(shape, dtype, DEVICE, f.low, f.high)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("f", FWD, ids=FWD_IDS)
def test_forward_dtypes(f, dtype):
    check(f.call(), [fwd_input(f, (7, 13), dtype)], served=served_for(f.name, dtype))
    check(f.call(), [fwd_input(f, (0,), dtype)], served=served_for(f.name, dtype))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("f", FWD, ids=FWD_IDS)
def test_forward_shapes(f, shape):
    check(f.call(), [fwd_input(f, shape, torch.float32)], served=f.name)


@pytest.mark.parametrize("layout", ["transposed", "sliced", "expanded"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
@pytest.mark.parametrize("f", FWD, ids=FWD_IDS)
def test_forward_layouts(f, dtype, layout):
    base = make((9, 13), dtype, DEVICE, f.low, f.high)
    x = {"transposed": base.t(), "sliced": base[1::2, ::3],
         "expanded": base[:1].expand(5, 13)}[layout]
    check(f.call(), [x], served=f.name)


@pytest.mark.parametrize("out_case", ["empty", "resized", "transposed", "wider"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.int32], ids=str)
@pytest.mark.parametrize("f", FWD, ids=FWD_IDS)
def test_forward_out(f, dtype, out_case):
    x = fwd_input(f, (6, 10), dtype)
    try:
        result_dtype = f.call()(x).dtype
    except Exception:  # noqa: BLE001  (torch raises for this dtype: check compares the errors)
        result_dtype = dtype
    out = {
        "empty": lambda: torch.empty(0, dtype=result_dtype, device=DEVICE),
        "resized": lambda: torch.empty(7, dtype=result_dtype, device=DEVICE),
        "transposed": lambda: torch.empty(10, 6, dtype=result_dtype, device=DEVICE).t(),
        "wider": lambda: torch.empty(0, dtype=torch.float64, device=DEVICE),
    }[out_case]()
    # a wider out (where torch takes one) holds the result computed in the input's dtype
    tol_dtype = result_dtype if out_case == "wider" and result_dtype.is_floating_point else None
    with quiet():
        check(f.call("out"), [x, out], served=served_for(f"{f.name}.out", dtype),
              tol_dtype=tol_dtype)


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("dtype", FLOATS + [torch.int32, torch.bool, torch.complex64], ids=str)
@pytest.mark.parametrize("f", [f for f in FWD if f.inplace], ids=[f.id for f in FWD if f.inplace])
def test_forward_inplace(f, dtype, layout):
    base = make((8, 12), dtype, DEVICE, f.low, f.high)
    x = {"contiguous": base, "transposed": base.t(), "sliced": base[::2, 1::2]}[layout]
    check(f.call("inplace"), [x], served=served_for(f"{f.name}_", dtype))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("f", FWD, ids=FWD_IDS)
def test_forward_special_values(f, dtype):
    # Against torch's own result on the device: what NaN and the thresholds give is each
    # device's kernel's choice. logit: torch's cpu fp16/bf16 kernel loses accuracy near x = 0.5
    # (a log of ~1), so there the float64 reference.
    reference = "float64" if f.name == "logit" else "torch"
    x = with_points(make((64,), dtype, DEVICE, f.low, f.high), f.points)
    check(f.call(), [x], served=f.name, reference=reference)
    if f.inplace:
        check(f.call("inplace"), [x], served=f"{f.name}_", reference=reference)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", ["threshold", "softshrink", "hardshrink"])
def test_scalar_rounded_to_tensor_dtype(name, dtype):
    """These ops compare against their scalar converted to the tensor's dtype: a threshold that
    rounds up onto a representable value includes that value."""
    edge = torch.tensor([0.1], dtype=dtype)                # the representable value nearest 0.1
    lower = (edge.view(torch.int16) - 1).view(dtype).item()  # the one below it
    edge = edge.item()
    scalar = (2 * edge + lower) / 3                         # rounds up to `edge`
    x = torch.tensor([edge, -edge, lower, -lower, 0.5, -0.5], dtype=dtype, device=DEVICE)
    fn = {"threshold": lambda t: aten.threshold(t, scalar, 9.0),
          "softshrink": lambda t: aten.softshrink(t, scalar),
          "hardshrink": lambda t: aten.hardshrink(t, scalar)}[name]
    check(fn, [x], served=name, reference="torch")


def test_threshold_integers_exact():
    x = torch.arange(-5, 6, dtype=torch.int64, device=DEVICE)
    check(lambda t: aten.threshold(t, 1.5, -7), [x], served="threshold")   # 1.5 -> 1, as torch
    check(lambda t: aten.threshold(t, 2, 2.9), [x.to(torch.int16)], served="threshold")


def test_hardtanh_integer_bounds():
    x = make((5, 7), torch.int32, DEVICE, -9, 9)
    check(lambda t: aten.hardtanh(t, -2.5, 3.7), [x], served="hardtanh")
    check(lambda t: aten.hardtanh_(t, 0, 6), [x], served="hardtanh_")


@pytest.mark.parametrize("case", [
    ("hardtanh bool", lambda: aten.hardtanh(torch.ones(3, dtype=torch.bool, device=DEVICE))),
    ("hardtanh uint8 negative",
     lambda: aten.hardtanh(torch.ones(3, dtype=torch.uint8, device=DEVICE))),
    ("softshrink negative lambda", lambda: aten.softshrink(torch.ones(3, device=DEVICE), -0.5)),
    ("threshold overflow", lambda: aten.threshold(torch.ones(3, dtype=torch.float16, device=DEVICE),
                                                  1e6, 0.0)),
    ("logit_ of integers", lambda: aten.logit_(torch.ones(3, dtype=torch.int64, device=DEVICE))),
    ("elu_backward negative alpha on the result",
     lambda: aten.elu_backward(torch.ones(3, device=DEVICE), -1.0, 1.0, 1.0, True,
                               torch.ones(3, device=DEVICE))),
    ("leaky_relu_backward negative slope on the result",
     lambda: aten.leaky_relu_backward(torch.ones(3, device=DEVICE), torch.ones(3, device=DEVICE),
                                      -0.1, True)),
    ("glu of a scalar", lambda: aten.glu(torch.ones((), device=DEVICE))),
    ("glu odd dim", lambda: aten.glu(torch.ones(3, 5, device=DEVICE))),
    ("glu bad dim", lambda: aten.glu(torch.ones(3, 4, device=DEVICE), 2)),
    ("gelu_backward bad approximate",
     lambda: aten.gelu_backward(torch.ones(3, device=DEVICE), torch.ones(3, device=DEVICE),
                                approximate="fast")),
    ("backward of mismatched shapes",
     lambda: aten.tanh_backward(torch.ones(3, device=DEVICE), torch.ones(4, device=DEVICE))),
], ids=lambda c: c[0])
def test_errors_like_torch(case):
    _, fn = case
    check(fn, [])


# ---- backward ops: grad_input from (grad_output, self or result) ---------------------------------

@dataclass(frozen=True)
class Bwd:
    id: str
    name: str                     # aten base name
    call: Callable                # (op, grad, x) -> the op's call
    low: float = -4.0
    high: float = 4.0
    out: Optional[str] = "grad_input"   # the out= overload, None: torch has none
    points: tuple = ()
    ints: bool = False            # torch takes integer tensors
    complex: bool = False         # torch takes complex tensors (gemforge hands them to torch)
    # torch's cuda kernel rounds an intermediate to fp16/bf16 (tanh_backward squares y in the
    # half type); gemforge does the same, so there it is compared with torch's own result
    half_intermediate: bool = False

    def reference(self, dtype):
        rounds = self.half_intermediate and DEVICE == "cuda" and dtype in (torch.float16, torch.bfloat16)
        return "torch" if rounds else "float64"

    def fn(self, variant="default"):
        op = aten_op(f"{self.name}.{variant}")
        if variant == "default":
            return lambda g, x: self.call(op, g, x)
        return lambda g, x, o: self.call(lambda *a, **k: op(*a, **k, **{_out_name(op): o}), g, x)


def _out_name(op):
    return next(a.name for a in op._schema.arguments if a.is_out)


BWD = [
    Bwd("gelu_backward", "gelu_backward", lambda op, g, x: op(g, x)),
    Bwd("gelu_backward_tanh", "gelu_backward", lambda op, g, x: op(g, x, approximate="tanh")),
    Bwd("silu_backward", "silu_backward", lambda op, g, x: op(g, x), -8, 8, complex=True),
    Bwd("sigmoid_backward", "sigmoid_backward", lambda op, g, y: op(g, y), 0.01, 0.99,
        complex=True),
    Bwd("tanh_backward", "tanh_backward", lambda op, g, y: op(g, y), -0.99, 0.99, complex=True,
        half_intermediate=True),
    Bwd("threshold_backward", "threshold_backward", lambda op, g, x: op(g, x, 0.5),
        points=_beside(0.5), ints=True),
    Bwd("hardtanh_backward", "hardtanh_backward", lambda op, g, x: op(g, x, -1.0, 1.0),
        points=_beside(-1, 1)),
    Bwd("hardtanh_backward_0_6", "hardtanh_backward", lambda op, g, x: op(g, x, 0.0, 6.0), -8, 8,
        points=_beside(0, 6)),
    Bwd("hardsigmoid_backward", "hardsigmoid_backward", lambda op, g, x: op(g, x),
        points=_beside(-3, 3)),
    Bwd("hardswish_backward", "hardswish_backward", lambda op, g, x: op(g, x), out="out",
        points=_beside(-3, 3)),
    Bwd("elu_backward", "elu_backward", lambda op, g, x: op(g, 1.0, 1.0, 1.0, False, x),
        points=(0.0,)),
    Bwd("elu_backward_scaled", "elu_backward", lambda op, g, x: op(g, 0.5, 2.0, 1.5, False, x),
        points=(0.0,)),
    # the result of elu(alpha=0.5, scale=2) is above -1
    Bwd("elu_backward_result", "elu_backward", lambda op, g, y: op(g, 0.5, 2.0, 1.5, True, y),
        -0.99, 4, points=(0.0,)),
    Bwd("leaky_relu_backward", "leaky_relu_backward", lambda op, g, x: op(g, x, 0.2, False),
        points=(0.0,)),
    Bwd("leaky_relu_backward_result", "leaky_relu_backward", lambda op, g, y: op(g, y, 0.2, True),
        points=(0.0,)),
    Bwd("softplus_backward", "softplus_backward", lambda op, g, x: op(g, x, 1.0, 20.0), -30, 30,
        points=_beside(20)),
    Bwd("softplus_backward_beta", "softplus_backward", lambda op, g, x: op(g, x, 2.0, 5.0),
        points=_beside(2.5)),
    Bwd("softshrink_backward", "softshrink_backward", lambda op, g, x: op(g, x, 0.5),
        points=_beside(-0.5, 0.5)),
    Bwd("hardshrink_backward", "hardshrink_backward", lambda op, g, x: op(g, x, 0.5),
        points=_beside(-0.5, 0.5)),
    # torch's cpu kernel reads the buffer log_sigmoid_forward left: exp(-|x|)
    Bwd("log_sigmoid_backward", "log_sigmoid_backward",
        lambda op, g, x: op(g, x, torch.exp(-x.abs())), -30, 30, points=(0.0,)),
    Bwd("logit_backward", "logit_backward", lambda op, g, x: op(g, x), 0.02, 0.98,
        points=(0.0, 1.0, -0.5, 2.0)),
    Bwd("logit_backward_eps", "logit_backward", lambda op, g, x: op(g, x, 0.1), -0.3, 1.3,
        points=_beside(0.1, 0.9) + (0.0, 1.0)),
    Bwd("mish_backward", "mish_backward", lambda op, g, x: op(g, x), -6, 6, out=None),
]
BWD_IDS = [b.id for b in BWD]
BWD_OUT = [b for b in BWD if b.out]


def bwd_inputs(b, shape, dtype, grad_shape=None):
    g = make(grad_shape or shape, dtype, DEVICE, -2, 2)
    return g, make(shape, dtype, DEVICE, b.low, b.high)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("b", BWD, ids=BWD_IDS)
def test_backward_dtypes(b, dtype):
    check(b.fn(), list(bwd_inputs(b, (7, 13), dtype)), served=served_for(b.name, dtype),
          reference=b.reference(dtype))
    check(b.fn(), list(bwd_inputs(b, (0,), dtype)), served=served_for(b.name, dtype))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("b", BWD, ids=BWD_IDS)
def test_backward_shapes(b, shape):
    check(b.fn(), list(bwd_inputs(b, shape, torch.float32)), served=b.name)


@pytest.mark.parametrize("shapes", [((4, 1, 6), (5, 1)), ((), (3, 4)), ((3, 4), ())], ids=str)
@pytest.mark.parametrize("b", BWD, ids=BWD_IDS)
def test_backward_broadcast(b, shapes):
    if DEVICE == "cpu" and b.id == "gelu_backward":
        pytest.skip("torch's cpu gelu_backward (its oneDNN road) fails on broadcast operands")
    g = make(shapes[0], torch.float32, DEVICE, -2, 2)
    x = make(shapes[1], torch.float32, DEVICE, b.low, b.high)
    check(b.fn(), [g, x], served=b.name)


@pytest.mark.parametrize("dtypes",
                         [(torch.float32, torch.float16), (torch.bfloat16, torch.float32)],
                         ids=str)
@pytest.mark.parametrize("b", BWD, ids=BWD_IDS)
def test_backward_mixed_dtypes(b, dtypes):
    g = make((5, 6), dtypes[0], DEVICE, -2, 2)
    x = make((5, 6), dtypes[1], DEVICE, b.low, b.high)
    # torch's log_sigmoid_backward raises: gemforge hands the case to it (check compares errors)
    handed = b.name == "log_sigmoid_backward"
    check(b.fn(), [g, x], served=None if handed else b.name)


@pytest.mark.parametrize("layout", ["transposed", "sliced", "expanded"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32], ids=str)
@pytest.mark.parametrize("b", BWD, ids=BWD_IDS)
def test_backward_layouts(b, dtype, layout):
    g, x = bwd_inputs(b, (10, 14), dtype)
    views = {"transposed": lambda t: t.t(), "sliced": lambda t: t[1::2, ::3],
             "expanded": lambda t: t[:1].expand(6, 14)}[layout]
    check(b.fn(), [views(g), views(x)], served=b.name, reference=b.reference(dtype))


@pytest.mark.parametrize("out_case", ["empty", "resized", "transposed", "int"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64], ids=str)
@pytest.mark.parametrize("b", BWD_OUT, ids=[b.id for b in BWD_OUT])
def test_backward_out(b, dtype, out_case):
    g, x = bwd_inputs(b, (6, 10), dtype)
    out = {
        "empty": lambda: torch.empty(0, dtype=dtype, device=DEVICE),
        "resized": lambda: torch.empty(3, dtype=dtype, device=DEVICE),
        "transposed": lambda: torch.empty(10, 6, dtype=dtype, device=DEVICE).t(),
        "int": lambda: torch.empty(0, dtype=torch.int32, device=DEVICE),   # torch raises
    }[out_case]()
    with quiet():
        check(b.fn(b.out), [g, x, out], served=f"{b.name}.{b.out}", reference=b.reference(dtype))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("b", BWD, ids=BWD_IDS)
def test_backward_special_values(b, dtype):
    # NaN and the thresholds in x, and in grad: against torch's own result on the device
    x = with_points(make((64,), dtype, DEVICE, b.low, b.high), b.points)
    g = make((64,), dtype, DEVICE, -2, 2)
    check(b.fn(), [g, x], served=b.name, reference="torch")
    check(b.fn(), [with_specials(g), make((64,), dtype, DEVICE, b.low, b.high)], served=b.name,
          reference="torch")


# ---- glu and its backward ------------------------------------------------------------------------

@pytest.mark.parametrize("case", [((4, 10), -1), ((6, 3), 0), ((2, 4, 6), 1), ((8,), 0),
                                  ((0, 4), 1), ((4, 0), 0)], ids=str)
@pytest.mark.parametrize("dtype", FLOATS + [torch.int32], ids=str)
def test_glu(dtype, case):
    shape, dim = case
    x = make(shape, dtype, DEVICE)
    check(lambda t: aten.glu(t, dim), [x], served="glu")
    swapped = {0: x.dim() - 1, x.dim() - 1: 0}.get(dim % x.dim(), dim)   # dim after the transpose
    check(lambda t: F.glu(t.transpose(0, -1), swapped), [x], served="glu")
    half = list(shape)
    half[dim] //= 2
    out = torch.empty(0, dtype=dtype, device=DEVICE)
    check(lambda t, o: aten.glu.out(t, dim, out=o), [x, out], served="glu.out")
    g = make(half, dtype, DEVICE)
    check(lambda gg, t: aten.glu_backward(gg, t, dim), [g, x], served="glu_backward")
    out = torch.empty(0, dtype=dtype, device=DEVICE)
    check(lambda gg, t, o: aten.glu_backward.grad_input(gg, t, dim, grad_input=o), [g, x, out],
          served="glu_backward.grad_input")


def test_glu_backward_layouts():
    x = make((12, 10), torch.float32, DEVICE).t()        # (10, 12), halves along dim 1
    g = make((6, 10), torch.float32, DEVICE).t()
    check(lambda gg, t: aten.glu_backward(gg, t, 1), [g, x], served="glu_backward")
    check(lambda gg, t: aten.glu_backward(gg, t, 1),
          [make((10, 6), torch.float32, DEVICE), with_specials(x)], served="glu_backward",
          reference="torch")
    check(lambda gg, t: aten.glu_backward(gg, t, 1), [make((10, 5), torch.float32, DEVICE), x])


# ---- prelu: _prelu_kernel and its two gradients --------------------------------------------------

@pytest.mark.parametrize("shapes", [((4, 5, 6), (1, 5, 1)), ((7,), (1,)), ((3, 4), (3, 4)),
                                    ((), ()), ((0, 3), (1, 3))], ids=str)
@pytest.mark.parametrize("dtype", FLOATS + [torch.int64], ids=str)
def test_prelu_kernel(dtype, shapes):
    x = make(shapes[0], dtype, DEVICE)
    w = make(shapes[1], dtype, DEVICE, -1, 1)
    g = make(shapes[0], dtype, DEVICE)
    check(aten._prelu_kernel, [x, w], served="_prelu_kernel")
    for i in (0, 1):
        check(lambda gg, t, ww: aten._prelu_kernel_backward(gg, t, ww)[i], [g, x, w],
              served="_prelu_kernel_backward")


def test_prelu_specials():
    x = with_specials(make((16,), torch.float32, DEVICE))
    w = make((16,), torch.float32, DEVICE, -1, 1)
    check(aten._prelu_kernel, [x, w], served="_prelu_kernel", reference="torch")
    for i in (0, 1):
        check(lambda gg, t, ww: aten._prelu_kernel_backward(gg, t, ww)[i],
              [make((16,), torch.float32, DEVICE), x, w], served="_prelu_kernel_backward",
              reference="torch")


# ---- log_sigmoid_forward: (output, buffer) -------------------------------------------------------

@pytest.mark.parametrize("shape", [(), (0,), (7,), (33, 65)], ids=str)
@pytest.mark.parametrize("dtype", FLOATS + [torch.int32], ids=str)
def test_log_sigmoid_forward(dtype, shape):
    x = make(shape, dtype, DEVICE, -30, 30)
    # The buffer is device-specific (empty on cuda, exp(-|x|) on the cpu): against torch's own.
    for i, reference in ((0, "float64"), (1, "torch")):
        check(lambda t: aten.log_sigmoid_forward(t)[i], [x], served="log_sigmoid_forward",
              reference=reference)
        check(lambda t: aten.log_sigmoid_forward(t.t() if t.dim() == 2 else t)[i], [x],
              served="log_sigmoid_forward", reference=reference)


@pytest.mark.parametrize("out_case", ["empty", "resized", "transposed", "double"])
def test_log_sigmoid_forward_out(out_case):
    x = make((6, 5), torch.float32, DEVICE, -30, 30)
    make_out = {"empty": lambda: torch.empty(0, device=DEVICE),
                "resized": lambda: torch.empty(4, device=DEVICE),
                "transposed": lambda: torch.empty(5, 6, device=DEVICE).t(),
                "double": lambda: torch.empty(0, dtype=torch.float64, device=DEVICE)}[out_case]
    # The out= tensors themselves after the call; the buffer only on the cpu (torch's cuda kernel
    # leaves it as it was given: unused there).
    # (through check() on the cpu only: on cuda its replicated out= tensors came back unresized
    # for gemforge, though a direct call resizes them; the direct comparison below covers both)
    picks = [("float64", lambda o, b: o), ("torch", lambda o, b: b)]
    picks = picks if DEVICE == "cpu" else picks[:1] if out_case == "double" else []
    for reference, pick in picks:
        with quiet():
            check(lambda t, o, b: (aten.log_sigmoid_forward.output(t, output=o, buffer=b), pick(o, b))[1],
                  [x, make_out(), torch.empty(0, device=DEVICE)],
                  served="log_sigmoid_forward.output", reference=reference)
    if out_case == "double":
        return  # an error (torch's cpu kernel) or a cast: compared through check() above
    # and directly: the out= tensor itself, resized as torch's
    mine, theirs = make_out(), make_out()
    with quiet():
        aten.log_sigmoid_forward.output(x, output=theirs, buffer=torch.empty(0, device=DEVICE))
        with gemforge.use_gems(), gemforge.collect_stats() as counts:
            aten.log_sigmoid_forward.output(x, output=mine, buffer=torch.empty(0, device=DEVICE))
    assert served_count(counts, "log_sigmoid_forward.output") == 1
    assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
    assert_same_values(mine, theirs)


def test_log_sigmoid_forward_special_values():
    x = with_specials(make((32,), torch.float32, DEVICE, -30, 30))
    for i in (0, 1):
        check(lambda t: aten.log_sigmoid_forward(t)[i], [x], served="log_sigmoid_forward",
              reference="torch")


# ---- _add_relu: torch has a cpu kernel only ------------------------------------------------------

def check_add_relu(fn, args, served, reference="float64"):
    """check() on the cpu. On cuda torch has no kernel: gemforge against torch's cpu kernel."""
    if DEVICE == "cpu":
        return check(fn, args, served=served, reference=reference)
    on_cpu = [a.cpu() if isinstance(a, torch.Tensor) else a for a in args]
    try:
        expected = fn(*on_cpu)
    except RuntimeError:
        with gemforge.use_gems():
            with pytest.raises(RuntimeError):
                fn(*replicate(args))
        return None
    gems_args = replicate(args)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        actual = fn(*gems_args)
    assert served_count(counts, served) >= 1, dict(counts)
    assert actual.device.type == "cuda" and actual.dtype == expected.dtype
    assert_same_values(actual, expected)
    return actual


ADD_RELU_DTYPES = [torch.int8, torch.int16, torch.int32, torch.int64, torch.float32, torch.float64,
                   torch.uint8, torch.float16, torch.bool]


@pytest.mark.parametrize("shapes",
                         [((3, 5), (3, 5)), ((4, 1, 6), (5, 1)), ((), (7,)), ((0,), (1,))],
                         ids=str)
@pytest.mark.parametrize("dtype", ADD_RELU_DTYPES, ids=str)
def test_add_relu(dtype, shapes):
    a = make(shapes[0], dtype, DEVICE)
    b = make(shapes[1], dtype, DEVICE)
    # torch clamps at the largest value of the dtype: +inf gives float32's, not float64's
    check_add_relu(lambda x, y: torch._add_relu(x, y), [a, b], "_add_relu.Tensor", reference="torch")
    check_add_relu(lambda x, y: torch._add_relu(x, y, alpha=2), [a, b], "_add_relu.Tensor")
    check_add_relu(lambda x: aten._add_relu.Scalar(x, 1.5), [a], "_add_relu.Scalar")
    out = torch.empty(0, dtype=dtype, device=DEVICE)
    with quiet():
        check_add_relu(lambda x, y, o: aten._add_relu.out(x, y, out=o), [a, b, out],
                       "_add_relu.out")
        check_add_relu(lambda x, o: aten._add_relu.Scalar_out(x, -1, 2, out=o), [a, out],
                       "_add_relu.Scalar_out")
    if a.shape == torch.broadcast_shapes(a.shape, b.shape):
        check_add_relu(lambda x, y: aten._add_relu_.Tensor(x, y, alpha=-1), [a, b],
                       "_add_relu_.Tensor")
        check_add_relu(lambda x: aten._add_relu_.Scalar(x, 2), [a], "_add_relu_.Scalar")


def test_add_relu_special_values():
    a = with_specials(make((32,), torch.float32, DEVICE))
    b = make((32,), torch.float32, DEVICE)
    # torch clamps at the largest value of the dtype: +inf gives float32's, not float64's
    check_add_relu(lambda x, y: torch._add_relu(x, y), [a, b], "_add_relu.Tensor", reference="torch")


# ---- composites: served through the overload they decompose into ---------------------------------

@pytest.mark.parametrize("case", [
    ("relu6", F.relu6, "hardtanh"),
    ("relu6_", lambda x: F.relu6(x, inplace=True), "hardtanh_"),
    ("selu", torch.selu, "elu"),
    ("selu_", torch.selu_, "elu_"),
    ("log_sigmoid", F.logsigmoid, "log_sigmoid_forward"),
    ("log_sigmoid.out", lambda x: aten.log_sigmoid.out(x, out=torch.empty_like(x)),
     "log_sigmoid_forward.output"),
    ("prelu", lambda x: F.prelu(x, torch.full((3,), 0.25, dtype=x.dtype, device=x.device)),
     "_prelu_kernel"),
], ids=lambda c: c[0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_composite_aliases(case, dtype):
    alias, fn, target = case
    row = next(r for r in gemforge.registered_ops() if r.overload == alias)
    assert row.via == target
    assert full_name(target) in registered_names()
    x = make((4, 3, 5), dtype, DEVICE) if alias == "prelu" else make((7, 6), dtype, DEVICE).t()
    check(fn, [x], served=target)


# ---- autograd: the forward and backward ops of each activation, as a model uses them -------------

@pytest.mark.parametrize("case", [
    ("gelu", F.gelu, ["gelu", "gelu_backward"]),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), ["gelu", "gelu_backward"]),
    ("silu", F.silu, ["silu", "silu_backward"]),
    ("sigmoid", torch.sigmoid, ["sigmoid", "sigmoid_backward"]),
    ("tanh", torch.tanh, ["tanh", "tanh_backward"]),
    ("relu", torch.relu, ["relu", "threshold_backward"]),
    ("threshold", lambda x: F.threshold(x, 0.3, -1.0), ["threshold", "threshold_backward"]),
    ("hardtanh", F.hardtanh, ["hardtanh", "hardtanh_backward"]),
    ("relu6", F.relu6, ["hardtanh", "hardtanh_backward"]),
    ("hardsigmoid", F.hardsigmoid, ["hardsigmoid", "hardsigmoid_backward"]),
    ("hardswish", F.hardswish, ["hardswish", "hardswish_backward"]),
    ("elu", F.elu, ["elu", "elu_backward"]),
    ("elu_inplace", lambda x: F.elu(x * 1, inplace=True), ["elu_", "elu_backward"]),
    ("selu", torch.selu, ["elu", "elu_backward"]),
    ("celu", lambda x: F.celu(x, 0.7), ["celu", "elu_backward"]),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.1), ["leaky_relu", "leaky_relu_backward"]),
    ("leaky_relu_inplace", lambda x: F.leaky_relu(x * 1, 0.1, inplace=True),
     ["leaky_relu_", "leaky_relu_backward"]),
    ("softplus", lambda x: F.softplus(x, 2.0, 3.0), ["softplus", "softplus_backward"]),
    ("softshrink", F.softshrink, ["softshrink", "softshrink_backward"]),
    ("hardshrink", F.hardshrink, ["hardshrink", "hardshrink_backward"]),
    ("logsigmoid", F.logsigmoid, ["log_sigmoid_forward", "log_sigmoid_backward"]),
    ("logit", lambda x: torch.logit(torch.sigmoid(x), 1e-3), ["logit", "logit_backward"]),
    ("mish", F.mish, ["mish", "mish_backward"]),
    ("glu", lambda x: F.glu(x, 0), ["glu", "glu_backward"]),
    ("prelu", lambda x: F.prelu(x, torch.tensor([0.25, -0.5, 2.0], device=x.device, dtype=x.dtype)),
     ["_prelu_kernel", "_prelu_kernel_backward"]),
], ids=lambda c: c[0])
def test_autograd(case):
    _, fn, served = case
    x = make((6, 3), torch.float32, DEVICE)
    g = make((3, 3) if case[0] == "glu" else (6, 3), torch.float32, DEVICE)

    def grad_of(inp, grad):
        inp = inp.detach().requires_grad_(True)
        fn(inp).backward(grad)
        return inp.grad

    expected = grad_of(x.double().cpu(), g.double().cpu())
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        actual = grad_of(x, g)
    for overload in served:
        assert served_count(counts, overload) >= 1, f"{overload} not served: {dict(counts)}"
    assert_same_values(actual, expected)
