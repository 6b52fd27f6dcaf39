"""The tracer: while a compiled function runs eagerly for the first time, every registered
primitive, VJP rule, gradient sum of the sweep and in-place update it executes is appended to a
:class:`~autodiff.compile.program.Program` over slots.

Arrays are identified by object identity (the tracer keeps them alive, so an id is never
reused during a trace). An array first seen as an input is a *source*: an argument of the
function, a tensor from outside (read live at each replay: a parameter, a buffer), the ``.grad``
of such a tensor, or, for a raw array in an op's attributes, a constant. Anything the tracer
cannot replay (a host read such as ``.item()``, an in-place write outside the update ops, a
random draw other than ``autodiff.random.draw``, a hook, a custom Function's backward that
computes outside Tensor ops) is a *graph break*: the trace is dropped and
the function runs eagerly from then on (see ``autodiff/compile/__init__.py``).
"""
from __future__ import annotations

import operator
import os
import sys
import weakref

import numpy

from .. import tape
from ..random import set_draw_hook
from ..ops.registry import Primitive
from ..tensor import Tensor, set_host_read_hook
from .program import Op, Program, SlotRef
from .refresh import REFRESH

__all__ = ["Tracer", "GraphBreak", "user_frame"]


class GraphBreak(RuntimeError):
    """Raised by ``compile(fullgraph=True)`` when the step cannot be captured whole."""


class _Undo(Exception):
    """A first-order rule being recorded op by op did something a program cannot replay."""


def _dirs() -> tuple:
    import autodiff
    import numpy
    mods = [autodiff, numpy]
    for name in ("autodiff.nn", "autodiff.optim", "autodiff.backends"):
        mod = sys.modules.get(name)
        if mod is not None:
            mods.append(mod)
    return tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in mods)


def user_frame() -> tuple:
    """(file, line) of the innermost frame outside autodiff (and NumPy): the user's code."""
    dirs = _dirs()
    f = sys._getframe(1)
    while f is not None:
        name = os.path.abspath(f.f_code.co_filename)
        if not name.startswith(dirs):
            return name, f.f_lineno
        f = f.f_back
    return "<unknown>", 0


def _is_array(a) -> bool:
    return hasattr(a, "shape") and hasattr(a, "dtype") and not isinstance(a, Tensor)


class Tracer:
    """Records one call of the compiled function (see the module docstring)."""

    def __init__(self, args: list, fullgraph: bool) -> None:
        self.fullgraph = fullgraph
        self.slot_of: dict[int, int] = {}
        self.keep: list = []            # every array seen: ids stay unique while tracing
        self.aliases: list = []         # the 0-d arrays that Tensors made of NumPy scalars hold
        self.sources: list = []
        self.ops: list[Op] = []
        self.node_op: dict[int, int] = {}
        self.nodes: list = []
        self.touched: dict[int, Tensor] = {}
        self.grad_owner: dict[int, Tensor] = {}
        self.arg_pos: dict[int, int] = {}
        self.written_ids: set[int] = set()
        self.versions: dict[int, list] = {}   # id(tensor) -> [tensor, bumps]
        self.broken = None
        self.in_rule = False
        self.tentative = False       # recording a first-order rule op by op (``_lowered``)
        self.args = args
        for i, t in enumerate(args):
            if isinstance(t, Tensor):
                self.arg_pos[id(t)] = i
                self._source(t.array, "tensor", ("arg", i), t)

    # ------------------------------------------------------------------------- slots
    def _new(self, a) -> int:
        s = len(self.keep)
        self.keep.append(a)
        self.slot_of[id(a)] = s
        return s

    def _target(self, t: Tensor) -> tuple:
        i = self.arg_pos.get(id(t))
        return ("arg", i) if i is not None else ("obj", t)

    def _source(self, a, kind: str, target, t: Tensor | None) -> int:
        s = self._new(a)
        if kind == "const":
            self.sources.append((s, kind, a, None))
        else:
            rg = t._requires_grad if kind == "tensor" else None
            self.sources.append((s, kind, target, (a.shape, a.dtype, rg)))
        return s

    def slot(self, t: Tensor) -> int:
        """The slot of tensor ``t``'s array; a new source when first seen."""
        a = t.array
        s = self.slot_of.get(id(a))
        if s is not None:
            return s
        owner = self.grad_owner.get(id(t))
        if owner is not None and owner.grad is t:
            return self._source(a, "grad", self._target(owner), t)
        if self.in_rule and a.ndim > 0:
            self.graph_break(f"the backward of a node makes an array (shape {a.shape}) outside "
                             f"the traced ops (under create_graph, or a custom Function's)")
        if t._requires_grad:
            self.touch(t)
        return self._source(a, "tensor", self._target(t), t)

    def touch(self, t: Tensor) -> None:
        """Note a tensor whose ``.grad`` the step may set (its final state is replayed)."""
        if id(t) not in self.touched:
            self.touched[id(t)] = t
            g = t.grad
            if g is not None:
                self.grad_owner[id(g)] = t
                if id(g.array) not in self.slot_of:
                    self._source(g.array, "grad", self._target(t), g)

    def _array_slot(self, a) -> int:
        """The slot of an operand of a raw op: a traced array, a reshaped view of one (a new
        slot, made by a reshape op), else a constant."""
        s = self.slot_of.get(id(a))
        if s is not None:
            return s
        base = getattr(a, "base", None)
        if base is not None and not isinstance(a, numpy.generic):
            ref = self._view(a, base)
            if ref.__class__ is SlotRef:
                s = self._new(a)
                self.ops.append(Op("raw", _Reshape(ref.shape), (ref.slot,), (s,), None,
                                   False))
                return s
        return self._source(a, "const", None, None)

    def _attr(self, a):
        """An attribute as the program holds it: arrays of slots become :class:`SlotRef`."""
        if a.__class__ is tuple:
            return tuple(self._attr(x) for x in a)
        if a.__class__ is list and any(_is_array(x) for x in a):
            self.graph_break("an op keeps a list of arrays among its attributes")
        if _is_array(a):
            s = self.slot_of.get(id(a))
            if s is not None:
                return SlotRef(s)
            base = getattr(a, "base", None)
            if base is not None:
                return self._view(a, base)
            if not isinstance(a, numpy.generic):
                # computed by the op (a mask, statistics, an index derived from data): the
                # primitive's forward does not remake it, so a replay cannot
                self.graph_break("an op keeps an array computed outside the traced ops "
                                 f"among its attributes (shape {a.shape})")
        return a

    def _view(self, a, base):
        """A view of a traced array used as an attribute: a reshape of its slot, or a break."""
        for s, b in enumerate(self.keep):
            if (b is base or getattr(b, "base", None) is base) and b.size == a.size \
                    and _ptr(b) == _ptr(a) and b.flags.c_contiguous and a.flags.c_contiguous:
                return SlotRef(s, a.shape)
        if any(b is base or getattr(b, "base", None) is base for b in self.keep):
            self.graph_break("an attribute is a strided view of a traced array")
        return a

    # ------------------------------------------------------------------------- hooks
    def record(self, op, outs: tuple, inputs, attrs, run):
        """``tape.record``/``record_multi``: append the primitive, then let it record eagerly."""
        if not isinstance(op, Primitive):
            self.graph_break(f"{op.name} is not a registered primitive")
            return run()
        ins = [self.slot(t) for t in inputs]
        refresh = REFRESH.get(op.name)
        if refresh is None:
            tmpl = self._attr(attrs)
        elif refresh[1] is None:                 # attributes its forward recomputes
            tmpl = None
        else:
            tmpl = tuple(None if i in refresh[1] else self._attr(a)
                         for i, a in enumerate(attrs))
        in_ids = {id(t.array) for t in inputs}
        res = run()
        out_slots = []
        for i, a in enumerate(outs):
            if id(a) in in_ids:                  # an input returned as is, or written in place
                out_slots.append(self.slot_of[id(a)])
                self.written_ids.add(id(a))
                continue
            out_slots.append(self._new(a))
            held = res[i].array if i < len(res) and isinstance(res[i], Tensor) else a
            if held is not a:                    # a NumPy scalar the Tensor holds as a 0-d array
                self.slot_of[id(held)] = out_slots[-1]
                self.aliases.append(held)
        node = res[0].grad_fn if res else None
        if node is not None:
            self.node_op[id(node)] = len(self.ops)
            self.nodes.append(node)
        if refresh is not None:                  # one more output: the new attributes
            out_slots.append(self._new(attrs))
            self.ops.append(Op("refresh", refresh[0], ins, out_slots, tmpl, _has_ref(tmpl)))
            for i in refresh[1] or ():
                a = attrs[i]
                if _is_array(a) and id(a) not in self.slot_of:
                    self.ops.append(Op("raw", operator.itemgetter(i), (out_slots[-1],),
                                       (self._new(a),), None, False))
            return res
        dyn = _has_ref(tmpl)
        self.ops.append(Op("prim", op, ins, out_slots, tmpl if dyn else attrs, dyn))
        return res

    def raw(self, fn, arrays: tuple):
        """The sweep's arithmetic outside the primitives and arrays derived from data, such
        as checked labels (``tape._apply``): ``fn`` returns an array or a tuple of arrays (or
        None); an output that is one of its inputs keeps that input's slot."""
        ins = [self._array_slot(a) for a in arrays]
        out = fn(*arrays)
        multi = isinstance(out, tuple)
        outs = [numpy.asarray(a) if isinstance(a, numpy.generic) else a   # as make() holds it
                for a in (out if multi else (out,))]
        if all(a is None for a in outs):      # nothing made (a kernel that does not apply)
            return out
        slots = [None if a is None else self.slot_of[id(a)] if any(a is b for b in arrays)
                 else self._new(a) for a in outs]
        self.ops.append(Op("raw", fn, ins, slots, None, False, multi))
        return tuple(outs) if multi else outs[0]

    def update(self, op, tensors: tuple, attrs: tuple) -> None:
        """An in-place write (``autodiff.ops.inplace.apply``), before it runs."""
        ins = [self.slot(t) for t in tensors]
        self.written_ids.add(id(tensors[0].array))
        attrs = self._attr(tuple(attrs))
        self.ops.append(Op("update", op, ins, (), attrs, _has_ref(attrs)))

    def written(self, tensor) -> None:
        """``tape.increment_version``: allowed for arrays an op of the trace wrote."""
        for t in [tensor] if isinstance(tensor, Tensor) else list(tensor):
            if id(t.array) not in self.written_ids:
                self.graph_break(f"an in-place write to a tensor of shape {t.shape} outside "
                                 f"the traced ops")
                return
            entry = self.versions.setdefault(id(t), [t, 0])
            entry[1] += 1

    def rule(self, node, grads: list, create_graph: bool, call_rule):
        """A VJP rule in the sweep: recorded op by op under ``create_graph`` and for a custom
        Function (its backward is Tensor ops), else as one op that runs the primitive's rule on
        raw arrays (its first-order fast paths included)."""
        if node.retained:
            self.graph_break("a tensor hook or retain_grad() in the backward")
        if self.broken is not None:
            return call_rule(node, grads)
        custom = not isinstance(node.op, Primitive)     # a Function's backward, in Tensor ops
        if create_graph or custom:   # recorded op by op; arrays it makes from data: a break
            self.in_rule = True
            try:
                res = call_rule(node, grads)
            finally:
                self.in_rule = False
            if custom:
                self._check_made(node, res)
            return res
        lowered = self._lowered(node, grads, call_rule)
        if lowered is not None:
            return lowered
        saved = node.saved_tensors
        ins = [self.slot(t) for t in saved]
        given = tuple(i for i, g in enumerate(grads) if g is not None)
        ins += [self.slot(grads[i]) for i in given]
        k = self.node_op.get(id(node))
        if k is None:
            attrs = self._attr(node.attrs)
        elif self.ops[k].kind == "refresh":
            attrs = SlotRef(self.ops[k].outs[-1])
        else:
            attrs = self.ops[k].attrs
        tape.set_tracer(None)
        try:
            res = call_rule(node, grads)
        finally:
            tape.set_tracer(self)
        outs = []
        for g in res:
            if g is None:
                outs.append(None)
                continue
            a = g.array if isinstance(g, Tensor) else g
            s = self.slot_of.get(id(a))
            outs.append(s if s is not None else self._new(a))
        meta = (len(saved), given, list(node.needs_input_grad), list(node.in_meta),
                tuple(node.out_meta))
        self.ops.append(Op("rule", node.op, ins, outs, attrs, _has_ref(attrs), meta))
        return res

    def _lowered(self, node, grads: list, call_rule):
        """A first-order rule recorded op by op (its Tensor ops become primitives of the
        program, which the fuser can see), or None when it computes outside Tensor ops (a
        one-pass kernel, a mask made from data): the attempt is then undone and the caller
        records the rule as one op."""
        mark = (len(self.ops), len(self.sources), len(self.keep), len(self.aliases),
                dict(self.touched), dict(self.grad_owner), set(self.written_ids),
                {k: list(v) for k, v in self.versions.items()})
        self.in_rule = self.tentative = True
        try:
            res = call_rule(node, grads)
            made = self._made_outside(res) is None
        except _Undo:
            made = False
        finally:
            self.in_rule = self.tentative = False
        if made:
            return res
        (n_ops, n_src, n_keep, n_alias, self.touched, self.grad_owner, self.written_ids,
         self.versions) = mark
        del self.ops[n_ops:], self.sources[n_src:]
        for a in self.keep[n_keep:] + self.aliases[n_alias:]:   # kept: ids stay unique
            if self.slot_of.get(id(a), -1) >= n_keep:
                del self.slot_of[id(a)]
        return None

    def _made_outside(self, res):
        """The first gradient among a rule's results computed outside the traced ops (an
        array the program would bake in), or None."""
        for g in res:
            a = g.array if isinstance(g, Tensor) else g
            if a is not None and id(a) not in self.slot_of:
                return a
        return None

    def _check_made(self, node, res) -> None:
        """A custom backward's gradients must come from traced ops (or be None): an array it
        made outside them (NumPy on the saved values) would be baked into the program."""
        a = self._made_outside(res)
        if a is not None:
            self.graph_break(f"the backward of {node.name} returns a gradient (shape "
                             f"{getattr(a, 'shape', ())}) computed outside the traced ops")

    def host_read(self, t: Tensor, what: str) -> None:
        self.graph_break(f"{what} reads a tensor's values on the host")

    def random_draw(self) -> None:
        self.graph_break("a random draw outside autodiff.random.draw")

    def draw(self, fn, xp, gen, args: tuple, out) -> None:
        """``autodiff.random.draw``: an op that calls ``fn`` on the stream again at replay."""
        self.ops.append(Op("draw", fn, (), (self._new(out),), (xp, gen, args), False))

    def graph_break(self, reason: str) -> None:
        if self.tentative:
            raise _Undo(reason)
        if self.broken is not None:
            return
        self.broken = (reason,) + user_frame()
        self.stop()
        if self.fullgraph:
            raise GraphBreak(f"autodiff.compile(fullgraph=True): graph break at "
                             f"{self.broken[1]}:{self.broken[2]}: {reason}")

    # ------------------------------------------------------------------------- start, end
    def start(self) -> None:
        tape.set_tracer(self)
        set_host_read_hook(self.host_read)
        set_draw_hook(self.random_draw, self.draw)

    def stop(self) -> None:
        if tape._tracer is self:
            tape.set_tracer(None)
        set_host_read_hook(None)
        set_draw_hook(None)

    def finish(self, result) -> Program | None:
        """The program of the finished call, or None after a graph break."""
        self.stop()
        if self.broken is not None:
            return None
        live = set()
        out_spec = self._spec(result, live)
        effects = []
        for t in self.touched.values():
            target = self._target(t)
            g = t.grad
            if g is None:
                effects.append(("grad", target, None))
            else:
                s = self.slot_of.get(id(g.array))
                if s is None:
                    self.graph_break(f"the .grad of a tensor of shape {t.shape} was set "
                                     f"outside the traced ops")
                    return None
                src = self._source_of(s)
                if not (src is not None and src[1] == "grad" and src[2] == target):
                    effects.append(("grad", target, s))
                    live.add(s)
            s = self.slot_of.get(id(t.array))
            if s is None:
                continue
            src = self._source_of(s)
            if not (src is not None and src[1] == "tensor" and src[2] == target):
                effects.append(("array", target, s))
                live.add(s)
        for t, n in self.versions.values():
            effects.append(("version", self._target(t), n))
        self._fold_constants()
        return Program(self.keep, self.sources, self.ops, effects, out_spec, live)

    def _fold_constants(self) -> None:
        """Tensors made during the call (a Python scalar as an operand, a constant of a rule)
        that nothing outside holds any more: no later call can change them, so their arrays
        become constants of the program instead of sources read at every replay."""
        held = {id(t) for t in self.touched.values()} | set(self.versions)
        weak = []
        for i, (s, kind, target, meta) in enumerate(self.sources):
            if kind == "tensor" and target[0] == "obj" and not meta[2] and \
                    id(target[1]) not in held:
                weak.append((i, weakref.ref(target[1])))
                self.sources[i] = (s, kind, ("obj", None), meta)
        target = None        # the loop's last reference: the weak references may now die
        for i, ref in weak:
            s, kind, _, meta = self.sources[i]
            t = ref()
            self.sources[i] = (s, "const", self.keep[s], None) if t is None else \
                (s, kind, ("obj", t), meta)

    def _source_of(self, s: int):
        for src in self.sources:
            if src[0] == s:
                return src
        return None

    def _spec(self, x, live: set):
        if isinstance(x, Tensor):
            s = self.slot(x)
            live.add(s)
            return ("slot", s)
        if isinstance(x, (tuple, list)):
            return ("seq", type(x), [self._spec(v, live) for v in x])
        if isinstance(x, dict):
            return ("dict", list(x), [self._spec(v, live) for v in x.values()])
        return ("const", x)


class _Reshape:
    """A raw op: ``a.reshape(shape)`` (a view of a traced array that a raw op reads)."""

    __slots__ = ("shape", "__name__")

    def __init__(self, shape: tuple) -> None:
        self.shape = tuple(shape)
        self.__name__ = "reshape"

    def __call__(self, a):
        return a.reshape(self.shape)


def _has_ref(attrs) -> bool:
    if attrs.__class__ is SlotRef:
        return True
    return attrs.__class__ is tuple and any(_has_ref(a) for a in attrs)


def _ptr(a) -> int:
    iface = getattr(a, "__array_interface__", None)
    if iface is not None:
        return iface["data"][0]
    return a.data.ptr
