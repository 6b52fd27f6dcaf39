"""Sorting, selection and searching, with PyTorch's signatures and named tuples: ``sort``,
``argsort``, ``topk``, ``kthvalue``, ``median``, ``nanmedian``, ``mode`` (values whose gradient
goes to the returned indices, gathered from the input), and the integer-valued ``unique``,
``unique_consecutive``, ``searchsorted``, ``bucketize``, ``histc`` (no gradient).

Orders are stable: ties keep their input order (descending too), NaN sorts as the largest
value (PyTorch). Where PyTorch leaves the index of a tie unspecified (``kthvalue``,
``median(dim)``, ``topk``) the first in that stable order is returned.
"""
from __future__ import annotations

import numpy

from ..backends import get_array_module
from ..tensor import Tensor, make
from ._util import as_t, norm_dim
from .elementwise import where
from .reduce import ValuesIndices, amax, dim_arg, keep_arg, on_vector, select_along
from .scan import inclusive_scan

_INT64 = numpy.dtype("int64")


def _take(a, idx, d: int):
    return get_array_module(a).take_along_axis(a, idx, axis=d)


def _order(a, d: int, descending: bool = False):
    """Stable argsort along ``d`` (int64); descending keeps ties in input order and puts NaN
    first, as PyTorch's ``sort(stable=True, descending=True)``."""
    xp = get_array_module(a)
    if not descending:
        return xp.argsort(a, axis=d, kind="stable").astype(_INT64, copy=False)
    rev = xp.argsort(xp.flip(a, d), axis=d, kind="stable").astype(_INT64, copy=False)
    return (a.shape[d] - 1) - xp.flip(rev, d)


def _along_args(x, dim, axis, op: str) -> tuple[Tensor, int]:
    x = as_t(x)
    return x, norm_dim(dim_arg(dim, axis, op, -1), x.ndim, op)


def _first(idx, k, d: int):
    """The entries of ``idx`` at position(s) ``k`` (an int, or an array shaped as ``idx`` with
    size 1 along ``d``) along ``d``, kept as a dim of size 1."""
    if isinstance(k, int):
        return idx[(slice(None),) * d + (slice(k, k + 1),)]
    return _take(idx, k, d)


# ----------------------------------------------------------------------------- sort
class SortResult(tuple):
    """(values, indices), as PyTorch's named tuple."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


def sort(input, dim: int = -1, descending: bool = False, stable: bool = False, *,  # noqa: A002
         axis=None) -> SortResult:
    """(values, indices) along ``dim``; always stable (``stable=False`` allows any order of
    ties, so the stable one is PyTorch's answer too); values carry the gradient, routed back
    by index."""
    x = input  # PyTorch's parameter names
    x, d = _along_args(x, dim, axis, "sort")
    return on_vector(x, lambda t: select_along(t, d, _order(t.array, d, descending), True,
                                               SortResult))


def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False, *,  # noqa: A002
            axis=None) -> Tensor:
    """The int64 indices that sort ``x`` along ``dim`` (stable; see :func:`sort`)."""
    x = input  # PyTorch's parameter names
    x, d = _along_args(x, dim, axis, "argsort")
    if x.ndim == 0:
        return make(x.xp.zeros((), _INT64))
    return make(_order(x.array, d, descending))


def msort(x) -> Tensor:
    """``sort(x, dim=0).values``."""
    return sort(x, 0).values


# ----------------------------------------------------------------------------- topk, kthvalue
def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True, *,  # noqa: A002
         axis=None) -> ValuesIndices:
    """The ``k`` largest (or smallest) entries along ``dim`` and their indices, in sorted order
    (also for ``sorted=False``, which leaves the order to the implementation)."""
    x = input  # PyTorch's parameter names
    x, d = _along_args(x, dim, axis, "topk")
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk(): selected index k={k} out of range for dimension {d} of "
                           f"size {n}")
    return on_vector(x, lambda t: select_along(
        t, d, _order(t.array, d, largest)[(slice(None),) * d + (slice(0, k),)], True))


def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False, *, axis=None,  # noqa: A002
             keepdims=None) -> ValuesIndices:
    """The ``k``-th smallest entry (1-based) along ``dim`` and its index."""
    x = input  # PyTorch's parameter names
    x, d = _along_args(x, dim, axis, "kthvalue")
    n = x.shape[d] if x.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k={k} out of range for dimension {d} "
                           f"of size {n}")
    keep = keep_arg(keepdim, keepdims)
    return on_vector(x, lambda t: select_along(t, d, _first(_order(t.array, d), k - 1, d),
                                               keep))


# ----------------------------------------------------------------------------- median, mode
def _median_position(a, d: int, ignore_nan: bool):
    """Position in the ascending stable order along ``d`` of the lower median (kept as a dim
    of size 1): of the non-NaN entries with ``ignore_nan`` (the first NaN where all are NaN),
    else the first NaN wherever there is one (NaN propagates, as in PyTorch)."""
    xp = get_array_module(a)
    n = a.shape[d]
    if a.dtype.kind not in "fc":
        return xp.full(a.shape[:d] + (1,) + a.shape[d + 1:], (n - 1) // 2, dtype=_INT64)
    nan = xp.isnan(a).sum(axis=d, keepdims=True).astype(_INT64)
    valid = n - nan
    if ignore_nan:
        return xp.maximum((valid - 1) // 2, 0)
    return xp.where(nan > 0, valid, (n - 1) // 2)


def _median(x, dim, keepdim, axis, keepdims, op: str, ignore_nan: bool):
    x = as_t(x)
    dim = dim_arg(dim, axis, op)
    if dim is None:
        if x.array.size == 0:
            return make(x.xp.asarray(numpy.nan, dtype=x.dtype))
        a = x.array.reshape(-1)
        order = _order(a, 0)
        v = a[order[_median_position(a, 0, ignore_nan)]].reshape(())
        return _shared_evenly(x, v)
    d = norm_dim(dim, x.ndim, op)
    keep = keep_arg(keepdim, keepdims)
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size (a tensor "
                         f"of shape {x.shape})")

    def run(t):
        order = _order(t.array, d)
        return select_along(t, d, _take(order, _median_position(t.array, d, ignore_nan), d),
                            keep)
    return on_vector(x, run)


def _shared_evenly(x: Tensor, v) -> Tensor:
    """The value ``v`` (a 0-d array, an element of ``x``) as a reduction of ``x`` whose
    gradient is shared evenly among the elements equal to it (NaN: among the NaNs), as
    PyTorch's ``median()``: ``amax`` over those elements."""
    if x.dtype.kind not in "fc":
        return make(x.xp.asarray(v))
    xp = x.xp
    hit = (x.array == v) | (xp.isnan(x.array) & xp.isnan(v))
    return amax(where(hit, x, float("-inf")))


def median(input, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):  # noqa: A002
    """``median(x)``: the lower of the two middle values of all elements (NaN if there is one),
    its gradient shared evenly among the elements equal to it; ``median(x, dim)``: the named
    tuple (values, indices) along ``dim``, the gradient going to the indices (PyTorch)."""
    x = input  # PyTorch's parameter names
    return _median(x, dim, keepdim, axis, keepdims, "median", False)


def nanmedian(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """:func:`median` of the non-NaN elements (NaN where all are NaN)."""
    return _median(x, dim, keepdim, axis, keepdims, "nanmedian", True)


def mode(x, dim: int = -1, keepdim: bool = False, *, axis=None, keepdims=None) -> ValuesIndices:
    """The most frequent value along ``dim`` (the smallest of equally frequent ones) and the
    index of its last occurrence (PyTorch's CPU choice); the gradient goes to that index."""
    x, d = _along_args(x, dim, axis, "mode")
    keep = keep_arg(keepdim, keepdims)
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size")
    return on_vector(x, lambda t: select_along(t, d, _mode_index(t.array, d), keep))


def _mode_index(a, d: int):
    """Index along ``d`` of the mode (size 1 along ``d``): in the stable ascending order a run
    of equal values ends at its last occurrence; the first position where the run length
    reaches its maximum ends the smallest most frequent value."""
    xp = get_array_module(a)
    order = _order(a, d)
    s = _take(a, order, d)
    n = a.shape[d]
    shape = [1] * a.ndim
    shape[d] = n
    pos = xp.arange(n, dtype=_INT64).reshape(shape)
    prev = xp.concatenate([_first(s, 0, d), s[(slice(None),) * d + (slice(0, n - 1),)]], d)
    starts = (s != prev) | (pos == 0)
    run_start = inclusive_scan(xp.maximum, xp.where(starts, pos, 0), d)
    length = pos - run_start + 1
    best = xp.expand_dims(length.argmax(axis=d), d).astype(_INT64, copy=False)
    return _take(order, best, d)


# ----------------------------------------------------------------------------- unique
def unique(input, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim=None):
    """The sorted distinct values (``sorted=False`` sorts too, as PyTorch does on the CPU), or
    the distinct slices along ``dim``; with the int64 inverse indices (shaped as ``x``, or as
    ``x.shape[dim]``) and counts when asked. NaNs are each distinct (PyTorch). No gradient."""
    x = as_t(input)
    xp, a = x.xp, x.array
    if dim is None:
        flat = a.reshape(-1)
        order = _order(flat, 0)
        vals, inverse, counts = _runs(flat[order].reshape(-1, 1))
        inv = xp.empty_like(order)
        inv[order] = inverse
        out = (vals.reshape(-1), inv.reshape(a.shape), counts)
    else:
        d = norm_dim(dim, a.ndim, "unique")
        rows = xp.moveaxis(a, d, 0).reshape(a.shape[d] if a.ndim else 1, -1)
        # lexicographic order of the slices: the first column is the primary key
        order = xp.lexsort(rows.T[::-1]) if rows.size else xp.arange(rows.shape[0])
        order = order.astype(_INT64, copy=False)
        vals, inverse, counts = _runs(rows[order])
        inv = xp.empty_like(order)
        inv[order] = inverse
        out = (xp.moveaxis(vals.reshape((-1,) + xp.moveaxis(a, d, 0).shape[1:]), 0, d), inv,
               counts)
    return _unique_result(out, return_inverse, return_counts)


def unique_consecutive(x, return_inverse: bool = False, return_counts: bool = False, dim=None):
    """Each run of equal consecutive values (or slices along ``dim``) collapsed to one, with
    the int64 inverse indices and run lengths when asked. No gradient."""
    x = as_t(x)
    xp, a = x.xp, x.array
    if dim is None:
        vals, inv, counts = _runs(a.reshape(-1, 1))
        out = (vals.reshape(-1), inv.reshape(a.shape), counts)
    else:
        d = norm_dim(dim, a.ndim, "unique_consecutive")
        moved = xp.moveaxis(a, d, 0)
        vals, inv, counts = _runs(moved.reshape(moved.shape[0], -1))
        out = (xp.moveaxis(vals.reshape((-1,) + moved.shape[1:]), 0, d), inv, counts)
    return _unique_result(out, return_inverse, return_counts)


def _runs(rows):
    """(the first row of each run of equal consecutive rows, the run number of every row,
    the run lengths) of a 2-D array, the last two int64."""
    xp = get_array_module(rows)
    n = rows.shape[0]
    new = xp.ones(n, dtype=bool)
    if n > 1:
        new[1:] = (rows[1:] != rows[:-1]).any(axis=1) if rows.shape[1] else False
    inverse = xp.cumsum(new).astype(_INT64) - 1
    starts = xp.nonzero(new)[0].astype(_INT64)
    counts = xp.diff(xp.concatenate([starts, xp.asarray([n], dtype=_INT64)]))
    return rows[starts], inverse, counts


def _unique_result(out, return_inverse: bool, return_counts: bool):
    vals, inv, counts = (make(o) for o in out)
    if not (return_inverse or return_counts):
        return vals
    return (vals,) + ((inv,) if return_inverse else ()) + ((counts,) if return_counts else ())


# ----------------------------------------------------------------------------- searching
def searchsorted(sorted_sequence, input, *, out_int32: bool = False,  # noqa: A002
                 right: bool = False, side: str | None = None, sorter=None) -> Tensor:
    """Indices (int64, int32 with ``out_int32``) at which ``input`` would be inserted into
    ``sorted_sequence`` (sorted along its last dim; ``sorter`` sorts it) to keep it sorted:
    the first such place, or the last with ``right=True``/``side='right'``. A 1-D sequence
    serves every value; otherwise its leading dims match ``input``'s."""
    if side is not None:
        if side not in ("left", "right"):
            raise ValueError(f"searchsorted(): side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise ValueError("searchsorted(): side='left' and right=True contradict each other")
        right = side == "right"
    seq = as_t(sorted_sequence)
    xp, s = seq.xp, seq.array
    scalar = not isinstance(input, Tensor) and numpy.ndim(input) == 0
    v = xp.asarray(input.array if isinstance(input, Tensor) else input)
    if s.ndim == 0:
        raise ValueError("searchsorted(): sorted_sequence must have at least one dimension")
    if sorter is not None:
        s = _take(s, xp.asarray(sorter.array if isinstance(sorter, Tensor) else sorter), -1)
    how = "right" if right else "left"
    if s.ndim == 1:
        out = xp.searchsorted(s, v, side=how)
    else:
        if v.ndim != s.ndim or v.shape[:-1] != s.shape[:-1]:
            raise ValueError(f"searchsorted(): the leading dims of sorted_sequence "
                             f"{tuple(s.shape)} and input {tuple(v.shape)} must match")
        rows_s, rows_v = s.reshape(-1, s.shape[-1]), v.reshape(-1, v.shape[-1])
        out = xp.stack([xp.searchsorted(rs, rv, side=how) for rs, rv in zip(rows_s, rows_v)]) \
            if rows_s.shape[0] else xp.zeros(rows_v.shape, _INT64)
        out = out.reshape(v.shape)
    out = xp.asarray(out).astype(numpy.int32 if out_int32 else _INT64)
    return make(out.reshape(()) if scalar else out)


def bucketize(input, boundaries, *, out_int32: bool = False,  # noqa: A002
              right: bool = False) -> Tensor:
    """The bucket of each value among the sorted 1-D ``boundaries``: i with
    boundaries[i-1] < v <= boundaries[i] (``right=True``: boundaries[i-1] <= v <
    boundaries[i])."""
    b = as_t(boundaries)
    if b.ndim != 1:
        raise ValueError(f"bucketize(): boundaries must be 1-D, got shape {b.shape}")
    return searchsorted(b, input, out_int32=out_int32, right=right)


def histc(input, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """Counts of ``x`` in ``bins`` equal bins over [min, max] (the data's range when min ==
    max, widened by 1 each way if that is one point), in ``x``'s floating dtype; values
    outside are ignored, max falls in the last bin. No gradient."""
    x = as_t(input)
    xp, a = x.xp, x.array
    if a.dtype.kind != "f":
        raise TypeError(f"histc(): expected a floating point input, got {a.dtype}")
    if bins <= 0:
        raise ValueError(f"histc(): bins must be > 0, got {bins}")
    lo, hi = float(min), float(max)
    if lo > hi:
        raise ValueError(f"histc(): max ({hi}) must be larger than min ({lo})")
    if lo == hi and a.size:
        lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    counts, _ = xp.histogram(a[~xp.isnan(a)], bins=int(bins), range=(lo, hi))
    return make(counts.astype(a.dtype))
