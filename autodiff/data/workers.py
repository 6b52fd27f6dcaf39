"""Worker processes for ``DataLoader(num_workers=N)``, as PyTorch's.

Each worker is a process (``fork`` on Linux, else the platform's default start method) that
receives ``(epoch, batch number, indices)`` on its own queue, builds the batch
(``get_batch`` or per-sample indexing + collate) and sends it back on one shared result queue.
Batch ``i`` always goes to worker ``i % N``, so with a seeded loader every batch is built by the
same worker with the same random state on every run. The main process keeps at most
``prefetch_factor * N`` batches in flight and re-orders what comes back, so batches are
yielded in sampler order whichever worker finishes first.

Seeds: worker ``k`` seeds Python's ``random``, NumPy's legacy global generator and autodiff's
generator (``ad.manual_seed``) with ``base_seed + k`` before ``worker_init_fn(k)`` runs
(PyTorch's scheme); :func:`get_worker_info` tells code running in a worker its id, the number
of workers, its seed and its copy of the dataset.

Data crosses the process boundary as arrays: Tensors are unwrapped to their arrays in the
worker and wrapped again in the main process (the queues pickle the arrays; nothing is read
from files). An exception in a worker is re-raised in the main process, of the same type
when possible, naming the worker and the batch and carrying the worker's traceback; a worker
that dies (killed, ``os._exit``) raises ``RuntimeError`` with its exit code.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import random
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy

from ..tensor import Tensor, make

__all__ = ["WorkerInfo", "get_worker_info"]

_STATUS_INTERVAL = 0.25   # seconds between checks that workers (and the parent) are alive


@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` returns inside a worker process."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker process: its :class:`WorkerInfo`; in the main process: None."""
    return _worker_info


def default_context():
    """'fork' where the platform has it and it is the safe choice (Linux: fast start, the
    dataset is shared, not pickled); elsewhere the platform default ('spawn' on macOS/Windows)."""
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


# ------------------------------------------------------------------------------ transport
class _Packed:
    """A Tensor's array on its way between processes."""

    __slots__ = ("array",)

    def __init__(self, array) -> None:
        self.array = array

    def __reduce__(self):
        return (_Packed, (self.array,))


def pack(obj):
    """Tensors -> their arrays, through tuples, lists and dicts."""
    if isinstance(obj, Tensor):
        return _Packed(obj.array)
    if isinstance(obj, (tuple, list)):
        return type(obj)(pack(v) for v in obj)
    if isinstance(obj, dict):
        return {k: pack(v) for k, v in obj.items()}
    return obj


def unpack(obj, convert: Callable | None = None):
    """The inverse of :func:`pack`; ``convert`` (e.g. pinning) is applied to every array."""
    if isinstance(obj, _Packed):
        return make(obj.array if convert is None else convert(obj.array))
    if isinstance(obj, (tuple, list)):
        return type(obj)(unpack(v, convert) for v in obj)
    if isinstance(obj, dict):
        return {k: unpack(v, convert) for k, v in obj.items()}
    return obj


class RemoteError:
    """An exception raised in a worker, carried to the main process and raised there."""

    def __init__(self, exc: BaseException, where: str) -> None:
        self.type_name = type(exc).__name__
        self.where = where
        self.text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            pickle.loads(pickle.dumps(type(exc)))
            self.exc_type = type(exc)
        except Exception:  # a class pickle cannot find by name (defined in a function)
            self.exc_type = None

    def exception(self) -> BaseException:
        msg = f"Caught {self.type_name} {self.where}.\nOriginal {self.text}"
        if self.exc_type is KeyError:  # KeyError's str() is the repr of its argument
            return KeyError(_KeyErrorMessage(msg))
        if self.exc_type is not None:
            try:
                return self.exc_type(msg)
            except Exception:
                pass
        return RuntimeError(msg)


class _KeyErrorMessage(str):
    """A message that KeyError shows as written (PyTorch's KeyErrorMessage)."""

    def __repr__(self) -> str:
        return str(self)


# ------------------------------------------------------------------------------ worker side
def seed_worker(seed: int) -> None:
    """Seed every generator a dataset might draw from in this process."""
    from ..random import manual_seed
    random.seed(seed)
    numpy.random.seed(seed % 2 ** 32)
    manual_seed(seed)


def _worker_loop(fetch: Callable, index_queue, result_queue, worker_id: int, num_workers: int,
                 seed: int, dataset, init_fn: Callable | None, parent_pid: int) -> None:
    global _worker_info
    try:
        seed_worker(seed)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        init_error = None
        if init_fn is not None:
            try:
                init_fn(worker_id)
            except Exception as e:
                init_error = RemoteError(e, f"in worker_init_fn of DataLoader worker process "
                                            f"{worker_id}")
        while True:
            try:
                task = index_queue.get(timeout=_STATUS_INTERVAL * 4)
            except queue.Empty:
                if os.getppid() != parent_pid:  # the main process is gone
                    break
                continue
            if task is None:
                break
            epoch, i, indices = task
            if init_error is not None:
                result_queue.put((epoch, i, None, init_error))
                continue
            try:
                result_queue.put((epoch, i, pack(fetch(indices)), None))
            except Exception as e:
                where = f"in DataLoader worker process {worker_id} while loading batch {i}"
                result_queue.put((epoch, i, None, RemoteError(e, where)))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the main one reports
        pass
    result_queue.cancel_join_thread()
    index_queue.cancel_join_thread()


# ------------------------------------------------------------------------------ main side
class WorkerPool:
    """``num_workers`` processes serving batches to one DataLoader (kept across epochs when
    ``persistent_workers``)."""

    def __init__(self, fetch: Callable, dataset, num_workers: int, base_seed: int,
                 init_fn: Callable | None, context) -> None:
        self.num_workers = num_workers
        self.base_seed = base_seed
        self.epoch = 0
        self.result_queue = context.Queue()
        self.index_queues = []
        self.workers = []
        for k in range(num_workers):
            q = context.Queue()
            p = context.Process(target=_worker_loop, name=f"DataLoader worker {k}",
                                args=(fetch, q, self.result_queue, k, num_workers,
                                      base_seed + k, dataset, init_fn, os.getpid()),
                                daemon=True)
            p.start()
            self.index_queues.append(q)
            self.workers.append(p)

    def epoch_batches(self, batches: list, prefetch: int, timeout: float, in_order: bool,
                      convert: Callable | None) -> Iterator[Any]:
        """Yield the batches built from ``batches`` (index arrays), in order unless
        ``in_order`` is False (then as they arrive)."""
        self.epoch += 1
        epoch, n, sent, done = self.epoch, len(batches), 0, 0
        waiting: dict[int, Any] = {}

        def send() -> None:
            nonlocal sent
            self.index_queues[sent % self.num_workers].put((epoch, sent, batches[sent]))
            sent += 1

        while sent < min(n, prefetch * self.num_workers):
            send()
        next_i = 0
        while done < n:
            if in_order and next_i in waiting:
                data, err = waiting.pop(next_i)
                next_i += 1
            else:
                e, i, data, err = self._get(timeout, next_i)
                if e != epoch:       # left over from an epoch abandoned mid-way
                    continue
                if in_order:         # errors too wait for their turn, as in PyTorch
                    if i != next_i:
                        waiting[i] = (data, err)
                        continue
                    next_i += 1
            if err is not None:
                self.shutdown(force=True)
                raise err.exception()
            done += 1
            if sent < n:
                send()
            yield unpack(data, convert)

    def _get(self, timeout: float, batch: int):
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while True:
            wait = _STATUS_INTERVAL
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    self.shutdown(force=True)
                    raise RuntimeError(f"DataLoader timed out after {timeout} seconds waiting "
                                       f"for batch {batch} (worker {batch % self.num_workers})")
            try:
                return self.result_queue.get(timeout=wait)
            except queue.Empty:
                self._check_alive()

    def _check_alive(self) -> None:
        for k, p in enumerate(self.workers):
            if not p.is_alive():
                code = p.exitcode
                self.shutdown(force=True)
                raise RuntimeError(f"DataLoader worker {k} (pid {p.pid}) exited unexpectedly "
                                   f"with exit code {code}")

    def shutdown(self, force: bool = False) -> None:
        """Stop the workers (asked to finish, or at once with ``force``: after an error they
        may be stuck in the dataset) and close the queues."""
        if not self.workers:
            return
        for q, p in zip(self.index_queues, self.workers):
            if force and p.is_alive():
                p.terminate()
            elif p.is_alive():
                try:
                    q.put(None)
                except (OSError, ValueError):
                    pass
        for p in self.workers:
            p.join(timeout=2.0)
            if p.is_alive():
                p.terminate()
                p.join()
        for q in self.index_queues + [self.result_queue]:
            q.cancel_join_thread()
            q.close()
        self.workers = []

    def __del__(self) -> None:
        try:
            self.shutdown()
        except Exception:
            pass
