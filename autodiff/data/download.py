"""``download(url, path, sha256)``: fetch a file once, verify its SHA-256, keep it in place.

The file is streamed to ``path + '.part'`` while hashing; only a file whose checksum matches is
renamed to ``path``. A mismatch deletes the partial file and raises :class:`ChecksumError` (a
``ValueError``) naming the URL, the expected and the actual digest. ``file://`` URLs work too
(``urllib``), and the network access goes through :func:`fetch`, which tests may replace.
"""
from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["download", "sha256_file", "ChecksumError", "fetch", "default_cache_dir"]

_CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A downloaded (or cached) file's SHA-256 digest is not the expected one."""


def default_cache_dir() -> Path:
    """``$AUTODIFF_CACHE``, else ``$XDG_CACHE_HOME/autodiff``, else ``~/.cache/autodiff``."""
    env = os.environ.get("AUTODIFF_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "autodiff"


def sha256_file(path: str | os.PathLike) -> str:
    """The hex SHA-256 digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(url: str, timeout: float = 60.0) -> BinaryIO:
    """Open ``url`` for reading (http, https or file); replaceable for offline tests."""
    req = urllib.request.Request(url, headers={"User-Agent": "autodiff-data/0.1"})
    return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 (user-chosen URL)


def download(url: str, path: str | os.PathLike, sha256: str | None = None,
             overwrite: bool = False, fetcher: Callable[[str], BinaryIO] | None = None,
             quiet: bool = False) -> Path:
    """Download ``url`` to ``path`` (parents created) and return the path.

    An existing file with the right checksum (or any existing file when ``sha256`` is None) is
    kept unless ``overwrite``; a corrupt existing file is downloaded again.
    """
    path = Path(path)
    expected = sha256.lower() if sha256 else None
    if path.exists() and not overwrite:
        if expected is None or sha256_file(path) == expected:
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    opener = fetcher if fetcher is not None else fetch
    h = hashlib.sha256()
    if not quiet:
        print(f"downloading {url} -> {path}")
    try:
        with opener(url) as src, open(part, "wb") as dst:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                h.update(chunk)
                dst.write(chunk)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    got = h.hexdigest()
    if expected is not None and got != expected:
        part.unlink(missing_ok=True)
        raise ChecksumError(f"download: checksum mismatch for {url} (saving to {path}): "
                            f"expected sha256 {expected}, got {got}; the file was discarded")
    os.replace(part, path)
    return path
