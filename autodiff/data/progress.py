"""``progress(iterable, desc, total)``: a tqdm bar when tqdm is installed, else plain text.

Both forms support iteration, ``set_postfix(**values)``, ``update(n)``, ``close()`` and use as a
context manager, so training loops can write ``for epoch in progress(range(n), "epochs")`` and
report the loss with ``bar.set_postfix(loss=...)`` whichever is available.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Iterator, TextIO

__all__ = ["progress", "TextProgress", "has_tqdm"]


def has_tqdm() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


class TextProgress:
    """A dependency-free progress report: one line per update step (at most ``every`` apart)."""

    def __init__(self, iterable: Iterable | None = None, desc: str | None = None,
                 total: int | None = None, file: TextIO | None = None, every: float = 1.0,
                 disable: bool = False) -> None:
        self.iterable = iterable
        self.desc = desc or ""
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.total = total
        self.n = 0
        self.file = file if file is not None else sys.stderr
        self.every = every
        self.disable = disable
        self.postfix: dict[str, Any] = {}
        self._start = time.perf_counter()
        self._last = -float("inf")

    def _line(self) -> str:
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        elapsed = time.perf_counter() - self._start
        post = ", ".join(f"{k}={_fmt(v)}" for k, v in self.postfix.items())
        head = f"{self.desc}: " if self.desc else ""
        return f"{head}{count} [{elapsed:.1f}s]" + (f" {post}" if post else "")

    def _report(self, force: bool = False) -> None:
        if self.disable:
            return
        now = time.perf_counter()
        if force or now - self._last >= self.every:
            self._last = now
            print(self._line(), file=self.file, flush=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        self._report(force=self.total is not None and self.n >= self.total)

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True,
                    **values: Any) -> None:
        if ordered_dict:
            self.postfix.update(ordered_dict)
        self.postfix.update(values)

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def close(self) -> None:
        pass

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError("TextProgress: no iterable to iterate over")
        for item in self.iterable:
            yield item
            self.update(1)

    def __len__(self) -> int:
        if self.total is None:
            raise TypeError("TextProgress: unknown total")
        return self.total

    def __enter__(self) -> "TextProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def progress(iterable: Iterable | None = None, desc: str | None = None,
             total: int | None = None, disable: bool = False, use_tqdm: bool | None = None,
             **kwargs: Any):
    """Wrap ``iterable`` in a progress bar: tqdm's when installed (``use_tqdm=None``), else
    :class:`TextProgress`. Extra keyword arguments go to tqdm."""
    if use_tqdm is None:
        use_tqdm = has_tqdm()
    if use_tqdm:
        from tqdm import tqdm
        return tqdm(iterable, desc=desc, total=total, disable=disable, **kwargs)
    return TextProgress(iterable, desc=desc, total=total, disable=disable,
                        file=kwargs.get("file"))
