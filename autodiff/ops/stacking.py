"""Joining, splitting and gridding composites with PyTorch's signatures: hstack/vstack/dstack/
column_stack, atleast_1d/2d/3d, tensor_split, broadcast_tensors/broadcast_shapes, meshgrid and
block_diag. All are built from the shape and indexing primitives, so they differentiate to
any order."""
from __future__ import annotations

import warnings

import numpy

from ..dtypes import get_default_dtype
from ..tensor import Tensor, make
from ._util import as_t
from .index import getitem
from .shape import broadcast_to, cat, norm_dims, pad, reshape


def _tensors(tensors, op: str) -> list[Tensor]:
    """``f(a, b)`` and ``f([a, b])`` alike, as Tensors."""
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tensors[0]
    if not tensors:
        raise ValueError(f"{op}: expected at least one tensor")
    return [as_t(t) for t in tensors]


def _promote(t: Tensor, nd: int) -> Tensor:
    """``t`` with at least ``nd`` dims, placed as NumPy and PyTorch do: (n,) -> (1, n) ->
    (1, n, 1), (m, n) -> (m, n, 1)."""
    if t.ndim >= nd:
        return t
    return reshape(t, {0: (1,) * nd, 1: ((1,) + t.shape + (1,))[:nd], 2: t.shape + (1,)}[t.ndim])


def _atleast(tensors: tuple, nd: int, op: str):
    out = tuple(_promote(t, nd) for t in _tensors(tensors, op))
    return out[0] if len(tensors) == 1 and not isinstance(tensors[0], (tuple, list)) else out


def atleast_1d(*tensors):
    """Each tensor with at least 1 dim (0-d -> (1,)); one tensor in, one out, else a tuple."""
    return _atleast(tensors, 1, "atleast_1d")


def atleast_2d(*tensors):
    """Each tensor with at least 2 dims: 0-d -> (1, 1), (n,) -> (1, n)."""
    return _atleast(tensors, 2, "atleast_2d")


def atleast_3d(*tensors):
    """Each tensor with at least 3 dims: 0-d -> (1, 1, 1), (n,) -> (1, n, 1),
    (m, n) -> (m, n, 1)."""
    return _atleast(tensors, 3, "atleast_3d")


def hstack(tensors) -> Tensor:
    """Concatenate along dim 1 (dim 0 when every tensor is at most 1-d)."""
    ts = [_promote(t, 1) for t in _tensors((tensors,), "hstack")]
    return cat(ts, 0 if all(t.ndim == 1 for t in ts) else 1)


def vstack(tensors) -> Tensor:
    """Concatenate along dim 0 after :func:`atleast_2d`."""
    return cat([_promote(t, 2) for t in _tensors((tensors,), "vstack")], 0)


row_stack = vstack


def dstack(tensors) -> Tensor:
    """Concatenate along dim 2 after :func:`atleast_3d`."""
    return cat([_promote(t, 3) for t in _tensors((tensors,), "dstack")], 2)


def column_stack(tensors) -> Tensor:
    """0-d and 1-d tensors become columns (n, 1); then concatenate along dim 1."""
    ts = [reshape(t, (-1, 1)) if t.ndim < 2 else t
          for t in _tensors((tensors,), "column_stack")]
    return cat(ts, 1)


def tensor_split(x, indices_or_sections, dim: int = 0) -> tuple:
    """PyTorch's ``tensor_split``: ``n`` sections (the first ``size % n`` one element longer)
    or the split points ``indices`` (a list, or a 1-d integer tensor; points past the end give
    empty pieces)."""
    x = as_t(x)
    (d,) = norm_dims(dim, x.ndim, "tensor_split")
    if x.ndim == 0:
        raise ValueError("tensor_split: expected at least a 1-dimensional tensor")
    n = x.shape[d]
    spec = indices_or_sections
    if isinstance(spec, Tensor):
        if spec.dtype.kind not in "iu" or spec.ndim > 1:
            raise ValueError(f"tensor_split: a tensor indices_or_sections must be a 0-d or 1-d "
                             f"integer tensor, got {spec.ndim}-d {spec.dtype}")
        spec = int(spec.item()) if spec.ndim == 0 else [int(v) for v in spec.tolist()]
    if isinstance(spec, (int, numpy.integer)):
        k = int(spec)
        if k <= 0:
            raise ValueError(f"tensor_split: the number of sections must be positive, got {k}")
        sizes = [n // k + 1] * (n % k) + [n // k] * (k - n % k)
        bounds = numpy.concatenate([[0], numpy.cumsum(sizes)]).tolist()
    else:
        bounds = [0] + [int(i) for i in spec] + [n]
    pre = (slice(None),) * d
    return tuple(getitem(x, pre + (slice(a, max(a, b)),)) for a, b in zip(bounds, bounds[1:]))


def broadcast_shapes(*shapes) -> tuple:
    """The shape the given shapes broadcast to (ints count as 1-d shapes)."""
    shapes = [(s,) if isinstance(s, int) else tuple(s) for s in shapes]
    try:
        return tuple(numpy.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"broadcast_shapes: shapes {shapes} cannot be broadcast together") \
            from None


def broadcast_tensors(*tensors) -> tuple:
    """Every tensor broadcast to their common shape."""
    ts = _tensors(tensors, "broadcast_tensors")
    shape = broadcast_shapes(*[t.shape for t in ts])
    return tuple(broadcast_to(t, shape) for t in ts)


def meshgrid(*tensors, indexing: str | None = None) -> tuple:
    """Coordinate grids from 0-d or 1-d tensors. ``indexing='ij'``: output i varies along dim
    i; ``'xy'``: the first two dims swap (Cartesian, NumPy's default). Without ``indexing`` it
    is 'ij' and a UserWarning asks for the argument, as in PyTorch."""
    if indexing is None:
        warnings.warn("meshgrid: in an upcoming release, it will be required to pass the "
                      "indexing argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = _tensors(tensors, "meshgrid")
    for t in ts:
        if t.ndim > 1:
            raise ValueError(f"meshgrid: expects 0-d or 1-d tensors, got shapes "
                             f"{[u.shape for u in ts]}")
    axes = list(range(len(ts)))
    if indexing == "xy" and len(ts) > 1:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(ts)
    for t, a in zip(ts, axes):
        shape[a] = t.numel() if t.ndim else 1
    out = []
    for t, a in zip(ts, axes):
        view = [1] * len(ts)
        view[a] = shape[a]
        out.append(broadcast_to(reshape(t, tuple(view)), tuple(shape)))
    return tuple(out)


def block_diag(*tensors) -> Tensor:
    """The block-diagonal matrix of the given 0-d, 1-d (one row) or 2-d blocks; zeros
    elsewhere."""
    if not tensors:
        return make(numpy.zeros((0, 0), get_default_dtype()))
    blocks = []
    for t in _tensors(tensors, "block_diag"):
        if t.ndim > 2:
            raise ValueError(f"block_diag: blocks must have at most 2 dims, got shape {t.shape}")
        blocks.append(reshape(t, (1, 1) if t.ndim == 0 else (1, -1) if t.ndim == 1 else t.shape))
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        rows.append(pad(b, ((0, 0), (left, width - left - b.shape[1]))))
        left += b.shape[1]
    return cat(rows, 0)
