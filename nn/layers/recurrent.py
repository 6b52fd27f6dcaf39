"""Layer modules: recurrent (RNN, LSTM, GRU and their cells).

Parameter names, shapes and gate orders are PyTorch's (``weight_ih_l0`` (gates*hidden, input),
``weight_hh_l0`` (gates*hidden, hidden), ``bias_ih_l0``, ``bias_hh_l0``, ``..._reverse`` for the
backward direction), so state dicts interchange with ``torch.nn.RNN/LSTM/GRU`` through NumPy.
Default initialisation: U(-1/sqrt(hidden), 1/sqrt(hidden)) for every parameter.

Each layer and direction projects the inputs of all time steps in one matrix product, then
runs the recurrence in one fused primitive (see :mod:`autodiff.nn.functional_rnn`).
"""
from __future__ import annotations

import math
from typing import Optional

import autodiff as ad
from autodiff.random import generator
from autodiff.tensor import Tensor, make

from .. import functional_rnn as FR
from .. import init
from ..input_checks import array_like
from ..module import Module, Parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _dropout(x: Tensor, p: float) -> Tensor:
    """Inverted dropout with a constant mask (between stacked recurrent layers)."""
    keep = generator(x.xp).random(x.shape) >= p
    mask = x.xp.asarray(keep, dtype=x.dtype) / (1.0 - p)
    return x * make(mask)


def _new_param(shape: tuple, dtype) -> Parameter:
    dtype = dtype or ad.get_default_dtype()
    return Parameter(ad.empty(shape, dtype=dtype))


def _init_uniform(module: Module) -> None:
    """U(-1/sqrt(hidden), 1/sqrt(hidden)) for every weight and bias (PyTorch's default)."""
    k = 1.0 / math.sqrt(module.hidden_size)
    for p in module.parameters():
        init.uniform_(p, -k, k)


def _init_identity(module: Module) -> None:
    """IRNN: hidden-to-hidden weights set to the identity, biases to zero."""
    for name, p in module.named_parameters():
        if name.startswith("weight_hh"):
            init.eye_(p)
        elif name.startswith("bias"):
            init.zeros_(p)


class RNNBase(Module):
    """The multi-layer recurrent network shared by :class:`RNN`, :class:`LSTM` and :class:`GRU`.

    ``forward(input, hx=None)``: ``input`` is (T, B, input_size) ((B, T, input_size) with
    ``batch_first``, or (T, input_size) unbatched); ``hx`` is (num_layers * num_directions, B,
    hidden_size), for the LSTM a pair ``(h_0, c_0)``; zeros when omitted. Returns
    ``(output, h_n)`` (``(output, (h_n, c_n))`` for the LSTM), ``output`` holding the last
    layer's hidden states of every step (both directions concatenated).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"RNNBase: unknown mode {mode!r}")
        if not (isinstance(hidden_size, int) and hidden_size > 0):
            raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}")
        if not (isinstance(num_layers, int) and num_layers > 0):
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        G = _GATES[mode] * hidden_size
        D = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * D
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                names = [("weight_ih" + sfx, (G, in_size)), ("weight_hh" + sfx, (G, hidden_size))]
                if bias:
                    names += [("bias_ih" + sfx, (G,)), ("bias_hh" + sfx, (G,))]
                for name, shape in names:
                    setattr(self, name, _new_param(shape, dtype))
                    self._flat_weights_names.append(name)
        if device is not None:
            self.to(device)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_uniform(self)

    def flatten_parameters(self) -> None:
        """No-op (PyTorch compatibility: cuDNN weight packing)."""

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _weights(self, layer: int, d: int) -> tuple:
        sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
        w_ih = getattr(self, "weight_ih" + sfx)
        w_hh = getattr(self, "weight_hh" + sfx)
        if self.bias:
            return w_ih, w_hh, getattr(self, "bias_ih" + sfx), getattr(self, "bias_hh" + sfx)
        return w_ih, w_hh, None, None

    def _run_direction(self, x, layer: int, d: int, h0: Tensor, c0: Optional[Tensor],
                       ids: bool = False) -> tuple:
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
        proj = FR.index_projection if ids else FR.input_projection
        if self.mode == "GRU":
            xw = proj(x, w_ih, b_ih)
        else:
            xw = proj(x, w_ih, b_ih, b_hh)
        if d == 1:
            xw = ad.flip(xw, 0)
        c_n = None
        if self.mode == "LSTM":
            out, h_n, c_n = FR.lstm_sequence(xw, h0, c0, w_hh)
        elif self.mode == "GRU":
            out, h_n = FR.gru_sequence(xw, h0, w_hh, b_hh)
        elif self.mode == "RNN_RELU":
            out, h_n = FR.rnn_relu_sequence(xw, h0, w_hh)
        else:
            out, h_n = FR.rnn_tanh_sequence(xw, h0, w_hh)
        if d == 1:
            out = ad.flip(out, 0)
        return out, h_n, c_n

    def forward(self, input: Tensor, hx=None):
        return self._forward(input, hx, False)

    def forward_ids(self, ids, hx=None):
        """:meth:`forward` on the one-hot encoding (``input_size`` classes) of the integer
        ``ids`` ((T, B), (B, T) with ``batch_first``, or (T,) unbatched), without building it:
        the first layer's input projection is a row gather of ``W_ih^T`` (same values as the
        matrix product with the one-hot input), its weight gradient a scatter-add."""
        idx = array_like(ids, self._weights(0, 0)[0])
        if idx.dtype.kind not in "iu":
            raise TypeError(f"{type(self).__name__}.forward_ids: ids must be integers, got "
                            f"dtype {idx.dtype}")
        return self._forward(idx, hx, True)

    def _forward(self, input, hx, ids: bool):
        is_lstm = self.mode == "LSTM"
        ndim = input.ndim + 1 if ids else input.ndim
        if ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: input must be 2-D (unbatched) or 3-D, got "
                             f"shape {input.shape}")
        unbatched = ndim == 2
        if unbatched:
            input = input[:, None] if ids else ad.unsqueeze(input, 1)
            if hx is not None:
                hx = (tuple(ad.unsqueeze(h, 1) for h in hx) if is_lstm else ad.unsqueeze(hx, 1))
        elif self.batch_first:
            input = input.T if ids else ad.transpose(input, 0, 1)
        if not ids and input.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: expected input size {self.input_size}, "
                             f"got {input.shape[-1]}")
        B = input.shape[1]
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        if hx is None:
            w0 = self._weights(0, 0)[0]
            xp, dtype = (w0.xp, w0.dtype) if ids else (input.xp, input.dtype)
            zeros = make(xp.zeros((L * D, B, H), dtype))
            h0s, c0s = zeros, (zeros if is_lstm else None)
        elif is_lstm:
            h0s, c0s = hx
        else:
            h0s, c0s = hx, None
        if h0s.shape != (L * D, B, H) or (is_lstm and c0s.shape != (L * D, B, H)):
            raise ValueError(f"{type(self).__name__}: expected hidden state of shape "
                             f"{(L * D, B, H)}, got {h0s.shape}")
        x = input
        h_n, c_n = [], []
        for layer in range(L):
            outs = []
            for d in range(D):
                k = layer * D + d
                out, h, c = self._run_direction(x, layer, d, h0s[k],
                                                c0s[k] if is_lstm else None, ids and layer == 0)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = outs[0] if D == 1 else ad.cat(outs, dim=2)
            if self.dropout > 0 and self.training and layer < L - 1:
                x = _dropout(x, self.dropout)
        output = x
        hn = ad.stack(h_n)
        cn = ad.stack(c_n) if is_lstm else None
        if unbatched:
            output = ad.squeeze(output, 1)
            hn = ad.squeeze(hn, 1)
            cn = ad.squeeze(cn, 1) if is_lstm else None
        elif self.batch_first:
            output = ad.transpose(output, 0, 1)
        return (output, (hn, cn)) if is_lstm else (output, hn)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN, ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ReLU).

    ``hh_init="identity"`` sets every ``weight_hh_l*`` to the identity and the biases to zero
    (the IRNN of Le, Jaitly and Hinton, for ReLU or tanh units).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, hh_init: str = "default",
                 device=None, dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        if hh_init not in ("default", "identity"):
            raise ValueError(f"RNN: hh_init must be 'default' or 'identity', got {hh_init!r}")
        self.nonlinearity = nonlinearity
        self.hh_init = hh_init
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if getattr(self, "hh_init", "default") == "identity":
            _init_identity(self)


class LSTM(RNNBase):
    """Long short-term memory (gates i, f, g, o); ``forward(input, (h_0, c_0))`` returns
    ``(output, (h_n, c_n))``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (gates r, z, n; the reset gate multiplies ``h W_hn^T + b_hn``)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device, dtype)


# ------------------------------------------------------------------------------------ cells
class RNNCellBase(Module):
    """Parameters ``weight_ih`` (gates*hidden, input), ``weight_hh``, ``bias_ih``, ``bias_hh``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        G = num_chunks * hidden_size
        self.weight_ih = _new_param((G, input_size), dtype)
        self.weight_hh = _new_param((G, hidden_size), dtype)
        if bias:
            self.bias_ih = _new_param((G,), dtype)
            self.bias_hh = _new_param((G,), dtype)
        else:
            self.bias_ih = None
            self.bias_hh = None
        if device is not None:
            self.to(device)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_uniform(self)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    """One step of the Elman RNN; ``forward(input, hx=None) -> h'``. ``hh_init="identity"``
    as in :class:`RNN`."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", hh_init: str = "default", device=None,
                 dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.hh_init = hh_init
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if getattr(self, "hh_init", "default") == "identity":
            _init_identity(self)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        fn = FR.rnn_tanh_cell if self.nonlinearity == "tanh" else FR.rnn_relu_cell
        return fn(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LSTMCell(RNNCellBase):
    """One LSTM step; ``forward(input, (h, c)=None) -> (h', c')``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: Optional[tuple] = None) -> tuple:
        return FR.lstm_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih,
                            self.bias_hh)


class GRUCell(RNNCellBase):
    """One GRU step; ``forward(input, hx=None) -> h'``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        return FR.gru_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih,
                           self.bias_hh)
