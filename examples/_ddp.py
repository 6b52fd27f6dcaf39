"""The ``--ddp`` option of the examples: data-parallel training over the ranks of ``mpiexec``.

    mpiexec -n 2 python examples/mnist_cnn.py --ddp            # CPU processes, over MPI
    mpiexec -n 2 python examples/resnet_cifar.py --ddp nccl    # one GPU per process, NCCL

Every rank runs the script with the same seed, so all draw the same global batches; each trains
on its rows (rank, rank + N, ...) of every batch, and ``DistributedDataParallel`` averages the
gradients, so N ranks compute what one process computes on the whole batch. Only rank 0
prints and writes checkpoints and plots. (``examples/mnist_ddp.py`` shows the other usual
way: a ``DistributedSampler`` giving each rank its own share of the data set.)
"""
from __future__ import annotations

import argparse
import os
import sys

import autodiff as ad


def add_ddp_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--ddp", nargs="?", const="mpi", default=None, choices=["mpi", "nccl"],
                    help="data-parallel over the ranks of `mpiexec -n N` (backend mpi for CPU "
                         "processes, nccl for one GPU per process)")


class DataParallel:
    """What ``--ddp BACKEND`` changes in a script (nothing when ``backend`` is None)."""

    def __init__(self, backend: str | None) -> None:
        self.on = backend is not None
        self.rank, self.world = 0, 1
        self.gpu = backend == "nccl"
        if self.on:
            import autodiff.distributed as dist
            dist.init_process_group(backend)
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
            if self.gpu:
                ad.set_backend("cupy")  # this rank's GPU was chosen by init_process_group

    @property
    def main(self) -> bool:
        return self.rank == 0

    def quiet_unless_main(self, args: argparse.Namespace) -> None:
        """Ranks other than 0 print nothing (errors still reach stderr) and write no
        checkpoints or plots."""
        if not self.main:
            for name, off in (("quiet", True), ("save", None), ("plot", None)):
                if hasattr(args, name):
                    setattr(args, name, off)
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process

    def wrap(self, model):
        if not self.on:
            return model
        from autodiff.nn.parallel import DistributedDataParallel
        return DistributedDataParallel(model)

    def shard(self, batch):
        """This rank's rows of a global batch (a Tensor or an array), on this rank's GPU
        under NCCL."""
        if not self.on:
            return batch
        part = batch[self.rank::self.world]
        if self.gpu and isinstance(part, ad.Tensor) and part.device == "cpu":
            part = part.to("cuda")
        return part

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the ranks."""
        if not self.on:
            return value
        import autodiff.distributed as dist
        t = ad.tensor([float(value)], dtype=ad.float64)
        dist.all_reduce(t, dist.ReduceOp.AVG)
        return float(t.item())
