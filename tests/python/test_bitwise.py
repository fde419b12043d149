"""Bitwise ops and predicates: bitwise_and / or / xor / not, the shifts (bitwise_*_shift and the
__lshift__ / __rshift__ family), logical_xor, isnan / isinf / isposinf / isneginf / signbit,
torch's composites isfinite and isclose (one fused kernel each), and the composite overloads
gemforge serves through the ops above (the &, |, ^ operators, greater / greater_equal / less /
less_equal / not_equal).

Each case goes through conftest.check: integer and bool results exactly against torch's own, and
gemforge must have served the overload. Where torch raises (floats in a bitwise op, complex in
signbit, a non-bool out= of a predicate), gemforge must raise the same exception type.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import pytest
import torch

import gemforge
from conftest import (quiet, result_dtype, ALL_DTYPES, BOOL, COMPLEX, DEVICE, FLOATS, INTS, SHAPES, aten_op, check,
                      full_name, make, registered_names, served_count, with_specials)

BITWISE_DTYPES = BOOL + INTS  # what torch's bitwise kernels take; floats and complex raise


def width(dtype) -> int:
    return torch.empty((), dtype=dtype).element_size() * 8


def values(shape, dtype):
    """Random bits over the dtype's whole range, its extremes (min, max, 0, -1, 1) first; other
    dtypes as conftest.make draws them."""
    if dtype is torch.bool or not (dtype in INTS):
        return make(shape, dtype, DEVICE)
    info = torch.iinfo(dtype)
    bits = torch.randint(-2**63, 2**63 - 1, tuple(shape), dtype=torch.int64, device=DEVICE)
    flat = bits.to(dtype).reshape(-1)  # int64 -> narrower dtype keeps the low bits
    extremes = torch.tensor([info.min, info.max, 0, -1, 1], dtype=torch.int64).to(dtype)
    n = min(flat.numel(), extremes.numel())
    flat[:n] = extremes[:n].to(DEVICE)
    return flat.reshape(shape)


def shift_counts(dtype, n=None):
    """Shift counts torch defines beyond C++: 0, width - 1, width, more, negative (for uint8:
    counts >= 128, negative as int8), the dtype's min and max, then random in-range counts."""
    w = width(dtype)
    info = torch.iinfo(dtype)
    special = [0, 1, w - 1, w, w + 1, 2 * w, 100, -1, -w, -w - 1, info.min, info.max]
    counts = torch.tensor(special, dtype=torch.int64).to(dtype)  # uint8: -1 -> 255
    if n is not None and n > len(special):
        counts = torch.cat([counts, torch.randint(0, w, (n - len(special),)).to(dtype)])
    return counts.to(DEVICE)


# ---- bitwise_and, bitwise_or, bitwise_xor, the shifts ---------------------------------------------

@dataclass(frozen=True)
class Bitwise:
    name: str
    scalar: str  # the Tensor-Scalar overload: Scalar, or Tensor_Scalar for the shifts

    @property
    def shift(self) -> bool:
        return "shift" in self.name

    def overload(self, variant):
        return {"tensor": f"{self.name}.Tensor", "out": f"{self.name}.Tensor_out",
                "inplace": f"{self.name}_.Tensor", "scalar": f"{self.name}.{self.scalar}",
                "scalar_out": f"{self.name}.{self.scalar}_out",
                "scalar_inplace": f"{self.name}_.{self.scalar}",
                "scalar_tensor": f"{self.name}.Scalar_Tensor",
                "scalar_tensor_out": f"{self.name}.Scalar_Tensor_out"}[variant]

    def op(self, variant="tensor"):
        return aten_op(self.overload(variant))

    def served(self, variant, dtype):
        """The overload gemforge must serve; None where torch raises for the dtype."""
        ok = dtype in INTS if self.shift else dtype in BITWISE_DTYPES
        return self.overload(variant) if ok else None

    def inputs(self, shape_a, shape_b, dtype_a, dtype_b=None):
        dtype_b = dtype_b or dtype_a
        a = values(shape_a, dtype_a)
        if self.shift and dtype_b in INTS:
            counts = shift_counts(dtype_b)
            b = counts[torch.randint(0, counts.numel(), tuple(shape_b), device=DEVICE)]
        else:
            b = values(shape_b, dtype_b)
        return a, b


BITWISE = [Bitwise("bitwise_and", "Scalar"), Bitwise("bitwise_or", "Scalar"),
           Bitwise("bitwise_xor", "Scalar"), Bitwise("bitwise_left_shift", "Tensor_Scalar"),
           Bitwise("bitwise_right_shift", "Tensor_Scalar")]
BITWISE_IDS = [b.name for b in BITWISE]


def call(spec: Bitwise, variant="tensor"):
    op = spec.op(variant)
    if variant.endswith("out"):
        return lambda a, b, o: op(a, b, out=o)
    return lambda a, b: op(a, b)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", BITWISE_DTYPES, ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise(spec, dtype, shape):
    check(call(spec), spec.inputs(shape, shape, dtype), served=spec.served("tensor", dtype))


@pytest.mark.parametrize("dtype", FLOATS + COMPLEX, ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise_floats_raise(spec, dtype):
    """torch has no bitwise kernel for floating or complex dtypes: the same error, every form."""
    a, b = spec.inputs((5, 7), (5, 7), dtype)
    out = torch.empty(0, dtype=dtype, device=DEVICE)
    check(call(spec), [a, b])
    check(call(spec, "out"), [a, b, out])
    check(call(spec, "inplace"), [a, b])
    check(lambda x: call(spec, "scalar")(x, 1), [a])
    check(lambda x: spec.op("scalar_tensor")(1, x), [b])


@pytest.mark.parametrize("dtype", INTS, ids=str)
@pytest.mark.parametrize("spec", [s for s in BITWISE if s.shift], ids=lambda s: s.name)
def test_shift_every_count(spec, dtype):
    """Every value class (min, max, 0, -1, 1, random) against every count class (0, width - 1,
    width, beyond, negative), on the dense and the strided road."""
    a = values((64,), dtype)
    counts = shift_counts(dtype, 16)
    a, b = a.repeat_interleave(counts.numel()), counts.repeat(64)
    check(call(spec), [a, b], served=spec.overload("tensor"))
    check(call(spec), [a[::2], b[::2]], served=spec.overload("tensor"))


BROADCASTS = [((3, 1, 5), (4, 5)), ((4, 5), (3, 1, 5)), ((33, 65), ()), ((), (2, 3)),
              ((5, 1), (1, 6)), ((0, 3), (1, 3))]


@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int32, torch.int64], ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise_broadcast(spec, dtype, shapes):
    check(call(spec), spec.inputs(*shapes, dtype), served=spec.served("tensor", dtype))


def relayout(t: torch.Tensor, layout: str) -> torch.Tensor:
    """t's values (2-d t) in another memory layout; 'expanded' repeats t's first row."""
    if layout == "transposed":
        return t.t().contiguous().t()
    if layout == "sliced":
        wide = torch.zeros((t.shape[0], 2 * t.shape[1] + 1), dtype=t.dtype, device=t.device)
        wide[:, 1::2] = t
        return wide[:, 1::2]
    if layout == "expanded":
        return t[:1].expand_as(t)
    return t.clone()


@pytest.mark.parametrize("layouts", [("transposed", "transposed"), ("transposed", "contiguous"),
                                     ("sliced", "contiguous"), ("contiguous", "expanded")], ids=str)
@pytest.mark.parametrize("dtype", [torch.bool, torch.int8, torch.int64], ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise_layouts(spec, dtype, layouts):
    a, b = spec.inputs((6, 9), (6, 9), dtype)
    check(call(spec), [relayout(a, layouts[0]), relayout(b, layouts[1])],
          served=spec.served("tensor", dtype))


MIXED = [(torch.uint8, torch.int8), (torch.int8, torch.int64), (torch.int32, torch.int16),
         (torch.bool, torch.int32), (torch.bool, torch.uint8), (torch.int32, torch.float32)]


@pytest.mark.parametrize("dtypes", MIXED, ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise_mixed_dtypes(spec, dtypes):
    """Type promotion as torch's; bool with a shift and any float raise in torch."""
    promoted = torch.promote_types(*dtypes)
    a, b = spec.inputs((5, 7), (5, 7), *dtypes)
    check(call(spec), [a, b], served=spec.served("tensor", promoted))
    check(call(spec), [b, a], served=spec.served("tensor", promoted))


@pytest.mark.parametrize("dtypes", [(torch.int8, torch.int64), (torch.uint8, torch.int32),
                                    (torch.bool, torch.int64)], ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise_zero_dim_does_not_promote(spec, dtypes):
    """A 0-d tensor of a wider integer dtype leaves the result's dtype alone (a bool tensor
    with a 0-d integer becomes integer: another category)."""
    big, _ = spec.inputs((4, 6), (), dtypes[0])
    small = torch.tensor(3, dtype=dtypes[1], device=DEVICE)
    promoted = torch.result_type(big, small)
    check(call(spec), [big, small], served=spec.served("tensor", promoted))
    check(call(spec), [small, big], served=spec.served("tensor", promoted))


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.int64], ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise_cpu_zero_dim_with_cuda_tensor(spec, dtype):
    """A 0-d CPU tensor (not a wrapped number) may join CUDA tensors, as in torch."""
    big, small = spec.inputs((33, 65), (), dtype)
    small = small.cpu()
    check(call(spec), [big, small], served=spec.overload("tensor"))
    check(call(spec), [small, big], served=spec.overload("tensor"))


@pytest.mark.parametrize("out_case", ["empty", "same", "wrong_shape", "transposed"])
@pytest.mark.parametrize("dtype", BITWISE_DTYPES + [torch.float32], ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise_out(spec, dtype, out_case):
    a, b = spec.inputs((6, 9), (6, 9), dtype)
    out = {"empty": lambda: torch.empty(0, dtype=dtype, device=DEVICE),
           "same": lambda: values((6, 9), dtype),
           "wrong_shape": lambda: values((2, 3), dtype),
           "transposed": lambda: values((9, 6), dtype).t()}[out_case]()
    with quiet():
        check(call(spec, "out"), [a, b, out], served=spec.served("out", dtype))


@pytest.mark.parametrize("out_dtype", [torch.int64, torch.float32, torch.bool, torch.int8], ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise_out_other_dtype(spec, out_dtype):
    """An int32 result into a wider or a float out= is cast; into bool or int8 torch raises
    (the result's category does not allow it) or casts (int8: same category)."""
    a, b = spec.inputs((4, 6), (4, 6), torch.int32)
    out = torch.empty(0, dtype=out_dtype, device=DEVICE)
    check(call(spec, "out"), [a, b, out], served=spec.overload("out"))


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced"])
@pytest.mark.parametrize("dtype", BITWISE_DTYPES + [torch.float32], ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise_inplace(spec, dtype, layout):
    a, b = spec.inputs((6, 9), (6, 9), dtype)
    check(call(spec, "inplace"), [relayout(a, layout), b], served=spec.served("inplace", dtype))


@pytest.mark.parametrize("dtypes", [(torch.int8, torch.int64), (torch.int64, torch.uint8),
                                    (torch.int32, torch.bool), (torch.bool, torch.int32),
                                    (torch.int16, torch.float32)], ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise_inplace_mixed_dtypes(spec, dtypes):
    """The result is cast into self where torch allows it; bool self with an integer other and
    any float raise."""
    a, b = spec.inputs((5, 7), (7,), *dtypes)
    check(call(spec, "inplace"), [a, b], served=spec.served("inplace", dtypes[0]))


@pytest.mark.parametrize("dtype", [torch.bool, torch.int32], ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise_inplace_self_as_other(spec, dtype):
    a, _ = spec.inputs((5, 7), (5, 7), dtype)
    check(lambda x: call(spec, "inplace")(x, x), [a], served=spec.served("inplace", dtype))


SCALARS = [3, -1, 300, 2**40, True, 1.5]


@pytest.mark.parametrize("variant", ["scalar", "scalar_out", "scalar_inplace"])
@pytest.mark.parametrize("dtype", BITWISE_DTYPES + [torch.float32], ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise_scalar_overloads(spec, dtype, variant):
    """A Scalar operand is a wrapped number: it takes the tensor's dtype (300 wraps in int8, as
    in torch), a float Scalar makes the op a float op (torch raises), an int one makes a bool
    tensor's op an integer op."""
    a, _ = spec.inputs((5, 7), (5, 7), dtype)
    op = call(spec, variant)
    for scalar in SCALARS:
        expected_dtype = torch.result_type(a, scalar)
        served = spec.served(variant, expected_dtype)
        if variant == "scalar_out":
            out = torch.empty(0, dtype=expected_dtype, device=DEVICE)
            check(lambda x, o: op(x, scalar, o), [a, out], served=served)
        else:
            if variant == "scalar_inplace" and expected_dtype != dtype:
                served = None  # torch raises: the result cannot be cast into self
            check(lambda x: op(x, scalar), [a], served=served)


@pytest.mark.parametrize("dtype", BITWISE_DTYPES + [torch.float32], ids=str)
@pytest.mark.parametrize("spec", BITWISE, ids=BITWISE_IDS)
def test_bitwise_scalar_tensor(spec, dtype):
    """Scalar op Tensor; the out= form is torch's wrapper around it (exact out dtype only)."""
    _, b = spec.inputs((5, 7), (5, 7), dtype)
    for scalar in [5, -2, True, 1.5]:
        expected_dtype = torch.result_type(b, scalar)
        served = spec.served("scalar_tensor", expected_dtype)
        check(lambda x: spec.op("scalar_tensor")(scalar, x), [b], served=served)
        out = torch.empty(0, dtype=expected_dtype, device=DEVICE)
        check(lambda x, o: spec.op("scalar_tensor_out")(scalar, x, out=o), [b, out], served=served)
    wrong = torch.empty(0, dtype=torch.int64 if dtype is not torch.int64 else torch.int8,
                        device=DEVICE)
    check(lambda x, o: spec.op("scalar_tensor_out")(3, x, out=o), [b, wrong])


# ---- bitwise_not --------------------------------------------------------------------------------

def not_served(dtype):
    return "bitwise_not" if dtype in BITWISE_DTYPES else None


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_bitwise_not(dtype, shape):
    check(torch.bitwise_not, [values(shape, dtype)], served=not_served(dtype))


@pytest.mark.parametrize("layout", ["transposed", "sliced", "expanded"])
@pytest.mark.parametrize("dtype", BITWISE_DTYPES, ids=str)
def test_bitwise_not_layouts(dtype, layout):
    check(torch.bitwise_not, [relayout(values((6, 9), dtype), layout)], served="bitwise_not")


@pytest.mark.parametrize("out_dtype", BITWISE_DTYPES + [torch.float32], ids=str)
@pytest.mark.parametrize("dtype", BITWISE_DTYPES + [torch.float32], ids=str)
def test_bitwise_not_out(dtype, out_dtype):
    """out= of the same dtype, a wider one, or one torch refuses."""
    a = values((6, 9), dtype)
    out = torch.empty(0, dtype=out_dtype, device=DEVICE)
    check(lambda x, o: torch.bitwise_not(x, out=o), [a, out],
          served="bitwise_not.out" if dtype in BITWISE_DTYPES else None)
    with quiet():
        check(lambda x, o: torch.bitwise_not(x, out=o), [a, values((9, 6), dtype).t()],
              served="bitwise_not.out" if dtype in BITWISE_DTYPES else None)


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced"])
@pytest.mark.parametrize("dtype", BITWISE_DTYPES + [torch.float32], ids=str)
def test_bitwise_not_inplace(dtype, layout):
    check(lambda x: x.bitwise_not_(), [relayout(values((6, 9), dtype), layout)],
          served="bitwise_not_" if dtype in BITWISE_DTYPES else None)


# ---- the Python operators and the dunder overloads ---------------------------------------------

PYTHON_CALLS = [
    ("a & b", lambda a, b: a & b, "bitwise_and.Tensor"),
    ("a | b", lambda a, b: a | b, "bitwise_or.Tensor"),
    ("a ^ b", lambda a, b: a ^ b, "bitwise_xor.Tensor"),
    ("a & 6", lambda a, b: a & 6, "bitwise_and.Scalar"),
    ("a | 1", lambda a, b: a | 1, "bitwise_or.Scalar"),
    ("a ^ -1", lambda a, b: a ^ -1, "bitwise_xor.Scalar"),
    ("~a", lambda a, b: ~a, "bitwise_not"),
    ("a << b", lambda a, b: a << b, "__lshift__.Tensor"),
    ("a >> b", lambda a, b: a >> b, "__rshift__.Tensor"),
    ("a << 3", lambda a, b: a << 3, "__lshift__.Scalar"),
    ("a >> 70", lambda a, b: a >> 70, "__rshift__.Scalar"),
    ("3 << b", lambda a, b: 3 << b, "bitwise_left_shift.Scalar_Tensor"),
    ("-100 >> b", lambda a, b: -100 >> b, "bitwise_right_shift.Scalar_Tensor"),
]
PYTHON_INPLACE = [
    ("a &= b", lambda a, b: a.__iand__(b), "bitwise_and_.Tensor"),
    ("a |= b", lambda a, b: a.__ior__(b), "bitwise_or_.Tensor"),
    ("a ^= b", lambda a, b: a.__ixor__(b), "bitwise_xor_.Tensor"),
    ("a &= 5", lambda a, b: a.__iand__(5), "bitwise_and_.Scalar"),
    ("a |= 5", lambda a, b: a.__ior__(5), "bitwise_or_.Scalar"),
    ("a ^= 5", lambda a, b: a.__ixor__(5), "bitwise_xor_.Scalar"),
    ("a <<= b", lambda a, b: a.__ilshift__(b), "__ilshift__.Tensor"),
    ("a >>= b", lambda a, b: a.__irshift__(b), "__irshift__.Tensor"),
    ("a <<= 2", lambda a, b: a.__ilshift__(2), "__ilshift__.Scalar"),
    ("a >>= -1", lambda a, b: a.__irshift__(-1), "__irshift__.Scalar"),
]
PYTHON_DTYPES = [torch.bool, torch.uint8, torch.int16, torch.int64, torch.float32]


def operator_served(overload, dtype):
    shift = "shift" in overload
    if dtype is torch.bool and shift:
        return None  # torch raises
    if dtype is torch.bool and overload.endswith("_.Scalar"):
        return None  # bool &= 5: an int64 result cannot go into bool self
    return overload if dtype in BITWISE_DTYPES else None


@pytest.mark.parametrize("dtype", PYTHON_DTYPES, ids=str)
@pytest.mark.parametrize("case", PYTHON_CALLS + PYTHON_INPLACE,
                         ids=[c[0] for c in PYTHON_CALLS + PYTHON_INPLACE])
def test_python_operators(case, dtype):
    _, fn, overload = case
    a = values((5, 7), dtype)
    b = shift_counts(dtype, 35).reshape(5, 7) if dtype in INTS else values((5, 7), dtype)
    check(fn, [a, b], served=operator_served(overload, dtype))


# Overloads torch defines as composites of a served one; gemforge serves them through it.
DUNDER_ALIASES = [
    (f"__{dunder}__.{form}", f"bitwise_{name}.{form}") for dunder, name in
    [("and", "and"), ("or", "or"), ("xor", "xor")] for form in ("Tensor", "Scalar")
] + [
    (f"__i{dunder}__.{form}", f"bitwise_{name}_.{form}") for dunder, name in
    [("and", "and"), ("or", "or"), ("xor", "xor")] for form in ("Tensor", "Scalar")
] + [
    (f"__{shift}__.{form}_out", f"__{shift}__.{form}") for shift in ("lshift", "rshift")
    for form in ("Tensor", "Scalar")
]


@pytest.mark.parametrize("dtype", [torch.bool, torch.int32], ids=str)
@pytest.mark.parametrize("alias,target", DUNDER_ALIASES, ids=[a for a, _ in DUNDER_ALIASES])
def test_dunder_aliases(alias, target, dtype):
    a = values((5, 7), dtype)
    b = values((5, 7), dtype) if dtype is torch.bool else shift_counts(dtype, 35).reshape(5, 7)
    other = b if alias.split(".")[1].startswith("Tensor") else (True if dtype is torch.bool else 3)
    op = aten_op(alias)
    if alias.endswith("_out"):
        out = torch.empty(0, dtype=dtype, device=DEVICE)
        fn, args = (lambda x, o: op(x, other, out=o)), [a, out]
    else:
        fn, args = (lambda x: op(x, other)), [a]
    served = None if (dtype is torch.bool and "shift" in alias) else target
    check(fn, args, served=served)


# ---- logical_xor --------------------------------------------------------------------------------

def coarse(t):
    """Zeros among the values, so that logical ops see both truth values."""
    if t.dtype is torch.bool:
        return t
    return torch.where(torch.rand(t.shape, device=t.device) < 0.4, torch.zeros_like(t), t)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_logical_xor(dtype, shape):
    a, b = coarse(make(shape, dtype, DEVICE)), coarse(make(shape, dtype, DEVICE))
    check(torch.logical_xor, [a, b], served="logical_xor")


@pytest.mark.parametrize("dtypes", [(torch.float16, torch.int32), (torch.bool, torch.complex64),
                                    (torch.uint8, torch.float64)], ids=str)
@pytest.mark.parametrize("shapes", BROADCASTS[:4], ids=str)
def test_logical_xor_broadcast_mixed(dtypes, shapes):
    a = coarse(make(shapes[0], dtypes[0], DEVICE))
    b = coarse(make(shapes[1], dtypes[1], DEVICE))
    check(torch.logical_xor, [a, b], served="logical_xor")


@pytest.mark.parametrize("out_dtype", [torch.bool, torch.float32, torch.int8], ids=str)
@pytest.mark.parametrize("dtype", [torch.bool, torch.int32, torch.float32], ids=str)
def test_logical_xor_out_and_inplace(dtype, out_dtype):
    """out= of any dtype takes the bool result cast; in place keeps self's dtype."""
    a, b = coarse(make((6, 9), dtype, DEVICE)), coarse(make((6, 9), dtype, DEVICE))
    out = torch.empty(0, dtype=out_dtype, device=DEVICE)
    check(lambda x, y, o: torch.logical_xor(x, y, out=o), [a, b, out], served="logical_xor.out")
    check(lambda x, y: x.logical_xor_(y), [relayout(a, "transposed"), b], served="logical_xor_")
    check(lambda x, y: x.logical_xor_(y), [a, b[:1]], served="logical_xor_")


# ---- predicates ---------------------------------------------------------------------------------

def specials(shape, dtype):
    """Random values with NaN, +-inf, +-0, -NaN (floats) or those in either part (complex) first;
    integers with their extremes."""
    t = values(shape, dtype)
    if dtype.is_floating_point and t.numel() >= 2:
        t = with_specials(t)
        if t.numel() > 8:
            t.view(-1)[-1] = -float("nan")
    elif dtype.is_complex and t.numel() >= 2:
        inf, nan = float("inf"), float("nan")
        cases = [complex(nan, 0), complex(0, nan), complex(inf, 1), complex(1, -inf),
                 complex(-inf, nan), complex(-0.0, -0.0), complex(1, 1)]
        flat = t.reshape(-1)
        n = min(len(cases), flat.numel())
        flat[:n] = torch.tensor(cases[:n], dtype=dtype)
    return t


PREDICATES = ["isnan", "isinf", "isposinf", "isneginf", "signbit"]


def predicate_served(name, dtype, overload=None):
    """None where torch raises: complex in isposinf / isneginf / signbit."""
    if dtype.is_complex and name not in ("isnan", "isinf"):
        return None
    return overload or name


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", BOOL + [torch.uint8, torch.int64] + FLOATS + COMPLEX, ids=str)
@pytest.mark.parametrize("name", PREDICATES)
def test_predicates(name, dtype, shape):
    check(getattr(torch, name), [specials(shape, dtype)], served=predicate_served(name, dtype))


@pytest.mark.parametrize("layout", ["transposed", "sliced", "expanded"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.int16, torch.complex64],
                         ids=str)
@pytest.mark.parametrize("name", PREDICATES)
def test_predicates_layouts(name, dtype, layout):
    a = relayout(specials((6, 9), dtype), layout)
    check(getattr(torch, name), [a], served=predicate_served(name, dtype))


@pytest.mark.parametrize("out_case", ["empty", "same", "wrong_shape", "transposed", "float"])
@pytest.mark.parametrize("dtype", [torch.bool, torch.int8, torch.float16, torch.float64,
                                   torch.complex128], ids=str)
@pytest.mark.parametrize("name", PREDICATES)
def test_predicates_out(name, dtype, out_case):
    """out= must be bool (torch raises otherwise, for isnan / isinf too)."""
    a = specials((6, 9), dtype)
    out = {"empty": lambda: torch.empty(0, dtype=torch.bool, device=DEVICE),
           "same": lambda: make((6, 9), torch.bool, DEVICE),
           "wrong_shape": lambda: make((2, 3), torch.bool, DEVICE),
           "transposed": lambda: make((9, 6), torch.bool, DEVICE).t(),
           "float": lambda: torch.empty(0, dtype=torch.float32, device=DEVICE)}[out_case]()
    served = None if out_case == "float" else predicate_served(name, dtype, f"{name}.out")
    with quiet():
        check(lambda x, o: aten_op(f"{name}.out")(x, out=o), [a, out], served=served)


@pytest.mark.parametrize("name", PREDICATES)
def test_predicates_out_overlapping_self(name):
    """A bool self as its own out, and an out that overlaps self in part: torch's generated
    isnan / isinf out= computes the result (served by gemforge) and copies it; the others
    raise."""
    a = make((16,), torch.bool, DEVICE)
    check(lambda x: aten_op(f"{name}.out")(x, out=x), [a], served=f"{name}.out")
    b = make((17,), torch.bool, DEVICE)
    served = name if name in ("isnan", "isinf") else None
    check(lambda x: aten_op(f"{name}.out")(x[:16], out=x[1:]), [b], served=served)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_predicates_every_special(dtype):
    """NaN of both signs, +-inf, +-0, the dtype's extremes and subnormals, in one tensor."""
    info = torch.finfo(dtype)
    vals = [float("nan"), -float("nan"), float("inf"), -float("inf"), 0.0, -0.0, info.max,
            -info.max, info.tiny, -info.tiny, info.tiny / 4, -info.tiny / 4, 1.0, -1.0]
    a = torch.tensor(vals, dtype=torch.float64).to(dtype).to(DEVICE)
    for name in PREDICATES:
        check(getattr(torch, name), [a], served=name)
    check(torch.isfinite, [a], served="isfinite")


# ---- torch's composites, fused: isfinite and isclose ----------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_isfinite(dtype):
    """isfinite is torch's composite, (x == x) * (x.abs() != inf) for floats, served as one
    kernel; integers and bool (a fill) go to the composite; complex through its real and
    imaginary parts, each served."""
    served = "isfinite" if dtype.is_floating_point or dtype.is_complex else None
    check(torch.isfinite, [specials((33, 5), dtype)], served=served)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_isfinite_layouts(dtype):
    """Transposed, broadcast (expanded) and 0-d and empty inputs; a float input that requires
    grad (the bool result has none, as torch's)."""
    a = specials((16, 24), dtype)
    check(torch.isfinite, [a.t()], served="isfinite")
    check(torch.isfinite, [a[:, :1].expand(16, 24)], served="isfinite")
    check(torch.isfinite, [a[2, 3].clone()], served="isfinite")
    check(torch.isfinite, [a[:0]], served="isfinite")
    expected = torch.isfinite(a)
    x = a.detach().clone().requires_grad_()
    for mode in (torch.inference_mode, torch.enable_grad):
        with mode(), gemforge.use_gems(backends=[DEVICE]), gemforge.collect_stats() as counts:
            r = torch.isfinite(x)
        assert served_count(counts, "isfinite") >= 1, (mode, dict(counts))
        assert not r.requires_grad and r.grad_fn is None and torch.equal(r, expected), mode


ISCLOSE_ARGS = [dict(), dict(rtol=0, atol=0), dict(rtol=1e-2, atol=1e-3), dict(equal_nan=True),
                dict(rtol=0.5, atol=0, equal_nan=True), dict(rtol=0, atol=0.25),
                dict(rtol=0, atol=0, equal_nan=True)]


def isclose_pair(shape, dtype):
    """b: a on its first 16 elements (specials included), a scaled by up to +-2% elsewhere, so
    that some pairs are within each tolerance and some are not."""
    a = specials(shape, dtype)
    b = a.clone()
    flat_a, flat_b = a.reshape(-1), b.view(-1)
    n = flat_a.numel() - 16
    if dtype.is_floating_point:
        flat_b[16:] = (flat_a[16:].double() * (1 + torch.linspace(-0.02, 0.02, n, device=DEVICE))).to(dtype)
    elif dtype is not torch.bool:
        flat_b[16:] = make((n,), dtype, DEVICE, 0, 5)
    else:
        b = make(shape, dtype, DEVICE)
    return a, b


@pytest.mark.parametrize("kwargs", ISCLOSE_ARGS, ids=str)
@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int32, torch.float16,
                                   torch.bfloat16, torch.float32, torch.float64], ids=str)
def test_isclose(dtype, kwargs):
    """isclose is torch's composite of ==, isnan, *, +, -, abs, isfinite and <=, served as one
    kernel for floating dtypes (each intermediate rounded to fp16/bf16 as the composite's
    tensors are); integers and bool go to the composite (they promote to float)."""
    a, b = isclose_pair((64,), dtype)
    served = "isclose" if dtype.is_floating_point else None
    check(lambda x, y: torch.isclose(x, y, **kwargs), [a, b], served=served)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_isclose_layouts(dtype):
    """Broadcast, transposed, 0-d, empty, a cpu 0-d other, and allclose (isclose(...).all())."""
    a, b = isclose_pair((24, 40), dtype)
    check(lambda x, y: torch.isclose(x, y, rtol=1e-2), [a.t(), b.t()], served="isclose")
    check(lambda x, y: torch.isclose(x, y, rtol=1e-2), [a, b[3]], served="isclose")
    check(lambda x, y: torch.isclose(x, y, atol=1e-2), [a[:, :1], b[:1, :]], served="isclose")
    check(lambda x, y: torch.isclose(x, y), [a[1, 2].clone(), b[1, 2].clone()], served="isclose")
    check(lambda x, y: torch.isclose(x, y), [a[:0], b[:0]], served="isclose")
    check(lambda x: torch.isclose(x, b[5, 7].cpu(), rtol=0.1), [a], served="isclose")
    check(lambda x, y: torch.tensor(torch.allclose(x, y, rtol=0.05, atol=1e-3)),
          [a[16:].clone(), b[16:].clone()], served="isclose")


@pytest.mark.parametrize("dtypes", [(torch.float32, torch.float16), (torch.float32, -1.0)], ids=str)
def test_isclose_errors(dtypes):
    """Different dtypes and a negative tolerance raise in torch."""
    a = make((8,), torch.float32, DEVICE)
    if isinstance(dtypes[1], float):
        check(lambda x: torch.isclose(x, x, rtol=dtypes[1]), [a])
    else:
        check(lambda x, y: torch.isclose(x, y), [a, a.to(dtypes[1])])


COMPARE_ALIASES = {"greater": "gt", "greater_equal": "ge", "less": "lt", "less_equal": "le",
                   "not_equal": "ne"}


@pytest.mark.parametrize("dtype", [torch.int32, torch.float32], ids=str)
@pytest.mark.parametrize("form", ["Tensor", "Scalar", "Tensor_out", "Scalar_out", "_Tensor",
                                  "_Scalar"])
@pytest.mark.parametrize("alias", list(COMPARE_ALIASES))
def test_comparison_aliases(alias, form, dtype):
    target = COMPARE_ALIASES[alias]
    inplace = form.startswith("_")
    overload = f"{alias}_.{form[1:]}" if inplace else f"{alias}.{form}"
    served = f"{target}_.{form[1:]}" if inplace else f"{target}.{form}"
    a = make((6, 9), dtype, DEVICE, -2, 2)
    b = torch.where(torch.rand(a.shape, device=DEVICE) < 0.3, a, make((6, 9), dtype, DEVICE, -2, 2))
    other = b if "Tensor" in form else 1
    op = aten_op(overload)
    if form.endswith("_out"):
        out = torch.empty(0, dtype=torch.bool, device=DEVICE)
        check(lambda x, o: op(x, other, out=o), [a, out], served=served)
    else:
        check(lambda x: op(x, other), [a], served=served)


# ---- registration -------------------------------------------------------------------------------

SERVED = (
    [f"{name}.{form}" for name in ("bitwise_and", "bitwise_or", "bitwise_xor")
     for form in ("Tensor", "Tensor_out", "Scalar", "Scalar_out", "Scalar_Tensor")]
    + [f"{name}_.{form}" for name in ("bitwise_and", "bitwise_or", "bitwise_xor")
       for form in ("Tensor", "Scalar")]
    + [f"{name}.{form}" for name in ("bitwise_left_shift", "bitwise_right_shift")
       for form in ("Tensor", "Tensor_out", "Tensor_Scalar", "Tensor_Scalar_out", "Scalar_Tensor")]
    + [f"{name}_.{form}" for name in ("bitwise_left_shift", "bitwise_right_shift")
       for form in ("Tensor", "Tensor_Scalar")]
    + ["bitwise_not", "bitwise_not.out", "bitwise_not_"]
    + [f"__{d}__.{form}" for d in ("lshift", "rshift", "ilshift", "irshift")
       for form in ("Tensor", "Scalar")]
    + ["logical_xor", "logical_xor.out", "logical_xor_"]
    + [name for p in PREDICATES for name in (p, f"{p}.out")]
)
# torch's composites that gemforge fuses (a kernel of its own at the backend key).
FUSED_COMPOSITES = ["isfinite", "isclose"]
ALIASES = (
    [f"{name}.Scalar_Tensor_out" for name in ("bitwise_and", "bitwise_or", "bitwise_xor",
                                              "bitwise_left_shift", "bitwise_right_shift")]
    + [alias for alias, _ in DUNDER_ALIASES]
    + [f"{alias}{sep}{form}" for alias in COMPARE_ALIASES
       for sep, form in ((".", "Tensor"), (".", "Scalar"), (".", "Tensor_out"),
                         (".", "Scalar_out"), ("_.", "Tensor"), ("_.", "Scalar"))]
)


def dispatch_keys(overload):
    name = "aten::" + full_name(overload).replace(".default", "")
    return {key for key in ("CompositeImplicitAutograd", "CompositeExplicitAutograd", "CUDA", "CPU")
            if torch._C._dispatch_has_kernel_for_dispatch_key(name, key)}


def test_rows():
    """Every overload of the family is a row: served ones with their own kernel, aliases with
    the served overload they decompose into (itself a row)."""
    rows = {full_name(r.overload): r for r in gemforge.registered_ops()}
    for name in SERVED:
        row = rows[full_name(name)]
        assert not row.via and set(row.backends) == {"cpu", "cuda"}, row
        assert "CompositeImplicitAutograd" not in dispatch_keys(name), name
    for name in FUSED_COMPOSITES:
        row = rows[full_name(name)]
        assert not row.via and set(row.backends) == {"cpu", "cuda"}, row
        assert "CompositeImplicitAutograd" in dispatch_keys(name), name
    for name in ALIASES:
        row = rows[full_name(name)]
        assert row.via and full_name(row.via) in rows and not rows[full_name(row.via)].via, row


@pytest.mark.parametrize("name", ALIASES)
def test_aliases_are_composites(name):
    """An alias has no kernel of its own in torch: CompositeImplicitAutograd (registering it
    would cut it off from autograd), or the generated out= wrapper around the functional."""
    keys = dispatch_keys(name)
    assert "CUDA" not in keys and "CPU" not in keys, (name, keys)
    if name.endswith("_out") and ("Scalar_Tensor" in name or "shift__" in name):
        assert keys == {"CompositeExplicitAutograd"}, (name, keys)
    else:
        assert keys == {"CompositeImplicitAutograd"}, (name, keys)


def test_every_family_overload_is_covered():
    """torch's overloads of the family's ops, each a served row or an alias row."""
    names = registered_names()
    for base in ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift",
                 "bitwise_right_shift", "__lshift__", "__rshift__", "__ilshift__", "__irshift__",
                 "__and__", "__or__", "__xor__", "__iand__", "__ior__", "__ixor__", "logical_xor",
                 "isnan", "isinf", "isposinf", "isneginf", "isfinite", "signbit", "isclose",
                 "greater", "greater_equal", "less", "less_equal", "not_equal"]:
        for op in (base, base + "_"):
            packet = getattr(torch.ops.aten, op, None)
            if packet is None:
                continue
            for overload in packet.overloads():
                try:
                    torch._C._dispatch_find_schema_or_throw(f"aten::{op}", "" if overload ==
                                                            "default" else overload)
                except RuntimeError:
                    continue  # a TorchScript-only overload (__lshift__.int)
                assert f"{op}.{overload}" in names, f"{op}.{overload} is not a row"
