"""``autodiff.linalg``, PyTorch's ``torch.linalg`` as far as autodiff goes: the norms
(``vector_norm``, ``matrix_norm``, ``norm``), ``cross``, ``diagonal`` and ``vecdot``, with
PyTorch's defaults and gradients (0 at a zero norm). Decompositions (det, inv, solve, svd,
eigh, ...) and the norms that need singular values (ord 'nuc', 2, -2 of a matrix) are not
implemented."""
from __future__ import annotations

import math

from .ops._util import as_t
from .ops.diagonals import diagonal as _diagonal
from .ops.distance import vector_norm
from .ops.elementwise import abs as _abs, mul
from .ops.products import cross as _cross
from .ops.reduce import amax, amin, sum as _sum
from .ops.shape import astype, norm_dims, squeeze
from .tensor import Tensor

__all__ = ["vector_norm", "matrix_norm", "norm", "cross", "diagonal", "vecdot"]


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:
    """The matrix norm over the two dims ``dim``: 'fro' (Frobenius), 1/-1 (largest/smallest
    column sum of magnitudes), inf/-inf (largest/smallest row sum)."""
    A = as_t(A)
    if dtype is not None:
        A = astype(A, dtype)
    if A.ndim < 2:
        raise ValueError(f"matrix_norm: expected a tensor of at least 2 dims, got shape "
                         f"{A.shape}")
    if len(dim) != 2:
        raise ValueError(f"matrix_norm: dim must name 2 dims, got {dim}")
    d0, d1 = norm_dims(dim, A.ndim, "matrix_norm")
    if d0 == d1:
        raise ValueError(f"matrix_norm: dims must differ, got {dim}")
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(f"matrix_norm: ord={ord!r} needs singular values, which "
                                  f"autodiff does not compute; use 'fro', 1, -1, inf or -inf")
    if ord not in (1, -1, math.inf, -math.inf):
        raise ValueError(f"matrix_norm: ord must be 'fro', 'nuc', 1, -1, 2, -2, inf or -inf, "
                         f"got {ord!r}")
    summed, over = (d0, d1) if abs(ord) == 1 else (d1, d0)   # 1: column sums; inf: row sums
    sums = _sum(_abs(A), summed, True)
    out = (amax if ord > 0 else amin)(sums, over, True)
    return out if keepdim else squeeze(out, (d0, d1))


def norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``torch.linalg.norm``: a vector norm when ``dim`` is an int (or, with ``ord``, the input
    is 1-d), a matrix norm when ``dim`` is a pair (or, with ``ord``, the input is 2-d); with
    neither ``ord`` nor ``dim``, the 2-norm of all elements."""
    A = as_t(A)
    if isinstance(dim, int):
        dim = (dim,)
    if dim is None and ord is not None:
        if A.ndim not in (1, 2):
            raise ValueError(f"norm: with ord and no dim the input must be 1-d or 2-d, got "
                             f"shape {A.shape}")
        dim = tuple(range(A.ndim))
    if dim is not None and len(dim) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
    if dim is not None and len(dim) != 1:
        raise ValueError(f"norm: dim must be an int or a pair of dims, got {dim}")
    if isinstance(ord, str):
        raise ValueError(f"norm: ord {ord!r} is a matrix norm; give a vector order")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


def cross(input, other, *, dim: int = -1) -> Tensor:
    """The 3-vector cross product along ``dim`` (the last by default), inputs broadcast."""
    return _cross(input, other, dim)


def diagonal(A, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """``torch.linalg.diagonal``: the diagonal of the last two dims by default."""
    return _diagonal(A, offset, dim1, dim2)


def vecdot(x, y, *, dim: int = -1) -> Tensor:
    """The dot product along ``dim`` (inputs broadcast)."""
    return _sum(mul(x, y), dim)
