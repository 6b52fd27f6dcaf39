"""Convolution (im2col + one matmul + col2im), pooling and padding modes."""
from __future__ import annotations

__all__: list[str] = []
