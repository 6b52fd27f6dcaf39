"""Layer modules: containers (defined in ``nn/module.py``; re-exported here)."""
from __future__ import annotations

from ..module import ModuleDict, ModuleList, Sequential

__all__ = ["Sequential", "ModuleList", "ModuleDict"]
