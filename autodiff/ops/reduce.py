"""Reductions and the softmax family, with PyTorch's signatures, each primitive registered
beside its VJP rule.

Every reduction takes ``dim``/``keepdim`` and, as PyTorch does, ``axis``/``keepdims`` as
aliases with the same result; ``dim=None`` or ``()`` reduces every dimension; a 0-d tensor takes
the dims -1 and 0 and stays 0-d; a dim out of range raises PyTorch's IndexError.

Gradients at ties, as PyTorch: ``max()``/``min()`` over all elements and ``amax``/``amin``
share the gradient evenly among the tied elements (NaN counts as equal to NaN); ``max(dim)``,
``min(dim)`` and every op that returns indices give it to the returned index. The 2-norm's
gradient at 0 is 0; ``logsumexp`` over all -inf gives zero gradients.
"""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy

from .. import backends
from ..backends import get_array_module, on_host
from ..dtypes import get_default_dtype
from ..grad_mode import STATE
from ..tape import record
from ..tensor import Tensor, make
from ._util import as_t, norm_axis, norm_dim
from .elementwise import (abs as _abs, div, exp, masked_grad, maximum, minimum, mul,
                          pow as _pow, step, sub, where)
from .index import gather
from .registry import REDUCED, SAME, primitive, reduced_shape
from .shape import astype, broadcast_to, permute, reshape, unsqueeze

# PyTorch's named tuples (torch.return_types.*): ``.values``/``.indices``, ``.min``/``.max``
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])
MinMax = namedtuple("MinMax", ["min", "max"])

_INT64 = numpy.dtype("int64")


# ----------------------------------------------------------------------------- arguments
def dim_arg(dim, axis, op: str, default=None):
    """``dim``, or its NumPy spelling ``axis`` (an alias in PyTorch too); ``default`` is the
    op's default dim (given with ``axis``, ``dim`` must have been left at it)."""
    if axis is None:
        return dim
    if dim is not None and dim != default:
        raise TypeError(f"{op}(): got both dim={dim!r} and its alias axis={axis!r}")
    return axis


def keep_arg(keepdim, keepdims) -> bool:
    """``keepdim``, or its NumPy spelling ``keepdims`` (an alias in PyTorch too)."""
    return bool(keepdim if keepdims is None else keepdims)


def reduce_args(x, dim, keepdim, op: str, axis=None, keepdims=None):
    """(tensor, sorted non-negative axes, keepdim) of a reduction; ``None`` and ``()`` mean
    every dimension (PyTorch)."""
    x = as_t(x)
    dim = dim_arg(dim, axis, op)
    if isinstance(dim, (tuple, list)) and not dim:
        dim = None
    return x, norm_axis(dim, x.ndim, op), keep_arg(keepdim, keepdims)


def on_vector(x: Tensor, run):
    """``run(x)``, with a 0-d ``x`` seen as shape (1,) and the results made 0-d again: the ops
    along one dim accept a 0-d tensor (dim 0 or -1) and keep its shape, as PyTorch's."""
    if x.ndim:
        return run(x)
    out = run(reshape(x, (1,)))
    if not isinstance(out, tuple):
        return reshape(out, ())
    parts = [reshape(o, ()) for o in out]
    return tuple(parts) if type(out) is tuple else type(out)(*parts)


def select_along(x: Tensor, d: int, idx, keep: bool, result=ValuesIndices):
    """(values, indices) of a value-selecting op along ``d``: ``idx`` an int64 array shaped as
    the output with ``keepdim`` (size k along ``d``); the values' gradient goes to the
    indices (PyTorch's ``value_selecting_reduction_backward``)."""
    values = gather(x, d, idx)
    if not keep:
        shape = values.shape[:d] + values.shape[d + 1:]
        values, idx = reshape(values, shape), idx.reshape(shape)
    return result(values, make(idx))


def _nonempty(x: Tensor, axes, op: str) -> None:
    for a in axes:
        if x.shape[a] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {a} to have non-zero size (a "
                             f"tensor of shape {x.shape})")


def expand_reduced(g: Tensor, shape, axes, keepdims: bool) -> Tensor:
    """Broadcast a reduced gradient back over the reduced ``axes`` of ``shape``."""
    if not keepdims:
        g = reshape(g, reduced_shape(shape, axes, True))
    return broadcast_to(g, shape)


def _reduction(name, backward, forward, **kw):
    """Register a reduction over the attributes (axes, keepdim, ...)."""
    kw.setdefault("infer", REDUCED)
    kw.setdefault("attrs", ("axes", "keepdim"))
    return primitive(name, backward, forward=forward, inputs="x", **kw)


def accumulation_dtype(x: Tensor, dtype=None):
    """PyTorch's result dtype of sum/prod/cumsum/cumprod: ``dtype`` if given, int64 for
    integer and bool input, else None (the input's)."""
    if dtype is not None:
        return numpy.dtype(dtype)
    return _INT64 if x.dtype.kind in "biu" else None


def _as_float(x: Tensor, dtype=None) -> Tensor:
    """``x`` cast to ``dtype``, or integer/bool input to the default float dtype."""
    if dtype is not None:
        return astype(x, dtype)
    return x if x.dtype.kind in "fc" else astype(x, get_default_dtype())


def _count(x: Tensor, axes) -> int:
    n = 1
    for a in axes:
        n *= x.shape[a]
    return n


# ----------------------------------------------------------------------------- sum / mean
def sum(x, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None) -> Tensor:  # noqa: A001
    x, axes, keep = reduce_args(x, dim, keepdim, "sum", axis, keepdims)
    dtype = accumulation_dtype(x, dtype)
    return record(SUM, _sum_fw(x.array, axes, keep, dtype), (x,), attrs=(axes, keep, dtype))


def _sum_fw(x, axes, keep, dtype):
    return get_array_module(x).asarray(x.sum(axis=axes, keepdims=keep, dtype=dtype))


def _sum_bw(ctx, g):
    axes, keep, _ = ctx.attrs
    return (expand_reduced(g, ctx.in_meta[0][0], axes, keep),)


def _sum_infer(in_meta, axes, keep, dtype):
    (shape, in_dtype), = in_meta
    return ((reduced_shape(shape, axes, keep), in_dtype if dtype is None else dtype),)


SUM = _reduction("sum", _sum_bw, _sum_fw, attrs=("axes", "keepdim", "dtype"), infer=_sum_infer)


def nansum(x, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None) -> Tensor:
    """Sum with NaN counted as 0 (their gradient is 0)."""
    x, axes, keep = reduce_args(x, dim, keepdim, "nansum", axis, keepdims)
    if x.dtype.kind in "fc":
        x = where(x.xp.isnan(x.array), 0.0, x)
    return sum(x, axes, keep, dtype=dtype)


def mean(x, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None) -> Tensor:
    x, axes, keep = reduce_args(x, dim, keepdim, "mean", axis, keepdims)
    x = _as_float(x, dtype)
    n = _count(x, axes)
    return div(sum(x, axes, keep), float(n)) if n else mul(sum(x, axes, keep), float("nan"))


def nanmean(x, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None) -> Tensor:
    """Mean of the non-NaN elements (NaN where there are none)."""
    x, axes, keep = reduce_args(x, dim, keepdim, "nanmean", axis, keepdims)
    if dtype is not None:
        x = astype(x, dtype)
    if x.dtype.kind not in "fc":
        raise TypeError(f"nanmean(): expected a floating point input, got {x.dtype}; use "
                        f"mean() for integer tensors")
    valid = ~x.xp.isnan(x.array)
    n = x.xp.asarray(valid.sum(axis=axes, keepdims=keep)).astype(x.dtype)
    with backends.kernels_for(x.array).quiet_float_errors(x.array):   # 0/0: NaN, no warning
        return div(nansum(x, axes, keep), make(n))


# ----------------------------------------------------------------------------- var / std
def _moments_args(x, dim, unbiased, keepdim, correction, keepdims, axis, ddof, op):
    """(tensor in a float dtype, axes, keepdim, elements reduced, Bessel correction) for
    var/std/var_mean/std_mean: PyTorch's ``correction`` and ``unbiased`` (also positional:
    ``var(x, dim, unbiased, keepdim)``, ``var(x, unbiased)``) and NumPy's ``ddof``; the
    default is unbiased (correction 1)."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    x, axes, keep = reduce_args(x, dim, keepdim, op, axis, keepdims)
    c = 1
    for v in (correction, ddof):
        if v is not None:
            c = v
    if unbiased is not None:
        c = 1 if unbiased else 0
    return _as_float(x), axes, keep, _count(x, axes), c


def _var(x, axes, keep, n, c) -> Tensor:
    centred = sub(x, mean(x, axes, True))
    return div(sum(mul(centred, centred), axes, keep), float(builtins.max(n - c, 0)))


def _std(x, axes, keep, n, c) -> Tensor:
    # the 2-norm of the centred values: the gradient where all values are equal is 0, not NaN
    centred = sub(x, mean(x, axes, True))
    return div(norm(centred, dim=axes, keepdim=keep), float(builtins.max(n - c, 0)) ** 0.5)


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None, keepdims=None,
        axis=None, ddof=None) -> Tensor:
    """Variance, unbiased by default (PyTorch); ``correction=0``, ``unbiased=False`` or
    ``ddof=0`` for the population variance."""
    return _var(*_moments_args(x, dim, unbiased, keepdim, correction, keepdims, axis, ddof,
                               "var"))


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None, keepdims=None,
        axis=None, ddof=None) -> Tensor:
    """Standard deviation (unbiased by default, as :func:`var`); its gradient where all values
    are equal is 0 (the norm convention), not NaN."""
    return _std(*_moments_args(x, dim, unbiased, keepdim, correction, keepdims, axis, ddof,
                               "std"))


def var_mean(input, dim=None, unbiased=None, keepdim=False, *,  # noqa: A002
             correction=None, keepdims=None, axis=None, ddof=None) -> tuple:
    """(var, mean), as PyTorch's ``var_mean``."""
    x = input  # PyTorch's parameter names
    x, axes, keep, n, c = _moments_args(x, dim, unbiased, keepdim, correction, keepdims, axis,
                                        ddof, "var_mean")
    return _var(x, axes, keep, n, c), mean(x, axes, keep)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *,  # noqa: A002
             correction=None, keepdims=None, axis=None, ddof=None) -> tuple:
    """(std, mean), as PyTorch's ``std_mean``."""
    x = input  # PyTorch's parameter names
    x, axes, keep, n, c = _moments_args(x, dim, unbiased, keepdim, correction, keepdims, axis,
                                        ddof, "std_mean")
    return _std(x, axes, keep, n, c), mean(x, axes, keep)


# ----------------------------------------------------------------------------- prod
def prod(x, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None) -> Tensor:
    x, axes, keep = reduce_args(x, dim, keepdim, "prod", axis, keepdims)
    dtype = accumulation_dtype(x, dtype)
    if dtype is not None and dtype != x.dtype:
        x = astype(x, dtype)
    return record(PROD, _prod_fw(x.array, axes, keep), (x,), (x,), save_output=True,
                  attrs=(axes, keep))


def _prod_fw(x, axes, keep):
    return get_array_module(x).asarray(x.prod(axis=axes, keepdims=keep))


def _prod_bw(ctx, g):
    x, out = ctx.saved_tensors
    axes, keep = ctx.attrs
    shape = x.shape
    g_full = expand_reduced(g, shape, axes, keep)
    if not STATE.enabled and not on_host(x.array):
        # first order on a GPU: no host read of whether x has zeros
        return (mul(g_full, make(_prod_of_others_first_order(x.array, axes))),)
    if not bool((x == 0).any()):      # a host read: autodiff.compile breaks the graph here
        # prod_{j != i} x_j = out / x_i; differentiable again (d(out / x_i)/dx_i = 0)
        return (mul(g_full, div(expand_reduced(out, shape, axes, keep), x)),)
    return (mul(g_full, _prod_of_others(x, axes)),)


def _prod_of_others_first_order(x, axes: tuple):
    """prod_{j != i} x_j over ``axes`` for every i, as an array (no graph): out / x_i where the
    reduced slice has no zero, the product of the nonzeros at a lone zero (0 elsewhere), 0
    everywhere with two zeros or more. Exact, elementwise, no synchronisation."""
    xp = get_array_module(x)
    zero = x == 0
    n_zero = zero.sum(axis=axes, keepdims=True)
    safe = xp.where(zero, 1, x)
    p_nonzero = safe.prod(axis=axes, keepdims=True)
    out = xp.where(n_zero == 0, p_nonzero / safe, xp.where((n_zero == 1) & zero, p_nonzero, 0))
    return out.astype(x.dtype, copy=False)


def _prod_of_others(x: Tensor, axes: tuple) -> Tensor:
    """prod_{j != i} x_j over ``axes`` for every i, exact where x has zeros and differentiable
    to any order (O(n^2) memory in the reduced size n: used only when x has zeros)."""
    kept = [i for i in range(x.ndim) if i not in axes]
    perm = kept + list(axes)
    xt = permute(x, perm) if perm != list(range(x.ndim)) else x
    lead = xt.shape[:len(kept)]
    n = _count(x, axes)
    flat = reshape(xt, lead + (n,))
    eye = x.xp.eye(n, dtype=bool)
    others = prod(where(eye, 1.0, unsqueeze(flat, -2)), -1)  # row i: x with x_i replaced by 1
    others = reshape(others, xt.shape)
    if perm != list(range(x.ndim)):
        others = permute(others, tuple(int(i) for i in numpy.argsort(perm)))
    return others


PROD = _reduction("prod", _prod_bw, _prod_fw, saves="x", save_output=True)


# ----------------------------------------------------------------------------- max / min
def max(input, dim=None, keepdim=False, *, axis=None, keepdims=None,  # noqa: A001, A002
        other=None):
    """PyTorch's three forms: ``max(x)`` the largest element (tied maxima share the gradient
    evenly); ``max(x, dim, keepdim=False)`` (``axis``/``keepdims`` too) the named tuple
    (values, indices), the gradient going to the indices; ``max(x, other)`` with a Tensor
    ``other`` (positional or ``other=``): the elementwise :func:`maximum`."""
    return _extreme(input, dim, keepdim, axis, keepdims, MAX, maximum, _xp_argmax, other)


def min(input, dim=None, keepdim=False, *, axis=None, keepdims=None,  # noqa: A001, A002
        other=None):
    """Min; see :func:`max` (``min(x, other)`` is :func:`minimum`)."""
    return _extreme(input, dim, keepdim, axis, keepdims, MIN, minimum, _xp_argmin, other)


def _extreme(x, dim, keepdim, axis, keepdims, prim, elementwise, argpick, other=None):
    op = prim.name
    if other is not None:
        if dim is not None or axis is not None:
            raise TypeError(f"{op}(): takes either dim or other, not both")
        return elementwise(x, other)
    if isinstance(dim, Tensor):
        return elementwise(x, dim)
    dim = dim_arg(dim, axis, op)
    x = as_t(x)
    keep = keep_arg(keepdim, keepdims)
    if dim is None:
        if x.array.size == 0:
            raise RuntimeError(f"{op}(): Expected reduction dim to be specified for "
                               f"input.numel() == 0 (a tensor of shape {x.shape}); give dim")
        return _even_extreme(x, tuple(range(x.ndim)), keep, prim, whole=True)
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}(): dim must be an int, got {dim!r}; a{op}() reduces over "
                        f"several dims")
    d = norm_dim(dim, x.ndim, op)
    return on_vector(x, lambda t: _extreme_along(t, d, keep, op, argpick))


def _extreme_along(x: Tensor, d: int, keep: bool, op: str, argpick) -> ValuesIndices:
    _nonempty(x, (d,), op)
    idx = x.xp.expand_dims(argpick(x.array, d), d).astype(_INT64, copy=False)
    return select_along(x, d, idx, keep)


def amax(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
    """The largest values over ``dim`` (all dims by default); tied maxima share the gradient
    evenly (PyTorch)."""
    x, axes, keep = reduce_args(x, dim, keepdim, "amax", axis, keepdims)
    return _even_extreme(x, axes, keep, MAX)


def amin(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
    """The smallest values; see :func:`amax`."""
    x, axes, keep = reduce_args(x, dim, keepdim, "amin", axis, keepdims)
    return _even_extreme(x, axes, keep, MIN)


def aminmax(x, *, dim=None, keepdim=False, axis=None, keepdims=None) -> MinMax:
    """(min, max) as :func:`amin` and :func:`amax` (a named tuple ``.min``/``.max``)."""
    dim = dim_arg(dim, axis, "aminmax")
    keep = keep_arg(keepdim, keepdims)
    return MinMax(amin(x, dim, keep), amax(x, dim, keep))


def _even_extreme(x: Tensor, axes: tuple, keep: bool, prim, whole: bool = False) -> Tensor:
    """amax/amin over ``axes``, or (``whole``) max()/min() without dim, whose gradient is
    exactly 0 off the extremes even where the incoming one is NaN (PyTorch's CPU
    ``evenly_distribute_backward``; amax's ``grad * mask`` spreads it)."""
    _nonempty(x, axes, prim.name)
    return record(prim, prim.forward(x.array, axes, keep), (x,), (x,), save_output=True,
                  attrs=(axes, keep, whole))


def _tie_weights(axes, x, m):
    """1 / (number of ties) where ``x`` equals its extreme ``m`` (NaN equal to NaN), else 0."""
    xp = get_array_module(x)
    hit = x == m
    if x.dtype.kind in "fc":
        hit |= xp.isnan(x) & xp.isnan(m)
    return hit / hit.sum(axis=axes, keepdims=True)


def _extreme_bw(ctx, g):
    x, out = ctx.saved_tensors
    axes, keep, whole = ctx.attrs
    m = out.array if keep else out.array.reshape(reduced_shape(x.shape, axes, True))
    # constant weights: as in PyTorch, the gradient of max()/amax is off x's graph
    weight = _tie_weights(axes, x.array, m).astype(x.dtype, copy=False)
    gx = mul(expand_reduced(g, x.shape, axes, keep), make(weight))
    return (masked_grad(gx, weight != 0, g) if whole else gx,)


def _xp_max(a, axes, keep, whole=False):
    return get_array_module(a).asarray(a.max(axis=axes, keepdims=keep))


def _xp_min(a, axes, keep, whole=False):
    return get_array_module(a).asarray(a.min(axis=axes, keepdims=keep))


MAX = _reduction("max", _extreme_bw, _xp_max, saves="x", save_output=True,
                 attrs=("axes", "keepdim", "whole"))
MIN = _reduction("min", _extreme_bw, _xp_min, saves="x", save_output=True,
                 attrs=("axes", "keepdim", "whole"))


def _xp_argmax(a, axis):
    return a.argmax(axis=axis)


def _xp_argmin(a, axis):
    return a.argmin(axis=axis)


def argmax(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
    """Index (int64) of the first largest element over ``dim``, or of the flattened tensor."""
    return _arg_extreme(x, dim, keepdim, axis, keepdims, "argmax", _xp_argmax)


def argmin(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
    """Index (int64) of the first smallest element; see :func:`argmax`."""
    return _arg_extreme(x, dim, keepdim, axis, keepdims, "argmin", _xp_argmin)


def _arg_extreme(x, dim, keepdim, axis, keepdims, op, argpick) -> Tensor:
    x = as_t(x)
    dim = dim_arg(dim, axis, op)
    keep = keep_arg(keepdim, keepdims)
    xp, a = x.xp, x.array
    if dim is None:
        if a.size == 0:
            raise RuntimeError(f"{op}(): Expected reduction dim to be specified for "
                               f"input.numel() == 0 (a tensor of shape {x.shape})")
        out = xp.asarray(argpick(a.reshape(-1), 0))
        if keep:
            out = out.reshape((1,) * x.ndim)
    else:
        d = norm_dim(dim, x.ndim, op)
        if x.ndim == 0:
            out = xp.zeros((), _INT64)
        else:
            _nonempty(x, (d,), op)
            out = argpick(a, d)
            if keep:
                out = xp.expand_dims(out, d)
    return make(xp.asarray(out).astype(_INT64, copy=False))


# ----------------------------------------------------------------------------- any / all / count
def any(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:  # noqa: A001
    x, axes, keep = reduce_args(x, dim, keepdim, "any", axis, keepdims)
    return make(x.xp.asarray(x.array.any(axis=axes, keepdims=keep)))


def all(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:  # noqa: A001
    x, axes, keep = reduce_args(x, dim, keepdim, "all", axis, keepdims)
    return make(x.xp.asarray(x.array.all(axis=axes, keepdims=keep)))


def count_nonzero(x, dim=None, *, axis=None) -> Tensor:
    """The number (int64) of nonzero elements over ``dim`` (an int or a tuple; all by
    default)."""
    x, axes, _ = reduce_args(x, dim, False, "count_nonzero", axis)
    return make(x.xp.asarray((x.array != 0).sum(axis=axes)).astype(_INT64, copy=False))


# ----------------------------------------------------------------------------- norms
def norm(x, p="fro", dim=None, keepdim=False, dtype=None, *, ord=None, axis=None,
         keepdims=None) -> Tensor:
    """Vector p-norm over ``dim`` (all elements by default): ``p`` (or NumPy's ``ord``) 'fro'
    (= 2), any real number, ``inf``, ``-inf`` or 0 (the count of nonzeros, gradient 0). The
    gradient of the 2-norm at 0 is 0."""
    order = p if ord is None else ord
    if order is None or order == "fro":
        order = 2
    if isinstance(order, str):
        raise NotImplementedError(f"norm: p={order!r} is not supported (only 'fro' and numbers; "
                                  f"the nuclear norm needs an SVD)")
    x, axes, keep = reduce_args(x, dim, keepdim, "norm", axis, keepdims)
    x = _as_float(x, dtype)
    order = float(order)
    if order == 2:
        return record(NORM, _norm2_fw(x.array, axes, keep), (x,), (x,), save_output=True,
                      attrs=(axes, keep))
    if order == 1:
        return sum(_abs(x), axes, keep)
    if order == float("inf"):
        return amax(_abs(x), axes, keep)
    if order == float("-inf"):
        return amin(_abs(x), axes, keep)
    if order == 0:
        return sum(step(_nonzero, x), axes, keep)
    return _pow(sum(_pow(_abs(x), order), axes, keep), 1.0 / order)


def _nonzero(a):
    return a != 0


def _norm2_fw(x, axes, keep):
    xp = get_array_module(x)
    return xp.asarray(xp.sqrt((x * x).sum(axis=axes, keepdims=keep)))


def _norm2_bw(ctx, g):
    x, n = ctx.saved_tensors
    axes, keep = ctx.attrs
    n_full = expand_reduced(n, x.shape, axes, keep)
    safe = where(n_full.array == 0, 1.0, n_full)  # x is 0 there, so x / 1 = 0
    return (mul(expand_reduced(g, x.shape, axes, keep), div(x, safe)),)


NORM = _reduction("norm", _norm2_bw, _norm2_fw, saves="x", save_output=True)


# ----------------------------------------------------------------------------- softmax family
# NumPy's log(0) and -inf - -inf warnings are silenced (``kernels_for(x).quiet_float_errors``):
# over a slice of all -inf, logsumexp is -inf and log_softmax NaN, as in PyTorch, without a
# warning.
def _stable_max(x, axes):
    xp = get_array_module(x)
    m = x.max(axis=axes, keepdims=True)
    return xp.where(xp.isfinite(m), m, 0).astype(x.dtype, copy=False)


def logsumexp(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
    """log(sum(exp(x))) over ``dim`` without overflow (all dims when None); over all -inf it is
    -inf with zero gradients."""
    x, axes, keep = reduce_args(x, dim, keepdim, "logsumexp", axis, keepdims)
    x = _as_float(x)
    return record(LOGSUMEXP, _logsumexp_fw(x.array, axes, keep), (x,), (x,), save_output=True,
                  attrs=(axes, keep))


def _logsumexp_fw(x, axes, keep):
    xp = get_array_module(x)
    m = _stable_max(x, axes)
    with backends.kernels_for(x).quiet_float_errors(x):  # log(0) = -inf: the answer over all -inf
        with_m = xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True)) + m
    out = with_m if keep else with_m.reshape(reduced_shape(x.shape, axes, False))
    return xp.asarray(out)


def _logsumexp_bw(ctx, g):
    x, out = ctx.saved_tensors
    axes, keep = ctx.attrs
    out_full = expand_reduced(out, x.shape, axes, keep)
    safe = where(x.xp.isneginf(out_full.array), 0.0, out_full)
    return (mul(expand_reduced(g, x.shape, axes, keep), exp(sub(x, safe))),)


LOGSUMEXP = _reduction("logsumexp", _logsumexp_bw, _logsumexp_fw, saves="x", save_output=True)


def _along(name, backward, forward, **kw):
    """Register a primitive along one axis (the attribute ``dim``), shaped as its input."""
    return primitive(name, backward, forward=forward, inputs="x", attrs="dim", infer=SAME, **kw)


def _softmax_args(x, dim, dtype, axis, op):
    x = _as_float(as_t(x), dtype)
    dim = dim_arg(dim, axis, op, -1)
    return x, norm_dim(-1 if dim is None else dim, x.ndim, op)


def softmax(x, dim=None, dtype=None, *, axis=None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (the last by default), computed from x - max(x);
    ``dtype`` casts the input first (PyTorch)."""
    x, d = _softmax_args(x, dim, dtype, axis, "softmax")
    return on_vector(x, lambda t: record(SOFTMAX, _softmax_fw(t.array, d), (t,),
                                         save_output=True, attrs=d))


def _softmax_fw(x, dim):
    e = get_array_module(x).exp(x - _stable_max(x, (dim,)))
    return e / e.sum(axis=dim, keepdims=True)


def _softmax_bw(ctx, g):
    (y,) = ctx.saved_tensors
    a = ctx.attrs
    return (mul(y, sub(g, sum(mul(g, y), a, True))),)


SOFTMAX = _along("softmax", _softmax_bw, _softmax_fw, save_output=True)


def log_softmax(x, dim=None, dtype=None, *, axis=None) -> Tensor:
    """log(softmax(x)) along ``dim`` (the last by default), computed stably."""
    x, d = _softmax_args(x, dim, dtype, axis, "log_softmax")
    return on_vector(x, lambda t: record(LOG_SOFTMAX, _log_softmax_fw(t.array, d), (t,),
                                         save_output=True, attrs=d))


def _log_softmax_fw(x, dim):
    xp = get_array_module(x)
    shifted = x - _stable_max(x, (dim,))
    with backends.kernels_for(x).quiet_float_errors(x):
        return shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))


def _log_softmax_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (sub(g, mul(exp(y), sum(g, ctx.attrs, True))),)


LOG_SOFTMAX = _along("log_softmax", _log_softmax_bw, _log_softmax_fw, save_output=True)
