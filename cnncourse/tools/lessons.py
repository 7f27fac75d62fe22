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

nbgrader metadata (``cell.metadata["nbgrader"]``, schema 3) is derived from the markers alone by
:func:`nbgrader_metadata`, written into the solutions by every build (so a rerun regenerates it
exactly, and ``--check`` reports a solution whose metadata differs) and kept on the lesson cells, as
nbgrader's own release would:

* a cell with a ``BEGIN SOLUTION`` block: a solution cell ``answer-K``;
* the check cell of an exercise (the first code cell after a solution cell that calls ``checks.``):
  a locked, autograded test cell ``check-K`` worth one point per checker it calls
  (:mod:`cnncourse.tools.grading` makes it fail in ``nbgrader autograde`` unless every verdict is ✅);
* a cell with ``BEGIN HIDDEN TESTS`` (and no check): a locked, autograded test cell ``tests-K``
  worth 0 points: its assertions hold for a notebook run on the checkers' reference answers too,
  so they guard the course, not the learner's work.

Files are read and written as UTF-8 whatever the locale.
"""
from __future__ import annotations

import ast
import copy
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

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


def lesson_source(source: str, cell_type: str, where: str, *, hidden: bool = True) -> str | None:
    """Student version of one cell's source; ``None`` when the cell should be dropped.

    ``hidden=False`` keeps hidden-test blocks (markers included) for nbgrader to remove later.
    """
    lines = source.split("\n")
    out: list[str] = []
    touched = False
    for kind, indent, block in _blocks(lines, where):
        if kind == "code":
            out.extend(block)
        elif kind == "hidden":
            if not hidden:
                out.extend([f"{indent}{BEGIN_HIDDEN}", *block, f"{indent}{END_HIDDEN}"])
                continue
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


_CHECK_CALL = re.compile(r"\bchecks\.\w+\.\w+\(")
NBGRADER_SCHEMA = 3


def _kinds(source: str) -> tuple[bool, bool]:
    """(has a solution block, has a hidden-test block) from the markers of one cell."""
    markers = {m.group(2) for m in map(_MARKER.match, source.split("\n")) if m}
    return BEGIN_SOLUTION in markers, BEGIN_HIDDEN in markers


def nbgrader_metadata(cells: Sequence[nbformat.NotebookNode]) -> list[dict | None]:
    """nbgrader metadata for each cell (``None``: not an nbgrader cell), from the markers only.

    Parameters
    ----------
    cells : sequence of nbformat cells
        The cells of a solution notebook, in order.

    Returns
    -------
    list of dict or None
        One entry per cell; see the module docstring for the rules.
    """
    out: list[dict | None] = []
    counters = {"answer": 0, "check": 0, "tests": 0}
    after_solution = False

    def meta(kind, *, grade, solution, locked, points=None):
        counters[kind] += 1
        m = {"grade": grade, "grade_id": f"{kind}-{counters[kind]}", "locked": locked,
             "schema_version": NBGRADER_SCHEMA, "solution": solution, "task": False}
        if points is not None:
            m["points"] = points
        return m

    for cell in cells:
        solution, hidden = _kinds(cell.source)
        checks_called = len(_CHECK_CALL.findall(cell.source)) if cell.cell_type == "code" else 0
        if solution:
            out.append(meta("answer", grade=False, solution=True, locked=False))
            after_solution = True
            continue
        if cell.cell_type != "code":
            out.append(None)
            continue
        if after_solution and checks_called:
            out.append(meta("check", grade=True, solution=False, locked=True, points=checks_called))
        elif hidden:
            out.append(meta("tests", grade=True, solution=False, locked=True, points=0))
        else:
            out.append(None)
        after_solution = False
    return out


def _set_nbgrader(nb) -> bool:
    """Write :func:`nbgrader_metadata` into ``nb`` in place; return whether anything changed."""
    before = [c.metadata.get("nbgrader") for c in nb.cells]
    for cell, meta in zip(nb.cells, nbgrader_metadata(nb.cells)):
        if meta is None:
            cell.metadata.pop("nbgrader", None)
        else:
            cell.metadata["nbgrader"] = meta
    return before != [c.metadata.get("nbgrader") for c in nb.cells]


def _read(path: Path):
    return nbformat.reads(Path(path).read_text(encoding="utf-8"), as_version=4)


def make_lesson(solution_path: Path) -> nbformat.NotebookNode:
    """Return the lesson notebook (an ``nbformat`` node) generated from one solution notebook."""
    return _lesson_from(_read(solution_path), Path(solution_path).name)


def _lesson_from(solution, name: str):
    nb = copy.deepcopy(solution)
    _strip(nb)
    _set_nbgrader(nb)
    cells = []
    for i, cell in enumerate(nb.cells):
        source = lesson_source(cell.source, cell.cell_type, f"{name}, cell {i}")
        if source is None:
            continue
        cell.source = source
        cells.append(cell)
    nb.cells = cells
    nb.metadata["cnncourse"] = {"generated_from": f"solutions/{name}",
                                "note": "generated by `cnncourse lessons build`; edit the solution"}
    return nb


def _text(nb) -> str:
    return nbformat.writes(nb) + "\n"


def build(solutions: Path | None = None, lessons: Path | None = None, *, check: bool = False) -> Report:
    """Generate ``lessons/`` from ``solutions/`` (and the solutions' nbgrader metadata).

    Parameters
    ----------
    solutions, lessons : Path, optional
        Folders (default: the course's ``solutions/`` and ``lessons/``).
    check : bool
        Write nothing; report in ``Report.stale`` each lesson that is missing, differs from what
        would be generated, or has no solution, and each solution with stored outputs or nbgrader
        metadata that differs from what the markers give.
    """
    solutions = Path(solutions or config.SOLUTIONS_DIR)
    lessons = Path(lessons or config.LESSONS_DIR)
    report = Report(written=[], stale=[], stripped=[])
    sources = sorted(solutions.glob("*.ipynb"))
    for src in sources:
        nb = _read(src)
        stripped = _strip(nb)
        regraded = _set_nbgrader(nb)
        if stripped or regraded:
            if check:
                why = "has outputs stored" if stripped else "has stale nbgrader metadata"
                report.stale.append(f"{src}: {why} (run `cnncourse lessons build`)")
            else:
                src.write_text(_text(nb), encoding="utf-8")
                report.stripped.append(src)
        target = lessons / src.name
        text = _text(_lesson_from(nb, src.name))
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        if check:
            why = "missing" if not target.exists() else "out of date"
            report.stale.append(f"{target}: {why} (solution {src} changed; run `cnncourse lessons build`)")
        else:
            lessons.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
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


@dataclass
class CopyReport:
    """What :func:`copy_lessons` did: notebooks written, already identical, or kept (edited)."""

    copied: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def copy_lessons(dest: Path, *, force: bool = False, names: Sequence[str] | None = None,
                 source: Path | None = None) -> CopyReport:
    """Put a fresh copy of the lesson notebooks in ``dest`` (a learner's working folder).

    A notebook already in ``dest`` that differs from the shipped lesson (the learner's work, or
    outputs saved by running it) is kept unless ``force``.

    Parameters
    ----------
    dest : Path
        Folder to write into (created if needed).
    force : bool
        Overwrite edited notebooks too.
    names : iterable of str, optional
        Only these notebooks (file names or stems, e.g. ``"01_perceptron_nand"``); default all.
    source : Path, optional
        Folder of lessons to copy (default: the course's, inside the package when installed).

    Raises
    ------
    FileNotFoundError
        If ``source`` has no lessons, or a name in ``names`` is not one of them.
    """
    source = Path(source or config.LESSONS_DIR)
    available = {p.name: p for p in sorted(source.glob("*.ipynb"))}
    if not available:
        raise FileNotFoundError(f"source: no lesson notebooks in {source}")
    if names:
        wanted = [n if n.endswith(".ipynb") else f"{n}.ipynb" for n in names]
        unknown = [n for n in wanted if n not in available]
        if unknown:
            raise FileNotFoundError(f"names: no lesson {unknown}; the lessons are {sorted(available)}")
        available = {n: available[n] for n in wanted}
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    report = CopyReport()
    for name, src in available.items():
        target = dest / name
        if target.exists():
            if target.read_bytes() == src.read_bytes():
                report.unchanged.append(target)
                continue
            if not force:
                report.kept.append(target)
                continue
        shutil.copyfile(src, target)
        report.copied.append(target)
    return report
