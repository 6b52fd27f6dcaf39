"""Scans along one dimension, with PyTorch's signatures: ``cumsum``, ``cumprod``,
``logcumsumexp`` (primitives, registered beside their VJP rules), ``cummax``/``cummin``
(values gathered at the running arg-extreme, so the gradient goes to those indices, as in
PyTorch) and ``diff``.

``dim`` is required (PyTorch), ``axis`` is its alias; a 0-d tensor takes dim 0 or -1 and stays
0-d. Integer and bool input accumulate in int64 (PyTorch's ``cumsum``/``cumprod``).
"""
from __future__ import annotations

import numpy

from ..backends import get_array_module
from ..dtypes import get_default_dtype
from ..grad_mode import STATE
from ..tape import record
from ..tensor import Tensor, make
from ._util import as_t, norm_dim
from .elementwise import abs as _abs, add, div, exp, log, logical_xor, mul, sub, where
from .reduce import (ValuesIndices, accumulation_dtype, dim_arg, on_vector, select_along,
                     sum as _sum)
from .registry import SAME, primitive
from .shape import astype, cat, flip, movedim, unsqueeze

_INT64 = numpy.dtype("int64")


def _scan_args(x, dim, axis, op: str) -> tuple[Tensor, int]:
    x = as_t(x)
    dim = dim_arg(dim, axis, op)
    if dim is None:
        raise TypeError(f"{op}(): missing the required argument 'dim'")
    return x, norm_dim(dim, x.ndim, op)


def _along(name, backward, forward, **kw):
    """Register a scan primitive along the attribute ``dim``, shaped as its input."""
    return primitive(name, backward, forward=forward, inputs="x", attrs="dim", infer=SAME, **kw)


def _reverse_cumsum(g: Tensor, d: int) -> Tensor:
    """sum_{j >= i} g_j along ``d`` (exact: no total-minus-prefix cancellation)."""
    return flip(cumsum(flip(g, (d,)), d), (d,))


def _xp_reverse_cumsum(a, d: int):
    xp = get_array_module(a)
    return xp.flip(xp.cumsum(xp.flip(a, d), axis=d), d)


def inclusive_scan(ufunc, a, d: int):
    """The running ``ufunc`` (an associative binary ufunc: maximum, logaddexp) along ``d``, by
    doubling (Hillis-Steele: ceil(log2 n) whole-array steps), on any array library."""
    xp = get_array_module(a)
    out = a.copy()
    n, shift = a.shape[d], 1
    while shift < n:
        head = [slice(None)] * a.ndim
        tail = [slice(None)] * a.ndim
        head[d], tail[d] = slice(shift, None), slice(None, n - shift)
        nxt = out.copy()
        nxt[tuple(head)] = ufunc(out[tuple(head)], out[tuple(tail)])
        out, shift = nxt, 2 * shift
    return xp.asarray(out)


# ----------------------------------------------------------------------------- cumsum
def cumsum(x, dim=None, *, dtype=None, axis=None) -> Tensor:
    """Running sum along ``dim``; integer and bool input give int64 (PyTorch)."""
    x, d = _scan_args(x, dim, axis, "cumsum")
    dtype = accumulation_dtype(x, dtype)
    if dtype is not None and dtype != x.dtype:
        x = astype(x, dtype)
    return on_vector(x, lambda t: record(CUMSUM, _cumsum_fw(t.array, d), (t,), attrs=d))


def _cumsum_fw(x, dim):
    return get_array_module(x).cumsum(x, axis=dim)


def _cumsum_bw(ctx, g):
    return (_reverse_cumsum(g, ctx.attrs),)


CUMSUM = _along("cumsum", _cumsum_bw, _cumsum_fw)


# ----------------------------------------------------------------------------- cumprod
def cumprod(input, dim=None, *, dtype=None, axis=None) -> Tensor:  # noqa: A002
    """Running product along ``dim``. Its gradient is exact where the input has zeros, to any
    order (as PyTorch's)."""
    x = input  # PyTorch's parameter names
    x, d = _scan_args(x, dim, axis, "cumprod")
    dtype = accumulation_dtype(x, dtype)
    if dtype is not None and dtype != x.dtype:
        x = astype(x, dtype)
    return on_vector(x, lambda t: record(CUMPROD, _cumprod_fw(t.array, d), (t,), (t,),
                                         save_output=True, attrs=d))


def _cumprod_fw(x, dim):
    return get_array_module(x).cumprod(x, axis=dim)


def _cumprod_bw(ctx, g):
    x, y = ctx.saved_tensors
    d = ctx.attrs
    if not STATE.enabled:      # first order: O(n), exact with zeros, no host synchronisation
        return (make(_cumprod_grad_array(x.array, y.array, g.array, d)),)
    if not bool((x == 0).any()):      # a host read: autodiff.compile breaks the graph here
        # dx_i = sum_{j >= i} g_j y_j / x_i: the derivative of cumprod near x, so it
        # differentiates again
        return (div(_reverse_cumsum(mul(g, y), d), x),)
    return (_cumprod_grad_with_zeros(x, g, d),)


def _cumprod_grad_array(x, y, g, d: int):
    """dx_i = sum_{j >= i} g_j prod_{k <= j, k != i} x_k as arrays, exact with zeros: before a
    slice's first zero it is sum_{j >= i} g_j y_j / x_i (y_j is 0 from that zero on), at the
    first zero k the same sum with x_k taken as 1, after it 0 (every term has the factor
    x_k = 0). The derivative of this rule is not the second derivative (see
    :func:`_cumprod_grad_with_zeros`)."""
    xp = get_array_module(x)
    zeros_so_far = xp.cumsum(x == 0, axis=d)
    before, first = zeros_so_far == 0, (x == 0) & (zeros_so_far == 1)
    head = _xp_reverse_cumsum(g * y, d) / xp.where(before, x, 1)
    y_without_first = xp.cumprod(xp.where(first, 1, x), axis=d)
    at_first = _xp_reverse_cumsum(g * y_without_first, d)
    out = xp.where(before, head, xp.where(first, at_first, 0))
    return out.astype(x.dtype, copy=False)


def _cumprod_grad_with_zeros(x: Tensor, g: Tensor, d: int) -> Tensor:
    """dx_i = sum_{j >= i} g_j prod_{k <= j, k != i} x_k written out (row i of an n x n matrix
    is the cumprod of x with x_i taken as 1), so its derivative is cumprod's second
    derivative even at zeros (as PyTorch's O(n^2) rule under create_graph)."""
    xt, gt = movedim(x, d, -1), movedim(g, d, -1)
    n = xt.shape[-1]
    xp = x.xp
    rows = where(xp.eye(n, dtype=bool), 1.0, unsqueeze(xt, -2))
    upper = xp.triu(xp.ones((n, n), dtype=bool))           # j >= i
    terms = where(upper, mul(cumprod(rows, -1), unsqueeze(gt, -2)), 0.0)
    return movedim(_sum(terms, -1), -1, d)


CUMPROD = _along("cumprod", _cumprod_bw, _cumprod_fw, saves="x", save_output=True)


# ----------------------------------------------------------------------------- logcumsumexp
def logcumsumexp(input, dim=None, *, axis=None) -> Tensor:  # noqa: A002
    """log(cumsum(exp(x))) along ``dim``, computed without overflow (a running logaddexp);
    integer input is taken in the default float dtype."""
    x = input  # PyTorch's parameter names
    x, d = _scan_args(x, dim, axis, "logcumsumexp")
    if x.dtype.kind not in "fc":
        x = astype(x, get_default_dtype())
    return on_vector(x, lambda t: record(LOGCUMSUMEXP, _logcumsumexp_fw(t.array, d), (t,), (t,),
                                         save_output=True, attrs=d))


def _logcumsumexp_fw(x, dim):
    return inclusive_scan(get_array_module(x).logaddexp, x, dim)


def _logcumsumexp_bw(ctx, g):
    """dx_i = sum_{j >= i} g_j exp(x_i - y_j), computed as PyTorch does: the positive and
    negative parts of g each through a reversed logcumsumexp of log|g| - y, so that no
    exp(-y) overflows. Where y is -inf (every x up to there is -inf) the gradient is 0."""
    x, y = ctx.saved_tensors
    d = ctx.attrs
    xp = x.xp
    lowest = float(xp.finfo(x.dtype).min) / 2    # exp() of it is 0; minus y cannot overflow
    y_safe = where(xp.isneginf(y.array), 0.0, y)
    log_abs = log(where(g.array != 0, _abs(g), 1.0))
    parts = []
    for sign in (g.array > 0, g.array < 0):
        shifted = sub(where(sign, log_abs, lowest), y_safe)
        rev = flip(logcumsumexp(flip(shifted, (d,)), d), (d,))
        parts.append(exp(add(rev, x)))
    return (sub(parts[0], parts[1]),)


LOGCUMSUMEXP = _along("logcumsumexp", _logcumsumexp_bw, _logcumsumexp_fw, saves="x",
                      save_output=True)


# ----------------------------------------------------------------------------- cummax / cummin
def cummax(input, dim=None, *, axis=None) -> ValuesIndices:  # noqa: A002
    """(values, indices): the running maximum along ``dim`` and where it was found (the last
    index of a tie, NaN propagating, as PyTorch); the gradient goes to those indices."""
    x = input  # PyTorch's parameter names
    x, d = _scan_args(x, dim, axis, "cummax")
    return on_vector(x, lambda t: _cum_extreme(t, d, "maximum"))


def cummin(input, dim=None, *, axis=None) -> ValuesIndices:  # noqa: A002
    """(values, indices): the running minimum; see :func:`cummax`."""
    x = input  # PyTorch's parameter names
    x, d = _scan_args(x, dim, axis, "cummin")
    return on_vector(x, lambda t: _cum_extreme(t, d, "minimum"))


def _cum_extreme(x: Tensor, d: int, ufunc: str) -> ValuesIndices:
    xp, a = x.xp, x.array
    running = inclusive_scan(getattr(xp, ufunc), a, d)
    # the index moves to i whenever x_i is (one of) the running extreme(s), or is NaN
    hit = a == running
    if a.dtype.kind in "fc":
        hit |= xp.isnan(a)
    shape = [1] * a.ndim
    shape[d] = a.shape[d]
    pos = xp.arange(a.shape[d], dtype=_INT64).reshape(shape)
    idx = inclusive_scan(xp.maximum, xp.where(hit, pos, 0), d)
    return select_along(x, d, idx, True)


# ----------------------------------------------------------------------------- diff
def diff(input, n: int = 1, dim: int = -1, prepend=None, append=None, *,  # noqa: A002
         axis=None) -> Tensor:
    """The ``n``-th forward difference along ``dim``, after concatenating ``prepend`` and
    ``append`` (tensors shaped as ``x`` but along ``dim``); bool input gives the logical xor
    of neighbours (PyTorch)."""
    x = as_t(input)
    dim = dim if axis is None else axis
    if x.ndim == 0:
        raise RuntimeError("diff(): expects input to be at least one-dimensional")
    if int(n) != n or n < 0:
        raise ValueError(f"diff(): order n must be a non-negative int, got {n!r}")
    d = norm_dim(dim, x.ndim, "diff")
    parts = [p for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        x = cat(parts, d)
    for _ in range(int(n)):
        hi = (slice(None),) * d + (slice(1, None),)
        lo = (slice(None),) * d + (slice(None, -1),)
        x = logical_xor(x[hi], x[lo]) if x.dtype.kind == "b" else sub(x[hi], x[lo])
    return x
