"""``DistributedSampler``: each rank's equal, disjoint share of a dataset (PyTorch's semantics).

Every rank builds the same epoch order (a permutation seeded by ``seed + epoch`` when shuffling,
so call ``set_epoch(epoch)`` before each epoch), makes its length a multiple of the number of
replicas (padding with indices from the start of that order, or dropping the tail with
``drop_last``) and takes every ``num_replicas``-th index starting at its ``rank``.
"""
from __future__ import annotations

import math

import numpy

from .sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """Restricts a DataLoader to this rank's share of ``dataset``.

    ``num_replicas`` and ``rank`` default to the default process group's world size and rank.

    >>> s = DistributedSampler(range(10), num_replicas=3, rank=1, shuffle=False)
    >>> list(s)
    [1, 4, 7, 0]
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from .. import distributed as dist
            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas and rank, or call "
                                   "autodiff.distributed.init_process_group() first")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if int(num_replicas) <= 0:
            raise ValueError(f"DistributedSampler: num_replicas must be positive, got "
                             f"{num_replicas}")
        if not 0 <= int(rank) < int(num_replicas):
            raise ValueError(f"DistributedSampler: invalid rank {rank}, rank should be in the "
                             f"interval [0, {int(num_replicas) - 1}]")
        self.dataset = dataset
        self.n = len(dataset)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        if self.drop_last and self.n % self.num_replicas:
            self.num_samples = math.ceil((self.n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(self.n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s order (the same on every rank)."""
        self.epoch = int(epoch)

    def indices(self) -> numpy.ndarray:
        if self.shuffle:
            order = numpy.random.default_rng(self.seed + self.epoch).permutation(self.n)
        else:
            order = numpy.arange(self.n)
        if self.total_size > self.n:  # pad by repeating the order from its start
            order = numpy.resize(order, self.total_size)
        order = order[:self.total_size]
        return order[self.rank:self.total_size:self.num_replicas].astype(numpy.int64)

    def __len__(self) -> int:
        return self.num_samples
