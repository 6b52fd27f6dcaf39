"""``autodiff.distributed``: data-parallel training over MPI (CPU) and NCCL (GPU), PyTorch's names.

    mpiexec -n 4 python train.py

    import autodiff.distributed as dist
    dist.init_process_group("mpi")            # or "nccl": one GPU per process
    model = nn.parallel.DistributedDataParallel(model)
    sampler = data.DistributedSampler(dataset); sampler.set_epoch(epoch)

- process groups: ``init_process_group``, ``destroy_process_group``, ``is_initialized``,
  ``get_rank``, ``get_world_size``, ``new_group``, ``barrier`` (``group.py``);
- collectives on Tensors, in place, blocking or ``async_op=True`` (a :class:`Work` with
  ``wait()``): ``all_reduce`` (``ReduceOp.SUM/AVG/MAX/MIN/PRODUCT``), ``broadcast``,
  ``all_gather``, ``all_gather_into_tensor``, ``reduce_scatter``, ``reduce_scatter_tensor``;
  on objects: ``all_gather_object``, ``gather_object``, ``scatter_object_list``,
  ``broadcast_object_list`` (``collectives.py``); differentiable ``functional.all_reduce``;
- failures: an uncaught exception in one rank aborts the job after the others have printed
  which rank failed (:class:`PeerFailureError`); every wait on a collective times out after
  the group's ``timeout`` (:class:`DistTimeoutError`) (``failure.py``, ``work.py``).

mpi4py is imported when the first group is made, so importing this package needs no MPI.
"""
from . import functional  # noqa: F401
from .collectives import (all_gather, all_gather_into_tensor, all_gather_object, all_reduce,
                          barrier, broadcast, broadcast_object_list, gather_object,
                          reduce_scatter, reduce_scatter_tensor, scatter_object_list)
from .errors import DistError, DistTimeoutError, PeerFailureError
from .group import (GroupMember, ProcessGroup, ReduceOp, default_pg_timeout,
                    destroy_process_group, get_backend, get_global_rank, get_group_rank,
                    get_process_group_ranks, get_rank, get_world_size, init_process_group,
                    is_available, is_initialized, is_mpi_available, is_nccl_available,
                    new_group)
from .work import Work

__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "is_available",
           "is_mpi_available", "is_nccl_available", "get_rank", "get_world_size",
           "get_backend", "new_group", "get_process_group_ranks", "get_global_rank",
           "get_group_rank", "default_pg_timeout", "GroupMember", "ProcessGroup", "ReduceOp",
           "Work", "all_reduce", "broadcast", "all_gather", "all_gather_into_tensor",
           "reduce_scatter", "reduce_scatter_tensor", "barrier", "all_gather_object",
           "gather_object", "scatter_object_list", "broadcast_object_list", "DistError",
           "DistTimeoutError", "PeerFailureError", "functional"]
