"""Max-pooling primitives: ``max_pool2d`` and the pair that carries its derivatives,
``max_pool2d_scatter`` (its VJP) and ``max_pool2d_gather`` (the scatter's VJP, whose VJP is
the scatter again).

The forward keeps, per window, the flat H*W index of its first maximum (-1 where it fell on
padding); the gradient of a window goes there. The arrays come from the backend's
``max_pool2d_*`` routes (numba kernels on NumPy, im2col + argmax elsewhere).

``max_unpool2d`` writes values at such flat indices of zero planes (PyTorch's
``max_unpool2d``: an assignment, so of repeated indices one value lands, while its VJP, the
gather, gives every input its output's gradient, as in PyTorch).
"""
from __future__ import annotations

import numpy

from .. import backends
from ..backends import get_array_module
from ..tape import record
from ..tensor import Tensor
from .conv import conv_output_shape
from .registry import primitive

__all__ = ["max_pool2d", "pool_scatter", "pool_gather", "max_unpool2d"]


def max_pool2d(x: Tensor, geom) -> tuple[Tensor, object]:
    """(the maxima of the windows ``geom`` over ``x`` (N, C, H, W), their flat H*W indices as a
    raw int64 array); arguments already checked (``nn.functional.max_pool2d``)."""
    out, idx = _forward(x.array, geom)
    return record(MAX_POOL2D, out, (x,), attrs=(geom, idx)), idx


def _forward(x, geom):
    kh, kw, stride, pads, dilation = geom
    OH, OW = conv_output_shape(x.shape[2:], geom)
    return backends.kernels_for(x).max_pool2d_forward(x, kh, kw, stride, pads, dilation, OH, OW)


def _max_pool2d_fw(x, geom, idx):
    return _forward(x, geom)[0]


def _max_pool2d_bw(ctx, g):
    return (pool_scatter(g, ctx.attrs[1], ctx.in_meta[0][0]),)


def _max_pool2d_infer(in_meta, geom, idx):
    (N, C, H, W), dtype = in_meta[0]
    return (((N, C) + conv_output_shape((H, W), geom), dtype),)


def pool_scatter(g: Tensor, idx, x_shape: tuple) -> Tensor:
    """zeros(x_shape) with g (N, C, OH, OW) added at the flat H*W indices ``idx``."""
    x_shape = tuple(x_shape)
    return record(SCATTER, _scatter_fw(g.array, idx, x_shape), (g,), attrs=(idx, x_shape))


def _scatter_fw(g, idx, x_shape):
    return backends.kernels_for(g).max_pool2d_scatter(g, idx, x_shape)


def _scatter_bw(ctx, gg):
    return (pool_gather(gg, *ctx.attrs),)


def _scatter_infer(in_meta, idx, x_shape):
    return ((x_shape, in_meta[0][1]),)


def pool_gather(x: Tensor, idx, x_shape: tuple) -> Tensor:
    """x (N, C, H, W) read at the flat indices ``idx`` (the scatter's adjoint)."""
    return record(GATHER, _gather_fw(x.array, idx, x_shape), (x,), attrs=(idx, x_shape))


def _gather_fw(x, idx, x_shape):
    return backends.kernels_for(x).max_pool2d_gather(x, idx, x_shape)


def _gather_bw(ctx, g):
    return (pool_scatter(g, *ctx.attrs),)


def _gather_infer(in_meta, idx, x_shape):
    return ((tuple(idx.shape), in_meta[0][1]),)


MAX_POOL2D = primitive("max_pool2d", _max_pool2d_bw, forward=_max_pool2d_fw, inputs="x",
                       attrs=("geometry", "indices"), infer=_max_pool2d_infer)
SCATTER = primitive("max_pool2d_scatter", _scatter_bw, forward=_scatter_fw, inputs="grad",
                    attrs=("indices", "x_shape"), infer=_scatter_infer)
GATHER = primitive("max_pool2d_gather", _gather_bw, forward=_gather_fw, inputs="x",
                   attrs=("indices", "x_shape"), infer=_gather_infer)


def max_unpool2d(x: Tensor, idx, out_shape: tuple) -> Tensor:
    """zeros(out_shape) (N, C, H, W) with each value of ``x`` (N, C, h, w) written at the flat
    H*W index ``idx`` (a raw int array shaped as x; indices outside [0, H*W) are dropped);
    arguments already checked (``nn.functional.max_unpool2d``)."""
    out_shape = tuple(out_shape)
    idx = _in_plane(idx, out_shape[2] * out_shape[3])
    return record(MAX_UNPOOL2D, _unpool_fw(x.array, idx, out_shape), (x,),
                  attrs=(idx, out_shape))


def _in_plane(idx, hw: int):
    """``idx`` with the indices outside a plane of ``hw`` cells set to -1 (nowhere)."""
    xp = get_array_module(idx)
    return xp.where((idx < 0) | (idx >= hw), -1, idx).astype(numpy.int64)


def _unpool_fw(x, idx, out_shape):
    xp = get_array_module(x)
    N, C, H, W = out_shape
    out = xp.zeros((N, C, H * W + 1), x.dtype)      # the last cell takes the -1s, then goes
    flat = idx.reshape(N, C, -1)
    key = (xp.arange(N)[:, None, None], xp.arange(C)[None, :, None],
           xp.where(flat < 0, H * W, flat))
    out[key] = x.reshape(N, C, -1)
    return out[:, :, :H * W].reshape(out_shape)


def _unpool_bw(ctx, g):
    idx, out_shape = ctx.attrs
    return (pool_gather(g, idx, out_shape),)


def _unpool_infer(in_meta, idx, out_shape):
    return ((out_shape, in_meta[0][1]),)


MAX_UNPOOL2D = primitive("max_unpool2d", _unpool_bw, forward=_unpool_fw, inputs="x",
                         attrs=("indices", "out_shape"), infer=_unpool_infer)
