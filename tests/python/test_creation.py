"""Creation and fill ops: fill / zero, arange and range, linspace and logspace, eye, tril and
triu, polar, and torch's factories (zeros, ones, full, ...) reaching the zero_ / fill_ served here.

Each case goes through conftest.check. Factories have no input to widen to float64: their
floating results are compared with torch's own result within the dtype's tolerance
(reference="torch"), integer and bool results exactly. Where torch raises for a dtype or an
argument, gemforge must raise the same exception type.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import gemforge
from conftest import (ALL_DTYPES, COMPLEX, DEVICE, FLOATS, INTS, check, make, registered_names,
                      served_count)

REAL = INTS + FLOATS
NUMERIC = REAL + COMPLEX


def value_for(dtype):
    """A fill value every dtype holds exactly."""
    if dtype is torch.bool:
        return True
    return complex(2, -1) if dtype.is_complex else 3


def strided(shape, dtype):
    """A transposed, non-contiguous tensor of `shape` (2-d or more)."""
    shape = tuple(shape)
    return make(shape[:-2] + (shape[-1], shape[-2]), dtype).transpose(-1, -2)


# ---- fill and zero ------------------------------------------------------------------------------

FILL_SHAPES = [(), (0,), (7,), (33, 65), (2, 3, 5, 7)]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("shape", FILL_SHAPES)
def test_fill_scalar(dtype, shape):
    value = value_for(dtype)
    check(lambda t: torch.ops.aten.fill.Scalar(t, value), [make(shape, dtype)],
          served="fill.Scalar", reference="exact")
    check(lambda t, o: torch.ops.aten.fill.Scalar_out(t, value, out=o),
          [make(shape, dtype), make((0,), dtype)], served="fill.Scalar_out", reference="exact")


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_fill_tensor(dtype):
    value = torch.tensor(value_for(dtype), dtype=dtype, device=DEVICE)
    check(lambda t, v: torch.ops.aten.fill.Tensor(t, v), [make((33, 65), dtype), value],
          served="fill.Tensor", reference="exact")
    check(lambda t, v, o: torch.ops.aten.fill.Tensor_out(t, v, out=o),
          [strided((5, 6), dtype), value, make((0,), dtype)], served="fill.Tensor_out",
          reference="exact")


def test_fill_keeps_layout_and_checks():
    t = strided((6, 9), torch.float32)
    check(lambda t: torch.ops.aten.fill.Scalar(t, 1.5), [t], served="fill.Scalar", reference="exact")
    # out= of another dtype: the value goes through self's dtype, then into out (torch's road).
    check(lambda t, o: torch.ops.aten.fill.Scalar_out(t, 2.5, out=o),
          [make((4,), torch.int32), make((4,), torch.float32)], reference="exact")
    # Overflow of the value in self's dtype, a value tensor with dims: torch's errors.
    check(lambda t: torch.ops.aten.fill.Scalar(t, 300), [make((4,), torch.int8)])
    check(lambda t, v: torch.ops.aten.fill.Tensor(t, v),
          [make((4,), torch.float32), make((2,), torch.float32)])


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_zero(dtype):
    # small dense tensors take a memset, large or non-dense ones the fill kernel
    check(lambda t: t.zero_(), [make((33, 65), dtype)], served="zero_", reference="exact")
    check(lambda t: t.zero_(), [make((300, 301), dtype)], served="zero_", reference="exact")
    check(lambda t: t.zero_(), [strided((2, 5, 7), dtype)], served="zero_", reference="exact")
    check(lambda t: t[1:, ::2].zero_(), [make((5, 9), dtype)], served="zero_", reference="exact")
    check(lambda t: torch.ops.aten.zero(t), [make((7, 3), dtype)], served="zero", reference="exact")
    check(lambda t, o: torch.ops.aten.zero.out(t, out=o), [make((7, 3), dtype), make((0,), dtype)],
          served="zero.out", reference="exact")


# ---- torch's factories: allocate, then zero_ / fill_ ----------------------------------------------

def _factories():
    like = lambda: make((3, 5), torch.float32)  # noqa: E731
    return [
        ("zeros", lambda: torch.zeros(3, 4, device=DEVICE), "zero_"),
        ("zeros.out", lambda: torch.zeros(3, 4, out=torch.empty(0, device=DEVICE)), "zero_"),
        ("zeros_like", lambda: torch.zeros_like(like(), dtype=torch.int16), "zero_"),
        ("new_zeros", lambda: like().new_zeros((2, 7)), "zero_"),
        ("ones", lambda: torch.ones(5, dtype=torch.bfloat16, device=DEVICE), "fill_.Scalar"),
        ("ones.out", lambda: torch.ones(5, out=torch.empty(0, device=DEVICE)), "fill_.Scalar"),
        ("ones_like", lambda: torch.ones_like(like()), "fill_.Scalar"),
        ("new_ones", lambda: like().new_ones((4,)), "fill_.Scalar"),
        ("full", lambda: torch.full((2, 3), 7, device=DEVICE), "fill_.Scalar"),
        ("full.out", lambda: torch.full((2, 3), 1.5, out=torch.empty(0, device=DEVICE)),
         "fill_.Scalar"),
        ("full_like", lambda: torch.full_like(like(), -2.5), "fill_.Scalar"),
        ("new_full", lambda: like().new_full((3,), 4), "fill_.Scalar"),
        ("scalar_tensor", lambda: torch.scalar_tensor(3.5, device=DEVICE), "fill_.Scalar"),
    ]


@pytest.mark.parametrize("name,call,target", _factories(), ids=[f[0] for f in _factories()])
def test_factory_reaches_fill(name, call, target):
    if name == "scalar_tensor" and DEVICE == "cpu":
        pytest.skip("torch writes a cpu scalar_tensor directly, without fill_")
    rows = {row.overload: row for row in gemforge.registered_ops()}
    assert rows[name].via == target, f"{name} is not an alias of {target}"
    check(lambda: call(), [], served=target, reference="exact")


def test_diag_embed_reaches_copy():
    """diag_embed is torch's composite: zeros (zero_), then a copy into the diagonal view."""
    assert {r.overload: r for r in gemforge.registered_ops()}["diag_embed"].via == "copy_"
    for offset, dims in [(0, (-2, -1)), (1, (0, 2)), (-2, (1, 0))]:
        check(lambda x: torch.diag_embed(x, offset, *dims), [make((3, 5), torch.float32)],
              served="copy_", reference="exact")
        check(lambda x: torch.diag_embed(x, offset, *dims), [make((3, 5), torch.float32)],
              served="zero_", reference="exact")


def test_diag_reaches_copy():
    """diag is torch's composite: diag_embed for 1-d input, diagonal_copy for 2-d; both copy."""
    assert {r.overload: r for r in gemforge.registered_ops()}["diag"].via == "copy_"
    for shape, offset in [((5,), 0), ((4,), 2), ((4,), -1), ((3, 5), 0), ((5, 3), 1), ((4, 4), -2)]:
        check(lambda x: torch.diag(x, offset), [make(shape, torch.float32)], served="copy_",
              reference="exact")
    check(lambda x: torch.diag(x, 1, out=torch.empty(0, device=DEVICE)), [make((4, 4), torch.float32)],
          served="copy_", reference="exact")
    check(lambda x: torch.diag(x), [make((2, 2, 2), torch.float32)])  # torch's error: 1-d or 2-d


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("length,periodic", [(1, True), (2, False), (7, True), (64, False), (0, True)])
def test_blackman_window_reaches_arange(dtype, length, periodic):
    """torch builds blackman_window from arange and pointwise ops, all served."""
    assert {r.overload: r for r in gemforge.registered_ops()}["blackman_window"].via == "arange.start_out"
    served = "arange.start_out" if length > 1 else None  # lengths 0 and 1: torch fills directly
    check(lambda: torch.blackman_window(length, periodic, dtype=dtype, device=DEVICE), [],
          served=served)


# ---- arange and range ---------------------------------------------------------------------------

ARANGES = [(0, 10, 1), (10, 0, -1), (0, 1, 0.1), (0, 0.3, 0.1), (-3.5, 7.25, 0.75), (0, 0, 1),
           (5, 5, -1), (0, 10, 3), (2, -7, -2.5), (1, 100, 7)]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("start,end,step", ARANGES)
def test_arange(dtype, start, end, step):
    if dtype is torch.int64 and step != int(step):
        pytest.skip("torch divides by the step cast to int64 (0): SIGFPE; see test below")
    check(lambda: torch.arange(start, end, step, dtype=dtype, device=DEVICE), [],
          served="arange.start_out", reference="torch")


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.float32, torch.float16])
def test_arange_forms(dtype):
    check(lambda: torch.arange(17, dtype=dtype, device=DEVICE), [], served="arange.start_out",
          reference="torch")
    check(lambda: torch.arange(3, 17, dtype=dtype, device=DEVICE), [], served="arange.start_out",
          reference="torch")
    check(lambda o: torch.arange(9, out=o), [make((0,), dtype)], served="arange.start_out",
          reference="torch")
    # An out= of the right size keeps its shape and strides; values go in logical order.
    check(lambda o: torch.arange(1, 13, out=o), [strided((3, 4), dtype)],
          served="arange.start_out", reference="torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that out= is resized
        check(lambda o: torch.arange(0, 5, out=o), [make((3,), dtype)],
              served="arange.start_out", reference="torch")


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.float32, torch.bfloat16,
                                   torch.uint8])
def test_ranges_vector_tails_and_offsets(dtype):
    """The cuda kernels write 16-byte vectors: lengths that leave a partial vector, and out=
    views that start one element past a 16-byte boundary (one element a thread there)."""
    for n in (1, 7, 9, 31, 4097):
        check(lambda: torch.arange(n, dtype=dtype, device=DEVICE), [], served="arange.start_out",
              reference="torch")
        check(lambda: torch.linspace(-3, 250, n, dtype=dtype, device=DEVICE), [],
              served="linspace.out", reference="torch")
    check(lambda o: torch.arange(2, 39, out=o), [make((40,), dtype)[1:38]],
          served="arange.start_out", reference="torch")
    check(lambda o: torch.linspace(0, 100, 37, out=o), [make((40,), dtype)[3:40]],
          served="linspace.out", reference="torch")
    if dtype.is_floating_point:
        check(lambda o: torch.logspace(0, 2, 37, out=o), [make((40,), dtype)[1:38]],
              served="logspace.out", reference="torch")


def test_arange_default_dtypes_and_exact_int64():
    check(lambda: torch.arange(5, device=DEVICE), [], served="arange.start_out")
    check(lambda: torch.arange(0.5, 3, device=DEVICE), [], served="arange.start_out",
          reference="torch")
    big = 2**40
    check(lambda: torch.arange(big, big + 100, 3, device=DEVICE), [], served="arange.start_out")
    check(lambda: torch.arange(-big, -big - 50, -7, device=DEVICE), [], served="arange.start_out")


def test_arange_int64_fractional_step_raises():
    """torch crashes the process (integer division by the step cast to 0); gemforge raises."""
    with gemforge.use_gems():
        with pytest.raises(RuntimeError, match="step must be nonzero"):
            torch.arange(0, 1, 0.1, dtype=torch.int64, device=DEVICE)


@pytest.mark.parametrize("args", [(0, 10, 0), (0, 10, -1), (10, 0, 1), (0, float("inf"), 1),
                                  (float("nan"), 1, 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int32])
def test_arange_errors(args, dtype):
    check(lambda: torch.arange(*args, dtype=dtype, device=DEVICE), [])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int32, torch.int64,
                                   torch.float16, torch.bfloat16, torch.bool])
def test_range(dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.range is deprecated
        cases = [(0, 10, 1), (10, 0, -2), (3, 3, 1), (-4, 9, 3)]
        if dtype.is_floating_point:  # integers: torch divides by the step cast to 0 (SIGFPE)
            cases += [(-1.5, 2.5, 0.5), (0, 1, 0.1)]
        for start, end, step in cases:
            check(lambda: torch.range(start, end, step, dtype=dtype, device=DEVICE), [],
                  served="range.out", reference="torch")
        if DEVICE == "cpu":  # torch's own cuda range.out_ crashed the process (H200, torch 2.11)
            check(lambda o: torch.ops.aten.range.out_(1, 6, out=o), [make((0,), dtype)],
                  served="range.out_", reference="torch")
        check(lambda: torch.range(0, 5, -1, dtype=dtype, device=DEVICE), [])


# ---- linspace and logspace ----------------------------------------------------------------------

SPACES = [(0, 1, 0), (3, 7, 1), (-2, 5, 2), (0, 1, 7), (10, -10, 33), (-3.5, 2.25, 100),
          (-7, 100, 13), (0, 255, 1000)]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("start,end,steps", SPACES)
def test_linspace(dtype, start, end, steps):
    check(lambda: torch.linspace(start, end, steps, dtype=dtype, device=DEVICE), [],
          served="linspace.out",
          reference="torch")


@pytest.mark.parametrize("dtype", COMPLEX)
def test_linspace_complex_ends(dtype):
    check(lambda: torch.linspace(1 + 2j, -3 + 0.5j, 11, dtype=dtype, device=DEVICE), [],
          served="linspace.out", reference="torch")
    check(lambda: torch.logspace(1j, 1 + 1j, 6, dtype=dtype, device=DEVICE), [],
          served="logspace.out", reference="torch")


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bfloat16])
def test_linspace_forms(dtype):
    t = lambda v: torch.tensor(v, device=DEVICE)  # noqa: E731
    check(lambda: torch.linspace(t(-1.0), t(2.0), 9, dtype=dtype, device=DEVICE), [],
          served="linspace.out", reference="torch")
    check(lambda: torch.linspace(t(-1.0), 2.0, 9, dtype=dtype, device=DEVICE), [],
          served="linspace.out", reference="torch")
    check(lambda o: torch.linspace(0, 20, 12, out=o), [strided((3, 4), dtype)],
          served="linspace.out", reference="torch")
    check(lambda o: torch.logspace(0, 2, 12, out=o), [strided((4, 3), dtype)],
          served="logspace.out", reference="torch")
    check(lambda o: torch.logspace(t(0.0), t(2.0), 5, out=o), [make((0,), dtype)],
          served="logspace.out", reference="torch")
    check(lambda: torch.linspace(0, 1, -1, dtype=dtype, device=DEVICE), [])
    check(lambda: torch.logspace(0, 1, -1, dtype=dtype, device=DEVICE), [])


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("start,end,steps,base", [(0, 3, 4, 10.0), (0, 2, 7, 2.0), (-2, 2, 9, 10.0),
                                                  (1, -3, 5, 0.5), (0, 6, 1, 2.0), (0, 1, 0, 10.0),
                                                  (-1.5, 1.5, 50, 3.0)])
def test_logspace(dtype, start, end, steps, base):
    check(lambda: torch.logspace(start, end, steps, base=base, dtype=dtype, device=DEVICE), [],
          served="logspace.out",
          reference="torch")


# ---- eye ----------------------------------------------------------------------------------------


def eye_served(dtype, overload="eye.m_out"):
    """cuda hands 1- and 2-byte dtypes to torch's kernel (faster there, see ops/creation.cpp)."""
    return None if DEVICE == "cuda" and torch.empty((), dtype=dtype).element_size() <= 2 else overload


def tri_served(dtype, overload):
    """cuda hands out-of-place tril/triu of 4-byte and wider elements to torch's kernel."""
    return None if DEVICE == "cuda" and torch.empty((), dtype=dtype).element_size() >= 4 else overload

@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_eye(dtype):
    for n, m in [(0, 0), (1, 1), (3, 3), (3, 5), (6, 2), (33, 65), (0, 4)]:
        check(lambda: torch.eye(n, m, dtype=dtype, device=DEVICE), [], served=eye_served(dtype))
    check(lambda: torch.eye(7, dtype=dtype, device=DEVICE), [], served=eye_served(dtype))
    check(lambda o: torch.eye(4, 6, out=o), [strided((4, 6), dtype)], served=eye_served(dtype))
    check(lambda o: torch.eye(5, out=o), [make((2,), dtype)], served=eye_served(dtype, "eye.out"))


@pytest.mark.parametrize("n,m", [(-1, 3), (3, -2), (-1, None)])
def test_eye_errors(n, m):
    if m is None:
        check(lambda: torch.eye(n, device=DEVICE), [])
    else:
        check(lambda: torch.eye(n, m, device=DEVICE), [])


# ---- tril and triu ------------------------------------------------------------------------------

TRI_CASES = [((3, 3), 0), ((3, 3), -10), ((4, 7), 1), ((4, 7), 70), ((7, 4), -2), ((7, 4), 3),
             ((2, 3, 5, 6), -1), ((0, 4), 0), ((3, 0), 1), ((2, 0, 3), 0), ((1, 1, 33, 65), 5)]


def triangle_forms(name, shape, dtype, k):
    """The functional, in-place and out= forms of tril / triu on a fresh input."""
    check(lambda x: getattr(torch, name)(x, k), [make(shape, dtype)], served=tri_served(dtype, name),
          reference="exact")
    check(lambda x: getattr(x, name + "_")(k), [make(shape, dtype)], served=name + "_",
          reference="exact")
    check(lambda x, o: getattr(torch, name)(x, k, out=o), [make(shape, dtype), make((0,), dtype)],
          served=tri_served(dtype, name + ".out"), reference="exact")


@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_triangle_dtypes(name, dtype):
    triangle_forms(name, (2, 5, 7), dtype, 1 if name == "tril" else -1)


@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("shape,k", TRI_CASES)
def test_triangle_shapes(name, shape, k):
    triangle_forms(name, shape, torch.float32, k)


@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.complex128, torch.bool, torch.int8])
def test_triangle_strided(name, dtype):
    fn = getattr(torch, name)
    for k in (-1, 0, 2):
        check(lambda x: fn(x, k), [strided((3, 5, 6), dtype)], served=tri_served(dtype, name), reference="exact")
        check(lambda x: getattr(x, name + "_")(k), [strided((3, 5, 6), dtype)], served=name + "_",
              reference="exact")
        # leading dims that do not merge into one stride
        check(lambda x: fn(x[::2, 1:], k), [make((4, 3, 5, 6), dtype)], served=tri_served(dtype, name),
              reference="exact")
        check(lambda x: getattr(x[::2, 1:], name + "_")(k), [make((4, 3, 5, 6), dtype)],
              served=name + "_", reference="exact")
        check(lambda x, o: fn(x, k, out=o), [make((2, 5, 6), dtype), strided((2, 5, 6), dtype)],
              served=tri_served(dtype, name + ".out"), reference="exact")
        check(lambda x: fn(x, k), [make((1, 6), dtype).expand(5, 6)], served=tri_served(dtype, name),
              reference="exact")


# The cuda kernels' layouts: 16-byte vectors along the output's dense dim when every row start
# is aligned, one element a thread otherwise; tiles of 32 rows, so sizes past a tile and a
# vector's tail; a transposed output (the transposed problem), a transposed input (read through
# shared memory), a broadcast input (a row or one element a row). An output dense along neither
# dim goes to torch's kernel on cuda.
TILE_SHAPES = [(70, 300), (2, 33, 24)]


@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.bool, torch.complex128],
                         ids=str)
def test_triangle_tiles(name, dtype):
    fn = getattr(torch, name)
    for shape in TILE_SHAPES:
        for k in (-3, 0, 250):
            check(lambda x: fn(x, k), [make(shape, dtype)], served=tri_served(dtype, name), reference="exact")
            check(lambda x: getattr(x, name + "_")(k), [strided(shape, dtype)], served=name + "_",
                  reference="exact")
            check(lambda x: fn(x, k), [strided(shape, dtype)], served=tri_served(dtype, name), reference="exact")
            check(lambda x, o: fn(x, k, out=o), [make(shape, dtype), strided(shape, dtype)],
                  served=tri_served(dtype, name + ".out"), reference="exact")
    rows = make((1, 300), dtype).expand(70, 300)
    column = make((70, 1), dtype).expand(70, 300)
    for k in (-5, 7):
        check(lambda x: fn(x, k), [rows], served=tri_served(dtype, name), reference="exact")
        check(lambda x: fn(x, k), [column], served=tri_served(dtype, name), reference="exact")
        check(lambda x, o: fn(x, k, out=o), [column, strided((70, 300), dtype)],
              served=tri_served(dtype, name + ".out"), reference="exact")
    # dense along neither dim: torch's kernel on cuda
    cuda_fallback = None if DEVICE == "cuda" else name + "_"
    check(lambda x: getattr(x[:, ::2], name + "_")(1), [make((9, 20), dtype)],
          served=cuda_fallback, reference="exact")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.bool, torch.complex128],
                         ids=str)
def test_eye_tiles(dtype):
    for n, m in [(70, 300), (33, 17), (1, 129)]:
        check(lambda: torch.eye(n, m, dtype=dtype, device=DEVICE), [], served=eye_served(dtype),
              reference="exact")
        check(lambda o: torch.eye(n, m, out=o), [strided((n, m), dtype)], served=eye_served(dtype),
              reference="exact")


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_triangle_complex_half(name):
    x = make((3, 4, 5), torch.complex64).to(torch.complex32)
    check(lambda x: getattr(torch, name)(x, 1), [x], served=tri_served(torch.complex32, name), reference="exact")
    check(lambda: torch.eye(3, dtype=torch.complex32, device=DEVICE), [])  # torch: no kernel


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_triangle_errors(name):
    fn = getattr(torch, name)
    check(lambda x: fn(x), [make((5,), torch.float32)])
    check(lambda x: getattr(x, name + "_")(), [make((5,), torch.float32)])
    check(lambda x, o: fn(x, out=o), [make((3, 3), torch.float32), make((3, 3), torch.float64)])


# ---- polar --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_polar(dtype):
    abs_ = make((33, 65), dtype, low=0.0)
    angle = make((33, 65), dtype, low=-4.0, high=4.0)
    check(torch.polar, [abs_, angle], served="polar.out")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_polar_forms(dtype):
    check(torch.polar, [make((5, 1), dtype, low=0.0), make((1, 7), dtype)], served="polar.out")
    check(torch.polar, [strided((6, 9), dtype).abs(), strided((6, 9), dtype)], served="polar.out")
    out_dtype = torch.complex64 if dtype is torch.float32 else torch.complex128
    check(lambda a, b, o: torch.polar(a, b, out=o),
          [make((4, 5), dtype, low=0.0), make((4, 5), dtype), make((0,), out_dtype)],
          served="polar.out")
    specials = torch.tensor([0.0, 1.0, float("inf"), float("nan"), 2.0, -0.0], dtype=dtype)
    angles = torch.tensor([1.0, float("inf"), 0.5, 1.0, float("nan"), -0.0], dtype=dtype)
    check(torch.polar, [specials.to(DEVICE), angles.to(DEVICE)], served="polar.out",
          reference="torch")
    # mixed dtypes, a real out=: torch's errors
    check(torch.polar, [make((3,), torch.float32), make((3,), torch.float64)])
    check(lambda a, b, o: torch.polar(a, b, out=o),
          [make((3,), dtype), make((3,), dtype), make((3,), dtype)])


# ---- the table ----------------------------------------------------------------------------------

# ---- lift.out, empty_permuted ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.bool, torch.int32, torch.bfloat16, torch.float32, torch.complex64], ids=str)
def test_lift_out(dtype):
    """lift is the identity; its out= form copies into out (resized; another out dtype raises,
    as torch's out= wrapper)."""
    x = make((5, 7), dtype)
    op = torch.ops.aten.lift.out
    check(lambda t, o: op(t, out=o), [x, torch.empty(0, dtype=dtype, device=DEVICE)],
          served="lift.out", reference="exact")
    check(lambda t, o: op(t, out=o), [x.t(), torch.empty((7, 5), dtype=dtype, device=DEVICE)],
          served="lift.out", reference="exact")
    if dtype is not torch.complex64:
        check(lambda t, o: op(t, out=o), [x, torch.empty(0, dtype=torch.float64, device=DEVICE)],
              served="lift.out")


LAYOUTS = [((), ()), ((5,), (0,)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (0, 1, 2)),
           ((4, 1, 3, 5), (0, 2, 3, 1)), ((3, 0, 2), (1, 2, 0)), ((2, 3), (1, 0))]


@pytest.mark.parametrize("size,layout", LAYOUTS, ids=str)
@pytest.mark.parametrize("dtype", [None, torch.int64, torch.float16, torch.bool], ids=str)
def test_empty_permuted(size, layout, dtype):
    """Same sizes, strides, dtype and device as torch's (its values are uninitialized)."""
    def call():
        return torch.empty_permuted(size, layout, dtype=dtype, device=DEVICE)
    expected = call()
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        actual = call()
    assert served_count(counts, "empty_permuted") >= 1
    assert (actual.shape, actual.stride(), actual.dtype, actual.device) == \
        (expected.shape, expected.stride(), expected.dtype, expected.device)


def test_empty_permuted_out_and_errors():
    op = torch.ops.aten.empty_permuted.out
    for out in (torch.empty(0, device=DEVICE), torch.empty(24, dtype=torch.int32, device=DEVICE)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = op([2, 3, 4], [2, 0, 1], out=out.clone())
            with gemforge.use_gems(), gemforge.collect_stats() as counts:
                mine = out.clone()
                actual = op([2, 3, 4], [2, 0, 1], out=mine)
        assert actual is mine and served_count(counts, "empty_permuted.out") >= 1
        assert (actual.shape, actual.stride(), actual.dtype) == (expected.shape, expected.stride(), expected.dtype)
    # wrong lengths, out-of-range and repeated dims: torch's errors
    for size, layout in [([2, 3], [0]), ([2, 3], [0, 2]), ([2, 3], [1, 1]), ([2, 3], [-1, 0])]:
        check(lambda: torch.empty_permuted(size, layout, device=DEVICE), [])
        check(lambda: op(size, layout, out=torch.empty(0, device=DEVICE)), [])


SERVED = ["fill.Scalar", "fill.Scalar_out", "fill.Tensor", "fill.Tensor_out", "zero_", "zero",
          "zero.out", "arange.start_out", "range.out", "range.out_", "linspace.out",
          "logspace.out", "eye.out", "eye.m_out", "tril", "tril_", "tril.out", "triu", "triu_",
          "triu.out", "polar.out"]


def test_table_rows():
    names = registered_names()
    for overload in SERVED:
        assert f"{overload}.default" in names or overload in names, overload
    rows = {row.overload: row for row in gemforge.registered_ops()}
    served = {row.overload for row in gemforge.registered_ops() if not row.via}
    for row in rows.values():
        if row.family == "creation_fill" and row.via:
            assert row.via in served, f"{row.overload} -> {row.via}, which is not served"


def test_stats_count_zero_():
    """zero_ is counted as itself, not as the fill_ it runs on."""
    t = make((4, 4), torch.float32)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        t.zero_()
    assert served_count(counts, "zero_") == 1
    assert served_count(counts, "fill_.Scalar") == 0
