"""Continuous pointer cache (Grave, Joulin and Usunier, "Improving neural language models with a
continuous cache") on top of a trained recurrent language model, with no retraining.

Keep the last ``n`` pairs (h_i, x_{i+1}) of hidden state and the token that followed it. At
step t, with hidden state h_t::

    p_cache(w) = sum_{i in cache, x_{i+1} = w} softmax_i(theta * h_t . h_i)
    p(w)       = (1 - lambda) p_vocab(w) + lambda p_cache(w)

:func:`cache_probs` is the cache distribution for a batch of steps, :func:`cache_nll` runs it
over whole streams (hidden states and logits precomputed by the model) and returns the mean
negative log-likelihood with and without the cache. Run as a script, it trains the LSTM
character model of ``char_lm.py`` on tinyshakespeare for a few minutes and evaluates the cache
over a grid of theta and lambda on the validation text (``char_lm.py --cache`` with these
settings).

    python examples/pointer_cache.py [--steps 300 --cache-size 100 --data DIR]
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["cache_probs", "mix", "cache_nll", "log_softmax_np", "add_cache_args", "main"]


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


def add_cache_args(ap) -> None:
    """``--cache-size``, ``--cache-theta`` and ``--cache-lambda`` (the grid searched)."""
    ap.add_argument("--cache-size", type=int, default=100, help="pointer cache slots")
    ap.add_argument("--cache-theta", type=float, nargs="+", default=[0.1, 0.3, 1.0],
                    help="cache score scales to try")
    ap.add_argument("--cache-lambda", type=float, nargs="+", default=[0.05, 0.1, 0.2],
                    help="cache mixture weights to try")


def main(argv: Sequence[str] | None = None) -> dict:
    """Train ``char_lm.py``'s model briefly and report the validation perplexity with and
    without the cache (the returned dict is ``char_lm.main``'s, with ``"cache"``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _common as C
    import char_lm
    ap = C.parser(__doc__)
    C.add_data_arg(ap, "tinyshakespeare/input.txt (or the file itself)")
    ap.add_argument("--steps", type=int, default=300, help="training steps of the LSTM model")
    ap.add_argument("--hidden", type=int, default=256, help="LSTM hidden units")
    ap.add_argument("--val-chars", type=int, default=20000,
                    help="validation characters the cache is evaluated on (0: all)")
    add_cache_args(ap)
    C.add_run_args(ap, "char_lm", plot="pointer_cache.png")
    a = ap.parse_args(argv)
    forward = ["--cache", "--steps", str(a.steps), "--hidden", str(a.hidden), "--val-chars",
               str(a.val_chars), "--cache-size", str(a.cache_size), "--seed", str(a.seed),
               "--plot", a.plot, "--cache-theta", *map(str, a.cache_theta),
               "--cache-lambda", *map(str, a.cache_lambda)]
    for flag, value in (("--data", a.data), ("--save", a.save), ("--resume", a.resume)):
        if value:
            forward += [flag, value]
    return char_lm.main(forward + (["--quiet"] if a.quiet else []))


if __name__ == "__main__":
    main()

