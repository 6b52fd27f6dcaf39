"""Runs every case of the public-API op table (``tests/api_table.py``; cases in
``tests/api_cases_*.py``): values against NumPy references, first and second derivatives
against float64 finite differences, and values and VJPs against PyTorch when it is installed."""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

import autodiff as ad
from api_table import Case

_HERE = Path(__file__).resolve().parent


def _collect() -> list[Case]:
    cases = []
    for path in sorted(_HERE.glob("api_cases_*.py")):
        cases += importlib.import_module(path.stem).CASES
    return cases


CASES = _collect()


def _tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _leaves(case: Case) -> list:
    xs = []
    for i, a in enumerate(case.inputs):
        a = np.asarray(a)
        diff = a.dtype.kind == "f" and case.grad > 0 and i not in case.const
        xs.append(ad.tensor(a, requires_grad=diff))
    return xs


def _differentiable(outs) -> tuple:
    return tuple(o for o in outs if isinstance(o, ad.Tensor) and o.requires_grad)


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_value_against_numpy_reference(case):
    if case.ref is None:
        assert case.note, f"{case.id}: a case without a NumPy reference must say why (note)"
        pytest.skip(case.note)
    outs = _tuple(case.fn(*_leaves(case)))
    refs = _tuple(case.ref(*[np.asarray(a) for a in case.inputs]))
    assert len(outs) == len(refs), f"{case.id}: {len(outs)} outputs, reference has {len(refs)}"
    for o, r in zip(outs, refs):
        r = np.asarray(r)
        o = o.numpy() if isinstance(o, ad.Tensor) else np.asarray(o)
        assert o.shape == r.shape, f"{case.id}: shape {o.shape}, reference {r.shape}"
        if r.dtype.kind in "biu":
            np.testing.assert_array_equal(o, r)
        else:
            np.testing.assert_allclose(o, r, rtol=case.rtol, atol=case.atol)


@pytest.mark.parametrize("case", [c for c in CASES if c.grad > 0], ids=lambda c: c.id)
def test_derivatives_against_finite_differences(case):
    xs = _leaves(case)
    assert any(x.requires_grad for x in xs), f"{case.id}: grad > 0 but no float input"
    fn = lambda *a: _differentiable(_tuple(case.fn(*a)))  # noqa: E731
    assert ad.gradcheck(fn, xs, **case.tol)
    if case.grad > 1:
        assert ad.gradgradcheck(fn, xs, **case.tol)


@pytest.mark.parametrize("case", [c for c in CASES if c.torch_fn is not None],
                         ids=lambda c: c.id)
def test_against_pytorch(case, torch):
    xs = _leaves(case)
    ts = [torch.tensor(np.asarray(a), requires_grad=x.requires_grad)
          for a, x in zip(case.inputs, xs)]
    outs, touts = _tuple(case.fn(*xs)), _tuple(case.torch_fn(torch, *ts))
    assert len(outs) == len(touts), f"{case.id}: {len(outs)} outputs, torch has {len(touts)}"
    for o, t in zip(outs, touts):
        t = t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)
        assert o.shape == t.shape, f"{case.id}: shape {o.shape}, torch {t.shape}"
        np.testing.assert_allclose(o.numpy(), t, rtol=max(case.rtol, 1e-9), atol=case.atol)
    if case.grad == 0:
        return
    rng = np.random.default_rng(1)
    pairs = [(o, t) for o, t in zip(outs, touts)
             if isinstance(o, ad.Tensor) and o.requires_grad]
    vs = [rng.standard_normal(o.shape) for o, _ in pairs]
    diff = [i for i, x in enumerate(xs) if x.requires_grad]
    g = ad.grad([o for o, _ in pairs], [xs[i] for i in diff],
                grad_outputs=[ad.tensor(v) for v in vs], allow_unused=True)
    tg = torch.autograd.grad([t for _, t in pairs], [ts[i] for i in diff],
                             grad_outputs=[torch.tensor(v) for v in vs], allow_unused=True)
    for i, a, b in zip(diff, g, tg):
        a = np.zeros(xs[i].shape) if a is None else a.numpy()
        b = np.zeros(xs[i].shape) if b is None else b.numpy()
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10,
                                   err_msg=f"{case.id}: gradient of input {i}")
