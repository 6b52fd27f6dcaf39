"""Channel-wise and alpha dropout of ``torch.nn.functional``: dropout1d, dropout2d, dropout3d
(whole channels zeroed: one Bernoulli draw per (sample, channel)), alpha_dropout and
feature_alpha_dropout (SELU-preserving: dropped values set to SELU's negative saturation and
the result affinely rescaled to keep zero mean and unit variance). Random draws come from
autodiff's generator (``ad.manual_seed``)."""
from __future__ import annotations

import math
import warnings

import numpy

import autodiff as ad
from autodiff.ops import linear as _linear
from autodiff.random import generator
from autodiff.tensor import Tensor, make

from .functional_activation import SELU_ALPHA, SELU_SCALE
from .functional_core import _inplace, _t

__all__ = ["dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]

# -scale * alpha of SELU: the value a dropped SELU unit takes (its negative saturation)
_ALPHA_PRIME = SELU_SCALE * SELU_ALPHA


def _check_p(name: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p}")


def _dropout_impl(input: Tensor, p: float, noise_shape: tuple, alpha: bool) -> Tensor:
    """PyTorch's ``_dropout_impl``: ``keep`` is a Bernoulli(1 - p) draw of ``noise_shape``
    (broadcast over the input). Plain: ``x * keep / (1 - p)``. Alpha: ``x * keep * a + b`` with
    ``a = ((alpha'^2 p + 1)(1 - p))^(-1/2)``, ``b = alpha' a (keep - 1 + p)``."""
    xp = input.xp
    if p == 1.0:
        return ad.mul(input, 0.0)
    dt = input.dtype if input.dtype == numpy.float64 else numpy.float32
    keep = (generator(xp).random(noise_shape, dtype=dt) >= p).astype(input.dtype)
    if not alpha:
        return _linear.dropout(input, keep * input.dtype.type(1.0 / (1.0 - p)))
    a = 1.0 / math.sqrt((_ALPHA_PRIME ** 2 * p + 1) * (1 - p))
    b = ((keep - 1) * (_ALPHA_PRIME * a) + _ALPHA_PRIME * a * p).astype(input.dtype)
    return ad.add(_linear.dropout(input, keep * input.dtype.type(a)), make(b))


def _feature_dropout(name: str, input, p: float, training: bool, inplace: bool,
                     batched: bool, alpha: bool = False) -> Tensor:
    """Dropout of whole channels: one draw per (sample, channel) of a batched (N, C, ...)
    input, per channel of an unbatched (C, ...) one."""
    _check_p(name, p)
    if not training or p == 0.0:
        return _t(input)
    if inplace:
        return _inplace(name, input, lambda x: _feature_dropout(name, x, p, training, False,
                                                                batched, alpha))
    input = _t(input)
    lead = 2 if batched else 1
    if input.ndim < lead:
        raise ValueError(f"{name}: feature dropout requires at least {lead} dimensions in the "
                         f"input, got shape {tuple(input.shape)}")
    noise_shape = tuple(input.shape[:lead]) + (1,) * (input.ndim - lead)
    return _dropout_impl(input, p, noise_shape, alpha)


def _warn_dims(name: str, input: Tensor, dims: tuple) -> None:
    if input.ndim not in dims:
        warnings.warn(f"{name}: Received a {input.ndim}-D input to {name}, which is deprecated "
                      f"and will result in an error in a future release. To retain the "
                      f"behavior and silence this warning, please use dropout instead.",
                      stacklevel=3)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or unbatched (C, L) inputs with probability ``p``."""
    input = _t(input)
    if input.ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected 2D or 3D input, but received a {input.ndim}D "
                         f"input of shape {tuple(input.shape)}")
    return _feature_dropout("dropout1d", input, p, training, inplace, input.ndim == 3)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) inputs with probability ``p``. A 3-D input is taken
    as (N, C, L) (channel-wise 1-D dropout), with PyTorch's warning."""
    input = _t(input)
    _warn_dims("dropout2d", input, (3, 4))
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that "
                      "channel-wise 1D dropout behavior is desired - input is interpreted as "
                      "shape (N, C, L), where C is the channel dim. To maintain the 1D "
                      "channel-wise dropout behavior, please switch to using dropout1d "
                      "instead.", stacklevel=2)
    return _feature_dropout("dropout2d", input, p, training, inplace, True)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) or unbatched (C, D, H, W) inputs."""
    input = _t(input)
    _warn_dims("dropout3d", input, (4, 5))
    return _feature_dropout("dropout3d", input, p, training, inplace, input.ndim == 5)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Alpha dropout (Klambauer et al. 2017) of each element; the identity unless ``training``
    (PyTorch's default here is ``training=False``)."""
    _check_p("alpha_dropout", p)
    if not training or p == 0.0:
        return _t(input)
    if inplace:
        return _inplace("alpha_dropout", input, lambda x: alpha_dropout(x, p, training))
    input = _t(input)
    return _dropout_impl(input, p, tuple(input.shape), alpha=True)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels of (N, C, ...) inputs."""
    return _feature_dropout("feature_alpha_dropout", input, p, training, inplace, True,
                            alpha=True)
