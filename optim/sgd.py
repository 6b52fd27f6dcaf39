"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay.

With gradient ``g_t`` (negated for ``maximize``; plus ``weight_decay * w`` for L2 decay)::

    b_1 = g_1,   b_t = momentum * b_{t-1} + (1 - dampening) * g_t         (when momentum != 0)
    d_t = g_t + momentum * b_t   (nesterov)   or   d_t = b_t   (otherwise)
    w_t = w_{t-1} - lr * d_t

which is PyTorch's formulation (the learning rate multiplies the momentum buffer, not the
gradient inside it).
"""
from __future__ import annotations

from typing import Any

from autodiff.backends import get_array_module, kernels_for
from autodiff.ops.inplace import FusedUpdate, apply, update_op

from .optimizer import Optimizer, ParamsT, check_hparam, group_if_same, with_weight_decay

__all__ = ["SGD"]


class SGD(Optimizer):
    """``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
    maximize=False)``, as ``torch.optim.SGD``."""

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        n = type(self).__name__
        check_hparam(n, "lr", group["lr"], group["lr"] >= 0, "the learning rate must be >= 0")
        check_hparam(n, "momentum", group["momentum"], group["momentum"] >= 0, "must be >= 0")
        check_hparam(n, "weight_decay", group["weight_decay"], group["weight_decay"] >= 0,
                     "must be >= 0")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{n}: Nesterov momentum requires a momentum > 0 and zero "
                             f"dampening (got momentum={group['momentum']!r}, "
                             f"dampening={group['dampening']!r})")

    def _perturb(self, p, d, group):  # overridden by NoisySGD
        return d

    _has_perturb = False

    def _update_group(self, group: dict[str, Any]) -> None:
        gi = _index(self.param_groups, group)
        for pi, p in enumerate(group["params"]):
            if p.grad is not None:
                apply(SGD_STEP, (p, p.grad), (self, gi, pi))


def _index(groups: list, group: dict) -> int:
    """The position of ``group`` (by identity) among the optimizer's groups."""
    for i, g in enumerate(groups):
        if g is group:
            return i
    raise ValueError("the group is not one of the optimizer's param_groups")


def _sgd_step(w, d, opt: SGD, gi: int, pi: int) -> None:
    """One SGD update of parameter ``pi`` of group ``gi`` (array ``w``, gradient ``d``), in
    place, with the group's hyper-parameters and the parameter's state as they are now."""
    group = opt.param_groups[gi]
    p = group["params"][pi]
    lr = float(group["lr"])
    momentum = group["momentum"]
    dampening = group["dampening"]
    wd = group["weight_decay"]
    nesterov = group["nesterov"]
    maximize = group["maximize"]
    perturb = opt._perturb if opt._has_perturb else None
    state = opt.state
    fused = kernels_for(w, d).sgd_momentum_update if perturb is None else None
    if fused is not None:  # one kernel launch (CUDA); NoisySGD's noise: the generic path
        buf, first = None, False
        if momentum:
            st = state.setdefault(p, {})
            buf = st.get("momentum_buffer")
            first = buf is None
            if first:
                buf = st["momentum_buffer"] = get_array_module(w).empty_like(w)
        fused(w, d, buf, lr, momentum, dampening, wd, nesterov, first_step=first,
              maximize=maximize)
        return
    owned = False  # whether d is a temporary we may overwrite
    if maximize:
        d, owned = -d, True
    if wd:
        d, owned = with_weight_decay(d, w, wd), True
    if perturb is not None:
        d, owned = perturb(p, d, group), True
    if momentum:
        st = state.get(p)
        if st is None:
            st = state[p] = {}
        buf = st.get("momentum_buffer")
        if buf is None:
            buf = st["momentum_buffer"] = d.copy()
        else:
            buf *= momentum
            if dampening:
                buf += (1.0 - dampening) * d
            else:
                buf += d
        if nesterov:
            t = buf * momentum
            t += d
            d, owned = t, True
        else:
            d, owned = buf, False
    if owned:
        d *= lr
        w -= d
    else:
        w -= lr * d


def _sgd_fused(w, d, opt: SGD, gi: int, pi: int):
    """The update's form inside a fused loop (``ops.inplace.FusedUpdate``), for plain SGD and
    heavy-ball momentum after the first step (no dampening, weight decay, Nesterov, maximize
    or noise): the numbers of ``_sgd_step``, rounded as its in-place NumPy operations."""
    group = opt.param_groups[gi]
    p = group["params"][pi]
    momentum = group["momentum"]

    def plain(g) -> bool:
        return not (opt._has_perturb or g["maximize"] or g["weight_decay"] or g["nesterov"]
                    or g["dampening"]) and bool(g["momentum"]) == bool(momentum)
    if not plain(group) or kernels_for(w, d).sgd_momentum_update is not None:
        return None
    if momentum and opt.state.get(p, {}).get("momentum_buffer") is None:
        return None                       # the first step copies the gradient: not fused

    def fetch(dry: bool = False):
        g = group_if_same(opt, gi, pi, p)
        if g is None or not plain(g):
            return None
        if not momentum:
            return (float(g["lr"]),), ()
        buf = opt.state.get(p, {}).get("momentum_buffer")
        return None if buf is None else ((float(g["lr"]), float(g["momentum"])), (buf,))
    if momentum:      # buf = buf * momentum + d; w -= lr * buf
        assign = [("m0", "_D({m0} * _D({s1})) + {1}"), ("w", "{0} - _D(_D({s0}) * {m0})")]
    else:             # w -= lr * d
        assign = [("w", "{0} - _D(_D({s0}) * {1})")]
    return FusedUpdate(assign, fetch)


SGD_STEP = update_op("sgd_step", _sgd_step, _sgd_fused)
