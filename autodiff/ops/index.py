"""Indexing primitives, registered beside their rules: ``x[idx]`` (backward scatter-adds, so
repeated indices sum), its VJP ``index_add``, the out-of-place ``index_put`` behind
``x[idx] = v`` and ``index_put(..., accumulate=)``, in-place writes (``modify_``), and the
composites along a dimension (gather, index_select, take_along_dim; ``sort`` is in
``search.py``). ``take`` (flatten, then index) lives with the shape composites; the scatter,
masked and index_* family in ``scatter.py``.

An index means what it means in PyTorch, which differs from NumPy: integers (and 0-d integer
tensors) index first, as basic indexing, and only then do the index tensors apply, by NumPy's
advanced-indexing rule on what is left (adjacent index tensors put their broadcast dimensions
in place, separated ones put them first). For ``x`` of shape (3, 4, 5, 6) and ``d`` of shape
(2,), ``x[1, :, d, :]`` is (4, 2, 6) where NumPy gives (2, 4, 6). :func:`parse_index` turns an
index into a NumPy key with PyTorch's meaning: the key itself where the two agree, else a
:class:`SplitKey` (the integers, then the rest). A Python bool (or 0-d bool tensor) adds a
dimension of length 1 (True) or 0 (False) that counts as an index tensor, a uint8 tensor is a
mask (deprecated in PyTorch, warned here too), and a list holding sequences, tensors, slices,
None or Ellipsis is read as a tuple (PyTorch's deprecated reading, with its warning)."""
from __future__ import annotations

import operator
import warnings

import numpy

from .. import backends
from ..backends import device_of, get_array_module, on_host
from ..grad_mode import STATE
from ..tape import increment_version, record
from ..tensor import Tensor, make
from ._util import as_array_on, as_t
from .registry import SAME, primitive

_ALL = slice(None)


class SplitKey:
    """An index whose integers PyTorch applies before its index tensors: ``pre`` (integers,
    slices, None: NumPy basic indexing, a view), then ``post`` (full slices and index arrays,
    NumPy's advanced indexing, which now agrees with PyTorch's) on the result."""

    __slots__ = ("pre", "post")

    def __init__(self, pre: tuple, post: tuple) -> None:
        self.pre, self.post = pre, post

    def __repr__(self) -> str:
        return f"SplitKey(pre={self.pre!r}, post={self.post!r})"


def read(a, key):
    """``a[key]`` for a parsed key (a NumPy key or a :class:`SplitKey`)."""
    if isinstance(key, SplitKey):
        return a[key.pre][key.post]
    return a[key]


def _target(a, key) -> tuple:
    """(array, key) through which ``a[key]`` is written: a split key's basic part is applied
    first, a view of ``a``, so writes through it land in ``a``."""
    if isinstance(key, SplitKey):
        return a[key.pre], key.post
    return a, key


# ----------------------------------------------------------------------------- parsing
_SEQUENCE_WARNING = ("Using a non-tuple sequence for multidimensional indexing is deprecated "
                     "in PyTorch (which reads it as a tuple, as done here; a later PyTorch "
                     "reads it as a tensor index); use x[tuple(seq)] instead of x[seq]")


def _is_sequence(i) -> bool:
    if isinstance(i, (list, tuple, Tensor)):
        return True
    return hasattr(i, "ndim") and hasattr(i, "__len__") and not isinstance(i, numpy.generic)


def _as_tuple(idx) -> tuple:
    """PyTorch's reading of an index as a tuple of components (``treatSequenceAsTuple``)."""
    if isinstance(idx, tuple):
        return idx
    if isinstance(idx, list) and len(idx) < 32 and any(
            i is None or i is Ellipsis or isinstance(i, slice) or _is_sequence(i) for i in idx):
        warnings.warn(_SEQUENCE_WARNING, UserWarning, stacklevel=4)
        return tuple(idx)
    return (idx,)


def _component(i, op: str):
    """One index component as None, Ellipsis, a slice of ints, an int, a bool (a 0-d mask) or
    an integer/bool array (NumPy or CuPy)."""
    if i is None or i is Ellipsis:
        return i
    if isinstance(i, slice):
        try:
            return slice(*(None if b is None else operator.index(b)
                           for b in (i.start, i.stop, i.step)))
        except TypeError:
            raise IndexError(f"{op}: slice bounds must be integers, got {i!r}") from None
    if isinstance(i, (bool, numpy.bool_)):
        return bool(i)
    if isinstance(i, Tensor):
        i = i.array
    elif isinstance(i, (list, tuple)):
        try:
            i = numpy.asarray(i) if len(i) else numpy.zeros(0, numpy.int64)
        except ValueError as e:
            raise IndexError(f"{op}: the list {i!r} is not a valid index: {e}") from None
    if hasattr(i, "dtype") and hasattr(i, "ndim"):
        if i.dtype.kind not in "iub":
            raise IndexError(f"{op}: tensors used as indices must be integer or bool tensors, "
                             f"got dtype {i.dtype}")
        if i.dtype == numpy.uint8:
            warnings.warn(f"{op}: indexing with dtype uint8 is deprecated (PyTorch reads it as "
                          f"a boolean mask, as done here); use a bool tensor", UserWarning,
                          stacklevel=4)
            i = i.astype(bool)
        if i.ndim == 0:             # PyTorch: a 0-d integer tensor selects, like an int
            return bool(i) if i.dtype == bool else int(i)
        return i
    try:
        return operator.index(i)
    except TypeError:
        raise IndexError(f"{op}: only integers, slices, None, Ellipsis and integer or bool "
                         f"tensors are valid indices, got {type(i).__name__}") from None


def _axes_taken(i) -> int:
    """How many dimensions of the indexed tensor the parsed component ``i`` consumes."""
    if i is None or i is Ellipsis or isinstance(i, bool):
        return 0
    if getattr(i, "dtype", None) == bool:
        return i.ndim
    return 1


def _out_of_bounds(op: str, index: int, dim: int, n: int, shape: tuple) -> str:
    return (f"{op}: index {index} is out of bounds for dimension {dim} with size {n} "
            f"(a tensor of shape {tuple(shape)})")


def parse_index(idx, xp, shape: tuple, op: str = "getitem", check_host: bool = False) -> tuple:
    """PyTorch's meaning of ``idx`` on a tensor of ``shape`` as ``(key, advanced)``: ``key`` a
    NumPy key (or :class:`SplitKey`) on arrays of ``xp``, ``advanced`` whether it holds index
    arrays. Bad indices raise here, naming the dimension, the index and the size, except
    out-of-range values in index arrays into a host tensor, which NumPy catches when the key
    is used (then :func:`_explain` parses again with ``check_host`` for the message). For a
    tensor on a GPU (where CuPy would wrap an out-of-range index silently) they are checked
    here, device index arrays with one synchronisation for the whole index."""
    simple = _basic_only(idx, shape, op)
    if simple is not None:
        return simple, False
    parts = [_component(i, op) for i in _as_tuple(idx)]
    if sum(p is Ellipsis for p in parts) > 1:
        raise IndexError(f"{op}: an index can only have a single ellipsis ('...')")
    ndim = len(shape)
    used = sum(_axes_taken(p) for p in parts)
    if used > ndim:
        raise IndexError(f"{op}: too many indices for a tensor of dimension {ndim} "
                         f"(shape {tuple(shape)}, index {idx!r})")
    pre, post, plain, on_device = [], [], [], []
    dim, has_int, advanced = 0, False, False
    for p in parts:
        if p is Ellipsis:
            k = ndim - used
            pre += [_ALL] * k
            post += [_ALL] * k
            plain.append(p)
            dim += k
        elif p is None:
            pre.append(None)
            post.append(_ALL)
            plain.append(None)
        elif isinstance(p, bool):       # a new dimension, indexed by [0] (True) or [] (False)
            pre.append(None)
            post.append(xp.zeros(int(p), dtype=numpy.int64))
            has_int = advanced = True
        elif isinstance(p, int):
            if not -shape[dim] <= p < shape[dim]:
                raise IndexError(_out_of_bounds(op, p, dim, shape[dim], shape))
            pre.append(p)
            plain.append(p)
            has_int = True
            dim += 1
        elif isinstance(p, slice):
            pre.append(p)
            post.append(_ALL)
            plain.append(p)
            dim += 1
        else:
            p = _checked_array(p, xp, shape, dim, op, on_device, check_host)
            k = _axes_taken(p)
            pre += [_ALL] * k
            post.append(p)
            plain.append(p)
            advanced = True
            dim += k
    if on_device and bool(xp.stack([bad.any() for _, bad, _ in on_device]).any()):
        for i, bad, d in on_device:
            _raise_out_of_range(i, bad, d, shape, op)
    if advanced and has_int:
        return SplitKey(tuple(pre), tuple(post)), True
    return tuple(plain), advanced


def _basic_only(idx, shape: tuple, op: str):
    """The key of an index of plain ints and slices (the common case, parsed fast: NumPy and
    PyTorch agree on it), or None for any other index."""
    parts = idx if type(idx) is tuple else (idx,)
    for d, p in enumerate(parts):
        t = type(p)
        if t is int:
            if d >= len(shape) or not -shape[d] <= p < shape[d]:
                return None         # the full parse names the problem
        elif t is not slice:
            return None
    return parts if len(parts) <= len(shape) else None


def _checked_array(i, xp, shape: tuple, dim: int, op: str, on_device: list,
                   check_host: bool):
    """The index array ``i`` on ``xp``, checked against the dimensions it indexes from
    ``dim`` (host arrays only with ``check_host``); checks of device arrays on a device
    tensor are queued in ``on_device``."""
    if on_host(xp) and not on_host(i):
        raise TypeError(f"{op}: the index array lives on {device_of(i)} but the tensor on "
                        f"cpu; move the index with .to('cpu') (or the tensor)")
    if i.dtype == bool:
        want = tuple(shape[dim:dim + i.ndim])
        if tuple(i.shape) != want:
            raise IndexError(f"{op}: the shape of the mask {tuple(i.shape)} does not match "
                             f"the shape {want} of the indexed tensor at dimension {dim} "
                             f"(a tensor of shape {tuple(shape)})")
        return xp.asarray(i)
    if i.size and (check_host or not on_host(xp)):      # NumPy checks its own
        n = shape[dim]
        bad = (i < -n) | (i >= n)
        if on_host(i):
            _raise_out_of_range(i, bad, dim, shape, op)
        else:
            on_device.append((i, bad, dim))
    return xp.asarray(i)


def _raise_out_of_range(i, bad, dim: int, shape: tuple, op: str) -> None:
    if bool(bad.any()):
        raise IndexError(_out_of_bounds(op, int(i[bad].reshape(-1)[0]), dim, shape[dim], shape))


def _explain(op: str, idx, x: Tensor, e: Exception) -> IndexError:
    """The error for an index NumPy refused: the out-of-range value, its dimension and size
    when a host index array holds one, else NumPy's reason."""
    if idx is not None and not isinstance(idx, SplitKey):
        try:
            parse_index(idx, x.xp, x.shape, op, check_host=True)
        except IndexError as precise:
            return precise
    return IndexError(f"{op}: index {idx!r} is invalid for a tensor of shape "
                      f"{tuple(x.shape)}: {e}")


# ----------------------------------------------------------------------------- x[idx]
def getitem(x, idx) -> Tensor:
    """``x[idx]`` with PyTorch's meaning of the index (module docstring); a copy."""
    x = as_t(x)
    key, advanced = parse_index(idx, x.xp, x.shape)
    return take_key(x, key, advanced, idx)


def take_key(x: Tensor, key, advanced: bool, idx=None) -> Tensor:
    """``x[key]`` for a key already parsed (or built as a NumPy key by a composite).

    Basic indexing of a tensor that records no graph gives a view, as in PyTorch: it shares
    the storage and the version counter, so ``w.data[0].fill_(1)`` or, under ``no_grad``,
    ``buf[:, 1:].zero_()`` write into the tensor. Where a graph is recorded the result is a
    copy: an in-place op on it rebases it alone (``x`` keeps its value)."""
    view = not advanced and not (STATE.enabled and x._requires_grad)
    try:
        out = _getitem_fw(x.array, key, advanced, copy=not view)
    except IndexError as e:
        raise _explain("getitem", key if idx is None else idx, x, e) from None
    out = record(GETITEM, out, (x,), attrs=(key, advanced))
    if view:
        out._version = x._version
    return out


def _getitem_fw(x, key, advanced, copy: bool = True):
    if not advanced:            # a trailing Ellipsis keeps a 0-d result an array (a view)
        out = read(x, key if any(k is Ellipsis for k in key) else key + (Ellipsis,))
        return out.copy() if copy else out
    return read(x, key)


def _getitem_bw(ctx, g):
    key, advanced = ctx.attrs
    shape, dtype = ctx.in_meta[0]
    return (index_add_into(g, shape, key, advanced),)


def _host_key(key):
    """``key`` with its device index arrays copied to the host (for shape inference)."""
    def host(k):
        return k.get() if device_of(k) != "cpu" else k
    if isinstance(key, SplitKey):
        return SplitKey(key.pre, tuple(host(k) for k in key.post))
    return tuple(host(k) for k in key) if isinstance(key, tuple) else host(key)


def _getitem_infer(in_meta, key, advanced):
    (shape, dtype), = in_meta
    # index a zero-strided stand-in of the input: the result's shape, no data touched
    probe = numpy.broadcast_to(numpy.empty((), numpy.int8), shape)
    return ((numpy.shape(read(probe, _host_key(key))), dtype),)


GETITEM = primitive("getitem", _getitem_bw, forward=_getitem_fw, inputs="x",
                    attrs=("key", "advanced"), infer=_getitem_infer)


def index_add_into(g, shape, key, advanced) -> Tensor:
    """zeros(shape) with ``g`` added at ``key`` (repeated indices accumulate); the VJP of
    getitem, whose own VJP is getitem again."""
    return record(INDEX_ADD, _index_add_fw(g.array, shape, key, advanced), (g,),
                  attrs=(shape, key, advanced))


def _index_add_fw(g, shape, key, advanced):
    out = get_array_module(g).zeros(shape, g.dtype)
    view, k = _target(out, key)
    if advanced:
        backends.kernels_for(out).scatter_add(view, k, g)
    else:
        view[k] = g
    return out


def _index_add_bw(ctx, gg):
    _, key, advanced = ctx.attrs
    return (take_key(gg, key, advanced),)


def _index_add_infer(in_meta, shape, key, advanced):
    return ((tuple(shape), in_meta[0][1]),)


INDEX_ADD = primitive("index_add", _index_add_bw, forward=_index_add_fw, inputs="grad",
                      attrs=("shape", "key", "advanced"), infer=_index_add_infer)


# ----------------------------------------------------------------------------- x[idx] = v
def index_put(input, indices, values, accumulate: bool = False) -> Tensor:  # noqa: A002
    """PyTorch's ``index_put``: a copy of ``input`` with ``values`` written at ``indices`` (a
    tuple of index tensors, applied as ``input[indices]``), or added there with
    ``accumulate=True`` (repeated indices then all add)."""
    x = as_t(input)
    if isinstance(indices, list):
        indices = tuple(indices)
    if not isinstance(indices, tuple):
        raise TypeError(f"index_put: indices must be a tuple of index tensors, got "
                        f"{type(indices).__name__}")
    if isinstance(values, Tensor) and values.dtype != x.dtype:
        raise TypeError(f"index_put: values have dtype {values.dtype} but the tensor "
                        f"{x.dtype}; convert one with .to(dtype)")
    key, advanced = parse_index(indices, x.xp, x.shape, "index_put")
    return put_key(x, key, advanced, values, accumulate, "index_put", indices)


def put_key(x: Tensor, key, advanced: bool, value, accumulate: bool = False,
            op: str = "index_put", idx=None) -> Tensor:
    """A copy of ``x`` with ``value`` written (added, with ``accumulate``) at the parsed
    ``key``: the recorded ``index_put``."""
    if not isinstance(value, Tensor):
        value = make(x.xp.asarray(as_array_on(value, x), dtype=x.dtype))
    try:
        out = _index_put_fw(x.array, value.array, key, advanced, accumulate)
    except IndexError as e:
        raise _explain(op, key if idx is None else idx, x, e) from None
    except ValueError as e:
        raise ValueError(f"{op}: cannot write a value of shape {value.shape} at "
                         f"{key if idx is None else idx!r} of a tensor of shape {x.shape}: "
                         f"{e}") from None
    return record(INDEX_PUT, out, (x, value), attrs=(key, advanced, accumulate))


def _write(a, key, advanced: bool, value, accumulate: bool) -> None:
    """``a[key] = value`` (``+=``, repeated indices all adding, with ``accumulate``)."""
    view, k = _target(a, key)
    if not accumulate:
        view[k] = value
    elif advanced:
        backends.kernels_for(a).scatter_add(view, k, value)
    else:
        view[k] += value


def _index_put_fw(x, value, key, advanced, accumulate):
    out = get_array_module(x).array(x, copy=True)
    _write(out, key, advanced, value.astype(out.dtype, copy=False), accumulate)
    return out


def _index_put_bw(ctx, g):
    key, advanced, accumulate = ctx.attrs
    nx, nv = ctx.needs_input_grad
    gx = gv = None
    if nx:
        gx = g if accumulate else put_key(g, key, advanced, 0.0)
    if nv:
        gv = take_key(g, key, advanced)
        vshape = ctx.in_meta[1][0]
        if gv.ndim < len(vshape):       # a value with extra leading 1s (PyTorch allows them)
            gv = gv.reshape((1,) * (len(vshape) - gv.ndim) + gv.shape)
    return gx, gv


INDEX_PUT = primitive("index_put", _index_put_bw, forward=_index_put_fw, inputs=("x", "value"),
                      attrs=("key", "advanced", "accumulate"), infer=SAME)


# ----------------------------------------------------------------------------- in place
def modify_(x: Tensor, op: str, graph_fn, array_fn=None, others: tuple = ()) -> Tensor:
    """Apply the in-place ``op`` to ``x``, as PyTorch does: when no graph is involved (neither
    ``x`` nor a Tensor in ``others`` needs grad, or grad mode is off) ``array_fn(data)`` writes
    ``x``'s data in place (``None``: the out-of-place ``graph_fn(x)`` is copied in); otherwise
    ``x`` is rebased onto ``graph_fn(x as it was)``, which is refused for a leaf that requires
    grad. Bumps the version counter; returns ``x``."""
    need_graph = STATE.enabled and (x._requires_grad or any(
        isinstance(o, Tensor) and o._requires_grad for o in others))
    if not need_graph:
        if isinstance(x.array, numpy.generic):       # a 0-d op result: make it writable
            x.array = numpy.array(x.array)
        if array_fn is None:
            x.array[...] = graph_fn(x).array
        else:
            array_fn(x.array)
    else:
        if x.grad_fn is None and x._requires_grad:
            raise RuntimeError(f"{op}: a leaf tensor that requires grad cannot be modified in "
                               f"place; write into a clone, or do it under autodiff.no_grad()")
        new = graph_fn(_snapshot(x))
        if new.shape != x.shape:
            raise RuntimeError(f"{op}: the result has shape {new.shape}, which does not match "
                               f"the tensor's shape {x.shape}")
        x.array, x.grad_fn, x._out_idx = new.array.astype(x.dtype, copy=False), new.grad_fn, \
            new._out_idx
        x._requires_grad = True
    increment_version(x)
    return x


def setitem(x: Tensor, idx, value) -> None:
    """``x[idx] = value``: in place when no graph is involved, otherwise ``x`` is rebased onto
    an ``index_put`` node (as PyTorch does), refused for leaves that need grad."""
    key, advanced = parse_index(idx, x.xp, x.shape, "setitem")

    def in_place(a) -> None:
        v = as_array_on(value, x)
        try:
            _write(a, key, advanced, v, False)
        except IndexError as e:
            raise _explain("setitem", idx, x, e) from None
        except ValueError as e:
            raise ValueError(f"setitem: cannot assign {getattr(v, 'shape', type(v).__name__)} "
                             f"at {idx!r} of a tensor of shape {x.shape}: {e}") from None

    modify_(x, "setitem", lambda t: put_key(t, key, advanced, value, False, "setitem", idx),
            in_place, (value,))


def index_put_(input: Tensor, indices, values, accumulate: bool = False) -> Tensor:  # noqa: A002
    """In-place :func:`index_put`."""
    return modify_(input, "index_put_", lambda t: index_put(t, indices, values, accumulate),
                   others=(values,))


def _snapshot(x: Tensor) -> Tensor:
    """A tensor object standing for x's value and history before an in-place rebase.

    It gets its own version counter: x is rebased onto a new array, so the old array it
    holds is never written again, and an op that saves it (``b *= 3`` saves the old b) must
    not see the rebase of x as a modification."""
    return make(x.array, x._requires_grad, x.grad_fn, x._out_idx)


# ----------------------------------------------------------------------------- along a dim
def norm_dim(op: str, dim: int, ndim: int) -> int:
    """``dim`` in [0, ndim) (a 0-d tensor has one dimension here, as in PyTorch)."""
    n = max(ndim, 1)
    if not -n <= int(dim) < n:
        raise IndexError(f"{op}: dimension out of range (expected to be in range of [{-n}, "
                         f"{n - 1}], but got {dim})")
    return int(dim) % n


def dim_index(op: str, x: Tensor, dim: int, index, src_shape: tuple | None = None) -> tuple:
    """``(dim, index array)`` of gather/scatter with PyTorch's checks: an integer index of the
    tensor's rank (a 0-d tensor counting as 1-d), no larger than the tensor except along
    ``dim`` and no larger than ``src_shape``, its values in [0, size of dim)."""
    d = norm_dim(op, dim, x.ndim)
    idx = index.array if isinstance(index, Tensor) else x.xp.asarray(index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected an integer index tensor, got dtype {idx.dtype}")
    ishape, xshape = idx.shape or (1,), x.shape or (1,)
    if len(ishape) != len(xshape):
        raise ValueError(f"{op}: the index has {idx.ndim} dimensions but the tensor has "
                         f"{x.ndim}; they must have the same number")
    if any(i > s for a, (i, s) in enumerate(zip(ishape, xshape)) if a != d) or (
            src_shape is not None and any(i > s for i, s in zip(ishape, src_shape or (1,)))):
        src = "" if src_shape is None else f" and no larger than src {tuple(src_shape)}"
        raise ValueError(f"{op}: index of shape {tuple(idx.shape)} must be no larger than the "
                         f"tensor {x.shape} apart from dimension {d}{src}")
    if idx.size:
        bad = (idx < 0) | (idx >= xshape[d])
        if bool(bad.any()):
            raise IndexError(_out_of_bounds(op, int(idx[bad].reshape(-1)[0]), d, xshape[d],
                                            x.shape))
    return d, idx


def dim_key(index, dim: int) -> tuple:
    """The advanced key reading ``x[i][index[i][j][k]][k]`` at (i, j, k) (for dim = 1):
    gather's, scatter's; a 0-d index counts as 1-d."""
    xp = get_array_module(index)
    index = index.reshape(index.shape or (1,))
    grids = list(xp.ix_(*[xp.arange(n) for n in index.shape]))
    grids[dim] = index
    return tuple(grids)


def gather(input, dim: int, index, *, sparse_grad: bool = False) -> Tensor:  # noqa: A002
    """PyTorch's ``gather``: ``out[i][j] = input[i][index[i][j]]`` for dim=1 (any rank)."""
    x = as_t(input)
    d, idx = dim_index("gather", x, dim, index)
    out = take_key(x if x.ndim else x.reshape(1), dim_key(idx, d), True)
    return out if out.shape == idx.shape else out.reshape(idx.shape)


def index_select(input, dim: int, index) -> Tensor:  # noqa: A002
    """The entries at ``index`` (1-d, or 0-d) along ``dim``."""
    x = as_t(input)
    idx = index.array if isinstance(index, Tensor) else x.xp.asarray(index)
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {idx.shape}")
    return getitem(x, (_ALL,) * norm_dim("index_select", dim, x.ndim) + (idx.reshape(-1),))


def take_along_dim(input, indices, dim: int | None = None) -> Tensor:  # noqa: A002
    """PyTorch's ``take_along_dim``: ``gather`` after broadcasting ``input`` and ``indices``
    against each other except along ``dim``; with ``dim=None``, of the flattened tensors."""
    x = as_t(input)
    idx = indices.array if isinstance(indices, Tensor) else x.xp.asarray(indices)
    if dim is None:
        return gather(x.reshape(-1), 0, idx.reshape(-1))
    if idx.ndim != x.ndim:
        raise ValueError(f"take_along_dim: input and indices should have the same number of "
                         f"dimensions, got {x.ndim} for input and {idx.ndim} for indices")
    d = norm_dim("take_along_dim", dim, x.ndim)
    xs, ids = list(x.shape), list(idx.shape)
    xs[d] = ids[d] = 1
    try:
        xs = ids = list(numpy.broadcast_shapes(tuple(xs), tuple(ids)))
    except ValueError:
        raise ValueError(f"take_along_dim: input {tuple(x.shape)} and indices "
                         f"{tuple(idx.shape)} cannot be broadcast apart from dimension "
                         f"{d}") from None
    xs, ids = xs[:d] + [x.shape[d]] + xs[d + 1:], ids[:d] + [idx.shape[d]] + ids[d + 1:]
    if tuple(xs) != x.shape:
        x = x.broadcast_to(tuple(xs))
    return gather(x, d, x.xp.broadcast_to(idx, tuple(ids)))


def take_along_axis(x, indices, axis: int) -> Tensor:
    """NumPy's name of :func:`take_along_dim` (with an axis)."""
    return take_along_dim(x, indices, axis)
