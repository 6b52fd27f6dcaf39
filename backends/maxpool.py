"""Direct numba max-pooling kernels for NumPy arrays (no Tensors here).

``maxpool2d_forward`` gives each window's maximum and the flat index (into the input's H*W
plane) of its first maximum; a NaN wins, as in PyTorch. ``maxpool2d_backward`` scatters the
output gradient back to those indices. Both write into pooled buffers
(:mod:`autodiff.backends.pool`). Without numba, ``nn.functional.max_pool2d`` pools through
``im2col`` and ``argmax`` instead.

The general kernel works one output row at a time: for each kernel offset the whole row of
windows is compared at once, branch-free (a select, not an ``if``: random data mispredicts
every other comparison), so LLVM vectorises it. The LeNet/VGG case, 2x2 windows with stride 2
and no padding, has its own forward kernel: a tournament of the four values of each window
(1.3-1.7x faster at the MNIST CNN's shapes). A direct backward for it, writing each window's four
gradients instead of zeroing the plane and scattering, was measured 3x slower than the scatter
and dropped.
"""
from __future__ import annotations

import numpy

from .im2col import _pair, normalize_padding
from .jit import HAVE_NUMBA, numba
from .pool import pooled_empty

__all__ = ["numba_ok", "maxpool2d_forward", "maxpool2d_backward"]

if HAVE_NUMBA:
    from .im2col import valid_columns

    _U = numba.uint64        # unsigned inner indices: no negative-index wraparound checks

    @numba.njit(cache=True, nogil=True)
    def _first_max(v, best):  # pragma: no cover
        # v replaces best when larger, or when v is NaN and best is not (a NaN wins, then stays)
        return (v > best) | ((v != v) & (best == best))

    @numba.njit(cache=True, nogil=True)
    def _fwd_general(x, out, idx, kh, kw, sh, sw, dh, dw, pt, pl):  # pragma: no cover
        N, C, H, W = x.shape
        OH, OW = out.shape[2], out.shape[3]
        best = numpy.empty(OW, x.dtype)
        arg = numpy.empty(OW, numpy.int64)
        for n in range(N):
            for c in range(C):
                for oh in range(OH):
                    for ow in range(OW):
                        best[ow] = -numpy.inf
                        arg[ow] = -1
                    for i in range(kh):
                        h = oh * sh - pt + i * dh
                        if h < 0 or h >= H:
                            continue
                        for j in range(kw):
                            wo = j * dw - pl
                            lo, hi = valid_columns(wo, sw, OW, W)
                            base = h * W + wo
                            for ow in range(lo, hi):
                                v = x[n, c, _U(h), _U(ow * sw + wo)]
                                b = best[ow]
                                take = _first_max(v, b) | (arg[ow] < 0)
                                arg[ow] = (base + ow * sw) if take else arg[ow]
                                best[ow] = v if take else b
                    for ow in range(OW):
                        out[n, c, oh, ow] = best[ow]
                        idx[n, c, oh, ow] = arg[ow]

    @numba.njit(cache=True, nogil=True)
    def _fwd_2x2(x, out, idx):  # pragma: no cover
        # 2x2 windows, stride 2, no padding: (a b / c d) -> max(max(a, b), max(c, d)), the
        # first maximum in row-major window order winning ties
        N, C, H, W = x.shape
        OH, OW = out.shape[2], out.shape[3]
        for n in range(N):
            for c in range(C):
                for oh in range(OH):
                    r0 = x[n, c, 2 * oh]
                    r1 = x[n, c, 2 * oh + 1]
                    o = out[n, c, oh]
                    k = idx[n, c, oh]
                    base = 2 * oh * W
                    for ow in range(OW):
                        a = r0[_U(2 * ow)]
                        b = r0[_U(2 * ow + 1)]
                        cc = r1[_U(2 * ow)]
                        d = r1[_U(2 * ow + 1)]
                        t1 = _first_max(b, a)
                        m1 = b if t1 else a
                        k1 = 1 if t1 else 0
                        t2 = _first_max(d, cc)
                        m2 = d if t2 else cc
                        k2 = W + 1 if t2 else W
                        t3 = _first_max(m2, m1)
                        o[ow] = m2 if t3 else m1
                        k[ow] = base + 2 * ow + (k2 if t3 else k1)

    @numba.njit(cache=True, nogil=True)
    def _bwd_scatter(g, idx, gx):  # pragma: no cover
        # g, idx (N, C, OH*OW); gx (N, C, H*W): zero, then scatter-add at the flat indices
        N, C, L = g.shape
        HW = gx.shape[2]
        for n in range(N):
            for c in range(C):
                for p in range(HW):
                    gx[n, c, p] = 0
                for q in range(L):
                    k = idx[n, c, q]
                    if k >= 0:
                        gx[n, c, _U(k)] += g[n, c, q]


def numba_ok(x) -> bool:
    """Whether :func:`maxpool2d_forward` / :func:`maxpool2d_backward` apply to x."""
    return HAVE_NUMBA and isinstance(x, numpy.ndarray) and x.dtype.kind == "f" and x.ndim == 4


def _geometry(stride, padding, dilation):
    return _pair(stride, "stride"), normalize_padding(padding), _pair(dilation, "dilation")


def _is_2x2(kh, kw, stride, padding, dilation, H, W) -> bool:
    stride, padding, dilation = _geometry(stride, padding, dilation)
    return ((kh, kw) == (2, 2) and stride == (2, 2) and dilation == (1, 1)
            and padding == (0, 0, 0, 0) and H % 2 == 0 and W % 2 == 0)


def maxpool2d_forward(x, kh: int, kw: int, stride, padding, dilation, OH: int, OW: int):
    """(out (N, C, OH, OW), idx (N, C, OH, OW) int64 flat H*W index of each window's first
    maximum; a NaN wins). ``stride``/``dilation``: ints or pairs; ``padding`` as im2col's."""
    N, C, H, W = x.shape
    x = numpy.ascontiguousarray(x)
    out = pooled_empty((N, C, OH, OW), x.dtype)
    idx = pooled_empty((N, C, OH, OW), numpy.int64)
    if _is_2x2(kh, kw, stride, padding, dilation, H, W):
        _fwd_2x2(x, out, idx)
    else:
        stride, (pt, _, pl, _), dilation = _geometry(stride, padding, dilation)
        _fwd_general(x, out, idx, kh, kw, *stride, *dilation, pt, pl)
    return out, idx


def maxpool2d_backward(g, idx, x_shape):
    """The input gradient (N, C, H, W): g (N, C, OH, OW) summed into zeros at the flat indices
    ``idx``."""
    N, C, H, W = x_shape
    gx = pooled_empty((N, C, H * W), g.dtype)
    _bwd_scatter(numpy.ascontiguousarray(g).reshape(N, C, -1), idx.reshape(N, C, -1), gx)
    return gx.reshape(N, C, H, W)
