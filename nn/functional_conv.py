"""Convolution, pooling and padding with ``torch.nn.functional``'s signatures: argument
checks and composition; the primitives (``im2col``/``col2im``, ``conv2d``, ``max_pool2d``) live
in ``autodiff/ops/conv.py`` and ``autodiff/ops/pool.py``.

Pooling: ``max_pool2d`` (gradient routed to the first maximum of each window),
``avg_pool2d`` (PyTorch's ``count_include_pad``/``ceil_mode``/``divisor_override``, as a sum
over unfolded windows), ``adaptive_avg_pool2d`` (any output size: two averaging matrices; 1x1
is a mean) and ``adaptive_max_pool2d``. ``pad`` follows ``torch.nn.functional.pad`` (pad
tuple, last dim first; modes constant, reflect, replicate, circular).
"""
from __future__ import annotations

import numpy

import autodiff as ad
from autodiff.ops import conv as _conv
from autodiff.ops import pool as _pool
from autodiff.ops.conv import conv_output_size
from autodiff.tensor import Tensor, make

__all__ = ["conv2d", "conv1d", "unfold", "fold", "max_pool2d", "avg_pool2d",
           "adaptive_avg_pool2d", "adaptive_max_pool2d", "max_pool1d", "avg_pool1d", "pad"]


# ----------------------------------------------------------------------------- helpers
def _pair(v, name: str, op: str) -> tuple[int, int]:
    if isinstance(v, (int, numpy.integer)):
        return int(v), int(v)
    try:
        t = tuple(int(a) for a in v)
    except TypeError:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v!r}") from None
    if len(t) == 1:
        return t[0], t[0]
    if len(t) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    return t


def _as_tensor(x, op: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")


def _batched(x: Tensor, op: str) -> tuple[Tensor, bool]:
    """(N, C, H, W) input, accepting an unbatched (C, H, W) one as PyTorch does."""
    if x.ndim == 3:
        return ad.unsqueeze(x, 0), True
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                         f"{tuple(x.shape)}")
    return x, False


# ----------------------------------------------------------------------------- unfold / fold
def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """``torch.nn.functional.unfold``: (N, C, H, W) -> (N, C*kh*kw, L) sliding-window columns."""
    x, _ = _batched(_as_tensor(input, "unfold"), "unfold")
    kh, kw = _pair(kernel_size, "kernel_size", "unfold")
    geom = (kh, kw, _pair(stride, "stride", "unfold"), _pair(padding, "padding", "unfold"),
            _pair(dilation, "dilation", "unfold"))
    return _conv.unfold(x, geom)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """``torch.nn.functional.fold``: (N, C*kh*kw, L) columns summed back into (N, C, H, W)."""
    cols = _as_tensor(input, "fold")
    kh, kw = _pair(kernel_size, "kernel_size", "fold")
    H, W = _pair(output_size, "output_size", "fold")
    if cols.ndim != 3 or cols.shape[1] % (kh * kw):
        raise ValueError(f"fold: expected (N, C*{kh}*{kw}, L) columns, got shape {cols.shape}")
    geom = (kh, kw, _pair(stride, "stride", "fold"), _pair(padding, "padding", "fold"),
            _pair(dilation, "dilation", "fold"))
    sh, sw = geom[2]
    (ph, pw), (dh, dw) = geom[3], geom[4]
    L = conv_output_size(H, kh, sh, ph, ph, dh) * conv_output_size(W, kw, sw, pw, pw, dw)
    if cols.shape[2] != L:
        raise ValueError(f"fold: {cols.shape[2]} columns given but output_size {(H, W)} with "
                         f"kernel {(kh, kw)} has {L} windows")
    return _conv.fold(cols, (cols.shape[0], cols.shape[1] // (kh * kw), H, W), geom)


# ----------------------------------------------------------------------------- conv2d
def _conv_padding(padding, kh, kw, stride, dilation, op):
    """((top, bottom), (left, right)) from an int, a pair, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride {stride})")
            out = []
            for k, d in ((kh, dilation[0]), (kw, dilation[1])):
                total = d * (k - 1)
                out.append((total // 2, total - total // 2))
            return tuple(out)
        raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', got "
                         f"{padding!r}")
    ph, pw = _pair(padding, "padding", op)
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return (ph, ph), (pw, pw)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    input (N, C_in, H, W) or (C_in, H, W); weight (C_out, C_in/groups, kh, kw); bias (C_out,).
    ``padding``: int, pair, 'valid' or 'same' (stride 1; odd totals put the extra row/column
    at the bottom/right, as PyTorch).
    """
    x = _as_tensor(input, "conv2d")
    w = _as_tensor(weight, "conv2d")
    x, unbatched = _batched(x, "conv2d")
    if w.ndim != 4:
        raise ValueError(f"conv2d: weight must be 4-D (out_channels, in_channels/groups, kh, kw),"
                         f" got shape {tuple(w.shape)}")
    groups = int(groups)
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    if groups < 1 or C % groups or O % groups:
        raise ValueError(f"conv2d: groups={groups} must divide both the input channels ({C}, "
                         f"input shape {tuple(x.shape)}) and the output channels ({O}, weight "
                         f"shape {tuple(w.shape)})")
    if Cg * groups != C:
        raise ValueError(f"conv2d: input of shape {tuple(x.shape)} has {C} channels but weight "
                         f"of shape {tuple(w.shape)} with groups={groups} expects "
                         f"{Cg * groups} input channels")
    if bias is not None:
        bias = _as_tensor(bias, "conv2d")
        if tuple(bias.shape) != (O,):
            raise ValueError(f"conv2d: bias must have shape ({O},) for weight of shape "
                             f"{tuple(w.shape)}, got {tuple(bias.shape)}")
    if x.dtype != w.dtype:
        raise TypeError(f"conv2d: input dtype {x.dtype} and weight dtype {w.dtype} differ")
    stride = _pair(stride, "stride", "conv2d")
    dilation = _pair(dilation, "dilation", "conv2d")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"conv2d: stride {stride} and dilation {dilation} must be positive")
    pads = _conv_padding(padding, kh, kw, stride, dilation, "conv2d")
    (pt, pb), (pl, pr) = pads
    OH = conv_output_size(H, kh, stride[0], pt, pb, dilation[0])
    OW = conv_output_size(W, kw, stride[1], pl, pr, dilation[1])
    if OH <= 0 or OW <= 0:
        raise ValueError(f"conv2d: kernel {(kh, kw)} (dilation {dilation}) is larger than the "
                         f"padded input (input shape {tuple(x.shape)}, padding {pads})")
    geom = (kh, kw, stride, pads, dilation)
    y = _conv.conv2d(x, w, bias, geom, groups)
    return ad.squeeze(y, 0) if unbatched else y


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D cross-correlation (``torch.nn.functional.conv1d``), via conv2d on a height-1 image.

    input (N, C_in, L) or (C_in, L); weight (C_out, C_in/groups, k)."""
    x = _as_tensor(input, "conv1d")
    w = _as_tensor(weight, "conv1d")
    unbatched = x.ndim == 2
    if unbatched:
        x = ad.unsqueeze(x, 0)
    if x.ndim != 3 or w.ndim != 3:
        raise ValueError(f"conv1d: expected input (N, C, L) and weight (O, C/groups, k), got "
                         f"{tuple(input.shape)} and {tuple(w.shape)}")
    one = lambda v: int(v[0]) if isinstance(v, (tuple, list)) else v  # noqa: E731
    p = padding if isinstance(padding, str) else (0, one(padding))
    y = conv2d(ad.unsqueeze(x, 2), ad.unsqueeze(w, 2), bias, (1, one(stride)), p,
               (1, one(dilation)), groups)
    y = ad.squeeze(y, 2)
    return ad.squeeze(y, 0) if unbatched else y


# ----------------------------------------------------------------------------- pooling
def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, op):
    N, C, H, W = x.shape
    kh, kw = _pair(kernel_size, "kernel_size", op)
    stride = (kh, kw) if stride is None or (isinstance(stride, (tuple, list)) and
                                           len(stride) == 0) else _pair(stride, "stride", op)
    ph, pw = _pair(padding, "padding", op)
    dilation = _pair(dilation, "dilation", op)
    if ph > kh // 2 or pw > kw // 2 or ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding {(ph, pw)} should be at most half the kernel size "
                         f"{(kh, kw)}")
    extra = []
    for size, k, s, p, d in ((H, kh, stride[0], ph, dilation[0]),
                             (W, kw, stride[1], pw, dilation[1])):
        span = size + 2 * p - d * (k - 1) - 1
        if span < 0:
            raise ValueError(f"{op}: kernel {(kh, kw)} (dilation {dilation}) is larger than the "
                             f"padded input of spatial size {(H, W)} (padding {(ph, pw)})")
        if ceil_mode:
            n = -(-span // s) + 1
            if (n - 1) * s >= size + p:      # the last window must start inside the input
                n -= 1
        else:
            n = span // s + 1
        extra.append((n - 1) * s + d * (k - 1) + 1 - (size + 2 * p))
    pads = ((ph, ph + max(extra[0], 0)), (pw, pw + max(extra[1], 0)))
    return kh, kw, stride, pads, dilation, (ph, pw)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """2-D max pooling (``torch.nn.functional.max_pool2d``); the gradient of each window goes
    to its first maximum. ``return_indices`` gives flat indices into each H*W input plane."""
    x = _as_tensor(input, "max_pool2d")
    x, unbatched = _batched(x, "max_pool2d")
    kh, kw, stride, pads, dilation, _ = _pool_geometry(x, kernel_size, stride, padding, dilation,
                                                       ceil_mode, "max_pool2d")
    y, idx = _pool.max_pool2d(x, (kh, kw, stride, pads, dilation))
    if not return_indices:
        return ad.squeeze(y, 0) if unbatched else y
    idx = make(idx)
    return (ad.squeeze(y, 0), ad.squeeze(idx, 0)) if unbatched else (y, idx)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling (``torch.nn.functional.avg_pool2d``), with PyTorch's divisor rules:
    zero padding counts unless ``count_include_pad=False``; ``ceil_mode``'s extra windows never
    count the part beyond the padded input."""
    x = _as_tensor(input, "avg_pool2d")
    x, unbatched = _batched(x, "avg_pool2d")
    N, C, H, W = x.shape
    kh, kw, stride, pads, dilation, (ph, pw) = _pool_geometry(x, kernel_size, stride, padding, 1,
                                                              ceil_mode, "avg_pool2d")
    geom = (kh, kw, stride, pads, dilation)
    cols = _conv.unfold(ad.reshape(x, (N * C, 1, H, W)), geom)           # (NC, kk, L)
    s = ad.sum(cols, axis=1)                                              # (NC, L)
    OH, OW = _conv.conv_output_shape((H, W), geom)
    if divisor_override is not None:
        y = ad.div(s, float(divisor_override))
    else:
        # the padded input counts (unless count_include_pad=False), ceil_mode's overhang never
        span = (ph, pw) if count_include_pad else (0, 0)
        cnt = numpy.outer(_window_counts(H, kh, stride[0], pads[0][0], OH, span[0]),
                          _window_counts(W, kw, stride[1], pads[1][0], OW, span[1]))
        y = ad.div(s, ad.tensor(cnt.reshape(1, -1), dtype=x.dtype, device=x.device))
    y = ad.reshape(y, (N, C, OH, OW))
    return ad.squeeze(y, 0) if unbatched else y


def _window_counts(n: int, k: int, stride: int, pad_before: int, n_out: int,
                   counted_pad: int) -> numpy.ndarray:
    """How many positions of each of ``n_out`` windows (size k) along an axis of size n lie in
    [-counted_pad, n + counted_pad) (at least 1)."""
    start = numpy.arange(n_out) * stride - pad_before
    inside = numpy.minimum(start + k, n + counted_pad) - numpy.maximum(start, -counted_pad)
    return numpy.maximum(inside, 1).astype(numpy.float64)


def _adaptive_matrix(n_in: int, n_out: int, like: Tensor) -> Tensor:
    """(n_out, n_in) averaging matrix of PyTorch's adaptive windows
    [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))."""
    m = numpy.zeros((n_out, n_in))
    for i in range(n_out):
        a = (i * n_in) // n_out
        b = -(-((i + 1) * n_in) // n_out)
        m[i, a:b] = 1.0 / (b - a)
    return ad.tensor(m, dtype=like.dtype, device=like.device)


def _adaptive_size(output_size, H, W, op):
    if isinstance(output_size, (int, numpy.integer)) or output_size is None:
        output_size = (output_size, output_size)
    oh, ow = output_size
    oh, ow = (H if oh is None else int(oh)), (W if ow is None else int(ow))
    if oh <= 0 or ow <= 0:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return oh, ow


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """``torch.nn.functional.adaptive_avg_pool2d``: output (1, 1) is global average pooling; any
    other size averages PyTorch's adaptive windows (as two averaging-matrix products)."""
    x = _as_tensor(input, "adaptive_avg_pool2d")
    if x.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected a 3-D or 4-D input, got shape "
                         f"{tuple(x.shape)}")
    H, W = x.shape[-2:]
    oh, ow = _adaptive_size(output_size, H, W, "adaptive_avg_pool2d")
    if (oh, ow) == (1, 1):
        return ad.mean(x, axis=(-2, -1), keepdims=True)
    out = x
    if oh != H:
        out = ad.matmul(_adaptive_matrix(H, oh, x), out)
    if ow != W:
        out = ad.matmul(out, ad.swapaxes(_adaptive_matrix(W, ow, x), 0, 1))
    return out


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """``torch.nn.functional.adaptive_max_pool2d`` for sizes whose windows are uniform (the
    input size divisible by the output size, including 1x1 global max pooling)."""
    x = _as_tensor(input, "adaptive_max_pool2d")
    H, W = x.shape[-2:]
    oh, ow = _adaptive_size(output_size, H, W, "adaptive_max_pool2d")
    if H % oh or W % ow:
        raise NotImplementedError(f"adaptive_max_pool2d: input size {(H, W)} must be divisible "
                                  f"by the output size {(oh, ow)}")
    return max_pool2d(x, (H // oh, W // ow), return_indices=return_indices)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False) -> Tensor:
    """1-D max pooling over (N, C, L) via max_pool2d on a height-1 image."""
    one = lambda v: int(v[0]) if isinstance(v, (tuple, list)) else v  # noqa: E731
    y = max_pool2d(ad.unsqueeze(input, -2), (1, one(kernel_size)),
                   None if stride is None else (1, one(stride)), (0, one(padding)),
                   (1, one(dilation)), ceil_mode)
    return ad.squeeze(y, -2)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over (N, C, L) via avg_pool2d on a height-1 image."""
    one = lambda v: int(v[0]) if isinstance(v, (tuple, list)) else v  # noqa: E731
    y = avg_pool2d(ad.unsqueeze(input, -2), (1, one(kernel_size)),
                   None if stride is None else (1, one(stride)), (0, one(padding)), ceil_mode,
                   count_include_pad)
    return ad.squeeze(y, -2)


# ----------------------------------------------------------------------------- pad
def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """``torch.nn.functional.pad``: ``pad`` = (left, right) of the last dim, then (top, bottom)
    of the one before, and so on. Modes 'constant' (``value``, default 0), 'reflect' (mirror
    without repeating the edge), 'replicate' (repeat the edge), 'circular' (wrap around).
    Negative padding crops in every mode, as in PyTorch (``autodiff.pad`` says how)."""
    x = _as_tensor(input, "pad")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: the pad tuple must have an even length of at most 2*{x.ndim}, "
                         f"got {pad}")
    if mode != "constant" and value is not None and value != 0:
        raise ValueError(f"pad: padding mode {mode!r} does not take a value (got {value})")
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return ad.pad(x, widths, mode=mode, value=0.0 if value is None else value)

