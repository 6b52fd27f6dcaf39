"""``autodiff.autograd.function``: custom differentiable operations (the implementation is in
:mod:`autodiff.function`)."""
from ..function import Function, FunctionCtx, once_differentiable

__all__ = ["Function", "FunctionCtx", "once_differentiable"]
