"""Data-parallel scaling on this machine, one thread per rank.

    python benchmarks/ddp_scaling.py --model resnet20              # 1 process, no DDP
    mpiexec -n 2 python benchmarks/ddp_scaling.py --model resnet20 # 2 ranks

The global batch is fixed (ResNet-20: 128 CIFAR-shaped images, MNIST CNN: 64 MNIST-shaped
images); N ranks each compute 1/N of it, so every configuration does the same arithmetic per
step. Printed on rank 0 (medians over steps):

- ``steps/s``: whole SGD steps (forward, backward, optimizer) of the plain model at 1 rank,
  of DistributedDataParallel (default 25 MB buckets) at N ranks; in the N-rank job, rank 0
  also times the plain model on the whole batch (``single``, the other ranks idle in a
  barrier) in the same alternating rounds, so that the speedup is not confounded by the
  machine's speed changing between two jobs;
- at N ranks, the backward's time in three modes timed in alternating rounds (a few steps
  of each in turn, so that all see the same load from other processes): ``no_sync``
  (no communication: the compute alone, under the same load from the other ranks), ``overlap``
  (DDP with buckets small enough that several are all-reduced while the backward goes on),
  ``end`` (the ``no_sync`` backward followed by one all-reduce of all the gradients, as
  without DDP's hooks) and ``barrier`` (the ``no_sync`` backward followed by a barrier: what
  waiting for the slowest rank costs, without moving any data); the fraction each adds to
  the ``no_sync`` backward; and the all-reduce of all gradients alone.
"""
from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import autodiff as ad  # noqa: E402
import autodiff.distributed as dist  # noqa: E402
from autodiff import optim  # noqa: E402
from autodiff.nn import functional as F  # noqa: E402
from autodiff.nn.models import mnist_cnn, resnet_cifar  # noqa: E402
from autodiff.nn.parallel import DistributedDataParallel  # noqa: E402

MODELS = {  # name: (builder, input shape, global batch, bucket cap (MB) that overlaps)
    "resnet20": (lambda: resnet_cifar(20, "A"), (3, 32, 32), 128, 0.25),
    "mnist_cnn": (lambda: mnist_cnn((8, 16)), (1, 28, 28), 64, 0.01),
}


def _barrier_after(ddp):
    """The backward of the ``barrier`` mode: no_sync, then wait for every rank."""
    def backward(loss) -> None:
        with ddp.no_sync():
            loss.backward()
        dist.barrier()
    return backward


def _average_after(ddp):
    """The backward of the ``end`` mode: no_sync, then all gradients in one all-reduce."""
    def backward(loss) -> None:
        with ddp.no_sync():
            loss.backward()
        grads = [p.grad for p in ddp.parameters()]
        flat = ad.Tensor(np.concatenate([g.array.reshape(-1) for g in grads]))
        dist.all_reduce(flat, dist.ReduceOp.AVG)
        o = 0
        for g in grads:
            g.array[...] = flat.array[o:o + g.array.size].reshape(g.array.shape)
            o += g.array.size
    return backward


def _step(model, opt, x, y, times: dict | None = None, backward=None) -> None:
    t0 = time.perf_counter()
    loss = F.cross_entropy(model(x), y)
    t1 = time.perf_counter()
    opt.zero_grad()
    loss.backward() if backward is None else backward(loss)
    t2 = time.perf_counter()
    opt.step()
    if times is not None:
        times["step"].append(time.perf_counter() - t0)
        times["backward"].append(t2 - t1)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(MODELS), default="resnet20")
    p.add_argument("--steps", type=int, default=2, help="timed steps per mode and round")
    p.add_argument("--rounds", type=int, default=12)
    args = p.parse_args(argv)
    dist.init_process_group("mpi", timeout=600)
    rank, world = dist.get_rank(), dist.get_world_size()
    build, shape, batch, small_cap = MODELS[args.model]
    rng = np.random.default_rng(rank)
    x = ad.tensor(rng.normal(size=(batch // world,) + shape).astype(np.float32))
    y = ad.tensor(rng.integers(0, 10, size=batch // world))
    ad.manual_seed(0)
    out = {"model": args.model, "ranks": world, "batch_per_rank": batch // world}

    def run(model, opt, n, quiet=contextlib.nullcontext, backward=None):
        times = {"step": [], "backward": []}
        dist.barrier()
        for _ in range(n):
            with quiet():
                _step(model, opt, x, y, times, backward)
        return times

    if world == 1:
        model = build()
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        run(model, opt, 3)
        t = run(model, opt, args.steps * args.rounds)
        out["steps_per_s"] = 1 / float(np.median(t["step"]))
        out["backward_ms"] = 1e3 * float(np.median(t["backward"]))
    else:
        modes = {}
        for name, cap in (("default", None), ("overlap", small_cap)):
            ad.manual_seed(0)
            ddp = DistributedDataParallel(build(), bucket_cap_mb=cap)
            modes[name] = (ddp, optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9))
            run(*modes[name], 3)
        out["buckets"] = {k: len(v[0]._buckets) for k, v in modes.items()}
        solo = build()
        solo_opt = optim.SGD(solo.parameters(), lr=0.01, momentum=0.9)
        whole = (ad.tensor(rng.normal(size=(batch,) + shape).astype(np.float32)),
                 ad.tensor(rng.integers(0, 10, size=batch)))
        single = {"step": [], "backward": []}
        names = ("default", "overlap", "end", "barrier", "no_sync")
        acc = {k: {"step": [], "backward": []} for k in names}
        after = {"end": _average_after, "barrier": _barrier_after}
        for _ in range(args.rounds):
            dist.barrier()
            if rank == 0:
                for _ in range(args.steps):
                    _step(solo, solo_opt, *whole, single)
            dist.barrier()
            for name in acc:
                ddp, opt = modes["default" if name == "default" else "overlap"]
                t = run(ddp, opt, args.steps,
                        ddp.no_sync if name == "no_sync" else contextlib.nullcontext,
                        after[name](ddp) if name in after else None)
                for k in t:
                    acc[name][k].extend(t[k])
        med = {k: {q: float(np.median(v)) for q, v in d.items()} for k, d in acc.items()}
        out["steps_per_s"] = 1 / med["default"]["step"]
        if rank == 0:  # the first round of single steps warms its model up
            out["single_steps_per_s"] = 1 / float(np.median(single["step"][args.steps:]))
            out["speedup"] = out["steps_per_s"] / out["single_steps_per_s"]
        base = med["no_sync"]["backward"]
        out["backward_ms"] = {k: 1e3 * d["backward"] for k, d in med.items()}
        out["adds"] = {k: med[k]["backward"] / base - 1 for k in ("overlap", "end", "barrier")}
        ddp = modes["default"][0]
        flat = ad.zeros(sum(p.numel() for p in ddp.parameters()))
        ts = []
        for _ in range(20):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(flat, dist.ReduceOp.AVG)
            ts.append(time.perf_counter() - t0)
        out["allreduce_ms"] = 1e3 * float(np.median(ts))
        out["grad_bytes"] = int(flat.array.nbytes)
    out["loadavg_1min"] = os.getloadavg()[0]
    if rank == 0:
        print(json.dumps(out))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
