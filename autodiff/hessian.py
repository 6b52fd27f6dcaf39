"""Hessian tools: curvature of a loss with respect to a model's parameters, without forming the
Hessian.

Every function takes a ``closure`` that re-evaluates and *returns* the loss (as LBFGS's closure
does, but it must not call ``backward()`` itself unless it passes ``create_graph=True``) and the
parameters (a list of tensors, or a module with ``parameters()``). The gradient graph is built
once per call, with ``create_graph=True``; every Hessian-vector product (HVP) is then one more
reverse sweep through it: ``H v`` is the vector-Jacobian product of the gradient with cotangent
``v`` (the Hessian is symmetric), so no explicit dot product is even recorded. Both halves are
``autodiff.functional``'s (:func:`~autodiff.functional.gradient_graph`,
:func:`~autodiff.functional.gradient_vjp`), which ``functional.hvp(func, inputs, v)`` uses too:
this module differs only in taking a closure over live parameters.

* :func:`hvp` -- ``H v`` by double backward; :func:`hvp_fd` -- the central finite difference
  ``(g(x + h v) - g(x - h v)) / 2h`` to check it.
* :func:`eigenvalues` -- the k largest (or smallest, or both) eigenpairs by Lanczos with full
  reorthogonalization, or by power iteration with projection deflation and an automatic shift.
* :func:`trace` -- Hutchinson's estimator ``E[z^T H z]`` with Rademacher ``z``.
* :func:`classify_critical_point`, :func:`extreme_eigenvalues`,
  :func:`curvature_along_gradient` (``g^T H g / g^T g``) and :func:`max_stable_lr`
  (``2 / lambda_max``, the step size beyond which gradient descent diverges along the top
  eigenvector of a quadratic).

Internally vectors are flat float64 arrays of the parameters' array module (NumPy or CuPy); only
scalars and the small Lanczos tridiagonal matrix go to the host.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import numpy

from .backends import get_array_module
from .functional import gradient_graph, gradient_vjp
from .grad_mode import enable_grad, no_grad
from .tape import grad, increment_version
from .tensor import Tensor, make

__all__ = ["HessianOperator", "hvp", "hvp_fd", "eigenvalues", "extreme_eigenvalues", "trace",
           "classify_critical_point", "curvature_along_gradient", "max_stable_lr",
           "flatten", "unflatten"]

Closure = Callable[[], Tensor]


# ------------------------------------------------------------------------------------ helpers
def _param_list(params) -> list[Tensor]:
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Tensor):
        params = [params]
    ps = [p for p in params if isinstance(p, Tensor) and p.requires_grad]
    if not ps:
        raise ValueError("hessian: no parameters that require grad were given")
    return ps


def _xp(params: Sequence[Tensor]):
    return get_array_module(*[p.array for p in params])


def flatten(tensors: Iterable, xp=None, dtype=numpy.float64):
    """Concatenate tensors (or arrays) into one flat array of ``dtype``."""
    arrays = [t.array if isinstance(t, Tensor) else t for t in tensors]
    xp = xp or get_array_module(*arrays)
    if not arrays:
        return xp.zeros(0, dtype)
    return xp.concatenate([xp.asarray(a, dtype=dtype).reshape(-1) for a in arrays])


def unflatten(vec, params: Sequence[Tensor]) -> list[Tensor]:
    """Split a flat vector (array or Tensor) into tensors shaped and typed like ``params``."""
    data = vec.array if isinstance(vec, Tensor) else vec
    out, i = [], 0
    for p in params:
        n = int(p.array.size)
        out.append(make(data[i:i + n].reshape(p.shape).astype(p.dtype, copy=True)))
        i += n
    if i != data.size:
        raise ValueError(f"unflatten: the vector has {data.size} entries but the parameters "
                         f"have {i}")
    return out


def _closure_grads(closure: Closure, params: list[Tensor], create_graph: bool):
    with enable_grad():
        loss = closure()
        if not isinstance(loss, Tensor):
            raise TypeError(f"hessian: the closure must return the loss as a Tensor, got "
                            f"{type(loss).__name__}")
        if loss.array.size != 1:
            raise ValueError(f"hessian: the closure must return a scalar loss, got shape "
                             f"{loss.shape}")
        if not loss.requires_grad:
            raise RuntimeError("hessian: the loss does not depend on the parameters (or the "
                               "closure ran under no_grad)")
        try:
            gs = gradient_graph((loss,), params) if create_graph else \
                grad(loss, params, allow_unused=True)
        except RuntimeError as e:
            if "second time" in str(e):
                raise RuntimeError("hessian: the closure's graph was already freed; the closure "
                                   "must return the loss without calling loss.backward() (or "
                                   "call backward(create_graph=True))") from e
            raise
    gs = tuple(make(p.xp.zeros_like(p.array)) if g is None else g for g, p in zip(gs, params))
    return loss, gs


class HessianOperator:
    """The Hessian of ``closure()`` w.r.t. ``params`` at their current values, as a linear map
    on flat vectors. The loss and its differentiable gradient are computed once, here; each
    :meth:`matvec` is one reverse sweep through the gradient's graph.

    >>> H = HessianOperator(closure, model.parameters())
    >>> Hv = H.matvec(v)            # v: flat array of length H.n
    """

    def __init__(self, closure: Closure, params) -> None:
        self.params = _param_list(params)
        self.xp = _xp(self.params)
        self.n = sum(int(p.array.size) for p in self.params)
        self.loss, gs = _closure_grads(closure, self.params, create_graph=True)
        self._gs = gs
        self._live = [i for i, g in enumerate(gs) if g.requires_grad]
        self.calls = 0

    @property
    def gradient(self):
        """The gradient at the point, as a flat float64 array."""
        return flatten([g.array for g in self._gs], self.xp)

    def matvec(self, v):
        """``H v`` for a flat vector ``v`` (array or Tensor); returns a flat float64 array."""
        if isinstance(v, Tensor):
            v = v.array
        v = self.xp.asarray(v)
        if v.size != self.n:
            raise ValueError(f"hvp: v has {v.size} entries but the parameters have {self.n}")
        self.calls += 1
        if not self._live:  # the gradient is constant: H = 0
            return self.xp.zeros(self.n, numpy.float64)
        hs = gradient_vjp(self._gs, self.params, unflatten(v, self.params))
        return flatten([self.xp.zeros(p.array.size) if h is None else h.array
                        for h, p in zip(hs, self.params)], self.xp)

    __call__ = matvec

    def as_linear_operator(self):
        """A ``scipy.sparse.linalg.LinearOperator`` (NumPy backend only)."""
        from scipy.sparse.linalg import LinearOperator
        return LinearOperator((self.n, self.n), matvec=lambda x: numpy.asarray(self.matvec(x)),
                              dtype=numpy.float64)

    def dense(self):
        """The explicit n x n Hessian, column by column (small models only)."""
        xp = self.xp
        cols = [self.matvec(e) for e in xp.eye(self.n)]
        return xp.stack(cols, axis=1)


def _as_flat(v, params: list[Tensor], xp):
    """``v`` (one flat vector, or one tensor per parameter) as a flat float64 array, and
    whether it was given flat."""
    if isinstance(v, (list, tuple)):
        if len(v) != len(params):
            raise ValueError(f"hvp: got {len(v)} vectors for {len(params)} parameters")
        for vi, p in zip(v, params):
            shape = vi.shape if hasattr(vi, "shape") else numpy.shape(vi)
            if tuple(shape) != tuple(p.shape):
                raise ValueError(f"hvp: a vector has shape {tuple(shape)} but its parameter "
                                 f"has shape {p.shape}")
        return flatten([xp.asarray(vi.array if isinstance(vi, Tensor) else vi) for vi in v],
                       xp), False
    data = v.array if isinstance(v, Tensor) else xp.asarray(v)
    return xp.asarray(data, dtype=numpy.float64).reshape(-1), True


def _format(flat, params: list[Tensor], as_flat: bool):
    if as_flat:
        return make(flat.astype(params[0].dtype))
    return unflatten(flat, params)


# ------------------------------------------------------------------------------------ HVPs
def hvp(closure: Closure, params, v):
    """The Hessian-vector product ``H v`` of ``closure()`` w.r.t. ``params``, by double backward.

    ``v`` is one tensor per parameter (returns a list of tensors shaped like the parameters) or
    one flat vector of the total size (returns a flat tensor).
    """
    params = _param_list(params)
    op = HessianOperator(closure, params)
    flat, as_flat = _as_flat(v, params, op.xp)
    return _format(op.matvec(flat), params, as_flat)


def hvp_fd(closure: Closure, params, v, h: float | None = None):
    """``(grad(x + h v) - grad(x - h v)) / 2h``: the central finite difference of the gradient
    along ``v``, for checking :func:`hvp`. The parameters are restored exactly afterwards.
    By default ``h = eps^(1/3) * max(1, |x|_inf) / |v|_inf`` for the parameters' dtype."""
    params = _param_list(params)
    xp = _xp(params)
    flat, as_flat = _as_flat(v, params, xp)
    if h is None:
        eps = float(numpy.finfo(params[0].dtype).eps)
        xmax = max(float(xp.abs(p.array).max()) if p.array.size else 0.0 for p in params)
        vmax = float(xp.abs(flat).max()) if flat.size else 1.0
        h = eps ** (1 / 3) * max(1.0, xmax) / (vmax or 1.0)
    parts = unflatten(flat, params)
    saved = [p.array.copy() for p in params]

    def shifted_grad(sign: float):
        with no_grad():
            for p, s, d in zip(params, saved, parts):
                p.array[...] = s + sign * h * d.array
                increment_version(p)
        _, gs = _closure_grads(closure, params, create_graph=False)
        return flatten([g.array for g in gs], xp)

    try:
        gp = shifted_grad(+1.0)
        gm = shifted_grad(-1.0)
    finally:
        with no_grad():
            for p, s in zip(params, saved):
                p.array[...] = s
                increment_version(p)
    return _format((gp - gm) / (2 * h), params, as_flat)


# ------------------------------------------------------------------------------------ spectra
def _rng(xp, seed):
    if seed is None:
        from .random import generator
        return generator(xp)
    return xp.random.default_rng(seed)


def _normalize(xp, v):
    nrm = float(xp.linalg.norm(v))
    return v / nrm, nrm


def _lanczos(matvec, n: int, xp, k: int, which: str, iters: int, tol: float, seed):
    """Lanczos with full reorthogonalization; restarts with a fresh orthogonal random vector
    when the Krylov space becomes invariant. Returns all Ritz pairs (ascending) and the
    number of steps."""
    rng = _rng(xp, seed)
    m_max = min(n, iters)
    Q = xp.zeros((n, m_max), numpy.float64)
    alphas: list[float] = []
    betas: list[float] = []  # betas[j] couples q_j and q_{j+1}
    q, _ = _normalize(xp, rng.standard_normal(n))
    check_every = 5
    for j in range(m_max):
        Q[:, j] = q
        w = matvec(q)
        alpha = float(q @ w)
        alphas.append(alpha)
        w = w - alpha * q
        if j > 0:
            w = w - betas[-1] * Q[:, j - 1]
        Qj = Q[:, :j + 1]
        for _ in range(2):  # full reorthogonalization, twice is enough (Kahan)
            w = w - Qj @ (Qj.T @ w)
        beta = float(xp.linalg.norm(w))
        scale = max(float(numpy.abs(alphas).max()), max(betas, default=0.0), beta, 1e-300)
        done = j + 1 == m_max
        breakdown = beta <= 1e-12 * scale
        if not done and not breakdown and (j + 1) % check_every == 0 and j + 1 >= k:
            T = numpy.diag(alphas) + numpy.diag(betas, 1) + numpy.diag(betas, -1)
            theta, S = numpy.linalg.eigh(T)
            res = numpy.abs(beta * S[-1, :])
            idx = _wanted(theta, k, which)
            if numpy.all(res[idx] <= tol * numpy.maximum(numpy.abs(theta[idx]), scale * 1e-3)):
                done = True
        if done:
            break
        if breakdown:  # invariant subspace: restart orthogonally to it (repeated eigenvalues)
            r = rng.standard_normal(n)
            for _ in range(2):
                r = r - Qj @ (Qj.T @ r)
            q, _ = _normalize(xp, r)
            betas.append(0.0)
        else:
            q = w / beta
            betas.append(beta)
    m = len(alphas)
    T = numpy.diag(alphas) + numpy.diag(betas[:m - 1], 1) + numpy.diag(betas[:m - 1], -1)
    theta, S = numpy.linalg.eigh(T)
    return theta, Q[:, :m] @ xp.asarray(S), m


def _wanted(theta, k: int, which: str):
    m = len(theta)
    k = min(k, m)
    if which == "largest":
        return numpy.arange(m - 1, m - 1 - k, -1)
    if which == "smallest":
        return numpy.arange(k)
    both = set(range(m - 1, m - 1 - k, -1)) | set(range(k))
    return numpy.array(sorted(both, reverse=True))


def _power(matvec, n: int, xp, k: int, iters: int, tol: float, seed):
    """The k algebraically largest eigenpairs by power iteration with projection deflation.

    Each pair is found on P (A - sigma I) P, P projecting out the pairs found so far. sigma
    starts at 0. When the dominant eigenvalue found is negative (so it bounds the rest of the
    spectrum from below), sigma moves to it, which makes the operator positive semidefinite on
    the remaining subspace with the largest remaining eigenvalue dominant. When two eigenvalues
    of opposite signs dominate together (the Rayleigh quotient stays well below |A v|, and plain
    power iteration stalls), sigma moves to -|A v|, below the whole spectrum."""
    rng = _rng(xp, seed)
    vals: list[float] = []
    vecs: list = []
    sigma = 0.0
    total = 0
    while len(vals) < min(k, n):
        V = xp.stack(vecs, axis=1) if vecs else None

        def project(x):
            if V is None:
                return x
            for _ in range(2):
                x = x - V @ (V.T @ x)
            return x

        for _shift in range(8):
            v, _ = _normalize(xp, project(rng.standard_normal(n)))
            mu, converged, new_sigma = 0.0, False, None
            history: list[float] = []
            for it in range(iters):
                Av = project(matvec(v))
                total += 1
                mu = float(v @ Av)  # Rayleigh quotient of H
                w = Av - sigma * v
                nrm = float(xp.linalg.norm(w))
                res = float(xp.linalg.norm(w - (mu - sigma) * v))
                # the scale of the spectrum: the first (dominant) eigenvalue found bounds it
                norm_av = float(xp.linalg.norm(Av))
                scale = max(abs(mu), abs(sigma), abs(vals[0]) if vals else 0.0, 1e-300)
                if nrm <= 1e-13 * scale or res <= tol * scale:
                    converged = True
                    break
                history.append(res)
                stalled = it >= 20 and res > 0.9 * history[-11]
                if sigma == 0.0 and abs(mu) < 0.99 * norm_av and (stalled or it == iters - 1):
                    new_sigma = -1.01 * norm_av  # +-lambda dominate: shift below the spectrum
                    break
                v = w / nrm
            if new_sigma is not None:
                sigma = new_sigma
                continue
            if converged and mu - sigma < 0 and n - len(vals) > 1:
                sigma = mu  # see docstring: shift and redo this pair
                continue
            break
        vals.append(mu)
        vecs.append(v)
    return numpy.array(vals), xp.stack(vecs, axis=1), total


def eigenvalues(closure: Closure, params, k: int = 1, method: str = "lanczos",
                which: str = "largest", iters: int | None = None, tol: float = 1e-6,
                seed: int | None = 0):
    """The top-k eigenvalues and eigenvectors of the loss Hessian from HVPs only.

    ``which``: ``"largest"`` (algebraic, descending), ``"smallest"`` (ascending) or ``"both"``
    (the k largest and the k smallest, all in descending order). ``method``: ``"lanczos"``
    (full reorthogonalization; ``iters`` = the most Lanczos steps, default ``max(50, 4k)``,
    capped at the dimension) or ``"power"`` (``iters`` = the most iterations per eigenpair,
    default 500). ``tol``: relative residual ``|H v - lambda v| / |lambda|`` to stop at.

    Returns ``(eigenvalues, eigenvectors)``: a NumPy array, and a Tensor of shape (n, k) whose
    columns are unit eigenvectors over the flattened parameters (as ``numpy.linalg.eigh``);
    split a column into per-parameter tensors with :func:`unflatten`.
    """
    if which not in ("largest", "smallest", "both"):
        raise ValueError(f"eigenvalues: which must be 'largest', 'smallest' or 'both', got "
                         f"{which!r}")
    if k < 1:
        raise ValueError(f"eigenvalues: k must be at least 1, got {k}")
    params = _param_list(params)
    op = HessianOperator(closure, params)
    n, xp = op.n, op.xp
    if method == "lanczos":
        steps = min(n, iters if iters is not None else max(50, 4 * k))
        theta, Y, _ = _lanczos(op.matvec, n, xp, k, which, steps, tol, seed)
        idx = _wanted(theta, k, which)
        vals, vecs = theta[idx], Y[:, xp.asarray(idx)]
    elif method == "power":
        it = iters if iters is not None else 500
        if which == "largest":
            vals, vecs, _ = _power(op.matvec, n, xp, k, it, tol, seed)
        elif which == "smallest":
            vals, vecs, _ = _power(lambda x: -op.matvec(x), n, xp, k, it, tol, seed)
            vals = -vals
        else:
            hi, vh, _ = _power(op.matvec, n, xp, k, it, tol, seed)
            k_lo = min(k, n - len(hi))  # no eigenpair twice when 2k > n
            if k_lo > 0:
                lo, vl, _ = _power(lambda x: -op.matvec(x), n, xp, k_lo, it, tol, seed)
                vals = numpy.concatenate([hi, -lo])
                vecs = xp.concatenate([vh, vl], axis=1)
            else:
                vals, vecs = hi, vh
            order = numpy.argsort(-vals, kind="stable")
            vals, vecs = vals[order], vecs[:, xp.asarray(order)]
    else:
        raise ValueError(f"eigenvalues: method must be 'lanczos' or 'power', got {method!r}")
    return numpy.asarray(vals, dtype=numpy.float64), make(vecs)


def extreme_eigenvalues(closure: Closure, params, iters: int | None = None, tol: float = 1e-6,
                        seed: int | None = 0) -> tuple[float, float]:
    """``(lambda_min, lambda_max)`` of the loss Hessian, from one Lanczos run."""
    params = _param_list(params)
    op = HessianOperator(closure, params)
    steps = min(op.n, iters if iters is not None else 50)
    theta, _, _ = _lanczos(op.matvec, op.n, op.xp, 1, "both", steps, tol, seed)
    return float(theta[0]), float(theta[-1])


def trace(closure: Closure, params, n_samples: int = 100, seed: int | None = 0) -> float:
    """Hutchinson's estimate of tr(H): the mean of ``z^T H z`` over ``n_samples`` Rademacher
    vectors ``z`` (unbiased; variance ``2 * sum_{i != j} H_ij^2`` per sample)."""
    if n_samples < 1:
        raise ValueError(f"trace: n_samples must be at least 1, got {n_samples}")
    params = _param_list(params)
    op = HessianOperator(closure, params)
    rng = _rng(op.xp, seed)
    total = 0.0
    for _ in range(n_samples):
        z = op.xp.where(rng.random(op.n) < 0.5, -1.0, 1.0)
        total += float(z @ op.matvec(z))
    return total / n_samples


def classify_critical_point(closure: Closure, params, rtol: float = 1e-6, atol: float = 1e-10,
                            iters: int | None = None, seed: int | None = 0) -> str:
    """``"minimum"``, ``"maximum"``, ``"saddle"`` or ``"degenerate"`` from the extreme
    eigenvalues of the Hessian (second-order test; it assumes the gradient vanishes there).

    An eigenvalue counts as zero when ``|lambda| <= atol + rtol * max|lambda|``; a zero extreme
    eigenvalue with no eigenvalue of the opposite sign makes the test inconclusive
    (``"degenerate"``)."""
    lo, hi = extreme_eigenvalues(closure, params, iters=iters, seed=seed)
    thr = atol + rtol * max(abs(lo), abs(hi))
    if lo < -thr and hi > thr:
        return "saddle"
    if lo > thr:
        return "minimum"
    if hi < -thr:
        return "maximum"
    return "degenerate"


def curvature_along_gradient(closure: Closure, params) -> float:
    """``g^T H g / g^T g``: the curvature of the loss along the gradient direction (0 when the
    gradient vanishes). Gradient descent with learning rate ``lr`` decreases a quadratic along
    ``g`` only if ``lr < 2 / curvature``."""
    params = _param_list(params)
    op = HessianOperator(closure, params)
    g = op.gradient
    gg = float(g @ g)
    if gg == 0.0:
        return 0.0
    return float(g @ op.matvec(g)) / gg


def max_stable_lr(closure: Closure, params, method: str = "lanczos", **kwargs) -> float:
    """``2 / lambda_max``: the largest learning rate for which gradient descent is stable on
    the local quadratic model (``inf`` when the Hessian has no positive eigenvalue)."""
    vals, _ = eigenvalues(closure, params, k=1, method=method, **kwargs)
    lam = float(vals[0])
    return 2.0 / lam if lam > 0 else math.inf
