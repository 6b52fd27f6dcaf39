"""API cases: group_norm, instance_norm, local_response_norm (F. and nn.), and the dropout
variants in evaluation (the identity); references are the formulas written out in NumPy."""
from __future__ import annotations

import autodiff as ad
from api_table import Case, U
from autodiff import nn
from autodiff.nn import functional as F
from ref_norm import group_norm_ref, instance_norm_ref, lrn_ref

_X = U(2, 4, 3, seed=1)
_X4 = U(2, 6, 2, 3, seed=2)


def _torch_F(torch):
    return torch.nn.functional


CASES = [
    Case("F.group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), lambda x, w, b:
         group_norm_ref(x, 2, w, b), (_X, U(4, seed=3), U(4, seed=4)),
         torch_fn=lambda torch, x, w, b: _torch_F(torch).group_norm(x, 2, w, b)),
    Case("F.group_norm", lambda x: F.group_norm(x, 3, eps=0.1), lambda x: group_norm_ref(
        x, 3, eps=0.1), (_X4,), torch_fn=lambda torch, x: _torch_F(torch).group_norm(x, 3,
                                                                                      eps=0.1),
         tag="no_affine_4d"),
    Case("nn.GroupNorm", lambda x: nn.GroupNorm(3, 6, dtype=ad.float64)(x),
         lambda x: group_norm_ref(x, 3), (_X4,),
         torch_fn=lambda torch, x: torch.nn.GroupNorm(3, 6).double()(x)),
    Case("F.instance_norm", lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
         instance_norm_ref, (_X4, U(6, seed=3), U(6, seed=4)),
         torch_fn=lambda torch, x, w, b: _torch_F(torch).instance_norm(x, weight=w, bias=b)),
    Case("nn.InstanceNorm1d", lambda x: nn.InstanceNorm1d(4)(x), instance_norm_ref, (_X,),
         torch_fn=lambda torch, x: torch.nn.InstanceNorm1d(4)(x)),
    Case("nn.InstanceNorm1d", lambda x: nn.InstanceNorm1d(4)(x), lambda x: instance_norm_ref(
        x[None])[0], (U(4, 5, seed=5),), torch_fn=lambda torch, x: torch.nn.InstanceNorm1d(4)(x),
         tag="unbatched"),
    Case("nn.InstanceNorm2d", lambda x: nn.InstanceNorm2d(6, affine=True, dtype=ad.float64)(x),
         instance_norm_ref, (_X4,),
         torch_fn=lambda torch, x: torch.nn.InstanceNorm2d(6, affine=True).double()(x)),
    Case("nn.InstanceNorm3d", lambda x: nn.InstanceNorm3d(2)(x), instance_norm_ref,
         (U(1, 2, 2, 2, 3, seed=6),), torch_fn=lambda torch, x: torch.nn.InstanceNorm3d(2)(x)),
    Case("F.local_response_norm", lambda x: F.local_response_norm(x, 3, alpha=0.5, k=0.7),
         lambda x: lrn_ref(x, 3, alpha=0.5, k=0.7), (_X,),
         torch_fn=lambda torch, x: _torch_F(torch).local_response_norm(x, 3, alpha=0.5, k=0.7)),
    Case("F.local_response_norm", lambda x: F.local_response_norm(x, 4, 0.3, 0.6, 2.0),
         lambda x: lrn_ref(x, 4, 0.3, 0.6, 2.0), (_X4,),
         torch_fn=lambda torch, x: _torch_F(torch).local_response_norm(x, 4, 0.3, 0.6, 2.0),
         tag="even_size_4d"),
    Case("nn.LocalResponseNorm", lambda x: nn.LocalResponseNorm(2, alpha=1.0)(x),
         lambda x: lrn_ref(x, 2, alpha=1.0), (_X4,),
         torch_fn=lambda torch, x: torch.nn.LocalResponseNorm(2, alpha=1.0)(x)),
] + [
    Case(f"F.{name}", lambda x, f=getattr(F, name): f(x, 0.5, training=False), lambda x: x,
         (U(2, 3, 4, 5, seed=7),),
         torch_fn=lambda torch, x, n=name: getattr(torch.nn.functional, n)(x, 0.5, False),
         tag="eval")
    for name in ("dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")
] + [
    Case("F.dropout1d", lambda x: F.dropout1d(x, 0.5, training=False), lambda x: x,
         (U(2, 3, 4, seed=7),),
         torch_fn=lambda torch, x: torch.nn.functional.dropout1d(x, 0.5, False), tag="eval"),
]

_MODULES = {"Dropout1d": (2, 3, 4), "Dropout2d": (2, 3, 4, 2), "Dropout3d": (1, 2, 3, 2, 2),
            "AlphaDropout": (2, 3), "FeatureAlphaDropout": (2, 3, 4)}
CASES += [Case(f"nn.{name}", lambda x, n=name: getattr(nn, n)(0.3).eval()(x), lambda x: x,
               (U(*shape, seed=8),), torch_fn=lambda torch, x, n=name: getattr(torch.nn, n)(
                   0.3).eval()(x), tag="eval") for name, shape in _MODULES.items()]
