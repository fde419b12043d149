"""The index family: index_select (+out), gather (+out), embedding (+out) and
embedding_dense_backward (+out, padding_idx, scale_grad_by_freq), embedding_bag's backward ops
(_embedding_bag_dense_backward in its sum, mean and max modes, _embedding_bag_per_sample_weights_backward,
through F.embedding_bag's autograd), scatter (src and value),
scatter_add and index_add (alpha) in their functional, in-place and out= forms, and the autograd
composites that reach them (gather_backward -> scatter_add_, index_select_backward -> index_add_,
embedding_backward -> embedding_dense_backward); scatter(reduce='add'/'multiply'), scatter_reduce
(sum/prod/mean/amax/amin, include_self), index_reduce, index_copy, index_fill, take, one_hot and
isin (Tensor/Scalar forms, few tests compared directly and many searched).

Data movement (index_select, gather, embedding) is compared bitwise with torch's result, for every
dtype (the kernels move bytes: every element size). The adding ops compare with float64 within a
tolerance that grows with the terms summed (on cuda they add with atomics, as torch). Indices: int32 and int64,
duplicates, empty, 0-d; inputs: 0-d, empty and size-1 dims, transposed and sliced; errors: out of
range (the cpu raises; on cuda torch raises a device-side assert, which a test cannot survive, so
those run on the cpu only), malformed calls.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import gemforge
from conftest import (ALL_DTYPES, DEVICE, FLOATS, INTS, assert_same_error, assert_same_values, check,
                      make, quiet, raised, replicate, served_count)

REAL = INTS + FLOATS
SHAPES = [(5,), (3, 5), (4, 1, 6), (2, 3, 4, 5)]
INDEX_DTYPES = [torch.int64, torch.int32]


def dims_of(shape):
    return list(range(-len(shape), len(shape)))


def rand_index(size, bound, dtype=torch.int64, shape=None):
    """Indices in [0, bound) (duplicates likely), of `shape` (default (size,))."""
    shape = (size,) if shape is None else shape
    return torch.randint(0, max(bound, 1), shape, device=DEVICE, dtype=dtype)


def cpu_only(reason="torch raises a device-side assert on cuda"):
    return pytest.mark.skipif(DEVICE != "cpu", reason=reason)


# Sums of a few fp16/bf16 terms rounded after each add (torch and gemforge, in their own orders):
# a few units in the last place of the largest term, absolute near cancellations.
SUM_TOLERANCES = {torch.float16: (1e-2, 1e-2), torch.bfloat16: (6e-2, 6e-2),
                  torch.float32: (1e-5, 1e-5), torch.float64: (1e-10, 1e-10)}


# cuda adds with atomics: 1- and 2-byte integers have none, torch's kernel serves them
ADD_TYPES_CUDA = (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int32, torch.int64)


def add_served(name, dtype):
    return name if DEVICE == "cpu" or dtype in ADD_TYPES_CUDA else None


def check_sum(fn, args, served, terms=1):
    """fn(*args) under gemforge against fn on float64 copies of the floating tensors (indices kept):
    within SUM_TOLERANCES (the absolute one grown by sqrt(terms), the most terms one result sums,
    each add rounding once), exact for integers; dtype and shape as torch's."""
    torch_result = fn(*replicate(args))
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        actual = fn(*replicate(args))
    if served is not None:
        assert served_count(counts, served) >= 1, f"gemforge did not serve {served}; it served {dict(counts)}"
    assert actual.dtype == torch_result.dtype and actual.shape == torch_result.shape
    if not actual.dtype.is_floating_point:
        assert_same_values(actual, torch_result, exact=True)
        return
    wide = [a.detach().cpu().double() if isinstance(a, torch.Tensor) and a.is_floating_point()
            else (a.cpu() if isinstance(a, torch.Tensor) else a) for a in replicate(args)]
    ref = fn(*wide)
    rtol, atol = SUM_TOLERANCES[actual.dtype]
    atol *= max(terms, 1) ** 0.5
    torch.testing.assert_close(actual.cpu().double(), ref, rtol=rtol, atol=atol, equal_nan=True)


# ---- index_select ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_index_select_dims(dtype, shape):
    x = make(shape, dtype)
    dims = dims_of(shape)
    idxs = [rand_index(7, shape[d]) for d in dims]
    check(lambda t, *i: torch.cat([torch.index_select(t, d, j).reshape(-1) for d, j in zip(dims, i)]),
          [x, *idxs], served="index_select", reference="exact")


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float16, torch.complex64], ids=str)
def test_index_select_index_forms(index_dtype, dtype):
    x = make((6, 40), dtype)
    for idx in [torch.tensor([5, 0, 5, 2], device=DEVICE), torch.tensor(3, device=DEVICE),
                torch.empty(0, device=DEVICE, dtype=torch.int64),
                torch.arange(12, device=DEVICE)[::3] % 6]:  # strided index
        idx = idx.to(index_dtype)
        check(lambda t, i: t.index_select(0, i), [x, idx], served="index_select", reference="exact")
        check(lambda t, i: t.index_select(1, i), [x, idx], served="index_select", reference="exact")


def test_index_select_scalar_and_empty():
    check(lambda t, i: t.index_select(0, i), [make((), torch.float32), torch.tensor([0], device=DEVICE)],
          served="index_select", reference="exact")
    check(lambda t, i: t.index_select(-1, i), [make((), torch.int32), torch.tensor(0, device=DEVICE)],
          served="index_select", reference="exact")
    check(lambda t, i: t.index_select(1, i), [make((3, 0, 2), torch.float32), rand_index(0, 1)],
          served="index_select", reference="exact")
    check(lambda t, i: t.index_select(0, i), [make((0, 4), torch.float32), rand_index(0, 1)],
          served="index_select", reference="exact")


def test_index_select_layouts():
    base = make((8, 12, 16), torch.float32)
    idx = rand_index(9, 8)
    # sliced along leading dims: rows stay contiguous, served in place
    check(lambda t, i: t[::2].index_select(1, i), [base, idx], served="index_select", reference="exact")
    check(lambda t, i: t[:, ::2].index_select(0, i), [base, idx], reference="exact")  # torch's kernel
    check(lambda t, i: t[1:, 3:7].index_select(1, i % 4), [base, idx], served="index_select",
          reference="exact")
    # rows of 16-byte units at every alignment (bf16 rows of 8 with an odd offset)
    wide = make((33, 130), torch.bfloat16)
    check(lambda t, i: t[:, 1:].index_select(0, i), [wide, rand_index(40, 33)], served="index_select",
          reference="exact")
    check(lambda t, i: t[:, 8:].index_select(0, i), [wide, rand_index(40, 33)], served="index_select",
          reference="exact")
    # transposed: torch's kernel takes it; the result must still agree
    check(lambda t, i: t.transpose(0, 2).index_select(1, i), [base, idx], reference="exact")


def test_index_select_out():
    x = make((6, 9), torch.float32)
    idx = rand_index(4, 6)
    check(lambda t, i, o: torch.index_select(t, 0, i, out=o), [x, idx, torch.empty(4, 9, device=DEVICE)],
          served="index_select.out", reference="exact")
    with quiet():
        check(lambda t, i, o: torch.index_select(t, 0, i, out=o), [x, idx, torch.empty(2, device=DEVICE)],
              served="index_select.out", reference="exact")
    check(lambda t, i, o: torch.index_select(t, 1, i, out=o.t()), [x, idx, torch.empty(4, 6, device=DEVICE)],
          served="index_select.out", reference="exact")
    check(lambda t, i, o: torch.index_select(t, 0, i, out=o), [x, idx, torch.empty(4, 9, device=DEVICE,
                                                                                    dtype=torch.float64)])


def test_index_select_errors():
    x = make((4, 5), torch.float32)
    for fn, args in [
        (lambda t, i: t.index_select(2, i), [x, rand_index(2, 4)]),
        (lambda t, i: t.index_select(0, i), [x, rand_index(2, 4).float()]),
        (lambda t, i: t.index_select(0, i), [x, rand_index(2, 4, shape=(2, 1))]),
        (lambda t, i: t.index_select(0, i), [make((), torch.float32), rand_index(2, 1)]),
    ]:
        check(fn, args)


@cpu_only()
@pytest.mark.parametrize("bad", [4, -1, 100])
def test_index_select_out_of_range(bad):
    x = make((4, 5), torch.float32)
    idx = torch.tensor([0, bad])
    check(lambda t, i: t.index_select(0, i), [x, idx])
    check(lambda t, i: t.index_select(1, i), [x, idx.clamp(max=5) if bad == 4 else idx])
    err = raised(lambda: x.index_select(0, idx))
    with gemforge.use_gems():
        assert_same_error(err, raised(lambda: x.index_select(0, idx)))
    assert isinstance(err, IndexError)


def test_index_select_autograd():
    x = make((6, 7), torch.float32).requires_grad_()
    idx = torch.tensor([1, 1, 4, 0], device=DEVICE)
    x.index_select(0, idx).sum().backward()
    expected = x.grad.clone()
    x.grad = None
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        x.index_select(0, idx).sum().backward()
    assert served_count(counts, "index_select") == 1
    assert served_count(counts, "index_add_") == 1
    assert_same_values(x.grad, expected, exact=True)


# ---- gather ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_gather_dims(dtype, shape):
    x = make(shape, dtype)
    dims = dims_of(shape)
    # index no larger than self apart from dim, and longer than self along dim
    idxs = [rand_index(0, shape[dim], shape=tuple(max(1, s - 1) if d != dim % len(shape) else 7
                                                  for d, s in enumerate(shape))) for dim in dims]
    check(lambda t, *i: torch.cat([torch.gather(t, d, j).reshape(-1) for d, j in zip(dims, i)]),
          [x, *idxs], served="gather", reference="exact")


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=str)
def test_gather_layouts(index_dtype):
    x = make((6, 8, 10), torch.float32)
    idx = rand_index(0, 6, shape=(10, 8, 6), dtype=index_dtype).transpose(0, 2)  # (6, 8, 10) transposed
    check(lambda t, i: torch.gather(t, 0, i), [x, idx], served="gather", reference="exact")
    check(lambda t, i: torch.gather(t.transpose(0, 1), 1, i[:5, :3]), [x, idx], served="gather",
          reference="exact")
    check(lambda t, i: torch.gather(t[:, ::2], -1, i[:, :4] + 3), [x, idx], served="gather", reference="exact")
    check(lambda t, i: torch.gather(t, 2, i), [make((), torch.float64), torch.tensor(0, device=DEVICE)],
          reference="exact")
    check(lambda t, i: torch.gather(t, 0, i), [make((), torch.float64), torch.tensor(0, device=DEVICE)],
          served="gather", reference="exact")
    check(lambda t, i: torch.gather(t, 1, i), [x, rand_index(0, 8, shape=(6, 0, 10))], served="gather",
          reference="exact")


def test_gather_out():
    x = make((5, 9), torch.bfloat16)
    idx = rand_index(0, 9, shape=(5, 4))
    check(lambda t, i, o: torch.gather(t, 1, i, out=o), [x, idx, torch.empty(5, 4, device=DEVICE,
                                                                             dtype=torch.bfloat16)],
          served="gather.out", reference="exact")
    check(lambda t, i, o: torch.gather(t, 1, i, out=o.t()), [x, idx, torch.empty(4, 5, device=DEVICE,
                                                                                 dtype=torch.bfloat16)],
          served="gather.out", reference="exact")
    check(lambda t, i, o: torch.gather(t, 1, i, out=o), [x, idx, torch.empty(5, 4, device=DEVICE)])


def test_gather_errors():
    x = make((4, 5), torch.float32)
    for fn, args in [
        (lambda t, i: t.gather(1, i), [x, rand_index(0, 5, shape=(5,))]),
        (lambda t, i: t.gather(1, i), [x, rand_index(0, 5, shape=(5, 1))]),
        (lambda t, i: t.gather(1, i), [x, rand_index(0, 5, shape=(2, 2)).float()]),
        (lambda t, i: t.gather(2, i), [x, rand_index(0, 5, shape=(2, 2))]),
    ]:
        check(fn, args)


@cpu_only()
@pytest.mark.parametrize("bad", [5, -1])
def test_gather_out_of_range(bad):
    x = make((4, 5), torch.float32)
    idx = torch.tensor([[0, bad]])
    check(lambda t, i: t.gather(1, i), [x, idx])


def test_gather_autograd():
    x = make((6, 7), torch.float32).requires_grad_()
    idx = rand_index(0, 7, shape=(6, 9))
    x.gather(1, idx).sum().backward()
    expected = x.grad.clone()
    x.grad = None
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        x.gather(1, idx).sum().backward()
    assert served_count(counts, "gather") == 1
    assert served_count(counts, "scatter_add_") == 1
    assert_same_values(x.grad, expected)


# ---- value_selecting_reduction_backward (torch's composite: zeros, then scatter_.src) -------------
# autograd's backward of max/min/median/kthvalue/mode along a dim

@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64], ids=str)
def test_value_selecting_reduction_backward(dtype, keepdim):
    sizes, dim = (4, 6, 5), 1
    kept = (4, 1, 5) if keepdim else (4, 5)
    op = torch.ops.aten.value_selecting_reduction_backward
    check(lambda g, i: op(g, dim, i, sizes, keepdim), [make(kept, dtype), rand_index(0, 6, shape=kept)],
          served="scatter_.src", reference="exact")


@pytest.mark.parametrize("reduce", ["max", "min", "median", "kthvalue"])
def test_value_selecting_reduction_autograd(reduce):
    x = make((5, 8), torch.float32).requires_grad_()
    def call(t):
        return torch.kthvalue(t, 3, dim=1) if reduce == "kthvalue" else getattr(torch, reduce)(t, 1)

    (call(x).values * torch.arange(5.0, device=DEVICE)).sum().backward()
    expected = x.grad.clone()
    x.grad = None
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        (call(x).values * torch.arange(5.0, device=DEVICE)).sum().backward()
    assert served_count(counts, "scatter_.src") == 1, dict(counts)
    assert_same_values(x.grad, expected, exact=True)


# ---- embedding ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_embedding(dtype):
    w = make((11, 24), dtype)
    for shape, index_dtype in [((7,), torch.int64), ((3, 4), torch.int32), ((), torch.int64),
                               ((0,), torch.int64), ((2, 0, 3), torch.int32)]:
        idx = rand_index(0, 11, shape=shape, dtype=index_dtype)
        check(lambda w_, i: F.embedding(i, w_), [w, idx], served="embedding", reference="exact")


def test_embedding_layouts_and_out():
    w = make((20, 70), torch.bfloat16)
    idx = rand_index(0, 20, shape=(3, 5))
    check(lambda w_, i: F.embedding(i, w_[:, 3:67]), [w, idx], served="embedding", reference="exact")
    check(lambda w_, i: F.embedding(i, w_[::2]), [w, idx % 10], served="embedding", reference="exact")
    check(lambda w_, i: F.embedding(i.t(), w_), [w, idx], served="embedding", reference="exact")
    check(lambda w_, i: F.embedding(i, w_.t()), [w, idx], reference="exact")  # torch's kernel
    check(lambda w_, i, o: torch.ops.aten.embedding.out(w_, i, out=o),
          [w, idx, torch.empty(3, 5, 70, device=DEVICE, dtype=torch.bfloat16)],
          served="embedding.out", reference="exact")
    with quiet():
        check(lambda w_, i, o: torch.ops.aten.embedding.out(w_, i, out=o),
              [w, idx, torch.empty(0, device=DEVICE, dtype=torch.bfloat16)],
              served="embedding.out", reference="exact")


def test_embedding_errors():
    w = make((5, 3), torch.float32)
    check(lambda w_, i: F.embedding(i, w_), [w, rand_index(0, 5, shape=(3,)).float()])
    check(lambda w_, i: torch.ops.aten.embedding(w_, i), [make((5,), torch.float32), rand_index(0, 5)])


@cpu_only()
def test_embedding_out_of_range():
    w = make((5, 3), torch.float32)
    for bad in [5, -1]:
        idx = torch.tensor([1, bad])
        err = raised(lambda: F.embedding(idx, w))
        with gemforge.use_gems():
            assert_same_error(err, raised(lambda: F.embedding(idx, w)))
        assert isinstance(err, IndexError)


# ---- embedding_dense_backward ---------------------------------------------------------------------

def dense_backward(padding_idx=-1, scale=False):
    return lambda g, i: torch.ops.aten.embedding_dense_backward(g, i, 13, padding_idx, scale)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("padding_idx,scale", [(-1, False), (3, False), (-1, True), (5, True)])
def test_embedding_dense_backward(dtype, padding_idx, scale):
    for ishape, d, index_dtype in [((40,), 24, torch.int64), ((4, 9), 7, torch.int32), ((3,), 1, torch.int64),
                                   ((0,), 8, torch.int64), ((2, 3), 0, torch.int32),
                                   ((300,), 136, torch.int64)]:
        idx = rand_index(0, 13, shape=ishape, dtype=index_dtype)
        if idx.numel() > 2:
            idx.view(-1)[:3] = torch.tensor([3, 5, 3])  # the padding rows and a repeat
        g = make(ishape + (d,), dtype)
        if (d == 0 or idx.numel() == 0) and DEVICE == "cuda":
            # torch's own cuda kernel faults on rows of width 0 (and on no indices with
            # scale_grad_by_freq): ours alone, all zeros
            with gemforge.use_gems():
                got = dense_backward(padding_idx, scale)(g, idx)
            assert got.shape == (13, d) and got.dtype == dtype and not got.any()
            continue
        terms = int(torch.bincount(idx.reshape(-1).long()).max()) if idx.numel() else 1
        check_sum(dense_backward(padding_idx, scale), [g, idx], "embedding_dense_backward", terms)


def test_embedding_dense_backward_repeats():
    # every index the same row: one long run (deterministic on cuda, summed in order)
    idx = torch.full((2000,), 7, device=DEVICE)
    g = make((2000, 64), torch.float32)
    check(dense_backward(), [g, idx], served="embedding_dense_backward", reference="torch",
          tol_dtype=torch.float16)
    first = torch.ops.aten.embedding_dense_backward
    with gemforge.use_gems():
        a = first(g, idx, 13, -1, False)
        b = first(g, idx, 13, -1, False)
    assert torch.equal(a, b)


def test_embedding_dense_backward_layouts_and_out():
    g = make((10, 12), torch.float32)
    idx = rand_index(0, 13, shape=(10,))
    check(lambda g_, i: torch.ops.aten.embedding_dense_backward(g_.t().contiguous().t(), i, 13, -1, False),
          [g, idx], served="embedding_dense_backward", reference="torch")
    check(lambda g_, i: torch.ops.aten.embedding_dense_backward(g_, i[::2], 13, -1, False),
          [g[::2], idx], served="embedding_dense_backward", reference="torch")
    check(lambda g_, i, o: torch.ops.aten.embedding_dense_backward.out(g_, i, 13, -1, False, out=o),
          [g, idx, torch.empty(13, 12, device=DEVICE)], served="embedding_dense_backward.out",
          reference="torch")
    check(lambda g_, i: torch.ops.aten.embedding_dense_backward(g_, i, 13, -1, False),
          [g, idx.float()])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("padding_idx,scale", [(None, False), (2, True)])
def test_embedding_autograd(dtype, padding_idx, scale):
    w = make((9, 16), dtype).requires_grad_()
    idx = rand_index(0, 9, shape=(4, 6))
    idx[0, :3] = 2
    F.embedding(idx, w, padding_idx=padding_idx, scale_grad_by_freq=scale).float().pow(2).sum().backward()
    expected = w.grad.clone()
    w.grad = None
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        F.embedding(idx, w, padding_idx=padding_idx, scale_grad_by_freq=scale).float().pow(2).sum().backward()
    assert served_count(counts, "embedding") == 1
    assert served_count(counts, "embedding_dense_backward") == 1
    assert_same_values(w.grad, expected)


# ---- embedding_bag's backward ops (_embedding_bag_dense_backward, its per-sample weights) --------

# gemforge serves embedding_bag's backward ops on cuda only (the op table says why)
cuda_only = pytest.mark.skipif(DEVICE != "cuda", reason="embedding_bag's backward ops: cuda rows only")


def bag_inputs(mode, index_dtype, last_offset):
    """indices into 11 rows with a repeat, the padding row 2 and an empty bag; offsets of 5 bags."""
    idx = rand_index(0, 11, shape=(23,), dtype=index_dtype)
    idx[:4] = torch.tensor([2, 7, 7, 2])
    offsets = torch.tensor([0, 4, 4, 9, 17] + ([23] if last_offset else []), device=DEVICE, dtype=index_dtype)
    return idx, offsets


def bag_grads(w, idx, offsets, psw, up, **kw):
    """d(loss)/d(weight) and d(loss)/d(per_sample_weights) of the loss sum(F.embedding_bag(...) * up);
    up (the bags' shape) is drawn by the caller outside gemforge, whose cpu backend has its own
    generator."""
    w = w.detach().requires_grad_()
    psw = psw.detach().requires_grad_() if psw is not None else None
    out = F.embedding_bag(idx, w, offsets, per_sample_weights=psw, **kw)
    (out * up.to(out.dtype)).sum().backward()
    return [w.grad] + ([psw.grad] if psw is not None else [])


@cuda_only
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("mode,weighted,padding_idx,scale", [
    ("sum", False, None, False), ("sum", True, 2, False), ("sum", False, 2, True), ("sum", True, None, True),
    ("mean", False, None, False), ("mean", False, 2, True), ("max", False, None, False), ("max", False, 2, False)])
def test_embedding_bag_backward(dtype, mode, weighted, padding_idx, scale):
    # (torch's cuda kernels of the max mode and of the per-sample weights have no bf16; ours do)
    for index_dtype, last_offset in [(torch.int64, False), (torch.int32, True)]:
        idx, offsets = bag_inputs(mode, index_dtype, last_offset)
        w = make((11, 20), dtype)
        psw = make((23,), dtype) if weighted else None
        kw = dict(mode=mode, padding_idx=padding_idx, scale_grad_by_freq=scale, include_last_offset=last_offset)
        up = torch.rand(5, 20, dtype=torch.float64, device=DEVICE)  # 5 bags
        # the reference: torch in float64 (max mode's picks are the same: the values are dtype's)
        ref = bag_grads(w.double(), idx, offsets, psw.double() if weighted else None, up, **kw)
        with gemforge.use_gems(), gemforge.collect_stats() as counts:
            got = bag_grads(w, idx, offsets, psw, up, **kw)
        assert served_count(counts, "_embedding_bag_dense_backward") == 1, dict(counts)
        if weighted:
            assert served_count(counts, "_embedding_bag_per_sample_weights_backward") == 1, dict(counts)
        rtol, atol = SUM_TOLERANCES[dtype]
        for a, r in zip(got, ref):
            assert a.dtype == dtype and a.shape == r.shape
            torch.testing.assert_close(a.double(), r, rtol=rtol, atol=atol * 3)


@cuda_only
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_backward_2d_and_empty(mode):
    # a 2-d input (bags of equal length, no offsets) and an input with no indices at all
    w = make((9, 16), torch.float32)
    idx = rand_index(0, 9, shape=(6, 4))
    up = torch.rand(6, 16, dtype=torch.float64, device=DEVICE)
    expected = bag_grads(w, idx, None, None, up, mode=mode)[0]
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        got = bag_grads(w, idx, None, None, up, mode=mode)[0]
    assert served_count(counts, "_embedding_bag_dense_backward") == 1
    torch.testing.assert_close(got, expected)
    empty = torch.empty(0, dtype=torch.int64, device=DEVICE)
    offsets = torch.zeros(3, dtype=torch.int64, device=DEVICE)
    with gemforge.use_gems():
        got = bag_grads(w, empty, offsets, None, torch.rand(3, 16, device=DEVICE), mode=mode)[0]
    assert got.shape == (9, 16) and not got.any()


@cuda_only
def test_embedding_bag_backward_direct_calls():
    w = make((11, 20), torch.float32)
    idx, offsets = bag_inputs("sum", torch.int64, False)
    psw = make((23,), torch.float32)
    _, offset2bag, bag_size, max_indices = torch.ops.aten._embedding_bag(w, idx, offsets, False, 0, False, psw)
    g = make((5, 20), torch.float32)
    dense = torch.ops.aten._embedding_bag_dense_backward
    weights = torch.ops.aten._embedding_bag_per_sample_weights_backward
    # a transposed grad (made contiguous), per-sample weights; then a mode torch does not know
    gt = make((20, 5), torch.float32).t()
    check(lambda g_, p_: dense(g_, idx, offset2bag, bag_size, max_indices, 11, False, 0, p_, -1), [gt, psw],
          served="_embedding_bag_dense_backward", reference="torch")
    check(lambda g_, w_: weights(g_, w_, idx, offsets, offset2bag, 0, 7), [g, w],
          served="_embedding_bag_per_sample_weights_backward", reference="torch")
    for call in [lambda: dense(g, idx, offset2bag, bag_size, max_indices, 11, False, 3, None, -1),
                 lambda: weights(g, w, idx, offsets, offset2bag, 1, -1)]:
        err = raised(call)
        with gemforge.use_gems():
            assert_same_error(err, raised(call))
        assert err is not None


# ---- scatter (src, value) ---------------------------------------------------------------------------

def unique_index(ishape, dim, bound):
    """An index of ishape whose entries along dim are distinct in [0, bound) (ishape[dim] <= bound):
    no two writes to one element, so the result does not depend on the order of writes."""
    full = list(ishape)
    full[dim] = bound
    return torch.rand(full, device=DEVICE).argsort(dim).narrow(dim, 0, ishape[dim])


def scatter_case(shape, dtype):
    """(dims, indices, sources) for every dim of shape: the index no larger than self apart from
    dim, the source a little larger than the index."""
    dims = dims_of(shape)
    idxs, srcs = [], []
    for dim in dims:
        d0 = dim % len(shape)
        ishape = [max(1, s - 1) if d != d0 else min(3, shape[d0]) for d, s in enumerate(shape)]
        idxs.append(unique_index(ishape, d0, shape[d0]))
        srcs.append(make([s + 1 for s in ishape], dtype))
    return dims, idxs, srcs


SIZED = [torch.bool, torch.int16, torch.float16, torch.float32, torch.int64, torch.complex128]


@pytest.mark.parametrize("dtype", SIZED, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_scatter_dims(dtype, shape):
    x = make(shape, dtype)
    dims, idxs, srcs = scatter_case(shape, dtype)
    n = len(dims)
    check(lambda t, *a: torch.cat([torch.scatter(t, d, a[k], a[n + k]).reshape(-1) for k, d in enumerate(dims)]),
          [x, *idxs, *srcs], served="scatter.src", reference="exact")
    check(lambda t, *a: torch.cat([torch.scatter(t, d, a[k], 1).reshape(-1) for k, d in enumerate(dims)]),
          [x, *idxs], served="scatter.value", reference="exact")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_scatter_value_dtypes(dtype):
    x = make((4, 6), dtype)
    idx = unique_index((4, 3), 1, 6)
    for value in ([True, 0] if dtype is torch.bool else [2, -1.5, 0] if not dtype.is_complex else [1 + 2j, 3]):
        if not (dtype.is_floating_point or dtype.is_complex) and isinstance(value, float):
            continue
        check(lambda t, i: torch.scatter(t, 1, i, value), [x, idx], served="scatter.value", reference="exact")


def test_scatter_forms():
    x = make((6, 10), torch.float32)
    idx = unique_index((4, 5), 1, 10)
    src = make((5, 7), torch.float32)
    check(lambda t, i, s: t.scatter_(1, i, s), [x, idx, src], served="scatter_.src", reference="exact")
    check(lambda t, i: t.scatter_(1, i, -2.0), [x, idx], served="scatter_.value", reference="exact")
    check(lambda t, i, s: t.t().scatter_(0, i.t(), s.t()), [x, idx, src], served="scatter_.src", reference="exact")
    check(lambda t, i, s, o: torch.scatter(t, 1, i, s, out=o), [x, idx, src, torch.empty(6, 10, device=DEVICE)],
          served="scatter.src_out", reference="exact")
    check(lambda t, i, o: torch.scatter(t, 1, i, 7, out=o.t()), [x, idx, torch.empty(10, 6, device=DEVICE)],
          served="scatter.value_out", reference="exact")
    check(lambda t, i, s: torch.scatter(t.t(), 0, i.t(), s), [x, idx, src], served="scatter.src", reference="exact")
    check(lambda t, i, s: torch.scatter(t, 1, i, s), [x, idx[:0], src], served="scatter.src", reference="exact")
    check(lambda t, i, s: torch.scatter(t, 0, i, s), [make((), torch.float64), torch.tensor(0, device=DEVICE),
                                                      make((), torch.float64)], served="scatter.src", reference="exact")
    # errors: dtypes, shapes, dims
    check(lambda t, i, s: torch.scatter(t, 1, i, s), [x, idx, src.double()])
    check(lambda t, i, s: torch.scatter(t, 1, i, s), [x, idx.float(), src])
    check(lambda t, i, s: torch.scatter(t, 1, i, s), [x, idx, src[:2, :2]])
    check(lambda t, i, s: torch.scatter(t, 1, i, s), [x, idx[0], src])
    check(lambda t, i, s: torch.scatter(t, 2, i, s), [x, idx, src])


@cpu_only("duplicate writes land in an unspecified order on cuda; out of range asserts on device")
def test_scatter_cpu_order_and_range():
    x = make((3, 6), torch.float32)
    idx = torch.tensor([[1, 1, 1, 4], [0, 5, 0, 0]])
    check(lambda t, i, s: torch.scatter(t, 1, i, s), [x, idx, make((2, 4), torch.float32)], served="scatter.src",
          reference="exact")
    check(lambda t, i: torch.scatter(t, 1, i, 3.0), [x, torch.tensor([[6]])])
    check(lambda t, i: torch.scatter(t, 1, i, 3.0), [x, torch.tensor([[-1]])])


# ---- scatter_add ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", REAL, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_scatter_add_dims(dtype, shape):
    x = make(shape, dtype)
    dims = dims_of(shape)
    ishapes = [tuple(max(1, s - 1) if d != dim % len(shape) else 6 for d, s in enumerate(shape))
               for dim in dims]
    idxs = [rand_index(0, shape[dim], shape=ishape) for dim, ishape in zip(dims, ishapes)]
    srcs = [make(ishape, dtype) for ishape in ishapes]
    n = len(dims)
    check_sum(lambda t, *a: torch.cat([torch.scatter_add(t, d, a[k], a[n + k]).reshape(-1)
                                       for k, d in enumerate(dims)]),
              [x, *idxs, *srcs], add_served("scatter_add", dtype))


def test_scatter_add_forms():
    x = make((6, 10), torch.float32)
    idx = rand_index(0, 10, shape=(4, 12))
    src = make((5, 14), torch.float32)
    check(lambda t, i, s: t.scatter_add_(1, i, s), [x, idx, src], served="scatter_add_", reference="torch")
    check(lambda t, i, s: t.t().scatter_add_(0, i.t(), s.t()), [x, idx, src], served="scatter_add_",
          reference="torch")
    check(lambda t, i, s, o: torch.scatter_add(t, 1, i, s, out=o),
          [x, idx, src, torch.empty(6, 10, device=DEVICE)], served="scatter_add.out", reference="torch")
    check(lambda t, i, s: torch.scatter_add(t, 1, i, s), [x, rand_index(0, 10, shape=(0, 3)), src],
          served="scatter_add", reference="torch")
    # dtypes torch takes and the kernel does not: torch's kernel serves them
    check(lambda t, i, s: torch.scatter_add(t, 0, i, s),
          [make((4,), torch.bool), rand_index(0, 4, shape=(6,)), make((6,), torch.bool)], reference="exact")
    # errors
    check(lambda t, i, s: torch.scatter_add(t, 1, i, s), [x, idx, src.double()])
    check(lambda t, i, s: torch.scatter_add(t, 1, i, s), [x, idx[:, :1], src[:1]])
    check(lambda t, i, s: torch.scatter_add(t, 1, i, s), [x, rand_index(0, 10, shape=(7, 2)), src])


@cpu_only()
def test_scatter_add_out_of_range():
    x = make((3, 4), torch.float32)
    check(lambda t, i, s: t.scatter_add(1, i, s), [x, torch.tensor([[0, 4]]), make((1, 2), torch.float32)])


# ---- index_add ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", REAL, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_index_add_dims(dtype, shape):
    x = make(shape, dtype)
    dims = dims_of(shape)
    idxs, srcs = [], []
    for dim in dims:
        sshape = list(shape)
        sshape[dim] = 6
        idxs.append(rand_index(6, shape[dim]))
        srcs.append(make(sshape, dtype))
    n = len(dims)
    check_sum(lambda t, *a: torch.cat([torch.index_add(t, d, a[k], a[n + k], alpha=2).reshape(-1)
                                       for k, d in enumerate(dims)]),
              [x, *idxs, *srcs], add_served("index_add", dtype))


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=str)
def test_index_add_forms(index_dtype):
    x = make((7, 10), torch.float32)
    idx = rand_index(5, 7, dtype=index_dtype)
    src = make((5, 10), torch.float32)
    check(lambda t, i, s: t.index_add_(0, i, s, alpha=2.5), [x, idx, src], served="index_add_",
          reference="torch")
    check(lambda t, i, s: t.t().index_add_(1, i, s.t()), [x, idx, src], served="index_add_", reference="torch")
    check(lambda t, i, s, o: torch.index_add(t, 0, i, s, out=o), [x, idx, src, torch.empty(7, 10, device=DEVICE)],
          served="index_add.out", reference="torch")
    check(lambda t, i, s: torch.index_add(t, 0, i, s, alpha=-1), [x, idx, src.t().contiguous().t()],
          served="index_add", reference="torch")
    check(lambda t, i, s: torch.index_add(t, 0, i, s), [make((), torch.float64), torch.tensor([0], device=DEVICE),
                                                        make((), torch.float64)],
          served="index_add", reference="torch")
    check(lambda t, i, s: torch.index_add(t, 0, i, s, alpha=3), [make((7, 3), torch.int64),
                                                                 idx, make((5, 3), torch.int64)],
          served="index_add", reference="exact")
    # errors (torch's kernel raises them)
    check(lambda t, i, s: torch.index_add(t, 0, i, s), [x, idx, src.double()])
    check(lambda t, i, s: torch.index_add(t, 0, i, s), [x, idx[:3], src])
    check(lambda t, i, s: torch.index_add(t, 0, i, s), [x, idx, src[:, :4]])


@cpu_only()
def test_index_add_out_of_range():
    x = make((4, 5), torch.float32)
    check(lambda t, i, s: t.index_add(0, i, s), [x, torch.tensor([4]), make((1, 5), torch.float32)])
    check(lambda t, i, s: t.index_add(0, i, s), [x, torch.tensor([-1]), make((1, 5), torch.float32)])


# ---- sizes past one tile / block ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
def test_larger(dtype):
    w = make((300, 520), dtype)
    idx = rand_index(0, 300, shape=(64, 9))
    check(lambda w_, i: F.embedding(i, w_), [w, idx], served="embedding", reference="exact")
    check(lambda w_, i: w_.index_select(1, i.reshape(-1)[:200] % 520), [w, idx], served="index_select",
          reference="exact")
    gidx = rand_index(0, 520, shape=(300, 700))
    check(lambda w_, i: w_.gather(1, i), [w, gidx], served="gather", reference="exact")
    g = make((576, 520), dtype)
    check_sum(lambda g_, i: torch.ops.aten.embedding_dense_backward(g_, i, 300, -1, False), [g, idx],
              "embedding_dense_backward", int(torch.bincount(idx.reshape(-1)).max()))


# ---- scatter(reduce=), scatter_reduce, index_reduce -------------------------------------------------
# The cpu kernels reduce integers and floats; cuda the dtypes it has atomics for (bool, complex
# and the small integers go to torch's kernel). Reductions compare with float64 (check_sum):
# prod and mean round once per term in fp16/bf16, amax/amin pick a term. Integers exactly with
# torch (mean floors, prod wraps, as torch).

def reduce_served(name, dtype):
    return name if (DEVICE == "cpu" and dtype in REAL) or dtype in ADD_TYPES_CUDA else None


def along_case(shape, dtype, extra=2, low=-3.0, high=3.0):
    """(dims, indices, sources) for every dim of shape: the index longer than self along dim
    (duplicates certain) and no larger apart from it, the source a little larger than the index."""
    dims = dims_of(shape)
    idxs, srcs = [], []
    for dim in dims:
        d0 = dim % len(shape)
        ishape = [max(1, s - 1) if d != d0 else s + extra for d, s in enumerate(shape)]
        idxs.append(rand_index(0, shape[d0], shape=tuple(ishape)))
        srcs.append(make([s + 1 for s in ishape], dtype, low=low, high=high, nonzero=True))
    return dims, idxs, srcs


def most_terms(idx):
    return int(torch.bincount(idx.reshape(-1).long()).max()) + 1 if idx.numel() else 1


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_scatter_reduce_two_dims(dtype, reduce):
    for shape, include_self in [((3, 5), True), ((3, 5), False), ((2, 3, 4, 5), True), ((2, 3, 4, 5), False)]:
        x = make(shape, dtype, nonzero=True)
        low, high = (-2.0, 2.0) if reduce == "prod" else (-3.0, 3.0)
        dims, idxs, srcs = along_case(shape, dtype, low=low, high=high)
        n = len(dims)
        check_sum(lambda t, *a: torch.cat([torch.scatter_reduce(t, d, a[k], a[n + k], reduce,
                                                                include_self=include_self).reshape(-1)
                                           for k, d in enumerate(dims)]),
                  [x, *idxs, *srcs], reduce_served("scatter_reduce.two", dtype), max(map(most_terms, idxs)))


@pytest.mark.parametrize("reduce", ["add", "multiply"])
@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_scatter_legacy_reduce(dtype, reduce):
    shape = (4, 1, 6)
    x = make(shape, dtype, nonzero=True)
    dims, idxs, srcs = along_case(shape, dtype, low=-2.0, high=2.0)
    n = len(dims)
    with quiet():
        check_sum(lambda t, *a: torch.cat([torch.scatter(t, d, a[k], a[n + k], reduce=reduce).reshape(-1)
                                           for k, d in enumerate(dims)]),
                  [x, *idxs, *srcs], reduce_served("scatter.reduce", dtype), max(map(most_terms, idxs)))
        value = 2 if not dtype.is_floating_point else -1.5
        check_sum(lambda t, *a: torch.cat([torch.scatter(t, d, a[k], value, reduce=reduce).reshape(-1)
                                           for k, d in enumerate(dims)]),
                  [x, *idxs], reduce_served("scatter.value_reduce", dtype), max(map(most_terms, idxs)))


def test_scatter_reduce_forms():
    x = make((6, 10), torch.float32)
    idx = rand_index(0, 10, shape=(4, 12))
    src = make((5, 14), torch.float32)
    with quiet():
        for reduce in ["add", "multiply"]:
            check(lambda t, i, s: t.scatter_(1, i, s, reduce=reduce), [x, idx, src], served="scatter_.reduce",
                  reference="torch", tol_dtype=torch.float16)
            check(lambda t, i: t.scatter_(1, i, 1.5, reduce=reduce), [x, idx], served="scatter_.value_reduce",
                  reference="torch")
            check(lambda t, i, s, o: torch.scatter(t, 1, i, s, reduce=reduce, out=o),
                  [x, idx, src, torch.empty(6, 10, device=DEVICE)], served="scatter.reduce_out", reference="torch",
                  tol_dtype=torch.float16)
            check(lambda t, i, o: torch.scatter(t, 1, i, 2.0, reduce=reduce, out=o.t()),
                  [x, idx, torch.empty(10, 6, device=DEVICE)], served="scatter.value_reduce_out", reference="torch")
        check(lambda t, i, s: t.scatter(1, i, s, reduce="sum"), [x, idx, src])  # bad reduce: torch's error
    for reduce in ["sum", "prod", "mean", "amax", "amin"]:
        for include_self in [True, False]:
            check(lambda t, i, s: t.scatter_reduce_(1, i, s, reduce, include_self=include_self), [x, idx, src],
                  served="scatter_reduce_.two", reference="torch", tol_dtype=torch.float16)
            check(lambda t, i, s: t.t().scatter_reduce_(0, i.t(), s.t(), reduce, include_self=include_self),
                  [x, idx, src], served="scatter_reduce_.two", reference="torch", tol_dtype=torch.float16)
            check(lambda t, i, s, o: torch.scatter_reduce(t, -1, i, s, reduce, include_self=include_self, out=o),
                  [x, idx, src, torch.empty(6, 10, device=DEVICE)], served="scatter_reduce.two_out",
                  reference="torch", tol_dtype=torch.float16)
    # out of another dtype, empty index, 0-d, errors
    check(lambda t, i, s, o: torch.scatter_reduce(t, 1, i, s, "sum", out=o),
          [x, idx, src, torch.empty(6, 10, device=DEVICE, dtype=torch.float64)])
    check(lambda t, i, s: torch.scatter_reduce(t, 1, i, s, "amax"), [x, rand_index(0, 10, shape=(0, 3)), src],
          served="scatter_reduce.two", reference="exact")
    check(lambda t, i, s: torch.scatter_reduce(t, 0, i, s, "prod"),
          [make((), torch.float64), torch.tensor(0, device=DEVICE), make((), torch.float64)],
          served="scatter_reduce.two", reference="torch")
    check(lambda t, i, s: torch.scatter_reduce(t, 1, i, s, "mean"), [make((3, 0), torch.float32),
                                                                    rand_index(0, 1, shape=(3, 0)),
                                                                    make((3, 0), torch.float32)])
    check(lambda t, i, s: torch.scatter_reduce(t, 1, i, s, "median"), [x, idx, src])
    check(lambda t, i, s: torch.scatter_reduce(t, 1, i, s, "sum"), [x, idx, src.double()])
    check(lambda t, i, s: torch.scatter_reduce(t, 1, i, s, "sum"), [x, idx.float(), src])
    check(lambda t, i, s: torch.scatter_reduce(t, 2, i, s, "sum"), [x, idx, src])
    check(lambda t, i, s: torch.scatter_reduce(t, 1, i, s, "sum"), [x, rand_index(0, 10, shape=(7, 2)), src])
    # dtypes the kernels leave to torch
    check(lambda t, i, s: torch.scatter_reduce(t, 0, i, s, "amax"),
          [make((4,), torch.bool), rand_index(0, 4, shape=(6,)), make((6,), torch.bool)], reference="exact")
    check(lambda t, i, s: torch.scatter_reduce(t, 0, i, s, "prod"),
          [make((4,), torch.complex64), rand_index(0, 4, shape=(6,)), make((6,), torch.complex64)])


def test_scatter_reduce_nan_and_inf():
    nan, inf = float("nan"), float("inf")
    x = torch.tensor([1.0, nan, 3.0, -inf, 0.0], device=DEVICE)
    idx = torch.tensor([0, 1, 2, 2, 3, 4, 4], device=DEVICE)
    src = torch.tensor([nan, 2.0, nan, 1.0, inf, -0.0, 5.0], device=DEVICE)
    for reduce in ["amax", "amin", "sum", "prod", "mean"]:
        for include_self in [True, False]:
            check(lambda t, i, s: t.scatter_reduce(0, i, s, reduce, include_self=include_self), [x, idx, src],
                  served="scatter_reduce.two", reference="torch")


@cpu_only()
def test_scatter_reduce_out_of_range():
    x = make((3, 4), torch.float32)
    for bad in [4, -1]:
        check(lambda t, i, s: t.scatter_reduce(1, i, s, "amax"), [x, torch.tensor([[0, bad]]), make((1, 2), torch.float32)])
        with quiet():
            check(lambda t, i, s: t.scatter(1, i, s, reduce="multiply"),
                  [x, torch.tensor([[0, bad]]), make((1, 2), torch.float32)])


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_index_reduce_dims(dtype, reduce):
    for shape, include_self in [((5,), True), ((4, 1, 6), False), ((2, 3, 4, 5), True), ((2, 3, 4, 5), False)]:
        x = make(shape, dtype, nonzero=True)
        dims = dims_of(shape)
        idxs, srcs = [], []
        for dim in dims:
            sshape = list(shape)
            sshape[dim] = shape[dim] + 3
            idxs.append(rand_index(sshape[dim], shape[dim], dtype=INDEX_DTYPES[dim % 2]))
            srcs.append(make(sshape, dtype, low=-2.0, high=2.0, nonzero=True))
        n = len(dims)
        with quiet():
            check_sum(lambda t, *a: torch.cat([t.index_reduce(d, a[k], a[n + k], reduce, include_self=include_self)
                                               .reshape(-1) for k, d in enumerate(dims)]),
                      [x, *idxs, *srcs], reduce_served("index_reduce", dtype), max(map(most_terms, idxs)))


def test_index_reduce_forms():
    x = make((7, 10), torch.float32)
    idx = rand_index(9, 7)
    src = make((9, 10), torch.float32)
    with quiet():
        check(lambda t, i, s: t.index_reduce_(0, i, s, "amax"), [x, idx, src], served="index_reduce_",
              reference="exact")
        check(lambda t, i, s: t.t().index_reduce_(1, i, s.t(), "prod", include_self=False), [x, idx, src],
              served="index_reduce_", reference="torch", tol_dtype=torch.float16)
        check(lambda t, i, s, o: torch.index_reduce(t, 0, i, s, "mean", out=o),
              [x, idx, src, torch.empty(7, 10, device=DEVICE)], served="index_reduce.out", reference="torch")
        check(lambda t, i, s, o: torch.index_reduce(t, 0, i, s, "amin", out=o.t()),
              [x, idx, src, torch.empty(10, 7, device=DEVICE)], served="index_reduce.out", reference="exact")
        check(lambda t, i, s, o: torch.index_reduce(t, 0, i, s, "amin", out=o),
              [x, idx, src, torch.empty(7, 10, device=DEVICE, dtype=torch.float64)])
        check(lambda t, i, s: t.index_reduce(0, i, s, "amin"), [x, idx[:0], src[:0]], served="index_reduce",
              reference="exact")
        check(lambda t, i, s: t.index_reduce(0, i, s, "amax"), [x, torch.tensor(3, device=DEVICE), src[:1]],
              served="index_reduce", reference="exact")
        check(lambda t, i, s: t.index_reduce(0, i, s, "prod"),
              [make((), torch.float64), torch.tensor([0, 0], device=DEVICE), make((2,), torch.float64)])
        # errors
        check(lambda t, i, s: t.index_reduce(0, i, s, "sum"), [x, idx, src])
        check(lambda t, i, s: t.index_reduce(0, i, s, "prod"), [x, idx, src.double()])
        check(lambda t, i, s: t.index_reduce(0, i, s, "prod"), [x, idx[:3], src])
        check(lambda t, i, s: t.index_reduce(0, i, s, "prod"), [x, idx, src[:, :4]])
        check(lambda t, i, s: t.index_reduce(0, i, s, "prod"), [x, idx.float(), src])
        check(lambda t, i, s: t.index_reduce(2, i, s, "prod"), [x, idx, src])


@cpu_only()
def test_index_reduce_out_of_range():
    x = make((4, 5), torch.float32)
    with quiet():
        for bad in [4, -1]:
            check(lambda t, i, s: t.index_reduce(0, i, s, "amax"), [x, torch.tensor([bad]), make((1, 5), torch.float32)])
            err = raised(lambda: x.index_reduce(0, torch.tensor([bad]), make((1, 5), torch.float32), "amax"))
            assert isinstance(err, IndexError)


# ---- index_copy, index_fill -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_index_copy_dims(dtype):
    for shape in SHAPES:
        x = make(shape, dtype)
        dims = dims_of(shape)
        idxs, srcs = [], []
        for dim in dims:
            k = min(3, shape[dim])
            idxs.append(torch.randperm(shape[dim], device=DEVICE)[:k])  # distinct: any order of writes agrees
            sshape = list(shape)
            sshape[dim] = k
            srcs.append(make(sshape, dtype))
        n = len(dims)
        check(lambda t, *a: torch.cat([t.index_copy(d, a[k], a[n + k]).reshape(-1) for k, d in enumerate(dims)]),
              [x, *idxs, *srcs], served="index_copy", reference="exact")


def test_index_copy_forms():
    x = make((6, 40), torch.bfloat16)
    idx = torch.tensor([4, 0, 2], device=DEVICE)
    src = make((3, 40), torch.bfloat16)
    check(lambda t, i, s: t.index_copy_(0, i, s), [x, idx, src], served="index_copy_", reference="exact")
    check(lambda t, i, s: t[:, 1:].index_copy_(0, i, s[:, 1:]), [x, idx, src], served="index_copy_",
          reference="exact")  # rows of odd alignment
    check(lambda t, i, s: t.index_copy_(1, i, s.t()[:3].t()), [x, idx, make((6, 3), torch.bfloat16)],
          served="index_copy_", reference="exact")
    check(lambda t, i, s: t.t().index_copy_(1, i, s.t()), [x, idx, src], reference="exact")  # torch's kernel
    check(lambda t, i, s: t.index_copy(0, i, s.t().contiguous().t()), [x, idx, src], served="index_copy",
          reference="exact")
    check(lambda t, i, s: t.index_copy(-1, i[::2], s[:2].t()), [x, idx, src], served="index_copy",
          reference="exact")
    check(lambda t, i, s, o: torch.index_copy(t, 0, i, s, out=o), [x, idx, src, torch.empty(6, 40, device=DEVICE,
                                                                                            dtype=torch.bfloat16)],
          served="index_copy.out", reference="exact")
    check(lambda t, i, s, o: torch.index_copy(t, 0, i, s, out=o.t()),
          [x, idx, src, torch.empty(40, 6, device=DEVICE, dtype=torch.bfloat16)], served="index_copy.out",
          reference="exact")
    check(lambda t, i, s, o: torch.index_copy(t, 0, i, s, out=o), [x, idx, src, torch.empty(6, 40, device=DEVICE)])
    check(lambda t, i, s: t.index_copy(0, i, s), [x, idx[:0], src[:0]], served="index_copy", reference="exact")
    check(lambda t, i, s: t.index_copy(0, i, s), [x, torch.tensor(5, device=DEVICE), src[:1]], served="index_copy",
          reference="exact")
    check(lambda t, i, s: t.index_copy(0, i, s), [make((), torch.float32), torch.tensor([0], device=DEVICE),
                                                  make((), torch.float32)], reference="exact")
    # errors (torch's kernel raises them)
    for args in [[x, idx.int(), src], [x, idx, src.float()], [x, idx[:2], src], [x, idx, src[:, :4]],
                 [x, idx.reshape(3, 1), src], [x, idx, src[0]]]:
        check(lambda t, i, s: t.index_copy(0, i, s), args)


@cpu_only()
def test_index_copy_out_of_range_and_duplicates():
    x = make((4, 5), torch.float32)
    for bad in [4, -1]:
        check(lambda t, i, s: t.index_copy(0, i, s), [x, torch.tensor([0, bad]), make((2, 5), torch.float32)])
        err = raised(lambda: x.index_copy(0, torch.tensor([bad]), make((1, 5), torch.float32)))
        assert isinstance(err, IndexError)
    # duplicates: the last write wins on the cpu (serial), as torch's
    check(lambda t, i, s: t.index_copy(0, i, s), [x, torch.tensor([1, 3, 1]), make((3, 5), torch.float32)],
          served="index_copy", reference="exact")


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_index_fill_dtypes(dtype):
    value = True if dtype is torch.bool else (2 - 1j if dtype.is_complex else (-1.5 if dtype.is_floating_point else 7))
    for shape in [(5,), (4, 1, 6), (2, 3, 4, 5)]:
        x = make(shape, dtype)
        dims = dims_of(shape)
        # negative indices count from the end; duplicates write one value
        idxs = [torch.tensor([0, -1, shape[d] - 1], device=DEVICE) for d in dims]
        check(lambda t, *i: torch.cat([t.index_fill(d, j, value).reshape(-1) for d, j in zip(dims, i)]),
              [x, *idxs], served="index_fill.int_Scalar", reference="exact")
    check(lambda t, i, v: t.index_fill(1, i, v), [make((3, 4), dtype), torch.tensor([2], device=DEVICE),
                                                  make((), dtype)], served="index_fill.int_Tensor", reference="exact")


def test_index_fill_forms():
    x = make((6, 37), torch.float16)
    idx = torch.tensor([4, 0, -2], device=DEVICE)
    check(lambda t, i: t.index_fill_(0, i, 3.0), [x, idx], served="index_fill_.int_Scalar", reference="exact")
    check(lambda t, i, v: t.index_fill_(1, i, v), [x, idx, torch.tensor(-2.0, device=DEVICE)],
          served="index_fill_.int_Tensor", reference="exact")
    check(lambda t, i: t[:, 1:].index_fill_(0, i, 3.0), [x, idx], served="index_fill_.int_Scalar", reference="exact")
    check(lambda t, i: t.t().index_fill_(0, i, 3.0), [x, idx], reference="exact")
    check(lambda t, i: t.index_fill(0, i, 1), [x, torch.tensor(2, device=DEVICE)], served="index_fill.int_Scalar",
          reference="exact")
    check(lambda t, i: t.index_fill(0, i, 1), [x, idx[:0]], served="index_fill.int_Scalar", reference="exact")
    check(lambda t, i: t.index_fill(0, i, 1), [make((), torch.float32), torch.tensor([-1], device=DEVICE)],
          reference="exact")
    check(lambda t, i: t.index_fill(0, i, 2.7), [make((3,), torch.int32), torch.tensor([1], device=DEVICE)],
          served="index_fill.int_Scalar", reference="exact")
    check(lambda t, i, v: t.index_fill(0, i, v), [x, idx, torch.tensor(2.0, device=DEVICE, dtype=torch.float64)],
          served="index_fill.int_Tensor", reference="exact")
    check(lambda t, i, o: torch.ops.aten.index_fill.int_Scalar_out(t, 0, i, 5, out=o),
          [x, idx, torch.empty(6, 37, device=DEVICE, dtype=torch.float16)], served="index_fill.int_Scalar_out",
          reference="exact")
    check(lambda t, i, o: torch.ops.aten.index_fill.int_Tensor_out(t, 1, i, torch.tensor(1.0, device=DEVICE), out=o.t()),
          [x, idx, torch.empty(37, 6, device=DEVICE, dtype=torch.float16)], served="index_fill.int_Tensor_out",
          reference="exact")
    check(lambda t, i, o: torch.ops.aten.index_fill.int_Scalar_out(t, 0, i, 5, out=o),
          [x, idx, torch.empty(6, 37, device=DEVICE)])
    # errors
    check(lambda t, i: t.index_fill(0, i, 1), [x, idx.int()])
    check(lambda t, i: t.index_fill(0, i, 1), [x, idx.float()])
    check(lambda t, i: t.index_fill(0, i, 1), [x, idx.reshape(3, 1)])
    check(lambda t, i: t.index_fill(2, i, 1), [x, idx])
    check(lambda t, i, v: t.index_fill(0, i, v), [x, idx, torch.ones(1, device=DEVICE)])
    check(lambda t, i: t.index_fill(0, i, 300), [make((3,), torch.uint8), torch.tensor([1], device=DEVICE)])


@cpu_only()
def test_index_fill_out_of_range():
    x = make((4, 5), torch.float32)
    for bad in [4, -5]:
        check(lambda t, i: t.index_fill(0, i, 1.0), [x, torch.tensor([0, bad])])
        assert isinstance(raised(lambda: x.index_fill(0, torch.tensor([bad]), 1.0)), IndexError)


# ---- take -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_take(dtype):
    x = make((3, 4, 5), dtype)
    for ishape in [(7,), (2, 3), (), (0,), (2, 0, 3)]:
        idx = torch.randint(-60, 60, ishape, device=DEVICE)  # negative: from the end
        check(lambda t, i: torch.take(t, i), [x, idx], served="take", reference="exact")
    check(lambda t, i: torch.take(t.transpose(0, 2)[1:], i), [x, torch.randint(-40, 40, (9,), device=DEVICE)],
          served="take", reference="exact")
    check(lambda t, i: torch.take(t, i), [make((), dtype), torch.tensor([0, -1], device=DEVICE)], served="take",
          reference="exact")
    # one index, strided (a contiguous view whose stride is not 1), into a 0-d tensor
    check(lambda t, i: torch.take(t, i[::2]), [make((), dtype), torch.tensor([0, -1], device=DEVICE)],
          served="take", reference="exact")
    check(lambda t, i: torch.index_select(t, 1, i[::2]), [x, torch.tensor([3, 0], device=DEVICE)],
          served="index_select", reference="exact")


def test_take_forms_and_errors():
    x = make((6, 9), torch.float32)
    idx = torch.randint(-54, 54, (4, 5), device=DEVICE)
    check(lambda t, i: torch.take(t, i.t()), [x, idx], served="take", reference="exact")
    check(lambda t, i, o: torch.take(t, i, out=o), [x, idx, torch.empty(4, 5, device=DEVICE)], served="take.out",
          reference="exact")
    check(lambda t, i, o: torch.take(t, i, out=o.t()), [x, idx, torch.empty(5, 4, device=DEVICE)],
          served="take.out", reference="exact")
    with quiet():
        check(lambda t, i, o: torch.take(t, i, out=o), [x, idx, torch.empty(3, device=DEVICE)], served="take.out",
              reference="exact")
    check(lambda t, i, o: torch.take(t, i, out=o), [x, idx, torch.empty(4, 5, device=DEVICE, dtype=torch.float64)])
    check(lambda t, i: torch.take(t, i), [x, idx.int()])
    check(lambda t, i: torch.take(t, i), [x, idx.float()])
    check(lambda t, i: torch.take(t, i), [make((0,), torch.float32), idx[:0]], served="take", reference="exact")


@cpu_only()
def test_take_out_of_range():
    x = make((2, 3), torch.float32)
    for bad in [6, -7]:
        check(lambda t, i: torch.take(t, i), [x, torch.tensor([0, bad])])
        assert isinstance(raised(lambda: torch.take(x, torch.tensor([bad]))), IndexError)
    check(lambda t, i: torch.take(t, i), [make((0,), torch.float32), torch.tensor([0])])


# ---- one_hot (torch's composite: zeros, then scatter_.value) -------------------------------------

def test_one_hot():
    idx = torch.tensor([[0, 3], [2, 2]], device=DEVICE)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        got = F.one_hot(idx, 5)
    assert served_count(counts, "scatter_.value") == 1
    assert torch.equal(got, F.one_hot(idx, 5))


# ---- isin -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tests", [5, 200], ids=["few", "many"])  # compared with each, or searched
@pytest.mark.parametrize("dtype", REAL, ids=str)
def test_isin(dtype, tests):
    el = make((7, 9), dtype, low=-20, high=20)
    te = make((tests,), dtype, low=-20, high=20)
    for invert in [False, True]:
        check(lambda e, t: torch.isin(e, t, invert=invert), [el, te], served="isin.Tensor_Tensor")
        check(lambda e, t: torch.isin(e.t(), t[::2].reshape(-1, 1) if t.numel() > 5 else t, invert=invert),
              [el, te], served="isin.Tensor_Tensor")
        # assume_unique promises both sides distinct
        check(lambda e, t: torch.isin(e, t, assume_unique=True, invert=invert), [el.unique(), te.unique()],
              served="isin.Tensor_Tensor")


@pytest.mark.parametrize("tests", [5, 200], ids=["few", "many"])
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_isin_specials(dtype, tests):
    nan, inf = float("nan"), float("inf")
    el = torch.tensor([nan, 0.0, -0.0, inf, -inf, 1.5, -2.0, 3.0], device=DEVICE).to(dtype)
    te = make((tests,), dtype, low=-20, high=20)
    te[:4] = torch.tensor([nan, -0.0, -inf, 1.5], device=DEVICE).to(dtype)
    for invert in [False, True]:
        check(lambda e, t: torch.isin(e, t, invert=invert), [el, te], served="isin.Tensor_Tensor")
        check(lambda e, t: torch.isin(e, -t, invert=invert), [el, te], served="isin.Tensor_Tensor")


def test_isin_forms():
    el = make((4, 6), torch.int64, low=-9, high=9)
    te = make((50,), torch.int32, low=-9, high=9)
    check(lambda e, t: torch.isin(e, t), [el, te], served="isin.Tensor_Tensor")  # promoted
    check(lambda e, t: torch.isin(e, t), [el.to(torch.int8), te.to(torch.uint8)], served="isin.Tensor_Tensor")
    check(lambda e, t: torch.isin(e, t), [el, te.double() + 0.5], served="isin.Tensor_Tensor")
    check(lambda e, t: torch.isin(e, t), [el[:0], te], served="isin.Tensor_Tensor")
    check(lambda e, t: torch.isin(e, t), [el, te[:0]], served="isin.Tensor_Tensor")
    check(lambda e, t: torch.isin(e, t), [el[0, 0], te], served="isin.Tensor_Tensor")
    check(lambda e, t, o: torch.isin(e, t, out=o), [el, te, torch.empty(4, 6, device=DEVICE, dtype=torch.bool)],
          served="isin.Tensor_Tensor_out")
    check(lambda e, t, o: torch.isin(e, t, invert=True, out=o.t()),
          [el, te, torch.empty(6, 4, device=DEVICE, dtype=torch.bool)], served="isin.Tensor_Tensor_out")
    check(lambda e, t, o: torch.isin(e, t, out=o), [el, te, torch.empty(4, 6, device=DEVICE)])
    # scalar forms
    for value in [3, -2.5, 4.0]:
        for invert in [False, True]:
            check(lambda e: torch.isin(e, value, invert=invert), [el], served="isin.Tensor_Scalar")
            check(lambda t: torch.isin(value, t, invert=invert), [te], served="isin.Scalar_Tensor")
    check(lambda e, o: torch.isin(e, 3, out=o), [el, torch.empty(4, 6, device=DEVICE, dtype=torch.bool)],
          served="isin.Tensor_Scalar_out")
    with quiet():  # torch's own Scalar_Tensor out= resizes a 0-d out (and warns)
        check(lambda t, o: torch.isin(3, t, out=o), [te, torch.empty((), device=DEVICE, dtype=torch.bool)],
              served="isin.Scalar_Tensor_out")
    check(lambda e, o: torch.isin(e, 3, out=o), [el, torch.empty(4, 6, device=DEVICE)])
    # torch's errors: bool and complex
    check(lambda e, t: torch.isin(e, t), [el > 0, te > 0])
    check(lambda e, t: torch.isin(e, t), [el.to(torch.complex64), te])
    check(lambda e: torch.isin(e, True), [el > 0])
    check(lambda e: torch.isin(e, 1j), [el])
    check(lambda t: torch.isin(True, t), [te])


def test_isin_large():
    el = make((3000,), torch.float32, low=-500, high=500).round()
    te = make((1500,), torch.float32, low=-500, high=500).round()
    check(lambda e, t: torch.isin(e, t), [el, te], served="isin.Tensor_Tensor")
    check(lambda e, t: torch.isin(e, t, invert=True), [el.long(), te.long()], served="isin.Tensor_Tensor")
