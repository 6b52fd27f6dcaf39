"""CIFAR-10 binary reader/writer, preprocessing, augmentation and synthetic data, on generated
files in the binary format (CIFAR-10 itself is not needed)."""
from __future__ import annotations

import numpy as np
import pytest

from autodiff.data import cifar


def _make_dir(tmp_path, n_per_file=7, seed=0):
    rng = np.random.default_rng(seed)
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    data = {}
    for name in cifar.TRAIN_FILES + (cifar.TEST_FILE,):
        x = rng.integers(0, 256, size=(n_per_file, 3, 32, 32), dtype=np.uint8)
        y = rng.integers(0, 10, size=n_per_file)
        cifar.write_cifar10_binary(d / name, x, y)
        data[name] = (x, y)
    return d, data


def test_binary_record_layout(tmp_path):
    """Byte 0 is the label, then 1024 red, 1024 green, 1024 blue bytes in row-major order."""
    x = np.zeros((2, 3, 32, 32), np.uint8)
    x[1, 2, 0, 1] = 200          # blue channel, row 0, column 1 of image 1
    x[0, 0, 31, 31] = 7          # red, last pixel of image 0
    p = cifar.write_cifar10_binary(tmp_path / "b.bin", x, np.array([3, 9]))
    raw = np.fromfile(p, np.uint8)
    assert raw.size == 2 * 3073
    assert raw[0] == 3 and raw[3073] == 9
    assert raw[1 + 1023] == 7
    assert raw[3073 + 1 + 2048 + 1] == 200
    xr, yr = cifar.read_cifar10_binary(p)
    np.testing.assert_array_equal(xr, x)
    np.testing.assert_array_equal(yr, [3, 9])
    assert yr.dtype == np.int64 and xr.dtype == np.uint8


def test_load_train_and_test_round_trip(tmp_path):
    d, data = _make_dir(tmp_path)
    xtr, ytr = cifar.load_cifar10(tmp_path, train=True)          # finds the subfolder
    assert xtr.shape == (35, 3, 32, 32) and ytr.shape == (35,)
    np.testing.assert_array_equal(xtr, np.concatenate([data[n][0] for n in cifar.TRAIN_FILES]))
    np.testing.assert_array_equal(ytr, np.concatenate([data[n][1] for n in cifar.TRAIN_FILES]))
    xte, yte = cifar.load_cifar10(d, train=False)
    np.testing.assert_array_equal(xte, data[cifar.TEST_FILE][0])
    np.testing.assert_array_equal(yte, data[cifar.TEST_FILE][1])


def test_errors(tmp_path):
    (tmp_path / "bad.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="3073-byte record"):
        cifar.read_cifar10_binary(tmp_path / "bad.bin")
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 binary files"):
        cifar.load_cifar10(tmp_path / "nowhere")


def test_per_pixel_mean_subtraction(tmp_path):
    _make_dir(tmp_path, n_per_file=5, seed=1)
    arrays = cifar.cifar10_arrays(tmp_path)
    xtr_raw, _ = cifar.load_cifar10(tmp_path)
    ref_mean = xtr_raw.astype(np.float64).mean(axis=0) / 255.0
    np.testing.assert_allclose(arrays.mean, ref_mean, atol=1e-6)
    assert arrays.mean.shape == (3, 32, 32)
    np.testing.assert_allclose(arrays.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(arrays.x_test, cifar.load_cifar10(tmp_path, False)[0] / 255.0
                               - ref_mean, atol=1e-5)
    assert arrays.x_train.dtype == np.float32


def test_random_crop_flip_is_a_shifted_mirrored_window():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(16, 3, 32, 32)).astype(np.uint8)
    out = cifar.random_crop_flip(x, np.random.default_rng(5), padding=4)
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = np.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)), mode="reflect")
    for n in range(16):
        found = False
        for img in (out[n], out[n][..., ::-1]):
            for oy in range(9):
                for ox in range(9):
                    if np.array_equal(padded[n, :, oy:oy + 32, ox:ox + 32], img):
                        found = True
        assert found, n
    # both flips and several offsets occur; no augmentation when disabled
    outs = cifar.random_crop_flip(np.repeat(x[:1], 64, 0), 1)
    assert len({o.tobytes() for o in outs}) > 10
    np.testing.assert_array_equal(cifar.random_crop_flip(x, 0, padding=0, flip=False), x)
    zero = cifar.random_crop_flip(x.astype(np.float32), 0, padding=4, mode="constant")
    assert zero.shape == x.shape


def test_synthetic_cifar_is_cifar_shaped_balanced_and_learnable():
    x, y = cifar.synthetic_cifar(200, seed=3)
    assert x.shape == (200, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y, minlength=10), np.full(10, 20))
    x2, y2 = cifar.synthetic_cifar(200, seed=3)
    np.testing.assert_array_equal(x, x2)
    # learnable: nearest class mean (on the downsampled image) beats chance by far
    xt, yt = cifar.synthetic_cifar(200, seed=4)
    feat = lambda a: a.astype(np.float64).reshape(len(a), 3, 4, 8, 4, 8).mean((3, 5)).reshape(len(a), -1)  # noqa: E731
    means = np.stack([feat(x)[y == k].mean(0) for k in range(10)])
    pred = ((feat(xt)[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    assert (pred == yt).mean() > 0.5


def test_iterate_minibatches_covers_epoch():
    x = np.arange(10 * 3 * 32 * 32, dtype=np.float32).reshape(10, 3, 32, 32)
    y = np.arange(10)
    seen = []
    for xb, yb in cifar.iterate_minibatches(x, y, 4, rng=0, augment=True):
        assert xb.shape[1:] == (3, 32, 32) and len(xb) == len(yb)
        seen.extend(yb.tolist())
    assert sorted(seen) == list(range(10))
    assert sum(1 for _ in cifar.iterate_minibatches(x, y, 4, drop_last=True)) == 2
