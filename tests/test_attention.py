"""scaled_dot_product_attention and nn.MultiheadAttention beyond the op table: dropout,
every MultiheadAttention option against the NumPy reference of ref_attention.py (the formula
written out), gradients of the parameters, PyTorch state dicts, errors; torch as a second
oracle with the same weights."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.nn import functional as F
from ref_attention import mha, mha_params, sdpa

E, H = 6, 3


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _module(params, **kw):
    m = nn.MultiheadAttention(E, H, dtype=ad.float64, **kw)
    m.load_state_dict({k: ad.tensor(v) for k, v in params.items()})
    return m


# ----------------------------------------------------------------------------- sdpa
def test_sdpa_fully_masked_row_is_zero_with_zero_gradient():
    q, k, v = (ad.tensor(_rand(1, 3, 4, seed=s), requires_grad=True) for s in range(3))
    mask = np.ones((3, 3), bool)
    mask[2] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=ad.tensor(mask))
    np.testing.assert_allclose(out.numpy(), sdpa(q.numpy(), k.numpy(), v.numpy(), mask)[0],
                               rtol=1e-12)
    assert np.all(out.numpy()[0, 2] == 0)
    out.sum().backward()
    assert np.all(q.grad.numpy()[0, 2] == 0) and np.isfinite(k.grad.numpy()).all()


def test_sdpa_dropout_drops_weights_and_backpropagates_through_the_same_mask():
    """With v = identity the output is the dropped weight matrix itself, so the mask can be read
    off it; the gradients must be those of that mask (NumPy chain rule written out)."""
    p, L, S = 0.4, 20, 20
    q = ad.tensor(_rand(L, 5, seed=1), requires_grad=True)
    k = ad.tensor(_rand(S, 5, seed=2))
    v = ad.tensor(np.eye(S), requires_grad=True)
    ad.manual_seed(3)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    ad.manual_seed(3)
    again = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    np.testing.assert_array_equal(out.numpy(), again.numpy())      # autodiff's generator
    _, w = sdpa(q.numpy(), k.numpy(), np.eye(S))
    kept = out.numpy() != 0
    np.testing.assert_allclose(out.numpy(), np.where(kept, w / (1 - p), 0), rtol=1e-12)
    assert 0.25 < 1 - kept.mean() < 0.55                              # about p dropped
    g = _rand(L, S, seed=4)
    out.backward(ad.tensor(g))
    d = np.where(kept, w / (1 - p), 0)
    np.testing.assert_allclose(v.grad.numpy(), d.T @ g, rtol=1e-10)
    gw = g * kept / (1 - p)                                           # through the dropout
    gs = w * (gw - (gw * w).sum(-1, keepdims=True))                   # through the softmax
    np.testing.assert_allclose(q.grad.numpy(), gs @ k.numpy() / np.sqrt(5), rtol=1e-10)


def test_sdpa_dropout_one_gives_zeros():
    q = ad.tensor(_rand(2, 3, 4))
    assert np.all(F.scaled_dot_product_attention(q, q, q, dropout_p=1.0).numpy() == 0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(is_causal=True, attn_mask=np.ones((3, 3), bool)), "is_causal"),
    (dict(enable_gqa=True), "heads"),
    (dict(attn_mask=np.ones((4, 3), bool)), "broadcast"),
    (dict(dropout_p=1.5), "dropout_p"),
])
def test_sdpa_errors(kwargs, match):
    q = ad.tensor(_rand(1, 3, 3, 4))
    k = ad.tensor(_rand(1, 2, 3, 4))
    if "attn_mask" in kwargs:
        kwargs["attn_mask"] = ad.tensor(kwargs["attn_mask"])
        k = q
    with pytest.raises(ValueError, match=match):
        F.scaled_dot_product_attention(q, k, k, **kwargs)


def test_sdpa_mixed_dtypes_raise():
    q = ad.tensor(_rand(2, 3, 4))
    with pytest.raises(TypeError, match="same dtype"):
        F.scaled_dot_product_attention(q, q.float(), q)


# ----------------------------------------------------------------------------- MHA
_L, _S, _N = 3, 4, 2
_KPM = np.array([[False, False, True, False], [False, True, True, False]])


def _check(m, params, q, k, v, ref_kw=None, **kw):
    out, w = m(ad.tensor(q), ad.tensor(k), ad.tensor(v), **kw)
    kpm = kw.get("key_padding_mask")
    am = kw.get("attn_mask")
    ro, rw = mha(q, k, v, params, H, key_padding_mask=None if kpm is None else kpm.numpy(),
                 attn_mask=None if am is None else am.numpy(),
                 average=kw.get("average_attn_weights", True), **(ref_kw or {}))
    np.testing.assert_allclose(out.numpy(), ro, rtol=1e-10, atol=1e-12)
    if kw.get("need_weights", True):
        np.testing.assert_allclose(w.numpy(), rw, rtol=1e-10, atol=1e-12)
    else:
        assert w is None
    return out, w


@pytest.mark.parametrize("kw", [
    dict(),
    dict(key_padding_mask=ad.tensor(_KPM)),
    dict(attn_mask=ad.tensor(np.triu(np.ones((_L, _S), bool), 1))),
    dict(attn_mask=ad.tensor(_rand(_N * H, _L, _S)), average_attn_weights=False),
    dict(key_padding_mask=ad.tensor(_KPM), need_weights=False),
    dict(key_padding_mask=ad.tensor(np.where(_KPM, -np.inf, 0.0)),
         attn_mask=ad.tensor(_rand(_L, _S))),
], ids=["plain", "kpm", "bool_mask", "3d_mask_per_head", "sdpa_path", "float_masks"])
def test_mha_against_reference(kw):
    p = mha_params(E, H, seed=1)
    _check(_module(p), p, _rand(_L, _N, E, seed=2), _rand(_S, _N, E, seed=3),
           _rand(_S, _N, E, seed=4), **kw)


def test_mha_kdim_vdim_no_bias_bias_kv_zero_attn():
    p = mha_params(E, H, kdim=5, vdim=2, bias=False, bias_kv=True, seed=5)
    m = _module(p, kdim=5, vdim=2, bias=False, add_bias_kv=True, add_zero_attn=True)
    assert m.in_proj_weight is None and m.in_proj_bias is None and m.out_proj.bias is None
    _check(m, p, _rand(_L, _N, E, seed=6), _rand(_S, _N, 5, seed=7), _rand(_S, _N, 2, seed=8),
           ref_kw=dict(add_zero_attn=True), key_padding_mask=ad.tensor(np.where(_KPM, -np.inf, 0)),
           attn_mask=ad.tensor(_rand(_L, _S, seed=9)))


def test_mha_unbatched_and_batch_first_agree_with_batched():
    p = mha_params(E, H, seed=10)
    q, k = _rand(_L, 1, E, seed=11), _rand(_S, 1, E, seed=12)
    out, w = _module(p)(ad.tensor(q), ad.tensor(k), ad.tensor(k))
    out1, w1 = _module(p)(ad.tensor(q[:, 0]), ad.tensor(k[:, 0]), ad.tensor(k[:, 0]))
    outb, wb = _module(p, batch_first=True)(*(ad.tensor(a.transpose(1, 0, 2)) for a in (q, k, k)))
    np.testing.assert_allclose(out1.numpy(), out.numpy()[:, 0], rtol=1e-12)
    np.testing.assert_allclose(w1.numpy(), w.numpy()[0], rtol=1e-12)
    np.testing.assert_allclose(outb.numpy(), out.numpy().transpose(1, 0, 2), rtol=1e-12)
    np.testing.assert_allclose(wb.numpy(), w.numpy(), rtol=1e-12)


def test_mha_is_causal_hint():
    p = mha_params(E, H, seed=13)
    m = _module(p)
    x = ad.tensor(_rand(_L, _N, E, seed=14))
    causal = ad.tensor(np.triu(np.ones((_L, _L), bool), 1))
    with pytest.raises(ValueError, match="is_causal"):
        m(x, x, x, is_causal=True)
    ref, _ = m(x, x, x, attn_mask=causal)
    for need in (True, False):          # the sdpa path takes is_causal, the other the mask
        out, _ = m(x, x, x, attn_mask=causal, is_causal=True, need_weights=need)
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_mha_fully_masked_rows_nan_with_weights_zero_without():
    """PyTorch: the need_weights path has NaN rows where every key is masked; the sdpa path
    gives zeros."""
    p = mha_params(E, H, seed=15)
    m = _module(p)
    x = ad.tensor(_rand(2, 1, E, seed=16))
    mask = ad.tensor(np.array([[False, False], [True, True]]))
    out, w = m(x, x, x, attn_mask=mask)
    assert np.isnan(out.numpy()[1]).all() and np.isnan(w.numpy()[0, 1]).all()
    out, _ = m(x, x, x, attn_mask=mask, need_weights=False)
    assert np.isfinite(out.numpy()).all()


def test_mha_gradients_of_parameters_and_inputs():
    """First and second derivatives in every input and parameter (finite differences)."""
    m = nn.MultiheadAttention(4, 2, dtype=ad.float64, add_bias_kv=True)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight",
                     "out_proj.bias"]
    q = ad.tensor(_rand(2, 1, 4, seed=18), requires_grad=True)
    kv = ad.tensor(_rand(3, 1, 4, seed=19), requires_grad=True)
    leaves = [ad.tensor(p.numpy(), requires_grad=True) for p in m.parameters()]

    def fn(q, kv, w_in, b_in, bias_k, bias_v, w_out, b_out):
        return F.multi_head_attention_forward(q, kv, kv, 4, 2, w_in, b_in, bias_k, bias_v,
                                              False, 0.0, w_out, b_out)
    assert ad.gradcheck(fn, [q, kv] + leaves)
    w_in, b_in, _, _, w_out, b_out = (t.detach() for t in leaves)
    bias_k, bias_v = leaves[2:4]
    # second order in the inputs and bias_k/bias_v (the projections are linear in theirs)
    assert ad.gradgradcheck(lambda q, kv, bk, bv: fn(q, kv, w_in, b_in, bk, bv, w_out, b_out),
                            [q, kv, bias_k, bias_v])


def test_mha_dropout_only_in_training():
    p = mha_params(E, H, seed=20)
    m = _module(p, dropout=0.5)
    x = ad.tensor(_rand(_L, _N, E, seed=21))
    ref = mha(x.numpy(), x.numpy(), x.numpy(), p, H)
    out, _ = m.eval()(x, x, x)
    np.testing.assert_allclose(out.numpy(), ref[0], rtol=1e-10)
    _, per_head = mha(x.numpy(), x.numpy(), x.numpy(), p, H, average=False)
    ad.manual_seed(0)
    _, w = m.train()(x, x, x, average_attn_weights=False)   # weights after dropout (PyTorch)
    kept = w.numpy() != 0
    np.testing.assert_allclose(w.numpy(), np.where(kept, per_head * 2, 0), rtol=1e-10)
    assert 0 < kept.mean() < 1


def test_mha_init_shapes_and_errors():
    m = nn.MultiheadAttention(8, 2)
    sd = m.state_dict()
    assert [k for k in sd] == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                               "out_proj.bias"]
    assert np.all(sd["in_proj_bias"].numpy() == 0) and np.all(sd["out_proj.bias"].numpy() == 0)
    bound = np.sqrt(6 / (8 + 24))                        # xavier_uniform on (3E, E)
    assert np.abs(sd["in_proj_weight"].numpy()).max() <= bound
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(6, 4)
    x = ad.tensor(_rand(3, 2, 8), dtype=ad.float32)   # the module's dtype (no promotion)
    with pytest.raises(ValueError, match="attn_mask"):
        m(x, x, x, attn_mask=ad.tensor(np.zeros((2, 2), bool)))
    with pytest.raises(ValueError, match="key_padding_mask"):
        m(x, x, x, key_padding_mask=ad.tensor(np.zeros((2, 5), bool)))
    with pytest.raises(ValueError, match="embedding dimension"):
        m(ad.tensor(_rand(3, 2, 4)), x, x)


# ----------------------------------------------------------------------------- torch
def test_mha_loads_a_torch_state_dict_and_matches_torch(torch):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(E, H, kdim=5, vdim=4, add_bias_kv=True,
                                     batch_first=True).double()
    m = nn.MultiheadAttention(E, H, kdim=5, vdim=4, add_bias_kv=True, batch_first=True,
                              dtype=ad.float64)
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict(tm.state_dict())
    assert repr(m) == repr(tm)
    q, k, v = _rand(2, 3, E, seed=1), _rand(2, 4, 5, seed=2), _rand(2, 4, 4, seed=3)
    kpm = np.array([[False, True, False, False], [False, False, False, True]])
    out, w = m(ad.tensor(q, requires_grad=True), ad.tensor(k), ad.tensor(v),
               key_padding_mask=ad.tensor(kpm), average_attn_weights=False)
    tout, tw = tm(torch.tensor(q), torch.tensor(k), torch.tensor(v),
                  key_padding_mask=torch.tensor(kpm), average_attn_weights=False)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-10)
    (out.sum() + w.sum()).backward()
    (tout.sum() + tw.sum()).backward()
    for (n, p), (tn, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert n == tn
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=n)
