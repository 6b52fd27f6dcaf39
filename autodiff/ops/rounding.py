"""Rounding, signs and the remainders: ``sign``, ``floor``, ``ceil``, ``trunc``, ``round``,
``frac``, ``floor_divide``, ``remainder``, ``fmod``, ``copysign``, ``signbit``, ``heaviside``.

The rounding ops are piecewise constant and recorded with derivative 0 (PyTorch's zeros), so
a gradient through them is 0 rather than an error, and stays on the graph. Integer tensors
keep their dtype. Gradients follow PyTorch's formulas: ``remainder(a, b)``: 1 and
``-floor(a / b)``; ``fmod(a, b)``: 1 and ``-trunc(a / b)``; ``copysign(a, b)``:
``copysign(a, b) / a`` (0 at a = 0) and 0.
"""
from __future__ import annotations

from ..backends import get_array_module
from ..dtypes import get_default_dtype
from ..tape import record
from ..tensor import Tensor, make
from ._util import as_t, pair
from .elementwise import (_binary, _broadcast_error, _check_integer_divisor, _pointwise, _ufunc,
                          div, mul, neg, sign_array, step, where, zero_backward)
from .registry import BROADCAST

__all__ = ["sign", "sgn", "floor", "ceil", "trunc", "fix", "round", "frac", "floor_divide",
           "remainder", "fmod", "copysign", "signbit", "heaviside"]


def _rounded(prim, x, attrs=None) -> Tensor:
    """A rounding primitive on ``x``: integers are already rounded (a copy, as PyTorch)."""
    x = as_t(x)
    if x.dtype.kind in "iub" and prim is not SIGN:
        if x.dtype.kind == "b":
            raise TypeError(f"{prim.name}: not implemented for bool tensors (as in PyTorch)")
        if attrs:
            raise TypeError(f"{prim.name}: decimals={attrs} is not implemented for integer "
                            f"tensors (dtype {x.dtype}; as in PyTorch)")
        return make(x.array.copy())
    out = prim.forward(x.array) if attrs is None else prim.forward(x.array, attrs)
    return record(prim, out, (x,), attrs=attrs)


def _rounding_row(name: str, forward, attrs=()):
    return _pointwise(name, zero_backward, forward, inputs=("x",), attrs=attrs)


def sign(input) -> Tensor:  # noqa: A002
    """-1, 0 or 1 (0 at NaN, as PyTorch); gradient 0."""
    return _rounded(SIGN, input)


def floor(input) -> Tensor:  # noqa: A002
    return _rounded(FLOOR, input)


def ceil(input) -> Tensor:  # noqa: A002
    return _rounded(CEIL, input)


def trunc(input) -> Tensor:  # noqa: A002
    """Rounds toward zero; ``fix`` is its alias."""
    return _rounded(TRUNC, input)


def round(input, *, decimals: int = 0) -> Tensor:  # noqa: A001,A002
    """Rounds half to even (as PyTorch and NumPy), to ``decimals`` decimal places (negative:
    to tens, hundreds...)."""
    if not isinstance(decimals, int) or isinstance(decimals, bool):
        raise TypeError(f"round: decimals must be an int, got {type(decimals).__name__}")
    return _rounded(ROUND, input, decimals)


def _round_fw(d, decimals):
    return get_array_module(d).round(d, decimals)


def frac(input) -> Tensor:  # noqa: A002
    """``input - trunc(input)`` (the sign of ``input``); gradient 1."""
    x = as_t(input)
    if x.dtype.kind != "f":
        raise TypeError(f"frac: not implemented for {x.dtype} tensors (as in PyTorch)")
    return x - trunc(x)


SIGN = _rounding_row("sign", sign_array)
FLOOR = _rounding_row("floor", _ufunc("floor"))
CEIL = _rounding_row("ceil", _ufunc("ceil"))
TRUNC = _rounding_row("trunc", _ufunc("trunc"))
ROUND = _rounding_row("round", _round_fw, attrs="decimals")
sgn = sign
fix = trunc


# ----------------------------------------------------------------------------- remainders
def floor_divide(input, other) -> Tensor:  # noqa: A002
    """``input // other``: ``div(input, other, rounding_mode="floor")``; gradient 0."""
    return div(input, other, rounding_mode="floor")


def remainder(input, other) -> Tensor:  # noqa: A002
    """``input % other``, with the sign of ``other`` (Python's ``%``)."""
    return _integer_checked(REMAINDER, input, other)


def fmod(input, other) -> Tensor:  # noqa: A002
    """C's ``fmod``: the remainder with the sign of ``input``."""
    return _integer_checked(FMOD, input, other)


def _integer_checked(prim, a, b) -> Tensor:
    a, b = pair(a, b, prim.name)
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":
        _check_integer_divisor(b, prim.name)
    return _binary(prim, a, b)


def _remainder_bw(ctx, g):
    return _quotient_bw(ctx, g, "floor")


def _fmod_bw(ctx, g):
    return _quotient_bw(ctx, g, "trunc")


def _quotient_bw(ctx, g, rounding_mode):
    # a - q b with q = a / b rounded (piecewise constant): d/da = 1, d/db = -q
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    return (g if na else None,
            mul(neg(g), div(a, b, rounding_mode=rounding_mode)) if nb else None)


def _remainder_fw(x, y):
    xp = get_array_module(x, y)
    if x.dtype.kind in "iub" and y.dtype.kind in "iub":
        return xp.remainder(x, y)
    # PyTorch's: fmod, plus y where the signs differ; a zero keeps x's sign (NumPy's takes y's)
    mod = xp.fmod(x, y)
    return xp.where((mod != 0) & ((y < 0) != (mod < 0)), mod + y, mod)


def _fmod_fw(x, y):
    return get_array_module(x, y).fmod(x, y)


REMAINDER = _pointwise("remainder", _remainder_bw, _remainder_fw, saves=("a", "b"))
FMOD = _pointwise("fmod", _fmod_bw, _fmod_fw, saves=("a", "b"))


# ----------------------------------------------------------------------------- signs
def copysign(input, other) -> Tensor:  # noqa: A002
    """``|input|`` with the sign of ``other`` (its sign bit: -0.0 counts as negative); integer
    inputs give the default float dtype, as in PyTorch."""
    a, b = pair(input, other, "copysign")
    if a.dtype.kind != "f" and b.dtype.kind != "f":
        a = make(a.array.astype(get_default_dtype()))
    try:
        out = _copysign_fw(a.array, b.array)
    except ValueError:
        raise _broadcast_error("copysign", a, b) from None
    return record(COPYSIGN, out, (a, b), (a,), save_output=True)


def _copysign_fw(x, y):
    return get_array_module(x, y).copysign(x, y)


def _copysign_bw(ctx, g):
    # PyTorch's copysign_tensor_self_backward: g * result / a, 0 where a == 0
    a, out = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    ga = mul(g, where(a.array == 0, 0.0, div(out, a))) if na else None
    return ga, (make(g.xp.zeros(*ctx.in_meta[1])) if nb else None)


COPYSIGN = _pointwise("copysign", _copysign_bw, _copysign_fw, saves=("a",), save_output=True,
                      infer=BROADCAST)


def signbit(input) -> Tensor:  # noqa: A002
    """True where the sign bit is set (-0.0 and negative numbers); a bool tensor."""
    x = as_t(input)
    xp = x.xp
    return make(xp.signbit(x.array) if x.dtype.kind == "f" else x.array < 0)


def heaviside(input, values) -> Tensor:  # noqa: A002
    """0 where ``input < 0``, ``values`` where ``input == 0``, 1 where ``input > 0``. PyTorch
    refuses to differentiate it; here the step has derivative 0 in ``input``, and ``values``
    gets the gradient where it is the result."""
    x, v = pair(input, values, "heaviside")
    if x.dtype != v.dtype:
        raise TypeError(f"heaviside: input ({x.dtype}) and values ({v.dtype}) must have the "
                        f"same dtype (as in PyTorch)")
    return where(x.array == 0, v, step(_positive, x))


def _positive(d):
    return d > 0
