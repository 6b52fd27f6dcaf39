"""Layer modules: Dropout (inverted dropout; identity in eval mode), the channel-wise
Dropout1d/2d/3d, and AlphaDropout/FeatureAlphaDropout (for SELU networks)."""
from __future__ import annotations

from autodiff.tensor import Tensor

from .. import functional_core as F
from .. import functional_dropout as FD
from ..module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
           "FeatureAlphaDropout"]


class _DropoutNd(Module):
    """``p`` and ``inplace`` of every dropout module; ``forward`` applies ``_fn`` in training."""

    _fn = None

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 "
                             f"and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes elements with probability ``p`` in training and scales the rest by 1/(1-p)."""
    _fn = staticmethod(F.dropout)


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) or (C, L) inputs with probability ``p``."""
    _fn = staticmethod(FD.dropout1d)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) inputs with probability ``p``."""
    _fn = staticmethod(FD.dropout2d)


class Dropout3d(_DropoutNd):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) inputs."""
    _fn = staticmethod(FD.dropout3d)


class AlphaDropout(_DropoutNd):
    """Alpha dropout: keeps the mean and variance of SELU activations."""
    _fn = staticmethod(FD.alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels."""
    _fn = staticmethod(FD.feature_alpha_dropout)
