"""Weight initialisers with PyTorch's gains: kaiming, xavier, uniform, normal, zeros, ones, eye."""
from __future__ import annotations

__all__: list[str] = []
