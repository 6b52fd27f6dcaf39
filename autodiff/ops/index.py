"""Indexing primitives: ``x[idx]`` (backward scatter-adds, so repeated indices sum), the
out-of-place ``index_put`` behind ``x[idx] = v``, and composites (gather, take, index_select,
sort)."""
from __future__ import annotations

import numpy

from ..tape import record
from ..tensor import Tensor, make
from ._util import as_t


def _plain_index(idx, xp):
    """Replace Tensors inside an index by arrays; report whether the index is advanced."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    out, advanced = [], False
    for i in idx:
        if isinstance(i, Tensor):
            i = i.data
        if isinstance(i, (list, numpy.ndarray)) or type(i).__module__.startswith("cupy"):
            i = xp.asarray(i)
            if i.dtype.kind not in "iub":
                raise IndexError(f"getitem: index arrays must be integer or bool, got {i.dtype}")
            advanced = True
        out.append(i)
    return tuple(out), advanced


def getitem(x, idx) -> Tensor:
    x = as_t(x)
    key, advanced = _plain_index(idx, x.xp)
    try:
        out = x.data[key]
    except IndexError as e:
        raise IndexError(f"getitem: index {idx!r} is invalid for a tensor of shape {x.shape}: "
                         f"{e}") from None
    if not advanced:
        out = out.copy() if hasattr(out, "copy") else out
    return record("getitem", _getitem_bw, x.xp.asarray(out), (x,), attrs=(key, advanced))


def _getitem_bw(ctx, g):
    key, advanced = ctx.attrs
    shape, dtype = ctx.in_meta[0]
    return (index_add_into(g, shape, key, advanced),)


def index_add_into(g, shape, key, advanced) -> Tensor:
    """zeros(shape) with ``g`` added at ``key`` (repeated indices accumulate); the VJP of
    getitem, whose own VJP is getitem again."""
    xp = g.xp
    out = xp.zeros(shape, g.dtype)
    if advanced:
        if xp is numpy:
            numpy.add.at(out, key, g.data)
        else:
            import cupyx
            cupyx.scatter_add(out, key, g.data)
    else:
        out[key] = g.data
    return record("index_add", _index_add_bw, out, (g,), attrs=key)


def _index_add_bw(ctx, gg):
    return (getitem(gg, ctx.attrs),)


def index_put(x, idx, value) -> Tensor:
    """A copy of ``x`` with ``value`` written at ``idx`` (what ``x[idx] = value`` records)."""
    x = as_t(x)
    value = value if isinstance(value, Tensor) else make(x.xp.asarray(value, dtype=x.dtype))
    key, advanced = _plain_index(idx, x.xp)
    out = x.data.copy()
    try:
        out[key] = value.data
    except (ValueError, IndexError) as e:
        raise ValueError(f"setitem: cannot assign a value of shape {value.shape} at {idx!r} "
                         f"of a tensor of shape {x.shape}: {e}") from None
    return record("index_put", _index_put_bw, out, (x, value), attrs=(key, advanced))


def _index_put_bw(ctx, g):
    key, advanced = ctx.attrs
    nx, nv = ctx.needs_input_grad
    gx = index_put(g, key, 0.0) if nx else None
    gv = None
    if nv:
        gv = getitem(g, key)
    return gx, gv


def setitem(x: Tensor, idx, value) -> None:
    """``x[idx] = value``. Without a graph involved the write is in place; otherwise x is
    rebased onto an ``index_put`` node (as PyTorch does), refused for leaves that need grad."""
    from ..grad_mode import STATE
    need_graph = STATE.enabled and (x._requires_grad or
                                    (isinstance(value, Tensor) and value._requires_grad))
    if not need_graph:
        key, _ = _plain_index(idx, x.xp)
        v = value.data if isinstance(value, Tensor) else value
        try:
            x.data[key] = v
        except (ValueError, IndexError) as e:
            raise ValueError(f"setitem: cannot assign {getattr(v, 'shape', type(v).__name__)} "
                             f"at {idx!r} of a tensor of shape {x.shape}: {e}") from None
        x._version.v += 1
        return
    if x.grad_fn is None and x._requires_grad:
        raise RuntimeError("setitem: a leaf tensor that requires grad cannot be modified in "
                           "place; write into a clone, or do it under autodiff.no_grad()")
    new = index_put(_snapshot(x), idx, value)
    x.data, x.grad_fn, x._out_idx, x._requires_grad = new.data, new.grad_fn, 0, True
    x._version.v += 1


def _snapshot(x: Tensor) -> Tensor:
    """A tensor object standing for x's value and history before an in-place rebase.

    It gets its own version counter: x is rebased onto a new array, so the old array it
    holds is never written again, and an op that saves it (``b *= 3`` saves the old b) must
    not see the rebase of x as a modification."""
    return make(x.data, x._requires_grad, x.grad_fn, x._out_idx)


def gather(x, dim: int, index) -> Tensor:
    """PyTorch's ``gather``: out[i][j] = x[i][index[i][j]] for dim=1 (any rank)."""
    x = as_t(x)
    index = index.data if isinstance(index, Tensor) else index
    xp = x.xp
    index = xp.asarray(index)
    if index.ndim != x.ndim:
        raise ValueError(f"gather: index has {index.ndim} dims but input has {x.ndim}")
    d = dim % x.ndim
    grids = list(xp.ix_(*[xp.arange(n) for n in index.shape]))
    grids[d] = index
    return getitem(x, tuple(grids))


def take(x, index) -> Tensor:
    """PyTorch's ``take``: index into the flattened tensor."""
    from .shape import reshape
    x = as_t(x)
    return getitem(reshape(x, (-1,)), (index.data if isinstance(index, Tensor) else
                                       x.xp.asarray(index)))


def index_select(x, dim: int, index) -> Tensor:
    x = as_t(x)
    index = index.data if isinstance(index, Tensor) else x.xp.asarray(index)
    if index.ndim != 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {index.shape}")
    return getitem(x, (slice(None),) * (dim % x.ndim) + (index,))


def take_along_axis(x, indices, axis: int) -> Tensor:
    return gather(x, axis, indices)


def sort(x, dim: int = -1, descending: bool = False):
    """(values, indices) along ``dim``; values carry the gradient (routed back by index)."""
    x = as_t(x)
    idx = x.xp.argsort(x.data, axis=dim, kind="stable")
    if descending:
        idx = x.xp.flip(idx, axis=dim)
    return SortResult(gather(x, dim, idx), make(idx))


def argsort(x, dim: int = -1, descending: bool = False) -> Tensor:
    return sort(x, dim, descending).indices


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
