"""``autodiff.utils``: PyTorch's ``torch.utils`` namespace. ``autodiff.utils.data`` *is*
:mod:`autodiff.data` (the same module, registered under both names, with its submodules
``dataset``, ``sampler`` and ``distributed``), so ``from autodiff.utils.data import DataLoader``
and ``import autodiff.utils.data`` work as PyTorch's do and give the same classes.
"""
from __future__ import annotations

import sys

from .. import data
from ..data import dataset, distributed, sampler

__all__ = ["data"]

for _name, _module in {"data": data, "data.dataset": dataset, "data.sampler": sampler,
                       "data.distributed": distributed}.items():
    sys.modules.setdefault(f"{__name__}.{_name}", _module)
