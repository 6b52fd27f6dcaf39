"""In-place updates of persistent arrays (parameters, gradients, optimizer state), as ops a
tracer can see.

A training step writes into arrays that outlive it: the optimizer's update of ``p.array`` and
its state, ``zero_grad(set_to_none=False)``. These writes are not differentiable primitives (no
node, no VJP, so they are not rows of ``registry.PRIMITIVES``), but ``autodiff.compile`` must
replay them. Each kind of write is one :class:`Update` made by :func:`update_op` beside the code
that uses it; the caller runs it with :func:`apply`, which calls ``forward(*arrays, *attrs)``
(it writes into the first array in place), bumps the first tensor's version counter and reports
the write to the active tracer. ``attrs`` are Python values read by the forward when it runs
(an optimizer and the indices of a group and a parameter, so a replay reads the learning rate
and the optimizer state as they are then, never as they were when traced).
"""
from __future__ import annotations

from typing import Callable

from .. import tape
from ..tensor import Tensor

__all__ = ["Update", "FusedUpdate", "UPDATES", "update_op", "apply", "FILL", "COPY", "ARITHMETIC"]


class Update:
    """One kind of in-place write: ``forward(*arrays, *attrs)`` writes into ``arrays[0]``.
    ``fuse(*arrays, *attrs)``, when given, says how ``autodiff.compile`` may compute this
    write inside a fused loop: a :class:`FusedUpdate`, or None where this call has no such
    form."""

    __slots__ = ("name", "forward", "fuse")

    def __init__(self, name: str, forward: Callable, fuse: Callable | None = None) -> None:
        self.name = name
        self.forward = forward
        self.fuse = fuse


class FusedUpdate:
    """An update as per-element assignments for a fused loop (``autodiff/compile/fuse_cpu``).

    ``assign``: [(target, expression)] in order; a target is ``"w"`` (the written array, last)
    or ``"m0"``, ``"m1"``... (state arrays); an expression is Python over ``{0}`` (the target's
    element), ``{1}``... (the other arrays' elements), ``{m0}``... (state elements, their new
    values once assigned) and ``{s0}``... (scalars), with ``_D(x)`` rounding to the arrays'
    dtype as NumPy's in-place operations round each step. ``fetch(dry=False)`` -> (scalars,
    state arrays) read when the replay starts (a learning rate set by a scheduler, the momentum
    buffer; it advances what the eager update advances, such as Adam's step count, unless
    ``dry``), or None when the optimizer's configuration no longer has this form (the step is
    then traced again)."""

    __slots__ = ("assign", "fetch")

    def __init__(self, assign: list, fetch: Callable) -> None:
        self.assign = assign
        self.fetch = fetch

    def __repr__(self) -> str:
        return f"<update {self.name}>"


UPDATES: dict[str, Update] = {}


def update_op(name: str, forward: Callable, fuse: Callable | None = None) -> Update:
    """Register an in-place write (called once, at import time); ``fuse``: see
    :class:`Update`."""
    old = UPDATES.get(name)
    if old is not None and _where(old.forward) != _where(forward):   # a reload may re-register
        raise ValueError(f"update_op: {name!r} is already registered (by "
                         f"{_where(old.forward)})")
    if not callable(forward):
        raise TypeError(f"update_op {name!r}: forward must be callable, got "
                        f"{type(forward).__name__}")
    op = UPDATES[name] = Update(name, forward, fuse)
    return op


def _where(fn) -> str:
    """The source file and name of ``fn``: the same for a module imported again under another
    name (``optim.sgd`` beside ``autodiff.optim.sgd``) or reloaded."""
    code = getattr(fn, "__code__", None)
    where = code.co_filename if code is not None else getattr(fn, "__module__", "?")
    return f"{where}:{getattr(fn, '__qualname__', '?')}"


def apply(op: Update, tensors: tuple, attrs: tuple = ()) -> None:
    """Run ``op`` on the tensors' arrays (writing into ``tensors[0]``), then mark the write."""
    arrays = [t.array for t in tensors]
    if tape._tracer is not None:
        tape._tracer.update(op, tensors, attrs)
    op.forward(*arrays, *attrs)
    tape.increment_version(tensors[0])


def _fill_fw(a, value) -> None:
    a[...] = value


FILL = update_op("fill", _fill_fw)


def fill_(t: Tensor, value) -> None:
    """``t``'s data set to ``value`` everywhere, in place."""
    apply(FILL, (t,), (value,))


def _copy_fw(a, b) -> None:
    a[...] = b


#: ``a[...] = b``: ``copy_``, and the in-place methods computed out of place (``div_``, ...)
COPY = update_op("copy", _copy_fw)


def _iadd(a, b, alpha=1) -> None:
    if alpha == 1:
        a += b
    else:
        a += alpha * b


def _isub(a, b, alpha=1) -> None:
    if alpha == 1:
        a -= b
    else:
        a -= alpha * b


def _imul(a, b) -> None:
    a *= b


def _idiv(a, b) -> None:
    a /= b


#: the in-place arithmetic methods on data that no graph involves (``Tensor.add_``, ``-=``, ...
#: under no_grad): ``forward(a, other[, alpha])`` with ``other`` an array or a Python scalar
ARITHMETIC = {"add": update_op("add_", _iadd), "sub": update_op("sub_", _isub),
              "mul": update_op("mul_", _imul), "div": update_op("div_", _idiv)}


def arithmetic_(t: Tensor, name: str, other, *alpha) -> None:
    """``t op= other`` (``name``: add, sub, mul, div) in place; ``other`` a Tensor (read
    where it lives when replayed) or a Python scalar (an attribute); ``alpha`` for add/sub."""
    if isinstance(other, Tensor):
        apply(ARITHMETIC[name], (t, other), alpha)
    else:
        apply(ARITHMETIC[name], (t,), (other, *alpha))
