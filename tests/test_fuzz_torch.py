"""Random-expression fuzzing against PyTorch (issue "Port PyTorch code unchanged"): seeded
random expression trees over the elementwise unary and binary ops, broadcasting, reductions
with dims, matmul, transpose/reshape and integer-array indexing, evaluated in float64 by
autodiff and by PyTorch. For each expression the values, the gradients for a random
cotangent and the Hessian-vector products (``create_graph=True``, then a second ``grad``) must
agree. Inputs sometimes hold exact zeros, ties and integers, so the conventions at
non-differentiable points (``pow`` at 0, ``abs``/``relu`` kinks, ``maximum`` ties, rounding)
are exercised, and a gradient PyTorch keeps on the graph must stay on it here.

Each op is written once against a module ``M`` (``autodiff`` or ``torch``, same names), so
the expression is literally the same code on both sides. Skipped without PyTorch.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

import autodiff as ad

N_EXPRESSIONS = 300
SEED = 1234
MAX_DEPTH = 4
# every shape an expression may take: any two broadcast together, into one of them
SHAPES = [(3, 4), (1, 4), (3, 1), (4,), ()]
SPECIAL = np.array([0.0, 0.0, 0.5, -0.5, 1.0, -1.0, 2.0])   # zeros, ties, integers, halves


def F(M):
    return M.nn.functional


# name -> fn(M, x); domain guards (x*x + 0.5, tanh) are part of the op, visible in its name
UNARY = {
    "neg": lambda M, x: -x,
    "abs": lambda M, x: M.abs(x),
    "relu": lambda M, x: M.relu(x),
    "leaky_relu": lambda M, x: F(M).leaky_relu(x, 0.1),
    "sign": lambda M, x: M.sign(x),
    "floor": lambda M, x: M.floor(x),
    "ceil": lambda M, x: M.ceil(x),
    "trunc": lambda M, x: M.trunc(x),
    "round": lambda M, x: M.round(x),
    "round(decimals=1)": lambda M, x: M.round(x, decimals=1),
    "frac": lambda M, x: M.frac(x),
    "exp(3tanh)": lambda M, x: M.exp(M.tanh(x) * 3),
    "log(x^2+.5)": lambda M, x: M.log(x * x + 0.5),
    "log1p(x^2)": lambda M, x: M.log1p(x * x),
    "expm1(tanh)": lambda M, x: M.expm1(M.tanh(x)),
    "sqrt(abs)": lambda M, x: M.sqrt(M.abs(x)),
    "sin": lambda M, x: M.sin(x),
    "cos": lambda M, x: M.cos(x),
    "tan(tanh)": lambda M, x: M.tan(M.tanh(x)),
    "tanh": lambda M, x: M.tanh(x),
    "sigmoid": lambda M, x: M.sigmoid(x),
    "erf": lambda M, x: M.erf(x),
    "softplus": lambda M, x: F(M).softplus(x),
    "elu": lambda M, x: F(M).elu(x),
    "gelu": lambda M, x: F(M).gelu(x),
    "sinh(2tanh)": lambda M, x: M.sinh(M.tanh(x) * 2),
    "cosh(2tanh)": lambda M, x: M.cosh(M.tanh(x) * 2),
    "asin(.9tanh)": lambda M, x: M.asin(M.tanh(x) * 0.9),
    "acos(.9tanh)": lambda M, x: M.acos(M.tanh(x) * 0.9),
    "atanh(.9tanh)": lambda M, x: M.atanh(M.tanh(x) * 0.9),
    "atan": lambda M, x: M.atan(x),
    "asinh": lambda M, x: M.asinh(x),
    "acosh(x^2+1.5)": lambda M, x: M.acosh(x * x + 1.5),
    "exp2(3tanh)": lambda M, x: M.exp2(M.tanh(x) * 3),
    "log2(x^2+.5)": lambda M, x: M.log2(x * x + 0.5),
    "log10(x^2+.5)": lambda M, x: M.log10(x * x + 0.5),
    "rsqrt(x^2+.5)": lambda M, x: M.rsqrt(x * x + 0.5),
    "reciprocal(x^2+.5)": lambda M, x: M.reciprocal(x * x + 0.5),
    "square": lambda M, x: M.square(x),
    "sinc": lambda M, x: M.sinc(x),
    "nan_to_num": lambda M, x: M.nan_to_num(x),
    "clamp(-.5,1)": lambda M, x: M.clamp(x, -0.5, 1.0),
    "clamp_min(0)": lambda M, x: M.clamp_min(x, 0.0),
    "clamp_max(.5)": lambda M, x: M.clamp_max(x, 0.5),
    "pow0": lambda M, x: x ** 0,
    "pow1": lambda M, x: x ** 1,
    "pow2": lambda M, x: x ** 2,
    "pow3": lambda M, x: x ** 3,
    "abs^.5": lambda M, x: M.abs(x) ** 0.5,
    "abs^2.5": lambda M, x: M.abs(x) ** 2.5,
    "(x^2+.5)^-1.5": lambda M, x: (x * x + 0.5) ** -1.5,
    "2^tanh": lambda M, x: 2.0 ** M.tanh(x),
    "0^abs": lambda M, x: 0.0 ** M.abs(x),
    "x%.75": lambda M, x: x % 0.75,
}
BINARY = {
    "add": lambda M, a, b: a + b,
    "sub": lambda M, a, b: a - b,
    "mul": lambda M, a, b: a * b,
    "div(b^2+.5)": lambda M, a, b: a / (b * b + 0.5),
    "maximum": lambda M, a, b: M.maximum(a, b),
    "minimum": lambda M, a, b: M.minimum(a, b),
    "abs^b": lambda M, a, b: M.abs(a) ** b,
    "(abs+.5)^b": lambda M, a, b: (M.abs(a) + 0.5) ** b,
    # + 0.0 makes -0.0 +0.0: which zero a tie of min/max/clamp returns is not specified
    # (PyTorch's differs between its vectorised and scalar loops); atan2 and copysign see it
    "atan2": lambda M, a, b: M.atan2(a + 0.0, b + 0.0),
    "hypot": lambda M, a, b: M.hypot(a, b),
    "logaddexp": lambda M, a, b: M.logaddexp(a, b),
    "logaddexp2": lambda M, a, b: M.logaddexp2(a, b),
    "xlogy(b^2+.5)": lambda M, a, b: M.xlogy(a, b * b + 0.5),
    "xlogy(abs)": lambda M, a, b: M.xlogy(a, M.abs(b)),
    "copysign": lambda M, a, b: M.copysign(a, b + 0.0),
    "remainder(b^2+.5)": lambda M, a, b: M.remainder(a, b * b + 0.5),
    "fmod(b^2+.5)": lambda M, a, b: M.fmod(a, b * b + 0.5),
    "div_floor(b^2+.5)": lambda M, a, b: M.div(a, b * b + 0.5, rounding_mode="floor"),
    "div_trunc(b^2+.5)": lambda M, a, b: M.div(a, b * b + 0.5, rounding_mode="trunc"),
    "lerp(.3)": lambda M, a, b: M.lerp(a, b, 0.3),
    "lerp(tanh b)": lambda M, a, b: M.lerp(a, b, M.tanh(b)),
    "clamp(min=b)": lambda M, a, b: M.clamp(a, min=b),
    "clamp(-|b|,|b|)": lambda M, a, b: M.clamp(a, -M.abs(b), M.abs(b)),
}
# reductions: name -> fn(M, x, dim, keepdim); dim None: all dims
REDUCE = {
    "sum": lambda M, x, d, k: x.sum() if d is None else x.sum(dim=d, keepdim=k),
    "mean": lambda M, x, d, k: x.mean() if d is None else x.mean(dim=d, keepdim=k),
    "amax": lambda M, x, d, k: M.amax(x) if d is None else M.amax(x, dim=d, keepdim=k),
    # max() without a dim is left out: PyTorch's evenly_distribute_backward keeps a NaN
    # gradient out of the positions that are not the maximum, autodiff's does not (reported)
    "max(dim)": lambda M, x, d, k: M.amax(x) if d is None else M.max(x, d, keepdim=k).values,
    # clamped: over -inf only, autodiff's gradient is 0 where PyTorch's is NaN (a documented
    # convention, README)
    "logsumexp(clamp 1e6)": lambda M, x, d, k: M.logsumexp(
        M.clamp(x, -1e6, 1e6), dim=tuple(range(x.ndim)) if d is None else d, keepdim=k),
}
SAME_SHAPE = {   # shape-preserving ops along a dim; clamped: on a row holding +inf PyTorch's
    # result is NaN throughout, autodiff's only where the inf is (reported)
    "softmax(clamp 1e6)": lambda M, x, d: F(M).softmax(M.clamp(x, -1e6, 1e6), dim=d),
    "log_softmax(clamp 1e6)": lambda M, x, d: F(M).log_softmax(M.clamp(x, -1e6, 1e6), dim=d),
}
_ROWS, _COLS, _FLAT = np.array([2, 0, 2]), [1, 1, 3, 0], [3, 0, 0, 1]
STRUCTURE = {    # name -> (fn(M, x, w), the input shapes it takes)
    "matmul(W)": (lambda M, x, w: x @ w, [(3, 4), (1, 4), (4,)]),
    "transpose.reshape": (lambda M, x, w: x.transpose(0, 1).reshape(x.shape), [(3, 4)]),
    "x[[2,0,2]]": (lambda M, x, w: x[M.tensor(_ROWS)], [(3, 4)]),
    "x[:,[1,1,3,0]]": (lambda M, x, w: x[:, _COLS], [(3, 4), (1, 4)]),
    "x[[3,0,0,1]]": (lambda M, x, w: x[_FLAT], [(4,)]),
}
INPUT_SHAPES = [(3, 4), (4,), (3, 1), ()]   # the leaves x0..x3; W (4, 4) is input 4

# Kinks and jumps turn a last-ulp difference (NumPy's and PyTorch's exp, sum order...) into
# a different branch: their arguments are built only from EXACT ops (correctly rounded IEEE
# arithmetic, selection, data movement), which give the same bits on both sides, so the exact
# zeros and ties of the inputs reach them intact.
NONSMOOTH = {"abs", "relu", "leaky_relu", "sign", "floor", "ceil", "trunc", "round",
             "round(decimals=1)", "frac", "sqrt(abs)", "clamp(-.5,1)", "clamp_min(0)",
             "clamp_max(.5)", "abs^.5", "abs^2.5", "0^abs", "x%.75", "elu", "maximum",
             "minimum", "abs^b", "(abs+.5)^b", "copysign", "remainder(b^2+.5)", "fmod(b^2+.5)",
             "div_floor(b^2+.5)", "div_trunc(b^2+.5)", "clamp(min=b)", "clamp(-|b|,|b|)",
             "xlogy(abs)", "hypot", "atan2", "sinc", "amax", "max(dim)"}
EXACT = {"neg", "abs", "leaky_relu", "sign", "floor", "ceil", "trunc", "round",
         "clamp(-.5,1)", "clamp_min(0)", "clamp_max(.5)", "pow0", "pow1", "pow2", "square",
         "x%.75", "add", "sub", "mul", "div(b^2+.5)", "maximum", "minimum", "copysign",
         "remainder(b^2+.5)", "fmod(b^2+.5)", "div_floor(b^2+.5)", "div_trunc(b^2+.5)",
         "clamp(min=b)", "clamp(-|b|,|b|)", "where", "transpose.reshape", "x[[2,0,2]]",
         "x[:,[1,1,3,0]]", "x[[3,0,0,1]]"}


@dataclass
class Node:
    op: str
    kind: str                # leaf, unary, binary, reduce, same, structure, where
    shape: tuple
    children: list = field(default_factory=list)
    arg: object = None       # leaf index, (dim, keepdim), dim, or a where-condition

    def __str__(self) -> str:
        if self.kind == "leaf":
            return f"x{self.arg}"
        inner = ", ".join(map(str, self.children))
        extra = "" if self.arg is None or self.kind == "where" else f"; {self.arg}"
        return f"{self.op}({inner}{extra})"


def _broadcast(a: tuple, b: tuple) -> tuple:
    return tuple(np.broadcast_shapes(a, b))


def _reductions(shape: tuple) -> list:
    """(dim, keepdim) choices whose result is one of SHAPES."""
    opts = [(None, False)]
    for d in range(len(shape)):
        for k in (False, True):
            out = tuple(1 if i == d else s for i, s in enumerate(shape)) if k else \
                tuple(s for i, s in enumerate(shape) if i != d)
            if out in SHAPES and out != shape:
                opts.append((d, k))
    return opts


def _reduced(shape: tuple, dim, keep: bool) -> tuple:
    if dim is None:
        return ()
    return tuple(1 if i == dim else s for i, s in enumerate(shape)) if keep else \
        tuple(s for i, s in enumerate(shape) if i != dim)


def _pick(rng: np.random.Generator, names, exact: bool) -> str:
    names = [n for n in names if n in EXACT] if exact else list(names)
    return names[rng.integers(len(names))]


def generate(rng: np.random.Generator, depth: int, exact: bool = False) -> Node:
    """A random expression of at most ``depth`` ops; ``exact``: EXACT ops only."""
    if depth == 0 or rng.random() < 0.15:
        i = int(rng.integers(len(INPUT_SHAPES)))
        return Node("leaf", "leaf", INPUT_SHAPES[i], arg=i)
    r = rng.random()
    if r < 0.42:
        op = _pick(rng, UNARY, exact)
        c = generate(rng, depth - 1, exact or op in NONSMOOTH)
        return Node(op, "unary", c.shape, [c])
    if r < 0.75:
        op = _pick(rng, BINARY, exact)
        a, b = (generate(rng, depth - 1, exact or op in NONSMOOTH) for _ in range(2))
        return Node(op, "binary", _broadcast(a.shape, b.shape), [a, b])
    if r < 0.80:
        a, b = generate(rng, depth - 1, exact), generate(rng, depth - 1, exact)
        shape = _broadcast(a.shape, b.shape)
        cond = rng.random(SHAPES[rng.integers(len(SHAPES))]) < 0.5
        return Node("where", "where", _broadcast(shape, cond.shape), [a, b], cond)
    if r < 0.88 and not exact:
        op = _pick(rng, REDUCE, False)
        c = generate(rng, depth - 1, op in NONSMOOTH)
        opts = _reductions(c.shape)
        dim, keep = opts[rng.integers(len(opts))]
        return Node(op, "reduce", _reduced(c.shape, dim, keep), [c], (dim, keep))
    c = generate(rng, depth - 1, exact)
    if r < 0.93 and c.shape and not exact:
        op = _pick(rng, SAME_SHAPE, False)
        return Node(op, "same", c.shape, [c], int(rng.integers(-len(c.shape), len(c.shape))))
    fits = [name for name, (_, shapes) in STRUCTURE.items()
            if c.shape in shapes and (name in EXACT or not exact)]
    if not fits:
        return Node("neg", "unary", c.shape, [c])
    op = fits[rng.integers(len(fits))]
    shape = c.shape if op != "matmul(W)" else c.shape[:-1] + (4,)
    return Node(op, "structure", shape, [c])


def evaluate(node: Node, M, xs: list):
    if node.kind == "leaf":
        return xs[node.arg]
    args = [evaluate(c, M, xs) for c in node.children]
    if node.kind == "unary":
        return UNARY[node.op](M, *args)
    if node.kind == "binary":
        return BINARY[node.op](M, *args)
    if node.kind == "where":
        return M.where(M.tensor(node.arg), *args)
    if node.kind == "reduce":
        return REDUCE[node.op](M, args[0], *node.arg)
    if node.kind == "same":
        return SAME_SHAPE[node.op](M, args[0], node.arg)
    return STRUCTURE[node.op][0](M, args[0], xs[-1])


def _inputs(rng: np.random.Generator) -> list:
    arrays = []
    for shape in INPUT_SHAPES + [(4, 4)]:
        a = rng.standard_normal(shape)
        special = rng.random(shape) < 0.3
        a = np.where(special, rng.choice(SPECIAL, shape), a)
        arrays.append(np.asarray(a, dtype=np.float64))
    return arrays


def _as_np(t):
    return None if t is None else (t.detach() + 0).numpy()   # + 0: PyTorch's ZeroTensor


def _run(M, grad, expr: Node, arrays: list, cot, hvp_dir):
    """Value, VJP and HVP of ``expr`` under the module ``M`` (NumPy arrays; None for an input
    the derivative does not reach)."""
    xs = [M.tensor(a, requires_grad=True) for a in arrays]
    out = evaluate(expr, M, xs)
    if not out.requires_grad:
        return _as_np(out), None, None
    gs = grad(out, xs, M.tensor(cot), create_graph=True, allow_unused=True)
    terms = [(g * M.tensor(u)).sum() for g, u in zip(gs, hvp_dir)
             if g is not None and g.requires_grad]
    hs = [None] * len(xs)
    if terms:
        s = terms[0]
        for t in terms[1:]:
            s = s + t
        hs = grad(s, xs, allow_unused=True)
    return _as_np(out), [_as_np(g) for g in gs], [_as_np(h) for h in hs]


def _close(ours, theirs, what: str, expr: Node) -> None:
    if theirs is None:   # PyTorch's derivative does not reach this input: ours must be 0
        assert ours is None or not np.any(ours), f"{what}: expected no dependence\n{expr}"
        return
    assert ours is not None, f"{what}: PyTorch has one, autodiff has none (left the graph)\n{expr}"
    scale = max(1.0, float(np.abs(theirs[np.isfinite(theirs)]).max(initial=0)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10 * scale, equal_nan=True,
                               err_msg=f"{what} of\n{expr}")


def test_random_expressions_match_pytorch(torch):
    rng = np.random.default_rng(SEED)
    checked = 0
    while checked < N_EXPRESSIONS:
        expr = generate(rng, MAX_DEPTH)
        arrays = _inputs(rng)
        cot = rng.standard_normal(expr.shape)
        hvp_dir = [rng.standard_normal(a.shape) for a in arrays]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = _run(torch, torch.autograd.grad, expr, arrays, cot, hvp_dir)
            if not np.all(np.isfinite(theirs[0])) or np.max(np.abs(theirs[0]), initial=0) > 1e8:
                continue   # outside the ops' comfortable range: draw another
            ours = _run(ad, ad.grad, expr, arrays, cot, hvp_dir)
        _close(ours[0], theirs[0], "value", expr)
        assert (ours[1] is None) == (theirs[1] is None), f"requires_grad differs\n{expr}"
        if theirs[1] is not None:
            for i in range(len(arrays)):
                _close(ours[1][i], theirs[1][i], f"gradient of x{i}", expr)
                _close(ours[2][i], theirs[2][i], f"HVP of x{i}", expr)
        checked += 1
