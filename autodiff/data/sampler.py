"""Samplers: the order (and multiplicity) in which a DataLoader visits a dataset's indices.

Each sampler produces a whole epoch of indices as one NumPy array (``indices()``) so the loader
can slice it into batches without a Python loop; iterating a sampler yields Python ints.

Randomness: a sampler built with ``seed=`` owns a generator seeded once (successive epochs give
different but reproducible orders); without a seed it draws from autodiff's global generator, so
``ad.manual_seed`` makes runs reproducible.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy

from ..random import generator as _global_generator

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "WeightedRandomSampler",
           "ClassBalancedSampler", "class_balanced_sampler", "BatchSampler"]


def _rng(seed: int | None) -> numpy.random.Generator | None:
    return None if seed is None else numpy.random.default_rng(seed)


class Sampler:
    """Base class: ``indices()`` gives one epoch of indices as an int64 array."""

    _gen: numpy.random.Generator | None = None

    def _generator(self) -> numpy.random.Generator:
        return self._gen if self._gen is not None else _global_generator(numpy)

    def indices(self) -> numpy.ndarray:
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source) -> None:
        self.n = len(data_source)

    def indices(self) -> numpy.ndarray:
        return numpy.arange(self.n, dtype=numpy.int64)

    def __len__(self) -> int:
        return self.n


class RandomSampler(Sampler):
    """A random permutation each epoch, or ``num_samples`` draws with replacement."""

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 seed: int | None = None) -> None:
        self.n = len(data_source)
        self.replacement = bool(replacement)
        self.num_samples = int(num_samples) if num_samples is not None else self.n
        if self.num_samples <= 0:
            raise ValueError(f"RandomSampler: num_samples must be positive, got {self.num_samples}")
        if not self.replacement and self.num_samples > self.n:
            raise ValueError("RandomSampler: num_samples > dataset size needs replacement=True")
        self._gen = _rng(seed)

    def indices(self) -> numpy.ndarray:
        g = self._generator()
        if self.replacement:
            return g.integers(0, self.n, size=self.num_samples, dtype=numpy.int64)
        return g.permutation(self.n)[: self.num_samples].astype(numpy.int64)

    def __len__(self) -> int:
        return self.num_samples


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights``."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 seed: int | None = None) -> None:
        w = numpy.asarray(getattr(weights, "array", weights), dtype=numpy.float64).reshape(-1)
        if w.size == 0 or not numpy.all(numpy.isfinite(w)) or numpy.any(w < 0) or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and "
                             "not all zero")
        self.weights = w
        self.p = w / w.sum()
        self.num_samples = int(num_samples)
        if self.num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples must be positive, "
                             f"got {num_samples}")
        self.replacement = bool(replacement)
        if not self.replacement and self.num_samples > int(numpy.count_nonzero(w)):
            raise ValueError("WeightedRandomSampler: not enough non-zero weights to draw "
                             "without replacement")
        self._gen = _rng(seed)

    def indices(self) -> numpy.ndarray:
        g = self._generator()
        return g.choice(self.weights.size, size=self.num_samples, replace=self.replacement,
                        p=self.p).astype(numpy.int64)

    def __len__(self) -> int:
        return self.num_samples


class ClassBalancedSampler(WeightedRandomSampler):
    """Draws every class equally often in expectation: sample weight = 1 / (its class count).

    For imbalanced data (e.g. 90/10) each mini-batch then holds about as many minority as
    majority samples. ``num_samples`` defaults to the dataset size (one "epoch").
    """

    def __init__(self, labels, num_samples: int | None = None, replacement: bool = True,
                 seed: int | None = None) -> None:
        y = numpy.asarray(getattr(labels, "array", labels)).reshape(-1)
        if y.size == 0:
            raise ValueError("ClassBalancedSampler: labels are empty")
        classes, inverse, counts = numpy.unique(y, return_inverse=True, return_counts=True)
        self.classes = classes
        self.class_counts = counts
        weights = 1.0 / counts[inverse]
        super().__init__(weights, num_samples if num_samples is not None else y.size,
                         replacement=replacement, seed=seed)


def class_balanced_sampler(labels, num_samples: int | None = None, replacement: bool = True,
                           seed: int | None = None) -> ClassBalancedSampler:
    """A :class:`ClassBalancedSampler` for integer ``labels`` (array, list or Tensor)."""
    return ClassBalancedSampler(labels, num_samples=num_samples, replacement=replacement, seed=seed)


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of ``batch_size``."""

    def __init__(self, sampler: Sampler, batch_size: int, drop_last: bool = False) -> None:
        if int(batch_size) <= 0:
            raise ValueError(f"BatchSampler: batch_size must be positive, got {batch_size}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)

    def batches(self) -> list[numpy.ndarray]:
        idx = _epoch_indices(self.sampler)
        n = idx.size - (idx.size % self.batch_size if self.drop_last else 0)
        return [idx[i:i + self.batch_size] for i in range(0, n, self.batch_size)]

    def __iter__(self):
        return (b.tolist() for b in self.batches())

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def _epoch_indices(sampler) -> numpy.ndarray:
    """One epoch of indices from any sampler (ours give an array; any iterable works)."""
    if isinstance(sampler, Sampler):
        return numpy.asarray(sampler.indices(), dtype=numpy.int64)
    return numpy.fromiter((int(i) for i in sampler), dtype=numpy.int64)
