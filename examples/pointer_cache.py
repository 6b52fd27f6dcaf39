"""Continuous pointer cache (Grave, Joulin and Usunier, "Improving neural language models with a
continuous cache") on top of a trained recurrent language model, with no retraining.

Keep the last ``n`` pairs (h_i, x_{i+1}) of hidden state and the token that followed it. At
step t, with hidden state h_t::

    p_cache(w) = sum_{i in cache, x_{i+1} = w} softmax_i(theta * h_t . h_i)
    p(w)       = (1 - lambda) p_vocab(w) + lambda p_cache(w)

:func:`cache_probs` is the cache distribution for a batch of steps, :func:`cache_nll` runs it
over whole streams (hidden states and logits precomputed by the model) and returns the mean
negative log-likelihood with and without the cache. Run ``examples/char_lm.py --cache`` to see
it on tinyshakespeare.
"""
from __future__ import annotations

import numpy as np

__all__ = ["cache_probs", "mix", "cache_nll", "log_softmax_np"]


def log_softmax_np(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def cache_probs(h: np.ndarray, cache_h: np.ndarray, cache_y: np.ndarray, vocab_size: int,
                theta: float, valid: np.ndarray | None = None) -> np.ndarray:
    """The cache distribution, batched.

    h (B, H): current hidden states; cache_h (B, n, H): cached hidden states; cache_y (B, n):
    the token that followed each cached state; valid (B, n) bool: which slots are filled
    (all when None). Returns (B, vocab_size); a row with an empty cache is all zeros.
    """
    h = np.asarray(h, dtype=np.float64)
    cache_h = np.asarray(cache_h, dtype=np.float64)
    B, n = cache_y.shape
    scores = theta * np.einsum("bh,bnh->bn", h, cache_h)
    if valid is None:
        valid = np.ones((B, n), dtype=bool)
    scores = np.where(valid, scores, -np.inf)
    m = scores.max(axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    w = np.where(valid, np.exp(scores - m), 0.0)
    s = w.sum(axis=1, keepdims=True)
    w = np.divide(w, s, out=np.zeros_like(w), where=s > 0)
    out = np.zeros((B, vocab_size))
    np.add.at(out, (np.repeat(np.arange(B), n), np.asarray(cache_y).reshape(-1)), w.reshape(-1))
    return out


def mix(p_vocab: np.ndarray, p_cache: np.ndarray, lam: float,
        has_cache: np.ndarray | None = None) -> np.ndarray:
    """(1 - lambda) p_vocab + lambda p_cache; rows whose cache is empty keep p_vocab."""
    p = (1.0 - lam) * p_vocab + lam * p_cache
    if has_cache is not None:
        p = np.where(has_cache[:, None], p, p_vocab)
    return p


def cache_nll(hidden: np.ndarray, logits: np.ndarray, targets: np.ndarray, cache_size: int,
              thetas, lambdas) -> dict:
    """Mean NLL (nats per token) over streams with and without the cache.

    hidden (T, B, H), logits (T, B, V), targets (T, B): step t's hidden state and logits
    predict targets[t]; each of the B columns is its own stream with its own cache. Returns
    ``{"base": nll, (theta, lambda): nll, ...}`` for every pair of the grids.
    """
    T, B, H = hidden.shape
    V = logits.shape[-1]
    logp = log_softmax_np(np.asarray(logits, dtype=np.float64))
    p_vocab_all = np.exp(logp)
    rows = np.arange(B)
    base = -logp[np.arange(T)[:, None], rows[None, :], targets].mean()
    pairs = [(float(th), float(la)) for th in thetas for la in lambdas]
    total = {pr: 0.0 for pr in pairs}
    cache_h = np.zeros((B, cache_size, H))
    cache_y = np.zeros((B, cache_size), dtype=np.int64)
    filled = 0
    for t in range(T):
        valid = np.zeros((B, cache_size), dtype=bool)
        valid[:, :min(filled, cache_size)] = True
        has = np.full(B, filled > 0)
        pv = p_vocab_all[t]
        for th in {p[0] for p in pairs}:
            pc = cache_probs(hidden[t], cache_h, cache_y, V, th, valid)
            for (th2, la) in pairs:
                if th2 != th:
                    continue
                p = mix(pv, pc, la, has)
                total[(th2, la)] += -np.log(np.maximum(p[rows, targets[t]], 1e-300)).sum()
        slot = filled % cache_size          # ring buffer: overwrite the oldest pair
        cache_h[:, slot] = hidden[t]
        cache_y[:, slot] = targets[t]
        filled += 1
    out = {"base": float(base)}
    out.update({pr: v / (T * B) for pr, v in total.items()})
    return out
