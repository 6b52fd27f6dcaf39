"""Character vocabulary, batchify/BPTT windows and the tinyshakespeare reader."""
from __future__ import annotations

import numpy as np
import pytest

from autodiff.data.text import (CharVocab, batchify, bptt_batches, load_tinyshakespeare,
                                num_windows, tinyshakespeare_path, train_val_split)


def test_vocab_round_trip_and_order():
    text = "hello, world!\nÉtude ü"
    v = CharVocab(text)
    assert v.itos == sorted(set(text)) and len(v) == len(set(text))
    assert all(v.stoi[c] == i for i, c in enumerate(v.itos))
    ids = v.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert [v.itos[i] for i in ids] == list(text)
    assert v.decode(ids) == text
    with pytest.raises(KeyError):
        v.encode("xyz?")


def test_batchify_columns_are_contiguous_pieces():
    ids = np.arange(103)
    d = batchify(ids, 4)
    assert d.shape == (25, 4)
    for b in range(4):
        np.testing.assert_array_equal(d[:, b], np.arange(25 * b, 25 * (b + 1)))


def test_bptt_windows_targets_shifted():
    d = batchify(np.arange(103), 4)          # 25 rows
    wins = list(bptt_batches(d, 7))
    assert len(wins) == num_windows(d, 7) == 4
    assert [x.shape for x, _ in wins] == [(7, 4), (7, 4), (7, 4), (3, 4)]
    xs = np.concatenate([x for x, _ in wins])
    ys = np.concatenate([y for _, y in wins])
    np.testing.assert_array_equal(xs, d[:-1])
    np.testing.assert_array_equal(ys, d[1:])
    np.testing.assert_array_equal(ys, xs + 1)          # next character in the stream
    assert len(list(bptt_batches(d, 7, drop_last=True))) == 3
    xb, yb = next(bptt_batches(d, 7, batch_first=True))
    assert xb.shape == (4, 7) and (yb == xb + 1).all()


def test_train_val_split():
    tr, va = train_val_split(np.arange(100), 0.1)
    assert len(tr) == 90 and len(va) == 10 and va[0] == 90


def test_tinyshakespeare(data_dir):
    path = data_dir / "tinyshakespeare" / "input.txt"
    if not path.exists():
        pytest.skip("tinyshakespeare not in the shared data")
    assert tinyshakespeare_path(data_dir) == path
    text = load_tinyshakespeare(path)
    v = CharVocab(text)
    assert len(v) == 65 and len(text) == 1115394
    assert v.decode(v.encode(text[:1000])) == text[:1000]
