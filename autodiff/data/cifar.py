"""CIFAR-10, binary version: reader, writer, preprocessing, augmentation and synthetic data.

The binary version (``cifar-10-binary.tar.gz``) is plain bytes: each record is 1 label byte
(0..9) followed by 3072 pixel bytes, the 1024 red, then 1024 green, then 1024 blue values of a
32x32 image in row-major order. ``data_batch_1.bin`` .. ``data_batch_5.bin`` hold 10000 training
records each and ``test_batch.bin`` 10000 test records. The pickled (Python) version is never
read: unpickling runs arbitrary code.

Preprocessing as in He et al. (2016): pixels scaled to [0, 1] and the per-pixel mean of the
training set subtracted; augmentation by a random 32x32 crop of the image padded by 4 pixels on
each side (reflect padding here) and a random horizontal flip, vectorised over the batch.

CIFAR-10 is not always at hand: :func:`synthetic_cifar` generates CIFAR-shaped uint8 images
whose class is learnable (class-specific colour/texture templates under noise and shifts).

>>> import numpy as np
>>> x, y = synthetic_cifar(8, seed=0)
>>> x.shape, x.dtype, y.shape
((8, 3, 32, 32), dtype('uint8'), (8,))
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy

from .paths import DatasetNotFoundError

__all__ = ["CIFAR10_CLASSES", "RECORD_BYTES", "TRAIN_FILES", "TEST_FILE", "read_cifar10_binary",
           "write_cifar10_binary", "find_cifar10_dir", "load_cifar10", "per_pixel_mean",
           "preprocess", "random_crop_flip", "synthetic_cifar", "CIFAR10_URL", "CIFARArrays",
           "cifar10_arrays", "iterate_minibatches"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
IMAGE_SHAPE = (3, 32, 32)
RECORD_BYTES = 1 + 3 * 32 * 32
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"


# ----------------------------------------------------------------------------- binary format
def read_cifar10_binary(path: str | os.PathLike) -> tuple[numpy.ndarray, numpy.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) from one binary-version batch file."""
    path = Path(path)
    raw = numpy.fromfile(path, dtype=numpy.uint8)
    if raw.size == 0 or raw.size % RECORD_BYTES:
        raise ValueError(f"read_cifar10_binary: {path} has {raw.size} bytes, not a positive "
                         f"multiple of the {RECORD_BYTES}-byte record (1 label + 3072 pixels); "
                         f"is it the binary version of CIFAR-10?")
    rec = raw.reshape(-1, RECORD_BYTES)
    labels = rec[:, 0].astype(numpy.int64)
    if labels.max() > 9:
        raise ValueError(f"read_cifar10_binary: {path} has label {int(labels.max())} > 9; "
                         f"CIFAR-100 binary files have 2 label bytes and are not supported")
    images = rec[:, 1:].reshape(-1, *IMAGE_SHAPE)
    return numpy.ascontiguousarray(images), labels


def write_cifar10_binary(path: str | os.PathLike, images, labels) -> Path:
    """Write uint8 images (N, 3, 32, 32) and labels (N,) as one binary-version batch file."""
    images = numpy.asarray(images)
    labels = numpy.asarray(labels)
    if images.shape[1:] != IMAGE_SHAPE or images.shape[0] != labels.shape[0]:
        raise ValueError(f"write_cifar10_binary: expected images (N, 3, 32, 32) and labels (N,), "
                         f"got {images.shape} and {labels.shape}")
    if images.dtype != numpy.uint8:
        raise ValueError(f"write_cifar10_binary: images must be uint8, got {images.dtype}")
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise ValueError("write_cifar10_binary: labels must lie in 0..9")
    rec = numpy.empty((images.shape[0], RECORD_BYTES), dtype=numpy.uint8)
    rec[:, 0] = labels
    rec[:, 1:] = images.reshape(images.shape[0], -1)
    path = Path(path)
    rec.tofile(path)
    return path


def find_cifar10_dir(root: str | os.PathLike) -> Path | None:
    """``root`` or its ``cifar-10-batches-bin`` subfolder, whichever holds ``test_batch.bin``."""
    root = Path(root).expanduser()
    for d in (root, root / "cifar-10-batches-bin", root / "cifar10" / "cifar-10-batches-bin"):
        if (d / TEST_FILE).exists() or (d / TRAIN_FILES[0]).exists():
            return d
    return None


def load_cifar10(root: str | os.PathLike | None = None, train: bool = True
                 ) -> tuple[numpy.ndarray, numpy.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) of the training set (the five
    ``data_batch_*.bin`` present, 50000 records when complete) or of ``test_batch.bin``.
    ``root`` defaults to ``$AUTODIFF_DATA``. The archive is not downloaded automatically (it is
    170 MB); missing files raise :class:`~autodiff.data.paths.DatasetNotFoundError` with its
    URL."""
    root = root if root is not None else os.environ.get("AUTODIFF_DATA") or None
    names = TRAIN_FILES if train else (TEST_FILE,)
    d = find_cifar10_dir(root) if root is not None else None
    files = [d / n for n in names if (d / n).exists()] if d is not None else []
    if not files:
        base = Path(root).expanduser() if root is not None else None
        searched = [] if base is None else [base, base / "cifar-10-batches-bin"]
        raise DatasetNotFoundError(
            "CIFAR-10 (binary version)", list(names), searched,
            None if base is None else base / "cifar-10-batches-bin", [CIFAR10_URL],
            "no CIFAR-10 binary files there; they are not downloaded automatically: fetch "
            "the archive and extract it (tar xzf cifar-10-binary.tar.gz)")
    parts = [read_cifar10_binary(f) for f in files]
    return (numpy.concatenate([p[0] for p in parts]),
            numpy.concatenate([p[1] for p in parts]))


# ----------------------------------------------------------------------------- preprocessing
def per_pixel_mean(images, scale: float = 1.0 / 255.0) -> numpy.ndarray:
    """The (3, 32, 32) per-pixel mean of ``images * scale`` (float32), over the batch axis."""
    return (numpy.asarray(images, dtype=numpy.float64).mean(axis=0) * scale).astype(numpy.float32)


def preprocess(images, mean: numpy.ndarray | None = None, scale: float = 1.0 / 255.0
               ) -> numpy.ndarray:
    """float32 ``images * scale - mean`` (the per-pixel mean of the training set)."""
    x = numpy.asarray(images, dtype=numpy.float32) * numpy.float32(scale)
    if mean is not None:
        x -= mean.astype(numpy.float32)
    return x


def random_crop_flip(images: numpy.ndarray, rng: numpy.random.Generator | int | None = None,
                     padding: int = 4, flip: bool = True, mode: str = "reflect") -> numpy.ndarray:
    """A random HxW crop of each image padded by ``padding`` pixels (``mode`` 'reflect' or
    'constant' zeros), then a horizontal flip with probability 1/2; vectorised over the batch
    (one strided view of all windows, one gather). Works on (N, C, H, W) of any dtype."""
    rng = rng if isinstance(rng, numpy.random.Generator) else numpy.random.default_rng(rng)
    x = numpy.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"random_crop_flip: expected (N, C, H, W) images, got shape {x.shape}")
    N, C, H, W = x.shape
    out = x
    if padding > 0:
        if mode not in ("reflect", "constant"):
            raise ValueError(f"random_crop_flip: mode must be 'reflect' or 'constant', got "
                             f"{mode!r}")
        padded = numpy.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                           mode=mode)
        windows = numpy.lib.stride_tricks.sliding_window_view(padded, (H, W), axis=(2, 3))
        oy = rng.integers(0, 2 * padding + 1, size=N)
        ox = rng.integers(0, 2 * padding + 1, size=N)
        out = windows[numpy.arange(N), :, oy, ox]                      # (N, C, H, W)
    if flip:
        mask = rng.random(N) < 0.5
        out = numpy.where(mask[:, None, None, None], out[..., ::-1], out)
    return numpy.ascontiguousarray(out)


# ----------------------------------------------------------------------------- synthetic data
def synthetic_cifar(n: int, seed: int = 0, num_classes: int = 10
                    ) -> tuple[numpy.ndarray, numpy.ndarray]:
    """``n`` CIFAR-shaped uint8 images (n, 3, 32, 32) and int64 labels with learnable
    structure: each class has a fixed smooth colour-texture template (the same for every seed),
    each image is its class template, randomly shifted, contrast-jittered and under pixel
    noise. Balanced labels in random order."""
    tmpl_rng = numpy.random.default_rng(12345)
    coarse = tmpl_rng.standard_normal((num_classes, 3, 4, 4))
    templates = coarse.repeat(8, axis=2).repeat(8, axis=3)            # smooth 32x32 patterns
    yy, xx = numpy.mgrid[0:32, 0:32] / 32.0
    freq = tmpl_rng.uniform(1, 4, size=(num_classes, 2))
    phase = tmpl_rng.uniform(0, 2 * numpy.pi, size=(num_classes, 3))
    for k in range(num_classes):
        for c in range(3):
            templates[k, c] += numpy.sin(2 * numpy.pi * (freq[k, 0] * xx + freq[k, 1] * yy)
                                         + phase[k, c])
    rng = numpy.random.default_rng(seed)
    labels = rng.permutation(numpy.arange(n) % num_classes).astype(numpy.int64)
    base = templates[labels]                                            # (n, 3, 32, 32)
    shift = rng.integers(-3, 4, size=(n, 2))
    rows = (numpy.arange(32)[None, :] + shift[:, :1]) % 32
    cols = (numpy.arange(32)[None, :] + shift[:, 1:]) % 32
    base = base[numpy.arange(n)[:, None, None, None], numpy.arange(3)[None, :, None, None],
                rows[:, None, :, None], cols[:, None, None, :]]
    contrast = rng.uniform(0.6, 1.4, size=(n, 1, 1, 1))
    img = 128 + 40 * contrast * base + 40 * rng.standard_normal(base.shape)
    return numpy.clip(img, 0, 255).astype(numpy.uint8), labels


# ----------------------------------------------------------------------------- convenience
class CIFARArrays(NamedTuple):
    """Preprocessed float32 arrays (mean-subtracted) and the training per-pixel mean."""

    x_train: numpy.ndarray
    y_train: numpy.ndarray
    x_test: numpy.ndarray
    y_test: numpy.ndarray
    mean: numpy.ndarray


def cifar10_arrays(root: str | os.PathLike | None = None, n_synthetic_train: int = 5000,
                   n_synthetic_test: int = 1000, seed: int = 0) -> CIFARArrays:
    """Mean-subtracted float32 train/test arrays of CIFAR-10 from ``root`` (binary version), or
    of :func:`synthetic_cifar` data when ``root`` is None."""
    if root is not None:
        xtr, ytr = load_cifar10(root, train=True)
        xte, yte = load_cifar10(root, train=False)
    else:
        xtr, ytr = synthetic_cifar(n_synthetic_train, seed=seed)
        xte, yte = synthetic_cifar(n_synthetic_test, seed=seed + 1)
    mean = per_pixel_mean(xtr)
    return CIFARArrays(preprocess(xtr, mean), ytr, preprocess(xte, mean), yte, mean)


def iterate_minibatches(x: numpy.ndarray, y: numpy.ndarray, batch_size: int,
                        rng: numpy.random.Generator | int | None = None, shuffle: bool = True,
                        augment: bool = False, drop_last: bool = False
                        ) -> Iterator[tuple[numpy.ndarray, numpy.ndarray]]:
    """One epoch of (images, labels) minibatches, optionally shuffled and augmented with
    :func:`random_crop_flip`."""
    rng = rng if isinstance(rng, numpy.random.Generator) else numpy.random.default_rng(rng)
    n = x.shape[0]
    order = rng.permutation(n) if shuffle else numpy.arange(n)
    stop = n - n % batch_size if drop_last else n
    for s in range(0, stop, batch_size):
        idx = order[s:s + batch_size]
        xb = x[idx]
        if augment:
            xb = random_crop_flip(xb, rng)
        yield xb, y[idx]
