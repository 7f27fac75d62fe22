"""Repository-wide pytest hooks: a marker for each kind of test (by folder), the costliest work handed
out first, and a table of seconds per notebook after nbval has run them.

Under pytest-xdist, `make test` runs ``--dist loadfile``: all items of one file go to one worker, so
the cells of a notebook (one kernel) run whole and in order there. (``xdist_group`` marks with
``--dist loadgroup`` would say the same, but on pytest >= 9.2 xdist 3.8 silently stops grouping,
pytest-xdist issue 1386, and the cells of a notebook would be spread over both workers.)

Kinds (``-m`` selects them): ``unit`` (tests/unit: the library, the checkers, the tooling),
``notebook`` (tests/notebooks and the notebooks in solutions/ and lessons/ under nbval), ``system``
(tests/system: the wheel, nbgrader, the browser, JupyterLab, subprocesses, JAX) and ``slow`` (each
system test, and each test that runs a whole notebook). ``make test-quick`` runs ``unit`` without
``slow``."""
import collections
import os
from pathlib import Path

import pytest

# Before any TensorFlow import in the test process or the notebook kernels it starts.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_notebook_seconds = collections.defaultdict(float)

#: folder under tests/ -> the markers its tests get
KINDS = {"unit": ("unit",), "notebooks": ("notebook",), "system": ("system", "slow")}


def pytest_configure(config):
    for name, text in [("unit", "fast tests of the library, the checkers and the tooling (tests/unit)"),
                       ("notebook", "a notebook under nbval, or a test about the notebooks (tests/notebooks)"),
                       ("system", "end-to-end: wheel, nbgrader, browser, lab, subprocesses (tests/system)"),
                       ("slow", "runs a whole notebook, a subprocess or a server; not in `make test-quick`"),
                       ("browser", "drives headless Chromium (tests/system/browser_setup.py)")]:
        config.addinivalue_line("markers", f"{name}: {text}")


def _kind(item) -> str:
    path = Path(str(item.fspath))
    if path.suffix == ".ipynb":
        return "ipynb"
    parts = path.parts
    return parts[parts.index("tests") + 1] if "tests" in parts[:-1] else ""


def _runs_a_notebook(item) -> bool:
    return "test_wrong_answers.py::" in item.nodeid and "[nb" in item.nodeid


def _cost_rank(item) -> tuple:
    """Order in which `make test` hands out work: the wrong-answer runs (a whole notebook each), the
    system tests, the notebooks (later chapters, the slowest, first), then the unit tests, so that
    no long run is left for one worker at the end. A notebook's cells keep their order."""
    if _runs_a_notebook(item):
        return (0, -int(item.nodeid.split("[nb")[1][:2]))
    kind = _kind(item)
    if kind == "ipynb":
        name = Path(str(item.fspath)).name
        return (2, -int(name[:2]) if name[:2].isdigit() else 0)
    return (1, 0) if kind == "system" else (3, 0)


def pytest_collection_modifyitems(items):
    """Markers by folder (a notebook's cells: ``notebook`` and ``slow``), then the items in
    :func:`_cost_rank` order (a stable sort; `make test` passes ``--no-loadscope-reorder`` so that
    xdist hands out the files in this order, not largest first)."""
    for item in items:
        kind = _kind(item)
        if kind == "ipynb":
            item.add_marker(pytest.mark.notebook)
            item.add_marker(pytest.mark.slow)
        for marker in KINDS.get(kind, ()):
            item.add_marker(getattr(pytest.mark, marker))
        if _runs_a_notebook(item):
            item.add_marker(pytest.mark.slow)
    items.sort(key=_cost_rank)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    tr = terminalreporter
    tr.section("seconds per notebook (nbval, all cells)")
    width = max(map(len, _notebook_seconds))
    for path, seconds in sorted(_notebook_seconds.items()):
        tr.write_line(f"{path:<{width}}  {seconds:7.1f}")
    tr.write_line(f"{'total':<{width}}  {sum(_notebook_seconds.values()):7.1f}")
