"""Arguments of the engine API that used to be accepted and ignored, each shown to act:
``strict``, ``vectorize``, ``strategy``/``outer_jacobian_strategy`` of ``ad.functional``;
``mark_dirty``, ``set_materialize_grads``, ``mark_non_differentiable``, ``needs_input_grad``
(with tensors passed by keyword) of ``ad.Function``; ``copy`` of ``Tensor.__array__``. Values
against closed forms and central differences; PyTorch, where installed, as a second oracle
for which calls raise."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad

F = ad.functional
X = np.array([0.5, -1.2, 2.0])
Y = np.array([1.5, 0.3, -0.7])


def t64(a, requires_grad=False) -> ad.Tensor:
    return ad.tensor(a, dtype=ad.float64, requires_grad=requires_grad)


def fd_jacobian(f, x: np.ndarray, eps=1e-6) -> np.ndarray:
    """Central differences of a NumPy map, shape out.shape + x.shape."""
    cols = []
    for k in range(x.size):
        d = np.zeros(x.size)
        d[k] = eps
        cols.append((f(x + d.reshape(x.shape)) - f(x - d.reshape(x.shape))) / (2 * eps))
    out = np.stack(cols, -1)
    return out.reshape(out.shape[:-1] + x.shape)


# one call per API on f(x, y); a scalar version of f for the second-order ones
def _calls(f):
    def sf(*a):
        return f(*a).sum()
    xy, v3 = (t64(X), t64(Y)), t64(np.ones(3))
    return {
        "vjp": lambda **kw: F.vjp(f, xy, v3, **kw),
        "jvp": lambda **kw: F.jvp(f, xy, (v3, v3), **kw),
        "jacobian": lambda **kw: F.jacobian(f, xy, **kw),
        "hessian": lambda **kw: F.hessian(sf, xy, **kw),
        "vhp": lambda **kw: F.vhp(sf, xy, (v3, v3), **kw),
        "hvp": lambda **kw: F.hvp(sf, xy, (v3, v3), **kw),
    }


APIS = ["vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"]


# ----------------------------------------------------------------------------- strict
@pytest.mark.parametrize("api", APIS)
def test_strict_raises_for_an_input_the_output_ignores(api):
    call = _calls(lambda x, y: x ** 2)[api]
    with pytest.raises(RuntimeError, match="independent of (the )?input.* 1|input 1 is indep"):
        call(strict=True)
    res = call()  # not strict: zeros for y, as the mathematics says
    flat = [r for r in (res[1] if api in ("vjp", "jvp", "vhp", "hvp") else res)]
    if api == "vjp":
        np.testing.assert_allclose(flat[0].numpy(), 2 * X)
        np.testing.assert_array_equal(flat[1].numpy(), np.zeros(3))
    if api == "hessian":
        np.testing.assert_allclose(flat[0][0].numpy(), 2 * np.eye(3))
        np.testing.assert_array_equal(flat[1][1].numpy(), np.zeros((3, 3)))


@pytest.mark.parametrize("api", APIS)
def test_strict_raises_for_an_output_that_does_not_require_grad(api):
    call = _calls(lambda x, y: ad.ones(3, dtype=ad.float64))[api]
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function does not "
                                           "require gradients"):
        call(strict=True)
    call()  # not strict: fine (zeros)


def test_non_strict_constant_output_gives_zeros():
    _, (gx, gy) = F.vjp(lambda x, y: ad.ones(3, dtype=ad.float64), (t64(X), t64(Y)),
                        t64(np.ones(3)))
    np.testing.assert_array_equal(gx.numpy(), np.zeros(3))
    np.testing.assert_array_equal(gy.numpy(), np.zeros(3))


@pytest.mark.parametrize("api", ["vjp", "jvp", "jacobian"])
def test_strict_create_graph_refuses_a_constant_jacobian(api):
    """f = 2x + 3y: first derivatives exist (strict passes) but do not depend on the inputs,
    so with create_graph they could not be differentiated again."""
    call = _calls(lambda x, y: 2 * x + 3 * y)[api]
    res = call(strict=True)
    with pytest.raises(RuntimeError, match="jacobian of the user-provided function is "
                                           "independent of input 0.*create_graph=True"):
        call(strict=True, create_graph=True)
    if api == "jacobian":
        np.testing.assert_array_equal(res[0].numpy(), 2 * np.eye(3))
        np.testing.assert_array_equal(res[1].numpy(), 3 * np.eye(3))
    if api == "jvp":
        np.testing.assert_array_equal(res[1].numpy(), 5 * np.ones(3))


@pytest.mark.parametrize("api", ["hessian", "vhp", "hvp"])
def test_strict_second_order_refuses_a_linear_function(api):
    with pytest.raises(RuntimeError, match="jacobian of the user-provided function with "
                                           "respect to input 0 is independent"):
        _calls(lambda x, y: 2 * x + 3 * y)[api](strict=True)


def test_strict_hessian_of_a_bilinear_function():
    """f = <x, y>: H = [[0, I], [I, 0]]. The Hessian block (x, x) has no path (raises in strict
    mode); vhp, whose result v^T H depends on both inputs, passes; under create_graph the
    Hessian is constant, which strict refuses."""
    _, (hx, hy) = F.vhp(lambda x, y: (x * y).sum(), (t64(X), t64(Y)),
                        (t64([1.0, 2.0, 3.0]), t64([4.0, 5.0, 6.0])), strict=True)
    np.testing.assert_array_equal(hx.numpy(), [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(hy.numpy(), [1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="Output 0 .* independent of input 0"):
        F.hessian(lambda x, y: (x * y).sum(), (t64(X), t64(Y)), strict=True)
    with pytest.raises(RuntimeError, match="hessian of the user-provided function is "
                                           "independent of input 0.*create_graph=True"):
        F.vhp(lambda x, y: (x * y).sum(), (t64(X), t64(Y)), (t64(X), t64(Y)),
              strict=True, create_graph=True)


@pytest.mark.parametrize("create_graph", [False, True])
def test_strict_passes_and_changes_nothing_when_everything_depends(create_graph):
    """f = x^3 y (elementwise): every derivative depends on both inputs."""
    def f(x, y):
        return x ** 3 * y
    x, y = t64(X), t64(Y)
    J = F.jacobian(f, (x, y), strict=True, create_graph=create_graph)
    np.testing.assert_allclose(J[0].numpy(), np.diag(3 * X ** 2 * Y))
    np.testing.assert_allclose(J[1].numpy(), np.diag(X ** 3))
    _, hv = F.hvp(lambda a, b: f(a, b).sum(), (x, y), (t64(Y), t64(X)), strict=True,
                  create_graph=create_graph)
    # H = [[diag(6 x y), diag(3 x^2)], [diag(3 x^2), 0]] applied to (Y, X)
    np.testing.assert_allclose(hv[0].numpy(), 6 * X * Y * Y + 3 * X ** 2 * X)
    np.testing.assert_allclose(hv[1].numpy(), 3 * X ** 2 * Y)
    _, jv = F.jvp(f, (x, y), (t64(Y), t64(X)), strict=True, create_graph=create_graph)
    np.testing.assert_allclose(jv.numpy(), 3 * X ** 2 * Y * Y + X ** 3 * X)
    assert jv.requires_grad == create_graph


def test_strict_matches_pytorch(torch):
    """Which (function, API, create_graph) combinations strict mode refuses, and the input
    named, as torch.autograd.functional (first sentence of the message)."""
    TF = torch.autograd.functional
    fns = {"indep": lambda x, y: x ** 2, "linear": lambda x, y: 2 * x + 3 * y,
           "bilinear": lambda x, y: x * y, "cubic": lambda x, y: x ** 3 * y,
           "x2_plus_y": lambda x, y: x ** 2 + y}

    def outcome(fn):
        try:
            fn()
            return "ok"
        except RuntimeError as e:
            return str(e).split(".")[0]
    for name, f in fns.items():
        for cg in (False, True):
            tx, tv = (torch.tensor(X), torch.tensor(Y)), torch.ones(3, dtype=torch.float64)
            tcalls = {"vjp": lambda: TF.vjp(f, tx, tv, cg, True),
                      "jvp": lambda: TF.jvp(f, tx, (tv, tv), cg, True),
                      "jacobian": lambda: TF.jacobian(f, tx, cg, True),
                      "hessian": lambda: TF.hessian(lambda *a: f(*a).sum(), tx, cg, True),
                      "vhp": lambda: TF.vhp(lambda *a: f(*a).sum(), tx, (tv, tv), cg, True),
                      "hvp": lambda: TF.hvp(lambda *a: f(*a).sum(), tx, (tv, tv), cg, True)}
            for api, call in _calls(f).items():
                want = outcome(tcalls[api])
                if name == "x2_plus_y" and api == "jacobian" and cg:
                    # PyTorch names the output index (0) where it means the input (1)
                    want = want.replace("input 0", "input 1")
                assert outcome(lambda: call(strict=True, create_graph=cg)) == want, (name, api)


# ----------------------------------------------------------------------------- vectorize
def test_vectorize_gives_identical_results():
    def f(x, y):
        return ad.tanh(x * y.sum()) * ad.exp(0.3 * x)
    x, y = t64(X), t64(Y)
    Jl, Jv = F.jacobian(f, (x, y)), F.jacobian(f, (x, y), vectorize=True)
    for a, b in zip(Jl, Jv):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    fd = fd_jacobian(lambda v: np.tanh(v * Y.sum()) * np.exp(0.3 * v), X)
    np.testing.assert_allclose(Jv[0].numpy(), fd, rtol=1e-7, atol=1e-9)
    Hl = F.hessian(lambda a: f(a, y).sum(), x)
    Hv = F.hessian(lambda a: f(a, y).sum(), x, vectorize=True)
    np.testing.assert_array_equal(Hl.numpy(), Hv.numpy())


def test_vectorize_with_strict_raises_as_pytorch():
    with pytest.raises(RuntimeError, match="strict=True.*vectorize=True"):
        F.jacobian(lambda x: x ** 2, t64(X), strict=True, vectorize=True)
    with pytest.raises(RuntimeError, match="strict=True.*vectorize=True"):
        F.hessian(lambda x: (x ** 3).sum(), t64(X), strict=True, vectorize=True)


# ----------------------------------------------------------------------------- strategy
def test_forward_mode_jacobian_against_finite_differences():
    A = np.arange(6.0).reshape(2, 3) / 5

    def f(x, y):
        return ad.sin(t64(A) @ x) * y.sum(), x * y
    J = F.jacobian(f, (t64(X), t64(Y)), strategy="forward-mode")
    Jr = F.jacobian(f, (t64(X), t64(Y)))
    fd00 = fd_jacobian(lambda v: np.sin(A @ v) * Y.sum(), X)
    fd01 = fd_jacobian(lambda v: np.sin(A @ X) * v.sum(), Y)
    np.testing.assert_allclose(J[0][0].numpy(), fd00, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(J[0][1].numpy(), fd01, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(J[1][0].numpy(), np.diag(Y))
    np.testing.assert_allclose(J[1][1].numpy(), np.diag(X))
    for rows_f, rows_r in zip(J, Jr):
        for a, b in zip(rows_f, rows_r):
            assert a.shape == b.shape
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-14, atol=1e-15)
    # dtype: the output's in forward mode (PyTorch's rule), the input's in reverse mode
    g = lambda x: x.astype(ad.float32) * 2  # noqa: E731
    assert F.jacobian(g, t64(X), strategy="forward-mode").dtype == np.float32
    assert F.jacobian(g, t64(X)).dtype == np.float64


def test_hessian_forward_over_reverse():
    H = F.hessian(lambda x: (x ** 3).sum() * x[0], t64(X), outer_jacobian_strategy="forward-mode")
    # f = x0 * sum x^3: H = diag(6 x x0) + 3x^2 e0^T + e0 (3x^2)^T
    want = np.diag(6 * X * X[0])
    want[0, :] += 3 * X ** 2
    want[:, 0] += 3 * X ** 2
    np.testing.assert_allclose(H.numpy(), want, rtol=1e-13)
    with pytest.raises(ValueError, match="strategy"):
        F.jacobian(lambda x: x, t64(X), strategy="sideways")


def test_functional_rejects_non_tensor_inputs():
    with pytest.raises(TypeError, match="jacobian.*inputs.*index 1.*list"):
        F.jacobian(lambda x, y: x, (t64(X), [1.0, 2.0]))
    with pytest.raises(ValueError, match="vjp: v can only be omitted"):
        F.vjp(lambda x: x * 2, t64(X))


# ----------------------------------------------------------------------------- Function ctx
class MulTwoInPlace(ad.Function):
    """x *= 2 in forward, declared with mark_dirty."""

    @staticmethod
    def forward(ctx, x):
        x.mul_(2.0)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, g):
        return g * 2.0


def test_mark_dirty_returns_the_input_rebased():
    a = t64(X, True)
    h = a * 3.0
    before = h._version.v
    y = MulTwoInPlace.apply(h)
    assert y is h and h.grad_fn.name == "MulTwoInPlaceBackward"
    assert h._version.v == before + 2  # one for mul_ inside forward, one for apply (PyTorch)
    np.testing.assert_allclose(h.numpy(), 6 * X)
    (h * t64(Y)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 6 * Y)
    assert ad.gradcheck(lambda t: MulTwoInPlace.apply(t * 1.0), (t64(X, True),))


def test_mark_dirty_errors():
    a = t64(X, True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        MulTwoInPlace.apply(a)
    h = a * 1.0
    z = h * h  # saves h
    MulTwoInPlace.apply(h)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.sum().backward()

    class NotReturned(ad.Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1.0)
            ctx.mark_dirty(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2
    with pytest.raises(RuntimeError, match="marked as dirty.*not returned"):
        NotReturned.apply(a * 1.0)
    with pytest.raises(TypeError, match="mark_dirty"):
        class BadArg(MulTwoInPlace):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_dirty(3.0)
                return x
        BadArg.apply(a)
    leaf = t64(X, True)
    with ad.no_grad():  # allowed on a leaf under no_grad; the version still moves
        assert MulTwoInPlace.apply(leaf) is leaf
    assert leaf._version.v == 2 and leaf.grad_fn is None
    np.testing.assert_allclose(leaf.numpy(), 2 * X)


class TwoOutputs(ad.Function):
    """(2x, 3x); records what backward received."""

    seen: list = []

    @staticmethod
    def forward(ctx, x, materialize):
        ctx.set_materialize_grads(materialize)
        return x * 2.0, x * 3.0

    @staticmethod
    def backward(ctx, g1, g2):
        TwoOutputs.seen = [g1, g2]
        gx = 0.0
        if g1 is not None:
            gx = gx + 2.0 * g1
        if g2 is not None:
            gx = gx + 3.0 * g2
        return gx, None


@pytest.mark.parametrize("materialize", [True, False])
def test_set_materialize_grads(materialize):
    x = t64(X, True)
    p, _ = TwoOutputs.apply(x, materialize)
    (p * t64(Y)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * Y)
    g1, g2 = TwoOutputs.seen
    np.testing.assert_array_equal(g1.numpy(), Y)
    if materialize:
        np.testing.assert_array_equal(g2.numpy(), np.zeros(3))
    else:
        assert g2 is None


def test_mark_non_differentiable():
    seen = {}

    class SortWithIndex(ad.Function):
        @staticmethod
        def forward(ctx, x):
            order = x.array.argsort()
            idx = ad.tensor(order.astype(np.float64), dtype=ad.float64)  # float, yet marked
            ctx.mark_non_differentiable(idx)
            ctx.order = order
            return ad.tensor(x.array[order], dtype=ad.float64), idx

        @staticmethod
        def backward(ctx, g, g_idx):
            seen["g_idx"] = g_idx
            out = np.zeros_like(g.array)
            out[ctx.order] = g.array
            return ad.tensor(out, dtype=ad.float64)
    x = t64(X, True)
    s, idx = SortWithIndex.apply(x)
    assert s.requires_grad and not idx.requires_grad and idx.grad_fn is None
    (s * t64([1.0, 2.0, 3.0])).sum().backward()
    # sorted X = [-1.2, 0.5, 2.0] -> weights 1, 2, 3 go back to positions 1, 0, 2
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 1.0, 3.0])
    np.testing.assert_array_equal(seen["g_idx"].numpy(), np.zeros(3))  # materialized zeros


def test_needs_input_grad_with_keyword_tensors():
    seen = {}

    class Mul(ad.Function):
        @staticmethod
        def forward(ctx, x, y=None, *, scale=1.0):
            seen["needs"] = ctx.needs_input_grad
            ctx.save_for_backward(x, y)
            ctx.scale = scale
            return x * y * scale

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return (g * y * ctx.scale if ctx.needs_input_grad[0] else None,
                    g * x * ctx.scale if ctx.needs_input_grad[1] else None, None)  # extra None
    a, b = t64(X, True), t64(Y, True)
    Mul.apply(a, y=b, scale=2.0).sum().backward()
    assert seen["needs"] == (True, True)
    np.testing.assert_allclose(a.grad.numpy(), 2 * Y)
    np.testing.assert_allclose(b.grad.numpy(), 2 * X)  # a keyword tensor gets its gradient
    Mul.apply(t64(X), y=b).sum().backward()
    assert seen["needs"] == (False, True)
    with pytest.raises(TypeError, match="keyword-only argument 'scale'.*requires grad"):
        Mul.apply(a, b, scale=t64(2.0, True))
    with pytest.raises(TypeError, match="Mul.apply"):
        Mul.apply(a, b, bogus=1)


# ----------------------------------------------------------------------------- Tensor.__array__
def test_array_protocol_copy_argument():
    """NumPy 2 passes ``copy`` to ``__array__`` and trusts the answer."""
    t = ad.tensor(X, dtype=ad.float64, device="cpu")    # shares memory with NumPy: on the host
    a = np.array(t, copy=True)
    a[0] = 99.0
    np.testing.assert_array_equal(t.numpy(), X)  # a copy: the tensor is untouched
    assert np.shares_memory(np.asarray(t), t.array)  # copy=None: no copy when none is needed
    assert np.shares_memory(np.array(t, copy=False), t.array)
    np.testing.assert_array_equal(np.asarray(t, dtype=np.float32), X.astype(np.float32))
    with pytest.raises(ValueError, match="copy=False.*float64 -> float32"):
        np.array(t, dtype=np.float32, copy=False)
