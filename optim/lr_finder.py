"""The learning-rate range test (Smith 2017, "Cyclical learning rates"; L. Smith's and
S. Gugger's "How do you find a good learning rate").

Train for at most one epoch (or ``num_iter`` mini-batches), multiplying the LR by a constant
factor after each batch so that it goes geometrically from ``start_lr`` to ``end_lr``. Track the
exponentially smoothed loss with bias correction::

    avg_i = beta * avg_{i-1} + (1 - beta) * loss_i,     smoothed_i = avg_i / (1 - beta ** i)

and stop early when ``smoothed_i > diverge_threshold * best`` (4x by default) or the loss is not
finite. The suggestion is the LR at the minimum smoothed loss divided by ten: the loss still falls
fast there, while the minimum itself sits close to divergence. The model's and the optimizer's
states are snapshotted (arrays deep-copied) before the test and restored afterwards, so training
starts from the same weights.

>>> result = find_lr(model, optimizer, loss_fn, loader)          # doctest: +SKIP
>>> for g in optimizer.param_groups: g["lr"] = result.suggested_lr   # doctest: +SKIP
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import autodiff as ad
from autodiff.tensor import Tensor

from .optimizer import Optimizer

__all__ = ["find_lr", "LRFinder", "LRFinderResult"]


def _deep_copy(obj: Any) -> Any:
    """Copy a (nested) state dict: Tensors and arrays get fresh data, containers are rebuilt."""
    if isinstance(obj, Tensor):
        t = Tensor(obj.array.copy())
        t.requires_grad = obj.requires_grad
        return t
    if hasattr(obj, "shape") and hasattr(obj, "dtype") and hasattr(obj, "copy"):
        return obj.copy()
    if isinstance(obj, dict):
        return type(obj)((k, _deep_copy(v)) for k, v in obj.items()) \
            if type(obj) is not dict else {k: _deep_copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_deep_copy(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_deep_copy(v) for v in obj)
    return copy.deepcopy(obj)


@dataclass
class LRFinderResult:
    """``lrs[i]`` is the LR used for batch ``i`` and ``losses[i]`` the smoothed loss there."""

    lrs: list[float]
    losses: list[float]
    suggested_lr: float | None
    best_lr: float | None = None
    raw_losses: list[float] = field(default_factory=list)

    def __iter__(self):  # so that ``lrs, losses = find_lr(...)[:2]``-style unpacking works
        return iter((self.lrs, self.losses))

    def __getitem__(self, i):
        return (self.lrs, self.losses)[i]

    def plot(self, ax=None, skip_start: int = 10, skip_end: int = 5, path: str | None = None):
        """Smoothed loss against LR (log scale), with the suggestion marked. Needs matplotlib;
        returns the axes, and saves a PNG to ``path`` when given."""
        try:
            import matplotlib
            if ax is None and path is not None:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("LRFinderResult.plot needs matplotlib, which is not installed "
                              "(pip install matplotlib); the values are in .lrs and .losses"
                              ) from None
        n = len(self.lrs)
        lo, hi = (skip_start, n - skip_end) if n > skip_start + skip_end else (0, n)
        if ax is None:
            _, ax = plt.subplots()
        ax.plot(self.lrs[lo:hi], self.losses[lo:hi])
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("smoothed loss")
        if self.suggested_lr is not None:
            ax.axvline(self.suggested_lr, color="red", linestyle="--",
                       label=f"suggested lr = {self.suggested_lr:.2e}")
            ax.legend()
        if path is not None:
            ax.figure.savefig(path)
        return ax


def _set_lr(optimizer: Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr


def _loss_value(loss) -> float:
    return float(loss.item() if hasattr(loss, "item") else loss)


def find_lr(model, optimizer: Optimizer, loss_fn: Callable, loader: Iterable,
            start_lr: float = 1e-8, end_lr: float = 10.0, num_iter: int | None = None,
            beta: float = 0.98, diverge_threshold: float = 4.0) -> LRFinderResult:
    """Run the LR range test; see the module docstring.

    ``model(x)`` gives the prediction and ``loss_fn(prediction, y)`` the loss for each
    ``(x, y)`` batch of ``loader``; ``model`` needs ``state_dict()``/``load_state_dict()``.
    The number of batches is ``num_iter`` capped at one pass over ``loader`` (``len(loader)``
    when it has a length; a loader without one needs ``num_iter``).
    """
    if not (0 < start_lr < end_lr):
        raise ValueError(f"find_lr: need 0 < start_lr < end_lr, got start_lr={start_lr!r}, "
                         f"end_lr={end_lr!r}")
    if not 0 <= beta < 1:
        raise ValueError(f"find_lr: invalid beta={beta!r} (must be in [0, 1))")
    try:
        n = len(loader)  # type: ignore[arg-type]
    except TypeError:
        n = None
    if num_iter is not None:
        if num_iter < 1:
            raise ValueError(f"find_lr: invalid num_iter={num_iter!r} (must be >= 1)")
        n = num_iter if n is None else min(num_iter, n)
    if n is None:
        raise ValueError("find_lr: the loader has no len(); pass num_iter")
    mult = (end_lr / start_lr) ** (1.0 / (n - 1)) if n > 1 else 1.0

    model_state = _deep_copy(model.state_dict())
    opt_state = _deep_copy(optimizer.state_dict())
    lrs: list[float] = []
    losses: list[float] = []
    raw: list[float] = []
    avg, best = 0.0, math.inf
    lr = start_lr
    try:
        _set_lr(optimizer, lr)
        for i, batch in enumerate(loader, start=1):
            if i > n:
                break
            x, y = batch[0], batch[1]
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            value = _loss_value(loss)
            if not math.isfinite(value):
                break
            avg = beta * avg + (1 - beta) * value
            smoothed = avg / (1 - beta ** i)
            if i > 1 and smoothed > diverge_threshold * best:
                break
            best = min(best, smoothed)
            lrs.append(lr)
            losses.append(smoothed)
            raw.append(value)
            loss.backward()
            optimizer.step()
            lr *= mult
            _set_lr(optimizer, lr)
    finally:
        with ad.no_grad():
            model.load_state_dict(model_state)
        optimizer.load_state_dict(opt_state)
        optimizer.zero_grad()
    if not losses:
        return LRFinderResult(lrs, losses, None, None, raw)
    k = min(range(len(losses)), key=losses.__getitem__)
    return LRFinderResult(lrs, losses, lrs[k] / 10.0, lrs[k], raw)


class LRFinder:
    """Object form of :func:`find_lr`: ``LRFinder(model, optimizer, loss_fn).range_test(loader)``
    then ``.result``, ``.suggestion()`` and ``.plot()``."""

    def __init__(self, model, optimizer: Optimizer, loss_fn: Callable) -> None:
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.result: LRFinderResult | None = None

    def range_test(self, loader: Iterable, start_lr: float = 1e-8, end_lr: float = 10.0,
                   num_iter: int | None = None, beta: float = 0.98,
                   diverge_threshold: float = 4.0) -> LRFinderResult:
        self.result = find_lr(self.model, self.optimizer, self.loss_fn, loader, start_lr,
                              end_lr, num_iter, beta, diverge_threshold)
        return self.result

    def suggestion(self) -> float | None:
        if self.result is None:
            raise RuntimeError("LRFinder: run range_test first")
        return self.result.suggested_lr

    def plot(self, *args, **kwargs):
        if self.result is None:
            raise RuntimeError("LRFinder: run range_test first")
        return self.result.plot(*args, **kwargs)
