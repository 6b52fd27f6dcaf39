"""Adagrad (Duchi, Hazan & Singer 2011) with PyTorch's learning-rate decay.

With gradient ``g_t`` (negated for ``maximize``; plus ``weight_decay * w`` for L2 decay)::

    lr_t = lr / (1 + (t - 1) * lr_decay)
    G_t  = G_{t-1} + g_t^2,          G_0 = initial_accumulator_value
    w_t  = w_{t-1} - lr_t * g_t / (sqrt(G_t) + eps)

The accumulator is created when the parameter is added (as PyTorch does).
"""
from __future__ import annotations

from typing import Any

from autodiff import increment_version
from autodiff.backends import get_array_module

from .optimizer import Optimizer, ParamsT, check_hparam

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """``Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
    eps=1e-10, *, maximize=False)``, as ``torch.optim.Adagrad``."""

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        n = "Adagrad"
        check_hparam(n, "lr", group["lr"], group["lr"] >= 0, "the learning rate must be >= 0")
        check_hparam(n, "lr_decay", group["lr_decay"], group["lr_decay"] >= 0, "must be >= 0")
        check_hparam(n, "weight_decay", group["weight_decay"], group["weight_decay"] >= 0,
                     "must be >= 0")
        check_hparam(n, "initial_accumulator_value", group["initial_accumulator_value"],
                     group["initial_accumulator_value"] >= 0, "must be >= 0")
        check_hparam(n, "eps", group["eps"], group["eps"] >= 0, "must be >= 0")

    def _init_group_state(self, group: dict[str, Any]) -> None:
        init = group["initial_accumulator_value"]
        for p in group["params"]:
            xp = get_array_module(p.array)
            self.state[p] = {"step": 0, "sum": xp.full_like(p.array, init)}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr = float(group["lr"])
        lr_decay = group["lr_decay"]
        eps = group["eps"]
        init = group["initial_accumulator_value"]

        def new_state(w) -> dict:  # e.g. state dropped by load_state_dict of a fresh optimizer
            return {"step": 0, "sum": get_array_module(w).full_like(w, init)}

        for p, w, g, st in self._params_with_grads(group, new_state):
            xp = get_array_module(w)
            step = st["step"] = st["step"] + 1
            clr = lr / (1.0 + (step - 1) * lr_decay)
            acc = st["sum"]
            t = g * g
            acc += t
            xp.sqrt(acc, out=t)
            t += eps
            xp.divide(g, t, out=t)
            t *= -clr
            w += t
            increment_version(p)
