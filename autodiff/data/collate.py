"""``default_collate``: a list of samples stacked into one batch (PyTorch's name), shared by
the loader and by datasets without a batched ``get_batch`` of their own."""
from __future__ import annotations

from typing import Any, Sequence

import numpy

from .. import dtypes
from ..backends import get_array_module
from ..tensor import Tensor, make

__all__ = ["default_collate"]


def default_collate(samples: Sequence[Any]):
    """Stack a list of samples into a batch: tuples/lists/dicts collate field by field;
    Tensors, arrays and Python numbers stack along a new first axis into a Tensor."""
    if len(samples) == 0:
        raise ValueError("default_collate: empty batch")
    first = samples[0]
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, (tuple, list)):
        n = len(first)
        if any(len(s) != n for s in samples):
            raise ValueError("default_collate: samples have different numbers of fields")
        return tuple(default_collate([s[i] for s in samples]) for i in range(n))
    if isinstance(first, Tensor):
        xp = get_array_module(first.array)
        return make(xp.stack([s.array for s in samples]))
    if hasattr(first, "__array_interface__") or hasattr(first, "__cuda_array_interface__"):
        xp = get_array_module(first)
        return make(xp.stack([xp.asarray(s) for s in samples]))
    if isinstance(first, (bool, int, float, numpy.generic)):
        return make(dtypes.to_array(list(samples)))
    return list(samples)
