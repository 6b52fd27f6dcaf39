"""NumPy references for the recurrent cells and layers, written out gate by gate from the
equations, gate orders and parameter layouts that PyTorch documents for ``torch.nn.RNN``,
``LSTM``, ``GRU`` and their cells; no autodiff and no PyTorch. Also central differences of a
scalar NumPy function, to check gradients against the references.

* RNN:  ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act tanh or ReLU
* LSTM: rows of ``W_ih``/``W_hh``/biases in blocks ``i, f, g, o``;
  ``i, f, o = sigmoid(W_i* x + b_i* + W_h* h + b_h*)``, ``g = tanh(...)``,
  ``c' = f * c + i * g``, ``h' = o * tanh(c')``
* GRU:  blocks ``r, z, n``; ``r, z = sigmoid(W_i* x + b_i* + W_h* h + b_h*)``,
  ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``
* Layers: layer ``k``, direction ``d`` (0 forward, 1 reverse) has parameters
  ``weight_ih_l{k}`` (gates*H, in_k) (``in_0 = input_size``, ``in_k = D*H`` above),
  ``weight_hh_l{k}`` (gates*H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (gates*H,), with the suffix
  ``_reverse`` for d = 1, in that order; its initial and final states sit at index ``k*D + d`` of
  ``h_0``/``h_n``/``c_0``/``c_n`` (num_layers*D, B, H); the reverse direction reads the sequence
  from the last step to the first, and a layer's output concatenates the forward and reverse
  hidden states of each step along the features.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _affine(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], gates: int) -> list:
    """``[W_k x + b_k for each gate block k]`` (rows ``k*H:(k+1)*H`` of ``w`` and ``b``) on row
    vectors ``x``."""
    y = x @ w.T
    if b is not None:
        y = y + b
    H = w.shape[0] // gates
    return [y[..., k * H:(k + 1) * H] for k in range(gates)]


def rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity: str = "tanh") -> np.ndarray:
    (xi,), (hi,) = _affine(x, w_ih, b_ih, 1), _affine(h, w_hh, b_hh, 1)
    return np.tanh(xi + hi) if nonlinearity == "tanh" else np.maximum(xi + hi, 0.0)


def lstm_cell(x, state: tuple, w_ih, w_hh, b_ih=None, b_hh=None) -> tuple:
    """Returns (h', c')."""
    h, c = state
    xi, xf, xg, xo = _affine(x, w_ih, b_ih, 4)
    hi, hf, hg, ho = _affine(h, w_hh, b_hh, 4)
    i, f, g, o = sigmoid(xi + hi), sigmoid(xf + hf), np.tanh(xg + hg), sigmoid(xo + ho)
    c1 = f * c + i * g
    return o * np.tanh(c1), c1


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None) -> np.ndarray:
    xr, xz, xn = _affine(x, w_ih, b_ih, 3)
    hr, hz, hn = _affine(h, w_hh, b_hh, 3)
    r, z = sigmoid(xr + hr), sigmoid(xz + hz)
    n = np.tanh(xn + r * hn)
    return (1.0 - z) * n + z * h


def cell(mode: str, x, state, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of ``mode`` ('rnn_tanh', 'rnn_relu', 'lstm', 'gru'); ``state`` is (h, c) for
    the LSTM."""
    if mode == "lstm":
        return lstm_cell(x, state, w_ih, w_hh, b_ih, b_hh)
    if mode == "gru":
        return gru_cell(x, state, w_ih, w_hh, b_ih, b_hh)
    return rnn_cell(x, state, w_ih, w_hh, b_ih, b_hh, mode[4:])


def recurrent_layer(mode: str, x: np.ndarray, params: dict, hx=None, num_layers: int = 1,
                    bidirectional: bool = False, batch_first: bool = False) -> tuple:
    """The multi-layer network ``torch.nn.{RNN,LSTM,GRU}`` computes, from its state dict
    ``params`` (name -> array; biases used when present). ``x`` is (T, B, in), (B, T, in) with
    ``batch_first`` or (T, in) unbatched; ``hx`` is h_0 ((h_0, c_0) for the LSTM) or None for
    zeros. Returns (output, h_n, c_n), c_n None except for the LSTM."""
    is_lstm = mode == "lstm"
    D = 2 if bidirectional else 1
    unbatched = x.ndim == 2
    if unbatched:
        x = x[:, None]
        if hx is not None:
            hx = tuple(s[:, None] for s in hx) if is_lstm else hx[:, None]
    elif batch_first:
        x = x.transpose(1, 0, 2)
    T, B = x.shape[:2]
    H = params["weight_hh_l0"].shape[1]
    if hx is None:
        zeros = np.zeros((num_layers * D, B, H))
        hx = (zeros, zeros) if is_lstm else zeros
    h_n, c_n = [], []
    for k in range(num_layers):
        outs = []
        for d in range(D):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            w = [params.get(n + sfx) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            state = (hx[0][k * D + d], hx[1][k * D + d]) if is_lstm else hx[k * D + d]
            out = [None] * T
            for t in (range(T - 1, -1, -1) if d else range(T)):
                state = cell(mode, x[t], state, *w)
                out[t] = state[0] if is_lstm else state
            outs.append(np.stack(out))
            h_n.append(state[0] if is_lstm else state)
            c_n.append(state[1] if is_lstm else None)
        x = np.concatenate(outs, axis=2)
    h_n = np.stack(h_n)
    c_n = np.stack(c_n) if is_lstm else None
    if unbatched:
        return x[:, 0], h_n[:, 0], None if c_n is None else c_n[:, 0]
    return (x.transpose(1, 0, 2) if batch_first else x), h_n, c_n


def state_dict_layout(mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                      bias: bool = True, bidirectional: bool = False) -> list:
    """[(name, shape)] of a layer's parameters, in PyTorch's order."""
    G = GATES[mode] * hidden_size
    D = 2 if bidirectional else 1
    layout = []
    for k in range(num_layers):
        in_k = input_size if k == 0 else D * hidden_size
        for d in range(D):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            layout += [("weight_ih" + sfx, (G, in_k)), ("weight_hh" + sfx, (G, hidden_size))]
            if bias:
                layout += [("bias_ih" + sfx, (G,)), ("bias_hh" + sfx, (G,))]
    return layout


def cell_state_dict_layout(mode: str, input_size: int, hidden_size: int,
                           bias: bool = True) -> list:
    """[(name, shape)] of a cell's parameters, in PyTorch's order."""
    G = GATES[mode] * hidden_size
    layout = [("weight_ih", (G, input_size)), ("weight_hh", (G, hidden_size))]
    return layout + ([("bias_ih", (G,)), ("bias_hh", (G,))] if bias else [])


def central_differences(f: Callable[..., float], arrays: list, eps: float = 1e-6) -> list:
    """d f(*arrays) / d arrays[i] for every i, by central differences (float64 arrays,
    perturbed in place and restored)."""
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        flat, gflat = a.reshape(-1), g.reshape(-1)     # views: a must be contiguous
        assert np.shares_memory(flat, a), "central_differences: arrays must be contiguous"
        for k in range(flat.size):
            orig = flat[k]
            flat[k] = orig + eps
            plus = f(*arrays)
            flat[k] = orig - eps
            minus = f(*arrays)
            flat[k] = orig
            gflat[k] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads
