"""Regression tests for the silent differences from PyTorch found in reductions (issue "Port
PyTorch code unchanged", differences 3, 4 and 12), asserted against PyTorch's documented
results written here as constants; with PyTorch installed the same table runs on it too, so
the constants are checked to be PyTorch's.

- 3: ``axis``/``keepdims`` are aliases of ``dim``/``keepdim`` with the same result: ``x.max(axis=1)``
  is the (values, indices) named tuple of ``x.max(dim=1)``, for every op taking a dim.
- 12: ``max(x, 1)`` (dim positional) is that named tuple too; ``max(a, b)`` with a tensor ``b``
  is the elementwise maximum.
- 4: a 0-d tensor takes dim 0 and -1 and keeps its 0-d shape (``cumsum(x0d, 0)`` is 0-d); a dim
  out of range raises IndexError naming the op, the dim and the valid range.
"""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad

X = [[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]
B = [2.0, 2.0, 2.0]


def _arrays(out):
    """An op's result as a tuple of NumPy arrays (named tuples and plain tuples alike)."""
    outs = tuple(out) if isinstance(out, tuple) else (out,)
    return tuple(np.asarray(o.detach().numpy() if hasattr(o, "detach") else o.numpy())
                 for o in outs)


def _check(out, want, lib_name: str, case: str) -> None:
    got = _arrays(out)
    assert len(got) == len(want), f"{lib_name} {case}: {len(got)} outputs, expected {len(want)}"
    for g, w in zip(got, want):
        w = np.asarray(w)
        assert g.shape == w.shape, f"{lib_name} {case}: shape {g.shape}, expected {w.shape}"
        if w.dtype.kind in "iub":
            assert g.dtype == np.int64 or w.dtype.kind == "b", f"{lib_name} {case}: {g.dtype}"
            np.testing.assert_array_equal(g, w, err_msg=f"{lib_name} {case}")
        else:
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6, err_msg=f"{lib_name} {case}")


# ----------------------------------------------------------------------------- 3 and 12
# (case, fn(lib, x, b), PyTorch's result); x = tensor(X), b = tensor(B)
AXIS_CASES = [
    ("x.max(axis=1)", lambda m, x, b: x.max(axis=1), ([3.0, 2.0], [1, 0])),
    ("x.max(dim=1)", lambda m, x, b: x.max(dim=1), ([3.0, 2.0], [1, 0])),
    ("max(x, 1)", lambda m, x, b: m.max(x, 1), ([3.0, 2.0], [1, 0])),
    ("max(x, axis=1)", lambda m, x, b: m.max(x, axis=1), ([3.0, 2.0], [1, 0])),
    ("max(x, 1, True)", lambda m, x, b: m.max(x, 1, True), ([[3.0], [2.0]], [[1], [0]])),
    ("x.max(axis=0, keepdims=True)", lambda m, x, b: x.max(axis=0, keepdims=True),
     ([[2.0, 3.0, 3.0]], [[1, 0, 0]])),
    ("min(x, 1)", lambda m, x, b: m.min(x, 1), ([1.0, 0.0], [0, 1])),
    ("x.min(axis=1)", lambda m, x, b: x.min(axis=1), ([1.0, 0.0], [0, 1])),
    ("max(x, b)", lambda m, x, b: m.max(x, b), ([[2.0, 3.0, 3.0], [2.0, 2.0, 2.0]],)),
    ("x.min(b)", lambda m, x, b: x.min(b), ([[1.0, 2.0, 2.0], [2.0, 0.0, 2.0]],)),
    ("max(x)", lambda m, x, b: m.max(x), (3.0,)),
    ("median(x, axis=0)", lambda m, x, b: m.median(x, axis=0), ([1.0, 0.0, 2.0], [0, 1, 1])),
    ("mode(x, axis=0)", lambda m, x, b: m.mode(x, axis=0), ([1.0, 0.0, 2.0], [0, 1, 1])),
    ("kthvalue(x, 1, axis=0)", lambda m, x, b: m.kthvalue(x, 1, axis=0),
     ([1.0, 0.0, 2.0], [0, 1, 1])),
    ("topk(x, 1, axis=0)", lambda m, x, b: m.topk(x, 1, axis=0), ([[2.0, 3.0, 3.0]], [[1, 0, 0]])),
    ("sort(x, axis=0)", lambda m, x, b: m.sort(x, axis=0),
     ([[1.0, 0.0, 2.0], [2.0, 3.0, 3.0]], [[0, 1, 1], [1, 0, 0]])),
    ("argsort(x, axis=0)", lambda m, x, b: m.argsort(x, axis=0), ([[0, 1, 1], [1, 0, 0]],)),
    ("cummax(x, axis=0)", lambda m, x, b: m.cummax(x, axis=0),
     ([[1.0, 3.0, 3.0], [2.0, 3.0, 3.0]], [[0, 0, 0], [1, 0, 0]])),
    ("cummin(x, axis=0)", lambda m, x, b: m.cummin(x, axis=0),
     ([[1.0, 3.0, 3.0], [1.0, 0.0, 2.0]], [[0, 0, 0], [0, 1, 1]])),
    ("x.sum(axis=1, keepdims=True)", lambda m, x, b: x.sum(axis=1, keepdims=True),
     ([[7.0], [4.0]],)),
    ("mean(x, axis=0, keepdims=True)", lambda m, x, b: m.mean(x, axis=0, keepdims=True),
     ([[1.5, 1.5, 2.5]],)),
    ("std(x, axis=0, keepdims=True)", lambda m, x, b: m.std(x, axis=0, keepdims=True),
     ([[0.70710678, 2.12132034, 0.70710678]],)),
    ("logsumexp(x, axis=0, keepdims=True)",
     lambda m, x, b: m.logsumexp(x, axis=0, keepdims=True), ([[2.31326169, 3.04858735,
                                                                3.31326169]],)),
    ("argmax(x, axis=0, keepdims=True)", lambda m, x, b: m.argmax(x, axis=0, keepdims=True),
     ([[1, 0, 0]],)),
    ("amax(x, axis=0)", lambda m, x, b: m.amax(x, axis=0), ([2.0, 3.0, 3.0],)),
    ("cumsum(x, axis=1)", lambda m, x, b: m.cumsum(x, axis=1),
     ([[1.0, 4.0, 7.0], [2.0, 2.0, 4.0]],)),
    ("softmax(x, axis=0)", lambda m, x, b: m.softmax(x, axis=0),
     ([[0.26894142, 0.95257413, 0.73105858], [0.73105858, 0.04742587, 0.26894142]],)),
]


def _run_axis_cases(m, name: str) -> None:
    x, b = m.tensor(X), m.tensor(B)
    for case, fn, want in AXIS_CASES:
        _check(fn(m, x, b), want, name, case)


def test_axis_alias_and_positional_dim_return_named_tuples():
    _run_axis_cases(ad, "autodiff")
    x = ad.tensor(X)
    for by_axis, by_dim in ((x.max(axis=1), x.max(dim=1)), (ad.max(x, 1), ad.max(x, dim=1)),
                            (ad.median(x, axis=0), ad.median(x, 0))):
        assert by_axis.values.shape == by_dim.values.shape
        np.testing.assert_array_equal(by_axis.indices.numpy(), by_dim.indices.numpy())


def test_axis_cases_are_pytorchs(torch):
    _run_axis_cases(torch, "torch")


def test_the_mnist_idiom():
    """``_, preds = torch.max(outputs.data, 1)`` and ``(preds == labels.data).sum()``."""
    outputs = ad.tensor([[0.1, 2.0, -1.0], [3.0, 0.5, 0.2], [0.0, 0.1, 0.3]], requires_grad=True)
    labels = ad.tensor([1, 0, 1])
    _, preds = ad.max(outputs.data, 1)
    assert preds.dtype == np.int64
    assert int((preds == labels.data).sum()) == 2


def test_max_with_a_tensor_is_maximum_with_its_tie_rule():
    # PyTorch: maximum's gradient goes to the larger input, half to each at a tie
    x, b = ad.tensor(X, requires_grad=True), ad.tensor(B, requires_grad=True)
    ad.max(x, b).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 1.0, 1.0], [0.5, 0.0, 0.5]])
    np.testing.assert_allclose(b.grad.numpy(), [1.5, 1.0, 0.5])


# ----------------------------------------------------------------------------- 4: 0-d tensors
# (case, fn(lib, x0, dim), PyTorch's result for x0 = tensor(2.0)); every result is 0-d
ZERO_D = [
    ("sum", lambda m, x, d: m.sum(x, d), (2.0,)),
    ("sum keepdim", lambda m, x, d: m.sum(x, d, keepdim=True), (2.0,)),
    ("prod", lambda m, x, d: m.prod(x, d), (2.0,)),
    ("mean", lambda m, x, d: m.mean(x, d), (2.0,)),
    ("nansum", lambda m, x, d: m.nansum(x, d), (2.0,)),
    ("amax", lambda m, x, d: m.amax(x, d), (2.0,)),
    ("logsumexp", lambda m, x, d: m.logsumexp(x, d), (2.0,)),
    ("norm", lambda m, x, d: m.norm(x, 2, d), (2.0,)),
    ("softmax", lambda m, x, d: m.softmax(x, d), (1.0,)),
    ("log_softmax", lambda m, x, d: m.log_softmax(x, d), (0.0,)),
    ("cumsum", lambda m, x, d: m.cumsum(x, d), (2.0,)),
    ("cumprod", lambda m, x, d: m.cumprod(x, d), (2.0,)),
    ("logcumsumexp", lambda m, x, d: m.logcumsumexp(x, d), (2.0,)),
    ("max", lambda m, x, d: m.max(x, d), (2.0, 0)),
    ("max keepdim", lambda m, x, d: m.max(x, d, True), (2.0, 0)),
    ("min", lambda m, x, d: m.min(x, d), (2.0, 0)),
    ("argmax", lambda m, x, d: m.argmax(x, d), (0,)),
    ("argmin keepdim", lambda m, x, d: m.argmin(x, d, keepdim=True), (0,)),
    ("median", lambda m, x, d: m.median(x, d), (2.0, 0)),
    ("mode", lambda m, x, d: m.mode(x, d), (2.0, 0)),
    ("kthvalue", lambda m, x, d: m.kthvalue(x, 1, d), (2.0, 0)),
    ("topk", lambda m, x, d: m.topk(x, 1, d), (2.0, 0)),
    ("sort", lambda m, x, d: m.sort(x, d), (2.0, 0)),
    ("argsort", lambda m, x, d: m.argsort(x, d), (0,)),
    ("cummax", lambda m, x, d: m.cummax(x, d), (2.0, 0)),
    ("cummin", lambda m, x, d: m.cummin(x, d), (2.0, 0)),
    ("count_nonzero", lambda m, x, d: m.count_nonzero(x, d), (1,)),
    ("any", lambda m, x, d: m.any(x, d), (True,)),
]


def _run_zero_d(m, name: str) -> None:
    for dim in (0, -1):
        x = m.tensor(2.0)
        for case, fn, want in ZERO_D:
            _check(fn(m, x, dim), want, name, f"{case}(x0d, {dim})")


def test_zero_d_tensors_take_dim_0_and_minus_1_and_stay_0d():
    _run_zero_d(ad, "autodiff")


def test_zero_d_cases_are_pytorchs(torch):
    _run_zero_d(torch, "torch")


@pytest.mark.parametrize("case,grad", [("sum", 1.0), ("cumsum", 1.0), ("cumprod", 1.0),
                                       ("logsumexp", 1.0), ("softmax", 0.0),
                                       ("log_softmax", 0.0), ("max", 1.0), ("median", 1.0)])
def test_zero_d_gradients(case, grad):
    fn = dict((c, f) for c, f, _ in ZERO_D)[case]
    x = ad.tensor(2.0, dtype=ad.float64, requires_grad=True)
    out = fn(ad, x, 0)
    out = out[0] if isinstance(out, tuple) else out
    (g,) = ad.grad(out, x)
    assert g.shape == () and g.item() == pytest.approx(grad)


# (op, call on a tensor with dim 2) for the out-of-range check
OUT_OF_RANGE = [
    ("sum", lambda m, x: m.sum(x, 2)), ("prod", lambda m, x: m.prod(x, 2)),
    ("mean", lambda m, x: m.mean(x, 2)), ("softmax", lambda m, x: m.softmax(x, 2)),
    ("log_softmax", lambda m, x: m.log_softmax(x, 2)),
    ("logsumexp", lambda m, x: m.logsumexp(x, 2)), ("max", lambda m, x: m.max(x, 2)),
    ("argmax", lambda m, x: m.argmax(x, 2)), ("cumsum", lambda m, x: m.cumsum(x, 2)),
    ("cumprod", lambda m, x: m.cumprod(x, 2)), ("sort", lambda m, x: m.sort(x, 2)),
    ("topk", lambda m, x: m.topk(x, 1, 2)), ("median", lambda m, x: m.median(x, 2)),
    ("cummax", lambda m, x: m.cummax(x, 2)), ("amax", lambda m, x: m.amax(x, 2)),
]


@pytest.mark.parametrize("op,call", OUT_OF_RANGE, ids=[o for o, _ in OUT_OF_RANGE])
@pytest.mark.parametrize("shape,valid", [((), "[-1, 0]"), ((2, 3), "[-2, 1]")])
def test_dim_out_of_range_names_op_dim_and_range(op, call, shape, valid):
    x = ad.zeros(shape)
    message = rf"Dimension out of range \(expected to be in range of \{valid[:-1]}\], but got 2\)"
    with pytest.raises(IndexError, match=message) as e:
        call(ad, x)
    assert op in str(e.value)


def test_dim_out_of_range_is_pytorchs_error(torch):
    for op, call in OUT_OF_RANGE:
        for shape, valid in (((), "[-1, 0]"), ((2, 3), "[-2, 1]")):
            # (PyTorch's cummax words it differently for a 0-d tensor)
            with pytest.raises(IndexError, match=rf"in range of \{valid[:-1]}\]|dim -1 or 0"):
                call(torch, torch.zeros(shape))


# ----------------------------------------------------------------------------- gradients at ties
def test_value_selecting_ops_route_the_gradient_to_their_index():
    """PyTorch: max(dim), mode, median(dim) give the gradient to the returned index; median()
    over all elements shares it among the elements equal to the median."""
    x = ad.tensor([[4.0, 4.0, 1.0]], dtype=ad.float64, requires_grad=True)
    np.testing.assert_array_equal(ad.grad(x.max(dim=1).values.sum(), x)[0].numpy(),
                                  [[1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(ad.grad(x.max(), x)[0].numpy(), [[0.5, 0.5, 0.0]])
    m = ad.tensor([[2.0, 1.0, 2.0, 1.0, 1.0, 3.0, 3.0, 3.0]], dtype=ad.float64,
                  requires_grad=True)
    vals, idx = ad.mode(m, 1)
    assert vals.item() == 1.0 and idx.item() == 4
    np.testing.assert_array_equal(ad.grad(vals.sum(), m)[0].numpy(),
                                  [[0, 0, 0, 0, 1.0, 0, 0, 0]])
    y = ad.tensor([1.0, 2.0, 2.0, 3.0], dtype=ad.float64, requires_grad=True)
    np.testing.assert_array_equal(ad.grad(ad.median(y), y)[0].numpy(), [0.0, 0.5, 0.5, 0.0])


def test_cumprod_gradient_with_zeros():
    """d/dx of sum(g * cumprod(x)) at x = [2, 0, 3, 0, 4], g = [1..5]: PyTorch's [1, 22, 0, 0,
    0] (dx_1 = g1 x0 + g2 x0 x2 = 4 + 18); exact to second order (gradgradcheck)."""
    x = ad.tensor([2.0, 0.0, 3.0, 0.0, 4.0], dtype=ad.float64, requires_grad=True)
    g = ad.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=ad.float64)
    np.testing.assert_allclose(ad.grad(ad.cumprod(x, 0), x, g)[0].numpy(),
                               [1.0, 22.0, 0.0, 0.0, 0.0])
    (h,) = ad.grad(ad.cumprod(x, 0), x, g, create_graph=True)
    np.testing.assert_allclose(h.numpy(), [1.0, 22.0, 0.0, 0.0, 0.0])
    assert ad.gradgradcheck(lambda t: ad.cumprod(t, 0), (x,))
