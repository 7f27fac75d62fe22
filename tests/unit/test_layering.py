"""The package's import graph has no cycles: arrows point down only (issue 16).

The graph is read statically (``ast``), so function-level (lazy) imports count too: a lazy import
that closes a circle is still a circle for the reader. ``python tests/unit/test_layering.py`` prints the
graph, one module a line with the modules it imports.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "cnncourse"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """``{module: {intra-package modules it imports}}``; ``from pkg import mod`` counts as ``pkg.mod``
    when ``pkg/mod`` is a module, else as ``pkg``. Only written imports count (the implicit import
    of ``a/__init__`` when ``a.b`` is imported is not an edge)."""
    files = {_module_name(p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                           for a in node.names]
            for target in targets:
                while target and target not in files:  # `import cnncourse.sparse.x.y` -> nearest module
                    target = target.rpartition(".")[0]
                if target and target != module and target.startswith(PACKAGE):
                    edges.add(target)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import circles in cnncourse (make the arrows point down):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_graph_sees_known_edges():
    """The scanner finds lazy and relative imports (else the cycle test could pass vacuously)."""
    graph = import_graph()
    assert "cnncourse.device" in graph["cnncourse.config"]       # inside config.pick
    assert "cnncourse.sparse.rulebook" in graph["cnncourse.sparse.tensor"]


if __name__ == "__main__":
    g = import_graph()
    for m in sorted(g):
        print(f"{m}: {', '.join(sorted(g[m])) or '-'}")
    found = cycles(g)
    print("cycles:", "; ".join(" <-> ".join(c) for c in found) if found else "none")


def test_teaching_modules_do_not_import_tooling():
    """Tooling (cnncourse.tools: the command, runner, grading, benchmarks) sits on top of the
    teaching modules; nothing outside it imports it."""
    wrong = {m: sorted(t for t in targets if t.startswith(f"{PACKAGE}.tools"))
             for m, targets in import_graph().items() if not m.startswith(f"{PACKAGE}.tools")}
    assert not {m: t for m, t in wrong.items() if t}, wrong


# --------------------------------------------------------------------------------------------
# Topic checkers use only the public API of cnncourse.checks (issue 28)

CHECKS = ROOT / "checks"
CORE = {"__init__.py", "record.py", "transcript.py"}   # the core (with grading), which owns them
PRIVATE_NAMES = {"Result", "PASSED", "FAILED", "NOT_DONE", "ERROR"}   # verdicts are the core's
# Checkers not yet ported to the public API. This list only shrinks: an entry that no longer
# imports anything private fails the test below, so remove it when its module is ported.
NOT_YET_PORTED: set[str] = set()   # every topic checker is ported


def private_uses(path: Path, module: str | None = None) -> list[str]:
    """What ``path`` uses of ``cnncourse.checks`` that is not public: a private name (``_x``, or
    one of :data:`PRIVATE_NAMES`) imported from the package or one of its modules, a private
    module (``cnncourse.checks._mistakes``), or an attribute ``checks._x``; as ``"line: text"``."""
    module = module or _module_name(path)   # for relative imports
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(module, False, node)
            if not source.startswith("cnncourse.checks"):
                continue
            if any(part.startswith("_") for part in source.split(".")):
                found.append(f"{node.lineno}: from {source} import ...")
            found += [f"{node.lineno}: from {source} import {a.name}" for a in node.names
                      if a.name.startswith("_") or a.name in PRIVATE_NAMES]
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names
                      if a.name.startswith("cnncourse.checks.")
                      and any(p.startswith("_") for p in a.name.split("."))]
        elif (isinstance(node, ast.Attribute) and node.attr.startswith("_")
              and not node.attr.startswith("__") and ast.unparse(node.value).endswith("checks")):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_topic_checkers_use_only_the_public_checks_api():
    checkers = sorted(p for p in CHECKS.glob("*.py") if p.name not in CORE)
    assert len(checkers) >= 10, f"no topic checkers found under {CHECKS}"
    offenders = {p.name: private_uses(p) for p in checkers}
    bad = {name: uses for name, uses in offenders.items() if uses and name not in NOT_YET_PORTED}
    assert not bad, ("topic checkers must use only the public API of cnncourse.checks "
                     f"(Mistake(wrong=/finding=), evaluate_function(call=, diagnose=)): {bad}")
    stale = sorted(name for name in NOT_YET_PORTED if not offenders.get(name))
    assert not stale, f"ported (or gone): remove from NOT_YET_PORTED in this test: {stale}"


def test_the_private_use_detector_sees_each_kind(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from cnncourse.checks import Case, _record, FAILED\n"
                     "from cnncourse.checks._mistakes import behaviour_mistakes\n"
                     "from . import Result\n"
                     "import cnncourse.checks._mistakes\n"
                     "from cnncourse.checks.cnn3d import _is_model, build_cnn3d\n"
                     "x = checks._SYMBOL\n")
    uses = private_uses(probe, "cnncourse.checks.probe")
    assert len(uses) == 7, uses
    assert not any("Case" in u or "build_cnn3d" in u for u in uses)
