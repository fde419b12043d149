"""Data movement: cat and stack (and the composites reaching them), _to_copy and clone, the
*_copy ops that materialise a view, and roll.

Pure moves compare bitwise with torch's own result (reference="exact"); casts too (both round
the same way). Every dtype torch supports, non-contiguous inputs (transposed, sliced), empty
and size-1 dims, 0-d where the op takes it, out= (resized, another dtype where torch casts), and
torch's errors (same exception type).
"""

from __future__ import annotations

import pytest
import torch

import gemforge
from conftest import (ALL_DTYPES, DEVICE, FLOATS, assert_same_error, assert_same_values, check, make, quiet,
                      raised, replicate, served_count)

MOVE_DTYPES = ALL_DTYPES  # bool, integers, floating, complex
# Each source dtype is cast to these (the vector cast kernels' floating targets, and one each of
# the others): the full matrix would cost a minute of CI.
CAST_TARGETS = [torch.float16, torch.bfloat16, torch.float32, torch.bool]


def transposed(shape, dtype):
    """A non-contiguous tensor of `shape` (2-d or more): the last two dims swapped in memory."""
    shape = tuple(shape)
    return make(shape[:-2] + (shape[-1], shape[-2]), dtype).transpose(-1, -2)


def sliced(shape, dtype):
    """A non-contiguous tensor of `shape`: every other element of the last dim of a larger one."""
    shape = tuple(shape)
    return make(shape[:-1] + (2 * shape[-1],), dtype)[..., ::2]


# ---- cat ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", MOVE_DTYPES)
def test_cat_dtypes(dtype):
    check(lambda a, b, c: torch.cat([a, b, c], 1),
          [make((3, 5), dtype), make((3, 2), dtype), transposed((3, 4), dtype)], served="cat",
          reference="exact")


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 5), (2, 3, 4, 5)])
def test_cat_every_dim(shape):
    for dim in range(-len(shape), len(shape)):
        parts = []
        for n in (1, 2, 3):
            s = list(shape)
            s[dim] = n
            parts.append(make(s, torch.float32))
        check(lambda *p: torch.cat(list(p), dim), parts, served="cat", reference="exact")


def test_cat_widths():
    # rows of odd byte lengths and offsets: 1-, 2-, 4-, 8- and 16-byte accesses
    for dtype in (torch.bool, torch.float16, torch.float32, torch.float64, torch.complex128):
        for inner in (1, 3, 8, 33):
            check(lambda a, b: torch.cat([a, b], 1), [make((4, inner), dtype), make((4, 2 * inner + 1), dtype)],
                  served="cat", reference="exact")


def test_cat_non_contiguous_and_mixed():
    check(lambda a, b: torch.cat([a, b], 0), [transposed((4, 6), torch.float32), make((3, 6), torch.float32)],
          served="cat", reference="exact")
    check(lambda a, b: torch.cat([a, b], 1), [sliced((4, 6), torch.int64), transposed((4, 5), torch.int64)],
          served="cat", reference="exact")
    # mixed dtypes promote as torch does
    check(lambda a, b: torch.cat([a, b], 1), [make((4, 6), torch.int32), make((4, 2), torch.float16)],
          served="cat", reference="exact")
    check(lambda a, b, c: torch.cat([a, b, c], 0),
          [make((2, 3), torch.bool), make((1, 3), torch.uint8), make((2, 3), torch.bfloat16)],
          served="cat", reference="exact")
    check(lambda a, b: torch.cat([a, b], 0), [make((2, 3), torch.float32), make((2, 3), torch.complex64)],
          served="cat", reference="exact")


def test_cat_empty_and_legacy():
    f32 = torch.float32
    empty = torch.empty(0, device=DEVICE)
    check(lambda e, a: torch.cat([e, a], 1), [empty, make((3, 4), f32)], served="cat", reference="exact")
    check(lambda a, e, b: torch.cat([a, e, b], -1), [make((3, 4), f32), empty, make((3, 2), f32)],
          served="cat", reference="exact")
    check(lambda e, f: torch.cat([e, f], 0), [empty, empty.clone()], served="cat", reference="exact")
    check(lambda e, f: torch.cat([e, f], 3), [empty, empty.clone()], served="cat", reference="exact")
    check(lambda a, b: torch.cat([a, b], 0), [make((0, 4), f32), make((2, 4), f32)], served="cat",
          reference="exact")
    check(lambda a, b: torch.cat([a, b], 1), [make((0, 4), f32), make((0, 2), f32)], served="cat",
          reference="exact")
    check(lambda e, a: torch.cat([e, a], 0), [torch.empty(0, device=DEVICE, dtype=torch.int64), make((3,), f32)],
          served="cat", reference="exact")
    check(lambda a: torch.cat([a], 0), [make((5, 3), torch.int16)], served="cat", reference="exact")


def test_cat_channels_last():
    a = make((2, 3, 4, 5), torch.float32).to(memory_format=torch.channels_last)
    b = make((2, 2, 4, 5), torch.float32).to(memory_format=torch.channels_last)
    out = check(lambda x, y: torch.cat([x, y], 1), [a, b], served="cat", reference="exact")
    assert out.is_contiguous(memory_format=torch.channels_last)
    check(lambda x, y: torch.cat([x, y], 1), [a, make((2, 2, 4, 5), torch.float32)], served="cat",
          reference="exact")


def test_cat_many():
    parts = [make((2, i % 5 + 1, 3), torch.float16) for i in range(100)]  # more than one launch table
    check(lambda *p: torch.cat(list(p), 1), parts, served="cat", reference="exact")


def test_cat_out():
    f32 = torch.float32
    check(lambda a, b, o: torch.cat([a, b], 0, out=o), [make((2, 3), f32), make((4, 3), f32), make((0,), f32)],
          served="cat.out", reference="exact")
    check(lambda a, b, o: torch.cat([a, b], 1, out=o),
          [make((2, 3), f32), make((2, 4), f32), make((2, 7), torch.float64)], served="cat.out", reference="exact")
    check(lambda a, b, o: torch.cat([a, b], 1, out=o),
          [make((2, 3), torch.int32), make((2, 4), torch.int32), transposed((2, 7), torch.int32)],
          served="cat.out", reference="exact")
    with quiet():  # a non-empty out of another shape: resized, with torch's warning
        check(lambda a, b, o: torch.cat([a, b], 1, out=o),
              [make((2, 3), f32), make((2, 4), f32), make((5, 5), f32)], served="cat.out", reference="exact")
    # inputs that cannot be cast to out's dtype
    check(lambda a, b, o: torch.cat([a, b], 0, out=o),
          [make((2, 3), f32), make((2, 3), f32), make((0,), torch.int64)], served="cat.out")
    # out overlapping an input
    a = make((4, 3), f32)
    check(lambda x, o: torch.cat([x[:2], x[2:]], 0, out=o), [a, a], served="cat.out")


def test_cat_errors():
    f32 = torch.float32
    a, b = make((2, 3), f32), make((2, 4), f32)
    cases = [
        lambda: torch.cat([]),
        lambda: torch.cat([a, b]),
        lambda: torch.cat([a, b], dim=5),
        lambda: torch.cat([a, a], dim=-3),
        lambda: torch.cat([a, make((2, 3, 1), f32)]),
        lambda: torch.cat([make((), f32), a]),
        lambda: torch.cat([torch.empty(0, device=DEVICE), make((), f32)]),
    ]
    for fn in cases:
        expected = raised(fn)
        with gemforge.use_gems():
            got = raised(fn)
        assert_same_error(expected, got)
        assert str(expected) == str(got)


def test_cat_composites():
    f32 = torch.float32
    check(lambda a, b: torch.concat([a, b], 1), [make((2, 3), f32), make((2, 2), f32)], served="cat",
          reference="exact")
    check(lambda a, b: torch.concatenate([a, b], 0), [make((2, 3), f32), make((2, 3), f32)], served="cat",
          reference="exact")
    check(lambda a, b: torch.hstack([a, b]), [make((2, 3), f32), make((2, 3), f32)], served="cat",
          reference="exact")
    check(lambda a, b: torch.vstack([a, b]), [make((3,), f32), make((3,), f32)], served="cat",
          reference="exact")
    check(lambda a, b: torch.dstack([a, b]), [make((2, 3), f32), make((2, 3), f32)], served="cat",
          reference="exact")


def test_cat_autograd():
    a = make((2, 3), torch.float32).requires_grad_()
    b = make((2, 5), torch.float32).requires_grad_()
    with gemforge.use_gems():
        y = torch.cat([a, b], 1)
        y.sum().backward()
    assert torch.equal(a.grad, torch.ones_like(a)) and torch.equal(b.grad, torch.ones_like(b))


# ---- block_diag: torch's composite, zeros then each block copied in (zero_ and copy_) ----------

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64, torch.bool, torch.complex64])
def test_block_diag(dtype):
    blocks = [make((2, 3), dtype), make((4,), dtype), make((), dtype), transposed((3, 2), dtype),
              make((0, 2), dtype), sliced((2, 2), dtype)]
    check(lambda *bs: torch.block_diag(*bs), blocks, served="copy_", reference="exact")


def test_block_diag_promotes_and_raises():
    f32 = torch.float32
    check(lambda a, b: torch.block_diag(a, b), [make((2, 2), f32), make((1, 3), torch.int64)], served="copy_",
          reference="exact")
    check(lambda a: torch.block_diag(a), [make((2, 2, 2), f32)])  # 3-d: torch's RuntimeError


# ---- torch's composites that land on served copies: chalf (_to_copy), _conj_copy (clone, copy_)
# and diff (sub of two narrowed views; logical_xor for bool); conj_physical; resize, resize_as ----

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64, torch.int32], ids=str)
def test_chalf(dtype):
    check(lambda a: a.chalf(), [make((4, 6), dtype)], served="_to_copy", reference="exact")
    check(lambda a: a.chalf(), [transposed((5, 3), dtype)], served="_to_copy", reference="exact")


def test_conj_copy():
    op = torch.ops.aten._conj_copy
    for dtype in (torch.complex64, torch.complex128):
        check(lambda a: op(a), [make((3, 4), dtype)], served="clone", reference="exact")
        check(lambda a: op(a), [transposed((3, 4), dtype)], served="clone", reference="exact")
        check(lambda a, o: op.out(a, out=o), [make((3, 4), dtype), torch.empty(3, 4, dtype=dtype, device=DEVICE)],
              served="copy_", reference="exact")


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128, torch.float32, torch.bfloat16, torch.int64,
                                   torch.bool], ids=str)
def test_conj_physical(dtype):
    """conj_physical.out's kernel, and torch's composites over it: the functional form and its
    underscore form (for complex; a real input is returned as it is), and the in-place form."""
    x = make((4, 6), dtype)
    kernel = "conj_physical.out"
    if dtype.is_complex:
        for a in (x, transposed((5, 3), dtype), sliced((3, 4), dtype)):
            check(lambda a: torch.conj_physical(a), [a], served=kernel, reference="exact")
        check(lambda a: torch.ops.aten._conj_physical(a), [x], served=kernel, reference="exact")
        check(lambda a: a.mul(1).conj_physical_(), [x], served="conj_physical_", reference="exact")
        check(lambda a: a.t().mul(1).conj_physical_(), [x], served="conj_physical_", reference="exact")
        # a conj view: torch clones it, which resolves the conjugation
        check(lambda a: torch.ops.aten._conj_physical(a.conj()), [x], served="clone", reference="exact")
    check(lambda a: a.clone().conj_physical_(), [x], served="conj_physical_", reference="exact")
    check(lambda a, o: torch.conj_physical(a, out=o), [x, torch.empty(4, 6, dtype=dtype, device=DEVICE)], served=kernel,
          reference="exact")
    check(lambda a, o: torch.conj_physical(a, out=o), [transposed((5, 3), dtype), torch.empty(0, dtype=dtype,
          device=DEVICE)], served=kernel, reference="exact")                              # out resized
    check(lambda a, o: torch.conj_physical(a, out=o), [make((), dtype), torch.empty((), dtype=dtype, device=DEVICE)],
          served=kernel, reference="exact")                                               # 0-d
    check(lambda a, o: torch.conj_physical(a, out=o), [make((0, 3), dtype), torch.empty(0, 3, dtype=dtype,
          device=DEVICE)], reference="exact")                                          # empty
    other = torch.float64 if dtype != torch.float64 else torch.float32
    check(lambda a, o: torch.conj_physical(a, out=o), [x, torch.empty(4, 6, dtype=other, device=DEVICE)])  # error


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.complex64, torch.bool], ids=str)
def test_resize_functional(dtype):
    """resize and resize_as, the functional forms of resize_ and resize_as_: torch clones the
    input, then resizes the clone (shrunk or kept here: grown storage would be uninitialized)."""
    x = make((4, 6), dtype)
    check(lambda a: torch.ops.aten.resize(a, [3, 5]), [x], served="clone", reference="exact")
    check(lambda a: torch.ops.aten.resize(a, [6, 4]), [transposed((4, 6), dtype)], served="clone", reference="exact")
    check(lambda a, t: torch.ops.aten.resize_as(a, t), [x, make((2, 2, 3), dtype)], served="clone",
          reference="exact")
    check(lambda a: torch.ops.aten.resize(a, [-1, 2]), [x])  # torch's error


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64, torch.bool], ids=str)
def test_diff(dtype):
    served = "logical_xor" if dtype is torch.bool else "sub.Tensor"
    x = make((5, 7), dtype)
    check(lambda a: torch.diff(a), [x], served=served, reference="exact")
    check(lambda a: torch.diff(a, n=2, dim=0), [x], served=served, reference="exact")
    check(lambda a, p, q: torch.diff(a, dim=1, prepend=p, append=q), [x, make((5, 2), dtype), make((5, 1), dtype)],
          served=served, reference="exact")
    check(lambda a: torch.diff(a, dim=0), [transposed((5, 7), dtype)], served=served, reference="exact")
    check(lambda a: torch.diff(a, n=3), [make((5, 2), dtype)])  # n past the length: empty
    check(lambda a: torch.diff(a), [make((), dtype)])            # 0-d: torch's RuntimeError


# ---- stack --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", MOVE_DTYPES)
def test_stack_dtypes(dtype):
    check(lambda a, b: torch.stack([a, b], 1), [make((3, 5), dtype), make((3, 5), dtype)],
          served="stack", reference="exact")


def test_stack_dims():
    for dim in (0, 1, 2, -1, -3):
        check(lambda a, b: torch.stack([a, b], dim), [make((3, 5), torch.float16), make((3, 5), torch.float16)],
              served="stack", reference="exact")


def test_stack_layouts():
    f32 = torch.float32
    check(lambda a, b, c: torch.stack([a, b, c], 1),
          [transposed((3, 4), f32), make((3, 4), f32), sliced((3, 4), f32)], served="stack", reference="exact")
    check(lambda a, b: torch.stack([a, b], 0), [make((), f32), make((), f32)], served="stack",
          reference="exact")
    check(lambda a, b: torch.stack([a, b], 1), [make((0, 3), f32), make((0, 3), f32)], served="stack",
          reference="exact")
    check(lambda a, b: torch.stack([a, b], 0), [make((2, 3), torch.int64), make((2, 3), torch.float16)],
          served="stack", reference="exact")
    check(lambda a, b, o: torch.stack([a, b], 1, out=o), [make((2, 3), f32), make((2, 3), f32), make((0,), f32)],
          served="stack.out", reference="exact")
    check(lambda a, b, o: torch.stack([a, b], 2, out=o),
          [make((2, 3), torch.int32), make((2, 3), torch.int32), make((2, 3, 2), torch.float64)],
          served="stack.out", reference="exact")
    check(lambda a, b, o: torch.stack([a, b], 0, out=o),
          [make((2, 3), f32), make((2, 3), f32), make((0,), torch.int32)], served="stack.out")


def test_stack_errors():
    f32 = torch.float32
    a = make((2, 3), f32)
    for fn in [lambda: torch.stack([]), lambda: torch.stack([a, make((2, 4), f32)]),
               lambda: torch.stack([a, a], 3), lambda: torch.stack([a, a], -4)]:
        expected = raised(fn)
        with gemforge.use_gems():
            got = raised(fn)
        assert_same_error(expected, got)
        assert str(expected) == str(got)


# ---- _to_copy and clone -------------------------------------------------------------------------

@pytest.mark.parametrize("src", MOVE_DTYPES)
def test_to_copy_dtypes(src):
    x = make((5, 33), src)
    for dst in CAST_TARGETS:
        with quiet():  # complex -> real warns
            check(lambda t: t.to(dst), [x], served=None if dst == src else "_to_copy", reference="exact")


def test_to_copy_layouts():
    for make_input in (transposed, sliced):
        x = make_input((6, 10), torch.bfloat16)
        out = check(lambda t: t.to(torch.float32), [x], served="_to_copy", reference="exact")
        assert out.stride() == torch.empty_like(x, dtype=torch.float32).stride()
    x = make((2, 3, 4, 5), torch.float32)
    check(lambda t: t.to(torch.float16, memory_format=torch.channels_last), [x], served="_to_copy",
          reference="exact")
    check(lambda t: torch.ops.aten._to_copy(t, dtype=torch.float64), [make((), torch.float32)],
          served="_to_copy", reference="exact")
    check(lambda t: torch.ops.aten._to_copy(t), [make((0, 3), torch.int8)], served="_to_copy",
          reference="exact")
    check(lambda t: t.to(device=t.device, dtype=torch.int32), [make((4,), torch.float32)], served="_to_copy",
          reference="exact")
    check(lambda t, o: torch.ops.aten._to_copy.out(t, out=o), [make((3, 4), torch.float16), make((0,), torch.float32)],
          served="_to_copy.out", reference="exact")


@pytest.mark.skipif(DEVICE != "cuda", reason="a device-to-host copy")
@pytest.mark.parametrize("dtype", MOVE_DTYPES)
def test_to_copy_to_host(dtype):
    """A cuda tensor to the host, as torch lays the result out: dense ones in one copy, others
    (sliced, another dtype, an explicit memory format) through a device copy first."""
    cases = [
        (lambda t: t.cpu(), make((5, 33), dtype)),
        (lambda t: t.to("cpu", non_blocking=True), transposed((6, 10), dtype)),
        (lambda t: t.to("cpu"), sliced((6, 10), dtype)),
        (lambda t: t.to("cpu", torch.float32), transposed((6, 10), dtype)),
        (lambda t: t.to("cpu", memory_format=torch.channels_last), make((2, 3, 4, 5), dtype)),
        (lambda t: t.cpu(), make((), dtype)),
        (lambda t: t.cpu(), make((0, 3), dtype)),
    ]
    for fn, x in cases:
        with quiet():  # complex -> real warns
            out = check(fn, [x], served="_to_copy", reference="exact")
            expected = fn(x)
        assert out.device.type == "cpu" and out.stride() == expected.stride() and out.dtype == expected.dtype


@pytest.mark.skipif(DEVICE != "cuda", reason="a device-to-host copy")
def test_to_copy_to_host_autograd():
    x = make((3, 4), torch.float32).requires_grad_()
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        y = x.cpu()
        (y * 2).sum().backward()
    assert served_count(counts, "_to_copy") >= 1, dict(counts)
    assert x.grad.device == x.device and torch.equal(x.grad, torch.full_like(x, 2))


def test_to_copy_autograd():
    x = make((3, 4), torch.float32).requires_grad_()
    with gemforge.use_gems():
        y = x.to(torch.float64)
        (y * 2).sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 2))


@pytest.mark.parametrize("dtype", MOVE_DTYPES)
def test_clone(dtype):
    x = transposed((5, 8), dtype)
    out = check(lambda t: t.clone(), [x], served="clone", reference="exact")
    assert out.stride() == torch.empty_like(x).stride()
    check(lambda t, o: torch.ops.aten.clone.out(t, out=o), [x, make((0,), dtype)], served="clone.out",
          reference="exact")


def test_clone_layouts():
    f32 = torch.float32
    for x in (make((), f32), make((0, 3), f32), make((7, 9), f32), sliced((3, 6), f32)):
        out = check(lambda t: t.clone(), [x], served="clone", reference="exact")
        assert out.stride() == torch.empty_like(x).stride()
    check(lambda t: t.clone(memory_format=torch.contiguous_format), [transposed((5, 8), f32)],
          served="clone", reference="exact")
    check(lambda t, o: torch.ops.aten.clone.out(t, out=o), [make((3, 4), f32), make((0,), torch.float64)],
          served="clone.out")
    y = make((4, 4), f32)
    check(lambda t: torch.ops.aten.clone.out(t, out=t[:2]), [y], served="clone.out", reference="exact")


def test_clone_channels_last():
    x = make((2, 3, 4, 5), torch.float16)
    out = check(lambda t: t.clone(memory_format=torch.channels_last), [x], served="clone", reference="exact")
    assert out.is_contiguous(memory_format=torch.channels_last)
    y = x.to(memory_format=torch.channels_last)
    out = check(lambda t: t.clone(), [y], served="clone", reference="exact")
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_contiguous_reaches_clone():
    check(lambda t: t.contiguous(), [transposed((8, 5), torch.float32)], served="clone", reference="exact")


# ---- the *_copy ops -----------------------------------------------------------------------------

A = torch.ops.aten
# (overload, the call, its out= overload and call or None, input shape)
VIEW_COPIES = [
    ("view_copy", lambda t: A.view_copy(t, [4, 6]),
     ("view_copy.out", lambda t, o: A.view_copy.out(t, [4, 6], out=o)), (2, 3, 4)),
    ("view_copy.dtype", lambda t: A.view_copy.dtype(t, torch.int16),
     ("view_copy.dtype_out", lambda t, o: A.view_copy.dtype_out(t, torch.int16, out=o)), (3, 4)),
    ("permute_copy", lambda t: A.permute_copy(t, [2, 0, 1]),
     ("permute_copy.out", lambda t, o: A.permute_copy.out(t, [2, 0, 1], out=o)), (2, 3, 4)),
    ("t_copy", lambda t: A.t_copy(t), ("t_copy.out", lambda t, o: A.t_copy.out(t, out=o)), (3, 4)),
    ("expand_copy", lambda t: A.expand_copy(t, [2, 3, 4]),
     ("expand_copy.out", lambda t, o: A.expand_copy.out(t, [2, 3, 4], out=o)), (3, 1)),
    ("unfold_copy", lambda t: A.unfold_copy(t, 1, 2, 1),
     ("unfold_copy.out", lambda t, o: A.unfold_copy.out(t, 1, 2, 1, out=o)), (3, 5)),
    ("alias_copy", lambda t: A.alias_copy(t), ("alias_copy.out", lambda t, o: A.alias_copy.out(t, out=o)), (3, 4)),
    ("detach_copy", lambda t: A.detach_copy(t),
     ("detach_copy.out", lambda t, o: A.detach_copy.out(t, out=o)), (3, 4)),
    ("lift_fresh_copy", lambda t: A.lift_fresh_copy(t),
     ("lift_fresh_copy.out", lambda t, o: A.lift_fresh_copy.out(t, out=o)), (3, 4)),
    ("squeeze_copy", lambda t: A.squeeze_copy(t),
     ("squeeze_copy.out", lambda t, o: A.squeeze_copy.out(t, out=o)), (3, 1, 4)),
    ("squeeze_copy.dim", lambda t: A.squeeze_copy.dim(t, 1),
     ("squeeze_copy.dim_out", lambda t, o: A.squeeze_copy.dim_out(t, 1, out=o)), (3, 1, 4)),
    ("squeeze_copy.dims", lambda t: A.squeeze_copy.dims(t, [0, 1]),
     ("squeeze_copy.dims_out", lambda t, o: A.squeeze_copy.dims_out(t, [0, 1], out=o)), (1, 1, 4)),
    ("unsqueeze_copy", lambda t: A.unsqueeze_copy(t, -1),
     ("unsqueeze_copy.out", lambda t, o: A.unsqueeze_copy.out(t, -1, out=o)), (3, 4)),
    ("transpose_copy.int", lambda t: A.transpose_copy.int(t, 0, 1),
     ("transpose_copy.int_out", lambda t, o: A.transpose_copy.int_out(t, 0, 1, out=o)), (3, 4)),
    ("diagonal_copy", lambda t: A.diagonal_copy(t, 1, 0, 1),
     ("diagonal_copy.out", lambda t, o: A.diagonal_copy.out(t, 1, 0, 1, out=o)), (4, 5)),
    ("select_copy.int", lambda t: A.select_copy.int(t, 1, -1),
     ("select_copy.int_out", lambda t, o: A.select_copy.int_out(t, 1, -1, out=o)), (3, 4)),
    ("slice_copy.Tensor", lambda t: A.slice_copy.Tensor(t, 1, 1, 4, 2),
     ("slice_copy.Tensor_out", lambda t, o: A.slice_copy.Tensor_out(t, 1, 1, 4, 2, out=o)), (3, 5)),
    ("as_strided_copy", lambda t: A.as_strided_copy(t, [2, 2], [1, 2], 1),
     ("as_strided_copy.out", lambda t, o: A.as_strided_copy.out(t, [2, 2], [1, 2], 1, out=o)), (3, 4)),
    ("_reshape_alias_copy", lambda t: A._reshape_alias_copy(t, [4, 3], [3, 1]),
     ("_reshape_alias_copy.out", lambda t, o: A._reshape_alias_copy.out(t, [4, 3], [3, 1], out=o)), (3, 4)),
    ("narrow_copy", lambda t: A.narrow_copy(t, 0, 1, 2), None, (3, 4)),
]


@pytest.mark.parametrize("name,fn,out_form,shape", VIEW_COPIES, ids=[c[0] for c in VIEW_COPIES])
def test_view_copies(name, fn, out_form, shape):
    for dtype in (torch.float32, torch.complex64):
        if name == "view_copy.dtype" and dtype is not torch.float32:
            continue
        check(fn, [make(shape, dtype)], served=name, reference="exact")
    if name not in ("view_copy", "view_copy.dtype", "_reshape_alias_copy", "narrow_copy", "as_strided_copy"):
        # a non-contiguous input
        check(fn, [make(shape[::-1], torch.float16).permute(*range(len(shape) - 1, -1, -1))], served=name,
              reference="exact")
    if out_form is not None:
        out_name, out_fn = out_form
        check(out_fn, [make(shape, torch.bool), make((0,), torch.bool)], served=out_name, reference="exact")
        if name in ("t_copy", "view_copy.dtype"):  # out of another dtype: torch raises
            check(out_fn, [make(shape, torch.float32), make((0,), torch.float64)], served=out_name)


def test_view_copy_reshapes():
    # no view of a transposed tensor has this shape: torch's view_copy reshapes
    check(lambda t: A.view_copy(t, [12]), [transposed((3, 4), torch.float32)], served="view_copy",
          reference="exact")


def test_view_as_real_complex_copy():
    check(lambda t: A.view_as_real_copy(t), [make((3, 4), torch.complex64)], served="view_as_real_copy",
          reference="exact")
    check(lambda t: A.view_as_complex_copy(t), [make((3, 2), torch.float64)], served="view_as_complex_copy",
          reference="exact")
    check(lambda t, o: A.view_as_real_copy.out(t, out=o), [make((3, 4), torch.complex128), make((0,), torch.float64)],
          served="view_as_real_copy.out", reference="exact")
    check(lambda t, o: A.view_as_complex_copy.out(t, out=o), [make((3, 2), torch.float32), make((0,), torch.complex64)],
          served="view_as_complex_copy.out", reference="exact")


def test_view_copy_errors():
    x = make((3, 4), torch.float32)
    for fn in [lambda: A.view_copy(x, [5]), lambda: A.permute_copy(x, [0, 0]),
               lambda: A.select_copy.int(x, 0, 5), lambda: A.narrow_copy(x, 0, 2, 5),
               lambda: A.unsqueeze_copy(x, 4)]:
        expected = raised(fn)
        with gemforge.use_gems():
            got = raised(fn)
        assert_same_error(expected, got)


# ---- roll ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", MOVE_DTYPES)
def test_roll_dtypes(dtype):
    check(lambda t: torch.roll(t, (1, -2), (0, 2)), [make((4, 5, 3), dtype)], served="roll", reference="exact")


def test_roll_shifts():
    x = make((4, 5, 3), torch.float16)
    for shifts, dims in [(2, 0), (-1, 1), (7, -1), (3, None), ((1, 2, 3), (0, 1, 2))]:
        fn = (lambda t, s=shifts: torch.roll(t, s)) if dims is None else \
             (lambda t, s=shifts, d=dims: torch.roll(t, s, d))
        check(fn, [x], served="roll", reference="exact")


def test_roll_layouts():
    f32 = torch.float32
    check(lambda t: torch.roll(t, 3, 1), [transposed((5, 7), f32)], served="roll", reference="exact")
    check(lambda t: torch.roll(t, 2), [sliced((3, 4), f32)], served="roll", reference="exact")
    check(lambda t: torch.roll(t, 1), [make((), f32)], served="roll", reference="exact")
    check(lambda t: torch.roll(t, 1, 0), [make((0, 3), f32)], served="roll", reference="exact")
    check(lambda t: torch.roll(t, 0, 0), [make((6,), f32)], served="roll", reference="exact")
    check(lambda t: torch.roll(t, 10, 0), [make((3, 1), f32)], served="roll", reference="exact")
    check(lambda t, o: torch.ops.aten.roll.out(t, [2], [1], out=o), [make((3, 5), f32), make((0,), f32)],
          served="roll.out", reference="exact")
    check(lambda t, o: torch.ops.aten.roll.out(t, [2], [1], out=o), [make((3, 5), f32), transposed((3, 5), f32)],
          served="roll.out", reference="exact")


def test_roll_errors():
    x = make((3, 4), torch.float32)
    for fn in [lambda: torch.roll(x, [], []), lambda: torch.roll(x, (1, 2), (0,)), lambda: torch.roll(x, 1, 2),
               lambda: torch.roll(x, (1, 2))]:
        expected = raised(fn)
        with gemforge.use_gems():
            got = raised(fn)
        assert_same_error(expected, got)


# ---- constant_pad_nd ----------------------------------------------------------------------------

def _value(dtype):
    return True if dtype is torch.bool else (complex(1, -2) if dtype.is_complex else 3)


@pytest.mark.parametrize("dtype", MOVE_DTYPES)
def test_constant_pad_dtypes(dtype):
    v = _value(dtype)
    check(lambda t: torch.constant_pad_nd(t, [1, 2], v), [make((3, 5), dtype)], served="constant_pad_nd",
          reference="exact")


def test_constant_pad_layouts():
    f16 = torch.float16
    pad = torch.constant_pad_nd
    for p in ([1, 2], [0, 3], [2, 0, 1, 1], [1, 1, 0, 0, 2, 3], [-1, 2], [1, -2, -1, 3], [-1, -1], [0, 0],
              [8, 8]):
        check(lambda t, p=p: pad(t, p, -1.5), [make((4, 6, 8), f16)], served="constant_pad_nd", reference="exact")
    check(lambda t: pad(t, [1, 2, 3, 4], 0.5), [transposed((5, 7), torch.float32)], served="constant_pad_nd",
          reference="exact")
    check(lambda t: pad(t, [2, 2], 0), [sliced((3, 4), torch.int32)], served="constant_pad_nd", reference="exact")
    check(lambda t: pad(t, [1, 1], 7), [make((0, 3), torch.int64)], served="constant_pad_nd", reference="exact")
    check(lambda t: pad(t, [1, 1, 1, 1], 7), [make((2, 3, 4, 5), torch.float32).to(memory_format=torch.channels_last)],
          served="constant_pad_nd", reference="exact")
    check(lambda t: pad(t, [], 7), [make((3,), torch.float32)], served="constant_pad_nd", reference="exact")
    check(lambda t: torch.nn.functional.pad(t, (3, 1), value=2.0), [make((2, 5), torch.bfloat16)],
          served="constant_pad_nd", reference="exact")
    check(lambda t, o: torch.ops.aten.constant_pad_nd.out(t, [1, 1], 0, out=o), [make((2, 3), f16), make((0,), f16)],
          served="constant_pad_nd.out", reference="exact")


def test_constant_pad_errors():
    x = make((3, 4), torch.float32)
    for fn in [lambda: torch.constant_pad_nd(x, [1]), lambda: torch.constant_pad_nd(x, [1, 1, 1, 1, 1, 1]),
               lambda: torch.constant_pad_nd(x, [-3, -2]),
               lambda: torch.constant_pad_nd(make((3,), torch.int8), [1, 1], 1000)]:
        expected = raised(fn)
        with gemforge.use_gems():
            got = raised(fn)
        assert_same_error(expected, got)


# ---- flip, rot90 --------------------------------------------------------------------------------

def _same_error(fn):
    expected = raised(fn)
    with gemforge.use_gems():
        got = raised(fn)
    assert_same_error(expected, got)


@pytest.mark.parametrize("dtype", MOVE_DTYPES)
def test_flip_dtypes(dtype):
    # rows of 5, 8 and 32 elements: element by element, and (cuda) whole vectors reversed in registers
    for shape in ((3, 5), (2, 32)):
        check(lambda t: torch.flip(t, (-1,)), [make(shape, dtype)], served="flip", reference="exact")
    check(lambda t: torch.flip(t, (0, 2)), [make((3, 4, 6), dtype)], served="flip", reference="exact")


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 6), (2, 3, 4, 8)])
def test_flip_every_dim_set(shape):
    nd = len(shape)
    x = make(shape, torch.float16)
    for mask in range(1, 1 << nd):
        dims = [d - nd if mask & 2 else d for d in range(nd) if mask >> d & 1]  # some negative
        check(lambda t, d=dims: torch.flip(t, d), [x], served="flip", reference="exact")


def test_flip_widths():
    # row lengths and element sizes that allow 16-, 8-, 4-, 2- and 1-byte units, forwards and backwards
    for dtype in (torch.bool, torch.int16, torch.float32, torch.complex128):
        for inner in (1, 16, 33):
            x = make((5, inner + 1), dtype)
            check(lambda t: torch.flip(t, (0, 1)), [x[:, :inner]], served="flip", reference="exact")
            check(lambda t: torch.flip(t, (1,)), [x[:, 1:]], served="flip", reference="exact")  # offset rows


def test_flip_layouts():
    f32 = torch.float32
    for x in (transposed((5, 8), f32), sliced((4, 6), f32), make((3, 1), f32).expand(3, 4),
              make((2, 3, 4, 5), f32).to(memory_format=torch.channels_last)):
        for dims in ((0,), (-1,), (0, 1)):
            out = check(lambda t, d=dims: torch.flip(t, d), [x], served="flip", reference="exact")
            assert out.stride() == torch.flip(x, dims).stride()
    check(lambda t: torch.flip(t, (0,)), [make((), f32)], served="flip", reference="exact")
    check(lambda t: torch.flip(t, ()), [make((3, 4), f32)], served="flip", reference="exact")
    check(lambda t: torch.flip(t, (1,)), [make((0, 4), f32)], served="flip", reference="exact")
    check(lambda t: torch.flip(t, (0, 1)), [make((1, 1), f32)], served="flip", reference="exact")
    # conjugate and negative views: torch's kernel resolves them
    check(lambda t: torch.flip(t.conj(), (0,)), [make((3, 4), torch.complex64)], served=None, reference="exact")
    check(lambda t: torch.conj(t).repeat(2, 1), [make((3, 4), torch.complex64)], served=None, reference="exact")
    check(lambda t: torch.fliplr(t), [make((3, 4), torch.int32)], served="flip", reference="exact")
    check(lambda t: torch.flipud(t), [make((3, 4), torch.int32)], served="flip", reference="exact")
    # a tensor with more dims than the kernel takes after collapsing: torch's kernel
    y = make((2,) * 10, f32)
    check(lambda t: torch.flip(t, tuple(range(0, 10, 2))), [y], served=None, reference="exact")


def test_flip_out():
    f32 = torch.float32
    check(lambda t, o: torch.ops.aten.flip.out(t, [0], out=o), [make((3, 4), f32), make((0,), f32)],
          served="flip.out", reference="exact")
    check(lambda t, o: torch.ops.aten.flip.out(t, [1], out=o), [make((3, 4), f32), transposed((3, 4), f32)],
          served="flip.out", reference="exact")
    check(lambda t, o: torch.ops.aten.flip.out(t, [1], out=o), [make((3, 4), f32), make((0,), torch.float64)],
          served="flip.out")
    y = make((4, 4), f32)
    check(lambda t: torch.ops.aten.flip.out(t, [0], out=t), [y], served="flip.out", reference="exact")


def test_flip_errors():
    x = make((3, 4), torch.float32)
    for fn in [lambda: torch.flip(x, (0, 0)), lambda: torch.flip(x, (2,)), lambda: torch.flip(x, (-3,)),
               lambda: torch.flip(make((), torch.float32), (1,)), lambda: torch.flip(x, (1, -1))]:
        _same_error(fn)


def test_flip_autograd():
    x = make((3, 4), torch.float32).requires_grad_()
    w = make((3, 4), torch.float32)
    with gemforge.use_gems():
        (torch.flip(x, (1,)) * w).sum().backward()
    assert torch.equal(x.grad, torch.flip(w, (1,)))


def test_rot90():
    x = make((3, 4, 5), torch.bfloat16)
    for k in (-5, 0, 1, 2, 3):
        for dims in ((1, 2), (-1, -3)):
            out = check(lambda t, k=k, d=dims: torch.rot90(t, k, d), [x], served="rot90", reference="exact")
            assert out.stride() == torch.rot90(x, k, dims).stride()
    for dtype in (torch.bool, torch.int64, torch.complex64):
        check(lambda t: torch.rot90(t), [make((3, 5), dtype)], served="rot90", reference="exact")
    check(lambda t: torch.rot90(t, 1, (0, 1)), [transposed((4, 6), torch.float32)], served="rot90", reference="exact")
    check(lambda t, o: torch.ops.aten.rot90.out(t, 1, [0, 1], out=o), [make((3, 5), torch.float32),
                                                                      make((0,), torch.float32)],
          served="rot90.out", reference="exact")
    check(lambda t, o: torch.ops.aten.rot90.out(t, 1, [0, 1], out=o), [make((3, 5), torch.float32),
                                                                      make((0,), torch.int32)],
          served="rot90.out")
    y = make((3, 4), torch.float32)
    for fn in [lambda: torch.rot90(y, 1, (0,)), lambda: torch.rot90(make((3,), torch.float32)),
               lambda: torch.rot90(y, 1, (0, 0)), lambda: torch.rot90(y, 1, (0, -2)),
               lambda: torch.rot90(y, 1, (0, 2)), lambda: torch.rot90(y, 1, (-3, 1))]:
        _same_error(fn)


# ---- repeat, tile -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", MOVE_DTYPES)
def test_repeat_dtypes(dtype):
    check(lambda t: t.repeat(2, 3), [make((3, 5), dtype)], served="repeat", reference="exact")
    check(lambda t: t.repeat(2, 1, 2), [make((3, 8), dtype)], served="repeat", reference="exact")


def test_repeat_patterns():
    f16 = torch.float16
    for shape, reps in [((7,), (3,)), ((3, 5), (1, 1)), ((3, 5), (2, 1)), ((3, 5), (1, 4)), ((3, 8), (3, 2)),
                        ((2, 3, 4), (2, 1, 3)), ((2, 3, 4, 5), (1, 2, 1, 2)), ((3, 1), (1, 16)),
                        ((3, 4), (2, 2, 1, 3)), ((1,), (5, 7)), ((2, 3, 4, 5), (2, 2, 2, 2)),
                        ((2, 1, 3, 1, 2), (2, 3, 2, 3, 2))]:
        check(lambda t, r=reps: t.repeat(*r), [make(shape, f16)], served="repeat", reference="exact")
    f32 = torch.float32
    for x in (transposed((4, 6), f32), sliced((3, 5), f32), make((3, 1), f32).expand(3, 4)):
        check(lambda t: t.repeat(2, 3), [x], served="repeat", reference="exact")
    check(lambda t: t.repeat(2, 3), [make((), f32)], served="repeat", reference="exact")
    check(lambda t: t.repeat(()), [make((), f32)], served="repeat", reference="exact")
    check(lambda t: t.repeat(0, 3), [make((2, 3), f32)], served="repeat", reference="exact")
    check(lambda t: t.repeat(2, 3), [make((0, 3), f32)], served="repeat", reference="exact")
    # more dims than the kernel takes after collapsing: torch's kernel
    check(lambda t: t.repeat(2, 2, 2, 2, 2), [transposed((2, 3, 2, 3, 2), f32)], served=None, reference="exact")


def test_tile():
    check(lambda t: t.tile((2,)), [make((3, 4), torch.int8)], served="repeat", reference="exact")
    check(lambda t: t.tile((2, 1, 3)), [make((3, 4), torch.float32)], served="repeat", reference="exact")


def test_repeat_out_and_errors():
    f32 = torch.float32
    check(lambda t, o: torch.ops.aten.repeat.out(t, [2, 2], out=o), [make((3, 4), f32), make((0,), f32)],
          served="repeat.out", reference="exact")
    check(lambda t, o: torch.ops.aten.repeat.out(t, [2, 1], out=o), [make((3, 4), f32), transposed((6, 4), f32)],
          served="repeat.out", reference="exact")
    check(lambda t, o: torch.ops.aten.repeat.out(t, [2, 1], out=o), [make((3, 4), f32), make((0,), torch.float16)],
          served="repeat.out")
    x = make((3, 4), f32)
    for fn in [lambda: x.repeat(2), lambda: x.repeat(-1, 2), lambda: x.repeat(1, -2, 3)]:
        _same_error(fn)


def test_repeat_autograd():
    x = make((2, 3), torch.float32).requires_grad_()
    with gemforge.use_gems():
        x.repeat(2, 3).sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 6))


# ---- repeat_interleave --------------------------------------------------------------------------

def test_repeat_interleave_tensor():
    ri = torch.ops.aten.repeat_interleave.Tensor
    for dtype in (torch.int32, torch.int64):
        for values in ([2, 0, 3, 1], [0, 0], [5], [1] * 100, list(range(40))):
            r = torch.tensor(values, dtype=dtype, device=DEVICE)
            check(lambda t: ri(t), [r], served="repeat_interleave.Tensor")
            check(lambda t: torch.repeat_interleave(t), [r], served="repeat_interleave.Tensor")
        r = torch.tensor([2, 0, 3], dtype=dtype, device=DEVICE)
        check(lambda t: ri(t, output_size=5), [r], served="repeat_interleave.Tensor")
        check(lambda t: ri(t), [torch.empty(0, dtype=dtype, device=DEVICE)], served="repeat_interleave.Tensor")
        check(lambda t: ri(t), [torch.tensor([1, 2, 3, 4], dtype=dtype, device=DEVICE)[::2]],
              served="repeat_interleave.Tensor")
        check(lambda t, o: torch.ops.aten.repeat_interleave.Tensor_out(t, out=o), [r, make((0,), dtype)],
              served="repeat_interleave.Tensor_out")
    check(lambda t, o: torch.ops.aten.repeat_interleave.Tensor_out(t, out=o),
          [torch.tensor([1, 2], device=DEVICE), make((0,), torch.int32)], served="repeat_interleave.Tensor_out")
    for fn in [lambda: ri(torch.tensor([1.0, 2.0], device=DEVICE)),
               lambda: ri(torch.tensor([[1, 2]], device=DEVICE)),
               lambda: ri(torch.tensor(3, device=DEVICE)),
               lambda: ri(torch.tensor([1, -2, 3], device=DEVICE)),
               lambda: ri(torch.tensor([-1, -2], device=DEVICE))]:
        _same_error(fn)


def test_repeat_interleave_composites():
    x = make((3, 4), torch.float32)
    reps = torch.tensor([1, 0, 2], device=DEVICE)
    check(lambda t, r: torch.repeat_interleave(t, r, dim=0), [x, reps], served="repeat_interleave.Tensor",
          reference="exact")
    check(lambda t, r: torch.repeat_interleave(t, r, dim=-1, output_size=6),
          [x, torch.tensor([1, 2, 0, 3], device=DEVICE)], served="repeat_interleave.Tensor", reference="exact")
    check(lambda t: torch.repeat_interleave(t, 2, dim=1), [x], served="clone", reference="exact")
    check(lambda t: torch.repeat_interleave(t, 3), [x], served="clone", reference="exact")
    # expanded sources with a contiguous innermost dim: clone's broadcast copy
    for dtype in (torch.bool, torch.float16, torch.complex128):
        check(lambda t: torch.repeat_interleave(t, 3, dim=0), [make((3, 5), dtype)], served="clone",
              reference="exact")
    check(lambda t: torch.repeat_interleave(t, 2, dim=-2), [make((2, 3, 8), torch.float32)], served="clone",
          reference="exact")
    check(lambda t: t.expand(4, 3, 6).contiguous(), [sliced((3, 6), torch.float32)], served="clone",
          reference="exact")
    out = check(lambda t: t.expand(2, 3, 4, 5).clone(), [make((3, 1, 5), torch.float32)], served="clone",
                reference="exact")
    assert out.stride() == make((3, 1, 5), torch.float32).expand(2, 3, 4, 5).clone().stride()


# ---- split_with_sizes_copy, unbind_copy ---------------------------------------------------------

def check_list(fn, args, *, served):
    """check() for ops that return a list of tensors (or fill out= lists): each bitwise as torch."""
    gems_args = replicate(args)
    torch_error = raised(fn, *args)
    if torch_error is not None:
        with gemforge.use_gems():
            assert_same_error(torch_error, raised(fn, *gems_args))
        return
    expected = fn(*args)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        actual = fn(*gems_args)
    if served is not None:  # None: a case gemforge hands to torch
        assert served_count(counts, served) >= 1, f"gemforge did not serve {served}; it served {dict(counts)}"
    if expected is None:  # out= forms: compare the out lists
        expected, actual = args[-1], gems_args[-1]
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.dtype == e.dtype and a.shape == e.shape and a.stride() == e.stride()
        assert_same_values(a, e, exact=True)


@pytest.mark.parametrize("dtype", MOVE_DTYPES)
def test_split_with_sizes_copy_dtypes(dtype):
    A = torch.ops.aten
    check_list(lambda t: A.split_with_sizes_copy(t, [1, 3, 0, 2], 1), [make((3, 6), dtype)],
               served="split_with_sizes_copy")
    check_list(lambda t: A.unbind_copy.int(t, 0), [make((3, 5), dtype)], served="unbind_copy.int")


def test_split_with_sizes_copy():
    A = torch.ops.aten
    f32 = torch.float32
    for shape, sizes, dim in [((7,), [3, 4], 0), ((4, 6), [2, 2], 0), ((2, 6, 3), [1, 5], -2),
                              ((2, 3, 4), [4], 2), ((0, 4), [1, 3], 1)]:
        check_list(lambda t, s=sizes, d=dim: A.split_with_sizes_copy(t, s, d), [make(shape, f32)],
                   served="split_with_sizes_copy")
    check_list(lambda t: A.split_with_sizes_copy(t, [2, 3], 1), [transposed((3, 5), f32)],
               served="split_with_sizes_copy")
    outs = [make((0,), f32), transposed((3, 3), f32)]
    # a transposed out: torch's kernel takes it on cuda (see dense_outs in ops/movement.cpp)
    check_list(lambda t, o: A.split_with_sizes_copy.out(t, [2, 3], 1, out=o), [make((3, 5), f32), outs],
               served="split_with_sizes_copy.out" if DEVICE == "cpu" else None)
    check_list(lambda t, o: A.split_with_sizes_copy.out(t, [2, 3], 1, out=o),
               [make((3, 5), f32), [make((3, 2), f32), make((3, 3), f32)]], served="split_with_sizes_copy.out")
    x = make((3, 5), f32)
    for fn in [lambda: A.split_with_sizes_copy(x, [2, 2], 1), lambda: A.split_with_sizes_copy(x, [6, -1], 1),
               lambda: A.split_with_sizes_copy(x, [3], 2), lambda: A.split_with_sizes_copy(make((), f32), [1], 0),
               lambda: A.split_with_sizes_copy.out(x, [2, 3], 1, out=[make((0,), f32)]),
               lambda: A.split_with_sizes_copy.out(x, [2, 3], 1, out=[make((0,), f32), make((0,), torch.int32)])]:
        _same_error(fn)


def test_unbind_copy():
    A = torch.ops.aten
    f32 = torch.float32
    for shape, dim in [((3,), 0), ((3, 4), 1), ((2, 3, 4), -1), ((0, 3), 1), ((2, 0), 0)]:
        check_list(lambda t, d=dim: A.unbind_copy.int(t, d), [make(shape, f32)], served="unbind_copy.int")
    check_list(lambda t: A.unbind_copy.int(t, 0), [transposed((3, 4), f32)], served="unbind_copy.int")
    check_list(lambda t, o: A.unbind_copy.int_out(t, 1, out=o),
               [make((2, 3), f32), [make((0,), f32), make((2,), f32), make((4,), f32)[::2]]],
               served="unbind_copy.int_out" if DEVICE == "cpu" else None)  # a strided out: torch's on cuda
    x = make((2, 3), f32)
    for fn in [lambda: A.unbind_copy.int(x, 2), lambda: A.unbind_copy.int(make((), f32), 0),
               lambda: A.unbind_copy.int_out(x, 0, out=[make((0,), f32)]),
               lambda: A.unbind_copy.int_out(x, 0, out=[make((0,), f32), make((0,), torch.float64)])]:
        _same_error(fn)


# ---- _chunk_cat ---------------------------------------------------------------------------------

def _chunk_cat_served(shapes, dim, chunks, name="_chunk_cat"):
    """On cuda, contiguous inputs that need padding go to torch's one-launch kernel."""
    padded = any(s[dim] % chunks for s in shapes)
    return None if DEVICE == "cuda" and padded else name


def test_chunk_cat():
    cc = torch.ops.aten._chunk_cat
    f32 = torch.float32
    for shapes, dim, chunks in [([(4, 3), (6, 2)], 0, 2), ([(5, 3), (1, 2), (7,)], 0, 3), ([(2, 5, 3), (2, 7)], 1, 4),
                                ([(3, 8), (3, 2)], 1, 8), ([(2, 3, 4)], -1, 3), ([(9, 4)], 0, 1), ([(2, 2)], 0, 5),
                                ([(2, 6, 3), (2, 9)], 1, 3), ([(8, 3), (4,)], 0, 4)]:
        check(lambda *t, d=dim, c=chunks: cc(list(t), d, c), [make(s, f32) for s in shapes],
              served=_chunk_cat_served(shapes, dim, chunks), reference="exact")
    for dtype in (torch.bool, torch.int16, torch.bfloat16, torch.complex128):
        check(lambda a, b: cc([a, b], 0, 3), [make((5, 3), dtype), make((4,), dtype)],
              served=_chunk_cat_served([(5, 3), (4,)], 0, 3), reference="exact")
        check(lambda a, b: cc([a, b], 0, 2), [make((4, 3), dtype), make((6,), dtype)], served="_chunk_cat",
              reference="exact")
    check(lambda a, b: cc([a, b], 1, 2), [transposed((3, 5), f32), sliced((3, 2), f32)], served="_chunk_cat",
          reference="exact")
    check(lambda a, b, o: cc([a, b], 0, 2, out=o), [make((4, 3), f32), make((3,), f32), make((0,), f32)],
          served=_chunk_cat_served([(4, 3), (3,)], 0, 2, "_chunk_cat.out"), reference="exact")
    check(lambda a, b, o: cc([a, b], 0, 2, out=o), [make((4, 3), f32), make((2,), f32), make((0,), f32)],
          served="_chunk_cat.out", reference="exact")
    check(lambda a, b, o: cc([a, b], 0, 2, out=o),
          [make((4, 3), torch.bfloat16), make((4,), torch.bfloat16), make((0,), f32)],
          served="_chunk_cat.out", reference="exact")
    check(lambda a, b, o: cc([a, b], 0, 2, out=o),
          [make((4, 3), torch.float16), make((4,), torch.float16), make((0,), torch.float64)],
          served="_chunk_cat.out", reference="exact")
    a = make((4, 3), f32)
    for fn in [lambda: cc([], 0, 2), lambda: cc([a], 0, 0), lambda: cc([a, make((0,), f32)], 0, 2),
               lambda: cc([a, a.double()], 0, 2), lambda: cc([a, make((3, 3), f32)], 1, 2),
               lambda: cc([a, make((3,), f32)], -1, 2), lambda: cc([a], 2, 2),
               lambda: cc([a], 0, 2, out=make((0,), torch.int32))]:
        _same_error(fn)


# ---- diagonal_backward --------------------------------------------------------------------------

def test_diagonal_backward():
    db = torch.ops.aten.diagonal_backward
    for shape, offset, d1, d2 in [((4, 5), 0, 0, 1), ((4, 5), 2, 0, 1), ((4, 5), -1, 1, 0), ((2, 3, 4), 1, -1, 0),
                                  ((3, 3), 5, 0, 1)]:
        n = torch.empty(shape).diagonal(offset, d1, d2).shape
        for dtype in (torch.float32, torch.int64, torch.bool):
            check(lambda g, s=shape, o=offset, a=d1, b=d2: db(g, s, o, a, b), [make(n, dtype)],
                  served="diagonal_backward", reference="exact")
    check(lambda g, o: torch.ops.aten.diagonal_backward.out(g, [3, 4], 0, 0, 1, out=o),
          [make((3,), torch.float32), make((0,), torch.float32)], served="diagonal_backward.out", reference="exact")
    x = make((4, 4), torch.float32).requires_grad_()
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        torch.diagonal(x, 1).sum().backward()
    assert served_count(counts, "diagonal_backward") >= 1
    assert torch.equal(x.grad, torch.ones(4, 4, device=DEVICE).triu(1).tril(1))
    for fn in [lambda: db(make((3,), torch.float32), [3, 4], 0, 0, 0),
               lambda: db(make((3,), torch.float32), [3, 4], 0, 0, 2),
               lambda: db(make((2,), torch.float32), [3, 4], 0, 0, 1)]:
        _same_error(fn)


# ---- unfold_backward ----------------------------------------------------------------------------

def test_unfold_backward():
    ub = torch.ops.aten.unfold_backward
    for shape, dim, size, step in [((4, 6), 1, 2, 2), ((4, 7), 1, 2, 2), ((5, 3), 0, 2, 3), ((2, 9, 3), -2, 3, 3),
                                   ((2, 9, 3), 1, 1, 4), ((6,), 0, 3, 3)]:
        windows = torch.empty(shape).unfold(dim, size, step).shape
        for dtype in (torch.float32, torch.bool, torch.int16, torch.complex64):
            check(lambda g, s=shape, d=dim, z=size, t=step: ub(g, s, d, z, t), [make(windows, dtype)],
                  served="unfold_backward", reference="exact")
    # overlapping windows add up: torch's kernel
    check(lambda g: ub(g, [4, 6], 1, 3, 1), [make((4, 4, 3), torch.float32)], served=None)
    check(lambda g, o: torch.ops.aten.unfold_backward.out(g, [4, 6], 1, 2, 2, out=o),
          [make((4, 3, 2), torch.float32), make((0,), torch.float32)], served="unfold_backward.out", reference="exact")
    check(lambda g, o: torch.ops.aten.unfold_backward.out(g, [4, 6], 1, 2, 2, out=o),
          [make((4, 3, 2), torch.float32), make((0,), torch.float64)], served="unfold_backward.out")
    x = make((3, 8), torch.float32).requires_grad_()
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        x.unfold(1, 2, 3).sum().backward()
    assert served_count(counts, "unfold_backward") >= 1
    expected = torch.zeros(3, 8, device=DEVICE)
    expected.unfold(1, 2, 3).fill_(1)
    assert torch.equal(x.grad, expected)
    for fn in [lambda: ub(make((4, 3, 2), torch.float32), [4, 6], 2, 2, 2),
               lambda: ub(make((4, 3, 2), torch.float32), [4, 7, 1], 1, 2, 2),
               lambda: ub(make((4, 3, 2), torch.float32), [4, 6], 1, 7, 7)]:
        _same_error(fn)
