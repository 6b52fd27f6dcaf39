"""The dtype methods of Tensor, bound by ``methods.py`` (the :data:`METHODS` table): the casts
``float``/``double``/``half``/``int``/``long``/``short``/``char``/``byte``/``bool``, ``type``
(PyTorch's tensor-type names: ``x.type()`` is ``'torch.FloatTensor'``), ``view(dtype)`` (a
bitcast sharing the storage; ``view(*shape)`` reshapes), ``is_floating_point``/``is_complex``,
and the bitwise operators (``&``, ``|``, ``^``, ``~``, ``<<``, ``>>``, from ``ops/bitwise.py``).

Casts into floating dtypes are differentiable (the gradient comes back in the input's dtype);
casts into integer or bool dtypes give tensors that require no grad, as in PyTorch.
"""
from __future__ import annotations

import numpy

from . import dtypes
from .ops import bitwise
from .ops._util import astype
from .ops.shape import reshape, to_device
from .tensor import make

__all__ = ["METHODS", "tensor_type_name"]

#: PyTorch's tensor-type names (``torch.FloatTensor``...) of each dtype
_TYPE_NAMES = {
    dtypes.float32: "Float", dtypes.float64: "Double", dtypes.float16: "Half",
    dtypes.int64: "Long", dtypes.int32: "Int", dtypes.int16: "Short", dtypes.int8: "Char",
    dtypes.uint8: "Byte", dtypes.bool_: "Bool", dtypes.complex64: "ComplexFloat",
    dtypes.complex128: "ComplexDouble", dtypes.uint16: "UInt16", dtypes.uint32: "UInt32",
    dtypes.uint64: "UInt64",
}
_DTYPE_OF_NAME = {name: dt for dt, name in _TYPE_NAMES.items()}


def tensor_type_name(dtype, device: str = "cpu") -> str:
    """PyTorch's name of the tensor type: ``'torch.FloatTensor'``, ``'torch.cuda.LongTensor'``."""
    where = "cuda." if device == "cuda" else ""
    return f"torch.{where}{_TYPE_NAMES[numpy.dtype(dtype)]}Tensor"


def _parse_type_name(name: str):
    """(dtype, device) of a PyTorch tensor-type name."""
    parts = name.split(".")
    if len(parts) in (2, 3) and parts[0] == "torch" and parts[-1].endswith("Tensor") and \
            (len(parts) == 2 or parts[1] == "cuda"):
        dt = _DTYPE_OF_NAME.get(parts[-1][:-len("Tensor")])
        if dt is not None:
            return dt, ("cuda" if len(parts) == 3 else "cpu")
    raise ValueError(f"type: invalid type {name!r} (a dtype such as autodiff.float64, or a "
                     f"tensor-type name such as 'torch.DoubleTensor' / 'torch.cuda.FloatTensor')")


def _type(self, dtype=None, non_blocking: bool = False, **kwargs):
    """``x.type()``: PyTorch's tensor-type name (``'torch.FloatTensor'``); ``x.type(dtype)`` or
    ``x.type('torch.DoubleTensor')``: the tensor cast (and, for a ``torch.cuda.*`` name, moved),
    or ``x`` itself when it already has that type. ``non_blocking`` changes nothing here."""
    if kwargs:
        raise TypeError(f"type: unexpected keyword arguments {sorted(kwargs)}")
    if dtype is None:
        return tensor_type_name(self.array.dtype, self.device)
    if isinstance(dtype, str):
        dt, device = _parse_type_name(dtype)
        out = astype(self, dt)
        return out if device == self.device else to_device(out, device)
    return astype(self, dtypes.as_dtype(dtype, "type"))


def _cast(dtype, name: str):
    def method(self):
        return astype(self, dtype)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``self`` cast to {dtype} (PyTorch's ``Tensor.{name}()``)."
    return method


def _bfloat16(self):
    raise NotImplementedError("bfloat16: NumPy has no bfloat16 dtype (use half() or float())")


def _is_dtype(arg) -> bool:
    return isinstance(arg, numpy.dtype) or \
        (isinstance(arg, type) and issubclass(arg, numpy.generic))


def _view(self, *shape, dtype=None):
    """``view(*shape)``: reshape (sharing the data); ``view(dtype)``: the same bytes read as
    ``dtype`` (a bitcast, as PyTorch's ``Tensor.view(dtype)``). A bitcast to a smaller element
    scales the last dimension up, to a larger one down (it must divide, and be contiguous); it
    shares the storage and version counter and, as in PyTorch, is not differentiable."""
    if dtype is None and len(shape) == 1 and _is_dtype(shape[0]):
        dtype, shape = shape[0], ()
    if dtype is None:
        return reshape(self, *shape)
    if shape:
        raise TypeError("view: pass either a shape or a dtype, not both")
    dt = dtypes.as_dtype(dtype, "view")
    src = self.array.dtype
    if dt.itemsize != src.itemsize:
        if self.ndim == 0:
            raise RuntimeError(f"view: a 0-d tensor cannot be viewed as {dt} from {src} "
                               f"(different element sizes)")
        if self.array.strides[-1] != src.itemsize:
            raise RuntimeError(f"view: the last dimension must be contiguous to view {src} as "
                               f"{dt} (different element sizes); call .contiguous() first")
        if dt.itemsize > src.itemsize and \
                (self.shape[-1] * src.itemsize) % dt.itemsize:
            raise RuntimeError(f"view: the last dimension ({self.shape[-1]} x {src.itemsize} "
                               f"bytes) is not a multiple of {dt}'s {dt.itemsize} bytes")
    out = make(self.array.view(dt))
    out._version = self._version
    return out


def _is_floating_point(self) -> bool:
    return self.array.dtype.kind == "f"


def _is_complex(self) -> bool:
    return self.array.dtype.kind == "c"


METHODS = {
    "type": _type, "view": _view, "is_floating_point": _is_floating_point,
    "is_complex": _is_complex, "bfloat16": _bfloat16,
    "float": _cast(dtypes.float32, "float"), "double": _cast(dtypes.float64, "double"),
    "half": _cast(dtypes.float16, "half"), "int": _cast(dtypes.int32, "int"),
    "long": _cast(dtypes.int64, "long"), "short": _cast(dtypes.int16, "short"),
    "char": _cast(dtypes.int8, "char"), "byte": _cast(dtypes.uint8, "byte"),
    "bool": _cast(dtypes.bool_, "bool"),
    **bitwise.METHODS,
}
