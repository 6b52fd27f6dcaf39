"""Process groups: ``init_process_group`` (ranks from MPI), subgroups, ranks and sizes.

A :class:`ProcessGroup` holds an MPI communicator (object collectives, barriers, the NCCL
rendezvous) and the communicator that moves tensors: the same MPI one for ``backend="mpi"``,
an NCCL one for ``backend="nccl"``. The rank and world size always come from MPI, so a job is
started by ``mpiexec -n N python train.py`` (a single ``python train.py`` is a world of one).
"""
from __future__ import annotations

import datetime
import enum

from .errors import DistError
from .failure import FailureChannel
from .mpi_comm import MPICommunicator

__all__ = ["ReduceOp", "ProcessGroup", "GroupMember", "init_process_group",
           "destroy_process_group", "is_initialized", "is_available", "is_mpi_available",
           "is_nccl_available", "get_rank", "get_world_size", "get_backend", "new_group",
           "get_process_group_ranks", "get_global_rank", "get_group_rank",
           "default_pg_timeout"]

default_pg_timeout = datetime.timedelta(minutes=30)  # PyTorch's default


class ReduceOp(enum.Enum):
    """Reductions of ``all_reduce`` / ``reduce_scatter`` (PyTorch's names)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"


class GroupMember:
    """``GroupMember.WORLD`` is the default group; ``NON_GROUP_MEMBER`` is what ``new_group``
    returns on ranks outside the new group."""

    WORLD = None
    NON_GROUP_MEMBER = object()


class _State:
    MPI = None
    default: "ProcessGroup | None" = None
    channel: FailureChannel | None = None
    groups: list = []


def _import_mpi():
    if _State.MPI is None:
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise RuntimeError(f"autodiff.distributed needs mpi4py and an MPI library: "
                               f"pip install 'autodiff[distributed]' (mpi4py + mpich). "
                               f"Import error: {e}") from None
        _State.MPI = MPI
    return _State.MPI


def is_mpi_available() -> bool:
    try:
        _import_mpi()
        return True
    except RuntimeError:
        return False


def is_available() -> bool:
    """Whether distributed training can run here (mpi4py and MPI are importable)."""
    return is_mpi_available()


def is_nccl_available() -> bool:
    from .nccl_comm import nccl_available
    return nccl_available()


def failure_channel() -> FailureChannel | None:
    return _State.channel


def _seconds(timeout) -> float:
    if timeout is None:
        return default_pg_timeout.total_seconds()
    s = timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)
    if not s > 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    return s


class ProcessGroup:
    """A set of ranks that run collectives together."""

    def __init__(self, MPI, comm, backend: str, timeout: float, ranks: list[int],
                 device: int | None = None) -> None:
        self.backend = backend
        self.timeout = timeout
        self.mpi = MPICommunicator(MPI, comm)
        self.rank = self.mpi.rank
        self.size = self.mpi.size
        self.ranks = ranks  # global rank of each group rank
        self.global_rank = ranks[self.rank]
        self.device = device
        self.comm = self.mpi
        if backend == "nccl":
            from .collectives import broadcast_object_list
            from .nccl_comm import NCCLCommunicator, _import_nccl
            uid = [_import_nccl()[1].get_unique_id() if self.rank == 0 else None]
            broadcast_object_list(uid, src=ranks[0], group=self)
            self.comm = NCCLCommunicator(self.size, uid[0], self.rank, device)

    def describe(self) -> str:
        if self is _State.default:
            return f"the default group of {self.size} ranks, backend {self.backend}"
        return f"the group of global ranks {self.ranks}, backend {self.backend}"

    def group_rank(self, global_rank: int, what: str) -> int:
        try:
            return self.ranks.index(int(global_rank))
        except ValueError:
            raise ValueError(f"{what}: global rank {global_rank} is not in {self.describe()}") \
                from None

    def free(self) -> None:
        if self.comm is not self.mpi:
            self.comm.free()
        self.mpi.free()

    def __repr__(self) -> str:
        return f"<ProcessGroup {self.describe()}, rank {self.rank}>"


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout=None, world_size: int = -1, rank: int = -1, store=None,
                       group_name: str = "", pg_options=None, device_id=None) -> None:
    """Start the default process group over ``MPI.COMM_WORLD``.

    ``backend``: ``"mpi"`` (CPU tensors; the default) or ``"nccl"`` (one GPU per process, GPU
    ``local_rank % device_count`` unless ``device_id`` says otherwise). ``timeout`` (a
    ``timedelta`` or seconds, default 30 min) bounds every wait on a collective. ``world_size``
    and ``rank`` are checked against MPI's; rendezvous is MPI's (launch with ``mpiexec``), so
    ``init_method`` and ``store`` are not supported.
    """
    if _State.default is not None:
        raise RuntimeError("init_process_group: trying to initialize the default process group "
                           "twice")
    backend = (backend or "mpi").lower()
    if backend not in ("mpi", "nccl"):
        raise ValueError(f"init_process_group: unknown backend {backend!r} (use 'mpi' for CPU "
                         f"tensors or 'nccl' for GPUs)")
    if init_method not in (None, "env://") or store is not None or pg_options is not None:
        raise NotImplementedError("init_process_group: init_method, store and pg_options are "
                                  "not supported: ranks and rendezvous come from MPI (launch "
                                  "with mpiexec -n N)")
    seconds = _seconds(timeout)
    MPI = _import_mpi()
    world = MPI.COMM_WORLD
    for name, given, actual in (("world_size", world_size, world.Get_size()),
                                ("rank", rank, world.Get_rank())):
        if int(given) not in (-1, actual):
            raise ValueError(f"init_process_group: {name}={given} but MPI says {actual} "
                             f"(mpiexec decides both)")
    device = None
    if backend == "nccl":
        device = _local_device(MPI, device_id)
    _State.channel = FailureChannel(MPI, grace=min(seconds, 10.0))
    _State.channel.install()
    group = ProcessGroup(MPI, world.Dup(), backend, seconds, list(range(world.Get_size())),
                         device)
    _State.default = group
    _State.groups = [group]


def _local_device(MPI, device_id) -> int:
    from .nccl_comm import _import_nccl
    cupy, _ = _import_nccl()
    if device_id is not None:
        dev = int(getattr(device_id, "index", device_id))
    else:
        local = MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED)
        local_rank = local.Get_rank()
        local.Free()
        dev = local_rank % cupy.cuda.runtime.getDeviceCount()
    cupy.cuda.Device(dev).use()
    return dev


def _default_group(what: str) -> "ProcessGroup":
    if _State.default is None:
        raise RuntimeError(f"{what}: the default process group has not been initialized; call "
                           f"autodiff.distributed.init_process_group() first (and launch with "
                           f"mpiexec -n N)")
    return _State.default


def resolve(group, what: str):
    """The ProcessGroup for ``group`` (None: the default); NON_GROUP_MEMBER passes through."""
    if group is None:
        return _default_group(what)
    if group is GroupMember.NON_GROUP_MEMBER:
        return group
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"{what}: group must be a ProcessGroup from new_group() or None, got "
                        f"{type(group).__name__}")
    return group


def is_initialized() -> bool:
    return _State.default is not None


def get_rank(group=None) -> int:
    """This process's rank in ``group`` (-1 outside it)."""
    g = resolve(group, "get_rank")
    return -1 if g is GroupMember.NON_GROUP_MEMBER else g.rank


def get_world_size(group=None) -> int:
    """The number of ranks in ``group`` (-1 outside it)."""
    g = resolve(group, "get_world_size")
    return -1 if g is GroupMember.NON_GROUP_MEMBER else g.size


def get_backend(group=None) -> str:
    g = resolve(group, "get_backend")
    if g is GroupMember.NON_GROUP_MEMBER:
        raise ValueError("get_backend: this rank is not in the group")
    return g.backend


def get_process_group_ranks(group) -> list[int]:
    g = resolve(group, "get_process_group_ranks")
    return list(g.ranks)


def get_global_rank(group, group_rank: int) -> int:
    return resolve(group, "get_global_rank").ranks[group_rank]


def get_group_rank(group, global_rank: int) -> int:
    return resolve(group, "get_group_rank").group_rank(global_rank, "get_group_rank")


def new_group(ranks=None, timeout=None, backend: str | None = None, pg_options=None,
              use_local_synchronization: bool = False):
    """A new group of the given global ranks (all ranks by default). Every rank of the default
    group must call it; ranks outside get ``GroupMember.NON_GROUP_MEMBER``."""
    world = _default_group("new_group")
    if pg_options is not None:
        raise NotImplementedError("new_group: pg_options is not supported")
    ranks = sorted(range(world.size) if ranks is None else {int(r) for r in ranks})
    bad = [r for r in ranks if not 0 <= r < world.size]
    if bad or not ranks:
        raise ValueError(f"new_group: ranks {bad or ranks} are not ranks of the world of "
                         f"{world.size}")
    backend = (backend or world.backend).lower()
    if backend not in ("mpi", "nccl"):
        raise ValueError(f"new_group: unknown backend {backend!r}")
    if backend == "nccl" and world.device is None:
        raise ValueError("new_group: backend 'nccl' needs init_process_group('nccl')")
    seconds = world.timeout if timeout is None else _seconds(timeout)
    if world.global_rank not in ranks:
        return GroupMember.NON_GROUP_MEMBER
    MPI = _State.MPI
    members = world.mpi.comm.Get_group().Incl(ranks)
    comm = world.mpi.comm.Create_group(members)
    members.Free()
    group = ProcessGroup(MPI, comm, backend, seconds, ranks, world.device)
    _State.groups.append(group)
    return group


def destroy_process_group(group=None) -> None:
    """Free ``group``, or every group and the default one (None)."""
    if group is None:
        if _State.default is None:
            raise DistError("destroy_process_group: no process group is initialized")
        for g in _State.groups:
            g.free()
        _State.groups = []
        _State.default = None
        if _State.channel is not None:
            _State.channel.uninstall()
            _State.channel.comm.Free()
            _State.channel = None
        return
    g = resolve(group, "destroy_process_group")
    if g is GroupMember.NON_GROUP_MEMBER:
        return
    if g is _State.default:
        raise ValueError("destroy_process_group: destroy the default group with no argument")
    g.free()
    _State.groups.remove(g)
