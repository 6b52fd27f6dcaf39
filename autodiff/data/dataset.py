"""Datasets: the ``Dataset`` protocol, array-backed ``TensorDataset``, ``Subset`` and ``ConcatDataset``.

A dataset maps an integer index to a sample (usually a tuple ``(x, y)``) and knows its length.
Array-backed datasets also implement ``get_batch(indices)``, which indexes every array at once
with an integer array; :class:`~autodiff.data.DataLoader` uses it to build a whole mini-batch
with one NumPy fancy-indexing call instead of a per-sample Python loop.
"""
from __future__ import annotations

import bisect
from typing import Any, Sequence

import numpy

from .. import dtypes
from ..tensor import Tensor, make
from .collate import default_collate

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset"]


class Dataset:
    """Base class: subclasses define ``__getitem__(index)`` and ``__len__()``.

    Optionally ``get_batch(indices)`` (an integer array) returning the collated batch; when
    present the DataLoader calls it instead of indexing sample by sample.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


def _as_array(x):
    """A backend array for ``x`` (Tensors give their data, arrays are kept without copying)."""
    if isinstance(x, Tensor):
        return x.array
    if hasattr(x, "__array_interface__") or hasattr(x, "__cuda_array_interface__"):
        return x
    return dtypes.to_array(x)


class TensorDataset(Dataset):
    """Samples are the ``i``-th rows of the given tensors/arrays (all with the same first dim).

    >>> import numpy as np
    >>> ds = TensorDataset(np.zeros((5, 3)), np.arange(5))
    >>> len(ds), ds[2][1].item()
    (5, 2)
    """

    def __init__(self, *tensors) -> None:
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor")
        self.arrays = tuple(_as_array(t) for t in tensors)
        n = self.arrays[0].shape[0] if self.arrays[0].ndim else None
        for i, a in enumerate(self.arrays):
            if a.ndim == 0 or a.shape[0] != n:
                raise ValueError(f"TensorDataset: every tensor needs the same first dimension; "
                                 f"tensor 0 has {n} rows, tensor {i} has shape {tuple(a.shape)}")
        self._n = int(n)

    @property
    def tensors(self) -> tuple:
        """The stored data as Tensors (sharing memory)."""
        return tuple(make(a) for a in self.arrays)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):
        if isinstance(index, (int, numpy.integer)):
            index = int(index)
            if not -self._n <= index < self._n:
                raise IndexError(f"TensorDataset: index {index} out of range for {self._n} samples")
            return tuple(make(a[index]) for a in self.arrays)
        return self.get_batch(index)

    def get_batch(self, indices) -> tuple:
        """All samples at ``indices`` (ints, a slice, a mask) at once: one fancy-indexing call
        per stored array."""
        if isinstance(indices, slice):
            indices = numpy.arange(self._n)[indices]
        idx = numpy.asarray(indices)
        out = []
        for a in self.arrays:
            xp_idx = idx if isinstance(a, numpy.ndarray) else _to_xp(idx, a)
            out.append(make(a[xp_idx]))
        return tuple(out)

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(a.shape)) for a in self.arrays)
        return f"TensorDataset({shapes})"


def _to_xp(idx: numpy.ndarray, like):
    from ..backends import get_array_module
    return get_array_module(like).asarray(idx)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (in that order)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = numpy.asarray(indices, dtype=numpy.int64).reshape(-1)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices out of range for a dataset of {n} samples")

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, index):
        if isinstance(index, (int, numpy.integer)):
            return self.dataset[int(self.indices[index])]
        return self.get_batch(index)

    @property
    def has_batch(self) -> bool:
        return _has_batch(self.dataset)

    def get_batch(self, indices):
        mapped = self.indices[indices if isinstance(indices, slice) else numpy.asarray(indices)]
        if _has_batch(self.dataset):
            return self.dataset.get_batch(mapped)
        return default_collate([self.dataset[int(i)] for i in mapped])

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {self.dataset!r})"


class ConcatDataset(Dataset):
    """The datasets one after another."""

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: give at least one dataset")
        self.cumulative_sizes = numpy.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, index: int):
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"ConcatDataset: index out of range for {len(self)} samples")
        k = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[k - 1] if k else 0
        return self.datasets[k][index - start]


def _has_batch(dataset) -> bool:
    """Whether ``dataset.get_batch`` is usable (Subsets ask their parent)."""
    if isinstance(dataset, Subset):
        return dataset.has_batch
    return callable(getattr(dataset, "get_batch", None))
