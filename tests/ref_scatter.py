"""References for PyTorch's scatter family written out as loops over the index in NumPy, from
PyTorch's documented definitions (``self[index[i][j]][j] = src[i][j]`` for dim=0, and the
reductions of ``scatter_reduce``), plus the gradient of ``scatter_reduce(prod)`` as the
product of the other factors."""
from __future__ import annotations

import numpy as np

_COMBINE = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum,
            "mean": np.add}


def _target(p: tuple, dim: int, index: np.ndarray) -> tuple:
    t = list(p)
    t[dim] = int(index[p])
    return tuple(t)


def scatter(x: np.ndarray, dim: int, index: np.ndarray, src) -> np.ndarray:
    """``out[index[i][j]][j] = src[i][j]`` (dim=0); ``src`` an array or a number."""
    out = x.copy()
    for p in np.ndindex(*index.shape):
        out[_target(p, dim, index)] = src if np.ndim(src) == 0 else src[p]
    return out


def scatter_reduce(x: np.ndarray, dim: int, index: np.ndarray, src: np.ndarray, reduce: str,
                   include_self: bool = True) -> np.ndarray:
    """The documented ``scatter_reduce``: each position the index reaches holds the reduction
    of the src values sent there (and of its own value with ``include_self``); integer mean
    rounds down."""
    groups: dict = {}
    for p in np.ndindex(*index.shape):
        groups.setdefault(_target(p, dim, index), []).append(src[p])
    out = x.copy()
    for t, vals in groups.items():
        vals = ([x[t]] if include_self else []) + vals
        acc = vals[0]
        for v in vals[1:]:
            acc = _COMBINE[reduce](acc, v)
        if reduce == "mean":
            acc = acc // len(vals) if x.dtype.kind in "iu" else acc / len(vals)
        out[t] = acc
    return out


def scatter_prod_grads(x: np.ndarray, dim: int, index: np.ndarray, src: np.ndarray,
                       g: np.ndarray, include_self: bool = True) -> tuple:
    """Gradients of sum(g * scatter_reduce(x, dim, index, src, 'prod')): each factor gets g
    times the product of the other factors at its position (multiplied out, no division)."""
    groups: dict = {}
    for p in np.ndindex(*index.shape):
        groups.setdefault(_target(p, dim, index), []).append(p)
    gx, gs = g.astype(float).copy(), np.zeros(src.shape)
    for t, ps in groups.items():
        factors = ([("x", t)] if include_self else []) + [("s", p) for p in ps]
        gx[t] = 0.0
        for k, (kind, where) in enumerate(factors):
            others = np.prod([x[w] if kd == "x" else src[w]
                              for j, (kd, w) in enumerate(factors) if j != k])
            if kind == "x":
                gx[where] = g[t] * others
            else:
                gs[where] = g[t] * others
    return gx, gs
