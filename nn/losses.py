"""Loss functions (functional forms): mse, l1, smooth_l1, cross_entropy, nll, bce, hinge, kl_div..."""
from __future__ import annotations

__all__: list[str] = []
