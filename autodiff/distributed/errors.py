"""The errors a distributed job raises instead of hanging."""
from __future__ import annotations

__all__ = ["DistError", "DistTimeoutError", "PeerFailureError"]


class DistError(RuntimeError):
    """Base class of the errors raised by ``autodiff.distributed`` (PyTorch's ``DistError``)."""


class DistTimeoutError(DistError):
    """A collective did not complete within the process group's timeout."""


class PeerFailureError(DistError):
    """Another rank raised an exception; this rank stops instead of waiting for it forever.

    ``rank`` is the global rank that failed, ``reason`` its error as text."""

    def __init__(self, rank: int, reason: str, this_rank: int) -> None:
        self.rank, self.reason = rank, reason
        super().__init__(f"rank {rank} failed with {reason} (rank {this_rank} stops: the job "
                         f"cannot continue without rank {rank})")
