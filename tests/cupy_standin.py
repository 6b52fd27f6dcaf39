"""A CPU stand-in for CuPy: device arrays that are *not* NumPy arrays, so the CuPy code paths of
the engine, nn and optim run (and fail where they would on a GPU) without a GPU.

What it reproduces of CuPy (the behaviours the GPU path has got wrong before):

- ``numpy.asarray(device_array)`` raises ``TypeError`` (CuPy's ``__array__`` refuses implicit
  host conversion); ``device_array[...] = numpy_array`` and elementwise operations mixing a
  device array with a NumPy array (not a scalar) raise ``TypeError: Unsupported type``.
- Integer-array indexing (``a[idx]``, ``take``, ``cupyx.scatter_add``) *wraps* out-of-range
  indices instead of raising, as CuPy does by default.
- Reductions return 0-d device arrays, not NumPy scalars.
- Every host synchronisation is logged in :data:`SYNCS` (``bool``/``int``/``float``/``item``/
  ``tolist``/``get``/``asnumpy``, boolean-mask indexing and other data-dependent shapes), and,
  inside :func:`recording_arrays`, the shape and dtype of every array made on the "device".

``activate()`` makes the ``cupy`` backend this stand-in (``ad.set_backend("cupy")``,
``x.to("cuda")`` and ``get_array_module`` then give it), with the fused CUDA kernels
(``backends.cuda_kernels``) run through their NumPy twins on the arrays' buffers, float16
refused as the CUDA kernels refuse it, and the softmax-cross-entropy kernel's NaN for an
invalid label. The arrays live in host memory: the stand-in checks code paths, not speed.

Used by ``tests/conftest.py``: with ``AUTODIFF_CUPY_STANDIN=1`` and no real GPU, the ``cupy``
parameter of the ``backend`` fixture runs on the stand-in (a CPU rehearsal of the GPU run);
tests may also use it directly (``with cupy_standin.activated(): ...``).
"""
from __future__ import annotations

import contextlib
import functools
import operator
import sys
import types
from dataclasses import replace
from typing import Iterator

import numpy

#: Host synchronisations since the last :func:`reset` (a reason string each).
SYNCS: list[str] = []
_RECORDERS: list[list] = []       # the lists of recording_arrays blocks


def _sync(reason: str) -> None:
    SYNCS.append(reason)


@contextlib.contextmanager
def counting_syncs() -> Iterator[list[str]]:
    """The host synchronisations made inside the block (a list filled as they happen)."""
    start = len(SYNCS)
    seen: list[str] = []
    try:
        yield seen
    finally:
        seen.extend(SYNCS[start:])


@contextlib.contextmanager
def recording_arrays() -> Iterator[list]:
    """(shape, dtype) of every device array made inside the block (results of operations,
    transfers and emulated kernels)."""
    rec: list = []
    _RECORDERS.append(rec)
    try:
        yield rec
    finally:
        _RECORDERS.remove(rec)


def _unsupported(x) -> TypeError:
    return TypeError(f"Unsupported type {type(x)}")


# ----------------------------------------------------------------------------- conversions
def wrap(x):
    """NumPy results as device arrays (NumPy scalars as 0-d arrays, as CuPy's reductions)."""
    if isinstance(x, numpy.ndarray):
        for rec in _RECORDERS:
            rec.append((x.shape, x.dtype))
        return ndarray(x)
    if isinstance(x, numpy.generic):
        return wrap(numpy.asarray(x))
    if isinstance(x, (tuple, list)):
        return type(x)(wrap(v) for v in x)
    return x


def _operand(x):
    """A device array's buffer; a NumPy array (not 0-d) is refused, as CuPy refuses it."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, numpy.ndarray) and x.ndim:
        raise _unsupported(x)
    if isinstance(x, (tuple, list)):
        return type(x)(_operand(v) for v in x)
    return x


def host(x):
    """The buffers of device arrays (shared: in-place writes reach the device array), for the
    emulated kernels; anything else as it is."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, (tuple, list)):
        return type(x)(host(v) for v in x)
    return x


def _index_key(key, shape: tuple, what: str) -> tuple:
    """``key`` for NumPy, with integer index arrays wrapped modulo their axis (CuPy's default);
    boolean masks logged as synchronisations (their result's size is read on the host)."""
    key = key if isinstance(key, tuple) else (key,)
    parts = []
    for k in key:
        if isinstance(k, ndarray):
            k = k._a
        elif isinstance(k, list):
            k = numpy.asarray(k)
        parts.append(k)

    def axes_of(k) -> int:
        if k is None or k is Ellipsis:
            return 0
        if isinstance(k, numpy.ndarray) and k.dtype == bool:
            return k.ndim
        return 1

    used = sum(axes_of(k) for k in parts)
    out, axis = [], 0
    for k in parts:
        if k is Ellipsis:
            axis += len(shape) - used
        elif isinstance(k, numpy.ndarray) and k.dtype == bool:
            _sync(f"{what} with a boolean mask")
        elif isinstance(k, numpy.ndarray) and k.dtype.kind in "iu" and axis < len(shape) \
                and shape[axis] > 0:
            k = k % shape[axis]
        out.append(k)
        axis += axes_of(k)
    return tuple(out)


# ----------------------------------------------------------------------------- the array
class ndarray:
    """A device array of the stand-in: a NumPy buffer behind CuPy's rules (see the module
    docstring). Its class lives in a module whose name starts with ``cupy``, which is how
    ``backends.get_array_module`` recognises CuPy arrays."""

    __slots__ = ("_a",)
    __array_priority__ = 100.0
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, a: numpy.ndarray) -> None:
        self._a = a

    # --- what CuPy refuses or does through the host
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def get(self, *args, **kwargs) -> numpy.ndarray:
        _sync("get")
        return self._a.copy()

    @property
    def __cuda_array_interface__(self) -> dict:
        return {"shape": self._a.shape, "typestr": self._a.dtype.str, "version": 3,
                "data": (self._a.ctypes.data, False), "strides": None}

    # --- the NumPy protocols: computed on the buffers, results on the device
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_operand(o) for o in out)
        res = getattr(ufunc, method)(*(_operand(x) for x in inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return wrap(res)

    def __array_function__(self, func, types_, args, kwargs):
        return wrap(func(*_operand(args), **{k: _operand(v) for k, v in kwargs.items()}))

    # --- indexing
    def __getitem__(self, key):
        return wrap(self._a[_index_key(key, self._a.shape, "getitem")])

    def __setitem__(self, key, value) -> None:
        if isinstance(value, (list, tuple)) or (isinstance(value, numpy.ndarray) and value.ndim):
            raise _unsupported(value)
        self._a[_index_key(key, self._a.shape, "setitem")] = host(value)

    def take(self, indices, axis=None, out=None, mode="wrap"):
        return _module.take(self, indices, axis=axis, out=out)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (self[i] for i in range(len(self._a)))

    def __repr__(self) -> str:
        return f"standin.{self._a!r}"

    # --- attributes
    @property
    def device(self):
        return _cuda.Device(0)

    def __getattr__(self, name: str):
        if name.startswith("__"):   # no __array_interface__/__array_struct__: no host view
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            @functools.wraps(attr)
            def method(*args, **kwargs):
                return wrap(attr(*_operand(args), **{k: _operand(v) for k, v in kwargs.items()}))
            return method
        return wrap(attr)

    def __setattr__(self, name: str, value) -> None:
        if name == "_a":
            object.__setattr__(self, name, value)
        elif name == "shape":
            self._a.shape = value
        else:
            raise AttributeError(f"cannot set {name!r} of a device array")


def _operators() -> None:
    for name, read in {"item": numpy.ndarray.item, "tolist": numpy.ndarray.tolist,
                       "__bool__": bool, "__int__": int, "__float__": float,
                       "__complex__": complex}.items():
        def to_host(s, name=name, read=read):      # reads a device value on the host
            _sync(name.strip("_"))
            return read(s._a)
        setattr(ndarray, name, to_host)
    binary = {"add": numpy.add, "sub": numpy.subtract, "mul": numpy.multiply,
              "truediv": numpy.true_divide, "floordiv": numpy.floor_divide, "mod": numpy.mod,
              "pow": numpy.power, "matmul": numpy.matmul, "and": numpy.bitwise_and,
              "or": numpy.bitwise_or, "xor": numpy.bitwise_xor, "lshift": numpy.left_shift,
              "rshift": numpy.right_shift}
    for name, uf in binary.items():
        setattr(ndarray, f"__{name}__", lambda s, o, uf=uf: uf(s, o))
        setattr(ndarray, f"__r{name}__", lambda s, o, uf=uf: uf(o, s))
        setattr(ndarray, f"__i{name}__", lambda s, o, uf=uf: uf(s, o, out=(s,)))
    for name, uf in {"eq": numpy.equal, "ne": numpy.not_equal, "lt": numpy.less,
                     "le": numpy.less_equal, "gt": numpy.greater,
                     "ge": numpy.greater_equal}.items():
        setattr(ndarray, f"__{name}__", lambda s, o, uf=uf: uf(s, o))
    for name, uf in {"neg": numpy.negative, "pos": numpy.positive, "abs": numpy.absolute,
                     "invert": numpy.invert}.items():
        setattr(ndarray, f"__{name}__", lambda s, uf=uf: uf(s))


_operators()


# ----------------------------------------------------------------------------- the module
_TRANSFER = ("asarray", "array", "ascontiguousarray", "asanyarray", "asfortranarray")
_SYNCING = {"nonzero", "flatnonzero", "argwhere", "unique", "bincount"}  # data-dependent shapes


class _Namespace(types.ModuleType):
    """A module whose functions are NumPy's, run on the buffers of device arrays."""

    def __init__(self, name: str, base) -> None:
        super().__init__(name)
        self._base = base

    def __getattr__(self, name: str):
        attr = getattr(self._base, name)
        if isinstance(attr, types.ModuleType):
            sub = _Namespace(f"{self.__name__}.{name}", attr)
        elif isinstance(attr, type) or not callable(attr):
            return attr
        else:
            def sub(*args, _f=attr, _n=name, **kwargs):
                if _n in _SYNCING:
                    _sync(_n)
                return wrap(_f(*_operand(args), **{k: _operand(v) for k, v in kwargs.items()}))
            functools.update_wrapper(sub, attr)
        object.__setattr__(self, name, sub)
        return sub


def _transfer(fn):
    """``cupy.asarray`` and friends: a host array or list is copied to the device; a device
    array of the requested dtype is returned as it is."""
    def to_device(obj, dtype=None, *args, copy=None, **kwargs):
        if isinstance(obj, ndarray):
            same = dtype is None or numpy.dtype(dtype) == obj.dtype
            if same and fn is not numpy.array and copy is not True:
                return obj if fn is not numpy.ascontiguousarray or \
                    obj._a.flags.c_contiguous else wrap(numpy.ascontiguousarray(obj._a))
            return wrap(numpy.array(obj._a, dtype=dtype, copy=True, *args, **kwargs))
        return wrap(numpy.array(host(obj), dtype=dtype, copy=True, *args, **kwargs))
    return to_device


def asnumpy(a, *args, **kwargs) -> numpy.ndarray:
    if isinstance(a, ndarray):
        return a.get()
    return numpy.asarray(a)


def _take(a, indices, axis=None, out=None, mode="wrap"):
    """CuPy's take: indices wrap around (there is no 'raise' mode on the device)."""
    a, idx = _operand(a), numpy.asarray(host(indices))
    n = a.size if axis is None else a.shape[axis]
    res = numpy.take(a, idx % n if n else idx, axis=axis)
    if out is not None:
        out._a[...] = res
        return out
    return wrap(res)


class _Generator:
    """``cupy.random.default_rng``: NumPy's generator, its draws on the device."""

    def __init__(self, seed) -> None:
        self._g = numpy.random.default_rng(seed)

    def __getattr__(self, name: str):
        f = getattr(self._g, name)
        return lambda *a, **k: wrap(f(*host(a), **k))


class _Device:
    def __init__(self, id: int = 0) -> None:
        self.id = id

    def synchronize(self) -> None:
        _sync("synchronize")

    def use(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


_cuda = types.SimpleNamespace(Device=_Device,
                              runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
_module = _Namespace("cupy_standin", numpy)
for _name in _TRANSFER:
    setattr(_module, _name, _transfer(getattr(numpy, _name)))
_module.ndarray = ndarray
_module.asnumpy = asnumpy
_module.take = _take
_module.cuda = _cuda
_module.random = _Namespace("cupy_standin.random", numpy.random)
_module.random.default_rng = _Generator
#: The stand-in's array module (what ``x.xp`` is for its arrays).
xp = _module


# ----------------------------------------------------------------------------- cupyx
def _scatter_add(out, key, values) -> None:
    numpy.add.at(out._a, _index_key(key, out._a.shape, "scatter_add"), host(values))


def _erf(x):
    from scipy.special import erf
    return wrap(erf(x._a).astype(x.dtype, copy=False))


def _cupyx_modules() -> dict:
    special = types.ModuleType("cupyx.scipy.special")
    special.erf = _erf
    scipy = types.ModuleType("cupyx.scipy")
    scipy.special = special
    cupyx = types.ModuleType("cupyx")
    cupyx.scatter_add = _scatter_add
    cupyx.scipy = scipy
    return {"cupyx": cupyx, "cupyx.scipy": scipy, "cupyx.scipy.special": special}


# ----------------------------------------------------------------------------- the kernels
def emulated(fn, checks_dtype: bool = True):
    """A ``cuda_kernels`` function run by its NumPy twin on the buffers, refusing the dtypes
    the CUDA kernels refuse."""
    from autodiff.backends import cuda_kernels

    @functools.wraps(fn)
    def kernel(*args, **kwargs):
        if checks_dtype:
            for a in args:
                if isinstance(a, ndarray) and a.dtype.kind == "f":
                    cuda_kernels._dtype_name(a.dtype, fn.__name__)
        return wrap(fn(*host(args), **host(kwargs)))
    return kernel


def _sce_forward(logits, labels, ignore_index: int = -100):
    """The softmax-cross-entropy kernel: NaN loss where a label is out of range (no raise)."""
    from autodiff.backends import cuda_kernels
    cuda_kernels._dtype_name(logits.dtype, "softmax_cross_entropy_forward")
    x, t = logits._a, labels._a
    C = x.shape[1]
    bad = (t != ignore_index) & ((t < 0) | (t >= C))
    loss, prob = cuda_kernels.softmax_cross_entropy_forward(x, numpy.where(bad, 0, t),
                                                             ignore_index)
    return wrap(numpy.where(bad, numpy.nan, loss).astype(loss.dtype)), wrap(prob)


def _patches() -> list[tuple[object, str, object]]:
    """(object, attribute, stand-in value) for every seam that reaches real CuPy."""
    import autodiff.random as adrandom
    from autodiff.backends import cuda_kernels, kernels, registry
    # the cuda_kernels routes are emulated; the namespace's own wrappers (activation backwards,
    # sum_to) and CuPy's array routines stay, reaching the patched kernels and cupyx below
    routes = {r: emulated(getattr(kernels._CUDA, r)) for r in kernels.CUDA_KERNEL_ROUTES}
    routes["softmax_cross_entropy_forward"] = _sce_forward
    activations = [(cuda_kernels, f"{k}_backward", emulated(getattr(cuda_kernels, f"{k}_backward")))
                   for k in ("relu", "tanh", "sigmoid")]

    def cupy_rng(reset: bool = False):      # autodiff.random._cupy_rng on the stand-in
        st = adrandom._state
        if reset or st["cupy"] is None:
            st["cupy"] = _Generator(st["cuda_seed"])
        return st["cupy"]
    return [(registry._BACKENDS, "cupy", registry.Backend("cupy", "cuda", xp)),
            (kernels, "_CUDA", replace(kernels._CUDA, name="cuda-standin", **routes)),
            *activations,
            (cuda_kernels, "sum_to_trailing", emulated(cuda_kernels.sum_to_trailing, False)),
            (adrandom, "_cupy_rng", cupy_rng), (adrandom._state, "cupy", None)]


@contextlib.contextmanager
def activated() -> Iterator[types.ModuleType]:
    """Inside the block the ``cupy`` backend is the stand-in; yields its array module."""
    saved = []
    for obj, name, value in _patches():
        get = operator.getitem if isinstance(obj, dict) else getattr
        has = name in obj if isinstance(obj, dict) else hasattr(obj, name)
        saved.append((obj, name, get(obj, name) if has else None, has))
        if isinstance(obj, dict):
            obj[name] = value
        else:
            setattr(obj, name, value)
    mods = _cupyx_modules()
    old_mods = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        yield xp
    finally:
        for k, v in old_mods.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
        for obj, name, value, has in reversed(saved):
            if isinstance(obj, dict):
                if has:
                    obj[name] = value
                else:
                    obj.pop(name, None)
            else:
                setattr(obj, name, value)
