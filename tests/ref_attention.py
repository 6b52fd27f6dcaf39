"""NumPy references for attention, written from the published formulas (Vaswani et al. 2017;
PyTorch's documented ``scaled_dot_product_attention`` and ``MultiheadAttention``): used by
tests/test_attention.py and tests/api_cases_nn_attention.py."""
from __future__ import annotations

import numpy as np


def softmax_rows(s):
    """softmax over the last axis; a row of all -inf gives zeros (PyTorch's safe softmax)."""
    m = s.max(-1, keepdims=True)
    dead = np.isneginf(m)
    e = np.exp(s - np.where(dead, 0.0, m))
    with np.errstate(invalid="ignore"):
        w = e / e.sum(-1, keepdims=True)
    return np.where(dead, 0.0, w)


def sdpa(q, k, v, mask=None, causal=False, scale=None, gqa=False):
    """(output, weights) of softmax(q k^T * scale + bias) v. ``mask`` bool (True = allowed) or
    float (added); ``causal`` the top-left lower triangle; ``gqa`` repeats key/value heads."""
    if gqa:
        r = q.shape[-3] // k.shape[-3]
        k, v = np.repeat(k, r, axis=-3), np.repeat(v, r, axis=-3)
    L, S, E = q.shape[-2], k.shape[-2], q.shape[-1]
    scale = 1 / np.sqrt(E) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if causal:
        mask = np.tril(np.ones((L, S), bool))
    if mask is not None and mask.dtype == bool:
        s = np.where(mask, s, -np.inf)
    elif mask is not None:
        s = s + mask
    w = softmax_rows(s)
    return w @ v, w


def mha_params(E, H, kdim=None, vdim=None, bias=True, bias_kv=False, seed=0):
    """Random float64 MultiheadAttention parameters under PyTorch's state-dict names."""
    r = np.random.default_rng(seed)
    kdim, vdim = kdim or E, vdim or E
    p = {}
    if kdim == E and vdim == E:
        p["in_proj_weight"] = r.standard_normal((3 * E, E)) / np.sqrt(E)
    else:
        p["q_proj_weight"] = r.standard_normal((E, E)) / np.sqrt(E)
        p["k_proj_weight"] = r.standard_normal((E, kdim)) / np.sqrt(kdim)
        p["v_proj_weight"] = r.standard_normal((E, vdim)) / np.sqrt(vdim)
    if bias:
        p["in_proj_bias"] = r.standard_normal(3 * E) * 0.1
    if bias_kv:
        p["bias_k"] = r.standard_normal((1, 1, E))
        p["bias_v"] = r.standard_normal((1, 1, E))
    p["out_proj.weight"] = r.standard_normal((E, E)) / np.sqrt(E)
    if bias:
        p["out_proj.bias"] = r.standard_normal(E) * 0.1
    return p


def _additive(mask):
    """PyTorch's MHA masks: bool True = *not* allowed (-inf); float masks are added."""
    return np.where(mask, -np.inf, 0.0) if mask.dtype == bool else mask


def mha(query, key, value, p, H, key_padding_mask=None, attn_mask=None, add_zero_attn=False,
        average=True):
    """(output (L, N, E), weights) of multi-head attention on (L, N, E)-shaped inputs:
    per head softmax(Q_h K_h^T / sqrt(d) + mask) V_h, heads concatenated, output projection.
    Weights (N, L, S) averaged over heads, or (N, H, L, S); rows all masked are NaN here, as
    PyTorch's need_weights path."""
    E = query.shape[-1]
    N, d = query.shape[1], E // H
    if "in_proj_weight" in p:
        wq, wk, wv = np.split(p["in_proj_weight"], 3)
    else:
        wq, wk, wv = p["q_proj_weight"], p["k_proj_weight"], p["v_proj_weight"]
    bq, bk, bv = np.split(p["in_proj_bias"], 3) if "in_proj_bias" in p else (0, 0, 0)
    Q, K, V = query @ wq.T + bq, key @ wk.T + bk, value @ wv.T + bv
    extra = 0
    if "bias_k" in p:
        K = np.concatenate([K, np.broadcast_to(p["bias_k"], (1, N, E))])
        V = np.concatenate([V, np.broadcast_to(p["bias_v"], (1, N, E))])
        extra += 1

    def heads(X):                                   # (T, N, E) -> (N, H, T, d)
        return X.reshape(X.shape[0], N, H, d).transpose(1, 2, 0, 3)

    Q, K, V = heads(Q), heads(K), heads(V)
    if add_zero_attn:
        K = np.concatenate([K, np.zeros(K.shape[:2] + (1, d))], axis=2)
        V = np.concatenate([V, np.zeros(V.shape[:2] + (1, d))], axis=2)
        extra += 1
    L, S = Q.shape[2], K.shape[2]
    bias = np.zeros((N, H, L, S))
    if attn_mask is not None:
        m = _additive(attn_mask)
        m = m.reshape(N, H, L, S - extra) if m.ndim == 3 else m
        bias[..., :S - extra] += m
    if key_padding_mask is not None:
        bias[..., :S - extra] += _additive(key_padding_mask)[:, None, None, :]
    s = Q @ K.transpose(0, 1, 3, 2) / np.sqrt(d) + bias
    with np.errstate(invalid="ignore"):
        e = np.exp(s - s.max(-1, keepdims=True))
        w = e / e.sum(-1, keepdims=True)
    O = (w @ V).transpose(2, 0, 1, 3).reshape(L, N, E)
    out = O @ p["out_proj.weight"].T + p.get("out_proj.bias", 0)
    return out, (w.mean(1) if average else w)
