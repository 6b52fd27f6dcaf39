"""The MPI communicator: non-blocking MPI collectives (mpi4py) on contiguous arrays.

NumPy arrays are passed to MPI in place (no copy). CuPy arrays are staged through host memory
(MPICH from the package registry is not CUDA-aware); use the ``nccl`` backend on GPUs.
Object collectives and the NCCL rendezvous always go through this communicator.
"""
from __future__ import annotations

import numpy

from ..backends import on_host, to_host
from .work import Pending

__all__ = ["MPICommunicator"]


class MPICommunicator:
    """Collectives of one MPI communicator (``mpi4py.MPI.Comm``) on arrays."""

    name = "mpi"

    def __init__(self, MPI, comm) -> None:
        self.MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()

    def _op(self, op: str, dtype):
        MPI = self.MPI
        if dtype == numpy.bool_:  # MPI's arithmetic ops are undefined on C bool
            return {"sum": MPI.LOR, "max": MPI.LOR, "min": MPI.LAND, "product": MPI.LAND,
                    "band": MPI.LAND, "bor": MPI.LOR, "bxor": MPI.LXOR}[op]
        return {"sum": MPI.SUM, "product": MPI.PROD, "max": MPI.MAX, "min": MPI.MIN,
                "band": MPI.BAND, "bor": MPI.BOR, "bxor": MPI.BXOR}[op]

    @staticmethod
    def _host(a, fill: bool = True):
        """(a NumPy buffer MPI can use, a function writing it back to ``a``, or None)."""
        if on_host(a):
            return a, None
        h = to_host(a) if fill else numpy.empty(a.shape, a.dtype)
        return h, lambda: a.set(h)

    def _start(self, request, finish=None, keep=()) -> Pending:
        return Pending(request.Test, finish, None, keep)

    def all_reduce(self, a, op: str) -> Pending:
        buf, back = self._host(a)
        return self._start(self.comm.Iallreduce(self.MPI.IN_PLACE, buf, self._op(op, a.dtype)),
                           back, (buf,))

    def broadcast(self, a, root: int) -> Pending:
        buf, back = self._host(a, fill=self.rank == root)
        return self._start(self.comm.Ibcast(buf, root), back, (buf,))

    def all_gather(self, send, recv) -> Pending:
        sbuf, _ = self._host(send)
        rbuf, back = self._host(recv, fill=False)
        return self._start(self.comm.Iallgather(sbuf, rbuf), back, (sbuf, rbuf))

    def reduce_scatter(self, send, recv, op: str) -> Pending:
        sbuf, _ = self._host(send)
        rbuf, back = self._host(recv, fill=False)
        return self._start(self.comm.Ireduce_scatter_block(sbuf, rbuf, self._op(op, send.dtype)),
                           back, (sbuf, rbuf))

    def barrier(self) -> Pending:
        return self._start(self.comm.Ibarrier())

    def all_gather_bytes(self, send: numpy.ndarray, recv: numpy.ndarray, counts) -> Pending:
        """Variable-length gather of uint8 buffers (``counts[r]`` bytes from rank r)."""
        displs = numpy.concatenate(([0], numpy.cumsum(counts)[:-1])).astype(numpy.int64)
        spec = [recv, (numpy.asarray(counts, numpy.int64), displs), self.MPI.BYTE]
        return self._start(self.comm.Iallgatherv([send, self.MPI.BYTE], spec), None,
                           (send, recv))

    def free(self) -> None:
        if self.comm != self.MPI.COMM_NULL:
            self.comm.Free()
