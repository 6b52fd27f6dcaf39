"""autodiff.viz.make_dot: the DOT text of small known graphs (exact ops, leaves, constants,
saved tensors and edges), deep graphs, and writing/rendering with or without Graphviz."""
from __future__ import annotations

import re
import shutil
import sys

import numpy as np
import pytest

import autodiff as ad

pytest.importorskip("graphviz")
from autodiff.viz import make_dot, save_graph  # noqa: E402

_NODE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"(.*)\]$')
_EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$")


def parse(source: str):
    """Nodes {name: (label, attrs)} and edges [(src, dst, attrs)] of DOT text written by the
    graphviz package (one statement per line)."""
    nodes, edges = {}, []
    for line in source.splitlines():
        m = _EDGE.match(line)
        if m:
            edges.append((m.group(1), m.group(2), m.group(3) or ""))
            continue
        m = _NODE.match(line)
        if m:
            nodes[m.group(1)] = (m.group(2).replace("\\n", " | "), m.group(3))
    return nodes, edges


def expression(source: str, root: str = "output1") -> str:
    """The graph as one nested expression, children sorted: equal strings mean the same nodes
    joined by the same edges (for graphs without shared subexpressions below the leaves)."""
    nodes, edges = parse(source)
    inputs = {}
    for src, dst, _ in edges:
        inputs.setdefault(dst, []).append(src)

    def expr(name):
        kids = sorted(expr(k) for k in inputs.get(name, []))
        return nodes[name][0] + (f"({', '.join(kids)})" if kids else "")

    return expr(root)


def _known_graph():
    a = ad.tensor([0.5, -1.0, 2.0], dtype="float64", requires_grad=True)
    b = ad.tensor([1.5, 0.25, -0.5], dtype="float64", requires_grad=True)
    c = ad.tensor([3.0, 1.0, 2.0], dtype="float64")
    y = ((a * b).sin() + c * a).sum()
    return y, a, b


def test_known_graph_exact_nodes_and_edges():
    y, a, b = _known_graph()
    src = make_dot(y, params={"a": a, "b": b}).source
    nodes, edges = parse(src)
    labels = sorted(label for label, _ in nodes.values())
    assert labels == sorted([
        "output | () float64", "sum | () float64", "add | (3,) float64",
        "sin | (3,) float64", "mul | (3,) float64", "mul | (3,) float64",
        "a | (3,) float64", "b | (3,) float64", "constant | (3,) float64"])
    assert len(edges) == 9                     # a feeds two muls: one node, two edges
    assert expression(src) == (
        "output | () float64(sum | () float64(add | (3,) float64("
        "mul | (3,) float64(a | (3,) float64, constant | (3,) float64), "
        "sin | (3,) float64(mul | (3,) float64(a | (3,) float64, b | (3,) float64)))))")
    # the gradient path is solid and coloured; the constant is grey and dashed
    for name, (label, attrs) in nodes.items():
        if label.startswith(("a ", "b ")):
            assert "fillcolor=lightblue" in attrs
        if label.startswith("constant"):
            assert "fillcolor=white" in attrs
    dashed = [(s, d) for s, d, attrs in edges if "dashed" in attrs]
    assert len(dashed) == 1 and nodes[dashed[0][0]][0].startswith("constant")


def test_unnamed_leaves_and_several_outputs():
    x = ad.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    u, v = x.sum(), (x * x).sum()
    src = make_dot((u, v)).source
    nodes, edges = parse(src)
    assert sorted(lbl for lbl, _ in nodes.values()) == sorted([
        "output | () float32", "output | () float32", "sum | () float32",
        "sum | () float32", "mul | (2, 3) float32", "(2, 3) float32"])
    assert expression(src, "output1") == "output | () float32(sum | () float32((2, 3) float32))"
    assert expression(src, "output2") == ("output | () float32(sum | () float32("
                                          "mul | (2, 3) float32((2, 3) float32, (2, 3) float32)))")
    # an output with no graph is drawn alone; a leaf output links to itself as a leaf
    assert parse(make_dot(ad.ones(2)).source)[1] == []
    nodes, edges = parse(make_dot(x, params={"x": x}).source)
    assert [nodes[s][0] for s, _, _ in edges] == ["x | (2, 3) float32"]


class Cube(ad.Function):
    @staticmethod
    def forward(ctx, x):
        y = x ** 3
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return 3 * g * y / x


def test_show_saved_lists_what_the_function_saved():
    w = ad.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    y = Cube.apply(w)
    nodes, edges = parse(make_dot(y, params={"w": w}, show_saved=True).source)
    saved = sorted(lbl for lbl, attrs in nodes.values() if "orange" in attrs)
    assert saved == ["saved 0: w | (2,) float64", "saved output | (2,) float64"]
    fn = next(n for n, (lbl, _) in nodes.items() if lbl.startswith("CubeBackward"))
    assert sorted(nodes[s][0] for s, d, a in edges if d == fn and "dotted" in a) == saved
    plain, _ = parse(make_dot(y, params={"w": w}).source)   # not shown unless asked
    assert not any("orange" in attrs for _, attrs in plain.values())
    y.sum().backward()                          # frees the saved tensors: nothing left to show
    nodes, _ = parse(make_dot(y, show_saved=True).source)
    assert not any("orange" in attrs for _, attrs in nodes.values())


def test_deep_graph_is_not_recursive():
    x = ad.tensor([1.0], dtype="float64", requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    nodes, edges = parse(make_dot(y).source)
    assert sum(lbl.startswith("mul") for lbl, _ in nodes.values()) == 3000
    assert len(edges) == 3000 * 2 + 1          # each mul: its input and its constant; output


def test_bad_arguments():
    x = ad.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="make_dot: outputs must be Tensors, got ndarray"):
        make_dot([np.ones(2)])
    with pytest.raises(TypeError, match=r"params\['w'\] is a list"):
        make_dot(x * 2, params={"w": [1.0]})


def test_missing_graphviz_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match=r"pip install 'autodiff\[viz\]'"):
        make_dot(ad.ones(1))


def test_save_graph_writes_dot_without_the_binary(tmp_path, monkeypatch):
    y, a, b = _known_graph()
    dot = make_dot(y, params={"a": a, "b": b})
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = save_graph(dot, tmp_path / "g.svg")
    assert out == tmp_path / "g.dot" and out.read_text() == dot.source
    assert not (tmp_path / "g.svg").exists()
    assert save_graph(dot, tmp_path / "h.dot").read_text() == dot.source
    with pytest.raises(ValueError, match="no suffix"):
        save_graph(dot, tmp_path / "noext")


@pytest.mark.skipif(shutil.which("dot") is None, reason="the Graphviz dot program is absent")
def test_save_graph_renders_svg_with_the_binary(tmp_path):
    y, a, b = _known_graph()
    out = save_graph(make_dot(y, params={"a": a, "b": b}), tmp_path / "g.svg")
    assert out.suffix == ".svg" and "<svg" in out.read_text()


def test_legendre_example_graph_option(tmp_path, monkeypatch, capsys):
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "legendre_graph", Path(__file__).resolve().parents[1] / "examples" / "legendre.py")
    legendre = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(legendre)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = legendre.main(["--steps", "3", "--graph", str(tmp_path / "graph.svg")])
    assert out["graph"] == str(tmp_path / "graph.dot")
    assert "'dot' program is not installed" in capsys.readouterr().out
    nodes, edges = parse((tmp_path / "graph.dot").read_text())
    labels = [lbl for lbl, _ in nodes.values()]
    assert sorted(lbl for lbl in labels if lbl[1:3] == " |") == [
        "a | () float32", "b | () float32", "c | () float32", "d | () float32"]
    fn = [n for n, (lbl, _) in nodes.items() if lbl.startswith("LegendrePolynomial3Backward")]
    assert len(fn) == 1 and nodes[fn[0]][0] == "LegendrePolynomial3Backward | (2000,) float32"
    # P3 saved its input (c + d x) for the backward
    assert [nodes[s][0] for s, d, a in edges if d == fn[0] and "dotted" in a] == [
        "saved 0 | (2000,) float32"]
