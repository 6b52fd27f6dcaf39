"""A traced step as a static program over buffer slots, and its replay on raw arrays.

Each slot holds one array during a replay. Its value comes from a *source* bound when the replay
starts (an argument of the compiled function, a tensor that lives outside it: a parameter, its
``.grad``, a buffer, a constant made while tracing) or from an :class:`Op` (a primitive's
forward, a VJP rule run on raw arrays, the sweep's gradient arithmetic, an in-place update). A
replay binds the sources (checking their shapes and dtypes: part of the guard), runs the ops in
order, drops each intermediate after its last use, then applies the *effects* (``.grad``
assignments, version counters) and rebuilds the outputs. :meth:`Program.replay` runs the
function ``codegen.py`` writes for that; :meth:`Program.interpret` and :meth:`Program.dry_run`
walk the ops here (the dry run is what verification and the fuser's checks compare against).
"""
from __future__ import annotations

import operator

import numpy

from ..grad_mode import STATE
from ..tensor import Tensor, make
from .. import tape
from ..random import stream

__all__ = ["Op", "Program", "SlotRef", "Miss", "close", "refresh_plan", "reads",
           "written_in_place"]


class Miss(Exception):
    """A replay's sources do not match the trace (a guard failed): trace again."""


class SlotRef:
    """An attribute that is the array of a slot (an index array computed in the step)."""

    __slots__ = ("slot", "shape")

    def __init__(self, slot: int, shape=None) -> None:
        self.slot = slot
        self.shape = shape      # a reshaped (contiguous) view of the slot's array

    def get(self, bufs: list):
        a = bufs[self.slot]
        return a if self.shape is None else a.reshape(self.shape)


class Op:
    """One step of a program. ``kind``: 'prim' (``fn`` = a Primitive; its forward), 'refresh'
    (``fn(arrays, attrs)`` -> (outputs, attributes): a primitive whose forward also remakes the
    arrays its rule keeps among its attributes; the last out slot holds them), 'raw'
    (``fn(*arrays)``; ``meta`` true when it returns a tuple), 'update' (an in-place
    ``Update``; no outputs) or 'rule' (``fn`` = a Primitive whose VJP rule runs on Tensors
    made from the slots; ``meta`` = (number of saved values, positions of the gradients given,
    needs_input_grad, in_meta, out_meta))."""

    __slots__ = ("kind", "fn", "ins", "outs", "attrs", "dynamic", "meta", "name")

    def __init__(self, kind: str, fn, ins: tuple, outs: tuple, attrs, dynamic: bool,
                 meta=None) -> None:
        self.kind, self.fn, self.ins, self.outs = kind, fn, tuple(ins), tuple(outs)
        self.attrs, self.dynamic, self.meta = attrs, dynamic, meta
        self.name = getattr(fn, "name", getattr(fn, "__name__", repr(fn)))

    def __repr__(self) -> str:
        return f"{self.kind} {self.name}{list(self.ins)} -> {list(self.outs)}"


def resolve(attrs, bufs: list):
    """``attrs`` with every :class:`SlotRef` replaced by its array (one tuple level deep)."""
    if attrs.__class__ is SlotRef:
        return attrs.get(bufs)
    if attrs.__class__ is tuple:
        return tuple(resolve(a, bufs) for a in attrs)
    return attrs


class ReplayCtx:
    """What a VJP rule reads of its node, rebuilt from slots for a replay."""

    __slots__ = ("saved_tensors", "attrs", "needs_input_grad", "in_meta", "out_meta", "op")

    def __init__(self, op, saved, attrs, needs, in_meta, out_meta) -> None:
        self.op, self.saved_tensors, self.attrs = op, saved, attrs
        self.needs_input_grad, self.in_meta, self.out_meta = needs, in_meta, out_meta

    @property
    def name(self) -> str:
        return self.op.name


# Forwards that have an ``out=`` form: their results go into buffers of the program's pool.
_OUT_FORMS = {operator.add: numpy.add, operator.sub: numpy.subtract,
              operator.mul: numpy.multiply, operator.neg: numpy.negative}


class BufferPool:
    """The buffers a program's intermediates are written into: allocated on first use,
    reused by every later replay, and shared by slots whose lifetimes do not overlap.
    ``allocations`` counts the buffers made."""

    def __init__(self, metas: list) -> None:
        self.metas = metas          # (shape, dtype) per buffer
        self.buffers = [None] * len(metas)
        self.allocations = 0

    def get(self, i: int):
        b = self.buffers[i]
        if b is None:
            shape, dtype = self.metas[i]
            b = self.buffers[i] = numpy.empty(shape, dtype)
            self.allocations += 1
        return b


class Program:
    """A traced step: ``sources`` [(slot, kind, target, meta)], ``ops``, ``effects``,
    ``outputs`` (a structure of slots/constants), ``nslots``; :meth:`replay` runs it."""

    def __init__(self, arrays: list, sources: list, ops: list, effects: list, out_spec,
                 live_out: set) -> None:
        self.nslots = len(arrays)
        self.sources = sources
        self.ops = ops
        self.reference_ops = ops       # before fusion: what dry runs check against eager
        self.effects = effects
        self.out_spec = out_spec
        self.live_out = live_out       # kept for passes that rewrite ``ops`` (fuse_cpu)
        self.dead_after = _liveness(ops, live_out, self.nslots)
        self.out_buffer, metas = _assign_buffers(ops, self.dead_after, arrays, live_out)
        self.pool = BufferPool(metas)
        self._fast = None              # the generated replay (codegen.py)
        self.source = None

    def bind(self, args: list) -> list:
        """Fresh slot storage with the sources read now; raises :class:`Miss` on a mismatch."""
        bufs = [None] * self.nslots
        for slot, kind, target, meta in self.sources:
            bufs[slot] = _fetch(kind, target, meta, args)
        return bufs

    def dry_run(self, args: list, after: dict | None = None) -> tuple[list, dict]:
        """Every slot's value, computed without writing anything outside the program: an
        in-place update whose attributes are plain values writes into a copy of its target
        (when that is a source or a view), one that reads objects (an optimizer's state) is
        skipped, and the random streams the program draws from are put back as they were (the
        eager call that follows draws the same numbers). Returns the slots and {slot: the
        source array its copy stands for} for the sources only plain updates wrote.
        ``after``: {op index: ``fn(bufs)``} called once that op has run (``fuse_cpu`` checks
        a kernel on the values its ops saw)."""
        bufs = self.bind(args)          # the unfused ops: fused sums round differently
        sources = {src[0] for src in self.sources}
        originals, skipped = {}, set()
        states = [_rng_state(op) for op in self.reference_ops if op.kind == "draw"]
        prev = STATE.enabled
        STATE.enabled = False
        try:
            for i, op in enumerate(self.reference_ops):
                if op.kind == "update":
                    s = op.ins[0]
                    if not _plain(op.attrs):
                        skipped.add(s)
                        if after and i in after:
                            after[i](bufs)
                        continue
                    if s not in originals and (s in sources or
                                               getattr(bufs[s], "base", None) is not None):
                        originals[s] = bufs[s]
                        bufs[s] = bufs[s].copy()
                    _run(op, bufs)
                elif not sources & set(op.outs):
                    _run(op, bufs)
                if after and i in after:
                    after[i](bufs)
        finally:
            STATE.enabled = prev
            for rng, state in states:
                rng.bit_generator.state = state
        return bufs, {s: a for s, a in originals.items() if s in sources and s not in skipped}

    def agrees(self, bufs: list, originals: dict, args: list, result) -> bool:
        """Whether the eager call that just ran (``result``, the ``.grad`` it left, the arrays
        it wrote in place) matches the slots of a :meth:`dry_run` made before it (to
        rounding: :func:`close`; fused kernels sum in another order)."""
        pairs = []
        _pair(self.out_spec, result, bufs, pairs)
        for kind, target, value in self.effects:
            if kind == "grad" and value is not None:
                g = _target(target, args).grad
                pairs.append((bufs[value], None if g is None else g.array))
        pairs += [(bufs[s], a) for s, a in originals.items()]   # written in place by eager
        return all(b is not None and a is not None and close(b, a) for a, b in pairs)

    def replay(self, args: list):
        """The step on ``args``: the generated function (``codegen.py``), made on first use."""
        fast = self._fast
        if fast is None:
            from .codegen import generate
            fast, self.source = generate(self)
            self._fast = fast
        return fast(args)

    def interpret(self, args: list):
        """:meth:`replay` op by op, without generated code (what the generated code does)."""
        bufs = self.bind(args)
        prev = STATE.enabled
        STATE.enabled = False
        try:
            pool = self.pool
            for op, dead, b in zip(self.ops, self.dead_after, self.out_buffer):
                if b.__class__ is tuple or b < 0:    # (a fused kernel's: generated code only)
                    _run(op, bufs)
                else:              # into its pooled buffer
                    bufs[op.outs[0]] = _OUT_FORMS[op.fn if op.kind == "raw" else op.fn.forward](
                        *[bufs[s] for s in op.ins], out=pool.get(b))
                for s in dead:
                    bufs[s] = None
        finally:
            STATE.enabled = prev
        for kind, target, value in self.effects:
            t = _target(target, args)
            if kind == "grad":
                t.grad = None if value is None else make(bufs[value])
            elif kind == "array":
                t.array = bufs[value]
            else:              # "version": in-place writes the replay made
                t._version.v += value
        return _build(self.out_spec, bufs)

    def __repr__(self) -> str:
        lines = [f"program: {self.nslots} slots, {len(self.ops)} ops"]
        lines += [f"  in  {s}: {k} {m[0]} {m[1]}" if m else
                  f"  in  {s}: {k} {getattr(v, 'shape', ())} {getattr(v, 'dtype', type(v))}"
                  for s, k, v, m in self.sources]
        lines += [f"  {op!r}" for op in self.ops]
        return "\n".join(lines)


def close(got, want, scale: float | None = None) -> bool:
    """Whether a fused (or replayed) array agrees with eager's to rounding: equal for
    non-float arrays, else within a few ulps of the array's scale per element (NaN matching
    NaN, infinities equal)."""
    got, want = numpy.asarray(got), numpy.asarray(want)
    if got.shape != want.shape or got.dtype != want.dtype:
        return False
    if want.dtype.kind not in "fc":
        return bool(numpy.array_equal(got, want))
    if numpy.array_equal(got, want, equal_nan=True):
        return True
    finite = numpy.isfinite(want)
    if not numpy.array_equal(finite, numpy.isfinite(got)) or \
            not numpy.array_equal(got[~finite], want[~finite], equal_nan=True):
        return False
    tol = 1e-9 if want.dtype.itemsize >= 8 else 1e-3 if want.dtype.itemsize >= 4 else 5e-2
    g, w = got[finite].astype(numpy.float64), want[finite].astype(numpy.float64)
    if scale is None:
        scale = float(numpy.abs(w).max()) if w.size else 0.0
    return bool((numpy.abs(g - w) <= tol * (numpy.abs(w) + scale) + 1e-300).all())


def refresh_plan(prog: Program, arrays: list) -> None:
    """Liveness and buffers again after a pass rewrote ``prog.ops``."""
    prog.dead_after = _liveness(prog.ops, prog.live_out, prog.nslots)
    prog.out_buffer, metas = _assign_buffers(prog.ops, prog.dead_after, arrays, prog.live_out)
    prog.pool = BufferPool(metas)
    prog._fast = None


def _target(target, args: list):
    return args[target[1]] if target[0] == "arg" else target[1]


def _fetch(kind: str, target, meta, args: list):
    if kind == "const":
        return target
    t = _target(target, args)
    if kind == "grad":
        t = t.grad
        if t is None:
            raise Miss("a .grad read by the step is None")
    a = t.array
    shape, dtype, requires_grad = meta
    if a.shape != shape or a.dtype != dtype or (requires_grad is not None and
                                                t._requires_grad != requires_grad):
        raise Miss(f"a tensor read by the step changed: {shape} {dtype} -> {a.shape} {a.dtype}")
    return a


def _run(op: Op, bufs: list) -> None:
    arrays = [bufs[s] for s in op.ins]
    attrs = resolve(op.attrs, bufs) if op.dynamic else op.attrs
    kind = op.kind
    if kind == "prim":
        out = op.fn.run(arrays, attrs)
        if len(op.outs) == 1 and op.fn.outputs == 1:
            out = (out,)
    elif kind == "raw":
        out = op.fn(*arrays) if op.meta else (op.fn(*arrays),)   # meta: a tuple of outputs
    elif kind == "refresh":
        out, attrs = op.fn(arrays, attrs)
        out = (*out, attrs)
    elif kind == "update":
        if isinstance(arrays[0], numpy.generic):    # a 0-d result: written in place as an array
            arrays[0] = bufs[op.ins[0]] = numpy.asarray(arrays[0])
        op.fn.forward(*arrays, *attrs)
        return
    elif kind == "draw":
        xp, gen, args = attrs
        out = (op.fn(stream(xp, gen), *args),)
    else:
        out = _run_rule(op, arrays, attrs)
    for s, a in zip(op.outs, out):
        if s is not None:
            bufs[s] = a


def _plain(attrs) -> bool:
    """Whether ``attrs`` are values only (no object whose state an update may change)."""
    if attrs.__class__ is tuple:
        return all(_plain(a) for a in attrs)
    return attrs is None or isinstance(attrs, (bool, int, float, complex, str, SlotRef,
                                               numpy.generic))


def _rng_state(op: Op) -> tuple:
    """(the stream a draw op reads, its state now), to put back after a dry run."""
    rng = stream(*op.attrs[:2])
    return rng, rng.bit_generator.state


def _run_rule(op: Op, arrays: list, attrs) -> list:
    nsaved, given, needs, in_meta, out_meta = op.meta
    saved = tuple(make(a) for a in arrays[:nsaved])
    grads = [None] * len(out_meta)
    for pos, a in zip(given, arrays[nsaved:]):
        grads[pos] = make(a)
    ctx = ReplayCtx(op.fn, saved, attrs, needs, in_meta, out_meta)
    res = tape.call_rule(ctx, grads)
    return [None if g is None else g.array if isinstance(g, Tensor) else g for g in res]


def _pair(spec, value, bufs: list, pairs: list) -> None:
    """(slot value, eager value) for every tensor of the output structure."""
    kind = spec[0]
    if kind == "slot":
        pairs.append((bufs[spec[1]], value.array if isinstance(value, Tensor) else None))
    elif kind != "const":
        values = list(value.values()) if kind == "dict" else list(value)
        for s, v in zip(spec[2], values):
            _pair(s, v, bufs, pairs)


def _build(spec, bufs: list):
    kind = spec[0]
    if kind == "slot":
        return make(bufs[spec[1]])
    if kind == "const":
        return spec[1]
    items = [_build(s, bufs) for s in spec[2]]
    if kind == "dict":
        return dict(zip(spec[1], items))
    return spec[1](items) if spec[1] is not tuple else tuple(items)


def _assign_buffers(ops: list, dead_after: list, arrays: list, live_out: set):
    """Which pooled buffer each op writes (-1: the op allocates its own result), and the
    buffers' (shape, dtype). Only host arrays, only results that are neither kept after the
    replay nor the base of a view, and a buffer is handed out again once its slot is dead."""
    viewed = {id(a.base) for a in arrays if getattr(a, "base", None) is not None}
    out_buffer, metas, free, owner = [], [], {}, {}

    def take(s: int) -> int:
        a = arrays[s]
        if s in live_out or not isinstance(a, numpy.ndarray) or id(a) in viewed:
            return -1
        key = (a.shape, a.dtype)
        b = free[key].pop() if free.get(key) else len(metas)
        if b == len(metas):
            metas.append(key)
        owner[s] = (b, key)
        return b
    for i, op in enumerate(ops):
        b = -1
        if op.kind == "raw" and hasattr(op.fn, "out_kind"):     # a fused kernel's results
            out_buffer.append(tuple(take(s) for s in op.outs))
            for s in dead_after[i]:
                if s in owner:
                    b, key = owner.pop(s)
                    free.setdefault(key, []).append(b)
            continue
        fn = op.fn if op.kind == "raw" else getattr(op.fn, "forward", None) \
            if op.kind == "prim" else None
        if fn in _OUT_FORMS and len(op.outs) == 1 and op.outs[0] not in op.ins:
            b = take(op.outs[0])
        out_buffer.append(b)
        for s in dead_after[i]:
            if s in owner:
                b, key = owner.pop(s)
                free.setdefault(key, []).append(b)
    return out_buffer, metas


def reads(op: Op):
    """The slots ``op`` reads: its operands and the slots its attributes name."""
    yield from op.ins
    if op.dynamic:
        for ref in _refs(op.attrs):
            yield ref.slot


def written_in_place(op: Op) -> tuple:
    """The slots ``op`` writes in place: an update's target, an output that is an operand."""
    if op.kind == "update":
        return op.ins[:1]
    return tuple(s for s in op.outs if s is not None and s in op.ins)


def _liveness(ops: list, live_out: set, nslots: int) -> list:
    """For each op, the slots whose last reader it is (dropped right after it runs)."""
    last = {}
    for i, op in enumerate(ops):
        for s in op.outs:
            if s is not None and s not in last:
                last[s] = i        # written, never read: dead at once
        for s in reads(op):
            last[s] = i
    dead = [[] for _ in ops]
    for s, i in last.items():
        if s not in live_out:
            dead[i].append(s)
    return [tuple(d) for d in dead]


def _refs(attrs):
    if attrs.__class__ is SlotRef:
        yield attrs
    elif attrs.__class__ is tuple:
        for a in attrs:
            yield from _refs(a)
