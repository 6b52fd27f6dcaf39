"""Diagonals and triangles with PyTorch's signatures: tril, triu, diagonal, diag, diag_embed,
trace. Composites of ``where`` (a constant mask), indexing, ``pad`` and ``movedim``: the masked
entries are selected, never multiplied by 0, so an inf outside the kept part stays out of the
value and of the gradient, and every derivative order works."""
from __future__ import annotations

from ..tensor import Tensor
from ._util import as_t
from .elementwise import where
from .index import getitem
from .reduce import sum as _sum
from .shape import movedim, norm_dims, pad, unsqueeze


def _triangle(x, diagonal: int, lower: bool, op: str) -> Tensor:
    x = as_t(x)
    if x.ndim < 2:
        raise ValueError(f"{op}: the input must have at least 2 dims, got shape {x.shape}")
    n, m = x.shape[-2:]
    below = x.xp.tri(n, m, k=diagonal if lower else diagonal - 1, dtype=bool)
    return where(below if lower else ~below, x, 0)


def tril(input, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The lower triangle of the last two dims: entries (i, j) with j - i <= ``diagonal``;
    zeros elsewhere."""
    x = input  # PyTorch's parameter names
    return _triangle(x, diagonal, True, "tril")


def triu(input, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The upper triangle of the last two dims: entries (i, j) with j - i >= ``diagonal``;
    zeros elsewhere."""
    x = input  # PyTorch's parameter names
    return _triangle(x, diagonal, False, "triu")


def _two_dims(dim1: int, dim2: int, ndim: int, op: str) -> tuple[int, int]:
    d1, d2 = norm_dims((dim1, dim2), ndim, op)
    if d1 == d2:
        raise ValueError(f"{op}: dim1 and dim2 must differ, got {dim1} and {dim2} for "
                         f"{ndim} dims")
    return d1, d2


def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:  # noqa: A002
    """The entries (i, i + offset) of the plane (dim1, dim2): those two dims are removed and
    the diagonal becomes the last dim (PyTorch's layout)."""
    x = as_t(input)
    if x.ndim < 2:
        raise ValueError(f"diagonal: the input must have at least 2 dims, got shape {x.shape}")
    d1, d2 = _two_dims(dim1, dim2, x.ndim, "diagonal")
    y = movedim(x, (d1, d2), (-2, -1))
    n, m = y.shape[-2:]
    r0, c0 = max(-offset, 0), max(offset, 0)
    k = max(min(n - r0, m - c0), 0)
    i = y.xp.arange(k)
    return getitem(y, (Ellipsis, i + r0, i + c0))


_diagonal = diagonal  # diag's argument is named ``diagonal`` too


def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: A002
    """Tensors whose (dim1, dim2) planes hold the last dim of ``x`` on diagonal ``offset``;
    zeros elsewhere. The planes are n + |offset| square."""
    x = as_t(input)
    if x.ndim == 0:
        raise ValueError("diag_embed: the input must have at least 1 dim, got a 0-d tensor")
    d1, d2 = _two_dims(dim1, dim2, x.ndim + 1, "diag_embed")
    n = x.shape[-1]
    plane = where(x.xp.eye(n, dtype=bool), unsqueeze(x, -1), 0)
    k = abs(offset)
    if k:
        rows, cols = ((0, k), (k, 0)) if offset > 0 else ((k, 0), (0, k))
        plane = pad(plane, ((0, 0),) * (x.ndim - 1) + (rows, cols))
    return movedim(plane, (-2, -1), (d1, d2))


def diag(input, diagonal: int = 0) -> Tensor:  # noqa: A002
    """A 1-d ``x``: the square matrix with ``x`` on diagonal ``diagonal``; a 2-d ``x``: that
    diagonal as a 1-d tensor."""
    x = as_t(input)
    if x.ndim == 1:
        return diag_embed(x, diagonal, 0, 1)
    if x.ndim == 2:
        return _diagonal(x, diagonal)
    raise ValueError(f"diag: the input must be 1-d or 2-d, got shape {x.shape}")


def trace(x) -> Tensor:
    """The sum of the main diagonal of a 2-d tensor."""
    x = as_t(x)
    if x.ndim != 2:
        raise ValueError(f"trace: expected a 2-d tensor, got shape {x.shape}")
    return _sum(diagonal(x))
