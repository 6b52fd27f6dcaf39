"""Collectives on Tensors (in place, PyTorch's signatures) and on picklable Python objects.

Tensor collectives hand the tensor's own array to the communicator when it is contiguous (a
non-contiguous view is staged through a contiguous copy and written back). ``async_op=True``
returns a :class:`~.work.Work` whose ``wait()`` completes the operation; otherwise the call
blocks. ``src``/``dst`` are global ranks, as in PyTorch. ``ReduceOp.AVG`` is a sum followed by a
division by the group size, the same on both backends. Object collectives pickle through MPI.
"""
from __future__ import annotations

import pickle

import numpy

from ..backends import get_array_module
from ..tensor import Tensor
from .group import GroupMember, ReduceOp, resolve
from .work import Work

__all__ = ["all_reduce", "broadcast", "all_gather", "all_gather_into_tensor", "reduce_scatter",
           "reduce_scatter_tensor", "barrier", "all_gather_object", "gather_object",
           "scatter_object_list", "broadcast_object_list"]


# ------------------------------------------------------------------------------------ helpers
def _run(group, pending, what: str, async_op: bool):
    work = Work(pending, what, group)
    if async_op:
        return work
    work.wait()
    return None


def _check_tensor(t, what: str, name: str = "tensor") -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{what}: {name} must be an autodiff Tensor, got {type(t).__name__}")
    return t


def _contiguous(a):
    """(a C-contiguous buffer holding ``a``, a function writing it back to ``a`` or None)."""
    if a.flags.c_contiguous:
        return a, None
    buf = get_array_module(a).ascontiguousarray(a)

    def back():
        a[...] = buf
    return buf, back


def _op(op, dtype, what: str) -> tuple[str, bool]:
    """(the communicator's op name, whether to divide by the group size afterwards)."""
    if not isinstance(op, ReduceOp):
        try:
            op = ReduceOp(str(op).lower())
        except ValueError:
            raise ValueError(f"{what}: unknown reduce op {op!r} (use autodiff.distributed."
                             f"ReduceOp: {', '.join(o.name for o in ReduceOp)})") from None
    kind = numpy.dtype(dtype).kind
    if op is ReduceOp.AVG:
        if kind not in "fc":
            raise TypeError(f"{what}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
        return "sum", True
    if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and kind not in "iub":
        raise TypeError(f"{what}: ReduceOp.{op.name} needs an integer or bool tensor, got "
                        f"{dtype}")
    if op in (ReduceOp.MAX, ReduceOp.MIN) and kind == "c":
        raise TypeError(f"{what}: ReduceOp.{op.name} is undefined for complex dtype {dtype}")
    return op.value, False


def _landed(tensor: Tensor, buf, back, avg: bool = False, size: int = 1):
    """What runs once a result has landed in ``buf``: AVG's division by the group size, the
    copy back into a non-contiguous ``tensor``, the version bump."""
    def finish():
        if avg:
            buf[...] /= size
        if back is not None:
            back()
        tensor._version.v += 1
    return finish


def _same_as(t: Tensor, ref: Tensor, what: str, name: str) -> None:
    if tuple(t.shape) != tuple(ref.shape) or t.dtype != ref.dtype:
        raise ValueError(f"{what}: {name} has shape {tuple(t.shape)} and dtype {t.dtype}; "
                         f"expected shape {tuple(ref.shape)} and dtype {ref.dtype}")


def _blocks(whole: Tensor, part: Tensor, names: tuple, g, what: str) -> tuple:
    """The arrays of ``whole`` and ``part``, checking that ``whole`` holds ``g.size`` blocks of
    ``part``'s size and dtype."""
    w = _check_tensor(whole, what, names[0]).array
    p = _check_tensor(part, what, names[1]).array
    if w.size != g.size * p.size or w.dtype != p.dtype:
        raise ValueError(f"{what}: {names[0]} ({w.shape}, {w.dtype}) must hold {g.size} x "
                         f"{names[1]} ({p.shape}, {p.dtype})")
    return w, p


# ------------------------------------------------------------------------------------ tensors
def all_reduce(tensor: Tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` over the group, in place on every rank."""
    what = "all_reduce"
    g = resolve(group, what)
    if g is GroupMember.NON_GROUP_MEMBER:
        return None
    a = _check_tensor(tensor, what).array
    name, avg = _op(op, a.dtype, what)
    buf, back = _contiguous(a)
    pending = g.comm.all_reduce(buf, name).then(_landed(tensor, buf, back, avg, g.size))
    return _run(g, pending, f"all_reduce of a {a.dtype} tensor of shape {a.shape}",
                async_op)


def broadcast(tensor: Tensor, src: int = 0, group=None, async_op: bool = False):
    """Copy global rank ``src``'s ``tensor`` into every rank's ``tensor``."""
    what = "broadcast"
    g = resolve(group, what)
    if g is GroupMember.NON_GROUP_MEMBER:
        return None
    a = _check_tensor(tensor, what).array
    root = g.group_rank(src, what)
    buf, back = _contiguous(a)
    pending = g.comm.broadcast(buf, root).then(_landed(tensor, buf, back))
    return _run(g, pending, f"broadcast from rank {src} of shape {a.shape}", async_op)


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False):
    """``tensor_list[r]`` receives rank r's ``tensor`` (all of the same shape and dtype)."""
    what = "all_gather"
    g = resolve(group, what)
    if g is GroupMember.NON_GROUP_MEMBER:
        return None
    _check_tensor(tensor, what)
    if len(tensor_list) != g.size:
        raise ValueError(f"{what}: tensor_list has {len(tensor_list)} tensors for a group of "
                         f"{g.size} ranks")
    for i, t in enumerate(tensor_list):
        _same_as(_check_tensor(t, what, f"tensor_list[{i}]"), tensor, what, f"tensor_list[{i}]")
    send, _ = _contiguous(tensor.array)
    recv = get_array_module(send).empty((g.size,) + send.shape, send.dtype)

    def scatter_back():
        for t, part in zip(tensor_list, recv):
            t.array[...] = part
            t._version.v += 1
    pending = g.comm.all_gather(send, recv).then(scatter_back)
    return _run(g, pending, f"all_gather of shape {send.shape}", async_op)


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group=None,
                           async_op: bool = False):
    """Rank r's ``input_tensor`` fills block r of ``output_tensor`` (concatenated along dim 0,
    or stacked: ``output_tensor`` holds ``world_size`` times as many elements)."""
    what = "all_gather_into_tensor"
    g = resolve(group, what)
    if g is GroupMember.NON_GROUP_MEMBER:
        return None
    out, inp = _blocks(output_tensor, input_tensor, ("output_tensor", "input_tensor"), g, what)
    send, _ = _contiguous(inp)
    recv, back = _contiguous(out)
    pending = g.comm.all_gather(send, recv).then(_landed(output_tensor, recv, back))
    return _run(g, pending, f"all_gather_into_tensor of shape {inp.shape}", async_op)


def reduce_scatter(output: Tensor, input_list: list, op=ReduceOp.SUM, group=None,
                   async_op: bool = False):
    """``output`` on rank r receives the reduction over ranks of their ``input_list[r]``."""
    what = "reduce_scatter"
    g = resolve(group, what)
    if g is GroupMember.NON_GROUP_MEMBER:
        return None
    _check_tensor(output, what, "output")
    if len(input_list) != g.size:
        raise ValueError(f"{what}: input_list has {len(input_list)} tensors for a group of "
                         f"{g.size} ranks")
    for i, t in enumerate(input_list):
        _same_as(_check_tensor(t, what, f"input_list[{i}]"), output, what, f"input_list[{i}]")
    xp = get_array_module(output.array)
    send = xp.stack([t.array for t in input_list])
    return _reduce_scatter(g, output, send, op, what, async_op)


def reduce_scatter_tensor(output: Tensor, input: Tensor, op=ReduceOp.SUM, group=None,
                          async_op: bool = False):
    """Block r of ``input`` (``world_size`` times ``output``'s size) is reduced into rank r's
    ``output``."""
    what = "reduce_scatter_tensor"
    g = resolve(group, what)
    if g is GroupMember.NON_GROUP_MEMBER:
        return None
    inp, _ = _blocks(input, output, ("input", "output"), g, what)
    return _reduce_scatter(g, output, _contiguous(inp)[0], op, what, async_op)


def _reduce_scatter(g, output: Tensor, send, op, what: str, async_op: bool):
    out = output.array
    name, avg = _op(op, out.dtype, what)
    recv, back = _contiguous(out)
    pending = g.comm.reduce_scatter(send, recv, name).then(
        _landed(output, recv, back, avg, g.size))
    return _run(g, pending, f"{what} of shape {out.shape}", async_op)


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Wait until every rank of the group has reached the barrier."""
    g = resolve(group, "barrier")
    if g is GroupMember.NON_GROUP_MEMBER:
        return None
    return _run(g, g.mpi.barrier(), "barrier", async_op)


# ------------------------------------------------------------------------------------ objects
def _wait(g, pending, what: str) -> None:
    Work(pending, what, g).wait()


def _all_gather_bytes(g, payload: bytes, what: str) -> list[bytes]:
    counts = numpy.empty(g.size, numpy.int64)
    _wait(g, g.mpi.all_gather(numpy.array([len(payload)], numpy.int64), counts), what)
    recv = numpy.empty(int(counts.sum()), numpy.uint8)
    send = numpy.frombuffer(payload, numpy.uint8).copy()
    _wait(g, g.mpi.all_gather_bytes(send, recv, counts), what)
    ends = numpy.cumsum(counts)
    return [recv[e - c:e].tobytes() for e, c in zip(ends, counts)]


def _broadcast_bytes(g, payload: bytes | None, root: int, what: str) -> bytes:
    n = numpy.array([len(payload) if g.rank == root else 0], numpy.int64)
    _wait(g, g.mpi.broadcast(n, root), what)
    if g.rank == root:
        buf = numpy.frombuffer(payload, numpy.uint8).copy()
    else:
        buf = numpy.empty(int(n[0]), numpy.uint8)
    _wait(g, g.mpi.broadcast(buf, root), what)
    return buf.tobytes()


def _dumps(obj) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def all_gather_object(object_list: list, obj, group=None) -> None:
    """``object_list[r]`` becomes rank r's ``obj`` (any picklable object)."""
    what = "all_gather_object"
    g = resolve(group, what)
    if g is GroupMember.NON_GROUP_MEMBER:
        return
    if len(object_list) != g.size:
        raise ValueError(f"{what}: object_list has {len(object_list)} entries for a group of "
                         f"{g.size} ranks")
    object_list[:] = [pickle.loads(b) for b in _all_gather_bytes(g, _dumps(obj), what)]


def gather_object(obj, object_gather_list: list | None = None, dst: int = 0,
                  group=None) -> None:
    """On global rank ``dst``, ``object_gather_list[r]`` becomes rank r's ``obj``."""
    what = "gather_object"
    g = resolve(group, what)
    if g is GroupMember.NON_GROUP_MEMBER:
        return
    root = g.group_rank(dst, what)
    if g.rank == root and (object_gather_list is None or len(object_gather_list) != g.size):
        raise ValueError(f"{what}: on the destination rank, object_gather_list must be a list "
                         f"of {g.size} entries")
    parts = _all_gather_bytes(g, _dumps(obj), what)
    if g.rank == root:
        object_gather_list[:] = [pickle.loads(b) for b in parts]


def scatter_object_list(scatter_object_output_list: list, scatter_object_input_list=None,
                        src: int = 0, group=None) -> None:
    """``scatter_object_output_list[0]`` becomes item r of global rank ``src``'s
    ``scatter_object_input_list`` on rank r (the list travels whole: keep it small)."""
    what = "scatter_object_list"
    g = resolve(group, what)
    if g is GroupMember.NON_GROUP_MEMBER:
        return
    root = g.group_rank(src, what)
    if not isinstance(scatter_object_output_list, list) or not scatter_object_output_list:
        raise ValueError(f"{what}: scatter_object_output_list must be a non-empty list")
    payload = None
    if g.rank == root:
        if scatter_object_input_list is None or len(scatter_object_input_list) != g.size:
            raise ValueError(f"{what}: on the source rank, scatter_object_input_list must hold "
                             f"{g.size} objects")
        payload = _dumps(list(scatter_object_input_list))
    items = pickle.loads(_broadcast_bytes(g, payload, root, what))
    scatter_object_output_list[0] = items[g.rank]


def broadcast_object_list(object_list: list, src: int = 0, group=None, device=None) -> None:
    """Every rank's ``object_list`` becomes (in place) global rank ``src``'s."""
    what = "broadcast_object_list"
    g = resolve(group, what)
    if g is GroupMember.NON_GROUP_MEMBER:
        return
    root = g.group_rank(src, what)
    payload = _dumps(list(object_list)) if g.rank == root else None
    got = pickle.loads(_broadcast_bytes(g, payload, root, what))
    if len(got) != len(object_list):
        raise ValueError(f"{what}: rank {src} sent {len(got)} objects but this rank's list has "
                         f"{len(object_list)} entries")
    object_list[:] = got
