"""API cases the audit of ``tests/test_port_coverage.py`` found missing: the Tensor-method
spellings of functions whose cases are written as functions elsewhere, logical ops, ``==``,
and the convolution/pooling modules (fixed weights loaded by state dict; the gradient is the
input's). References are written out in NumPy (``ref_conv``/``ref_scatter`` for conv and
scatter, PyTorch's documented definitions)."""
from __future__ import annotations

import numpy as np

import autodiff as ad
from api_table import A, Case, I, U
from autodiff import nn
from ref_conv import avg_pool_direct, conv_nd_direct, conv_transpose_nd_direct
import ref_scatter as RS

_BOOL = I(3, 4, high=2, seed=3).astype(bool)
_BOOL2 = I(3, 4, high=2, seed=4).astype(bool)
_ZEROS = np.array([[0.0, 1.5, -2.0], [0.0, 0.0, 3.0]])
_IDX = np.array([[0, 2], [3, 1], [1, 1]])      # dim=1 indices into a (3, 4); repeated in row 2
_MASK = np.array([[True, False, False, True]])


def _running_max(x):
    """cummax along dim 1: the running maximum and the index where it was reached (no ties in
    A's samples)."""
    vals = np.maximum.accumulate(x, axis=1)
    idx = np.zeros(x.shape, dtype=np.int64)
    for r in range(x.shape[0]):
        for c in range(1, x.shape[1]):
            idx[r, c] = c if x[r, c] >= vals[r, c - 1] else idx[r, c - 1]
    return vals, idx


def _kth_along_0(x, k):
    order = np.argsort(x, axis=0, kind="stable")[k - 1]
    return x[order, np.arange(x.shape[1])], order


def _diag_embed_offset1(x):
    n = x.shape[-1] + 1
    out = np.zeros(x.shape[:-1] + (n, n))
    for i in range(x.shape[-1]):
        out[..., i, i + 1] = x[..., i]
    return out


# ----------------------------------------------------------------------------- modules
def _loaded(module, params):
    module = module.double()
    module.load_state_dict({k: ad.tensor(v) for k, v in params.items()})
    return module


def _torch_loaded(torch, module, params):
    module = module.double()
    module.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    return module


_W1, _B1 = U(4, 3, 3, seed=11), U(4, seed=12)            # Conv1d(3, 4, 3)
_W3, _B3 = U(2, 2, 2, 1, 2, seed=13), U(2, seed=14)      # Conv3d(2, 2, (2, 1, 2))
_WT1, _BT1 = U(4, 1, 3, seed=15), U(2, seed=16)          # ConvTranspose1d(4, 2, 3, groups=2)
_WT2, _BT2 = U(2, 3, 2, 2, seed=17), U(3, seed=18)       # ConvTranspose2d(2, 3, 2)


def _module_case(name, make, params, ref, x, tag=""):
    return Case(f"nn.{name}", lambda a: _loaded(make(nn), params)(a), ref, (x,),
                torch_fn=lambda torch, a: _torch_loaded(torch, make(torch.nn), params)(a),
                tag=tag)


CASES = [
    # == and the logical ops (bool results, no gradient)
    Case("Tensor.__eq__", lambda a, b: a == b, np.equal, (I(3, 4), I(3, 4, seed=1)), grad=0,
         torch_fn=lambda torch, a, b: a == b),
    Case("Tensor.__eq__", lambda a: a == 0.5, lambda a: a == 0.5,
         (np.array([0.5, 1.0, 0.5]),), grad=0, tag="scalar", torch_fn=lambda torch, a: a == 0.5),
    Case("logical_and", lambda a, b: ad.logical_and(a, b), np.logical_and, (_BOOL, _BOOL2),
         grad=0, torch_fn=lambda torch, a, b: torch.logical_and(a, b)),
    Case("logical_and", lambda a: ad.logical_and(a, ad.tensor(_BOOL[0])),
         lambda a: np.logical_and(a, _BOOL[0]), (_ZEROS[:1].repeat(3, 0)[:, [0, 1, 2, 0]],),
         grad=0, tag="float_and_bool",
         torch_fn=lambda torch, a: torch.logical_and(a, torch.tensor(_BOOL[0]))),
    Case("logical_or", lambda a, b: ad.logical_or(input=a, other=b), np.logical_or,
         (_BOOL, _BOOL2), grad=0, torch_fn=lambda torch, a, b: torch.logical_or(a, b)),
    Case("logical_not", lambda a: ad.logical_not(a), np.logical_not, (_ZEROS,), grad=0,
         torch_fn=lambda torch, a: torch.logical_not(a)),
    # Tensor-method spellings
    Case("Tensor.numel", lambda x: x.numel(), lambda x: x.size, (U(2, 3, 4),), grad=0),
    Case("Tensor.allclose", lambda a, b: ad.tensor(a.allclose(b, rtol=0, atol=1e-6)),
         lambda a, b: np.array(bool(np.all(np.abs(a - b) <= 1e-6))), (U(3), U(3) + 1e-7),
         grad=0, torch_fn=lambda torch, a, b: torch.tensor(a.allclose(b, rtol=0, atol=1e-6))),
    Case("Tensor.cummax", lambda x: x.cummax(dim=1), _running_max, (A(2, 5),),
         torch_fn=lambda torch, x: x.cummax(dim=1)),
    Case("Tensor.kthvalue", lambda x: x.kthvalue(2, dim=0), lambda x: _kth_along_0(x, 2),
         (A(4, 3),), torch_fn=lambda torch, x: x.kthvalue(2, dim=0)),
    Case("Tensor.argsort", lambda x: x.argsort(dim=1, descending=True),
         lambda x: np.argsort(-x, axis=1, kind="stable"), (A(3, 4),), grad=0,
         torch_fn=lambda torch, x: x.argsort(dim=1, descending=True)),
    Case("Tensor.masked_fill", lambda x: x.masked_fill(ad.tensor(_MASK), -2.0),
         lambda x: np.where(_MASK, -2.0, x), (U(3, 4),),
         torch_fn=lambda torch, x: x.masked_fill(torch.tensor(_MASK), -2.0)),
    Case("Tensor.scatter", lambda x, s: x.scatter(1, ad.tensor(_IDX[:, :1]), s),
         lambda x, s: RS.scatter(x, 1, _IDX[:, :1], s), (U(3, 4), U(3, 1, seed=1)),
         torch_fn=lambda torch, x, s: x.scatter(1, torch.tensor(_IDX[:, :1]), s)),
    Case("Tensor.scatter_add", lambda x, s: x.scatter_add(1, ad.tensor(_IDX), s),
         lambda x, s: RS.scatter_reduce(x, 1, _IDX, s, "sum"), (U(3, 4), U(3, 2, seed=1)),
         torch_fn=lambda torch, x, s: x.scatter_add(1, torch.tensor(_IDX), s)),
    Case("Tensor.scatter_reduce",
         lambda x, s: x.scatter_reduce(1, ad.tensor(_IDX), s, "mean", include_self=False),
         lambda x, s: RS.scatter_reduce(x, 1, _IDX, s, "mean", False),
         (U(3, 4), U(3, 2, seed=1)),
         torch_fn=lambda torch, x, s: x.scatter_reduce(1, torch.tensor(_IDX), s, "mean",
                                                       include_self=False)),
    Case("Tensor.triu", lambda x: x.triu(1), lambda x: np.triu(x, 1), (U(2, 3, 4),),
         torch_fn=lambda torch, x: x.triu(1)),
    Case("Tensor.triu", lambda x: x.triu(diagonal=-1), lambda x: np.triu(x, -1), (U(4, 3),),
         tag="below", torch_fn=lambda torch, x: x.triu(diagonal=-1)),
    Case("Tensor.diag", lambda x: x.diag(), np.diag, (U(3),), tag="vector",
         torch_fn=lambda torch, x: x.diag()),
    Case("Tensor.diag", lambda x: x.diag(-1), lambda x: np.diag(x, -1), (U(3, 4),),
         tag="matrix", torch_fn=lambda torch, x: x.diag(-1)),
    Case("Tensor.diag_embed", lambda x: x.diag_embed(offset=1), _diag_embed_offset1,
         (U(2, 3),), torch_fn=lambda torch, x: x.diag_embed(offset=1)),
    # convolution and pooling modules
    _module_case("Conv1d", lambda n: n.Conv1d(3, 4, 3, stride=2, padding=1),
                 {"weight": _W1, "bias": _B1},
                 lambda x: conv_nd_direct(x, _W1, _B1, stride=2, padding=1), U(2, 3, 7)),
    _module_case("Conv3d", lambda n: n.Conv3d(2, 2, (2, 1, 2), padding=(1, 0, 0)),
                 {"weight": _W3, "bias": _B3},
                 lambda x: conv_nd_direct(x, _W3, _B3, padding=(1, 0, 0)), U(1, 2, 3, 2, 3)),
    _module_case("ConvTranspose1d", lambda n: n.ConvTranspose1d(4, 2, 3, stride=2, groups=2,
                                                                 output_padding=1),
                 {"weight": _WT1, "bias": _BT1},
                 lambda x: conv_transpose_nd_direct(x, _WT1, _BT1, stride=2, output_padding=1,
                                                    groups=2), U(2, 4, 3)),
    _module_case("ConvTranspose2d", lambda n: n.ConvTranspose2d(2, 3, 2, stride=(2, 1),
                                                                 padding=(0, 1)),
                 {"weight": _WT2, "bias": _BT2},
                 lambda x: conv_transpose_nd_direct(x, _WT2, _BT2, stride=(2, 1),
                                                    padding=(0, 1)), U(1, 2, 3, 3)),
    _module_case("AvgPool1d", lambda n: n.AvgPool1d(3, 2, 1, count_include_pad=False),
                 {}, lambda x: avg_pool_direct(x, 3, 2, 1, count_include_pad=False),
                 U(2, 3, 8)),
]
