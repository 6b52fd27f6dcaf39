"""``Variable``: the deprecated wrapper that PyTorch keeps as an alias (``Variable(t)`` returns a
Tensor), so code written for PyTorch before 0.4 runs unchanged."""
from __future__ import annotations

import warnings

from ..creation import empty
from ..tensor import Tensor

__all__ = ["Variable"]


class _VariableMeta(type):
    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableMeta):
    """``Variable(data, requires_grad=False)``: as in PyTorch, a new leaf Tensor sharing
    ``data``'s storage (and version counter), cut from any graph ``data`` belongs to, requiring
    grad as asked. ``isinstance(t, Variable)`` holds for every Tensor. ``volatile`` has no
    effect (a warning says so; use ``autodiff.no_grad()``)."""

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = False,
                volatile: bool = False) -> Tensor:
        if volatile:
            warnings.warn("Variable: volatile was removed and now has no effect; use "
                          "`with autodiff.no_grad():` instead", UserWarning, stacklevel=2)
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable: data has to be a tensor, but got "
                            f"{type(data).__name__}")
        return data.detach().requires_grad_(bool(requires_grad))
