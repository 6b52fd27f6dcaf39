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

from .grad_mode import STATE, no_grad
from .tape import Node, SavedTensor, _edge, _tapes
from .tensor import Tensor, make


class FunctionCtx:
    """The ``ctx`` passed to ``forward`` and ``backward``; free for attributes."""

    def __init__(self) -> None:
        self.to_save: tuple = ()
        self.needs_input_grad: tuple = ()
        self.non_differentiable: set = set()
        self.materialize_grads = True
        self._node: Node | None = None

    def save_for_backward(self, *tensors) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward: only Tensors (or None) can be saved, got "
                                f"{type(t).__name__}; keep other values as ctx attributes")
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
        self.non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value

    def mark_dirty(self, *tensors) -> None:
        pass


class Function:
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)``; call
    ``.apply(*args)``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        tensor_args = [a for a in args if isinstance(a, Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        with no_grad():
            result = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        for o in outs:
            if not isinstance(o, Tensor) and o is not None:
                raise TypeError(f"{cls.__name__}.forward must return Tensors, got "
                                f"{type(o).__name__}")
        record = STATE.enabled and any(t._requires_grad for t in tensor_args)
        if not record:
            return result
        _refuse_outputs_on_ctx(cls, ctx, outs)
        inputs = [a for a in args if isinstance(a, Tensor)]
        edges = tuple(_edge(t) for t in inputs)
        node = Node(f"{cls.__name__}Backward", _make_backward(cls, args), edges, None, ctx,
                    tuple(e is not None for e in edges),
                    tuple((t.data.shape, t.data.dtype) for t in inputs),
                    tuple((o.data.shape, o.data.dtype) for o in outs))
        wrapped = []
        for i, o in enumerate(outs):
            diff = o.data.dtype.kind == "f" and id(o) not in ctx.non_differentiable
            wrapped.append(make(o.data, diff, node if diff else None, i))
        saved = []
        for t in ctx.to_save:
            if t is None:
                saved.append(None)
                continue
            pos = next((i for i, o in enumerate(outs) if o is t), -1)
            saved.append(SavedTensor(wrapped[pos], pos) if pos >= 0 else SavedTensor(t))
        node.saved = saved
        for tape in _tapes:
            tape.append(node)
        return wrapped[0] if single else tuple(wrapped)


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
    positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]

    def backward_fn(node, *grads):
        ctx = node.attrs
        ctx._node = node  # bound only while backward runs: no node <-> ctx cycle
        try:
            res = cls.backward(ctx, *grads)
        finally:
            ctx._node = None
        if not isinstance(res, tuple):
            res = (res,)
        if len(res) < len(args):
            res = res + (None,) * (len(args) - len(res))
        if len(res) > len(args):
            raise RuntimeError(f"{cls.__name__}.backward returned {len(res)} gradients for "
                               f"{len(args)} forward arguments")
        out = []
        for p in positions:
            g = res[p]
            if g is not None and not isinstance(g, Tensor):
                g = make(args[p].xp.asarray(g, dtype=args[p].dtype))
            if g is not None and g.shape != args[p].shape:
                try:
                    from .ops.shape import sum_to
                    g = sum_to(g, args[p].shape)
                except ValueError:
                    raise RuntimeError(f"{cls.__name__}.backward returned a gradient of shape "
                                       f"{g.shape} for argument {p} of shape "
                                       f"{args[p].shape}") from None
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
        return make(value.data)

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("trying to differentiate twice a function that was marked with "
                           "@once_differentiable")
