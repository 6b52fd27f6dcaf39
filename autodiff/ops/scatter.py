"""PyTorch's scatter family and the other index/mask selections and writes: ``scatter``
(a src tensor or a value, ``reduce=``), ``scatter_add``, ``scatter_reduce`` (sum, prod, mean,
amax, amin, ``include_self``), ``index_fill``, ``index_add``, ``index_copy``, ``masked_fill``,
``masked_select``, ``nonzero``/``argwhere``, ``narrow``, ``select``, and their in-place
forms.

All are compositions of the indexing primitives (``getitem``, ``index_add``, ``index_put``)
and elementwise ops, except the multiplicative and extremal scatter reductions: one
primitive, ``scatter_reduce`` (prod, amax, amin), whose VJP is PyTorch's written in
differentiable ops (``FunctionsManual.cpp``, ``scatter_reduce_backward``), with two changes:
the second derivative of prod when two zeros meet at one position is exact (PyTorch raises),
and amax/amin with ``include_self=False`` no longer count an excluded input that happens to
equal the result among the ties (PyTorch halves the gradient of the true maximum then)."""
from __future__ import annotations

import inspect

import numpy

from ..backends import get_array_module
from ..tape import record
from ..tensor import Tensor, make
from ._util import as_t
from .elementwise import div, eq, logical_and, mul, where
from .index import (dim_index, dim_key, getitem, index_add_into, index_put, index_put_, modify_,
                    norm_dim, parse_index, put_key, take_along_dim, take_key)
from .registry import primitive

_ALL = slice(None)
_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


# ----------------------------------------------------------------------------- arguments
def _as_index(x: Tensor, index):
    return index.array if isinstance(index, Tensor) else x.xp.asarray(index)


def _same_dtype(op: str, x: Tensor, src: Tensor) -> None:
    if src.dtype != x.dtype:
        raise TypeError(f"{op}: expected self.dtype to be equal to src.dtype, got {x.dtype} "
                        f"and {src.dtype}; convert one with .to(dtype)")


def _src_part(src: Tensor, shape: tuple) -> Tensor:
    """The leading ``shape`` block of ``src`` (PyTorch reads only the part the index covers)."""
    if src.shape == tuple(shape):
        return src
    if src.ndim == 0:
        return src.reshape(shape)
    return getitem(src, tuple(slice(0, n) for n in shape))


def _scatter_args(op: str, x: Tensor, dim: int, index, src) -> tuple:
    """(dim, index array, key, src block) of a scatter with a src tensor."""
    src = as_t(src)
    _same_dtype(op, x, src)
    if max(src.ndim, 1) != max(x.ndim, 1):
        raise ValueError(f"{op}: src has {src.ndim} dimensions but the tensor has {x.ndim}; "
                         f"they must have the same number")
    d, idx = dim_index(op, x, dim, index, src.shape)
    return d, idx, dim_key(idx, d), _src_part(src, idx.shape or (1,))


def _value_tensor(op: str, x: Tensor, value) -> Tensor:
    """A scalar fill value as a 0-d tensor of ``x``'s dtype (differentiable if a Tensor)."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"{op}: only supports a 0-dimensional value tensor, but got a "
                             f"tensor with {value.ndim} dimension(s)")
        return value if value.dtype == x.dtype else value.astype(x.dtype)
    return make(x.xp.asarray(value, dtype=x.dtype))


def _flat(x: Tensor) -> Tensor:
    """0-d tensors as 1-d (PyTorch's scatter family treats them so)."""
    return x if x.ndim else x.reshape(1)


def _unflat(out: Tensor, x: Tensor) -> Tensor:
    return out if out.shape == x.shape else out.reshape(x.shape)


# ----------------------------------------------------------------------------- scatter
def scatter(input, dim: int, index, src=None, *, value=None,  # noqa: A002
            reduce: str | None = None) -> Tensor:
    """PyTorch's ``scatter``: a copy of ``input`` with ``out[i][index[i][j]] = src[i][j]``
    (dim=1); ``src`` may be a tensor or a number (or pass ``value=``). ``reduce="add"`` or
    ``"multiply"`` combines instead of writing. Where ``index`` repeats a position without a
    reduction, which src entry lands there is unspecified (as in PyTorch)."""
    x = as_t(input)
    if (src is None) == (value is None):
        raise TypeError("scatter: pass exactly one of src (a tensor) and value (a number)")
    if reduce not in (None, "add", "multiply"):
        raise ValueError(f"scatter: reduce argument must be either add or multiply, got "
                         f"{reduce!r} (scatter_reduce takes sum, prod, mean, amax, amin)")
    if src is None or not isinstance(src, (Tensor, numpy.ndarray)) and \
            not hasattr(src, "__cuda_array_interface__"):
        v = _value_tensor("scatter", x, value if src is None else src)
        d, idx = dim_index("scatter", x, dim, index)
        src_t = v.broadcast_to(idx.shape) if idx.ndim else v
        if reduce is None:
            return _unflat(put_key(_flat(x), dim_key(idx, d), True, v, op="scatter"), x)
        return scatter_reduce(x, dim, index, src_t, "sum" if reduce == "add" else "prod")
    if reduce is not None:
        return scatter_reduce(x, dim, index, src, "sum" if reduce == "add" else "prod")
    d, idx, key, part = _scatter_args("scatter", x, dim, index, src)
    return _unflat(put_key(_flat(x), key, True, _flat(part), op="scatter"), x)


def scatter_add(input, dim: int, index, src) -> Tensor:  # noqa: A002
    """PyTorch's ``scatter_add``: ``out[i][index[i][j]] += src[i][j]`` (dim=1), repeated
    positions all adding."""
    return scatter_reduce(input, dim, index, src, "sum")


def scatter_reduce(input, dim: int, index, src, reduce: str, *,  # noqa: A002
                   include_self: bool = True) -> Tensor:
    """PyTorch's ``scatter_reduce``: the entries of ``src`` reduced into ``input`` at the
    positions ``index`` gives along ``dim``, with ``reduce`` one of sum, prod, mean, amax,
    amin; ``include_self=False`` leaves ``input``'s own value at those positions out.
    Integer mean rounds down (floor), as PyTorch's."""
    if reduce not in _REDUCTIONS:
        raise ValueError(f"scatter_reduce: reduce argument must be either sum, prod, mean, "
                         f"amax or amin, got {reduce!r}")
    x = as_t(input)
    _, _, key, part = _scatter_args("scatter_reduce", x, dim, index, src)
    return _unflat(_reduce_at(_flat(x), key, _flat(part), reduce, include_self), x)


def _reduce_at(x: Tensor, key: tuple, part: Tensor, reduce: str, include_self: bool) -> Tensor:
    """``part`` (of the key's shape) reduced into ``x`` at ``key``."""
    if reduce in ("prod", "amax", "amin"):
        out = _scatter_reduce_fw(x.array, part.array, key, reduce, include_self)
        return record(SCATTER_REDUCE, out, (x, part), saved=(x, part), save_output=True,
                      attrs=(key, reduce, include_self))
    base = x if include_self else put_key(x, key, True, 0)
    total = base + index_add_into(part, x.shape, key, True)
    if reduce == "sum":
        return total
    count = _count(x, key, include_self)
    if x.dtype.kind in "iu":
        return make(x.xp.floor_divide(total.array, count.array))
    return div(total, count)


def _count(x: Tensor, key, include_self: bool) -> Tensor:
    """How many values a mean reduces at each position (self included or not; at least 1)."""
    xp = x.xp
    n = xp.full(x.shape, 1 if include_self else 0, dtype=numpy.int64)
    t = _flat_targets(key, x.shape)
    _scatter_ufunc(n.reshape(-1), t, xp.ones(t.size, numpy.int64), "sum")
    return make(xp.maximum(n, 1).astype(x.dtype))


# ----------------------------------------------------------------------------- the primitive
def _flat_targets(key: tuple, shape: tuple):
    """Flat positions in an array of ``shape`` that the all-array ``key`` addresses, in the
    order of ``key``'s broadcast shape."""
    xp = get_array_module(key[0])
    grids = xp.broadcast_arrays(*key)
    return xp.ravel_multi_index(tuple(g.reshape(-1) for g in grids), shape)


_IDENTITY = {"sum": lambda dt: 0, "prod": lambda dt: 1,
             "amax": lambda dt: -numpy.inf if dt.kind == "f" else numpy.iinfo(dt).min,
             "amin": lambda dt: numpy.inf if dt.kind == "f" else numpy.iinfo(dt).max}


def _ufunc(xp, reduce: str):
    return {"sum": xp.add, "prod": xp.multiply, "amax": xp.maximum, "amin": xp.minimum}[reduce]


def _scatter_ufunc(out_flat, t, v, reduce: str) -> None:
    """``out_flat[t[i]] = f(out_flat[t[i]], v[i])`` for every i, repeated targets all
    combining (NumPy's ``ufunc.at``). Written with a sort and a pairwise tree over each run of
    equal targets, so NumPy and CuPy run the same code (CuPy has no ``multiply.at``) in
    log2(longest run) vectorised rounds."""
    xp = get_array_module(out_flat)
    if t.size == 0:
        return
    f = _ufunc(xp, reduce)
    order = xp.argsort(t)
    t, v = t[order], v.reshape(-1)[order]
    n = t.size
    pos = xp.arange(n)
    head = xp.ones(n, dtype=bool)
    head[1:] = t[1:] != t[:-1]
    first = xp.flatnonzero(head)
    rank = pos - first[xp.cumsum(head) - 1]
    longest, step = int(rank.max()) + 1, 1
    while step < longest:       # rank r (r % 2 step == 0) takes in rank r + step of its run
        partner = xp.minimum(pos + step, n - 1)
        take = (rank % (2 * step) == 0) & (pos + step < n) & (t[partner] == t)
        v = xp.where(take, f(v, v[partner]), v)
        step *= 2
    out_flat[t[first]] = f(out_flat[t[first]], v[first])


def _scatter_reduce_fw(x, src, key, reduce, include_self):
    xp = get_array_module(x)
    out = xp.array(x, copy=True)
    flat = out.reshape(-1)
    t = _flat_targets(key, x.shape)
    if not include_self:
        flat[t] = _IDENTITY[reduce](out.dtype)
    _scatter_ufunc(flat, t, src, reduce)
    return out


def _scatter_reduce_bw(ctx, g):
    """PyTorch's ``scatter_reduce_backward`` (prod, amax, amin) in differentiable ops."""
    key, reduce, include_self = ctx.attrs
    x, src, result = ctx.saved_tensors
    shape = x.shape
    if reduce == "prod":
        gx, gsrc = _prod_grads(g, x, src, result, key, include_self)
    else:
        value = take_key(result, key, True)
        x_is = eq(x, result)
        if not include_self:         # an excluded input equal to the result is no tie
            x_is = logical_and(x_is, _untouched(x, key))
        x_is, src_is = x_is.astype(g.dtype), eq(src, value).astype(g.dtype)
        share = div(g, x_is + index_add_into(src_is, shape, key, True))
        gx, gsrc = mul(x_is, share), mul(src_is, take_key(share, key, True))
    if not include_self:
        gx = put_key(gx, key, True, 0)
    return gx, gsrc


def _untouched(x: Tensor, key) -> Tensor:
    """True where no index writes (a constant mask)."""
    m = x.xp.ones(x.shape, dtype=bool)
    m.reshape(-1)[_flat_targets(key, x.shape)] = False
    return make(m)


def _prod_grads(g, x, src, result, key, include_self):
    """The VJP of a product scatter: each factor's gradient is the product of the others,
    computed without dividing by zeros (PyTorch's masking), plus a term whose value is 0 and
    whose derivative gives the exact second derivative where two zeros meet."""
    shape = x.shape
    x_zero = eq(x, 0)
    x_masked = where(x_zero, 1, x)
    gx = div(mul(g, _reduce_at(x_masked, key, src, "prod", include_self)), x_masked)
    src_zero = eq(src, 0)
    zeros = index_add_into(src_zero.astype(src.dtype), shape, key, True)
    n_zero = take_key(zeros, key, True)
    single = logical_and(src_zero, eq(n_zero, 1))
    src_masked = where(single, 1, src)
    others = _reduce_at(x, key, src_masked, "prod", include_self)
    g_res = take_key(mul(g, result), key, True)
    gsrc = where(single, take_key(mul(g, others), key, True), div(g_res, where(src_zero, 1, src)))
    # two zeros at one position: the product of the other factors, times the other zero (0)
    pair = logical_and(src_zero, eq(n_zero, 2))
    if bool(pair.any()):      # a host read: autodiff.compile breaks the graph here
        zero_sum = index_add_into(where(src_zero, src, 0), shape, key, True)
        nonzero = _reduce_at(x, key, where(src_zero, 1, src), "prod", include_self)
        other = take_key(zero_sum, key, True) - src
        gsrc = gsrc + where(pair, take_key(mul(g, nonzero), key, True) * other, 0)
    return gx, gsrc


def _scatter_reduce_infer(in_meta, key, reduce, include_self):
    return (in_meta[0],)


SCATTER_REDUCE = primitive("scatter_reduce", _scatter_reduce_bw, forward=_scatter_reduce_fw,
                           inputs=("x", "src"), saves=("x", "src"), save_output=True,
                           attrs=("key", "reduce", "include_self"),
                           infer=_scatter_reduce_infer)


# ----------------------------------------------------------------------------- along a dim
def _dim_vector(op: str, x: Tensor, dim: int, index, negative: bool) -> tuple:
    """(dim, key) of the index_* family: ``index`` a vector (or scalar) of positions along
    ``dim``, negative ones allowed only where PyTorch allows them (index_fill)."""
    d = norm_dim(op, dim, x.ndim)
    idx = _as_index(x, index)
    if idx.ndim > 1:
        raise ValueError(f"{op}: index has to be a vector or a scalar, got shape "
                         f"{tuple(idx.shape)}")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected an integer index tensor, got dtype {idx.dtype}")
    idx = idx.reshape(-1)
    if not negative and idx.size and bool((idx < 0).any()):
        raise IndexError(f"{op}: index {int(idx[idx < 0][0])} is out of range for dimension "
                         f"{d} with size {(x.shape or (1,))[d]} (negative indices are not "
                         f"allowed here)")
    key, _ = parse_index((_ALL,) * d + (idx,), x.xp, x.shape or (1,), op)
    return d, key


def _source_shape(op: str, x: Tensor, d: int, key: tuple, source: Tensor) -> None:
    want = list(x.shape or (1,))
    want[d] = key[d].size
    if tuple(source.shape or (1,)) != tuple(want):
        raise ValueError(f"{op}: source of shape {tuple(source.shape)} must have the tensor's "
                         f"shape {tuple(x.shape)} with {key[d].size} (the number of indices) "
                         f"at dimension {d}")


def index_fill(input, dim: int, index, value) -> Tensor:  # noqa: A002
    """PyTorch's ``index_fill``: a copy of ``input`` with ``value`` (a number or a 0-d tensor,
    differentiable) at the positions ``index`` along ``dim``."""
    x = as_t(input)
    _, key = _dim_vector("index_fill", x, dim, index, negative=True)
    v = _value_tensor("index_fill", x, value)
    return _unflat(put_key(_flat(x), key, True, v, op="index_fill"), x)


def index_add(input, dim: int, index, source, *, alpha=1) -> Tensor:  # noqa: A002
    """PyTorch's ``index_add``: ``out[..., index[i], ...] += alpha * source[..., i, ...]``,
    repeated indices all adding."""
    x, source = as_t(input), as_t(source)
    _same_dtype("index_add", x, source)
    d, key = _dim_vector("index_add", x, dim, index, negative=False)
    _source_shape("index_add", x, d, key, source)
    if alpha != 1:
        source = source * alpha
    return _unflat(_flat(x) + index_add_into(_flat(source), x.shape or (1,), key, True), x)


def index_copy(input, dim: int, index, source) -> Tensor:  # noqa: A002
    """PyTorch's ``index_copy``: ``out[..., index[i], ...] = source[..., i, ...]``."""
    x, source = as_t(input), as_t(source)
    _same_dtype("index_copy", x, source)
    d, key = _dim_vector("index_copy", x, dim, index, negative=False)
    _source_shape("index_copy", x, d, key, source)
    return _unflat(put_key(_flat(x), key, True, _flat(source), op="index_copy"), x)


def narrow(input, dim: int, start, length: int) -> Tensor:  # noqa: A002
    """PyTorch's ``narrow``: ``length`` entries along ``dim`` from ``start`` (negative counts
    from the end; a 0-d tensor is taken as its value)."""
    x = as_t(input)
    if x.ndim == 0:
        raise IndexError("narrow() cannot be applied to a 0-dim tensor")
    d = norm_dim("narrow", dim, x.ndim)
    n, start, length = x.shape[d], int(start), int(length)
    if not -n <= start <= n:
        raise IndexError(f"narrow: start out of range (expected to be in range of [{-n}, {n}], "
                         f"but got {start})")
    start = start + n if start < 0 else start
    if length < 0 or start + length > n:
        raise ValueError(f"narrow: start ({start}) + length ({length}) exceeds dimension size "
                         f"({n}) of dimension {d}" if length >= 0 else
                         f"narrow: length must be non-negative, got {length}")
    return getitem(x, (_ALL,) * d + (slice(start, start + length),))


def select(input, dim: int, index) -> Tensor:  # noqa: A002
    """PyTorch's ``select``: the slice at ``index`` along ``dim``, that dimension removed."""
    x = as_t(input)
    if x.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor")
    d = norm_dim("select", dim, x.ndim)
    i, n = int(index), x.shape[d]
    if not -n <= i < n:
        raise IndexError(f"select(): index {i} out of range for tensor of size "
                         f"{list(x.shape)} at dimension {d}")
    return getitem(x, (_ALL,) * d + (i,))


# ----------------------------------------------------------------------------- masks
def _mask(op: str, x: Tensor, mask):
    m = mask.array if isinstance(mask, Tensor) else x.xp.asarray(mask)
    if m.dtype != bool:
        raise TypeError(f"{op}: only supports boolean masks, but got mask with dtype {m.dtype}")
    return m


def masked_fill(input, mask, value) -> Tensor:  # noqa: A002
    """PyTorch's ``masked_fill``: ``value`` (a number or a 0-d tensor, differentiable) where
    ``mask`` (bool, broadcast with ``input``) is True, ``input`` elsewhere."""
    x = as_t(input)
    m = _mask("masked_fill", x, mask)
    return where(make(m), _value_tensor("masked_fill", x, value), x)


def masked_select(input, mask) -> Tensor:  # noqa: A002
    """PyTorch's ``masked_select``: the entries of ``input`` where ``mask`` is True (both
    broadcast to a common shape), as a 1-d tensor."""
    x = as_t(input)
    m = _mask("masked_select", x, mask)
    try:
        shape = numpy.broadcast_shapes(tuple(x.shape), tuple(m.shape))
    except ValueError:
        raise ValueError(f"masked_select: the mask of shape {tuple(m.shape)} and the tensor of "
                         f"shape {tuple(x.shape)} cannot be broadcast together") from None
    if tuple(x.shape) != shape:
        x = x.broadcast_to(shape)
    return getitem(x.reshape(-1), x.xp.broadcast_to(m, shape).reshape(-1))


def nonzero(input, *, as_tuple: bool = False):  # noqa: A002
    """PyTorch's ``nonzero``: the (n, ndim) int64 coordinates of the nonzero entries, in row-
    major order, or with ``as_tuple=True`` one 1-d tensor per dimension (a 0-d input counts
    as 1-d there)."""
    x = as_t(input)
    xp, a = x.xp, x.array
    if x.ndim == 0:
        n = int(bool(a))
        return (make(xp.zeros(n, numpy.int64)),) if as_tuple else \
            make(xp.zeros((n, 0), numpy.int64))
    coords = [c.astype(numpy.int64, copy=False) for c in xp.nonzero(a)]
    if as_tuple:
        return tuple(make(c) for c in coords)
    return make(xp.stack(coords, axis=1))


def argwhere(input) -> Tensor:  # noqa: A002
    """PyTorch's ``argwhere``: ``nonzero(input)``."""
    return nonzero(input)


# ----------------------------------------------------------------------------- in place
def _masked_fill_(self: Tensor, mask, value) -> Tensor:
    m = _mask("masked_fill_", self, mask)
    try:
        ok = numpy.broadcast_shapes(tuple(self.shape), tuple(m.shape)) == tuple(self.shape)
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError(f"masked_fill_: the mask of shape {tuple(m.shape)} does not "
                           f"broadcast to the tensor's shape {tuple(self.shape)}")
    v = value.array if isinstance(value, Tensor) else value
    return modify_(self, "masked_fill_", lambda t: masked_fill(t, m, value),
                   lambda a: self.xp.copyto(a, v, where=m, casting="unsafe"), (value,))


def _inplace(fn, name: str, tensors: tuple = ()):
    """The in-place method ``name`` of the out-of-place ``fn(self, *args, **kwargs)``; the
    positions ``tensors`` of the args (Tensors there may need grad) decide whether a graph is
    recorded."""
    def method(self, *args, **kwargs):
        others = tuple(args[i] for i in tensors if i < len(args)) + tuple(kwargs.values())
        return modify_(self, name, lambda t: fn(t, *args, **kwargs), others=others)
    method.__name__ = name
    method.__signature__ = inspect.signature(fn)  # fn's parameters, self first
    return method



METHODS = {
    "nonzero": nonzero, "argwhere": argwhere, "masked_select": masked_select,
    "masked_fill": masked_fill, "masked_fill_": _masked_fill_,
    "scatter": scatter, "scatter_": _inplace(scatter, "scatter_", (2,)),
    "scatter_add": scatter_add, "scatter_add_": _inplace(scatter_add, "scatter_add_", (2,)),
    "scatter_reduce": scatter_reduce,
    "scatter_reduce_": _inplace(scatter_reduce, "scatter_reduce_", (2,)),
    "index_fill": index_fill, "index_fill_": _inplace(index_fill, "index_fill_", (2,)),
    "index_add": index_add, "index_add_": _inplace(index_add, "index_add_", (2,)),
    "index_copy": index_copy, "index_copy_": _inplace(index_copy, "index_copy_", (2,)),
    "index_put": index_put, "index_put_": index_put_, "narrow": narrow, "select": select,
    "take_along_dim": take_along_dim,
}
