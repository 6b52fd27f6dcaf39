"""Model: the character-level recurrent language model (embedding or one-hot -> RNN/LSTM/GRU ->
linear decoder), as in Karpathy's char-rnn.

>>> model = char_rnn(65, hidden_size=128, cell="lstm")
>>> logits, state = model(ids)            # ids (T, B) int -> logits (T, B, 65)
>>> text_ids = model.generate(seed_ids, 200, temperature=0.8)
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

import autodiff as ad
from autodiff.random import generator
from autodiff.tensor import Tensor, make

from .. import layers as _layers
from ..layers.recurrent import GRU, LSTM, RNN, RNNBase
from ..input_checks import array_like
from ..module import Module

__all__ = ["CharRNN", "char_rnn"]

_CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN, "rnn_tanh": RNN, "rnn_relu": RNN}


class CharRNN(Module):
    """Embedding (or one-hot when ``embedding_dim`` is None) -> recurrent stack -> linear.

    ``forward(x, state=None)``: ``x`` int ids (T, B) ((B, T) with ``batch_first``), returns
    ``(logits, state)``; ``state`` is ``h_n`` (RNN/GRU) or ``(h_n, c_n)`` (LSTM) and can be fed
    back for the next window (detach it between windows: :meth:`detach_state`).
    """

    def __init__(self, vocab_size: int, hidden_size: int = 256, num_layers: int = 1,
                 cell: str = "lstm", embedding_dim: Optional[int] = None, dropout: float = 0.0,
                 batch_first: bool = False) -> None:
        super().__init__()
        cell = cell.lower()
        if cell not in _CELLS:
            raise ValueError(f"char_rnn: cell must be one of {sorted(_CELLS)}, got {cell!r}")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.cell = cell
        self.batch_first = batch_first
        self.embedding_dim = embedding_dim
        self.embedding = _layers.Embedding(vocab_size, embedding_dim) if embedding_dim else None
        in_size = embedding_dim or vocab_size
        kw = {"nonlinearity": "relu"} if cell == "rnn_relu" else {}
        self.rnn = _CELLS[cell](in_size, hidden_size, num_layers, dropout=dropout, **kw)
        self.decoder = _layers.Linear(hidden_size, vocab_size)

    def _inputs(self, x) -> Tensor:
        ids = array_like(x, self.decoder.weight)
        if self.batch_first:
            ids = ids.T
        if self.embedding is not None:
            return self.embedding(make(ids))
        w = self.decoder.weight
        return make((ids[..., None] == w.xp.arange(self.vocab_size)).astype(w.dtype))

    def features(self, x, state=None) -> tuple:
        """The last recurrent layer's hidden states (T, B, H) and the new state."""
        rnn = self.rnn
        if (self.embedding is None and isinstance(rnn, RNNBase) and not rnn._forward_hooks
                and not rnn._forward_pre_hooks):
            # one-hot input: the first input projection is a row gather (no one-hot matrix)
            ids = array_like(x, self.decoder.weight)
            if ids.dtype.kind in "iu":
                return rnn.forward_ids(ids.T if self.batch_first else ids, state)
        out, state = rnn(self._inputs(x), state)
        return out, state

    def forward(self, x, state=None) -> tuple:
        out, state = self.features(x, state)
        if out.ndim == 3:      # one 2-D product for all steps (a 3-D one loops over the steps)
            T, B, H = out.shape
            logits = ad.reshape(self.decoder(ad.reshape(out, (T * B, H))), (T, B, -1))
        else:
            logits = self.decoder(out)
        if self.batch_first:
            logits = ad.transpose(logits, 0, 1)
        return logits, state

    @staticmethod
    def detach_state(state):
        """Cut the state from the graph (truncated BPTT between windows)."""
        if state is None:
            return None
        if isinstance(state, tuple):
            return tuple(s.detach() for s in state)
        return state.detach()

    def generate(self, seed_ids: Sequence[int], n: int, temperature: float = 1.0,
                 greedy: bool = False, rng=None) -> list:
        """Continue ``seed_ids`` by ``n`` ids, greedily (argmax) or by sampling from
        softmax(logits / temperature). Returns the ``n`` new ids."""
        seed = [int(i) for i in seed_ids]
        if not seed:
            raise ValueError("generate: seed_ids must not be empty")
        if not greedy and temperature <= 0:
            raise ValueError(f"generate: temperature must be > 0, got {temperature}")
        rng = rng if rng is not None else generator(np)
        was_training = self.training
        self.eval()
        out = []
        try:
            with ad.no_grad():
                x = np.asarray(seed, dtype=np.int64).reshape(-1, 1)
                if self.batch_first:
                    x = x.T
                logits, state = self(x)
                last = _last_logits(logits.numpy(), self.batch_first)
                for _ in range(n):
                    if greedy:
                        nxt = int(np.argmax(last))
                    else:
                        z = last.astype(np.float64) / temperature
                        p = np.exp(z - z.max())
                        p /= p.sum()
                        nxt = int(rng.choice(len(p), p=p))
                    out.append(nxt)
                    logits, state = self(np.array([[nxt]], dtype=np.int64), state)
                    last = _last_logits(logits.numpy(), self.batch_first)
        finally:
            self.train(was_training)
        return out

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, cell={self.cell!r}"


def _last_logits(logits: np.ndarray, batch_first: bool) -> np.ndarray:
    return logits[0, -1] if batch_first else logits[-1, 0]


def char_rnn(vocab_size: int, hidden_size: int = 256, num_layers: int = 1, cell: str = "lstm",
             embedding_dim: Optional[int] = None, dropout: float = 0.0,
             batch_first: bool = False) -> CharRNN:
    """A character-level language model: ``cell`` is "lstm", "gru" or "rnn" (tanh)."""
    return CharRNN(vocab_size, hidden_size, num_layers, cell, embedding_dim, dropout,
                   batch_first)
