"""Noisy SGD: gradient descent on the gradient plus isotropic Gaussian noise.

Adding ``N(0, sigma_t^2 I)`` to the gradient lets the iterates leave strict saddle points (where
the gradient vanishes but the Hessian has a negative eigenvalue), as in Ge et al. 2015, "Escaping
from saddle points", and Neelakantan et al. 2015, "Adding gradient noise improves learning".
The step is SGD's (momentum, dampening, Nesterov, weight decay as :class:`SGD`) applied to::

    g~_t = g_t + sigma_t * xi_t,      xi_t ~ N(0, I),
    sigma_t = noise_std / (1 + t) ** noise_decay,   t = 0, 1, 2, ... the parameter's step count

(``noise_decay=0`` keeps the noise constant; Neelakantan et al. use 0.55 on the variance, i.e.
0.275 here). The noise is drawn per parameter, in parameter order, from
``autodiff.random.generator(xp)`` in the gradient's dtype, so ``autodiff.manual_seed`` makes
runs reproducible.
"""
from __future__ import annotations

from typing import Any

from autodiff.backends import get_array_module
from autodiff.random import generator

from .optimizer import Optimizer, ParamsT, check_hparam
from .sgd import SGD

__all__ = ["NoisySGD"]


class NoisySGD(SGD):
    """``NoisySGD(params, lr=1e-3, noise_std=1e-2, noise_decay=0, momentum=0, dampening=0,
    weight_decay=0, nesterov=False, *, maximize=False)``."""

    _has_perturb = True

    def __init__(self, params: ParamsT, lr: float = 1e-3, noise_std: float = 1e-2,
                 noise_decay: float = 0.0, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        noise_std=noise_std, noise_decay=noise_decay)
        Optimizer.__init__(self, params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        super()._validate_group(group)
        check_hparam("NoisySGD", "noise_std", group["noise_std"], group["noise_std"] >= 0,
                     "must be >= 0")
        check_hparam("NoisySGD", "noise_decay", group["noise_decay"],
                     group["noise_decay"] >= 0, "must be >= 0")

    def _perturb(self, p, d, group):
        st = self.state.get(p)
        if st is None:
            st = self.state[p] = {}
        t = st.get("step", 0)
        st["step"] = t + 1
        std = group["noise_std"] / (1.0 + t) ** group["noise_decay"]
        xp = get_array_module(d)
        dt = d.dtype
        if dt in (xp.float32, xp.float64):
            noise = generator(xp).standard_normal(d.shape, dtype=dt)
        else:
            noise = generator(xp).standard_normal(d.shape).astype(dt)
        noise *= std
        noise += d
        return noise
