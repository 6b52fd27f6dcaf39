"""Arguments of ``autodiff.nn`` that used to be accepted and ignored, each shown to act:
``inplace`` of the activations and dropout (functional and modules), and ``max_norm``,
``norm_type``, ``scale_grad_by_freq``, ``sparse``, ``padding_idx`` of embedding. Values and
gradients against NumPy formulas and finite differences; PyTorch as a second oracle."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
import autodiff.nn.functional as F
from autodiff import nn

X = np.array([[-1.5, 0.0, 2.0], [0.7, -0.2, 3.1]])
G = np.array([[1.0, -2.0, 0.5], [3.0, 1.5, -1.0]])


def t64(a, requires_grad=False) -> ad.Tensor:
    return ad.tensor(a, dtype=ad.float64, requires_grad=requires_grad)


# NumPy references: (value, derivative) of each activation
REF = {
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float)),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.1 * x), lambda x: np.where(x > 0, 1.0, 0.1)),
    "elu": (lambda x: np.where(x > 0, x, 0.7 * np.expm1(x)),
            lambda x: np.where(x > 0, 1.0, 0.7 * np.exp(x))),
}
CALL = {
    "relu": lambda x, inplace: F.relu(x, inplace=inplace),
    "leaky_relu": lambda x, inplace: F.leaky_relu(x, 0.1, inplace=inplace),
    "elu": lambda x, inplace: F.elu(x, 0.7, inplace=inplace),
}
MODULE = {"relu": lambda: nn.ReLU(inplace=True), "leaky_relu": lambda: nn.LeakyReLU(0.1, True),
          "elu": lambda: nn.ELU(0.7, inplace=True)}


# ----------------------------------------------------------------------------- inplace
@pytest.mark.parametrize("name", list(REF))
def test_inplace_activation_overwrites_and_rebases(name):
    a = t64(X, True)
    h = a * 1.0
    alias = h.detach()  # shares h's data: sees the in-place write
    v0 = h._version.v
    out = CALL[name](h, True)
    value, slope = REF[name]
    assert out is h and h._version.v == v0 + 1
    assert h.grad_fn is not None and h.grad_fn.name != "mul"
    np.testing.assert_allclose(h.numpy(), value(X), rtol=1e-15)
    np.testing.assert_allclose(alias.numpy(), value(X), rtol=1e-15)
    (h * t64(G)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), G * slope(X), rtol=1e-14)
    b = t64(X, True)  # the same gradient out of place
    (CALL[name](b * 1.0, False) * t64(G)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


@pytest.mark.parametrize("name", list(REF))
def test_inplace_activation_module_and_double_backward(name):
    m = MODULE[name]()
    assert "inplace=True" in repr(m)
    a = t64(X, True)
    h = a * 1.0
    assert m(h) is h
    np.testing.assert_allclose(h.numpy(), REF[name][0](X), rtol=1e-15)
    x0 = t64([[-1.5, 0.3, 2.0], [0.7, -0.2, 3.1]], True)  # away from the kink at 0
    assert ad.gradcheck(lambda t: CALL[name](t * 1.0, True), (x0,))
    if name == "elu":
        assert ad.gradgradcheck(lambda t: CALL[name](t * 1.0, True), (x0,))


@pytest.mark.parametrize("name", list(REF))
def test_inplace_errors_and_version_checks(name):
    a = t64(X, True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        CALL[name](a, True)
    np.testing.assert_array_equal(a.numpy(), X)  # refused before writing
    h = a * 1.0
    z = h * h  # saves h for its backward
    CALL[name](h, True)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.sum().backward()
    with ad.no_grad():  # a leaf may be modified in place under no_grad
        assert CALL[name](a, True) is a
    np.testing.assert_allclose(a.numpy(), REF[name][0](X))
    c = t64(X)  # nothing requires grad: in place on the data, no graph
    assert CALL[name](c, True) is c and c.grad_fn is None and c._version.v == 1


def test_inplace_backward_uses_the_values_before_the_write():
    """leaky_relu's rule reads its input; with a negative slope the overwritten values have
    the other sign, so only the values from before the write give the right gradient
    (PyTorch refuses this backward; here it is exact)."""
    a = t64(X, True)
    h = a * 1.0
    F.leaky_relu(h, -0.5, inplace=True)
    np.testing.assert_allclose(h.numpy(), np.where(X > 0, X, -0.5 * X))
    (h * t64(G)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), G * np.where(X > 0, 1.0, -0.5))


def test_relu_inplace_result_modified_again_is_detected():
    """relu keeps its output for backward: writing that output in place again (as PyTorch)
    makes the backward refuse instead of using stale values."""
    a = t64(X, True)
    h = F.relu(a * 1.0, inplace=True)
    with ad.no_grad():
        h.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        h.sum().backward()


@pytest.mark.parametrize("p", [0.5, 1.0])
def test_dropout_inplace(p):
    m = nn.Dropout(p, inplace=True)
    assert repr(m) == f"Dropout(p={p}, inplace=True)"
    base = np.arange(1.0, 41.0).reshape(4, 10)
    a = t64(base, True)
    h = a * 1.0
    out = m(h)
    assert out is h and h._version.v == 1
    y = h.numpy()
    kept = y != 0
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    np.testing.assert_allclose(y[kept], base[kept] * scale)  # survivors scaled by 1/(1-p)
    if p == 0.5:
        assert 0 < kept.sum() < base.size
    h.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), kept * scale)  # gradient follows the mask
    a2 = t64(base)
    f = F.dropout(a2, p, True, inplace=True)
    assert f is a2 and a2._version.v == 1
    m.eval()  # eval and p = 0: the input untouched, version unchanged
    e = t64(base)
    assert m(e) is e and e._version.v == 0
    assert F.dropout(e, 0.0, True, inplace=True) is e and e._version.v == 0
    np.testing.assert_array_equal(e.numpy(), base)


def test_inplace_matches_pytorch(torch):
    for name, tcall in (("relu", lambda t: torch.nn.functional.relu(t, inplace=True)),
                        ("leaky_relu", lambda t: torch.nn.functional.leaky_relu(t, 0.1, True)),
                        ("elu", lambda t: torch.nn.functional.elu(t, 0.7, True))):
        ta = torch.tensor(X, requires_grad=True)
        th = ta * 1.0
        tv = th._version
        assert tcall(th) is th
        (th * torch.tensor(G)).sum().backward()
        a = t64(X, True)
        h = a * 1.0
        CALL[name](h, True)
        (h * t64(G)).sum().backward()
        np.testing.assert_allclose(h.numpy(), th.detach().numpy(), rtol=1e-15)
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-15)
        assert h._version.v == th._version - tv


# ----------------------------------------------------------------------------- embedding
W = np.array([[0.3, -0.4, 1.2], [2.0, 1.0, -2.0], [0.1, 0.1, 0.1],
              [-3.0, 0.5, 0.0], [0.6, 0.8, 0.0], [1.0, -1.0, 1.0]])
IDX = np.array([[1, 3, 1], [0, 3, 5]])
GOUT = np.random.default_rng(0).standard_normal(IDX.shape + (3,))


def renorm_ref(w, idx, max_norm, p):
    """PyTorch's embedding_renorm_: looked-up rows of p-norm > max_norm scaled to max_norm."""
    w = w.copy()
    for r in np.unique(idx):
        n = np.linalg.norm(w[r], ord=p)
        if n > max_norm:
            w[r] *= max_norm / (n + 1e-7)
    return w


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, np.inf])
def test_embedding_max_norm_renormalises_the_looked_up_rows(p):
    w = t64(W, True)
    out = F.embedding(ad.tensor(IDX), w, max_norm=1.5, norm_type=p)
    want_w = renorm_ref(W, IDX, 1.5, p)
    np.testing.assert_allclose(w.numpy(), want_w, rtol=1e-15)  # modified in place
    np.testing.assert_array_equal(w.numpy()[[2, 4]], W[[2, 4]])  # rows not looked up: kept
    assert w._version.v == 1 and w.grad_fn is None
    np.testing.assert_allclose(out.numpy(), want_w[IDX], rtol=1e-15)
    norms = np.linalg.norm(out.numpy(), ord=p, axis=-1)
    assert norms.max() <= 1.5 + 1e-9
    out.backward(t64(GOUT))
    want_g = np.zeros_like(W)
    np.add.at(want_g, IDX, GOUT)
    np.testing.assert_allclose(w.grad.numpy(), want_g, rtol=1e-15)


def test_embedding_scale_grad_by_freq_and_padding():
    w = t64(W, True)
    out = F.embedding(ad.tensor(IDX), w, padding_idx=-3, scale_grad_by_freq=True)
    np.testing.assert_array_equal(out.numpy(), W[IDX])
    out.backward(t64(GOUT))
    counts = np.bincount(IDX.ravel(), minlength=6)
    want = np.zeros_like(W)
    np.add.at(want, IDX, GOUT / counts[IDX][..., None])
    want[3] = 0  # padding_idx -3 is row 3: no gradient
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-15)
    # the scaled gradient is a heuristic, not the derivative: the value is unchanged
    np.testing.assert_array_equal(
        F.embedding(IDX, t64(W), scale_grad_by_freq=True).numpy(), W[IDX])


def test_embedding_refusals():
    w = t64(W, True)
    with pytest.raises(NotImplementedError, match="sparse=True"):
        F.embedding(IDX, w, sparse=True)
    with pytest.raises(NotImplementedError, match="sparse=True"):
        nn.Embedding(6, 3, sparse=True)
    with pytest.raises(ValueError, match="padding_idx 6 must be within num_embeddings 6"):
        F.embedding(IDX, w, padding_idx=6)


def test_embedding_module_arguments():
    m = nn.Embedding(6, 3, padding_idx=2, max_norm=1.5, norm_type=1.0, scale_grad_by_freq=True,
                     _weight=W, dtype=ad.float64)
    assert repr(m) == ("Embedding(6, 3, padding_idx=2, max_norm=1.5, norm_type=1.0, "
                       "scale_grad_by_freq=True)")
    out = m(ad.tensor(IDX))
    want_w = renorm_ref(W, IDX, 1.5, 1.0)
    np.testing.assert_allclose(m.weight.numpy(), want_w, rtol=1e-15)
    np.testing.assert_allclose(out.numpy(), want_w[IDX], rtol=1e-15)
    out.backward(t64(GOUT))
    counts = np.bincount(IDX.ravel(), minlength=6)
    want = np.zeros_like(W)
    np.add.at(want, IDX, GOUT / counts[IDX][..., None])
    np.testing.assert_allclose(m.weight.grad.numpy(), want, rtol=1e-15)
    frozen = nn.Embedding.from_pretrained(W, max_norm=1.0)
    assert not frozen.weight.requires_grad and "max_norm=1.0" in repr(frozen)
    frozen(ad.tensor([1, 4]))
    np.testing.assert_allclose(frozen.weight.numpy()[1], W[1] / (3.0 + 1e-7), rtol=1e-15)
    np.testing.assert_array_equal(frozen.weight.numpy()[4], W[4])  # norm 1: not above max_norm
    assert nn.Embedding(6, 3, _weight=W, _freeze=True).weight.requires_grad is False


def test_embedding_matches_pytorch(torch):
    for p in (2.0, 1.0, np.inf):
        tw = torch.tensor(W, requires_grad=True)
        to = torch.nn.functional.embedding(torch.tensor(IDX), tw, padding_idx=3, max_norm=1.5,
                                           norm_type=p, scale_grad_by_freq=True)
        to.backward(torch.tensor(GOUT))
        w = t64(W, True)
        out = F.embedding(ad.tensor(IDX), w, padding_idx=3, max_norm=1.5, norm_type=p,
                          scale_grad_by_freq=True)
        out.backward(t64(GOUT))
        np.testing.assert_allclose(out.numpy(), to.detach().numpy(), rtol=1e-15)
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-15)
        np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-15)
