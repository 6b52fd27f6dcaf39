"""Reductions and the softmax family, each registered beside its VJP rule.

Conventions at non-differentiable points: ties of ``max``/``min`` share the gradient evenly;
the 2-norm's gradient at 0 is 0; ``logsumexp`` over all -inf gives zero gradients.
"""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy

from ..backends import array_ops, get_array_module, on_host
from ..dtypes import get_default_dtype
from ..grad_mode import STATE
from ..tape import record
from ..tensor import Tensor, make
from ._util import as_t, norm_axis
from .elementwise import abs as _abs, add, div, exp, mul, pow as _pow, sub, where
from .registry import REDUCED, SAME, primitive, reduced_shape
from .shape import astype, broadcast_to, permute, reshape, unsqueeze

MaxResult = namedtuple("MaxResult", ["values", "indices"])


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


def _reduce_args(x, axis, dim, keepdims, keepdim, op):
    x = as_t(x)
    if dim is not None:
        axis = dim
    keep = bool(keepdims or keepdim)
    return x, norm_axis(axis, x.ndim, op), keep


# ----------------------------------------------------------------------------- sum / mean
def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=False, dtype=None) -> Tensor:  # noqa: A001
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, "sum")
    return record(SUM, _sum_fw(x.array, axes, keep, dtype), (x,), attrs=(axes, keep, dtype))


def _sum_fw(x, axes, keep, dtype):
    if x.dtype.kind == "b":
        x = x.astype("int64")
    return get_array_module(x).asarray(x.sum(axis=axes, keepdims=keep, dtype=dtype))


def _sum_bw(ctx, g):
    axes, keep, _ = ctx.attrs
    return (expand_reduced(g, ctx.in_meta[0][0], axes, keep),)


def _sum_infer(in_meta, axes, keep, dtype):
    (shape, in_dtype), = in_meta
    if dtype is None:
        dtype = numpy.dtype("int64") if in_dtype.kind == "b" else in_dtype
    return ((reduced_shape(shape, axes, keep), dtype),)


SUM = _reduction("sum", _sum_bw, _sum_fw, attrs=("axes", "keepdim", "dtype"), infer=_sum_infer)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=False) -> Tensor:
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, "mean")
    n = 1
    for a in axes:
        n *= x.shape[a]
    if x.dtype.kind != "f":
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
        x = astype(x, get_default_dtype())
    centred = sub(x, mean(x, axes, True))
    denom = float(builtins.max(n - c, 0)) ** 0.5
    return div(norm(centred, axis=axes, keepdims=keep), denom)


def prod(x, axis=None, keepdims=False, *, dim=None, keepdim=False) -> Tensor:
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, "prod")
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
    if not bool((x.array == 0).any()):
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
    n = 1
    for a in axes:
        n *= x.shape[a]
    flat = reshape(xt, lead + (n,))
    eye = x.xp.eye(n, dtype=bool)
    others = prod(where(eye, 1.0, unsqueeze(flat, -2)), -1)  # row i: x with x_i replaced by 1
    others = reshape(others, xt.shape)
    if perm != list(range(x.ndim)):
        others = permute(others, tuple(int(i) for i in numpy.argsort(perm)))
    return others


PROD = _reduction("prod", _prod_bw, _prod_fw, saves="x", save_output=True)


# ----------------------------------------------------------------------------- max / min
def _extreme(x, axis, keepdims, dim, keepdim, prim, argpick):
    torch_style = dim is not None
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, prim.name)
    if x.array.size == 0:
        raise ValueError(f"{prim.name}: reduction over an empty tensor of shape {x.shape}")
    out = record(prim, prim.forward(x.array, axes, keep), (x,), (x,), save_output=True,
                 attrs=(axes, keep))
    if torch_style and len(axes) == 1:
        idx = argpick(x.array, axis=axes[0])
        if keep:
            idx = x.xp.expand_dims(idx, axes[0])
        return MaxResult(out, make(idx))
    return out


def _extreme_bw(ctx, g):
    x, out = ctx.saved_tensors
    axes, keep = ctx.attrs
    out_full = out.array if keep else out.array.reshape(reduced_shape(x.shape, axes, True))
    mask = x.array == out_full
    weight = mask / mask.sum(axis=axes, keepdims=True)
    return (mul(expand_reduced(g, x.shape, axes, keep), make(weight.astype(x.dtype))),)


def max(x, axis=None, keepdims=False, *, dim=None, keepdim=False):  # noqa: A001
    """Max over ``axis`` (values only, NumPy style) or over ``dim`` (PyTorch style: a
    (values, indices) pair). Tied maxima share the gradient evenly."""
    return _extreme(x, axis, keepdims, dim, keepdim, MAX, _xp_argmax)


def min(x, axis=None, keepdims=False, *, dim=None, keepdim=False):  # noqa: A001
    """Min; see :func:`max`."""
    return _extreme(x, axis, keepdims, dim, keepdim, MIN, _xp_argmin)


def _xp_max(a, axes, keep):
    return get_array_module(a).asarray(a.max(axis=axes, keepdims=keep))


def _xp_min(a, axes, keep):
    return get_array_module(a).asarray(a.min(axis=axes, keepdims=keep))


MAX = _reduction("max", _extreme_bw, _xp_max, saves="x", save_output=True)
MIN = _reduction("min", _extreme_bw, _xp_min, saves="x", save_output=True)


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
    out = x.array.argmax(axis=a)
    if (keepdims or keepdim) and a is not None:
        out = x.xp.expand_dims(out, a)
    return make(x.xp.asarray(out))


def argmin(x, axis=None, keepdims=False, *, dim=None, keepdim=False) -> Tensor:
    x = as_t(x)
    a = dim if dim is not None else axis
    out = x.array.argmin(axis=a)
    if (keepdims or keepdim) and a is not None:
        out = x.xp.expand_dims(out, a)
    return make(x.xp.asarray(out))


def any(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    x = as_t(x)
    return make(x.xp.asarray(x.array.any(axis=axis, keepdims=keepdims)))


def all(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    x = as_t(x)
    return make(x.xp.asarray(x.array.all(axis=axis, keepdims=keepdims)))


# ----------------------------------------------------------------------------- norms
def norm(x, ord=None, axis=None, keepdims=False, *, dim=None, keepdim=False, p=None) -> Tensor:
    """Vector p-norm over ``axis`` (all elements by default; ``p``/``ord`` 2, 1, inf, or any
    positive number; 'fro' = 2). The gradient of the 2-norm at 0 is 0."""
    order = p if p is not None else ord
    if order is None or order == "fro":
        order = 2
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, "norm")
    if order == 2:
        return record(NORM, _norm2_fw(x.array, axes, keep), (x,), (x,), save_output=True,
                      attrs=(axes, keep))
    if order == 1:
        return sum(_abs(x), axes, keep)
    if order == float("inf"):
        return max(_abs(x), axes, keep)
    return _pow(sum(_pow(_abs(x), order), axes, keep), 1.0 / order)


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
# NumPy's log(0) and -inf - -inf warnings are silenced (array_ops.quiet_float_errors): over a
# slice of all -inf, logsumexp is -inf and log_softmax NaN, as in PyTorch, without a warning.
def _stable_max(x, axes):
    xp = get_array_module(x)
    m = x.max(axis=axes, keepdims=True)
    return xp.where(xp.isfinite(m), m, 0).astype(x.dtype, copy=False)


def logsumexp(x, axis=None, keepdims=False, *, dim=None, keepdim=False) -> Tensor:
    """log(sum(exp(x))) without overflow; over all -inf it is -inf with zero gradients."""
    x, axes, keep = _reduce_args(x, axis, dim, keepdims, keepdim, "logsumexp")
    return record(LOGSUMEXP, _logsumexp_fw(x.array, axes, keep), (x,), (x,), save_output=True,
                  attrs=(axes, keep))


def _logsumexp_fw(x, axes, keep):
    xp = get_array_module(x)
    m = _stable_max(x, axes)
    with array_ops.quiet_float_errors(x):    # log(0) = -inf is the answer over all -inf
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


def softmax(x, axis: int = -1, *, dim=None) -> Tensor:
    x = as_t(x)
    a = (dim if dim is not None else axis) % builtins.max(x.ndim, 1)
    return record(SOFTMAX, _softmax_fw(x.array, a), (x,), save_output=True, attrs=a)


def _softmax_fw(x, dim):
    e = get_array_module(x).exp(x - _stable_max(x, (dim,)))
    return e / e.sum(axis=dim, keepdims=True)


def _softmax_bw(ctx, g):
    (y,) = ctx.saved_tensors
    a = ctx.attrs
    return (mul(y, sub(g, sum(mul(g, y), a, True))),)


SOFTMAX = _along("softmax", _softmax_bw, _softmax_fw, save_output=True)


def log_softmax(x, axis: int = -1, *, dim=None) -> Tensor:
    x = as_t(x)
    a = (dim if dim is not None else axis) % builtins.max(x.ndim, 1)
    return record(LOG_SOFTMAX, _log_softmax_fw(x.array, a), (x,), save_output=True, attrs=a)


def _log_softmax_fw(x, dim):
    xp = get_array_module(x)
    shifted = x - _stable_max(x, (dim,))
    with array_ops.quiet_float_errors(x):
        return shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))


def _log_softmax_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (sub(g, mul(exp(y), sum(g, ctx.attrs, True))),)


LOG_SOFTMAX = _along("log_softmax", _log_softmax_bw, _log_softmax_fw, save_output=True)


# ----------------------------------------------------------------------------- scans
def cumsum(x, axis: int = 0, *, dim=None) -> Tensor:
    x = as_t(x)
    a = (dim if dim is not None else axis) % builtins.max(x.ndim, 1)
    return record(CUMSUM, _cumsum_fw(x.array, a), (x,), attrs=a)


def _cumsum_fw(x, dim):
    return get_array_module(x).cumsum(x, axis=dim)


def _cumsum_bw(ctx, g):
    a = ctx.attrs
    # reverse cumulative sum: total - cumsum(g) + g
    return (add(sub(sum(g, a, True), cumsum(g, a)), g),)


CUMSUM = _along("cumsum", _cumsum_bw, _cumsum_fw)
