"""API cases: nn.functional activations and their nn modules, and the distance functions
(normalize, cosine_similarity, pairwise_distance, one_hot). References are the published
formulas written out in NumPy."""
from __future__ import annotations

import numpy as np

import autodiff as ad
from api_table import A, Case, I, U
from autodiff import nn
from autodiff.nn import functional as F

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def _softmax(x, dim):
    e = np.exp(x - x.max(dim, keepdims=True))
    return e / e.sum(dim, keepdims=True)


def _cosine(a, b, dim):
    return (a * b).sum(dim) / np.sqrt((a * a).sum(dim) * (b * b).sum(dim))


def _act(name, fn, ref, x, torch_fn, tag="", **kw):
    return Case(name, fn, ref, (x,), torch_fn=torch_fn, tag=tag, **kw)


# PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32 even in float64 (a 3e-8
# relative error): compared with torch at that tolerance in tests/test_nn_activation.py
_HARDSIGMOID_NOTE = "torch twin in test_nn_activation.py (PyTorch's float32 1/6 in backward)"
_W = U(3, 4, low=-4.0, high=4.0)  # wide enough to reach every piece of the piecewise activations
X = U(2, 3, 4, low=-4.0, high=4.0, seed=3)

CASES = [
    _act("F.celu", lambda x: F.celu(x), lambda x: np.where(x > 0, x, np.expm1(x)), A(3, 4),
         lambda torch, x: torch.nn.functional.celu(x)),
    _act("F.celu", lambda x: F.celu(x, alpha=0.5),
         lambda x: np.maximum(x, 0) + np.minimum(0, 0.5 * (np.exp(x / 0.5) - 1)), A(3, 4),
         lambda torch, x: torch.nn.functional.celu(x, alpha=0.5), tag="alpha"),
    _act("F.selu", F.selu,
         lambda x: SELU_SCALE * (np.maximum(x, 0) + np.minimum(0, SELU_ALPHA * np.expm1(x))),
         A(3, 4), lambda torch, x: torch.nn.functional.selu(x)),
    _act("F.silu", F.silu, lambda x: x * _sigmoid(x), U(3, 4, low=-5, high=5),
         lambda torch, x: torch.nn.functional.silu(x)),
    _act("F.mish", F.mish, lambda x: x * np.tanh(np.log1p(np.exp(x))), U(3, 4, low=-5, high=5),
         lambda torch, x: torch.nn.functional.mish(x)),
    _act("F.hardtanh", F.hardtanh, lambda x: np.clip(x, -1, 1), U(3, 4, low=-2, high=2),
         lambda torch, x: torch.nn.functional.hardtanh(x)),
    _act("F.hardtanh", lambda x: F.hardtanh(x, min_val=-0.5, max_val=0.7),
         lambda x: np.clip(x, -0.5, 0.7), U(3, 4, low=-2, high=2),
         lambda torch, x: torch.nn.functional.hardtanh(x, -0.5, 0.7), tag="bounds"),
    _act("F.relu6", F.relu6, lambda x: np.minimum(np.maximum(x, 0), 6), U(3, 4, low=-3, high=9),
         lambda torch, x: torch.nn.functional.relu6(x)),
    _act("F.hardswish", F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6, _W,
         lambda torch, x: torch.nn.functional.hardswish(x)),
    _act("F.hardsigmoid", F.hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6, _W, None,
         note=_HARDSIGMOID_NOTE),
    _act("F.logsigmoid", F.logsigmoid, lambda x: -np.log1p(np.exp(-x)),
         U(3, 4, low=-30, high=30), lambda torch, x: torch.nn.functional.logsigmoid(x)),
    _act("F.softsign", F.softsign, lambda x: x / (1 + np.abs(x)), A(3, 4),
         lambda torch, x: torch.nn.functional.softsign(x)),
    _act("F.softmin", lambda x: F.softmin(x, dim=1), lambda x: _softmax(-x, 1), U(2, 3, 4),
         lambda torch, x: torch.nn.functional.softmin(x, dim=1)),
    _act("F.softmin", lambda x: F.softmin(x, dim=-1), lambda x: _softmax(-x, -1), U(2, 3, 4),
         lambda torch, x: torch.nn.functional.softmin(x, dim=-1), tag="last"),
    _act("F.glu", F.glu, lambda x: x[..., :2] * _sigmoid(x[..., 2:]), U(3, 4),
         lambda torch, x: torch.nn.functional.glu(x)),
    _act("F.glu", lambda x: F.glu(x, dim=0), lambda x: x[:2] * _sigmoid(x[2:]), U(4, 3),
         lambda torch, x: torch.nn.functional.glu(x, dim=0), tag="dim0"),
    _act("F.tanhshrink", F.tanhshrink, lambda x: x - np.tanh(x), U(3, 4, low=-3, high=3),
         lambda torch, x: torch.nn.functional.tanhshrink(x)),
    _act("F.softshrink", F.softshrink,
         lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0.0)), _W,
         lambda torch, x: torch.nn.functional.softshrink(x)),
    _act("F.hardshrink", lambda x: F.hardshrink(x, 0.3), lambda x: np.where(np.abs(x) > 0.3, x, 0),
         U(3, 4, low=-1, high=1), lambda torch, x: torch.nn.functional.hardshrink(x, 0.3)),
    _act("F.threshold", lambda x: F.threshold(x, 0.1, 20.0), lambda x: np.where(x > 0.1, x, 20.0),
         U(3, 4), lambda torch, x: torch.nn.functional.threshold(x, 0.1, 20.0)),
    Case("F.prelu", F.prelu, lambda x, w: np.where(x > 0, x, w[:, None] * x),
         (U(2, 3, 4, seed=1), U(3, seed=2)),
         torch_fn=lambda torch, x, w: torch.nn.functional.prelu(x, w), tag="channels"),
    Case("F.prelu", F.prelu, lambda x, w: np.where(x > 0, x, w * x), (U(2, 3, 4, seed=1), U(1)),
         torch_fn=lambda torch, x, w: torch.nn.functional.prelu(x, w), tag="shared"),
    _act("F.rrelu", lambda x: F.rrelu(x, 0.1, 0.3), lambda x: np.where(x > 0, x, 0.2 * x), A(3, 4),
         lambda torch, x: torch.nn.functional.rrelu(x, 0.1, 0.3), tag="eval"),
    # the modules beside the functionals
    _act("nn.CELU", lambda x: nn.CELU(0.5)(x),
         lambda x: np.where(x > 0, x, 0.5 * np.expm1(x / 0.5)), X,
         lambda torch, x: torch.nn.CELU(0.5)(x)),
    _act("nn.SELU", lambda x: nn.SELU()(x),
         lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)), X,
         lambda torch, x: torch.nn.SELU()(x)),
    _act("nn.SiLU", lambda x: nn.SiLU()(x), lambda x: x * _sigmoid(x), X,
         lambda torch, x: torch.nn.SiLU()(x)),
    _act("nn.Mish", lambda x: nn.Mish()(x), lambda x: x * np.tanh(_softplus(x)), X,
         lambda torch, x: torch.nn.Mish()(x)),
    _act("nn.Hardtanh", lambda x: nn.Hardtanh(-2.0, 3.0)(x), lambda x: np.clip(x, -2, 3), X,
         lambda torch, x: torch.nn.Hardtanh(-2.0, 3.0)(x)),
    _act("nn.ReLU6", lambda x: nn.ReLU6()(x * 2), lambda x: np.clip(2 * x, 0, 6), X,
         lambda torch, x: torch.nn.ReLU6()(x * 2)),
    _act("nn.Hardswish", lambda x: nn.Hardswish()(x), lambda x: x * np.clip(x + 3, 0, 6) / 6, X,
         lambda torch, x: torch.nn.Hardswish()(x)),
    _act("nn.Hardsigmoid", lambda x: nn.Hardsigmoid()(x), lambda x: np.clip(x / 6 + 0.5, 0, 1), X,
         None, note=_HARDSIGMOID_NOTE),
    _act("nn.LogSigmoid", lambda x: nn.LogSigmoid()(x), lambda x: np.log(_sigmoid(x)), X,
         lambda torch, x: torch.nn.LogSigmoid()(x)),
    _act("nn.Softsign", lambda x: nn.Softsign()(x), lambda x: x / (1 + np.abs(x)), X,
         lambda torch, x: torch.nn.Softsign()(x)),
    _act("nn.Softmin", lambda x: nn.Softmin(dim=2)(x), lambda x: _softmax(-x, 2), X,
         lambda torch, x: torch.nn.Softmin(dim=2)(x)),
    _act("nn.GLU", lambda x: nn.GLU()(x), lambda x: x[..., :2] * _sigmoid(x[..., 2:]), X,
         lambda torch, x: torch.nn.GLU()(x)),
    _act("nn.Tanhshrink", lambda x: nn.Tanhshrink()(x), lambda x: x - np.tanh(x), X,
         lambda torch, x: torch.nn.Tanhshrink()(x)),
    _act("nn.Softshrink", lambda x: nn.Softshrink(1.5)(x),
         lambda x: np.sign(x) * np.maximum(np.abs(x) - 1.5, 0), X,
         lambda torch, x: torch.nn.Softshrink(1.5)(x)),
    _act("nn.Hardshrink", lambda x: nn.Hardshrink(1.5)(x), lambda x: x * (np.abs(x) > 1.5), X,
         lambda torch, x: torch.nn.Hardshrink(1.5)(x)),
    _act("nn.Threshold", lambda x: nn.Threshold(0.5, -3.0)(x), lambda x: np.where(x > 0.5, x, -3.0),
         X, lambda torch, x: torch.nn.Threshold(0.5, -3.0)(x)),
    _act("nn.PReLU", lambda x: nn.PReLU(3, init=0.25, dtype=ad.float64)(x),
         lambda x: np.where(x > 0, x, 0.25 * x), X,
         lambda torch, x: torch.nn.PReLU(3, init=0.25).double()(x)),
    _act("nn.RReLU", lambda x: nn.RReLU(0.2, 0.4).eval()(x), lambda x: np.where(x > 0, x, 0.3 * x),
         X, lambda torch, x: torch.nn.RReLU(0.2, 0.4).eval()(x)),
    # distances and normalisation of vectors
    Case("F.normalize", F.normalize,
         lambda x: x / np.maximum(np.sqrt((x * x).sum(1, keepdims=True)), 1e-12), (U(2, 3, 4),),
         torch_fn=lambda torch, x: torch.nn.functional.normalize(x)),
    Case("F.normalize", lambda x: F.normalize(x, p=1.0, dim=-1),
         lambda x: x / np.abs(x).sum(-1, keepdims=True), (A(2, 3, 4),),
         torch_fn=lambda torch, x: torch.nn.functional.normalize(x, p=1.0, dim=-1), tag="p1"),
    Case("F.normalize", lambda x: F.normalize(x, p=3.0, dim=0, eps=0.5),
         lambda x: x / np.maximum((np.abs(x) ** 3).sum(0, keepdims=True) ** (1 / 3), 0.5),
         (U(2, 3) * [[1, 1, 0.1]],),
         torch_fn=lambda torch, x: torch.nn.functional.normalize(x, 3.0, 0, 0.5), tag="p3eps"),
    Case("F.cosine_similarity", F.cosine_similarity, lambda a, b: _cosine(a, b, 1),
         (U(2, 3, 4), U(2, 3, 4, seed=1)),
         torch_fn=lambda torch, a, b: torch.nn.functional.cosine_similarity(a, b)),
    Case("F.cosine_similarity", lambda a, b: F.cosine_similarity(a, b, dim=-1),
         lambda a, b: _cosine(*np.broadcast_arrays(a, b), -1),
         (U(2, 3, 4), U(3, 1, seed=1)),
         torch_fn=lambda torch, a, b: torch.nn.functional.cosine_similarity(a, b, dim=-1),
         tag="broadcast"),
    Case("F.pairwise_distance", F.pairwise_distance,
         lambda a, b: np.sqrt(((a - b + 1e-6) ** 2).sum(-1)), (U(3, 4), U(3, 4, seed=1)),
         torch_fn=lambda torch, a, b: torch.nn.functional.pairwise_distance(a, b)),
    Case("F.pairwise_distance", lambda a, b: F.pairwise_distance(a, b, p=1.0, keepdim=True),
         lambda a, b: np.abs(a - b + 1e-6).sum(-1, keepdims=True), (U(3, 4), U(4, seed=1)),
         torch_fn=lambda torch, a, b: torch.nn.functional.pairwise_distance(a, b, 1.0,
                                                                            keepdim=True),
         tag="p1_keepdim"),
    Case("F.pairwise_distance", lambda a, b: F.pairwise_distance(a, b, p=float("inf")),
         lambda a, b: np.abs(a - b + 1e-6).max(-1), (U(2, 3, 4), U(2, 3, 4, seed=1)),
         torch_fn=lambda torch, a, b: torch.nn.functional.pairwise_distance(a, b, float("inf")),
         tag="inf"),
    Case("F.one_hot", lambda i: F.one_hot(i, 5), lambda i: np.eye(5, dtype=np.int64)[i],
         (I(2, 3),), torch_fn=lambda torch, i: torch.nn.functional.one_hot(i, 5), grad=0),
    Case("F.one_hot", F.one_hot, lambda i: np.eye(i.max() + 1, dtype=np.int64)[i],
         (I(4, high=7, seed=2),), torch_fn=lambda torch, i: torch.nn.functional.one_hot(i),
         grad=0, tag="inferred"),
]

# the in-place spellings (values only: in place on a leaf that requires grad is refused)
_UNDERSCORE = [("relu_", (), lambda x: np.maximum(x, 0)),
               ("elu_", (0.5,), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
               ("leaky_relu_", (0.2,), lambda x: np.where(x > 0, x, 0.2 * x)),
               ("celu_", (2.0,), lambda x: np.where(x > 0, x, 2.0 * np.expm1(x / 2.0))),
               ("selu_", (), lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))),
               ("hardtanh_", (-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5)),
               ("rrelu_", (0.1, 0.3), lambda x: np.where(x > 0, x, 0.2 * x)),
               ("threshold_", (0.1, -2.0), lambda x: np.where(x > 0.1, x, -2.0))]
CASES += [Case(f"F.{name}", lambda x, n=name, a=args: getattr(F, n)(x, *a), ref, (X,),
               torch_fn=lambda torch, x, n=name, a=args: getattr(torch.nn.functional, n)(
                   x.clone(), *a), grad=0)
          for name, args, ref in _UNDERSCORE]
