"""``DataLoader``: mini-batches of Tensors from a dataset, shuffled reproducibly, built in the
main process or in worker processes (``num_workers``, see ``autodiff.data.workers``).

Array-backed datasets (``TensorDataset`` and ``Subset``s of it) are batched with one NumPy
fancy-indexing call per array (``dataset.get_batch(indices)``); other datasets are indexed
sample by sample and stacked by :func:`default_collate`.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterator, Sequence

import numpy

from .collate import default_collate
from .dataset import _has_batch
from .sampler import RandomSampler, Sampler, SequentialSampler, _epoch_indices
from .workers import WorkerPool, default_context, pack, unpack

__all__ = ["DataLoader", "default_collate"]


def _fetch(dataset, collate_fn: Callable | None, indices: numpy.ndarray):
    """One batch: ``get_batch`` when the dataset has it and no ``collate_fn`` is given,
    otherwise the samples one by one, collated."""
    if collate_fn is None and _has_batch(dataset):
        return dataset.get_batch(indices)
    return (collate_fn or default_collate)([dataset[int(i)] for i in indices])


def _pinned(array):
    """``array`` in page-locked host memory when it is a NumPy array and CuPy sees a GPU."""
    if not isinstance(array, numpy.ndarray):
        return array
    from ..backends import cupy_backend
    return cupy_backend.pinned_array(array)


class DataLoader:
    """Iterate over ``dataset`` in mini-batches (``torch.utils.data.DataLoader``).

    Parameters
    ----------
    dataset : a Dataset (``__getitem__``/``__len__``; ``get_batch`` enables the fast path).
    batch_size : samples per batch (the last one may be smaller unless ``drop_last``).
    shuffle : a new random order every epoch (mutually exclusive with ``sampler``).
    sampler : a Sampler (or any iterable of indices) deciding the order, e.g.
        ``class_balanced_sampler(labels)``.
    batch_sampler : yields whole batches of indices (e.g. ``BatchSampler``); excludes
        ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``.
    num_workers : 0 builds batches in this process; N > 0 in N worker processes (batches still
        come in sampler order; see ``autodiff.data.workers``).
    collate_fn : builds a batch from a list of samples (slow path only).
    pin_memory : with CuPy and a GPU, batches arrive in page-locked host memory (faster,
        asynchronous copies to the GPU); without a GPU it changes nothing.
    drop_last : drop the final incomplete batch.
    timeout : seconds to wait for a batch from the workers before raising (0: forever).
    worker_init_fn : called as ``worker_init_fn(worker_id)`` in each worker, after seeding.
    multiprocessing_context : a start method name ('fork', 'spawn', 'forkserver') or a
        context; by default 'fork' on Linux, the platform default elsewhere.
    generator : a ``numpy.random.Generator`` for the shuffle (instead of ``seed``).
    prefetch_factor : batches in flight per worker (default 2; only with workers).
    persistent_workers : keep the workers between epochs (their random state goes on).
    in_order : with workers, False yields batches as they arrive instead of in order.
    seed : seeds the shuffle: two loaders with the same seed give the same batches; without it
        (and without ``generator``) the shuffle draws from ``ad.manual_seed``'s global generator.

    Worker seeds: worker ``k`` is seeded with ``base_seed + k``. With ``seed`` or
    ``generator`` the base seed comes from a stream of its own (spawned from it), so the
    batches are the same for any ``num_workers``, every epoch, and the worker seeds are
    reproducible. Otherwise it is drawn from the global generator when workers start (after
    that epoch's shuffle), which shifts later global draws.

    >>> import numpy as np
    >>> from autodiff.data import TensorDataset, DataLoader
    >>> dl = DataLoader(TensorDataset(np.arange(10.0), np.arange(10)), batch_size=4)
    >>> [tuple(x.shape) for x, y in dl]
    [(4,), (4,), (2,)]
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False,
                 sampler: Sampler | Sequence[int] | None = None, batch_sampler=None,
                 num_workers: int = 0, collate_fn: Callable[[list], Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context=None, generator: numpy.random.Generator | None = None,
                 *, prefetch_factor: int | None = None, persistent_workers: bool = False,
                 in_order: bool = True, seed: int | None = None) -> None:
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler is mutually exclusive with "
                                 "batch_size, shuffle, sampler and drop_last")
            batch_size = None
        elif batch_size is None or int(batch_size) <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: give seed or generator, not both")
        if generator is not None and not isinstance(generator, numpy.random.Generator):
            raise TypeError(f"DataLoader: generator must be a numpy.random.Generator, got "
                            f"{type(generator).__name__}")
        if int(num_workers) < 0:
            raise ValueError(f"DataLoader: num_workers must be >= 0, got {num_workers}")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout must be >= 0, got {timeout}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor is only used with worker processes; "
                             "set num_workers > 0 or leave prefetch_factor=None")
        if prefetch_factor is not None and int(prefetch_factor) <= 0:
            raise ValueError(f"DataLoader: prefetch_factor must be positive, got {prefetch_factor}")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers=True needs num_workers > 0")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = bool(drop_last)
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.generator = generator
        self.collate_fn = collate_fn
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.timeout = float(timeout)
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = (2 if prefetch_factor is None else int(prefetch_factor)) \
            if self.num_workers else None
        self.persistent_workers = bool(persistent_workers)
        self.in_order = bool(in_order)
        if sampler is None:
            sampler = SequentialSampler(dataset)
            if shuffle:
                sampler = RandomSampler(dataset, seed=seed)
                if generator is not None:
                    sampler._gen = generator
        self.sampler = sampler
        self._seed_stream = _seed_stream(seed, generator)
        self._pool: WorkerPool | None = None

    def _num_samples(self) -> int:
        return len(self.sampler)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = self._num_samples()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batch_indices(self) -> list[numpy.ndarray]:
        """One epoch's batches as index arrays (advances the shuffle's generator)."""
        if self.batch_sampler is not None:
            return [numpy.asarray(b, dtype=numpy.int64) for b in self.batch_sampler]
        idx = _epoch_indices(self.sampler)
        bs = self.batch_size
        stop = idx.size - (idx.size % bs) if self.drop_last else idx.size
        return [idx[i:i + bs] for i in range(0, stop, bs)]

    def _pin_convert(self) -> Callable | None:
        if not self.pin_memory:
            return None
        from ..backends import cupy_backend
        return _pinned if cupy_backend.is_available() else None

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers:
            return self._worker_iter()
        return self._local_iter()

    def _local_iter(self) -> Iterator[Any]:
        convert = self._pin_convert()
        for b in self.batch_indices():
            batch = _fetch(self.dataset, self.collate_fn, b)
            yield batch if convert is None else unpack(pack(batch), convert)

    def _worker_iter(self) -> Iterator[Any]:
        batches = self.batch_indices()
        convert = self._pin_convert()
        pool = self._pool
        if pool is None:
            context = self.multiprocessing_context
            if context is None:
                context = default_context()
            elif isinstance(context, str):
                import multiprocessing
                context = multiprocessing.get_context(context)
            base_seed = int(self._seed_stream().integers(0, 2 ** 62))
            fetch = functools.partial(_fetch, self.dataset, self.collate_fn)
            pool = WorkerPool(fetch, self.dataset, self.num_workers, base_seed,
                              self.worker_init_fn, context)
            if self.persistent_workers:
                self._pool = pool
        try:
            yield from pool.epoch_batches(batches, self.prefetch_factor, self.timeout,
                                          self.in_order, convert)
        except (Exception, KeyboardInterrupt):  # not GeneratorExit: a persistent pool survives
            self._shutdown_workers()            # a loop left early
            pool.shutdown()
            raise
        finally:
            if not self.persistent_workers:
                pool.shutdown()

    def _shutdown_workers(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __del__(self) -> None:
        try:
            self._shutdown_workers()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"DataLoader(n={self._num_samples()}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, "
                f"num_workers={self.num_workers})")


def _seed_stream(seed: int | None, generator: numpy.random.Generator | None) -> Callable:
    """Where worker base seeds come from: a generator spawned from ``seed``/``generator``
    (independent of the shuffle's stream), else autodiff's global generator."""
    if seed is not None:
        own = numpy.random.default_rng(numpy.random.SeedSequence(seed).spawn(1)[0])
        return lambda: own
    if generator is not None:  # one draw, whatever num_workers is: shuffles stay identical
        own = numpy.random.default_rng(int(generator.integers(0, 2 ** 62)))
        return lambda: own
    from ..random import generator as global_generator
    return lambda: global_generator(numpy)
