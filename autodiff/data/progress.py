"""Progress bars for training loops, built on ``tqdm``.

:func:`progress` wraps an iterable in a ``tqdm`` bar (rate, elapsed time, ETA, and whatever the
loop reports with ``bar.set_postfix(loss=...)``). By default the bar is drawn only when the
output is a terminal (:func:`interactive`): in a log file or a pipe a bar is noise, so scripts
print one plain line per epoch instead, with :func:`write`, which keeps a bar that is on the
screen intact (``tqdm.write``).

>>> bar = progress(range(3), desc="epoch 1/1", disable=True)
>>> [i for i in bar]
[0, 1, 2]
"""
from __future__ import annotations

import sys
from typing import Any, Iterable

from tqdm import tqdm

__all__ = ["progress", "interactive", "write"]


def interactive() -> bool:
    """Whether both stdout and stderr are terminals: bars (drawn on stderr) are shown only then,
    so a redirected run gets plain lines and no carriage-return debris."""
    for f in (sys.stdout, sys.stderr):
        isatty = getattr(f, "isatty", None)
        try:
            if isatty is None or not isatty():
                return False
        except ValueError:  # a closed stream
            return False
    return True


def progress(iterable: Iterable | None = None, desc: str | None = None,
             total: int | None = None, disable: bool | None = None, leave: bool = True,
             **kwargs: Any) -> tqdm:
    """A ``tqdm`` bar over ``iterable``; ``disable=None`` (the default) hides it unless the
    output is a terminal (:func:`interactive`). Other keyword arguments go to ``tqdm``."""
    if disable is None:
        disable = not interactive()
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, desc=desc, total=total, disable=disable, leave=leave, **kwargs)


def write(line: str, file=None) -> None:
    """Print ``line`` (to stdout by default) without breaking a progress bar on the screen."""
    tqdm.write(line, file=file if file is not None else sys.stdout)
