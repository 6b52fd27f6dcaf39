"""``autodiff.autograd``: PyTorch's ``torch.autograd`` namespace over the engine (``grad``,
``backward``, ``Function``, ``functional``, ``gradcheck``, the grad-mode switches, and
``Variable``, the deprecated alias PyTorch keeps).

>>> import autodiff as ad
>>> x = ad.tensor([1.0, 2.0], requires_grad=True)
>>> ad.autograd.grad((x ** 3).sum(), x)
(tensor([ 3., 12.]),)
"""
from __future__ import annotations

from ..function import Function, FunctionCtx, once_differentiable
from ..grad_mode import (detect_anomaly, enable_grad, inference_mode, no_grad,
                         set_grad_enabled)
from ..gradcheck import gradcheck, gradgradcheck
from ..tape import grad
from ..tape import backward as _backward
from ..tensor import Tensor
from . import function, functional, graph  # noqa: F401
from .variable import Variable

__all__ = ["Function", "FunctionCtx", "once_differentiable", "Variable", "backward", "grad",
           "functional", "graph", "function", "gradcheck", "gradgradcheck", "no_grad",
           "enable_grad", "set_grad_enabled", "inference_mode", "detect_anomaly"]


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False, grad_variables=None, inputs=None) -> None:
    """``torch.autograd.backward``: the sum of the gradients of ``tensors`` (a tensor or a
    sequence), each weighted by its entry of ``grad_tensors`` (None for one-element tensors),
    accumulated into the ``.grad`` of the leaves (or of ``inputs`` only)."""
    if grad_variables is not None:
        if grad_tensors is not None:
            raise RuntimeError("autograd.backward: pass grad_tensors only (grad_variables is "
                               "its deprecated name), not both")
        grad_tensors = grad_variables
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    _backward(tensors, grad_tensors, retain_graph, create_graph, inputs)
