"""``parameters_to_vector`` and ``vector_to_parameters`` (PyTorch's ``torch.nn.utils``)."""
from __future__ import annotations

from collections.abc import Iterable

import autodiff as ad
from autodiff import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _same_device(params: list, op: str) -> None:
    devices = {str(p.device) for p in params}
    if len(devices) > 1:
        raise TypeError(f"{op}: found parameters on different devices ({', '.join(sorted(devices))}); "
                        f"move them to one device first")


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    _same_device(params, "parameters_to_vector")
    return ad.cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Give each parameter, in order, the next ``p.numel()`` entries of the 1-D ``vec`` as its
    data (as PyTorch does through ``p.data``: the parameters then share ``vec``'s storage;
    nothing is recorded and the version counters do not change)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected vec to be a Tensor, but got "
                        f"{type(vec).__name__}")
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    _same_device(params + [vec], "vector_to_parameters")
    need = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != need:
        raise ValueError(f"vector_to_parameters: vec must be 1-D with {need} elements (the "
                         f"parameters' total), got shape {tuple(vec.shape)}")
    start = 0
    for p in params:
        n = p.numel()
        p.array = vec.array[start:start + n].reshape(p.array.shape)   # a view of vec's data
        start += n
