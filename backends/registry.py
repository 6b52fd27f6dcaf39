"""Backend objects: a name, a device, and the array module that does the work."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

import numpy


@dataclass(frozen=True)
class Backend:
    """An array library behind the seam: ``xp`` is numpy or cupy."""

    name: str
    device: str
    xp: ModuleType
    kernels: object = field(default=None, compare=False, repr=False)

    def asarray(self, data, dtype=None):
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, array) -> numpy.ndarray:
        if self.xp is numpy:
            return numpy.asarray(array)
        return self.xp.asnumpy(array)


_BACKENDS: dict[str, Backend] = {}
_NAMES = ("numpy", "cupy")


def available_backends() -> tuple[str, ...]:
    """The names :func:`get_backend` accepts."""
    return _NAMES


def _make(name: str) -> Backend:
    if name == "numpy":
        from . import numpy_backend
        return numpy_backend.make()
    from . import cupy_backend
    return cupy_backend.make()


def get_backend(name: str) -> Backend:
    """The backend called ``name``; raises ValueError listing the valid names, or
    RuntimeError saying whether CuPy or a GPU is missing."""
    key = str(name).strip().lower()
    if key in ("cuda", "gpu"):
        key = "cupy"
    if key in ("cpu", "np"):
        key = "numpy"
    if key not in _NAMES:
        raise ValueError(f"unknown backend {name!r}; valid backends are {', '.join(_NAMES)} "
                         f"(set AUTODIFF_BACKEND or call autodiff.set_backend)")
    if key not in _BACKENDS:
        _BACKENDS[key] = _make(key)
    return _BACKENDS[key]
