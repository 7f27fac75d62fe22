"""Wrong answers put into the exercises of a lesson: each check explains it and the notebook goes on.

Every ``tests/notebooks/wrong_answers/nb*.py`` file names a notebook (``NOTEBOOK``, the stem of its solution)
and a list ``WRONG`` of dicts: ``anchor`` (text that identifies the exercise cell in the solution),
``code`` (put between that cell's ``### BEGIN/END SOLUTION`` markers, at their indentation) and
``expect`` (strings that must all appear, ignoring case, in the output of the first later cell that
prints a verdict: ✅, ❌, ⏳ or 💥); with ``whole_cell=True`` the code replaces the whole cell (a typo
in a function's name, say). The other exercises stay unsolved, as a learner would leave them.
The notebook is executed once in fast mode, with all its wrong answers in, up to the check cell
after the last of them, and only the cells that the exercise and check cells need (:func:`needed`:
the cells that define a name they read, transitively, and every cell that imports); a training
cell whose results no check reads is left out. No cell may raise. (A check that fails hands the
notebook the reference answer, as it does for an unsolved exercise, so the cells after the last
check run exactly as in the lesson, which nbval runs to the end.)
"""
import ast
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
    cells = cells[:stop + 1]      # through the check of the last wrong answer
    checks_after = {next((j for j in range(i + 1, len(cells))
                          if cells[j].cell_type == "code" and "checks." in cells[j].source), i)
                    for i in where_is.values()}
    keep = needed([c.source if c.cell_type == "code" else None for c in cells],
                  set(where_is.values()) | checks_after | {len(cells) - 1})
    index = {old: new for new, old in enumerate(sorted(keep))}
    nb.cells = [cells[i] for i in sorted(keep)]
    return nb, {k: index[i] for k, i in where_is.items()}


_MUTATORS = {"append", "extend", "update", "setdefault", "add", "insert", "pop", "clear", "remove",
             "assign", "fit", "compile", "set_weights", "load_weights"}


def _effects(tree) -> tuple[set, set, set]:
    """(names rebound, names changed in place, names read) by ``tree``, read statically. Rebound:
    assigned as a whole (``x = ...``, ``def x``, ``import x``); changed: ``x[k] = v``, ``x.a = v``,
    ``x.append(v)`` and the like, and ``global`` names. The bodies of functions and classes count
    for what they read (at call time) and for ``global`` only: their own variables are local, as
    are those of comprehensions."""
    rebinds, changes, reads = set(), set(), set()

    def visit(node, local):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
                             ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            if hasattr(node, "name") and not local:
                rebinds.add(node.name)
            for child in ast.iter_child_nodes(node):
                visit(child, True)
            return
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                reads.add(node.id)
            elif not local:
                rebinds.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and not local:
            rebinds.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Global):
            changes.update(node.names)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, ast.Store):
            base = node.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                changes.add(base.id)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in _MUTATORS and isinstance(node.func.value, ast.Name)):
            changes.add(node.func.value.id)
        for child in ast.iter_child_nodes(node):
            visit(child, local)

    visit(tree, False)
    return rebinds, changes, reads


def needed(sources: list, targets: set) -> set:
    """Indices of the cells to run so that the cells ``targets`` see what the whole notebook would
    give them. ``sources``: each cell's code (``None`` for a Markdown cell, always kept). Kept: the
    targets, every cell that imports, and, transitively, for each name a kept cell reads, the
    earlier cells that change it back to the last one that rebinds it (a call of a function
    defined in the notebook counts as the changes that function makes to globals). A cell that
    does not parse (a magic) is kept."""
    cells, functions = {}, {}
    for i, source in enumerate(sources):
        if source is None:
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            cells[i] = None
            continue
        rebinds, changes, reads = _effects(tree)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                params = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
                functions[node.name] = _effects(ast.Module(body=node.body, type_ignores=[]))[1] - params
        for call in ast.walk(tree):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
                changes |= functions.get(call.func.id, set())
        imports = any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(tree))
        cells[i] = (rebinds, changes, reads, imports)
    keep = {i for i, s in enumerate(sources) if s is None} | set(targets)
    keep |= {i for i, c in cells.items() if c is None or c[3]}
    todo = sorted(keep)
    while todo:
        j = todo.pop()
        for name in cells[j][2] if cells.get(j) else ():
            for i in range(j - 1, -1, -1):
                c = cells.get(i)
                if not c or name not in c[0] | c[1]:
                    continue
                if i not in keep:
                    keep.add(i)
                    todo.append(i)
                if name in c[0] and name not in c[2]:
                    break                       # rebound here from scratch: earlier cells do not matter
    return keep


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


def test_needed_leaves_out_what_no_check_reads():
    sources = ["import numpy as np",                         # 0 imports: kept
               "a = 1\nresults = {}",                         # 1 read by the answer and by 6
               None,                                          # 2 Markdown: kept
               "heavy = np.ones(3).sum()",                    # 3 read by nobody: left out
               "def f(x):\n    return x + a",                # 4 the exercise (a target)
               "def train(n):\n    results[n] = n",            # 5 a function that changes `results`
               "train('plain')",                              # 6 changes `results`: kept for 7
               "f = check(f)\nprint(results['plain'])",       # 7 the check (a target)
               "%matplotlib inline",                          # 8 no Python: kept
               "a = 2",                                       # 9 rebinds `a`: 1 no longer matters
               "b = [a for a in range(3)]",                   # 10 a comprehension's `a` is its own
               "print(a, b)"]                                 # 11
    assert needed(sources, {4, 7}) == {0, 1, 2, 4, 5, 6, 7, 8}
    assert needed(sources, {3}) == {0, 2, 3, 8}
    assert needed(sources, {11}) == {0, 2, 8, 9, 10, 11}


def test_inject_keeps_the_cell_around_the_answer():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n### BEGIN HIDDEN TESTS\nassert 1\n### END HIDDEN TESTS\nf = check(f)"
    out = inject(src, "return -x", "t")
    assert out == "def f(x):\n    return -x\nf = check(f)"
