"""Losses: values and gradients against NumPy closed forms / gradcheck (float64) and PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.nn import functional as F


def _log_softmax(x, axis=1):
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


def _t(a, grad=False):
    return ad.tensor(a, requires_grad=grad)


# ------------------------------------------------------------------------------------ regression
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses_closed_form(reduction):
    x, y = np.random.randn(4, 3), np.random.randn(4, 3)
    y[0, 0] = x[0, 0] + 0.3  # inside the smooth-l1 quadratic zone
    red = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    d = x - y
    cases = [
        (F.mse_loss(_t(x), _t(y), reduction), red(d ** 2)),
        (F.l1_loss(_t(x), _t(y), reduction), red(np.abs(d))),
        (F.smooth_l1_loss(_t(x), _t(y), reduction, beta=0.5),
         red(np.where(np.abs(d) < 0.5, 0.5 * d ** 2 / 0.5, np.abs(d) - 0.25))),
    ]
    for got, ref in cases:
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12)
    for fn in (F.mse_loss, F.l1_loss, F.smooth_l1_loss):
        assert ad.gradcheck(lambda a, b: fn(a, b, reduction), (_t(x, True), _t(y, True)))


def test_regression_shape_mismatch_error():
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(4, 3\) and target shape "
                                         r"\(4, 1\)"):
        F.mse_loss(ad.randn(4, 3), ad.randn(4, 1))
    with pytest.raises(ValueError, match="reduction"):
        F.l1_loss(ad.randn(2), ad.randn(2), reduction="avg")


def test_l1_gradient_zero_at_equality():
    x = _t([1.0, 2.0], True)
    F.l1_loss(x, _t([1.0, 0.0]), reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0])


# ------------------------------------------------------------------------------------ CE / NLL
def test_cross_entropy_labels_closed_form_and_grad():
    x = np.random.randn(5, 4)
    t = np.array([0, 3, 1, 1, 2])
    lp = _log_softmax(x)
    xa = _t(x, True)
    loss = F.cross_entropy(xa, _t(t))
    np.testing.assert_allclose(loss.item(), -lp[np.arange(5), t].mean(), rtol=1e-12)
    loss.backward()
    p = np.exp(lp)
    p[np.arange(5), t] -= 1
    np.testing.assert_allclose(xa.grad.numpy(), p / 5, rtol=1e-10, atol=1e-14)
    w = np.array([1.0, 2.0, 0.5, 3.0])
    wl = F.cross_entropy(_t(x), _t(t), weight=_t(w))
    ref = -(w[t] * lp[np.arange(5), t]).sum() / w[t].sum()  # PyTorch's weighted mean
    np.testing.assert_allclose(wl.item(), ref, rtol=1e-12)
    assert ad.gradcheck(lambda a: F.cross_entropy(a, _t(t), weight=_t(w)), (_t(x, True),))
    assert ad.gradgradcheck(lambda a: F.cross_entropy(a, _t(t)), (_t(x, True),))


def test_cross_entropy_ignore_index_and_prob_targets():
    x = np.random.randn(4, 3)
    t = np.array([0, -100, 2, 1])
    lp = _log_softmax(x)
    keep = t != -100
    ref = -lp[np.arange(4)[keep], t[keep]].mean()
    np.testing.assert_allclose(F.cross_entropy(_t(x), _t(t)).item(), ref, rtol=1e-12)
    probs = np.random.rand(4, 3)
    probs /= probs.sum(1, keepdims=True)
    got = F.cross_entropy(_t(x), _t(probs))
    np.testing.assert_allclose(got.item(), -(probs * lp).sum(1).mean(), rtol=1e-12)
    assert ad.gradcheck(lambda a, p: F.cross_entropy(a, p), (_t(x, True), _t(probs, True)))


def test_cross_entropy_spatial_and_errors():
    x = np.random.randn(2, 3, 4, 5)
    t = np.random.randint(0, 3, (2, 4, 5))
    lp = _log_softmax(x, 1)
    ref = -np.take_along_axis(lp, t[:, None], 1).mean()
    np.testing.assert_allclose(F.cross_entropy(_t(x), _t(t)).item(), ref, rtol=1e-12)
    assert ad.gradcheck(lambda a: F.cross_entropy(a, _t(t), reduction="sum"), (_t(x, True),))
    with pytest.raises(ValueError, match=r"target label 3 is out of range for 3 classes"):
        F.cross_entropy(ad.randn(2, 3), ad.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"cross_entropy.*\(2, 3\).*target shape \(3,\)"):
        F.cross_entropy(ad.randn(2, 3), ad.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="nll_loss.*out of range"):
        F.nll_loss(ad.randn(2, 3), ad.tensor([-1, 0]))


def test_nll_loss_reductions():
    lp = _log_softmax(np.random.randn(6, 4))
    t = np.array([0, 1, 2, 3, 0, 1])
    picked = -lp[np.arange(6), t]
    np.testing.assert_allclose(F.nll_loss(_t(lp), _t(t), reduction="none").numpy(), picked)
    np.testing.assert_allclose(F.nll_loss(_t(lp), _t(t), reduction="sum").item(), picked.sum())
    assert ad.gradcheck(lambda a: F.nll_loss(a, _t(t), reduction="none"), (_t(lp, True),))


@pytest.mark.parametrize("kw", [{}, {"weight": [0.2, 1.0, 3.0, 0.7]}, {"ignore_index": 2},
                                {"label_smoothing": 0.1},
                                {"label_smoothing": 0.2, "weight": [0.2, 1.0, 3.0, 0.7]},
                                {"reduction": "none"}, {"reduction": "sum", "ignore_index": 0}])
def test_cross_entropy_matches_torch(torch, kw):
    x = np.random.randn(7, 4)
    t = np.random.randint(0, 4, 7)
    tk = dict(kw)
    if "weight" in tk:
        tk["weight"] = torch.tensor(kw["weight"], dtype=torch.float64)
    o, (g,) = _grads_of(lambda a: F.cross_entropy(a, _t(t), **kw), x)
    xt = torch.tensor(x, requires_grad=True)
    ot = torch.nn.functional.cross_entropy(xt, torch.tensor(t), **tk)
    ot.backward(torch.ones_like(ot))
    np.testing.assert_allclose(o, ot.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-9, atol=1e-14)
    # module form
    mk = dict(kw)
    if "weight" in mk:
        mk["weight"] = ad.tensor(np.array(kw["weight"]))  # float64 like the input
    m = nn.CrossEntropyLoss(**mk)
    np.testing.assert_allclose(m(_t(x), _t(t)).numpy(), ot.detach().numpy(), rtol=1e-10)


def test_cross_entropy_prob_targets_match_torch(torch):
    x = np.random.randn(3, 5, 2)
    p = np.random.rand(3, 5, 2)
    p /= p.sum(1, keepdims=True)
    w = np.random.rand(5)
    for kw in ({}, {"label_smoothing": 0.3}):
        ours = F.cross_entropy(_t(x), _t(p), weight=_t(w), **kw)
        theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(p),
                                                   weight=torch.tensor(w), **kw)
        np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)


def _grads_of(fn, x):
    xa = _t(x, True)
    out = fn(xa)
    out.backward(ad.ones_like(out))
    return out.numpy(), [xa.grad.numpy()]


# ------------------------------------------------------------------------------------ binary
def test_bce_with_logits_exact_at_zero_and_large_logits():
    x = _t(np.array([0.0, 0.0, 100.0, -100.0, 100.0, -100.0]), True)
    y = _t(np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0]))
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [np.log(2), np.log(2), np.log1p(np.exp(-100)),
                                              np.log1p(np.exp(-100)), 100.0, 100.0],
                               rtol=1e-15)
    assert np.isfinite(loss.numpy()).all()
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-0.5, 0.5, 0.0, 0.0, 1.0, -1.0], atol=1e-15)
    # float32 logits keep their dtype and stay finite
    l32 = F.binary_cross_entropy_with_logits(ad.tensor([100.0, -100.0]), ad.tensor([0.0, 0.0]))
    assert l32.dtype == np.float32 and np.isclose(l32.item(), 50.0)


def test_bce_with_logits_closed_form_grad_and_pos_weight():
    x, y = np.random.randn(5, 2) * 3, np.random.rand(5, 2)
    pw = np.array([2.0, 0.5])
    sp = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)  # softplus(-x)
    ref = ((1 - y) * x + (1 + (pw - 1) * y) * sp).mean()
    got = F.binary_cross_entropy_with_logits(_t(x), _t(y), pos_weight=_t(pw))
    np.testing.assert_allclose(got.item(), ref, rtol=1e-12)
    for kw in ({}, {"weight": _t(np.random.rand(5, 1))}):
        assert ad.gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, **kw),
                            (_t(x, True), _t(y, True)))
    assert ad.gradcheck(lambda a, b, p: F.binary_cross_entropy_with_logits(a, b, pos_weight=p),
                        (_t(x, True), _t(y, True), _t(pw, True)))
    assert ad.gradgradcheck(lambda a: F.binary_cross_entropy_with_logits(a, _t(y)),
                            (_t(x, True),))


def test_bce_probabilities():
    p, y = np.random.rand(6) * 0.9 + 0.05, np.random.rand(6)
    w = np.random.rand(6)
    ref = (-w * (y * np.log(p) + (1 - y) * np.log(1 - p))).mean()
    np.testing.assert_allclose(F.binary_cross_entropy(_t(p), _t(y), weight=_t(w)).item(), ref,
                               rtol=1e-12)
    assert ad.gradcheck(lambda a, b: F.binary_cross_entropy(a, b), (_t(p, True), _t(y, True)))
    edge = F.binary_cross_entropy(_t([0.0, 1.0]), _t([1.0, 0.0]), reduction="none")
    np.testing.assert_array_equal(edge.numpy(), [100.0, 100.0])  # logs clamped at -100
    with pytest.raises(ValueError, match="probabilities"):
        F.binary_cross_entropy(_t([1.5]), _t([1.0]))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_binary_losses_match_torch(torch, reduction):
    x, y = np.random.randn(4, 3) * 4, (np.random.rand(4, 3) > 0.5).astype(float)
    w, pw = np.random.rand(4, 3), np.random.rand(3) * 3
    o, (g,) = _grads_of(lambda a: F.binary_cross_entropy_with_logits(
        a, _t(y), _t(w), reduction, pos_weight=_t(pw)), x)
    xt = torch.tensor(x, requires_grad=True)
    ot = torch.nn.functional.binary_cross_entropy_with_logits(
        xt, torch.tensor(y), torch.tensor(w), reduction=reduction, pos_weight=torch.tensor(pw))
    ot.backward(torch.ones_like(ot))
    np.testing.assert_allclose(o, ot.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-10)
    p = 1 / (1 + np.exp(-x))
    o, (g,) = _grads_of(lambda a: F.binary_cross_entropy(a, _t(y), _t(w), reduction), p)
    pt = torch.tensor(p, requires_grad=True)
    ot = torch.nn.functional.binary_cross_entropy(pt, torch.tensor(y), torch.tensor(w),
                                                  reduction=reduction)
    ot.backward(torch.ones_like(ot))
    np.testing.assert_allclose(o, ot.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(g, pt.grad.numpy(), rtol=1e-9)


# ------------------------------------------------------------------------------------ margins
def test_hinge_loss_and_documents_score_vectors():
    s, y = np.array([0.5, -2.0, 3.0, 0.2]), np.array([1.0, -1.0, -1.0, -1.0])
    ref = np.maximum(0, 1 - y * s).mean()
    np.testing.assert_allclose(F.hinge_loss(_t(s), _t(y)).item(), ref)
    np.testing.assert_allclose(nn.HingeLoss(margin=2.0, reduction="sum")(_t(s), _t(y)).item(),
                               np.maximum(0, 2 - y * s).sum())
    with pytest.raises(ValueError, match="-1 or \\+1"):
        F.hinge_loss(_t(s), _t([1.0, 0.0, 1.0, 1.0]))
    # multi-class hinge on the documents' score vectors: [10, 8, 8] has a margin violation of 0
    # (correct class 0 wins by 2 > 1); [10, -10, -10] too -- both give zero hinge loss
    for scores in ([10.0, 8.0, 8.0], [10.0, -10.0, -10.0]):
        assert F.multi_margin_loss(_t([scores]), _t([0])).item() == 0.0
    np.testing.assert_allclose(F.multi_margin_loss(_t([[8.0, 10.0, 8.0]]), _t([0])).item(),
                               (3.0 + 1.0) / 3)


def test_multi_margin_closed_form_and_grad():
    x = np.random.randn(5, 4)
    t = np.random.randint(0, 4, 5)
    w = np.random.rand(4)
    m = np.maximum(0, 1 - x[np.arange(5), t][:, None] + x)
    m[np.arange(5), t] = 0
    for p in (1, 2):
        ref = (w[t] * (m ** p).sum(1) / 4).mean()
        got = F.multi_margin_loss(_t(x), _t(t), p=p, weight=_t(w))
        np.testing.assert_allclose(got.item(), ref, rtol=1e-12)
    assert ad.gradcheck(lambda a: F.multi_margin_loss(a, _t(t), weight=_t(w)), (_t(x, True),))


def test_margin_losses_match_torch(torch):
    x = np.random.randn(6, 5)
    t = np.random.randint(0, 5, 6)
    w = np.random.rand(5)
    for kw in ({}, {"p": 2, "margin": 0.5}, {"weight": w}):
        tk = dict(kw)
        if "weight" in kw:
            tk["weight"] = torch.tensor(w)
            kw = dict(kw, weight=_t(w))
        o, (g,) = _grads_of(lambda a: F.multi_margin_loss(a, _t(t), **kw), x)
        xt = torch.tensor(x, requires_grad=True)
        ot = torch.nn.functional.multi_margin_loss(xt, torch.tensor(t), **tk)
        ot.backward()
        np.testing.assert_allclose(o, ot.item(), rtol=1e-12)
        np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-10, atol=1e-15)
    y = np.where(np.random.rand(6, 5) > 0.5, 1.0, -1.0)
    np.testing.assert_allclose(
        F.hinge_embedding_loss(_t(x), _t(y)).item(),
        torch.nn.functional.hinge_embedding_loss(torch.tensor(x), torch.tensor(y)).item(),
        rtol=1e-12)


# ------------------------------------------------------------------------------------ KL
def test_kl_div_closed_form_and_grad():
    lp = _log_softmax(np.random.randn(3, 4))
    q = np.random.rand(3, 4)
    q[0, 1] = 0.0
    q /= q.sum(1, keepdims=True)
    terms = np.where(q > 0, q * (np.log(np.where(q > 0, q, 1)) - lp), 0.0)
    np.testing.assert_allclose(F.kl_div(_t(lp), _t(q), reduction="batchmean").item(),
                               terms.sum() / 3, rtol=1e-12)
    np.testing.assert_allclose(F.kl_div(_t(lp), _t(q)).item(), terms.mean(), rtol=1e-12)
    np.testing.assert_allclose(F.kl_div(_t(lp), _t(np.log(q + 1e-300)), reduction="sum",
                                        log_target=True).item(), terms.sum(), rtol=1e-10)
    assert ad.gradcheck(lambda a: F.kl_div(a, _t(q), reduction="batchmean"), (_t(lp, True),))


@pytest.mark.filterwarnings("ignore:reduction")
def test_kl_div_matches_torch(torch):
    lp = _log_softmax(np.random.randn(3, 4))
    q = np.random.rand(3, 4)
    q /= q.sum(1, keepdims=True)
    for red in ("batchmean", "mean", "sum", "none"):
        ot = torch.nn.functional.kl_div(torch.tensor(lp), torch.tensor(q), reduction=red)
        np.testing.assert_allclose(nn.KLDivLoss(red)(_t(lp), _t(q)).numpy(), ot.numpy(),
                                   rtol=1e-12)


def test_loss_modules_wrap_functional():
    x, y = ad.randn(4, 3), ad.randn(4, 3)
    assert nn.MSELoss()(x, y).item() == F.mse_loss(x, y).item()
    assert nn.L1Loss(reduction="sum")(x, y).item() == F.l1_loss(x, y, "sum").item()
    assert nn.SmoothL1Loss(beta=0.5)(x, y).item() == F.smooth_l1_loss(x, y, beta=0.5).item()
    lp = F.log_softmax(x, 1)
    t = ad.tensor([0, 2, 1, 1])
    assert nn.NLLLoss()(lp, t).item() == F.nll_loss(lp, t).item()
    m = nn.BCEWithLogitsLoss(pos_weight=[2.0, 1.0, 1.0])
    assert "pos_weight" in m.state_dict()
    assert np.isfinite(m(x, ad.rand(4, 3)).item())
    assert nn.BCELoss()(x.sigmoid(), ad.rand(4, 3)).item() > 0
    assert nn.MultiMarginLoss()(x, t).item() >= 0
