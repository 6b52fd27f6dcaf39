"""Recurrent cells and layers: values and gradients against the NumPy references of
``ref_rnn`` (PyTorch's published equations, gate orders and layouts) and central differences of
them, against PyTorch with copied weights (a second oracle, where installed), float64 central
differences of the engine (first and second order), PyTorch's parameter names/layouts, default
and identity initialisation."""
from __future__ import annotations

import math

import numpy as np
import pytest

import autodiff as ad

# every test on each backend (the cupy run skips without a GPU)
pytestmark = pytest.mark.usefixtures("backend")
from autodiff import nn
from autodiff.backends import kernels
from autodiff.nn import functional_rnn as FR
from autodiff.ops import recurrent
from ref_rnn import (GATES, cell_state_dict_layout, central_differences, recurrent_layer,
                     state_dict_layout)
from ref_rnn import cell as ref_cell

RNG = np.random.default_rng(1234)


def _r(*shape, scale=0.5):
    return RNG.standard_normal(shape) * scale


def _params(module) -> dict:
    """The state dict as a name -> NumPy array (copy) dict."""
    return {k: np.array(v.numpy()) for k, v in module.state_dict().items()}


def _copy_to_torch(module, tmodule, torch):
    tmodule.load_state_dict({k: torch.tensor(v) for k, v in _params(module).items()})


_CELLS = [("RNNCell", {"nonlinearity": "tanh"}), ("RNNCell", {"nonlinearity": "relu"}),
          ("LSTMCell", {}), ("GRUCell", {})]
_LAYERS = [("RNN", {"nonlinearity": "tanh"}), ("RNN", {"nonlinearity": "relu"}),
           ("LSTM", {}), ("GRU", {})]
_CONFIGS = [dict(num_layers=1), dict(num_layers=2, batch_first=True),
            dict(num_layers=2, bidirectional=True), dict(num_layers=2, bias=False)]


# --------------------------------------------------------------------------- NumPy reference
_CELL_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _mode(name: str, kw: dict) -> str:
    """ref_rnn's mode for a module class name ('LSTM', 'GRUCell', 'RNN' + nonlinearity...)."""
    base = name.replace("Cell", "").lower()
    return f"rnn_{kw.get('nonlinearity', 'tanh')}" if base == "rnn" else base


def _flat(outs) -> tuple:
    """(output, h_n) / (output, (h_n, c_n)) / (h', c') / h' -> a flat tuple of Tensors."""
    if not isinstance(outs, tuple):
        return (outs,)
    return tuple(t for o in outs for t in (o if isinstance(o, tuple) else (o,)))


def _assert_matches_reference(module, run, ref, inputs: list, param_grads: bool = True) -> None:
    """``run(*tensors)`` (the module on ``inputs``) gives the outputs of ``ref(*inputs, params)``
    (the NumPy reference; ``params`` the state dict as arrays), and the gradients of a random
    linear combination of those outputs w.r.t. every input (and parameter, with
    ``param_grads``) equal central differences of the reference."""
    rng = np.random.default_rng(0)
    named = list(module.named_parameters())
    ts = [ad.tensor(a, requires_grad=True) for a in inputs]
    outs = _flat(run(*ts))
    arrays = [np.array(a, dtype=np.float64) for a in inputs] + \
        [np.array(p.numpy()) for _, p in named]
    n = len(inputs)

    def ref_outs(*arrs):
        res = ref(*arrs[:n], dict(zip([k for k, _ in named], arrs[n:])))
        return tuple(r for r in (res if isinstance(res, tuple) else (res,)) if r is not None)

    expected = ref_outs(*arrays)
    assert len(outs) == len(expected)
    for o, e in zip(outs, expected):
        assert o.shape == e.shape
        np.testing.assert_allclose(o.numpy(), e, rtol=1e-10, atol=1e-12)
    cot = [rng.standard_normal(e.shape) for e in expected]
    loss = (outs[0] * ad.tensor(cot[0])).sum()
    for o, g in zip(outs[1:], cot[1:]):
        loss = loss + (o * ad.tensor(g)).sum()
    loss.backward()
    n_fd = len(arrays) if param_grads else n
    num = central_differences(
        lambda *a: sum(float((o * g).sum()) for o, g in zip(ref_outs(*a, *arrays[n_fd:]), cot)),
        arrays[:n_fd])
    got = [t.grad for t in ts] + [p.grad for _, p in named]
    names = [f"input {i}" for i in range(n)] + [k for k, _ in named]
    for name, g, e in zip(names, got, num):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-6, atol=1e-8, err_msg=name)


def _ref_cell(mode: str):
    """The reference of a cell as ``ref(x, *state, params)`` (zero state when none given)."""
    def ref(x, *rest):
        *state, p = rest
        H = p["weight_hh"].shape[1]
        if not state:
            state = [np.zeros(x.shape[:-1] + (H,))] * (2 if mode == "lstm" else 1)
        return ref_cell(mode, x, tuple(state) if mode == "lstm" else state[0],
                        *[p.get(k) for k in _CELL_PARAMS])
    return ref


@pytest.mark.parametrize("name,kw", _CELLS)
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_numpy_reference(name, kw, bias):
    """h' (and c') and the gradients w.r.t. input, state and every weight, batched."""
    mode = _mode(name, kw)
    cell = getattr(nn, name)(3, 4, bias=bias, **kw).double()
    rng = np.random.default_rng(11)
    inputs = [rng.standard_normal((5, 3)) * 0.5] + \
        [rng.standard_normal((5, 4)) * 0.5 for _ in range(2 if mode == "lstm" else 1)]
    run = (lambda x, h, c: cell(x, (h, c))) if mode == "lstm" else cell
    _assert_matches_reference(cell, run, _ref_cell(mode), inputs)


@pytest.mark.parametrize("name,kw", _CELLS)
@pytest.mark.parametrize("batched,given_state", [(True, False), (False, False), (False, True)])
def test_cells_unbatched_and_default_state_match_numpy_reference(name, kw, batched,
                                                                 given_state):
    """Unbatched input (state (H,) in and out) and the default zero state."""
    mode = _mode(name, kw)
    cell = getattr(nn, name)(3, 4, **kw).double()
    rng = np.random.default_rng(12)
    lead = (5,) if batched else ()
    inputs = [rng.standard_normal(lead + (3,))]
    if given_state:
        inputs += [rng.standard_normal(lead + (4,)) * 0.5
                   for _ in range(2 if mode == "lstm" else 1)]
    if not given_state:
        run = cell
    elif mode == "lstm":
        run = lambda x, h, c: cell(x, (h, c))  # noqa: E731
    else:
        run = lambda x, h: cell(x, h)  # noqa: E731
    _assert_matches_reference(cell, run, _ref_cell(mode), inputs)


def _ref_layer(mode: str, cfg: dict):
    """The reference of a layer as ``ref(x, *state, params)`` (zero state when none given)."""
    def ref(x, *rest):
        *state, p = rest
        hx = None if not state else (tuple(state) if mode == "lstm" else state[0])
        return recurrent_layer(mode, x, p, hx, cfg.get("num_layers", 1),
                               cfg.get("bidirectional", False), cfg.get("batch_first", False))
    return ref


def _run_layer(m, lstm: bool):
    if lstm:
        return lambda x, *s: m(x, tuple(s) if s else None)
    return lambda x, *s: m(x, *s)


@pytest.mark.parametrize("name,kw", _LAYERS)
@pytest.mark.parametrize("cfg", _CONFIGS, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_layers_match_numpy_reference(name, kw, cfg):
    """output, h_n (and c_n) and their gradients w.r.t. input, h_0 (and c_0) and every weight,
    for one and two layers, batch_first, bidirectional and bias=False."""
    mode = _mode(name, kw)
    m = getattr(nn, name)(2, 3, **kw, **cfg).double()
    D, L = 2 if cfg.get("bidirectional") else 1, cfg["num_layers"]
    rng = np.random.default_rng(13)
    inputs = [rng.standard_normal((2, 3, 2) if cfg.get("batch_first") else (3, 2, 2)) * 0.5]
    inputs += [rng.standard_normal((L * D, 2, 3)) * 0.5 for _ in range(2 if mode == "lstm" else 1)]
    _assert_matches_reference(m, _run_layer(m, mode == "lstm"), _ref_layer(mode, cfg), inputs)


@pytest.mark.parametrize("name,kw", _LAYERS)
@pytest.mark.parametrize("batched,given_state", [(True, False), (False, False), (False, True)])
def test_layers_unbatched_and_zero_state_match_numpy_reference(name, kw, batched, given_state):
    """Two bidirectional layers: unbatched input (T, in) with states (L*D, H), and the zero
    state when none is given (the parameters' gradients are checked above)."""
    mode = _mode(name, kw)
    cfg = dict(num_layers=2, bidirectional=True)
    m = getattr(nn, name)(2, 3, **kw, **cfg).double()
    rng = np.random.default_rng(14)
    lead = (2,) if batched else ()
    inputs = [rng.standard_normal((3,) + lead + (2,)) * 0.5]
    if given_state:
        inputs += [rng.standard_normal((4,) + lead + (3,)) * 0.5
                   for _ in range(2 if mode == "lstm" else 1)]
    _assert_matches_reference(m, _run_layer(m, mode == "lstm"), _ref_layer(mode, cfg), inputs,
                              param_grads=False)


def test_float32_lstm_matches_numpy_reference():
    """float32 weights and input stay float32 and agree with the float64 reference to float32
    accuracy."""
    m = nn.LSTM(8, 16, num_layers=2)
    x = np.random.default_rng(15).standard_normal((10, 4, 8)).astype(np.float32)
    out, (hn, cn) = m(ad.tensor(x))
    params = {k: v.astype(np.float64) for k, v in _params(m).items()}
    ref = recurrent_layer("lstm", x.astype(np.float64), params, num_layers=2)
    for got, exp in zip((out, hn, cn), ref):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.numpy(), exp, rtol=1e-5, atol=1e-6)  # ~20 ulp


@pytest.mark.parametrize("name,kw", _LAYERS + _CELLS)
@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_names_and_shapes_pytorch_layout(name, kw, bias):
    """Names, shapes and order as PyTorch documents them (ref_rnn.state_dict_layout)."""
    mode = _mode(name, kw)
    if name.endswith("Cell"):
        m = getattr(nn, name)(5, 7, bias=bias, **kw)
        exp = cell_state_dict_layout(mode, 5, 7, bias)
    else:
        m = getattr(nn, name)(5, 7, num_layers=3, bias=bias, bidirectional=True, **kw)
        exp = state_dict_layout(mode, 5, 7, 3, bias, bidirectional=True)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == exp
    assert all(v.shape[0] == GATES[mode] * 7 for _, v in m.state_dict().items())


# ---------------------------------------------------------------- PyTorch (second oracle)
@pytest.mark.parametrize("name,kw", _CELLS)
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_torch(torch, name, kw, bias):
    cell = getattr(nn, name)(3, 4, bias=bias, **kw).double()
    tcell = getattr(torch.nn, name)(3, 4, bias=bias, **kw).double()
    _copy_to_torch(cell, tcell, torch)
    x, h, c = _r(5, 3), _r(5, 4), _r(5, 4)
    X, TX = ad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    H, TH = ad.tensor(h, requires_grad=True), torch.tensor(h, requires_grad=True)
    if name == "LSTMCell":
        C, TC = ad.tensor(c, requires_grad=True), torch.tensor(c, requires_grad=True)
        h1, c1 = cell(X, (H, C))
        th1, tc1 = tcell(TX, (TH, TC))
        loss, tloss = (h1 * h1).sum() + (h1 * c1).sum(), (th1 * th1).sum() + (th1 * tc1).sum()
    else:
        h1, th1 = cell(X, H), tcell(TX, TH)
        loss, tloss = (h1 ** 3).sum(), (th1 ** 3).sum()
    np.testing.assert_allclose(h1.numpy(), th1.detach().numpy(), rtol=1e-10, atol=1e-12)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(X.grad.numpy(), TX.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(H.grad.numpy(), TH.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (n, p), (tn, tp) in zip(cell.named_parameters(), tcell.named_parameters()):
        assert n == tn
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_unbatched_and_default_state(torch, name):
    cell = getattr(nn, name)(3, 4).double()
    tcell = getattr(torch.nn, name)(3, 4).double()
    _copy_to_torch(cell, tcell, torch)
    x = _r(3)
    out, tout = cell(ad.tensor(x)), tcell(torch.tensor(x))
    if name == "LSTMCell":
        out, tout = out[1], tout[1]
    assert out.shape == (4,)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kw", _LAYERS)
@pytest.mark.parametrize("cfg", _CONFIGS, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_layers_match_torch(torch, name, kw, cfg):
    m = getattr(nn, name)(3, 4, **kw, **cfg).double()
    tm = getattr(torch.nn, name)(3, 4, **kw, **cfg).double()
    assert list(m.state_dict()) == list(tm.state_dict())
    _copy_to_torch(m, tm, torch)
    bf, D, L = cfg.get("batch_first", False), 2 if cfg.get("bidirectional") else 1, \
        cfg["num_layers"]
    x = _r(2, 5, 3) if bf else _r(5, 2, 3)
    h0, c0 = _r(L * D, 2, 4), _r(L * D, 2, 4)
    X, TX = ad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    H0, TH0 = ad.tensor(h0, requires_grad=True), torch.tensor(h0, requires_grad=True)
    if name == "LSTM":
        C0, TC0 = ad.tensor(c0, requires_grad=True), torch.tensor(c0, requires_grad=True)
        out, (hn, cn) = m(X, (H0, C0))
        tout, (thn, tcn) = tm(TX, (TH0, TC0))
        np.testing.assert_allclose(cn.numpy(), tcn.detach().numpy(), rtol=1e-10, atol=1e-12)
        loss = (out * out).sum() + (hn * cn).sum()
        tloss = (tout * tout).sum() + (thn * tcn).sum()
    else:
        out, hn = m(X, H0)
        tout, thn = tm(TX, TH0)
        loss, tloss = (out * out).sum() + (hn ** 3).sum(), (tout * tout).sum() + (thn ** 3).sum()
    assert out.shape == tuple(tout.shape) and hn.shape == tuple(thn.shape)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hn.numpy(), thn.detach().numpy(), rtol=1e-10, atol=1e-12)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(X.grad.numpy(), TX.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(H0.grad.numpy(), TH0.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (n, p), (tn, tp) in zip(m.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-11,
                                   err_msg=n)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_layers_unbatched_zero_state_match_torch(torch, name):
    m = getattr(nn, name)(3, 4, num_layers=2).double()
    tm = getattr(torch.nn, name)(3, 4, num_layers=2).double()
    _copy_to_torch(m, tm, torch)
    x = _r(6, 3)
    out, _ = m(ad.tensor(x))
    tout, _ = tm(torch.tensor(x))
    assert out.shape == (6, 4)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_float32_lstm_matches_torch(torch):
    m, tm = nn.LSTM(8, 16, num_layers=2), torch.nn.LSTM(8, 16, num_layers=2)
    _copy_to_torch(m, tm, torch)
    x = _r(10, 4, 8).astype(np.float32)
    out, (hn, cn) = m(ad.tensor(x))
    tout, (thn, tcn) = tm(torch.tensor(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(cn.numpy(), tcn.detach().numpy(), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------ gradcheck
def _seq_fn(kind):
    def f(xw, h0, c0, w_hh, b_hh):
        if kind == "lstm":
            out, h, c = FR.lstm_sequence(xw, h0, c0, w_hh)
            return out.sum() * 0.3 + (out * out).sum() + (h * c).sum()
        if kind == "gru":
            out, h = FR.gru_sequence(xw, h0, w_hh, b_hh)
        elif kind == "relu":
            out, h = FR.rnn_relu_sequence(xw, h0, w_hh)
        else:
            out, h = FR.rnn_tanh_sequence(xw, h0, w_hh)
        return (out * out).sum() + (h ** 3).sum()
    return f


@pytest.mark.parametrize("kind,gates", [("tanh", 1), ("relu", 1), ("lstm", 4), ("gru", 3)])
def test_sequence_kernels_gradcheck_and_gradgradcheck(kind, gates):
    T, B, H = 3, 2, 3
    xs = [_r(T, B, gates * H), _r(B, H), _r(B, H), _r(gates * H, H), _r(gates * H)]
    if kind == "relu":           # keep pre-activations away from the kink
        xs[0] = np.abs(xs[0]) + 0.3
        xs[1] = np.abs(xs[1])
        xs[3] = np.abs(xs[3]) * 0.3
    ins = [ad.tensor(a, requires_grad=True) for a in xs]
    f = _seq_fn(kind)
    assert ad.gradcheck(f, ins)
    assert ad.gradgradcheck(f, ins)


def test_create_graph_path_matches_fast_path():
    """The recorded (create_graph) backward gives the same first derivatives."""
    T, B, H = 4, 2, 3
    xs = [_r(T, B, 4 * H), _r(B, H), _r(B, H), _r(4 * H, H), _r(4 * H)]
    f = _seq_fn("lstm")
    a = [ad.tensor(v, requires_grad=True) for v in xs]
    g_fast = ad.grad(f(*a), a[:4])
    g_rec = ad.grad(f(*a), a[:4], create_graph=True)
    assert all(g.grad_fn is not None for g in g_rec)
    for g1, g2 in zip(g_fast, g_rec):
        np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_gradcheck(name):
    cell = getattr(nn, name)(2, 3).double()
    x = ad.tensor(_r(2, 2), requires_grad=True)
    h = ad.tensor(_r(2, 3), requires_grad=True)
    c = ad.tensor(_r(2, 3), requires_grad=True)
    params = list(cell.parameters())

    def f(x, h, c, *ps):
        if name == "LSTMCell":
            h1, c1 = FR.lstm_cell(x, (h, c), *ps)
            return (h1 * c1).sum() + h1.sum()
        fn = FR.rnn_tanh_cell if name == "RNNCell" else FR.gru_cell
        return (fn(x, h, *ps) ** 2).sum()

    assert ad.gradcheck(f, [x, h, c] + params)


def test_multilayer_lstm_gradcheck():
    m = nn.LSTM(2, 3, num_layers=2, bidirectional=True).double()
    x = ad.tensor(_r(3, 2, 2), requires_grad=True)

    def f(x, *ps):
        out, (h, c) = m(x)
        return (out * out).sum() + c.sum()

    assert ad.gradcheck(f, [x] + list(m.parameters()))


# ------------------------------------------------------------------------------------ layout
def test_state_dict_names_and_shapes_like_torch(torch):
    for name in ["RNN", "LSTM", "GRU"]:
        m = getattr(nn, name)(5, 7, num_layers=3, bidirectional=True)
        tm = getattr(torch.nn, name)(5, 7, num_layers=3, bidirectional=True)
        assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
            [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]
    for name in ["RNNCell", "LSTMCell", "GRUCell"]:
        m, tm = getattr(nn, name)(5, 7), getattr(torch.nn, name)(5, 7)
        assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
            [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]


def test_state_dict_names_and_shapes():
    """Hand-written PyTorch layouts (which also pin ref_rnn.state_dict_layout)."""
    exp = [("weight_ih_l0", (28, 5)), ("weight_hh_l0", (28, 7)), ("bias_ih_l0", (28,)),
           ("bias_hh_l0", (28,)), ("weight_ih_l1", (28, 7)), ("weight_hh_l1", (28, 7)),
           ("bias_ih_l1", (28,)), ("bias_hh_l1", (28,))]
    m = nn.LSTM(5, 7, num_layers=2)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == exp
    assert state_dict_layout("lstm", 5, 7, num_layers=2) == exp
    exp = [("weight_ih_l0", (7, 5)), ("weight_hh_l0", (7, 7)), ("bias_ih_l0", (7,)),
           ("bias_hh_l0", (7,)), ("weight_ih_l0_reverse", (7, 5)),
           ("weight_hh_l0_reverse", (7, 7)), ("bias_ih_l0_reverse", (7,)),
           ("bias_hh_l0_reverse", (7,)), ("weight_ih_l1", (7, 14)), ("weight_hh_l1", (7, 7)),
           ("bias_ih_l1", (7,)), ("bias_hh_l1", (7,)), ("weight_ih_l1_reverse", (7, 14)),
           ("weight_hh_l1_reverse", (7, 7)), ("bias_ih_l1_reverse", (7,)),
           ("bias_hh_l1_reverse", (7,))]
    r = nn.RNN(5, 7, num_layers=2, bidirectional=True)
    assert [(k, tuple(v.shape)) for k, v in r.state_dict().items()] == exp
    assert state_dict_layout("rnn_tanh", 5, 7, num_layers=2, bidirectional=True) == exp
    exp = [("weight_ih", (21, 5)), ("weight_hh", (21, 7)), ("bias_ih", (21,)), ("bias_hh", (21,))]
    assert [(k, tuple(v.shape)) for k, v in nn.GRUCell(5, 7).state_dict().items()] == exp
    assert cell_state_dict_layout("gru", 5, 7) == exp
    g = nn.GRU(5, 7, bias=False, bidirectional=True)
    assert list(g.state_dict()) == ["weight_ih_l0", "weight_hh_l0", "weight_ih_l0_reverse",
                                    "weight_hh_l0_reverse"]
    assert g.weight_hh_l0.shape == (21, 7)


def test_default_init_range():
    m = nn.LSTM(10, 64, num_layers=2)
    k = 1 / math.sqrt(64)
    for p in m.parameters():
        a = p.numpy()
        assert a.dtype == np.float32
        assert np.abs(a).max() <= k and np.abs(a).max() > 0.9 * k
        assert abs(a.mean()) < 0.2 * k


def test_identity_hh_init_irnn():
    m = nn.RNN(3, 5, num_layers=2, nonlinearity="relu", hh_init="identity")
    for name, p in m.named_parameters():
        if name.startswith("weight_hh"):
            np.testing.assert_array_equal(p.numpy(), np.eye(5))
        elif name.startswith("bias"):
            np.testing.assert_array_equal(p.numpy(), 0)
    # with zero input the first IRNN layer carries its (non-negative) state unchanged
    h0 = np.abs(_r(2, 4, 5)).astype(np.float32)
    out, hn = m(ad.zeros(7, 4, 3), ad.tensor(h0))
    np.testing.assert_allclose(hn.numpy()[0], h0[0], rtol=1e-6)
    cell = nn.RNNCell(3, 5, hh_init="identity")
    np.testing.assert_array_equal(cell.weight_hh.numpy(), np.eye(5))
    r = nn.RNN(3, 5)
    nn.init.eye_(r.weight_hh_l0)
    np.testing.assert_array_equal(r.weight_hh_l0.numpy(), np.eye(5))


def test_dropout_between_layers_only_in_training():
    m = nn.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = ad.tensor(_r(4, 2, 3).astype(np.float32))
    a, _ = m(x)
    b, _ = m(x)
    assert not np.allclose(a.numpy(), b.numpy())
    m.eval()
    c, _ = m(x)
    d, _ = m(x)
    np.testing.assert_array_equal(c.numpy(), d.numpy())


def test_bad_shapes_raise():
    m = nn.GRU(3, 4)
    with pytest.raises(ValueError):
        m(ad.zeros(5, 2, 6))
    with pytest.raises(ValueError):
        m(ad.zeros(5, 2, 3), ad.zeros(2, 2, 4))
    with pytest.raises(ValueError):
        nn.RNN(3, 4, nonlinearity="sigmoid")


@pytest.mark.parametrize("use_numba", [True, False])
def test_lstm_numba_and_generic_paths_agree(monkeypatch, use_numba):
    """The fused (numba) LSTM kernels and the generic array kernels give the same results."""
    if not use_numba:               # the generic array equations (CuPy's route)
        monkeypatch.setattr(kernels._CPU, "lstm_sequence_forward", None)
    elif kernels._CPU.lstm_sequence_forward is None:
        pytest.skip("numba is not installed")
    T, B, H = 4, 3, 5
    xs = [_r(T, B, 4 * H), _r(B, H), _r(B, H), _r(4 * H, H)]
    a = [ad.tensor(v, requires_grad=True) for v in xs]
    out, h, c = FR.lstm_sequence(*a)
    ((out * out).sum() + (h * c).sum() + c.sum()).backward()
    ref = [ad.tensor(v, requires_grad=True) for v in xs]
    # reference: the recorded Tensor-op kernels
    K = recurrent._TensorOps()
    hs, h2, c2, _ = recurrent._lstm_forward(K, *ref)
    out2 = ad.stack(hs)
    ((out2 * out2).sum() + (h2 * c2).sum() + c2.sum()).backward()
    np.testing.assert_allclose(out.numpy(), out2.numpy(), rtol=1e-12, atol=1e-14)
    for x, y in zip(a, ref):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-10, atol=1e-13)
    assert ad.gradcheck(lambda *t: (FR.lstm_sequence(*t)[0] ** 2).sum(), a)


# ------------------------------------------------------------------------------------ one-hot
@pytest.mark.parametrize("nb", [0, 1, 2])
def test_index_projection_is_the_one_hot_product(nb):
    """The row gather equals one_hot(ids) W^T + b exactly; its gradients (scatter-add fast
    path and the recorded one-hot product) match central differences to second order."""
    V, G = 5, 8
    ids = np.array([[0, 3, 4], [4, 4, 1], [-1, 2, 0]])
    w = ad.tensor(_r(G, V), requires_grad=True)
    bs = [ad.tensor(_r(G), requires_grad=True) for _ in range(nb)]
    onehot = ad.tensor(np.eye(V)[ids])
    ref = FR.input_projection(onehot, w, *bs)
    out = FR.index_projection(ids, w, *bs)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    g = _r(*out.shape)
    got = ad.grad((out * ad.tensor(g)).sum(), [w] + bs)
    exp = ad.grad((ref * ad.tensor(g)).sum(), [w] + bs)
    for a, b in zip(got, exp):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)
    f = lambda *t: (FR.index_projection(ids, *t) ** 2).sum()  # noqa: E731
    assert ad.gradcheck(f, [w] + bs)
    assert ad.gradgradcheck(f, [w] + bs)
    with ad.detect_anomaly(), pytest.raises(IndexError):      # (a GPU checks only then)
        FR.index_projection(np.array([5]), w)
    with pytest.raises(TypeError):
        FR.index_projection(np.array([0.0]), w)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers,batch_first", [(1, False), (2, True)])
def test_char_rnn_one_hot_fast_path_matches_explicit_one_hot(cell, layers, batch_first):
    """CharRNN without embedding feeds the ids to the first layer (row gather): the same
    logits as the one-hot matrix input, the same gradients (float64)."""
    from autodiff.nn.models import char_rnn
    ad.manual_seed(3)
    m = char_rnn(7, hidden_size=6, num_layers=layers, cell=cell, batch_first=batch_first)
    m = m.double()
    ids = np.random.default_rng(0).integers(0, 7, (5, 3))
    res = []
    for fast in (True, False):
        m.zero_grad()
        if fast:
            logits, state = m(ids)
        else:
            out, state = m.rnn(m._inputs(ids))
            logits = ad.reshape(m.decoder(ad.reshape(out, (-1, 6))), out.shape[:2] + (7,))
            if batch_first:
                logits = ad.transpose(logits, 0, 1)
        (logits ** 2).sum().backward()
        hn = state[0] if cell == "lstm" else state
        res.append((logits.numpy(), hn.numpy(), [p.grad.numpy() for p in m.parameters()]))
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])
    for a, b in zip(res[0][2], res[1][2]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_lstm_outputs_survive_later_calls():
    """Outputs kept from one call are not overwritten by the next (pooled work arrays)."""
    T, B, H = 30, 32, 128                     # work arrays big enough to be pooled
    args = [ad.tensor(_r(T, B, 4 * H).astype(np.float32)), ad.tensor(_r(B, H).astype(np.float32)),
            ad.tensor(_r(B, H).astype(np.float32)), ad.tensor(_r(4 * H, H).astype(np.float32))]
    out1, _, _ = FR.lstm_sequence(*args)
    keep = out1.numpy().copy()
    args2 = [ad.tensor(a.numpy() * 0.5) for a in args]
    for _ in range(3):
        FR.lstm_sequence(*args2)
    np.testing.assert_array_equal(out1.numpy(), keep)
