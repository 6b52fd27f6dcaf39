"""Reductions and the softmax family, with their VJP rules.

Conventions at non-differentiable points: ties of ``max``/``min`` share the gradient evenly;
the 2-norm's gradient at 0 is 0; ``logsumexp`` over all -inf gives zero gradients.
"""
from __future__ import annotations

import builtins
import contextlib
from collections import namedtuple

import numpy

from ..tape import record
from ..tensor import Tensor, make
from ._util import as_t, norm_axis
from .elementwise import add, div, exp, mul, sub, where
from .shape import broadcast_to, reshape

MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _keep_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def expand_reduced(g: Tensor, shape, axes, keepdims: bool) -> Tensor:
    """Broadcast a reduced gradient back over the reduced ``axes`` of ``shape``."""
    if not keepdims:
        g = reshape(g, _keep_shape(shape, axes))
    return broadcast_to(g, shape)


def _reduce_args(x, axis, dim, keepdims, keepdim, op):
    x = as_t(x)
    if dim is not None:
        axis = dim
    keep = bool(keepdims or keepdim)
    return x, norm_axis(axis, x.ndim, op), keep


# ----------------------------------------------------------------------------- sum / mean
def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=False, dtype=None) -> Tensor:  # noqa: A001
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, "sum")
    data = x.data
    if data.dtype.kind == "b":
        data = data.astype("int64")
    out = data.sum(axis=axes, keepdims=keep, dtype=dtype)
    return record("sum", _sum_bw, x.xp.asarray(out), (x,), attrs=(axes, keep))


def _sum_bw(ctx, g):
    axes, keep = ctx.attrs
    return (expand_reduced(g, ctx.in_meta[0][0], axes, keep),)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=False) -> Tensor:
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, "mean")
    n = 1
    for a in axes:
        n *= x.shape[a]
    if x.dtype.kind != "f":
        from ..dtypes import get_default_dtype
        from .shape import astype
        x = astype(x, get_default_dtype())
    return div(sum(x, axes, keep), float(n)) if n else mul(sum(x, axes, keep), float("nan"))


def _count_and_correction(x, axes, correction, unbiased, ddof) -> tuple[int, int]:
    """(elements reduced, Bessel correction): PyTorch's ``correction``/``unbiased`` and
    NumPy's ``ddof`` spellings, unbiased (1) by default."""
    c = 1
    for v in (correction, ddof):
        if v is not None:
            c = v
    if unbiased is not None:
        c = 1 if unbiased else 0
    n = 1
    for a in axes:
        n *= x.shape[a]
    return n, c


def var(x, axis=None, keepdims=False, *, dim=None, keepdim=False, correction=None,
        unbiased=None, ddof=None) -> Tensor:
    """Variance. Like PyTorch the default is unbiased (``correction=1``); pass ``ddof=0``
    (NumPy) or ``unbiased=False`` for the population variance."""
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, "var")
    n, c = _count_and_correction(x, axes, correction, unbiased, ddof)
    centred = sub(x, mean(x, axes, True))
    return div(sum(mul(centred, centred), axes, keep), float(builtins.max(n - c, 0)))


def std(x, axis=None, keepdims=False, *, dim=None, keepdim=False, correction=None,
        unbiased=None, ddof=None) -> Tensor:
    """Standard deviation (unbiased by default, as :func:`var`). Computed as the 2-norm of the
    centred values, so its gradient where all values are equal is 0 (the norm convention),
    not NaN."""
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, "std")
    n, c = _count_and_correction(x, axes, correction, unbiased, ddof)
    if x.dtype.kind != "f":
        from ..dtypes import get_default_dtype
        from .shape import astype
        x = astype(x, get_default_dtype())
    centred = sub(x, mean(x, axes, True))
    denom = float(builtins.max(n - c, 0)) ** 0.5
    return div(norm(centred, axis=axes, keepdims=keep), denom)


def prod(x, axis=None, keepdims=False, *, dim=None, keepdim=False) -> Tensor:
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, "prod")
    return record("prod", _prod_bw, x.xp.asarray(x.data.prod(axis=axes, keepdims=keep)),
                  (x,), (x,), save_output=True, attrs=(axes, keep))


def _prod_bw(ctx, g):
    x, out = ctx.saved_tensors
    axes, keep = ctx.attrs
    shape = x.shape
    g_full = expand_reduced(g, shape, axes, keep)
    if not bool((x.data == 0).any()):
        # prod_{j != i} x_j = out / x_i; differentiable again (d(out / x_i)/dx_i = 0)
        return (mul(g_full, div(expand_reduced(out, shape, axes, keep), x)),)
    return (mul(g_full, _prod_of_others(x, axes)),)


def _prod_of_others(x: Tensor, axes: tuple) -> Tensor:
    """prod_{j != i} x_j over ``axes`` for every i, exact where x has zeros and differentiable
    to any order (O(n^2) memory in the reduced size n: used only when x has zeros)."""
    from .shape import permute, unsqueeze
    kept = [i for i in range(x.ndim) if i not in axes]
    perm = kept + list(axes)
    xt = permute(x, perm) if perm != list(range(x.ndim)) else x
    lead = xt.shape[:len(kept)]
    n = 1
    for a in axes:
        n *= x.shape[a]
    flat = reshape(xt, lead + (n,))
    eye = x.xp.eye(n, dtype=bool)
    others = prod(where(eye, 1.0, unsqueeze(flat, -2)), -1)  # row i: x with x_i replaced by 1
    others = reshape(others, xt.shape)
    if perm != list(range(x.ndim)):
        import numpy
        others = permute(others, tuple(int(i) for i in numpy.argsort(perm)))
    return others


# ----------------------------------------------------------------------------- max / min
def _extreme(x, axis, keepdims, dim, keepdim, name, pick, argpick):
    torch_style = dim is not None
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, name)
    if x.data.size == 0:
        raise ValueError(f"{name}: reduction over an empty tensor of shape {x.shape}")
    out = record(name, _extreme_bw, x.xp.asarray(pick(x.data, axis=axes, keepdims=keep)), (x,),
                 (x,), save_output=True, attrs=(axes, keep))
    if torch_style and len(axes) == 1:
        idx = argpick(x.data, axis=axes[0])
        if keep:
            idx = x.xp.expand_dims(idx, axes[0])
        return MaxResult(out, make(idx))
    return out


def _extreme_bw(ctx, g):
    x, out = ctx.saved_tensors
    axes, keep = ctx.attrs
    out_full = out.data if keep else out.data.reshape(_keep_shape(x.shape, axes))
    mask = x.data == out_full
    weight = mask / mask.sum(axis=axes, keepdims=True)
    return (mul(expand_reduced(g, x.shape, axes, keep), make(weight.astype(x.dtype))),)


def max(x, axis=None, keepdims=False, *, dim=None, keepdim=False):  # noqa: A001
    """Max over ``axis`` (values only, NumPy style) or over ``dim`` (PyTorch style: a
    (values, indices) pair). Tied maxima share the gradient evenly."""
    return _extreme(x, axis, keepdims, dim, keepdim, "max", _xp_max, _xp_argmax)


def min(x, axis=None, keepdims=False, *, dim=None, keepdim=False):  # noqa: A001
    """Min; see :func:`max`."""
    return _extreme(x, axis, keepdims, dim, keepdim, "min", _xp_min, _xp_argmin)


def _xp_max(a, axis, keepdims):
    return a.max(axis=axis, keepdims=keepdims)


def _xp_min(a, axis, keepdims):
    return a.min(axis=axis, keepdims=keepdims)


def _xp_argmax(a, axis):
    return a.argmax(axis=axis)


def _xp_argmin(a, axis):
    return a.argmin(axis=axis)


def amax(x, axis=None, keepdims=False):
    return max(x, axis, keepdims)


def amin(x, axis=None, keepdims=False):
    return min(x, axis, keepdims)


def argmax(x, axis=None, keepdims=False, *, dim=None, keepdim=False) -> Tensor:
    x = as_t(x)
    a = dim if dim is not None else axis
    out = x.data.argmax(axis=a)
    if (keepdims or keepdim) and a is not None:
        out = x.xp.expand_dims(out, a)
    return make(x.xp.asarray(out))


def argmin(x, axis=None, keepdims=False, *, dim=None, keepdim=False) -> Tensor:
    x = as_t(x)
    a = dim if dim is not None else axis
    out = x.data.argmin(axis=a)
    if (keepdims or keepdim) and a is not None:
        out = x.xp.expand_dims(out, a)
    return make(x.xp.asarray(out))


def any(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    x = as_t(x)
    return make(x.xp.asarray(x.data.any(axis=axis, keepdims=keepdims)))


def all(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    x = as_t(x)
    return make(x.xp.asarray(x.data.all(axis=axis, keepdims=keepdims)))


# ----------------------------------------------------------------------------- norms
def norm(x, ord=None, axis=None, keepdims=False, *, dim=None, keepdim=False, p=None) -> Tensor:
    """Vector p-norm over ``axis`` (all elements by default; ``p``/``ord`` 2, 1, inf, or any
    positive number; 'fro' = 2). The gradient of the 2-norm at 0 is 0."""
    from .elementwise import abs as _abs, pow as _pow
    order = p if p is not None else ord
    if order is None or order == "fro":
        order = 2
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, "norm")
    if order == 2:
        data = x.xp.sqrt((x.data * x.data).sum(axis=axes, keepdims=keep))
        return record("norm", _norm2_bw, x.xp.asarray(data), (x,), (x,), save_output=True,
                      attrs=(axes, keep))
    if order == 1:
        return sum(_abs(x), axes, keep)
    if order == float("inf"):
        return max(_abs(x), axes, keep)
    return _pow(sum(_pow(_abs(x), order), axes, keep), 1.0 / order)


def _norm2_bw(ctx, g):
    x, n = ctx.saved_tensors
    axes, keep = ctx.attrs
    n_full = expand_reduced(n, x.shape, axes, keep)
    safe = where(n_full.data == 0, 1.0, n_full)  # x is 0 there, so x / 1 = 0
    return (mul(expand_reduced(g, x.shape, axes, keep), div(x, safe)),)


# ----------------------------------------------------------------------------- softmax family
def _quiet_log(xp):
    """NumPy's log(0) and -inf - -inf warnings silenced (CuPy never warns): over a slice of all
    -inf, logsumexp is -inf and log_softmax NaN, as in PyTorch, without a warning."""
    return (numpy.errstate(divide="ignore", invalid="ignore") if xp is numpy
            else contextlib.nullcontext())


def _stable_max(x, axes):
    m = x.data.max(axis=axes, keepdims=True)
    return x.xp.where(x.xp.isfinite(m), m, 0).astype(x.dtype, copy=False)


def logsumexp(x, axis=None, keepdims=False, *, dim=None, keepdim=False) -> Tensor:
    """log(sum(exp(x))) without overflow; over all -inf it is -inf with zero gradients."""
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, "logsumexp")
    xp = x.xp
    m = _stable_max(x, axes)
    with _quiet_log(xp):                        # log(0) = -inf is the answer over all -inf
        with_m = xp.log(xp.exp(x.data - m).sum(axis=axes, keepdims=True)) + m
    out = with_m if keep else with_m.reshape(tuple(s for i, s in enumerate(x.shape)
                                                   if i not in axes))
    return record("logsumexp", _logsumexp_bw, xp.asarray(out), (x,), (x,), save_output=True,
                  attrs=(axes, keep))


def _logsumexp_bw(ctx, g):
    x, out = ctx.saved_tensors
    axes, keep = ctx.attrs
    out_full = expand_reduced(out, x.shape, axes, keep)
    safe = where(x.xp.isneginf(out_full.data), 0.0, out_full)
    return (mul(expand_reduced(g, x.shape, axes, keep), exp(sub(x, safe))),)


def softmax(x, axis: int = -1, *, dim=None) -> Tensor:
    x = as_t(x)
    a = (dim if dim is not None else axis) % builtins.max(x.ndim, 1)
    xp = x.xp
    e = xp.exp(x.data - _stable_max(x, (a,)))
    return record("softmax", _softmax_bw, e / e.sum(axis=a, keepdims=True), (x,),
                  save_output=True, attrs=a)


def _softmax_bw(ctx, g):
    (y,) = ctx.saved_tensors
    a = ctx.attrs
    return (mul(y, sub(g, sum(mul(g, y), a, True))),)


def log_softmax(x, axis: int = -1, *, dim=None) -> Tensor:
    x = as_t(x)
    a = (dim if dim is not None else axis) % builtins.max(x.ndim, 1)
    xp = x.xp
    shifted = x.data - _stable_max(x, (a,))
    with _quiet_log(xp):
        out = shifted - xp.log(xp.exp(shifted).sum(axis=a, keepdims=True))
    return record("log_softmax", _log_softmax_bw, out, (x,), save_output=True, attrs=a)


def _log_softmax_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (sub(g, mul(exp(y), sum(g, ctx.attrs, True))),)


# ----------------------------------------------------------------------------- scans
def cumsum(x, axis: int = 0, *, dim=None) -> Tensor:
    x = as_t(x)
    a = (dim if dim is not None else axis) % builtins.max(x.ndim, 1)
    return record("cumsum", _cumsum_bw, x.xp.cumsum(x.data, axis=a), (x,), attrs=a)


def _cumsum_bw(ctx, g):
    a = ctx.attrs
    # reverse cumulative sum: total - cumsum(g) + g
    return (add(sub(sum(g, a, True), cumsum(g, a)), g),)
