"""Layer modules: BatchNorm1d, BatchNorm2d (running statistics, momentum, affine) and LayerNorm."""
from __future__ import annotations

import numpy

import autodiff as ad
from autodiff.tensor import Tensor

from .. import functional_core as F
from .. import init
from ..module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


def affine_parameters(module: Module, n: int, affine: bool, bias: bool, dtype, device) -> None:
    """Register ``weight`` (ones) and ``bias`` (zeros) of ``n`` entries on ``module`` when
    ``affine`` (the bias only with ``bias``), None otherwise."""
    module.register_parameter("weight", Parameter(ad.ones(n, dtype=dtype, device=device))
                              if affine else None)
    module.register_parameter("bias", Parameter(ad.zeros(n, dtype=dtype, device=device))
                              if affine and bias else None)


class _NormBase(Module):
    """Parameters and buffers of the batch and instance norms (PyTorch's ``_NormBase``).

    State dict: ``weight``, ``bias`` (when ``affine``), ``running_mean``, ``running_var``,
    ``num_batches_tracked`` (when ``track_running_stats``); ``bias=False`` (keyword) keeps only
    the scale.
    """

    _expected_dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = dtype if dtype is not None else ad.get_default_dtype()
        affine_parameters(self, self.num_features, affine, bias, dt, device)
        if track_running_stats:
            self.register_buffer("running_mean", ad.zeros(self.num_features, dtype=dt,
                                                          device=device))
            self.register_buffer("running_var", ad.ones(self.num_features, dtype=dt,
                                                        device=device))
            self.register_buffer("num_batches_tracked", ad.zeros((), dtype=ad.int64,
                                                                 device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in self._expected_dims:
            dims = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ValueError(f"{type(self).__name__}: expected {dims} input, got shape "
                             f"{tuple(input.shape)}")

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    """Shared implementation of BatchNorm1d/2d (PyTorch's parameters, buffers and semantics).
    ``momentum=None`` gives the cumulative moving average, as PyTorch."""

    _batch_norm = staticmethod(F.batch_norm)  # SyncBatchNorm reduces over ranks

    def _check_input_dim(self, input: Tensor) -> None:
        super()._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels "
                             f"(dim 1), got input of shape {tuple(input.shape)}")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)        # an update op: autodiff.compile replays it
            if self.momentum is None:   # cumulative average; on the device: no host read
                n = self.num_batches_tracked.array
                factor = (1.0 / n).astype(self.running_mean.dtype if self.running_mean
                                          is not None else numpy.float32)
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return self._batch_norm(input, self.running_mean if track else None,
                                self.running_var if track else None, self.weight, self.bias,
                                use_batch, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs."""

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs (statistics per channel over N, H, W)."""

    _expected_dims = (4,)


class LayerNorm(Module):
    """Normalises over the trailing ``normalized_shape`` dims; elementwise affine."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        ns = (normalized_shape,) if isinstance(normalized_shape, int) else \
            tuple(normalized_shape)
        self.normalized_shape = ns
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dt = dtype if dtype is not None else ad.get_default_dtype()
        if elementwise_affine:
            self.weight = Parameter(ad.ones(ns, dtype=dt, device=device))
            if bias:
                self.bias = Parameter(ad.zeros(ns, dtype=dt, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
