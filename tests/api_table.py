"""The public-API op table: one :class:`Case` per public function or method the PyTorch port
needs (issue "Port PyTorch code unchanged"), kept beside the primitive table of
``tests/test_registry.py`` (which has one row per *primitive*; most API functions are
compositions of primitives, and a new primitive gets a row there too).

Cases live in ``tests/api_cases_<topic>.py`` modules, each defining ``CASES: list[Case]``;
``tests/test_api_table.py`` collects every such module and checks, for each case,

- the value against ``ref``, an independent NumPy reference (the formula written out),
- first and second derivatives against float64 central differences (``grad`` = 1 or 2),
- when PyTorch is installed, the value and a vector-Jacobian product against ``torch_fn``
  (in float64, same inputs, same cotangent).

Writing a case::

    Case("remainder", lambda a, b: ad.remainder(a, b), lambda a, b: np.mod(a, b),
         (U(2, 3), P(3)), torch_fn=lambda torch, a, b: torch.remainder(a, b))

``inputs`` are NumPy arrays; float64 ones become tensors that require grad (unless ``grad=0``
or their position is in ``const``), integer/bool arrays become constant tensors. Python
values (dims, flags) are closed over in the lambdas, not passed as inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


def _rng(seed: int = 0):
    return np.random.default_rng(seed)


def U(*shape, low=-1.0, high=1.0, seed=0):
    """Uniform float64 samples in [low, high)."""
    return _rng(seed).uniform(low, high, shape)


def A(*shape, seed=0):
    """Samples away from 0 (|x| in [0.2, 1], random sign): clear of kinks at 0."""
    r = _rng(seed)
    return r.uniform(0.2, 1.0, shape) * r.choice([-1.0, 1.0], shape)


def P(*shape, seed=0):
    """Positive samples in [0.5, 1.5] (log, sqrt, divisors)."""
    return U(*shape, low=0.5, high=1.5, seed=seed)


def I(*shape, high=5, seed=0):
    """int64 samples in [0, high)."""
    return _rng(seed).integers(0, high, shape)


@dataclass
class Case:
    name: str                     # the public name, e.g. "remainder", "Tensor.roll", "F.celu"
    fn: Callable                  # autodiff: (*tensors) -> Tensor or tuple of Tensors
    ref: Callable | None          # NumPy: (*arrays) -> array(s); None only with a reason in note
    inputs: tuple                 # sample arrays
    torch_fn: Callable | None = None   # (torch, *torch tensors) -> tensor(s); None: no twin
    grad: int = 2                 # 0: values only; 1: + gradcheck; 2: + gradgradcheck
    const: tuple = ()             # positions of float inputs that do not require grad
    tol: dict = field(default_factory=dict)   # gradcheck arguments
    rtol: float = 1e-10           # value tolerance against ref and torch (float64)
    atol: float = 1e-12
    tag: str = ""                 # distinguishes several cases of one name in test ids
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.name}[{self.tag}]" if self.tag else self.name
