"""Tensor methods of the reductions, scans, sorting and searching ops (PyTorch's names and
signatures, ``self`` the input), bound by ``methods.py`` with the rest."""
from __future__ import annotations

from .ops import reduce as R, scan as C, search as Q

METHODS = {
    "sum": R.sum, "nansum": R.nansum, "mean": R.mean, "nanmean": R.nanmean, "var": R.var,
    "std": R.std, "prod": R.prod, "max": R.max, "min": R.min, "amax": R.amax, "amin": R.amin,
    "aminmax": R.aminmax, "argmax": R.argmax, "argmin": R.argmin, "any": R.any, "all": R.all,
    "count_nonzero": R.count_nonzero, "norm": R.norm, "logsumexp": R.logsumexp,
    "softmax": R.softmax, "log_softmax": R.log_softmax,
    "cumsum": C.cumsum, "cumprod": C.cumprod, "cummax": C.cummax, "cummin": C.cummin,
    "logcumsumexp": C.logcumsumexp, "diff": C.diff,
    "sort": Q.sort, "argsort": Q.argsort, "msort": Q.msort, "topk": Q.topk,
    "kthvalue": Q.kthvalue, "median": Q.median, "nanmedian": Q.nanmedian, "mode": Q.mode,
    "unique": Q.unique, "unique_consecutive": Q.unique_consecutive, "histc": Q.histc,
}
