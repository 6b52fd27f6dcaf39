"""The NumPy (CPU) backend."""
from __future__ import annotations

import numpy

from .registry import Backend


def make() -> Backend:
    return Backend(name="numpy", device="cpu", xp=numpy)
