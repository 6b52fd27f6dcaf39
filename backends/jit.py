"""Whether numba is used for the NumPy backend's CPU kernels, and the one way they are compiled.

numba is optional: without it (or with ``AUTODIFF_NUMBA=0``) every kernel module falls back to
vectorised NumPy. Kernels are compiled with ``cache=True`` (compiled once per machine, then
loaded from ``__pycache__``) and ``nogil=True``.
"""
from __future__ import annotations

import os
from typing import Callable

HAVE_NUMBA = False
numba = None
if os.environ.get("AUTODIFF_NUMBA", "1") != "0":
    try:
        import numba  # type: ignore[no-redef]
        HAVE_NUMBA = True
    except ImportError:  # numba is optional
        numba = None

__all__ = ["HAVE_NUMBA", "numba", "njit"]


def njit(fn: Callable) -> Callable:
    """``numba.njit(cache=True, nogil=True)(fn)``, or ``fn`` itself when numba is off."""
    return numba.njit(cache=True, nogil=True)(fn) if HAVE_NUMBA else fn
