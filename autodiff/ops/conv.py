"""Convolution primitives: ``im2col`` (unfold), ``col2im`` (fold) and ``conv2d`` /
``conv2d_bias`` (channel-major im2col + GEMM + col2im; ``torch.nn.functional`` keeps the
argument checks and calls these).

Geometry ``geom`` = (kh, kw, (sh, sw), ((pt, pb), (pl, pr)), (dh, dw)). The column layouts:
``"batched"`` (PyTorch's unfold, (N, C*kh*kw, L)) and ``"channel_major"`` ((C*kh*kw, N*L),
which a convolution multiplies in one GEMM). ``unfold``'s VJP is ``fold`` and ``fold``'s is
``unfold``, so every order of derivative stays in these two primitives.

``conv2d`` runs the backend's ``conv2d_forward`` (on NumPy: numba's cache-blocked route that
keeps no columns, or im2col + one GEMM that keeps them for the backward pass; on CuPy: im2col
+ cuBLAS), see ``autodiff.backends.conv_routes``. Its VJP, with g as (O, N*OH*OW):

- grad_input  = fold(W^T @ g); grad_weight = g @ cols^T; grad_bias = g summed over N, H, W.

The first-order rule runs the backend's ``conv2d_backward`` on raw arrays; under
``create_graph`` it is written with Tensor ops (the columns rebuilt as a recorded ``unfold``
of the input), so it differentiates again. Its input part, :func:`conv2d_input_grad`, is the
transposed convolution (``nn.functional.conv_transpose*d`` compose it).
"""
from __future__ import annotations

from .. import backends
from ..backends import conv_output_size
from ..grad_mode import STATE
from ..tape import record
from ..tensor import Tensor, make
from ._util import same_dtype
from .linalg import matmul
from .reduce import sum as _sum
from .registry import primitive
from .shape import permute, reshape, swapaxes

__all__ = ["unfold", "fold", "conv2d", "conv2d_input_grad", "conv_output_size",
           "conv_output_shape"]

_KERNEL = {"batched": ("im2col", "col2im"), "channel_major": ("im2col_cm", "col2im_cm")}


def conv_output_shape(hw: tuple, geom) -> tuple[int, int]:
    """(OH, OW) of windows ``geom`` over a spatial size ``hw``; its padding (ph, pw) or
    ((top, bottom), (left, right))."""
    kh, kw, stride, pads, dilation = geom
    ph, pw = ((p, p) if isinstance(p, int) else p for p in pads)
    return (conv_output_size(hw[0], kh, stride[0], *ph, dilation[0]),
            conv_output_size(hw[1], kw, stride[1], *pw, dilation[1]))


# ----------------------------------------------------------------------------- unfold / fold
def unfold(x: Tensor, geom, layout: str = "batched") -> Tensor:
    """The columns of ``x`` (N, C, H, W) in ``layout``; recorded as ``im2col``."""
    return record(IM2COL, _unfold_fw(x.array, geom, layout), (x,), attrs=(geom, layout))


def _unfold_fw(x, geom, layout):
    return getattr(backends.kernels_for(x), _KERNEL[layout][0])(x, *geom)


def _unfold_bw(ctx, g):
    geom, layout = ctx.attrs
    return (fold(g, ctx.in_meta[0][0], geom, layout),)


def _unfold_infer(in_meta, geom, layout):
    (N, C, H, W), dtype = in_meta[0]
    OH, OW = conv_output_shape((H, W), geom)
    kk = C * geom[0] * geom[1]
    return (((N, kk, OH * OW) if layout == "batched" else (kk, N * OH * OW), dtype),)


def fold(cols: Tensor, x_shape: tuple, geom, layout: str = "batched") -> Tensor:
    """Columns summed back (overlaps add) into an image of ``x_shape``; recorded as
    ``col2im``."""
    x_shape = tuple(x_shape)
    return record(COL2IM, _fold_fw(cols.array, x_shape, geom, layout), (cols,),
                  attrs=(x_shape, geom, layout))


def _fold_fw(cols, x_shape, geom, layout):
    return getattr(backends.kernels_for(cols), _KERNEL[layout][1])(cols, x_shape, *geom)


def _fold_bw(ctx, g):
    x_shape, geom, layout = ctx.attrs
    return (unfold(g, geom, layout),)


def _fold_infer(in_meta, x_shape, geom, layout):
    return ((x_shape, in_meta[0][1]),)


IM2COL = primitive("im2col", _unfold_bw, forward=_unfold_fw, inputs="x",
                   attrs=("geometry", "layout"), infer=_unfold_infer)
COL2IM = primitive("col2im", _fold_bw, forward=_fold_fw, inputs="cols",
                   attrs=("x_shape", "geometry", "layout"), infer=_fold_infer)


# ----------------------------------------------------------------------------- conv2d
def conv2d(x: Tensor, w: Tensor, bias: Tensor | None, geom, groups: int) -> Tensor:
    """The cross-correlation of ``x`` (N, C, H, W) with ``w`` (O, C/groups, kh, kw), plus
    ``bias`` (O,) when given: arguments already checked (``nn.functional.conv2d``); one dtype
    (as in PyTorch, no promotion)."""
    same_dtype("conv2d", ("input", x), ("weight", w), ("bias", bias))
    k = backends.kernels_for(x.array, w.array)
    if bias is None:
        out, cols = k.conv2d_forward(x.array, w.array, None, geom, groups)
        return record(CONV2D, out, (x, w), (x, w), attrs=(geom, groups, cols))
    out, cols = k.conv2d_forward(x.array, w.array, bias.array, geom, groups)
    return record(CONV2D_BIAS, out, (x, w, bias), (x, w), attrs=(geom, groups, cols))


def _conv2d_fw(x, w, geom, groups, cols=None):
    return backends.kernels_for(x, w).conv2d_forward(x, w, None, geom, groups)[0]


def _conv2d_bias_fw(x, w, b, geom, groups, cols=None):
    return backends.kernels_for(x, w, b).conv2d_forward(x, w, b, geom, groups)[0]


def _conv2d_infer(in_meta, geom, groups, cols=None):
    (N, C, H, W), dtype = in_meta[0]
    return (((N, in_meta[1][0][0]) + conv_output_shape((H, W), geom), dtype),)


def _conv2d_bw(ctx, g):
    x, w = ctx.saved_tensors
    geom, groups, cols = ctx.attrs
    needs = ctx.needs_input_grad
    has_b = len(needs) == 3 and needs[2]
    if not STATE.enabled:          # first order: raw arrays (nothing is recorded anyway)
        grads = backends.kernels_for(g.array, w.array).conv2d_backward(
            x.array, w.array, cols, g.array, geom, groups, needs[0], needs[1], has_b)
        return tuple(None if a is None else make(a) for a in grads[:len(needs)])
    # create_graph: Tensor ops throughout, the columns rebuilt from x so they carry its graph
    gx = gw = gb = None
    if needs[0]:
        gx = conv2d_input_grad(g, w, x.shape, geom, groups)
    if needs[1]:
        O, Cg, kh, kw = w.shape
        G, K, NL = groups, Cg * kh * kw, g.shape[0] * g.shape[2] * g.shape[3]
        gm = reshape(permute(g, (1, 0, 2, 3)), (G, O // G, NL))
        c3 = reshape(unfold(x, geom, "channel_major"), (G, K, NL))
        gw = reshape(matmul(gm, swapaxes(c3, -1, -2)), w.shape)
    if has_b:
        gb = _sum(g, axis=(0, 2, 3))
    return (gx, gw, gb)[:len(needs)]


def conv2d_input_grad(g: Tensor, w: Tensor, x_shape: tuple, geom, groups: int) -> Tensor:
    """The VJP of ``conv2d`` in its input, for an output gradient ``g`` (N, O, OH, OW):
    fold(W^T g) into an image of ``x_shape``. It is also the transposed convolution of ``g``
    with ``w`` read as (in_channels, out_channels/groups, kh, kw), which is how
    ``nn.functional.conv_transpose2d`` uses it; Tensor ops only, so every order of derivative
    goes through ``matmul`` and the ``col2im``/``im2col`` pair."""
    O, Cg, kh, kw = w.shape
    G, K, NL = groups, Cg * kh * kw, g.shape[0] * g.shape[2] * g.shape[3]
    gm = reshape(permute(g, (1, 0, 2, 3)), (G, O // G, NL))
    gcols = matmul(swapaxes(reshape(w, (G, O // G, K)), -1, -2), gm)          # (G, K, N*L)
    return fold(reshape(gcols, (G * K, NL)), tuple(x_shape), geom, "channel_major")


_CONV_ATTRS = ("geometry", "groups", "cols")      # cols: the forward's columns (or None)
CONV2D = primitive("conv2d", _conv2d_bw, forward=_conv2d_fw, inputs=("input", "weight"),
                   attrs=_CONV_ATTRS, saves=("input", "weight"), infer=_conv2d_infer)
CONV2D_BIAS = primitive("conv2d_bias", _conv2d_bw, forward=_conv2d_bias_fw,
                        inputs=("input", "weight", "bias"), attrs=_CONV_ATTRS,
                        saves=("input", "weight"), infer=_conv2d_infer)
