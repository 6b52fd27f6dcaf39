"""Finite-difference checks of gradients (``gradcheck``) and of their gradients
(``gradgradcheck``), central differences in float64, as PyTorch's."""
from __future__ import annotations

import numpy

from .tape import grad
from .tensor import Tensor, make


def _outputs(fn, inputs):
    out = fn(*inputs)
    return (out,) if isinstance(out, Tensor) else tuple(out)


def _numerical_jacobian(fn, inputs, i, eps):
    x = inputs[i]
    if not x.array.flags.c_contiguous:
        x.array = x.array.copy()  # so the flat view below writes through to x
    cols = []
    flat = x.array.reshape(-1)
    for k in range(flat.size):
        orig = flat[k].item()
        flat[k] = orig + eps
        plus = [o.numpy().copy() for o in _outputs(fn, inputs)]
        flat[k] = orig - eps
        minus = [o.numpy().copy() for o in _outputs(fn, inputs)]
        flat[k] = orig
        cols.append(numpy.concatenate([((p - m) / (2 * eps)).reshape(-1)
                                       for p, m in zip(plus, minus)]))
    return numpy.stack(cols, axis=1) if cols else numpy.zeros((0, 0))


def _analytical_jacobian(fn, inputs, i):
    outs = _outputs(fn, inputs)
    rows = []
    for oi, o in enumerate(outs):
        if not o.requires_grad:
            rows.extend(numpy.zeros(inputs[i].array.size) for _ in range(o.array.size))
            continue
        for k in range(o.array.size):
            e = numpy.zeros(o.array.size, dtype=o.numpy().dtype)
            e[k] = 1
            gs = grad([o], [inputs[i]], [make(o.xp.asarray(e.reshape(o.shape)))],
                      retain_graph=True, allow_unused=True)
            g = gs[0]
            rows.append(numpy.zeros(inputs[i].array.size) if g is None else
                        g.numpy().reshape(-1).astype(numpy.float64))
    return numpy.stack(rows) if rows else numpy.zeros((0, inputs[i].array.size))


def gradcheck(func, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, nondet_tol: float = 0.0,
              check_undefined_grad: bool = True, check_grad_dtypes: bool = False,
              check_batched_grad: bool = False, check_batched_forward_grad: bool = False,
              check_forward_ad: bool = False, check_backward_ad: bool = True,
              fast_mode: bool = False, masked: bool | None = None) -> bool:
    """Compare the engine's Jacobian of ``func`` at ``inputs`` with central differences.

    Inputs that require grad must be float64 (float32 differences are too noisy to judge).
    PyTorch's arguments: ``nondet_tol`` is met by any value (the backward is deterministic);
    ``fast_mode=True`` runs the full check (it implies the fast one);
    ``check_undefined_grad`` has nothing to check (no undefined gradients here); forward-mode,
    batched (vmap) and masked checks are not implemented and raise.
    """
    unsupported = {"check_batched_grad": check_batched_grad,
                   "check_batched_forward_grad": check_batched_forward_grad,
                   "check_forward_ad": check_forward_ad, "check_grad_dtypes": check_grad_dtypes,
                   "masked": bool(masked), "check_backward_ad=False": not check_backward_ad}
    asked = [k for k, v in unsupported.items() if v]
    if asked:
        raise NotImplementedError(f"gradcheck: {', '.join(asked)} not implemented (no "
                                  f"forward-mode AD, vmap or masked tensors here)")
    fn = func
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for t in inputs:
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != numpy.float64:
            raise ValueError(f"gradcheck: inputs that require grad must be float64, got "
                             f"{t.dtype} (shape {t.shape})")
    for i, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        num = _numerical_jacobian(fn, inputs, i, eps)
        ana = _analytical_jacobian(fn, inputs, i)
        if num.shape != ana.shape or not numpy.allclose(ana, num, rtol=rtol, atol=atol):
            if raise_exception:
                diff = numpy.abs(ana - num).max() if num.shape == ana.shape else "shape"
                raise AssertionError(f"gradcheck: Jacobian mismatch for input {i} (shape "
                                     f"{x.shape}); max abs difference {diff}\nanalytical:\n{ana}"
                                     f"\nnumerical:\n{num}")
            return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, seed: int = 0) -> bool:
    """gradcheck of the map (inputs, v) -> v^T J: checks second derivatives."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    outs = _outputs(fn, inputs)
    rng = numpy.random.default_rng(seed)
    if grad_outputs is None:
        grad_outputs = tuple(make(o.xp.asarray(rng.standard_normal(o.shape)))
                             for o in outs if o.requires_grad)
    for v in grad_outputs:
        v.requires_grad = True
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    n_in = len(inputs)

    def first_derivative(*args):
        xs, vs = args[:n_in], args[n_in:]
        os = [o for o in _outputs(fn, xs) if o.requires_grad]
        gs = grad(os, [xs[i] for i in diff_idx], list(vs), create_graph=True, allow_unused=True)
        return tuple(g if g is not None else make(xs[i].xp.zeros_like(xs[i].array))
                     for g, i in zip(gs, diff_idx))

    return gradcheck(first_derivative, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception)
