"""``autodiff.Size``: PyTorch's shape type, a tuple of ints (``x.shape`` and ``x.size()``).

>>> import autodiff as ad
>>> s = ad.zeros(2, 3).shape
>>> s, type(s).__name__, s == (2, 3), s.numel(), type(s[1:]).__name__
((2, 3), 'Size', True, 6, 'Size')
"""
from __future__ import annotations

import math

__all__ = ["Size", "as_size"]


class Size(tuple):
    """A tuple of dimension sizes with PyTorch's ``numel()``; slicing and ``+`` give Sizes
    again. It prints as the tuple it is, ``(2, 3)`` (not PyTorch's ``torch.Size([2, 3])``), so
    shapes in messages and lists read as they always have."""

    __slots__ = ()

    def __new__(cls, sizes=()) -> "Size":
        sizes = tuple(sizes)
        for s in sizes:
            if not isinstance(s, int) and not hasattr(s, "__index__"):
                raise TypeError(f"Size: expected a sequence of integers, got an element of type "
                                f"{type(s).__name__}")
        return tuple.__new__(cls, (s if type(s) is int else s.__index__() for s in sizes))

    def numel(self) -> int:
        """The number of elements of a tensor of this shape."""
        return math.prod(self)

    def __getitem__(self, key):
        out = tuple.__getitem__(self, key)
        return tuple.__new__(Size, out) if isinstance(key, slice) else out

    def __add__(self, other) -> "Size":
        return tuple.__new__(Size, tuple.__add__(self, other))

    def __radd__(self, other) -> "Size":
        return tuple.__new__(Size, tuple.__add__(other, self))


    def __reduce__(self):
        return Size, (tuple(self),)


def as_size(shape: tuple) -> Size:
    """A backend array's shape (a tuple of ints) as a Size, without checking it."""
    return tuple.__new__(Size, shape)
