"""Pooling with ``torch.nn.functional``'s signatures: max, average, adaptive and max-unpooling
in 1, 2 and 3 spatial dims; argument checks and composition over ``autodiff.ops.pool``
(``max_pool2d`` and its scatter/gather pair, ``max_unpool2d``) and ``autodiff.ops.conv``
(``im2col``).

- max pooling: the ``max_pool2d`` primitive (the gradient of a window goes to its first
  maximum); 1-D on a height-1 image; 3-D separably, over (H, W) per depth slice and then over
  depth, which picks the same first maximum in (d, h, w) order as PyTorch.
- average pooling: window sums over unfolded windows (depth first in 3-D), divided by
  PyTorch's counts (``count_include_pad``, ``ceil_mode``'s overhang never counted,
  ``divisor_override``), which are products of per-axis counts.
- adaptive average pooling: one averaging matrix per axis (PyTorch's windows
  [floor(i*n/o), ceil((i+1)*n/o))); adaptive max pooling: max pooling when the windows are
  uniform, else the first maximum of each window read with the ``max_pool2d_gather``
  primitive.
- ``max_unpool*d``: the ``max_unpool2d`` primitive (values written at the flat indices that
  ``max_pool*d(return_indices=True)`` gives).
"""
from __future__ import annotations

import math

import numpy

import autodiff as ad
from autodiff.backends import get_array_module
from autodiff.nn.conv_args import as_tensor, batched, ntuple
from autodiff.nn.input_checks import checks_now
from autodiff.ops import conv as _conv
from autodiff.ops import pool as _pool
from autodiff.tensor import Tensor, make

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "max_unpool1d",
           "max_unpool2d", "max_unpool3d"]


# ----------------------------------------------------------------------------- geometry
def _pool_axis(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> tuple[int, int]:
    """(output length, padding after) along one axis; the padding after grows by the part of
    ceil mode's last window that overhangs the padded input."""
    span = size + 2 * p - d * (k - 1) - 1
    if ceil_mode:
        n = -(-span // s) + 1
        if (n - 1) * s >= size + p:      # the last window must start inside the input
            n -= 1
    else:
        n = span // s + 1
    return n, p + max((n - 1) * s + d * (k - 1) + 1 - (size + 2 * p), 0)


def _windows(op: str, x: Tensor, n: int, kernel_size, stride, padding, dilation, ceil_mode):
    """Per spatial axis: (kernel, stride, (pad before, pad after), dilation, output length),
    after PyTorch's checks."""
    k = ntuple(kernel_size, n, "kernel_size", op)
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    s = k if empty else ntuple(stride, n, "stride", op)
    p = ntuple(padding, n, "padding", op)
    d = ntuple(dilation, n, "dilation", op)
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise ValueError(f"{op}: kernel_size {k}, stride {s} and dilation {d} must be positive")
    if any(pp < 0 or pp > kk // 2 for pp, kk in zip(p, k)):
        raise ValueError(f"{op}: padding {p} should be at most half the kernel size {k}")
    axes = []
    for size, kk, ss, pp, dd in zip(x.shape[2:], k, s, p, d):
        if size + 2 * pp - dd * (kk - 1) - 1 < 0:
            raise ValueError(f"{op}: kernel {k} (dilation {d}) is larger than the padded input "
                             f"of spatial size {tuple(x.shape[2:])} (padding {p})")
        out, after = _pool_axis(size, kk, ss, pp, dd, ceil_mode)
        axes.append((kk, ss, (pp, after), dd, out))
    return axes


def _geom2d(ah, aw) -> tuple:
    """The (kh, kw, stride, pads, dilation) geometry of the primitives from two axes."""
    return (ah[0], aw[0], (ah[1], aw[1]), (ah[2], aw[2]), (ah[3], aw[3]))


_UNIT = (1, 1, (0, 0), 1, 1)          # an axis of length 1 that a window leaves alone


# ----------------------------------------------------------------------------- max pooling
def _max_pool(op: str, n: int, input, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices):
    x, unbatched = batched(as_tensor(input, op), n, op)
    axes = _windows(op, x, n, kernel_size, stride, padding, dilation, ceil_mode)
    N, C = x.shape[:2]
    if n == 1:
        y, idx = _pool.max_pool2d(ad.unsqueeze(x, 2), _geom2d(_UNIT, axes[0]))
        y = ad.squeeze(y, 2)
        idx = idx.reshape(tuple(y.shape))
    elif n == 2:
        y, idx = _pool.max_pool2d(x, _geom2d(*axes))
    else:                             # (H, W) per depth slice, then depth
        D, H, W = x.shape[2:]
        y1, idx1 = _pool.max_pool2d(ad.reshape(x, (N, C * D, H, W)), _geom2d(*axes[1:]))
        OH, OW = y1.shape[2:]
        y, dq = _pool.max_pool2d(ad.reshape(y1, (N, C, D, OH * OW)), _geom2d(axes[0], _UNIT))
        y = ad.reshape(y, (N, C, axes[0][4], OH, OW))
        if return_indices:            # the depth of each maximum, then its (h, w) there
            xp = get_array_module(dq)
            dsel = dq // (OH * OW)
            hw = xp.take_along_axis(idx1.reshape(N, C, D, OH * OW), dsel, axis=2)
            idx = (dsel * (H * W) + hw).reshape(y.shape)
    if not return_indices:
        return ad.squeeze(y, 0) if unbatched else y
    idx = make(idx)
    return (ad.squeeze(y, 0), ad.squeeze(idx, 0)) if unbatched else (y, idx)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """1-D max pooling over (N, C, L) or (C, L) (``torch.nn.functional.max_pool1d``)."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """2-D max pooling (``torch.nn.functional.max_pool2d``); the gradient of each window goes
    to its first maximum. ``return_indices`` gives flat indices into each H*W input plane."""
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """3-D max pooling over (N, C, D, H, W) or (C, D, H, W); indices are flat into D*H*W."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


# ----------------------------------------------------------------------------- average pooling
def _window_counts(n: int, axis, counted_pad: int) -> numpy.ndarray:
    """How many positions of each window along an axis of size n (``axis`` from
    :func:`_windows`) lie in [-counted_pad, n + counted_pad) (at least 1)."""
    k, s, (before, _), _, n_out = axis
    start = numpy.arange(n_out) * s - before
    inside = numpy.minimum(start + k, n + counted_pad) - numpy.maximum(start, -counted_pad)
    return numpy.maximum(inside, 1).astype(numpy.float64)


def _avg_pool(op: str, n: int, input, kernel_size, stride, padding, ceil_mode,
              count_include_pad, divisor_override):
    x, unbatched = batched(as_tensor(input, op), n, op)
    axes = _windows(op, x, n, kernel_size, stride, padding, 1, ceil_mode)
    N, C = x.shape[:2]
    sizes = x.shape[2:]
    planes = ad.reshape(x, (N * C, 1) + ((1,) if n == 1 else ()) + tuple(sizes))
    if n == 3:                        # sum over the depth windows first
        D, H, W = sizes
        cols = _conv.unfold(ad.reshape(planes, (N * C, 1, D, H * W)), _geom2d(axes[0], _UNIT))
        planes = ad.reshape(ad.sum(cols, axis=1), (N * C * axes[0][4], 1, H, W))
    geom = _geom2d(_UNIT, axes[0]) if n == 1 else _geom2d(*axes[-2:])
    s = ad.reshape(ad.sum(_conv.unfold(planes, geom), axis=1), (N * C, -1))
    out_shape = tuple(a[4] for a in axes)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or int(divisor_override) != divisor_override \
                or divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must be a non-zero int, got "
                             f"{divisor_override!r}")
        y = ad.div(s, float(divisor_override))
    else:
        cnt = numpy.ones(())
        for size, a in zip(sizes, axes):
            cnt = numpy.multiply.outer(cnt, _window_counts(size, a, a[2][0] if count_include_pad
                                                           else 0))
        y = ad.div(s, ad.tensor(cnt.reshape(1, -1), dtype=x.dtype, device=x.device))
    y = ad.reshape(y, (N, C) + out_shape)
    return ad.squeeze(y, 0) if unbatched else y


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over (N, C, L) or (C, L) (``torch.nn.functional.avg_pool1d``)."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling (``torch.nn.functional.avg_pool2d``), with PyTorch's divisor rules:
    zero padding counts unless ``count_include_pad=False``; ``ceil_mode``'s extra windows never
    count the part beyond the padded input."""
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """3-D average pooling over (N, C, D, H, W) or (C, D, H, W), PyTorch's divisor rules."""
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


# ----------------------------------------------------------------------------- adaptive
def _adaptive_windows(n_in: int, n_out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))."""
    return [((i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)) for i in range(n_out)]


def _adaptive_sizes(op: str, n: int, x: Tensor, output_size) -> tuple[int, ...]:
    if output_size is None or isinstance(output_size, (int, numpy.integer)):
        output_size = (output_size,) * n
    output_size = tuple(output_size)
    if len(output_size) != n:
        raise ValueError(f"{op}: output_size must be an int or a {n}-tuple, got {output_size!r}")
    out = tuple(size if o is None else int(o) for o, size in zip(output_size, x.shape[-n:]))
    if min(out) < 0:
        raise ValueError(f"{op}: output_size must be non-negative, got {output_size!r}")
    return out


def _adaptive_input(op: str, n: int, input) -> Tensor:
    x = as_tensor(input, op)
    if x.ndim not in (n + 1, n + 2):
        raise ValueError(f"{op}: expected a {n + 1}-D or {n + 2}-D input, got shape "
                         f"{tuple(x.shape)}")
    return x


def _adaptive_avg(op: str, n: int, input, output_size) -> Tensor:
    x = _adaptive_input(op, n, input)
    out = _adaptive_sizes(op, n, x, output_size)
    if all(o == 1 for o in out):
        return ad.mean(x, axis=tuple(range(-n, 0)), keepdims=True)
    for axis in range(x.ndim - n, x.ndim):       # one averaging matrix per axis
        size, o = x.shape[axis], out[axis - x.ndim]
        if size == o:
            continue
        m = numpy.zeros((o, size))
        for i, (a, b) in enumerate(_adaptive_windows(size, o)):
            m[i, a:b] = 1.0 / (b - a)
        before, after = x.shape[:axis], x.shape[axis + 1:]
        y = ad.matmul(ad.tensor(m, dtype=x.dtype, device=x.device),
                      ad.reshape(x, (math.prod(before), size, math.prod(after))))
        x = ad.reshape(y, before + (o,) + after)
    return x


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """``torch.nn.functional.adaptive_avg_pool1d`` over (N, C, L) or (C, L)."""
    return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """``torch.nn.functional.adaptive_avg_pool2d``: output (1, 1) is global average pooling; any
    other size averages PyTorch's adaptive windows (an averaging matrix per axis)."""
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """``torch.nn.functional.adaptive_avg_pool3d`` over (N, C, D, H, W) or (C, D, H, W)."""
    return _adaptive_avg("adaptive_avg_pool3d", 3, input, output_size)


def _adaptive_max(op: str, n: int, input, output_size, return_indices):
    x = _adaptive_input(op, n, input)
    out = _adaptive_sizes(op, n, x, output_size)
    sizes = x.shape[-n:]
    if 0 in out:                      # empty, still on the graph
        flat = ad.reshape(x, tuple(x.shape[:-n]) + (-1,))[..., :0]
        y = ad.reshape(flat, tuple(x.shape[:-n]) + out)
        return (y, make(y.array.astype(numpy.int64))) if return_indices else y
    if all(size % o == 0 for size, o in zip(sizes, out)):       # uniform windows
        pool = (max_pool1d, max_pool2d, max_pool3d)[n - 1]
        return pool(x, tuple(size // o for size, o in zip(sizes, out)),
                    return_indices=return_indices)
    x, unbatched = batched(x, n, op)
    N, C = x.shape[:2]
    # every window's cells as flat indices, lexicographic (short windows repeat their last
    # cell), so the first maximum among them is PyTorch's
    flat = numpy.zeros((1,) * (2 * n), numpy.int64)
    for axis, (size, o) in enumerate(zip(sizes, out)):
        wins = _adaptive_windows(size, o)
        width = max(b - a for a, b in wins)
        cells = numpy.array([[min(a + j, b - 1) for j in range(width)] for a, b in wins])
        shape = [1] * (2 * n)
        shape[axis], shape[n + axis] = o, width
        flat = flat * size + cells.reshape(shape)
    flat = flat.reshape(math.prod(out), -1)
    planes = ad.reshape(x, (N, C, math.prod(sizes), 1))
    cells = ad.tensor(flat.reshape(-1), device=x.device)
    with ad.no_grad():
        vals = ad.reshape(ad.index_select(planes.detach(), 2, cells), (N, C) + flat.shape)
        first = ad.argmax(vals, dim=-1).array                  # (N, C, windows)
    xp = get_array_module(first)
    idx = cells.array[first + xp.arange(flat.shape[0]) * flat.shape[1]]
    idx = idx.reshape(N, C, -1, 1)
    y = ad.reshape(_pool.pool_gather(planes, idx, tuple(planes.shape)), (N, C) + out)
    idx = make(idx.reshape((N, C) + out))
    if unbatched:
        y, idx = ad.squeeze(y, 0), ad.squeeze(idx, 0)
    return (y, idx) if return_indices else y


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """``torch.nn.functional.adaptive_max_pool1d``: the first maximum of each adaptive window."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """``torch.nn.functional.adaptive_max_pool2d``: the first maximum (in (h, w) order) of each
    of PyTorch's adaptive windows; indices are flat into H*W."""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """``torch.nn.functional.adaptive_max_pool3d``; indices are flat into D*H*W."""
    return _adaptive_max("adaptive_max_pool3d", 3, input, output_size, return_indices)


# ----------------------------------------------------------------------------- unpooling
def _unpool_size(op: str, x: Tensor, k, s, p, output_size) -> tuple[int, ...]:
    """PyTorch's ``_unpool_output_size``: (in-1)*stride - 2*padding + kernel per axis, or the
    requested size when it lies strictly within a stride of that."""
    n = len(k)
    default = tuple((size - 1) * ss + kk - 2 * pp
                    for size, kk, ss, pp in zip(x.shape[-n:], k, s, p))
    if output_size is None:
        return default
    size = tuple(int(v) for v in output_size)
    if len(size) == n + 2:
        size = size[2:]
    if len(size) != n:
        raise ValueError(f"{op}: output_size should be a sequence containing {n} or {n + 2} "
                         f"elements, but it has a length of {len(size)}")
    for d in range(n):
        if not default[d] - s[d] < size[d] < default[d] + s[d]:
            raise ValueError(f"{op}: invalid output_size {tuple(output_size)} (dim {d} must be "
                             f"between {default[d] - s[d]} and {default[d] + s[d]})")
    return size


def _max_unpool(op: str, n: int, input, indices, kernel_size, stride, padding, output_size):
    x, unbatched = batched(as_tensor(input, op), n, op)
    idx = as_tensor(indices, op, "indices")
    if unbatched:
        idx = ad.unsqueeze(idx, 0)
    if tuple(idx.shape) != tuple(x.shape) or idx.dtype.kind not in "iu":
        raise ValueError(f"{op}: indices must be an integer tensor shaped as the input "
                         f"{tuple(x.shape)}, got {idx.dtype} {tuple(idx.shape)}")
    k = ntuple(kernel_size, n, "kernel_size", op)
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    s = k if empty else ntuple(stride, n, "stride", op)
    p = ntuple(padding, n, "padding", op)
    size = _unpool_size(op, x, k, s, p, output_size)
    N, C = x.shape[:2]
    plane = math.prod(size)
    a = idx.array
    if checks_now(a) and a.size and bool(((a < 0) | (a >= plane)).any()):
        bad = int(a[(a < 0) | (a >= plane)].reshape(-1)[0])
        raise RuntimeError(f"{op}: found an invalid max index {bad} (output planes are of size "
                         f"{'x'.join(map(str, size))})")
    # the unpool primitive works on (h, w) planes: fold leading spatial dims into h
    lead = (x.shape[2:-1], size[:-1]) if n > 1 else ((1,), (1,))
    planes = ad.reshape(x, (N, C, math.prod(lead[0]), x.shape[-1]))
    y = _pool.max_unpool2d(planes, a.reshape(planes.shape),
                           (N, C, math.prod(lead[1]), size[-1]))
    y = ad.reshape(y, (N, C) + size)
    return ad.squeeze(y, 0) if unbatched else y


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """``torch.nn.functional.max_unpool1d``: the inverse of max_pool1d where it kept values."""
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """``torch.nn.functional.max_unpool2d``: zeros of the pooled input's size with each value
    written at its flat H*W index from ``max_pool2d(..., return_indices=True)``; the gradient
    reads the output's gradient back at the indices."""
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """``torch.nn.functional.max_unpool3d`` (indices flat into D*H*W)."""
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding,
                       output_size)
