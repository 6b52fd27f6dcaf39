"""``DataLoader``: mini-batches of Tensors from a dataset, shuffled reproducibly.

Array-backed datasets (``TensorDataset`` and ``Subset``s of it) are batched with one NumPy
fancy-indexing call per array (``dataset.get_batch(indices)``); other datasets are indexed
sample by sample and stacked by :func:`default_collate`.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy

from .. import dtypes
from ..backends import get_array_module
from ..tensor import Tensor, make
from .dataset import _has_batch
from .sampler import RandomSampler, Sampler, SequentialSampler, _epoch_indices

__all__ = ["DataLoader", "default_collate"]


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
        xp = get_array_module(first.data)
        return make(xp.stack([s.data for s in samples]))
    if hasattr(first, "__array_interface__") or hasattr(first, "__cuda_array_interface__"):
        xp = get_array_module(first)
        return make(xp.stack([xp.asarray(s) for s in samples]))
    if isinstance(first, (bool, int, float, numpy.generic)):
        return make(dtypes.to_array(list(samples)))
    return list(samples)


class DataLoader:
    """Iterate over ``dataset`` in mini-batches.

    Parameters
    ----------
    dataset : a Dataset (``__getitem__``/``__len__``; ``get_batch`` enables the fast path).
    batch_size : samples per batch (the last one may be smaller unless ``drop_last``).
    shuffle : a new random order every epoch (mutually exclusive with ``sampler``).
    drop_last : drop the final incomplete batch.
    sampler : a Sampler (or any iterable of indices) deciding the order, e.g.
        ``class_balanced_sampler(labels)``.
    seed : seeds the shuffle: two loaders with the same seed give the same batches; without it
        the shuffle draws from ``ad.manual_seed``'s global generator.
    collate_fn : builds a batch from a list of samples (slow path only).

    >>> import numpy as np
    >>> from autodiff.data import TensorDataset, DataLoader
    >>> dl = DataLoader(TensorDataset(np.arange(10.0), np.arange(10)), batch_size=4)
    >>> [tuple(x.shape) for x, y in dl]
    [(4,), (4,), (2,)]
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, sampler: Sampler | Sequence[int] | None = None,
                 seed: int | None = None,
                 collate_fn: Callable[[list], Any] | None = None) -> None:
        if batch_size is None or int(batch_size) <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.collate_fn = collate_fn
        if sampler is None:
            sampler = RandomSampler(dataset, seed=seed) if shuffle else SequentialSampler(dataset)
        self.sampler = sampler

    def _num_samples(self) -> int:
        return len(self.sampler)

    def __len__(self) -> int:
        n = self._num_samples()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batch_indices(self) -> list[numpy.ndarray]:
        """One epoch's batches as index arrays (advances the shuffle's generator)."""
        idx = _epoch_indices(self.sampler)
        bs = self.batch_size
        stop = idx.size - (idx.size % bs) if self.drop_last else idx.size
        return [idx[i:i + bs] for i in range(0, stop, bs)]

    def __iter__(self) -> Iterator[Any]:
        fast = self.collate_fn is None and _has_batch(self.dataset)
        for b in self.batch_indices():
            if fast:
                yield self.dataset.get_batch(b)
            else:
                collate = self.collate_fn or default_collate
                yield collate([self.dataset[int(i)] for i in b])

    def __repr__(self) -> str:
        return (f"DataLoader(n={self._num_samples()}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")
