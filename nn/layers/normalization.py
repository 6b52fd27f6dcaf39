"""Layer modules: GroupNorm, InstanceNorm1d/2d/3d and LocalResponseNorm, with PyTorch's
arguments, parameters, buffers and reprs."""
from __future__ import annotations

import warnings

import autodiff as ad
from autodiff.tensor import Tensor

from .. import functional_norm as FN
from .. import init
from ..module import Module
from .norm import _NormBase, affine_parameters

__all__ = ["GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
           "LocalResponseNorm"]


class GroupNorm(Module):
    """Group normalisation (Wu & He 2018) of (N, C, *) inputs: statistics per sample over each
    group of ``num_channels // num_groups`` channels; ``affine`` adds a per-channel scale and
    (unless ``bias=False``) shift."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        dt = dtype if dtype is not None else ad.get_default_dtype()
        affine_parameters(self, num_channels, affine, bias, dt, device)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return FN.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")


class _InstanceNorm(_NormBase):
    """Instance norm: per sample and channel over the positions. Defaults as PyTorch:
    ``affine=False``, ``track_running_stats=False`` (then batch statistics in eval too)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None,
                 dtype=None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        unbatched = input.ndim == self._expected_dims[0]
        feature_dim = input.ndim - self._expected_dims[0]
        if input.shape[feature_dim] != self.num_features:
            msg = (f"{type(self).__name__}: expected input's size at dim={feature_dim} to match "
                   f"num_features ({self.num_features}), but got: {input.shape[feature_dim]}")
            if self.affine:
                raise ValueError(msg)
            warnings.warn(f"{msg}. You can silence this warning by not passing in num_features, "
                          f"which is not used because affine=False", stacklevel=2)
        x = ad.unsqueeze(input, 0) if unbatched else input
        momentum = self.momentum if self.momentum is not None else 0.0
        out = FN.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                               self.training or not self.track_running_stats, momentum,
                               self.eps)
        return ad.squeeze(out, 0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance norm of (N, C, L) or unbatched (C, L) inputs."""

    _expected_dims = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Instance norm of (N, C, H, W) or unbatched (C, H, W) inputs."""

    _expected_dims = (3, 4)


class InstanceNorm3d(_InstanceNorm):
    """Instance norm of (N, C, D, H, W) or unbatched (C, D, H, W) inputs."""

    _expected_dims = (4, 5)


class LocalResponseNorm(Module):
    """Local response normalisation across ``size`` neighbouring channels (Krizhevsky et al.)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75,
                 k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        return FN.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
