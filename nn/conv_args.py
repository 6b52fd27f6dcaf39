"""Argument normalisation shared by the convolution, pooling and resampling functions of
``nn.functional``: per-dimension tuples (``ntuple``), the Tensor check and the unbatched
input PyTorch accepts (``batched``)."""
from __future__ import annotations

import numpy

import autodiff as ad
from autodiff.tensor import Tensor

__all__ = ["ntuple", "as_tensor", "batched"]

_DIMS = {1: "L", 2: "H, W", 3: "D, H, W"}
_WORDS = {1: "an int or a 1-tuple", 2: "an int or a pair of ints", 3: "an int or a triple of ints"}


def ntuple(v, n: int, name: str, op: str) -> tuple[int, ...]:
    """``v`` (an int, or a sequence of n ints, or of one int as PyTorch expands) as n ints."""
    if isinstance(v, (int, numpy.integer)) and not isinstance(v, bool):
        return (int(v),) * n
    try:
        t = tuple(v)
    except TypeError:
        t = None
    if t is None or not all(isinstance(a, (int, numpy.integer)) and not isinstance(a, bool)
                            for a in t) or len(t) not in (1, n):
        raise ValueError(f"{op}: {name} must be {_WORDS.get(n, f'an int or {n} ints')}, got "
                         f"{v!r}")
    return tuple(int(a) for a in t) * (n if len(t) == 1 else 1)


def as_tensor(x, op: str, name: str = "input") -> Tensor:
    """``x`` itself when it is a Tensor, else a TypeError naming ``op``."""
    if isinstance(x, Tensor):
        return x
    raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}")


def batched(x: Tensor, n: int, op: str) -> tuple[Tensor, bool]:
    """(N, C, *n spatial dims) from an input with or without its batch dim, as PyTorch accepts,
    and whether it had none (the caller squeezes the result)."""
    if x.ndim == n + 1:
        return ad.unsqueeze(x, 0), True
    if x.ndim != n + 2:
        dims = _DIMS[n]
        raise ValueError(f"{op}: expected a {n + 1}-D (C, {dims}) or {n + 2}-D (N, C, {dims}) "
                         f"input, got shape {tuple(x.shape)}")
    return x, False
