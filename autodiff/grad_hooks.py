"""Tensor gradient hooks (``Tensor.register_hook``): ``hook(grad)`` runs when the gradient with
respect to the tensor has been computed, and may return a replacement, as in PyTorch.

Where the hooks live: a leaf keeps them on itself (``_grad_hooks``); a non-leaf's belong to the
node that made it, as an ``(output index, hooks)`` entry of ``node.retained`` beside the
``retain_grad`` entries, so the sweep tests one attribute per node, as before. The sweep
(``tape.run_backward``) calls :func:`run_node_hooks` when it pops a node, before the node's rule
sees its gradients, and :func:`run_leaf_hooks` on a leaf's summed gradient before it is added to
``.grad`` or returned by ``grad``.
"""
from __future__ import annotations

import itertools

from .grad_mode import STATE
from .tensor import Tensor, make

__all__ = ["RemovableHandle", "register_hook", "run_node_hooks", "run_leaf_hooks"]

_ids = itertools.count()


class RemovableHandle:
    """Returned by the hook registrations (``Tensor.register_hook``, the ``nn.Module`` hooks):
    the hook is ``hooks[handle.id]``; ``remove()`` unregisters it."""

    __slots__ = ("hooks", "id")

    def __init__(self, hooks: dict) -> None:
        self.hooks, self.id = hooks, next(_ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def register_hook(t: Tensor, hook) -> RemovableHandle:
    """Register ``hook(grad) -> Tensor or None`` on ``t`` (leaf or not)."""
    if not callable(hook):
        raise TypeError(f"register_hook: the hook must be callable, got {type(hook).__name__}")
    if not t._requires_grad:
        raise RuntimeError("register_hook: cannot register a hook on a tensor that does not "
                           "require grad")
    node = t.grad_fn
    if node is None:
        hooks = getattr(t, "_grad_hooks", None)
        if hooks is None:
            hooks = t._grad_hooks = {}
    else:
        if node.retained is None:
            node.retained = []
        hooks = next((e for i, e in node.retained if i == t._out_idx and e.__class__ is dict),
                     None)
        if hooks is None:
            hooks = {}
            node.retained.append((t._out_idx, hooks))
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


def _call(hooks: dict, g: Tensor, create_graph: bool) -> Tensor:
    """``g`` passed through ``hooks`` in registration order (recorded only under create_graph,
    as the rules are)."""
    prev = STATE.enabled
    STATE.enabled = create_graph
    try:
        for hook in list(hooks.values()):
            out = hook(g)
            if out is None:
                continue
            name = getattr(hook, "__name__", type(hook).__name__)
            if not isinstance(out, Tensor):
                raise TypeError(f"register_hook: expected a Tensor or None, but hook {name!r} "
                                f"returned {type(out).__name__!r}")
            if out.shape != g.shape:
                raise RuntimeError(f"register_hook: hook {name!r} has changed the size of the "
                                   f"gradient (was {tuple(g.shape)}, got {tuple(out.shape)})")
            if out.dtype != g.dtype:
                raise RuntimeError(f"register_hook: hook {name!r} has changed the type of the "
                                   f"gradient (was {g.dtype}, got {out.dtype})")
            g = out
    finally:
        STATE.enabled = prev
    return g


def run_node_hooks(node, grads: list, create_graph: bool, owned) -> None:
    """Replace ``grads`` (the node's output gradients, in place) by what the hooks of its outputs
    return, then store the retained gradients (``retain_grad``), which see the hooks' results.
    ``owned(g)`` is the copy of ``g`` a ``.grad`` may hold."""
    for idx, entry in node.retained:
        if entry.__class__ is dict and entry and grads[idx] is not None:
            grads[idx] = _call(entry, grads[idx], create_graph)
    for idx, entry in node.retained:
        if entry.__class__ is not dict:
            t = entry()
            if t is not None and grads[idx] is not None:
                t.grad = grads[idx] if create_graph else owned(grads[idx])


def run_leaf_hooks(leaf: Tensor, g: Tensor, create_graph: bool) -> Tensor:
    """The leaf's summed gradient ``g`` passed through its hooks; a replacement is copied (it may
    be a tensor the hook's owner keeps) unless the graph is being built."""
    hooks = getattr(leaf, "_grad_hooks", None)
    if not hooks:
        return g
    out = _call(hooks, g, create_graph)
    if out is not g and not create_graph:
        out = make(out.array.copy())
    return out
