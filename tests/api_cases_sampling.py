"""API cases for the samplers at the parameters where the law is a point mass, so the value is
known exactly (p in {0, 1}, std 0, rate 0, an interval of one point, one category of non-zero
weight) and PyTorch must agree. Their laws elsewhere, seeding and the zero gradient through
samples are checked statistically in ``tests/test_sampling.py``; samples are not
differentiable in value (gradcheck does not apply: grad=0)."""
from __future__ import annotations

import numpy as np

import autodiff as ad
from api_table import Case, U

_P01 = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
_ONE_HOT = np.array([[0.0, 0.0, 2.5, 0.0], [0.7, 0.0, 0.0, 0.0]])
_STATS = "the law is checked statistically in tests/test_sampling.py"

CASES = [
    Case("bernoulli", ad.bernoulli, lambda p: p, (_P01,), grad=0,
         torch_fn=lambda torch, p: torch.bernoulli(p)),
    Case("bernoulli", lambda x: ad.bernoulli(x, 1.0), lambda x: np.ones_like(x), (U(2, 3),),
         grad=0, torch_fn=lambda torch, x: torch.bernoulli(x, 1.0), tag="float_p"),
    Case("Tensor.bernoulli", lambda p: p.bernoulli(), lambda p: p, (_P01,), grad=0,
         torch_fn=lambda torch, p: p.bernoulli()),
    Case("Tensor.bernoulli_", lambda x, p: x.clone().bernoulli_(p), lambda x, p: p,
         (U(2, 3), _P01), grad=0, torch_fn=lambda torch, x, p: x.clone().bernoulli_(p)),
    Case("multinomial", lambda w: ad.multinomial(w, 3, replacement=True),
         lambda w: np.repeat(w.argmax(1)[:, None], 3, 1), (_ONE_HOT,), grad=0,
         torch_fn=lambda torch, w: torch.multinomial(w, 3, replacement=True)),
    Case("multinomial", lambda w: ad.multinomial(w, 1), lambda w: w.argmax(1)[:, None],
         (_ONE_HOT,), grad=0, torch_fn=lambda torch, w: torch.multinomial(w, 1),
         tag="no_replacement"),
    Case("Tensor.multinomial", lambda w: w[0].multinomial(2, True), lambda w: np.array([2, 2]),
         (_ONE_HOT,), grad=0, torch_fn=lambda torch, w: w[0].multinomial(2, True)),
    Case("normal", lambda m, s: ad.normal(m, s * 0), lambda m, s: m + 0 * s,
         (U(2, 3), U(3, seed=1)), grad=0, torch_fn=lambda torch, m, s: torch.normal(m, s * 0),
         tag="tensor_tensor"),
    Case("normal", lambda s: ad.normal(1.5, s * 0), lambda s: np.full(s.shape, 1.5), (U(4),),
         grad=0, torch_fn=lambda torch, s: torch.normal(1.5, s * 0), tag="float_tensor"),
    Case("normal", lambda m: ad.normal(m, 0.0), lambda m: m, (U(4),), grad=0,
         torch_fn=lambda torch, m: torch.normal(m, 0.0), tag="tensor_float"),
    Case("normal", lambda: ad.normal(-2.0, 0.0, (2, 3), dtype=ad.float64),
         lambda: np.full((2, 3), -2.0), (), grad=0,
         torch_fn=lambda torch: torch.normal(-2.0, 0.0, (2, 3), dtype=torch.float64),
         tag="size"),
    Case("poisson", ad.poisson, lambda r: np.zeros_like(r), (np.zeros((2, 2)),), grad=0,
         torch_fn=lambda torch, r: torch.poisson(r)),
    Case("Tensor.uniform_", lambda x: x.clone().uniform_(0.25, 0.25),
         lambda x: np.full_like(x, 0.25), (U(3),), grad=0,
         torch_fn=lambda torch, x: x.clone().uniform_(0.25, 0.25)),
    Case("Tensor.normal_", lambda x: x.clone().normal_(3.0, 0.0), lambda x: np.full_like(x, 3.0),
         (U(3),), grad=0, torch_fn=lambda torch, x: x.clone().normal_(3.0, 0.0)),
    Case("Tensor.random_", lambda x: x.clone().random_(4, 5), lambda x: np.full_like(x, 4.0),
         (U(3),), grad=0, torch_fn=lambda torch, x: x.clone().random_(4, 5)),
    Case("Tensor.cauchy_", lambda x: x.clone().cauchy_(1.0, 2.0), None, (U(3),), grad=0,
         note=_STATS),
    Case("Tensor.exponential_", lambda x: x.clone().exponential_(2.0), None, (U(3),), grad=0,
         note=_STATS),
    Case("Tensor.geometric_", lambda x: x.clone().geometric_(0.5), None, (U(3),), grad=0,
         note=_STATS),
    Case("Tensor.log_normal_", lambda x: x.clone().log_normal_(), None, (U(3),), grad=0,
         note=_STATS),
]
