"""Tensor products with PyTorch's signatures: kron, tensordot, inner, cross. Composites of
``mul``, ``einsum``, indexing and ``stack``, so every derivative order works."""
from __future__ import annotations

import string
import warnings

import numpy

from ..tensor import Tensor
from ._util import as_t, pair
from .elementwise import mul, sub
from .index import getitem
from .linalg import einsum
from .shape import broadcast_to, norm_dims, reshape, stack


def kron(input, other) -> Tensor:  # noqa: A002
    """The Kronecker product: block (i, j, ...) of the result is a[i, j, ...] * b (the shorter
    shape padded with leading 1s)."""
    a, b = input, other  # PyTorch's parameter names
    a, b = pair(a, b, "kron")
    nd = max(a.ndim, b.ndim)
    sa, sb = (1,) * (nd - a.ndim) + a.shape, (1,) * (nd - b.ndim) + b.shape
    blocks = mul(reshape(a, tuple(v for n in sa for v in (n, 1))),
                 reshape(b, tuple(v for n in sb for v in (1, n))))
    return reshape(blocks, tuple(m * n for m, n in zip(sa, sb)))


def tensordot(a, b, dims=2) -> Tensor:
    """Contract the last ``dims`` dims of ``a`` with the first ``dims`` of ``b``, or the dims
    listed in ``dims = (dims_a, dims_b)``."""
    a, b = as_t(a), as_t(b)
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, (int, numpy.integer)):
        if not 0 <= dims <= min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: dims {dims} must be in [0, {min(a.ndim, b.ndim)}] "
                             f"for shapes {a.shape} and {b.shape}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        if len(dims) != 2:
            raise ValueError(f"tensordot: dims must be an int or two lists of dims, got {dims}")
        da = norm_dims(dims[0], a.ndim, "tensordot")
        db = norm_dims(dims[1], b.ndim, "tensordot")
    if len(da) != len(db) or any(a.shape[i] != b.shape[j] for i, j in zip(da, db)):
        raise ValueError(f"tensordot: contracted dims {da} of shape {a.shape} and {db} of shape "
                         f"{b.shape} do not match")
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(a.ndim)]
    sb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(da, db):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in da] + \
        [c for j, c in enumerate(sb) if j not in db]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def inner(a, b) -> Tensor:
    """The sum over the last dims of ``a`` and ``b`` (a product when either is 0-d)."""
    a, b = pair(a, b, "inner")
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"inner: the last dims of shapes {a.shape} and {b.shape} must match")
    return tensordot(a, b, ([-1], [-1]))


def cross(input, other, dim: int | None = None) -> Tensor:
    """The 3-vector cross product along ``dim`` (inputs broadcast). Without ``dim``: the first
    dim of size 3, with PyTorch's deprecation warning (``autodiff.linalg.cross`` defaults to
    the last dim)."""
    a, b = pair(input, other, "cross")
    try:
        shape = numpy.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"cross: shapes {a.shape} and {b.shape} cannot be broadcast") from None
    if dim is None:
        warnings.warn("Using cross without specifying the dim arg is deprecated; pass dim or "
                      "use autodiff.linalg.cross", UserWarning, stacklevel=2)
        dim = next((i for i, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise ValueError(f"cross: no dimension of size 3 in the shape {shape}")
    (d,) = norm_dims(dim, len(shape), "cross")
    if shape[d] != 3:
        raise ValueError(f"cross: dimension {dim} must have size 3, got shape {shape}")
    a, b = broadcast_to(a, shape), broadcast_to(b, shape)
    pre = (slice(None),) * d
    ax = [getitem(a, pre + (i,)) for i in range(3)]
    bx = [getitem(b, pre + (i,)) for i in range(3)]
    return stack([sub(mul(ax[(i + 1) % 3], bx[(i + 2) % 3]),
                      mul(ax[(i + 2) % 3], bx[(i + 1) % 3])) for i in range(3)], d)
