"""Random splits of a dataset: ``random_split`` (lengths or fractions), ``train_val_test_split``.

Fractions such as ``[0.7, 0.2, 0.1]`` are turned into lengths by flooring and handing the
remaining samples out one each, round-robin, from the first part (as PyTorch does), so the
lengths always add up to the dataset size.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy

from ..random import generator as _global_generator
from .dataset import Dataset, Subset, TensorDataset

__all__ = ["random_split", "train_val_test_split", "split_lengths", "split_indices"]


def split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """Integer lengths summing to ``n`` from integer lengths or fractions summing to 1."""
    lengths = list(lengths)
    if not lengths:
        raise ValueError("split: give at least one length")
    if all(isinstance(x, (int, numpy.integer)) for x in lengths):
        out = [int(x) for x in lengths]
        if any(x < 0 for x in out):
            raise ValueError(f"split: lengths must be non-negative, got {out}")
        if sum(out) != n:
            raise ValueError(f"split: lengths {out} sum to {sum(out)}, but the dataset has "
                             f"{n} samples")
        return out
    fr = [float(x) for x in lengths]
    if any(f < 0 or f > 1 for f in fr) or not math.isclose(sum(fr), 1.0, abs_tol=1e-6):
        raise ValueError(f"split: fractions must lie in [0, 1] and sum to 1, got {fr}")
    out = [int(math.floor(n * f)) for f in fr]
    for i in range(n - sum(out)):
        out[i % len(out)] += 1
    return out


def _gen(seed: int | None) -> numpy.random.Generator:
    return numpy.random.default_rng(seed) if seed is not None else _global_generator(numpy)


def split_indices(n: int, lengths: Sequence[float], seed: int | None = None,
                  stratify=None, shuffle: bool = True) -> list[numpy.ndarray]:
    """Index arrays of the parts. ``stratify`` (labels) keeps each class's proportion in every
    part; ``shuffle=False`` gives contiguous parts in order."""
    sizes = split_lengths(n, lengths)
    g = _gen(seed)
    if stratify is None:
        perm = g.permutation(n) if shuffle else numpy.arange(n)
        bounds = numpy.cumsum([0] + sizes)
        return [perm[bounds[i]:bounds[i + 1]].astype(numpy.int64) for i in range(len(sizes))]
    y = numpy.asarray(getattr(stratify, "array", stratify)).reshape(-1)
    if y.size != n:
        raise ValueError(f"split: stratify has {y.size} labels for {n} samples")
    fractions = [s / n for s in sizes] if n else [1.0 / len(sizes)] * len(sizes)
    parts: list[list[numpy.ndarray]] = [[] for _ in sizes]
    for c in numpy.unique(y):
        idx = numpy.flatnonzero(y == c)
        if shuffle:
            idx = g.permutation(idx)
        csizes = split_lengths(idx.size, _normalise(fractions))
        bounds = numpy.cumsum([0] + csizes)
        for i in range(len(sizes)):
            parts[i].append(idx[bounds[i]:bounds[i + 1]])
    out = []
    for p in parts:
        cat = numpy.concatenate(p).astype(numpy.int64) if p else numpy.zeros(0, numpy.int64)
        out.append(g.permutation(cat) if shuffle else numpy.sort(cat))
    return out


def _normalise(fr: list[float]) -> list[float]:
    s = sum(fr)
    return [f / s for f in fr]


def random_split(dataset: Dataset, lengths: Sequence[float], seed: int | None = None,
                 stratify=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random ``Subset``s of the given lengths or
    fractions (e.g. ``[0.7, 0.2, 0.1]``); ``seed`` makes the split reproducible."""
    return [Subset(dataset, idx)
            for idx in split_indices(len(dataset), lengths, seed=seed, stratify=stratify)]


def train_val_test_split(data, fractions: Sequence[float] = (0.7, 0.2, 0.1),
                         seed: int | None = None, stratify=None,
                         shuffle: bool = True) -> tuple[Subset, Subset, Subset]:
    """(train, validation, test) Subsets of ``data`` (a Dataset, or arrays/Tensors that are
    wrapped in a TensorDataset), 70/20/10 by default."""
    if len(fractions) != 3:
        raise ValueError(f"train_val_test_split: give three fractions, got {list(fractions)}")
    if not isinstance(data, Dataset):
        data = TensorDataset(*data) if isinstance(data, (tuple, list)) else TensorDataset(data)
    parts = split_indices(len(data), fractions, seed=seed, stratify=stratify, shuffle=shuffle)
    return tuple(Subset(data, p) for p in parts)  # type: ignore[return-value]
