"""Error parity: a call torch rejects, gemforge rejects with the same exception type and a message
that names the same problem."""

import pytest
import torch
import torch.nn.functional as F

import gemforge
from conftest import BACKEND, DEVICE, assert_same_error, make, raised


def _f(*shape, dtype=torch.float32):
    return make(shape, dtype, DEVICE)


def _i(*shape, dtype=torch.int64):
    return make(shape, dtype, DEVICE)


def _b(*shape):
    return make(shape, torch.bool, DEVICE)


def _partial_overlap_inplace():
    x = _f(10)
    x[1:].add_(x[:-1])


def _partial_overlap_out():
    x = _f(10)
    torch.add(x[:-1], 1, out=x[1:])


def _partial_overlap_unary():
    x = _f(10)
    torch.neg(x[:-1], out=x[1:])


def _internal_overlap_out():
    torch.add(_f(3), _f(3), out=torch.empty(1, device=DEVICE).expand(3))


def _internal_overlap_inplace():
    _f(1).expand(4).mul_(2)


def _internal_overlap_copy():
    _f(1).expand(4).copy_(_f(4))


# (id, call, a phrase torch's message contains, which gemforge's must contain too)
CASES = [
    ("broadcast_mismatch", lambda: torch.add(_f(3), _f(4)), "must match the size"),
    ("broadcast_mismatch_where", lambda: torch.where(_b(3), _f(4), _f(3)), "must match"),
    ("broadcast_mismatch_out", lambda: torch.mul(_f(2, 3), _f(3, 2), out=_f(2, 3)),
     "must match the size"),
    ("inplace_broadcast_shape", lambda: _f(3, 1).add_(_f(3, 4)), "broadcast shape"),
    ("inplace_broadcast_unary_other", lambda: _f(4).mul_(_f(2, 4)), "broadcast shape"),
    ("int_add_float_inplace", lambda: _i(3).add_(_f(3)), "can't be cast"),
    ("int_div_inplace", lambda: _i(3).div_(_i(3) + 5), "can't be cast"),
    ("int_exp_inplace", lambda: _i(3).exp_(), "can't be cast"),
    ("int_mul_scalar_inplace", lambda: _i(3).mul_(1.5), "can't be cast"),
    ("float_into_int_out", lambda: torch.add(_f(3), _f(3), out=_i(3)), "can't be cast"),
    ("float_into_int_out_unary", lambda: torch.sqrt(_f(3), out=_i(3)), "can't be cast"),
    ("complex_into_float_out", lambda: torch.mul(_f(3, dtype=torch.complex64), 2, out=_f(3)),
     "can't be cast"),
    ("compare_inplace_to_bool_from_float", lambda: _b(3).add_(_f(3)), "can't be cast"),
    ("internal_overlap_out", _internal_overlap_out, "more than one element"),
    ("internal_overlap_inplace", _internal_overlap_inplace, "more than one element"),
    ("internal_overlap_copy", _internal_overlap_copy, "more than one element"),
    ("partial_overlap_inplace", _partial_overlap_inplace, "single memory location"),
    ("partial_overlap_out", _partial_overlap_out, "single memory location"),
    ("partial_overlap_unary_out", _partial_overlap_unary, "single memory location"),
    ("neg_bool", lambda: torch.neg(_b(3)), "bool"),
    ("neg_bool_inplace", lambda: _b(3).neg_(), "bool"),
    ("sub_bool", lambda: torch.sub(_b(3), _b(3)), "bool"),
    ("sub_bool_scalar", lambda: torch.ops.aten.sub.Scalar(_b(3), True), "bool"),
    ("alpha_float_with_ints", lambda: torch.add(_i(3), _i(3), alpha=1.5), "alpha"),
    ("alpha_float_with_ints_sub", lambda: torch.sub(_i(3), _i(3), alpha=0.5), "alpha"),
    ("alpha_float_with_ints_scalar", lambda: torch.ops.aten.add.Scalar(_i(3), 2, 1.5), "alpha"),
    ("gelu_int", lambda: F.gelu(_i(3)), "Long"),
    ("gelu_bad_approximate", lambda: F.gelu(_f(3), approximate="fast"), "approximate"),
    ("silu_int", lambda: F.silu(_i(3)), "Long"),
    ("relu_bool", lambda: torch.relu(_b(3)), "relu"),
    ("div_bad_rounding_mode", lambda: torch.div(_f(3), _f(3), rounding_mode="bad"), "bad"),
    ("div_bad_rounding_mode_scalar", lambda: torch.div(_f(3), 2, rounding_mode="round"), "round"),
    ("div_complex_floor", lambda: torch.div(_f(3, dtype=torch.complex64), 2,
                                            rounding_mode="floor"), "complex"),
    ("where_non_bool_condition", lambda: torch.where(_i(3), _f(3), _f(3)), "bool"),
    ("where_float_condition", lambda: torch.where(_f(3), _f(3), _f(3)), "bool"),
    ("pow_int_negative_scalar", lambda: torch.pow(_i(3), -2), "negative"),
    ("pow_int_negative_scalar_inplace", lambda: _i(3).pow_(-1), "negative"),
    ("clamp_without_bounds", lambda: torch.clamp(_f(3)), "min"),
    ("clamp_complex", lambda: torch.clamp(_f(3, dtype=torch.complex64), 0, 1), "not"),
    ("compare_complex", lambda: torch.lt(_f(3, dtype=torch.complex64), 0), "not"),
    ("fill_non_zero_dim_value", lambda: _f(4).fill_(_f(2)), "0-dimension"),
    ("fill_overflow", lambda: _i(4, dtype=torch.int8).fill_(1000), "overflow"),
    ("fill_overflow_half", lambda: _f(4, dtype=torch.float16).fill_(1e10), "overflow"),
    ("fill_overflow_empty", lambda: _i(0, dtype=torch.uint8).fill_(300), "overflow"),
    ("fill_complex_into_real", lambda: _f(4).fill_(1 + 2j), "overflow"),
    ("copy_shape_mismatch", lambda: _f(3, 4).copy_(_f(5)), "must match"),
]


@pytest.mark.parametrize("call,phrase", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_parity(call, phrase):
    torch.manual_seed(0)
    torch_error = raised(call)
    assert torch_error is not None, "torch accepts this call; the case is wrong"
    assert phrase.lower() in str(torch_error).lower(), f"torch's message changed: {torch_error}"

    torch.manual_seed(0)
    with gemforge.use_gems(backends=[BACKEND]):
        gems_error = raised(call)
    assert not gemforge.is_enabled()
    assert_same_error(torch_error, gems_error)
    assert phrase.lower() in str(gems_error).lower(), (
        f"gemforge's message does not mention {phrase!r}:\n{gems_error}\n"
        f"torch's message:\n{torch_error}")


def test_abs_bool_inplace_follows_torch():
    """torch's cpu kernel refuses abs_ on bool; its CUDA kernel accepts it (and changes nothing).
    gemforge does what torch does on each device."""
    x = _b(3)  # made once with torch's generator: under gemforge the random ops are its own

    def call():
        return x.clone().abs_()

    torch_error = raised(call)
    with gemforge.use_gems(backends=[BACKEND]):
        gems_error = raised(call)
    if torch_error is not None:
        assert_same_error(torch_error, gems_error)
        assert "bool" in str(gems_error).lower()
        return
    assert gems_error is None, f"torch accepts the call, gemforge raised {gems_error!r}"
    expected = call()
    with gemforge.use_gems(backends=[BACKEND]):
        got = call()
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("op", [torch.add, torch.sub], ids=["add", "sub"])
def test_alpha_with_float_out_follows_torch(op):
    """torch checks alpha against its iterator's output dtype: on the cpu that is the inputs'
    common dtype (it computes into a temporary) and the call raises; on the GPU it is out='s
    dtype and the call succeeds. gemforge does what torch does on each."""
    a, b = _i(3), _i(3)  # made once with torch's generator: under gemforge the random ops are its own

    def call():
        return op(a, b, alpha=0.5, out=torch.empty(3, device=DEVICE))

    torch_error = raised(call)
    with gemforge.use_gems(backends=[BACKEND]):
        gems_error = raised(call)
    if torch_error is not None:
        assert_same_error(torch_error, gems_error)
        return
    assert gems_error is None, f"torch accepts the call, gemforge raised {gems_error!r}"
    expected = call()
    with gemforge.use_gems(backends=[BACKEND]), gemforge.collect_stats() as served:
        got = call()
    torch.testing.assert_close(got, expected)
    assert sum(served.values()) >= 1


@pytest.mark.cuda
@pytest.mark.parametrize("call", [
    lambda: torch.add(_f(3), torch.ones(3)),
    lambda: torch.where(_b(3), _f(3), torch.ones(3)),
    lambda: _f(3).mul_(torch.ones(3)),
    lambda: torch.add(_f(3), _f(3), out=torch.empty(3)),
    lambda: torch.clamp(_f(3), torch.zeros(3), None),
    lambda: torch.neg(_f(3), out=torch.empty(3)),
], ids=["add", "where", "mul_", "add_out_on_cpu", "clamp_tensor", "neg_out_on_cpu"])
def test_tensors_on_different_devices(call):
    torch_error = raised(call)
    assert torch_error is not None
    with gemforge.use_gems(backends=[BACKEND]):
        gems_error = raised(call)
    assert_same_error(torch_error, gems_error)
    assert "device" in str(gems_error), str(gems_error)


def test_error_leaves_gemforge_usable():
    """After an error inside a served op, the same op still works and is still served."""
    a, b = _f(3), _f(3)
    with gemforge.use_gems(include=["add"], backends=[BACKEND]):
        assert raised(torch.add, a, _f(4)) is not None
        with gemforge.collect_stats() as served:
            result = torch.add(a, b)
    assert sum(served.values()) == 1, served
    torch.testing.assert_close(result, a + b)


def test_integer_division_by_zero_matches_torch():
    """Integer division by zero: on the CPU torch raises ZeroDivisionError, on CUDA it does not
    raise; gemforge must do the same as torch on the device."""
    a, zero = _i(4), torch.zeros(4, dtype=torch.int64, device=DEVICE)
    for mode in ("trunc", "floor"):
        torch_error = raised(torch.div, a, zero, rounding_mode=mode)
        with gemforge.use_gems(backends=[BACKEND]):
            gems_error = raised(torch.div, a, zero, rounding_mode=mode)
        if torch_error is None:
            assert gems_error is None, gems_error
        else:
            assert_same_error(torch_error, gems_error)
