"""MNIST: an idx-format reader, ``load_mnist`` and the 8000/2000 split of the 10k test set.

The idx format (LeCun et al.): a big-endian 4-byte magic number ``0x0000TTNN`` (``TT`` the
element type, 0x08 = unsigned byte; ``NN`` the number of dimensions), ``NN`` big-endian 4-byte
sizes, then the data. MNIST labels have magic 2049 (ubyte, 1-d), images 2051 (ubyte, 3-d).
Files may be gzip-compressed or raw (detected from the content, not the name). Malformed files
raise ``ValueError`` naming the file.

Where the files come from (:func:`load_mnist`): the ``root`` argument, else the
``AUTODIFF_DATA`` environment variable, else the cache directory (``~/.cache/autodiff``), into
which missing files are downloaded from the standard mirrors with SHA-256 verification.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy

from ..tensor import make
from .dataset import Dataset, TensorDataset
from .download import ChecksumError, default_cache_dir
from .download import download as _download
from .paths import DatasetNotFoundError, missing_dirs, remove_empty_dirs

__all__ = ["read_idx", "read_mnist_images", "read_mnist_labels", "write_idx", "load_mnist", "MNIST",
           "has_mnist_split", "mnist_split", "MNISTSplit", "find_mnist_dir", "MNIST_FILES",
           "MNIST_SHA256", "MNIST_MIRRORS", "MNIST_MEAN", "MNIST_STD", "LABEL_MAGIC", "IMAGE_MAGIC"]

LABEL_MAGIC = 2049
IMAGE_MAGIC = 2051

#: split -> (images file, labels file), as distributed (gzip-compressed).
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
#: SHA-256 of the standard distributed archives (as served by the mirrors below).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
#: Mean and standard deviation of the MNIST training pixels scaled to [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

_IDX_TYPES = {0x08: numpy.dtype("u1"), 0x09: numpy.dtype("i1"), 0x0B: numpy.dtype(">i2"),
              0x0C: numpy.dtype(">i4"), 0x0D: numpy.dtype(">f4"), 0x0E: numpy.dtype(">f8")}
_KIND = {LABEL_MAGIC: "labels", IMAGE_MAGIC: "images"}


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: not a valid gzip file ({e})") from None
    return raw


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> numpy.ndarray:
    """The array stored in an idx file (gzip or raw), in native byte order.

    Raises ``ValueError`` naming the file for a wrong or unexpected magic number, a truncated
    header, or a payload whose size does not match the header's dimensions.
    """
    path = Path(path)
    buf = _read_bytes(path)
    if len(buf) < 4:
        raise ValueError(f"{path}: too short for an idx file ({len(buf)} bytes)")
    magic = int.from_bytes(buf[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        kind = _KIND.get(expected_magic, "idx")
        raise ValueError(f"{path}: bad magic number {magic} (0x{magic:08x}); an MNIST {kind} "
                         f"file starts with {expected_magic} (0x{expected_magic:08x})")
    code, ndim = buf[2], buf[3]
    if buf[0] != 0 or buf[1] != 0 or code not in _IDX_TYPES or ndim == 0:
        raise ValueError(f"{path}: bad magic number {magic} (0x{magic:08x}); not an idx file")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise ValueError(f"{path}: truncated idx header ({len(buf)} bytes, need {header})")
    dims = tuple(int.from_bytes(buf[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dt = _IDX_TYPES[code]
    expected = int(numpy.prod(dims, dtype=numpy.int64)) * dt.itemsize
    got = len(buf) - header
    if got != expected:
        raise ValueError(f"{path}: size mismatch: header says {dims} ({expected} data bytes) "
                         f"but the file holds {got} data bytes")
    arr = numpy.frombuffer(buf, dtype=dt, count=expected // dt.itemsize, offset=header)
    return arr.reshape(dims).astype(dt.newbyteorder("="), copy=True)


def read_mnist_images(path: str | os.PathLike) -> numpy.ndarray:
    """MNIST images (N, rows, cols) uint8; the file must have magic 2051."""
    arr = read_idx(path, IMAGE_MAGIC)
    if arr.ndim != 3:
        raise ValueError(f"{path}: MNIST images must be 3-d, got shape {arr.shape}")
    return arr


def read_mnist_labels(path: str | os.PathLike) -> numpy.ndarray:
    """MNIST labels (N,) as int64; the file must have magic 2049 and labels 0..9."""
    arr = read_idx(path, LABEL_MAGIC)
    if arr.size and arr.max() > 9:
        raise ValueError(f"{path}: MNIST labels must lie in 0..9, found {int(arr.max())}")
    return arr.astype(numpy.int64)


def write_idx(path: str | os.PathLike, array, compress: bool | None = None) -> Path:
    """Write ``array`` (uint8/int8/int16/int32/float32/float64) as an idx file; gzip when
    ``compress`` (default: the name ends in ``.gz``). Used for tests and custom data."""
    path = Path(path)
    a = numpy.asarray(array)
    codes = {v.newbyteorder("=").str[1:]: k for k, v in _IDX_TYPES.items()}
    key = a.dtype.newbyteorder("=").str[1:]
    if key not in codes:
        raise ValueError(f"write_idx: unsupported dtype {a.dtype}")
    code = codes[key]
    header = bytes([0, 0, code, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    payload = header + numpy.ascontiguousarray(a, dtype=_IDX_TYPES[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def _candidates(base: Path) -> list[Path]:
    return [base, base / "mnist", base / "MNIST" / "raw", base / "MNIST"]


def _find_file(d: Path, name: str) -> Path | None:
    for n in (name, name[:-3] if name.endswith(".gz") else name + ".gz"):
        if (d / n).is_file():
            return d / n
    return None


def find_mnist_dir(root: str | os.PathLike | None = None, split: str = "test") -> Path | None:
    """The directory holding ``split``'s files under ``root`` (or ``AUTODIFF_DATA``), trying
    ``root``, ``root/mnist`` and ``root/MNIST/raw``; None when absent."""
    base = root if root is not None else os.environ.get("AUTODIFF_DATA") or None
    if base is None:
        return None
    for d in _candidates(Path(base).expanduser()):
        if all(_find_file(d, n) for n in MNIST_FILES[split]):
            return d
    return None


def _download_split(dest: Path, split: str, mirrors: Sequence[str],
                    fetcher: Callable | None) -> str | None:
    """Download ``split``'s missing files into ``dest``; None on success, else why not (the
    last mirror's error for the first file no mirror served). Folders created for a failed
    download are removed again when empty."""
    created = missing_dirs(dest)
    for name in MNIST_FILES[split]:
        if _find_file(dest, name):
            continue
        errors = []
        print(f"downloading {name} into {dest}")
        for m in mirrors:
            try:
                _download(m + name, dest / name, MNIST_SHA256[name], fetcher=fetcher,
                          quiet=True)
                break
            except ChecksumError:
                remove_empty_dirs(created)
                raise
            except Exception as e:  # network errors: try the next mirror
                errors.append(f"{m}: {type(e).__name__}: {e}")
        else:
            remove_empty_dirs(created)
            return (f"the download failed ({len(errors)} mirrors tried; last: "
                    f"{errors[-1] if errors else 'no mirrors given'})")
    return None


def load_mnist(root: str | os.PathLike | None = None, split: str = "test",
               download: bool | None = None, mirrors: Sequence[str] = MNIST_MIRRORS,
               fetcher: Callable | None = None) -> tuple[numpy.ndarray, numpy.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of MNIST's ``split`` ('train' or 'test').

    The files are looked up in ``root`` (and its ``mnist/``, ``MNIST/raw/`` subfolders), else
    ``$AUTODIFF_DATA``, else the cache directory (``~/.cache/autodiff/mnist``). Missing files
    are downloaded (with SHA-256 verification) into ``root/mnist`` when ``download`` is True,
    or into the cache directory when no folder is given (``download`` None or True). When they
    are missing and not downloaded, :class:`~autodiff.data.paths.DatasetNotFoundError` (a
    ``FileNotFoundError``) says which files, where they were looked for, where to put them and
    their URLs; no empty folder is left behind.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"load_mnist: split must be 'train' or 'test', got {split!r}")
    explicit = root if root is not None else os.environ.get("AUTODIFF_DATA") or None
    d = find_mnist_dir(explicit, split) if explicit is not None else None
    if d is None:
        if explicit is not None:
            base = Path(explicit).expanduser().absolute()
            dest, allowed = base / "mnist", bool(download)
            searched = [base, base / "mnist", base / "MNIST" / "raw"]
        else:
            dest = default_cache_dir() / "mnist"
            allowed = download is None or bool(download)
            searched = [dest]
        d = find_mnist_dir(dest, split) if dest.exists() else None
        if d is None:
            reason = (_download_split(dest, split, mirrors, fetcher) if allowed
                      else "not downloaded (download=False)")
            if reason is not None:
                names = MNIST_FILES[split]
                raise DatasetNotFoundError(
                    f"MNIST ({split} set)", [n for n in names if not _find_file(dest, n)],
                    searched, dest, [mirrors[0] + n for n in names] if mirrors else [],
                    reason)
            d = dest
    img_name, lab_name = MNIST_FILES[split]
    img_path, lab_path = _find_file(d, img_name), _find_file(d, lab_name)
    images = read_mnist_images(img_path)
    labels = read_mnist_labels(lab_path)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"load_mnist: {img_path} holds {images.shape[0]} images but "
                         f"{lab_path} holds {labels.shape[0]} labels")
    return images, labels


def has_mnist_split(root: str | os.PathLike | None, split: str) -> bool:
    """Whether ``split``'s files are already on disk where :func:`load_mnist` looks (``root``,
    else ``$AUTODIFF_DATA``, else the cache directory), without downloading."""
    base = root if root is not None else os.environ.get("AUTODIFF_DATA") or None
    if base is not None and find_mnist_dir(base, split) is not None:
        return True
    return root is None and find_mnist_dir(default_cache_dir() / "mnist", split) is not None


class MNIST(Dataset):
    """MNIST as ``torchvision.datasets.MNIST``: ``MNIST(root, train=True, transform=None,
    target_transform=None, download=False)``.

    ``data`` is a uint8 Tensor (N, 28, 28) and ``targets`` an int64 Tensor (N,): the 60000
    training images (``train=True``, files ``train-*-ubyte.gz``) or the 10000 test images.
    ``dataset[i]`` is ``(image, target)``: the (28, 28) uint8 Tensor (torchvision gives a PIL
    image) and the int label, each passed through its transform when one is given. Without
    transforms the DataLoader builds whole batches at once (``get_batch``). The files are found
    (and downloaded) as by :func:`load_mnist`; ``root=None`` means ``$AUTODIFF_DATA`` or the
    cache directory.
    """

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 download: bool = False) -> None:
        self.root = root
        self.train = bool(train)
        self.transform = transform
        self.target_transform = target_transform
        images, labels = load_mnist(root, "train" if self.train else "test", download=download)
        self.data = make(images)
        self.targets = make(labels)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __getitem__(self, index: int):
        n = len(self)
        index = int(index)
        if not -n <= index < n:
            raise IndexError(f"MNIST: index {index} out of range for {n} images")
        img, target = make(self.data.array[index]), int(self.targets.array[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    @property
    def get_batch(self) -> Callable | None:
        """The DataLoader's fast path, ``get_batch(indices)`` -> (images (B, 28, 28) uint8,
        targets (B,) int64); None when a transform is set (samples go one by one then)."""
        if self.transform is not None or self.target_transform is not None:
            return None
        return self._batch

    def _batch(self, indices):
        idx = numpy.asarray(indices, dtype=numpy.int64)
        return make(self.data.array[idx]), make(self.targets.array[idx])

    def __repr__(self) -> str:
        split = "Train" if self.train else "Test"
        return f"Dataset MNIST\n    Number of datapoints: {len(self)}\n    Split: {split}"


class MNISTSplit(NamedTuple):
    """Arrays of a train/test split: images float32 (N, 784) or (N, 28, 28), labels int64."""

    x_train: numpy.ndarray
    y_train: numpy.ndarray
    x_test: numpy.ndarray
    y_test: numpy.ndarray

    def datasets(self) -> tuple[TensorDataset, TensorDataset]:
        """(train, test) TensorDatasets."""
        return TensorDataset(self.x_train, self.y_train), TensorDataset(self.x_test, self.y_test)


def normalize_images(images: numpy.ndarray, normalize: bool | str = True,
                     dtype=numpy.float32) -> numpy.ndarray:
    """uint8 pixels as floats: 'standard'/True: (x/255 - 0.1307)/0.3081; 'unit': x/255;
    False: 0..255."""
    x = images.astype(dtype)
    if normalize in (True, "standard"):
        x /= 255.0
        x -= MNIST_MEAN
        x /= MNIST_STD
    elif normalize == "unit":
        x /= 255.0
    elif normalize not in (False, None):
        raise ValueError(f"normalize must be True/'standard', 'unit' or False, got {normalize!r}")
    return x


def mnist_split(root: str | os.PathLike | None = None, n_train: int = 8000,
                n_test: int | None = None, normalize: bool | str = True, flatten: bool = True,
                as_dataset: bool = False, split: str = "test", download: bool | None = None):
    """Split one MNIST file set (by default the 10k test set) into the first ``n_train``
    samples for training and the last ``n_test`` (default: the rest) for testing.

    Returns an :class:`MNISTSplit` of float32 arrays (normalized, flattened to 784 by default),
    or ``(train_dataset, test_dataset)`` when ``as_dataset``.
    """
    images, labels = load_mnist(root, split=split, download=download)
    n = images.shape[0]
    n_test = n - n_train if n_test is None else int(n_test)
    if n_train <= 0 or n_test <= 0 or n_train + n_test > n:
        raise ValueError(f"mnist_split: n_train={n_train}, n_test={n_test} do not fit in {n} "
                         f"samples")
    x = normalize_images(images, normalize)
    if flatten:
        x = x.reshape(n, -1)
    out = MNISTSplit(x[:n_train], labels[:n_train], x[n - n_test:], labels[n - n_test:])
    return out.datasets() if as_dataset else out
