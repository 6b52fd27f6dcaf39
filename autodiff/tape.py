"""The tape: nodes recorded by operations, and the reverse sweep over them.

Every differentiable op run while grad mode is on, with an input that requires grad, calls
:func:`record` (or :func:`record_multi`) with its :class:`Rule` (a registered primitive, see
``autodiff/ops/registry.py``), which creates a :class:`Node` (the rule, edges to its inputs,
saved values) numbered in execution order. ``Function.apply`` builds its nodes with the same
constructor. Edges point backward only: a node refers to the
nodes (or leaf tensors) that produced its inputs, never to its outputs, so a graph is freed as
soon as its last output tensor is. ``tape.Tape`` can also collect the nodes of a region in a
plain ordered list.

The sweep (:func:`run_backward`) pops nodes from a heap in decreasing sequence number (Chainer's
rank heap): a node runs only after every reachable consumer has added its gradient, with no
recursion and no pre-pass. Gradients are reduced to each input's shape here, once, and not in the
rules (``sum_to``). Without ``create_graph`` the rules run under no-grad and record nothing.

The tape sits below the ops (dtypes -> tensor -> tape -> ops): it imports no op. The three
differentiable operations its sweep needs (sum_to, astype, add) are handed to it by
``autodiff/ops/__init__.py`` through :func:`use_gradient_arithmetic` when the ops load.
"""
from __future__ import annotations

import heapq
import itertools
import operator
import warnings
import weakref
from typing import Callable, Iterable

import numpy

from .backends import get_array_module
from .grad_hooks import run_leaf_hooks, run_node_hooks
from .grad_mode import STATE, no_grad
from .tensor import Tensor, make

_seq = itertools.count()
_tapes: list[list] = []
# The active tracer of ``autodiff.compile`` (autodiff/compile/trace.py) or None: record,
# record_multi and the sweep's raw gradient arithmetic report to it while a step is traced.
_tracer = None


def set_tracer(tracer) -> None:
    """Install (or, with None, remove) the tracer that ``record`` reports every op to."""
    global _tracer
    _tracer = tracer


class SavedTensor:
    """A value a backward rule needs, with the version it had when saved.

    Inputs are kept by reference. The node's own outputs keep only their array and are rebuilt
    when unpacked (attached to the node), so an output never holds its own node alive.
    """

    __slots__ = ("tensor", "array", "version", "expected", "out_idx")

    def __init__(self, t: Tensor, out_idx: int = -1) -> None:
        self.version = t._version
        self.expected = t._version.v
        self.out_idx = out_idx
        if out_idx < 0:
            self.tensor, self.array = t, None
        else:
            self.tensor, self.array = None, t.array

    def unpack(self, node: "Node", position: int) -> Tensor:
        if self.version.v != self.expected:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"in-place operation: saved tensor {position} of {node.name} (shape "
                f"{self._shape()}) is at version {self.version.v}; expected version "
                f"{self.expected}. Clone it before modifying it in place.")
        if self.out_idx < 0:
            return self.tensor
        return make(self.array, True, node, self.out_idx)

    def _shape(self):
        return self.tensor.shape if self.tensor is not None else self.array.shape


class Rule:
    """What the tape needs of an operation: its node ``name`` and its VJP rule
    ``backward(node, *grads)``, which returns one gradient (or None) per input. With
    ``materialize_grads`` False a multi-output rule gets None, not zeros, for the outputs that
    received no gradient. The registered primitives (``autodiff.ops.registry.Primitive``)
    extend it with their forward and metadata; each ``Function.apply`` makes its own."""

    __slots__ = ("name", "backward", "materialize_grads")

    def __init__(self, name: str, backward, materialize_grads: bool = True) -> None:
        self.name = name
        self.backward = backward
        self.materialize_grads = materialize_grads

    def __repr__(self) -> str:
        return f"<rule {self.name}>"


class Node:
    """One recorded operation: its rule (``op``) and everything the rule needs.

    The constructor is the one node builder, used by :func:`record`, :func:`record_multi` and
    ``Function.apply``: from the input tensors it derives the edges, ``needs_input_grad`` and
    ``in_meta`` (shape, dtype per input), numbers the node and puts it on the open tapes. The
    caller wraps the outputs and then sets ``saved``."""

    __slots__ = ("op", "edges", "saved", "attrs", "seq", "needs_input_grad", "in_meta",
                 "out_meta", "released", "retained", "__weakref__")

    def __init__(self, op: Rule, inputs, out_meta: tuple, attrs=None) -> None:
        edges = []
        needs = []
        in_meta = []
        for t in inputs:   # one loop, no comprehension frames: this runs for every op
            if t._requires_grad:
                fn = t.grad_fn
                edges.append((t, 0) if fn is None else (fn, t._out_idx))
                needs.append(True)
            else:
                edges.append(None)
                needs.append(False)
            d = t.array
            in_meta.append((d.shape, d.dtype))
        self.op = op
        self.edges = edges
        self.saved = ()
        self.attrs = attrs
        self.seq = next(_seq)
        self.needs_input_grad = needs
        self.in_meta = in_meta
        self.out_meta = out_meta
        self.released = False
        self.retained = None
        if _tapes:
            for tape in _tapes:
                tape.append(self)

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def saved_tensors(self) -> tuple:
        if self.released:
            raise _second_backward_error(self)
        return tuple(s.unpack(self, i) for i, s in enumerate(self.saved))

    @property
    def next_functions(self) -> tuple:
        """(node or leaf tensor, output index) per input, as PyTorch's ``next_functions``."""
        return tuple(self.edges)

    def retain(self, t: Tensor) -> None:
        if self.retained is None:
            self.retained = []
        self.retained.append((t._out_idx, weakref.ref(t)))

    def release(self) -> None:
        self.saved = ()
        self.attrs = None
        self.released = True

    def __repr__(self) -> str:
        return f"<{self.name} #{self.seq}>"


def _second_backward_error(node: Node) -> RuntimeError:
    return RuntimeError(
        f"trying to backward through the graph a second time (at {node.name}): its saved "
        f"values were freed after the first backward. Pass retain_graph=True to the first "
        f"backward (or autodiff.grad) if you need to backward through it again.")


def record(op: Rule, out_data, inputs: tuple, saved: tuple = (), save_output: bool = False,
           attrs=None) -> Tensor:
    """Wrap ``out_data`` as the result of ``op`` (a registered primitive) and, when grad mode
    is on and an input requires grad, put a node on the tape. ``op.backward(node, grad)``
    returns one gradient (or None) per input; ``node.saved_tensors`` gives ``saved`` back,
    followed by the output when ``save_output``; ``node.attrs`` is ``attrs``."""
    # the hottest function of the engine: its eager body is written here, not called
    if _tracer is not None:
        return _untraced(_tracer, record, op, (out_data,), inputs, attrs,
                         (op, out_data, inputs, saved, save_output, attrs))[0]
    if STATE.anomaly:
        _check_finite(op.name, out_data, inputs)
    if STATE.enabled:
        for t in inputs:
            if t._requires_grad:
                break
        else:
            return make(out_data)
        node = Node(op, inputs, ((out_data.shape, out_data.dtype),), attrs)
        out = make(out_data, True, node, 0)
        sv = [SavedTensor(t) for t in saved]
        if save_output:
            sv.append(SavedTensor(out, 0))
        node.saved = sv
        return out
    return make(out_data)


def record_multi(op: Rule, outs_data: tuple, inputs: tuple, saved: tuple = (),
                 save_outputs: tuple = (), attrs=None) -> tuple:
    """:func:`record` for ops with several outputs; ``op.backward(node, *grads)`` receives one
    gradient per output (zeros for outputs that got none). ``save_outputs`` lists output indices
    to save after ``saved``. Outputs that are not floating point get no gradient."""
    if _tracer is not None:
        return _untraced(_tracer, record_multi, op, tuple(outs_data), inputs, attrs,
                         (op, outs_data, inputs, saved, save_outputs, attrs))
    if STATE.anomaly:
        for d in outs_data:
            _check_finite(op.name, d, inputs)
    if not (STATE.enabled and any(t._requires_grad for t in inputs)):
        return tuple(make(d) for d in outs_data)
    node = Node(op, inputs, tuple((d.shape, d.dtype) for d in outs_data), attrs)
    outs = tuple(make(d, _floating(d), node if _floating(d) else None, i)
                 for i, d in enumerate(outs_data))
    node.saved = [SavedTensor(t) for t in saved] + [SavedTensor(outs[i], i) for i in save_outputs]
    return outs


def _untraced(tracer, record_fn, op, outs: tuple, inputs, attrs, args: tuple):
    """Hand a record to ``tracer``, whose callback records eagerly (``record_fn(*args)`` with
    the tracer off, so it does not see the op twice); a 1-tuple for :func:`record`."""
    def run():
        global _tracer
        _tracer = None
        try:
            out = record_fn(*args)
        finally:
            _tracer = tracer
        return out if isinstance(out, tuple) else (out,)
    return tracer.record(op, outs, inputs, attrs, run)


def increment_version(tensor: "Tensor | Iterable[Tensor]") -> None:
    """Mark ``tensor`` (or each tensor of an iterable) as modified in place, as PyTorch's
    ``torch.autograd.graph.increment_version``: a backward that saved it before the write
    then raises instead of reading the new values. Call it after writing ``.array`` directly
    (optimizer updates, running statistics); the in-place methods (``add_``, ``zero_``...)
    call it themselves."""
    if _tracer is not None:
        _tracer.written(tensor)
    if isinstance(tensor, Tensor):
        tensor._version.v += 1
        return
    for t in tensor:
        t._version.v += 1


def _floating(a) -> bool:
    return a.dtype.kind == "f"


class Tape:
    """Collects, in execution order, the nodes recorded inside a ``with`` block.

    >>> with Tape() as tape:
    ...     loss = f(x)
    >>> [n.name for n in tape.nodes]
    """

    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def __enter__(self) -> "Tape":
        _tapes.append(self.nodes)
        return self

    def __exit__(self, *exc) -> None:
        _tapes.remove(self.nodes)


# ------------------------------------------------------------------------------------ anomaly
def _check_finite(name: str, data, inputs) -> None:
    if data.dtype.kind != "f":
        return
    xp = get_array_module(data)
    if bool(xp.isfinite(data).all()):
        return
    if all(t.array.dtype.kind != "f" or bool(xp.isfinite(t.array).all()) for t in inputs):
        raise FloatingPointError(
            f"detect_anomaly: {name} produced NaN/inf in its output (shape {data.shape}) "
            f"from finite inputs of shapes {[t.shape for t in inputs]}")


def _check_grad(node: Node, g: Tensor, position: int) -> None:
    d = g.array
    if d.dtype.kind == "f" and not bool(get_array_module(d).isfinite(d).all()):
        raise FloatingPointError(
            f"detect_anomaly: the backward of {node.name} (recorded at #{node.seq}) returned "
            f"NaN/inf in the gradient of its input {position} (shape {d.shape})")


# ------------------------------------------------------------------------------------ leaf hooks
# id(leaf) -> weak reference, for the leaves that have post-accumulate hooks (the hooks live on
# the tensor, in its _post_acc_hooks dict, so a hook that refers to its tensor is collectable).
# Empty when no hook is registered: the sweep then pays one truth test per backward.
_post_hooks: dict[int, weakref.ref] = {}
_hook_ids = itertools.count()


class PostAccumulateGradHookHandle:
    """Returned by ``Tensor.register_post_accumulate_grad_hook``; ``remove()`` unregisters."""

    __slots__ = ("hooks", "key", "id")

    def __init__(self, hooks: dict, key: int, hook_id: int) -> None:
        self.hooks, self.key, self.id = hooks, key, hook_id

    def remove(self) -> None:
        self.hooks.pop(self.id, None)
        ref = _post_hooks.get(self.key)
        if not self.hooks and ref is not None and \
                getattr(ref(), "_post_acc_hooks", None) is self.hooks:
            del _post_hooks[self.key]

    def __enter__(self) -> "PostAccumulateGradHookHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def register_post_accumulate_grad_hook(t: Tensor, hook) -> PostAccumulateGradHookHandle:
    """``hook(t)`` runs each time a backward has added to the leaf ``t``'s ``.grad`` (as soon as
    every gradient reaching ``t`` in that sweep is summed, before the sweep ends)."""
    if not callable(hook):
        raise TypeError(f"register_post_accumulate_grad_hook: the hook must be callable, got "
                        f"{type(hook).__name__}")
    if not t._requires_grad:
        raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on a "
                           "tensor that does not require grad")
    if t.grad_fn is not None:
        raise RuntimeError(f"register_post_accumulate_grad_hook: post accumulate grad hooks "
                           f"cannot be registered on non-leaf tensors (this one is the output "
                           f"of {t.grad_fn.name})")
    hooks = getattr(t, "_post_acc_hooks", None)
    if hooks is None:
        hooks = t._post_acc_hooks = {}
    key = id(t)
    ref = _post_hooks.get(key)
    if ref is None or ref() is not t:
        def drop(ref, key=key, registry=_post_hooks):
            if registry.get(key) is ref:
                del registry[key]
        _post_hooks[key] = weakref.ref(t, drop)
    handle = PostAccumulateGradHookHandle(hooks, key, next(_hook_ids))
    hooks[handle.id] = hook
    return handle


def _run_post_hooks(leaf: Tensor) -> None:
    hooks = getattr(leaf, "_post_acc_hooks", None)
    if not hooks:
        return
    for hook in list(hooks.values()):
        if hook(leaf) is not None:
            raise RuntimeError("hooks registered with register_post_accumulate_grad_hook are "
                               "expected to return None")


def _hooked_leaf_counts(roots) -> dict[int, int]:
    """For each hooked leaf reachable from ``roots``: the number of gradients it can receive
    (one per edge into it, one per root that is the leaf itself), so the sweep knows when its
    gradient is complete."""
    counts: dict[int, int] = {}
    seen = set()
    stack = []
    for t in roots:
        if t.grad_fn is None:
            if id(t) in _post_hooks:
                counts[id(t)] = counts.get(id(t), 0) + 1
        elif t.grad_fn not in seen:
            seen.add(t.grad_fn)
            stack.append(t.grad_fn)
    while stack:
        for edge in stack.pop().edges:
            if edge is None:
                continue
            target = edge[0]
            if target.__class__ is Node:
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
            elif id(target) in _post_hooks:
                counts[id(target)] = counts.get(id(target), 0) + 1
    return counts


# ------------------------------------------------------------------------------------ the sweep
# The gradient arithmetic of the sweep: differentiable ops (so create_graph records them), which
# live above the tape. autodiff/ops/__init__.py hands them over when the ops load.
_sum_to = _astype = _grad_add = None


def use_gradient_arithmetic(sum_to: Callable, astype: Callable, add: Callable) -> None:
    """Give the sweep its differentiable ``sum_to(g, shape)`` (undo broadcasting),
    ``astype(g, dtype)`` and ``add(a, b)``; called once, by ``autodiff/ops/__init__.py``."""
    global _sum_to, _astype, _grad_add
    _sum_to, _astype, _grad_add = sum_to, astype, add


def _fit(g: Tensor, meta, node: Node, position: int) -> Tensor:
    """Reduce a broadcast gradient to its input's shape and cast it to its dtype."""
    shape, dtype = meta
    if g.array.shape != shape:
        try:
            g = _sum_to(g, shape)
        except ValueError:
            raise RuntimeError(f"backward of {node.name}: the gradient for input {position} has "
                               f"shape {g.shape}, which does not reduce to the input's shape "
                               f"{shape}") from None
    if g.array.dtype != dtype:
        g = _astype(g, dtype)
    return g


def _add(a: Tensor | None, b: Tensor) -> Tensor:
    """Sum two gradients of the same shape and dtype (recorded only under create_graph)."""
    if a is None:
        return b
    if not STATE.enabled:
        return make(_apply(_ADD, a.array, b.array))
    return _grad_add(a, b)


def run_backward(roots, root_grads, retain_graph: bool, create_graph: bool,
                 inputs=None, accumulate: bool = True):
    """Propagate ``root_grads`` from ``roots`` back through the tape.

    With ``accumulate``, leaves' ``.grad`` receive their gradients; otherwise the gradients of
    ``inputs`` (leaf or not) are returned in order (None where unreached).
    """
    leaf_grads: dict[int, list] = {}
    buffers: dict[Node, list] = {}
    heap: list = []
    wanted = None
    if inputs is not None:
        wanted = {}
        for i, t in enumerate(inputs):
            key = id(t) if t.grad_fn is None else (t.grad_fn, t._out_idx)
            wanted.setdefault(key, []).append(i)
    captured: dict[int, Tensor] = {}

    def push(node, idx, g):
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * len(node.out_meta)
            heapq.heappush(heap, (-node.seq, node))
        buf[idx] = _add(buf[idx], g)

    def to_leaf(leaf, g):
        entry = leaf_grads.get(id(leaf))
        if entry is None:
            leaf_grads[id(leaf)] = [leaf, g]
        else:
            entry[1] = _add(entry[1], g)

    owned = None
    counts = _hooked_leaf_counts(roots) if _post_hooks and accumulate and wanted is None else None
    if counts:
        # a hooked leaf's .grad is written, and its hooks run, as soon as its last gradient
        # arrives (DDP starts reducing a bucket while the rest of the sweep runs)
        owned = {id(g.array) for g in root_grads}
        sum_to_leaf = to_leaf

        def to_leaf(leaf, g):
            sum_to_leaf(leaf, g)
            left = counts.get(id(leaf))
            if left is None:
                return
            if left > 1:
                counts[id(leaf)] = left - 1
                return
            del counts[id(leaf)]
            _accumulate_leaf(leaf, leaf_grads.pop(id(leaf))[1], owned, create_graph)
            _run_post_hooks(leaf)

    prev = STATE.enabled
    STATE.enabled = create_graph
    try:
        for t, g in zip(roots, root_grads):
            if t.grad_fn is None:
                to_leaf(t, g)
            else:
                push(t.grad_fn, t._out_idx, g)
        while heap:
            node = heapq.heappop(heap)[1]
            grads = buffers.pop(node)
            if node.released:
                raise _second_backward_error(node)
            # grad() returns a non-leaf's gradient as it arrives, backward(inputs=) as its
            # hooks (Tensor.register_hook) leave it (PyTorch's order)
            if wanted is not None and not accumulate:
                _capture(wanted, captured, node, grads)
            if node.retained:
                run_node_hooks(node, grads, create_graph, _owned)
            if wanted is not None and accumulate:
                _capture(wanted, captured, node, grads)
            try:
                if _tracer is None:
                    in_grads = call_rule(node, grads)
                else:
                    in_grads = _tracer.rule(node, grads, create_graph, call_rule)
            except FloatingPointError as e:  # detect_anomaly inside a rule: name the rule
                raise FloatingPointError(f"detect_anomaly: in the backward of {node.name} "
                                         f"(recorded at #{node.seq}): {e}") from None
            if not retain_graph:
                node.release()
            for pos, (edge, g) in enumerate(zip(node.edges, in_grads)):
                if edge is None or g is None:
                    continue
                if not isinstance(g, Tensor):
                    g = make(g)
                g = _fit(g, node.in_meta[pos], node, pos)
                if STATE.anomaly:
                    _check_grad(node, g, pos)
                target, idx = edge
                if target.__class__ is Node:
                    push(target, idx, g)
                else:
                    to_leaf(target, g)
    finally:
        STATE.enabled = prev

    if wanted is not None:
        for key, (leaf, g) in leaf_grads.items():
            if key in wanted:
                g = run_leaf_hooks(leaf, g, create_graph)
            for i in wanted.get(key, ()):
                captured[i] = g
        return [captured.get(i) for i in range(len(inputs))]
    if accumulate:
        _accumulate(leaf_grads, roots, root_grads, create_graph, owned)
    return None


_ADD = operator.add
_COPY = operator.methodcaller("copy")


def _apply(fn: Callable, *arrays):
    """``fn(*arrays)``: array arithmetic of the sweep outside the primitives, reported to the
    tracer of ``autodiff.compile`` when one is active."""
    if _tracer is not None:
        return _tracer.raw(fn, arrays)
    return fn(*arrays)


def call_rule(node: Node, grads: list):
    """``node``'s VJP rule on its output gradients (zeros for the missing ones unless the rule
    takes None): the gradients of its inputs."""
    if len(grads) == 1:
        return node.op.backward(node, grads[0])
    if not node.op.materialize_grads:
        return node.op.backward(node, *grads)
    return node.op.backward(node, *[g if g is not None else _zeros(m, grads)
                                    for g, m in zip(grads, node.out_meta)])


def _capture(wanted: dict, captured: dict, node: Node, grads: list) -> None:
    for idx, g in enumerate(grads):
        for i in wanted.get((node, idx), ()):
            captured[i] = g


def _zeros(meta, like: list) -> Tensor:
    """Zeros for an output that received no gradient, on the device of those that did."""
    shape, dtype = meta
    xp = get_array_module(*[g.array for g in like if g is not None])
    return make(xp.zeros(shape, dtype))


def _owned(g: Tensor) -> Tensor:
    """A detached gradient whose array the caller may write (zero_, optimizers): views
    (broadcast, reshape: read-only or aliased) are copied, NumPy scalars made 0-d arrays."""
    d = g.array
    if d.base is not None:
        return make(d.copy())
    if isinstance(d, numpy.generic):
        return make(numpy.array(d))
    return g.detach()


def _accumulate(leaf_grads, roots, root_grads, create_graph, owned=None) -> None:
    """Add each leaf's summed gradient to its ``.grad``, never aliasing an array another
    tensor owns (a pass-through gradient can reach two leaves as the same array), then run
    the leaf's post-accumulate hooks."""
    if owned is None:
        owned = {id(g.array) for g in root_grads}
    for leaf, g in leaf_grads.values():
        _accumulate_leaf(leaf, g, owned, create_graph)
        if _post_hooks:
            _run_post_hooks(leaf)


def _accumulate_leaf(leaf, g, owned: set, create_graph: bool) -> None:
    """Add one leaf's summed gradient ``g`` (passed through its hooks) to its ``.grad``."""
    g = run_leaf_hooks(leaf, g, create_graph)
    if _tracer is not None:
        _tracer.touch(leaf)
    if not create_graph:
        if id(g.array) in owned or g.grad_fn is not None or g.array.base is not None:
            g = make(_apply(_COPY, g.array))  # views (broadcast, reshape): read-only or aliased
        elif isinstance(g.array, numpy.generic):
            g = make(_apply(numpy.array, g.array))  # NumPy scalar -> writable 0-d array
        owned.add(id(g.array))
    if leaf.grad is None:
        leaf.grad = g
    elif create_graph:
        leaf.grad = _grad_add(leaf.grad, g)
    else:
        total = _apply(_ADD, leaf.grad.array, g.array)
        leaf.grad = make(numpy.array(total) if isinstance(total, numpy.generic) else total)


def _as_grad(t: Tensor, g, fn: str) -> Tensor:
    if g is None:
        if t.array.size != 1:
            raise RuntimeError(f"{fn}: grad can be implicitly created only for scalar outputs; "
                               f"the output has shape {t.shape}, so pass a gradient of that shape")
        return make(get_array_module(t.array).ones_like(t.array))
    if not isinstance(g, Tensor):
        g = Tensor(g, dtype=t.dtype)
    if g.shape != t.shape:
        raise ValueError(f"{fn}: gradient has shape {g.shape} but the output has shape {t.shape}")
    if g.array.dtype != t.array.dtype and t.array.dtype.kind == "f":
        g = _astype(g, t.array.dtype)  # as PyTorch: the rules see gradients in their dtype
    return g


def backward(tensor, gradient=None, retain_graph=None, create_graph: bool = False,
             inputs=None) -> None:
    """``Tensor.backward`` and ``autograd.backward``: accumulate gradients into the leaves'
    ``.grad``. ``tensor`` may be a sequence of tensors, ``gradient`` then one per tensor (None
    for a one-element tensor)."""
    if isinstance(tensor, Tensor):
        roots, gradient = [tensor], [gradient]
    else:
        roots = list(tensor)
        gradient = [None] * len(roots) if gradient is None else \
            [gradient] if isinstance(gradient, Tensor) else list(gradient)
    if len(gradient) != len(roots):
        raise ValueError(f"backward: got {len(gradient)} gradients for {len(roots)} tensors")
    for t in roots:
        if not t._requires_grad:
            raise RuntimeError("backward: the tensor does not require grad and has no grad_fn "
                               "(no input of the computation had requires_grad=True, or it ran "
                               "under no_grad)")
    gs = [_as_grad(t, g, "backward") for t, g in zip(roots, gradient)]
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        grads = run_backward(roots, gs, retain_graph, create_graph, inputs=inputs)
        for t, gi in zip(inputs, grads):
            if gi is not None:
                gi = gi if create_graph else _owned(gi)
                t.grad = gi if t.grad is None else make(t.grad.array + gi.array)
                if _post_hooks:
                    _run_post_hooks(t)
        return
    run_backward(roots, gs, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused: bool = False, is_grads_batched: bool = False,
         materialize_grads: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, as ``torch.autograd.grad``.

    Nothing is accumulated into ``.grad``. With ``create_graph=True`` the returned gradients
    are themselves differentiable (Hessian-vector products, higher derivatives).
    ``only_inputs`` is ignored (deprecated in PyTorch, which ignores it too);
    ``is_grads_batched=True`` (vmap over grad_outputs) is not implemented.
    """
    if is_grads_batched:
        raise NotImplementedError("grad: is_grads_batched=True (vmap over the first dim of "
                                  "grad_outputs) is not implemented; loop over the rows")
    if not only_inputs:
        warnings.warn("grad: only_inputs argument is deprecated and is ignored now "
                      "(defaults to True)", stacklevel=2)
    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t._requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    roots, gs = [], []
    for o, g in zip(outputs, grad_outputs):
        if not o._requires_grad:
            raise RuntimeError("grad: an output does not require grad and has no grad_fn")
        roots.append(o)
        gs.append(_as_grad(o, g, "grad"))
    if retain_graph is None:
        retain_graph = create_graph
    res = run_backward(roots, gs, retain_graph, create_graph, inputs=inputs, accumulate=False)
    out = []
    for i, (t, g) in enumerate(zip(inputs, res)):
        if g is None:
            if materialize_grads:
                g = make(t.xp.zeros_like(t.array))
            elif not allow_unused:
                raise RuntimeError(f"grad: input {i} (shape {t.shape}) was not used in the graph "
                                   f"of the outputs; pass allow_unused=True to get None for it")
        elif not create_graph:
            g = g.detach()
        out.append(g)
    return tuple(out)


__all__ = ["Node", "Rule", "SavedTensor", "Tape", "record", "record_multi", "run_backward",
           "backward", "grad", "no_grad", "increment_version", "use_gradient_arithmetic",
           "register_post_accumulate_grad_hook"]
