"""The MNIST CNN trained data-parallel on N processes: DistributedDataParallel over MPI (or NCCL).

    mpiexec -n 2 python examples/mnist_ddp.py --epochs 2 [--save ddp.npz] [--resume ddp.npz]
    mpiexec -n 4 python examples/mnist_ddp.py --backend nccl        # one GPU per process
    mpiexec -f hosts -n 8 python examples/mnist_ddp.py               # several machines

Each rank builds the same model (DDP copies rank 0's weights to all at construction) and
trains on its own shard of every epoch (``DistributedSampler``, reshuffled by ``set_epoch``);
its batch is ``--batch-size / N`` images, so the global batch, and with it the learning
rate, is that of single-process training. The gradients are averaged across ranks during
the backward. The loss and the test accuracy are averaged over all ranks (each evaluates its
part of the test set). Rank 0 writes the checkpoint (model, optimizer, epoch); ``--resume``
loads it on every rank, so all continue from the same state.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

import autodiff as ad
import autodiff.distributed as dist
from autodiff import optim
from autodiff.data import DataLoader, DistributedSampler, TensorDataset
from autodiff.nn import functional as F
from autodiff.nn.models import mnist_cnn
from autodiff.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def global_accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    """Accuracy on the whole test set: rank r scores images r, r + N, ... and the counts are
    summed over the ranks."""
    r, n = dist.get_rank(), dist.get_world_size()
    x, y = x[r::n], y[r::n]
    model.eval()
    correct = 0
    with ad.no_grad():
        for s in range(0, len(x), batch_size):
            pred = model(ad.tensor(x[s:s + batch_size])).numpy().argmax(1)
            correct += int((pred == y[s:s + batch_size]).sum())
    model.train()
    counts = ad.tensor([correct, len(x)], dtype=ad.float64)
    dist.all_reduce(counts)
    return float(counts[0].item() / counts[1].item())


@C.exit_on_missing_data
def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__)
    C.add_data_arg(p, "the MNIST files")
    p.add_argument("--backend", choices=["mpi", "nccl"], default="mpi",
                   help="mpi: CPU processes; nccl: one GPU per process")
    p.add_argument("--epochs", type=int, default=2, help="passes over the training images")
    p.add_argument("--n-train", type=int, default=None, help="use the first N training images")
    p.add_argument("--batch-size", type=int, default=64, help="global mini-batch size")
    p.add_argument("--lr", type=float, default=0.05, help="SGD learning rate")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--channels", type=int, nargs=2, default=(8, 16),
                   help="output channels of the two convolutions")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds a rank waits in a collective before the job is stopped")
    p.add_argument("--save", default=None, help="checkpoint written by rank 0 after each epoch")
    p.add_argument("--resume", default=None, help="checkpoint every rank starts from")
    p.add_argument("--seed", type=int, default=0, help="random seed (the same on every rank)")
    args = p.parse_args(argv)

    dist.init_process_group(args.backend, timeout=args.timeout)
    if args.backend == "nccl":
        ad.set_backend("cupy")  # init_process_group chose this rank's GPU
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} is not divisible by the {world} ranks")
    say = print if rank == 0 else (lambda *a, **k: None)

    ad.manual_seed(args.seed)
    data = C.mnist_data(C.data_root(args), False, args.n_train, say=say)
    train_set = TensorDataset(data.x_train, data.y_train)
    sampler = DistributedSampler(train_set, shuffle=True, seed=args.seed, drop_last=True)
    loader = DataLoader(train_set, batch_size=args.batch_size // world, sampler=sampler,
                        drop_last=True)
    model = DistributedDataParallel(mnist_cnn(tuple(args.channels)))
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    start = 0
    if args.resume:
        ck = ad.load(args.resume)  # every rank reads the file rank 0 wrote
        model.module.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        start = int(ck["epoch"])
    say(f"MNIST CNN {tuple(args.channels)}: {model.module.num_parameters():,} parameters on "
        f"{world} ranks ({args.backend}), {len(loader)} steps of {args.batch_size // world} "
        f"images per rank per epoch" + (f"; resumed after epoch {start}" if start else ""))

    losses, accs, t0, steps = [], [], time.perf_counter(), 0
    for epoch in range(start, args.epochs):
        sampler.set_epoch(epoch)
        total, nb = 0.0, 0
        for xb, yb in loader:
            if args.backend == "nccl":  # the loader's batches are host arrays
                xb, yb = xb.to("cuda"), yb.to("cuda")
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item())
            nb += 1
        steps += nb
        mean_loss = ad.tensor([total / max(nb, 1)], dtype=ad.float64)
        dist.all_reduce(mean_loss, dist.ReduceOp.AVG)
        acc = global_accuracy(model, data.x_test, data.y_test)
        losses.append(float(mean_loss.item()))
        accs.append(acc)
        say(f"epoch {epoch + 1}/{args.epochs}: train loss {losses[-1]:.4f}  test accuracy "
            f"{acc:.4f}  ({(time.perf_counter() - t0) / max(steps, 1) * 1000:.1f} ms/step)")
        if args.save and rank == 0:
            tmp = args.save + ".tmp.npz"
            ad.save({"model": model.module.state_dict(), "optimizer": opt.state_dict(),
                     "epoch": epoch + 1}, tmp)
            os.replace(tmp, args.save)
        dist.barrier()  # the checkpoint is complete before any rank may read it
    dist.destroy_process_group()
    return {"train_losses": losses, "test_accuracies": accs,
            "test_acc": accs[-1] if accs else None, "world_size": world}


if __name__ == "__main__":
    main()
