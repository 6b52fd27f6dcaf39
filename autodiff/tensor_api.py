"""Everyday Tensor methods of PyTorch training code, bound to Tensor by ``methods.py`` (the
:data:`METHODS` table): ``t``, the BLAS-style products (``mm``, ``bmm``, ``mv``, ``addmm``, ``baddbmm``,
``addmv``), ``contiguous``/``is_contiguous``, ``view_as``/``reshape_as``, ``new_zeros``/
``new_ones``/``new_full``/``new_empty``/``new_tensor``, ``ndimension``/``nelement``/
``element_size``, ``register_hook``, the in-place shape changes ``unsqueeze_``/``squeeze_``/
``t_``/``transpose_``, and ``to``/``cpu``/``cuda``/``clone`` with PyTorch's arguments; and the
top-level ``is_tensor``, ``numel``, ``equal`` and the memory formats.
"""
from __future__ import annotations

import inspect

import numpy

from . import creation
from .device import device as _device
from .grad_hooks import RemovableHandle, register_hook
from .grad_mode import STATE
from .ops import blas as B, elementwise as E, shape as S
from .ops.index import _snapshot
from .tape import increment_version
from .tensor import Tensor

__all__ = ["METHODS", "memory_format", "preserve_format", "contiguous_format", "channels_last",
           "is_tensor", "numel", "equal"]


# ----------------------------------------------------------------------------- memory formats
class memory_format:  # noqa: N801  (PyTorch's name)
    """A memory layout request. autodiff's arrays are laid out by the array library; a request
    for the default layouts is honoured and ``channels_last`` raises NotImplementedError."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"autodiff.{self.name}"


preserve_format = memory_format("preserve_format")
contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")


def _check_format(fmt, op: str, allowed=(preserve_format, contiguous_format)) -> None:
    if fmt not in allowed:
        raise NotImplementedError(f"{op}: memory_format={fmt!r} is not supported (arrays are "
                                  f"row-major; use {' or '.join(map(repr, allowed))})")


# ----------------------------------------------------------------------------- top level
def is_tensor(obj) -> bool:
    """Whether ``obj`` is a Tensor."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:  # noqa: A002
    """The number of elements of ``input``."""
    if not isinstance(input, Tensor):
        raise TypeError(f"numel: expected a Tensor, got {type(input).__name__}")
    return input.numel()


def equal(input: Tensor, other: Tensor) -> bool:  # noqa: A002
    """True when both tensors have the same shape and equal elements (compared after type
    promotion, so NaN is never equal)."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError(f"equal: expected two Tensors, got {type(input).__name__} and "
                        f"{type(other).__name__}")
    if input.shape != other.shape:
        return False
    return bool(E.eq(input, other).array.all())


# ----------------------------------------------------------------------------- methods
def _t(self) -> Tensor:
    """Transpose of a 2-D tensor; 0-D and 1-D tensors are returned as they are."""
    if self.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dimensions, but self is "
                           f"{self.ndim}-D (shape {tuple(self.shape)}); use transpose(d0, d1) "
                           f"or mT")
    return S.transpose(self) if self.ndim == 2 else self


def _contiguous(self, memory_format=contiguous_format) -> Tensor:
    """Self when its data is laid out row-major already, else a row-major copy
    (differentiable)."""
    _check_format(memory_format, "contiguous", (contiguous_format,))
    if _is_contiguous(self):
        return self
    return S.reshape(S.flatten(self), self.shape)   # flattening copies into row-major order


def _is_contiguous(self, memory_format=contiguous_format) -> bool:
    _check_format(memory_format, "is_contiguous", (contiguous_format,))
    return bool(self.array.flags.c_contiguous)


def _clone(self, *, memory_format=preserve_format) -> Tensor:
    """A copy of the data (differentiable: the gradient passes through)."""
    _check_format(memory_format, "clone")
    return E.mul(self, 1) if self._requires_grad else Tensor(self.array.copy())


def _view_as(self, other: Tensor) -> Tensor:
    return S.reshape(self, other.shape)


def _new_size(size: tuple, op: str) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if not all(isinstance(s, int) or hasattr(s, "__index__") for s in size):
        raise TypeError(f"{op}: size must be a sequence of ints, got {size!r}")
    return tuple(int(s) for s in size)


def _factory(name: str, make):
    """``x.new_<name>(*size, dtype=None, device=None, requires_grad=False)``: ``make``'s tensor
    with ``x``'s dtype and device unless given."""
    def method(self, *args, size=None, dtype=None, device=None,
               requires_grad: bool = False) -> Tensor:
        if size is not None and args:
            raise TypeError(f"new_{name}: size given both positionally {args} and as "
                            f"size={size!r}")
        size = args if size is None else (size,)
        return make(_new_size(size, f"new_{name}"),
                    dtype=self.dtype if dtype is None else dtype,
                    device=self.device if device is None else device,
                    requires_grad=requires_grad)
    method.__name__ = f"new_{name}"
    method.__doc__ = f"A new {name} tensor of the given size, with this tensor's dtype and " \
                     f"device unless given."
    return method


def _new_full(self, size, fill_value, *, dtype=None, device=None,
              requires_grad: bool = False) -> Tensor:
    return creation.full(_new_size((size,), "new_full"), fill_value,
                         dtype=self.dtype if dtype is None else dtype,
                         device=self.device if device is None else device,
                         requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor copying ``data``, with this tensor's dtype and device unless given."""
    return creation.tensor(data, dtype=self.dtype if dtype is None else dtype,
                           device=self.device if device is None else device,
                           requires_grad=requires_grad)


def _element_size(self) -> int:
    return int(self.array.itemsize)


def _register_hook(self, hook) -> RemovableHandle:
    """``hook(grad)`` runs each time the gradient with respect to this tensor is computed; if
    it returns a tensor, that replaces the gradient (for the rest of the backward, and in
    ``.grad``). Returns a handle whose ``remove()`` unregisters it."""
    return register_hook(self, hook)


def _inplace_shape(name: str, op):
    """``x.<name>(...)``: ``x`` takes the shape ``op`` gives it, in place (a view of the same
    data; the version counter is bumped, as PyTorch does)."""
    def method(self, *args, **kwargs) -> Tensor:
        if STATE.enabled and self._requires_grad:
            if self.grad_fn is None:
                raise RuntimeError(f"{name}: a leaf tensor that requires grad cannot be "
                                   f"modified in place outside autodiff.no_grad()")
            res = op(_snapshot(self), *args, **kwargs)
            self.array, self.grad_fn, self._out_idx = res.array, res.grad_fn, res._out_idx
        else:
            self.array = op(self, *args, **kwargs).array
        increment_version(self)
        return self
    method.__name__ = name
    method.__signature__ = inspect.signature(op)  # op's parameters, self first
    return method


def _to(self, *args, device=None, dtype=None, non_blocking: bool = False, copy: bool = False,
        memory_format=preserve_format) -> Tensor:
    """``to(dtype)``, ``to(device[, dtype])``, ``to(other)`` (its device and dtype), or the
    keywords; differentiable. Returns ``self`` when nothing changes, unless ``copy=True``.
    ``non_blocking`` is accepted (copies are synchronous)."""
    _check_format(memory_format, "to")
    args = list(args)
    if args and isinstance(args[0], Tensor):
        other = args.pop(0)
        device, dtype = other.device, other.dtype
    elif args and (isinstance(args[0], (str, int)) and not isinstance(args[0], bool)):
        device = args.pop(0)
        if args and not isinstance(args[0], bool):
            dtype = args.pop(0)
    elif args and args[0] is not None and not isinstance(args[0], bool):
        dtype = args.pop(0)
    if args:
        non_blocking = args.pop(0)
    if args:
        copy = args.pop(0)
    if args:
        raise TypeError(f"to: too many positional arguments ({args!r} left over)")
    out = self
    if dtype is not None:
        out = S.astype(out, numpy.dtype(dtype))
    if device is not None:
        out = S.to_device(out, _device(device))
    if copy and out is self:
        out = _clone(self)
    return out


def _cpu(self, memory_format=preserve_format) -> Tensor:
    return _to(self, "cpu", memory_format=memory_format)


def _cuda(self, device=None, non_blocking: bool = False, memory_format=preserve_format) -> Tensor:
    """A copy on the GPU (``device``: an index, 'cuda:N' or a device; default the current)."""
    target = _device("cuda") if device is None else _device(device)
    if target.type != "cuda":
        raise ValueError(f"cuda: expected a CUDA device, got {target!r}")
    return _to(self, target, non_blocking=non_blocking, memory_format=memory_format)


#: name -> function, bound to Tensor by ``methods.py``
METHODS = {
    "t": _t, "mm": B.mm, "bmm": B.bmm, "mv": B.mv, "addmm": B.addmm, "baddbmm": B.baddbmm,
    "addmv": B.addmv, "contiguous": _contiguous, "is_contiguous": _is_contiguous,
    "clone": _clone, "view_as": _view_as, "reshape_as": _view_as,
    "new_zeros": _factory("zeros", creation.zeros), "new_ones": _factory("ones", creation.ones),
    "new_empty": _factory("empty", creation.empty), "new_full": _new_full,
    "new_tensor": _new_tensor, "ndimension": Tensor.dim, "nelement": Tensor.numel,
    "element_size": _element_size, "register_hook": _register_hook,
    "unsqueeze_": _inplace_shape("unsqueeze_", S.unsqueeze),
    "squeeze_": _inplace_shape("squeeze_", S.squeeze),
    "t_": _inplace_shape("t_", _t), "transpose_": _inplace_shape("transpose_", S.swapaxes),
    "to": _to, "cpu": _cpu, "cuda": _cuda,
}
