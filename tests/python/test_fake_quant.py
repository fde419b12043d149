"""Fake quantization (issue 5's quantization family): per-tensor and per-channel fake
quantization with their masks, the tensor-qparams form that torch.ao's FakeQuantize calls, the
learnable per-tensor and per-channel forms, the learnable per-tensor backward, their out= and
composite forms, and dequantize of a plain tensor.

Every floating dtype, 0-d, empty, odd and non-contiguous inputs, a channels-last input, NaN, the
infinities, values beyond int64 and rounding ties. Results are checked two ways: exactly against
torch's own kernel on the same device (gemforge follows its arithmetic, which per channel differs
between cpu and cuda: rounding order, float or double results, NaN and values beyond int64), and
against the quantizer's formula in float64 away from rounding ties. Gradients of the learnable form against torch's; torch's errors for bad arguments.
"""

from __future__ import annotations

import pytest
import torch
from torch._prims_common import is_non_overlapping_and_dense_or_false as is_non_overlapping_and_dense

import gemforge
from conftest import DEVICE, FLOATS, assert_same_error, make, raised, served_count

A = torch.ops.aten
RANGES = [(0, 255), (-128, 127)]


def specials(t):
    """t (floating, numel >= 10) with NaN, the infinities, values beyond int64, zeros and exact
    rounding ties (2.5 / 3.5 steps of the scale used below) over its first elements."""
    flat = t.clone().reshape(-1)
    values = [float("nan"), float("inf"), -float("inf"), 1e30, -1e30, 0.0, -0.0, 0.25, 0.35, -0.25]
    flat[: len(values)] = torch.tensor(values, dtype=t.dtype if t.dtype != torch.bfloat16 else torch.float32)
    return flat.reshape(t.shape)


def run_both(fn, *args, served):
    """fn under torch's kernels and under gemforge's; gemforge must serve `served` once."""
    expected = fn(*args)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        got = fn(*args)
    assert served_count(counts, served) == 1, dict(counts)
    return expected, got


def assert_exact(expected, got):
    """Same dtype, shape, strides, mask and values (NaN where torch has NaN) as torch's result."""
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = got if isinstance(got, tuple) else (got,)
    assert len(expected) == len(got)
    for e, g in zip(expected, got):
        assert g.dtype == e.dtype and g.shape == e.shape and g.device == e.device
        if is_non_overlapping_and_dense(e):
            assert g.stride() == e.stride()
        torch.testing.assert_close(g, e, rtol=0, atol=0, equal_nan=True)


def formula(x, scale, zero_point, qmin, qmax):
    """The quantize-dequantize round trip in float64, and the elements far from a rounding tie and
    within int64 (torch's cpu kernels turn larger values into INT64_MIN: quant_min)."""
    v = x.double() / torch.as_tensor(scale, dtype=torch.float64)
    q = torch.round(v) + zero_point
    out = (q.clamp(qmin, qmax) - zero_point) * scale
    mask = (q >= qmin) & (q <= qmax)
    frac = (v - v.floor() - 0.5).abs()
    return out.reshape(-1), mask.reshape(-1), ((v.abs() < 1e15) & (frac > 1e-2)).reshape(-1)


def assert_formula(x, out, mask, scale, zero_point, qmin, qmax):
    ref, ref_mask, far = formula(x, scale, zero_point, qmin, qmax)
    out, mask = out.reshape(-1), (mask.reshape(-1) if mask is not None else None)
    tol = 1e-3 if x.dtype == torch.float16 else 1.6e-2 if x.dtype == torch.bfloat16 else 1e-6
    torch.testing.assert_close(out.double()[far], ref[far], rtol=tol, atol=tol * 255 * float(scale.max()))
    if mask is not None:
        assert torch.equal(mask[far], ref_mask[far])


# ---- per tensor --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("qrange", RANGES, ids=str)
def test_per_tensor(dtype, qrange):
    qmin, qmax = qrange
    zero_point = (qmin + qmax) // 2 + 3
    for shape in [(), (0,), (7,), (33, 65), (2, 3, 5, 7)]:
        x = make(shape, dtype, low=-40, high=40)
        if x.numel() >= 10:
            x = specials(x)
        expected, got = run_both(A.fake_quantize_per_tensor_affine_cachemask, x, 0.1, zero_point, qmin, qmax,
                                 served="fake_quantize_per_tensor_affine_cachemask")
        assert_exact(expected, got)
        assert_formula(x, got[0], got[1], torch.tensor([0.1]).to(x.device), zero_point, qmin, qmax)
    # non-contiguous: a transpose keeps its layout in the outputs, a slice gets a contiguous one
    x = make((40, 33), dtype, low=-40, high=40)
    for view in (x.t(), x[::2, 1:]):
        assert_exact(*run_both(A.fake_quantize_per_tensor_affine_cachemask, view, 0.25, zero_point, qmin, qmax,
                               served="fake_quantize_per_tensor_affine_cachemask"))
    # the composite: torch.fake_quantize_per_tensor_affine returns the first output
    assert_exact(*run_both(torch.fake_quantize_per_tensor_affine, x, 0.25, zero_point, qmin, qmax,
                           served="fake_quantize_per_tensor_affine_cachemask"))


def test_per_tensor_out():
    x = make((5, 9), torch.float32, low=-40, high=40)
    out0, out1 = torch.empty(0, device=DEVICE), torch.empty(0, dtype=torch.bool, device=DEVICE)
    expected = A.fake_quantize_per_tensor_affine_cachemask(x, 0.3, 1, -128, 127)
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        got = A.fake_quantize_per_tensor_affine_cachemask.out(x, 0.3, 1, -128, 127, out0=out0, out1=out1)
    assert served_count(counts, "fake_quantize_per_tensor_affine_cachemask") == 1
    assert got[0] is out0 and got[1] is out1
    assert_exact(expected, (out0, out1))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_tensor_qparams(dtype):
    """What torch.ao.quantization.FakeQuantize calls: scale, zero point and the on/off flag as
    tensors (off: the input itself and an all-true mask)."""
    x = specials(make((17, 31), dtype, low=-40, high=40))
    scale = torch.tensor([0.1], device=DEVICE)
    zero_point = torch.tensor([3], dtype=torch.int32, device=DEVICE)
    for enabled in (1, 0):
        flag = torch.tensor([enabled], device=DEVICE)
        expected, got = run_both(A._fake_quantize_per_tensor_affine_cachemask_tensor_qparams, x, scale, zero_point,
                                 flag, 0, 255, served="_fake_quantize_per_tensor_affine_cachemask_tensor_qparams")
        assert_exact(expected, got)
    assert_exact(*run_both(torch.fake_quantize_per_tensor_affine, x, scale, zero_point, 0, 255,
                           served="_fake_quantize_per_tensor_affine_cachemask_tensor_qparams"))


def test_fake_quantize_module():
    """torch.ao's FakeQuantize (an observer, then the tensor-qparams op) in training: its output and
    the input's gradient (the mask) as torch's."""
    fq_torch = torch.ao.quantization.FakeQuantize().to(DEVICE)
    fq_gems = torch.ao.quantization.FakeQuantize().to(DEVICE)
    x = make((64, 128), torch.float32, low=-4, high=4)
    for _ in range(2):
        xt = x.clone().requires_grad_()
        xg = x.clone().requires_grad_()
        expected = fq_torch(xt)
        expected.sum().backward()
        with gemforge.use_gems(), gemforge.collect_stats() as counts:
            got = fq_gems(xg)
            got.sum().backward()
        assert served_count(counts, "_fake_quantize_per_tensor_affine_cachemask_tensor_qparams") == 1
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
        torch.testing.assert_close(xg.grad, xt.grad, rtol=0, atol=0)
        x = x * 1.5


# ---- per channel -------------------------------------------------------------------------------

def channel_params(channels, zp_dtype, qmin, qmax):
    scale = torch.rand(channels, device=DEVICE) * 0.2 + 0.02
    if zp_dtype == torch.int32:
        zero_point = torch.randint(qmin, qmax + 1, (channels,), device=DEVICE).to(torch.int32)
    else:
        zero_point = (torch.rand(channels, device=DEVICE) * (qmax - qmin) + qmin).to(zp_dtype)
    return scale, zero_point


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("zp_dtype", [torch.int32, torch.float32, torch.float16], ids=str)
def test_per_channel(dtype, zp_dtype):
    qmin, qmax = -128, 127
    for shape, axis in [((7,), 0), ((33, 65), 0), ((33, 65), 1), ((2, 3, 5, 7), 2), ((4, 0, 3), 2)]:
        x = make(shape, dtype, low=-20, high=20)
        if x.numel() >= 10:
            x = specials(x)
        scale, zero_point = channel_params(shape[axis], zp_dtype, qmin, qmax)
        expected, got = run_both(A.fake_quantize_per_channel_affine_cachemask, x, scale, zero_point, axis, qmin,
                                 qmax, served="fake_quantize_per_channel_affine_cachemask")
        assert_exact(expected, got)
        view = [1] * x.dim()
        view[axis] = -1
        if zp_dtype == torch.int32 and x.numel():
            assert_formula(x, got[0], got[1], scale.view(view).double(), zero_point.view(view).double(), qmin, qmax)
    # a transpose, a slice and channels-last: the channel found through the input's own layout; a
    # sliced permutation (not dense): the outputs laid out in its order of dims, as torch's
    x = make((6, 8, 5, 4), dtype, low=-20, high=20)
    for view, axis in [(x.transpose(0, 1), 0), (x[:, ::2], 1), (x.contiguous(memory_format=torch.channels_last), 1),
                       (x.permute(0, 3, 1, 2)[..., ::2], 2)]:
        scale, zero_point = channel_params(view.shape[axis], zp_dtype, qmin, qmax)
        assert_exact(*run_both(A.fake_quantize_per_channel_affine_cachemask, view, scale, zero_point, axis, qmin, qmax,
                               served="fake_quantize_per_channel_affine_cachemask"))
    scale, zero_point = channel_params(8, zp_dtype, qmin, qmax)
    assert_exact(*run_both(torch.fake_quantize_per_channel_affine, x, scale, zero_point, 1, qmin, qmax,
                           served="fake_quantize_per_channel_affine_cachemask"))


@pytest.mark.skipif(DEVICE != "cuda", reason="torch's cpu kernel fails an internal assert on a bf16 scale")
def test_per_channel_bf16_scale():
    x = make((16, 24), torch.bfloat16, low=-20, high=20)
    scale, zero_point = channel_params(24, torch.int32, 0, 255)
    assert_exact(*run_both(A.fake_quantize_per_channel_affine_cachemask, x, scale.bfloat16(), zero_point, 1, 0, 255,
                           served="fake_quantize_per_channel_affine_cachemask"))


# ---- learnable forms ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_learnable_per_tensor(dtype):
    x = specials(make((19, 23), dtype, low=-20, high=20))
    scale = torch.tensor([0.1], device=DEVICE)
    for zp in (3.4, 3.5, -300.0):  # rounded, a tie, clamped into the range
        zero_point = torch.tensor([zp], device=DEVICE)
        assert_exact(*run_both(A._fake_quantize_learnable_per_tensor_affine, x, scale, zero_point, -128, 127, 1.0,
                               served="_fake_quantize_learnable_per_tensor_affine"))
    assert_exact(*run_both(A._fake_quantize_learnable_per_tensor_affine, x.t(), scale, zero_point, 0, 255, 0.5,
                           served="_fake_quantize_learnable_per_tensor_affine"))
    if DEVICE == "cuda":  # scale and zero point on the host: torch's cuda kernel rejects them
        torch_error = raised(A._fake_quantize_learnable_per_tensor_affine, x, scale.cpu(), zero_point.cpu(), 0, 255,
                             1.0)
        with gemforge.use_gems():
            gems_error = raised(A._fake_quantize_learnable_per_tensor_affine, x, scale.cpu(), zero_point.cpu(), 0,
                                255, 1.0)
        assert_same_error(torch_error, gems_error)


@pytest.mark.parametrize("shape", [(7,), (64, 257), (3, 1000)], ids=str)
def test_learnable_per_tensor_backward(shape):
    x = make(shape, torch.float32, low=-30, high=30)
    grad = make(shape, torch.float32)
    scale = torch.tensor([0.2], device=DEVICE)
    zero_point = torch.tensor([2.6], device=DEVICE)
    for qmin, qmax, grad_factor in [(-128, 127, 1.0), (0, 255, 0.3)]:
        expected, got = run_both(A._fake_quantize_learnable_per_tensor_affine_backward, grad, x, scale, zero_point,
                                 qmin, qmax, grad_factor, served="_fake_quantize_learnable_per_tensor_affine_backward")
        torch.testing.assert_close(got[0], expected[0], rtol=0, atol=0)
        # sums over the tensor, in another order than torch's
        for e, g in zip(expected[1:], got[1:]):
            assert g.shape == e.shape == (1,) and g.device == e.device
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-4 * x.numel() ** 0.5)
        # float64 reference of the two sums
        xq = torch.round(x.double() / 0.2) + 3
        inside = (xq >= qmin) & (xq <= qmax)
        dscale = torch.where(inside, (((xq.clamp(qmin, qmax) - 3) * 0.2) - x.double()) / 0.2,
                             torch.where(xq < qmin, qmin - 3.0, qmax - 3.0))
        ref = (grad.double() * dscale).sum() * grad_factor
        torch.testing.assert_close(got[1].double(), ref.reshape(1), rtol=1e-4, atol=1e-3 * x.numel() ** 0.5)
        ref_zp = (grad.double() * torch.where(inside, 0.0, -0.2)).sum() * grad_factor
        torch.testing.assert_close(got[2].double(), ref_zp.reshape(1), rtol=1e-4, atol=1e-3 * x.numel() ** 0.5)


def test_learnable_per_tensor_training():
    """Autograd through the learnable op: the input's, scale's and zero point's gradients as torch's,
    the backward served by gemforge."""
    x = make((32, 48), torch.float32, low=-10, high=10)

    def step():
        xs = x.clone().requires_grad_()
        scale = torch.tensor([0.1], device=DEVICE, requires_grad=True)
        zero_point = torch.tensor([1.3], device=DEVICE, requires_grad=True)
        y = torch._fake_quantize_learnable_per_tensor_affine(xs, scale, zero_point, -64, 63, 1.0)
        (y * y).sum().backward()
        return y, xs.grad, scale.grad, zero_point.grad

    expected = step()
    with gemforge.use_gems(), gemforge.collect_stats() as counts:
        got = step()
    assert served_count(counts, "_fake_quantize_learnable_per_tensor_affine") == 1
    assert served_count(counts, "_fake_quantize_learnable_per_tensor_affine_backward") == 1
    torch.testing.assert_close(got[0], expected[0], rtol=0, atol=0)
    torch.testing.assert_close(got[1], expected[1], rtol=0, atol=0)
    torch.testing.assert_close(got[2], expected[2], rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(got[3], expected[3], rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_learnable_per_channel(dtype):
    x = specials(make((12, 20), dtype, low=-20, high=20))
    scale = torch.rand(20, device=DEVICE) * 0.2 + 0.02
    zero_point = torch.tensor([-300.0, 300.0, 2.5, 3.5] + [0.4] * 16, device=DEVICE)  # clamped, ties
    assert_exact(*run_both(A._fake_quantize_learnable_per_channel_affine, x, scale, zero_point, 1, -128, 127, 1.0,
                           served="_fake_quantize_learnable_per_channel_affine"))


# ---- dequantize and errors ---------------------------------------------------------------------

def test_dequantize_plain():
    for x in (make((5, 6), torch.int32, low=-100, high=100), make((4,), torch.float16), make((), torch.float64)):
        assert_exact(*run_both(torch.dequantize, x, served="dequantize.self"))
    x = make((3, 3), torch.float32)
    with gemforge.use_gems():
        assert torch.dequantize(x) is x  # torch's float input comes back as itself


def test_errors():
    x = make((4, 6), torch.float32)
    scale = torch.rand(6, device=DEVICE) + 0.1
    zp = torch.zeros(6, dtype=torch.int32, device=DEVICE)
    one = torch.tensor([0.1], device=DEVICE)
    cases = [
        (A.fake_quantize_per_tensor_affine_cachemask, (x, 0.1, 0, 10, 5)),            # quant_min > quant_max
        (A.fake_quantize_per_tensor_affine_cachemask, (x, 0.1, 300, 0, 255)),         # zero point out of range
        (A.fake_quantize_per_tensor_affine_cachemask, (x.int(), 0.1, 0, 0, 255)),     # integer input
        (A.fake_quantize_per_channel_affine_cachemask, (x, scale, zp, 2, 0, 255)),    # axis out of range
        (A.fake_quantize_per_channel_affine_cachemask, (x, scale, zp, -1, 0, 255)),   # negative axis
        (A.fake_quantize_per_channel_affine_cachemask, (x, scale, zp, 0, 0, 255)),    # scale size != dim size
        (A.fake_quantize_per_channel_affine_cachemask, (x, scale.double(), zp, 1, 0, 255)),  # scale dtype
        (A.fake_quantize_per_channel_affine_cachemask, (x, scale, zp.long(), 1, 0, 255)),   # zero point dtype
        (A.fake_quantize_per_channel_affine_cachemask, (x, scale, zp - 5, 1, 0, 255)),  # zero points out of range
        (A._fake_quantize_learnable_per_tensor_affine, (x, one, one, 10, 5, 1.0)),
        (A._fake_quantize_learnable_per_tensor_affine_backward, (x, x, one, one, 1, 255, 1.0)),  # 0 outside range
        (A._fake_quantize_learnable_per_tensor_affine_backward, (x.double(), x.double(), one, one, 0, 255, 1.0)),
    ]
    for fn, args in cases:
        torch_error = raised(fn, *args)
        with gemforge.use_gems():
            gems_error = raised(fn, *args)
        assert_same_error(torch_error, gems_error)


# ---- the fused observer (cpu) --------------------------------------------------------------------

def observer_state():
    return [torch.tensor([float("inf")]), torch.tensor([-float("inf")]), torch.tensor([1.0]),
            torch.tensor([0], dtype=torch.int32)]


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("qrange", RANGES, ids=str)
def test_fused_moving_avg_obs_fake_quant(symmetric, qrange):
    """Steps of torch.ao's fused observer on the cpu: the running min/max, scale and zero point it
    writes and the fake-quantized output and mask, exactly as torch's, with the observer and the
    fake quantization switched off in some steps; tiny and all-positive inputs reach the small-scale
    floor and the one-sided ranges."""
    qmin, qmax = qrange
    ours, theirs = observer_state(), observer_state()
    steps = [(make((8, 16), torch.float32, "cpu", -4, 4), 1, 1), (make((8, 16), torch.float32, "cpu", -1, 6), 1, 0),
             (make((8, 16), torch.float32, "cpu", -9, 2), 0, 1), (make((3, 5), torch.float32, "cpu", 0, 1e-6), 1, 1),
             (make((4, 4), torch.float32, "cpu", 1, 3), 1, 1), (make((2, 7), torch.float32, "cpu", -5, -1), 1, 1)]
    for x, observe, fake in steps:
        on, fq = torch.tensor([observe]), torch.tensor([fake])
        expected = torch.ops.aten._fused_moving_avg_obs_fq_helper(x, on, fq, *theirs, 0.01, qmin, qmax, 0, False,
                                                                  symmetric)
        with gemforge.use_gems(backends=["cpu"]), gemforge.collect_stats() as counts:
            got = torch.ops.aten._fused_moving_avg_obs_fq_helper(x, on, fq, *ours, 0.01, qmin, qmax, 0, False,
                                                                 symmetric)
        assert served_count(counts, "_fused_moving_avg_obs_fq_helper") == 1, dict(counts)
        assert_exact(expected, got)
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("shape", [(6, 16), (5, 3, 7), (4, 2, 3, 5)], ids=str)
def test_fused_observer_per_row(shape, symmetric):
    """The fused observer per row (channels along dim 0) on the cpu: the buffers sized on the first
    call, the per-channel running min/max, scales and zero points, the output and mask exactly as
    torch's, with the observer and the fake quantization switched off in some steps; a sliced
    input; another axis goes to torch's kernel, which raises."""
    def buffers():
        return [torch.empty(0), torch.empty(0), torch.empty(0), torch.empty(0, dtype=torch.int32)]

    ours, theirs = buffers(), buffers()
    steps = [(make(shape, torch.float32, "cpu", -4, 4), 1, 0), (make(shape, torch.float32, "cpu", -4, 4), 1, 1),
             (make(shape, torch.float32, "cpu", -1, 6), 0, 1), (make(shape, torch.float32, "cpu", -9, 2), 1, 1),
             (make(shape, torch.float32, "cpu", 0, 1e-6), 1, 1),
             (make((shape[0], 2 * shape[-1]) + shape[1:-1], torch.float32, "cpu").movedim(1, -1)[..., ::2], 1, 1)]
    for k, (x, observe, fake) in enumerate(steps):
        on, fq = torch.tensor([observe]), torch.tensor([fake])
        expected = torch.ops.aten._fused_moving_avg_obs_fq_helper(x, on, fq, *theirs, 0.01, -128, 127, 0, True,
                                                                  symmetric)
        with gemforge.use_gems(backends=["cpu"]), gemforge.collect_stats() as counts:
            got = torch.ops.aten._fused_moving_avg_obs_fq_helper(x, on, fq, *ours, 0.01, -128, 127, 0, True,
                                                                 symmetric)
        assert served_count(counts, "_fused_moving_avg_obs_fq_helper") == 1, dict(counts)
        assert_exact(expected, got)
        checked = ours[:2] if k == 0 else ours  # the scales and zero points are written by a fake-quant step
        for a, b in zip(checked, theirs):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    x = make(shape, torch.float32, "cpu")
    torch_error = raised(torch.ops.aten._fused_moving_avg_obs_fq_helper, x, torch.tensor([1]), torch.tensor([1]),
                         *buffers(), 0.01, -128, 127, 1, True, symmetric)
    with gemforge.use_gems(backends=["cpu"]):
        gems_error = raised(torch.ops.aten._fused_moving_avg_obs_fq_helper, x, torch.tensor([1]),
                            torch.tensor([1]), *buffers(), 0.01, -128, 127, 1, True, symmetric)
    assert_same_error(torch_error, gems_error)


def test_fused_observer_module():
    """torch.ao's FusedMovingAvgObsFakeQuantize training on the cpu, per tensor and per channel (the
    default QAT weight fake-quantizer's form): outputs, buffers and the input's gradient as
    torch's."""
    from torch.ao.quantization import FusedMovingAvgObsFakeQuantize
    for per_channel in (False, True):
        kwargs = dict(observer=torch.ao.quantization.MovingAveragePerChannelMinMaxObserver, ch_axis=0,
                      qscheme=torch.per_channel_symmetric, dtype=torch.qint8, quant_min=-128,
                      quant_max=127) if per_channel else {}
        fq_torch, fq_gems = FusedMovingAvgObsFakeQuantize(**kwargs), FusedMovingAvgObsFakeQuantize(**kwargs)
        for step in range(3):
            x = make((16, 32), torch.float32, "cpu", -3 - step, 3 + 2 * step)
            xt, xg = x.clone().requires_grad_(), x.clone().requires_grad_()
            expected = fq_torch(xt)
            expected.sum().backward()
            with gemforge.use_gems(backends=["cpu"]), gemforge.collect_stats() as counts:
                got = fq_gems(xg)
                got.sum().backward()
            assert served_count(counts, "_fused_moving_avg_obs_fq_helper") == 1, dict(counts)
            torch.testing.assert_close(got, expected, rtol=0, atol=0)
            torch.testing.assert_close(xg.grad, xt.grad, rtol=0, atol=0)
            for name in ("activation_post_process.min_val", "activation_post_process.max_val", "scale", "zero_point"):
                a, b = fq_gems.state_dict()[name], fq_torch.state_dict()[name]
                torch.testing.assert_close(a, b, rtol=0, atol=0)
