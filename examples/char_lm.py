"""Character-level language model on tinyshakespeare (char-rnn), with the pointer cache.

Reads ``tinyshakespeare/input.txt`` from ``--data`` / ``$AUTODIFF_DATA`` / ``../shared/data``
(never copied into the project). 90/10 train/validation split of the character stream;
truncated backpropagation through time over windows of ``--seq-len`` steps, the hidden state
carried from window to window and detached; gradient-norm clipping; Adam. Reports validation
loss and perplexity (and the unigram baseline), generates text from a seed greedily and with
temperature sampling, and with ``--cache`` evaluates the continuous pointer cache on top of the
trained model (no retraining).

    python examples/char_lm.py --cell lstm --hidden 256 --steps 2000
    python examples/char_lm.py --steps 200 --hidden 128 --cache
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

import autodiff as ad
from autodiff import optim
from autodiff.data.text import (CharVocab, batchify, bptt_batches, load_tinyshakespeare,
                                train_val_split)
from autodiff.nn import functional as F
from autodiff.nn.models import char_rnn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pointer_cache import cache_nll  # noqa: E402

__all__ = ["main", "unigram_nll", "evaluate", "collect_states", "train"]


def unigram_nll(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy (nats/char) of the validation stream under the training unigram
    distribution (add-one smoothing): the baseline a language model must beat."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[val_ids].mean())


def _clip(params, max_norm: float) -> float:
    return float(optim.clip_grad_norm_(params, max_norm))


def train(model, train_ids: np.ndarray, steps: int, batch: int, seq_len: int, lr: float,
          clip: float, log_every: int = 0) -> list:
    """Truncated BPTT: ``steps`` windows (cycling through the stream), state carried and
    detached. Returns the training losses."""
    vocab = model.vocab_size
    data = batchify(train_ids, batch)
    params = list(model.parameters())
    opt = optim.Adam(params, lr=lr)
    model.train()
    losses, step, state = [], 0, None
    t0 = time.perf_counter()
    while step < steps:
        state = None                                  # new epoch: fresh state
        for x, y in bptt_batches(data, seq_len, drop_last=True):
            logits, state = model(x, state)
            loss = F.cross_entropy(ad.reshape(logits, (-1, vocab)), ad.tensor(y.reshape(-1)))
            opt.zero_grad()
            loss.backward()
            _clip(params, clip)
            opt.step()
            state = model.detach_state(state)
            losses.append(loss.item())
            step += 1
            if log_every and step % log_every == 0:
                print(f"step {step:5d}  loss {np.mean(losses[-log_every:]):.4f}  "
                      f"({(time.perf_counter() - t0) / step * 1e3:.0f} ms/step)", flush=True)
            if step >= steps:
                break
    return losses


def collect_states(model, ids: np.ndarray, batch: int, seq_len: int) -> tuple:
    """Run the model over a stream split into ``batch`` columns, carrying the state. Returns
    (hidden (T, B, H), logits (T, B, V), targets (T, B)) as NumPy arrays."""
    data = batchify(ids, batch)
    model.eval()
    hs, ls, ys = [], [], []
    state = None
    with ad.no_grad():
        for x, y in bptt_batches(data, seq_len):
            h, state = model.features(x, state)
            logits = model.decoder(h)
            hs.append(h.numpy())
            ls.append(logits.numpy())
            ys.append(y)
    model.train()
    return np.concatenate(hs), np.concatenate(ls), np.concatenate(ys)


def evaluate(model, ids: np.ndarray, batch: int = 16, seq_len: int = 128) -> float:
    """Mean validation NLL (nats/char), the state carried across windows."""
    data = batchify(ids, batch)
    model.eval()
    total, count, state = 0.0, 0, None
    with ad.no_grad():
        for x, y in bptt_batches(data, seq_len):
            logits, state = model(x, state)
            z = logits.numpy().astype(np.float64)
            z = z - z.max(-1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
            total -= np.take_along_axis(logp, y[..., None], -1).sum()
            count += y.size
    model.train()
    return total / count


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="tinyshakespeare file or data directory")
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--embedding", type=int, default=0, help="embedding dim (0: one-hot)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--val-chars", type=int, default=0, help="evaluate on this many validation "
                   "characters only (0: all)")
    p.add_argument("--train-chars", type=int, default=0, help="train on a prefix (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seed-text", default="ROMEO:")
    p.add_argument("--gen-chars", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--cache", action="store_true", help="evaluate the pointer cache")
    p.add_argument("--cache-size", type=int, default=100)
    p.add_argument("--cache-theta", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    p.add_argument("--cache-lambda", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    say = (lambda *a: None) if args.quiet else print

    ad.manual_seed(args.seed)
    text = load_tinyshakespeare(args.data)
    vocab = CharVocab(text)
    ids = vocab.encode(text)
    train_ids, val_ids = train_val_split(ids, args.val_fraction)
    if args.train_chars:
        train_ids = train_ids[:args.train_chars]
    if args.val_chars:
        val_ids = val_ids[:args.val_chars]
    V = len(vocab)
    model = char_rnn(V, args.hidden, args.layers, args.cell, args.embedding or None)
    say(f"vocab {V}, train {len(train_ids)} chars, validation {len(val_ids)} chars, "
        f"{sum(p.numel() for p in model.parameters())} parameters")

    base = unigram_nll(train_ids, val_ids, V)
    val0 = evaluate(model, val_ids)
    t0 = time.perf_counter()
    losses = train(model, train_ids, args.steps, args.batch, args.seq_len, args.lr, args.clip,
                   log_every=0 if args.quiet else max(1, args.steps // 10))
    train_time = time.perf_counter() - t0
    val = evaluate(model, val_ids)
    say(f"unigram baseline: {base:.4f} nats/char (ppl {math.exp(base):.2f})")
    say(f"validation loss {val:.4f} nats/char, perplexity {math.exp(val):.2f} "
        f"(before training {val0:.4f}); {train_time:.1f} s for {args.steps} steps")

    seed_ids = vocab.encode(args.seed_text)
    greedy = vocab.decode(model.generate(seed_ids, args.gen_chars, greedy=True))
    sampled = vocab.decode(model.generate(seed_ids, args.gen_chars,
                                          temperature=args.temperature))
    say(f"--- greedy ---\n{args.seed_text}{greedy}")
    say(f"--- sampled (T={args.temperature}) ---\n{args.seed_text}{sampled}")

    result = {"val_loss": val, "val_ppl": math.exp(val), "val_loss_initial": val0,
              "unigram_loss": base, "train_losses": losses, "greedy": greedy,
              "sampled": sampled, "train_time_s": train_time, "vocab": vocab}
    if args.cache:
        if args.cell != "lstm":
            say("(the pointer cache is described for the LSTM model; running it anyway)")
        h, logits, y = collect_states(model, val_ids, 16, 128)
        res = cache_nll(h, logits, y, args.cache_size, args.cache_theta, args.cache_lambda)
        best = min((k for k in res if k != "base"), key=lambda k: res[k])
        say(f"pointer cache (n={args.cache_size}): without {math.exp(res['base']):.3f} ppl, "
            f"best theta={best[0]} lambda={best[1]}: {math.exp(res[best]):.3f} ppl")
        for k in sorted(k for k in res if k != "base"):
            say(f"  theta={k[0]:<5} lambda={k[1]:<5} ppl {math.exp(res[k]):.3f}")
        result["cache"] = {"ppl_without": math.exp(res["base"]), "ppl_with": math.exp(res[best]),
                           "theta": best[0], "lambda": best[1], "grid": res}
    return result


if __name__ == "__main__":
    main()
