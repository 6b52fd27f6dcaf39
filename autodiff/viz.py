"""See the tape: the recorded graph behind a tensor as a Graphviz ``Digraph`` (torchviz's
``make_dot``, micrograd's ``draw_dot``).

>>> import autodiff as ad
>>> from autodiff.viz import make_dot
>>> w = ad.tensor([[1.0, 2.0]], requires_grad=True)
>>> dot = make_dot((w * 3).sum(), params={"w": w})
>>> print(dot.source)            # DOT text; dot.save("g.dot") needs no Graphviz binary

One box per recorded op (its name on the tape, then each output's shape and dtype), one per
leaf tensor that requires grad (lightblue, named from ``params`` when given, e.g.
``dict(model.named_parameters())``), one for each output (green). Edges run from inputs to the
op that consumed them, along the edges the backward sweep follows. Every recorded op lies on a
gradient path (the tape records an op only when an input requires grad); inputs that need no
gradient are drawn as grey dashed "constant" boxes, so the gradient path is the coloured,
solid part of the picture. With ``show_saved=True`` the tensors each op saved for its backward
are shown too (orange, dotted edges); a backward without ``retain_graph`` frees them, so draw
before calling ``backward()``.

Needs the ``graphviz`` Python package (``pip install 'autodiff[viz]'``); writing DOT text does
not need the Graphviz program, rendering to SVG/PNG does (:func:`save_graph` falls back to a
``.dot`` file).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable

from .tape import Node
from .tensor import Tensor

__all__ = ["make_dot", "save_graph"]

_NODE_ATTR = dict(style="filled", shape="box", align="left", fontsize="10", height="0.2",
                  fontname="monospace")
_COLORS = {"op": "lightgrey", "param": "lightblue", "output": "darkolivegreen1",
           "saved": "orange", "constant": "white"}


def _graphviz():
    try:
        import graphviz
    except ImportError:
        raise ImportError("autodiff.viz needs the 'graphviz' Python package: pip install "
                          "'autodiff[viz]' (or pip install graphviz); rendering to SVG/PNG also "
                          "needs the Graphviz 'dot' program") from None
    return graphviz


def _meta(shape, dtype) -> str:
    return f"{tuple(shape)} {dtype}"


def make_dot(output: Tensor | Iterable[Tensor], params: dict | None = None,
             show_saved: bool = False):
    """A ``graphviz.Digraph`` of the graph recorded behind ``output`` (a Tensor or a sequence
    of Tensors); ``params`` maps names to tensors (``dict(model.named_parameters())``)."""
    graphviz = _graphviz()
    outputs = [output] if isinstance(output, Tensor) else list(output)
    for o in outputs:
        if not isinstance(o, Tensor):
            raise TypeError(f"make_dot: outputs must be Tensors, got {type(o).__name__}")
    names = {}
    for name, p in (params or {}).items():
        if not isinstance(p, Tensor):
            raise TypeError(f"make_dot: params[{name!r}] is a {type(p).__name__}, not a Tensor")
        names[id(p)] = name

    dot = graphviz.Digraph(node_attr=_NODE_ATTR, graph_attr=dict(size="12,12", ranksep="0.1"))
    ids: dict[int, str] = {}        # id(Node or leaf Tensor) -> DOT node name
    counter = {"op": 0, "leaf": 0, "const": 0, "saved": 0}

    def new_name(kind: str) -> str:
        counter[kind] += 1
        return f"{kind}{counter[kind]}"

    def leaf_label(t: Tensor) -> str:
        name = names.get(id(t), "")
        return (name + "\\n" if name else "") + _meta(t.shape, t.dtype)

    def visit(obj) -> tuple[str, bool]:
        """DOT name of a Node or leaf tensor, and whether it is new."""
        key = id(obj)
        if key in ids:
            return ids[key], False
        if isinstance(obj, Node):
            ids[key] = name = new_name("op")
            outs = "\\n".join(_meta(s, d) for s, d in obj.out_meta)
            dot.node(name, f"{obj.name}\\n{outs}", fillcolor=_COLORS["op"])
        else:
            ids[key] = name = new_name("leaf")
            dot.node(name, leaf_label(obj), fillcolor=_COLORS["param"])
        return name, True

    stack: list[Node] = []
    for i, o in enumerate(outputs):
        out_name = f"output{i + 1}"
        dot.node(out_name, f"output\\n{_meta(o.shape, o.dtype)}", fillcolor=_COLORS["output"])
        src = o.grad_fn if o.grad_fn is not None else (o if o.requires_grad else None)
        if src is None:
            continue
        name, new = visit(src)
        dot.edge(name, out_name)
        if new and isinstance(src, Node):
            stack.append(src)
    while stack:  # iterative: deep graphs (long RNN unrolls) do not hit the recursion limit
        node = stack.pop()
        me = ids[id(node)]
        for position, edge in enumerate(node.edges):
            if edge is None:
                shape, dtype = node.in_meta[position]
                const = new_name("const")
                dot.node(const, f"constant\\n{_meta(shape, dtype)}",
                         fillcolor=_COLORS["constant"], color="grey", fontcolor="grey40")
                dot.edge(const, me, style="dashed", color="grey")
                continue
            src, _ = edge
            name, new = visit(src)
            dot.edge(name, me)
            if new and isinstance(src, Node):
                stack.append(src)
        if show_saved:
            _add_saved(dot, node, me, names, new_name)
    return dot


def _add_saved(dot, node: Node, me: str, names: dict, new_name) -> None:
    if node.released:
        return
    for i, s in enumerate(node.saved or ()):
        if s is None:
            continue
        if s.out_idx >= 0:
            what, shape, dtype = "saved output", s.array.shape, s.array.dtype
        else:
            t = s.tensor
            label = names.get(id(t))
            what = f"saved {i}" + (f": {label}" if label else "")
            shape, dtype = t.shape, t.dtype
        name = new_name("saved")
        dot.node(name, f"{what}\\n{_meta(shape, dtype)}", fillcolor=_COLORS["saved"])
        dot.edge(name, me, style="dotted", dir="none")


def save_graph(dot, path: str | os.PathLike) -> Path:
    """Write ``dot`` to ``path``: rendered (format from the suffix, e.g. ``.svg``/``.png``) when
    the Graphviz ``dot`` program is installed, otherwise (or for a ``.dot``/``.gv`` path) as DOT
    text beside it with the suffix ``.dot``. Returns the path written."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt in ("dot", "gv"):
        path.write_text(dot.source, encoding="utf-8")
        return path
    if not fmt:
        raise ValueError(f"save_graph: {path} has no suffix to name the format (.svg, .png, "
                         f".pdf or .dot)")
    if shutil.which("dot") is not None:
        graphviz = _graphviz()
        try:
            path.write_bytes(dot.pipe(format=fmt))
            return path
        except graphviz.ExecutableNotFound:
            pass
    fallback = path.with_suffix(".dot")
    fallback.write_text(dot.source, encoding="utf-8")
    return fallback
