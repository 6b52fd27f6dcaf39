"""RMSprop (Hinton, Coursera lecture 6e), with PyTorch's centered and momentum variants.

With gradient ``g_t`` (negated for ``maximize``; plus ``weight_decay * w`` for L2 decay)::

    s_t = alpha * s_{t-1} + (1 - alpha) * g_t^2
    a_t = alpha * a_{t-1} + (1 - alpha) * g_t,   r_t = sqrt(s_t - a_t^2) + eps   (centered)
                                                  r_t = sqrt(s_t) + eps           (otherwise)
    b_t = momentum * b_{t-1} + g_t / r_t,        w_t = w_{t-1} - lr * b_t        (momentum > 0)
                                                  w_t = w_{t-1} - lr * g_t / r_t  (otherwise)

All buffers start at zero.
"""
from __future__ import annotations

from typing import Any

from autodiff import increment_version
from autodiff.backends import get_array_module

from .optimizer import Optimizer, ParamsT, check_hparam

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, *, maximize=False)``, as ``torch.optim.RMSprop``."""

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        n = "RMSprop"
        check_hparam(n, "lr", group["lr"], group["lr"] >= 0, "the learning rate must be >= 0")
        check_hparam(n, "eps", group["eps"], group["eps"] >= 0, "must be >= 0")
        check_hparam(n, "alpha", group["alpha"], group["alpha"] >= 0, "must be >= 0")
        check_hparam(n, "momentum", group["momentum"], group["momentum"] >= 0, "must be >= 0")
        check_hparam(n, "weight_decay", group["weight_decay"], group["weight_decay"] >= 0,
                     "must be >= 0")

    def _update_group(self, group: dict[str, Any]) -> None:
        lr = float(group["lr"])
        alpha = group["alpha"]
        eps = group["eps"]
        momentum = group["momentum"]
        centered = group["centered"]
        for p, w, g, st in self._params_with_grads(group, _new_state):
            xp = get_array_module(w)
            if momentum > 0 and "momentum_buffer" not in st:
                st["momentum_buffer"] = xp.zeros_like(w)
            if centered and "grad_avg" not in st:
                st["grad_avg"] = xp.zeros_like(w)
            st["step"] += 1
            sq = st["square_avg"]
            t = g * g
            t *= 1.0 - alpha
            sq *= alpha
            sq += t
            if centered:
                ga = st["grad_avg"]
                xp.multiply(g, 1.0 - alpha, out=t)
                ga *= alpha
                ga += t
                xp.multiply(ga, ga, out=t)
                xp.subtract(sq, t, out=t)
                xp.sqrt(t, out=t)
            else:
                xp.sqrt(sq, out=t)
            t += eps
            xp.divide(g, t, out=t)
            if momentum > 0:
                buf = st["momentum_buffer"]
                buf *= momentum
                buf += t
                xp.multiply(buf, -lr, out=t)
            else:
                t *= -lr
            w += t
            increment_version(p)


def _new_state(w) -> dict:
    return {"step": 0, "square_avg": get_array_module(w).zeros_like(w)}
