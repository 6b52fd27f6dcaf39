"""``autodiff.device``: PyTorch's device object (``device("cpu")``, ``device("cuda:0")``,
``device("cuda", 1)``, ``device(0)``).

A device is a ``str`` subclass holding its canonical name ("cpu", "cuda", "cuda:1"), so it is
accepted everywhere a device string is (``Tensor.to``, ``tensor(..., device=)``, ``Module.to``)
and compares equal to that string; it adds PyTorch's ``type`` and ``index`` and its repr.
``Tensor.device`` returns one.

>>> import autodiff as ad
>>> d = ad.device("cuda:1")
>>> d.type, d.index, str(d)
('cuda', 1, 'cuda:1')
>>> ad.device("cpu")
device(type='cpu')
"""
from __future__ import annotations

__all__ = ["device", "as_device"]

#: the device types this engine can place data on
DEVICE_TYPES = ("cpu", "cuda")


class device(str):  # noqa: N801  (PyTorch's name)
    """Where a tensor's data lives: a type ('cpu' or 'cuda') and an optional index."""

    __slots__ = ()

    def __new__(cls, type: "str | int | device", index: int | None = None) -> "device":  # noqa: A002
        if isinstance(type, device) and index is None:
            return type
        if isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", _check_index(type, type)  # PyTorch: an int is a CUDA ordinal
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string or an int, got {type.__class__.__name__}")
        name, sep, ordinal = type.strip().partition(":")
        if sep:
            if index is not None:
                raise RuntimeError(f"device: type (string) must not include an index because "
                                   f"index was passed explicitly: {type}")
            if not ordinal.isdigit():
                raise RuntimeError(f"device: invalid device string {type!r} (expected "
                                   f"'cpu', 'cuda' or 'cuda:N' with N a non-negative integer)")
            index = int(ordinal)
        if name not in DEVICE_TYPES:
            raise RuntimeError(f"device: expected one of {', '.join(DEVICE_TYPES)} device type at "
                               f"start of device string: {type!r}")
        if index is not None:
            index = _check_index(index, type)
        return str.__new__(cls, name if index is None else f"{name}:{index}")

    @property
    def type(self) -> str:  # noqa: A003
        return str.partition(self, ":")[0]

    @property
    def index(self) -> int | None:
        ordinal = str.partition(self, ":")[2]
        return int(ordinal) if ordinal else None

    def __repr__(self) -> str:
        index = self.index
        return f"device(type='{self.type}')" if index is None else \
            f"device(type='{self.type}', index={index})"

    def __reduce__(self):
        return device, (str(self),)


def _check_index(index, what) -> int:
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise RuntimeError(f"device: the device index must be a non-negative integer, got "
                           f"{index!r} (in {what!r})")
    return index


_CACHE: dict[str, device] = {}


def as_device(name: str) -> device:
    """The (cached) device object for a backend's device name ('cpu', 'cuda')."""
    d = _CACHE.get(name)
    if d is None:
        d = _CACHE[name] = device(name)
    return d
