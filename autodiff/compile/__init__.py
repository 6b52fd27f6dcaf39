"""``autodiff.compile``: capture a step (forward, backward, optimizer update) once, replay it.

The first call per guard signature (``guards.py``) runs the function eagerly under a tracer
(``trace.py``) that records every primitive, VJP rule (first-order rules op by op where they
compute in Tensor ops), gradient sum and in-place update into a static program over slots
(``program.py``). The program is cleaned (``passes.py``: constant folding, dead code), fused
(``fuse_cpu.py``: elementwise runs, their sums and the optimizer updates as numba loops) and
replayed by a generated function (``codegen.py``) on raw arrays: no Tensor, no tape node, no
heap; parameters, ``.grad`` and optimizer state are written as the eager step writes them, and
the outputs come back as (detached) Tensors. A step that cannot be captured (a host read such
as ``.item()``, a random draw other than ``autodiff.random.draw``, a hook, an untraced in-place
write) runs eagerly for that signature, with one warning naming the line; ``fullgraph=True``
raises :class:`GraphBreak` there instead.

>>> step = autodiff.compile(train_step)      # or @autodiff.compile / @autodiff.compile(...)
>>> for x, y in batches:
...     loss = step(x, y)
"""
from __future__ import annotations

import functools
import warnings
from typing import Callable

from .. import tape
from . import fuse_cpu, passes
from .guards import flatten, signature
from .program import Miss, Program
from .trace import GraphBreak, Tracer

__all__ = ["compile", "CompiledFunction", "GraphBreak", "Program"]

_EAGER = "eager"


class CompiledFunction:
    """``fn`` with its traced programs, one list per guard signature. ``traces`` counts the
    traces made (a graph break counts as one), ``programs`` maps signatures to programs."""

    def __init__(self, fn: Callable, fullgraph: bool = False, verify: bool = True,
                 fuse: bool | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"compile: expected a callable, got {type(fn).__name__}")
        self.fn = fn
        self.fullgraph = bool(fullgraph)
        self.traces = 0
        self.programs: dict = {}
        self._warned: set = set()
        self.verify = bool(verify)
        self.fuse = fuse_cpu.available() if fuse is None else bool(fuse)    # fuse_cpu.py
        self._unverified: set = set()
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        if tape._tracer is not None:      # inside another trace: part of that one
            return self.fn(*args, **kwargs)
        flat, layout = flatten(args, kwargs)
        key = signature(self.fn, flat, layout)
        entry = self.programs.get(key)
        if entry is _EAGER:
            return self.fn(*args, **kwargs)
        if entry is not None:
            for prog in entry:
                try:
                    if prog in self._unverified:
                        return self._verify(key, prog, flat, args, kwargs)
                    return prog.replay(flat)
                except Miss:
                    continue
        return self._trace(key, flat, args, kwargs)

    def _verify(self, key, prog: Program, flat: list, args: tuple, kwargs: dict):
        """The first call that matches a new program: computed both ways (the program without
        its updates, then eagerly); a difference means the trace baked a value computed
        outside the traced ops, and the signature runs eagerly from then on."""
        bufs, originals = prog.dry_run(flat)
        result = self.fn(*args, **kwargs)
        self._unverified.discard(prog)
        if not prog.agrees(bufs, originals, flat, result):
            self.programs[key] = _EAGER
            warnings.warn(f"autodiff.compile: a replay of {self.__name__} did not reproduce its "
                          f"eager result (a value computed outside the traced ops was baked "
                          f"into the trace); this call signature runs eagerly", UserWarning)
        return result

    def _trace(self, key, flat: list, args: tuple, kwargs: dict):
        tracer = Tracer(flat, self.fullgraph)
        tracer.start()
        try:
            result = self.fn(*args, **kwargs)
        finally:
            tracer.stop()
        self.traces += 1
        prog = tracer.finish(result)
        if prog is not None:
            passes.fold_constants(prog, tracer.keep)
            passes.drop_identities(prog, tracer.keep)
            passes.eliminate_dead_code(prog, tracer.keep)
            if self.fuse:
                fuse_cpu.fuse(prog, tracer.keep, flat)
        if prog is None:
            self.programs[key] = _EAGER
            reason, filename, line = tracer.broken
            if (filename, line, reason) not in self._warned:
                self._warned.add((filename, line, reason))
                warnings.warn_explicit(
                    f"autodiff.compile: graph break in {self.__name__} at {filename}:{line}: "
                    f"{reason}; this call signature runs eagerly", UserWarning, filename, line)
            return result
        self.programs.setdefault(key, []).append(prog)
        if self.verify:
            self._unverified.add(prog)
        return result

    def __repr__(self) -> str:
        return f"<compiled {getattr(self.fn, '__qualname__', self.fn)}: {self.traces} traces>"


def compile(fn: Callable | None = None, *, fullgraph: bool = False,  # noqa: A001
            verify: bool = True, fuse: bool | None = None):
    """Compile ``fn`` (see the module docstring); without ``fn``, a decorator. With ``verify``
    (the default) the second call of each signature runs both the program (unfused, without
    its updates) and the eager step and keeps the program only if they agree.
    ``fuse``: elementwise runs, their sums and the optimizer updates run as numba loops
    (``fuse_cpu.py``; results then match eager to rounding, not bit for bit); by default on
    when numba is installed and ``AUTODIFF_NUMBA`` is not 0."""
    if fn is None:
        return lambda f: CompiledFunction(f, fullgraph=fullgraph, verify=verify, fuse=fuse)
    return CompiledFunction(fn, fullgraph=fullgraph, verify=verify, fuse=fuse)
