"""Tests on floating-point values (``isinf``, ``isposinf``, ``isneginf``, ``isclose``,
``allclose``: bool results, no gradient) and ``nan_to_num``, which replaces the non-finite
values (gradient 1 where the input is finite, 0 where it was replaced, as PyTorch's)."""
from __future__ import annotations

from ..backends import get_array_module
from ..tape import record
from ..tensor import Tensor, make
from ._util import as_t, pair
from .elementwise import _unary_row, mul, step

__all__ = ["isinf", "isposinf", "isneginf", "isclose", "allclose", "nan_to_num"]


def isinf(input) -> Tensor:  # noqa: A002
    x = as_t(input)
    return make(x.xp.isinf(x.array))


def isposinf(input) -> Tensor:  # noqa: A002
    x = as_t(input)
    return make(x.xp.isinf(x.array) & (x.array > 0))


def isneginf(input) -> Tensor:  # noqa: A002
    x = as_t(input)
    return make(x.xp.isinf(x.array) & (x.array < 0))


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:  # noqa: A002
    """|input - other| <= atol + rtol |other| elementwise (equal infinities are close; NaNs
    only with ``equal_nan``)."""
    if rtol < 0 or atol < 0:
        raise ValueError(f"isclose: rtol and atol must be non-negative, got rtol={rtol} and "
                         f"atol={atol}")
    a, b = pair(input, other, "isclose")
    try:
        return make(a.xp.isclose(a.array, b.array, rtol=rtol, atol=atol, equal_nan=equal_nan))
    except ValueError:
        raise ValueError(f"isclose: shapes {a.shape} and {b.shape} cannot be broadcast "
                         f"together") from None


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:  # noqa: A002
    """Whether every element of ``input`` is close to ``other`` (see :func:`isclose`)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).array.all())


def nan_to_num(input, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:  # noqa: A002
    """NaN -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (by default the dtype's largest
    and smallest finite values); integer tensors are returned as a copy."""
    x = as_t(input)
    if x.dtype.kind != "f":
        return make(x.array.copy())
    attrs = (nan, posinf, neginf)
    return record(NAN_TO_NUM, _nan_to_num_fw(x.array, *attrs), (x,), (x,), attrs=attrs)


def _nan_to_num_fw(d, nan, posinf, neginf):
    return get_array_module(d).nan_to_num(d, nan=nan, posinf=posinf, neginf=neginf)


def _finite(d):
    return get_array_module(d).isfinite(d)


def _nan_to_num_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, step(_finite, x)),)


NAN_TO_NUM = _unary_row("nan_to_num", _nan_to_num_bw, _nan_to_num_fw, "x",
                        attrs=("nan", "posinf", "neginf"))
