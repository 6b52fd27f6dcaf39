"""The one seam between the engine and array libraries.

The engine never imports NumPy or CuPy for array work directly: it asks this module for the
array module (``xp``) that owns the data (Chainer's ``get_array_module``), and creation functions
ask for the *default* backend, chosen by ``AUTODIFF_BACKEND`` or :func:`set_backend`.
Backends know nothing of Tensors.
"""
from __future__ import annotations

import os
from types import ModuleType

import numpy

from .registry import Backend, available_backends, get_backend

__all__ = ["Backend", "available_backends", "get_backend", "set_backend", "current",
           "get_array_module", "device_of", "kernels_for", "reference_kernels",
           "conv_output_size", "on_host", "to_host", "to_device"]

_current: Backend | None = None


def set_backend(name: str) -> Backend:
    """Make ``name`` ('numpy' or 'cupy') the backend for newly created tensors."""
    global _current
    _current = get_backend(name)
    return _current


def current() -> Backend:
    """The default backend: the one set last, else ``AUTODIFF_BACKEND``, else numpy."""
    global _current
    if _current is None:
        _current = get_backend(os.environ.get("AUTODIFF_BACKEND", "numpy") or "numpy")
    return _current


def get_array_module(*arrays) -> ModuleType:
    """numpy, or cupy when any of ``arrays`` is a CuPy array (decided from the data)."""
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            return get_backend("cupy").xp
    return numpy


def device_of(array) -> str:
    """'cuda' for CuPy arrays, 'cpu' otherwise."""
    return "cuda" if type(array).__module__.startswith("cupy") else "cpu"


def on_host(x) -> bool:
    """Whether ``x`` (an array, or an array module such as a Tensor's ``xp``) lives in host
    memory: what callers ask instead of which library they hold."""
    if isinstance(x, ModuleType):
        return x is numpy
    return device_of(x) == "cpu"


def to_host(a) -> numpy.ndarray:
    """A NumPy array with the values of the NumPy or CuPy array ``a`` (``a`` itself if NumPy)."""
    return numpy.asarray(a) if device_of(a) == "cpu" else a.get()


def to_device(x, device: str):
    """``x`` on ``device`` ('cpu', 'cuda', 'cuda:0'): ``x`` itself when it is there already."""
    name = str(device).split(":")[0]
    target = get_backend("numpy" if name == "cpu" else name)
    if device_of(x) == target.device:
        return x
    if target.xp is numpy:
        return x.get()
    return target.xp.asarray(x)


def conv_output_size(size: int, k: int, stride: int, pad_before: int, pad_after: int,
                     dilation: int) -> int:
    """Number of sliding windows along one axis (PyTorch's floor formula)."""
    return (size + pad_before + pad_after - dilation * (k - 1) - 1) // stride + 1


def __getattr__(name: str):
    # the kernel namespaces (backends.kernels) import numba: loaded on first use, then bound
    # here so that later look-ups are plain attribute reads
    if name in ("kernels_for", "reference_kernels"):
        from . import kernels
        value = globals()[name] = getattr(kernels, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
