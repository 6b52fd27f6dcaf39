"""Attention: ``scaled_dot_product_attention`` and ``multi_head_attention_forward`` with
PyTorch's signatures and semantics (composed of differentiable ops, so double backward works).

``scaled_dot_product_attention`` is PyTorch's documented math reference::

    weights = softmax(q @ k^T * scale + bias) ; dropout(weights) @ v

with ``bias`` from a boolean mask (False = not allowed: -inf), a float mask (added; it may
require grad, e.g. a learned position bias), or ``is_causal`` (the lower triangle, aligned at
the top left). A query row whose keys are all masked gives zeros and zero gradients (PyTorch's
"safe softmax"), not NaN. ``enable_gqa`` repeats each key/value head for the
``Hq // Hkv`` query heads that share it.
"""
from __future__ import annotations

import math
import warnings

import numpy

import autodiff as ad
from autodiff.tensor import Tensor, make

from .functional_core import _t, dropout, linear

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _float_mask(name: str, mask, dtype) -> Tensor:
    """A bool mask (True = allowed) as a float additive one (0 / -inf), a float mask cast to
    ``dtype`` (keeping its graph)."""
    mask = _t(mask)
    kind = numpy.dtype(mask.dtype).kind
    if kind == "b":
        return make(mask.xp.where(mask.array, 0.0, -numpy.inf).astype(dtype))
    if kind != "f":
        raise TypeError(f"{name}: only bool and floating masks are supported, got dtype "
                        f"{mask.dtype}")
    return mask if mask.dtype == dtype else mask.astype(dtype)


def _softmax_last(scores: Tensor, safe: bool) -> Tensor:
    """softmax over the last dim; with ``safe`` a row of all -inf gives zeros (and passes zero
    gradient) instead of NaN."""
    if not safe:
        return ad.softmax(scores, dim=-1)
    dead = (scores.array == -numpy.inf).all(axis=-1, keepdims=True)
    w = ad.softmax(ad.where(dead, 0.0, scores), dim=-1)
    return ad.where(dead, 0.0, w)


def _causal(L: int, S: int, xp):
    """The (L, S) lower-triangular allowed-mask of ``is_causal`` (top-left aligned)."""
    return xp.tril(xp.ones((L, S), dtype=bool))


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """Attention of ``query`` (..., Hq, L, E) over ``key`` (..., Hkv, S, E) and ``value``
    (..., Hkv, S, Ev); returns (..., Hq, L, Ev). ``attn_mask`` broadcasts to (..., L, S).
    ``dropout_p`` drops attention weights (autodiff's generator); pass 0 in evaluation, as
    with PyTorch's function (it has no ``training`` flag)."""
    q, k, v = _t(query), _t(key), _t(value)
    name = "scaled_dot_product_attention"
    if min(q.ndim, k.ndim, v.ndim) < 2:
        raise ValueError(f"{name}: query, key and value need at least 2 dims (..., L, E), got "
                         f"shapes {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"{name}: expected query, key and value to have the same dtype, got "
                        f"{q.dtype}, {k.dtype} and {v.dtype}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{name}: query {tuple(q.shape)} and key {tuple(k.shape)} must share "
                         f"the embedding dim E, key and value {tuple(v.shape)} the length S")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{name}: dropout_p has to be between 0 and 1, got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise ValueError(f"{name}: an explicit attn_mask should not be set when "
                         f"is_causal=True")
    if enable_gqa:
        k, v = _repeat_kv_heads(name, q, k, v)
    L, S = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = ad.mul(ad.matmul(q, ad.transpose(k, -2, -1)), scale)
    if is_causal:
        scores = ad.where(_causal(L, S, q.xp), scores, -numpy.inf)
    elif attn_mask is not None:
        mask = _t(attn_mask)
        try:
            numpy.broadcast_shapes(tuple(mask.shape), tuple(scores.shape))
        except ValueError:
            raise ValueError(f"{name}: attn_mask of shape {tuple(mask.shape)} does not "
                             f"broadcast to the attention scores (..., L, S) = "
                             f"{tuple(scores.shape)}") from None
        if numpy.dtype(mask.dtype).kind == "b":
            scores = ad.where(mask.array, scores, -numpy.inf)
        else:
            scores = ad.add(scores, _float_mask(name, mask, q.dtype))
    weights = _softmax_last(scores, safe=True)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return ad.matmul(weights, v)


def _repeat_kv_heads(name: str, q: Tensor, k: Tensor, v: Tensor) -> tuple:
    if min(q.ndim, k.ndim, v.ndim) < 3:
        raise ValueError(f"{name}: enable_gqa needs a heads dim (..., H, L, E), got shapes "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    hq, hk, hv = q.shape[-3], k.shape[-3], v.shape[-3]
    if hk != hv or hq % hk:
        raise ValueError(f"{name}: enable_gqa needs key and value with the same number of "
                         f"heads dividing the query's, got {hq} query, {hk} key and {hv} "
                         f"value heads")
    if hk == hq:
        return k, v
    return (ad.repeat_interleave(k, hq // hk, dim=k.ndim - 3),
            ad.repeat_interleave(v, hq // hk, dim=v.ndim - 3))


# ----------------------------------------------------------------------------- multi-head
def _check_mha_shapes(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    """PyTorch's ``_mha_shape_check``: True for batched (3-D) inputs, False for unbatched 2-D."""
    name = "multi_head_attention_forward"
    shapes = f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
    if query.ndim not in (2, 3):
        raise ValueError(f"{name}: query should be unbatched 2D or batched 3D, got {shapes}")
    batched = query.ndim == 3
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise ValueError(f"{name}: key and value must have the query's number of dims, got "
                         f"{shapes}")
    if key_padding_mask is not None and key_padding_mask.ndim != query.ndim - 1:
        raise ValueError(f"{name}: key_padding_mask must be {query.ndim - 1}-D for a "
                         f"{query.ndim}-D query, got shape {tuple(key_padding_mask.shape)}")
    if attn_mask is not None:
        if attn_mask.ndim not in (2, 3):
            raise ValueError(f"{name}: attn_mask must be 2-D or 3-D, got shape "
                             f"{tuple(attn_mask.shape)}")
        if not batched and attn_mask.ndim == 3 and \
                tuple(attn_mask.shape) != (num_heads, query.shape[0], key.shape[0]):
            raise ValueError(f"{name}: expected attn_mask of shape "
                             f"{(num_heads, query.shape[0], key.shape[0])}, got "
                             f"{tuple(attn_mask.shape)}")
    return batched


def _append_zero_column(mask: Tensor | None) -> Tensor | None:
    """``mask`` with one more (allowed) key position at the end of its last dim."""
    if mask is None:
        return None
    zeros = make(mask.xp.zeros(tuple(mask.shape[:-1]) + (1,), mask.dtype))
    return ad.cat([mask, zeros], dim=-1)


def _project(query, key, value, in_proj_weight, in_proj_bias, use_separate_proj_weight,
             q_proj_weight, k_proj_weight, v_proj_weight, E):
    if in_proj_bias is None:
        b_q = b_k = b_v = None
    else:
        b_q, b_k, b_v = ad.split(in_proj_bias, E)
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise ValueError("multi_head_attention_forward: use_separate_proj_weight=True needs "
                             "q_proj_weight, k_proj_weight and v_proj_weight")
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    else:
        if in_proj_weight is None:
            raise ValueError("multi_head_attention_forward: use_separate_proj_weight is False "
                             "but in_proj_weight is None")
        w_q, w_k, w_v = ad.split(in_proj_weight, E)
    return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)


def multi_head_attention_forward(
        query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
        in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None,
        bias_v: Tensor | None, add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor,
        out_proj_bias: Tensor | None, training: bool = True,
        key_padding_mask: Tensor | None = None, need_weights: bool = True,
        attn_mask: Tensor | None = None, use_separate_proj_weight: bool = False,
        q_proj_weight: Tensor | None = None, k_proj_weight: Tensor | None = None,
        v_proj_weight: Tensor | None = None, static_k: Tensor | None = None,
        static_v: Tensor | None = None, average_attn_weights: bool = True,
        is_causal: bool = False) -> tuple:
    """PyTorch's ``F.multi_head_attention_forward``: inputs (L, N, E) (or unbatched (L, E)),
    returns (output (L, N, E), weights (N, L, S) averaged over heads, or (N, H, L, S), or None
    when not ``need_weights``). Masks: ``key_padding_mask`` (N, S) and ``attn_mask`` (L, S) or
    (N * H, L, S), bool (True = not allowed, PyTorch's convention here) or float (added).
    ``is_causal`` is a hint that ``attn_mask`` is the causal mask, as in PyTorch."""
    name = "multi_head_attention_forward"
    query, key, value = _t(query), _t(key), _t(value)
    key_padding_mask = None if key_padding_mask is None else _t(key_padding_mask)
    attn_mask = None if attn_mask is None else _t(attn_mask)
    batched = _check_mha_shapes(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = (ad.unsqueeze(t, 1) for t in (query, key, value))
        if key_padding_mask is not None:
            key_padding_mask = ad.unsqueeze(key_padding_mask, 0)
    tgt_len, bsz, E = query.shape
    dt = query.dtype
    if key_padding_mask is not None and attn_mask is not None and \
            (numpy.dtype(key_padding_mask.dtype).kind == "b") != \
            (numpy.dtype(attn_mask.dtype).kind == "b"):
        warnings.warn("Support for mismatched key_padding_mask and attn_mask is deprecated. "
                      "Use same type for both instead.", stacklevel=3)
    # PyTorch's masks here say True = *not* allowed: invert for _float_mask
    if key_padding_mask is not None:
        key_padding_mask = _disallow_mask(name + ": key_padding_mask", key_padding_mask, dt)
    if is_causal and attn_mask is None:
        raise ValueError(f"{name}: need attn_mask if specifying the is_causal hint")
    sdpa_causal = is_causal and key_padding_mask is None and not need_weights
    if sdpa_causal:
        attn_mask = None
    elif attn_mask is not None:
        attn_mask = _disallow_mask(name + ": attn_mask", attn_mask, dt)
    if E != embed_dim_to_check:
        raise ValueError(f"{name}: was expecting embedding dimension of {embed_dim_to_check}, "
                         f"but got {E} (query shape {tuple(query.shape)})")
    head_dim = E // num_heads
    if head_dim * num_heads != E:
        raise ValueError(f"{name}: embed_dim {E} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise ValueError(f"{name}: key's sequence and batch dims {tuple(key.shape[:2])} "
                             f"do not match value's {tuple(value.shape[:2])}")
    elif tuple(key.shape) != tuple(value.shape):
        raise ValueError(f"{name}: key shape {tuple(key.shape)} does not match value shape "
                         f"{tuple(value.shape)}")
    q, k, v = _project(query, key, value, in_proj_weight, in_proj_bias,
                       use_separate_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight, E)
    src_len = key.shape[0]
    if attn_mask is not None:
        want = (tgt_len, src_len) if attn_mask.ndim == 2 else (bsz * num_heads, tgt_len, src_len)
        if tuple(attn_mask.shape) != want:
            raise ValueError(f"{name}: the shape of the {attn_mask.ndim}D attn_mask is "
                             f"{tuple(attn_mask.shape)}, but should be {want}")
        if attn_mask.ndim == 2:
            attn_mask = ad.unsqueeze(attn_mask, 0)
    if (bias_k is None) != (bias_v is None):
        raise ValueError(f"{name}: bias_k and bias_v must be given together")
    if bias_k is not None:
        if static_k is not None or static_v is not None:
            raise ValueError(f"{name}: bias cannot be added to static key or value")
        k = ad.cat([k, ad.repeat(bias_k, 1, bsz, 1)])
        v = ad.cat([v, ad.repeat(bias_v, 1, bsz, 1)])
        attn_mask = _append_zero_column(attn_mask)
        key_padding_mask = _append_zero_column(key_padding_mask)
    BH = bsz * num_heads
    q = ad.transpose(ad.reshape(q, (tgt_len, BH, head_dim)), 0, 1)
    k = _heads(name, "static_k", k, static_k, BH, head_dim)
    v = _heads(name, "static_v", v, static_v, BH, head_dim)
    if add_zero_attn:
        zeros = make(k.xp.zeros((BH, 1, head_dim), k.dtype))
        k = ad.cat([k, zeros], dim=1)
        v = ad.cat([v, zeros.astype(v.dtype)], dim=1)
        attn_mask = _append_zero_column(attn_mask)
        key_padding_mask = _append_zero_column(key_padding_mask)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise ValueError(f"{name}: expected key_padding_mask of shape {(bsz, src_len)}, "
                             f"got {tuple(key_padding_mask.shape)}")
        kpm = ad.reshape(ad.broadcast_to(ad.reshape(key_padding_mask, (bsz, 1, 1, src_len)),
                                         (bsz, num_heads, 1, src_len)), (BH, 1, src_len))
        attn_mask = kpm if attn_mask is None else ad.add(attn_mask, kpm)
    if not training:
        dropout_p = 0.0
    if need_weights:
        scores = ad.matmul(ad.mul(q, math.sqrt(1.0 / head_dim)), ad.transpose(k, -2, -1))
        if attn_mask is not None:
            scores = ad.add(scores, attn_mask)
        weights = _softmax_last(scores, safe=False)   # PyTorch: NaN rows where all masked
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p, training=True)
        out = ad.matmul(weights, v)                                   # (BH, L, hd)
        out = ad.reshape(ad.transpose(out, 0, 1), (tgt_len * bsz, E))
        weights = ad.reshape(weights, (bsz, num_heads, tgt_len, src_len))
        if average_attn_weights:
            weights = ad.mean(weights, dim=1)
        if not batched:
            weights = ad.squeeze(weights, 0)
    else:
        if attn_mask is not None:   # (1, L, S) -> (1, 1, L, S); (N * H, ., S) -> (N, H, ., S)
            attn_mask = ad.unsqueeze(attn_mask, 0) if attn_mask.shape[0] == 1 else \
                ad.reshape(attn_mask, (bsz, num_heads, -1, src_len))
        out = scaled_dot_product_attention(
            ad.reshape(q, (bsz, num_heads, tgt_len, head_dim)),
            ad.reshape(k, (bsz, num_heads, src_len, head_dim)),
            ad.reshape(v, (bsz, num_heads, src_len, head_dim)), attn_mask, dropout_p,
            sdpa_causal)
        out = ad.reshape(ad.permute(out, (2, 0, 1, 3)), (bsz * tgt_len, E))
        weights = None
    out = ad.reshape(linear(out, out_proj_weight, out_proj_bias), (tgt_len, bsz, -1))
    if not batched:
        out = ad.squeeze(out, 1)
    return out, weights


def _disallow_mask(name: str, mask: Tensor, dtype) -> Tensor:
    """PyTorch's ``_canonical_mask``: a bool mask whose True entries are *not* allowed becomes
    0 / -inf; a float mask is kept."""
    if numpy.dtype(mask.dtype).kind == "b":
        return _float_mask(name, make(~mask.array), dtype)
    return _float_mask(name, mask, dtype)


def _heads(name: str, which: str, t: Tensor, static: Tensor | None, BH: int, head_dim: int):
    """(S, N, E) -> (N * H, S, head_dim), or the given ``static`` (N * H, S, head_dim)."""
    if static is None:
        return ad.transpose(ad.reshape(t, (t.shape[0], BH, head_dim)), 0, 1)
    static = _t(static)
    if static.ndim != 3 or static.shape[0] != BH or static.shape[2] != head_dim:
        raise ValueError(f"{name}: expecting {which} of shape ({BH}, S, {head_dim}), got "
                         f"{tuple(static.shape)}")
    return static
