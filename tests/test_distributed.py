"""``autodiff.distributed``, ``nn.parallel.DistributedDataParallel``, ``nn.SyncBatchNorm`` and
``data.DistributedSampler``.

The multi-process tests launch ``mpiexec -n 2 python tests/mpi_scenarios.py`` themselves (one
job runs every scenario; each failure scenario is a job of its own) and check the pickled
results here: collectives against NumPy reductions of the ranks' inputs, and 20 steps of DDP
on 2 ranks with half batches against single-process training on the whole batches (float64,
1e-10). They skip, saying why, without mpi4py or ``mpiexec``; the NCCL run needs CuPy and two
GPUs. Samplers and single-process behaviour are tested in this process.
"""
from __future__ import annotations

import importlib.util
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import autodiff as ad
import autodiff.distributed as dist
import autodiff.nn.functional as F
from autodiff import nn
from autodiff.data import DataLoader, DistributedSampler, TensorDataset

from mpi_scenarios import (COLLECTIVE_DTYPES, COLLECTIVE_OPS, batches, collective_input,
                           make_model, make_optimizer, shard, state, train)

SCRIPT = Path(__file__).with_name("mpi_scenarios.py")
WORLD = 2
DDP_SCENARIOS = {  # name: (model, optimizer, micro-batches, batch norm, number of buckets)
    "mlp_one_bucket": ("mlp", "sgd", 1, False, 1), "mlp_buckets": ("mlp", "sgd", 1, False, 6),
    "cnn_one_bucket": ("cnn", "sgd", 1, False, 1), "cnn_buckets": ("cnn", "sgd", 1, False, 6),
    "mlp_bucket_view": ("mlp", "sgd", 1, False, 6),
    "mlp_no_sync": ("mlp", "sgd", 2, False, 6), "mlp_adam": ("mlp", "adam", 1, False, 6),
    "cnn_adam": ("cnn", "adam", 1, False, 1),
    # 1 KiB buckets over [lin.b, lin.w | bn2.b, bn2.w, conv2.b | conv2.w | bn1.b, ..., conv1.w]
    "cnn_syncbn": ("cnn", "sgd", 1, True, 5)}
SCENARIOS = ["collectives", "errors", "bucket_order", "checkpoint", "broadcast_buffers",
             *DDP_SCENARIOS]


def _mpiexec() -> str | None:
    return shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or \
        shutil.which("mpiexec")


def _missing() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install -e '.[distributed]')"
    if _mpiexec() is None:
        return "no mpiexec on PATH (pip install mpich)"
    return None


needs_mpi = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def launch(outdir: Path, names: list[str], backend: str = "mpi", timeout: float = 60,
           limit: float = 150) -> tuple[subprocess.CompletedProcess, float]:
    """Run the scenarios under ``mpiexec -n 2``; (the finished process, its wall time)."""
    cmd = [_mpiexec(), "-n", str(WORLD), sys.executable, str(SCRIPT), str(outdir), *names,
           "--backend", backend, "--timeout", str(timeout)]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"mpiexec did not finish within {limit} s (a hang): {' '.join(cmd)}\n"
                    f"{e.stdout}\n{e.stderr}")
    return proc, time.monotonic() - t0


def _results(outdir: Path, proc) -> dict:
    if proc.returncode != 0:
        pytest.fail(f"the mpiexec job failed (exit {proc.returncode}):\n{proc.stdout}\n"
                    f"{proc.stderr}")

    def load(name: str) -> list:
        return [pickle.loads((outdir / f"{name}.rank{r}.pkl").read_bytes())
                for r in range(WORLD)]
    return load


@pytest.fixture(scope="module")
def mpi_results(tmp_path_factory):
    if _missing():
        pytest.skip(_missing())
    outdir = tmp_path_factory.mktemp("mpi")
    proc, _ = launch(outdir, SCENARIOS)
    return _results(outdir, proc)


# ------------------------------------------------------------------------------------ checks
def _tol(dtype: str) -> dict:
    return {"float16": dict(rtol=2e-3, atol=2e-3), "float32": dict(rtol=1e-6, atol=1e-6),
            "float64": dict(rtol=1e-14, atol=1e-14)}.get(dtype, dict(rtol=0, atol=0))


def _inputs(dtype: str, shape=(3, 4)) -> np.ndarray:
    return np.stack([collective_input(r, dtype, shape) for r in range(WORLD)])


def check_all_reduce(res: list, dtype: str) -> None:
    x = _inputs(dtype)
    refs = {"SUM": x.sum(0, dtype=dtype), "PRODUCT": x.prod(0, dtype=dtype), "MAX": x.max(0),
            "MIN": x.min(0)}
    if np.dtype(dtype).kind == "f":
        refs["AVG"] = (x.astype(np.float64).sum(0) / WORLD).astype(dtype)
    assert set(refs) <= set(COLLECTIVE_OPS)
    for op, ref in refs.items():
        for r in range(WORLD):
            got = res[r][f"all_reduce:{op}:{dtype}"]
            assert got.dtype == np.dtype(dtype), (op, got.dtype)
            np.testing.assert_allclose(got, ref, **_tol(dtype), err_msg=f"{op} rank {r}")


def check_moves(res: list, dtype: str) -> None:
    x = _inputs(dtype)
    for r in range(WORLD):
        np.testing.assert_array_equal(res[r][f"broadcast:{dtype}"], x[WORLD - 1])
        for q in range(WORLD):
            np.testing.assert_array_equal(res[r][f"all_gather:{dtype}"][q], x[q])
        np.testing.assert_array_equal(res[r][f"all_gather_into_tensor:{dtype}"],
                                      np.concatenate(list(x)))
        # rank q sends input_q + k as its k-th block: rank r receives sum_q (input_q + r)
        ref = (x + np.asarray(r, dtype)).sum(0, dtype=dtype)
        np.testing.assert_allclose(res[r][f"reduce_scatter:{dtype}"], ref, **_tol(dtype))


def check_extras(res: list) -> None:
    big = _inputs("float64", (2 * WORLD, 4))
    for r in range(WORLD):
        out = res[r]
        np.testing.assert_allclose(out["reduce_scatter_tensor:AVG"],
                                   big[:, 2 * r:2 * r + 2].mean(0), rtol=1e-14)
        base = collective_input(r, "float64", (4, 6))
        ref = base.copy()
        ref[:, ::2] = _inputs("float64", (4, 6))[:, :, ::2].max(0)
        np.testing.assert_array_equal(out["strided_max"], ref)  # odd columns untouched
        assert out["async_wait"] is True and out["async_completed"] is True
        np.testing.assert_allclose(out["async_sum"], _inputs("float32").sum(0), rtol=1e-6)
        assert [o["rank"] for o in out["all_gather_object"]] == list(range(WORLD))
        np.testing.assert_array_equal(out["all_gather_object"][1]["arr"], [0, 1])
        assert out["gather_object"] == ([("from", q) for q in range(WORLD)]
                                        if r == WORLD - 1 else None)
        assert out["scatter_object_list"] == f"item {r}"
        assert out["broadcast_object_list"] == [WORLD - 1, "rank-specific"]
        rank_in, size_in, ret, data = out["subgroup"]
        assert ret is None
        np.testing.assert_array_equal(data, collective_input(r, "int64"))  # group of one rank
        assert (rank_in, size_in) == ((0, 1) if r == WORLD - 1 else (-1, -1))
        y, grad = out["functional_all_reduce"]
        np.testing.assert_allclose(y, _inputs("float64").sum(0), rtol=1e-15)
        # d/dx_r of sum_q (q + 1) * sum(y): every rank's y depends on x_r
        np.testing.assert_array_equal(grad, np.full((3, 4), sum(q + 1 for q in range(WORLD))))


def reference_state(name: str) -> dict:
    kind, opt_name, micro, bn, _ = DDP_SCENARIOS[name]
    model = make_model(kind, batch_norm=bn)
    opt = make_optimizer(opt_name, model.parameters())
    train(model, opt, batches(kind), micro)
    return state(model, opt)


def check_ddp(res: list, name: str) -> None:
    ref = reference_state(name)
    for r in range(WORLD):
        got = res[r]
        assert set(ref) <= set(got), sorted(set(ref) - set(got))
        for key, value in ref.items():
            np.testing.assert_allclose(got[key], value, rtol=0, atol=1e-10,
                                       err_msg=f"{name}: {key} on rank {r}")
            np.testing.assert_array_equal(got[key], res[0][key])  # identical on every rank
    assert res[0]["n_buckets"] == DDP_SCENARIOS[name][-1]


# ------------------------------------------------------------------------------------ MPI tests
@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("dtype", COLLECTIVE_DTYPES)
def test_collectives_against_numpy(mpi_results, dtype):
    res = mpi_results("collectives")
    check_all_reduce(res, dtype)
    check_moves(res, dtype)


@needs_mpi
@pytest.mark.slow
def test_collectives_views_async_objects_subgroups_autograd(mpi_results):
    check_extras(mpi_results("collectives"))


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("name", list(DDP_SCENARIOS))
def test_ddp_matches_single_process_full_batch(mpi_results, name):
    """Rank 1 starts from other weights (DDP must broadcast rank 0's); 20 steps on half of
    every batch equal 20 steps on the whole batch in one process."""
    check_ddp(mpi_results(name), name)


@needs_mpi
@pytest.mark.slow
def test_no_sync_keeps_each_ranks_own_gradients(mpi_results):
    res = mpi_results("mlp_no_sync")
    x, y = batches("mlp", steps=1)[0]
    for r in range(WORLD):  # the trained weights (checked above), on this rank's shard only
        model = make_model("mlp")
        model.load_state_dict({k[6:]: v for k, v in res[r].items() if k.startswith("param:")})
        F.cross_entropy(model(ad.tensor(shard(x, r, WORLD))), ad.tensor(shard(y, r, WORLD))
                        ).backward()
        for n, p in model.named_parameters():
            np.testing.assert_allclose(res[r]["local_grads"][n], p.grad.numpy(), rtol=1e-12,
                                       atol=1e-15)
    assert not np.allclose(res[0]["local_grads"]["0.weight"], res[1]["local_grads"]["0.weight"])


@needs_mpi
@pytest.mark.slow
def test_ddp_reduces_buckets_while_the_backward_runs(mpi_results):
    for r, res in enumerate(mpi_results("mlp_buckets")):
        seen = res["launched_at_first_layer"]
        assert len(seen) == 20
        # when the backward reaches layer 1, the buckets of layers 2 and 3 are in flight
        assert all(0 < launched < total for launched, total in seen), (r, seen)


@needs_mpi
@pytest.mark.slow
def test_ddp_buckets_follow_the_order_of_use(mpi_results):
    for res in mpi_results("bucket_order"):
        assert res["before"] == ["first.bias", "first.weight", "second.bias", "second.weight"]
        assert res["after"] == ["second.weight", "second.bias", "first.weight", "first.bias"]


@needs_mpi
@pytest.mark.slow
def test_broadcast_buffers(mpi_results):
    res = mpi_results("broadcast_buffers")
    keys = [k for k in res[0][True][0] if "running" in k]
    assert len(keys) == 4
    for flag in (True, False):  # each rank's own batches give it its own statistics
        assert not any(np.array_equal(res[0][flag][0][k], res[1][flag][0][k]) for k in keys)
    for r in range(WORLD):
        for k in keys:
            before, after = res[r][True][0][k], res[r][True][1][k]
            np.testing.assert_array_equal(after, res[0][True][0][k])  # rank 0's, everywhere
            np.testing.assert_array_equal(res[r][False][1][k], res[r][False][0][k])


@needs_mpi
@pytest.mark.slow
def test_checkpoint_saved_by_rank0_loaded_by_all(mpi_results):
    res = mpi_results("checkpoint")
    trained = res[0]["trained"]
    assert any(k.startswith("opt:") for k in trained)
    for r in range(WORLD):
        assert set(res[r]["loaded"]) == set(trained)
        for key, value in trained.items():
            np.testing.assert_array_equal(res[r]["loaded"][key], value, err_msg=key)
            np.testing.assert_array_equal(res[r]["trained"][key], value, err_msg=key)


@needs_mpi
@pytest.mark.slow
def test_bad_arguments_and_mismatched_models(mpi_results):
    for r, out in enumerate(mpi_results("errors")):
        assert out["avg_int"] == ("TypeError", "all_reduce: ReduceOp.AVG needs a floating-point "
                                               "tensor, got int64")
        assert out["bad_op"][0] == "ValueError" and "'median'" in out["bad_op"][1]
        assert out["gather_len"][0] == "ValueError" and "1 tensors" in out["gather_len"][1]
        assert out["src_range"][0] == "ValueError" and "global rank 2" in out["src_range"][1]
        assert out["init_twice"][0] == "RuntimeError"
        assert out["unused_flag"][0] == "NotImplementedError"
        assert "find_unused_parameters" in out["unused_flag"][1]
        msg = out["mismatch"]  # every rank raises, naming the differences
        assert msg is not None and "rank 1 vs rank 0" in msg, msg
        assert "extra.weight, extra.bias only on rank 1" in msg
        assert "'2.weight' is float32 (4, 8) on rank 1 but float32 (3, 8) on rank 0" in msg
        assert out["unused"] is not None and "spare.bias, spare.weight" in out["unused"]


@needs_mpi
@pytest.mark.slow
def test_a_rank_that_raises_stops_the_job_naming_it(tmp_path):
    proc, seconds = launch(tmp_path, ["fail_raise"], timeout=30)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert seconds < 30, f"the job took {seconds:.1f} s, more than the 30 s collective timeout"
    assert "rank 1 of 2 raised ValueError" in text, text
    assert "ValueError: rank 1 breaks on purpose" in text, text
    # rank 0 was waiting in a gradient all-reduce: it stops and says who failed
    assert "PeerFailureError: rank 1 failed with ValueError: rank 1 breaks on purpose" in text, \
        text


@needs_mpi
@pytest.mark.slow
def test_a_hung_rank_ends_the_job_at_the_timeout(tmp_path):
    proc, seconds = launch(tmp_path, ["fail_hang"], timeout=2, limit=60)  # rank 1 sleeps 120 s
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "DistTimeoutError: all_reduce of a float32 tensor of shape (3,) did not complete " \
           "within 2 s on rank 0" in text, text


@pytest.mark.slow
def test_nccl_collectives_and_ddp(tmp_path):
    """The NCCL path (shared with MPI but for the communicator) on two GPUs."""
    if _missing():
        pytest.skip(_missing())
    if not dist.is_nccl_available():
        pytest.skip("CuPy with NCCL and a GPU are not available")
    import cupy
    if cupy.cuda.runtime.getDeviceCount() < WORLD:
        pytest.skip(f"the NCCL test needs {WORLD} GPUs")
    names = ["collectives", "mlp_buckets", "cnn_syncbn"]
    proc, _ = launch(tmp_path, names, backend="nccl")
    load = _results(tmp_path, proc)
    for dtype in COLLECTIVE_DTYPES:
        check_all_reduce(load("collectives"), dtype)
        check_moves(load("collectives"), dtype)
    check_extras(load("collectives"))
    check_ddp(load("mlp_buckets"), "mlp_buckets")
    check_ddp(load("cnn_syncbn"), "cnn_syncbn")


# ------------------------------------------------------------------------------------ one process
def test_without_a_process_group_the_errors_say_what_to_do():
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.all_reduce(ad.zeros(2))
    with pytest.raises(RuntimeError, match="init_process_group"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="num_replicas and rank"):
        DistributedSampler(range(4))
    with pytest.raises(ValueError, match="unknown backend 'gloo'"):
        dist.init_process_group("gloo")
    with pytest.raises(NotImplementedError, match="init_method"):
        dist.init_process_group("mpi", init_method="tcp://10.0.0.1:23456")


def test_sync_batchnorm_without_a_group_is_batchnorm():
    x = ad.tensor(np.random.default_rng(0).normal(size=(6, 3, 4, 4)), requires_grad=True)
    ad.manual_seed(1)
    bn = nn.BatchNorm2d(3).double()
    sync = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(bn))[0]
    assert isinstance(sync, nn.SyncBatchNorm) and sync.weight is bn.weight
    assert sync.running_mean is bn.running_mean
    y = sync(x)
    xn = x.numpy()
    mean, var = xn.mean((0, 2, 3), keepdims=True), xn.var((0, 2, 3), keepdims=True)
    np.testing.assert_allclose(y.numpy(), (xn - mean) / np.sqrt(var + 1e-5), atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean.ravel(), atol=1e-15)
    with pytest.raises(ValueError, match="at least 2D"):
        sync(ad.zeros(3))


# ------------------------------------------------------------------------------------ sampler
@pytest.mark.parametrize("n,world,drop_last", [(10, 3, False), (10, 3, True), (12, 4, False),
                                               (2, 5, False), (7, 2, True)])
def test_distributed_sampler_shards_are_equal_disjoint_and_cover(n, world, drop_last):
    for epoch in (0, 1):
        shards = []
        for r in range(world):
            s = DistributedSampler(range(n), world, r, shuffle=True, seed=5, drop_last=drop_last)
            s.set_epoch(epoch)
            shards.append(list(s))
            assert len(shards[-1]) == len(s)
        sizes = {len(sh) for sh in shards}
        assert len(sizes) == 1  # equal shards
        flat = [i for sh in shards for i in sh]
        if drop_last:
            assert len(flat) == (n // world) * world and len(set(flat)) == len(flat)
        else:
            assert set(flat) == set(range(n))  # covering; padding repeats the first indices
            assert len(flat) == -(-n // world) * world
            if n >= world:
                extra = len(flat) - n
                assert len(set(flat)) == n and sum(flat.count(i) - 1 for i in set(flat)) == extra


def test_distributed_sampler_hand_computed_and_epochs():
    assert [list(DistributedSampler(range(10), 3, r, shuffle=False)) for r in range(3)] == \
        [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    assert [list(DistributedSampler(range(10), 3, r, shuffle=False, drop_last=True))
            for r in range(3)] == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    s = DistributedSampler(range(100), 2, 0, seed=3)
    e0 = list(s)
    assert list(s) == e0  # the same epoch gives the same order
    s.set_epoch(1)
    assert list(s) != e0
    # the permutation is numpy's default_rng(seed + epoch), the same on every rank
    perm = np.random.default_rng(3 + 1).permutation(100)
    assert list(s) == perm[0::2].tolist()
    with pytest.raises(ValueError, match="invalid rank 2"):
        DistributedSampler(range(4), 2, 2)


def test_distributed_sampler_with_dataloader():
    ds = TensorDataset(np.arange(20.0), np.arange(20))
    seen = []
    for r in range(2):
        s = DistributedSampler(ds, 2, r, shuffle=True, seed=0)
        s.set_epoch(4)
        for xb, yb in DataLoader(ds, batch_size=4, sampler=s):
            seen.extend(yb.numpy().tolist())
            np.testing.assert_array_equal(xb.numpy(), yb.numpy())
    assert sorted(seen) == list(range(20))


def test_distributed_sampler_against_pytorch(torch):
    from torch.utils.data import DistributedSampler as TorchSampler
    for n, world, drop in [(10, 3, False), (10, 3, True), (3, 4, False)]:
        for r in range(world):
            ours = DistributedSampler(range(n), world, r, shuffle=False, drop_last=drop)
            theirs = TorchSampler(range(n), world, r, shuffle=False, drop_last=drop)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)


# ------------------------------------------------------------------------------------ example
@needs_mpi
@pytest.mark.slow
def test_mnist_ddp_example_trains_and_checkpoints(tmp_path, data_dir):
    from autodiff.nn.models import mnist_cnn
    ck = tmp_path / "ddp.npz"
    script = Path(__file__).resolve().parents[1] / "examples" / "mnist_ddp.py"
    cmd = [_mpiexec(), "-n", str(WORLD), sys.executable, str(script), "--epochs", "1",
           "--n-train", "1024", "--data", str(data_dir), "--save", str(ck)]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=150, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(s for s in proc.stdout.splitlines() if s.startswith("epoch 1/1"))
    assert proc.stdout.count("epoch 1/1") == 1  # only rank 0 reports
    assert float(line.split("test accuracy")[1].split()[0]) > 0.5  # chance is 0.1
    saved = ad.load(ck)
    assert saved["epoch"] == 1
    assert set(saved["model"]) == set(mnist_cnn().state_dict())
    assert len(saved["optimizer"]["state"]) == len(list(mnist_cnn().parameters()))
