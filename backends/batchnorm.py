"""Array-level batch-norm kernels (no Tensors here): training-mode forward statistics and
output, and the first-order backward, over an (N, C, S) view of an (N, C, ...) input.

Each is a few passes over memory: forward = two reads (mean, then centred sum of squares, both
accumulated in float64) and one read+write (the normalised, scaled and shifted output);
backward = one read of (g, x) for the two per-channel sums and one read+write for grad_input.
``xhat`` is never stored: backward rebuilds it from x, the mean and 1/std.

A numba implementation (serial: on a small shared machine a parallel region competes with
the BLAS threads; see ``backends.im2col``) is used for C-contiguous float NumPy arrays; a
vectorised NumPy/CuPy one otherwise (``AUTODIFF_NUMBA=0`` forces it).
"""
from __future__ import annotations

import numpy

from . import get_array_module
from .jit import HAVE_NUMBA
from .pool import pooled_empty

__all__ = ["bn_forward", "bn_backward", "bn_forward_numpy", "bn_backward_numpy"]


def _as3(x):
    N, C = x.shape[:2]
    return x.reshape(N, C, -1)


# ----------------------------------------------------------------------------- NumPy / CuPy
def bn_forward_numpy(x, weight, bias, eps):
    """(out, mean (C,), var (C,) biased, invstd (C,)) for x (N, C, ...); weight/bias may be
    None. Statistics are accumulated in float64 (returned in float64)."""
    xp = get_array_module(x)
    x3 = _as3(x)
    n = x3.shape[0] * x3.shape[2]
    mean = x3.sum(axis=(0, 2), dtype=xp.float64) / n
    centred = x3 - mean.astype(x.dtype)[:, None]
    var = xp.einsum("ncs,ncs->c", centred, centred, dtype=xp.float64) / n \
        if xp is numpy else (centred * centred).sum(axis=(0, 2), dtype=xp.float64) / n
    invstd = 1.0 / xp.sqrt(var + eps)
    scale = invstd if weight is None else invstd * weight
    centred *= scale.astype(x.dtype)[:, None]
    if bias is not None:
        centred += bias.astype(x.dtype)[:, None]
    return centred.reshape(x.shape), mean, var, invstd


def bn_backward_numpy(g, x, mean, invstd, weight, need_x=True):
    """(grad_input or None, sum(g * xhat) (C,), sum(g) (C,)) (sums in float64)."""
    xp = get_array_module(g)
    g3, x3 = _as3(g), _as3(x)
    n = x3.shape[0] * x3.shape[2]
    dt = x.dtype
    xhat = (x3 - mean.astype(dt)[:, None]) * invstd.astype(dt)[:, None]
    s1 = g3.sum(axis=(0, 2), dtype=xp.float64)
    s2 = (g3 * xhat).sum(axis=(0, 2), dtype=xp.float64)
    gx = None
    if need_x:
        k = invstd if weight is None else invstd * weight
        xhat *= (s2 / n).astype(dt)[:, None]
        xhat += (s1 / n).astype(dt)[:, None]
        gx = (g3 - xhat) * k.astype(dt)[:, None]
        gx = gx.reshape(x.shape)
    return gx, s2, s1


# ----------------------------------------------------------------------------- numba
if HAVE_NUMBA:
    from .jit import numba

    _U = numba.uint64
    _FM = {"reassoc", "contract", "nsz"}        # vectorisable sums; NaN/inf kept

    @numba.njit(cache=True, nogil=True, fastmath=_FM)
    def _bn_fwd_nb(x, out, w, b, eps, mean, var, invstd):  # pragma: no cover
        N, C, S = x.shape
        n = N * S
        for c in range(C):
            acc = 0.0
            for i in range(N):
                for s in range(S):
                    acc += x[i, c, _U(s)]
            m = acc / n
            acc2 = 0.0
            for i in range(N):
                for s in range(S):
                    d = x[i, c, _U(s)] - m
                    acc2 += d * d
            v = acc2 / n
            inv = 1.0 / numpy.sqrt(v + eps)
            mean[c] = m
            var[c] = v
            invstd[c] = inv
            k = x.dtype.type(inv * w[c])
            sh = x.dtype.type(b[c] - m * inv * w[c])
            for i in range(N):
                for s in range(S):
                    out[i, c, _U(s)] = x[i, c, _U(s)] * k + sh

    @numba.njit(cache=True, nogil=True, fastmath=_FM)
    def _bn_bwd_nb(g, x, mean, invstd, w, gx, s1o, s2o, need_x):  # pragma: no cover
        N, C, S = x.shape
        n = N * S
        for c in range(C):
            m = x.dtype.type(mean[c])
            a1 = 0.0
            a2 = 0.0
            for i in range(N):
                for s in range(S):
                    gv = g[i, c, _U(s)]
                    a1 += gv
                    a2 += gv * (x[i, c, _U(s)] - m)
            inv = invstd[c]
            s1o[c] = a1
            s2o[c] = a2 * inv
            if need_x:
                k = inv * w[c]
                # gx = k * (g - s1/n - xhat * s2/n), xhat = (x - m) * inv
                kk = x.dtype.type(k)
                c1 = x.dtype.type(a1 / n)
                c2 = x.dtype.type(a2 * inv * inv / n)
                for i in range(N):
                    for s in range(S):
                        gx[i, c, _U(s)] = kk * (g[i, c, _U(s)] - c1 - (x[i, c, _U(s)] - m) * c2)


def _use_numba(*arrays) -> bool:
    return HAVE_NUMBA and all(isinstance(a, numpy.ndarray) and a.dtype.kind == "f"
                              and a.flags.c_contiguous for a in arrays)


def bn_forward(x, weight, bias, eps):
    """Training-mode batch norm of x (N, C, ...): (out, mean, var, invstd), stats float64."""
    if not _use_numba(x):
        return bn_forward_numpy(x, weight, bias, eps)
    x3 = _as3(x)
    C = x3.shape[1]
    out = pooled_empty(x3.shape, x3.dtype)
    w = numpy.ones(C) if weight is None else numpy.asarray(weight, dtype=numpy.float64)
    b = numpy.zeros(C) if bias is None else numpy.asarray(bias, dtype=numpy.float64)
    mean, var, invstd = numpy.empty(C), numpy.empty(C), numpy.empty(C)
    _bn_fwd_nb(x3, out, w, b, float(eps), mean, var, invstd)
    return out.reshape(x.shape), mean, var, invstd


def bn_backward(g, x, mean, invstd, weight, need_x=True):
    """(grad_input or None, sum(g * xhat), sum(g)) for training-mode batch norm."""
    if not _use_numba(g, x) or g.dtype != x.dtype:
        return bn_backward_numpy(g, x, mean, invstd, weight, need_x)
    g3, x3 = _as3(g), _as3(x)
    C = x3.shape[1]
    w = numpy.ones(C) if weight is None else numpy.asarray(weight, dtype=numpy.float64)
    gx = pooled_empty(x3.shape, x3.dtype) if need_x else numpy.empty((1, 1, 1), x.dtype)
    s1, s2 = numpy.empty(C), numpy.empty(C)
    _bn_bwd_nb(g3, x3, mean, invstd, w, gx, s1, s2, need_x)
    return (gx.reshape(x.shape) if need_x else None), s2, s1
