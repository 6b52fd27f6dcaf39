"""Sequence to sequence with LSTMs (Sutskever, Vinyals and Le) on a toy task: reverse or sort a
string of digits.

The documents' tricks: the source is fed to the encoder in reversed order; every parameter is
initialised from U(-0.08, 0.08); the gradient norm is clipped; decoding is greedy or by beam
search. The encoder's final (h, c) initialises the decoder, which is trained with teacher forcing
and predicts the target digits followed by EOS. Reports token and sequence accuracy of greedy
and beam decoding on held-out strings. The data are generated (random digit strings).

    python examples/seq2seq.py --task sort --steps 1500 --save s2s.npz
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import autodiff as ad
from autodiff import nn, optim
from autodiff.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

__all__ = ["Seq2Seq", "make_batch", "greedy_decode", "beam_decode", "accuracy", "main"]

BOS, EOS = 10, 11
VOCAB = 12


def make_batch(rng: np.random.Generator, batch: int, length: int, task: str) -> tuple:
    """(src (length, B), tgt (length, B)) digit strings; tgt is src reversed or sorted."""
    src = rng.integers(0, 10, size=(batch, length))
    if task == "reverse":
        tgt = src[:, ::-1]
    elif task == "sort":
        tgt = np.sort(src, axis=1)
    else:
        raise ValueError(f"unknown task {task!r}")
    return np.ascontiguousarray(src.T), np.ascontiguousarray(tgt.T)


class Seq2Seq(nn.Module):
    """Embedding -> LSTM encoder (reversed source) -> LSTM decoder -> linear over digits+EOS."""

    def __init__(self, hidden: int = 128, emb: int = 32, layers: int = 1,
                 reverse_source: bool = True, init_range: float = 0.08) -> None:
        super().__init__()
        self.reverse_source = reverse_source
        self.src_emb = nn.Embedding(VOCAB, emb)
        self.tgt_emb = nn.Embedding(VOCAB, emb)
        self.encoder = nn.LSTM(emb, hidden, layers)
        self.decoder = nn.LSTM(emb, hidden, layers)
        self.out = nn.Linear(hidden, VOCAB)
        for p in self.parameters():
            nn.init.uniform_(p, -init_range, init_range)

    def encode(self, src: np.ndarray):
        if self.reverse_source:
            src = src[::-1]
        _, state = self.encoder(self.src_emb(ad.tensor(np.ascontiguousarray(src))))
        return state

    def decode_step(self, tokens: np.ndarray, state):
        """tokens (T, B) -> logits (T, B, VOCAB), state."""
        out, state = self.decoder(self.tgt_emb(ad.tensor(tokens)), state)
        return self.out(out), state

    def forward(self, src: np.ndarray, tgt: np.ndarray):
        """Teacher forcing: decoder input BOS, y_1..y_n; returns logits for y_1..y_n, EOS."""
        state = self.encode(src)
        B = src.shape[1]
        dec_in = np.concatenate([np.full((1, B), BOS), tgt], axis=0)
        logits, _ = self.decode_step(dec_in, state)
        return logits


def _targets(tgt: np.ndarray) -> np.ndarray:
    return np.concatenate([tgt, np.full((1, tgt.shape[1]), EOS)], axis=0)


def greedy_decode(model: Seq2Seq, src: np.ndarray, max_len: int) -> np.ndarray:
    """(max_len + 1, B) predicted ids, argmax at every step."""
    B = src.shape[1]
    out = np.zeros((max_len + 1, B), dtype=np.int64)
    with ad.no_grad():
        state = model.encode(src)
        tok = np.full((1, B), BOS)
        for t in range(max_len + 1):
            logits, state = model.decode_step(tok, state)
            tok = logits.numpy()[-1].argmax(-1)[None, :]
            out[t] = tok[0]
    return out


def beam_decode(model: Seq2Seq, src: np.ndarray, max_len: int, beam: int = 4) -> np.ndarray:
    """Beam search (width ``beam``) over sequences ending in EOS, all beams of all examples
    advanced together in one batch. Returns (max_len + 1, B) ids (EOS-padded)."""
    B = src.shape[1]
    with ad.no_grad():
        h, c = model.encode(src)
        # every example's state repeated for its beams: (layers, B * beam, H)
        rep = np.repeat(np.arange(B), beam)
        h, c = ad.tensor(h.numpy()[:, rep]), ad.tensor(c.numpy()[:, rep])
        scores = np.zeros((B, beam))
        scores[:, 1:] = -np.inf                       # start from one live beam per example
        seqs = np.zeros((B, beam, 0), dtype=np.int64)
        done = np.zeros((B, beam), dtype=bool)
        tok = np.full((1, B * beam), BOS)
        for _ in range(max_len + 1):
            logits, (h, c) = model.decode_step(tok, (h, c))
            z = logits.numpy()[-1].astype(np.float64).reshape(B, beam, VOCAB)
            logp = z - z.max(-1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
            # finished beams only extend with EOS at no cost
            logp = np.where(done[..., None], -np.inf, logp)
            logp[..., EOS] = np.where(done, 0.0, logp[..., EOS])
            cand = (scores[..., None] + logp).reshape(B, beam * VOCAB)
            top = np.argsort(-cand, axis=1, kind="stable")[:, :beam]
            src_beam, word = top // VOCAB, top % VOCAB
            scores = np.take_along_axis(cand, top, 1)
            seqs = np.concatenate([np.take_along_axis(seqs, src_beam[..., None], 1),
                                   word[..., None]], axis=2)
            done = np.take_along_axis(done, src_beam, 1) | (word == EOS)
            flat = (np.arange(B)[:, None] * beam + src_beam).reshape(-1)
            h, c = ad.tensor(h.numpy()[:, flat]), ad.tensor(c.numpy()[:, flat])
            tok = word.reshape(1, -1)
            if done.all():
                break
        best = seqs[np.arange(B), scores.argmax(1)]   # (B, L)
    out = np.full((max_len + 1, B), EOS, dtype=np.int64)
    L = min(best.shape[1], max_len + 1)
    out[:L] = best[:, :L].T
    return out


def accuracy(pred: np.ndarray, tgt: np.ndarray) -> tuple:
    """(token accuracy over the digits, sequence accuracy: all digits and the EOS right)."""
    full = _targets(tgt)
    tok = float((pred[:-1] == tgt).mean())
    seq = float((pred == full).all(axis=0).mean())
    return tok, seq


def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__)
    p.add_argument("--task", default="reverse", choices=["reverse", "sort"],
                   help="what the decoder must output")
    p.add_argument("--length", type=int, default=6, help="digits per string")
    p.add_argument("--hidden", type=int, default=128, help="LSTM hidden units")
    p.add_argument("--emb", type=int, default=32, help="embedding dimension")
    p.add_argument("--layers", type=int, default=1, help="LSTM layers")
    p.add_argument("--steps", type=int, default=1500, help="training steps (batches)")
    p.add_argument("--batch", type=int, default=64, help="strings per batch")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    p.add_argument("--clip", type=float, default=5.0, help="gradient-norm clipping threshold")
    p.add_argument("--beam", type=int, default=4, help="beam width")
    p.add_argument("--test-size", type=int, default=500, help="held-out strings")
    p.add_argument("--no-reverse-source", action="store_true",
                   help="feed the source in its own order")
    C.add_run_args(p, "seq2seq", plot="seq2seq.png")
    args = p.parse_args(argv)
    rep = C.Reporter(args.quiet)
    say = rep.result

    ad.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = Seq2Seq(args.hidden, args.emb, args.layers, not args.no_reverse_source)
    params = list(model.parameters())
    opt = optim.Adam(params, lr=args.lr)
    ckpt = C.Checkpoint("seq2seq", args, model=model, optimizer=opt, data_rng=rng)
    done = ckpt.load()
    losses = done.get("losses", [])
    rep.line(f"data: generated strings of {args.length} random digits; task {args.task}"
             + (f"; resumed from {args.resume} after step {len(losses)}" if losses else ""))
    every = max(1, args.steps // 10)
    t0 = time.perf_counter()
    rep.start(len(losses))
    bar = rep.bar(range(len(losses) + 1, args.steps + 1), "training",
                  total=args.steps - len(losses), unit="step")
    for step in bar:
        src, tgt = make_batch(rng, args.batch, args.length, args.task)
        logits = model(src, tgt)
        loss = F.cross_entropy(ad.reshape(logits, (-1, VOCAB)),
                               ad.tensor(_targets(tgt).reshape(-1)))
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(params, args.clip)
        opt.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}", refresh=False)
        rep.tick(step, args.steps, "step", after=20)
        if step % every == 0 or step == args.steps:
            rep.line(f"step {step:5d}  loss {np.mean(losses[-50:]):.4f}")
            ckpt.save(losses=losses)
    train_time = time.perf_counter() - t0

    model.eval()
    test_rng = np.random.default_rng(args.seed + 12345)
    src, tgt = make_batch(test_rng, args.test_size, args.length, args.task)
    g_tok, g_seq = accuracy(greedy_decode(model, src, args.length), tgt)
    b_tok, b_seq = accuracy(beam_decode(model, src, args.length, args.beam), tgt)
    chance_seq = 0.1 ** args.length
    say(f"{args.task} {args.length} digits, {args.steps} steps ({train_time:.1f} s in this run); "
        f"final loss {np.mean(losses[-50:]):.4f}")
    say(f"greedy: token accuracy {g_tok:.3f}, sequence accuracy {g_seq:.3f}")
    say(f"beam {args.beam}: token accuracy {b_tok:.3f}, sequence accuracy {b_seq:.3f}")
    say(f"chance: token 0.1, sequence {chance_seq:.1e}")
    C.plot_run(args.plot, losses, step="step", say=say)
    return {"greedy_token_acc": g_tok, "greedy_seq_acc": g_seq, "beam_token_acc": b_tok,
            "beam_seq_acc": b_seq, "chance_seq": chance_seq, "losses": losses,
            "train_time_s": train_time, "model": model}


if __name__ == "__main__":
    main()
