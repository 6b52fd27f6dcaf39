"""GroupNorm, InstanceNorm1d/2d/3d and LocalResponseNorm beyond the op table: instance norm's
running statistics (PyTorch's update, written out), eval with them, the parameters' gradients,
errors, state dicts and reprs against torch's."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.nn import functional as F
from ref_norm import group_norm_ref, instance_norm_ref, lrn_ref


def _x(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def test_instance_norm_running_stats_update_and_eval():
    """Train: rm <- (1 - m) rm + m mean_n(mean over positions), rv likewise with the unbiased
    per-instance variance; eval with track_running_stats normalises with them."""
    m = nn.InstanceNorm1d(3, momentum=0.3, affine=True, track_running_stats=True,
                          dtype=ad.float64)
    x = _x(4, 3, 5, seed=1)
    out = m(ad.tensor(x))
    np.testing.assert_allclose(out.numpy(), instance_norm_ref(x), rtol=1e-10)
    mean = x.mean(2).mean(0)
    var = x.var(2, ddof=1).mean(0)
    np.testing.assert_allclose(m.running_mean.numpy(), 0.3 * mean, rtol=1e-12)
    np.testing.assert_allclose(m.running_var.numpy(), 0.7 + 0.3 * var, rtol=1e-12)
    y = _x(2, 3, 5, seed=2)
    ev = m.eval()(ad.tensor(y))
    rm, rv = m.running_mean.numpy(), m.running_var.numpy()
    np.testing.assert_allclose(ev.numpy(), (y - rm[:, None]) / np.sqrt(rv[:, None] + 1e-5),
                               rtol=1e-10)
    plain = nn.InstanceNorm1d(3).eval()          # no running stats: batch statistics in eval
    np.testing.assert_allclose(plain(ad.tensor(y)).numpy(), instance_norm_ref(y), rtol=1e-10)


def test_instance_norm_running_stats_against_torch(torch):
    tm = torch.nn.InstanceNorm2d(3, momentum=0.2, affine=True, track_running_stats=True).double()
    m = nn.InstanceNorm2d(3, momentum=0.2, affine=True, track_running_stats=True,
                          dtype=ad.float64)
    m.load_state_dict(tm.state_dict())
    for seed in range(3):
        x = _x(2, 3, 4, 5, seed=seed)
        np.testing.assert_allclose(m(ad.tensor(x)).numpy(), tm(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-10)
    for key, value in tm.state_dict().items():
        np.testing.assert_allclose(m.state_dict()[key].numpy(), value.numpy(), rtol=1e-12,
                                   err_msg=key)
    x = _x(2, 3, 4, 5, seed=9)
    np.testing.assert_allclose(m.eval()(ad.tensor(x)).numpy(),
                               tm.eval()(torch.tensor(x)).detach().numpy(), rtol=1e-10)


def test_group_norm_parameter_gradients():
    m = nn.GroupNorm(2, 4, dtype=ad.float64)
    x = _x(3, 4, 5, seed=3)
    g = _x(3, 4, 5, seed=4)
    m(ad.tensor(x)).backward(ad.tensor(g))
    xhat = group_norm_ref(x, 2)
    np.testing.assert_allclose(m.weight.grad.numpy(), (g * xhat).sum((0, 2)), rtol=1e-10)
    np.testing.assert_allclose(m.bias.grad.numpy(), g.sum((0, 2)), rtol=1e-12)


def test_group_norm_loads_torch_state_and_matches(torch):
    tm = torch.nn.GroupNorm(3, 6).double()
    with torch.no_grad():
        tm.weight.uniform_(0.5, 1.5)
        tm.bias.uniform_(-0.5, 0.5)
    m = nn.GroupNorm(3, 6, dtype=ad.float64)
    m.load_state_dict(tm.state_dict())
    x = _x(2, 6, 3, 2, seed=5)
    np.testing.assert_allclose(m(ad.tensor(x)).numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10)


def test_unbatched_instance_norm_and_lrn_values():
    x = _x(3, 4, 5, seed=6)
    np.testing.assert_allclose(nn.InstanceNorm2d(3)(ad.tensor(x)).numpy(),
                               instance_norm_ref(x[None])[0], rtol=1e-10)
    y = _x(2, 5, 3, seed=7)
    np.testing.assert_allclose(F.local_response_norm(ad.tensor(y), 5, 0.2, 0.5, 1.5).numpy(),
                               lrn_ref(y, 5, 0.2, 0.5, 1.5), rtol=1e-12)
    empty = ad.zeros(0, 3, 2)
    assert F.local_response_norm(empty, 2).shape == (0, 3, 2)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: F.group_norm(ad.zeros(2, 5, 3), 2), ValueError, "divisible"),
    (lambda: F.group_norm(ad.zeros(2, 4, 3), 2, ad.ones(3)), ValueError, "weight"),
    (lambda: nn.GroupNorm(3, 4), ValueError, "divisible"),
    (lambda: F.instance_norm(ad.zeros(2, 3, 1)), ValueError, "spatial"),
    (lambda: F.instance_norm(ad.zeros(2, 3, 4), use_input_stats=False), ValueError, "running"),
    (lambda: nn.InstanceNorm1d(3)(ad.zeros(2, 3, 4, 5)), ValueError, "2D or 3D"),
    (lambda: nn.InstanceNorm1d(3, affine=True)(ad.zeros(2, 4, 5)), ValueError, "num_features"),
    (lambda: F.local_response_norm(ad.zeros(2, 3), 2), ValueError, "3D or higher"),
])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_instance_norm_without_affine_warns_on_channel_mismatch():
    with pytest.warns(UserWarning, match="num_features"):
        nn.InstanceNorm1d(3)(ad.tensor(_x(2, 4, 5)))


def _modules(nn_mod):
    return [nn_mod.GroupNorm(2, 4), nn_mod.GroupNorm(2, 4, affine=False),
            nn_mod.GroupNorm(1, 3, eps=0.1, bias=False), nn_mod.InstanceNorm1d(3),
            nn_mod.InstanceNorm2d(3, affine=True, track_running_stats=True),
            nn_mod.InstanceNorm3d(2, momentum=None), nn_mod.LocalResponseNorm(3),
            nn_mod.LocalResponseNorm(2, 0.1, 0.5, 2.0)]


def test_reprs_and_state_dict_keys_as_pytorch(torch):
    ours, theirs = _modules(nn), _modules(torch.nn)
    assert [repr(m) for m in ours] == [repr(m) for m in theirs]
    assert [list(m.state_dict()) for m in ours] == [list(m.state_dict()) for m in theirs]
