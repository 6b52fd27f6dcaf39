"""Functional forms of the basic layers: linear, activations, dropout, batch_norm, embedding, one_hot."""
from __future__ import annotations

__all__: list[str] = []
