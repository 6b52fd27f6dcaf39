"""Functional recurrent cells (tanh/ReLU RNN, LSTM, GRU) and sequence functions: argument
checks and composition over the primitives of ``autodiff/ops/recurrent.py``.

The equations and gate orders are PyTorch's:

* RNN:  ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``
* LSTM: gates ``i, f, g, o`` (rows of ``W_ih``/``W_hh`` in that order);
  ``c' = f * c + i * g``, ``h' = o * tanh(c')``
* GRU:  gates ``r, z, n``; ``n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))``,
  ``h' = (1 - z) * n + z * h``

Speed: a layer projects the inputs of *all* time steps in one matrix product before the time
loop (``xw = x W_ih^T + b``), and the loop itself runs inside one recorded primitive per layer
(``rnn_tanh_sequence``, ``lstm_sequence``, ``gru_sequence``): per step one fused gate matrix
product and a few array operations, with the backward (BPTT) written on the raw arrays and the
weight gradient ``dW_hh`` taken in one product over all steps at the end. The cells are the
same primitives with one time step.

On NumPy the LSTM's pointwise step work is fused with numba when it is installed (optional;
the generic array kernels run otherwise; ``autodiff/backends/rnn_kernels.py``).

Higher derivatives: when the backward runs with ``create_graph=True`` the primitives recompute
the forward and run the *same* equations with Tensor operations, so ``gradgradcheck`` and
Hessian-vector products work through them.
"""
from __future__ import annotations

from typing import Optional

import autodiff as ad
from autodiff.ops import recurrent as _rec
from autodiff.tensor import Tensor

from .input_checks import row_ids

__all__ = ["rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell", "rnn_tanh_sequence",
           "rnn_relu_sequence", "lstm_sequence", "gru_sequence", "input_projection",
           "index_projection"]


# ------------------------------------------------------------------------------ primitives
def _check(xw: Tensor, h0: Tensor, w_hh: Tensor, gates: int, name: str) -> None:
    if xw.ndim != 3 or h0.ndim != 2:
        raise ValueError(f"{name}: expects xw of shape (T, B, {gates}*H) and h0 of shape (B, H),"
                         f" got {xw.shape} and {h0.shape}")
    T, B, G = xw.shape
    H = h0.shape[1]
    if G != gates * H or h0.shape[0] != B or w_hh.shape != (gates * H, H):
        raise ValueError(f"{name}: inconsistent shapes xw {xw.shape}, h0 {h0.shape}, w_hh "
                         f"{w_hh.shape} (expected ({gates}*H, H) with H={H})")


def rnn_tanh_sequence(xw: Tensor, h0: Tensor, w_hh: Tensor) -> tuple:
    """Run ``h_t = tanh(xw[t] + h_{t-1} W_hh^T)`` over all steps of ``xw`` (T, B, H), biases
    already folded into ``xw``. Returns (outputs (T, B, H), h_T)."""
    _check(xw, h0, w_hh, 1, "rnn_tanh_sequence")
    return _rec.rnn_sequence(xw, h0, w_hh, relu=False)


def rnn_relu_sequence(xw: Tensor, h0: Tensor, w_hh: Tensor) -> tuple:
    """:func:`rnn_tanh_sequence` with ReLU."""
    _check(xw, h0, w_hh, 1, "rnn_relu_sequence")
    return _rec.rnn_sequence(xw, h0, w_hh, relu=True)


def lstm_sequence(xw: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor) -> tuple:
    """Run the LSTM recurrence over ``xw`` (T, B, 4H) (input projection plus both biases).
    Returns (outputs (T, B, H), h_T, c_T)."""
    _check(xw, h0, w_hh, 4, "lstm_sequence")
    if c0.shape != h0.shape:
        raise ValueError(f"lstm_sequence: c0 has shape {c0.shape}, h0 {h0.shape}")
    return _rec.lstm_sequence(xw, h0, c0, w_hh)


def gru_sequence(xw: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Optional[Tensor] = None) -> tuple:
    """Run the GRU recurrence over ``xw = x W_ih^T + b_ih`` (T, B, 3H); ``b_hh`` stays inside
    (the reset gate multiplies ``h W_hn^T + b_hn``). Returns (outputs (T, B, H), h_T)."""
    _check(xw, h0, w_hh, 3, "gru_sequence")
    return _rec.gru_sequence(xw, h0, w_hh, b_hh)


# ------------------------------------------------------------------------------ cells
def input_projection(x: Tensor, w_ih: Tensor, b_ih: Optional[Tensor] = None,
                     b_hh: Optional[Tensor] = None) -> Tensor:
    """``x W_ih^T + b_ih (+ b_hh)`` over all leading dims of ``x`` in one matrix product."""
    lead = x.shape[:-1]
    y = ad.matmul(ad.reshape(x, (-1, x.shape[-1])), ad.transpose(w_ih, 0, 1))
    if b_ih is not None and b_hh is not None:
        y = y + (b_ih + b_hh)
    elif b_ih is not None:
        y = y + b_ih
    elif b_hh is not None:
        y = y + b_hh
    return ad.reshape(y, lead + (w_ih.shape[0],))


def index_projection(ids, w_ih: Tensor, b_ih: Optional[Tensor] = None,
                     b_hh: Optional[Tensor] = None) -> Tensor:
    """:func:`input_projection` of the one-hot encoding of the integer ``ids`` (any shape;
    ``w_ih.shape[1]`` classes) without building it: ``one_hot(ids) W_ih^T`` is a row gather of
    ``W_ih^T`` (embedding-style), so the result (``ids.shape + (gates*H,)``) equals the matrix
    product's, and the weight gradient is a scatter-add of the output gradient's rows. Negative
    ids count from the end, as in indexing."""
    if w_ih.ndim != 2:
        raise ValueError(f"index_projection: w_ih must be 2-D, got shape {w_ih.shape}")
    # a bad id (a GPU outside anomaly mode) reads row 0 and its output row is NaN
    idx, bad = row_ids("index_projection", ids, w_ih, w_ih.shape[1], negative=True)
    return _rec.index_projection(idx, w_ih, b_ih, b_hh, bad)


def _batched(input: Tensor, hx: Optional[Tensor], hidden: int, name: str):
    if input.ndim not in (1, 2):
        raise ValueError(f"{name}: input must be (batch, input_size) or (input_size,), got "
                         f"shape {input.shape}")
    unbatched = input.ndim == 1
    if unbatched:
        input = ad.unsqueeze(input, 0)
        if hx is not None:
            hx = ad.unsqueeze(hx, 0)
    if hx is None:
        hx = ad.zeros(input.shape[0], hidden, dtype=input.dtype, device=input.device)
    return input, hx, unbatched


def _cell_rnn(input, hx, w_ih, w_hh, b_ih, b_hh, relu, name):
    input, hx, unbatched = _batched(input, hx, w_hh.shape[1], name)
    xw = ad.unsqueeze(input_projection(input, w_ih, b_ih, b_hh), 0)
    _check(xw, hx, w_hh, 1, name)
    _, h = _rec.rnn_sequence(xw, hx, w_hh, relu)
    return ad.squeeze(h, 0) if unbatched else h


def rnn_tanh_cell(input: Tensor, hx: Optional[Tensor], w_ih: Tensor, w_hh: Tensor,
                  b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> Tensor:
    """One step of the Elman RNN: ``tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``."""
    return _cell_rnn(input, hx, w_ih, w_hh, b_ih, b_hh, False, "rnn_tanh_cell")


def rnn_relu_cell(input: Tensor, hx: Optional[Tensor], w_ih: Tensor, w_hh: Tensor,
                  b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> Tensor:
    """One step of the ReLU RNN: ``relu(x W_ih^T + b_ih + h W_hh^T + b_hh)``."""
    return _cell_rnn(input, hx, w_ih, w_hh, b_ih, b_hh, True, "rnn_relu_cell")


def lstm_cell(input: Tensor, hx: Optional[tuple], w_ih: Tensor, w_hh: Tensor,
              b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> tuple:
    """One LSTM step (gates i, f, g, o); ``hx = (h, c)`` or None for zeros. Returns (h', c')."""
    h0, c0 = (None, None) if hx is None else hx
    input, h0, unbatched = _batched(input, h0, w_hh.shape[1], "lstm_cell")
    if c0 is None:
        c0 = ad.zeros(*h0.shape, dtype=input.dtype, device=input.device)
    elif unbatched:
        c0 = ad.unsqueeze(c0, 0)
    xw = ad.unsqueeze(input_projection(input, w_ih, b_ih, b_hh), 0)
    _, h, c = lstm_sequence(xw, h0, c0, w_hh)
    if unbatched:
        return ad.squeeze(h, 0), ad.squeeze(c, 0)
    return h, c


def gru_cell(input: Tensor, hx: Optional[Tensor], w_ih: Tensor, w_hh: Tensor,
             b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> Tensor:
    """One GRU step (gates r, z, n; the reset gate multiplies ``h W_hn^T + b_hn``)."""
    input, hx, unbatched = _batched(input, hx, w_hh.shape[1], "gru_cell")
    xw = ad.unsqueeze(input_projection(input, w_ih, b_ih), 0)
    _, h = gru_sequence(xw, hx, w_hh, b_hh)
    return ad.squeeze(h, 0) if unbatched else h
