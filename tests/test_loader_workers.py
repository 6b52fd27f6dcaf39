"""DataLoader with worker processes: the same batches as in the main process, worker seeds,
worker_init_fn, errors and dead workers re-raised, timeouts, persistent workers, pinning."""
from __future__ import annotations

import os
import random
import time

import numpy as np
import pytest

import autodiff as ad
from autodiff.backends import cupy_backend
from autodiff.data import (BatchSampler, DataLoader, Dataset, SequentialSampler, TensorDataset,
                           get_worker_info)


# Datasets live at module level so the 'spawn' start method can pickle them.
class Squares(Dataset):
    """Sample i is (i, i^2) as float64 / int64 arrays (the per-sample, collated path)."""

    def __init__(self, n: int = 23, fail_at: int = -1, exit_at: int = -1, sleep_at: int = -1,
                 slow_worker: int = -1) -> None:
        self.n, self.fail_at, self.exit_at, self.sleep_at = n, fail_at, exit_at, sleep_at
        self.slow_worker = slow_worker

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        info = get_worker_info()
        if i == self.fail_at:
            raise ValueError(f"bad sample {i}")
        if i == self.exit_at:
            os._exit(7)
        if i == self.sleep_at:
            time.sleep(30)
        if info is not None and info.id == self.slow_worker:
            time.sleep(0.01)   # this worker finishes after the other: order is restored
        return np.array([float(i)]), np.int64(i * i)


class Probe(Dataset):
    """What each worker sees: its id and seed, its pid, the value worker_init_fn left, and
    the first draw of each generator a dataset might use."""

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i):
        info = get_worker_info()
        return (info.id, info.seed, os.getpid(), _INIT.get("value", -1), random.random(),
                float(np.random.rand()), float(ad.rand(1, dtype="float64").item()))


_INIT: dict = {}


def _init(worker_id: int) -> None:
    _INIT["value"] = 100 + worker_id


def _failing_init(worker_id: int) -> None:
    raise RuntimeError(f"init of worker {worker_id} failed")


def _arrays(batches):
    return [tuple(t.numpy().tolist() for t in b) for b in batches]


def _epochs(loader, n: int = 3):
    return [_arrays(loader) for _ in range(n)]


def _tensor_dataset(n: int = 37):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return TensorDataset(x, np.arange(n) % 5)


@pytest.mark.parametrize("make", [_tensor_dataset, Squares])
def test_two_workers_give_the_batches_of_the_main_process(make):
    ds = make()
    ref = _epochs(DataLoader(ds, batch_size=4, shuffle=True, seed=11))
    assert ref[0] != ref[1]                              # a new order every epoch
    assert sorted(sum((list(b[1]) for b in ref[0]), [])) == sorted(
        (np.arange(len(ds)) % 5).tolist() if make is _tensor_dataset
        else [i * i for i in range(len(ds))])            # each sample exactly once
    for kw in (dict(num_workers=2), dict(num_workers=3, prefetch_factor=1),
               dict(num_workers=2, persistent_workers=True)):
        assert _epochs(DataLoader(ds, batch_size=4, shuffle=True, seed=11, **kw)) == ref, kw
    # a seeded numpy Generator instead of seed=: also independent of num_workers
    with_gen = [_epochs(DataLoader(ds, batch_size=4, shuffle=True, num_workers=w,
                                   generator=np.random.default_rng(5))) for w in (0, 2)]
    assert with_gen[0] == with_gen[1]


def test_batches_come_in_sampler_order_when_a_worker_is_slow():
    ds = Squares(n=12, slow_worker=0)
    got = _arrays(DataLoader(ds, batch_size=2, num_workers=2))
    assert [b[1] for b in got] == [[4 * k * k, (2 * k + 1) ** 2] for k in range(6)]
    unordered = _arrays(DataLoader(ds, batch_size=2, num_workers=2, in_order=False))
    assert sorted(unordered) == sorted(got)


def test_batch_sampler_with_workers():
    ds = Squares(n=10)
    bs = BatchSampler(SequentialSampler(ds), 3, drop_last=False)
    loader = DataLoader(ds, batch_sampler=bs, num_workers=2)
    assert len(loader) == 4
    assert [b[1] for b in _arrays(loader)] == [[0, 1, 4], [9, 16, 25], [36, 49, 64], [81]]


def test_worker_seeds_differ_are_reproducible_and_seed_every_generator():
    def run(seed, persistent=False, epochs=1):
        dl = DataLoader(Probe(), batch_size=1, num_workers=2, seed=seed, worker_init_fn=_init,
                        persistent_workers=persistent, collate_fn=lambda s: s[0])
        return [list(dl) for _ in range(epochs)]

    (first,) = run(3)
    ids = [r[0] for r in first]
    assert ids == [0, 1, 0, 1, 0, 1]                     # batch i is built by worker i % 2
    seeds = {r[0]: r[1] for r in first}
    assert seeds[1] == seeds[0] + 1                      # base_seed + worker_id
    assert [r[3] for r in first] == [100, 101] * 3       # worker_init_fn ran in each worker
    assert _INIT == {} and get_worker_info() is None     # ... and not in this process
    assert os.getpid() not in {r[2] for r in first}
    for k in (0, 1):                                     # the first draw of each generator
        row = first[k]
        assert row[4] == random.Random(row[1]).random()
        assert row[5] == np.random.RandomState(row[1] % 2 ** 32).rand()
        assert row[6] == np.random.default_rng(row[1]).random()
    def no_pid(rows):
        return [r[:2] + r[3:] for r in rows]

    assert no_pid(run(3)[0]) == no_pid(first)            # reproducible
    assert {r[1] for r in run(4)[0]}.isdisjoint(seeds.values())
    # non-persistent workers get a new base seed each epoch; persistent ones keep theirs and
    # their generators go on
    e1, e2 = run(3, epochs=2)
    assert no_pid(e1) == no_pid(first) and {r[1] for r in e2} != {r[1] for r in e1}
    p1, p2 = run(3, persistent=True, epochs=2)
    assert [r[1] for r in p1] == [r[1] for r in p2] and [r[4] for r in p1] != [r[4] for r in p2]


def test_persistent_workers_survive_epochs_and_early_breaks():
    ds = Probe()
    keep = DataLoader(ds, batch_size=2, num_workers=2, persistent_workers=True,
                      collate_fn=lambda s: [r[2] for r in s])
    pids = [set(sum(list(keep), [])) for _ in range(2)]
    assert len(pids[0]) == 2 and pids[0] == pids[1]
    for _ in keep:                                       # leave an epoch after one batch
        break
    assert set(sum(list(keep), [])) == pids[0]
    fresh = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=lambda s: [r[2] for r in s])
    assert set(sum(list(fresh), [])).isdisjoint(set(sum(list(fresh), [])))
    keep._shutdown_workers()

    ds = Squares(n=30)
    ref = _epochs(DataLoader(ds, batch_size=3, shuffle=True, seed=2), 3)
    dl = DataLoader(ds, batch_size=3, shuffle=True, seed=2, num_workers=2,
                    persistent_workers=True)
    got = [_arrays(dl)]
    it = iter(dl)
    got.append(_arrays([next(it)]))                      # epoch 2 abandoned after one batch
    del it
    got.append(_arrays(dl))                              # stale results are discarded
    assert got[0] == ref[0] and got[1] == ref[1][:1] and got[2] == ref[2]


def test_worker_exception_is_raised_with_worker_batch_and_message():
    dl = DataLoader(Squares(n=12, fail_at=5), batch_size=2, num_workers=2)
    with pytest.raises(ValueError, match=r"(?s)worker process 0 while loading batch 2\..*"
                                         r"ValueError: bad sample 5"):
        list(dl)
    dl = DataLoader(Squares(n=4), batch_size=2, num_workers=2, worker_init_fn=_failing_init)
    with pytest.raises(RuntimeError, match=r"(?s)in worker_init_fn of DataLoader worker "
                                           r"process 0.*init of worker 0 failed"):
        list(dl)

    class LocalError(Exception):          # not picklable by name: arrives as RuntimeError
        pass

    class Raises(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise LocalError("local trouble") if i else KeyError("missing key")

    # the first failing batch in sampler order is the one raised
    with pytest.raises(KeyError, match=r"(?s)worker process 0 while loading batch 0.*missing"):
        list(DataLoader(Raises(), num_workers=2))
    with pytest.raises(RuntimeError, match=r"(?s)Caught LocalError in DataLoader worker "
                                           r"process 0 while loading batch 0.*local trouble"):
        list(DataLoader(Raises(), sampler=[1, 0], num_workers=2))


def test_persistent_pool_is_shut_down_after_an_error():
    dl = DataLoader(Squares(n=8, fail_at=3), batch_size=2, num_workers=2,
                    persistent_workers=True)
    with pytest.raises(ValueError, match="bad sample 3"):
        list(dl)
    assert dl._pool is None


def test_dead_worker_and_timeout():
    with pytest.raises(RuntimeError, match=r"DataLoader worker 1 \(pid \d+\) exited "
                                           r"unexpectedly with exit code 7"):
        list(DataLoader(Squares(n=8, exit_at=3), batch_size=1, num_workers=2))
    with pytest.raises(RuntimeError, match=r"timed out after 0.3 seconds waiting for batch 0 "
                                           r"\(worker 0\)"):
        list(DataLoader(Squares(n=4, sleep_at=0), batch_size=1, num_workers=2, timeout=0.3))


def test_spawn_start_method():
    ds = _tensor_dataset(11)
    ref = _arrays(DataLoader(ds, batch_size=4, shuffle=True, seed=1))
    got = _arrays(DataLoader(ds, batch_size=4, shuffle=True, seed=1, num_workers=2,
                             multiprocessing_context="spawn"))
    assert got == ref


class _Pinned(np.ndarray):
    """Marks the arrays a stand-in pinning function produced."""


def test_pin_memory(monkeypatch):
    ds = _tensor_dataset(9)
    ref = _arrays(DataLoader(ds, batch_size=4))
    if not cupy_backend.is_available():                  # no GPU: nothing changes
        for w in (0, 2):
            batches = list(DataLoader(ds, batch_size=4, pin_memory=True, num_workers=w))
            assert _arrays(batches) == ref
            assert all(type(t.array) is np.ndarray for b in batches for t in b)
    # with a GPU every array of every batch goes through backends' pinning
    monkeypatch.setattr(cupy_backend, "is_available", lambda: True)
    monkeypatch.setattr(cupy_backend, "pinned_array", lambda a: np.array(a).view(_Pinned))
    for w in (0, 2):
        batches = list(DataLoader(ds, batch_size=4, pin_memory=True, num_workers=w))
        assert _arrays(batches) == ref
        assert all(type(t.array) is _Pinned for b in batches for t in b)


@pytest.mark.skipif(not cupy_backend.is_available(), reason="CuPy or a CUDA GPU is absent")
def test_pinned_array_is_page_locked():
    import cupy
    a = np.arange(12.0).reshape(3, 4)
    p = cupy_backend.pinned_array(a)
    np.testing.assert_array_equal(p, a)
    attrs = cupy.cuda.runtime.pointerGetAttributes(p.ctypes.data)
    assert attrs.type == cupy.cuda.runtime.memoryTypeHost


def test_bad_arguments():
    ds = _tensor_dataset(4)
    cases = [
        (dict(num_workers=-1), "num_workers must be >= 0"),
        (dict(prefetch_factor=2), "prefetch_factor is only used with worker processes"),
        (dict(num_workers=1, prefetch_factor=0), "prefetch_factor must be positive"),
        (dict(persistent_workers=True), "persistent_workers=True needs num_workers > 0"),
        (dict(timeout=-1), "timeout must be >= 0"),
        (dict(seed=1, generator=np.random.default_rng(1)), "seed or generator, not both"),
        (dict(batch_sampler=[[0, 1]], shuffle=True), "batch_sampler is mutually exclusive"),
    ]
    for kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            DataLoader(ds, **kw)
    with pytest.raises(TypeError, match="numpy.random.Generator, got int"):
        DataLoader(ds, generator=3)
