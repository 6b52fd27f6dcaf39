"""Where datasets are looked for when no path is given."""
from __future__ import annotations

import os
from pathlib import Path

# a source checkout's sibling folder (this repository's development layout: ../shared/data)
_CHECKOUT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def default_data_root() -> str | None:
    """``$AUTODIFF_DATA``, else a ``shared/data`` folder beside a source checkout when there
    is one, else None (loaders then use their cache directory and download)."""
    env = os.environ.get("AUTODIFF_DATA")
    if env:
        return env
    return str(_CHECKOUT_DATA) if _CHECKOUT_DATA.exists() else None
