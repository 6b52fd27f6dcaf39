"""The Tensor: a backend array plus what the tape needs (requires_grad, grad, grad_fn, version).

Operators and methods (including ``backward``, ``to`` and the hooks, which need the tape and
the ops: layers above this one) are attached in ``methods.py``, so this file holds only the
data model. Creation helpers with validation live in ``creation.py``.
"""
from __future__ import annotations

import numpy

from .backends import current, device_of, get_array_module, on_host

from . import dtypes
from .device import as_device, device
from .printing import array_text
from .size import Size, as_size


class Version:
    """A tensor's in-place modification counter, shared with saved-tensor records."""

    __slots__ = ("v",)

    def __init__(self) -> None:
        self.v = 0


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    >>> import autodiff as ad
    >>> x = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4.])
    """

    # _post_acc_hooks is set only on leaves given a post-accumulate-grad hook (tape.py),
    # _grad_hooks only on leaves given a gradient hook (grad_hooks.py)
    # ``array`` is the backend array (NumPy or CuPy) the engine computes on; ``data`` is
    # PyTorch's detached view of it (a property below)
    __slots__ = ("array", "_requires_grad", "grad", "grad_fn", "_out_idx", "_version",
                 "_retain", "_post_acc_hooks", "_grad_hooks", "__weakref__")
    __array_ufunc__ = None  # make `ndarray + Tensor` defer to Tensor.__radd__
    __array_priority__ = 1000

    def __init__(self, data, requires_grad: bool = False, dtype=None, device=None) -> None:
        if isinstance(data, Tensor):
            data = data.array
        self.array = dtypes.to_array(data, dtype, device)
        self._requires_grad = False
        self.grad = None
        self.grad_fn = None
        self._out_idx = 0
        self._version = Version()
        self._retain = False
        if requires_grad:
            self.requires_grad = True

    # ----------------------------------------------------------------------------- attributes
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if flag and not dtypes.is_floating(self.array.dtype):
            raise RuntimeError(f"requires_grad: only floating-point tensors can require "
                               f"gradients, got dtype {self.array.dtype}")
        if not flag and self.grad_fn is not None:
            raise RuntimeError("requires_grad: cannot turn off requires_grad on a non-leaf "
                               "tensor; use .detach()")
        self._requires_grad = bool(flag)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        self.requires_grad = flag
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def shape(self) -> Size:
        return as_size(self.array.shape)

    def size(self, dim: int | None = None):
        """PyTorch's ``size()``: the shape, or one dimension of it."""
        return as_size(self.array.shape) if dim is None else self.array.shape[dim]

    def numel(self) -> int:
        return int(self.array.size)

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def dim(self) -> int:
        return self.array.ndim

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def device(self) -> device:
        return as_device(device_of(self.array))

    @property
    def is_cuda(self) -> bool:
        return device_of(self.array) == "cuda"

    @property
    def xp(self):
        return get_array_module(self.array)

    def __len__(self) -> int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    # ----------------------------------------------------------------------------- conversions
    def numpy(self) -> numpy.ndarray:
        """The data as a NumPy array (a copy when it lives on the GPU)."""
        if _host_read_hook is not None:
            _host_read_hook(self, "numpy()")
        if device_of(self.array) == "cpu":
            return self.array
        return self.array.get()

    def __array__(self, dtype=None, copy=None):
        """NumPy's protocol: ``copy=True`` never shares the data, ``copy=False`` refuses to
        copy (a dtype change, a GPU tensor), ``None`` copies only when needed."""
        on_gpu = device_of(self.array) != "cpu"
        changes = dtype is not None and numpy.dtype(dtype) != self.array.dtype
        if copy is False and (on_gpu or changes):
            why = "the data is on the GPU" if on_gpu else \
                f"dtype {self.array.dtype} -> {numpy.dtype(dtype)}"
            raise ValueError(f"Tensor.__array__: copy=False, but a copy is needed ({why})")
        a = self.numpy()
        if changes:
            return a.astype(dtype)
        return a.copy() if copy and not on_gpu else a

    def item(self):
        if _host_read_hook is not None:
            _host_read_hook(self, "item()")
        if self.array.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to Python "
                             f"scalars, got shape {self.shape}")
        return self.array.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.array.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.array.size} elements is "
                             f"ambiguous (shape {self.shape}); use .any() or .all()")
        return bool(self.item())

    def __index__(self) -> int:
        if not dtypes.is_integer(self.array.dtype) or self.array.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def detach(self) -> "Tensor":
        """A new tensor sharing the data, cut from the graph."""
        t = Tensor.__new__(Tensor)
        t.array = self.array
        t._requires_grad = False
        t.grad = None
        t.grad_fn = None
        t._out_idx = 0
        t._version = self._version
        t._retain = False
        return t

    @property
    def data(self) -> "Tensor":
        """PyTorch's ``.data``: a tensor sharing this one's storage, cut from the graph, with a
        version counter of its own, so writes through it are invisible to autograd (unlike
        :meth:`detach`, whose in-place writes are caught when a saved tensor is unpacked)."""
        t = self.detach()
        t._version = Version()
        return t

    @data.setter
    def data(self, value: "Tensor") -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data: can only be set to a Tensor, got "
                            f"{type(value).__name__} (wrap arrays with autodiff.as_tensor)")
        self.array = value.array

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (a leaf keeps it anyway)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad: cannot retain the gradient of a tensor that does "
                               "not require grad")
        if self.grad_fn is None or self._retain:
            return
        self._retain = True
        self.grad_fn.retain(self)

    @property
    def retains_grad(self) -> bool:
        """Whether :meth:`retain_grad` was called on this non-leaf tensor."""
        return self._retain and self.grad_fn is not None

    def __repr__(self) -> str:
        body = array_text(self.numpy(), prefix="tensor(")
        extra = []
        if self.array.dtype not in (numpy.float32, numpy.int64, numpy.bool_):
            extra.append(f"dtype={self.array.dtype}")
        if self.device != "cpu":
            extra.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self._requires_grad:
            extra.append("requires_grad=True")
        return f"tensor({body}{''.join(', ' + e for e in extra)})"

    def __format__(self, spec: str) -> str:
        """A one-element 0-d tensor formats as its Python number (``f"{loss:.3f}"``), as in
        PyTorch; other tensors only with an empty spec, as their repr."""
        if self.array.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __hash__(self) -> int:
        return id(self)

    def __dlpack__(self, *args, **kwargs):
        if self._requires_grad:
            raise RuntimeError("__dlpack__: cannot export a tensor that requires grad (the "
                               "other library would bypass the tape); use .detach() first")
        return self.array.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()


# Called as hook(tensor, what) when a tensor's values are read on the host (item(), numpy(), and
# so float(), bool(), tolist()...): autodiff.compile's tracer sets it to mark a graph break.
_host_read_hook = None


def set_host_read_hook(hook) -> None:
    """Install (or, with None, remove) the hook called when tensor values are read on the host."""
    global _host_read_hook
    _host_read_hook = hook


_NUMPY_SCALARS = frozenset(numpy.sctypeDict.values()) - {numpy.ndarray}


def make(data, requires_grad: bool = False, grad_fn=None, out_idx: int = 0) -> Tensor:
    """Wrap an existing backend array without copying or validation (the engine's fast path)."""
    t = Tensor.__new__(Tensor)
    if data.__class__ in _NUMPY_SCALARS:
        data = numpy.asarray(data)  # 0-d results come back from NumPy as immutable scalars
    t.array = data
    t._requires_grad = requires_grad
    t.grad = None
    t.grad_fn = grad_fn
    t._out_idx = out_idx
    t._version = Version()
    t._retain = False
    return t


def as_tensor_like(x, like: Tensor) -> Tensor:
    """``x`` as a Tensor on ``like``'s device: scalars take ``like``'s dtype when of the same kind."""
    if isinstance(x, Tensor):
        return x
    xp = get_array_module(like.array)
    if isinstance(x, (bool, int, float)) and not isinstance(x, numpy.generic):
        dt = like.array.dtype
        if isinstance(x, float) and not dtypes.is_floating(dt):
            dt = dtypes.get_default_dtype()
        if on_host(xp):
            return make(numpy.asarray(x, dtype=dt))
        return make(_device_constant(xp, x, dt))
    return make(xp.asarray(x))


_CONSTANTS: dict = {}


def _device_constant(xp, value, dtype):
    """A cached 0-d device array for a Python scalar: no host-to-device copy per op."""
    key = (value, type(value), numpy.dtype(dtype).str)
    arr = _CONSTANTS.get(key)
    if arr is None:
        if len(_CONSTANTS) > 4096:
            _CONSTANTS.clear()
        arr = _CONSTANTS[key] = xp.asarray(value, dtype=dtype)
    return arr


def default_backend():
    return current()
