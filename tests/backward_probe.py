"""``BackwardProbe``: an identity Function whose backward calls a callback, so a test can see
what has happened by the time the backward sweep reaches a given point of the graph."""
from __future__ import annotations

import autodiff as ad


class BackwardProbe(ad.Function):
    """``BackwardProbe.apply(x, callback)`` is ``x``; its backward calls ``callback()``."""

    @staticmethod
    def forward(ctx, x, callback):
        ctx.callback = callback
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        ctx.callback()
        return g, None
