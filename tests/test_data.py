"""autodiff.data: idx reader (real and generated files), DataLoader, splits, samplers, download."""
from __future__ import annotations

import gzip
import hashlib
import importlib
import io

import numpy as np
import pytest

import autodiff as ad
from autodiff import data as D

download_mod = importlib.import_module("autodiff.data.download")


# ----------------------------------------------------------------------------- idx / MNIST
def _idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    if magic is None:
        magic = 0x0800 + arr.ndim
    head = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def test_real_mnist_files(data_dir):
    d = data_dir / "mnist"
    x = D.read_mnist_images(d / "t10k-images-idx3-ubyte.gz")
    y = D.read_mnist_labels(d / "t10k-labels-idx1-ubyte.gz")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and y.dtype == np.int64
    # Independent reference: parse the gzip stream by hand with NumPy.
    raw = gzip.decompress((d / "t10k-labels-idx1-ubyte.gz").read_bytes())
    assert int.from_bytes(raw[:4], "big") == 2049
    np.testing.assert_array_equal(y, np.frombuffer(raw, np.uint8, offset=8))
    raw = gzip.decompress((d / "t10k-images-idx3-ubyte.gz").read_bytes())
    np.testing.assert_array_equal(x[-1].ravel(), np.frombuffer(raw, np.uint8)[-784:])
    assert y[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_load_mnist_root_and_env(data_dir, monkeypatch):
    x, y = D.load_mnist(data_dir, split="test")          # finds root/mnist
    assert x.shape == (10000, 28, 28)
    monkeypatch.setenv("AUTODIFF_DATA", str(data_dir))
    x2, y2 = D.load_mnist(split="test")
    np.testing.assert_array_equal(y, y2)
    with pytest.raises(FileNotFoundError, match="train"):
        D.load_mnist(data_dir, split="train", download=False)


def test_mnist_split(data_dir):
    s = D.mnist_split(data_dir, n_train=8000)
    assert s.x_train.shape == (8000, 784) and s.x_test.shape == (2000, 784)
    assert s.x_train.dtype == np.float32 and s.y_train.dtype == np.int64
    x, y = D.load_mnist(data_dir)
    ref = (x.reshape(10000, -1)[8000:].astype(np.float64) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(s.x_test, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(s.y_train, y[:8000])
    assert abs(float(s.x_train.mean())) < 0.05 and abs(float(s.x_train.std()) - 1) < 0.05
    train, test = D.mnist_split(data_dir, n_train=8000, normalize="unit", as_dataset=True)
    assert len(train) == 8000 and len(test) == 2000
    xb, yb = test[0]
    assert float(xb.array.max()) <= 1.0 and yb.item() == y[8000]


@pytest.mark.parametrize("compress", [False, True])
def test_idx_roundtrip_generated(tmp_path, compress):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(7, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7).astype(np.uint8)
    suffix = ".gz" if compress else ""
    pi = D.write_idx(tmp_path / f"img{suffix}", imgs)
    pl = D.write_idx(tmp_path / f"lab{suffix}", labels)
    # the header written is the documented one
    raw = pi.read_bytes()
    raw = gzip.decompress(raw) if compress else raw
    assert int.from_bytes(raw[:4], "big") == 2051 and int.from_bytes(raw[4:8], "big") == 7
    np.testing.assert_array_equal(D.read_mnist_images(pi), imgs)
    np.testing.assert_array_equal(D.read_mnist_labels(pl), labels)
    f = rng.standard_normal((3, 2)).astype(np.float32)
    np.testing.assert_array_equal(D.read_idx(D.write_idx(tmp_path / "f.idx", f)), f)


def test_idx_bad_magic_and_size(tmp_path):
    labels = np.arange(5, dtype=np.uint8)
    p = tmp_path / "labels-bad-magic"
    p.write_bytes(_idx_bytes(labels, magic=2051))        # image magic on a label file
    with pytest.raises(ValueError, match=r"labels-bad-magic.*magic number 2051.*2049"):
        D.read_mnist_labels(p)
    p2 = tmp_path / "garbage.gz"
    p2.write_bytes(gzip.compress(b"\x12\x34\x56\x78" + b"\x00" * 8))
    with pytest.raises(ValueError, match="garbage.gz.*magic"):
        D.read_idx(p2)
    p3 = tmp_path / "truncated-images"
    p3.write_bytes(_idx_bytes(np.zeros((3, 2, 2), np.uint8))[:-1])
    with pytest.raises(ValueError, match=r"truncated-images.*size mismatch"):
        D.read_mnist_images(p3)
    p4 = tmp_path / "extra"
    p4.write_bytes(_idx_bytes(labels) + b"\x00")
    with pytest.raises(ValueError, match="extra.*size mismatch"):
        D.read_mnist_labels(p4)
    p5 = tmp_path / "broken.gz"
    p5.write_bytes(gzip.compress(_idx_bytes(labels))[:-6])
    with pytest.raises(ValueError, match="broken.gz"):
        D.read_idx(p5)
    p6 = tmp_path / "labels-gt9"
    p6.write_bytes(_idx_bytes(np.array([1, 12], np.uint8)))
    with pytest.raises(ValueError, match="labels-gt9"):
        D.read_mnist_labels(p6)


def test_load_mnist_count_mismatch(tmp_path):
    D.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((4, 2, 2), np.uint8))
    D.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))  # raw file
    with pytest.raises(ValueError, match="4 images.*3 labels"):
        D.load_mnist(tmp_path)


# ----------------------------------------------------------------------------- download
def test_download_checksum_ok_and_mismatch(tmp_path):
    src = tmp_path / "src.bin"
    payload = b"autodiff" * 1000
    src.write_bytes(payload)
    good = hashlib.sha256(payload).hexdigest()
    out = D.download(src.as_uri(), tmp_path / "cache" / "a.bin", good, quiet=True)
    assert out.read_bytes() == payload and D.sha256_file(out) == good
    with pytest.raises(D.ChecksumError, match=r"checksum mismatch.*src.bin.*expected sha256 0+"):
        D.download(src.as_uri(), tmp_path / "cache" / "b.bin", "0" * 64, quiet=True)
    assert not (tmp_path / "cache" / "b.bin").exists()
    assert not (tmp_path / "cache" / "b.bin.part").exists()
    assert issubclass(D.ChecksumError, ValueError)


def test_load_mnist_download_verifies(tmp_path, monkeypatch):
    """The cache path downloads through the (monkeypatched) fetch and rejects bad checksums."""
    monkeypatch.delenv("AUTODIFF_DATA", raising=False)
    monkeypatch.setenv("AUTODIFF_CACHE", str(tmp_path / "cache"))
    urls = []

    def fake_fetch(url):
        urls.append(url)
        return io.BytesIO(gzip.compress(_idx_bytes(np.zeros(3, np.uint8))))

    monkeypatch.setattr(download_mod, "fetch", fake_fetch)
    with pytest.raises(D.ChecksumError, match="t10k-images-idx3-ubyte.gz"):
        D.load_mnist(split="test")
    assert urls and urls[0].startswith("https://") and urls[0].endswith("t10k-images-idx3-ubyte.gz")
    assert not list((tmp_path / "cache").rglob("*.gz"))
    # with matching checksums the files are stored in the cache and read back
    img = gzip.compress(_idx_bytes(np.ones((2, 28, 28), np.uint8)))
    lab = gzip.compress(_idx_bytes(np.array([3, 4], np.uint8)))
    files = {"t10k-images-idx3-ubyte.gz": img, "t10k-labels-idx1-ubyte.gz": lab}
    monkeypatch.setattr(download_mod, "fetch", lambda url: io.BytesIO(files[url.rsplit("/", 1)[1]]))
    monkeypatch.setitem(D.MNIST_SHA256, "t10k-images-idx3-ubyte.gz", hashlib.sha256(img).hexdigest())
    monkeypatch.setitem(D.MNIST_SHA256, "t10k-labels-idx1-ubyte.gz", hashlib.sha256(lab).hexdigest())
    x, y = D.load_mnist(split="test")
    assert x.shape == (2, 28, 28) and y.tolist() == [3, 4]
    assert (tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_load_mnist_offline_explains_and_leaves_no_folder(tmp_path, monkeypatch):
    def offline(url, timeout=60.0):
        raise OSError("Name or service not known")

    monkeypatch.setattr(download_mod, "fetch", offline)
    root = tmp_path / "a" / "b"
    with pytest.raises(D.DatasetNotFoundError) as e:
        D.load_mnist(root, split="train", download=True)
    err = e.value
    assert isinstance(err, FileNotFoundError)
    assert err.files == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert err.searched == [str(root), str(root / "mnist"), str(root / "MNIST" / "raw")]
    assert err.dest == str(root / "mnist")
    assert err.urls == [D.MNIST_MIRRORS[0] + f for f in err.files]
    assert "Name or service not known" in err.reason
    assert "root=DIR" in str(err) and "--data DIR" in err.format("--data DIR")
    assert not (tmp_path / "a").exists()
    with pytest.raises(D.DatasetNotFoundError, match="download=False"):
        D.load_mnist(root, split="train", download=False)


def test_mnist_dataset_like_torchvision(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    y = np.array([3, 1, 4, 1, 5], np.uint8)
    D.write_idx(tmp_path / "train-images-idx3-ubyte.gz", x)
    D.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y)
    ds = D.MNIST(tmp_path, train=True)
    assert len(ds) == 5 and ds.train and ds.classes[4] == "4 - four"
    assert ds.data.dtype == np.uint8 and ds.targets.dtype == np.int64
    np.testing.assert_array_equal(ds.data.numpy(), x)
    np.testing.assert_array_equal(ds.targets.numpy(), y)
    img, target = ds[2]
    np.testing.assert_array_equal(img.numpy(), x[2])
    assert target == 4 and type(target) is int
    with pytest.raises(IndexError, match="index 5 out of range for 5"):
        ds[5]
    xb, yb = next(iter(D.DataLoader(ds, batch_size=4)))             # the batch fast path
    np.testing.assert_array_equal(xb.numpy(), x[:4])
    np.testing.assert_array_equal(yb.numpy(), y[:4])
    scaled = D.MNIST(tmp_path, transform=lambda im: im.numpy().astype(np.float32) / 255,
                     target_transform=lambda t: t + 10)
    assert scaled.get_batch is None                                  # transforms: one by one
    xb, yb = next(iter(D.DataLoader(scaled, batch_size=2)))
    np.testing.assert_allclose(xb.numpy(), x[:2] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(yb.numpy(), [13, 11])
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz"):
        D.MNIST(tmp_path, train=False)


def test_standard_checksums_table():
    assert set(D.MNIST_SHA256) == {n for pair in D.MNIST_FILES.values() for n in pair}
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in D.MNIST_SHA256.values())


# ----------------------------------------------------------------------------- DataLoader
def _ds(n=10):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return D.TensorDataset(x, np.arange(n)), x


def test_loader_batches_and_drop_last():
    ds, x = _ds(10)
    batches = list(D.DataLoader(ds, batch_size=4))
    assert [tuple(b[0].shape) for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert isinstance(batches[0][0], ad.Tensor) and batches[0][1].dtype == np.int64
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in batches]), x)
    dl = D.DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and [len(b[1]) for b in dl] == [4, 4]
    assert len(D.DataLoader(ds, batch_size=4)) == 3


def test_loader_shuffle_seed_reproducible():
    ds, _ = _ds(50)
    order = lambda dl: np.concatenate([y.numpy() for _, y in dl])  # noqa: E731
    a1, a2 = D.DataLoader(ds, 8, shuffle=True, seed=3), D.DataLoader(ds, 8, shuffle=True, seed=3)
    e1, e2 = order(a1), order(a2)
    np.testing.assert_array_equal(e1, e2)
    assert sorted(e1.tolist()) == list(range(50)) and e1.tolist() != list(range(50))
    assert order(a1).tolist() != e1.tolist()           # next epoch: a new order
    ad.manual_seed(7)
    g1 = order(D.DataLoader(ds, 8, shuffle=True))
    ad.manual_seed(7)
    g2 = order(D.DataLoader(ds, 8, shuffle=True))
    np.testing.assert_array_equal(g1, g2)
    # rows stay paired with their labels
    for xb, yb in D.DataLoader(ds, 8, shuffle=True, seed=0):
        np.testing.assert_array_equal(xb.numpy()[:, 0], 2 * yb.numpy())


class _ListDataset(D.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full(3, i, np.float32), i


def test_loader_generic_dataset_collate_and_fast_path(monkeypatch):
    dl = D.DataLoader(_ListDataset(5), batch_size=2)
    xb, yb = next(iter(dl))
    assert xb.shape == (2, 3) and yb.tolist() == [0, 1]
    # a TensorDataset is batched by get_batch, never per sample
    ds, _ = _ds(9)
    monkeypatch.setattr(D.TensorDataset, "__getitem__", lambda self, i: 1 / 0)
    assert sum(len(y) for _, y in D.DataLoader(ds, batch_size=4, shuffle=True, seed=0)) == 9
    with pytest.raises(ValueError):
        D.DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError):
        D.DataLoader(ds, shuffle=True, sampler=D.SequentialSampler(ds))


def test_tensordataset_subset_concat():
    ds, x = _ds(6)
    assert len(ds) == 6 and ds[-1][1].item() == 5
    with pytest.raises(ValueError, match="same first dimension"):
        D.TensorDataset(np.zeros((3, 2)), np.zeros(4))
    sub = D.Subset(ds, [4, 1])
    np.testing.assert_array_equal(sub[0][0].numpy(), x[4])
    xb, yb = next(iter(D.DataLoader(sub, batch_size=2)))
    assert yb.tolist() == [4, 1]
    assert ds[2:4][1].tolist() == [2, 3] and sub[0:2][1].tolist() == [4, 1]
    cat = ds + D.TensorDataset(np.zeros((2, 2), np.float32), np.array([10, 11]))
    assert len(cat) == 8 and cat[7][1].item() == 11


# ----------------------------------------------------------------------------- splits
def test_random_split_fractions_and_lengths():
    ds, _ = _ds(101)
    parts = D.random_split(ds, [0.7, 0.2, 0.1], seed=0)
    assert [len(p) for p in parts] == [71, 20, 10]
    allidx = np.concatenate([p.indices for p in parts])
    assert sorted(allidx.tolist()) == list(range(101))
    again = D.random_split(ds, [0.7, 0.2, 0.1], seed=0)
    np.testing.assert_array_equal(parts[1].indices, again[1].indices)
    assert [len(p) for p in D.random_split(ds, [50, 51], seed=1)] == [50, 51]
    with pytest.raises(ValueError, match="sum"):
        D.random_split(ds, [50, 50])
    with pytest.raises(ValueError, match="fractions"):
        D.random_split(ds, [0.5, 0.6])


def test_train_val_test_split_stratified():
    y = np.array([0] * 90 + [1] * 10)
    x = np.arange(100, dtype=np.float32)[:, None]
    tr, va, te = D.train_val_test_split((x, y), (0.7, 0.2, 0.1), seed=0, stratify=y)
    assert (len(tr), len(va), len(te)) == (70, 20, 10)
    assert [int(y[p.indices].sum()) for p in (tr, va, te)] == [7, 2, 1]
    idx = np.concatenate([p.indices for p in (tr, va, te)])
    assert sorted(idx.tolist()) == list(range(100))


# ----------------------------------------------------------------------------- samplers
def test_class_balanced_sampler():
    y = np.array([0] * 900 + [1] * 100)
    s = D.class_balanced_sampler(y, num_samples=20000, seed=0)
    assert isinstance(s, D.ClassBalancedSampler) and len(s) == 20000
    frac = y[s.indices()].mean()
    assert abs(frac - 0.5) < 0.02                        # binomial sd 0.0035
    ds = D.TensorDataset(np.zeros((1000, 1), np.float32), y)
    ys = np.concatenate([yb.numpy() for _, yb in D.DataLoader(ds, 100, sampler=s)])
    assert abs(ys.mean() - 0.5) < 0.02
    # reproducible with a seed
    a = D.ClassBalancedSampler(y, seed=5).indices()
    b = D.ClassBalancedSampler(y, seed=5).indices()
    np.testing.assert_array_equal(a, b)


def test_weighted_random_and_random_samplers():
    w = np.array([0.0, 1.0, 3.0])
    s = D.WeightedRandomSampler(w, 40000, seed=0)
    counts = np.bincount(s.indices(), minlength=3) / 40000
    np.testing.assert_allclose(counts, [0, 0.25, 0.75], atol=0.01)
    with pytest.raises(ValueError):
        D.WeightedRandomSampler([0.0, 0.0], 3)
    r = D.RandomSampler(range(10), seed=0)
    assert sorted(r) == list(range(10))
    assert len(list(D.RandomSampler(range(10), replacement=True, num_samples=25, seed=0))) == 25
    assert list(D.SequentialSampler(range(4))) == [0, 1, 2, 3]
    bs = D.BatchSampler(D.SequentialSampler(range(5)), 2, drop_last=False)
    assert list(bs) == [[0, 1], [2, 3], [4]] and len(bs) == 3


# ----------------------------------------------------------------------------- progress
def test_progress_is_a_tqdm_bar_with_postfix_and_eta():
    tqdm = pytest.importorskip("tqdm")
    buf = io.StringIO()
    bar = D.progress(range(3), desc="epoch 1/2", disable=False, file=buf, mininterval=0)
    assert isinstance(bar, tqdm.tqdm)
    out = []
    for i in bar:
        bar.set_postfix(loss=0.5, acc=0.25)
        out.append(i)
    bar.close()
    text = buf.getvalue()
    assert out == [0, 1, 2]
    assert "epoch 1/2" in text and "3/3" in text and "loss=0.5" in text and "acc=0.25" in text
    assert "<" in text                                   # tqdm's [elapsed<remaining] ETA


def test_progress_hidden_off_a_terminal(capsys):
    """Under capsys stdout is not a terminal: no bar is drawn, write() prints a plain line."""
    assert not D.interactive()
    bar = D.progress(range(4), desc="x")
    assert bar.disable and list(bar) == [0, 1, 2, 3]
    from autodiff.data.progress import write
    write("epoch 1: loss 0.5")
    cap = capsys.readouterr()
    assert cap.out == "epoch 1: loss 0.5\n" and cap.err == ""
