"""Tensor creation: ``tensor``, ``zeros``, ``randn``... (PyTorch's names and keywords)."""
from __future__ import annotations

import numpy

from . import dtypes
from .random import generator
from .tensor import Tensor, make


def _shape(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _finish(data, requires_grad: bool) -> Tensor:
    t = make(data)
    if requires_grad:
        t.requires_grad = True
    return t


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor from a list, scalar, NumPy/CuPy array or Tensor (copied)."""
    if isinstance(data, Tensor):
        data = data.array
    return _finish(dtypes.to_array(data, dtype, device, copy=True), requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like :func:`tensor` but shares memory with an array when it can."""
    if isinstance(data, Tensor):
        if dtype is None and device is None:
            return data
        data = data.array
    return make(dtypes.to_array(data, dtype, device))


def from_numpy(a: numpy.ndarray) -> Tensor:
    return make(numpy.asarray(a))


def from_dlpack(x) -> Tensor:
    """Zero-copy view of a DLPack-capable array (NumPy, CuPy, PyTorch, JAX...)."""
    if not hasattr(x, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ (a NumPy, CuPy, "
                        f"PyTorch or JAX array), got {type(x).__name__}")
    dev = x.__dlpack_device__()[0]
    if dev == 1:  # kDLCPU
        return make(numpy.from_dlpack(x))
    if dev != 2:  # kDLCUDA
        raise ValueError(f"from_dlpack: DLPack device type {dev} is not supported (CPU or CUDA)")
    from .backends.cupy_backend import _import_cupy
    return make(_import_cupy().from_dlpack(x))


def _dt(dtype):
    return numpy.dtype(dtype) if dtype is not None else dtypes.get_default_dtype()


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(dtypes.xp_for(device).zeros(_shape(size), _dt(dtype)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(dtypes.xp_for(device).ones(_shape(size), _dt(dtype)), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(dtypes.xp_for(device).empty(_shape(size), _dt(dtype)), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if dtype is None and isinstance(fill_value, bool):
        dtype = numpy.bool_
    elif dtype is None and isinstance(fill_value, int):
        dtype = numpy.int64
    size = (size,) if isinstance(size, int) else tuple(size)
    return _finish(dtypes.xp_for(device).full(size, fill_value, _dt(dtype)), requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    return _finish(dtypes.xp_for(device).eye(n, m, dtype=_dt(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, int) for v in (start, end, step))
        dtype = numpy.int64 if ints else dtypes.get_default_dtype()
    return _finish(dtypes.xp_for(device).arange(start, end, step, dtype=numpy.dtype(dtype)),
                   requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    return _finish(dtypes.xp_for(device).linspace(start, end, steps, dtype=_dt(dtype)),
                   requires_grad)


def _like(x: Tensor, dtype, device):
    return (x.dtype if dtype is None else dtype), (x.device if device is None else device)


def zeros_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt, dev = _like(x, dtype, device)
    return zeros(x.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def ones_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt, dev = _like(x, dtype, device)
    return ones(x.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def empty_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt, dev = _like(x, dtype, device)
    return empty(x.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def full_like(x: Tensor, fill_value, dtype=None, device=None,
              requires_grad: bool = False) -> Tensor:
    dt, dev = _like(x, dtype, device)
    return full(x.shape, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def randn(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the seeded generator of the device's backend."""
    xp = dtypes.xp_for(device)
    data = generator(xp).standard_normal(_shape(size), dtype=numpy.float64 if
                                         _dt(dtype) == numpy.float64 else numpy.float32)
    return _finish(data.astype(_dt(dtype), copy=False), requires_grad)


def rand(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp = dtypes.xp_for(device)
    data = generator(xp).random(_shape(size), dtype=numpy.float64 if
                                _dt(dtype) == numpy.float64 else numpy.float32)
    return _finish(data.astype(_dt(dtype), copy=False), requires_grad)


def randint(low: int, high: int | None = None, size=(), dtype=None, device=None) -> Tensor:
    if high is None:
        low, high = 0, low
    xp = dtypes.xp_for(device)
    size = (size,) if isinstance(size, int) else tuple(size)
    data = generator(xp).integers(low, high, size=size)
    return make(xp.asarray(data, dtype=numpy.dtype(dtype or numpy.int64)))


def randn_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt, dev = _like(x, dtype, device)
    return randn(x.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def rand_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt, dev = _like(x, dtype, device)
    return rand(x.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def randperm(n: int, device=None) -> Tensor:
    xp = dtypes.xp_for(device)
    # argsort of uniforms: CuPy's Generator has no permutation()
    return make(xp.argsort(generator(xp).random(n)))
