"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_`` (PyTorch's semantics).

Both act on the ``.grad`` of the given parameters in place (a read-only broadcast gradient array
is replaced by a scaled copy instead) and skip parameters without a gradient.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Iterable

from autodiff import increment_version, no_grad
from autodiff.ops.derived import derived
from autodiff.backends import get_array_module
from autodiff.tensor import Tensor, make

from .optimizer import _writable

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm"]


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def _norm(a, norm_type: float):
    xp = get_array_module(a)
    if norm_type == math.inf:
        return xp.abs(a).max() if a.size else xp.zeros((), a.dtype)
    if norm_type == -math.inf:
        return xp.abs(a).min() if a.size else xp.zeros((), a.dtype)
    if norm_type == 0:
        return (a != 0).sum().astype(a.dtype)
    if norm_type == 2.0:
        return xp.sqrt(xp.vdot(a.ravel(), a.ravel()).real).astype(a.dtype)
    if norm_type == 1.0:
        return xp.abs(a).sum()
    return (xp.abs(a) ** norm_type).sum() ** (1.0 / norm_type)


def _total_norm(*arrays, norm_type: float):
    xp = get_array_module(arrays[0])
    return xp.asarray(_norm(xp.stack([_norm(a, norm_type) for a in arrays]), norm_type))


def get_total_norm(tensors: Iterable, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False) -> Tensor:
    """The ``norm_type`` norm of all the given arrays/Tensors taken together (as one vector)."""
    arrays = [t.array if isinstance(t, Tensor) else t for t in tensors]
    norm_type = float(norm_type)
    if not arrays:
        return Tensor(0.0)
    # one recorded array op, so that autodiff.compile remakes the norm at every replay
    total = derived(functools.partial(_total_norm, norm_type=norm_type), *arrays)
    xp = get_array_module(total)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           f"{len(arrays)} parameters is non-finite ({float(total)}), so it "
                           f"cannot be clipped. To disable this error and scale the gradients "
                           f"by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return make(xp.asarray(total))


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients so their total ``norm_type`` norm is at most ``max_norm``.

    The coefficient is ``min(1, max_norm / (total_norm + 1e-6))``; returns the total norm of the
    gradients before clipping (a 0-d Tensor), as ``torch.nn.utils.clip_grad_norm_``.
    """
    params = _grads(parameters)
    max_norm = float(max_norm)
    if not params:
        return Tensor(0.0)
    total = get_total_norm([p.grad for p in params], norm_type, error_if_nonfinite)
    coef = derived(functools.partial(_clip_coef, max_norm=max_norm), total.array)
    for p in params:
        g = p.grad
        c = make(coef.astype(g.dtype))
        if _writable(g.array):
            with no_grad():
                g.mul_(c)            # a traced in-place update (autodiff.compile replays it)
        else:
            p.grad = make(g.array * c.array)
    return total


def _clip_coef(total, max_norm: float):
    return get_array_module(total).minimum(max_norm / (total + 1e-6), 1.0)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    for p in _grads(parameters):
        g = p.grad.array
        xp = get_array_module(g)
        if _writable(g):
            xp.clip(g, -clip_value, clip_value, out=g)
            increment_version(p.grad)
        else:
            p.grad = make(xp.clip(g, -clip_value, clip_value))
