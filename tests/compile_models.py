"""Small training steps shared by the compile tests (``tests/test_compile*.py``)."""
from __future__ import annotations

import math

import autodiff as ad
from autodiff import optim


def cubic():
    """The Legendre fit's model y = a + b * P3(c + d x) with P3 written in ops, and SGD."""
    ps = [ad.tensor(v, dtype=ad.float64, requires_grad=True) for v in (0.0, -1.0, 0.0, 0.3)]
    x = ad.linspace(-math.pi, math.pi, 200, dtype=ad.float64)
    y = ad.sin(x)
    opt = optim.SGD(ps, lr=5e-6)
    a, b, c, d = ps

    def step():
        opt.zero_grad()
        z = c + d * x
        loss = ((a + b * (0.5 * (5 * z ** 3 - 3 * z)) - y) ** 2).sum()
        loss.backward()
        opt.step()
        return loss
    return ps, opt, step
