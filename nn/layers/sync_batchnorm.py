"""``SyncBatchNorm``: batch norm whose batch statistics are taken over the ranks of a group.

In training, with a process group of more than one rank, the per-channel mean and (biased)
variance are those of the union of all ranks' batches, computed in two passes (the sum, then
the sum of squared deviations from the global mean, each all-reduced), so the output equals
single-process batch norm on the concatenated batch. The all-reduces are the differentiable
``autodiff.distributed.functional.all_reduce``, whose backward all-reduces the gradients: the
backward through the statistics is exact (and differentiable again). The running statistics
use the global mean and the unbiased global variance. Otherwise (eval, one rank, no process
group) it is :class:`BatchNorm` exactly.
"""
from __future__ import annotations

import numpy

import autodiff as ad
import autodiff.distributed as dist
from autodiff.tensor import Tensor, make

from .. import functional_core as F
from ..module import Module
from .norm import _BatchNorm

__all__ = ["SyncBatchNorm"]


def sync_batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                    weight: Tensor | None, bias: Tensor | None, momentum: float, eps: float,
                    group=None) -> Tensor:
    """Training-mode batch norm with statistics over every rank of ``group``."""
    C = input.shape[1]
    axes = (0,) + tuple(range(2, input.ndim))
    shape = (1, C) + (1,) * (input.ndim - 2)
    xp = input.xp
    count = make(xp.asarray([input.array.size // C], dtype=numpy.int64))  # on input's device
    dist.all_reduce(count, group=group)
    n = int(count.array[0])
    if n <= 1:
        raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel over all ranks "
                         f"when training, got {n} (input of shape {tuple(input.shape)} here)")
    allsum = dist.functional.all_reduce
    mean = allsum(ad.sum(input, axis=axes), group=group) / n
    centered = input - ad.reshape(mean, shape)
    var = allsum(ad.sum(centered * centered, axis=axes), group=group) / n
    out = centered * ad.reshape(1.0 / ad.sqrt(var + eps), shape)
    if weight is not None:
        out = out * ad.reshape(weight, shape)
    if bias is not None:
        out = out + ad.reshape(bias, shape)
    for stat, value in ((running_mean, mean.array), (running_var, var.array * (n / (n - 1)))):
        if stat is not None:
            stat.array[...] = ((1 - momentum) * stat.array + momentum * xp.asarray(value)
                              ).astype(stat.dtype)
            ad.increment_version(stat)
    return out


class SyncBatchNorm(_BatchNorm):
    """Batch norm over (N, C, ...) inputs with statistics over the ranks of ``process_group``
    (PyTorch's ``nn.SyncBatchNorm``)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None,
                 device=None, dtype=None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim < 2:
            raise ValueError(f"SyncBatchNorm: expected at least 2D input (N, C, ...), got shape "
                             f"{tuple(input.shape)}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: expected {self.num_features} channels (dim 1), "
                             f"got input of shape {tuple(input.shape)}")

    def _batch_norm(self, input, running_mean, running_var, weight, bias, training, momentum,
                    eps):
        if training and self.training and dist.is_initialized() and \
                dist.get_world_size(self.process_group) > 1:
            return sync_batch_norm(input, running_mean, running_var, weight, bias, momentum,
                                   eps, self.process_group)
        return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum,
                            eps)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """``module`` with every BatchNorm*d replaced by a SyncBatchNorm sharing its parameters
        and buffers."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group)
            for name in ("weight", "bias"):
                setattr(out, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(out, name, getattr(module, name))
            object.__setattr__(out, "training", module.training)
        for name, child in list(module._modules.items()):
            if child is not None:  # in place, keeping the registration order
                out._modules[name] = cls.convert_sync_batchnorm(child, process_group)
        return out
