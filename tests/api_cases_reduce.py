"""API cases of the reductions, scans, sorting and searching ops (PyTorch's signatures and
named tuples, ``axis``/``keepdims`` aliases, 0-d inputs): NumPy references written out here,
first and second derivatives by finite differences, and PyTorch as a second oracle."""
from __future__ import annotations

from collections import Counter

import numpy as np

import autodiff as ad
from api_table import A, Case, I, P, U

NAN = float("nan")
X0 = np.array(0.7)                       # a 0-d input
WITH_NAN = np.array([[0.3, NAN, -0.2, 0.9], [NAN, NAN, 0.5, 0.1], [0.4, 0.6, -0.8, 0.2]])
WITH_ZEROS = np.array([[2.0, 0.0, 3.0, 0.0, 1.5], [0.5, 1.5, -1.0, 2.0, 0.0]])
REPEATS = np.array([[2.0, 1.0, 2.0, 1.0, 1.0, 3.0], [0.5, 0.5, -1.0, 4.0, 4.0, -1.0]])


# ----------------------------------------------------------------------------- NumPy references
def _argsort(x, axis=-1, descending=False):
    """Stable order; descending keeps ties in input order (PyTorch's stable sort)."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    n = x.shape[axis]
    return (n - 1) - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)


def _picked(x, idx, axis, keep=False):
    v = np.take_along_axis(x, idx, axis)
    return (v, idx) if keep else (np.squeeze(v, axis), np.squeeze(idx, axis))


def _median(x, axis, keep=False, ignore_nan=False):
    """Lower median along ``axis`` and its index (first in stable order); NaN propagates unless
    ``ignore_nan``."""
    order = _argsort(x, axis)
    n = x.shape[axis]
    nan = np.isnan(x).sum(axis, keepdims=True)
    k = np.maximum((n - nan - 1) // 2, 0) if ignore_nan else \
        np.where(nan > 0, n - nan, (n - 1) // 2)
    return _picked(x, np.take_along_axis(order, k, axis), axis, keep)


def _mode_rows(x):
    """Most frequent value per row (smallest of the equally frequent), index of its last
    occurrence."""
    vals, idx = [], []
    for row in x:
        c = Counter(row.tolist())
        best = max(c.values())
        v = min(k for k, m in c.items() if m == best)
        vals.append(v)
        idx.append(max(i for i, e in enumerate(row) if e == v))
    return np.array(vals), np.array(idx)


def _cum_extreme(x, bigger):
    """Running extreme along the last axis and its index (the last of a tie, NaN sticks)."""
    vals, idx = np.empty_like(x), np.zeros(x.shape, dtype=np.int64)
    for r in np.ndindex(x.shape[:-1]):
        best, at = x[r][0], 0
        for i, v in enumerate(x[r]):
            if np.isnan(v) or (not np.isnan(best) and (v == best or bigger(v, best))):
                best, at = v, i
            vals[r + (i,)], idx[r + (i,)] = best, at
    return vals, idx


def _logsumexp(x, axis):
    m = x.max(axis, keepdims=True)
    return np.log(np.exp(x - m).sum(axis, keepdims=True)) + m


def _unique_consecutive(a):
    keep = np.concatenate([[True], a[1:] != a[:-1]])
    starts = np.flatnonzero(keep)
    return a[keep], np.cumsum(keep) - 1, np.diff(np.append(starts, len(a)))


def _searchsorted_rows(seq, v, side):
    return np.stack([np.searchsorted(s, w, side=side) for s, w in zip(seq, v)])


def _var(x, axis, ddof, keep=False):
    return np.var(x, axis=axis, ddof=ddof, keepdims=keep)


SORTED_ROWS = np.array([[1.0, 3.0, 5.0, 7.0], [-2.0, 0.0, 0.0, 4.0]])


CASES = [
    # ------------------------------------------------------------------ sum, mean, prod
    Case("sum", lambda x: ad.sum(x, dim=1, keepdim=True), lambda x: x.sum(1, keepdims=True),
         (U(2, 3, 2),), torch_fn=lambda t, x: t.sum(x, dim=1, keepdim=True), tag="dim"),
    Case("sum", lambda x: ad.sum(x, axis=(0, 2), keepdims=True),
         lambda x: x.sum((0, 2), keepdims=True), (U(2, 3, 2),),
         torch_fn=lambda t, x: t.sum(x, axis=(0, 2), keepdims=True), tag="axis_alias"),
    Case("sum", lambda x: ad.sum(x, ()), lambda x: x.sum(), (U(2, 3),),
         torch_fn=lambda t, x: t.sum(x, ()), tag="empty_dims_all"),
    Case("sum", lambda x: ad.sum(x, -1), lambda x: x, (X0,),
         torch_fn=lambda t, x: t.sum(x, -1), tag="0d"),
    Case("Tensor.sum", lambda x: x.sum(0, dtype=ad.float64), lambda x: x.sum(0),
         (I(3, 2),), torch_fn=lambda t, x: x.sum(0, dtype=t.float64), grad=0, tag="int_dtype"),
    Case("nansum", lambda x: ad.nansum(x, 1), lambda x: np.nansum(x, 1), (WITH_NAN,),
         torch_fn=lambda t, x: t.nansum(x, 1)),
    Case("Tensor.nansum", lambda x: x.nansum(), lambda x: np.nansum(x), (WITH_NAN,),
         torch_fn=lambda t, x: x.nansum()),
    Case("mean", lambda x: ad.mean(x, axis=0, keepdims=True), lambda x: x.mean(0, keepdims=True),
         (U(3, 2),), torch_fn=lambda t, x: t.mean(x, axis=0, keepdims=True)),
    Case("mean", lambda x: ad.mean(x, 0), lambda x: x, (X0,),
         torch_fn=lambda t, x: t.mean(x, 0), tag="0d"),
    Case("nanmean", lambda x: ad.nanmean(x, 1), lambda x: np.nanmean(x, 1),
         (WITH_NAN[[0, 2]],), torch_fn=lambda t, x: t.nanmean(x, 1)),
    Case("Tensor.nanmean", lambda x: x.nanmean(dim=0, keepdim=True),
         lambda x: np.nanmean(x, 0, keepdims=True), (WITH_NAN[:, [0, 2, 3]],),
         torch_fn=lambda t, x: x.nanmean(dim=0, keepdim=True)),
    Case("prod", lambda x: ad.prod(x, 1), lambda x: x.prod(1), (P(2, 3),),
         torch_fn=lambda t, x: t.prod(x, 1)),
    Case("prod", lambda x: ad.prod(x, 1, keepdim=True), lambda x: x.prod(1, keepdims=True),
         (WITH_ZEROS,), torch_fn=lambda t, x: t.prod(x, 1, keepdim=True), tag="zeros"),
    Case("prod", lambda x: ad.prod(x, 0), lambda x: x, (X0,),
         torch_fn=lambda t, x: t.prod(x, 0), tag="0d"),
    # ------------------------------------------------------------------ var, std
    Case("var", lambda x: ad.var(x, 1, False, True), lambda x: _var(x, 1, 0, True), (U(2, 4),),
         torch_fn=lambda t, x: t.var(x, 1, False, True), tag="unbiased_positional"),
    Case("var", lambda x: ad.var(x, dim=0, correction=2), lambda x: _var(x, 0, 2), (U(5, 2),),
         torch_fn=lambda t, x: t.var(x, dim=0, correction=2), tag="correction"),
    Case("Tensor.std", lambda x: x.std(axis=1), lambda x: np.std(x, 1, ddof=1), (U(2, 4),),
         torch_fn=lambda t, x: x.std(axis=1)),
    Case("var_mean", lambda x: ad.var_mean(x, 0, True), lambda x: (_var(x, 0, 1), x.mean(0)),
         (U(4, 2),), torch_fn=lambda t, x: t.var_mean(x, 0, True)),
    Case("std_mean", lambda x: ad.std_mean(x, dim=(0, 1), correction=0, keepdim=True),
         lambda x: (np.std(x, (0, 1), keepdims=True), x.mean((0, 1), keepdims=True)),
         (U(2, 3, 2),),
         torch_fn=lambda t, x: t.std_mean(x, dim=(0, 1), correction=0, keepdim=True)),
    # ------------------------------------------------------------------ max, min and relatives
    Case("max", lambda x: ad.max(x, 1), lambda x: (x.max(1), x.argmax(1)), (A(3, 4),),
         torch_fn=lambda t, x: t.max(x, 1), tag="dim_positional"),
    Case("Tensor.max", lambda x: x.max(axis=0, keepdims=True),
         lambda x: (x.max(0, keepdims=True), x.argmax(0)[None]), (A(3, 4),),
         torch_fn=lambda t, x: x.max(axis=0, keepdims=True), tag="axis_alias"),
    Case("max", lambda x: ad.max(x), lambda x: x.max(), (A(3, 4),),
         torch_fn=lambda t, x: t.max(x), tag="all"),
    Case("max", lambda x: ad.max(x, 0), lambda x: (x, np.array(0)), (X0,),
         torch_fn=lambda t, x: t.max(x, 0), tag="0d"),
    Case("max", lambda a, b: ad.max(a, b), np.maximum, (U(2, 3), U(3, seed=1)),
         torch_fn=lambda t, a, b: t.max(a, b), tag="other"),
    Case("min", lambda x: ad.min(x, dim=-1, keepdim=True),
         lambda x: (x.min(-1, keepdims=True), x.argmin(-1)[:, None]), (A(3, 4),),
         torch_fn=lambda t, x: t.min(x, dim=-1, keepdim=True)),
    Case("Tensor.min", lambda a, b: a.min(b), np.minimum, (U(2, 3), U(2, 3, seed=1)),
         torch_fn=lambda t, a, b: a.min(b), tag="other"),
    Case("amax", lambda x: ad.amax(x, (0, 2)), lambda x: x.max((0, 2)), (A(2, 3, 2),),
         torch_fn=lambda t, x: t.amax(x, (0, 2))),
    Case("amin", lambda x: ad.amin(x, axis=1, keepdims=True), lambda x: x.min(1, keepdims=True),
         (A(2, 3),), torch_fn=lambda t, x: t.amin(x, axis=1, keepdims=True)),
    Case("aminmax", lambda x: ad.aminmax(x, dim=1), lambda x: (x.min(1), x.max(1)),
         (A(2, 3),), torch_fn=lambda t, x: tuple(t.aminmax(x, dim=1))),
    Case("Tensor.aminmax", lambda x: x.aminmax(), lambda x: (x.min(), x.max()), (A(2, 3),),
         torch_fn=lambda t, x: tuple(x.aminmax())),
    Case("argmax", lambda x: ad.argmax(x, 1, keepdim=True), lambda x: x.argmax(1)[:, None],
         (A(3, 4),), torch_fn=lambda t, x: t.argmax(x, 1, keepdim=True), grad=0),
    Case("argmax", lambda x: ad.argmax(x), lambda x: np.array(x.argmax()), (A(3, 4),),
         torch_fn=lambda t, x: t.argmax(x), grad=0, tag="flat"),
    Case("argmin", lambda x: ad.argmin(x, axis=0), lambda x: x.argmin(0), (A(3, 4),),
         torch_fn=lambda t, x: t.argmin(x, axis=0), grad=0),
    Case("any", lambda x: ad.any(x, dim=1), lambda x: x.any(1), (I(3, 2, high=2) > 0,),
         torch_fn=lambda t, x: t.any(x, dim=1), grad=0),
    Case("all", lambda x: ad.all(x, axis=0, keepdims=True), lambda x: x.all(0, keepdims=True),
         (I(3, 2, high=2) > 0,), torch_fn=lambda t, x: t.all(x, axis=0, keepdims=True), grad=0),
    Case("count_nonzero", lambda x: ad.count_nonzero(x, dim=(0, 2)),
         lambda x: (x != 0).sum((0, 2)), (I(2, 3, 4, high=3),),
         torch_fn=lambda t, x: t.count_nonzero(x, dim=(0, 2)), grad=0),
    Case("Tensor.count_nonzero", lambda x: x.count_nonzero(), lambda x: np.count_nonzero(x),
         (I(3, 4, high=2),), torch_fn=lambda t, x: x.count_nonzero(), grad=0),
    # ------------------------------------------------------------------ norms, softmax family
    Case("norm", lambda x: ad.norm(x, 3, 1), lambda x: (np.abs(x) ** 3).sum(1) ** (1 / 3),
         (A(2, 4),), torch_fn=lambda t, x: t.norm(x, 3, 1), tag="p3"),
    Case("norm", lambda x: ad.norm(x, float("-inf"), dim=0), lambda x: np.abs(x).min(0),
         (A(3, 2),), torch_fn=lambda t, x: t.norm(x, float("-inf"), dim=0), tag="neg_inf"),
    Case("norm", lambda x: ad.norm(x, 0, dim=1), lambda x: (x != 0).sum(1).astype(float),
         (WITH_ZEROS,), torch_fn=lambda t, x: t.norm(x, 0, dim=1), tag="p0"),
    Case("logsumexp", lambda x: ad.logsumexp(x, (0, 1), keepdim=True),
         lambda x: _logsumexp(x, (0, 1)), (U(2, 3),),
         torch_fn=lambda t, x: t.logsumexp(x, (0, 1), keepdim=True), tag="dims"),
    Case("logsumexp", lambda x: ad.logsumexp(x, 0), lambda x: x, (X0,),
         torch_fn=lambda t, x: t.logsumexp(x, 0), tag="0d"),
    Case("softmax", lambda x: ad.softmax(x, 0), lambda x: np.array(1.0), (X0,),
         torch_fn=lambda t, x: t.softmax(x, 0), tag="0d"),
    Case("softmax", lambda x: ad.softmax(x, axis=0), lambda x: np.exp(x) / np.exp(x).sum(0),
         (U(3, 2),), torch_fn=lambda t, x: t.softmax(x, axis=0), tag="axis_alias"),
    Case("log_softmax", lambda x: ad.log_softmax(x, -1), lambda x: np.array(0.0), (X0,),
         torch_fn=lambda t, x: t.log_softmax(x, -1), tag="0d"),
    # ------------------------------------------------------------------ scans
    Case("cumsum", lambda x: ad.cumsum(x, axis=0), lambda x: np.cumsum(x, 0), (U(3, 2),),
         torch_fn=lambda t, x: t.cumsum(x, axis=0)),
    Case("cumsum", lambda x: ad.cumsum(x, 0), lambda x: x, (X0,),
         torch_fn=lambda t, x: t.cumsum(x, 0), tag="0d"),
    Case("Tensor.cumsum", lambda x: x.cumsum(-1), lambda x: np.cumsum(x, -1),
         (I(2, 3).astype(np.int32),), torch_fn=lambda t, x: x.cumsum(-1), grad=0, tag="int32"),
    Case("cumprod", lambda x: ad.cumprod(x, 1), lambda x: np.cumprod(x, 1), (A(2, 4),),
         torch_fn=lambda t, x: t.cumprod(x, 1)),
    Case("cumprod", lambda x: ad.cumprod(x, dim=1), lambda x: np.cumprod(x, 1), (WITH_ZEROS,),
         torch_fn=lambda t, x: t.cumprod(x, dim=1), tag="zeros"),
    Case("Tensor.cumprod", lambda x: x.cumprod(0), lambda x: np.cumprod(x.T, 1).T,
         (WITH_ZEROS.T.copy(),), torch_fn=lambda t, x: x.cumprod(0), tag="zeros_dim0"),
    Case("cumprod", lambda x: ad.cumprod(x, -1), lambda x: x, (X0,),
         torch_fn=lambda t, x: t.cumprod(x, -1), tag="0d"),
    Case("cummax", lambda x: ad.cummax(x, 1), lambda x: _cum_extreme(x, np.greater), (A(2, 5),),
         torch_fn=lambda t, x: t.cummax(x, 1)),
    Case("cummax", lambda x: ad.cummax(x, -1),
         lambda x: _cum_extreme(x, np.greater), (np.array([[3.0, 1.0, 3.0, 5.0, 5.0, 2.0]]),),
         torch_fn=lambda t, x: t.cummax(x, -1), grad=0, tag="ties"),
    Case("Tensor.cummin", lambda x: x.cummin(axis=0),
         lambda x: tuple(a.T for a in _cum_extreme(x.T, np.less)), (A(4, 2),),
         torch_fn=lambda t, x: x.cummin(axis=0)),
    Case("cummin", lambda x: ad.cummin(x, 1), lambda x: _cum_extreme(x, np.less),
         (np.array([[3.0, 1.0, 3.0, 1.0, 5.0, NAN, 0.0, NAN]]),),
         torch_fn=lambda t, x: t.cummin(x, 1), grad=0, tag="nan_ties"),
    Case("logcumsumexp", lambda x: ad.logcumsumexp(x, 1),
         lambda x: np.logaddexp.accumulate(x, 1), (U(2, 5, low=-3, high=3),),
         torch_fn=lambda t, x: t.logcumsumexp(x, 1)),
    Case("logcumsumexp", lambda x: ad.logcumsumexp(x, 0),
         lambda x: np.logaddexp.accumulate(x, 0), (np.array([-800.0, 0.5, 750.0, 749.0]),),
         torch_fn=lambda t, x: t.logcumsumexp(x, 0), tag="wide_range"),
    Case("Tensor.logcumsumexp", lambda x: x.logcumsumexp(0), lambda x: x, (X0,),
         torch_fn=lambda t, x: x.logcumsumexp(0), tag="0d"),
    Case("diff", lambda x: ad.diff(x), lambda x: np.diff(x), (U(2, 5),),
         torch_fn=lambda t, x: t.diff(x)),
    Case("diff", lambda x, p, q: ad.diff(x, n=2, dim=0, prepend=p, append=q),
         lambda x, p, q: np.diff(x, 2, 0, prepend=p, append=q),
         (U(3, 2), U(1, 2, seed=1), U(2, 2, seed=2)),
         torch_fn=lambda t, x, p, q: t.diff(x, n=2, dim=0, prepend=p, append=q), tag="n2"),
    Case("Tensor.diff", lambda x: x.diff(), lambda x: x[1:] != x[:-1],
         (np.array([True, False, False, True]),), torch_fn=lambda t, x: x.diff(), grad=0,
         tag="bool"),
    # ------------------------------------------------------------------ sorting and selection
    Case("sort", lambda x: ad.sort(x, descending=True, stable=True),
         lambda x: _picked(x, _argsort(x, -1, True), -1, True), (REPEATS,),
         torch_fn=lambda t, x: t.sort(x, descending=True, stable=True), grad=0,
         tag="descending_ties"),
    Case("sort", lambda x: ad.sort(x, 0, True), lambda x: _picked(x, _argsort(x, 0, True), 0, True),
         (A(4, 3),), torch_fn=lambda t, x: t.sort(x, 0, True), tag="descending"),
    Case("Tensor.sort", lambda x: x.sort(axis=0), lambda x: _picked(x, _argsort(x, 0), 0, True),
         (A(3, 2),), torch_fn=lambda t, x: x.sort(axis=0)),
    Case("argsort", lambda x: ad.argsort(x, dim=1, stable=True),
         lambda x: _argsort(x, 1), (REPEATS,),
         torch_fn=lambda t, x: t.argsort(x, dim=1, stable=True), grad=0),
    Case("msort", lambda x: ad.msort(x), lambda x: np.sort(x, 0), (A(3, 2),),
         torch_fn=lambda t, x: t.msort(x)),
    Case("topk", lambda x: ad.topk(x, 2), lambda x: _picked(x, _argsort(x, -1, True)[:, :2], -1,
                                                            True),
         (A(3, 4),), torch_fn=lambda t, x: t.topk(x, 2)),
    Case("Tensor.topk", lambda x: x.topk(3, dim=0, largest=False),
         lambda x: _picked(x, _argsort(x, 0)[:3], 0, True), (A(4, 2),),
         torch_fn=lambda t, x: x.topk(3, dim=0, largest=False), tag="smallest"),
    Case("kthvalue", lambda x: ad.kthvalue(x, 2, 1, True),
         lambda x: _picked(x, _argsort(x, 1)[:, 1:2], 1, True), (A(3, 4),),
         torch_fn=lambda t, x: t.kthvalue(x, 2, 1, True)),
    Case("median", lambda x: ad.median(x), lambda x: np.sort(x, None)[(x.size - 1) // 2],
         (A(3, 4),), torch_fn=lambda t, x: t.median(x), tag="all"),
    Case("median", lambda x: ad.median(x, 1), lambda x: _median(x, 1), (A(3, 4),),
         torch_fn=lambda t, x: t.median(x, 1), tag="dim"),
    Case("Tensor.median", lambda x: x.median(axis=0, keepdims=True),
         lambda x: _median(x, 0, True), (A(5, 2),),
         torch_fn=lambda t, x: x.median(axis=0, keepdims=True), tag="axis_alias"),
    Case("median", lambda x: ad.median(x, 1), lambda x: _median(x, 1), (WITH_NAN,),
         torch_fn=lambda t, x: t.median(x, 1), grad=0, tag="nan"),
    Case("nanmedian", lambda x: ad.nanmedian(x, 1), lambda x: _median(x, 1, ignore_nan=True),
         (WITH_NAN,), torch_fn=lambda t, x: t.nanmedian(x, 1), tag="dim"),
    Case("nanmedian", lambda x: ad.nanmedian(x), lambda x: np.array(0.3), (WITH_NAN,),
         torch_fn=lambda t, x: t.nanmedian(x), tag="all"),
    Case("mode", lambda x: ad.mode(x, 1), _mode_rows, (REPEATS,),
         torch_fn=lambda t, x: t.mode(x, 1), grad=0,
         note="values are piecewise constant in x at ties; the gradient is checked in "
              "test_differences_reductions"),
    Case("mode", lambda x: ad.mode(x), lambda x: (x, np.array(0)), (X0,),
         torch_fn=lambda t, x: t.mode(x), tag="0d"),
    # ------------------------------------------------------------------ unique, searching
    Case("unique", lambda x: ad.unique(x, return_inverse=True, return_counts=True),
         lambda x: np.unique(x, return_inverse=True, return_counts=True),
         (np.array([[3, 1, 2], [1, 3, 3]]),),
         torch_fn=lambda t, x: t.unique(x, return_inverse=True, return_counts=True), grad=0),
    Case("unique", lambda x: ad.unique(x, dim=0, return_inverse=True),
         lambda x: np.unique(x, axis=0, return_inverse=True),
         (np.array([[3, 1], [2, 1], [3, 1], [2, 0]]),),
         torch_fn=lambda t, x: t.unique(x, dim=0, return_inverse=True), grad=0, tag="dim"),
    Case("Tensor.unique", lambda x: x.unique(), lambda x: np.array([-1.0, 2.0, NAN, NAN]),
         (np.array([2.0, NAN, -1.0, NAN, 2.0]),), torch_fn=lambda t, x: x.unique(), grad=0,
         tag="nan"),
    Case("unique_consecutive",
         lambda x: ad.unique_consecutive(x, return_inverse=True, return_counts=True),
         _unique_consecutive, (np.array([1, 1, 2, 2, 3, 1, 1, 2]),),
         torch_fn=lambda t, x: t.unique_consecutive(x, return_inverse=True,
                                                    return_counts=True), grad=0),
    Case("searchsorted", lambda s, v: ad.searchsorted(s, v),
         lambda s, v: np.searchsorted(s, v), (SORTED_ROWS[0], np.array([[3.0, 6.0], [9.0, -1.0]])),
         torch_fn=lambda t, s, v: t.searchsorted(s, v), grad=0),
    Case("searchsorted", lambda s, v: ad.searchsorted(s, v, side="right"),
         lambda s, v: _searchsorted_rows(s, v, "right"),
         (SORTED_ROWS, np.array([[3.0, 7.0, 0.0], [0.0, 4.5, -3.0]])),
         torch_fn=lambda t, s, v: t.searchsorted(s, v, side="right"), grad=0, tag="rows_right"),
    Case("searchsorted", lambda s, p: ad.searchsorted(s, 3.0, sorter=p, out_int32=True),
         lambda s, p: np.searchsorted(s, 3.0, sorter=p).astype(np.int32),
         (np.array([5, 1, 3]), np.array([1, 2, 0])),
         torch_fn=lambda t, s, p: t.searchsorted(s, 3.0, sorter=p, out_int32=True), grad=0,
         tag="sorter_scalar"),
    Case("bucketize", lambda v, b: ad.bucketize(v, b, right=True),
         lambda v, b: np.searchsorted(b, v, side="right"),
         (np.array([[3.0, 6.0, 1.0]]), SORTED_ROWS[0]),
         torch_fn=lambda t, v, b: t.bucketize(v, b, right=True), grad=0),
    Case("histc", lambda x: ad.histc(x, bins=4, min=-1, max=1),
         lambda x: np.histogram(x, 4, (-1, 1))[0].astype(float),
         (np.array([-1.0, -0.5, 0.2, 0.25, 1.0, 1.5, -3.0]),),
         torch_fn=lambda t, x: t.histc(x, bins=4, min=-1, max=1), grad=0),
    Case("Tensor.histc", lambda x: x.histc(5), lambda x: np.histogram(x, 5)[0].astype(float),
         (U(20),), torch_fn=lambda t, x: x.histc(5), grad=0, tag="data_range"),
]
