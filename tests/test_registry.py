"""The primitive registry (``autodiff/ops/registry.py``) against one table of sample inputs,
OpInfo-style: every registered primitive has a row, and for each row

- the op records exactly its primitive, and the row's metadata agrees with what ran: the
  forward on raw arrays reproduces the output, ``infer`` gives the output's shape and dtype,
  the saved tensors are the inputs the row names (and the output when it says so), the
  attributes have the named fields;
- its first and second derivatives match float64 central differences (``ad.gradcheck``,
  ``ad.gradgradcheck``).

A new primitive is one more row in :data:`ROWS`. A representative run (MLP, CNN and LSTM
training steps, a custom Function, Hessian-vector products) then checks that every node the
engine records is a registered primitive or a Function.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import autodiff as ad
import autodiff.nn  # noqa: F401  (registers whatever nn registers)
from autodiff import functional, hessian, nn, optim
from autodiff.function import FunctionCtx
from autodiff.nn import functional as F
from autodiff.nn import functional_rnn as FR
from autodiff.ops import PRIMITIVES, Primitive
from autodiff.ops import linear as ops_linear
from autodiff.ops import pool as ops_pool
from autodiff.ops.elementwise import step
from autodiff.ops.index import index_add_into
from autodiff.ops.linalg import _einsum_diagonal
from autodiff.backends import cupy_backend
from api_table import A, P, U, _rng



# ----------------------------------------------------------------------------- the table
# sample makers shared with the public-API table (tests/api_table.py): U uniform, A away from
# 0, P positive


@dataclass
class Row:
    prim: str                      # the primitive this row exercises
    fn: Callable                   # tensors -> the primitive's output, applied to the inputs
    inputs: tuple                  # float64 sample arrays
    tol: dict = field(default_factory=dict)   # gradcheck arguments where float64 is not kept
    gpu: bool = False              # needs CuPy and a GPU
    # a primitive whose VJP is declared rather than the forward's derivative (a gradient
    # scale): a composite of other primitives with that VJP, to check it against
    grad_like: Callable | None = None

    @property
    def id(self) -> str:
        return self.prim


_IDX = (np.array([0, 2, 0]),)      # a repeated index: its gradients must add up
_COND = np.array([[True, False, True], [False, False, True]])
# flat 3*3 indices of 2x2 windows: a repeated one (its gradients add) and -1 (padding)
_MASK = np.array([[2.0, 0.0, 2.0], [0.0, 2.0, 2.0]])      # dropout's mask at p = 0.5
_IDS = np.array([[3, 0], [3, 1]])                        # a repeated row: its gradients add
_POOL_IDX = np.array([[[[4, 4], [0, 8]], [[2, -1], [7, 3]]]])

ROWS = [
    # elementwise
    Row("add", lambda a, b: a + b, (U(3, 2), U(2, seed=1))),
    Row("sub", lambda a, b: a - b, (U(3, 2), U(3, 1, seed=1))),
    Row("mul", lambda a, b: a * b, (U(2, 3), U(3, seed=1))),
    Row("div", lambda a, b: a / b, (U(2, 3), P(3, seed=1))),
    Row("neg", lambda x: -x, (U(4),)),
    Row("pow_scalar", lambda x: x ** 2.5, (P(4),)),
    Row("pow", lambda x, y: x ** y, (P(2, 3), U(3, seed=1))),
    Row("exp", ad.exp, (U(4),)),
    Row("log", ad.log, (P(4),)),
    Row("log1p", ad.log1p, (U(4, low=0.0),)),
    Row("expm1", ad.expm1, (U(4),)),
    Row("sqrt", ad.sqrt, (P(4),)),
    Row("abs", ad.abs, (A(5),)),
    Row("sin", ad.sin, (U(4),)),
    Row("cos", ad.cos, (U(4),)),
    Row("tan", ad.tan, (U(4),)),
    Row("tanh", ad.tanh, (U(2, 3),)),
    Row("sigmoid", ad.sigmoid, (U(2, 3, low=-3, high=3),)),
    Row("relu", ad.relu, (A(2, 3),)),
    Row("leaky_relu", lambda x: ad.leaky_relu(x, 0.2), (A(5),)),
    # beta x = 1.8 lies above the threshold (the linear branch)
    Row("elu", lambda x: ad.elu(x, 1.5), (A(5),)),
    Row("softplus", lambda x: ad.softplus(x, beta=2.0, threshold=1.0),
        (np.array([-0.8, -0.3, 0.2, 0.9]),)),
    Row("erf", ad.erf, (U(4),)),
    Row("where", lambda a, b: ad.where(_COND, a, b), (U(2, 3), U(3, seed=1))),
    Row("piecewise_where", lambda a, b: ad.piecewise_where(_COND, a, b),
        (U(2, 3), U(3, seed=1))),
    Row("maximum", ad.maximum, (U(2, 3), U(2, 3, seed=1))),
    Row("minimum", ad.minimum, (U(3), U(2, 3, seed=1))),
    Row("clip", lambda x: ad.clip(x, -0.5, 0.5), (np.array([-0.9, -0.2, 0.3, 0.8]),)),
    # indexing
    Row("getitem", lambda x: x[_IDX[0]], (U(4, 3),)),
    Row("index_add", lambda g: index_add_into(g, (4, 3), _IDX, True), (U(3, 3),)),
    Row("index_put", lambda x, v: ad.index_put(x, (slice(None), 1), v), (U(3, 2), U(3, seed=1))),
    # shape
    Row("reshape", lambda x: ad.reshape(x, (3, 2)), (U(2, 3),)),
    Row("permute", lambda x: ad.permute(x, (2, 0, 1)), (U(2, 3, 2),)),
    Row("broadcast_to", lambda x: ad.broadcast_to(x, (2, 3, 4)), (U(3, 1),)),
    Row("sum_to", lambda x: ad.sum_to(x, (3, 1)), (U(2, 3, 4),)),
    # float32 keeps ~7 digits: central differences need a larger step
    Row("astype", lambda x: ad.astype(x, np.float32), (U(4),),
        tol=dict(eps=1e-3, atol=1e-3, rtol=1e-2)),
    Row("to_device", lambda x: x.to("cuda"), (U(3),), gpu=True),
    Row("cat", lambda a, b, c: ad.cat([a, b, c], dim=1), (U(2, 1), U(2, 2, seed=1), U(2, 1, seed=2))),
    Row("pad", lambda x: ad.pad(x, ((1, 0), (0, 2)), value=0.5), (U(2, 2),)),
    Row("flip", lambda x: ad.flip(x, (0,)), (U(3, 2),)),
    # linear algebra
    Row("matmul", ad.matmul, (U(2, 2, 3), U(3, 2, seed=1))),
    Row("einsum", lambda a, b: ad.einsum("ij,jk->ik", a, b), (U(2, 3), U(3, 2, seed=1))),
    Row("einsum_diagonal", lambda x: _einsum_diagonal(x, "iij")[0], (U(3, 3, 2),)),
    # reductions
    Row("sum", lambda x: ad.sum(x, 1, keepdims=True), (U(2, 3),)),
    Row("prod", lambda x: ad.prod(x, 0), (P(3, 2),)),
    Row("max", lambda x: ad.amax(x, 1), (U(2, 4),)),
    Row("min", lambda x: ad.amin(x, 0, keepdim=True), (U(3, 2),)),
    Row("norm", lambda x: ad.norm(x, axis=1), (A(2, 3),)),
    Row("logsumexp", lambda x: ad.logsumexp(x, 1), (U(2, 3),)),
    Row("softmax", lambda x: ad.softmax(x, 0), (U(3, 2),)),
    Row("log_softmax", lambda x: ad.log_softmax(x, -1), (U(2, 3),)),
    Row("cumsum", lambda x: ad.cumsum(x, 1), (U(2, 3),)),
    Row("cumprod", lambda x: ad.cumprod(x, 1),   # zeros: the rule exact to second order
        (np.array([[2.0, 0.0, 3.0, 0.0], [0.5, -1.5, 1.0, 2.0]]),)),
    Row("logcumsumexp", lambda x: ad.logcumsumexp(x, 0), (U(4, 2),)),
    # convolution and pooling (the channel-major layout of im2col/col2im is in test_conv)
    Row("im2col", lambda x: F.unfold(x, (2, 3), padding=1, stride=(2, 1)), (U(2, 2, 3, 4),)),
    Row("col2im", lambda c: F.fold(c, (3, 4), 2, padding=(1, 0)), (U(2, 8, 12),)),
    Row("conv2d", lambda x, w: F.conv2d(x, w, stride=(1, 2), padding=1),
        (U(2, 2, 4, 5), U(3, 2, 2, 3, seed=1))),
    Row("conv2d_bias", lambda x, w, b: F.conv2d(x, w, b, padding=(0, 1), dilation=2, groups=2),
        (U(1, 4, 5, 5), U(2, 2, 2, 2, seed=1), U(2, seed=2))),
    # distinct values at least 0.1 apart: no tie moves under a finite-difference step
    Row("max_pool2d", lambda x: F.max_pool2d(x, 2, 1, padding=1),
        (_rng(3).permutation(24).reshape(1, 2, 3, 4) / 10.0,)),
    Row("max_pool2d_scatter", lambda g: ops_pool.pool_scatter(g, _POOL_IDX, (1, 2, 3, 3)),
        (U(1, 2, 2, 2),)),
    # dense layers
    Row("linear", lambda x, w, b: F.linear(x, w, b), (U(2, 3, 4), U(5, 4, seed=1), U(5, seed=2))),
    Row("dropout", lambda x: ops_linear.dropout(x, _MASK), (U(2, 3),)),
    Row("embedding", lambda w: F.embedding(ad.tensor(_IDS), w), (U(4, 3),)),
    Row("embedding_grad_scale", lambda x: ops_linear.embedding_grad_scale(x, _MASK), (U(2, 3),),
        grad_like=lambda x: x * ad.tensor(_MASK)),
    Row("batch_norm", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        (U(3, 2, 2), P(2, seed=1), U(2, seed=2))),
    # recurrent layers (each row reads one output; the others are checked by their own rows)
    Row("rnn_tanh_sequence", lambda xw, h0, w: FR.rnn_tanh_sequence(xw, h0, w)[0],
        (U(3, 2, 4), U(2, 4, seed=1), U(4, 4, seed=2))),
    Row("rnn_relu_sequence", lambda xw, h0, w: FR.rnn_relu_sequence(xw, h0, w)[1],
        (A(3, 2, 4), A(2, 4, seed=1), U(4, 4, low=-0.3, high=0.3, seed=2))),
    Row("lstm_sequence", lambda xw, h0, c0, w: FR.lstm_sequence(xw, h0, c0, w)[2],
        (U(3, 2, 8), U(2, 2, seed=1), U(2, 2, seed=2), U(8, 2, seed=3))),
    Row("gru_sequence", lambda xw, h0, w, b: FR.gru_sequence(xw, h0, w, b)[0],
        (U(3, 2, 6), U(2, 2, seed=1), U(6, 2, seed=2), U(6, seed=3))),
    Row("index_projection", lambda w, b: FR.index_projection(_IDS, w, b), (U(6, 4), U(6, seed=1))),
    # losses (label 2 of the last row ignored by ignore_index)
    Row("nll_loss", lambda x: F.nll_loss(x, ad.tensor([1, 0, 2]), ad.tensor([0.5, 1.0, 2.0])),
        (U(3, 3),)),
    Row("cross_entropy", lambda x: F.cross_entropy(x, ad.tensor([1, 0, 2]), ignore_index=2),
        (U(3, 4),)),
    Row("binary_cross_entropy", lambda x, t: F.binary_cross_entropy(x, t, reduction="none"),
        (U(2, 3, low=0.1, high=0.9),
                                                         U(2, 3, low=0.0, high=1.0, seed=1))),
    Row("binary_cross_entropy_with_logits",
        lambda x, t, p: F.binary_cross_entropy_with_logits(x, t, reduction="none", pos_weight=p),
        (U(2, 3, low=-2, high=2), U(2, 3, low=0.0, high=1.0, seed=1), P(3, seed=2))),
    Row("max_pool2d_gather", lambda x: ops_pool.pool_gather(x, _POOL_IDX, (1, 2, 3, 3)),
        (U(1, 2, 3, 3),)),
    # the PyTorch-port primitives (math, rounding, clamp, scatter_reduce, max_unpool2d)
    Row("exp2", ad.exp2, (U(4),)),
    Row("log2", ad.log2, (P(4),)),
    Row("log10", ad.log10, (P(4),)),
    Row("rsqrt", ad.rsqrt, (P(4),)),
    Row("reciprocal", ad.reciprocal, (P(4),)),
    Row("sinh", ad.sinh, (U(4),)),
    Row("cosh", ad.cosh, (U(4),)),
    Row("asin", ad.asin, (U(4, low=-0.8, high=0.8),)),
    Row("acos", ad.acos, (U(4, low=-0.8, high=0.8),)),
    Row("atan", ad.atan, (U(4),)),
    Row("asinh", ad.asinh, (U(4),)),
    Row("acosh", ad.acosh, (U(4, low=1.2, high=2.5),)),
    Row("atanh", ad.atanh, (U(4, low=-0.8, high=0.8),)),
    Row("sinc", ad.sinc, (A(4),)),
    Row("atan2", ad.atan2, (U(2, 3), A(3, seed=1))),
    Row("hypot", ad.hypot, (A(2, 3), A(3, seed=1))),
    Row("logaddexp", ad.logaddexp, (U(2, 3), U(3, seed=1))),
    Row("logaddexp2", ad.logaddexp2, (U(2, 3), U(3, seed=1))),
    Row("xlogy", ad.xlogy, (U(2, 3), P(3, seed=1))),
    Row("lerp", ad.lerp, (U(2, 3), U(3, seed=1), U(2, 3, seed=2))),
    Row("sign", ad.sign, (A(4),)),
    Row("floor", ad.floor, (U(4, low=0.1, high=0.9),)),
    Row("ceil", ad.ceil, (U(4, low=0.1, high=0.9),)),
    Row("trunc", ad.trunc, (U(4, low=0.1, high=0.9),)),
    Row("round", ad.round, (U(4, low=0.1, high=0.4),)),
    Row("copysign", ad.copysign, (A(2, 3), A(3, seed=1))),
    Row("div_rounding", lambda a, b: ad.div(a, b, rounding_mode="floor"),
        (U(2, 3, low=0.1, high=0.4), P(3, seed=1))),
    Row("remainder", ad.remainder, (A(2, 3), P(3, seed=1))),
    Row("fmod", ad.fmod, (A(2, 3), P(3, seed=1))),
    Row("nan_to_num", ad.nan_to_num, (U(4),)),
    Row("step", lambda x: step(np.sign, x), (A(4),)),
    Row("clamp", lambda x, lo, hi: ad.clamp(x, lo, hi),
        (np.array([-0.9, -0.2, 0.3, 0.8]), np.full(4, -0.5), np.full(4, 0.5))),
    Row("scatter_reduce", lambda x, s: ad.scatter_reduce(x, 0, ad.tensor([0, 2, 0]), s, "prod"),
        (P(4), P(3, seed=1))),
    Row("max_unpool2d", lambda x: ops_pool.max_unpool2d(x, np.array([[[[0, 3], [9, 14]]]]),
                                                         (1, 1, 4, 4)), (U(1, 1, 2, 2),)),
]


def _leaves(row: Row) -> list:
    device = "cuda" if row.gpu else None
    if row.gpu and not cupy_backend.is_available():
        pytest.skip("the row needs CuPy and a GPU")
    return [ad.tensor(a, dtype=np.float64, device=device, requires_grad=True)
            for a in row.inputs]


# ----------------------------------------------------------------------------- the tests
def test_every_registered_primitive_has_a_row():
    assert set(PRIMITIVES) - {r.prim for r in ROWS} == set(), "primitives without a row"
    assert {r.prim for r in ROWS} - set(PRIMITIVES) == set(), "rows for unknown primitives"


def test_registry_rows_are_well_formed():
    for name, prim in PRIMITIVES.items():
        assert isinstance(prim, Primitive) and prim.name == name
        assert len(prim.inputs) >= 1 and (not prim.variadic or len(prim.inputs) == 1)
        assert set(prim.saves) <= set(prim.inputs)
    with pytest.raises(ValueError, match="already registered"):
        ad.ops.primitive("add", lambda ctx, g: (g,), forward=abs, inputs="x",
                         infer=ad.ops.registry.SAME)
    with pytest.raises(ValueError, match="not one of its inputs"):
        ad.ops.primitive("__test_bad", lambda ctx, g: (g,), forward=abs, inputs="x",
                         saves="y", infer=ad.ops.registry.SAME)
    assert "__test_bad" not in PRIMITIVES


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_op_records_its_row(row):
    prim = PRIMITIVES[row.prim]
    xs = _leaves(row)
    out = row.fn(*xs)
    node = out.grad_fn
    assert node is not None and node.op is prim, \
        f"{row.prim}: the output was recorded by {node and node.name}"
    # inputs: the row's leaves, in order
    assert [e[0] for e in node.edges] == xs, "the primitive must be applied to the row's inputs"
    if not prim.variadic:
        assert len(node.edges) == len(prim.inputs)
    # forward on raw arrays and shape/dtype inference agree with what ran
    arrays = [x.array for x in xs]
    ran = prim.run(arrays, node.attrs)
    if prim.outputs > 1:           # the row's output is one of the primitive's outputs
        assert len(ran) == prim.outputs == len(node.out_meta)
        ran = ran[out._out_idx]
    np.testing.assert_array_equal(ad.tensor(ran).numpy(), out.numpy())
    assert prim.out_meta(node.in_meta, node.attrs) == tuple(node.out_meta)
    assert node.out_meta[out._out_idx] == (out.shape, out.dtype)
    # attributes: the named fields
    if prim.attrs:
        assert len(prim.attr_values(node.attrs)) == len(prim.attrs)
    else:
        assert node.attrs is None
    # saved values: the named inputs (the same tensors), then the output
    saved = node.saved_tensors
    pos = prim.saved_positions(len(xs))
    assert len(saved) == len(pos) + prim.save_output
    assert all(saved[k] is xs[p] for k, p in enumerate(pos))
    if prim.save_output:
        np.testing.assert_array_equal(saved[-1].numpy(), out.numpy())
    if prim.elementwise:
        assert out.shape == np.broadcast_shapes(*[x.shape for x in xs], out.shape)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_first_and_second_derivatives(row):
    xs = _leaves(row)
    if row.grad_like is not None:
        _check_declared_vjp(row, xs)
        return
    assert ad.gradcheck(row.fn, xs, **row.tol)
    assert ad.gradgradcheck(row.fn, xs, **row.tol)


def _check_declared_vjp(row: Row, xs: list) -> None:
    """The row's VJP equals its ``grad_like`` composite's for a random output gradient, and is
    differentiable again (second order by finite differences in that gradient)."""
    out = row.fn(*xs)
    g = ad.tensor(U(*out.shape, seed=7), requires_grad=True)
    got = ad.grad(out, xs, g, create_graph=True)
    want = ad.grad(row.grad_like(*xs), xs, g)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    assert ad.gradcheck(lambda gg: ad.grad(row.fn(*xs), xs, gg, create_graph=True)[0], [g])


# ----------------------------------------------------------------------------- representative run
class _Cube(ad.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2


def _mlp_step():
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = ad.randn(4, 6), ad.tensor([0, 2, 1, 2])
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def _cnn_step():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(8, 3))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss = F.cross_entropy(model(ad.randn(2, 1, 4, 4)), ad.tensor([1, 0]))
    opt.zero_grad()
    loss.backward()
    opt.step()


def _lstm_step():
    emb, lstm, head = nn.Embedding(7, 3), nn.LSTM(3, 4), nn.Linear(4, 2)
    params = list(emb.parameters()) + list(lstm.parameters()) + list(head.parameters())
    out, _ = lstm(emb(ad.tensor([[1, 2], [3, 4], [5, 6]])))
    loss = F.mse_loss(head(out), ad.zeros(3, 2, 2))
    loss.backward()
    optim.SGD(params, lr=0.1).step()


def _function_step():
    x = ad.randn(3, requires_grad=True)
    ad.grad(_Cube.apply(x).sum(), x, create_graph=True)[0].sum().backward()


def _hvp_step():
    """H v of f(x) = sum(x^4)/4 + (sum x)^2 by both HVP entry points, against the closed form
    H = diag(3 x^2) + 2 (all ones)."""
    x0, v = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, -0.5])
    expected = 3 * x0 ** 2 * v + 2 * v.sum()

    def f(x):
        return (x ** 4).sum() / 4 + x.sum() ** 2

    _, hv = functional.hvp(f, ad.tensor(x0), ad.tensor(v))
    np.testing.assert_allclose(hv.numpy(), expected, rtol=1e-12)
    p = ad.tensor(x0, requires_grad=True)
    hv2 = hessian.hvp(lambda: f(p), [p], [ad.tensor(v)])
    np.testing.assert_allclose(hv2[0].numpy(), expected, rtol=1e-12)


RUNS = {"mlp": _mlp_step, "cnn": _cnn_step, "lstm": _lstm_step, "function": _function_step,
        "hvp": _hvp_step}


def _release_keeping_attrs(node, release=ad.tape.Node.release) -> None:
    attrs = node.attrs
    release(node)
    node.attrs = attrs


@pytest.mark.parametrize("run", sorted(RUNS))
def test_recorded_nodes_are_registered_primitives(run, monkeypatch):
    # backward releases a node's saved values and attrs: keep the attrs, checked below
    monkeypatch.setattr(ad.tape.Node, "release", _release_keeping_attrs)
    with ad.Tape() as tape:
        RUNS[run]()
    assert tape.nodes
    for node in tape.nodes:
        if isinstance(node.attrs, FunctionCtx):           # a custom Function's node
            assert node.name.endswith("Backward")
            continue
        prim = PRIMITIVES.get(node.name)
        assert prim is not None, f"{run}: {node.name} is recorded but not registered"
        assert node.op is prim, f"{run}: {node.name} recorded with another rule"
        # the registry's shape/dtype inference holds on real workloads too
        assert prim.out_meta(node.in_meta, node.attrs) == tuple(node.out_meta), node.name
