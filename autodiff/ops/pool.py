"""Max-pooling primitives: ``max_pool2d`` and the pair that carries its derivatives,
``max_pool2d_scatter`` (its VJP) and ``max_pool2d_gather`` (the scatter's VJP, whose VJP is
the scatter again).

The forward keeps, per window, the flat H*W index of its first maximum (-1 where it fell on
padding); the gradient of a window goes there. The arrays come from the backend's
``max_pool2d_*`` routes (numba kernels on NumPy, im2col + argmax elsewhere).
"""
from __future__ import annotations

from .. import backends
from ..tape import record
from ..tensor import Tensor
from .conv import conv_output_shape
from .registry import primitive

__all__ = ["max_pool2d", "pool_scatter", "pool_gather"]


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
