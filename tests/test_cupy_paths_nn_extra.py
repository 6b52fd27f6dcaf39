"""The activations, attention, group/instance/local-response norms and channel dropouts of
nn on the CuPy stand-in (tests/cupy_standin.py): the same values and gradients as on NumPy, and
a forward and backward pass without a host synchronisation (a stall per step on a GPU)."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
import autodiff.nn.functional as F
from autodiff import nn

import cupy_standin

_MASK = np.tril(np.ones((3, 5), bool))
_MASK[0] = False                                  # a fully masked row: the safe softmax path

def _keys(x):
    return x.reshape(-1)[:20].reshape(1, 1, 5, 4).expand(1, 2, 5, 4)


CALLS = {
    "activations": lambda x: (F.selu(x) + F.celu(x, 0.5) + F.silu(x) + F.mish(x) + F.hardtanh(x)
                              + F.relu6(x) + F.hardswish(x) + F.hardsigmoid(x)
                              + F.logsigmoid(x) + F.softsign(x) + F.softmin(x, 1)
                              + F.tanhshrink(x) + F.softshrink(x) + F.hardshrink(x)
                              + F.threshold(x, 0.1, 2.0) + F.rrelu(x)),
    "glu_prelu": lambda x: F.glu(x, 1) * F.prelu(x, ad.full((4,), 0.2, device=x.device))[:, :2],
    "distances": lambda x: (F.normalize(x) + F.cosine_similarity(x, x * 2 + 1)[:, None]
                            + F.pairwise_distance(x, x * 0.5)[:, None]),
    "sdpa": lambda x: F.scaled_dot_product_attention(
        x.reshape(1, 2, 3, 4), _keys(x), _keys(x) * 0.5,
        attn_mask=ad.tensor(_MASK, device=x.device)),
    "sdpa_causal_gqa": lambda x: F.scaled_dot_product_attention(
        x.reshape(1, 2, 3, 4), x.reshape(1, 2, 3, 4)[:, :1], x.reshape(1, 2, 3, 4)[:, :1],
        is_causal=True, enable_gqa=True),
    "norms": lambda x: (F.group_norm(x, 2) + F.instance_norm(x)
                        + F.local_response_norm(x, 3)),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_same_values_and_gradients_without_host_syncs(name):
    data = np.random.default_rng(0).uniform(-3, 3, (6, 4, 1)).reshape(6, 4)
    data = data if name != "norms" else data.reshape(2, 4, 3)
    x = ad.tensor(data, requires_grad=True)
    want = CALLS[name](x)
    want.sum().backward()
    with cupy_standin.activated():
        xd = ad.tensor(data, device="cuda", requires_grad=True)
        with cupy_standin.counting_syncs() as syncs:
            got = CALLS[name](xd)
            got.sum().backward()
        assert syncs == [], syncs
        np.testing.assert_allclose(cupy_standin.host(got.array), want.numpy(), rtol=1e-12)
        np.testing.assert_allclose(cupy_standin.host(xd.grad.array), x.grad.numpy(),
                                   rtol=1e-12)


def test_modules_step_on_the_device_without_host_syncs():
    x = np.random.default_rng(1).standard_normal((3, 2, 4))
    with cupy_standin.activated():
        layers = [nn.MultiheadAttention(4, 2), nn.GroupNorm(2, 2), nn.PReLU(2),
                  nn.InstanceNorm1d(2, affine=True, track_running_stats=True),
                  nn.Dropout1d(0.5), nn.AlphaDropout(0.2)]
        layers = [m.to("cuda") for m in layers]
        xd = ad.tensor(x, device="cuda", dtype=ad.float32, requires_grad=True)
        with cupy_standin.counting_syncs() as syncs:
            h, _ = layers[0](xd, xd, xd, key_padding_mask=ad.tensor(
                np.array([[False, False, True], [False, False, False]]), device="cuda"))
            h = h.reshape(3, 2, 4)
            for m in layers[1:]:
                h = m(h)
            h.sum().backward()
        assert syncs == [], syncs
        assert all(p.grad is not None for m in layers for p in m.parameters())
