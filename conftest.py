"""Repository-wide pytest hooks: notebooks kept whole under pytest-xdist, and a table of wall time per
notebook after nbval has run them."""
import collections
import importlib.util
import os
from pathlib import Path

# Before any TensorFlow import in the test process or the notebook kernels it starts.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_notebook_seconds = collections.defaultdict(float)


#: unit-test files that take half a minute or more (subprocesses, a wheel build, a browser, JAX)
SLOW_UNITS = ("test_sparse_jax.py", "test_nbgrader.py", "test_wheel.py", "test_browser.py",
              "test_keras_roundtrip.py", "test_distributed.py", "test_lab.py", "test_book.py")


def _cost_rank(item) -> tuple:
    """Order in which `make test` hands out work: the wrong-answer runs (a whole notebook each), the
    slow unit tests, the notebooks (later chapters, the slowest, first), then the other unit tests,
    so that no long run is left for one worker at the end. A notebook's cells keep their order."""
    path = item.nodeid.split("::")[0]
    if "test_wrong_answers.py::" in item.nodeid and "[nb" in item.nodeid:
        return (0, -int(item.nodeid.split("[nb")[1][:2]))
    if path.endswith(".ipynb"):
        return (2, -int(Path(path).name[:2]) if Path(path).name[:2].isdigit() else 0)
    return (1, 0) if Path(path).name in SLOW_UNITS else (3, 0)


def pytest_collection_modifyitems(items):
    items.sort(key=_cost_rank)   # stable: the cells of a notebook stay in order


if importlib.util.find_spec("xdist"):
    def pytest_xdist_make_scheduler(config, log):
        """`make test` runs two workers (`-n 2`): all cells of a notebook go to one worker, in order,
        since they share one kernel; every other test is a unit of its own. Units are handed out in
        the order of :func:`_cost_rank` (not xdist's largest-scope-first)."""
        from xdist.scheduler import LoadScopeScheduling

        class NotebookScheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid):
                path = nodeid.split("::", 1)[0]
                return path if path.endswith(".ipynb") else nodeid

        config.option.loadscopereorder = False
        return NotebookScheduling(config, log)


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
