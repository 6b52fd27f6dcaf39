"""Arrays derived from data outside the primitives (checked labels, wrapped row numbers) that
an op then keeps among its attributes: made through :func:`derived`, one op of the tape's
array arithmetic, so that ``autodiff.compile`` records it and remakes them from its inputs at
every replay instead of baking the values of the traced call into the program.
"""
from __future__ import annotations

from typing import Callable

from ..tape import _apply

__all__ = ["derived"]


def derived(fn: Callable, *arrays):
    """``fn(*arrays)`` (an array, or a tuple of arrays and Nones), recorded by an active
    ``autodiff.compile`` trace. ``fn`` must be pure: it reads only ``arrays`` (bind other
    values with ``functools.partial``), and may raise (a check that then runs per replay)."""
    return _apply(fn, *arrays)
