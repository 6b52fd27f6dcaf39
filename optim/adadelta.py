"""Adadelta (Zeiler 2012), with PyTorch's learning-rate factor (default 1.0).

With gradient ``g_t`` (negated for ``maximize``; plus ``weight_decay * w`` for L2 decay)::

    E[g^2]_t  = rho * E[g^2]_{t-1} + (1 - rho) * g_t^2
    dx_t      = sqrt(E[dx^2]_{t-1} + eps) / sqrt(E[g^2]_t + eps) * g_t
    E[dx^2]_t = rho * E[dx^2]_{t-1} + (1 - rho) * dx_t^2
    w_t       = w_{t-1} - lr * dx_t

Both accumulators start at zero.
"""
from __future__ import annotations

from typing import Any

from autodiff import increment_version
from autodiff.backends import get_array_module

from .optimizer import Optimizer, ParamsT, check_hparam

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """``Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False)``, as
    ``torch.optim.Adadelta``."""

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        n = "Adadelta"
        check_hparam(n, "lr", group["lr"], group["lr"] >= 0, "the learning rate must be >= 0")
        check_hparam(n, "rho", group["rho"], 0.0 <= group["rho"] <= 1.0, "must be in [0, 1]")
        check_hparam(n, "eps", group["eps"], group["eps"] >= 0, "must be >= 0")
        check_hparam(n, "weight_decay", group["weight_decay"], group["weight_decay"] >= 0,
                     "must be >= 0")

    def _update_group(self, group: dict[str, Any]) -> None:
        lr = float(group["lr"])
        rho = group["rho"]
        eps = group["eps"]
        for p, w, g, st in self._params_with_grads(group, _new_state):
            xp = get_array_module(w)
            st["step"] += 1
            sq = st["square_avg"]
            acc = st["acc_delta"]
            t = g * g
            t *= 1.0 - rho
            sq *= rho
            sq += t
            xp.add(sq, eps, out=t)
            xp.sqrt(t, out=t)                 # std = sqrt(E[g^2] + eps)
            u = acc + eps
            xp.sqrt(u, out=u)
            u /= t
            u *= g                            # delta
            xp.multiply(u, u, out=t)
            t *= 1.0 - rho
            acc *= rho
            acc += t
            u *= -lr
            w += u
            increment_version(p)


def _new_state(w) -> dict:
    xp = get_array_module(w)
    return {"step": 0, "square_avg": xp.zeros_like(w), "acc_delta": xp.zeros_like(w)}
