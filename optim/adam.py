"""Adam (Kingma & Ba 2015) with bias correction and AMSGrad, and AdamW (Loshchilov & Hutter 2019).

With gradient ``g_t`` (negated for ``maximize``)::

    Adam:  g_t <- g_t + weight_decay * w_{t-1}              (L2 penalty in the gradient)
    AdamW: w_{t-1} <- w_{t-1} * (1 - lr * weight_decay)     (decoupled weight decay)
    m_t = beta1 * m_{t-1} + (1 - beta1) * g_t
    v_t = beta2 * v_{t-1} + (1 - beta2) * g_t^2
    v^max_t = max(v^max_{t-1}, v_t)                         (amsgrad; v_t used below otherwise)
    w_t = w_{t-1} - lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)

exactly PyTorch's arrangement (``eps`` is added after the bias correction of ``v``). Both classes
share one implementation; ``AdamW`` is ``Adam`` with ``decoupled_weight_decay=True`` and a default
``weight_decay`` of 1e-2.
"""
from __future__ import annotations

import math
from typing import Any

from autodiff.backends import get_array_module, kernels_for
from autodiff.ops.inplace import FusedUpdate, apply, update_op

from .optimizer import Optimizer, ParamsT, check_hparam, group_if_same, with_weight_decay
from .sgd import _index

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
    maximize=False, decoupled_weight_decay=False)``, as ``torch.optim.Adam``."""

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        n = type(self).__name__
        check_hparam(n, "lr", group["lr"], group["lr"] >= 0, "the learning rate must be >= 0")
        check_hparam(n, "eps", group["eps"], group["eps"] >= 0, "must be >= 0")
        betas = group["betas"]
        check_hparam(n, "betas", betas, len(betas) == 2, "must be a pair (beta1, beta2)")
        check_hparam(n, "betas[0]", betas[0], 0.0 <= betas[0] < 1.0, "must be in [0, 1)")
        check_hparam(n, "betas[1]", betas[1], 0.0 <= betas[1] < 1.0, "must be in [0, 1)")
        check_hparam(n, "weight_decay", group["weight_decay"], group["weight_decay"] >= 0,
                     "must be >= 0")

    def _update_group(self, group: dict[str, Any]) -> None:
        gi = _index(self.param_groups, group)
        for pi, p in enumerate(group["params"]):
            if p.grad is not None:
                apply(ADAM_STEP, (p, p.grad), (self, gi, pi))


def _adam_step(w, g, opt: Adam, gi: int, pi: int) -> None:
    """One Adam update of parameter ``pi`` of group ``gi`` (array ``w``, gradient ``g``), in
    place, with the group's hyper-parameters and the parameter's state as they are now."""
    group = opt.param_groups[gi]
    p = group["params"][pi]
    lr = float(group["lr"])
    beta1, beta2 = group["betas"]
    eps = group["eps"]
    wd = group["weight_decay"]
    amsgrad = group["amsgrad"]
    decoupled = group["decoupled_weight_decay"]
    if group["maximize"]:
        g = -g
    st = opt.state.get(p)
    if st is None:
        st = opt.state[p] = _new_state(w)
    xp = get_array_module(w)
    if amsgrad and "max_exp_avg_sq" not in st:
        st["max_exp_avg_sq"] = xp.zeros_like(w)
    step = st["step"] = st["step"] + 1
    fused = kernels_for(w, g).adam_update
    if fused is not None:  # one kernel launch (CUDA)
        fused(w, g, st["exp_avg"], st["exp_avg_sq"], lr, beta1, beta2, eps, wd, step,
              st["max_exp_avg_sq"] if amsgrad else None, decoupled)
        return
    if wd:
        if decoupled:
            w *= 1.0 - lr * wd
        else:
            g = with_weight_decay(g, w, wd)
    m = st["exp_avg"]
    v = st["exp_avg_sq"]
    t = g * (1.0 - beta1)
    m *= beta1
    m += t
    xp.multiply(g, g, out=t)
    t *= 1.0 - beta2
    v *= beta2
    v += t
    if amsgrad:
        vmax = st["max_exp_avg_sq"]
        xp.maximum(vmax, v, out=vmax)
        v = vmax
    xp.sqrt(v, out=t)
    t /= math.sqrt(1.0 - beta2 ** step)
    t += eps
    xp.divide(m, t, out=t)
    t *= -lr / (1.0 - beta1 ** step)
    w += t


def _adam_fused(w, g, opt: Adam, gi: int, pi: int):
    """The update's form inside a fused loop (``ops.inplace.FusedUpdate``), without weight
    decay, AMSGrad or maximize: the numbers of ``_adam_step``, rounded as its in-place NumPy
    operations. ``fetch`` counts the step (as ``_adam_step`` does when it runs)."""
    group = opt.param_groups[gi]
    p = group["params"][pi]

    def plain(gr) -> bool:
        return not (gr["weight_decay"] or gr["amsgrad"] or gr["maximize"])
    if not plain(group) or kernels_for(w, g).adam_update is not None or p not in opt.state:
        return None

    def fetch(dry: bool = False):
        gr = group_if_same(opt, gi, pi, p)
        if gr is None or not plain(gr):
            return None
        st = opt.state.get(p)
        if st is None:
            return None
        step = st["step"] + 1
        if not dry:
            st["step"] = step
        beta1, beta2 = gr["betas"]
        lr = float(gr["lr"])
        return ((1.0 - beta1, beta1, 1.0 - beta2, beta2, math.sqrt(1.0 - beta2 ** step),
                 gr["eps"], -lr / (1.0 - beta1 ** step)), (st["exp_avg"], st["exp_avg_sq"]))
    # m = m b1 + g (1 - b1); v = v b2 + g^2 (1 - b2); w += m / (sqrt(v) / c2 + eps) * c1
    assign = [("m0", "_D({m0} * _D({s1})) + _D({1} * _D({s0}))"),
              ("m1", "_D({m1} * _D({s3})) + _D(_D({1} * {1}) * _D({s2}))"),
              ("w", "{0} + _D(_D({m0} / _D(_D(_D(math.sqrt({m1})) / _D({s4})) + _D({s5})))"
                    " * _D({s6}))")]
    return FusedUpdate(assign, fetch)


ADAM_STEP = update_op("adam_step", _adam_step, _adam_fused)


class AdamW(Adam):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
    amsgrad=False, *, maximize=False)``: Adam with decoupled weight decay."""

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)


def _new_state(w) -> dict:
    xp = get_array_module(w)
    return {"step": 0, "exp_avg": xp.zeros_like(w), "exp_avg_sq": xp.zeros_like(w)}
