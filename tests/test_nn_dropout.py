"""Channel dropout (dropout1d/2d/3d, Dropout1d/2d/3d) and alpha dropout (alpha_dropout,
feature_alpha_dropout, AlphaDropout, FeatureAlphaDropout): which entries are zeroed together,
the scaling, the gradient through the same mask, SELU's moments kept by alpha dropout
(Klambauer et al. 2017), inplace, eval, errors and reprs."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.nn import functional as F

LAMBDA_ALPHA = 1.0507009873554804934193349852946 * 1.6732632423543772848170429916717


def _x(*shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 1.5, shape)   # no zeros: drops visible


@pytest.mark.parametrize("fn, shape, group", [
    (F.dropout2d, (8, 6, 3, 4), (2, 3)),
    (F.dropout2d, (8, 6, 5), (2,)),             # 3-D: taken as (N, C, L), with a warning
    (F.dropout1d, (8, 6, 5), (2,)),
    (F.dropout1d, (12, 5), (1,)),               # unbatched (C, L)
    (F.dropout3d, (4, 6, 2, 2, 3), (2, 3, 4)),
    (F.dropout3d, (12, 2, 2, 3), (1, 2, 3)),    # unbatched (C, D, H, W)
], ids=["2d", "2d_on_3d", "1d", "1d_unbatched", "3d", "3d_unbatched"])
@pytest.mark.filterwarnings("ignore:dropout2d")
def test_channel_dropout_zeroes_whole_channels(fn, shape, group):
    p = 0.4
    x = ad.tensor(_x(*shape), requires_grad=True)
    ad.manual_seed(1)
    y = fn(x, p)
    kept = y.numpy() != 0
    # each channel is kept or dropped as a whole, and kept ones are scaled by 1/(1-p)
    assert np.all(kept.all(axis=group) | ~kept.any(axis=group))
    np.testing.assert_allclose(y.numpy(), np.where(kept, x.numpy() / (1 - p), 0), rtol=1e-15)
    channels = kept.all(axis=group)
    frac = 1 - channels.mean()
    assert 0.15 < frac < 0.65
    if channels.ndim == 2:       # one draw per (sample, channel): not per sample, not per channel
        assert (channels.any(1) & ~channels.all(1)).any()
        assert (channels.any(0) & ~channels.all(0)).any()
    g = _x(*shape, seed=2)
    y.backward(ad.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, g / (1 - p), 0), rtol=1e-15)
    ad.manual_seed(1)
    np.testing.assert_array_equal(fn(x, p).numpy(), y.numpy())


def test_dropout2d_on_3d_input_warns():
    with pytest.warns(UserWarning, match="3D input to dropout2d"):
        F.dropout2d(ad.ones(2, 3, 4), 0.5)


def test_dropout_identity_and_extremes():
    x = ad.tensor(_x(2, 3, 4, 5))
    for fn in (F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout):
        assert fn(x, 0.5, training=False) is x
        np.testing.assert_array_equal(fn(x, 0.0, training=True).numpy(), x.numpy())
    assert np.all(F.dropout2d(x, 1.0).numpy() == 0)
    assert np.all(F.alpha_dropout(x, 1.0, training=True).numpy() == 0)   # PyTorch: x * 0
    np.testing.assert_array_equal(nn.Dropout2d(0.5).eval()(x).numpy(), x.numpy())


def _alpha_constants(p):
    """a and b of Klambauer et al. (eq. 9): a = ((1 - p)(1 + p alpha'^2))^(-1/2),
    b = -a alpha' p, with alpha' = -lambda alpha the value a dropped unit takes."""
    ap = -LAMBDA_ALPHA
    a = ((1 - p) * (1 + p * ap ** 2)) ** -0.5
    return a, -a * ap * p, ap


def test_alpha_dropout_values_gradient_and_moments():
    p = 0.2
    a, b, ap = _alpha_constants(p)
    data = np.random.default_rng(3).standard_normal(200_000)
    x = ad.tensor(data, requires_grad=True)
    ad.manual_seed(4)
    y = F.alpha_dropout(x, p, training=True)
    dropped = np.isclose(y.numpy(), a * ap + b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(y.numpy(), np.where(dropped, a * ap + b, a * data + b),
                               rtol=1e-12)
    assert abs(dropped.mean() - p) < 0.005
    # zero mean and unit variance are kept (the point of alpha dropout)
    assert abs(y.numpy().mean()) < 0.01 and abs(y.numpy().var() - 1) < 0.01
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(dropped, 0.0, a), rtol=1e-12)


def test_feature_alpha_dropout_drops_channels():
    p = 0.5
    a, b, ap = _alpha_constants(p)
    x = ad.tensor(np.random.default_rng(5).standard_normal((6, 8, 3, 3)))
    ad.manual_seed(6)
    y = nn.FeatureAlphaDropout(p)(x).numpy()
    dropped = np.isclose(y, a * ap + b, rtol=0, atol=1e-12).all(axis=(2, 3))
    expect = np.where(dropped[..., None, None], a * ap + b, a * x.numpy() + b)
    np.testing.assert_allclose(y, expect, rtol=1e-12)
    assert 0.3 < dropped.mean() < 0.7


def test_alpha_dropout_against_torch_constants(torch):
    """The same affine map as torch's: positive inputs keep a x + b > 0, dropped units all take
    the one negative value a alpha' + b; a, b and that value read off both."""
    x = _x(5000, seed=7)

    def constants(y):
        dropped = y < 0
        slope, intercept = np.polyfit(x[~dropped], y[~dropped], 1)
        return slope, intercept, y[dropped].max(), y[dropped].min()

    ours = constants(F.alpha_dropout(ad.tensor(x), 0.3, True).numpy())
    theirs = constants(torch.nn.functional.alpha_dropout(torch.tensor(x), 0.3, True).numpy())
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


def test_inplace_and_errors():
    base = ad.tensor(_x(2, 3, 4, 5), requires_grad=True)
    x = base * 1.0
    ad.manual_seed(8)
    y = F.dropout2d(x, 0.5, inplace=True)
    assert y is x
    ad.manual_seed(8)
    np.testing.assert_array_equal(x.numpy(), F.dropout2d(base * 1.0, 0.5).numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout2d(x, 1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.AlphaDropout(-0.1)
    with pytest.raises(ValueError, match="2D or 3D"):
        F.dropout1d(ad.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match="at least 2"):
        F.feature_alpha_dropout(ad.zeros(4), 0.5, training=True)


def _modules(nn_mod):
    return [nn_mod.Dropout(), nn_mod.Dropout1d(0.2), nn_mod.Dropout2d(inplace=True),
            nn_mod.Dropout3d(), nn_mod.AlphaDropout(0.2), nn_mod.FeatureAlphaDropout()]


def test_reprs_as_pytorch(torch):
    assert [repr(m) for m in _modules(nn)] == [repr(m) for m in _modules(torch.nn)]
