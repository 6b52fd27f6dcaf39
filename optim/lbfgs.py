"""L-BFGS (Nocedal & Wright, "Numerical Optimization", algorithms 7.4/7.5) with an optional
strong-Wolfe line search (algorithms 3.5/3.6 with cubic interpolation, eq. 3.59).

Follows ``torch.optim.LBFGS``: all parameters are handled as one flat vector; ``step(closure)``
runs up to ``max_iter`` iterations (and ``max_eval`` function evaluations), calling the closure
(which must zero the gradients, compute the loss, call ``backward`` and return the loss) as often
as it needs. The search direction comes from the two-loop recursion over the last
``history_size`` curvature pairs ``(s, y)`` with initial Hessian scale ``s.y / y.y``; the first
step is scaled by ``min(1, 1/|g|_1) * lr``. Without a line search the step is a fixed ``lr``.
Iteration stops when ``max|g| <= tolerance_grad``, when the step or the change in loss falls
below ``tolerance_change``, or when ``g.d > -tolerance_change`` (no descent). The state survives
between ``step`` calls, so calling ``step`` repeatedly continues the same optimisation.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import autodiff as ad
from autodiff.backends import get_array_module

from .optimizer import Optimizer, ParamsT, check_hparam

__all__ = ["LBFGS"]


def _cubic_interpolate(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                       bounds: tuple[float, float] | None = None) -> float:
    """Minimiser of the cubic through (x1, f1, g1), (x2, f2, g2), clamped to ``bounds``
    (default: the interval between the points); the interval's midpoint when the cubic has no
    minimiser."""
    if bounds is not None:
        lo, hi = bounds
    else:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        else:
            pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        return min(max(pos, lo), hi)
    return (lo + hi) / 2.0


def _strong_wolfe(obj_func: Callable, x, t: float, d, f: float, g, gtd: float,
                  c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9,
                  max_ls: int = 25):
    """Find a step ``t`` along ``d`` from ``x`` satisfying the strong Wolfe conditions
    ``f(x+td) <= f + c1 t g.d`` and ``|g(x+td).d| <= c2 |g.d|``: bracketing phase, then zoom.
    Returns ``(f_new, g_new, t, evaluations)``."""
    xp = get_array_module(d)
    d_norm = float(xp.abs(d).max())
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    evals = 1
    gtd_new = float(g_new.dot(d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    bracket: list[float] = []
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            bracket, bf, bg, bgtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], \
                [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bf, bg, bgtd = [t], [f_new], [g_new], [gtd_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bf, bg, bgtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], \
                [gtd_prev, gtd_new]
            break
        # extrapolate: a cubic step between 1.01 t and 10 t
        lo = t + 0.01 * (t - t_prev)
        hi = t * 10.0
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(lo, hi))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = float(g_new.dot(d))
        ls_iter += 1
    if ls_iter >= max_ls:  # out of evaluations: bracket [0, t]
        bracket, bf, bg, bgtd = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]

    # zoom: shrink the bracket [low, high] (low has the lower f) until the conditions hold
    insuf_progress = False
    low, high = (0, 1) if bf[0] <= bf[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bf[0], bgtd[0], bracket[1], bf[1], bgtd[1])
        bmax, bmin = max(bracket), min(bracket)
        eps = 0.1 * (bmax - bmin)
        if min(bmax - t, t - bmin) < eps:
            # too close to an end: move away unless the last step already made progress
            if insuf_progress or t >= bmax or t <= bmin:
                t = bmax - eps if abs(t - bmax) < abs(t - bmin) else bmin + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = float(g_new.dot(d))
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bf[low]:
            bracket[high], bf[high], bg[high], bgtd[high] = t, f_new, g_new.copy(), gtd_new
            low, high = (0, 1) if bf[0] <= bf[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bf[high], bg[high], bgtd[high] = \
                    bracket[low], bf[low], bg[low], bgtd[low]
            bracket[low], bf[low], bg[low], bgtd[low] = t, f_new, g_new.copy(), gtd_new
    return bf[low], bg[low], bracket[low], evals


class LBFGS(Optimizer):
    """``LBFGS(params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
    tolerance_change=1e-9, history_size=100, line_search_fn=None)``, as ``torch.optim.LBFGS``.

    Supports a single parameter group. ``line_search_fn`` is None (fixed step ``lr``) or
    ``"strong_wolfe"``. ``step`` requires a closure and returns the loss of its first call.
    """

    def __init__(self, params: ParamsT, lr: float = 1.0, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _validate_group(self, group: dict[str, Any]) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        n = "LBFGS"
        check_hparam(n, "lr", group["lr"], group["lr"] >= 0, "the learning rate must be >= 0")
        check_hparam(n, "max_iter", group["max_iter"], group["max_iter"] >= 1, "must be >= 1")
        check_hparam(n, "max_eval", group["max_eval"], group["max_eval"] >= 1, "must be >= 1")
        check_hparam(n, "history_size", group["history_size"], group["history_size"] >= 1,
                     "must be >= 1")
        check_hparam(n, "line_search_fn", group["line_search_fn"],
                     group["line_search_fn"] in (None, "strong_wolfe"),
                     "must be None or 'strong_wolfe'")

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._params = self.param_groups[0]["params"]

    # ---------------------------------------------------------------- flat-vector helpers
    def _xp(self):
        return get_array_module(self._params[0].array)

    def _gather_flat_grad(self):
        xp = self._xp()
        parts = []
        for p in self._params:
            if p.grad is None:
                parts.append(xp.zeros(p.array.size, dtype=p.dtype))
            else:
                parts.append(p.grad.array.reshape(-1))
        return xp.concatenate(parts)

    def _add_grad(self, step_size: float, update) -> None:
        """``params += step_size * update`` (``update`` flat)."""
        offset = 0
        for p in self._params:
            n = p.array.size
            p.array += step_size * update[offset:offset + n].reshape(p.shape)
            ad.increment_version(p)
            offset += n

    def _clone_param(self):
        return [p.array.copy() for p in self._params]

    def _set_param(self, values) -> None:
        for p, v in zip(self._params, values):
            p.array[...] = v
            ad.increment_version(p)

    def _directional_evaluate(self, closure, x, t: float, d):
        self._add_grad(t, d)
        with ad.enable_grad():
            loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ---------------------------------------------------------------- the iteration
    def step(self, closure: Callable[[], Any] | None = None):  # type: ignore[override]
        if closure is None:
            raise RuntimeError("LBFGS.step requires a closure that re-evaluates the loss "
                               "(zero the gradients, compute the loss, backward, return it)")
        with ad.no_grad():
            return self._step(closure)

    def _step(self, closure):
        group = self.param_groups[0]
        lr = group["lr"]
        max_iter = group["max_iter"]
        max_eval = group["max_eval"]
        tolerance_grad = group["tolerance_grad"]
        tolerance_change = group["tolerance_change"]
        line_search_fn = group["line_search_fn"]
        history_size = group["history_size"]
        xp = self._xp()

        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with ad.enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if float(xp.abs(flat_grad).max()) <= tolerance_grad:
            return orig_loss

        d = state.get("d")
        t = state.get("t")
        old_dirs = state.get("old_dirs")
        old_stps = state.get("old_stps")
        ro = state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # -------- direction: steepest descent first, then the two-loop recursion
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(y.dot(s))
                if ys > 1e-10:  # keep the pair only when the curvature condition holds
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / float(y.dot(y))
                k = len(old_dirs)
                al = state.setdefault("al", [None] * history_size)  # kept, as in PyTorch
                q = -flat_grad
                for i in range(k - 1, -1, -1):
                    al[i] = float(old_stps[i].dot(q)) * ro[i]
                    q -= al[i] * old_dirs[i]
                r = q * H_diag
                for i in range(k):
                    be_i = float(old_dirs[i].dot(r)) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]
                d = r

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # -------- step length
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(xp.abs(flat_grad).sum())) * lr
            else:
                t = lr
            gtd = float(flat_grad.dot(d))
            if gtd > -tolerance_change:  # not a descent direction
                break

            ls_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()

                def obj_func(x, t_, d_):
                    return self._directional_evaluate(closure, x, t_, d_)

                # the search may use what is left of the evaluation budget
                loss, flat_grad, t, ls_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd,
                    max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = float(xp.abs(flat_grad).max()) <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    with ad.enable_grad():
                        loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = float(xp.abs(flat_grad).max()) <= tolerance_grad
                    ls_evals = 1
            current_evals += ls_evals
            state["func_evals"] += ls_evals

            # -------- stopping tests
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if float(xp.abs(d).max()) * abs(t) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss
