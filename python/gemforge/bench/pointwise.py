"""Pointwise ops: every op contiguous at each float dtype asked for, plus, in bf16, one
broadcast case and one non-contiguous (transposed operand) case.

An op is one row of OPS: its torch call and what each operand is. The layouts:
  contig      every operand M x N, contiguous
  bcast_row   the last read operand is 1 x N (a unary op reads it expanded to M x N)
  bcast_col   the same with M x 1
  transposed  the first read operand is the transpose of a contiguous N x M tensor
Each op gets one of the two broadcasts, alternating down the table, so both patterns appear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from . import shapes
from .harness import DTYPES, Case, Family
from .report import bandwidth_line, errors_line, slowest_line

# What an operand is. The read ones are drawn at random, never zeros.
RANDOM = "random"        # normal, case dtype
POSITIVE = "positive"    # in [0.5, 1.5), case dtype: log, sqrt, rsqrt, the base of pow
BOOL = "bool"            # comparison of two random tensors
DST = "dst"              # written in place, not read; case dtype
DST_FP32 = "dst_fp32"    # written in place, not read; float32 (the cast copy)

READ = (RANDOM, POSITIVE, BOOL)


@dataclass(frozen=True)
class Op:
    name: str
    call: Callable
    operands: tuple
    result: str = "same"            # dtype of the output: "same" (promoted) or "bool"
    dtypes: Optional[tuple] = None  # None: the float dtypes asked for; else exactly these
    broadcast: bool = True          # False where a broadcast operand means nothing (fill_)
    extra_out_bytes: int = 0        # bytes an element of further outputs (frexp's int32 exponent)


def _unary(name, call, operand=RANDOM):
    return Op(name, call, (operand,))


def _compare(name, call):
    return Op(name, call, (RANDOM, RANDOM), result="bool")


OPS = [
    Op("add", torch.add, (RANDOM, RANDOM)),
    Op("sub", torch.sub, (RANDOM, RANDOM)),
    Op("mul", torch.mul, (RANDOM, RANDOM)),
    Op("div", torch.div, (RANDOM, RANDOM)),
    _unary("neg", torch.neg),
    _unary("abs", torch.abs),
    _unary("exp", torch.exp),
    _unary("log", torch.log, POSITIVE),
    _unary("sqrt", torch.sqrt, POSITIVE),
    _unary("rsqrt", torch.rsqrt, POSITIVE),
    _unary("sin", torch.sin),
    _unary("cos", torch.cos),
    _unary("tanh", torch.tanh),
    _unary("sigmoid", torch.sigmoid),
    _unary("relu", torch.relu),
    _unary("gelu", F.gelu),
    _unary("gelu_tanh", lambda x: F.gelu(x, approximate="tanh")),
    _unary("silu", F.silu),
    Op("where", torch.where, (BOOL, RANDOM, RANDOM)),
    _unary("clamp", lambda x: torch.clamp(x, -0.5, 0.5)),
    _unary("pow_scalar", lambda x: torch.pow(x, 2.0)),
    Op("pow", torch.pow, (POSITIVE, RANDOM)),
    _compare("eq", torch.eq),
    _compare("ne", torch.ne),
    _compare("lt", torch.lt),
    _compare("le", torch.le),
    _compare("gt", torch.gt),
    _compare("ge", torch.ge),
    Op("logical_and", torch.logical_and, (BOOL, BOOL), result="bool", dtypes=("bool",)),
    Op("logical_or", torch.logical_or, (BOOL, BOOL), result="bool", dtypes=("bool",)),
    Op("logical_not", torch.logical_not, (BOOL,), result="bool", dtypes=("bool",)),
    Op("fill_", lambda dst: dst.fill_(1.5), (DST,), broadcast=False),
    Op("copy_", lambda dst, src: dst.copy_(src), (DST, RANDOM)),
    Op("copy_cast", lambda dst, src: dst.copy_(src), (DST_FP32, RANDOM), dtypes=("bf16",)),

    # ---- more unary math and special functions
    # POSITIVE for acos, asin, atanh, acosh: half the values in their domain, half out (NaN)
    _unary("acos", torch.acos, POSITIVE),
    _unary("asin", torch.asin, POSITIVE),
    _unary("atan", torch.atan),
    _unary("acosh", torch.acosh, POSITIVE),
    _unary("asinh", torch.asinh),
    _unary("atanh", torch.atanh, POSITIVE),
    _unary("cosh", torch.cosh),
    _unary("sinh", torch.sinh),
    _unary("tan", torch.tan),
    _unary("exp2", torch.exp2),
    _unary("expm1", torch.expm1),
    _unary("log10", torch.log10, POSITIVE),
    _unary("log1p", torch.log1p, POSITIVE),
    _unary("log2", torch.log2, POSITIVE),
    _unary("reciprocal", torch.reciprocal, POSITIVE),
    _unary("deg2rad", torch.deg2rad),
    _unary("rad2deg", torch.rad2deg),
    _unary("sinc", torch.sinc),
    Op("angle", torch.angle, (RANDOM,), dtypes=("fp32",)),  # torch has no fp16/bf16 cuda angle

    # special functions (float32/float64-only ops in torch: fp32 only)
    _unary("erf", torch.erf),
    _unary("erfc", torch.erfc),
    _unary("erfinv", torch.erfinv),
    _unary("lgamma", torch.lgamma, POSITIVE),
    _unary("digamma", torch.digamma, POSITIVE),
    _unary("polygamma_1", lambda x: torch.polygamma(1, x), POSITIVE),
    _unary("polygamma_3", lambda x: torch.polygamma(3, x), POSITIVE),
    _unary("mvlgamma_2", lambda x: torch.mvlgamma(x, 2), POSITIVE),
    _unary("i0", torch.i0),
    _unary("i0e", torch.special.i0e),
    _unary("i1", torch.special.i1),
    _unary("i1e", torch.special.i1e),
    Op("ndtri", torch.special.ndtri, (POSITIVE,), dtypes=("fp32",)),
    Op("erfcx", torch.special.erfcx, (RANDOM,), dtypes=("fp32",)),
    Op("bessel_j0", torch.special.bessel_j0, (RANDOM,), dtypes=("fp32",)),
    Op("bessel_y1", torch.special.bessel_y1, (POSITIVE,), dtypes=("fp32",)),
    Op("modified_bessel_i1", torch.special.modified_bessel_i1, (RANDOM,), dtypes=("fp32",)),
    Op("spherical_bessel_j0", torch.special.spherical_bessel_j0, (RANDOM,), dtypes=("fp32",)),
    Op("modified_bessel_k0", torch.special.modified_bessel_k0, (POSITIVE,), dtypes=("fp32",)),
    Op("igamma", torch.igamma, (POSITIVE, POSITIVE), dtypes=("fp32",)),
    Op("igammac", torch.igammac, (POSITIVE, POSITIVE), dtypes=("fp32",)),
    Op("xlogy", torch.xlogy, (RANDOM, POSITIVE)),
    Op("xlog1py", torch.special.xlog1py, (RANDOM, POSITIVE)),
    Op("chebyshev_t_n9", lambda x: torch.special.chebyshev_polynomial_t(x, 9), (RANDOM,),
       dtypes=("fp32",)),
    Op("legendre_p_n9", lambda x: torch.special.legendre_polynomial_p(x, 9), (RANDOM,),
       dtypes=("fp32",)),
    Op("chebyshev_u_n9", lambda x: torch.special.chebyshev_polynomial_u(x, 9), (RANDOM,),
       dtypes=("fp32",)),
    Op("hermite_h_n9", lambda x: torch.special.hermite_polynomial_h(x, 9), (RANDOM,),
       dtypes=("fp32",)),
    Op("laguerre_l_n9", lambda x: torch.special.laguerre_polynomial_l(x, 9), (POSITIVE,),
       dtypes=("fp32",)),
    Op("airy_ai", torch.special.airy_ai, (RANDOM,), dtypes=("fp32",)),
    # two outputs: GB/s counts the mantissa only (the int32 exponents add 4 bytes an element)
    Op("frexp", torch.frexp, (RANDOM,), extra_out_bytes=4),

    # ---- more binary math, rounding
    Op("atan2", torch.atan2, (RANDOM, RANDOM)),
    Op("maximum", torch.maximum, (RANDOM, RANDOM)),
    Op("fmin", torch.fmin, (RANDOM, RANDOM)),
    Op("remainder", torch.remainder, (RANDOM, POSITIVE)),
    Op("floor_divide", torch.floor_divide, (RANDOM, POSITIVE)),
    Op("hypot", torch.hypot, (RANDOM, RANDOM)),
    Op("logaddexp", torch.logaddexp, (RANDOM, RANDOM)),
    Op("rsub", lambda a, b: torch.rsub(a, b, alpha=2), (RANDOM, RANDOM)),
    Op("lerp", lambda a, b: torch.lerp(a, b, 0.3), (RANDOM, RANDOM)),
    Op("lerp_tensor", torch.lerp, (RANDOM, RANDOM, POSITIVE)),
    Op("addcmul", lambda a, b, c: torch.addcmul(a, b, c, value=0.5), (RANDOM, RANDOM, RANDOM)),
    Op("addcdiv", lambda a, b, c: torch.addcdiv(a, b, c, value=0.5), (RANDOM, RANDOM, POSITIVE)),
    _unary("clamp_min", lambda x: torch.clamp_min(x, 0.0)),
    _unary("floor", torch.floor),
    _unary("round", torch.round),
    _unary("round_decimals", lambda x: torch.round(x, decimals=2)),
    _unary("sign", torch.sign),
    _unary("nan_to_num", torch.nan_to_num),

    # ---- bitwise ops and predicates
    Op("bitwise_and", torch.bitwise_and, (BOOL, BOOL), result="bool", dtypes=("bool",)),
    Op("bitwise_or", torch.bitwise_or, (BOOL, BOOL), result="bool", dtypes=("bool",)),
    Op("bitwise_xor", torch.bitwise_xor, (BOOL, BOOL), result="bool", dtypes=("bool",)),
    Op("bitwise_not", torch.bitwise_not, (BOOL,), result="bool", dtypes=("bool",)),
    Op("logical_xor", torch.logical_xor, (BOOL, BOOL), result="bool", dtypes=("bool",)),
    Op("bitwise_and_int", torch.bitwise_and, (RANDOM, RANDOM), dtypes=("int32",)),
    Op("bitwise_left_shift", torch.bitwise_left_shift, (RANDOM, RANDOM), dtypes=("int32",)),
    Op("bitwise_right_shift", torch.bitwise_right_shift, (RANDOM, RANDOM), dtypes=("int32",)),
    Op("isnan", torch.isnan, (RANDOM,), result="bool"),
    Op("isinf", torch.isinf, (RANDOM,), result="bool"),
    Op("isposinf", torch.isposinf, (RANDOM,), result="bool"),
    Op("signbit", torch.signbit, (RANDOM,), result="bool"),
    Op("isfinite", torch.isfinite, (RANDOM,), result="bool"),  # torch's composite of 4 ops
    # a Scalar operand: x != inf is isfinite's step, rtol * x and atol + x isclose's
    Op("ne_scalar", lambda x: x != float("inf"), (RANDOM,), result="bool"),
    _unary("mul_scalar", lambda x: torch.ops.aten.mul.Scalar(x, 1e-5)),
    _unary("add_scalar", lambda x: torch.ops.aten.add.Scalar(x, 0.5)),
    _unary("div_number", lambda x: x / 3.0),  # on cuda a product with the reciprocal, as torch's
    Op("isclose", torch.isclose, (RANDOM, RANDOM), result="bool"),  # a composite of ~12 ops

    # ---- creation and fill
    # Factories take no input: their rows write a DST operand through out= (1-d ops: its
    # storage as one vector, so the "transposed" case is the contiguous one again).
    Op("zero_", lambda dst: dst.zero_(), (DST,), broadcast=False),
    Op("arange", lambda dst: torch.arange(dst.numel(), out=dst.as_strided((dst.numel(),), (1,))),
       (DST,), broadcast=False),
    Op("linspace", lambda dst: torch.linspace(-1, 1, dst.numel(),
                                              out=dst.as_strided((dst.numel(),), (1,))),
       (DST,), broadcast=False),
    Op("logspace", lambda dst: torch.logspace(-1, 1, dst.numel(),
                                              out=dst.as_strided((dst.numel(),), (1,))),
       (DST,), broadcast=False),
    Op("eye", lambda dst: torch.eye(*dst.shape, out=dst), (DST,), broadcast=False),
    _unary("tril", torch.tril),
    Op("triu_", lambda x: x.triu_(1), (RANDOM,), broadcast=False),
    Op("triu_out", lambda x, dst: torch.triu(x, -1, out=dst), (RANDOM, DST), broadcast=False),
    Op("polar", torch.polar, (POSITIVE, RANDOM), dtypes=("fp32",)),  # bytes: result counted as fp32

    # ---- activations and their backward ops
    _unary("threshold", lambda x: F.threshold(x, 0.1, 20.0)),
    _unary("relu6", F.relu6),
    _unary("hardtanh", F.hardtanh),
    _unary("hardsigmoid", F.hardsigmoid),
    _unary("hardswish", F.hardswish),
    _unary("elu", F.elu),
    _unary("selu", torch.selu),
    _unary("celu", F.celu),
    _unary("leaky_relu", F.leaky_relu),
    _unary("softplus", F.softplus),
    _unary("softshrink", F.softshrink),
    _unary("hardshrink", F.hardshrink),
    _unary("log_sigmoid", F.logsigmoid),
    _unary("logit", lambda x: torch.logit(x, 1e-6), POSITIVE),
    _unary("mish", F.mish),
    _unary("glu", F.glu),
    Op("prelu", torch._prelu_kernel, (RANDOM, RANDOM)),
    Op("gelu_backward", torch.ops.aten.gelu_backward, (RANDOM, RANDOM)),
    Op("gelu_tanh_backward", lambda g, x: torch.ops.aten.gelu_backward(g, x, approximate="tanh"),
       (RANDOM, RANDOM)),
    Op("silu_backward", torch.ops.aten.silu_backward, (RANDOM, RANDOM)),
    Op("sigmoid_backward", torch.ops.aten.sigmoid_backward, (RANDOM, RANDOM)),
    Op("tanh_backward", torch.ops.aten.tanh_backward, (RANDOM, RANDOM)),
    Op("threshold_backward", lambda g, x: torch.ops.aten.threshold_backward(g, x, 0.0),
       (RANDOM, RANDOM)),
    Op("hardtanh_backward", lambda g, x: torch.ops.aten.hardtanh_backward(g, x, -1.0, 1.0),
       (RANDOM, RANDOM)),
    Op("hardsigmoid_backward", torch.ops.aten.hardsigmoid_backward, (RANDOM, RANDOM)),
    Op("hardswish_backward", torch.ops.aten.hardswish_backward, (RANDOM, RANDOM)),
    Op("elu_backward", lambda g, x: torch.ops.aten.elu_backward(g, 1.0, 1.0, 1.0, False, x),
       (RANDOM, RANDOM)),
    Op("leaky_relu_backward",
       lambda g, x: torch.ops.aten.leaky_relu_backward(g, x, 0.01, False), (RANDOM, RANDOM)),
    Op("softplus_backward", lambda g, x: torch.ops.aten.softplus_backward(g, x, 1.0, 20.0),
       (RANDOM, RANDOM)),
    Op("softshrink_backward", lambda g, x: torch.ops.aten.softshrink_backward(g, x, 0.5),
       (RANDOM, RANDOM)),
    Op("log_sigmoid_backward",
       lambda g, x: torch.ops.aten.log_sigmoid_backward(g, x, torch.empty(0, dtype=x.dtype,
                                                                          device=x.device)),
       (RANDOM, RANDOM)),
    Op("logit_backward", lambda g, x: torch.ops.aten.logit_backward(g, x, 1e-6),
       (RANDOM, POSITIVE)),
    Op("mish_backward", torch.ops.aten.mish_backward, (RANDOM, RANDOM)),
]

FLOAT_DTYPES = ("bf16", "fp16", "fp32")


def _operand(kind: str, shape: tuple, dtype: torch.dtype, device: str) -> torch.Tensor:
    if kind == RANDOM:
        return torch.randn(shape, dtype=dtype, device=device)
    if kind == POSITIVE:
        return torch.rand(shape, dtype=dtype, device=device) + 0.5
    if kind == BOOL:
        return torch.randn(shape, device=device) > torch.randn(shape, device=device)
    if kind == DST:
        return torch.randn(shape, dtype=dtype, device=device)
    if kind == DST_FP32:
        return torch.randn(shape, dtype=torch.float32, device=device)
    raise ValueError(kind)


def _element_size(kind: str, dtype: torch.dtype) -> int:
    if kind == BOOL:
        return 1
    if kind == DST_FP32:
        return 4
    return torch.empty((), dtype=dtype).element_size()


def _layout_of(op: Op, layout: str):
    """The index of the operand the layout changes (None for contig)."""
    reads = [i for i, kind in enumerate(op.operands) if kind in READ]
    if layout == "contig":
        return None
    if layout.startswith("bcast"):
        return reads[-1]
    return reads[0] if reads else 0  # transposed: fill_ writes a transposed view


def _case(op: Op, layout: str, dtype_name: str, device: str) -> Case:
    rows, cols = shapes.matrix(device)
    dtype = DTYPES[dtype_name]
    changed = _layout_of(op, layout)
    small = {"bcast_row": (1, cols), "bcast_col": (rows, 1)}.get(layout)

    def make_inputs():
        values = []
        for i, kind in enumerate(op.operands):
            if i == changed and small is not None:
                value = _operand(kind, small, dtype, device)
                if len(op.operands) == 1:  # a unary op reads the broadcast through a view
                    value = value.expand(rows, cols)
            elif i == changed and layout == "transposed":
                value = _operand(kind, (cols, rows), dtype, device).t()
            else:
                value = _operand(kind, (rows, cols), dtype, device)
            values.append(value)
        return tuple(values)

    moved = 0  # each operand is read once or, for a destination, written once
    for i, kind in enumerate(op.operands):
        numel = math.prod(small) if i == changed and small is not None else rows * cols
        moved += numel * _element_size(kind, dtype)
    if not any(kind in (DST, DST_FP32) for kind in op.operands):  # out of place: the result
        moved += rows * cols * (1 if op.result == "bool" else _element_size(RANDOM, dtype))
    moved += rows * cols * op.extra_out_bytes

    label = "bool" if op.dtypes == ("bool",) else (
        "bf16->fp32" if DST_FP32 in op.operands else dtype_name)
    return Case(family="pointwise", op=op.name, name=layout, dtype=label,
                shape=shapes.fmt((rows, cols)), make_inputs=make_inputs,
                run=lambda values, call=op.call: call(*values), bytes=moved)


def cases(setup):
    floats = [d for d in FLOAT_DTYPES if setup.wants_dtype(d)]
    odd_layout_dtype = "bf16" if "bf16" in floats else (floats[0] if floats else None)
    for index, op in enumerate(OPS):
        if not setup.wants_op(op.name):
            continue
        if op.dtypes is None:
            contig_dtypes, odd_dtype = floats, odd_layout_dtype
        else:
            contig_dtypes = [d for d in op.dtypes if setup.wants_dtype(d)]
            odd_dtype = contig_dtypes[0] if contig_dtypes else None
        for dtype in contig_dtypes:
            yield _case(op, "contig", dtype, setup.device)
        if odd_dtype is None:
            continue
        if op.broadcast:
            yield _case(op, "bcast_row" if index % 2 == 0 else "bcast_col", odd_dtype, setup.device)
        yield _case(op, "transposed", odd_dtype, setup.device)


def _geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def summarize(results, setup):
    lines = []
    rows, cols = shapes.matrix(setup.device)
    for op in ("add", "mul"):
        for r in results:
            c = r.case
            if (c.op, c.name, c.dtype) == (op, "contig", "bf16") and r.gbps:
                lines.append((f"{op} bf16 {c.shape}", bandwidth_line(r)))
    timed = [r for r in results if r.speedup]
    served = [r for r in timed if r.served]
    lines += slowest_line(results, "min speedup (served cases)")
    if served:
        lines.append((f"geomean speedup ({len(served)} served cases)",
                      f"{_geomean([r.speedup for r in served]):.2f}x"))
        pcts = [r.pct_of_copy for r in served if r.pct_of_copy]
        if pcts:
            lines.append(("median % of copy (served cases)", f"{sorted(pcts)[len(pcts) // 2]:.0f}%"))
    not_served = [r for r in timed if not r.served]
    if not_served:
        names = sorted({r.case.op for r in not_served})
        lines.append((f"cases gemforge did not serve ({len(not_served)})",
                      ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")))
    return lines + errors_line(results)


FAMILY = Family("pointwise", cases, summarize)
