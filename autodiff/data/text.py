"""Character-level text data: a vocabulary, batching for truncated BPTT, tinyshakespeare.

>>> from autodiff.data.text import CharVocab, batchify
>>> vocab = CharVocab("hello world")
>>> vocab.decode(vocab.encode("hello"))
'hello'

The text files are read where they are (a path, or ``$AUTODIFF_DATA/tinyshakespeare/input.txt``,
or ``../shared/data`` beside the checkout); they are never copied into the project. Without
any of them tinyshakespeare is downloaded once into the cache directory.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

import numpy as np

from .download import ChecksumError, default_cache_dir
from .download import download as _download
from .paths import DatasetNotFoundError, default_data_root, missing_dirs, remove_empty_dirs

__all__ = ["CharVocab", "batchify", "bptt_batches", "num_windows", "load_text",
           "tinyshakespeare_path", "load_tinyshakespeare", "train_val_split", "TINYSHAKESPEARE_URL"]


class CharVocab:
    """A character vocabulary: ``stoi`` (char -> id), ``itos`` (id -> char), sorted by
    character so the ids do not depend on the order of the text."""

    def __init__(self, text: Union[str, Sequence[str]]) -> None:
        self.itos: list[str] = sorted(set(text))
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text`` as an int64 array; an unknown character raises KeyError."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        table = np.fromiter((ord(c) for c in self.itos), dtype=np.uint32, count=len(self.itos))
        idx = np.searchsorted(table, codes)
        bad = (idx >= len(table)) | (table[np.minimum(idx, len(table) - 1)] != codes)
        if bad.any():
            c = chr(int(codes[np.argmax(bad)]))
            raise KeyError(f"CharVocab.encode: character {c!r} is not in the vocabulary")
        return idx.astype(np.int64)

    def decode(self, ids) -> str:
        ids = np.asarray(ids).reshape(-1)
        return "".join(self.itos[int(i)] for i in ids)

    def __repr__(self) -> str:
        return f"CharVocab(size={len(self)})"


def batchify(ids, batch_size: int) -> np.ndarray:
    """Split a 1-D id stream into ``batch_size`` contiguous columns: (n // batch_size,
    batch_size), dropping the tail. Column ``b`` is the ``b``-th consecutive piece of the
    stream, so a hidden state carried from window to window continues the same text."""
    ids = np.asarray(ids).reshape(-1)
    n = len(ids) // batch_size
    if n < 2:
        raise ValueError(f"batchify: a stream of {len(ids)} ids is too short for "
                         f"batch_size={batch_size}")
    return ids[:n * batch_size].reshape(batch_size, n).T.copy()


def num_windows(data: np.ndarray, seq_len: int) -> int:
    """How many windows :func:`bptt_batches` yields for batchified ``data``."""
    return -(-(len(data) - 1) // seq_len)


def bptt_batches(data: np.ndarray, seq_len: int, batch_first: bool = False,
                 drop_last: bool = False) -> Iterator[tuple]:
    """Windows (inputs, targets) of ``seq_len`` steps over batchified ``data`` (N, B), the
    targets shifted by one step: shapes (T, B) (or (B, T) with ``batch_first``). The last
    window is shorter unless ``drop_last``."""
    n = len(data)
    for start in range(0, n - 1, seq_len):
        T = min(seq_len, n - 1 - start)
        if drop_last and T < seq_len:
            return
        x = data[start:start + T]
        y = data[start + 1:start + 1 + T]
        if batch_first:
            x, y = x.T.copy(), y.T.copy()
        yield x, y


def load_text(path: Union[str, os.PathLike]) -> str:
    with open(path, "r", encoding="utf-8") as f:
        return f.read()


TINYSHAKESPEARE_URL = ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
                       "tinyshakespeare/input.txt")
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


def tinyshakespeare_path(path: Optional[Union[str, os.PathLike]] = None,
                         download: Optional[bool] = None) -> Path:
    """The tinyshakespeare file: ``path`` (a file, or a folder holding
    ``tinyshakespeare/input.txt`` or ``input.txt``), else ``$AUTODIFF_DATA`` or
    ``../shared/data`` beside the checkout, else the cache directory
    (``~/.cache/autodiff/tinyshakespeare/input.txt``). A missing file is downloaded (SHA-256
    checked) into ``path/tinyshakespeare/`` when ``download`` is True, or into the cache when no
    folder is given (``download`` None or True). When it is missing and not downloaded,
    :class:`~autodiff.data.paths.DatasetNotFoundError` names the places searched and the URL;
    no empty folder is left behind."""
    root = Path(path).expanduser().absolute() if path is not None else None
    if root is not None and root.is_file():
        return root
    if root is None:
        base = default_data_root()
        root = Path(base) if base is not None else None
    explicit = root is not None
    roots = [root] if explicit else [default_cache_dir()]
    candidates = [c for r in roots for c in (r / "tinyshakespeare" / "input.txt", r / "input.txt")]
    for c in candidates:
        if c.is_file():
            return c
    dest = candidates[0]
    allowed = bool(download) if explicit else download is None or bool(download)
    reason = "not downloaded (download=False)"
    if allowed:
        created = missing_dirs(dest.parent)
        try:
            return _download(TINYSHAKESPEARE_URL, dest, TINYSHAKESPEARE_SHA256)
        except ChecksumError:
            remove_empty_dirs(created)
            raise
        except Exception as e:  # offline: explain instead
            remove_empty_dirs(created)
            reason = f"the download failed ({type(e).__name__}: {e})"
    raise DatasetNotFoundError("tinyshakespeare", ["input.txt"],
                               [str(c.parent) for c in candidates], dest.parent,
                               [TINYSHAKESPEARE_URL], reason)


def load_tinyshakespeare(path: Optional[Union[str, os.PathLike]] = None,
                         download: Optional[bool] = None) -> str:
    """The text of :func:`tinyshakespeare_path` (1115394 characters)."""
    return load_text(tinyshakespeare_path(path, download))


def train_val_split(ids, val_fraction: float = 0.1) -> tuple:
    """The first ``1 - val_fraction`` of the stream for training, the rest for validation."""
    ids = np.asarray(ids)
    n_val = int(round(len(ids) * val_fraction))
    return ids[:len(ids) - n_val], ids[len(ids) - n_val:]
