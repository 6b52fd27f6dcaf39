"""Tensor creation: ``tensor``, ``zeros``, ``randn``... (PyTorch's names and keywords)."""
from __future__ import annotations

import math
import operator

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
    """A tensor sharing the memory of the NumPy array ``a``."""
    if not isinstance(a, numpy.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(a).__name__}")
    dtypes.as_dtype(a.dtype, "from_numpy")
    return make(a)


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


def _dt(dtype, op: str = "dtype"):
    return dtypes.as_dtype(dtype, op) if dtype is not None else dtypes.get_default_dtype()


def _float_dt(dtype, op: str):
    dt = _dt(dtype, op)
    if dt.kind != "f":
        raise TypeError(f"{op}: samples a floating dtype, got dtype={dt} (as in PyTorch; use "
                        f"randint for integers)")
    return dt


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


def _number(value, op: str):
    """A Python int or float from a number, a NumPy scalar or a one-element Tensor."""
    if isinstance(value, Tensor):
        value = value.item()
    elif isinstance(value, numpy.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{op}: expected a real number, got {type(value).__name__} ({value!r})")
    return value


def arange(start, end=None, step=1, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """``[start, end)`` in steps of ``step``, as ``torch.arange``: int64 when every argument is
    an integer, else the default dtype. Values are ``start + i * step`` computed in float64 (in
    integers for an integer ``dtype``, whose ``start``, ``end`` and ``step`` are first
    truncated toward zero, as PyTorch does), then cast."""
    if end is None:
        start, end = 0, start
    start, end, step = (_number(v, "arange") for v in (start, end, step))
    if dtype is None:
        ints = all(isinstance(v, int) for v in (start, end, step))
        dtype = dtypes.int64 if ints else dtypes.get_default_dtype()
    dtype = dtypes.as_dtype(dtype, "arange")
    if dtype.kind not in "iuf":
        raise TypeError(f"arange: dtype {dtype} is not supported (integer or floating)")
    xp = dtypes.xp_for(device)
    if dtype.kind in "iu":
        first, last, delta = int(start), int(end), int(step)
        # PyTorch checks and counts int64 ranges in integers, the other integer types in
        # doubles (then steps by the truncated step, which may be 0)
        if dtype == dtypes.int64:
            start, end, step = first, last, delta
        if step == 0:
            raise ValueError("arange: step must be nonzero")
        _check_step_sign(start, end, step)
        n = -((first - last) // delta) if dtype == dtypes.int64 else \
            math.ceil((end - start) / step)
        values = first + delta * xp.arange(n, dtype=numpy.int64)
    else:
        if step == 0:
            raise ValueError("arange: step must be nonzero")
        _check_step_sign(start, end, step)
        values = start + step * xp.arange(math.ceil((end - start) / step), dtype=numpy.float64)
    return _finish(values.astype(dtype), requires_grad)


def _check_step_sign(start, end, step) -> None:
    if (step > 0 and end < start) or (step < 0 and end > start):
        raise ValueError(f"arange: the bounds start={start}, end={end} are inconsistent with "
                         f"the sign of step={step}")


def _to_integer(value, dtype, what: str) -> int:
    """``value`` converted to the integer ``dtype`` (toward zero), refusing values that do not
    fit, as PyTorch (which wraps only negative Python ints into unsigned types)."""
    info = numpy.iinfo(dtype)
    if info.min <= value <= info.max:
        return int(value)
    if isinstance(value, int) and info.min == 0 and -info.max <= value < 0:
        return value % (info.max + 1)
    raise ValueError(f"linspace: {what}={value!r} cannot be converted to {dtype} without "
                     f"overflow")


def linspace(start, end, steps: int, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, as ``torch.linspace``: the first
    half ``start + i * delta``, the second ``end - (steps - 1 - i) * delta``, computed in float64
    and cast. For an integer ``dtype`` (as PyTorch) ``start`` and ``end`` are first converted to
    it and the values truncated toward zero: ``linspace(5, -5, 20, dtype=int32)`` is symmetric,
    where NumPy's rounds down."""
    steps = operator.index(steps)
    if steps < 0:
        raise ValueError(f"linspace: the number of steps must be non-negative, got {steps}")
    dt = _dt(dtype, "linspace")
    if dt.kind not in "iuf":
        raise TypeError(f"linspace: dtype {dt} is not supported (integer or floating)")
    start, end = _number(start, "linspace"), _number(end, "linspace")
    if dt.kind in "iu":
        start, end = _to_integer(start, dt, "start"), _to_integer(end, dt, "end")
    xp = dtypes.xp_for(device)
    i = xp.arange(steps, dtype=numpy.float64)
    if steps == 1:
        values = xp.full(1, start, numpy.float64)
    else:
        delta = (end - start) / max(steps - 1, 1)
        values = xp.where(i < steps // 2, start + delta * i, end - delta * (steps - 1 - i))
    return _finish(values.astype(dt), requires_grad)


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
    dt = _float_dt(dtype, "randn")
    data = generator(xp).standard_normal(_shape(size), dtype=numpy.float64 if
                                         dt == numpy.float64 else numpy.float32)
    return _finish(data.astype(dt, copy=False), requires_grad)


def rand(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp = dtypes.xp_for(device)
    dt = _float_dt(dtype, "rand")
    data = generator(xp).random(_shape(size), dtype=numpy.float64 if
                                dt == numpy.float64 else numpy.float32)
    return _finish(data.astype(dt, copy=False), requires_grad)


def randint(low: int, high: int | None = None, size=(), dtype=None, device=None) -> Tensor:
    if high is None:
        low, high = 0, low
    xp = dtypes.xp_for(device)
    size = (size,) if isinstance(size, int) else tuple(size)
    data = generator(xp).integers(low, high, size=size)
    return make(xp.asarray(data, dtype=_dt(dtype or numpy.int64, "randint")))


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
