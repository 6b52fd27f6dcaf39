"""NumPy references for group, instance and local response normalisation, written from the
published formulas (Wu & He 2018; Ulyanov et al. 2016; Krizhevsky et al. 2012)."""
from __future__ import annotations

import numpy as np


def group_norm_ref(x, G, w=None, b=None, eps=1e-5):
    N, C = x.shape[:2]
    g = x.reshape(N, G, -1)
    out = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps))
    out = out.reshape(x.shape)
    shape = (C,) + (1,) * (x.ndim - 2)
    return out * (1 if w is None else w.reshape(shape)) + (0 if b is None else b.reshape(shape))


def instance_norm_ref(x, w=None, b=None, eps=1e-5):
    axes = tuple(range(2, x.ndim))
    out = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    shape = (-1,) + (1,) * (x.ndim - 2)
    return out * (1 if w is None else w.reshape(shape)) + (0 if b is None else b.reshape(shape))


def lrn_ref(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """b_c = a_c / (k + alpha / n * sum_{c'} a_{c'}^2)^beta over the channels c' from
    c - size//2 to c + (size-1)//2 that exist."""
    C = x.shape[1]
    out = np.empty_like(x)
    for c in range(C):
        lo, hi = max(0, c - size // 2), min(C, c + (size - 1) // 2 + 1)
        s = (x[:, lo:hi] ** 2).sum(1)
        out[:, c] = x[:, c] / (k + alpha / size * s) ** beta
    return out
