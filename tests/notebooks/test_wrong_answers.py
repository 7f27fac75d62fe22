"""Wrong answers put into the exercises of a lesson: each check explains it and the notebook goes on.

Every ``tests/notebooks/wrong_answers/nb*.py`` file names a notebook (``NOTEBOOK``, the stem of its solution)
and a list ``WRONG`` of dicts: ``anchor`` (text that identifies the exercise cell in the solution),
``code`` (put between that cell's ``### BEGIN/END SOLUTION`` markers, at their indentation) and
``expect`` (strings that must all appear, ignoring case, in the output of the first later cell that
prints a verdict: ✅, ❌, ⏳ or 💥); with ``whole_cell=True`` the code replaces the whole cell (a typo
in a function's name, say). The other exercises stay unsolved, as a learner would leave them.
The notebook is executed once in fast mode, with all its wrong answers in, up to the check cell
after the last of them; no cell may raise. (A check that fails hands the notebook the reference
answer, as it does for an unsolved exercise, so the cells after the last check run exactly as
in the lesson, which nbval runs to the end.)
"""
import importlib.util
import textwrap
import warnings
from pathlib import Path

import nbformat
import pytest
from cnncourse import config
from cnncourse.tools import lessons
from cnncourse.tools.runner import Timeline, notebook_client

VERDICTS = ("✅", "❌", "⏳", "💥")
SPECS = sorted((Path(__file__).parent / "wrong_answers").glob("nb*.py"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"wrong_answers_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inject(source: str, code: str, where: str) -> str:
    """Replace the first ``### BEGIN SOLUTION`` block of ``source`` with ``code``; drop hidden tests."""
    lines = source.split("\n")
    begin = next((i for i, l in enumerate(lines) if l.strip() == lessons.BEGIN_SOLUTION), None)
    if begin is None:
        raise AssertionError(f"{where}: the anchored cell has no '{lessons.BEGIN_SOLUTION}' block")
    end = next(i for i in range(begin, len(lines)) if lines[i].strip() == lessons.END_SOLUTION)
    indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
    body = textwrap.indent(textwrap.dedent(code).strip("\n"), indent).split("\n")
    rest = lessons.lesson_source("\n".join(lines[end + 1:]), "code", where) or ""
    return "\n".join(lines[:begin] + body) + ("\n" + rest if rest else "")


def wrong_lesson(stem: str, wrong: list[dict]):
    """The lesson of ``stem`` with each ``wrong`` answer put in, through the check cell after the last
    of them; returns (notebook, {entry: cell index})."""
    nb = nbformat.read(config.SOLUTIONS_DIR / f"{stem}.ipynb", as_version=4)
    cells, where_is = [], {}
    for i, cell in enumerate(nb.cells):
        where = f"{stem}, cell {i}"
        hits = [k for k, w in enumerate(wrong) if cell.cell_type == "code" and w["anchor"] in cell.source
                and (w.get("whole_cell") or lessons.BEGIN_SOLUTION in cell.source)]   # exercise cells
        if len(hits) > 1:
            raise AssertionError(f"{where}: anchors {[wrong[k]['anchor'] for k in hits]} share a cell")
        if hits:
            entry = wrong[hits[0]]
            cell.source = (textwrap.dedent(entry["code"]).strip("\n") if entry.get("whole_cell")
                           else inject(cell.source, entry["code"], where))
            where_is[hits[0]] = len(cells)
        else:
            source = lessons.lesson_source(cell.source, cell.cell_type, where)
            if source is None:
                continue
            cell.source = source
        cell.outputs = [] if cell.cell_type == "code" else cell.get("outputs")
        cells.append(cell)
    missing = [w["anchor"] for k, w in enumerate(wrong) if k not in where_is]
    assert not missing, f"{stem}: no exercise cell contains {missing}"
    last = max(where_is.values())
    stop = next((i for i in range(last + 1, len(cells))
                 if cells[i].cell_type == "code" and "checks." in cells[i].source), len(cells) - 1)
    nb.cells = cells[:stop + 1]   # through the check of the last wrong answer
    return nb, where_is


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


@pytest.mark.parametrize("spec_path", SPECS, ids=[p.stem for p in SPECS])
def test_wrong_answers_are_explained_and_the_notebook_goes_on(spec_path):
    spec = _load(spec_path)
    nb, where_is = wrong_lesson(spec.NOTEBOOK, spec.WRONG)
    timeline = Timeline()
    try:
        notebook_client(nb, timeout=600, cwd=config.SOLUTIONS_DIR, **timeline.hooks()).execute()
    finally:
        # a fast-mode cell takes under a minute: say where a stall went (the ~600 s one of
        # README's troubleshooting), whether the run then passes or not
        slow = timeline.slow(nb, 120)
        if slow:
            warnings.warn(f"{spec.NOTEBOOK}, wrong answers: " + " | ".join(slow))
    problems = []
    for k, entry in enumerate(spec.WRONG):
        verdict = next((_text(c) for c in nb.cells[where_is[k] + 1:]
                        if c.cell_type == "code" and any(v in _text(c) for v in VERDICTS)), "")
        missing = [e for e in entry["expect"] if e.casefold() not in verdict.casefold()]
        if missing:
            problems.append(f"{entry['anchor']!r}: expected {missing} in the verdict, got:\n{verdict}")
    assert not problems, "\n\n".join(problems)


def test_inject_keeps_the_cell_around_the_answer():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n### BEGIN HIDDEN TESTS\nassert 1\n### END HIDDEN TESTS\nf = check(f)"
    out = inject(src, "return -x", "t")
    assert out == "def f(x):\n    return -x\nf = check(f)"
