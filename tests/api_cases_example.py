"""API cases for functions that already existed before the table (a seed for the others)."""
from __future__ import annotations

import numpy as np

import autodiff as ad
from api_table import Case, P, U

CASES = [
    Case("logsumexp", lambda x: ad.logsumexp(x, dim=1), lambda x: np.log(np.exp(x).sum(1)),
         (U(2, 3),), torch_fn=lambda torch, x: torch.logsumexp(x, dim=1)),
    Case("Tensor.__truediv__", lambda a, b: a / b, lambda a, b: a / b, (U(2, 3), P(3)),
         torch_fn=lambda torch, a, b: a / b),
]
