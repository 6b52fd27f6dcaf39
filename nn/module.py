"""Module, Parameter and the containers (Sequential, ModuleList, ModuleDict)."""
from __future__ import annotations

__all__: list[str] = []
