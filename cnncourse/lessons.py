"""Write ``lessons/`` (student notebooks) from ``solutions/`` (the single source).

Markers (nbgrader's, so instructors can also use nbgrader on ``solutions/``):

``### BEGIN SOLUTION`` / ``### END SOLUTION``
    In a code cell, the lines between become a stub:

    * inside an indented block (a function body), ``raise NotImplementedError(...)``;
    * at the top level, every assignment ``name = <expr>`` becomes ``name = ...`` (a value for the
      learner to fill in), and other statements become a ``# YOUR CODE HERE`` comment.

    In a Markdown cell, the lines between become "*Your answer here.*".
``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``
    Assertions that only solutions carry; removed from lessons (a cell left empty is dropped).

Outputs are stripped from both folders. ``build(check=True)`` writes nothing and reports every
lesson that differs from what would be generated.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from cnncourse import config

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB_RAISE = 'raise NotImplementedError("Exercise: replace this line with your code")'
_MARKER = re.compile(r"^(\s*)(### (?:BEGIN|END) (?:SOLUTION|HIDDEN TESTS))\s*$")


class MarkerError(ValueError):
    """A solution notebook has unbalanced or nested markers."""


@dataclass
class Report:
    """What :func:`build` did or would do."""

    written: list[Path]
    stale: list[str]
    stripped: list[Path]

    @property
    def ok(self) -> bool:
        return not self.stale


def _blocks(lines: list[str], where: str):
    """Split ``lines`` into (kind, indent, block_lines) with kind in {"code", "solution", "hidden"}."""
    out, current, kind, indent = [], [], "code", ""
    for number, line in enumerate(lines, 1):
        m = _MARKER.match(line)
        if not m:
            current.append(line)
            continue
        marker = m.group(2)
        if marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            if kind != "code":
                raise MarkerError(f"{where}, line {number}: '{marker}' inside an open block")
            out.append(("code", "", current))
            current, indent = [], m.group(1)
            kind = "solution" if marker == BEGIN_SOLUTION else "hidden"
        else:
            expected = END_SOLUTION if kind == "solution" else END_HIDDEN
            if marker != expected:
                raise MarkerError(f"{where}, line {number}: '{marker}' without its BEGIN marker")
            out.append((kind, indent, current))
            current, kind = [], "code"
    if kind != "code":
        raise MarkerError(f"{where}: block opened with '### BEGIN {kind.upper()}' is never closed")
    out.append(("code", "", current))
    return out


def _stub_code(indent: str, block: list[str], where: str) -> list[str]:
    if indent:
        return [f"{indent}# YOUR CODE HERE", f"{indent}{STUB_RAISE}"]
    text = "\n".join(block)
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise MarkerError(f"{where}: solution block does not parse: {exc}") from exc
    stub = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = " = ".join(ast.get_source_segment(text, t) for t in node.targets)
            stub.append(f"{targets} = ...  # YOUR CODE HERE")
        elif isinstance(node, ast.AnnAssign):
            stub.append(f"{ast.get_source_segment(text, node.target)}: "
                        f"{ast.get_source_segment(text, node.annotation)} = ...  # YOUR CODE HERE")
    return stub or ["# YOUR CODE HERE"]


def lesson_source(source: str, cell_type: str, where: str) -> str | None:
    """Student version of one cell's source; ``None`` when the cell should be dropped."""
    lines = source.split("\n")
    out: list[str] = []
    touched = False
    for kind, indent, block in _blocks(lines, where):
        if kind == "code":
            out.extend(block)
        elif kind == "hidden":
            touched = True
        elif cell_type == "code":
            out.extend(_stub_code(indent, block, where))
            touched = True
        else:
            out.append("*Your answer here.*")
            touched = True
    text = "\n".join(out)
    if touched and not text.strip():
        return None
    return text


def _strip(nb) -> bool:
    """Remove outputs and execution counts in place; return whether anything changed."""
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code":
            if cell.get("outputs") or cell.get("execution_count") is not None:
                changed = True
            cell["outputs"], cell["execution_count"] = [], None
        for key in ("execution", "collapsed", "scrolled"):
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
    return changed


def make_lesson(solution_path: Path):
    """Return the lesson notebook (an ``nbformat`` node) generated from one solution notebook."""
    nb = nbformat.read(solution_path, as_version=4)
    _strip(nb)
    cells = []
    for i, cell in enumerate(nb.cells):
        source = lesson_source(cell.source, cell.cell_type, f"{solution_path.name}, cell {i}")
        if source is None:
            continue
        cell.source = source
        cells.append(cell)
    nb.cells = cells
    nb.metadata["cnncourse"] = {"generated_from": f"solutions/{solution_path.name}",
                                "note": "generated by `cnncourse lessons build`; edit the solution"}
    return nb


def _text(nb) -> str:
    return nbformat.writes(nb) + "\n"


def build(solutions: Path | None = None, lessons: Path | None = None, *, check: bool = False) -> Report:
    """Generate ``lessons/`` from ``solutions/``.

    Parameters
    ----------
    solutions, lessons : Path, optional
        Folders (default: the course's ``solutions/`` and ``lessons/``).
    check : bool
        Write nothing; report in ``Report.stale`` each lesson that is missing, differs from what
        would be generated, or has no solution, and each solution with stored outputs.
    """
    solutions = Path(solutions or config.SOLUTIONS_DIR)
    lessons = Path(lessons or config.LESSONS_DIR)
    report = Report(written=[], stale=[], stripped=[])
    sources = sorted(solutions.glob("*.ipynb"))
    for src in sources:
        nb = nbformat.read(src, as_version=4)
        if _strip(nb):
            if check:
                report.stale.append(f"{src}: has outputs stored (run `cnncourse lessons build`)")
            else:
                src.write_text(_text(nb))
                report.stripped.append(src)
        target = lessons / src.name
        text = _text(make_lesson(src))
        if target.exists() and target.read_text() == text:
            continue
        if check:
            why = "missing" if not target.exists() else "out of date"
            report.stale.append(f"{target}: {why} (solution {src} changed; run `cnncourse lessons build`)")
        else:
            lessons.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            report.written.append(target)
    wanted = {s.name for s in sources}
    for orphan in sorted(lessons.glob("*.ipynb")):
        if orphan.name not in wanted:
            if check:
                report.stale.append(f"{orphan}: has no solution notebook (delete it or add one)")
            else:
                orphan.unlink()
                report.written.append(orphan)
    return report
