"""The NCCL communicator: GPU collectives through ``cupy.cuda.nccl`` on CuPy arrays in place.

One GPU per process. The NCCL unique id is made by the group's rank 0 and sent to the others
over MPI (``group.py``). Operations run on a dedicated stream that first waits for the work
already queued on the caller's stream; a CUDA event marks the end, ``test()`` polls it (and
NCCL's asynchronous error state), and ``finish()`` makes the caller's stream wait for it, so
the host never blocks on the GPU. On a timeout the communicator is aborted (``ncclCommAbort``).
Everything else (AVG, staging of non-contiguous arrays, Work, timeouts, failure notices, DDP)
is the code the MPI backend runs.
"""
from __future__ import annotations

from ..backends import on_host

__all__ = ["NCCLCommunicator", "nccl_available"]


def _import_nccl():
    from ..backends import cupy_backend
    return cupy_backend.nccl()


def nccl_available() -> bool:
    try:
        _import_nccl()
        return True
    except RuntimeError:  # no CuPy, no GPU, or no NCCL
        return False


class NCCLCommunicator:
    """Collectives of one NCCL communicator on the current GPU."""

    name = "nccl"

    def __init__(self, size: int, unique_id: tuple, rank: int, device: int) -> None:
        cupy, nccl = _import_nccl()
        self.cupy, self.nccl = cupy, nccl
        self.rank, self.size, self.device = rank, size, device
        with cupy.cuda.Device(device):
            self.comm = nccl.NcclCommunicator(size, unique_id, rank)
            self.stream = cupy.cuda.Stream(non_blocking=True)
        self._types = {}
        for np_name, nc_name in (("float16", "NCCL_FLOAT16"), ("float32", "NCCL_FLOAT32"),
                                 ("float64", "NCCL_FLOAT64"), ("int8", "NCCL_INT8"),
                                 ("uint8", "NCCL_UINT8"), ("int32", "NCCL_INT32"),
                                 ("uint32", "NCCL_UINT32"), ("int64", "NCCL_INT64"),
                                 ("uint64", "NCCL_UINT64"), ("bool", "NCCL_UINT8")):
            if hasattr(nccl, nc_name):
                self._types[np_name] = getattr(nccl, nc_name)
        self._ops = {"sum": nccl.NCCL_SUM, "product": nccl.NCCL_PROD, "max": nccl.NCCL_MAX,
                     "min": nccl.NCCL_MIN}

    def _dtype(self, a) -> int:
        t = self._types.get(a.dtype.name)
        if t is None:
            raise TypeError(f"nccl: dtype {a.dtype} is not supported (supported: "
                            f"{', '.join(sorted(self._types))})")
        return t

    def _op(self, op: str, a) -> int:
        if op not in self._ops:
            raise NotImplementedError(f"nccl: ReduceOp.{op.upper()} is not supported by NCCL "
                                      f"(use SUM, AVG, PRODUCT, MIN or MAX)")
        if a.dtype.name == "bool":  # as uint8: sum/max of 0/1 is "any" once cast back
            return self._ops["max" if op in ("sum", "max") else "min"]
        return self._ops[op]

    @staticmethod
    def _ptr(a) -> int:
        if on_host(a):
            raise TypeError("backend 'nccl' needs tensors on the GPU (CuPy arrays); move the "
                            "model and data with .to('cuda'), or use backend='mpi' for CPU "
                            "tensors")
        return a.data.ptr

    def _launch(self, call, keep) -> "Pending":
        from .work import Pending
        cupy = self.cupy
        caller = cupy.cuda.get_current_stream()
        ready = cupy.cuda.Event(disable_timing=True)
        ready.record(caller)
        self.stream.wait_event(ready)
        call(self.stream.ptr)
        done = cupy.cuda.Event(disable_timing=True)
        done.record(self.stream)

        check = getattr(self.comm, "check_async_error", None)  # CuPy >= 8

        def test() -> bool:
            if done.done:
                return True
            if check is not None:
                check()  # raises NcclError if a peer's failure broke the communicator
            return False
        return Pending(test, lambda: caller.wait_event(done), self.comm.abort, keep)

    def all_reduce(self, a, op: str):
        p, t, o = self._ptr(a), self._dtype(a), self._op(op, a)
        return self._launch(lambda s: self.comm.allReduce(p, p, a.size, t, o, s), (a,))

    def broadcast(self, a, root: int):
        p, t = self._ptr(a), self._dtype(a)
        return self._launch(lambda s: self.comm.broadcast(p, p, a.size, t, root, s), (a,))

    def all_gather(self, send, recv):
        ps, pr, t = self._ptr(send), self._ptr(recv), self._dtype(send)
        return self._launch(lambda s: self.comm.allGather(ps, pr, send.size, t, s), (send, recv))

    def reduce_scatter(self, send, recv, op: str):
        ps, pr, t, o = self._ptr(send), self._ptr(recv), self._dtype(send), self._op(op, send)
        return self._launch(lambda s: self.comm.reduceScatter(ps, pr, recv.size, t, o, s),
                            (send, recv))

    def free(self) -> None:
        if self.comm is not None:
            self.comm.destroy()
            self.comm = None
