"""More exponentials, logarithms, powers and trigonometry: ``exp2``, ``log2``, ``log10``,
``rsqrt``, ``reciprocal``, ``square``, ``sinh``, ``cosh``, the inverse trigonometric and
hyperbolic functions, ``atan2``, ``hypot``, ``logaddexp``, ``logaddexp2``, ``xlogy``, ``sinc``
and ``lerp``.

Each VJP is PyTorch's formula written op for op with differentiable Tensor ops, so the first
derivatives agree with PyTorch's everywhere, and the second derivatives too at the singular
points (NaN where PyTorch's are, e.g. ``sinc`` at 0 or ``atan2`` at the origin).
"""
from __future__ import annotations

import math

from ..backends import get_array_module
from ..dtypes import get_default_dtype
from ..tape import record
from ..tensor import Tensor, as_tensor_like, make
from ._util import as_t, pair
from .elementwise import (_broadcast_error, _pointwise, _ufunc, _ufunc2, _unary, _unary_row, add,
                          cos, div, exp, mul, neg, pow, rsub, sin, sub, ternary, where)

__all__ = ["exp2", "log2", "log10", "rsqrt", "reciprocal", "square", "sinh", "cosh", "asin",
           "acos", "atan", "asinh", "acosh", "atanh", "atan2", "hypot", "logaddexp",
           "logaddexp2", "xlogy", "sinc", "lerp", "arcsin", "arccos", "arctan", "arcsinh",
           "arccosh", "arctanh", "arctan2"]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


# ----------------------------------------------------------------------------- unary
def exp2(input) -> Tensor:  # noqa: A002
    return _unary(EXP2, input)


def _exp2_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (mul(mul(g, y), _LN2),)


def log2(input) -> Tensor:  # noqa: A002
    return _unary(LOG2, input)


def _log2_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (div(g, mul(x, _LN2)),)


def log10(input) -> Tensor:  # noqa: A002
    return _unary(LOG10, input)


def _log10_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (div(g, mul(x, _LN10)),)


def rsqrt(input) -> Tensor:  # noqa: A002
    """1 / sqrt(input)."""
    return _unary(RSQRT, input)


def _rsqrt_fw(d):
    return 1 / get_array_module(d).sqrt(d)


def _rsqrt_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (mul(mul(g, -0.5), pow(y, 3)),)


def reciprocal(input) -> Tensor:  # noqa: A002
    """1 / input (integers give the default float dtype)."""
    return _unary(RECIPROCAL, input)


def _reciprocal_fw(d):
    return 1 / d


def _reciprocal_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (mul(neg(g), mul(y, y)),)


def square(input) -> Tensor:  # noqa: A002
    """input ** 2 (integers stay integers)."""
    return pow(as_t(input), 2)


def sinh(input) -> Tensor:  # noqa: A002
    return _unary(SINH, input)


def _sinh_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, cosh(x)),)


def cosh(input) -> Tensor:  # noqa: A002
    return _unary(COSH, input)


def _cosh_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, sinh(x)),)


def asin(input) -> Tensor:  # noqa: A002
    return _unary(ASIN, input)


def _one_minus_square(x):
    return add(mul(neg(x), x), 1.0)


def _asin_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, rsqrt(_one_minus_square(x))),)


def acos(input) -> Tensor:  # noqa: A002
    return _unary(ACOS, input)


def _acos_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, neg(rsqrt(_one_minus_square(x)))),)


def atan(input) -> Tensor:  # noqa: A002
    return _unary(ATAN, input)


def _atan_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (div(g, add(mul(x, x), 1.0)),)


def asinh(input) -> Tensor:  # noqa: A002
    return _unary(ASINH, input)


def _asinh_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, rsqrt(add(pow(x, 2), 1.0))),)


def acosh(input) -> Tensor:  # noqa: A002
    return _unary(ACOSH, input)


def _acosh_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, rsqrt(sub(pow(x, 2), 1.0))),)


def atanh(input) -> Tensor:  # noqa: A002
    return _unary(ATANH, input)


def _atanh_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (div(g, rsub(pow(x, 2), 1.0)),)


def sinc(input) -> Tensor:  # noqa: A002
    """sin(pi x) / (pi x), 1 at 0 (the normalized sinc)."""
    return _unary(SINC, input)


def _sinc_bw(ctx, g):
    # PyTorch's sinc_backward: g (pi x cos(pi x) - sin(pi x)) / (pi x^2), 0 where pi x^2 == 0
    # (g enters before the division, so its own derivative there is 0/0: NaN, as PyTorch's)
    (x,) = ctx.saved_tensors
    px = mul(x, math.pi)
    den = mul(mul(x, x), math.pi)
    d = div(mul(g, sub(mul(px, cos(px)), sin(px))), den)
    return (where(den.array == 0, 0.0, d),)


EXP2 = _unary_row("exp2", _exp2_bw, _ufunc("exp2"), "output")
LOG2 = _unary_row("log2", _log2_bw, _ufunc("log2"), "x")
LOG10 = _unary_row("log10", _log10_bw, _ufunc("log10"), "x")
RSQRT = _unary_row("rsqrt", _rsqrt_bw, _rsqrt_fw, "output")
RECIPROCAL = _unary_row("reciprocal", _reciprocal_bw, _reciprocal_fw, "output")
SINH = _unary_row("sinh", _sinh_bw, _ufunc("sinh"), "x")
COSH = _unary_row("cosh", _cosh_bw, _ufunc("cosh"), "x")
ASIN = _unary_row("asin", _asin_bw, _ufunc("arcsin"), "x")
ACOS = _unary_row("acos", _acos_bw, _ufunc("arccos"), "x")
ATAN = _unary_row("atan", _atan_bw, _ufunc("arctan"), "x")
ASINH = _unary_row("asinh", _asinh_bw, _ufunc("arcsinh"), "x")
ACOSH = _unary_row("acosh", _acosh_bw, _ufunc("arccosh"), "x")
ATANH = _unary_row("atanh", _atanh_bw, _ufunc("arctanh"), "x")
SINC = _unary_row("sinc", _sinc_bw, _ufunc("sinc"), "x")


# ----------------------------------------------------------------------------- binary
def _float_binary(prim, a, b) -> Tensor:
    """A two-input primitive whose result is floating point: two integer operands become the
    default float dtype (as PyTorch's atan2, xlogy)."""
    a, b = pair(a, b, prim.name)
    if a.dtype.kind != "f" and b.dtype.kind != "f":
        a, b = (make(t.array.astype(get_default_dtype())) for t in (a, b))
    try:
        out = prim.forward(a.array, b.array)
    except ValueError:
        raise _broadcast_error(prim.name, a, b) from None
    return record(prim, out, (a, b), (a, b), prim.save_output)


def atan2(input, other) -> Tensor:  # noqa: A002
    """The angle of the point (other, input): atan(input / other) in the right quadrant."""
    return _float_binary(ATAN2, input, other)


def _atan2_bw(ctx, g):
    # PyTorch's: g * other / r2 and -g * input / r2, with 1 / r2 taken as 0 at the origin
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    r2 = add(mul(a, a), mul(b, b))
    recip = where(r2.array == 0, 0.0, reciprocal(r2))
    return (mul(mul(g, b), recip) if na else None,
            mul(mul(g, neg(a)), recip) if nb else None)


def hypot(input, other) -> Tensor:  # noqa: A002
    """sqrt(input^2 + other^2), without overflow."""
    return _float_binary(HYPOT, input, other)


def _hypot_bw(ctx, g):
    a, b, out = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    return (div(mul(g, a), out) if na else None), (div(mul(g, b), out) if nb else None)


def logaddexp(input, other) -> Tensor:  # noqa: A002
    """log(exp(input) + exp(other)), computed stably."""
    return _float_binary(LOGADDEXP, input, other)


def _logaddexp_bw(ctx, g):
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    return (div(g, add(exp(sub(b, a)), 1.0)) if na else None,
            div(g, add(exp(sub(a, b)), 1.0)) if nb else None)


def logaddexp2(input, other) -> Tensor:  # noqa: A002
    """log2(2**input + 2**other), computed stably."""
    return _float_binary(LOGADDEXP2, input, other)


def _logaddexp2_bw(ctx, g):
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    return (div(g, add(pow(2.0, sub(b, a)), 1.0)) if na else None,
            div(g, add(pow(2.0, sub(a, b)), 1.0)) if nb else None)


def xlogy(input, other) -> Tensor:  # noqa: A002
    """input * log(other), 0 where input == 0 (unless other is NaN)."""
    return _float_binary(XLOGY, input, other)


def _xlogy_fw(x, y):
    xp = get_array_module(x, y)
    return xp.where((x == 0) & ~xp.isnan(y), 0, x * xp.log(y))


def _xlogy_bw(ctx, g):
    # PyTorch's: xlogy(g, other), 0 where input == 0 and other <= 0; and g * input / other
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    ga = where((a.array == 0) & (b.array <= 0), 0.0, xlogy(g, b)) if na else None
    return ga, (div(mul(g, a), b) if nb else None)


ATAN2 = _pointwise("atan2", _atan2_bw, _ufunc2("arctan2"), saves=("a", "b"))
HYPOT = _pointwise("hypot", _hypot_bw, _ufunc2("hypot"), saves=("a", "b"), save_output=True)
LOGADDEXP = _pointwise("logaddexp", _logaddexp_bw, _ufunc2("logaddexp"), saves=("a", "b"))
LOGADDEXP2 = _pointwise("logaddexp2", _logaddexp2_bw, _ufunc2("logaddexp2"), saves=("a", "b"))
XLOGY = _pointwise("xlogy", _xlogy_bw, _xlogy_fw, saves=("a", "b"))


# PyTorch's NumPy-style aliases
arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2
arcsinh, arccosh, arctanh = asinh, acosh, atanh


# ----------------------------------------------------------------------------- lerp
def lerp(input, end, weight) -> Tensor:  # noqa: A002
    """input + weight * (end - input), in PyTorch's two-sided form (exact at both ends);
    ``weight`` a number or a Tensor (which then gets the gradient end - input)."""
    start, end = pair(input, end, "lerp")
    if start.dtype.kind != "f" or end.dtype.kind != "f":
        raise TypeError(f"lerp: input and end must be floating point, got {start.dtype} and "
                        f"{end.dtype}")
    return ternary(LERP, (start, end, as_tensor_like(weight, start)), ("input", "end", "weight"))


def _lerp_fw(s, e, w):
    xp = get_array_module(s, e, w)
    return xp.where(xp.abs(w) < 0.5, s + w * (e - s), e - (e - s) * (1 - w))


def _lerp_bw(ctx, g):
    s, e, w = ctx.saved_tensors
    ns, ne, nw = ctx.needs_input_grad
    return (mul(g, rsub(w, 1.0)) if ns else None, mul(g, w) if ne else None,
            mul(g, sub(e, s)) if nw else None)


LERP = _pointwise("lerp", _lerp_bw, _lerp_fw, inputs=("input", "end", "weight"),
                  saves=("input", "end", "weight"))
