"""Normalisations of ``torch.nn.functional`` beyond batch and layer norm: group_norm,
instance_norm, local_response_norm (PyTorch's signatures and formulas, composed of
differentiable ops, so double backward works)."""
from __future__ import annotations

import numpy

import autodiff as ad
from autodiff.tensor import Tensor, make

from .functional_core import _t

__all__ = ["group_norm", "instance_norm", "local_response_norm"]


def _standardize(x: Tensor, axes: tuple, eps: float) -> tuple:
    """((x - mean) / sqrt(var + eps), mean, var) over ``axes`` (biased variance, kept dims)."""
    mean = ad.mean(x, axes, True)
    centred = ad.sub(x, mean)
    var = ad.mean(ad.mul(centred, centred), axes, True)
    return ad.mul(centred, ad.div(1.0, ad.sqrt(ad.add(var, eps)))), mean, var


def _check_channel_vector(name: str, input: Tensor, **tensors) -> None:
    C = input.shape[1]
    for key, t in tensors.items():
        if t is not None and tuple(t.shape) != (C,):
            raise ValueError(f"{name}: {key} has shape {tuple(t.shape)}, expected ({C},) for "
                             f"an input of shape {tuple(input.shape)} (channels in dim 1)")


def _channel_affine(out: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """out * weight + bias with (C,) vectors along dim 1."""
    shape = (-1,) + (1,) * (out.ndim - 2)
    if weight is not None:
        out = ad.mul(out, ad.reshape(weight, shape))
    if bias is not None:
        out = ad.add(out, ad.reshape(bias, shape))
    return out


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each of ``num_groups`` groups of channels of (N, C, *) over its channels and
    positions (biased variance), then scale and shift per channel."""
    input = _t(input)
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected an input of at least 2 dims (N, C, *), got "
                         f"shape {tuple(input.shape)}")
    N, C = input.shape[:2]
    if num_groups <= 0 or C % num_groups:
        raise ValueError(f"group_norm: expected number of channels in input to be divisible by "
                         f"num_groups, but got input of shape {tuple(input.shape)} and "
                         f"num_groups={num_groups}")
    _check_channel_vector("group_norm", input, weight=weight, bias=bias)
    grouped = ad.reshape(input, (N, num_groups, -1))
    out, _, _ = _standardize(grouped, (2,), eps)
    return _channel_affine(ad.reshape(out, tuple(input.shape)), weight, bias)


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample of (N, C, *) over its positions. With
    ``use_input_stats`` the running statistics, when given, are updated in place with the
    batch means of the per-instance mean and *unbiased* variance (PyTorch's update); without,
    they are used instead."""
    input = _t(input)
    name = "instance_norm"
    if input.ndim < 2:
        raise ValueError(f"{name}: expected an input of at least 2 dims (N, C, *), got shape "
                         f"{tuple(input.shape)}")
    _check_channel_vector(name, input, running_mean=running_mean, running_var=running_var,
                          weight=weight, bias=bias)
    axes = tuple(range(2, input.ndim))
    n = int(numpy.prod(input.shape[2:], dtype=numpy.int64))
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError(f"{name}: running_mean and running_var are needed when not using "
                             f"the input's statistics")
        shape = (1, -1) + (1,) * len(axes)
        mean = ad.reshape(make(running_mean.array.astype(input.dtype, copy=False)), shape)
        var = ad.reshape(make(running_var.array.astype(input.dtype, copy=False)), shape)
        out = ad.div(ad.sub(input, mean), ad.sqrt(ad.add(var, eps)))
        return _channel_affine(out, weight, bias)
    if n <= 1:
        raise ValueError(f"{name}: expected more than 1 spatial element when training, got "
                         f"input of shape {tuple(input.shape)}")
    out, mean, var = _standardize(input, axes, eps)
    for stat, value in ((running_mean, mean.array), (running_var, var.array * (n / (n - 1)))):
        if stat is not None:
            batch = value.reshape(input.shape[:2]).mean(axis=0)
            stat.array[...] = ((1 - momentum) * stat.array + momentum * batch).astype(stat.dtype)
            ad.increment_version(stat)
    return _channel_affine(out, weight, bias)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """``x / (k + alpha / size * sum of x^2 over the ``size`` neighbouring channels)^beta``; the
    window covers channels c - size//2 .. c + (size-1)//2, zero-padded at the ends."""
    input = _t(input)
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected 3D or higher dimensionality input "
                         f"(got {input.ndim} dimensions, shape {tuple(input.shape)})")
    if size <= 0:
        raise ValueError(f"local_response_norm: size must be positive, got {size}")
    if input.array.size == 0:
        return input
    C = input.shape[1]
    widths = [(0, 0)] * input.ndim
    widths[1] = (size // 2, (size - 1) // 2)
    padded = ad.pad(ad.mul(input, input), widths)
    rest = (slice(None),) * (input.ndim - 2)
    window = padded[(slice(None), slice(0, C)) + rest]
    for j in range(1, size):
        window = ad.add(window, padded[(slice(None), slice(j, j + C)) + rest])
    div = ad.pow(ad.add(ad.mul(window, alpha / size), k), beta)
    return ad.div(input, div)
