"""NumPy references for the optimizer tests, written out from the published algorithms (the
pseudo-code in the ``torch.optim`` documentation, Nocedal & Wright's L-BFGS, the schedules'
closed forms), independent of ``autodiff.optim``.

Update rules take a parameter array ``w``, its gradient ``g`` and a state dict ``s`` that holds
the buffers under PyTorch's state names (``step``, ``exp_avg``, ``momentum_buffer``, ...), so a
reference state compares key for key with ``optimizer.state_dict()['state']``; they return the
new parameter and update ``s`` in place.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np


# ----------------------------------------------------------------------------- update rules
def _tick(s: dict) -> int:
    s["step"] = s.get("step", 0) + 1
    return s["step"]


def _ascent(g: np.ndarray, w: np.ndarray, maximize: bool, weight_decay: float) -> np.ndarray:
    """The common prelude: ``g <- -g`` when maximizing, then the L2 term ``+ weight_decay w``."""
    g = -g if maximize else g
    return g + weight_decay * w if weight_decay else g


def sgd(w, g, s, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
        maximize=False):
    g = _ascent(g, w, maximize, weight_decay)
    if momentum:
        b = s.get("momentum_buffer")
        b = g.copy() if b is None else momentum * b + (1 - dampening) * g
        s["momentum_buffer"] = b
        g = g + momentum * b if nesterov else b
    return w - lr * g


def adam(w, g, s, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
         maximize=False, decoupled_weight_decay=False):
    b1, b2 = betas
    t = _tick(s)
    if decoupled_weight_decay:
        g = _ascent(g, w, maximize, 0.0)
        w = w - lr * weight_decay * w
    else:
        g = _ascent(g, w, maximize, weight_decay)
    s["exp_avg"] = m = b1 * s.get("exp_avg", 0.0) + (1 - b1) * g
    s["exp_avg_sq"] = v = b2 * s.get("exp_avg_sq", 0.0) + (1 - b2) * g * g
    if amsgrad:
        s["max_exp_avg_sq"] = v = np.maximum(s.get("max_exp_avg_sq", 0.0), v)
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps)


adamw = partial(adam, weight_decay=1e-2, decoupled_weight_decay=True)


def rmsprop(w, g, s, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
            centered=False, maximize=False):
    _tick(s)
    g = _ascent(g, w, maximize, weight_decay)
    s["square_avg"] = v = alpha * s.get("square_avg", 0.0) + (1 - alpha) * g * g
    if centered:
        s["grad_avg"] = a = alpha * s.get("grad_avg", 0.0) + (1 - alpha) * g
        v = v - a * a
    step = g / (np.sqrt(v) + eps)
    if momentum > 0:
        s["momentum_buffer"] = step = momentum * s.get("momentum_buffer", 0.0) + step
    return w - lr * step


def adagrad(w, g, s, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
            eps=1e-10, maximize=False):
    t = _tick(s)
    g = _ascent(g, w, maximize, weight_decay)
    s["sum"] = acc = s.get("sum", initial_accumulator_value) + g * g
    return w - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(acc) + eps)


def adadelta(w, g, s, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    _tick(s)
    g = _ascent(g, w, maximize, weight_decay)
    u = s.get("acc_delta", 0.0)
    s["square_avg"] = v = rho * s.get("square_avg", 0.0) + (1 - rho) * g * g
    dx = np.sqrt(u + eps) / np.sqrt(v + eps) * g
    s["acc_delta"] = rho * u + (1 - rho) * dx * dx
    return w - lr * dx


RULES: dict[str, Callable] = {"SGD": sgd, "Adam": adam, "AdamW": adamw, "RMSprop": rmsprop,
                              "Adagrad": adagrad, "Adadelta": adadelta}


def run_rule(name: str, kwargs: dict, init: Sequence[np.ndarray],
             grad: Callable[[int, int, np.ndarray], np.ndarray], steps: int):
    """``steps`` updates of every parameter by rule ``name``; ``grad(t, i, w_i)`` is parameter
    i's gradient at step t (1-based). Returns (final parameters, their states)."""
    rule = RULES[name]
    ws = [np.array(w, dtype=np.float64) for w in init]
    states: list[dict] = [{} for _ in ws]
    for t in range(1, steps + 1):
        for i, w in enumerate(ws):
            ws[i] = rule(w, grad(t, i, w), states[i], **kwargs)
    return ws, states


# ----------------------------------------------------------------------------- L-BFGS
def rosenbrock(x: np.ndarray) -> tuple[float, np.ndarray]:
    """``(1 - x0)^2 + 100 (x1 - x0^2)^2`` and its gradient; minimum 0 at (1, 1)."""
    a, b = x
    f = (1 - a) ** 2 + 100 * (b - a * a) ** 2
    return f, np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])


def lbfgs(fun: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, n_steps: int,
          lr: float = 1.0, max_iter: int = 20, max_eval: int | None = None,
          tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
          history_size: int = 100) -> tuple[np.ndarray, dict]:
    """L-BFGS with a fixed step, as ``torch.optim.LBFGS(line_search_fn=None)`` runs it over
    ``n_steps`` calls of ``step(closure)``; ``fun(x) -> (f, grad)`` on the flat vector.

    Each call evaluates ``fun`` once, returns at once when ``max|g| <= tolerance_grad``, then
    does at most ``max_iter`` iterations: the direction is ``-g`` on the very first iteration,
    else the two-loop recursion (Nocedal & Wright, algorithm 7.4) over the last
    ``history_size`` pairs ``(s, y)`` that satisfy ``y.s > 1e-10``, with ``H0 = s.y / y.y`` of
    the newest pair; the step is ``min(1, 1/|g|_1) lr`` on the very first iteration, else
    ``lr``. ``fun`` is evaluated after a step except on the call's last iteration (the next call
    evaluates there). A call stops after ``max_iter`` iterations, ``max_eval`` evaluations, when
    ``max|g| <= tolerance_grad``, when ``max|t d| <= tolerance_change``, when the loss changed by
    less than ``tolerance_change``, or (before stepping) when ``g.d > -tolerance_change``.

    Returns the iterate after each call, shape (n_steps, n), and the final counters
    ``{'n_iter', 'func_evals', 'n_pairs'}``.
    """
    if max_eval is None:
        max_eval = max_iter * 5 // 4
    x = np.array(x0, dtype=np.float64)
    pairs: list[tuple[np.ndarray, np.ndarray]] = []  # (s, y), oldest first
    h0 = 1.0
    n_iter_total = evals_total = 0
    g_prev = step_prev = None
    path = []
    for _ in range(n_steps):
        f, g = fun(x)
        evals, evals_total = 1, evals_total + 1
        if np.abs(g).max() > tolerance_grad:
            for it in range(1, max_iter + 1):
                n_iter_total += 1
                if n_iter_total == 1:
                    d = -g
                else:
                    s, y = step_prev, g - g_prev
                    if y @ s > 1e-10:
                        pairs = (pairs + [(s, y)])[-history_size:]
                        h0 = (y @ s) / (y @ y)
                    d = _two_loop(-g, pairs, h0)
                t = min(1.0, 1.0 / np.abs(g).sum()) * lr if n_iter_total == 1 else lr
                # remembered before the descent test, as PyTorch does: after a stop there the
                # next call sees y = 0 and keeps no pair
                f_prev, g_prev, step_prev = f, g, t * d
                if g @ d > -tolerance_change:
                    break
                x = x + step_prev
                if it == max_iter:
                    break
                f, g = fun(x)
                evals, evals_total = evals + 1, evals_total + 1
                if (evals >= max_eval or np.abs(g).max() <= tolerance_grad
                        or np.abs(step_prev).max() <= tolerance_change
                        or abs(f - f_prev) < tolerance_change):
                    break
        path.append(x.copy())
    return np.array(path), {"n_iter": n_iter_total, "func_evals": evals_total,
                            "n_pairs": len(pairs)}


def _two_loop(q: np.ndarray, pairs: list, h0: float) -> np.ndarray:
    """``H q`` for the L-BFGS inverse-Hessian approximation built from ``pairs`` on ``h0 I``."""
    q = q.copy()
    alphas = []
    for s, y in reversed(pairs):
        a = (s @ q) / (y @ s)
        q -= a * y
        alphas.append(a)
    r = h0 * q
    for (s, y), a in zip(pairs, reversed(alphas)):
        r += (a - (y @ r) / (y @ s)) * s
    return r


# ----------------------------------------------------------------------------- gradient clipping
def clip_grad_norm(grads: Sequence[np.ndarray], max_norm: float,
                   norm_type: float) -> tuple[float, list[np.ndarray]]:
    """The total ``norm_type`` norm of all gradients as one vector, and the gradients scaled by
    ``min(1, max_norm / (total + 1e-6))``."""
    flat = np.abs(np.concatenate([g.ravel() for g in grads]))
    total = flat.max() if norm_type == math.inf else (flat ** norm_type).sum() ** (1 / norm_type)
    coef = min(1.0, max_norm / (total + 1e-6))
    return float(total), [g * coef for g in grads]


# ----------------------------------------------------------------------------- LR schedules
def step_lr(base: float, epoch: int, step_size: int, gamma: float = 0.1) -> float:
    return base * gamma ** (epoch // step_size)


def multistep_lr(base: float, epoch: int, milestones: Sequence[int],
                 gamma: float = 0.1) -> float:
    return base * gamma ** sum(m <= epoch for m in milestones)


def exponential_lr(base: float, epoch: int, gamma: float) -> float:
    return base * gamma ** epoch


def cosine_annealing_lr(base: float, epoch: int, T_max: int, eta_min: float = 0.0) -> float:
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * epoch / T_max)) / 2


def lambda_lr(base: float, epoch: int, lr_lambda: Callable[[int], float]) -> float:
    return base * lr_lambda(epoch)


SCHEDULES: dict[str, Callable] = {"StepLR": step_lr, "MultiStepLR": multistep_lr,
                                  "ExponentialLR": exponential_lr,
                                  "CosineAnnealingLR": cosine_annealing_lr,
                                  "LambdaLR": lambda_lr}


def onecycle(step: int, total_steps: int, max_lr: float, pct_start: float = 0.3,
             div_factor: float = 25.0, final_div_factor: float = 1e4,
             anneal_strategy: str = "cos", three_phase: bool = False,
             base_momentum: float = 0.85, max_momentum: float = 0.95) -> tuple[float, float]:
    """(lr, momentum) of the 1cycle policy after ``step`` scheduler steps.

    Phases end at steps ``pct_start T - 1`` (warm-up: ``max_lr/div_factor`` up to ``max_lr``,
    momentum ``max -> base``) and ``T - 1`` (annealing to ``max_lr/(div_factor
    final_div_factor)``, momentum back to max); with ``three_phase`` the second phase goes back
    down to ``max_lr/div_factor`` by step ``2 pct_start T - 2`` (momentum mirrored) and a third
    anneals to the minimum at constant ``max_momentum``. Inside a phase from step a to b the
    fraction is ``(step - a)/(b - a)`` and values move by half a cosine or linearly.
    """
    lo = max_lr / div_factor
    lr_min = lo / final_div_factor
    e1 = pct_start * total_steps - 1
    if three_phase:
        e2 = 2 * pct_start * total_steps - 2
        phases = [(0, e1, lo, max_lr, max_momentum, base_momentum),
                  (e1, e2, max_lr, lo, base_momentum, max_momentum),
                  (e2, total_steps - 1, lo, lr_min, max_momentum, max_momentum)]
    else:
        phases = [(0, e1, lo, max_lr, max_momentum, base_momentum),
                  (e1, total_steps - 1, max_lr, lr_min, base_momentum, max_momentum)]
    a, b, l0, l1, m0, m1 = next((p for p in phases if step <= p[1]), phases[-1])
    frac = (step - a) / (b - a)
    # the share of the phase's change still ahead (written from the end value: exact there)
    rest = 1 - frac if anneal_strategy == "linear" else (1 + math.cos(math.pi * frac)) / 2
    return l1 + (l0 - l1) * rest, m1 + (m0 - m1) * rest
