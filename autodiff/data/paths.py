"""Where datasets are looked for, and the error raised when their files are missing.

A dataset is looked for in an explicit folder (a ``root`` argument, a script's ``--data``),
else ``$AUTODIFF_DATA``, else a ``shared/data`` folder beside a source checkout; loaders that
download put missing files into the cache directory (``~/.cache/autodiff``, see
:func:`autodiff.data.download.default_cache_dir`).

:class:`DatasetNotFoundError` says in a few lines which files are missing, where they were
looked for, where to put them, how to point the loader at them and the URLs to fetch them by
hand. Scripts print it as it is (no traceback) and exit; ``how`` names their own flag.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

__all__ = ["default_data_root", "DatasetNotFoundError", "missing_dirs", "remove_empty_dirs"]

# a source checkout's sibling folder (this repository's development layout: ../shared/data)
_CHECKOUT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

#: How to point a loader at a folder, in library terms (scripts pass their flag instead).
LIBRARY_HOW = "pass root=DIR or set AUTODIFF_DATA=DIR"


def default_data_root() -> str | None:
    """``$AUTODIFF_DATA``, else a ``shared/data`` folder beside a source checkout when there
    is one, else None (loaders then use their cache directory and download)."""
    env = os.environ.get("AUTODIFF_DATA")
    if env:
        return env
    return str(_CHECKOUT_DATA) if _CHECKOUT_DATA.exists() else None


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are missing (and could not be downloaded).

    Attributes: ``dataset`` (its name), ``files`` (the missing file names), ``searched`` (the
    folders looked in), ``dest`` (where to put the files), ``urls`` (where to fetch them by
    hand), ``reason`` (why no download happened or how it failed; may be None) and ``how``
    (how to point the loader at another folder: ``str(err)`` uses it, and a script sets its own
    flag with :meth:`format`).
    """

    def __init__(self, dataset: str, files: Sequence[str], searched: Sequence[str | os.PathLike],
                 dest: str | os.PathLike | None, urls: Sequence[str] = (),
                 reason: str | None = None, how: str = LIBRARY_HOW) -> None:
        self.dataset = dataset
        self.files = list(files)
        self.searched = [str(s) for s in searched]
        self.dest = None if dest is None else str(dest)
        self.urls = list(urls)
        self.reason = reason
        self.how = how
        super().__init__(self.format())

    def format(self, how: str | None = None) -> str:
        """The message, naming ``how`` (e.g. ``"--data DIR or AUTODIFF_DATA=DIR"``) as the way
        to point at a folder holding the files."""
        how = self.how if how is None else how
        lines = [f"{self.dataset}: missing {', '.join(self.files)}"]
        if self.searched:
            lines.append(f"  looked in: {', '.join(self.searched)}")
        if self.reason:
            lines.append(f"  {self.reason}")
        them = "it" if len(self.files) == 1 else "them"
        where = f"put {them} in {self.dest}" if self.dest else f"put {them} in a folder"
        lines.append(f"  {where}, or in any folder and {how}")
        if self.urls:
            lines.append(f"  fetch {them} by hand from:")
            lines += [f"    {u}" for u in self.urls]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def missing_dirs(path: str | os.PathLike) -> list[Path]:
    """``path`` and those of its ancestors that do not exist yet, deepest first: what a
    ``mkdir(parents=True)`` would create."""
    out = []
    p = Path(path).expanduser().absolute()
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def remove_empty_dirs(dirs: Sequence[Path]) -> None:
    """Remove the folders of ``dirs`` (deepest first) that exist and are empty: undo the
    folders a failed download created."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:  # not empty, or already gone
            pass
