"""The array routines of the convolution and max-pooling primitives (``autodiff/ops/conv.py``,
``autodiff/ops/pool.py``), one set per backend, assembled into ``backends.kernels``:

- ``conv2d_forward(x, w, b, geom, groups) -> (out NCHW, cols or None)`` and
  ``conv2d_backward(x, w, cols, g, geom, groups, need_x, need_w, need_b) -> (gx, gw, gb)``
  (first order; ``geom`` = (kh, kw, stride, ((pt, pb), (pl, pr)), dilation));
- ``max_pool2d_forward(x, kh, kw, stride, pads, dilation, OH, OW) -> (out, idx)`` with ``idx``
  the flat H*W index of each window's first maximum (-1 where it fell on padding),
  ``max_pool2d_scatter(g, idx, x_shape)`` (g added into zeros at ``idx``) and
  ``max_pool2d_gather(x, idx, x_shape)`` (its adjoint).

The NumPy routes (``*_numpy``) make the CPU-specific choices: numba's blocked convolution
(``conv_blocked``) and max-pool kernels (``maxpool``), GEMMs written into recycled arrays
(``pool``), and the OpenBLAS-friendly orientation of the weight-gradient GEMM. The generic
routes (``*_xp``) are plain array code for CuPy (and any array library with NumPy's API).
"""
from __future__ import annotations

import numpy

from . import conv_blocked, get_array_module, maxpool
from .im2col import col2im_cm, conv_output_size, im2col, im2col_cm
from .pool import pooled_empty

__all__ = ["ROUTES", "NUMPY_ROUTES", "conv2d_forward_numpy", "conv2d_backward_numpy",
           "conv2d_forward_xp", "conv2d_backward_xp", "max_pool2d_forward_numpy",
           "max_pool2d_scatter_numpy", "max_pool2d_forward_xp", "max_pool2d_scatter_xp",
           "max_pool2d_gather"]


# ----------------------------------------------------------------------------- the two flavours
def _gemm_numpy(a, b):
    """a @ b into a recycled array (a fresh 10-100 MB result costs a page fault per page)."""
    return numpy.matmul(a, b, out=pooled_empty((a.shape[0], b.shape[1]), numpy.result_type(a, b)))


def _gemm_xp(a, b):
    return a @ b


def _copy_numpy(v):
    """A C-contiguous copy of the view ``v``, into a recycled array."""
    out = pooled_empty(v.shape, v.dtype)
    numpy.copyto(out, v)
    return out


def _copy_xp(v):
    return get_array_module(v).ascontiguousarray(v)


def _weight_grad_numpy(cols, gm):
    """g @ cols^T computed as (cols @ g^T)^T: OpenBLAS runs this orientation of a long-K,
    tiny-output GEMM 1.3-2x faster (measured at the MNIST-CNN and ResNet shapes)."""
    return numpy.ascontiguousarray((cols @ gm.T).T)


def _weight_grad_xp(cols, gm):
    return gm @ cols.T


def _blocked_numpy(x, w, groups: int) -> bool:
    return groups == 1 and conv_blocked.usable(x, w)


def _never(x, w, groups: int) -> bool:
    return False


# ----------------------------------------------------------------------------- convolution
def _conv2d_forward(x, w, b, geom, groups: int, *, gemm, copy, blocked):
    """The convolution's output in NCHW and the columns kept for the backward pass (None when
    the blocked route ran: it keeps none)."""
    kh, kw, stride, pads, dilation = geom
    N = x.shape[0]
    O = w.shape[0]
    K = w.size // O
    OH, OW = _out_hw(x, geom)
    L = N * OH * OW
    if blocked(x, w, groups):
        cols = None                                  # chunk by chunk; no columns are kept
        out = conv_blocked.conv_forward(x, w.reshape(O, K), *geom)
    else:
        cols = im2col_cm(x, kh, kw, stride, pads, dilation)                 # (C*kh*kw, N*L)
        if groups == 1:
            out = gemm(w.reshape(O, K), cols)                               # (O, N*L)
        else:
            out = w.reshape(groups, O // groups, K) @ cols.reshape(groups, K, L)
    out = out.reshape(O, L)
    if b is not None:
        out += b.reshape(O, 1)
    # (O, N, OH, OW) -> NCHW memory (measured: leaving the transposed view was no faster)
    return copy(out.reshape(O, N, OH, OW).transpose(1, 0, 2, 3)), cols


def _out_hw(x, geom) -> tuple:
    kh, kw, stride, pads, dilation = geom
    return (conv_output_size(x.shape[2], kh, stride[0], *pads[0], dilation[0]),
            conv_output_size(x.shape[3], kw, stride[1], *pads[1], dilation[1]))


def _conv2d_backward(x, w, cols, g, geom, groups: int, need_x: bool, need_w: bool,
                     need_b: bool, *, gemm, copy, weight_grad):
    """First-order gradients (arrays, None where not needed) of the convolution."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    K = Cg * kh * kw
    NL = N * g.shape[2] * g.shape[3]
    G, Og = groups, O // groups
    gm = copy(g.transpose(1, 0, 2, 3)).reshape(O, NL)                        # (O, N*L)
    gx = gw = gb = None
    if cols is None:                                   # the blocked forward kept no columns
        gx, gw = conv_blocked.conv_backward(x, w.reshape(O, K), gm, *geom, need_x=need_x,
                                            need_w=need_w)
        gw = gw.reshape(w.shape) if need_w else None
    else:
        if need_x:
            if G == 1:
                gc = gemm(w.reshape(O, K).T, gm)                             # (K, N*L)
            else:
                gc = w.reshape(G, Og, K).transpose(0, 2, 1) @ gm.reshape(G, Og, NL)
            gx = col2im_cm(gc.reshape(C * kh * kw, NL), (N, C, H, W), *geom)
        if need_w:
            if G == 1:
                gw = weight_grad(cols, gm).reshape(w.shape)
            else:
                gwt = cols.reshape(G, K, NL) @ gm.reshape(G, Og, NL).transpose(0, 2, 1)
                gw = copy(gwt.transpose(0, 2, 1)).reshape(w.shape)
    if need_b:
        gb = gm.sum(axis=1)
    return gx, gw, gb


def conv2d_forward_numpy(x, w, b, geom, groups: int):
    """The convolution on NumPy arrays: numba's blocked route where it applies, else im2col and
    a GEMM into a recycled array."""
    return _conv2d_forward(x, w, b, geom, groups, gemm=_gemm_numpy, copy=_copy_numpy,
                           blocked=_blocked_numpy)


def conv2d_backward_numpy(x, w, cols, g, geom, groups: int, need_x: bool, need_w: bool,
                          need_b: bool):
    """First-order gradients on NumPy arrays (the OpenBLAS-friendly weight-gradient GEMM)."""
    return _conv2d_backward(x, w, cols, g, geom, groups, need_x, need_w, need_b,
                            gemm=_gemm_numpy, copy=_copy_numpy, weight_grad=_weight_grad_numpy)


def conv2d_forward_xp(x, w, b, geom, groups: int):
    """The convolution as im2col and a GEMM in plain array code (CuPy)."""
    return _conv2d_forward(x, w, b, geom, groups, gemm=_gemm_xp, copy=_copy_xp, blocked=_never)


def conv2d_backward_xp(x, w, cols, g, geom, groups: int, need_x: bool, need_w: bool,
                       need_b: bool):
    """First-order gradients in plain array code (CuPy)."""
    return _conv2d_backward(x, w, cols, g, geom, groups, need_x, need_w, need_b,
                            gemm=_gemm_xp, copy=_copy_xp, weight_grad=_weight_grad_xp)


# ----------------------------------------------------------------------------- max pooling
def max_pool2d_forward_xp(x, kh: int, kw: int, stride, pads, dilation, OH: int, OW: int):
    """(out, idx) through im2col (padding -inf) and a first-maximum argmax."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    cols = im2col(x.reshape(N * C, 1, H, W), kh, kw, stride, pads, dilation,
                  pad_value=-numpy.inf)                                       # (NC, kk, L)
    arg = cols.argmax(axis=1)
    out = xp.take_along_axis(cols, arg[:, None, :], axis=1).reshape(N, C, OH, OW)
    i, j = arg // kw, arg % kw
    q = xp.arange(OH * OW)
    h = (q // OW) * stride[0] + i * dilation[0] - pads[0][0]
    w = (q % OW) * stride[1] + j * dilation[1] - pads[1][0]
    inside = (h >= 0) & (h < H) & (w >= 0) & (w < W)
    idx = xp.where(inside, h * W + w, -1).astype(numpy.int64).reshape(N, C, OH, OW)
    return out, idx


def max_pool2d_forward_numpy(x, kh: int, kw: int, stride, pads, dilation, OH: int, OW: int):
    """numba's direct kernel (``maxpool``) where it applies, else :func:`max_pool2d_forward_xp`."""
    if maxpool.numba_ok(x):
        return maxpool.maxpool2d_forward(x, kh, kw, stride, pads, dilation, OH, OW)
    return max_pool2d_forward_xp(x, kh, kw, stride, pads, dilation, OH, OW)


def _with_spare_slot(idx, HW: int):
    """idx (N, C, ...) flattened per plane, with -1 sent to the spare slot HW."""
    N, C = idx.shape[:2]
    flat = idx.reshape(N, C, -1)
    return get_array_module(idx).where(flat < 0, HW, flat)


def max_pool2d_scatter_xp(g, idx, x_shape):
    """zeros(x_shape) with g added at the flat H*W indices ``idx`` (those of -1 dropped)."""
    xp = get_array_module(g)
    N, C, H, W = x_shape
    gx = xp.zeros((N, C, H * W + 1), g.dtype)
    key = (xp.arange(N)[:, None, None], xp.arange(C)[None, :, None], _with_spare_slot(idx, H * W))
    from . import kernels_for          # the namespaces import this module: resolved at call time
    kernels_for(gx).scatter_add(gx, key, g.reshape(N, C, -1))
    return gx[:, :, :H * W].reshape(N, C, H, W)


def max_pool2d_scatter_numpy(g, idx, x_shape):
    """numba's scatter kernel where it applies, else :func:`max_pool2d_scatter_xp`."""
    if maxpool.numba_ok(g):
        return maxpool.maxpool2d_backward(g, idx, x_shape)
    return max_pool2d_scatter_xp(g, idx, x_shape)


def max_pool2d_gather(x, idx, x_shape):
    """x (N, C, H, W) read at the flat indices ``idx`` (0 where -1): the adjoint of the scatter."""
    xp = get_array_module(x)
    N, C, H, W = x_shape
    planes = xp.concatenate([x.reshape(N, C, H * W), xp.zeros((N, C, 1), x.dtype)], axis=2)
    return xp.take_along_axis(planes, _with_spare_slot(idx, H * W), axis=2).reshape(idx.shape)


#: The routes every backend has (``cuda_kernels`` re-exports the generic ones under these
#: names), and the NumPy backend's own versions of some of them.
ROUTES = ("conv2d_forward", "conv2d_backward", "im2col", "col2im", "im2col_cm", "col2im_cm",
          "max_pool2d_forward", "max_pool2d_scatter", "max_pool2d_gather")
NUMPY_ROUTES = {"conv2d_forward": conv2d_forward_numpy, "conv2d_backward": conv2d_backward_numpy,
                "max_pool2d_forward": max_pool2d_forward_numpy,
                "max_pool2d_scatter": max_pool2d_scatter_numpy}
