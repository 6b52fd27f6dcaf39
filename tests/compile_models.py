"""Small training steps shared by the compile tests (``tests/test_compile*.py``)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import autodiff as ad
from autodiff import optim
from autodiff.nn import functional as F


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


def train_step(model, opt, loss_fn=F.cross_entropy):
    """One training step: the loss of ``model(x)`` against ``y``, backward, the update."""
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


# ----------------------------------------------------------------------------- how to compare
#: whether the compile tests of this run fuse (set per test by :func:`fusion_mode`)
MODE = {"fused": False}


def same(a, b, scale: float | None = None) -> bool:
    """Whether compiled and eager numbers agree as the compile promise says: bit for bit
    without fusion (the replay runs eager's arithmetic in eager's order), else to rounding
    (fused kernels sum in another order): within 1e-12 of the array's scale in float64, 1e-4
    in float32 (``scale``: the magnitude that is relative to; by default the array's)."""
    a = np.asarray(getattr(a, "array", a))
    b = np.asarray(getattr(b, "array", b))
    if not MODE["fused"] or a.dtype.kind != "f":
        return bool(np.array_equal(a, b))
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    tol = 1e-12 if a.dtype.itemsize >= 8 else 1e-4
    if scale is None:
        scale = float(np.abs(b).max()) if b.size else 0.0
    return bool(np.allclose(a, b, rtol=tol, atol=tol * scale, equal_nan=True))


@pytest.fixture(autouse=False, params=["exact", "fused"])
def fusion_mode(request, monkeypatch):
    """Run a compile test twice: without fusion (``AUTODIFF_NUMBA=0``: compared bit for bit)
    and with it (compared to rounding); the fused run needs numba."""
    if request.param == "fused":
        pytest.importorskip("numba")
        monkeypatch.setenv("AUTODIFF_NUMBA", "1")
    else:
        monkeypatch.setenv("AUTODIFF_NUMBA", "0")
    monkeypatch.setitem(MODE, "fused", request.param == "fused")
    yield request.param


def same_all(xs, ys) -> bool:
    """:func:`same` for two lists of tensors (parameters, gradients), relative to the largest
    magnitude among them: a parameter that stays near 0 moves by rounding of its neighbours'
    scale."""
    xs, ys = [np.asarray(getattr(x, "array", x)) for x in xs], \
        [np.asarray(getattr(y, "array", y)) for y in ys]
    scale = max((float(np.abs(y).max()) for y in ys if y.size), default=0.0)
    return len(xs) == len(ys) and all(same(x, y, scale) for x, y in zip(xs, ys))
