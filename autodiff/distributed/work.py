"""Waiting on collectives: the :class:`Work` handle and the polling loop behind every wait.

A communicator (MPI or NCCL) starts an operation and returns a :class:`Pending`: ``test()``
says whether it is done (for MPI it also drives MPI's progress engine), ``finish()`` runs once
when it is (copy a staged buffer back, divide for ``AVG``), ``abort()`` tears the communicator
down on a timeout (NCCL). Everything above the communicator, the loop below included, is shared
by both backends.
"""
from __future__ import annotations

import os
import time
from typing import Callable

from .errors import DistTimeoutError

__all__ = ["Pending", "Work", "wait_until"]

_POLLS_PER_CHECK = 64    # Test() calls between looks at the clock and the failure channel
_YIELD_S = 1e-3          # after this long, yield the core between batches of polls
_SLEEP_S = 1.0           # after this long, sleep 1 ms between them: the peer is slow or hung
_yield = getattr(os, "sched_yield", lambda: time.sleep(0))  # Unix; sleep(0) elsewhere


class Pending:
    """An operation a communicator has started."""

    __slots__ = ("test", "finish", "abort", "keep")

    def __init__(self, test: Callable[[], bool], finish: Callable[[], None] | None = None,
                 abort: Callable[[], None] | None = None, keep=()) -> None:
        self.test, self.finish, self.abort = test, finish, abort
        self.keep = keep  # buffers the operation reads or writes, alive until it completes

    def then(self, fn: Callable[[], None]) -> "Pending":
        """Run ``fn`` after this operation's own ``finish``."""
        first = self.finish
        if first is None:
            self.finish = fn
        else:
            def both():
                first()
                fn()
            self.finish = both
        return self


def wait_until(test: Callable[[], bool], what: str, group, timeout: float | None = None,
               abort: Callable[[], None] | None = None) -> None:
    """Poll ``test`` until it is true; raise :class:`~.errors.PeerFailureError` as soon as
    another rank reports a failure and :class:`~.errors.DistTimeoutError` after ``timeout``
    seconds (the group's timeout by default)."""
    if test():
        return
    from .group import failure_channel
    channel = failure_channel()
    limit = group.timeout if timeout is None else timeout
    start = time.monotonic()
    while True:
        for _ in range(_POLLS_PER_CHECK):
            if test():
                return
        if channel is not None:
            channel.check()
        now = time.monotonic()
        if now - start > limit:
            if abort is not None:
                abort()
            raise DistTimeoutError(
                f"{what} did not complete within {limit:g} s on rank {group.global_rank} "
                f"({group.describe()}): a peer rank has not joined it (hung, or exited without "
                f"raising). Raise the timeout with init_process_group(timeout=...) if a rank "
                f"legitimately needs longer between collectives.")
        if now - start > _SLEEP_S:
            time.sleep(1e-3)
        elif now - start > _YIELD_S:
            # A rank waiting for a slower one spins (MPI progresses only inside MPI calls);
            # yielding lets other runnable processes, the slower rank among them when the
            # machine is oversubscribed, have the core. It returns at once on an idle core.
            _yield()


class Work:
    """Handle of an asynchronous collective (``async_op=True``), as PyTorch's ``Work``."""

    def __init__(self, pending: Pending, what: str, group) -> None:
        self._pending = pending
        self._what = what
        self._group = group
        self._done = False

    def _complete(self) -> None:
        if not self._done:
            self._done = True
            p, self._pending = self._pending, None
            if p.finish is not None:
                p.finish()

    def is_completed(self) -> bool:
        """True once the operation has finished (its result is then in place)."""
        if not self._done and self._pending.test():
            self._complete()
        return self._done

    def wait(self, timeout=None) -> bool:
        """Block until the operation has finished; ``timeout`` (seconds or a ``timedelta``)
        overrides the group's."""
        if not self._done:
            if timeout is not None and hasattr(timeout, "total_seconds"):
                timeout = timeout.total_seconds()
            wait_until(self._pending.test, self._what, self._group, timeout,
                       self._pending.abort)
            self._complete()
        return True

    def __repr__(self) -> str:
        return f"<Work {self._what} {'completed' if self._done else 'pending'}>"
