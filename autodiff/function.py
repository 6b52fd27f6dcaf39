"""Custom differentiable functions: ``autodiff.Function`` (as ``torch.autograd.Function``).

    class Cube(ad.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2
    y = Cube.apply(x)

``forward`` runs under no-grad. When ``backward`` is written with Tensor operations,
double backward works: saved inputs stay connected to their graph, saved outputs are rebuilt
attached to this node. A tensor stashed on ``ctx`` as an attribute that is one of the outputs
would silently break double backward (and make a reference cycle), so ``apply`` refuses it.
"""
from __future__ import annotations

import functools
import inspect

from .grad_mode import STATE, no_grad
from .tape import Node, Rule, SavedTensor
from .tensor import Tensor, make


class FunctionCtx:
    """The ``ctx`` passed to ``forward`` and ``backward``; free for attributes."""

    def __init__(self) -> None:
        self.to_save: tuple = ()
        self.needs_input_grad: tuple = ()
        self.non_differentiable: set = set()
        self.dirty: tuple = ()
        self.materialize_grads = True
        self._node: Node | None = None

    def save_for_backward(self, *tensors) -> None:
        _check_tensors("save_for_backward", tensors, allow_none=True)
        self.to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        node = self._node
        if node is None:
            raise RuntimeError("saved_tensors is only available in backward")
        if node.released:
            from .tape import _second_backward_error
            raise _second_backward_error(node)
        return tuple(None if s is None else s.unpack(node, i) for i, s in enumerate(node.saved))

    def mark_non_differentiable(self, *tensors) -> None:
        """These outputs will not require grad; backward still receives a gradient for each
        (zeros, or None without materialized grads)."""
        _check_tensors("mark_non_differentiable", tensors)
        self.non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """With False, backward receives None (not zeros) for the gradients of the outputs
        that got none (unused outputs of a multi-output Function)."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors) -> None:
        """Declare the inputs that forward modified in place; each must be returned as an
        output. ``apply`` bumps their version and returns them (the same objects) with their
        history moved onto this Function's node, as PyTorch does."""
        _check_tensors("mark_dirty", tensors)
        self.dirty = tensors


def _check_tensors(method: str, tensors, allow_none: bool = False) -> None:
    for t in tensors:
        if not (isinstance(t, Tensor) or allow_none and t is None):
            raise TypeError(f"{method}: only Tensors{' (or None)' if allow_none else ''} can "
                            f"be passed, got {type(t).__name__}"
                            f"{'; keep other values as ctx attributes' if allow_none else ''}")


class Function:
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)``; call
    ``.apply(*args)``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        name = type(self).__name__
        raise TypeError(f"{name} instances are not callable: call {name}.apply(...) on the "
                        f"class (e.g. y = {name}.apply(x)); forward and backward are "
                        f"staticmethods, as in torch.autograd.Function")

    @classmethod
    def apply(cls, *args, **kwargs):
        args, kwargs = _bind(cls, args, kwargs)
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        with no_grad():
            result = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        for o in outs:
            if not isinstance(o, Tensor) and o is not None:
                raise TypeError(f"{cls.__name__}.forward must return Tensors, got "
                                f"{type(o).__name__}")
        record = STATE.enabled and any(ctx.needs_input_grad)
        dirty = _take_dirty(cls, ctx, outs)
        if not record:
            return result
        _refuse_outputs_on_ctx(cls, ctx, outs)
        inputs = [a for a in args if isinstance(a, Tensor)]
        rule = Rule(f"{cls.__name__}Backward", _make_backward(cls, args), ctx.materialize_grads)
        node = Node(rule, inputs, tuple((o.array.shape, o.array.dtype) for o in outs), ctx)
        wrapped = []
        for i, o in enumerate(outs):
            diff = o.array.dtype.kind == "f" and id(o) not in ctx.non_differentiable
            if id(o) in dirty:  # modified in place: the same object, rebased onto this node
                o.grad_fn, o._out_idx, o._requires_grad = (node if diff else None), i, diff
                wrapped.append(o)
            else:
                wrapped.append(make(o.array, diff, node if diff else None, i))
        saved = []
        for t in ctx.to_save:
            if t is None:
                saved.append(None)
                continue
            pos = next((i for i, o in enumerate(outs) if o is t), -1)
            saved.append(SavedTensor(wrapped[pos], pos) if pos >= 0 else SavedTensor(t))
        node.saved = saved
        return wrapped[0] if single else tuple(wrapped)


def _bind(cls, args: tuple, kwargs: dict) -> tuple:
    """Arguments given by keyword become positional (as PyTorch binds them), so a Tensor
    passed as ``y=t`` is an input that gets a gradient; only keyword-only parameters stay
    keywords, and a Tensor that requires grad may not be one."""
    if not kwargs:
        return args, kwargs
    try:
        bound = inspect.signature(cls.forward).bind(None, *args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{cls.__name__}.apply: {e}") from None
    for name, v in bound.kwargs.items():
        if isinstance(v, Tensor) and v._requires_grad:
            raise TypeError(f"{cls.__name__}.apply: the keyword-only argument {name!r} is a "
                            f"Tensor that requires grad; make it a positional parameter of "
                            f"forward so that it gets a gradient")
    return bound.args[1:], bound.kwargs


def _take_dirty(cls, ctx, outs) -> set:
    """Check the tensors ``forward`` marked dirty and bump their versions; their ids."""
    dirty, ctx.dirty = ctx.dirty, ()  # not kept on ctx: it would be an output -> node cycle
    out_ids = {id(o) for o in outs}
    for t in dirty:
        if id(t) not in out_ids:
            raise RuntimeError(f"{cls.__name__}: some elements marked as dirty during the "
                               f"forward method were not returned as output. The inputs that "
                               f"are modified inplace must all be outputs of the Function.")
        if STATE.enabled and t._requires_grad and t.grad_fn is None:
            raise RuntimeError(f"{cls.__name__}: a leaf Variable that requires grad has been "
                               f"used in an in-place operation (marked dirty).")
        t._version.v += 1
    return {id(t) for t in dirty}


def _refuse_outputs_on_ctx(cls, ctx, outs) -> None:
    ids = {id(o) for o in outs}
    for name, value in vars(ctx).items():
        values = value if isinstance(value, (list, tuple)) else (value,)
        for v in values:
            if isinstance(v, Tensor) and id(v) in ids and name != "to_save":
                raise RuntimeError(
                    f"{cls.__name__}.forward stored an output tensor as ctx.{name}; save it "
                    f"with ctx.save_for_backward(...) instead, otherwise double backward "
                    f"through {cls.__name__} would silently lose its dependence on the inputs")


def _make_backward(cls, args):
    # only metadata of the arguments: holding the tensors would keep them (and a dirty input
    # rebased onto the node: a cycle) alive as long as the graph
    metas = [(i, a.shape, a.dtype, a.xp) for i, a in enumerate(args) if isinstance(a, Tensor)]
    n_args = len(args)

    def backward_fn(node, *grads):
        ctx = node.attrs
        ctx._node = node  # bound only while backward runs: no node <-> ctx cycle
        try:
            res = cls.backward(ctx, *grads)
        finally:
            ctx._node = None
        if not isinstance(res, tuple):
            res = (res,)
        if len(res) > n_args and all(g is None for g in res[n_args:]):
            res = res[:n_args]  # trailing Nones beyond the arguments are ignored (as PyTorch)
        if len(res) != n_args:
            # one gradient (or None) per forward argument, tensors or not: a missing one would
            # silently leave its input untrained
            raise RuntimeError(f"function {node.name} returned an incorrect number of "
                               f"gradients (expected {n_args}, got {len(res)})")
        out = []
        for p, shape, dtype, xp in metas:
            g = res[p]
            if g is not None and not isinstance(g, Tensor):
                g = make(xp.asarray(g, dtype=dtype))
            if g is not None and g.shape != shape:
                try:
                    from .ops.shape import sum_to
                    g = sum_to(g, shape)
                except ValueError:
                    raise RuntimeError(f"{cls.__name__}.backward returned a gradient of shape "
                                       f"{g.shape} for argument {p} of shape "
                                       f"{shape}") from None
            out.append(g)
        return tuple(out)

    return backward_fn


def once_differentiable(backward):
    """Decorate a ``backward`` that is not itself differentiable: it runs under no-grad, and
    differentiating its result again raises instead of silently returning zeros."""

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        with no_grad():
            res = backward(ctx, *grads)
        if not STATE.enabled:  # plain backward: nothing will differentiate the result
            return res
        # under create_graph the result depends on the incoming gradients and on the saved
        # tensors: anchor it to them through a node whose backward raises
        anchors = [g for g in grads if isinstance(g, Tensor) and g._requires_grad]
        if isinstance(ctx, FunctionCtx) and ctx._node is not None:
            anchors += [t for t in ctx.saved_tensors
                        if isinstance(t, Tensor) and t._requires_grad]
        if not anchors:
            return res
        single = not isinstance(res, tuple)
        outs = (res,) if single else res
        guarded = tuple(None if o is None else
                        _Unreachable.apply(o if isinstance(o, Tensor) else make(o), *anchors)
                        for o in outs)
        return guarded[0] if single else guarded

    return wrapper


class _Unreachable(Function):
    @staticmethod
    def forward(ctx, value, *anchors):
        return make(value.array)

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("trying to differentiate twice a function that was marked with "
                           "@once_differentiable")
