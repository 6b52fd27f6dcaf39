"""Style-transfer losses: Gram-matrix style loss, content loss, total variation, histogram loss."""
from __future__ import annotations

__all__: list[str] = []
