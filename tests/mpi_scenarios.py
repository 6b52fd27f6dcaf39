"""Distributed scenarios that ``test_distributed.py`` runs under ``mpiexec``, and the models, data
and training loop that both sides use (the tests train the single-process references).

    mpiexec -n 2 python tests/mpi_scenarios.py OUTDIR [--backend mpi|nccl] [--timeout S] NAME...

Each scenario runs on every rank and returns a dict of arrays and values, pickled to
``OUTDIR/NAME.rank{r}.pkl``; the assertions (against NumPy and single-process references) are
made by the tests. ``fail_raise`` and ``fail_hang`` end the job on purpose.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import sys
import time

import numpy as np

import autodiff as ad
import autodiff.nn.functional as F
from autodiff import nn, optim
from autodiff.tensor import make

from backward_probe import BackwardProbe

STEPS = 20
COLLECTIVE_DTYPES = ("float16", "float32", "float64", "int32", "int64", "uint8")
COLLECTIVE_OPS = ("SUM", "AVG", "PRODUCT", "MAX", "MIN")


# ------------------------------------------------------------------------------------ shared
def collective_input(rank: int, dtype: str, shape=(3, 4)) -> np.ndarray:
    """Rank ``rank``'s input to the collectives tests (small values: products stay exact)."""
    rng = np.random.default_rng(100 + rank)
    if np.dtype(dtype).kind == "f":
        return rng.uniform(-2, 2, size=shape).astype(dtype)
    low = 0 if np.dtype(dtype).kind == "u" else -5
    return rng.integers(low, 6, size=shape).astype(dtype)


def batches(kind: str, steps: int = STEPS, batch: int = 16) -> list:
    """Fixed (x, y) float64 batches for the MLP (N, 5) or the CNN (N, 1, 8, 8)."""
    rng = np.random.default_rng(7)
    shape = (batch, 5) if kind == "mlp" else (batch, 1, 8, 8)
    return [(rng.normal(size=shape), rng.integers(0, 3, size=batch)) for _ in range(steps)]


def make_model(kind: str, batch_norm: bool = False) -> nn.Module:
    ad.manual_seed(0)
    if kind == "mlp":
        m = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(),
                          nn.Linear(8, 3))
    else:
        bn = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), bn(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, padding=1), bn(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(64, 3))
    return m.double()


def make_optimizer(name: str, params):
    if name == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9)
    return optim.Adam(params, lr=0.01)


def shard(a: np.ndarray, rank: int, world: int) -> np.ndarray:
    h = len(a) // world
    return a[rank * h:(rank + 1) * h]


def train(model, opt, data, micro: int = 1, rank: int = 0, world: int = 1, no_sync=None,
          device: str = "cpu") -> None:
    """``len(data)`` steps; each batch is cut into ``micro`` micro-batches whose mean losses'
    gradients are accumulated (under ``no_sync`` for all but the last), and each micro-batch
    into ``world`` shards, of which this rank takes its own."""
    for x, y in data:
        opt.zero_grad()
        m = len(x) // micro
        for k in range(micro):
            xs, ys = (shard(a[k * m:(k + 1) * m], rank, world) for a in (x, y))
            quiet = no_sync() if no_sync is not None and k < micro - 1 else \
                contextlib.nullcontext()
            with quiet:
                loss = F.cross_entropy(model(ad.tensor(xs, device=device)),
                                       ad.tensor(ys, device=device))
                loss.backward()
        opt.step()


def host(t) -> np.ndarray:
    return np.array(t.numpy() if hasattr(t, "numpy") else t)


def state(model, opt=None) -> dict:
    out = {f"param:{n}": host(p) for n, p in model.named_parameters()}
    out.update({f"buffer:{n}": host(b) for n, b in model.named_buffers()})
    if opt is not None:
        for i, s in opt.state_dict()["state"].items():
            for k, v in s.items():
                out[f"opt:{i}:{k}"] = host(v)
    return out


# ------------------------------------------------------------------------------------ scenarios
class Ctx:
    def __init__(self, dist, device: str, outdir: str) -> None:
        self.dist, self.device, self.outdir = dist, device, outdir
        self.rank, self.world = dist.get_rank(), dist.get_world_size()


def _ddp_train(ctx: Ctx, kind: str, opt_name: str = "sgd", bucket_cap_mb=None, micro: int = 1,
               sync_bn: bool = False, probe: bool = False, **ddp_options) -> dict:
    model = make_model(kind, batch_norm=sync_bn).to(ctx.device)
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if ctx.rank:  # DDP must start every rank from rank 0's weights
        with ad.no_grad():
            for p in model.parameters():
                p.array[...] += 0.5 * ctx.rank
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=bucket_cap_mb, **ddp_options)
    out = {"n_buckets": len(ddp._buckets)}
    if probe:  # how many buckets are launched when the backward reaches the first layer
        seen = []
        mark = lambda: seen.append((ddp._next, len(ddp._buckets)))  # noqa: E731
        model[1].register_forward_hook(lambda mod, inp, o: BackwardProbe.apply(o, mark))
    opt = make_optimizer(opt_name, ddp.parameters())
    train(ddp, opt, batches(kind), micro, ctx.rank, ctx.world, ddp.no_sync, ctx.device)
    out.update(state(model, opt))
    if probe:
        out["launched_at_first_layer"] = seen
    if micro > 1:
        out["ddp"] = ddp
    return out


def sc_mlp_one_bucket(ctx):
    return _ddp_train(ctx, "mlp")


def sc_mlp_buckets(ctx):
    return _ddp_train(ctx, "mlp", bucket_cap_mb=1e-4, probe=True)


def sc_cnn_one_bucket(ctx):
    return _ddp_train(ctx, "cnn")


def sc_cnn_buckets(ctx):
    return _ddp_train(ctx, "cnn", bucket_cap_mb=1e-4)


def sc_mlp_bucket_view(ctx):
    return _ddp_train(ctx, "mlp", bucket_cap_mb=1e-4, gradient_as_bucket_view=True)


def sc_mlp_no_sync(ctx):
    out = _ddp_train(ctx, "mlp", bucket_cap_mb=1e-4, micro=2)
    ddp = out.pop("ddp")
    x, y = batches("mlp", steps=1)[0]  # one more backward under no_sync: local gradients
    ddp.zero_grad()
    with ddp.no_sync():
        F.cross_entropy(ddp(ad.tensor(shard(x, ctx.rank, ctx.world), device=ctx.device)),
                        ad.tensor(shard(y, ctx.rank, ctx.world), device=ctx.device)).backward()
    out["local_grads"] = {n: host(p.grad) for n, p in ddp.module.named_parameters()}
    return out


def sc_mlp_adam(ctx):
    return _ddp_train(ctx, "mlp", "adam", bucket_cap_mb=1e-4)


def sc_cnn_adam(ctx):
    return _ddp_train(ctx, "cnn", "adam")


def sc_cnn_syncbn(ctx):
    return _ddp_train(ctx, "cnn", bucket_cap_mb=1e-3, sync_bn=True)


def sc_broadcast_buffers(ctx):
    """Plain BatchNorm under DDP: rank 0's running statistics reach every rank before each
    (synced) forward, unless broadcast_buffers=False."""
    out = {}
    for flag in (True, False):
        model = make_model("cnn", batch_norm=True).to(ctx.device)
        ddp = nn.parallel.DistributedDataParallel(model, broadcast_buffers=flag)
        opt = make_optimizer("sgd", ddp.parameters())
        data = batches("cnn", steps=3)
        train(ddp, opt, data, rank=ctx.rank, world=ctx.world, device=ctx.device)
        before = {n: host(b) for n, b in model.named_buffers()}
        ddp.eval()
        ddp(ad.tensor(shard(data[0][0], ctx.rank, ctx.world), device=ctx.device))
        out[flag] = (before, {n: host(b) for n, b in model.named_buffers()})
    return out


class Swapped(nn.Module):
    """Registers the output layer first: the registration order is not the order of use."""

    def __init__(self) -> None:
        super().__init__()
        self.second = nn.Linear(8, 3)
        self.first = nn.Linear(5, 8)

    def forward(self, x):
        return self.second(ad.tanh(self.first(x)))


def sc_bucket_order(ctx):
    ad.manual_seed(0)
    ddp = nn.parallel.DistributedDataParallel(Swapped().double().to(ctx.device),
                                              bucket_cap_mb=1e-4)
    names = {id(p): n for n, p in ddp.module.named_parameters()}

    def order():
        return [names[id(b.params[0])] for b in ddp._buckets]
    before = order()
    opt = make_optimizer("sgd", ddp.parameters())
    train(ddp, opt, batches("mlp", steps=2), rank=ctx.rank, world=ctx.world, device=ctx.device)
    return {"before": before, "after": order()}


def sc_checkpoint(ctx):
    """Rank 0 saves model and Adam state; every rank loads them into fresh objects."""
    dist = ctx.dist
    model = make_model("mlp").to(ctx.device)
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = make_optimizer("adam", ddp.parameters())
    train(ddp, opt, batches("mlp", steps=3), rank=ctx.rank, world=ctx.world, device=ctx.device)
    path = os.path.join(ctx.outdir, "checkpoint.npz")
    if ctx.rank == 0:
        ad.save({"model": ddp.module.state_dict(), "optim": opt.state_dict()}, path)
    dist.barrier()
    fresh = make_model("mlp").to(ctx.device)
    with ad.no_grad():
        for p in fresh.parameters():
            p.array[...] = 0.0
    fresh_opt = make_optimizer("adam", fresh.parameters())
    ck = ad.load(path)
    fresh.load_state_dict(ck["model"])
    fresh_opt.load_state_dict(ck["optim"])
    return {"trained": state(model, opt), "loaded": state(fresh, fresh_opt)}


def sc_collectives(ctx):
    dist, dev, r, n = ctx.dist, ctx.device, ctx.rank, ctx.world
    T = lambda a: ad.tensor(a, device=dev)  # noqa: E731
    out = {}
    for dtype in COLLECTIVE_DTYPES:
        for op in COLLECTIVE_OPS:
            if op == "AVG" and np.dtype(dtype).kind != "f":
                continue
            t = T(collective_input(r, dtype))
            dist.all_reduce(t, getattr(dist.ReduceOp, op))
            out[f"all_reduce:{op}:{dtype}"] = host(t)
        t = T(collective_input(r, dtype))
        dist.broadcast(t, src=n - 1)
        out[f"broadcast:{dtype}"] = host(t)
        parts = [T(np.zeros((3, 4), dtype)) for _ in range(n)]
        dist.all_gather(parts, T(collective_input(r, dtype)))
        out[f"all_gather:{dtype}"] = [host(p) for p in parts]
        whole = T(np.zeros((3 * n, 4), dtype))
        dist.all_gather_into_tensor(whole, T(collective_input(r, dtype)))
        out[f"all_gather_into_tensor:{dtype}"] = host(whole)
        got = T(np.zeros((3, 4), dtype))
        dist.reduce_scatter(got, [T(collective_input(r, dtype, (3, 4)) + np.asarray(k, dtype))
                                  for k in range(n)])
        out[f"reduce_scatter:{dtype}"] = host(got)
    got = T(np.zeros((2, 4), "float64"))
    dist.reduce_scatter_tensor(got, T(collective_input(r, "float64", (2 * n, 4))),
                               dist.ReduceOp.AVG)
    out["reduce_scatter_tensor:AVG"] = host(got)
    base = T(collective_input(r, "float64", (4, 6)))
    # a tensor on a non-contiguous view of base's array: reduced in place through a copy
    dist.all_reduce(make(base.array[:, ::2]), dist.ReduceOp.MAX)
    out["strided_max"] = host(base)
    t = T(collective_input(r, "float32"))
    work = dist.all_reduce(t, dist.ReduceOp.SUM, async_op=True)
    out["async_wait"] = work.wait()
    out["async_completed"] = work.is_completed()
    out["async_sum"] = host(t)
    objs = [None] * n
    dist.all_gather_object(objs, {"rank": r, "arr": np.arange(r + 1)})
    out["all_gather_object"] = objs
    gathered = [None] * n if r == n - 1 else None
    dist.gather_object(("from", r), gathered, dst=n - 1)
    out["gather_object"] = gathered
    mine = [None]
    dist.scatter_object_list(mine, [f"item {k}" for k in range(n)] if r == n - 1 else None,
                             src=n - 1)
    out["scatter_object_list"] = mine[0]
    lst = [r, "rank-specific"] if r == n - 1 else [None, None]
    dist.broadcast_object_list(lst, src=n - 1)
    out["broadcast_object_list"] = lst
    last = dist.new_group([n - 1])
    t = T(collective_input(r, "int64"))
    res = dist.all_reduce(t, group=last)
    out["subgroup"] = (dist.get_rank(last), dist.get_world_size(last), res, host(t))
    x = ad.tensor(collective_input(r, "float64"), requires_grad=True, device=dev)
    y = dist.functional.all_reduce(x)
    (y * float(r + 1)).sum().backward()
    out["functional_all_reduce"] = (host(y), host(x.grad))
    dist.barrier()
    return out


def sc_errors(ctx):
    """Bad arguments: each raises on every rank before any communication."""
    dist, r = ctx.dist, ctx.rank
    calls = {
        "avg_int": lambda: dist.all_reduce(ad.tensor([1, 2]), dist.ReduceOp.AVG),
        "bad_op": lambda: dist.all_reduce(ad.tensor([1.0]), "median"),
        "gather_len": lambda: dist.all_gather([ad.zeros(2)], ad.zeros(2)),
        "src_range": lambda: dist.broadcast(ad.zeros(2), src=ctx.world),
        "init_twice": lambda: dist.init_process_group("mpi"),
        "unused_flag": lambda: nn.parallel.DistributedDataParallel(
            make_model("mlp"), find_unused_parameters=True),
    }
    out = {}
    for name, call in calls.items():
        try:
            call()
            out[name] = None
        except Exception as e:  # noqa: BLE001 - the test checks the type and the message
            out[name] = (type(e).__name__, str(e))
    ad.manual_seed(0)
    wrong = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 4 if r == 1 else 3))
    if r == 1:
        wrong.add_module("extra", nn.Linear(2, 2))
    try:
        nn.parallel.DistributedDataParallel(wrong)
        out["mismatch"] = None
    except RuntimeError as e:
        out["mismatch"] = str(e)

    class Unused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.spare = nn.Linear(5, 3), nn.Linear(5, 3)

        def forward(self, x):
            return self.used(x)
    ddp = nn.parallel.DistributedDataParallel(Unused())
    ddp(ad.randn(4, 5)).sum().backward()
    try:
        ddp(ad.randn(4, 5))
        out["unused"] = None
    except RuntimeError as e:
        out["unused"] = str(e)
    dist.barrier()
    return out


def sc_fail_raise(ctx):
    """Rank 1 raises while rank 0 trains (and so waits for it in a gradient all-reduce)."""
    ddp = nn.parallel.DistributedDataParallel(make_model("mlp"))
    opt = make_optimizer("sgd", ddp.parameters())
    if ctx.rank == 1:
        raise ValueError("rank 1 breaks on purpose")
    train(ddp, opt, batches("mlp"), rank=ctx.rank, world=ctx.world)


def sc_fail_hang(ctx):
    """Rank 1 stops answering; rank 0's collective must time out."""
    if ctx.rank == 1:
        time.sleep(120)
    ctx.dist.all_reduce(ad.ones(3))


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("outdir")
    p.add_argument("names", nargs="+")
    p.add_argument("--backend", default="mpi")
    p.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args(argv)
    import autodiff.distributed as dist
    dist.init_process_group(args.backend, timeout=args.timeout)
    device = "cuda" if args.backend == "nccl" else "cpu"
    ctx = Ctx(dist, device, args.outdir)
    for name in args.names:
        t0 = time.perf_counter()
        result = globals()[f"sc_{name}"](ctx)
        result["seconds"] = time.perf_counter() - t0
        with open(os.path.join(args.outdir, f"{name}.rank{ctx.rank}.pkl"), "wb") as f:
            pickle.dump(result, f)
    dist.destroy_process_group()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
