"""Convolutions and padding with ``torch.nn.functional``'s signatures: argument checks and
composition; the primitives (``im2col``/``col2im``, ``conv2d``) live in
``autodiff/ops/conv.py``, pooling in ``nn/functional_pool.py``.

- ``conv2d`` is the ``conv2d`` primitive; ``conv1d`` is conv2d over a height-1 image;
  ``conv3d`` unfolds the depth axis (an ``im2col`` with a (kd, 1) kernel over (D, H*W)
  planes) into the channels, then runs one conv2d over the N*OD depth slices with the weight
  reshaped to (O, C/groups*kd, kh, kw).
- ``conv_transpose2d`` is the input-gradient of conv2d (``ops.conv.conv2d_input_grad``:
  W^T x, folded by ``col2im``), so its derivatives of every order are those of ``matmul`` and
  the ``im2col``/``col2im`` pair; ``conv_transpose1d`` runs it on a height-1 image and
  ``conv_transpose3d`` runs it on each depth slice with the depth taps as extra output
  channels, then folds them along depth (a ``col2im`` with a (kd, 1) kernel).
- ``pad`` follows ``torch.nn.functional.pad`` (pad tuple, last dim first; modes constant,
  reflect, replicate, circular).
"""
from __future__ import annotations

import autodiff as ad
from autodiff.nn.conv_args import as_tensor as _as_tensor
from autodiff.nn.conv_args import batched, ntuple
from autodiff.ops import conv as _conv
from autodiff.ops.conv import conv_output_size
from autodiff.tensor import Tensor

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "unfold", "fold", "pad"]


# ----------------------------------------------------------------------------- unfold / fold
def _unfold_geometry(kernel_size, dilation, padding, stride, op):
    kh, kw = ntuple(kernel_size, 2, "kernel_size", op)
    ph, pw = ntuple(padding, 2, "padding", op)
    return (kh, kw, ntuple(stride, 2, "stride", op), ((ph, ph), (pw, pw)),
            ntuple(dilation, 2, "dilation", op))


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """``torch.nn.functional.unfold``: (N, C, H, W) -> (N, C*kh*kw, L) sliding-window columns."""
    x, _ = batched(_as_tensor(input, "unfold"), 2, "unfold")
    return _conv.unfold(x, _unfold_geometry(kernel_size, dilation, padding, stride, "unfold"))


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """``torch.nn.functional.fold``: (N, C*kh*kw, L) columns summed back into (N, C, H, W)."""
    cols = _as_tensor(input, "fold")
    geom = _unfold_geometry(kernel_size, dilation, padding, stride, "fold")
    kh, kw = geom[:2]
    H, W = ntuple(output_size, 2, "output_size", "fold")
    if cols.ndim != 3 or cols.shape[1] % (kh * kw):
        raise ValueError(f"fold: expected (N, C*{kh}*{kw}, L) columns, got shape {cols.shape}")
    OH, OW = _conv.conv_output_shape((H, W), geom)
    if cols.shape[2] != OH * OW:
        raise ValueError(f"fold: {cols.shape[2]} columns given but output_size {(H, W)} with "
                         f"kernel {(kh, kw)} has {OH * OW} windows")
    return _conv.fold(cols, (cols.shape[0], cols.shape[1] // (kh * kw), H, W), geom)


# ----------------------------------------------------------------------------- checks
def _conv_padding(padding, k: tuple, stride: tuple, dilation: tuple, op: str) -> tuple:
    """((before, after), ...) per spatial dim from an int, a tuple, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * len(k)
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride {stride})")
            # an odd total puts the extra row/column at the end, as PyTorch
            return tuple((d * (kk - 1) // 2, d * (kk - 1) - d * (kk - 1) // 2)
                         for kk, d in zip(k, dilation))
        raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got "
                         f"{padding!r}")
    p = ntuple(padding, len(k), "padding", op)
    if min(p) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return tuple((a, a) for a in p)


def _check(op: str, n: int, input, weight, bias, groups, transposed: bool):
    """(x batched, weight, bias, groups, out_channels, whether x had no batch dim) after
    PyTorch's checks of a convolution's tensors, naming the shapes and dtypes."""
    x, unbatched = batched(_as_tensor(input, op), n, op)
    w = _as_tensor(weight, op, "weight")
    layout = ("in_channels, out_channels/groups" if transposed
              else "out_channels, in_channels/groups")
    if w.ndim != n + 2:
        raise ValueError(f"{op}: weight must be {n + 2}-D ({layout}, {n} kernel dims), got "
                         f"shape {tuple(w.shape)}")
    if isinstance(groups, bool) or int(groups) != groups or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    C = x.shape[1]
    expect, out = (w.shape[0], w.shape[1] * groups) if transposed else \
        (w.shape[1] * groups, w.shape[0])
    if C % groups or w.shape[0] % groups:
        raise ValueError(f"{op}: groups={groups} must divide both the input channels ({C}, "
                         f"input shape {tuple(x.shape)}) and the weight's first dim "
                         f"({w.shape[0]}, weight shape {tuple(w.shape)})")
    if C != expect:
        raise ValueError(f"{op}: input of shape {tuple(x.shape)} has {C} channels but weight of "
                         f"shape {tuple(w.shape)} with groups={groups} expects {expect} input "
                         f"channels")
    tensors = [("input", x), ("weight", w)]
    if bias is not None:
        bias = _as_tensor(bias, op, "bias")
        if tuple(bias.shape) != (out,):
            raise ValueError(f"{op}: bias must have shape ({out},) for weight of shape "
                             f"{tuple(w.shape)}, got {tuple(bias.shape)}")
        tensors.append(("bias", bias))
    if len({t.dtype for _, t in tensors}) > 1:        # no promotion, as PyTorch
        have = ", ".join(f"{name} {t.dtype}" for name, t in tensors)
        raise RuntimeError(f"{op}: {have}: the dtypes must be the same; cast one, e.g. "
                           f"input.to({w.dtype}), or the model with model.to(dtype)")
    return x, w, bias, groups, out, unbatched


def _positive(op: str, stride: tuple, dilation: tuple) -> None:
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{op}: stride {stride} and dilation {dilation} must be positive")


def _finish(y: Tensor, bias: Tensor | None, n: int, unbatched: bool) -> Tensor:
    if bias is not None:
        y = y + ad.reshape(bias, (1, -1) + (1,) * n)
    return ad.squeeze(y, 0) if unbatched else y


# ----------------------------------------------------------------------------- convolution
def _convolution(n: int, op: str, input, weight, bias, stride, padding, dilation,
                 groups) -> Tensor:
    x, w, bias, groups, _, unbatched = _check(op, n, input, weight, bias, groups, False)
    k = tuple(w.shape[2:])
    stride = ntuple(stride, n, "stride", op)
    dilation = ntuple(dilation, n, "dilation", op)
    _positive(op, stride, dilation)
    pads = _conv_padding(padding, k, stride, dilation, op)
    out = [conv_output_size(size, kk, s, *p, d)
           for size, kk, s, p, d in zip(x.shape[2:], k, stride, pads, dilation)]
    if min(out) <= 0:
        raise ValueError(f"{op}: kernel {k} (dilation {dilation}) is larger than the padded "
                         f"input (input shape {tuple(x.shape)}, padding {pads})")
    if n == 1:                        # a height-1 image
        geom = (1, k[0], (1, stride[0]), ((0, 0), pads[0]), (1, dilation[0]))
        y = ad.squeeze(_conv.conv2d(ad.unsqueeze(x, 2), ad.unsqueeze(w, 2), bias, geom, groups), 2)
    elif n == 2:
        y = _conv.conv2d(x, w, bias, k + (stride, pads, dilation), groups)
    else:
        y = _conv3d(x, w, bias, stride, pads, dilation, groups, out[0])
    return ad.squeeze(y, 0) if unbatched else y


def _conv3d(x, w, bias, stride, pads, dilation, groups, OD):
    """The depth taps unfolded into the channels, then one conv2d over the N*OD slices."""
    N, C, D, H, W = x.shape
    O, Cg, kd, kh, kw = w.shape
    geom_d = (kd, 1, (stride[0], 1), (pads[0], (0, 0)), (dilation[0], 1))
    cols = _conv.unfold(ad.reshape(x, (N, C, D, H * W)), geom_d)        # (N, C*kd, OD*H*W)
    slices = ad.reshape(ad.permute(ad.reshape(cols, (N, C * kd, OD, H, W)), (0, 2, 1, 3, 4)),
                        (N * OD, C * kd, H, W))
    y = _conv.conv2d(slices, ad.reshape(w, (O, Cg * kd, kh, kw)), bias,
                     (kh, kw, stride[1:], pads[1:], dilation[1:]), groups)
    return ad.permute(ad.reshape(y, (N, OD, O) + tuple(y.shape[2:])), (0, 2, 1, 3, 4))


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D cross-correlation (``torch.nn.functional.conv1d``), as conv2d on a height-1 image.

    input (N, C_in, L) or (C_in, L); weight (C_out, C_in/groups, k); bias (C_out,)."""
    return _convolution(1, "conv1d", input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    input (N, C_in, H, W) or (C_in, H, W); weight (C_out, C_in/groups, kh, kw); bias (C_out,).
    ``padding``: int, pair, 'valid' or 'same' (stride 1; odd totals put the extra row/column
    at the bottom/right, as PyTorch).
    """
    return _convolution(2, "conv2d", input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """3-D cross-correlation (``torch.nn.functional.conv3d``).

    input (N, C_in, D, H, W) or (C_in, D, H, W); weight (C_out, C_in/groups, kd, kh, kw)."""
    return _convolution(3, "conv3d", input, weight, bias, stride, padding, dilation, groups)


# ----------------------------------------------------------------------------- transposed
def transposed_size(n_in: int, k: int, stride: int, padding: int, output_padding: int,
                    dilation: int) -> int:
    """The output length of a transposed convolution along one axis (PyTorch's formula)."""
    return (n_in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1


def _fold_axis(n_in, k, stride, padding, output_padding, dilation):
    """(image length, (pad before, pad after), zeros appended) of the fold that computes a
    transposed convolution along one axis: the windows of the padded image span exactly the
    full (unpadded) output, and output_padding beyond the cropped padding is appended zeros."""
    full = (n_in - 1) * stride + dilation * (k - 1) + 1
    after = padding - output_padding
    if after >= 0:
        return full - padding - after, (padding, after), 0
    return full - padding, (padding, 0), -after


def _conv_transpose2d(x, w, stride, padding, output_padding, dilation, groups):
    N, _, H, W = x.shape
    kh, kw = w.shape[2:]
    (ih, ph, eh), (iw, pw, ew) = (_fold_axis(*a) for a in zip(
        (H, W), (kh, kw), stride, padding, output_padding, dilation))
    y = _conv.conv2d_input_grad(x, w, (N, w.shape[1] * groups, ih, iw),
                                (kh, kw, stride, (ph, pw), dilation), groups)
    return ad.pad(y, ((0, 0), (0, 0), (0, eh), (0, ew))) if eh or ew else y


def _conv_transpose3d(x, w, stride, padding, output_padding, dilation, groups):
    """conv_transpose2d of each depth slice with the kd depth taps as extra output channels,
    then those taps folded along depth."""
    N, Cin, D, H, W = x.shape
    Cog, kd, kh, kw = w.shape[1:]
    Cout = Cog * groups
    slices = ad.reshape(ad.permute(x, (0, 2, 1, 3, 4)), (N * D, Cin, H, W))
    y = _conv_transpose2d(slices, ad.reshape(w, (Cin, Cog * kd, kh, kw)), stride[1:],
                          padding[1:], output_padding[1:], dilation[1:], groups)
    Ho, Wo = y.shape[2:]                                       # channel = co * kd + tap
    cols = ad.reshape(ad.permute(ad.reshape(y, (N, D, Cout * kd, Ho * Wo)), (0, 2, 1, 3)),
                      (N, Cout * kd, D * Ho * Wo))
    size, pads, extra = _fold_axis(D, kd, stride[0], padding[0], output_padding[0], dilation[0])
    vol = _conv.fold(cols, (N, Cout, size, Ho * Wo),
                     (kd, 1, (stride[0], 1), (pads, (0, 0)), (dilation[0], 1)))
    if extra:
        vol = ad.pad(vol, ((0, 0), (0, 0), (0, extra), (0, 0)))
    return ad.reshape(vol, (N, Cout, size + extra, Ho, Wo))


def _conv_transpose(n: int, op: str, input, weight, bias, stride, padding, output_padding,
                    groups, dilation) -> Tensor:
    if isinstance(padding, str):
        raise TypeError(f"{op}: padding must be an int or a tuple of {n} ints, got {padding!r} "
                        f"(PyTorch's transposed convolutions take no 'same'/'valid')")
    x, w, bias, groups, _, unbatched = _check(op, n, input, weight, bias, groups, True)
    k = tuple(w.shape[2:])
    stride = ntuple(stride, n, "stride", op)
    dilation = ntuple(dilation, n, "dilation", op)
    _positive(op, stride, dilation)
    padding = ntuple(padding, n, "padding", op)
    output_padding = ntuple(output_padding, n, "output_padding", op)
    if min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"{op}: padding {padding} and output_padding {output_padding} must be "
                         f"non-negative")
    if any(o >= s and o >= d for o, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{op}: output_padding {output_padding} must be smaller than either "
                         f"the stride {stride} or the dilation {dilation} in each dim")
    size = [transposed_size(*a) for a in zip(x.shape[2:], k, stride, padding, output_padding,
                                             dilation)]
    if min(size) <= 0:
        raise ValueError(f"{op}: the output size {tuple(size)} is not positive (input shape "
                         f"{tuple(x.shape)}, kernel {k}, stride {stride}, padding {padding})")
    if n == 1:
        y = ad.squeeze(_conv_transpose2d(ad.unsqueeze(x, 2), ad.unsqueeze(w, 2), (1,) + stride,
                                         (0,) + padding, (0,) + output_padding,
                                         (1,) + dilation, groups), 2)
    elif n == 2:
        y = _conv_transpose2d(x, w, stride, padding, output_padding, dilation, groups)
    else:
        y = _conv_transpose3d(x, w, stride, padding, output_padding, dilation, groups)
    return _finish(y, bias, n, unbatched)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """``torch.nn.functional.conv_transpose1d``: the adjoint of conv1d in its input.

    input (N, C_in, L) or (C_in, L); weight (C_in, C_out/groups, k); output length
    (L-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1."""
    return _conv_transpose(1, "conv_transpose1d", input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """``torch.nn.functional.conv_transpose2d`` ("deconvolution"): the adjoint of conv2d in its
    input, for input (N, C_in, H, W) or (C_in, H, W) and weight (C_in, C_out/groups, kh, kw)."""
    return _conv_transpose(2, "conv_transpose2d", input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """``torch.nn.functional.conv_transpose3d``: input (N, C_in, D, H, W) or (C_in, D, H, W),
    weight (C_in, C_out/groups, kd, kh, kw)."""
    return _conv_transpose(3, "conv_transpose3d", input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


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

