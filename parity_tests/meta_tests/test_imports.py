"""Imports flow one way: no module of the three packages imports (directly or through others)
a module that imports it back. Local imports inside functions count too: they are how the old
diagnosis/harness circle hid. docs/architecture.md states the direction."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("scratch", "reference", "parity_tests")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] in ("scratch", "reference"):  # installed as rnn_parity.scratch / .reference
        parts.insert(0, "rnn_parity")
    return ".".join(parts)


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (an imported package counts as its __init__)."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_package, node)
                # "from . import x" may name a submodule or an attribute of the package
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for t in targets:
                while t and t not in files:  # "rnn_parity.scratch.modules.RNN" -> "...modules"
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    graph[mod].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _without_package_inits(graph):
    """A package's __init__ re-exporting its submodules is not a cycle of behaviour: a
    submodule importing a sibling through the package (``from . import x``) resolves to the
    sibling, and the __init__'s own imports of its children are dropped here."""
    return {m: {t for t in ts if not m or not t.startswith(m + ".")} for m, ts in graph.items()}


def test_no_import_cycles():
    found = cycles(_without_package_inits(import_graph()))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_checker_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_graph_sees_local_imports():
    # core must never import a family; the graph must also see imports inside functions.
    graph = import_graph()
    assert "rnn_parity.reference.torch_ref" in graph["parity_tests.core.runs"]
    assert not any(t.startswith("parity_tests.families") for m, ts in graph.items() if m.startswith("parity_tests.core") for t in ts)


@pytest.mark.parametrize("pkg", ["scratch"])
def test_scratch_is_numpy_only(pkg):
    graph = import_graph()
    for path in (ROOT / pkg).rglob("*.py"):
        src = path.read_text()
        tree = ast.parse(src)
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not any(n.split(".")[0] == "torch" for n in names), f"{path} imports torch"
    assert all(not t.startswith(("parity_tests", "rnn_parity.reference")) for m, ts in graph.items() if m.startswith("rnn_parity.scratch") for t in ts)
