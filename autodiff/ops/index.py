"""Indexing primitives, registered beside their rules: ``x[idx]`` (backward scatter-adds, so
repeated indices sum), its VJP ``index_add``, the out-of-place ``index_put`` behind
``x[idx] = v``, and composites (gather, index_select, sort). ``take`` (flatten, then index)
lives with the shape composites."""
from __future__ import annotations

import builtins

import numpy

from ..backends import array_ops, device_of, get_array_module, on_host
from ..grad_mode import STATE
from ..tape import increment_version, record
from ..tensor import Tensor, make
from ._util import as_array_on, as_t
from .registry import SAME, primitive


def _plain_index(idx, xp, shape: tuple, op: str = "getitem"):
    """Replace Tensors and lists inside an index by arrays of ``xp``; report whether the index
    is advanced. For data on a GPU, integer index arrays are range-checked here (NumPy checks
    its own; CuPy would wrap an out-of-range index silently): host arrays before the upload,
    device arrays with one synchronisation for the whole index."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    parts = [i.array if isinstance(i, Tensor) else i for i in idx]
    parts = [numpy.asarray(i) if isinstance(i, list) else i for i in parts]
    check = not on_host(xp)
    used = builtins.sum(_axes_taken(i) for i in parts)
    out, advanced, axis, on_device = [], False, 0, []
    for i in parts:
        if isinstance(i, numpy.ndarray) or device_of(i) != "cpu":
            if i.dtype.kind not in "iub":
                raise IndexError(f"{op}: index arrays must be integer or bool, got {i.dtype}")
            if not check and not on_host(i):
                raise TypeError(f"{op}: the index array lives on {device_of(i)} but the tensor "
                                f"on cpu; move the index with .to('cpu') (or the tensor)")
            if check and i.dtype.kind in "iu" and axis < len(shape) and i.size:
                n = shape[axis]
                bad = (i < -n) | (i >= n)
                if isinstance(i, numpy.ndarray):
                    _raise_out_of_range(i, bad, axis, n, shape, op)
                else:
                    on_device.append((i, bad, axis, n))
            i = xp.asarray(i)
            advanced = True
        axis += len(shape) - used if i is Ellipsis else _axes_taken(i)
        out.append(i)
    if on_device and bool(xp.stack([bad.any() for _, bad, _, _ in on_device]).any()):
        for i, bad, ax, n in on_device:
            _raise_out_of_range(i, bad, ax, n, shape, op)
    return tuple(out), advanced


def _axes_taken(i) -> int:
    """How many axes of the indexed array the index component ``i`` consumes."""
    if i is None or i is Ellipsis:
        return 0
    if getattr(i, "dtype", None) == bool:
        return i.ndim
    return 1


def _bad_index(op: str, idx, x: Tensor, e: Exception) -> IndexError:
    return IndexError(f"{op}: index {idx!r} is invalid for a tensor of shape {x.shape}: {e}")


def _raise_out_of_range(i, bad, axis: int, n: int, shape: tuple, op: str) -> None:
    if bool(bad.any()):
        v = int(i[bad].reshape(-1)[0])
        raise IndexError(f"{op}: index {v} is out of bounds for axis {axis} with size {n} "
                         f"(a tensor of shape {tuple(shape)})")


def getitem(x, idx) -> Tensor:
    x = as_t(x)
    key, advanced = _plain_index(idx, x.xp, x.shape)
    try:
        out = _getitem_fw(x.array, key, advanced)
    except IndexError as e:
        raise _bad_index("getitem", idx, x, e) from None
    return record(GETITEM, out, (x,), attrs=(key, advanced))


def _getitem_fw(x, key, advanced):
    out = x[key]
    if not advanced:
        out = out.copy() if hasattr(out, "copy") else out
    return get_array_module(x).asarray(out)


def _getitem_bw(ctx, g):
    key, advanced = ctx.attrs
    shape, dtype = ctx.in_meta[0]
    return (index_add_into(g, shape, key, advanced),)


def _getitem_infer(in_meta, key, advanced):
    (shape, dtype), = in_meta
    # index a zero-strided stand-in of the input: the result's shape, no data touched
    probe = numpy.broadcast_to(numpy.empty((), numpy.int8), shape)
    host_key = tuple(k.get() if device_of(k) != "cpu" else k for k in key)
    return ((numpy.shape(probe[host_key]), dtype),)


GETITEM = primitive("getitem", _getitem_bw, forward=_getitem_fw, inputs="x",
                    attrs=("key", "advanced"), infer=_getitem_infer)


def index_add_into(g, shape, key, advanced) -> Tensor:
    """zeros(shape) with ``g`` added at ``key`` (repeated indices accumulate); the VJP of
    getitem, whose own VJP is getitem again."""
    return record(INDEX_ADD, _index_add_fw(g.array, shape, key, advanced), (g,),
                  attrs=(shape, key, advanced))


def _index_add_fw(g, shape, key, advanced):
    out = get_array_module(g).zeros(shape, g.dtype)
    if advanced:
        array_ops.scatter_add(out, key, g)
    else:
        out[key] = g
    return out


def _index_add_bw(ctx, gg):
    return (getitem(gg, ctx.attrs[1]),)


def _index_add_infer(in_meta, shape, key, advanced):
    return ((tuple(shape), in_meta[0][1]),)


INDEX_ADD = primitive("index_add", _index_add_bw, forward=_index_add_fw, inputs="grad",
                      attrs=("shape", "key", "advanced"), infer=_index_add_infer)


def index_put(x, idx, value) -> Tensor:
    """A copy of ``x`` with ``value`` written at ``idx`` (what ``x[idx] = value`` records)."""
    x = as_t(x)
    value = value if isinstance(value, Tensor) else \
        make(x.xp.asarray(as_array_on(value, x), dtype=x.dtype))
    key, advanced = _plain_index(idx, x.xp, x.shape, "setitem")
    try:
        out = _index_put_fw(x.array, value.array, key, advanced)
    except IndexError as e:
        raise _bad_index("setitem", idx, x, e) from None
    except ValueError as e:
        raise ValueError(f"setitem: cannot assign a value of shape {value.shape} at {idx!r} "
                         f"of a tensor of shape {x.shape}: {e}") from None
    return record(INDEX_PUT, out, (x, value), attrs=(key, advanced))


def _index_put_fw(x, value, key, advanced):
    out = x.copy()
    out[key] = value
    return out


def _index_put_bw(ctx, g):
    key, advanced = ctx.attrs
    nx, nv = ctx.needs_input_grad
    gx = index_put(g, key, 0.0) if nx else None
    gv = None
    if nv:
        gv = getitem(g, key)
    return gx, gv


INDEX_PUT = primitive("index_put", _index_put_bw, forward=_index_put_fw, inputs=("x", "value"),
                      attrs=("key", "advanced"), infer=SAME)


def setitem(x: Tensor, idx, value) -> None:
    """``x[idx] = value``. Without a graph involved the write is in place; otherwise x is
    rebased onto an ``index_put`` node (as PyTorch does), refused for leaves that need grad."""
    need_graph = STATE.enabled and (x._requires_grad or
                                    (isinstance(value, Tensor) and value._requires_grad))
    if not need_graph:
        key, _ = _plain_index(idx, x.xp, x.shape, "setitem")
        v = as_array_on(value, x)
        try:
            x.array[key] = v
        except IndexError as e:
            raise _bad_index("setitem", idx, x, e) from None
        except ValueError as e:
            raise ValueError(f"setitem: cannot assign {getattr(v, 'shape', type(v).__name__)} "
                             f"at {idx!r} of a tensor of shape {x.shape}: {e}") from None
        increment_version(x)
        return
    if x.grad_fn is None and x._requires_grad:
        raise RuntimeError("setitem: a leaf tensor that requires grad cannot be modified in "
                           "place; write into a clone, or do it under autodiff.no_grad()")
    new = index_put(_snapshot(x), idx, value)
    x.array, x.grad_fn, x._out_idx, x._requires_grad = new.array, new.grad_fn, 0, True
    increment_version(x)


def _snapshot(x: Tensor) -> Tensor:
    """A tensor object standing for x's value and history before an in-place rebase.

    It gets its own version counter: x is rebased onto a new array, so the old array it
    holds is never written again, and an op that saves it (``b *= 3`` saves the old b) must
    not see the rebase of x as a modification."""
    return make(x.array, x._requires_grad, x.grad_fn, x._out_idx)


def gather(x, dim: int, index) -> Tensor:
    """PyTorch's ``gather``: out[i][j] = x[i][index[i][j]] for dim=1 (any rank)."""
    x = as_t(x)
    index = index.array if isinstance(index, Tensor) else index
    xp = x.xp
    index = xp.asarray(index)
    if index.ndim != x.ndim:
        raise ValueError(f"gather: index has {index.ndim} dims but input has {x.ndim}")
    d = dim % x.ndim
    grids = list(xp.ix_(*[xp.arange(n) for n in index.shape]))
    grids[d] = index
    return getitem(x, tuple(grids))


def index_select(x, dim: int, index) -> Tensor:
    x = as_t(x)
    index = index.array if isinstance(index, Tensor) else x.xp.asarray(index)
    if index.ndim != 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {index.shape}")
    return getitem(x, (slice(None),) * (dim % x.ndim) + (index,))


def take_along_axis(x, indices, axis: int) -> Tensor:
    return gather(x, axis, indices)


def sort(x, dim: int = -1, descending: bool = False):
    """(values, indices) along ``dim``; values carry the gradient (routed back by index)."""
    x = as_t(x)
    idx = x.xp.argsort(x.array, axis=dim, kind="stable")
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
