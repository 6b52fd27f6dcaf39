"""NumPy references for ``interpolate`` (no PyTorch, no autodiff), from the published
definitions, as dense per-axis interpolation matrices M (out x in): the result is x with
every spatial axis multiplied by its M, and the VJP multiplies by M^T.

- nearest: out[i] = x[floor(i * in / out)] (exact integer arithmetic; with a scale factor s,
  floor(i / s)); nearest-exact: x[floor((i + 1/2) * in / out)], both capped at in - 1;
- linear: the tent kernel max(0, 1 - |src - j|) at src = (i + 1/2) * in/out - 1/2 (or
  i / s - ...) clamped to [0, in - 1]; with align_corners src = i * (in - 1) / (out - 1);
- cubic: Keys' kernel with a = -0.75 over the four cells floor(src) - 1 .. floor(src) + 2,
  cells outside the input replaced by the nearest edge cell (src not clamped).
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

A = -0.75


def keys(s: float) -> float:
    """Keys' cubic convolution kernel W(s) with a = A."""
    s = abs(s)
    if s <= 1:
        return (A + 2) * s ** 3 - (A + 3) * s ** 2 + 1
    if s < 2:
        return A * s ** 3 - 5 * A * s ** 2 + 8 * A * s - 4 * A
    return 0.0


def _ratio(n_in: int, n_out: int, scale_factor) -> Fraction:
    """in/out, or 1/scale_factor when a scale factor is used."""
    return Fraction(n_in, n_out) if scale_factor is None else 1 / Fraction(scale_factor)


def matrix(mode: str, n_in: int, n_out: int, align_corners: bool = False,
           scale_factor=None) -> np.ndarray:
    """The (n_out, n_in) matrix of one axis of ``interpolate``."""
    M = np.zeros((n_out, n_in))
    r = _ratio(n_in, n_out, scale_factor)
    for i in range(n_out):
        if mode == "nearest":
            M[i, min(math.floor(i * r), n_in - 1)] = 1.0
            continue
        if mode == "nearest-exact":
            M[i, min(math.floor((i + Fraction(1, 2)) * r), n_in - 1)] = 1.0
            continue
        if align_corners:
            src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = float((i + Fraction(1, 2)) * r - Fraction(1, 2))
        if mode == "linear":
            src = min(max(src, 0.0), n_in - 1)
            for j in range(n_in):
                M[i, j] = max(0.0, 1.0 - abs(src - j))
        elif mode == "cubic":
            base = math.floor(src)
            for t in range(base - 1, base + 3):
                M[i, min(max(t, 0), n_in - 1)] += keys(src - t)
        else:
            raise ValueError(mode)
    return M


def apply(x: np.ndarray, mats: list) -> np.ndarray:
    """x (N, C, *spatial) with spatial axis k multiplied by mats[k]."""
    for k, M in enumerate(mats):
        x = np.moveaxis(np.tensordot(M, np.moveaxis(x, 2 + k, 0), axes=1), 0, 2 + k)
    return x


def vjp(g: np.ndarray, mats: list) -> np.ndarray:
    """The gradient of <apply(x, mats), g> in x."""
    return apply(g, [M.T for M in mats])
