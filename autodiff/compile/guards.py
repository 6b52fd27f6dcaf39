"""The guard of a compiled call: what must match for a traced program to be replayed.

:func:`signature` is computed before every call: grad and anomaly modes; per argument its kind, and for a
tensor its shape, dtype, device and ``requires_grad`` (Python values by value); the ``training``
flags of every module among the arguments, the function's closure and the globals it names; and
the Python scalars among that closure and those globals (they may have been baked into the
trace). The tensors read from outside the arguments (parameters, ``.grad``, buffers) are
checked when a replay binds them (``program.Program.bind``): same shape, dtype and
``requires_grad``, else the call is traced again. Optimizer hyper-parameters are not guarded:
the update ops read them when they run.
"""
from __future__ import annotations

from ..grad_mode import STATE
from ..tensor import Tensor

__all__ = ["flatten", "signature"]

_SCALARS = (bool, int, float, str, type(None))


def flatten(args: tuple, kwargs: dict) -> tuple[list, tuple]:
    """(every value in ``args``/``kwargs``, lists, tuples and dicts opened; their layout)."""
    flat: list = []
    layout = (_walk(args, flat), _walk(kwargs, flat))
    return flat, layout


def _walk(x, flat: list):
    """The layout of ``x``; its leaves appended to ``flat`` (a module-level function: a nested
    recursive one would be a reference cycle made, and left to the collector, per call)."""
    if isinstance(x, (list, tuple)) and not isinstance(x, Tensor):
        return (type(x).__name__, len(x), tuple(_walk(v, flat) for v in x))
    if isinstance(x, dict):
        return ("dict", tuple(x), tuple(_walk(v, flat) for v in x.values()))
    flat.append(x)
    return None


def _value_key(x):
    if isinstance(x, Tensor):
        a = x.array
        return ("T", a.shape, a.dtype.str, str(x.device), x._requires_grad)
    if isinstance(x, _SCALARS):
        return (type(x).__name__, x)
    if _is_module(x):
        return ("M", id(x), tuple(m.training for m in x.modules()))
    return ("O", id(x))


def _is_module(x) -> bool:
    return hasattr(x, "training") and callable(getattr(x, "modules", None))


def _free_values(fn) -> list:
    """The closure cells' values and the globals named by ``fn`` (a bound method: and self)."""
    out = []
    self = getattr(fn, "__self__", None)
    if self is not None:
        out.append(self)
    fn = getattr(fn, "__func__", fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return out
    for cell in fn.__closure__ or ():
        try:
            out.append(cell.cell_contents)
        except ValueError:       # an empty cell
            pass
    g = fn.__globals__
    for name in code.co_names:
        if name in g:
            out.append(g[name])
    return out


def signature(fn, flat: list, layout) -> tuple:
    """The guard key of a call of ``fn`` with the flattened arguments ``flat``."""
    free = []
    for v in _free_values(fn):
        if _is_module(v):
            free.append(("M", id(v), tuple(m.training for m in v.modules())))
        elif isinstance(v, _SCALARS) and not isinstance(v, str):
            free.append((type(v).__name__, v))
    return (STATE.enabled, STATE.anomaly, layout, tuple(_value_key(x) for x in flat), tuple(free))
