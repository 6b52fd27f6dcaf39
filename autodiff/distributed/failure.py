"""Failure handling: a rank that raises stops the whole job, and the others say who failed.

MPI jobs hang when one rank dies inside a loop of collectives: the others wait in their next
collective forever. ``init_process_group`` therefore installs an ``sys.excepthook`` that, on an
uncaught exception in rank r,

1. prints the traceback with a first line naming rank r,
2. sends a short notice (the exception's type and message) to every other rank on a private
   duplicate of ``MPI.COMM_WORLD``,
3. waits (at most ``grace`` seconds) for each other rank to acknowledge, so that their own
   messages reach the terminal, then calls ``MPI_Abort``, which ends every process of the job.

Every wait on a collective (``work.wait_until``) polls this channel: a rank waiting for a peer
that has failed raises :class:`PeerFailureError` naming the failing rank within milliseconds; its
own excepthook acknowledges and aborts. A rank that hangs without raising is caught by the
collective timeout instead (:class:`DistTimeoutError`), which goes through the same path.
"""
from __future__ import annotations

import sys
import time
import traceback

from .errors import PeerFailureError

__all__ = ["FailureChannel"]

_FAIL_TAG = 0x7A11
_ACK_TAG = 0x7A12
_OUTPUT_FLUSH_S = 0.2  # mpiexec drops output still in flight when a process aborts


class FailureChannel:
    """Failure notices between the ranks of ``MPI.COMM_WORLD`` (global ranks)."""

    def __init__(self, MPI, grace: float) -> None:
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD.Dup()
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.grace = grace
        self._status = MPI.Status()
        self._previous_hook = None

    # ------------------------------------------------------------------ the waiting side
    def check(self) -> None:
        """Raise :class:`PeerFailureError` if another rank has reported a failure."""
        if self.comm.Iprobe(source=self.MPI.ANY_SOURCE, tag=_FAIL_TAG, status=self._status):
            src = self._status.Get_source()
            reason = self.comm.recv(source=src, tag=_FAIL_TAG)
            raise PeerFailureError(src, reason, self.rank)

    # ------------------------------------------------------------------ the failing side
    def report(self, exc: BaseException) -> None:
        """Tell the other ranks (or, for a :class:`PeerFailureError`, acknowledge the failing
        rank's notice), waiting at most ``grace`` seconds for their acknowledgements."""
        if isinstance(exc, PeerFailureError):
            self.comm.send(self.rank, dest=exc.rank, tag=_ACK_TAG)
            return
        reason = f"{type(exc).__name__}: {exc}"
        if len(reason) > 2000:
            reason = reason[:2000] + " ..."
        others = [r for r in range(self.size) if r != self.rank]
        requests = [self.comm.isend(reason, dest=r, tag=_FAIL_TAG) for r in others]
        done: set[int] = set()  # ranks that acknowledged, or that are failing themselves
        deadline = time.monotonic() + self.grace
        while len(done) < len(others) and time.monotonic() < deadline:
            for tag in (_ACK_TAG, _FAIL_TAG):
                if self.comm.Iprobe(source=self.MPI.ANY_SOURCE, tag=tag, status=self._status):
                    src = self._status.Get_source()
                    self.comm.recv(source=src, tag=tag)
                    done.add(src)
                    break
            else:
                time.sleep(1e-3)
        self._unsent = requests  # kept alive until the abort; they need not complete

    # ------------------------------------------------------------------ the excepthook
    def install(self) -> None:
        self._previous_hook = sys.excepthook
        sys.excepthook = self._excepthook

    def uninstall(self) -> None:
        if self._previous_hook is not None and sys.excepthook == self._excepthook:
            sys.excepthook = self._previous_hook
        self._previous_hook = None

    def _excepthook(self, tp, value, tb) -> None:
        sys.stderr.write(f"autodiff.distributed: rank {self.rank} of {self.size} raised "
                         f"{tp.__name__}; aborting the job\n")
        traceback.print_exception(tp, value, tb)
        try:
            self.report(value)
        finally:
            abort(self.MPI, 1)


def abort(MPI, code: int) -> None:
    """Flush this process's output, give mpiexec a moment to forward it, and abort the job."""
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(_OUTPUT_FLUSH_S)
    MPI.COMM_WORLD.Abort(code)
