"""Cache-blocked im2col convolution on NumPy arrays (numba unfold/fold kernels + BLAS).

conv2d's plain route unfolds the whole batch into one (C*kh*kw, N*OH*OW) column matrix (75 MB
for a ResNet's first stage at batch 128), multiplies it once, and keeps it for the backward
pass. Here the batch is cut into chunks of images whose columns fit in about ``CHUNK_BYTES``,
and each chunk is unfolded, multiplied and dropped while it is still in cache; the backward
pass unfolds each chunk again. The forward pass gains (measured at ResNet-20's stage shapes:
1.1-1.7x), the backward pass costs about what it did with the kept columns, and nothing of
size N*OH*OW*C*kh*kw is kept between the two passes (ResNet-20 at batch 128 kept 0.78 GB of
them). A whole ResNet-20 training step: 0.86x the time of the unblocked route (in-process A/B,
with the grad_weight orientation below).

Layouts as in :mod:`autodiff.backends.im2col`'s channel-major kernels: weights as an
(O, K = C*kh*kw) matrix, outputs and output gradients as (O, N*OH*OW).
"""
from __future__ import annotations

import numpy

from .im2col import HAVE_NUMBA, _geometry, planes_contiguous
from .pool import pooled_empty

if HAVE_NUMBA:
    from .im2col import col2im_cm_consume, im2col_cm_into

__all__ = ["CHUNK_BYTES", "usable", "chunk_images", "conv_forward", "conv_backward"]

#: Bytes of columns per chunk: a few MB, so that a chunk stays in L2/L3 between its unfold and
#: its GEMM. Measured on a 2-core Zen 5 VM (ResNet-20 step, one process per setting): 4 MB
#: 558-574 ms, the whole batch as one chunk 681-720 ms; 1 MB was slower than 4 MB, and 2-16 MB
#: were within this machine's noise. The MNIST CNN step did not depend on it.
CHUNK_BYTES = 4 << 20


def usable(x, w) -> bool:
    """Whether the blocked route applies: numba, NumPy float arrays of one dtype."""
    return (HAVE_NUMBA and isinstance(x, numpy.ndarray) and isinstance(w, numpy.ndarray)
            and x.dtype.kind == "f" and x.dtype == w.dtype)


def chunk_images(K: int, L: int, itemsize: int) -> int:
    """Images per chunk for K column rows of L positions each."""
    return max(1, CHUNK_BYTES // max(1, K * L * itemsize))


def _plan(x, w2, kh, kw, stride, padding, dilation):
    """(x with contiguous planes, the kernels' geometry arguments, OH*OW, images per chunk)."""
    sh, sw, dh, dw, pt, pb, pl, pr, OH, OW = _geometry(x.shape, kh, kw, stride, padding, dilation)
    x = planes_contiguous(x)
    nb = min(x.shape[0], chunk_images(w2.shape[1], OH * OW, x.itemsize))
    return x, (kh, kw, sh, sw, dh, dw, pt, pl, OH, OW), OH * OW, nb


def conv_forward(x, w2, kh: int, kw: int, stride, padding, dilation):
    """out (O, N*OH*OW) = w2 (O, C*kh*kw) @ unfold(x), one chunk of images at a time."""
    x, kern, L, nb = _plan(x, w2, kh, kw, stride, padding, dilation)
    N = x.shape[0]
    O, K = w2.shape
    out = pooled_empty((O, N * L), x.dtype)
    buf = pooled_empty((K, nb * L), x.dtype)
    zero = x.dtype.type(0)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        cols = buf[:, :m * L]
        im2col_cm_into(x[n0:n0 + m], cols, *kern, zero)
        numpy.matmul(w2, cols, out=out[:, n0 * L:(n0 + m) * L])
    return out


def conv_backward(x, w2, gm, kh: int, kw: int, stride, padding, dilation,
                  need_x: bool = True, need_w: bool = True):
    """(grad_x (N, C, H, W), grad_w2 (O, K)) for out = w2 @ unfold(x), given gm = dL/dout
    (O, N*OH*OW); either may be skipped (None). Each chunk is unfolded again for grad_w2."""
    x, kern, L, nb = _plan(x, w2, kh, kw, stride, padding, dilation)
    N, C, H, W = x.shape
    O, K = w2.shape
    dt = x.dtype
    gx = pooled_empty((N, C, H, W), dt) if need_x else None
    gwt = numpy.zeros((K, O), dt) if need_w else None       # grad_w2 transposed, accumulated
    part = numpy.empty((K, O), dt) if need_w else None
    cols_buf = pooled_empty((K, nb * L), dt) if need_w else None
    gcols_buf = pooled_empty((K, nb * L), dt) if need_x else None
    wt = w2.T
    zero = dt.type(0)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        g = gm[:, n0 * L:(n0 + m) * L]
        if need_w:
            cols = cols_buf[:, :m * L]
            im2col_cm_into(x[n0:n0 + m], cols, *kern, zero)
            # cols @ g^T rather than g @ cols^T: OpenBLAS runs this orientation of a long-K,
            # small-output product 1.3-2x faster
            numpy.matmul(cols, g.T, out=part)
            gwt += part
        if need_x:
            gcols = gcols_buf[:, :m * L]
            numpy.matmul(wt, g, out=gcols)
            col2im_cm_consume(gcols, gx[n0:n0 + m], *kern)
    return gx, (numpy.ascontiguousarray(gwt.T) if need_w else None)
