"""The recurrent examples: the char-level LM (short run beats the unigram baseline, generation
gives valid characters), the pointer cache against hand-computed cases, seq2seq beats chance."""
from __future__ import annotations

import math

import numpy as np
import pytest

import autodiff as ad
from autodiff.nn.models import char_rnn
from examples_util import in_tmp, load_example as _load  # noqa: F401


pointer_cache = _load("pointer_cache")


# ------------------------------------------------------------------------------ pointer cache
def test_cache_probs_hand_computed():
    h = np.array([[1.0, 0.0]])
    cache_h = np.array([[[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]]])
    cache_y = np.array([[2, 0, 2]])
    e = math.e
    Z = e + 1 + e ** 2
    p = pointer_cache.cache_probs(h, cache_h, cache_y, 4, theta=1.0)
    np.testing.assert_allclose(p, [[1 / Z, 0, (e + e ** 2) / Z, 0]], rtol=1e-12)
    # theta scales the scores: theta=0.5 -> weights e^0.5, 1, e
    p = pointer_cache.cache_probs(h, cache_h, cache_y, 4, theta=0.5)
    Z = e ** 0.5 + 1 + e
    np.testing.assert_allclose(p, [[1 / Z, 0, (e ** 0.5 + e) / Z, 0]], rtol=1e-12)
    # empty slots are ignored; an empty cache gives zeros
    valid = np.array([[True, True, False]])
    p = pointer_cache.cache_probs(h, cache_h, cache_y, 4, 1.0, valid)
    np.testing.assert_allclose(p, [[1 / (e + 1), 0, e / (e + 1), 0]], rtol=1e-12)
    p = pointer_cache.cache_probs(h, cache_h, cache_y, 4, 1.0, np.zeros((1, 3), bool))
    np.testing.assert_array_equal(p, 0)
    mixed = pointer_cache.mix(np.full((1, 4), 0.25), np.array([[0, 0, 1.0, 0]]), 0.2)
    np.testing.assert_allclose(mixed, [[0.2, 0.2, 0.4, 0.2]])


def test_cache_nll_hand_computed():
    # one stream, three steps, vocabulary 2, uniform model
    hidden = np.array([[[1.0]], [[1.0]], [[2.0]]])          # (T=3, B=1, H=1)
    logits = np.zeros((3, 1, 2))
    targets = np.array([[1], [1], [0]])
    lam, theta = 0.5, 1.0
    res = pointer_cache.cache_nll(hidden, logits, targets, cache_size=2, thetas=[theta],
                                  lambdas=[lam])
    assert res["base"] == pytest.approx(math.log(2))
    # t=0: empty cache -> 0.5; t=1: cache {(h=1, y=1)} -> p(1) = 0.5*0.5 + 0.5*1 = 0.75;
    # t=2: cache {(1, 1), (1, 1)} -> all cache mass on 1, p(0) = 0.5*0.5 = 0.25
    expected = -(math.log(0.5) + math.log(0.75) + math.log(0.25)) / 3
    assert res[(theta, lam)] == pytest.approx(expected, rel=1e-12)
    # a ring buffer of size 1 keeps only the last pair
    hidden = np.array([[[1.0]], [[1.0]], [[1.0]]])
    targets = np.array([[0], [1], [1]])
    res = pointer_cache.cache_nll(hidden, logits, targets, 1, [theta], [lam])
    expected = -(math.log(0.5) + math.log(0.25) + math.log(0.75)) / 3
    assert res[(theta, lam)] == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------------ char LM
def test_char_rnn_model_shapes_and_generation():
    m = char_rnn(11, hidden_size=8, cell="gru", embedding_dim=5)
    x = np.random.default_rng(0).integers(0, 11, (6, 3))
    logits, state = m(x)
    assert logits.shape == (6, 3, 11) and state.shape == (1, 3, 8)
    logits2, _ = m(x[3:], m.detach_state(m(x[:3])[1]))
    np.testing.assert_allclose(logits2.numpy(), logits.numpy()[3:], rtol=1e-5, atol=1e-6)
    for cell in ["lstm", "rnn"]:
        m = char_rnn(11, hidden_size=8, cell=cell)
        out = m.generate([1, 2, 3], 7, temperature=0.7)
        assert len(out) == 7 and all(0 <= i < 11 for i in out)
        g1, g2 = m.generate([1, 2], 5, greedy=True), m.generate([1, 2], 5, greedy=True)
        assert g1 == g2


def test_char_lm_short_run_beats_unigram(data_dir):
    if not (data_dir / "tinyshakespeare" / "input.txt").exists():
        pytest.skip("tinyshakespeare not in the shared data")
    char_lm = _load("char_lm")
    r = char_lm.main(["--data", str(data_dir), "--steps", "60", "--hidden", "64", "--seq-len",
                      "32", "--batch", "16", "--lr", "0.01", "--train-chars", "100000",
                      "--val-chars", "4000", "--gen-chars", "30", "--quiet", "--cache",
                      "--cache-theta", "0.3", "--cache-lambda", "0.1"])
    assert r["val_loss"] < r["unigram_loss"] < r["val_loss_initial"]
    assert r["val_ppl"] == pytest.approx(math.exp(r["val_loss"]))
    assert np.mean(r["train_losses"][-10:]) < np.mean(r["train_losses"][:10])
    vocab = r["vocab"]
    for s in (r["greedy"], r["sampled"]):
        assert len(s) == 30 and set(s) <= set(vocab.itos)
    c = r["cache"]
    assert c["ppl_without"] == pytest.approx(r["val_ppl"], rel=0.05)  # other batching
    assert np.isfinite(c["ppl_with"])


def test_unigram_nll_closed_form():
    char_lm = _load("char_lm")
    tr, va = np.array([0, 0, 1]), np.array([0, 1])
    # add-one counts (3, 2) -> p = (0.6, 0.4)
    assert char_lm.unigram_nll(tr, va, 2) == pytest.approx(-(math.log(0.6) + math.log(0.4)) / 2)


# ------------------------------------------------------------------------------ seq2seq
def test_seq2seq_short_run_beats_chance():
    s2s = _load("seq2seq")
    r = s2s.main(["--task", "reverse", "--length", "3", "--steps", "120", "--hidden", "32",
                  "--emb", "16", "--batch", "32", "--lr", "0.01", "--test-size", "200",
                  "--quiet"])
    assert r["greedy_token_acc"] > 0.3 and r["beam_token_acc"] > 0.3
    assert r["greedy_seq_acc"] > 10 * r["chance_seq"]
    assert r["beam_seq_acc"] > 10 * r["chance_seq"]
    assert np.mean(r["losses"][-10:]) < np.mean(r["losses"][:10])


def test_seq2seq_init_and_beam_matches_greedy_with_width_one():
    s2s = _load("seq2seq")
    ad.manual_seed(0)
    m = s2s.Seq2Seq(hidden=8, emb=4)
    assert all(np.abs(p.numpy()).max() <= 0.08 for p in m.parameters())
    src, _ = s2s.make_batch(np.random.default_rng(0), 5, 4, "sort")
    m.eval()
    np.testing.assert_array_equal(s2s.beam_decode(m, src, 4, beam=1)[:-1],
                                  s2s.greedy_decode(m, src, 4)[:-1])
