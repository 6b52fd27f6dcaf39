"""Character-level language model on tinyshakespeare (char-rnn), with the pointer cache.

Reads ``tinyshakespeare/input.txt`` from ``--data`` / ``$AUTODIFF_DATA`` / ``../shared/data``
(never copied into the project; without any of them it is downloaded once into
``~/.cache/autodiff``). 90/10 train/validation split of the character stream; truncated
backpropagation through time over windows of ``--seq-len`` steps, the hidden state carried from
window to window and detached; gradient-norm clipping; Adam. Reports validation loss and
perplexity (and the unigram baseline), generates text from a seed greedily and with temperature
sampling, and with ``--cache`` evaluates the continuous pointer cache on top of the trained
model (no retraining).

Recipes: ``quick`` (default, a few minutes on 2 CPU cores): 600 steps, validation on the first
20000 validation characters; ``full``: 2000 steps and the whole validation set (about 111k
characters). ``--steps`` and ``--val-chars`` override either. An estimate of the total time is
printed after the first steps.

    python examples/char_lm.py                                # quick
    python examples/char_lm.py --recipe full --save lm.npz
    python examples/char_lm.py --steps 200 --hidden 128 --cache
    python examples/char_lm.py --embedding 32 --compile     # the step traced, then replayed
"""
from __future__ import annotations

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
import _common as C  # noqa: E402
from pointer_cache import add_cache_args, cache_nll  # noqa: E402

__all__ = ["main", "unigram_nll", "evaluate", "collect_states", "train", "train_step",
           "RECIPES"]

#: recipe -> (training steps, validation characters; 0 = all)
RECIPES = {"quick": (600, 20000), "full": (2000, 0)}


def unigram_nll(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy (nats/char) of the validation stream under the training unigram
    distribution (add-one smoothing): the baseline a language model must beat."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[val_ids].mean())


def train_step(model, opt: optim.Optimizer, clip: float):
    """One BPTT step as one function (what ``--compile`` compiles): ``step(x, y, state)`` with
    the window's ids ``x`` (T, B) and flat targets ``y`` as Tensors runs the forward from
    ``state``, the backward, gradient-norm clipping and the update, and returns (the loss,
    the new state detached)."""
    vocab = model.vocab_size
    params = list(model.parameters())

    def step(x: ad.Tensor, y: ad.Tensor, state) -> tuple:
        logits, state = model(x, state)
        loss = F.cross_entropy(ad.reshape(logits, (-1, vocab)), y)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(params, clip)
        opt.step()
        return loss, model.detach_state(state)
    return step


def train(model, opt: optim.Optimizer, data: np.ndarray, steps: int, seq_len: int,
          clip: float, start: int = 0, state=None, losses: list | None = None,
          rep: C.Reporter | None = None, every: int = 0, on_log=None,
          step_fn=None) -> tuple[list, object]:
    """Truncated BPTT on batchified ``data`` from step ``start`` to ``steps``: window
    ``k = step % windows`` (a new pass starts from a fresh state), the state carried and
    detached. Every ``every`` steps (and at the end) prints the mean loss and calls
    ``on_log(step, state)``. ``step_fn``: the training step (default :func:`train_step`; a
    :class:`_common.Step` under ``--compile``). Returns (the training losses, the last
    state)."""
    step_fn = step_fn or train_step(model, opt, clip)
    windows = [(ad.tensor(x), ad.tensor(y.reshape(-1)))
               for x, y in bptt_batches(data, seq_len, drop_last=True)]
    losses = [] if losses is None else losses
    rep = rep or C.Reporter(quiet=True)
    model.train()
    t0 = time.perf_counter()
    rep.start(start)
    bar = rep.bar(range(start, steps), "training", total=steps - start, unit="step")
    for step in bar:
        k = step % len(windows)
        if k == 0:
            state = None                              # new pass over the text: fresh state
        x, y = windows[k]
        loss, state = step_fn(x, y, state)
        losses.append(loss.item())
        done = step + 1
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}", refresh=False)
        rep.tick(done, steps, "step", after=20)
        if (every and done % every == 0) or done == steps:
            rep.line(f"step {done:5d}  loss {np.mean(losses[-(every or 50):]):.4f}  "
                     f"({(time.perf_counter() - t0) / (done - start) * 1e3:.0f} ms/step)")
            if on_log is not None:
                on_log(done, state)
    return losses, state


def collect_states(model, ids: np.ndarray, batch: int, seq_len: int,
                   rep: C.Reporter | None = None) -> tuple:
    """Run the model over a stream split into ``batch`` columns, carrying the state. Returns
    (hidden (T, B, H), logits (T, B, V), targets (T, B)) as NumPy arrays."""
    data = batchify(ids, batch)
    model.eval()
    hs, ls, ys = [], [], []
    state = None
    windows = bptt_batches(data, seq_len)
    with ad.no_grad():
        for x, y in (rep.bar(windows, "cache states") if rep is not None else windows):
            h, state = model.features(x, state)
            logits = model.decoder(h)
            hs.append(h.numpy())
            ls.append(logits.numpy())
            ys.append(y)
    model.train()
    return np.concatenate(hs), np.concatenate(ls), np.concatenate(ys)


def evaluate(model, ids: np.ndarray, batch: int = 16, seq_len: int = 128,
             rep: C.Reporter | None = None, desc: str = "validation") -> float:
    """Mean validation NLL (nats/char), the state carried across windows."""
    data = batchify(ids, batch)
    model.eval()
    total, count, state = 0.0, 0, None
    windows = bptt_batches(data, seq_len)
    total_windows = -(-(len(data) - 1) // seq_len)
    with ad.no_grad():
        for x, y in (rep.bar(windows, desc, total=total_windows) if rep is not None
                     else windows):
            logits, state = model(x, state)
            z = logits.numpy().astype(np.float64)
            z = z - z.max(-1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
            total -= np.take_along_axis(logp, y[..., None], -1).sum()
            count += y.size
    model.train()
    return total / count


@C.exit_on_missing_data
def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__)
    C.add_data_arg(p, "tinyshakespeare/input.txt (or the file itself)")
    p.add_argument("--recipe", choices=list(RECIPES), default="quick",
                   help="quick: " + ", full: ".join(f"{s} steps, {v or 'all'} validation chars"
                                                    for s, v in RECIPES.values()))
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"],
                   help="recurrent cell")
    p.add_argument("--hidden", type=int, default=256, help="hidden units per layer")
    p.add_argument("--layers", type=int, default=1, help="recurrent layers")
    p.add_argument("--embedding", type=int, default=0, help="embedding dim (0: one-hot)")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps (windows); default: the recipe's")
    p.add_argument("--seq-len", type=int, default=64, help="BPTT window length")
    p.add_argument("--batch", type=int, default=32, help="parallel streams per window")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    p.add_argument("--clip", type=float, default=5.0, help="gradient-norm clipping threshold")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="the last fraction of the text held out for validation")
    p.add_argument("--val-chars", type=int, default=None, help="evaluate on this many "
                   "validation characters only (0: all; default: the recipe's)")
    p.add_argument("--train-chars", type=int, default=0, help="train on a prefix (0: all)")
    p.add_argument("--seed-text", default="ROMEO:", help="text the generated samples start from")
    p.add_argument("--gen-chars", type=int, default=200, help="characters to generate")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")
    p.add_argument("--cache", action="store_true", help="evaluate the pointer cache")
    add_cache_args(p)
    C.add_compile_arg(p)
    C.add_run_args(p, "char_lm", plot="char_lm.png")
    args = p.parse_args(argv)
    steps = args.steps if args.steps is not None else RECIPES[args.recipe][0]
    val_chars = args.val_chars if args.val_chars is not None else RECIPES[args.recipe][1]
    rep = C.Reporter(args.quiet)
    say = rep.result

    ad.manual_seed(args.seed)
    text = load_tinyshakespeare(C.data_root(args), download=True)
    vocab = CharVocab(text)
    ids = vocab.encode(text)
    train_ids, val_ids = train_val_split(ids, args.val_fraction)
    if args.train_chars:
        train_ids = train_ids[:args.train_chars]
    if val_chars:
        val_ids = val_ids[:val_chars]
    V = len(vocab)
    model = char_rnn(V, args.hidden, args.layers, args.cell, args.embedding or None)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    rep.line(f"vocab {V}, train {len(train_ids)} chars, validation {len(val_ids)} chars, "
             f"{sum(p.numel() for p in model.parameters())} parameters; {steps} steps "
             f"(recipe {args.recipe})")

    ckpt = C.Checkpoint("char_lm", args, model=model, optimizer=opt)
    done = ckpt.load()
    start, losses = done.get("steps_done", 0), done.get("train_losses", [])
    base = unigram_nll(train_ids, val_ids, V)
    val0 = done["val_loss_initial"] if done else evaluate(model, val_ids, rep=rep,
                                                          desc="validation (untrained)")
    if done:
        rep.line(f"resumed from {args.resume} after step {start}")
    t0 = time.perf_counter()

    def save(step: int, state) -> None:
        ckpt.save(steps_done=step, train_losses=losses, state=state, val_loss_initial=val0)

    step = C.Step(train_step(model, opt, args.clip), args.compile)
    losses, _ = train(model, opt, batchify(train_ids, args.batch), steps, args.seq_len,
                      args.clip, start, done.get("state"), losses, rep,
                      every=max(1, steps // 10), on_log=save, step_fn=step)
    train_time = time.perf_counter() - t0
    if step.compiled:
        say(step.summary())
    val = evaluate(model, val_ids, rep=rep)
    say(f"unigram baseline: {base:.4f} nats/char (ppl {math.exp(base):.2f})")
    say(f"validation loss {val:.4f} nats/char, perplexity {math.exp(val):.2f} "
        f"(before training {val0:.4f}); {train_time:.1f} s for {steps - start} steps")

    seed_ids = vocab.encode(args.seed_text)
    greedy = vocab.decode(model.generate(seed_ids, args.gen_chars, greedy=True))
    sampled = vocab.decode(model.generate(seed_ids, args.gen_chars,
                                          temperature=args.temperature))
    say(f"--- greedy ---\n{args.seed_text}{greedy}")
    say(f"--- sampled (T={args.temperature}) ---\n{args.seed_text}{sampled}")
    C.plot_run(args.plot, losses, {"validation": [(0, val0), (len(losses), val)],
                                   "unigram": [(0, base), (len(losses), base)]},
               step="step", metric="loss (nats/char)", say=say)

    result = {"val_loss": val, "val_ppl": math.exp(val), "val_loss_initial": val0,
              "unigram_loss": base, "train_losses": losses, "greedy": greedy,
              "sampled": sampled, "train_time_s": train_time, "vocab": vocab, "model": model,
              "step": step}
    if args.cache:
        if args.cell != "lstm":
            say("(the pointer cache is described for the LSTM model; running it anyway)")
        h, logits, y = collect_states(model, val_ids, 16, 128, rep)
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
