"""Resampling with ``torch.nn.functional``'s signature: ``interpolate`` (and the deprecated
``upsample``, ``upsample_nearest``, ``upsample_bilinear``).

Every mode is separable: along each spatial axis the output is a weighted sum of at most four
input rows, ``sum_j w_j * x.index_select(axis, i_j)``, with the source indices ``i_j`` and
weights ``w_j`` computed on the host by PyTorch's formulas (``UpSample.h``):

- ``nearest``: i = min(floor(dst * scale), n - 1) in float32 (identity when the size is kept,
  dst >> 1 when it doubles, as PyTorch); ``nearest-exact``: min(floor((dst + 0.5) * scale),
  n - 1);
- ``linear``/``bilinear``/``trilinear``: src = scale * (dst + 0.5) - 0.5 clamped at 0
  (``align_corners=False``) or dst * (n - 1)/(out - 1) (``align_corners=True``); the two
  neighbours floor(src) and the next one (clamped), weights 1 - t and t;
- ``bicubic``: Keys' cubic convolution (A = -0.75) over the four neighbours floor(src) - 1 ..
  floor(src) + 2, clamped to the input (src not clamped at 0);
- ``area``: adaptive average pooling.

scale is 1/scale_factor when a scale factor is given (and not ``recompute_scale_factor``),
else in/out; the weights are computed in the input's precision (float32 for float32 input),
as PyTorch does. Gradients are those of ``index_select`` (a scatter-add) and of the products,
so every order of derivative works.
"""
from __future__ import annotations

import math

import numpy

import autodiff as ad
from autodiff.nn.conv_args import as_tensor
from autodiff.nn.functional_pool import (adaptive_avg_pool1d, adaptive_avg_pool2d,
                                         adaptive_avg_pool3d)
from autodiff.tensor import Tensor

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]

#: mode -> the number of spatial dims it takes (None: any of 1, 2, 3)
_MODES = {"nearest": None, "nearest-exact": None, "area": None, "linear": 1, "bilinear": 2,
          "bicubic": 2, "trilinear": 3}
_LINEAR_MODES = ("linear", "bilinear", "bicubic", "trilinear")
_CUBIC_A = -0.75


# ----------------------------------------------------------------------------- source indices
def _source_scale(n_in: int, n_out: int, align_corners: bool, scale_factor, dtype):
    """PyTorch's ``area_pixel_compute_scale`` in ``dtype``."""
    if align_corners:
        return dtype.type((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    if scale_factor is not None and scale_factor > 0:
        return dtype.type(1.0 / scale_factor)
    return dtype.type(n_in) / dtype.type(n_out)


def _nearest_taps(n_in: int, n_out: int, scale_factor, exact: bool):
    """([indices], [None]) of nearest / nearest-exact (float32 arithmetic, as PyTorch)."""
    dst = numpy.arange(n_out)
    if not exact and n_out == n_in:
        return [dst], [None]
    if not exact and n_out == 2 * n_in:
        return [dst >> 1], [None]
    scale = _source_scale(n_in, n_out, False, scale_factor, numpy.dtype(numpy.float32))
    if exact:   # (dst + 0.5) * scale in double, then floorf (a float32 argument)
        pos = ((dst + 0.5) * numpy.float64(scale)).astype(numpy.float32)
    else:
        pos = dst.astype(numpy.float32) * scale
    return [numpy.minimum(numpy.floor(pos).astype(numpy.int64), n_in - 1)], [None]


def _source_index(n_in, n_out, align_corners, scale_factor, dtype, cubic):
    """(floor index clamped to n-1, fraction t in [0, 1]) of every output position."""
    scale = _source_scale(n_in, n_out, align_corners, scale_factor, dtype)
    dst = numpy.arange(n_out).astype(dtype)
    if align_corners:
        src = scale * dst
    else:
        src = scale * (dst + dtype.type(0.5)) - dtype.type(0.5)
        if not cubic:
            src = numpy.maximum(src, dtype.type(0))
    i0 = numpy.minimum(numpy.floor(src.astype(numpy.float32)).astype(numpy.int64), n_in - 1)
    t = numpy.clip(src - i0.astype(dtype), 0, 1).astype(dtype)
    return i0, t


def _linear_taps(n_in, n_out, align_corners, scale_factor, dtype):
    i0, t = _source_index(n_in, n_out, align_corners, scale_factor, dtype, False)
    return [i0, numpy.minimum(i0 + 1, n_in - 1)], [1 - t, t]


def _cubic_taps(n_in, n_out, align_corners, scale_factor, dtype):
    i0, t = _source_index(n_in, n_out, align_corners, scale_factor, dtype, True)
    A = dtype.type(_CUBIC_A)

    def near(x):      # |x| <= 1
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def far(x):       # 1 < |x| < 2
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    weights = [far(t + 1), near(t), near(1 - t), far(2 - t)]
    return [numpy.clip(i0 - 1 + j, 0, n_in - 1) for j in range(4)], weights


# ----------------------------------------------------------------------------- arguments
def _output_sizes(op: str, x: Tensor, n: int, size, scale_factor, recompute: bool,
                  area: bool):
    """(output sizes, the scale factors the index formulas use: None entries use in/out); area
    mode (adaptive pooling) accepts empty outputs, as PyTorch."""
    spatial = tuple(x.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError(f"{op}: only one of size or scale_factor should be defined")
    if size is not None:
        if recompute:
            raise ValueError(f"{op}: recompute_scale_factor is not meaningful with an explicit "
                             f"size")
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * n
        if len(sizes) != n:
            raise ValueError(f"{op}: input and output must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of "
                             f"{list(spatial)} and output size of {size}")
        if not all(isinstance(s, (int, numpy.integer)) and not isinstance(s, bool)
                   for s in sizes):
            raise TypeError(f"{op}: expected size to be an int or a tuple of ints, got {size!r}")
        factors = (None,) * n
    elif scale_factor is not None:
        factors = (tuple(scale_factor) if isinstance(scale_factor, (tuple, list))
                   else (scale_factor,) * n)
        if len(factors) != n:
            raise ValueError(f"{op}: input and scale_factor must have the same number of "
                             f"spatial dimensions, but got input with spatial dimensions of "
                             f"{list(spatial)} and scale_factor of shape {scale_factor}")
        factors = tuple(float(f) for f in factors)
        sizes = tuple(math.floor(float(s) * f) for s, f in zip(spatial, factors))
        if recompute:
            factors = (None,) * n
    else:
        raise ValueError(f"{op}: either size or scale_factor should be defined")
    sizes = tuple(int(s) for s in sizes)
    if min(sizes) < (0 if area else 1) or min(spatial) <= 0:
        raise ValueError(f"{op}: input and output sizes should be greater than 0, but got input "
                         f"{spatial} and output {sizes}")
    return sizes, factors


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """``torch.nn.functional.interpolate`` on (N, C, *spatial) input with 1-3 spatial dims.

    ``size`` or ``scale_factor`` (one of them; an int/float or one per spatial dim); ``mode``
    one of nearest, nearest-exact, linear (3-D input), bilinear and bicubic (4-D), trilinear
    (5-D), area; ``align_corners`` only for the interpolating modes (default False)."""
    op = "interpolate"
    x = as_tensor(input, op)
    if mode not in _MODES:
        raise NotImplementedError(f"{op}: mode {mode!r} is not implemented; the modes are "
                                  f"{', '.join(_MODES)}")
    if mode in _LINEAR_MODES:
        align_corners = bool(align_corners)
    elif align_corners is not None:
        raise ValueError(f"{op}: align_corners option can only be set with the interpolating "
                         f"modes: linear | bilinear | bicubic | trilinear (got mode {mode!r})")
    n = x.ndim - 2
    if n not in (1, 2, 3):
        raise NotImplementedError(f"{op}: only 3-D, 4-D and 5-D input tensors are supported "
                                  f"(got {x.ndim}-D, shape {tuple(x.shape)}) for mode {mode!r}")
    if _MODES[mode] not in (None, n):
        raise NotImplementedError(f"{op}: got {x.ndim}-D input, but {mode} mode needs "
                                  f"{_MODES[mode] + 2}-D input")
    if antialias:
        if mode not in ("bilinear", "bicubic"):
            raise ValueError(f"{op}: anti-alias option is restricted to bilinear and bicubic "
                             f"modes and requires a 4-D tensor as input")
        raise NotImplementedError(f"{op}: antialias=True is not implemented")
    if x.dtype.kind != "f" and mode not in ("nearest", "nearest-exact"):
        raise NotImplementedError(f"{op}: mode {mode!r} on input of dtype {x.dtype} (integer "
                                  f"input is resampled by the nearest modes only)")
    recompute = bool(recompute_scale_factor) or (mode == "area" and size is None)
    sizes, factors = _output_sizes(op, x, n, size, scale_factor, recompute, mode == "area")
    if mode == "area":
        return (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d)[n - 1](x, sizes)
    dtype = numpy.result_type(x.dtype, numpy.float32)        # PyTorch's opmath type
    y = x
    for axis, (n_in, n_out, factor) in enumerate(zip(x.shape[2:], sizes, factors), start=2):
        if mode in ("nearest", "nearest-exact"):
            idx, w = _nearest_taps(n_in, n_out, factor, mode == "nearest-exact")
        elif mode == "bicubic":
            idx, w = _cubic_taps(n_in, n_out, align_corners, factor, dtype)
        else:
            idx, w = _linear_taps(n_in, n_out, align_corners, factor, dtype)
        y = _resample_axis(y, axis, idx, w)
    return y


def _resample_axis(x: Tensor, axis: int, idx: list, weights: list) -> Tensor:
    """sum_j weights[j] * x.index_select(axis, idx[j]) (weights None: 1)."""
    shape = [1] * x.ndim
    shape[axis] = -1
    out = None
    for i, w in zip(idx, weights):
        term = ad.index_select(x, axis, ad.tensor(i, device=x.device))
        if w is not None:
            term = term * ad.tensor(numpy.reshape(w, shape), dtype=x.dtype, device=x.device)
        out = term if out is None else out + term
    return out


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """``torch.nn.functional.upsample`` (deprecated there): :func:`interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """``torch.nn.functional.upsample_nearest`` (deprecated there): nearest interpolation."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """``torch.nn.functional.upsample_bilinear`` (deprecated there): bilinear interpolation
    with ``align_corners=True``."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
