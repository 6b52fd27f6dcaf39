"""API cases: scaled_dot_product_attention (masks, causal, GQA, scale), the functional
multi_head_attention_forward and nn.MultiheadAttention, against the NumPy references of
tests/ref_attention.py (the formulas written out)."""
from __future__ import annotations

import numpy as np

import autodiff as ad
from api_table import Case, U
from autodiff import nn
from autodiff.nn import functional as F
from ref_attention import mha, mha_params, sdpa

_Q, _K, _V = U(2, 2, 3, 4, seed=1), U(2, 2, 5, 4, seed=2), U(2, 2, 5, 3, seed=3)
_BOOL = np.random.default_rng(4).random((3, 5)) > 0.4
_BOOL[1] = False                       # one query row with every key masked: zeros
_BOOL[0, 0] = True


def _sdpa_case(tag, fn, ref, torch_fn, inputs=(_Q, _K, _V), **kw):
    return Case("F.scaled_dot_product_attention", fn, ref, inputs, torch_fn=torch_fn, tag=tag,
                **kw)


def _torch_sdpa(torch):
    return torch.nn.functional.scaled_dot_product_attention


E, H = 4, 2
_P = mha_params(E, H, seed=5)
_Lq, _Lk = U(3, 2, E, seed=6), U(4, 2, E, seed=7)      # (L, N, E), (S, N, E)
_KPM = np.array([[False, False, True, False], [False, True, True, False]])
_FMASK = U(3, 4, seed=8)


def _module(params, **kw):
    m = nn.MultiheadAttention(E, H, dtype=ad.float64, **kw)
    m.load_state_dict({k: ad.tensor(v) for k, v in params.items()})
    return m


def _torch_module(torch, params, **kw):
    m = torch.nn.MultiheadAttention(E, H, **kw).double()
    m.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    return m


_MHA_ARGS = dict(key_padding_mask=_KPM, attn_mask=_FMASK)


def _mha_fn(q, k, v, w_in, b_in, w_out, b_out):
    return F.multi_head_attention_forward(
        q, k, v, E, H, w_in, b_in, None, None, False, 0.0, w_out, b_out,
        key_padding_mask=ad.tensor(_KPM), attn_mask=ad.tensor(_FMASK[None].repeat(4, 0)),
        average_attn_weights=False)


def _mha_torch(torch, q, k, v, w_in, b_in, w_out, b_out):
    return torch.nn.functional.multi_head_attention_forward(
        q, k, v, E, H, w_in, b_in, None, None, False, 0.0, w_out, b_out,
        key_padding_mask=torch.tensor(_KPM),
        attn_mask=torch.tensor(_FMASK[None].repeat(4, 0)), average_attn_weights=False)


def _mha_ref(q, k, v, w_in, b_in, w_out, b_out):
    p = {"in_proj_weight": w_in, "in_proj_bias": b_in, "out_proj.weight": w_out,
         "out_proj.bias": b_out}
    return mha(q, k, v, p, H, key_padding_mask=_KPM, attn_mask=_FMASK[None].repeat(4, 0),
               average=False)


CASES = [
    _sdpa_case("", F.scaled_dot_product_attention, lambda q, k, v: sdpa(q, k, v)[0],
               lambda torch, q, k, v: _torch_sdpa(torch)(q, k, v)),
    _sdpa_case("bool_mask", lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=ad.tensor(_BOOL)), lambda q, k, v: sdpa(q, k, v, _BOOL)[0],
        lambda torch, q, k, v: _torch_sdpa(torch)(q, k, v, attn_mask=torch.tensor(_BOOL))),
    _sdpa_case("float_mask", lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m),
               lambda q, k, v, m: sdpa(q, k, v, m)[0],
               lambda torch, q, k, v, m: _torch_sdpa(torch)(q, k, v, m),
               inputs=(_Q, _K, _V, U(2, 1, 3, 5, seed=9))),
    _sdpa_case("causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
               lambda q, k, v: sdpa(q, k, v, causal=True)[0],
               lambda torch, q, k, v: _torch_sdpa(torch)(q, k, v, is_causal=True)),
    _sdpa_case("scale", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.3),
               lambda q, k, v: sdpa(q, k, v, scale=0.3)[0],
               lambda torch, q, k, v: _torch_sdpa(torch)(q, k, v, scale=0.3)),
    _sdpa_case("gqa", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
               lambda q, k, v: sdpa(q, k, v, gqa=True)[0],
               lambda torch, q, k, v: _torch_sdpa(torch)(q, k, v, enable_gqa=True),
               inputs=(U(1, 4, 3, 4, seed=1), U(1, 2, 5, 4, seed=2), U(1, 2, 5, 3, seed=3))),
    Case("F.multi_head_attention_forward", _mha_fn, _mha_ref,
         (_Lq, _Lk, U(4, 2, E, seed=9), _P["in_proj_weight"], _P["in_proj_bias"],
          _P["out_proj.weight"], _P["out_proj.bias"]), torch_fn=_mha_torch, const=(3, 5),
         note="in_proj_weight and out_proj.weight constant here (fast); test_attention.py "
              "checks every parameter's gradient"),
    Case("nn.MultiheadAttention",
         lambda q, k: _module(_P)(q, k, k, key_padding_mask=ad.tensor(_KPM),
                                  attn_mask=ad.tensor(_FMASK)),
         lambda q, k: mha(q, k, k, _P, H, **_MHA_ARGS),
         (_Lq, _Lk),
         torch_fn=lambda torch, q, k: _torch_module(torch, _P)(
             q, k, k, key_padding_mask=torch.tensor(_KPM), attn_mask=torch.tensor(_FMASK))),
    Case("nn.MultiheadAttention",
         lambda q, k: _module(_P, batch_first=True)(q, k, k, need_weights=False)[0],
         lambda q, k: mha(q.transpose(1, 0, 2), k.transpose(1, 0, 2), k.transpose(1, 0, 2),
                          _P, H)[0].transpose(1, 0, 2),
         (U(2, 3, E, seed=10), U(2, 4, E, seed=11)),
         torch_fn=lambda torch, q, k: _torch_module(torch, _P, batch_first=True)(
             q, k, k, need_weights=False)[0], tag="batch_first_sdpa"),
]
