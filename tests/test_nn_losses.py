"""Losses: every ``nn.functional`` loss and its ``nn`` module against the NumPy formulas of
PyTorch's documentation (``ref_losses``) on hand-made inputs, with each argument that changes
the value exercised through both forms; gradients against float64 finite differences; PyTorch
as a second oracle where installed."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import ref_losses as R

import autodiff as ad

# every test on each backend (the cupy run skips without a GPU)
pytestmark = pytest.mark.usefixtures("backend")
from autodiff import nn
from autodiff.nn import functional as F
from autodiff.nn import losses


def _t(a, grad=False):
    return ad.tensor(a, requires_grad=grad)


# ------------------------------------------------------------------------------------ inputs
# regression: differences d = x - y on both sides of every beta / delta used below, none at a
# kink (|d| = beta, delta or 0)
_D = np.array([[-2.5, -1.2, -0.7, -0.3], [0.1, 0.4, 0.8, 1.3], [1.7, 2.2, -0.05, 3.1]])
_REG_X = np.array([[0.3, -1.1, 2.0, 0.5], [-0.4, 1.5, 0.9, -2.2], [1.0, 0.0, -0.6, 0.25]])
# classification: 5 samples, 4 classes; labels with two repeats, the same with two ignored
_CE_X = np.array([[1.2, -0.3, 0.5, 2.0], [0.1, 0.4, -1.5, 0.7], [-0.8, 2.2, 0.3, 0.0],
                  [0.6, 0.6, -0.2, -1.0], [1.5, -2.0, 0.9, 0.3]])
_CE_T = np.array([0, 3, 1, 1, 2])
_CE_P = np.array([[0.7, 0.1, 0.1, 0.1], [0.0, 0.2, 0.3, 0.5], [0.25, 0.25, 0.25, 0.25],
                  [0.1, 0.6, 0.3, 0.0], [0.05, 0.05, 0.8, 0.1]])
W4 = np.array([0.2, 1.0, 3.0, 0.7])
# spatial: (N, C, d) = (2, 3, 2)
_CE_XS = np.array([[[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8]], [[2.0, 0.1], [-1.2, 0.4], [0.6, -0.5]]])
_CE_PS = np.array([[[0.2, 0.5], [0.3, 0.1], [0.5, 0.4]], [[0.0, 0.6], [0.9, 0.3], [0.1, 0.1]]])
W3 = np.array([0.5, 2.0, 1.3])
# binary: probabilities / logits (4, 3), soft targets, per-element and per-class weights
_BCE_P = np.array([[0.1, 0.85, 0.5], [0.3, 0.05, 0.7], [0.95, 0.2, 0.6], [0.45, 0.65, 0.15]])
_BCE_X = np.array([[-2.0, 0.5, 3.1], [1.2, -0.7, 0.0], [4.0, -3.5, 0.9], [-0.2, 2.4, -1.6]])
_BCE_Y = np.array([[0.0, 1.0, 0.3], [1.0, 0.0, 0.8], [1.0, 0.5, 0.0], [0.2, 1.0, 0.0]])
W43 = np.array([[0.5, 2.0, 1.0], [1.5, 0.3, 0.8], [1.0, 1.0, 2.5], [0.7, 1.2, 0.4]])
POS_W = np.array([3.0, 0.5, 1.7])  # one per class (last dim), broadcast over the batch
# +-1 labels; scores on both sides of each margin used, none at a kink
_HE_X = np.array([[0.3, 1.7, -0.4, 0.9], [2.5, 0.6, 1.2, -1.1], [0.05, 1.4, 0.8, 2.1]])
_HE_Y = np.array([[1.0, -1.0, -1.0, 1.0], [-1.0, -1.0, 1.0, -1.0], [-1.0, 1.0, -1.0, -1.0]])
# KL: log-probabilities, probabilities with a zero, log-probabilities as targets
_KL_IN = R.log_softmax(np.array([[0.2, -1.0, 0.5, 1.1], [1.4, 0.3, -0.6, 0.0],
                                 [-0.2, 0.9, 0.4, -1.3]]), 1)
_KL_T = np.array([[0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]])
_KL_LT = np.log([[0.1, 0.2, 0.3, 0.4], [0.05, 0.45, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]])

INPUTS = {
    "reg": (_REG_X, _REG_X - _D),
    "labels": (_CE_X, _CE_T),
    "labels_ignored": (_CE_X, np.array([0, -100, 1, -100, 2])),
    "probs": (_CE_X, _CE_P),
    "spatial_labels": (_CE_XS, np.array([[0, 2], [1, 1]])),
    "spatial_probs": (_CE_XS, _CE_PS),
    "one_sample": (_CE_X[1], np.array(3)),
    "logp": (R.log_softmax(_CE_X, 1), _CE_T),
    "logp_spatial": (R.log_softmax(_CE_XS, 1), np.array([[0, 2], [1, 1]])),
    "bce": (_BCE_P, _BCE_Y),
    "logits": (_BCE_X, _BCE_Y),
    "pm1": (_HE_X, _HE_Y),
    "kl": (_KL_IN, _KL_T),
    "kl_log": (_KL_IN, _KL_LT),
}


@dataclass
class Case:
    """One call: ``F.<loss>(input, target, **kw)`` and ``nn.<module>(**kw)(input, target)``
    against ``R.<loss>`` (and ``torch.nn.functional.<loss>``)."""
    loss: str
    module: str
    data: str
    kw: dict = field(default_factory=dict)
    target_grad: bool = False  # float target: differentiate with respect to it too

    def __str__(self) -> str:
        args = ",".join(f"{k}={'array' if isinstance(v, np.ndarray) else v}"
                        for k, v in self.kw.items())
        return f"{self.loss}[{self.data}]({args})"


def _cases(loss, module, data, *kws, target_grad=False):
    return [Case(loss, module, data, kw, target_grad) for kw in kws]


MEAN_SUM_NONE = ({}, {"reduction": "sum"}, {"reduction": "none"})
CASES = [
    *_cases("mse_loss", "MSELoss", "reg", *MEAN_SUM_NONE, target_grad=True),
    *_cases("l1_loss", "L1Loss", "reg", *MEAN_SUM_NONE, target_grad=True),
    *_cases("smooth_l1_loss", "SmoothL1Loss", "reg", {}, {"beta": 0.5},
            {"beta": 2.0, "reduction": "sum"}, {"beta": 0.0}, {"beta": 0.5, "reduction": "none"},
            target_grad=True),
    *_cases("huber_loss", "HuberLoss", "reg", {}, {"delta": 0.6},
            {"delta": 2.0, "reduction": "none"}, {"delta": 0.6, "reduction": "sum"},
            target_grad=True),
    *_cases("cross_entropy", "CrossEntropyLoss", "labels", *MEAN_SUM_NONE, {"weight": W4},
            {"weight": W4, "reduction": "sum"}, {"weight": W4, "reduction": "none"},
            {"ignore_index": 1}, {"ignore_index": 1, "weight": W4},
            {"ignore_index": 3, "reduction": "none"}, {"label_smoothing": 0.1},
            {"label_smoothing": 0.2, "weight": W4}, {"label_smoothing": 0.3, "reduction": "sum"},
            {"label_smoothing": 0.3, "weight": W4, "reduction": "none"},
            {"label_smoothing": 0.15, "weight": W4, "ignore_index": 1}),
    *_cases("cross_entropy", "CrossEntropyLoss", "labels_ignored", {}, {"weight": W4},
            {"label_smoothing": 0.25, "weight": W4}, {"reduction": "sum"}),
    *_cases("cross_entropy", "CrossEntropyLoss", "spatial_labels", {}, {"weight": W3},
            {"weight": W3, "ignore_index": 2, "label_smoothing": 0.2},
            {"reduction": "none", "label_smoothing": 0.2}),
    *_cases("cross_entropy", "CrossEntropyLoss", "one_sample", {}, {"label_smoothing": 0.4},
            {"weight": W4, "label_smoothing": 0.4}),  # one sample: mean = sum, and
    # the weight cancels from a weighted mean unless label smoothing brings in other classes
    *_cases("cross_entropy", "CrossEntropyLoss", "probs", *MEAN_SUM_NONE, {"weight": W4},
            {"label_smoothing": 0.25}, {"label_smoothing": 0.25, "weight": W4},
            {"label_smoothing": 0.1, "reduction": "none"}, target_grad=True),
    *_cases("cross_entropy", "CrossEntropyLoss", "spatial_probs", {},
            {"weight": W3, "label_smoothing": 0.3}, {"reduction": "sum"}, target_grad=True),
    *_cases("nll_loss", "NLLLoss", "logp", *MEAN_SUM_NONE, {"weight": W4},
            {"weight": W4, "reduction": "sum"}, {"ignore_index": 1},
            {"ignore_index": 1, "weight": W4}, {"ignore_index": 3, "reduction": "none"}),
    *_cases("nll_loss", "NLLLoss", "logp_spatial", {}, {"weight": W3},
            {"weight": W3, "ignore_index": 1, "reduction": "none"}),
    *_cases("binary_cross_entropy", "BCELoss", "bce", *MEAN_SUM_NONE, {"weight": W43},
            {"weight": POS_W, "reduction": "sum"}, target_grad=True),
    *_cases("binary_cross_entropy_with_logits", "BCEWithLogitsLoss", "logits", *MEAN_SUM_NONE,
            {"weight": W43}, {"pos_weight": POS_W}, {"pos_weight": POS_W, "reduction": "sum"},
            {"pos_weight": POS_W, "weight": W43, "reduction": "none"}, target_grad=True),
    *_cases("hinge_embedding_loss", "HingeEmbeddingLoss", "pm1", *MEAN_SUM_NONE,
            {"margin": 0.5}, {"margin": 2.0, "reduction": "sum"}),
    *_cases("hinge_loss", "HingeLoss", "pm1", *MEAN_SUM_NONE, {"margin": 2.0},
            {"margin": 0.5, "reduction": "none"}),
    *_cases("multi_margin_loss", "MultiMarginLoss", "labels", *MEAN_SUM_NONE, {"p": 2},
            {"margin": 0.5}, {"margin": 2.0, "p": 2}, {"weight": W4},
            {"weight": W4, "p": 2, "reduction": "none"}, {"weight": W4, "margin": 2.0}),
    *_cases("multi_margin_loss", "MultiMarginLoss", "one_sample", {}, {"p": 2, "margin": 2.0}),
    *_cases("kl_div", "KLDivLoss", "kl", *MEAN_SUM_NONE, {"reduction": "batchmean"}),
    *_cases("kl_div", "KLDivLoss", "kl_log", {"log_target": True},
            {"log_target": True, "reduction": "batchmean"},
            {"log_target": True, "reduction": "none"}, target_grad=True),
]
# functional losses with no entry above would go untested: every loss in nn/losses.py has one
assert {c.loss for c in CASES} == set(losses.__all__)


def _ours(kw: dict) -> dict:
    return {k: _t(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}


def _reference(case: Case, kw: dict | None = None):
    x, t = INPUTS[case.data]
    return getattr(R, case.loss)(x, t, **(case.kw if kw is None else kw))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_value_functional_and_module(case):
    x, t = INPUTS[case.data]
    ref = _reference(case)
    fn = getattr(F, case.loss)(_t(x), _t(t), **_ours(case.kw))
    mod = getattr(nn, case.module)(**_ours(case.kw))(_t(x), _t(t))
    np.testing.assert_allclose(fn.numpy(), ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(mod.numpy(), ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", [c for c in CASES if c.kw], ids=str)
def test_case_exercises_each_argument(case):
    """Leaving any one argument out changes the reference value, so a loss (functional or
    module) that drops or mishandles it fails test_value_functional_and_module."""
    ref = _reference(case)
    for k in case.kw:
        other = _reference(case, {a: v for a, v in case.kw.items() if a != k})
        assert np.shape(other) != np.shape(ref) or not np.allclose(other, ref), k


@pytest.mark.parametrize("case", CASES, ids=str)
def test_gradient_matches_finite_differences(case):
    x, t = INPUTS[case.data]
    fn = getattr(F, case.loss)
    kw = _ours(case.kw)
    if case.target_grad:
        assert ad.gradcheck(lambda a, b: fn(a, b, **kw), (_t(x, True), _t(t, True)))
    else:
        assert ad.gradcheck(lambda a: fn(a, _t(t), **kw), (_t(x, True),))


@pytest.mark.filterwarnings("ignore:reduction")
@pytest.mark.parametrize("case", [c for c in CASES if c.loss != "hinge_loss"], ids=str)
def test_matches_torch(torch, case):
    """Second oracle for the references and the losses: values and gradients."""
    x, t = INPUTS[case.data]
    xt = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t, requires_grad=case.target_grad)
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in case.kw.items()}
    out = getattr(torch.nn.functional, case.loss)(xt, tt, **tkw)
    out.backward(torch.ones_like(out))
    np.testing.assert_allclose(_reference(case), out.detach().numpy(), rtol=1e-12, atol=1e-15)
    xa, ta = _t(x, True), _t(t, case.target_grad)
    ours = getattr(F, case.loss)(xa, ta, **_ours(case.kw))
    ours.backward(ad.ones_like(ours))
    np.testing.assert_allclose(ours.numpy(), out.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-14)
    if case.target_grad:
        np.testing.assert_allclose(ta.grad.numpy(), tt.grad.numpy(), rtol=1e-9, atol=1e-14)


# ------------------------------------------------------------------------------------ ignore_index
@pytest.mark.parametrize("kw", [{}, {"weight": W4}, {"label_smoothing": 0.2, "weight": W4}])
def test_all_ignored_batch(kw):
    """Every target ignored: 'mean' is 0/0 = nan, 'sum' 0, 'none' zeros, as PyTorch; the
    gradient is 0 (ignored targets get none), not nan, so one padded batch cannot poison the
    parameters."""
    t = np.full(5, 2)
    for form in ("functional", "module"):
        for reduction, value in (("mean", np.nan), ("sum", 0.0), ("none", np.zeros(5))):
            args = dict(_ours(kw), ignore_index=2, reduction=reduction)
            x = _t(_CE_X, True)
            loss = (F.cross_entropy(x, _t(t), **args) if form == "functional" else
                    nn.CrossEntropyLoss(**args)(x, _t(t)))
            np.testing.assert_array_equal(loss.numpy(), value)
            loss.backward(ad.ones_like(loss))
            np.testing.assert_array_equal(x.grad.numpy(), np.zeros_like(_CE_X))
            np.testing.assert_array_equal(R.cross_entropy(_CE_X, t, ignore_index=2,
                                                          reduction=reduction, **kw), value)
    lp = _t(R.log_softmax(_CE_X, 1), True)
    loss = F.nll_loss(lp, _t(np.full(5, -100)), weight=kw.get("weight"))
    assert np.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(lp.grad.numpy(), np.zeros_like(_CE_X))


def test_empty_batch_mean_is_nan():
    for target in (np.zeros(0, np.int64), np.zeros((0, 4))):
        assert np.isnan(F.cross_entropy(_t(np.zeros((0, 4))), _t(target)).item())


# ------------------------------------------------------------------------------------ hand values
def test_cross_entropy_closed_form_gradient_and_double_backward():
    """d CE / d x = (softmax(x) - onehot(t)) / N for the unweighted mean."""
    xa = _t(_CE_X, True)
    F.cross_entropy(xa, _t(_CE_T)).backward()
    p = np.exp(R.log_softmax(_CE_X, 1))
    p[np.arange(5), _CE_T] -= 1
    np.testing.assert_allclose(xa.grad.numpy(), p / 5, rtol=1e-10, atol=1e-14)
    for kw in ({}, {"weight": _t(W4), "label_smoothing": 0.2}):
        assert ad.gradgradcheck(lambda a: F.cross_entropy(a, _t(_CE_T), **kw), (_t(_CE_X, True),))


def test_label_smoothing_hand_value():
    """Two classes, logits (0, 0): log p = -log 2 for both, so any smoothing gives log 2; with
    logits (log 3, 0): p = (3/4, 1/4), target 0, eps = 0.2 -> q = (0.9, 0.1)."""
    np.testing.assert_allclose(F.cross_entropy(_t([[0.0, 0.0]]), _t([1]),
                                               label_smoothing=0.3).item(), np.log(2))
    got = nn.CrossEntropyLoss(label_smoothing=0.2)(_t(np.array([[np.log(3), 0.0]])),
                                                    _t([0]))
    np.testing.assert_allclose(got.item(), -(0.9 * np.log(0.75) + 0.1 * np.log(0.25)),
                               rtol=1e-14)


def test_hinge_embedding_hand_values():
    """x for y = 1, max(0, margin - x) for y = -1; PyTorch computes the sum of both for any
    other label (y = 0 here)."""
    x = _t([0.3, 0.3, -0.5, 0.2, 1.5])
    y = _t([1.0, -1.0, -1.0, 0.0, -1.0])
    got = nn.HingeEmbeddingLoss(margin=1.0, reduction="none")(x, y)
    np.testing.assert_allclose(got.numpy(), [0.3, 0.7, 1.5, 0.2 + 0.8, 0.0], rtol=1e-6)


def test_l1_gradient_zero_at_equality():
    x = _t([1.0, 2.0], True)
    F.l1_loss(x, _t([1.0, 0.0]), reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0])


def test_bce_with_logits_exact_at_zero_and_large_logits():
    x = _t(np.array([0.0, 0.0, 100.0, -100.0, 100.0, -100.0]), True)
    y = _t(np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0]))
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [np.log(2), np.log(2), np.log1p(np.exp(-100)),
                                              np.log1p(np.exp(-100)), 100.0, 100.0],
                               rtol=1e-15)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-0.5, 0.5, 0.0, 0.0, 1.0, -1.0], atol=1e-15)
    # float32 logits keep their dtype and stay finite
    l32 = F.binary_cross_entropy_with_logits(ad.tensor([100.0, -100.0]), ad.tensor([0.0, 0.0]))
    assert l32.dtype == np.float32 and np.isclose(l32.item(), 50.0)


def test_bce_with_logits_pos_weight_and_weight_gradients():
    pw, w = _t(POS_W, True), _t(W43, True)
    assert ad.gradcheck(lambda a, b, p, c: F.binary_cross_entropy_with_logits(
        a, b, weight=c, pos_weight=p), (_t(_BCE_X, True), _t(_BCE_Y, True), pw, w))
    assert ad.gradgradcheck(lambda a: F.binary_cross_entropy_with_logits(
        a, _t(_BCE_Y), pos_weight=_t(POS_W)), (_t(_BCE_X, True),))


def test_bce_clamped_logs():
    edge = F.binary_cross_entropy(_t([0.0, 1.0]), _t([1.0, 0.0]), reduction="none")
    np.testing.assert_array_equal(edge.numpy(), [100.0, 100.0])  # logs clamped at -100


def test_multi_margin_documents_score_vectors():
    # [10, 8, 8]: correct class 0 wins by 2 > 1; [10, -10, -10] too -- zero hinge loss
    for scores in ([10.0, 8.0, 8.0], [10.0, -10.0, -10.0]):
        assert F.multi_margin_loss(_t([scores]), _t([0])).item() == 0.0
    np.testing.assert_allclose(F.multi_margin_loss(_t([[8.0, 10.0, 8.0]]), _t([0])).item(),
                               (3.0 + 1.0) / 3)


def test_module_buffers_in_state_dict():
    m = nn.BCEWithLogitsLoss(weight=[1.0, 2.0, 1.0], pos_weight=[2.0, 1.0, 1.0])
    assert set(m.state_dict()) == {"weight", "pos_weight"}
    np.testing.assert_array_equal(m.state_dict()["pos_weight"].numpy(), [2.0, 1.0, 1.0])
    assert set(nn.CrossEntropyLoss(weight=W4).state_dict()) == {"weight"}


# ------------------------------------------------------------------------------------ errors
def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(4, 3\) and target shape "
                                         r"\(4, 1\)"):
        F.mse_loss(ad.randn(4, 3), ad.randn(4, 1))
    with pytest.raises(ValueError, match="reduction"):
        F.l1_loss(ad.randn(2), ad.randn(2), reduction="avg")
    with ad.detect_anomaly(), pytest.raises(ValueError, match=r"target label 3 is out of "
                                                               r"range for 3 classes"):
        F.cross_entropy(ad.randn(2, 3), ad.tensor([0, 3]))   # (a GPU checks only then)
    with pytest.raises(ValueError, match=r"cross_entropy.*\(2, 3\).*target shape \(3,\)"):
        F.cross_entropy(ad.randn(2, 3), ad.tensor([0, 1, 2]))
    with ad.detect_anomaly(), pytest.raises(ValueError, match="nll_loss.*out of range"):
        F.nll_loss(ad.randn(2, 3), ad.tensor([-1, 0]))
    with pytest.raises(ValueError, match="cross_entropy: ignore_index .* probability targets"):
        F.cross_entropy(_t(_CE_X), _t(_CE_P), ignore_index=0)
    with pytest.raises(ValueError, match=r"cross_entropy: weight must have shape \(4,\)"):
        F.cross_entropy(_t(_CE_X), _t(_CE_T), weight=_t(W3))
    with pytest.raises(ValueError, match="huber_loss: delta must be positive, got 0"):
        F.huber_loss(_t(_REG_X), _t(_REG_X), delta=0.0)
    with ad.detect_anomaly(), pytest.raises(ValueError, match="binary_cross_entropy: .*probabi"):
        F.binary_cross_entropy(_t([1.5]), _t([1.0]))
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits: weight of shape "
                                         r"\(2,\) does not broadcast to the input shape \(4, 3\)"):
        F.binary_cross_entropy_with_logits(_t(_BCE_X), _t(_BCE_Y), pos_weight=_t([1.0, 2.0]))
    with ad.detect_anomaly(), \
            pytest.raises(ValueError, match="hinge_loss: target labels must be -1 or \\+1"):
        F.hinge_loss(_t(_HE_X[0]), _t([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="multi_margin_loss: only p = 1 and p = 2"):
        F.multi_margin_loss(_t(_CE_X), _t(_CE_T), p=3)
    with pytest.raises(ValueError, match="kl_div: reduction"):
        F.kl_div(_t(_KL_IN), _t(_KL_T), reduction="avg")


# ------------------------------------------------------------------------------------ PyTorch
@pytest.mark.parametrize("kw", [{}, {"weight": [0.2, 1.0, 3.0, 0.7]}, {"ignore_index": 2},
                                {"label_smoothing": 0.1},
                                {"label_smoothing": 0.2, "weight": [0.2, 1.0, 3.0, 0.7]},
                                {"reduction": "none"}, {"reduction": "sum", "ignore_index": 0}])
def test_cross_entropy_random_inputs_match_torch(torch, kw):
    x = np.random.randn(7, 4)
    t = np.random.randint(0, 4, 7)
    tk = dict(kw)
    if "weight" in tk:
        tk["weight"] = torch.tensor(kw["weight"], dtype=torch.float64)
    xa = _t(x, True)
    o = F.cross_entropy(xa, _t(t), **kw)
    o.backward(ad.ones_like(o))
    xt = torch.tensor(x, requires_grad=True)
    ot = torch.nn.functional.cross_entropy(xt, torch.tensor(t), **tk)
    ot.backward(torch.ones_like(ot))
    np.testing.assert_allclose(o.numpy(), ot.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-14)


def test_all_ignored_batch_matches_torch(torch):
    for kw in ({}, {"label_smoothing": 0.2, "weight": W4}):
        xa, xt = _t(_CE_X, True), torch.tensor(_CE_X, requires_grad=True)
        o = F.cross_entropy(xa, _t(np.full(5, 2)), ignore_index=2, **_ours(kw))
        tk = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        ot = torch.nn.functional.cross_entropy(xt, torch.full((5,), 2), ignore_index=2, **tk)
        o.backward()
        ot.backward()
        np.testing.assert_array_equal(o.item(), ot.item())
        np.testing.assert_array_equal(xa.grad.numpy(), xt.grad.numpy())


def test_hinge_embedding_other_labels_match_torch(torch):
    x, y = np.array([0.3, -0.5, 1.7, 0.2]), np.array([1.0, -1.0, 0.0, 2.0])
    np.testing.assert_allclose(
        F.hinge_embedding_loss(_t(x), _t(y), reduction="none").numpy(),
        torch.nn.functional.hinge_embedding_loss(torch.tensor(x), torch.tensor(y),
                                                 reduction="none").numpy(), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cpu_one_pass_cross_entropy_matches_the_vectorised_code(dtype):
    """The NumPy backend's one-pass cross-entropy (numba, small batches) against the
    vectorised NumPy code it stands in for: the same losses and softmax to a few ulps, ignored
    rows 0, a row with NaN or -inf handed back (None: the vectorised code handles it), an
    out-of-range label an IndexError naming it, large batches left to NumPy."""
    pytest.importorskip("numba")
    from autodiff.backends import cpu_kernels, cuda_kernels
    rng = np.random.default_rng(2)
    x = (3 * rng.standard_normal((64, 10))).astype(dtype)
    t = rng.integers(0, 10, 64)
    t[5] = -100
    loss, prob = cpu_kernels.softmax_cross_entropy_forward(x, t, -100)
    ref_loss, ref_prob = cuda_kernels.softmax_cross_entropy_forward(x, t, -100)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(loss, ref_loss, rtol=tol, atol=tol)
    np.testing.assert_allclose(prob, ref_prob, rtol=tol, atol=tol)
    assert loss[5] == 0 and loss.dtype == prob.dtype == dtype
    for bad in (np.nan, -np.inf):
        y = x.copy()
        y[3] = bad
        assert cpu_kernels.softmax_cross_entropy_forward(y, t, -100) is None
    with pytest.raises(IndexError, match="label 12 is out of range for 10 classes"):
        cpu_kernels.softmax_cross_entropy_forward(x, np.where(t == 7, 12, t), -100)
    big = np.zeros((cpu_kernels.SCE_MAX_SIZE // 8 + 1, 8), dtype)
    assert cpu_kernels.softmax_cross_entropy_forward(big, np.zeros(len(big), np.int64)) is None
